// WGSL for scaled-dot-product attention on the webgpu backend, composed of small kernels over a
// materialised probability matrix P (B, H, Tq, Tk): row log-sum-exp, probabilities, P'V, and for the
// backward dS, dQ, dK, dV (dK and dV sum grouped query heads in a fixed order: deterministic).
// Padding and causal masks and dropout (the rng.ts hash at index row*Tk + j) match the reference.
// Not flash attention: P costs B*H*Tq*Tk floats (see docs/performance.md). Not here: dispatch (index.ts).

import { PRELUDE } from './runtime.ts';
import { MATH } from './wgsl-elementwise.ts';

/**
 * Shared parameters: 0 count, 1 B, 2 H, 3 Hkv, 4 Tq, 5 Tk, 6 D, 7 scale, 8 hasMask, 9 causal,
 * 10 threshold, 11 seed, 12 keepScale, 13 dropout(0/1), then per-kernel buffer offsets from 16.
 */
const HEAD = /* wgsl */ `${PRELUDE}${MATH}
fn B_() -> u32 { return pu(1); } fn H_() -> u32 { return pu(2); } fn Hkv_() -> u32 { return pu(3); }
fn Tq_() -> u32 { return pu(4); } fn Tk_() -> u32 { return pu(5); } fn D_() -> u32 { return pu(6); }
// kv row base (element index of key j's vector) for query row r
fn kvBase(r: u32, j: u32) -> u32 {
  let b = r / (H_() * Tq_()); let h = (r / Tq_()) % H_();
  let kvh = h / (H_() / Hkv_());
  return ((b * Hkv_() + kvh) * Tk_() + j) * D_();
}
fn keep(r: u32, j: u32) -> f32 {
  if (pu(13) == 0u) { return 1.0; }
  return select(0.0, pf(12), hash32(pu(11), r * Tk_() + j) >= pu(10));
}
`;

const MAIN = (wg: number) =>
  `@compute @workgroup_size(${wg}) fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>)`;

const SCORE = /* wgsl */ `
// masked: returns false; else writes the scaled score
fn score(r: u32, j: u32, qoff: u32, koff: u32, moff: u32, out: ptr<function, f32>) -> bool {
  let b = r / (H_() * Tq_()); let i = r % Tq_();
  if (pu(8) != 0u && MASK[moff + b * Tk_() + j] == 0.0) { return false; }
  if (pu(9) != 0u && i32(j) > i32(i) + i32(Tk_()) - i32(Tq_())) { return false; }
  let qb = qoff + r * D_(); let kb = koff + kvBase(r, j);
  var dot = 0.0;
  for (var d = 0u; d < D_(); d = d + 1u) { dot = dot + Q[qb + d] * K[kb + d]; }
  *out = dot * pf(7);
  return true;
}`;

// One thread per query row: log-sum-exp of the masked scaled scores. offsets: 16 q, 17 k, 18 mask, 19 lse
export const ATT_LSE = () => `${HEAD}
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> MASK: array<f32>;
@group(0) @binding(4) var<storage, read_write> LSE: array<f32>;
${SCORE}
${MAIN(64)} {
  let r = flat(gid, nwg, 64u); if (r >= pu(0)) { return; }
  var m = -f_inf(); var s = 0.0;
  for (var j = 0u; j < Tk_(); j = j + 1u) {
    var sc = 0.0;
    if (!score(r, j, pu(16), pu(17), pu(18), &sc)) { continue; }
    if (sc > m) { s = s * exp(m - sc) + 1.0; m = sc; } else { s = s + exp(sc - m); }
  }
  LSE[pu(19) + r] = select(m + log(s), -f_inf(), m == -f_inf());
}`;

// One thread per (row, key): P = exp(score - lse), 0 where masked. offsets: 16 q, 17 k, 18 mask, 19 lse, 20 p
export const ATT_PROBS = () => `${HEAD}
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> MASK: array<f32>;
@group(0) @binding(4) var<storage, read> LSE: array<f32>;
@group(0) @binding(5) var<storage, read_write> PR: array<f32>;
${SCORE}
${MAIN(256)} {
  let e = flat(gid, nwg, 256u); if (e >= pu(0)) { return; }
  let r = e / Tk_(); let j = e % Tk_();
  let l = LSE[pu(19) + r];
  var sc = 0.0;
  var p = 0.0;
  if (l != -f_inf() && score(r, j, pu(16), pu(17), pu(18), &sc)) { p = exp(sc - l); }
  PR[pu(20) + e] = p;
}`;

// One thread per (row, d): out = dropout(P) V. offsets: 16 p, 17 v, 18 out
export const ATT_OUT = () => `${HEAD}
@group(0) @binding(1) var<storage, read> PR: array<f32>;
@group(0) @binding(2) var<storage, read> V: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
${MAIN(256)} {
  let e = flat(gid, nwg, 256u); if (e >= pu(0)) { return; }
  let r = e / D_(); let d = e % D_();
  var acc = 0.0;
  for (var j = 0u; j < Tk_(); j = j + 1u) {
    let p = PR[pu(16) + r * Tk_() + j];
    if (p != 0.0) { acc = acc + p * keep(r, j) * V[pu(17) + kvBase(r, j) + d]; }
  }
  O[pu(18) + e] = acc;
}`;

// One thread per (row, key): dS = P * (dropout'(gout . v_j) - gout . out); written over P's buffer copy.
// offsets: 16 p, 17 v, 18 gout, 19 out, 20 ds
export const ATT_DS = () => `${HEAD}
@group(0) @binding(1) var<storage, read> PR: array<f32>;
@group(0) @binding(2) var<storage, read> V: array<f32>;
@group(0) @binding(3) var<storage, read> GO: array<f32>;
@group(0) @binding(4) var<storage, read> O: array<f32>;
@group(0) @binding(5) var<storage, read_write> DS: array<f32>;
${MAIN(256)} {
  let e = flat(gid, nwg, 256u); if (e >= pu(0)) { return; }
  let r = e / Tk_(); let j = e % Tk_();
  let p = PR[pu(16) + e];
  var ds = 0.0;
  if (p != 0.0) {
    let gb = pu(18) + r * D_(); let ob = pu(19) + r * D_(); let vb = pu(17) + kvBase(r, j);
    var rowDot = 0.0; var dp = 0.0;
    for (var d = 0u; d < D_(); d = d + 1u) { rowDot = rowDot + GO[gb + d] * O[ob + d]; dp = dp + GO[gb + d] * V[vb + d]; }
    ds = p * (dp * keep(r, j) - rowDot);
  }
  DS[pu(20) + e] = ds;
}`;

// One thread per (row, d): gq = scale * sum_j dS K. offsets: 16 ds, 17 k, 18 gq
export const ATT_GQ = () => `${HEAD}
@group(0) @binding(1) var<storage, read> DS: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read_write> GQ: array<f32>;
${MAIN(256)} {
  let e = flat(gid, nwg, 256u); if (e >= pu(0)) { return; }
  let r = e / D_(); let d = e % D_();
  var acc = 0.0;
  for (var j = 0u; j < Tk_(); j = j + 1u) { acc = acc + DS[pu(16) + r * Tk_() + j] * K[pu(17) + kvBase(r, j) + d]; }
  GQ[pu(18) + e] = acc * pf(7);
}`;

// One thread per (b, kv head, key, d), summing the group's query heads and rows in order:
// mode 0: gk = scale * sum dS q; mode 1: gv = sum dropout(P) gout. offsets: 16 w (dS or P), 17 x (q or gout), 18 out, 19 mode
export const ATT_GKV = () => `${HEAD}
@group(0) @binding(1) var<storage, read> W: array<f32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> G: array<f32>;
${MAIN(256)} {
  let e = flat(gid, nwg, 256u); if (e >= pu(0)) { return; }
  let D = D_(); let Tk = Tk_(); let Tq = Tq_();
  let d = e % D; let j = (e / D) % Tk; let bk = e / (D * Tk);
  let b = bk / Hkv_(); let kvh = bk % Hkv_();
  let group = H_() / Hkv_();
  let gv = pu(19) != 0u;
  var acc = 0.0;
  for (var hh = 0u; hh < group; hh = hh + 1u) {
    let h = kvh * group + hh;
    for (var i = 0u; i < Tq; i = i + 1u) {
      let r = (b * H_() + h) * Tq + i;
      var w = W[pu(16) + r * Tk + j];
      if (gv) { w = w * keep(r, j); }
      acc = acc + w * X[pu(17) + r * D + d];
    }
  }
  G[pu(18) + e] = select(acc * pf(7), acc, gv);
}`;
