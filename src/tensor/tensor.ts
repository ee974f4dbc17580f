// The Tensor: a typed buffer (Storage) seen through a shape, strides and an offset, plus the autograd
// fields (requiresGrad, grad, gradFn). Views (reshape, permute, slice, expand) share the Storage.
// Not here: ops (ops/*.ts), gradient rules (gradients.ts), backward (autograd.ts), memory scheme (memory.ts).

import type { Backend, FloatArray } from '../backend/backend.ts';
import { DTypeError, ShapeError } from '../errors.ts';
import { type AnyArray, type DType, Storage, track, untracked } from './memory.ts';
import { backward, type GradNode } from './autograd.ts';
import { getDefaultBackend } from '../backend/default.ts';

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

export function shapeStr(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

function dtypeOf(arr: AnyArray): DType {
  if (arr instanceof Float32Array) return 'float32';
  if (arr instanceof Float64Array) return 'float64';
  return 'int32';
}

let nextId = 1;

export class Tensor {
  readonly id = nextId++;
  readonly shape: Shape;
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  readonly backend: Backend;
  /** Whether gradients flow to this tensor (leaves: set by the user; results: set by ops). */
  requiresGrad = false;
  /** Accumulated gradient of a leaf (+= on every backward; zeroed by the optimizer's zeroGrad). */
  grad: Tensor | null = null;
  /** The op that produced this tensor, for backward; null for leaves and no-grad results. */
  gradFn: GradNode | null = null;
  /** A human name (parameter path) used in error messages. */
  name = '';
  private disposed = false;

  constructor(storage: Storage, shape: Shape, strides: readonly number[], offset: number, backend: Backend) {
    for (const s of shape) {
      if (!Number.isInteger(s) || s < 0) throw new ShapeError(`invalid shape ${shapeStr(shape)}: sizes must be non-negative integers`);
    }
    this.storage = storage;
    this.shape = [...shape];
    this.strides = [...strides];
    this.offset = offset;
    this.dtype = storage.dtype;
    this.backend = backend;
    if (this.dtype === 'float64' && !backend.supportsFloat64) {
      throw new DTypeError(`backend "${backend.name}" does not support float64; use the reference backend for float64`);
    }
    track(this);
  }

  readonly storage: Storage;

  // ---- construction -----------------------------------------------------------------------
  /** A new contiguous tensor of zeros. */
  static zeros(shape: Shape, dtype: DType = 'float32', backend: Backend = getDefaultBackend()): Tensor {
    return new Tensor(Storage.allocate(dtype, numel(shape), true, backend.memory ?? null), shape, contiguousStrides(shape), 0, backend);
  }

  /** A new contiguous tensor whose contents the caller will overwrite entirely. */
  static empty(shape: Shape, dtype: DType = 'float32', backend: Backend = getDefaultBackend()): Tensor {
    return new Tensor(Storage.allocate(dtype, numel(shape), false, backend.memory ?? null), shape, contiguousStrides(shape), 0, backend);
  }

  /** A tensor whose buffer is allocated and filled by init on first read (deferred parameter initialisation). */
  static deferred(shape: Shape, init: (out: AnyArray) => void, dtype: DType = 'float32', backend: Backend = getDefaultBackend()): Tensor {
    return new Tensor(Storage.deferred(dtype, numel(shape), init), shape, contiguousStrides(shape), 0, backend);
  }

  /** False while a deferred tensor has not been read (it holds no memory yet). */
  get materialized(): boolean {
    return this.storage.materialized;
  }

  static full(shape: Shape, value: number, dtype: DType = 'float32', backend: Backend = getDefaultBackend()): Tensor {
    const t = Tensor.empty(shape, dtype, backend);
    t.data.fill(value);
    return t;
  }

  /** Copies `values` into a new tensor (dtype float32 unless given or implied by the array type). */
  static from(values: ArrayLike<number> | AnyArray, shape?: Shape, dtype?: DType, backend: Backend = getDefaultBackend()): Tensor {
    const dt: DType = dtype ?? (values instanceof Int32Array ? 'int32' : values instanceof Float64Array ? 'float64' : 'float32');
    const sh = shape ?? [values.length];
    if (numel(sh) !== values.length) {
      throw new ShapeError(`Tensor.from: ${values.length} values do not fill shape ${shapeStr(sh)} (${numel(sh)} elements)`);
    }
    if (backend.memory) {
      // Device backends: fill on the host, then upload once (element writes into device arrays refuse).
      const host = dt === 'int32' ? new Int32Array(values.length) : dt === 'float64' ? new Float64Array(values.length) : new Float32Array(values.length);
      for (let i = 0; i < values.length; i++) host[i] = values[i];
      return Tensor.wrap(host, sh, backend);
    }
    const t = Tensor.empty(sh, dt, backend);
    const data = t.data;
    for (let i = 0; i < values.length; i++) data[i] = values[i];
    return t;
  }

  /** Wraps an existing typed array without copying (the caller must not reuse it). Device backends upload it. */
  static wrap(array: AnyArray, shape: Shape, backend: Backend = getDefaultBackend()): Tensor {
    if (numel(shape) !== array.length) throw new ShapeError(`Tensor.wrap: ${array.length} values do not fill shape ${shapeStr(shape)}`);
    const dev = backend.memory;
    if (dev && !dev.owns(array)) {
      if (array instanceof Float64Array) throw new DTypeError(`backend "${backend.name}" does not support float64; use the reference backend for float64`);
      return new Tensor(new Storage(dtypeOf(array), dev.upload(array), true, dev), shape, contiguousStrides(shape), 0, backend);
    }
    return new Tensor(new Storage(dtypeOf(array), array, false, dev ?? null), shape, contiguousStrides(shape), 0, backend);
  }

  /** A persistent leaf that requires grad (a model parameter): not owned by any tidy() scope. */
  static parameter(values: Float32Array | Float64Array, shape: Shape, name = '', backend: Backend = getDefaultBackend()): Tensor {
    return untracked(() => {
      const t = Tensor.from(values, shape, values instanceof Float64Array ? 'float64' : 'float32', backend);
      t.requiresGrad = true;
      t.name = name;
      return t;
    });
  }

  // ---- inspection -------------------------------------------------------------------------
  get ndim(): number {
    return this.shape.length;
  }

  get size(): number {
    return numel(this.shape);
  }

  get isDisposed(): boolean {
    return this.disposed || this.storage.released;
  }

  /** The whole underlying buffer (shared with views); index it with offset and strides. */
  get buffer(): AnyArray {
    return this.storage.data(this.describe());
  }

  /** The elements of a contiguous tensor as a typed-array view (no copy). Throws for non-contiguous views. */
  get data(): AnyArray {
    if (!this.isContiguous()) throw new ShapeError(`${this.describe()}: .data needs a contiguous tensor; call contiguous() first`);
    const buf = this.buffer;
    return this.offset === 0 && buf.length === this.size ? buf : buf.subarray(this.offset, this.offset + this.size);
  }

  /** Contiguous float data (throws DTypeError for int32). */
  get floatData(): FloatArray {
    const d = this.data;
    if (d instanceof Int32Array) throw new DTypeError(`${this.describe()}: expected a float tensor`);
    return d;
  }

  /** Contiguous int32 data (throws DTypeError for float tensors). */
  get intData(): Int32Array {
    const d = this.data;
    if (!(d instanceof Int32Array)) throw new DTypeError(`${this.describe()}: expected an int32 tensor`);
    return d;
  }

  isContiguous(): boolean {
    let expected = 1;
    for (let d = this.shape.length - 1; d >= 0; d--) {
      if (this.shape[d] !== 1 && this.strides[d] !== expected) return false;
      expected *= this.shape[d];
    }
    return true;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new ShapeError(`item() needs a one-element tensor, got ${this.describe()}`);
    return this.buffer[this.offset];
  }

  /** A copy of the elements in logical (row-major) order. */
  toArray(): number[] {
    const out = new Array<number>(this.size);
    const buf = this.buffer;
    const idx = new Array<number>(this.ndim).fill(0);
    for (let i = 0; i < out.length; i++) {
      let off = this.offset;
      for (let d = 0; d < this.ndim; d++) off += idx[d] * this.strides[d];
      out[i] = buf[off];
      for (let d = this.ndim - 1; d >= 0; d--) {
        if (++idx[d] < this.shape[d]) break;
        idx[d] = 0;
      }
    }
    return out;
  }

  // ---- asynchronous host reads (every backend; the only reads a device tensor allows) ----------
  /**
   * Makes this tensor's elements readable on the host: a no-op on host backends; on device backends
   * (webgpu) it downloads the buffer, after which `data`, `toArray()` and `item()` work until the
   * device writes it again.
   * @example await loss.sync(); console.log(loss.item());
   */
  async sync(): Promise<this> {
    const dev = this.storage.device;
    if (dev) await dev.download(this.buffer);
    return this;
  }

  /** The elements in logical (row-major) order, read asynchronously (works on every backend). */
  async read(): Promise<number[]> {
    await this.sync();
    return this.toArray();
  }

  /** The single value of a one-element tensor, read asynchronously (works on every backend). */
  async readItem(): Promise<number> {
    await this.sync();
    return this.item();
  }

  describe(): string {
    return `${this.name ? `"${this.name}" ` : ''}tensor ${shapeStr(this.shape)} ${this.dtype}`;
  }

  /** A view of the same storage with another shape/strides/offset (no autograd; see ops/views.ts). */
  viewOf(shape: Shape, strides: readonly number[], offset: number): Tensor {
    this.storage.retain();
    return new Tensor(this.storage, shape, strides, offset, this.backend);
  }

  /**
   * Backpropagates from this tensor (a one-element loss, or pass the upstream gradient) and adds
   * into `.grad` of every leaf that requires grad.
   */
  backward(gradient?: Tensor): void {
    backward(this, gradient);
  }

  /** Drops this tensor's reference to its buffer (idempotent). Gradients it holds are disposed too. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.storage.release();
    this.gradFn = null;
    this.grad?.dispose();
    this.grad = null;
  }
}

/**
 * Makes every given tensor readable on the host (see Tensor.sync); a no-op on host backends.
 * @example await syncHost(model.parameters()); // then save synchronously
 */
export async function syncHost(tensors: Iterable<Tensor | null | undefined>): Promise<void> {
  const pending: Promise<Tensor>[] = [];
  for (const t of tensors) if (t && !t.isDisposed) pending.push(t.sync()); // downloads overlap
  await Promise.all(pending);
}
