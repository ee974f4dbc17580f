// LoraLinear: a frozen Linear (or GPT-2 Conv1D) plus a trainable low-rank update, as PEFT's
// lora.Linear: y = x W^T + b + scaling · B(A(dropout(x))), scaling = lora_alpha / r (or / sqrt(r)).
// The base weight and bias keep their original parameter names, so the base checkpoint still saves
// 1:1; the adapter's are `<path>.lora_A.weight` and `<path>.lora_B.weight`, as in PEFT files.
// Not here: choosing which modules to wrap (inject.ts), saving adapters (adapter.ts).

import { Dropout, Linear, Module } from '../nn/module.ts';
import { getGenerator } from '../nn/init.ts';
import * as F from '../tensor/index.ts';
import type { Tensor } from '../tensor/index.ts';
import type { QuantizedWeight } from '../backend/quant.ts';
import { ModelError } from '../errors.ts';

/** How a new adapter starts (PEFT's init_lora_weights). */
export type LoraInit = boolean | 'gaussian';

/** Fills `t` with U(-bound, bound) from the global seeded generator. */
function fillUniform(t: Tensor, bound: number): void {
  const g = getGenerator();
  const d = t.data as Float32Array | Float64Array;
  for (let i = 0; i < d.length; i++) d[i] = (2 * g.nextFloat() - 1) * bound;
}

/** Fills `t` with N(0, std^2) from the global seeded generator. */
function fillNormal(t: Tensor, std: number): void {
  const g = getGenerator();
  const d = t.data as Float32Array | Float64Array;
  for (let i = 0; i < d.length; i++) d[i] = g.nextNormal() * std;
}

/**
 * A Linear with a LoRA adapter. `base` keeps working on its own (merge() folds the update into it).
 * @example const q = new LoraLinear(qProj, { r: 8, alpha: 16, dropout: 0.05, rslora: false, init: true });
 */
export class LoraLinear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly loraA: Linear;
  readonly loraB: Linear;
  readonly scaling: number;
  private readonly dropout: Dropout;
  /** The frozen base weight in a low-precision format (src/lora/quantize.ts), or null (fp32 `weight`). */
  quantizedWeight: QuantizedWeight | null = null;

  constructor(
    readonly base: Linear,
    opts: { r: number; alpha: number; dropout: number; rslora: boolean; init: LoraInit },
  ) {
    super();
    this.weight = this.param('weight', base.weight);
    this.bias = base.bias ? this.param('bias', base.bias) : null;
    const inF = base.inFeatures;
    const outF = base.outFeatures;
    this.loraA = this.child('lora_A', new Linear(inF, opts.r, { bias: false }));
    this.loraB = this.child('lora_B', new Linear(opts.r, outF, { bias: false }));
    // torch's nn.Linear default and PEFT's init: kaiming_uniform(a = sqrt(5)) = U(±1/sqrt(fan_in)).
    if (opts.init === 'gaussian') fillNormal(this.loraA.weight, 1 / opts.r);
    else fillUniform(this.loraA.weight, 1 / Math.sqrt(inF));
    if (opts.init === false) fillUniform(this.loraB.weight, 1 / Math.sqrt(opts.r));
    else (this.loraB.weight.data as Float32Array).fill(0);
    this.scaling = opts.rslora ? opts.alpha / Math.sqrt(opts.r) : opts.alpha / opts.r;
    this.dropout = this.child('lora_dropout', new Dropout(opts.dropout));
  }

  get r(): number {
    return this.loraA.outFeatures;
  }

  forward(x: Tensor): Tensor {
    const y = this.quantizedWeight ? F.linearQuantized(x, this.quantizedWeight, this.bias) : F.linear(x, this.weight, this.bias);
    const update = this.loraB.forward(this.loraA.forward(this.dropout.forward(x)));
    return F.add(y, F.scale(update, this.scaling));
  }

  /** W ← W + scaling · B A, in place on the base weight (PEFT's merge). */
  merge(): void {
    if (this.quantizedWeight) throw new ModelError(`cannot merge a LoRA adapter into a ${this.quantizedWeight.format} base weight; load the base in full precision to merge`);
    F.tidy(() =>
      F.noGrad(() => {
        const delta = F.scale(F.matmul(this.loraB.weight, this.loraA.weight), this.scaling); // (out, in)
        const w = this.weight.data as Float32Array | Float64Array;
        const d = F.contiguous(delta).data;
        for (let i = 0; i < w.length; i++) w[i] += d[i];
      }),
    );
  }
}
