// AdamW with PyTorch semantics (torch.optim.AdamW), over parameter groups, using the backend's fused
// kernel. For each parameter p with gradient g, at step t (from 1):
//   p ← p − lr·λ·p                                   (decoupled weight decay λ, before the moments)
//   m ← β1·m + (1−β1)·g          v ← β2·v + (1−β2)·g²
//   p ← p − lr · (m / (1−β1^t)) / (sqrt(v / (1−β2^t)) + ε)      (ε outside the square root)
// Gradient clipping is folded in as a scale on g (see clip.ts). State is plain arrays, so a
// checkpoint can save and restore it exactly.

import { ConfigError } from '../errors.ts';
import { Tensor, syncHost, untracked } from '../tensor/index.ts';

export interface ParamGroup {
  params: Tensor[];
  weightDecay: number;
  /** Optional name for logs ("decay", "no_decay"). */
  name?: string;
}

export interface AdamWOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
}

export class AdamW {
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  step = 0;
  private readonly m = new Map<Tensor, Tensor>();
  private readonly v = new Map<Tensor, Tensor>();

  constructor(
    readonly groups: ParamGroup[],
    opts: AdamWOptions,
  ) {
    if (!(opts.lr >= 0)) throw new ConfigError('learning_rate', `must be a non-negative number, got ${opts.lr}`);
    this.lr = opts.lr;
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    for (const g of groups) {
      for (const p of g.params) {
        this.m.set(p, untracked(() => Tensor.zeros(p.shape, p.dtype, p.backend)));
        this.v.set(p, untracked(() => Tensor.zeros(p.shape, p.dtype, p.backend)));
      }
    }
  }

  /** One update of every parameter that has a gradient. gradScale multiplies gradients (clipping). */
  update(gradScale = 1): void {
    this.step++;
    const [b1, b2] = this.betas;
    for (const group of this.groups) {
      for (const p of group.params) {
        if (!p.grad) continue;
        const m = this.m.get(p)!;
        const v = this.v.get(p)!;
        p.backend.adamw(p.floatData, p.grad.floatData, m.floatData, v.floatData, p.size, this.lr, b1, b2, this.eps, group.weightDecay, this.step, gradScale);
      }
    }
  }

  /**
   * Drops every gradient (PyTorch's zero_grad(set_to_none=True)): the next backward writes each
   * gradient once into a fresh (pooled) buffer instead of zero-filling and then adding into it, which
   * saves two passes over every parameter per step. A parameter that gets no gradient before the next
   * step() is skipped by it, as in PyTorch.
   */
  zeroGrad(): void {
    for (const group of this.groups) {
      for (const p of group.params) {
        p.grad?.dispose();
        p.grad = null;
      }
    }
  }

  /** Makes the moment buffers readable on the host (device backends; a no-op on the CPU). */
  async syncHost(): Promise<void> {
    await syncHost([...this.m.values(), ...this.v.values()]);
  }

  /** Moment buffers in parameter order, for checkpoints (after `await syncHost()` on device backends). */
  stateArrays(): { m: Float32Array[]; v: Float32Array[]; step: number } {
    const params = this.groups.flatMap((g) => g.params);
    return {
      m: params.map((p) => Float32Array.from(this.m.get(p)!.floatData)),
      v: params.map((p) => Float32Array.from(this.v.get(p)!.floatData)),
      step: this.step,
    };
  }

  loadStateArrays(state: { m: Float32Array[]; v: Float32Array[]; step: number }): void {
    const params = this.groups.flatMap((g) => g.params);
    if (state.m.length !== params.length || state.v.length !== params.length) {
      throw new ConfigError('optimizer', `checkpoint has state for ${state.m.length} parameters, the model has ${params.length}`);
    }
    params.forEach((p, i) => {
      this.m.get(p)!.floatData.set(state.m[i]);
      this.v.get(p)!.floatData.set(state.v[i]);
    });
    this.step = state.step;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}

/**
 * Splits named parameters into Hugging Face's two groups: no weight decay for biases and norm
 * weights (names containing "bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight" or "ln_"),
 * decay for the rest.
 */
export function decayGroups(named: [string, Tensor][], weightDecay: number): ParamGroup[] {
  const noDecay = (n: string): boolean => /bias|LayerNorm\.weight|layer_norm\.weight|norm\.weight|(^|\.)ln_/.test(n);
  return [
    { name: 'decay', weightDecay, params: named.filter(([n]) => !noDecay(n)).map(([, p]) => p) },
    { name: 'no_decay', weightDecay: 0, params: named.filter(([n]) => noDecay(n)).map(([, p]) => p) },
  ];
}
