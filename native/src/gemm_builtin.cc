// The built-in single-threaded SGEMM (used when OpenBLAS is absent, switched off, or slower), BLIS-style:
// pack a KC x NC panel of op(B) into NR-column strips and an MC x KC block of op(A) into MR-row strips,
// then an MR x NR register-blocked micro-kernel chosen at run time by isa_level(): AVX-512 14x32 (28 zmm
// accumulators), AVX2+FMA 6x16 (12 ymm), or portable C 6x16.
// Threading is done by the caller (gemm.cc splits M or N or the batch). Accumulation order over k is
// fixed by the blocking, so results do not depend on how the caller splits the work.
#include <cstdlib>
#include <cstring>

#include "common.h"
#include "kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FT_HAVE_AVX2_KERNEL 1
#endif

namespace ft {
namespace {

// AVX2 / portable tile and blocks. KC = 256 for every variant (gemm.cc's split-K cuts on multiples of it).
constexpr int MR = 6, NR = 16;
constexpr int64_t KC = 256, MC = 144, NC = 3072;

// ---- packing (memory bound; the baseline ISA is enough) ----

// dst[s][k][r] = op(A)[i0 + MR s + r][p0 + k], zero-padded past M.
template <int MR>
void pack_a(const float* A, int64_t lda, bool transA, int64_t M, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
            float* dst) {
  for (int64_t s = 0; s < mc; s += MR) {
    const int64_t rows = mc - s < MR ? mc - s : MR;
    float* d = dst + s * kc;
    if (!transA) {
      for (int r = 0; r < MR; r++) {
        if (r < rows) {
          const float* src = A + (i0 + s + r) * lda + p0;
          for (int64_t k = 0; k < kc; k++) d[k * MR + r] = src[k];
        } else {
          for (int64_t k = 0; k < kc; k++) d[k * MR + r] = 0.0f;
        }
      }
    } else if (rows == MR) {
      // Full strip: one fixed-size copy per k (the variable-length loop below cost ~15% of a
      // 128x128x4096 weight-gradient product).
      for (int64_t k = 0; k < kc; k++) std::memcpy(d + k * MR, A + (p0 + k) * lda + i0 + s, MR * sizeof(float));
    } else {
      for (int64_t k = 0; k < kc; k++) {
        const float* src = A + (p0 + k) * lda + i0 + s;
        int r = 0;
        for (; r < rows; r++) d[k * MR + r] = src[r];
        for (; r < MR; r++) d[k * MR + r] = 0.0f;
      }
    }
  }
  (void)M;
}

// dst[t][k][c] = op(B)[p0 + k][j0 + NR t + c], zero-padded past N.
template <int NR>
void pack_b(const float* B, int64_t ldb, bool transB, int64_t j0, int64_t nc, int64_t p0, int64_t kc, float* dst) {
  for (int64_t t = 0; t < nc; t += NR) {
    const int64_t cols = nc - t < NR ? nc - t : NR;
    float* d = dst + t * kc;
    if (!transB) {
      for (int64_t k = 0; k < kc; k++) {
        const float* src = B + (p0 + k) * ldb + j0 + t;
        int c = 0;
        if (cols == NR) {
          std::memcpy(d + k * NR, src, NR * sizeof(float));
          continue;
        }
        for (; c < cols; c++) d[k * NR + c] = src[c];
        for (; c < NR; c++) d[k * NR + c] = 0.0f;
      }
    } else {
      for (int c = 0; c < NR; c++) {
        if (c < cols) {
          const float* src = B + (j0 + t + c) * ldb + p0;
          for (int64_t k = 0; k < kc; k++) d[k * NR + c] = src[k];
        } else {
          for (int64_t k = 0; k < kc; k++) d[k * NR + c] = 0.0f;
        }
      }
    }
  }
}

// ---- micro-kernels: C[0:mr, 0:nr] = alpha * (Apanel @ Bpanel) + beta * C  (beta == 0: C not read) ----

using MicroKernel = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                             float beta, int mr, int nr);

void store_tile(const float* ab, float* c, int64_t ldc, float alpha, float beta, int mr, int nr) {
  for (int r = 0; r < mr; r++) {
    float* crow = c + r * ldc;
    if (beta == 0.0f)
      for (int j = 0; j < nr; j++) crow[j] = alpha * ab[r * NR + j];
    else
      for (int j = 0; j < nr; j++) crow[j] = alpha * ab[r * NR + j] + beta * crow[j];
  }
}

void micro_generic(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta, int mr,
                   int nr) {
  float ab[MR * NR];
  for (int i = 0; i < MR * NR; i++) ab[i] = 0.0f;
  for (int64_t k = 0; k < kc; k++) {
    const float* bk = b + k * NR;
    for (int r = 0; r < MR; r++) {
      const float ar = a[k * MR + r];
      for (int j = 0; j < NR; j++) ab[r * NR + j] += ar * bk[j];
    }
  }
  store_tile(ab, c, ldc, alpha, beta, mr, nr);
}

#ifdef FT_HAVE_AVX2_KERNEL
__attribute__((target("avx2,fma"))) void micro_avx2(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                                                     float alpha, float beta, int mr, int nr) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; k++) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    __m256 ar;
    ar = _mm256_broadcast_ss(a + 0); c00 = _mm256_fmadd_ps(ar, b0, c00); c01 = _mm256_fmadd_ps(ar, b1, c01);
    ar = _mm256_broadcast_ss(a + 1); c10 = _mm256_fmadd_ps(ar, b0, c10); c11 = _mm256_fmadd_ps(ar, b1, c11);
    ar = _mm256_broadcast_ss(a + 2); c20 = _mm256_fmadd_ps(ar, b0, c20); c21 = _mm256_fmadd_ps(ar, b1, c21);
    ar = _mm256_broadcast_ss(a + 3); c30 = _mm256_fmadd_ps(ar, b0, c30); c31 = _mm256_fmadd_ps(ar, b1, c31);
    ar = _mm256_broadcast_ss(a + 4); c40 = _mm256_fmadd_ps(ar, b0, c40); c41 = _mm256_fmadd_ps(ar, b1, c41);
    ar = _mm256_broadcast_ss(a + 5); c50 = _mm256_fmadd_ps(ar, b0, c50); c51 = _mm256_fmadd_ps(ar, b1, c51);
    a += MR;
    b += NR;
  }
  const __m256 va = _mm256_set1_ps(alpha);
  if (mr == MR && nr == NR) {
    __m256 acc[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
    if (beta == 0.0f) {
      for (int r = 0; r < MR; r++) {
        _mm256_storeu_ps(c + r * ldc, _mm256_mul_ps(va, acc[2 * r]));
        _mm256_storeu_ps(c + r * ldc + 8, _mm256_mul_ps(va, acc[2 * r + 1]));
      }
    } else {
      const __m256 vb = _mm256_set1_ps(beta);
      for (int r = 0; r < MR; r++) {
        float* cr = c + r * ldc;
        _mm256_storeu_ps(cr, _mm256_fmadd_ps(va, acc[2 * r], _mm256_mul_ps(vb, _mm256_loadu_ps(cr))));
        _mm256_storeu_ps(cr + 8, _mm256_fmadd_ps(va, acc[2 * r + 1], _mm256_mul_ps(vb, _mm256_loadu_ps(cr + 8))));
      }
    }
    return;
  }
  alignas(32) float ab[MR * NR];
  _mm256_store_ps(ab + 0, c00); _mm256_store_ps(ab + 8, c01);
  _mm256_store_ps(ab + 16, c10); _mm256_store_ps(ab + 24, c11);
  _mm256_store_ps(ab + 32, c20); _mm256_store_ps(ab + 40, c21);
  _mm256_store_ps(ab + 48, c30); _mm256_store_ps(ab + 56, c31);
  _mm256_store_ps(ab + 64, c40); _mm256_store_ps(ab + 72, c41);
  _mm256_store_ps(ab + 80, c50); _mm256_store_ps(ab + 88, c51);
  for (int r = 0; r < mr; r++) {
    float* crow = c + r * ldc;
    if (beta == 0.0f)
      for (int j = 0; j < nr; j++) crow[j] = alpha * ab[r * NR + j];
    else
      for (int j = 0; j < nr; j++) crow[j] = __builtin_fmaf(alpha, ab[r * NR + j], beta * crow[j]);
  }
}
#endif

#ifdef FT_HAVE_AVX2_KERNEL
// AVX-512: an MR x 32 tile in 2*MR zmm accumulators, B's two vectors loaded once per k and A's MR values
// broadcast straight from memory into the FMAs. 14 rows use 28 of the 32 zmm registers: 28 FMAs per 16
// loads (the 6x16 AVX2 tile does 12 per 8), which keeps Zen 5's two 512-bit FMA pipes busy from L1.
// Partial tiles (mr < MR, nr < 32) store through column masks: no temporary, no scalar tail.
constexpr int MR512 = 14, NR512 = 32;
constexpr int64_t KC512 = 256, MC512 = 14 * 24, NC512 = 1536;

template <int R>
FT_TARGET_AVX512 void micro_avx512(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                                   float beta, int mr, int nr) {
  __m512 c0[R], c1[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; r++) c0[r] = c1[r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; k++) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
      const __m512 ar = _mm512_set1_ps(a[r]);
      c0[r] = _mm512_fmadd_ps(ar, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(ar, b1, c1[r]);
    }
    a += R;
    b += NR512;
  }
  const __m512 va = _mm512_set1_ps(alpha);
  const __mmask16 m0 = nr >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << nr) - 1);
  const __mmask16 m1 = nr >= 32 ? static_cast<__mmask16>(0xffff)
                       : nr > 16 ? static_cast<__mmask16>((1u << (nr - 16)) - 1)
                                 : static_cast<__mmask16>(0);
  if (beta == 0.0f) {
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
      if (r >= mr) break;
      _mm512_mask_storeu_ps(c + r * ldc, m0, _mm512_mul_ps(va, c0[r]));
      _mm512_mask_storeu_ps(c + r * ldc + 16, m1, _mm512_mul_ps(va, c1[r]));
    }
  } else {
    const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
      if (r >= mr) break;
      float* cr = c + r * ldc;
      _mm512_mask_storeu_ps(cr, m0, _mm512_fmadd_ps(va, c0[r], _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m0, cr))));
      _mm512_mask_storeu_ps(cr + 16, m1,
                            _mm512_fmadd_ps(va, c1[r], _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16))));
    }
  }
}
#endif

// The blocked driver for one tile shape: loops over NC columns, KC of K, MC rows, then micro-tiles.
template <int TMR, int TNR, int64_t TKC, int64_t TMC, int64_t TNC, MicroKernel micro>
void blocked(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
             const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const int64_t kcmax = K < TKC ? K : TKC;
  const int64_t ncmax = N < TNC ? (N + TNR - 1) / TNR * TNR : TNC;
  const int64_t mcmax = M < TMC ? (M + TMR - 1) / TMR * TMR : TMC;
  float* bpack = thread_scratch(0, static_cast<size_t>(kcmax * ncmax));
  float* apack = thread_scratch(1, static_cast<size_t>(kcmax * mcmax));
  for (int64_t jc = 0; jc < N; jc += TNC) {
    const int64_t nc = N - jc < TNC ? N - jc : TNC;
    for (int64_t pc = 0; pc < K; pc += TKC) {
      const int64_t kc = K - pc < TKC ? K - pc : TKC;
      const float b_eff = pc == 0 ? beta : 1.0f;
      pack_b<TNR>(B, ldb, transB, jc, nc, pc, kc, bpack);
      for (int64_t ic = 0; ic < M; ic += TMC) {
        const int64_t mc = M - ic < TMC ? M - ic : TMC;
        pack_a<TMR>(A, lda, transA, M, ic, mc, pc, kc, apack);
        for (int64_t jr = 0; jr < nc; jr += TNR) {
          const int nr = static_cast<int>(nc - jr < TNR ? nc - jr : TNR);
          for (int64_t ir = 0; ir < mc; ir += TMR) {
            const int mr = static_cast<int>(mc - ir < TMR ? mc - ir : TMR);
            micro(kc, apack + ir * kc, bpack + jr * kc, C + (ic + ir) * ldc + jc + jr, ldc, alpha, b_eff, mr, nr);
          }
        }
      }
    }
  }
}

}  // namespace

bool gemm_uses_avx2() { return isa_level() >= kIsaAvx2; }

void sgemm_builtin(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                   const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
#ifdef FT_HAVE_AVX2_KERNEL
  const int isa = isa_level();
  if (isa >= kIsaAvx512) {
    blocked<MR512, NR512, KC512, MC512, NC512, micro_avx512<MR512>>(transA, transB, M, N, K, alpha, A, lda, B, ldb,
                                                                    beta, C, ldc);
    return;
  }
  if (isa == kIsaAvx2) {
    blocked<MR, NR, KC, MC, NC, micro_avx2>(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
#endif
  blocked<MR, NR, KC, MC, NC, micro_generic>(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace ft
