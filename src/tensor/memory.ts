// Explicit memory management for tensor buffers, so big buffers never wait for the JS garbage collector.
//
// The scheme (like tf.tidy, plus a buffer pool):
// - Every tensor buffer lives in a refcounted Storage; views share it. `tensor.dispose()` drops one
//   reference; at zero the buffer goes back to a size-keyed pool and is reused by the next allocation
//   of the same dtype and length. A training step allocates the same sizes every time, so after the
//   first step it allocates nothing new and resident memory stays flat.
// - `tidy(fn)` opens a scope: every tensor created inside is disposed when fn returns, except the
//   returned tensors and those passed to `keep()`. Run forward + backward + optimizer step in one tidy.
// - Parameters, optimizer state and `.grad` buffers are created outside scopes (or kept): they live
//   until disposed explicitly.
// Not here: the Tensor class (tensor.ts) and autograd (autograd.ts).

import { DisposedError } from '../errors.ts';

export type DType = 'float32' | 'float64' | 'int32';
export type TypedArrayOf<D extends DType> = D extends 'float32' ? Float32Array : D extends 'float64' ? Float64Array : Int32Array;
export type AnyArray = Float32Array | Float64Array | Int32Array;

/** Bytes per element of each dtype. */
export const BYTES: Record<DType, number> = { float32: 4, float64: 8, int32: 4 };

function newArray(dtype: DType, n: number): AnyArray {
  switch (dtype) {
    case 'float32': return new Float32Array(n);
    case 'float64': return new Float64Array(n);
    case 'int32': return new Int32Array(n);
  }
}

/** Pooled free buffers by `${dtype}:${length}`; capped so a one-off peak does not pin memory forever. */
class BufferPool {
  private free = new Map<string, AnyArray[]>();
  private pooledBytes = 0;
  maxPooledBytes = 4 * 1024 ** 3;
  allocatedBytes = 0; // live (not pooled) bytes handed out
  peakAllocatedBytes = 0;

  acquire(dtype: DType, n: number, zero: boolean): AnyArray {
    const list = this.free.get(`${dtype}:${n}`);
    const bytes = n * BYTES[dtype];
    let arr = list?.pop();
    if (arr) {
      this.pooledBytes -= bytes;
      if (zero) arr.fill(0);
    } else {
      arr = newArray(dtype, n);
    }
    this.allocatedBytes += bytes;
    if (this.allocatedBytes > this.peakAllocatedBytes) this.peakAllocatedBytes = this.allocatedBytes;
    return arr;
  }

  release(dtype: DType, arr: AnyArray): void {
    const bytes = arr.length * BYTES[dtype];
    this.allocatedBytes -= bytes;
    if (arr.length === 0 || this.pooledBytes + bytes > this.maxPooledBytes) return; // let GC take it
    const key = `${dtype}:${arr.length}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(arr);
    this.pooledBytes += bytes;
  }

  /** Drops every pooled buffer (the GC reclaims them). */
  clear(): void {
    this.free.clear();
    this.pooledBytes = 0;
  }

  stats(): { allocatedBytes: number; pooledBytes: number; peakAllocatedBytes: number } {
    return { allocatedBytes: this.allocatedBytes, pooledBytes: this.pooledBytes, peakAllocatedBytes: this.peakAllocatedBytes };
  }
}

export const pool = new BufferPool();

/** A refcounted buffer shared by a tensor and its views. */
export class Storage {
  private array: AnyArray | null;
  private refs = 1;
  /** A deferred storage: the buffer is allocated (from the pool) and filled by init on first access. */
  private lazy: { n: number; init: (out: AnyArray) => void } | null = null;
  constructor(
    readonly dtype: DType,
    array: AnyArray | null,
    /** Pooled storages return their buffer to the pool; wrapped user arrays do not. */
    private readonly pooled: boolean,
  ) {
    this.array = array;
  }

  static allocate(dtype: DType, n: number, zero = true): Storage {
    return new Storage(dtype, pool.acquire(dtype, n, zero), true);
  }

  /** A storage of n elements that takes no memory until first read; init then fills the fresh buffer. */
  static deferred(dtype: DType, n: number, init: (out: AnyArray) => void): Storage {
    const s = new Storage(dtype, null, true);
    s.lazy = { n, init };
    return s;
  }

  /** False for a deferred storage that has not been read yet (it holds no buffer). */
  get materialized(): boolean {
    return this.lazy === null;
  }

  get released(): boolean {
    return this.array === null && this.lazy === null;
  }

  /** The buffer; throws DisposedError after the last reference is gone. */
  data(what: string): AnyArray {
    if (this.lazy !== null) {
      const { n, init } = this.lazy;
      this.lazy = null;
      this.array = pool.acquire(this.dtype, n, true);
      init(this.array);
    }
    if (this.array === null) throw new DisposedError(`${what}: its buffer was released (tensor used after dispose() or outside its tidy() scope)`);
    return this.array;
  }

  /** Whether exactly one tensor refers to this buffer (no views of it are alive). */
  get unshared(): boolean {
    return this.refs === 1 && !this.released;
  }

  /** Elements in the buffer (0 once released). */
  get length(): number {
    return this.lazy !== null ? this.lazy.n : this.array === null ? 0 : this.array.length;
  }

  retain(): void {
    if (this.released) throw new DisposedError('cannot take a view of a released buffer');
    this.refs++;
  }

  release(): void {
    if (this.released) return;
    if (--this.refs === 0 && this.lazy !== null) {
      this.lazy = null; // never read: nothing was allocated
      return;
    }
    if (this.refs === 0 && this.array !== null) {
      if (this.pooled) pool.release(this.dtype, this.array);
      this.array = null;
    }
  }
}

/** Anything a scope can dispose. */
export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

const scopes: Set<Disposable>[] = [];

/** Registers a new tensor with the innermost scope (if any). Called by the Tensor constructor. */
export function track(t: Disposable): void {
  scopes.at(-1)?.add(t);
}

/** Removes t from every open scope so it outlives them. Returns t. */
export function keep<T extends Disposable>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

/** Collects Disposables reachable in a returned value (a tensor, an array or a plain object of them). */
function collectReturned(value: unknown, out: Set<Disposable>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 4) return;
  if ('dispose' in value && 'isDisposed' in value) {
    out.add(value as Disposable);
    return;
  }
  const items = Array.isArray(value) ? value : Object.values(value);
  for (const item of items) collectReturned(item, out, depth + 1);
}

/**
 * Runs fn in a scope: tensors created inside are disposed when it returns, except those it returns
 * (directly, or inside an array or plain object) and those passed to `keep()`. Returned tensors move to
 * the enclosing scope.
 * @example const lossValue = tidy(() => { const loss = model.loss(batch); loss.backward(); return loss.item(); });
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw err;
  }
  scopes.pop();
  const returned = new Set<Disposable>();
  collectReturned(result, returned);
  for (const t of scope) {
    if (returned.has(t)) scopes.at(-1)?.add(t);
    else t.dispose();
  }
  return result;
}

/** Runs fn with no scope open, so what it creates is persistent (parameters, optimizer state). */
export function untracked<T>(fn: () => T): T {
  const saved = scopes.splice(0, scopes.length);
  try {
    return fn();
  } finally {
    scopes.push(...saved);
  }
}

export function memoryStats(): ReturnType<BufferPool['stats']> {
  return pool.stats();
}
