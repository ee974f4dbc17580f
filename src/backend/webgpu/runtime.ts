/// <reference types="@webgpu/types" />
// The WebGPU runtime under the webgpu backend: the device, a cache of compute pipelines, and the one
// dispatch path every kernel uses. Dispatches are recorded into one pending command encoder and
// submitted together at flush() (before any upload or read, or when the parameter arena is full).
// Kernel parameters (sizes, element offsets, scalars) travel in 256-byte slots of a parameter arena.
// Not here: device arrays and their host mirrors (memory.ts), WGSL sources (kernels-*.ts).

import { FinetuneError } from '../../errors.ts';

/** Where a device buffer is read from or written to by a dispatch: whole GPUBuffers only (offsets go in params). */
export interface BindingRef {
  buffer: GPUBuffer;
  write: boolean;
}

const SLOT_BYTES = 256; // minStorageBufferOffsetAlignment's largest allowed value
const SLOTS = 512;

/** Builds a kernel's parameter words: u32 / i32 / f32 all stored as 32-bit words. */
export class Params {
  readonly words = new Uint32Array(SLOT_BYTES / 4);
  private readonly f = new Float32Array(this.words.buffer);
  private readonly i = new Int32Array(this.words.buffer);
  private n = 0;
  u(v: number): this {
    this.words[this.n++] = v >>> 0;
    return this;
  }
  s(v: number): this {
    this.i[this.n++] = v | 0;
    return this;
  }
  f32(v: number): this {
    this.f[this.n++] = v;
    return this;
  }
  get length(): number {
    return this.n;
  }
}

export class GpuRuntime {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private encoder: GPUCommandEncoder | null = null;
  private readonly arena: GPUBuffer;
  private readonly arenaHost = new Uint32Array((SLOTS * SLOT_BYTES) / 4);
  private slot = 0;
  /** Set by the first uncaptured device error; reported by the next flush. */
  private deviceError: string | null = null;

  constructor(
    readonly device: GPUDevice,
    readonly adapterName: string,
    /** The GPU object is kept referenced: dawn.node crashes when it is garbage-collected while a device lives. */
    readonly gpu: GPU,
  ) {
    this.arena = device.createBuffer({ size: SLOTS * SLOT_BYTES, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    device.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      if (this.deviceError === null) this.deviceError = e.message;
    });
  }

  private pipeline(key: string, wgsl: () => string): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code: wgsl(), label: key });
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key });
      this.pipelines.set(key, p);
    }
    return p;
  }

  private enc(): GPUCommandEncoder {
    if (this.encoder === null) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  /** Records a copy between device buffers (byte offsets and size multiples of 4). */
  copy(src: GPUBuffer, srcByte: number, dst: GPUBuffer, dstByte: number, bytes: number): void {
    if (bytes > 0) this.enc().copyBufferToBuffer(src, srcByte, dst, dstByte, bytes);
  }

  /** Records a zero fill of a whole buffer. */
  clear(buf: GPUBuffer): void {
    this.enc().clearBuffer(buf);
  }

  /**
   * Records one dispatch of the pipeline `key` (built from `wgsl` on first use). Binding 0 is the
   * parameter slot; bindings 1.. are `refs` in order. A written buffer that is also bound elsewhere in
   * the same dispatch (WebGPU forbids writable aliasing) runs through a temporary copy.
   */
  dispatch(key: string, wgsl: () => string, refs: readonly BindingRef[], params: Params, groups: number): void {
    if (groups <= 0) return;
    if (this.slot === SLOTS) this.flush();
    const slot = this.slot++;
    this.arenaHost.set(params.words, (slot * SLOT_BYTES) / 4);
    const pipe = this.pipeline(key, wgsl);
    const e = this.enc();
    const bound: GPUBuffer[] = refs.map((r) => r.buffer);
    const temps: Array<{ temp: GPUBuffer; real: GPUBuffer }> = [];
    refs.forEach((r, i) => {
      if (!r.write) return;
      const aliased = refs.some((o, j) => j !== i && o.buffer === r.buffer);
      if (!aliased) return;
      const temp = this.device.createBuffer({ size: r.buffer.size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      e.copyBufferToBuffer(r.buffer, 0, temp, 0, r.buffer.size);
      bound[i] = temp;
      temps.push({ temp, real: r.buffer });
    });
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.arena, offset: slot * SLOT_BYTES, size: SLOT_BYTES } }];
    bound.forEach((b, i) => entries.push({ binding: i + 1, resource: { buffer: b } }));
    const group = this.device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries });
    const pass = e.beginComputePass();
    pass.setPipeline(pipe);
    pass.setBindGroup(0, group);
    // 2D grid when one dimension would exceed 65535 workgroups; kernels fold (x, y) back to one index.
    const gx = Math.min(groups, 65535);
    pass.dispatchWorkgroups(gx, Math.ceil(groups / gx));
    pass.end();
    for (const { temp, real } of temps) {
      e.copyBufferToBuffer(temp, 0, real, 0, real.size);
      this.pendingDestroy.push(temp);
    }
  }

  private pendingDestroy: GPUBuffer[] = [];

  /** Submits everything recorded so far (parameters first). Throws the first device error seen. */
  flush(): void {
    if (this.encoder !== null) {
      if (this.slot > 0) this.device.queue.writeBuffer(this.arena, 0, this.arenaHost, 0, (this.slot * SLOT_BYTES) / 4);
      this.device.queue.submit([this.encoder.finish()]);
      this.encoder = null;
      for (const b of this.pendingDestroy) b.destroy();
      this.pendingDestroy = [];
    }
    this.slot = 0;
    if (this.deviceError !== null) {
      const msg = this.deviceError;
      this.deviceError = null;
      throw new FinetuneError(`webgpu device error (${this.adapterName}): ${msg}`);
    }
  }

  /** Submits pending work and resolves when the device has finished it (for timing). */
  async finish(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
  }

  /** Copies `bytes` from a device buffer to the host (flushes first). */
  async readBytes(src: GPUBuffer, byteOffset: number, bytes: number): Promise<ArrayBuffer> {
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const staging = this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.copy(src, byteOffset, staging, 0, size);
    this.flush();
    await staging.mapAsync(GPUMapMode.READ);
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    return out;
  }
}

/** WGSL shared by every kernel: the parameter slot and its typed readers, the flat invocation index. */
export const PRELUDE = /* wgsl */ `
@group(0) @binding(0) var<storage, read> P: array<u32>;
fn pu(i: u32) -> u32 { return P[i]; }
fn pi(i: u32) -> i32 { return bitcast<i32>(P[i]); }
fn pf(i: u32) -> f32 { return bitcast<f32>(P[i]); }
fn flat(gid: vec3<u32>, nwg: vec3<u32>, wg: u32) -> u32 { return gid.x + gid.y * nwg.x * wg; }
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
// Runtime bit patterns: WGSL rejects inf/NaN in constant expressions.
var<private> INF_BITS: u32 = 0x7f800000u;
var<private> NAN_BITS: u32 = 0x7fc00000u;
fn f_inf() -> f32 { return bitcast<f32>(INF_BITS); }
fn f_nan() -> f32 { return bitcast<f32>(NAN_BITS); }
`;

/** Workgroups needed to cover n items with `wg` invocations each. */
export function groupsFor(n: number, wg: number): number {
  return Math.ceil(n / wg);
}
