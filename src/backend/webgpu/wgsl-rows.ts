// WGSL for the row kernels of the webgpu backend: one workgroup of 64 invocations per row, reducing
// in workgroup memory (softmax / log-softmax and backward, layer norm, RMS norm, cross-entropy and
// backward), plus one-thread-per-column kernels for the norms' parameter gradients (accumulated in
// row order, so deterministic). Rows are folded from a 2D grid. Not here: elementwise kernels, GEMM.

import { PRELUDE } from './runtime.ts';

export const RW = 64;

const ROW_HEAD = /* wgsl */ `${PRELUDE}
var<workgroup> red: array<f32, ${RW}>;
fn wsum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${RW / 2}u; s > 0u; s = s >> 1u) { if (lid < s) { red[lid] = red[lid] + red[lid + s]; } workgroupBarrier(); }
  let r = red[0];
  workgroupBarrier();
  return r;
}
fn wmax(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${RW / 2}u; s > 0u; s = s >> 1u) { if (lid < s) { red[lid] = max(red[lid], red[lid + s]); } workgroupBarrier(); }
  let r = red[0];
  workgroupBarrier();
  return r;
}
`;

const ROW_MAIN = `@compute @workgroup_size(${RW}) fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>)`;
const ROW_START = `let lid = lid3.x; let row = wid.x + wid.y * nwg.x; if (row >= pu(0)) { return; } let cols = pu(1);`;

// params: rows, cols, xoff, yoff, log
export const SOFTMAX = () => `${ROW_HEAD}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
${ROW_MAIN} {
  ${ROW_START}
  let xb = pu(2) + row * cols; let yb = pu(3) + row * cols;
  var m = -f_inf();
  for (var j = lid; j < cols; j = j + ${RW}u) { m = max(m, X[xb + j]); }
  m = wmax(m, lid);
  var s = 0.0;
  for (var j = lid; j < cols; j = j + ${RW}u) { s = s + exp(X[xb + j] - m); }
  s = wsum(s, lid);
  let ls = log(s);
  for (var j = lid; j < cols; j = j + ${RW}u) {
    let z = X[xb + j] - m;
    Y[yb + j] = select(exp(z) / s, z - ls, pu(4) != 0u);
  }
}`;

// params: rows, cols, yoff, gyoff, gxoff, log
export const SOFTMAX_BWD = () => `${ROW_HEAD}
@group(0) @binding(1) var<storage, read> Y: array<f32>;
@group(0) @binding(2) var<storage, read> GY: array<f32>;
@group(0) @binding(3) var<storage, read_write> GX: array<f32>;
${ROW_MAIN} {
  ${ROW_START}
  let lg = pu(5) != 0u;
  let yb = pu(2) + row * cols; let gb = pu(3) + row * cols; let xb = pu(4) + row * cols;
  var d = 0.0;
  for (var j = lid; j < cols; j = j + ${RW}u) { d = d + select(GY[gb + j] * Y[yb + j], GY[gb + j], lg); }
  d = wsum(d, lid);
  for (var j = lid; j < cols; j = j + ${RW}u) {
    let y = Y[yb + j]; let g = GY[gb + j];
    GX[xb + j] = select(y * (g - d), g - exp(y) * d, lg);
  }
}`;

// params: rows, cols, xoff, goff, boff, yoff, moff, roff, eps, hasGamma, hasBeta, rms
export const NORM = () => `${ROW_HEAD}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> GA: array<f32>;
@group(0) @binding(3) var<storage, read> BE: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
@group(0) @binding(5) var<storage, read_write> MEAN: array<f32>;
@group(0) @binding(6) var<storage, read_write> RSTD: array<f32>;
${ROW_MAIN} {
  ${ROW_START}
  let xb = pu(2) + row * cols; let yb = pu(5) + row * cols; let rms = pu(11) != 0u;
  var mu = 0.0;
  if (!rms) {
    var s = 0.0;
    for (var j = lid; j < cols; j = j + ${RW}u) { s = s + X[xb + j]; }
    mu = wsum(s, lid) / f32(cols);
  }
  var q = 0.0;
  for (var j = lid; j < cols; j = j + ${RW}u) { let c = X[xb + j] - mu; q = q + c * c; }
  let rs = 1.0 / sqrt(wsum(q, lid) / f32(cols) + pf(8));
  if (lid == 0u) { if (!rms) { MEAN[pu(6) + row] = mu; } RSTD[pu(7) + row] = rs; }
  for (var j = lid; j < cols; j = j + ${RW}u) {
    var v = (X[xb + j] - mu) * rs;
    if (pu(9) != 0u) { v = v * GA[pu(3) + j]; }
    if (pu(10) != 0u) { v = v + BE[pu(4) + j]; }
    Y[yb + j] = v;
  }
}`;

// gx of layer norm (rms = 0) or RMS norm (rms = 1).
// params: rows, cols, xoff, goff, moff, roff, gyoff, gxoff, hasGamma, rms
export const NORM_BWD = () => `${ROW_HEAD}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> GA: array<f32>;
@group(0) @binding(3) var<storage, read> MEAN: array<f32>;
@group(0) @binding(4) var<storage, read> RSTD: array<f32>;
@group(0) @binding(5) var<storage, read> GY: array<f32>;
@group(0) @binding(6) var<storage, read_write> GX: array<f32>;
${ROW_MAIN} {
  ${ROW_START}
  let rms = pu(9) != 0u; let hg = pu(8) != 0u;
  let xb = pu(2) + row * cols; let gyb = pu(6) + row * cols; let gxb = pu(7) + row * cols;
  let rs = RSTD[pu(5) + row];
  var mu = 0.0;
  if (!rms) { mu = MEAN[pu(4) + row]; }
  var sd = 0.0; var sdx = 0.0;
  for (var j = lid; j < cols; j = j + ${RW}u) {
    var d = GY[gyb + j]; if (hg) { d = d * GA[pu(3) + j]; }
    sd = sd + d;
    if (rms) { sdx = sdx + d * X[xb + j]; } else { sdx = sdx + d * (X[xb + j] - mu) * rs; }
  }
  sd = wsum(sd, lid); sdx = wsum(sdx, lid);
  let n = f32(cols);
  for (var j = lid; j < cols; j = j + ${RW}u) {
    var d = GY[gyb + j]; if (hg) { d = d * GA[pu(3) + j]; }
    if (rms) { GX[gxb + j] = rs * (d - X[xb + j] * rs * rs * sdx / n); }
    else { let xh = (X[xb + j] - mu) * rs; GX[gxb + j] = rs * (d - sd / n - xh * sdx / n); }
  }
}`;

// Parameter gradients of the norms, one thread per column, rows in order (ACCUMULATES).
// params: cols, rows, xoff, moff, roff, gyoff, ggoff, gboff, hasGG, hasGB, rms
export const NORM_PARAM_BWD = () => `${PRELUDE}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> MEAN: array<f32>;
@group(0) @binding(3) var<storage, read> RSTD: array<f32>;
@group(0) @binding(4) var<storage, read> GY: array<f32>;
@group(0) @binding(5) var<storage, read_write> GG: array<f32>;
@group(0) @binding(6) var<storage, read_write> GB: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = flat(gid, nwg, 64u); let cols = pu(0); if (j >= cols) { return; }
  let rms = pu(10) != 0u;
  var gg = 0.0; var gb = 0.0;
  for (var r = 0u; r < pu(1); r = r + 1u) {
    let g = GY[pu(5) + r * cols + j];
    var mu = 0.0; if (!rms) { mu = MEAN[pu(3) + r]; }
    gg = gg + g * (X[pu(2) + r * cols + j] - mu) * RSTD[pu(4) + r];
    gb = gb + g;
  }
  if (pu(8) != 0u) { GG[pu(6) + j] = GG[pu(6) + j] + gg; }
  if (pu(9) != 0u) { GB[pu(7) + j] = GB[pu(7) + j] + gb; }
}`;

// params: rows, cols, loff, toff, lossoff, lseoff, ignore
export const CROSS_ENTROPY = () => `${ROW_HEAD}
@group(0) @binding(1) var<storage, read> L: array<f32>;
@group(0) @binding(2) var<storage, read> T: array<i32>;
@group(0) @binding(3) var<storage, read_write> LOSS: array<f32>;
@group(0) @binding(4) var<storage, read_write> LSE: array<f32>;
${ROW_MAIN} {
  ${ROW_START}
  let lb = pu(2) + row * cols;
  var m = -f_inf();
  for (var j = lid; j < cols; j = j + ${RW}u) { m = max(m, L[lb + j]); }
  m = wmax(m, lid);
  var s = 0.0;
  for (var j = lid; j < cols; j = j + ${RW}u) { s = s + exp(L[lb + j] - m); }
  s = wsum(s, lid);
  if (lid == 0u) {
    var l = m + log(s);
    if (m == -f_inf()) { l = m; }
    LSE[pu(5) + row] = l;
    let t = T[pu(3) + row];
    var loss = 0.0;
    if (t != pi(6) && t >= 0 && u32(t) < cols) { loss = l - L[lb + u32(t)]; }
    LOSS[pu(4) + row] = loss;
  }
}`;

// params: rows, cols, loff, lseoff, toff, gloff, gxoff, ignore
export const CROSS_ENTROPY_BWD = () => `${PRELUDE}
@group(0) @binding(1) var<storage, read> L: array<f32>;
@group(0) @binding(2) var<storage, read> LSE: array<f32>;
@group(0) @binding(3) var<storage, read> T: array<i32>;
@group(0) @binding(4) var<storage, read> GL: array<f32>;
@group(0) @binding(5) var<storage, read_write> GX: array<f32>;
@compute @workgroup_size(256) fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg, 256u); let cols = pu(1); if (e >= pu(0) * cols) { return; }
  let r = e / cols; let j = e % cols;
  let t = T[pu(4) + r];
  if (t == pi(7)) { GX[pu(6) + e] = 0.0; return; }
  let p = exp(L[pu(2) + e] - LSE[pu(3) + r]);
  GX[pu(6) + e] = GL[pu(5) + r] * (p - select(0.0, 1.0, i32(j) == t));
}`;
