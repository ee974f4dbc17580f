// Data-parallel training over Gloo: the torchrun environment (env.ts), the gradient communicator
// (data-parallel.ts) and the optional addon loader (native.ts). The launcher is src/cli/launch.ts.
export * from './env.ts';
export * from './data-parallel.ts';
export { loadGloo } from './native.ts';
