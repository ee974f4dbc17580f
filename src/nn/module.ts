// Module: the base of every layer and model. Parameters are registered under the same dotted names
// as the Hugging Face checkpoint keys (a module registered as "encoder" owning "layer.0.attention..."),
// so loading a checkpoint is a 1:1 map. Also Linear, Embedding, LayerNorm, RMSNorm and Dropout.
// Not here: models (src/models/), optimizers (src/optim/).

import { ModelError, ShapeError } from '../errors.ts';
import * as F from '../tensor/index.ts';
import { Tensor } from '../tensor/index.ts';
import { deriveSeed } from '../rng.ts';
import { dropoutSampleKeys, nextSeed, normalInit } from './init.ts';

export abstract class Module {
  private readonly params = new Map<string, Tensor | null>();
  private readonly children = new Map<string, Module>();
  /** Training mode enables dropout. Set by train()/eval() on the whole tree. */
  training = true;

  /** Registers a parameter under `name` (a leaf requiring grad) and returns it. */
  protected param(name: string, t: Tensor): Tensor {
    t.requiresGrad = true;
    this.params.set(name, t);
    return t;
  }

  /** Registers a child module under `name` (the checkpoint key segment) and returns it. */
  protected child<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /**
   * Replaces a registered child (e.g. wrapping a Linear with a LoRA adapter, a quantized or a
   * checkpointed layer). The children map is the one source of truth; a field that names the child
   * (`this.query`) is a view of it, and this method is the only mutator, so it re-points every field
   * that held the old module. Forward passes may therefore call `this.query.forward(x)` and always run
   * the module that is registered now. `fieldsMatchChildren` checks the invariant.
   */
  replaceChild(name: string, m: Module): void {
    const old = this.children.get(name);
    if (!old) throw new ModelError(`no child module "${name}"`);
    this.children.set(name, m);
    const self = this as unknown as Record<string, unknown>;
    for (const key of Object.keys(self)) if (self[key] === old) self[key] = m;
  }

  /** The registered child `name`, looked up now. */
  childModule<M extends Module = Module>(name: string): M {
    const m = this.children.get(name);
    if (!m) throw new ModelError(`no child module "${name}"`);
    return m as M;
  }

  /**
   * Paths of fields anywhere in this tree that hold a Module registered nowhere in the tree (a stale
   * reference a forward pass would run instead of the registered one). A field may legitimately point
   * at a module registered elsewhere (tied embeddings). Empty when the tree is consistent.
   */
  staleFields(): string[] {
    const registered = new Set(this.namedModules().map(([, m]) => m));
    const out: string[] = [];
    for (const [path, mod] of this.namedModules()) {
      const self = mod as unknown as Record<string, unknown>;
      for (const key of Object.keys(self)) {
        const v = self[key];
        const held = Array.isArray(v) ? v.filter((x) => x instanceof Module) : v instanceof Module ? [v] : [];
        for (const m of held) if (!registered.has(m as Module)) out.push(path ? `${path}.${key}` : key);
      }
    }
    return out;
  }

  namedChildren(): [string, Module][] {
    return [...this.children.entries()];
  }

  /** Every parameter with its full dotted name, in registration order. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, p] of this.params) if (p) out.push([prefix + n, p]);
    for (const [n, c] of this.children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  /** Every module with its dotted path ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix.replace(/\.$/, ''), this]];
    for (const [n, c] of this.children) out.push(...c.namedModules(`${prefix}${n}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** The parameters that will be trained (requiresGrad). */
  trainableParameters(): [string, Tensor][] {
    return this.namedParameters().filter(([, p]) => p.requiresGrad);
  }

  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  train(on = true): this {
    for (const [, m] of this.namedModules()) m.training = on;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Copies values into the named parameters. Returns the names that were missing/unexpected. */
  loadStateDict(tensors: Map<string, Float32Array>, shapes: Map<string, readonly number[]>): { missing: string[]; unexpected: string[] } {
    const own = new Map(this.namedParameters());
    const missing: string[] = [];
    for (const [name, p] of own) {
      const values = tensors.get(name);
      if (!values) {
        missing.push(name);
        continue;
      }
      const shape = shapes.get(name) ?? [values.length];
      if (shape.length !== p.ndim || shape.some((s, i) => s !== p.shape[i])) {
        throw new ShapeError(`checkpoint tensor "${name}" has shape [${shape.join(', ')}] but the model expects [${p.shape.join(', ')}]`);
      }
      (p.data as Float32Array | Float64Array).set(values);
    }
    const unexpected = [...tensors.keys()].filter((k) => !own.has(k));
    return { missing, unexpected };
  }

  /** Frees every parameter buffer (and gradient). The module is unusable afterwards. */
  dispose(): void {
    for (const p of this.parameters()) p.dispose();
  }
}

/** y = x W^T + b with W (out, in), as torch.nn.Linear. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: { bias?: boolean; std?: number } = {},
  ) {
    super();
    this.weight = this.param('weight', normalInit([outFeatures, inFeatures], opts.std ?? 0.02));
    this.bias = opts.bias === false ? null : this.param('bias', F.untracked(() => Tensor.zeros([outFeatures])));
  }

  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
}

/** A lookup table (num, dim), as torch.nn.Embedding. */
export class Embedding extends Module {
  readonly weight: Tensor;
  constructor(num: number, dim: number, opts: { std?: number; paddingIdx?: number | null } = {}) {
    super();
    this.weight = this.param('weight', normalInit([num, dim], opts.std ?? 0.02, opts.paddingIdx ?? null));
  }

  forward(ids: Tensor): Tensor {
    return F.embedding(this.weight, ids);
  }
}

/** Layer norm over the last dim with weight and bias, as torch.nn.LayerNorm. */
export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(
    dim: number,
    readonly eps: number,
  ) {
    super();
    this.weight = this.param('weight', F.untracked(() => Tensor.full([dim], 1)));
    this.bias = this.param('bias', F.untracked(() => Tensor.zeros([dim])));
  }

  forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.weight, this.bias, this.eps);
  }
}

/** RMS norm with a weight, as LlamaRMSNorm. */
export class RMSNorm extends Module {
  readonly weight: Tensor;
  constructor(
    dim: number,
    readonly eps: number,
  ) {
    super();
    this.weight = this.param('weight', F.untracked(() => Tensor.full([dim], 1)));
  }

  forward(x: Tensor): Tensor {
    return F.rmsNorm(x, this.weight, this.eps);
  }
}

/** Inverted dropout active in training mode; each call draws a fresh seed from the global generator. */
export class Dropout extends Module {
  constructor(readonly p: number) {
    super();
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    const seed = nextSeed();
    const keys = dropoutSampleKeys();
    if (keys === null || x.shape[0] !== keys.length) return F.dropout(x, this.p, seed);
    const rows = keys.map((k, i) => F.dropout(F.narrow(x, 0, i, 1), this.p, deriveSeed(seed, k) >>> 0));
    return rows.length === 1 ? (rows[0] as Tensor) : F.concat(rows, 0);
  }
}
