/// <reference types="@webgpu/types" />
// Device arrays: what a webgpu tensor's Storage holds instead of a host typed array. Each is a Proxy
// over an empty Float32Array/Int32Array (so `instanceof`, `.length`, `.subarray`, `.fill` and `.set`
// keep working in the tensor layer) that names a GPUBuffer from a size-keyed pool. Element reads are
// served from a host mirror while it is current (data uploaded from the host, or refreshed by an
// awaited download()); after a kernel writes the buffer they throw, naming the fix. Not here: kernels.

import { DTypeError, FinetuneError } from '../../errors.ts';
import type { GpuRuntime } from './runtime.ts';

export type DeviceDType = 'float32' | 'int32';
type HostArray = Float32Array | Int32Array;

/** One GPUBuffer and what the host knows of its contents. */
export interface DeviceBuffer {
  gpu: GPUBuffer;
  dtype: DeviceDType;
  length: number;
  /** A host copy of every element while it is current; null after a device write. */
  mirror: HostArray | null;
  /** Bumped by every device write, so a download that raced a write does not install a stale mirror. */
  version: number;
  /** Known to hold zeros (allocated zeroed, not written since): its mirror is made on demand. */
  zero: boolean;
  released: boolean;
}

/** A device array as kernels see it: a buffer and an element range. */
export interface DeviceView {
  buf: DeviceBuffer;
  offset: number;
  length: number;
}

const views = new WeakMap<object, DeviceView>();

/** The device view behind a device array, or null for an ordinary host typed array. */
export function viewOf(arr: object): DeviceView | null {
  return views.get(arr) ?? null;
}

function hostRead(what: string): never {
  throw new FinetuneError(
    `synchronous host read of a webgpu tensor (${what}) after the device wrote it: device reads are asynchronous. ` +
      'At this call site (see the stack) await tensor.read() / F.syncHost(tensors) first, or use the async API.',
  );
}

function newHost(dtype: DeviceDType, n: number): HostArray {
  return dtype === 'float32' ? new Float32Array(n) : new Int32Array(n);
}

export class DeviceMemory {
  private readonly free = new Map<string, GPUBuffer[]>();
  liveBytes = 0;
  peakBytes = 0;

  constructor(private readonly rt: GpuRuntime) {}

  private acquire(dtype: DeviceDType, n: number): DeviceBuffer {
    const bytes = Math.max(16, Math.ceil((n * 4) / 16) * 16);
    const key = String(bytes);
    const gpu =
      this.free.get(key)?.pop() ??
      this.rt.device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    this.liveBytes += bytes;
    if (this.liveBytes > this.peakBytes) this.peakBytes = this.liveBytes;
    return { gpu, dtype, length: n, mirror: null, version: 0, released: false, zero: false };
  }

  /** A new device array of n elements (zeroed when asked; otherwise its contents are unspecified). */
  allocate(dtype: string, n: number, zero: boolean): HostArray {
    if (dtype !== 'float32' && dtype !== 'int32') throw new DTypeError(`the webgpu backend holds float32 and int32 tensors only, not ${dtype}; use the reference backend for float64`);
    const buf = this.acquire(dtype, n);
    if (zero) {
      this.rt.clear(buf.gpu);
      this.written(buf);
      buf.zero = true;
    }
    return this.proxy(buf, 0, n);
  }

  /** A new device array holding a copy of `host` (which becomes its mirror: do not modify it afterwards). */
  upload(host: Float32Array | Float64Array | Int32Array): HostArray {
    if (host instanceof Float64Array) throw new DTypeError('the webgpu backend holds float32 and int32 tensors only; convert float64 data first');
    if (viewOf(host)) throw new FinetuneError('upload: the array is already on the device');
    const buf = this.acquire(host instanceof Float32Array ? 'float32' : 'int32', host.length);
    this.rt.flush(); // queue.writeBuffer runs before unflushed dispatches: keep program order
    if (host.length > 0) this.rt.device.queue.writeBuffer(buf.gpu, 0, host.buffer, host.byteOffset, host.byteLength);
    buf.mirror = host;
    return this.proxy(buf, 0, host.length);
  }

  /** Returns the buffer to the pool (the Storage's last reference is gone). */
  release(arr: object): void {
    const v = viewOf(arr);
    if (!v || v.buf.released) return;
    v.buf.released = true;
    v.buf.mirror = null;
    this.liveBytes -= v.buf.gpu.size;
    const key = String(v.buf.gpu.size);
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(v.buf.gpu);
  }

  /** Marks a buffer as written by the device (its host mirror is stale). */
  written(buf: DeviceBuffer): void {
    buf.mirror = null;
    buf.zero = false;
    buf.version++;
  }

  /** The host mirror when current (made on demand for a known-zero buffer), else null. */
  hostMirror(buf: DeviceBuffer): HostArray | null {
    if (buf.mirror === null && buf.zero && !buf.released) buf.mirror = newHost(buf.dtype, buf.length);
    return buf.mirror;
  }

  /** Makes the whole buffer behind `arr` readable on the host (refreshes its mirror). */
  async download(arr: object): Promise<void> {
    const v = viewOf(arr);
    if (!v) return; // a host array is always readable
    const buf = v.buf;
    if (this.hostMirror(buf) !== null || buf.released) return;
    const version = buf.version;
    const bytes = await this.rt.readBytes(buf.gpu, 0, buf.length * 4);
    const host = buf.dtype === 'float32' ? new Float32Array(bytes) : new Int32Array(bytes);
    if (buf.version === version && !buf.released) buf.mirror = host;
  }

  /** Drops every pooled buffer. */
  clear(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
  }

  private hostWrite(v: DeviceView, values: ArrayLike<number>, at: number): void {
    const n = values.length;
    if (at < 0 || at + n > v.length) throw new RangeError(`set: ${n} values at ${at} do not fit a device array of ${v.length}`);
    const chunk = newHost(v.buf.dtype, n);
    for (let i = 0; i < n; i++) chunk[i] = values[i];
    this.rt.flush();
    if (n > 0) this.rt.device.queue.writeBuffer(v.buf.gpu, (v.offset + at) * 4, chunk.buffer, 0, chunk.byteLength);
    const m = this.hostMirror(v.buf);
    v.buf.version++;
    v.buf.zero = false;
    if (m !== null) m.set(chunk, v.offset + at);
    else if (v.offset === 0 && at === 0 && n === v.buf.length) v.buf.mirror = chunk;
  }

  private hostFill(v: DeviceView, value: number, start: number, end: number): void {
    const s = start < 0 ? Math.max(0, v.length + start) : Math.min(start, v.length);
    const e = end < 0 ? Math.max(0, v.length + end) : Math.min(end, v.length);
    if (e <= s) return;
    const chunk = newHost(v.buf.dtype, e - s);
    chunk.fill(value);
    this.hostWrite({ buf: v.buf, offset: v.offset + s, length: e - s }, chunk, 0);
  }

  private proxy(buf: DeviceBuffer, offset: number, length: number): HostArray {
    const target = buf.dtype === 'float32' ? new Float32Array(0) : new Int32Array(0);
    const view: DeviceView = { buf, offset, length };
    const mem = this;
    const mirrorView = (what: string): HostArray => {
      if (buf.released) throw new FinetuneError(`${what}: the device buffer was released`);
      const m = mem.hostMirror(buf);
      if (m === null) hostRead(what);
      return m.subarray(offset, offset + length);
    };
    const handler: ProxyHandler<HostArray> = {
      get(_t, prop) {
        if (typeof prop === 'symbol') {
          if (prop === Symbol.toStringTag) return buf.dtype === 'float32' ? 'Float32Array' : 'Int32Array';
          const m = mirrorView(`[${String(prop)}]`);
          const val = Reflect.get(m, prop) as unknown;
          return typeof val === 'function' ? (val as (...a: unknown[]) => unknown).bind(m) : val;
        }
        if (prop === 'length') return length;
        if (prop === 'BYTES_PER_ELEMENT') return 4;
        if (prop === 'byteLength') return length * 4;
        if (prop === 'subarray') {
          return (begin = 0, end = length) => {
            const b = begin < 0 ? Math.max(0, length + begin) : Math.min(begin, length);
            const e = end < 0 ? Math.max(0, length + end) : Math.min(end, length);
            return mem.proxy(buf, offset + b, Math.max(0, e - b));
          };
        }
        if (prop === 'fill') {
          return (value: number, start = 0, end = length) => {
            mem.hostFill(view, value, start, end);
            return proxyObj;
          };
        }
        if (prop === 'set') return (values: ArrayLike<number>, at = 0) => mem.hostWrite(view, values, at);
        const idx = Number(prop);
        if (Number.isInteger(idx) && String(idx) === prop) {
          if (idx < 0 || idx >= length) return undefined;
          return mirrorView(`element ${idx}`)[idx];
        }
        const m = mirrorView(`.${prop}`);
        const val = Reflect.get(m, prop) as unknown;
        return typeof val === 'function' ? (val as (...a: unknown[]) => unknown).bind(m) : val;
      },
      set(_t, prop) {
        throw new FinetuneError(
          `element write ${String(prop)} into a webgpu tensor: build the values on the host and create the tensor with Tensor.from, or use .set(values)`,
        );
      },
    };
    const proxyObj = new Proxy(target, handler);
    views.set(proxyObj, view);
    return proxyObj;
  }
}
