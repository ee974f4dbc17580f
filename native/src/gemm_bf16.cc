// bf16 mixed-precision GEMM (torch.autocast semantics for matmul/linear): both operands rounded to bf16
// (round-to-nearest-even, as VCVTNE2PS2BF16), products exact in fp32, accumulation in fp32.
// Two paths chosen at run time by CPUID: an AVX512_BF16 kernel (operands packed as bf16 pairs of k,
// 8x32 register tile, VDPBF16PS), and a portable converted path (round the operands to bf16 values held
// in fp32 copies, then the ordinary fp32 GEMM): the same numbers up to fp32 summation order.
// The packed kernel takes its B panels from a "B source" so quant.cc can feed dequantised weight panels.
// Not here: the fp32 GEMM (gemm.cc), quantisation formats (quant.cc), N-API (binding.cc).
#include <immintrin.h>

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 false positive inside its own masked-load intrinsics

#include <cstring>
#include <vector>

#include "common.h"
#include "gemm_bf16.h"
#include "kernels.h"

namespace ft {

namespace {

bool detect_bf16() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

bool g_has_bf16 = detect_bf16();
bool g_use_bf16_kernel = g_has_bf16;

constexpr int64_t kMR = 8;    // rows of the register tile
constexpr int64_t kNR = 32;   // columns of the register tile (two zmm of 16 fp32)
constexpr int64_t kKC = 256;  // k per packed block (128 pairs): B block kKC x kNC bf16 = 64 KB
constexpr int64_t kNC = 128;  // columns per task

}  // namespace

bool bf16_dot_supported() { return g_has_bf16; }
bool set_bf16_kernel(bool on) {
  g_use_bf16_kernel = on && g_has_bf16;
  return g_use_bf16_kernel == on;
}
bool bf16_kernel_in_use() { return g_use_bf16_kernel; }

void round_to_bf16(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = bf16_to_f32(f32_to_bf16(x[i]));
}

// ---- packed AVX512_BF16 path -------------------------------------------------------------------

namespace {

// Converts 32 floats at p (pairs (p[2j], p[2j+1])) to 16 dwords: low half = bf16(p[2j]).
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) FT_INLINE __m512i cvt_pairs(const float* p, int64_t n) {
  // n in (0, 32]: elements past n read as 0.
  __mmask16 m0 = n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1);
  __mmask16 m1 = n <= 16 ? 0 : (n >= 32 ? 0xFFFF : static_cast<__mmask16>((1u << (n - 16)) - 1));
  __m512 lo = _mm512_maskz_loadu_ps(m0, p);
  __m512 hi = _mm512_maskz_loadu_ps(m1, p + 16);
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));
}

// Two rows r0 (k even) and r1 (k odd) of 16 columns -> 16 dwords (bf16(r1) << 16 | bf16(r0)).
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) FT_INLINE __m512i cvt_interleave(const float* r0, const float* r1,
                                                                                                 __mmask16 m) {
  __m512 a = _mm512_maskz_loadu_ps(m, r0);
  __m512 b = r1 ? _mm512_maskz_loadu_ps(m, r1) : _mm512_setzero_ps();
  // cvtne2ps(b, a): lanes 0-15 = bf16(a), lanes 16-31 = bf16(b); then interleave the halves.
  __m512i both = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(b, a));
  __m256i lo = _mm512_castsi512_si256(both), hi = _mm512_extracti64x4_epi64(both, 1);
  __m512i lo32 = _mm512_cvtepu16_epi32(lo), hi32 = _mm512_cvtepu16_epi32(hi);
  return _mm512_or_si512(lo32, _mm512_slli_epi32(hi32, 16));
}

/**
 * Packs rows [m0, m0+mr) of op(A) (fp32) for k in [k0, k0+kc) as pair dwords: out[kp*8 + r].
 * Rows past mr and k past kc are zero.
 */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void pack_a(const float* a, bool transA, int64_t M, int64_t K,
                                                                              int64_t m0, int64_t mr, int64_t k0, int64_t kc,
                                                                              uint32_t* out) {
  const int64_t kp = (kc + 1) / 2;
  std::memset(out, 0, sizeof(uint32_t) * kp * kMR);
  if (!transA) {
    alignas(64) uint32_t tmp[16];
    for (int64_t r = 0; r < mr; r++) {
      const float* row = a + (m0 + r) * K + k0;
      for (int64_t k = 0; k < kc; k += 32) {
        __m512i d = cvt_pairs(row + k, kc - k < 32 ? kc - k : 32);
        _mm512_store_si512(tmp, d);
        const int64_t np = (kc - k + 1) / 2 < 16 ? (kc - k + 1) / 2 : 16;
        for (int64_t j = 0; j < np; j++) out[(k / 2 + j) * kMR + r] = tmp[j];
      }
    }
  } else {
    // op(A)[i][k] = a[k*M + i]: rows k and k+1 hold the pair for 8 consecutive i.
    const __mmask16 m = static_cast<__mmask16>((1u << mr) - 1);
    alignas(64) uint32_t tmp[16];
    for (int64_t p = 0; p < kp; p++) {
      const int64_t k = k0 + 2 * p;
      const float* r0 = a + k * M + m0;
      const float* r1 = (2 * p + 1 < kc) ? a + (k + 1) * M + m0 : nullptr;
      _mm512_store_si512(tmp, cvt_interleave(r0, r1, m));
      std::memcpy(out + p * kMR, tmp, sizeof(uint32_t) * kMR);
    }
  }
}

/**
 * Packs op(B)[k0:k0+kc, n0:n0+nc] given as a fp32 tile `t` (k-major: t[k*ld + n], or n-major:
 * t[n*ld + k], both relative to (k0, n0)) into panels of 32 columns: out[panel][kp][32].
 */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void pack_b(const float* t, int64_t ld, bool kmajor, int64_t kc,
                                                                              int64_t nc, uint32_t* out) {
  const int64_t kp = (kc + 1) / 2;
  const int64_t panels = (nc + kNR - 1) / kNR;
  if (kmajor) {
    for (int64_t pn = 0; pn < panels; pn++) {
      uint32_t* o = out + pn * kp * kNR;
      for (int64_t half = 0; half < 2; half++) {
        const int64_t c0 = pn * kNR + half * 16;
        const int64_t w = nc - c0 <= 0 ? 0 : (nc - c0 < 16 ? nc - c0 : 16);
        const __mmask16 m = static_cast<__mmask16>(w >= 16 ? 0xFFFF : (1u << w) - 1);
        for (int64_t p = 0; p < kp; p++) {
          const float* r0 = t + (2 * p) * ld + c0;
          const float* r1 = (2 * p + 1 < kc) ? t + (2 * p + 1) * ld + c0 : nullptr;
          __m512i d = w > 0 ? cvt_interleave(r0, r1, m) : _mm512_setzero_si512();
          _mm512_storeu_si512(o + p * kNR + half * 16, d);
        }
      }
    }
  } else {
    std::memset(out, 0, sizeof(uint32_t) * panels * kp * kNR);
    alignas(64) uint32_t tmp[16];
    for (int64_t n = 0; n < nc; n++) {
      uint32_t* o = out + (n / kNR) * kp * kNR + (n % kNR);
      const float* row = t + n * ld;
      for (int64_t k = 0; k < kc; k += 32) {
        _mm512_store_si512(tmp, cvt_pairs(row + k, kc - k < 32 ? kc - k : 32));
        const int64_t np = (kc - k + 1) / 2 < 16 ? (kc - k + 1) / 2 : 16;
        for (int64_t j = 0; j < np; j++) o[(k / 2 + j) * kNR] = tmp[j];
      }
    }
  }
}

/** C tile (mr x nr valid) += alpha * Apanel . Bpanel over kp pairs; `first` applies beta instead of adding. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void micro_bf16(int64_t kp, const uint32_t* ap,
                                                                                  const uint32_t* bp, float* c, int64_t ldc,
                                                                                  int64_t mr, int64_t nr, float alpha,
                                                                                  float beta, bool first) {
  __m512 acc[kMR][2];
  for (int r = 0; r < kMR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kp; p++) {
    const __m512bh b0 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(bp + p * kNR));
    const __m512bh b1 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(bp + p * kNR + 16));
    const uint32_t* a = ap + p * kMR;
#pragma GCC unroll 8
    for (int r = 0; r < kMR; r++) {
      const __m512bh av = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(a[r])));
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
    }
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  const __mmask16 m0 = static_cast<__mmask16>(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
  const __mmask16 m1 = static_cast<__mmask16>(nr <= 16 ? 0 : (nr >= 32 ? 0xFFFF : (1u << (nr - 16)) - 1));
  for (int64_t r = 0; r < mr; r++) {
    float* cr = c + r * ldc;
    __m512 x0 = _mm512_mul_ps(acc[r][0], va), x1 = _mm512_mul_ps(acc[r][1], va);
    if (first) {
      if (beta != 0.f) {
        x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), x0);
        x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), x1);
      }
    } else {
      x0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), x0);
      x1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), x1);
    }
    _mm512_mask_storeu_ps(cr, m0, x0);
    _mm512_mask_storeu_ps(cr + 16, m1, x1);
  }
}

struct PackedA {
  std::vector<uint32_t> buf;  // (kblocks, mblocks, kKC/2, 8)
  int64_t mblocks = 0, kblocks = 0;
  const uint32_t* at(int64_t kb, int64_t mb) const { return buf.data() + (kb * mblocks + mb) * (kKC / 2) * kMR; }
};

void pack_a_all(const float* a, bool transA, int64_t M, int64_t K, PackedA& pa) {
  pa.mblocks = (M + kMR - 1) / kMR;
  pa.kblocks = (K + kKC - 1) / kKC;
  pa.buf.assign(static_cast<size_t>(pa.kblocks * pa.mblocks * (kKC / 2) * kMR), 0u);
  parallel_for(pa.kblocks * pa.mblocks, 4, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) {
      const int64_t kb = i / pa.mblocks, mb = i % pa.mblocks;
      const int64_t m0 = mb * kMR, k0 = kb * kKC;
      pack_a(a, transA, M, K, m0, M - m0 < kMR ? M - m0 : kMR, k0, K - k0 < kKC ? K - k0 : kKC,
             const_cast<uint32_t*>(pa.at(kb, mb)));
    }
  });
}

void gemm_bf16_packed_one(int64_t M, int64_t N, int64_t K, float alpha, const float* a, bool transA, const BSource& src,
                          float beta, float* c) {
  PackedA pa;
  pack_a_all(a, transA, M, K, pa);
  const int64_t ntasks = (N + kNC - 1) / kNC;
  // Split rows too when there are few column tasks, so both threads work.
  int64_t msplit = 1;
  const int nt = num_threads();
  while (ntasks * msplit < 2 * nt && (pa.mblocks / (msplit * 2)) >= 4) msplit *= 2;
  const int64_t mbPer = (pa.mblocks + msplit - 1) / msplit;
  parallel_for(ntasks * msplit, 1, [&](int64_t b, int64_t e) {
    static thread_local std::vector<uint32_t> bpack;
    static thread_local std::vector<float> tile;
    bpack.resize(static_cast<size_t>((kKC / 2) * ((kNC + kNR - 1) / kNR) * kNR));
    for (int64_t task = b; task < e; task++) {
      const int64_t nt_i = task / msplit, ms = task % msplit;
      const int64_t n0 = nt_i * kNC, nc = N - n0 < kNC ? N - n0 : kNC;
      const int64_t mb0 = ms * mbPer, mb1 = (ms + 1) * mbPer < pa.mblocks ? (ms + 1) * mbPer : pa.mblocks;
      for (int64_t kb = 0; kb < pa.kblocks; kb++) {
        const int64_t k0 = kb * kKC, kc = K - k0 < kKC ? K - k0 : kKC;
        BTile t = src.fetch(src.ctx, k0, kc, n0, nc, tile);
        pack_b(t.p, t.ld, t.kmajor, kc, nc, bpack.data());
        const int64_t kp = (kc + 1) / 2;
        for (int64_t mb = mb0; mb < mb1; mb++) {
          const int64_t m0 = mb * kMR, mr = M - m0 < kMR ? M - m0 : kMR;
          const uint32_t* ap = pa.at(kb, mb);
          for (int64_t pn = 0; pn * kNR < nc; pn++) {
            const int64_t nr = nc - pn * kNR < kNR ? nc - pn * kNR : kNR;
            micro_bf16(kp, ap, bpack.data() + pn * kp * kNR, c + m0 * N + n0 + pn * kNR, N, mr, nr, alpha, beta, kb == 0);
          }
        }
      }
    }
  });
}

struct DenseB {
  const float* b;
  bool transB;
  int64_t K, N;
};

BTile dense_fetch(const void* ctx, int64_t k0, int64_t, int64_t n0, int64_t, std::vector<float>&) {
  const DenseB* d = static_cast<const DenseB*>(ctx);
  if (!d->transB) return {d->b + k0 * d->N + n0, d->N, true};
  return {d->b + n0 * d->K + k0, d->K, false};
}

}  // namespace

void gemm_bf16_source(int64_t M, int64_t N, int64_t K, float alpha, const float* a, bool transA, const BSource& src,
                      float beta, float* c) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int64_t i = 0; i < M * N; i++) c[i] = beta == 0.f ? 0.f : beta * c[i];
    return;
  }
  if (g_use_bf16_kernel) {
    gemm_bf16_packed_one(M, N, K, alpha, a, transA, src, beta, c);
    return;
  }
  // Portable: round op(A) and the whole op(B) (materialised tile by tile) to bf16 values in fp32 copies.
  std::vector<float> ar(static_cast<size_t>(M * K)), br(static_cast<size_t>(K * N)), tile;
  round_to_bf16(a, ar.data(), M * K);
  BTile t = src.fetch(src.ctx, 0, K, 0, N, tile);
  for (int64_t k = 0; k < K; k++)
    for (int64_t n = 0; n < N; n++) {
      const float v = t.kmajor ? t.p[k * t.ld + n] : t.p[n * t.ld + k];
      br[k * N + n] = bf16_to_f32(f32_to_bf16(v));
    }
  gemm_batched(1, M, N, K, alpha, ar.data(), 0, transA, br.data(), 0, false, beta, c, 0);
}

void gemm_bf16_batched(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t aBatchStride,
                       bool transA, const float* b, int64_t bBatchStride, bool transB, float beta, float* c,
                       int64_t cBatchStride) {
  if (!g_use_bf16_kernel) {
    // One rounded copy of each distinct operand, then the fp32 GEMM over the batch.
    const int64_t na = (batch - 1) * aBatchStride + M * K, nb = (batch - 1) * bBatchStride + K * N;
    std::vector<float> ar(static_cast<size_t>(na)), br(static_cast<size_t>(nb));
    round_to_bf16(a, ar.data(), na);
    round_to_bf16(b, br.data(), nb);
    gemm_batched(batch, M, N, K, alpha, ar.data(), aBatchStride, transA, br.data(), bBatchStride, transB, beta, c,
                 cBatchStride);
    return;
  }
  for (int64_t i = 0; i < batch; i++) {
    DenseB d{b + i * bBatchStride, transB, K, N};
    BSource src{&d, dense_fetch};
    gemm_bf16_source(M, N, K, alpha, a + i * aBatchStride, transA, src, beta, c + i * cBatchStride);
  }
}

}  // namespace ft
