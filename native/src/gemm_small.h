// A small unpacked single-threaded GEMM for the attention kernels, where every product is at most a few
// hundred on a side and already in cache: C = alpha * A B (+ C), with A read through two strides (so a
// transposed A costs nothing) and B row-major. No packing and no per-call setup, which is what made
// BLAS calls on 64x128x64 blocks run at half the FMA peak. Register tiles picked at run time by
// isa_level(): 12x32 in zmm with masked column tails (AVX-512), 6x16 in ymm (AVX2+FMA), plain loops otherwise. Each C element sums k = 0..K-1 in order with one FMA per term,
// so results do not depend on how callers split the work.
// Not here: the big GEMMs (gemm.cc, gemm_builtin.cc).
#pragma once
#include <cstdint>
#include <cstring>

#include "common.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FT_SMALL_GEMM_AVX2 1
#endif

namespace ft {

namespace small_gemm {

constexpr int kMR = 6, kNR = 16;

/** Portable twin: same summation order (k ascending, one fused multiply-add per term). */
inline void gemm_generic(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t ars, int64_t aks,
                         const float* B, int64_t ldb, bool acc, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; i++) {
    float* c = C + i * ldc;
    for (int64_t j = 0; j < N; j++) {
      float s = 0.0f;
      for (int64_t k = 0; k < K; k++) s = __builtin_fmaf(A[i * ars + k * aks], B[k * ldb + j], s);
      c[j] = acc ? __builtin_fmaf(alpha, s, c[j]) : alpha * s;
    }
  }
}

#ifdef FT_SMALL_GEMM_AVX2
// cr[0..16) = alpha * (lo, hi) (+ cr[0..16) when acc).
__attribute__((target("avx2,fma"), always_inline)) inline void store_row(float* cr, __m256 va, __m256 lo, __m256 hi,
                                                                         bool acc) {
  if (acc) {
    _mm256_storeu_ps(cr, _mm256_fmadd_ps(va, lo, _mm256_loadu_ps(cr)));
    _mm256_storeu_ps(cr + 8, _mm256_fmadd_ps(va, hi, _mm256_loadu_ps(cr + 8)));
  } else {
    _mm256_storeu_ps(cr, _mm256_mul_ps(va, lo));
    _mm256_storeu_ps(cr + 8, _mm256_mul_ps(va, hi));
  }
}

// One MR x 16 tile: rows i0.. of A, a 16-wide column block of B (b points at its first column).
template <int MR>
__attribute__((target("avx2,fma"), always_inline)) inline void tile(int64_t K, float alpha, const float* a,
                                                                     int64_t ars, int64_t aks, const float* b,
                                                                     int64_t ldb, bool acc, float* c, int64_t ldc) {
  __m256 c0[MR], c1[MR];
  for (int r = 0; r < MR; r++) c0[r] = c1[r] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; k++) {
    const __m256 b0 = _mm256_loadu_ps(b + k * ldb), b1 = _mm256_loadu_ps(b + k * ldb + 8);
    const float* ak = a + k * aks;
    for (int r = 0; r < MR; r++) {
      const __m256 ar = _mm256_broadcast_ss(ak + r * ars);
      c0[r] = _mm256_fmadd_ps(ar, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(ar, b1, c1[r]);
    }
  }
  const __m256 va = _mm256_set1_ps(alpha);
  for (int r = 0; r < MR; r++) store_row(c + r * ldc, va, c0[r], c1[r], acc);
}

// The full 6-row tile with named accumulators: written like this GCC keeps all 12 accumulators and
// both B vectors in registers (the array form of tile<6> spilled one B vector to the stack and re-read
// it for every second FMA: 71% of the FMA peak at 128x128x64 in cache, this form reaches ~85%).
__attribute__((target("avx2,fma"), always_inline)) inline void tile6(int64_t K, float alpha, const float* a,
                                                                     int64_t ars, int64_t aks, const float* b,
                                                                     int64_t ldb, bool acc, float* c, int64_t ldc) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  const float* a0 = a;
  const float* a1 = a + ars;
  const float* a2 = a + 2 * ars;
  const float* a3 = a + 3 * ars;
  const float* a4 = a + 4 * ars;
  const float* a5 = a + 5 * ars;
  for (int64_t k = 0; k < K; k++) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    b += ldb;
    __m256 ar;
    ar = _mm256_broadcast_ss(a0); c00 = _mm256_fmadd_ps(ar, b0, c00); c01 = _mm256_fmadd_ps(ar, b1, c01);
    ar = _mm256_broadcast_ss(a1); c10 = _mm256_fmadd_ps(ar, b0, c10); c11 = _mm256_fmadd_ps(ar, b1, c11);
    ar = _mm256_broadcast_ss(a2); c20 = _mm256_fmadd_ps(ar, b0, c20); c21 = _mm256_fmadd_ps(ar, b1, c21);
    ar = _mm256_broadcast_ss(a3); c30 = _mm256_fmadd_ps(ar, b0, c30); c31 = _mm256_fmadd_ps(ar, b1, c31);
    ar = _mm256_broadcast_ss(a4); c40 = _mm256_fmadd_ps(ar, b0, c40); c41 = _mm256_fmadd_ps(ar, b1, c41);
    ar = _mm256_broadcast_ss(a5); c50 = _mm256_fmadd_ps(ar, b0, c50); c51 = _mm256_fmadd_ps(ar, b1, c51);
    a0 += aks; a1 += aks; a2 += aks; a3 += aks; a4 += aks; a5 += aks;
  }
  // alpha is read only now: hoisted above the loop it took the 16th register and pushed b1 to the stack.
  __asm__ volatile("" ::: "memory");
  const __m256 va = _mm256_broadcast_ss(&alpha);
  const __m256 acc0[6] = {c00, c10, c20, c30, c40, c50}, acc1[6] = {c01, c11, c21, c31, c41, c51};
  for (int r = 0; r < 6; r++) store_row(c + r * ldc, va, acc0[r], acc1[r], acc);
}

template <int MR>
__attribute__((target("avx2,fma"))) inline void rows(int64_t M, int64_t K, float alpha, const float* a, int64_t ars,
                                                     int64_t aks, const float* b, int64_t ldb, bool acc, float* c,
                                                     int64_t ldc) {
  int64_t i = 0;
  for (; i + MR <= M; i += MR) {
    if constexpr (MR == 6) tile6(K, alpha, a + i * ars, ars, aks, b, ldb, acc, c + i * ldc, ldc);
    else tile<MR>(K, alpha, a + i * ars, ars, aks, b, ldb, acc, c + i * ldc, ldc);
  }
  switch (M - i) {  // the last partial block of rows
    case 5: tile<5>(K, alpha, a + i * ars, ars, aks, b, ldb, acc, c + i * ldc, ldc); break;
    case 4: tile<4>(K, alpha, a + i * ars, ars, aks, b, ldb, acc, c + i * ldc, ldc); break;
    case 3: tile<3>(K, alpha, a + i * ars, ars, aks, b, ldb, acc, c + i * ldc, ldc); break;
    case 2: tile<2>(K, alpha, a + i * ars, ars, aks, b, ldb, acc, c + i * ldc, ldc); break;
    case 1: tile<1>(K, alpha, a + i * ars, ars, aks, b, ldb, acc, c + i * ldc, ldc); break;
    default: break;
  }
}

// Column-block outer loop: the K x 16 block of B stays in L1 while the row strips stream past it.
__attribute__((target("avx2,fma"))) inline void gemm_avx2(int64_t M, int64_t N, int64_t K, float alpha,
                                                          const float* A, int64_t ars, int64_t aks, const float* B,
                                                          int64_t ldb, bool acc, float* C, int64_t ldc,
                                                          float* scratch) {
  int64_t j = 0;
  for (; j + kNR <= N; j += kNR) rows<kMR>(M, K, alpha, A, ars, aks, B + j, ldb, acc, C + j, ldc);
  if (j == N) return;
  // Column tail: B's last columns zero-padded to 16 in scratch (K x 16), C through a 16-wide temp.
  const int64_t nc = N - j;
  float* bp = scratch;
  float* ct = scratch + K * kNR;
  for (int64_t k = 0; k < K; k++) {
    std::memcpy(bp + k * kNR, B + k * ldb + j, static_cast<size_t>(nc) * sizeof(float));
    std::memset(bp + k * kNR + nc, 0, static_cast<size_t>(kNR - nc) * sizeof(float));
  }
  for (int64_t i = 0; i < M; i += kMR) {
    const int64_t mr = M - i < kMR ? M - i : kMR;
    for (int64_t r = 0; r < mr; r++) {
      if (acc) std::memcpy(ct + r * kNR, C + (i + r) * ldc + j, static_cast<size_t>(nc) * sizeof(float));
      else std::memset(ct + r * kNR, 0, kNR * sizeof(float));
    }
    rows<kMR>(mr, K, alpha, A + i * ars, ars, aks, bp, kNR, acc, ct, kNR);
    for (int64_t r = 0; r < mr; r++) std::memcpy(C + (i + r) * ldc + j, ct + r * kNR, static_cast<size_t>(nc) * sizeof(float));
  }
}

// ---- AVX-512: MR x 32 tiles, columns past N masked off in the loads and stores (no scratch copy) ----
template <int MR>
FT_TARGET_AVX512 inline void tile512(int64_t K, float alpha, const float* a, int64_t ars, int64_t aks, const float* b,
                                     int64_t ldb, bool acc, float* c, int64_t ldc, __mmask16 m0, __mmask16 m1) {
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 16
  for (int r = 0; r < MR; r++) c0[r] = c1[r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k++) {
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, b), b1 = _mm512_maskz_loadu_ps(m1, b + 16);
    b += ldb;
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
      const __m512 ar = _mm512_set1_ps(a[r * ars]);
      c0[r] = _mm512_fmadd_ps(ar, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(ar, b1, c1[r]);
    }
    a += aks;
  }
  const __m512 va = _mm512_set1_ps(alpha);
#pragma GCC unroll 16
  for (int r = 0; r < MR; r++) {
    float* cr = c + r * ldc;
    if (acc) {
      _mm512_mask_storeu_ps(cr, m0, _mm512_fmadd_ps(va, c0[r], _mm512_maskz_loadu_ps(m0, cr)));
      _mm512_mask_storeu_ps(cr + 16, m1, _mm512_fmadd_ps(va, c1[r], _mm512_maskz_loadu_ps(m1, cr + 16)));
    } else {
      _mm512_mask_storeu_ps(cr, m0, _mm512_mul_ps(va, c0[r]));
      _mm512_mask_storeu_ps(cr + 16, m1, _mm512_mul_ps(va, c1[r]));
    }
  }
}

constexpr int kMR512 = 12, kNR512 = 32;

// Column blocks of 32 outside (the K x 32 block of B stays in L1), row strips of 12 inside.
FT_TARGET_AVX512 inline void gemm_avx512(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t ars,
                                         int64_t aks, const float* B, int64_t ldb, bool acc, float* C, int64_t ldc) {
  for (int64_t j = 0; j < N; j += kNR512) {
    const int64_t nc = N - j;
    const __mmask16 m0 = nc >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << nc) - 1);
    const __mmask16 m1 = nc >= 32 ? static_cast<__mmask16>(0xffff)
                         : nc > 16 ? static_cast<__mmask16>((1u << (nc - 16)) - 1)
                                   : static_cast<__mmask16>(0);
    const float* b = B + j;
    float* cj = C + j;
    int64_t i = 0;
    for (; i + kMR512 <= M; i += kMR512) tile512<kMR512>(K, alpha, A + i * ars, ars, aks, b, ldb, acc, cj + i * ldc, ldc, m0, m1);
    const float* a = A + i * ars;
    float* c = cj + i * ldc;
    switch (M - i) {  // the last partial block of rows
      case 11: tile512<11>(K, alpha, a, ars, aks, b, ldb, acc, c, ldc, m0, m1); break;
      case 10: tile512<10>(K, alpha, a, ars, aks, b, ldb, acc, c, ldc, m0, m1); break;
      case 9: tile512<9>(K, alpha, a, ars, aks, b, ldb, acc, c, ldc, m0, m1); break;
      case 8: tile512<8>(K, alpha, a, ars, aks, b, ldb, acc, c, ldc, m0, m1); break;
      case 7: tile512<7>(K, alpha, a, ars, aks, b, ldb, acc, c, ldc, m0, m1); break;
      case 6: tile512<6>(K, alpha, a, ars, aks, b, ldb, acc, c, ldc, m0, m1); break;
      case 5: tile512<5>(K, alpha, a, ars, aks, b, ldb, acc, c, ldc, m0, m1); break;
      case 4: tile512<4>(K, alpha, a, ars, aks, b, ldb, acc, c, ldc, m0, m1); break;
      case 3: tile512<3>(K, alpha, a, ars, aks, b, ldb, acc, c, ldc, m0, m1); break;
      case 2: tile512<2>(K, alpha, a, ars, aks, b, ldb, acc, c, ldc, m0, m1); break;
      case 1: tile512<1>(K, alpha, a, ars, aks, b, ldb, acc, c, ldc, m0, m1); break;
      default: break;
    }
  }
}
#endif

}  // namespace small_gemm

/**
 * C[i][j] = alpha * sum_k A(i, k) B[k][j] (+ C[i][j] when acc) for i < M, j < N, where
 * A(i, k) = A[i * ars + k * aks] (row-major A: ars = lda, aks = 1; transposed: ars = 1, aks = lda).
 * `scratch` must hold gemm_small_scratch(K) floats (used only when N is not a multiple of 16).
 */
inline void gemm_small(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t ars, int64_t aks,
                       const float* B, int64_t ldb, bool acc, float* C, int64_t ldc, float* scratch) {
  if (M <= 0 || N <= 0) return;
#ifdef FT_SMALL_GEMM_AVX2
  const int isa = isa_level();
  if (isa >= kIsaAvx512) {
    small_gemm::gemm_avx512(M, N, K, alpha, A, ars, aks, B, ldb, acc, C, ldc);
    return;
  }
  if (isa == kIsaAvx2) {
    small_gemm::gemm_avx2(M, N, K, alpha, A, ars, aks, B, ldb, acc, C, ldc, scratch);
    return;
  }
#endif
  (void)scratch;
  small_gemm::gemm_generic(M, N, K, alpha, A, ars, aks, B, ldb, acc, C, ldc);
}

/** Scratch floats gemm_small needs for an inner dimension K. */
inline size_t gemm_small_scratch(int64_t K) { return static_cast<size_t>((K > 0 ? K : 1) * 16 + 6 * 16); }

}  // namespace ft
