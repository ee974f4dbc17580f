// Low-precision number formats shared by every backend: bf16 rounding (round-to-nearest-even, as
// VCVTNE2PS2BF16 and PyTorch's c10::BFloat16 do) and the storage formats for frozen weights: bf16,
// int8 with per-row absmax (LLM.int8 weight storage) and NF4 (bitsandbytes/QLoRA 4-bit NormalFloat,
// blocks of 64, optional double quantisation of the absmax constants in blocks of 256).
// Quantisation runs here once at load; dequantisation is the slow, obvious twin of native/src/quant.cc.
// Not here: GEMMs (backend.gemmQuant) or Modules (src/nn/quantized.ts).

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The bf16 bits of x (round to nearest even; NaN stays a quiet NaN). */
export function toBf16Bits(x: number): number {
  f32[0] = x;
  const u = u32[0];
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The fp32 value of bf16 bits h. */
export function fromBf16Bits(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0];
}

/** x rounded to the nearest bf16 value. */
export function roundBf16(x: number): number {
  return fromBf16Bits(toBf16Bits(x));
}

/** out[i] = roundBf16(x[i]) for i < n (out may alias x). */
export function roundBf16Array(x: ArrayLike<number>, out: Float32Array | Float64Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = roundBf16(x[i]);
}

/** bitsandbytes' NF4 code (get_4bit_type('nf4'); the quantiles of N(0,1) scaled to [-1, 1]), by code index. */
export const NF4_CODE: readonly number[] = [
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
  -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
  0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
].map(Math.fround);

/**
 * bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8), sorted: the 8-bit code
 * of the double quantisation. Computed in float64 and rounded to float32 (torch builds it in float32, so a
 * last-bit difference is possible in a few entries).
 */
export const DYNAMIC_CODE: Float32Array = (() => {
  const data: number[] = [];
  const maxExp = 7;
  const nonSign = 7;
  for (let i = 0; i < maxExp; i++) {
    const items = 2 ** (i + nonSign - maxExp) + 1;
    const bounds = Array.from({ length: items }, (_, j) => 0.1 + (0.9 * j) / (items - 1));
    for (let j = 0; j + 1 < items; j++) {
      const mean = (bounds[j] + bounds[j + 1]) / 2;
      data.push(10 ** (-(maxExp - 1) + i) * mean, -(10 ** (-(maxExp - 1) + i)) * mean);
    }
  }
  data.push(0, 1);
  data.sort((a, b) => a - b);
  return Float32Array.from(data);
})();

export type QuantFormat = 'bf16' | 'int8' | 'nf4';
/** Codes must match enum QuantFormat in native/src/kernels.h. */
export const QUANT_CODES: Record<QuantFormat, number> = { bf16: 0, int8: 1, nf4: 2 };

/** A frozen (rows, cols) row-major weight in a quantised format. */
export interface QuantizedWeight {
  format: QuantFormat;
  rows: number;
  cols: number;
  /** bf16: Uint16Array; int8: Int8Array; nf4: Uint8Array, two codes per byte, the first in the high nibble. */
  data: Uint16Array | Int8Array | Uint8Array;
  /** int8: per row; nf4 without double quantisation: per block. null otherwise. */
  absmax: Float32Array | null;
  /** nf4 block size (64); 0 otherwise. */
  block: number;
  /** nf4 double quantisation: absmax[b] = DYNAMIC_CODE[qabsmax[b]] * absmax2[b >> 8] + offset. */
  double: { qabsmax: Uint8Array; absmax2: Float32Array; offset: number } | null;
}

/** Bytes the quantised weight occupies (data and constants). */
export function quantizedBytes(w: QuantizedWeight): number {
  let n = w.data.byteLength + (w.absmax?.byteLength ?? 0);
  if (w.double) n += w.double.qabsmax.byteLength + w.double.absmax2.byteLength + 4;
  return n;
}

function nearestIndex(code: ArrayLike<number>, x: number): number {
  // code is sorted ascending: binary search, then the nearer neighbour (ties to the lower index).
  let lo = 0;
  let hi = code.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (code[mid] <= x) lo = mid;
    else hi = mid;
  }
  return Math.abs(x - code[lo]) <= Math.abs(code[hi] - x) ? lo : hi;
}

/** Blockwise 8-bit quantisation with DYNAMIC_CODE (bitsandbytes quantize_blockwise), block 256. */
function quantizeBlockwise8(x: Float32Array): { q: Uint8Array; absmax2: Float32Array } {
  const n = x.length;
  const blocks = Math.ceil(n / 256);
  const q = new Uint8Array(n);
  const absmax2 = new Float32Array(blocks);
  for (let b = 0; b < blocks; b++) {
    let m = 0;
    for (let i = b * 256; i < Math.min(n, (b + 1) * 256); i++) m = Math.max(m, Math.abs(x[i]));
    absmax2[b] = m;
    for (let i = b * 256; i < Math.min(n, (b + 1) * 256); i++) q[i] = nearestIndex(DYNAMIC_CODE, m === 0 ? 0 : x[i] / m);
  }
  return { q, absmax2 };
}

/**
 * Quantises a (rows, cols) fp32 weight.
 * @example const q = quantize(w.floatData, 768, 3072, 'nf4', { doubleQuant: true });
 */
export function quantize(w: ArrayLike<number>, rows: number, cols: number, format: QuantFormat, opts: { doubleQuant?: boolean } = {}): QuantizedWeight {
  const n = rows * cols;
  if (format === 'bf16') {
    const data = new Uint16Array(n);
    for (let i = 0; i < n; i++) data[i] = toBf16Bits(w[i]);
    return { format, rows, cols, data, absmax: null, block: 0, double: null };
  }
  if (format === 'int8') {
    const data = new Int8Array(n);
    const absmax = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      let m = 0;
      for (let c = 0; c < cols; c++) m = Math.max(m, Math.abs(w[r * cols + c]));
      absmax[r] = m;
      const s = m === 0 ? 0 : 127 / m;
      for (let c = 0; c < cols; c++) data[r * cols + c] = Math.round(w[r * cols + c] * s);
    }
    return { format, rows, cols, data, absmax, block: 0, double: null };
  }
  const block = 64;
  const blocks = Math.ceil(n / block);
  const absmax = new Float32Array(blocks);
  const data = new Uint8Array(Math.ceil(n / 2));
  for (let b = 0; b < blocks; b++) {
    const end = Math.min(n, (b + 1) * block);
    let m = 0;
    for (let i = b * block; i < end; i++) m = Math.max(m, Math.abs(w[i]));
    absmax[b] = m;
    for (let i = b * block; i < end; i++) {
      const q = nearestIndex(NF4_CODE, m === 0 ? 0 : w[i] / m);
      data[i >> 1] |= i & 1 ? q : q << 4;
    }
  }
  if (!opts.doubleQuant) return { format, rows, cols, data, absmax, block, double: null };
  let mean = 0;
  for (let b = 0; b < blocks; b++) mean += absmax[b];
  const offset = Math.fround(mean / blocks);
  const centred = absmax.map((a) => a - offset);
  const { q, absmax2 } = quantizeBlockwise8(centred);
  return { format, rows, cols, data, absmax: null, block, double: { qabsmax: q, absmax2, offset } };
}

/** The absmax constant of nf4 block b (after undoing the double quantisation). */
export function nf4Absmax(w: QuantizedWeight, b: number): number {
  if (w.absmax) return w.absmax[b];
  const d = w.double!;
  return Math.fround(Math.fround(DYNAMIC_CODE[d.qabsmax[b]] * d.absmax2[b >> 8]) + d.offset);
}

/** Element i (row-major) of the dequantised weight, as fp32. */
export function dequantElement(w: QuantizedWeight, i: number): number {
  if (w.format === 'bf16') return fromBf16Bits(w.data[i]);
  if (w.format === 'int8') return Math.fround(w.data[i] * Math.fround(w.absmax![Math.floor(i / w.cols)] / 127));
  const byte = w.data[i >> 1];
  const q = i & 1 ? byte & 15 : byte >> 4;
  return Math.fround(NF4_CODE[q] * nf4Absmax(w, Math.floor(i / w.block)));
}

/** The whole weight dequantised to fp32 (tests and the reference backend only: it is 4-8x the stored size). */
export function dequantize(w: QuantizedWeight): Float32Array {
  const out = new Float32Array(w.rows * w.cols);
  for (let i = 0; i < out.length; i++) out[i] = dequantElement(w, i);
  return out;
}
