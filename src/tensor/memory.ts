// Explicit memory management for tensor buffers, so big buffers never wait for the JS garbage collector.
//
// The scheme (like tf.tidy, plus a buffer pool):
// - Every tensor buffer lives in a refcounted Storage; views share it. `tensor.dispose()` drops one
//   reference; at zero the buffer goes back to a pool keyed by size class (lengths rounded up, 8 classes
//   per power of two) and is reused by the next allocation of the same dtype and class. A training step
//   allocates the same sizes every time, so after the first step it allocates nothing new and resident
//   memory stays flat; a server's varying shapes share classes, and the pool is capped (LRU) and trimmable.
// - `tidy(fn)` opens a scope: every tensor created inside is disposed when fn returns, except the
//   returned tensors and those passed to `keep()`. Run forward + backward + optimizer step in one tidy.
// - Parameters, optimizer state and `.grad` buffers are created outside scopes (or kept): they live
//   until disposed explicitly.
// Not here: the Tensor class (tensor.ts) and autograd (autograd.ts).

import type { DeviceMemoryApi } from '../backend/backend.ts';
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

/**
 * The capacity a request for `n` elements is served from: `n` itself up to 1024, then rounded up to one of 8
 * classes per power of two (at most 12.5% unused). Requests of nearby lengths (a server's varying batch and
 * sequence lengths) share buffers instead of each exact length pinning its own.
 */
export function sizeClass(n: number): number {
  if (n <= 1024) return n;
  const step = 2 ** (Math.floor(Math.log2(n)) - 3);
  return Math.ceil(n / step) * step;
}

/** Default cap on pooled (free) bytes; setPoolLimit() sets it from the model size (e.g. the server does). */
export const DEFAULT_POOL_LIMIT = 4 * 1024 ** 3;

/**
 * Free buffers by `${dtype}:${size class}`, capped: a release beyond the cap evicts the least recently
 * released buffers (so a one-off peak does not pin memory forever), and trim() empties the pool (the server
 * calls it when idle).
 */
class BufferPool {
  /** Map order = release order (oldest first) per key; `lru` orders the keys by last release. */
  private free = new Map<string, AnyArray[]>();
  private pooledBytes = 0;
  maxPooledBytes = DEFAULT_POOL_LIMIT;
  allocatedBytes = 0; // live (not pooled) bytes handed out
  peakAllocatedBytes = 0;

  acquire(dtype: DType, n: number, zero: boolean): AnyArray {
    const cap = sizeClass(n);
    const key = `${dtype}:${cap}`;
    const list = this.free.get(key);
    let full = list?.pop();
    if (full) {
      if (list!.length === 0) this.free.delete(key);
      this.pooledBytes -= cap * BYTES[dtype];
    } else {
      full = newArray(dtype, cap);
      zero = false; // fresh memory is zeroed
    }
    const arr = cap === n ? full : full.subarray(0, n);
    if (zero) arr.fill(0);
    const bytes = n * BYTES[dtype];
    this.allocatedBytes += bytes;
    if (this.allocatedBytes > this.peakAllocatedBytes) this.peakAllocatedBytes = this.allocatedBytes;
    return arr;
  }

  release(dtype: DType, arr: AnyArray): void {
    this.allocatedBytes -= arr.length * BYTES[dtype];
    if (arr.length === 0) return;
    // The whole buffer the array was cut from (acquire hands out prefixes of size-class buffers).
    const cap = sizeClass(arr.length);
    const full = arr.length === cap ? arr : (newView(dtype, arr.buffer, cap));
    const bytes = cap * BYTES[dtype];
    if (bytes > this.maxPooledBytes) return; // let GC take it
    while (this.pooledBytes + bytes > this.maxPooledBytes) this.evictOldest();
    const key = `${dtype}:${cap}`;
    const list = this.free.get(key) ?? [];
    this.free.delete(key); // re-insert: this key is now the most recently used
    list.push(full);
    this.free.set(key, list);
    this.pooledBytes += bytes;
  }

  private evictOldest(): void {
    const first = this.free.keys().next();
    if (first.done) return;
    const key = first.value;
    const list = this.free.get(key)!;
    const arr = list.shift()!;
    if (list.length === 0) this.free.delete(key);
    this.pooledBytes -= arr.length * BYTES[key.slice(0, key.indexOf(':')) as DType];
  }

  /** Drops pooled buffers until at most `keepBytes` remain (0: all; the GC reclaims them). */
  trim(keepBytes = 0): void {
    while (this.pooledBytes > keepBytes && this.free.size > 0) this.evictOldest();
  }

  /** Drops every pooled buffer (the GC reclaims them). */
  clear(): void {
    this.free.clear();
    this.pooledBytes = 0;
  }

  stats(): { allocatedBytes: number; pooledBytes: number; peakAllocatedBytes: number; maxPooledBytes: number } {
    return { allocatedBytes: this.allocatedBytes, pooledBytes: this.pooledBytes, peakAllocatedBytes: this.peakAllocatedBytes, maxPooledBytes: this.maxPooledBytes };
  }
}

function newView(dtype: DType, buffer: ArrayBufferLike, n: number): AnyArray {
  switch (dtype) {
    case 'float32': return new Float32Array(buffer, 0, n);
    case 'float64': return new Float64Array(buffer, 0, n);
    case 'int32': return new Int32Array(buffer, 0, n);
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
    /** Set for device storages (webgpu): the buffer returns to the device's pool instead. */
    readonly device: DeviceMemoryApi | null = null,
  ) {
    this.array = array;
  }

  static allocate(dtype: DType, n: number, zero = true, device: DeviceMemoryApi | null = null): Storage {
    if (device) return new Storage(dtype, device.allocate(dtype, n, zero), true, device);
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
      if (this.pooled) {
        if (this.device) this.device.release(this.array);
        else pool.release(this.dtype, this.array);
      }
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

/**
 * Caps the bytes of free buffers kept for reuse (evicting the oldest beyond it). A server sets it from the
 * model's size so the pool never holds more than the workload needs.
 *
 * @example setPoolLimit(2 * modelBytes + 64 * 2 ** 20);
 */
export function setPoolLimit(bytes: number): void {
  if (!(bytes >= 0)) throw new RangeError(`pool limit must be >= 0 bytes, got ${bytes}`);
  pool.maxPooledBytes = bytes;
  pool.trim(bytes);
}

/** Empties the pool down to `keepBytes` (default: everything), e.g. when a server goes idle. */
export function trimPool(keepBytes = 0): void {
  pool.trim(keepBytes);
}
