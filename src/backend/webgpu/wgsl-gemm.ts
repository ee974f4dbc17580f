// WGSL for the batched GEMM of the webgpu backend: C_b = alpha op(A_b) op(B_b) + beta C_b with either
// operand transposed, broadcast batches (stride 0) and arbitrary element offsets.
// Design (for real GPUs): a 64x64 output tile per workgroup of 16x16 invocations, each computing a 4x4
// register block; K advances in slices of 16 staged through workgroup memory, loaded along each
// operand's contiguous axis (coalesced). When the operand layout allows it (contiguous axis a multiple of
// 4 and a 16-byte-aligned offset), tiles are read as vec4 loads. Not here: dispatch (index.ts).

import { PRELUDE } from './runtime.ts';

export const TILE = 64;

/**
 * params: 0 batch, 1 M, 2 N, 3 K, 4 alpha, 5 beta, 6 aoff, 7 abs, 8 transA, 9 boff, 10 bbs, 11 transB,
 * 12 coff, 13 cbs, 14 tilesM, 15 tilesN, 16 lda, 17 ldb (leading dimensions), 18 split-K (0/1: the batch index
 * is then the K chunk; K is the chunk length and 19 the full K). `vecA`/`vecB` select vec4 loads.
 */
export const GEMM = (vecA: boolean, vecB: boolean) => () => `${PRELUDE}
@group(0) @binding(1) var<storage, read> A: array<${vecA ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(2) var<storage, read> B: array<${vecB ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
var<workgroup> As: array<f32, ${16 * TILE}>;
var<workgroup> Bs: array<f32, ${16 * TILE}>;

// Element (r, c) of a row-major operand (leading dimension pu(16) for A, pu(17) for B) starting at
// off, zero outside the logical (rows, cols).
fn ldA(off: u32, r: u32, c: u32, rows: u32, cols: u32) -> f32 {
  if (r >= rows || c >= cols) { return 0.0; }
  ${vecA ? 'let e = off + r * pu(16) + c; return A[e / 4u][e % 4u];' : 'return A[off + r * pu(16) + c];'}
}
fn ldB(off: u32, r: u32, c: u32, rows: u32, cols: u32) -> f32 {
  if (r >= rows || c >= cols) { return 0.0; }
  ${vecB ? 'let e = off + r * pu(17) + c; return B[e / 4u][e % 4u];' : 'return B[off + r * pu(17) + c];'}
}
${vecA ? `fn ld4A(off: u32, r: u32, c: u32, rows: u32, cols: u32) -> vec4<f32> {
  if (r >= rows || c >= cols) { return vec4<f32>(0.0); }
  return A[(off + r * pu(16) + c) / 4u];
}` : ''}
${vecB ? `fn ld4B(off: u32, r: u32, c: u32, rows: u32, cols: u32) -> vec4<f32> {
  if (r >= rows || c >= cols) { return vec4<f32>(0.0); }
  return B[(off + r * pu(17) + c) / 4u];
}` : ''}

@compute @workgroup_size(16, 16) fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let M = pu(1); let N = pu(2);
  let w = wid.x + wid.y * nwg.x;
  let tiles = pu(14) * pu(15);
  if (w >= pu(0) * tiles) { return; }
  let b = w / tiles; let t = w % tiles;
  var K = pu(3);
  if (pu(18) != 0u) { K = min(pu(3), pu(19) - b * pu(3)); } // the last K chunk may be shorter
  let m0 = (t / pu(15)) * ${TILE}u; let n0 = (t % pu(15)) * ${TILE}u;
  let ao = pu(6) + b * pu(7); let bo = pu(9) + b * pu(10);
  let tA = pu(8) != 0u; let tB = pu(11) != 0u;
  let tid = lid.y * 16u + lid.x;
  var acc: array<array<f32, 4>, 4>;
  for (var i = 0u; i < 4u; i = i + 1u) { for (var j = 0u; j < 4u; j = j + 1u) { acc[i][j] = 0.0; } }
  for (var k0 = 0u; k0 < K; k0 = k0 + 16u) {
    // Stage A's (64 x 16) slice as As[k][m]: 1024 values, 4 per invocation.
    ${vecA ? `
    if (!tA) { let m = tid / 4u; let kk = (tid % 4u) * 4u; let v = ld4A(ao, m0 + m, k0 + kk, M, K);
      As[kk * 64u + m] = v.x; As[(kk + 1u) * 64u + m] = v.y; As[(kk + 2u) * 64u + m] = v.z; As[(kk + 3u) * 64u + m] = v.w; }
    else { let kk = tid / 16u; let m = (tid % 16u) * 4u; let v = ld4A(ao, k0 + kk, m0 + m, K, M);
      As[kk * 64u + m] = v.x; As[kk * 64u + m + 1u] = v.y; As[kk * 64u + m + 2u] = v.z; As[kk * 64u + m + 3u] = v.w; }` : `
    for (var l = 0u; l < 4u; l = l + 1u) {
      let e = tid + l * 256u;
      if (!tA) { let m = e / 16u; let kk = e % 16u; As[kk * 64u + m] = ldA(ao, m0 + m, k0 + kk, M, K); }
      else { let kk = e / 64u; let m = e % 64u; As[kk * 64u + m] = ldA(ao, k0 + kk, m0 + m, K, M); }
    }`}
    ${vecB ? `
    if (!tB) { let kk = tid / 16u; let n = (tid % 16u) * 4u; let v = ld4B(bo, k0 + kk, n0 + n, K, N);
      Bs[kk * 64u + n] = v.x; Bs[kk * 64u + n + 1u] = v.y; Bs[kk * 64u + n + 2u] = v.z; Bs[kk * 64u + n + 3u] = v.w; }
    else { let n = tid / 4u; let kk = (tid % 4u) * 4u; let v = ld4B(bo, n0 + n, k0 + kk, N, K);
      Bs[kk * 64u + n] = v.x; Bs[(kk + 1u) * 64u + n] = v.y; Bs[(kk + 2u) * 64u + n] = v.z; Bs[(kk + 3u) * 64u + n] = v.w; }` : `
    for (var l = 0u; l < 4u; l = l + 1u) {
      let e = tid + l * 256u;
      if (!tB) { let kk = e / 64u; let n = e % 64u; Bs[kk * 64u + n] = ldB(bo, k0 + kk, n0 + n, K, N); }
      else { let n = e / 16u; let kk = e % 16u; Bs[kk * 64u + n] = ldB(bo, n0 + n, k0 + kk, N, K); }
    }`}
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk = kk + 1u) {
      var a: array<f32, 4>; var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i = i + 1u) { a[i] = As[kk * 64u + lid.y + 16u * i]; bv[i] = Bs[kk * 64u + lid.x + 16u * i]; }
      for (var i = 0u; i < 4u; i = i + 1u) { for (var j = 0u; j < 4u; j = j + 1u) { acc[i][j] = fma(a[i], bv[j], acc[i][j]); } }
    }
    workgroupBarrier();
  }
  let co = pu(12) + b * pu(13);
  let alpha = pf(4); let beta = pf(5);
  for (var i = 0u; i < 4u; i = i + 1u) {
    let m = m0 + lid.y + 16u * i;
    if (m >= M) { continue; }
    for (var j = 0u; j < 4u; j = j + 1u) {
      let n = n0 + lid.x + 16u * j;
      if (n >= N) { continue; }
      let idx = co + m * N + n;
      var v = alpha * acc[i][j];
      if (beta != 0.0) { v = v + beta * C[idx]; }
      C[idx] = v;
    }
  }
}`;

// Split-K epilogue: C = sum over S partial products (S, n) + beta C. params: n, S, poff, coff, beta
export const SPLITK_SUM = () => `${PRELUDE}
@group(0) @binding(1) var<storage, read> PART: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@compute @workgroup_size(256) fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg, 256u); let n = pu(0); if (i >= n) { return; }
  var acc = 0.0;
  for (var s = 0u; s < pu(1); s = s + 1u) { acc = acc + PART[pu(2) + s * n + i]; }
  let idx = pu(3) + i;
  if (pf(4) != 0.0) { acc = acc + pf(4) * C[idx]; }
  C[idx] = acc;
}`;
