// IEEE half (F16) and bfloat16 (BF16) bit conversions to and from float32, for checkpoint I/O.
// Encoding rounds to nearest, ties to even, as PyTorch's `.half()` / `.bfloat16()` do; NaN stays NaN.
// Not here: arithmetic in half precision (tensors compute in float32/float64).

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

let f16Table: Float32Array | undefined;

/** Value of one F16 bit pattern. */
export function f16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** F16 bit pattern nearest to `x` (round half to even; overflow → ±Infinity). */
export function numberToF16Bits(x: number): number {
  f32[0] = x; // float64 → float32 first, as torch does for a float32 tensor
  const bits = u32[0] as number;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Half subnormal: value = k * 2^-24 with k = m * 2^(exp-150+24) = m >> (126 - exp).
    const shift = 126 - exp;
    if (shift > 24) return sign;
    const m = mant | 0x800000;
    let k = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (k & 1) === 1)) k++;
    return sign | k;
  }
  let h = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // a carry into the exponent is correct
  return h;
}

/** BF16 bit pattern nearest to `x` (round half to even). */
export function numberToBf16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0] as number;
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return ((bits >>> 16) | 0x40) & 0xffff;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Value of one BF16 bit pattern. */
export function bf16BitsToNumber(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0] as number;
}

/** Decodes F16 bit patterns into float32 values (table lookup). */
export function f16ToFloat32(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  if (f16Table === undefined) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16BitsToNumber(i);
  }
  const t = f16Table;
  for (let i = 0; i < src.length; i++) out[i] = t[src[i] as number] as number;
  return out;
}

/** Decodes BF16 bit patterns into float32 values (exact: BF16 is the top half of a float32). */
export function bf16ToFloat32(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  const o = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) o[i] = (src[i] as number) << 16;
  return out;
}

/** Encodes numbers as F16 bit patterns. */
export function float32ToF16(src: ArrayLike<number>, out = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) out[i] = numberToF16Bits(src[i] as number);
  return out;
}

/** Encodes numbers as BF16 bit patterns. */
export function float32ToBf16(src: ArrayLike<number>, out = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) out[i] = numberToBf16Bits(src[i] as number);
  return out;
}
