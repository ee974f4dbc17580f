// The tensor engine's public surface: Tensor, memory scopes, autograd controls and every op.
// Importing this module installs the gradient rules. Models import ops from here as `F`.

import './gradients.ts';

export { Tensor, numel, shapeStr, contiguousStrides, syncHost, type Shape } from './tensor.ts';
export { tidy, keep, untracked, memoryStats, pool, type DType } from './memory.ts';
export { noGrad, isGradEnabled, backward } from './autograd.ts';
export { getDefaultBackend, setDefaultBackend, withBackend } from '../backend/default.ts';
export * from './ops/elementwise.ts';
export * from './ops/views.ts';
export { sum, mean, max, sumToShape } from './ops/reduce.ts';
export { matmul, linear, linearQuantized } from './ops/matmul.ts';
export { checkpoint, type RecomputeHook } from './checkpoint.ts';
export { autocast, autocastAsync, autocastPrecision, type MatmulPrecision } from './autocast.ts';
export * from './ops/nn.ts';
export * from './ops/loss.ts';
