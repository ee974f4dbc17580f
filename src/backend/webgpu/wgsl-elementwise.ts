// WGSL for the one-thread-per-element kernels of the webgpu backend: unary and its derivative, strided
// binary with broadcasting, where, strided copy with dtype conversion, fill, axpy, dropout (the same
// counter-based hash as rng.ts), BCE with logits, AdamW, gather / scatter-add, axis reductions and
// sum-of-squares partials. Every buffer is bound whole; element offsets arrive in the parameter slot.
// Not here: row kernels (wgsl-rows.ts), GEMM (wgsl-gemm.ts), attention (wgsl-attention.ts).

import { PRELUDE } from './runtime.ts';

export const WG = 256;

const MAIN = `@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>)`;

/** Stable scalar math shared by the elementwise and fused kernels (f32, no fast-math assumptions). */
export const MATH = /* wgsl */ `
fn sigm(x: f32) -> f32 { if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); } let e = exp(x); return e / (1.0 + e); }
fn expm1_k(u: f32) -> f32 { let e = exp(u); if (e == 1.0) { return u; } let l = log(e); if (e - 1.0 == -1.0) { return -1.0; } return (e - 1.0) * u / l; }
fn log1p_k(z: f32) -> f32 { let u = 1.0 + z; if (u == 1.0) { return z; } return log(u) * z / (u - 1.0); }
fn tanh_s(x: f32) -> f32 { let m = expm1_k(-2.0 * abs(x)); let t = -m / (2.0 + m); return select(t, -t, x < 0.0); }
// erfc with fractional error < 1.2e-7 everywhere (Chebyshev fit, Numerical Recipes' erfcc).
fn erfc_k(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return select(r, 2.0 - r, x < 0.0);
}
fn powf(x: f32, a: f32) -> f32 {
  if (a == 0.0) { return 1.0; }
  if (x > 0.0) { return pow(x, a); }
  if (x == 0.0) { return select(0.0, f_inf(), a < 0.0); }
  if (fract(a) != 0.0) { return f_nan(); }
  let r = pow(-x, a);
  let odd = abs(a - 2.0 * floor(a * 0.5)) == 1.0;
  return select(r, -r, odd);
}
const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const INV_SQRT_2: f32 = 0.7071067811865476;
const INV_SQRT_2PI: f32 = 0.3989422804014327;
fn unary_val(op: u32, x: f32, a: f32) -> f32 {
  switch op {
    case 0u: { return -x; }
    case 1u: { return exp(x); }
    case 2u: { return log(x); }
    case 3u: { return sqrt(x); }
    case 4u: { return 1.0 / sqrt(x); }
    case 5u: { return abs(x); }
    case 6u: { return x * x; }
    case 7u: { return tanh_s(x); }
    case 8u: { return sigm(x); }
    case 9u: { return select(0.0, x, x > 0.0); }
    case 10u: { return 0.5 * x * erfc_k(-x * INV_SQRT_2); }
    case 11u: { return x * sigm(2.0 * SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)); }
    case 12u: { return x * sigm(x); }
    case 13u: { return a * x; }
    case 14u: { return x + a; }
    case 15u: { return powf(x, a); }
    default: { return 1.0 / x; }
  }
}
fn unary_der(op: u32, x: f32, y: f32, a: f32) -> f32 {
  switch op {
    case 0u: { return -1.0; }
    case 1u: { return y; }
    case 2u: { return 1.0 / x; }
    case 3u: { return 0.5 / y; }
    case 4u: { return -0.5 * y * y * y; }
    case 5u: { return select(select(0.0, -1.0, x < 0.0), 1.0, x > 0.0); }
    case 6u: { return 2.0 * x; }
    case 7u: { return 1.0 - y * y; }
    case 8u: { return y * (1.0 - y); }
    case 9u: { return select(0.0, 1.0, x > 0.0); }
    case 10u: { return 0.5 * erfc_k(-x * INV_SQRT_2) + x * exp(-0.5 * x * x) * INV_SQRT_2PI; }
    case 11u: {
      let s = sigm(2.0 * SQRT_2_OVER_PI * (x + 0.044715 * x * x * x));
      let dinner = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * x * x);
      return s + 2.0 * x * s * (1.0 - s) * dinner;
    }
    case 12u: { let s = sigm(x); return s * (1.0 + x * (1.0 - s)); }
    case 13u: { return a; }
    case 14u: { return 1.0; }
    case 15u: { return a * powf(x, a - 1.0); }
    default: { return -y * y; }
  }
}
fn fmix32(h0: u32) -> u32 {
  var h = h0;
  h = h ^ (h >> 16u); h = h * 0x85ebca6bu; h = h ^ (h >> 13u); h = h * 0xc2b2ae35u; h = h ^ (h >> 16u);
  return h;
}
fn hash32(seed: u32, idx: u32) -> u32 { return fmix32((idx * 0x9e3779b1u) ^ fmix32(seed)); }
`;

const HEAD = PRELUDE + MATH;

// params: n, op, xoff, yoff, alpha
export const UNARY = () => `${HEAD}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
${MAIN} {
  let i = flat(gid, nwg, ${WG}u); if (i >= pu(0)) { return; }
  Y[pu(3) + i] = unary_val(pu(1), X[pu(2) + i], pf(4));
}`;

// params: n, op, xoff, yoff, gyoff, gxoff, alpha
export const UNARY_BWD = () => `${HEAD}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Y: array<f32>;
@group(0) @binding(3) var<storage, read> GY: array<f32>;
@group(0) @binding(4) var<storage, read_write> GX: array<f32>;
${MAIN} {
  let i = flat(gid, nwg, ${WG}u); if (i >= pu(0)) { return; }
  GX[pu(5) + i] = GY[pu(4) + i] * unary_der(pu(1), X[pu(2) + i], Y[pu(3) + i], pf(6));
}`;

/** Shape/stride layout of strided kernels: [8, 8+nd) shape, [24, ...) first strides, [40, ...) second strides. */
export const MAX_DIMS = 16;

// params: n, op, nd, aoff, boff, ooff
export const BINARY = () => `${HEAD}
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
${MAIN} {
  let i = flat(gid, nwg, ${WG}u); if (i >= pu(0)) { return; }
  var rem = i; var ia = pi(3); var ib = pi(4);
  for (var d: i32 = i32(pu(2)) - 1; d >= 0; d = d - 1) {
    let s = pu(8u + u32(d)); let idx = rem % s; rem = rem / s;
    ia = ia + i32(idx) * pi(24u + u32(d)); ib = ib + i32(idx) * pi(40u + u32(d));
  }
  let a = A[ia]; let b = B[ib]; var r: f32;
  switch pu(1) {
    case 0u: { r = a + b; }
    case 1u: { r = a - b; }
    case 2u: { r = a * b; }
    case 3u: { r = a / b; }
    case 4u: { r = select(b, a, a >= b || is_nan(a)); }
    case 5u: { r = select(b, a, a <= b || is_nan(a)); }
    case 6u: { r = select(0.0, 1.0, a == b); }
    case 7u: { r = select(0.0, 1.0, a > b); }
    default: { r = select(0.0, 1.0, a < b); }
  }
  O[pu(5) + i] = r;
}`;

// params: n, coff, aoff, boff, ooff
export const WHERE = () => `${HEAD}
@group(0) @binding(1) var<storage, read> C: array<f32>;
@group(0) @binding(2) var<storage, read> A: array<f32>;
@group(0) @binding(3) var<storage, read> B: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
${MAIN} {
  let i = flat(gid, nwg, ${WG}u); if (i >= pu(0)) { return; }
  O[pu(4) + i] = select(B[pu(3) + i], A[pu(2) + i], C[pu(1) + i] != 0.0);
}`;

type T = 'f32' | 'i32';
function convert(src: T, dst: T): string {
  if (src === dst) return 'v';
  if (dst === 'f32') return 'f32(v)';
  // float -> int32 like a typed-array store: NaN/inf -> 0, truncate, wrap modulo 2^32.
  return `f2i(v)`;
}
const F2I = /* wgsl */ `
fn f2i(v: f32) -> i32 {
  if (is_nan(v) || abs(v) == f_inf()) { return 0; }
  let t = trunc(v);
  if (abs(t) < 2147483648.0) { return i32(t); }
  let m = t - 4294967296.0 * floor(t / 4294967296.0);
  return bitcast<i32>(u32(m));
}`;

// params: n, _, nd, srcoff, dstoff (shape at 8, src strides at 24, dst strides at 40)
export const COPY = (src: T, dst: T) => () => `${HEAD}${F2I}
@group(0) @binding(1) var<storage, read> S: array<${src}>;
@group(0) @binding(2) var<storage, read_write> D: array<${dst}>;
${MAIN} {
  let i = flat(gid, nwg, ${WG}u); if (i >= pu(0)) { return; }
  var rem = i; var js = pi(3); var jd = pi(4);
  for (var d: i32 = i32(pu(2)) - 1; d >= 0; d = d - 1) {
    let s = pu(8u + u32(d)); let idx = rem % s; rem = rem / s;
    js = js + i32(idx) * pi(24u + u32(d)); jd = jd + i32(idx) * pi(40u + u32(d));
  }
  let v = S[js];
  D[jd] = ${convert(src, dst)};
}`;

// params: n, off, value (as the element type's bits)
export const FILL = (t: T) => () => `${HEAD}
@group(0) @binding(1) var<storage, read_write> X: array<${t}>;
${MAIN} {
  let i = flat(gid, nwg, ${WG}u); if (i >= pu(0)) { return; }
  X[pu(1) + i] = bitcast<${t}>(pu(2));
}`;

// params: n, xoff, yoff, alpha
export const AXPY = () => `${HEAD}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
${MAIN} {
  let i = flat(gid, nwg, ${WG}u); if (i >= pu(0)) { return; }
  Y[pu(2) + i] = Y[pu(2) + i] + pf(3) * X[pu(1) + i];
}`;

// params: n, xoff, ooff, threshold, seed, scale
export const DROPOUT = () => `${HEAD}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
${MAIN} {
  let i = flat(gid, nwg, ${WG}u); if (i >= pu(0)) { return; }
  O[pu(2) + i] = select(0.0, X[pu(1) + i] * pf(5), hash32(pu(4), i) >= pu(3));
}`;

// params: n, xoff, yoff, ooff, goff, backward(0/1)
export const BCE = () => `${HEAD}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Y: array<f32>;
@group(0) @binding(3) var<storage, read> G: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
${MAIN} {
  let i = flat(gid, nwg, ${WG}u); if (i >= pu(0)) { return; }
  let x = X[pu(1) + i]; let y = Y[pu(2) + i];
  if (pu(5) == 0u) { O[pu(3) + i] = max(x, 0.0) - x * y + log1p_k(exp(-abs(x))); }
  else { O[pu(3) + i] = G[pu(4) + i] * (sigm(x) - y); }
}`;

// params: n, poff, goff, moff, voff, lr, b1, b2, eps, wd, bc1, bc2, gs
export const ADAMW = () => `${HEAD}
@group(0) @binding(1) var<storage, read_write> Pm: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> M: array<f32>;
@group(0) @binding(4) var<storage, read_write> V: array<f32>;
${MAIN} {
  let i = flat(gid, nwg, ${WG}u); if (i >= pu(0)) { return; }
  let lr = pf(5); let b1 = pf(6); let b2 = pf(7);
  let g = G[pu(2) + i] * pf(12);
  var p = Pm[pu(1) + i];
  p = p - lr * pf(9) * p;
  let m = b1 * M[pu(3) + i] + (1.0 - b1) * g;
  let v = b2 * V[pu(4) + i] + (1.0 - b2) * g * g;
  M[pu(3) + i] = m; V[pu(4) + i] = v;
  Pm[pu(1) + i] = p - (lr * (m / pf(10))) / (sqrt(v / pf(11)) + pf(8));
}`;

// params: n*C, C, toff, idoff, ooff
export const GATHER = () => `${HEAD}
@group(0) @binding(1) var<storage, read> TB: array<f32>;
@group(0) @binding(2) var<storage, read> IDS: array<i32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
${MAIN} {
  let e = flat(gid, nwg, ${WG}u); if (e >= pu(0)) { return; }
  let C = pu(1); let i = e / C; let c = e % C;
  O[pu(4) + e] = TB[pu(2) + u32(IDS[pu(3) + i]) * C + c];
}`;

// One thread per column, rows in id order: deterministic and equal to the reference's order.
// params: C, n, goff, idoff, toff
export const SCATTER_ADD = () => `${HEAD}
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> IDS: array<i32>;
@group(0) @binding(3) var<storage, read_write> TB: array<f32>;
${MAIN} {
  let c = flat(gid, nwg, ${WG}u); let C = pu(0); if (c >= C) { return; }
  for (var i = 0u; i < pu(1); i = i + 1u) {
    let dst = pu(4) + u32(IDS[pu(3) + i]) * C + c;
    TB[dst] = TB[dst] + G[pu(2) + i * C + c];
  }
}`;

// One thread per (outer, inner) output. params: outer*inner, axis, inner, op, xoff, ooff, aoff, hasArgmax
export const REDUCE = () => `${HEAD}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
@group(0) @binding(3) var<storage, read_write> AM: array<i32>;
${MAIN} {
  let e = flat(gid, nwg, ${WG}u); if (e >= pu(0)) { return; }
  let axis = pu(1); let inner = pu(2); let o = e / inner; let ii = e % inner;
  let base = pu(4) + o * axis * inner + ii;
  var acc = 0.0; var best = 0u;
  if (pu(3) == 0u) {
    for (var a = 0u; a < axis; a = a + 1u) { acc = acc + X[base + a * inner]; }
  } else {
    acc = -f_inf();
    for (var a = 0u; a < axis; a = a + 1u) {
      let v = X[base + a * inner];
      if (a == 0u || v > acc || (is_nan(v) && !is_nan(acc))) { acc = v; best = a; }
    }
    if (pu(7) != 0u) { AM[pu(6) + e] = i32(best); }
  }
  O[pu(5) + e] = acc;
}`;

// Partial sums of squares: workgroup w of `groups` writes PART[poff + w]. params: n, xoff, poff
export const SUMSQ = () => `${PRELUDE}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> PART: array<f32>;
var<workgroup> red: array<f32, ${WG}>;
@compute @workgroup_size(${WG}) fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let groups = nwg.x * nwg.y; let w = wid.x + wid.y * nwg.x;
  var acc = 0.0;
  for (var i = w * ${WG}u + lid.x; i < pu(0); i = i + groups * ${WG}u) { let v = X[pu(1) + i]; acc = acc + v * v; }
  red[lid.x] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) { if (lid.x < s) { red[lid.x] = red[lid.x] + red[lid.x + s]; } workgroupBarrier(); }
  if (lid.x == 0u) { PART[pu(2) + w] = red[0]; }
}`;
