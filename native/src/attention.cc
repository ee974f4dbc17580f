// Fused scaled-dot-product attention, forward and backward, for (B, H, T, D) row-major q/k/v with
// grouped KV heads, key padding mask, causal mask and counter-hash dropout on the probabilities.
// Blocked over queries: a block of BQ query rows sees its full (causally trimmed) key range, so the
// softmax is exact in one pass (no online rescaling) and the score block stays in L2. The products
// are small and in cache, so they run on gemm_small.h's unpacked register-tiled kernel (BLAS calls on
// these shapes spent half their time on packing and setup); K and V are transposed once per head into
// scratch so that every product reads B row-major. One (b, h, block) per task.
// Forward saves each row's log-sum-exp; backward recomputes the probabilities from it, and takes the
// dropout mask from the recomputed dropped-out probabilities instead of hashing every element twice.
// Determinism: every output element is written by one thread in a fixed order; the GQA / split
// sums of gk and gv are combined in a fixed order.
#include <cmath>
#include <limits>
#include <vector>

#include "common.h"
#include "gemm_small.h"
#include "kernels.h"
#include "rng.h"
#include "vmath.h"

namespace ft {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

int64_t block_rows(int64_t Tq, int64_t Tk) {
  int64_t bq = 32768 / (Tk > 0 ? Tk : 1);  // a 128 KB score block
  bq = bq < 16 ? 16 : (bq > 128 ? 128 : bq);
  return bq < Tq ? bq : (Tq > 0 ? Tq : 1);
}

// Keys visible to row i: j <= lim (causal) and key_mask[j] != 0 (km null: no padding mask).

// One row of the forward: masks the scaled scores s[0..n), turns them into (dropped-out) probabilities
// in place and returns the log-sum-exp (-inf when every key is masked; the row is then all zeros).
FT_KERNEL float attn_row_forward_impl(float* s, int64_t n, int64_t lim, const float* km, uint32_t seed_mixed,
                                 uint64_t idx0, uint32_t thr, float keep_scale, bool dropout) {
  if (km) {
    for (int64_t j = 0; j < n; j++) s[j] = ((j <= lim) & (km[j] != 0.0f)) ? s[j] : kNegInf;
  } else {
    for (int64_t j = 0; j < n; j++) s[j] = j <= lim ? s[j] : kNegInf;
  }
  const float m = max_f32(s, n);
  if (m == kNegInf || m != m) {
    for (int64_t j = 0; j < n; j++) s[j] = m != m ? m : 0.0f;
    return m;
  }
  for (int64_t j = 0; j < n; j++) s[j] = vexp_nonpos(s[j] - m);
  const double sum = sum_f64(s, n);
  const float inv = static_cast<float>(1.0 / sum);
  if (dropout) {
    const float kinv = inv * keep_scale;
    uint32_t mi = static_cast<uint32_t>(idx0) * kIndexMul;
    for (int64_t c = 0; c < n; c++) {
      const uint32_t h = hash32_mixed(seed_mixed, mi);
      mi += kIndexMul;
      s[c] = h >= thr ? s[c] * kinv : 0.0f;
    }
  } else {
    for (int64_t c = 0; c < n; c++) s[c] *= inv;
  }
  return static_cast<float>(static_cast<double>(m) + std::log(sum));
}
FT_ISA_VARIANTS(attn_row_forward)

// Backward row, step 1: s holds scaled scores; writes P = exp(s - lse) (masked -> 0) into p and the
// dropped-out Pd into pd.
FT_KERNEL void attn_row_probs_impl(const float* s, float* p, float* pd, int64_t n, int64_t lim, const float* km, float lse,
                              uint32_t seed_mixed, uint64_t idx0, uint32_t thr, float keep_scale, bool dropout) {
  if (lse == kNegInf) {
    for (int64_t j = 0; j < n; j++) p[j] = pd[j] = 0.0f;
    return;
  }
  // Two loops so that neither has a branch on km (the null test kept GCC from vectorising the exp).
  if (km) {
    for (int64_t j = 0; j < n; j++) p[j] = ((j <= lim) & (km[j] != 0.0f)) ? vexp_nonpos(s[j] - lse) : 0.0f;
  } else {
    for (int64_t j = 0; j < n; j++) p[j] = j <= lim ? vexp_nonpos(s[j] - lse) : 0.0f;
  }
  if (dropout) {
    uint32_t mi = static_cast<uint32_t>(idx0) * kIndexMul;
    for (int64_t j = 0; j < n; j++) {
      const uint32_t h = hash32_mixed(seed_mixed, mi);
      mi += kIndexMul;
      pd[j] = h >= thr ? p[j] * keep_scale : 0.0f;
    }
  } else {
    for (int64_t j = 0; j < n; j++) pd[j] = p[j];
  }
}
FT_ISA_VARIANTS(attn_row_probs)

// Backward row, step 2: dpd holds dO V^T; overwrites it with dS * scale = P (Z dPd - delta) * scale.
// Z (0 or 1/(1-p)) is read off Pd: a kept element has Pd != 0 wherever P != 0, and where P == 0 the
// product is 0 either way.
FT_KERNEL void attn_row_dscores_impl(const float* p, const float* pd, float* dpd, int64_t n, float delta, float scale,
                                float keep_scale, bool dropout) {
  if (dropout) {
    for (int64_t j = 0; j < n; j++) {
      const float z = pd[j] != 0.0f ? keep_scale : 0.0f;
      dpd[j] = p[j] * (z * dpd[j] - delta) * scale;
    }
  } else {
    for (int64_t j = 0; j < n; j++) dpd[j] = p[j] * (dpd[j] - delta) * scale;
  }
}
FT_ISA_VARIANTS(attn_row_dscores)

// dst (D x ld, row-major) = src (rows x D)^T, for the first `rows` columns of dst.
FT_KERNEL void transpose_into_impl(const float* src, int64_t rows, int64_t D, float* dst, int64_t ld) {
  for (int64_t j = 0; j < rows; j++)
    for (int64_t d = 0; d < D; d++) dst[d * ld + j] = src[j * D + d];
}
FT_ISA_VARIANTS(transpose_into)

FT_KERNEL void add_into_impl(float* dst, const float* src, int64_t n) {
  for (int64_t i = 0; i < n; i++) dst[i] += src[i];
}
FT_ISA_VARIANTS(add_into)

struct Geometry {
  int64_t G, BQ, nqb, off;
  uint32_t seed_mixed, thr;
  float keep_scale;
  bool dropout;
};

Geometry geometry(const AttnParams& a) {
  Geometry g;
  g.G = a.H / a.Hkv;
  g.BQ = block_rows(a.Tq, a.Tk);
  g.nqb = (a.Tq + g.BQ - 1) / g.BQ;
  g.off = a.Tk - a.Tq;
  g.dropout = a.dropout_p > 0.0;
  g.seed_mixed = fmix32(a.seed);
  g.thr = dropout_threshold(a.dropout_p);
  g.keep_scale = static_cast<float>(1.0 / (1.0 - a.dropout_p));
  return g;
}

// Keys [0, kend) can be visible to some row of the block [i0, i0 + bq).
int64_t key_end(const AttnParams& a, const Geometry& g, int64_t i0, int64_t bq) {
  if (!a.causal) return a.Tk;
  int64_t e = i0 + bq - 1 + g.off + 1;
  return e < 0 ? 0 : (e > a.Tk ? a.Tk : e);
}

}  // namespace

void attention(const AttnParams& a, float* out, float* lse) {
  const Geometry g = geometry(a);
  const int64_t D = a.D, Tq = a.Tq, Tk = a.Tk;
  const int64_t tasks = a.B * a.H * g.nqb;
  parallel_for(tasks, 1, [&](int64_t t0, int64_t t1) {
    const int64_t tk1 = Tk > 0 ? Tk : 1;
    float* S = thread_scratch(2, static_cast<size_t>(g.BQ * tk1));
    float* KT = thread_scratch(4, static_cast<size_t>((D > 0 ? D : 1) * tk1));
    float* tail = thread_scratch(5, gemm_small_scratch(D > Tk ? D : Tk));
    int64_t kt_of = -1;  // the (b, kv head) whose K^T is in KT
    for (int64_t t = t0; t < t1; t++) {
      const int64_t qb = t % g.nqb, bh = t / g.nqb, h = bh % a.H, b = bh / a.H, hk = h / g.G;
      const int64_t i0 = qb * g.BQ, bq = Tq - i0 < g.BQ ? Tq - i0 : g.BQ;
      const float* Q = a.q + (bh * Tq + i0) * D;
      const float* K = a.k + (b * a.Hkv + hk) * Tk * D;
      const float* V = a.v + (b * a.Hkv + hk) * Tk * D;
      float* O = out + (bh * Tq + i0) * D;
      float* L = lse + bh * Tq + i0;
      const float* km = a.key_mask ? a.key_mask + b * Tk : nullptr;
      const int64_t kend = key_end(a, g, i0, bq);
      if (kend == 0) {  // every key of every row is causally masked
        for (int64_t r = 0; r < bq; r++) L[r] = kNegInf;
        for (int64_t i = 0; i < bq * D; i++) O[i] = 0.0f;
        continue;
      }
      if (D == 0) {  // no output elements; scores are all 0, lse = log(number of visible keys)
        for (int64_t r = 0; r < bq; r++) {
          for (int64_t j = 0; j < kend; j++) S[j] = 0.0f;
          const int64_t lim = a.causal ? i0 + r + g.off : Tk - 1;
          L[r] = attn_row_forward(S, kend, lim, km, g.seed_mixed, 0, g.thr, g.keep_scale, false);
        }
        continue;
      }
      if (kt_of != b * a.Hkv + hk) {
        transpose_into(K, Tk, D, KT, Tk);
        kt_of = b * a.Hkv + hk;
      }
      gemm_small(bq, kend, D, a.scale, Q, D, 1, KT, Tk, false, S, kend, tail);  // S = scale Q K^T
      for (int64_t r = 0; r < bq; r++) {
        const int64_t i = i0 + r;
        const int64_t lim = a.causal ? i + g.off : Tk - 1;
        const uint64_t idx0 = static_cast<uint64_t>((bh * Tq + i) * Tk);
        L[r] = attn_row_forward(S + r * kend, kend, lim, km, g.seed_mixed, idx0, g.thr, g.keep_scale, g.dropout);
      }
      gemm_small(bq, D, kend, 1.0f, S, kend, 1, V, D, false, O, D, tail);  // O = P V
    }
  });
}

void attention_backward(const AttnParams& a, const float* out, const float* lse, const float* gout, float* gq,
                        float* gk, float* gv) {
  const Geometry g = geometry(a);
  const int64_t D = a.D, Tq = a.Tq, Tk = a.Tk;
  const int64_t groups = a.B * a.Hkv;       // one (b, kv head) owns its gk / gv slice
  const int64_t units = g.G * g.nqb;        // (query head in group, query block) pairs of a group
  // Too few groups for the threads: split each group's units, with private gk/gv partials summed after.
  const int nt = num_threads();
  int64_t nsplit = groups >= nt ? 1 : (nt + groups - 1) / groups;
  if (nsplit > units) nsplit = units;
  if (nsplit < 1) nsplit = 1;
  const int64_t slice = Tk * D;
  std::vector<float> part(nsplit > 1 ? static_cast<size_t>(groups * nsplit * 2 * slice) : 0);
  parallel_for(groups * nsplit, 1, [&](int64_t w0, int64_t w1) {
    const int64_t tk1 = Tk > 0 ? Tk : 1, d1 = D > 0 ? D : 1;
    const size_t cap = static_cast<size_t>(g.BQ * tk1);
    float* P = thread_scratch(2, cap);
    float* W = thread_scratch(3, 2 * cap);
    float* Pd = W + cap;
    float* KT = thread_scratch(4, static_cast<size_t>(2 * d1 * tk1));
    float* VT = KT + d1 * tk1;
    float* tail = thread_scratch(5, gemm_small_scratch(D > Tk ? (D > g.BQ ? D : g.BQ) : (Tk > g.BQ ? Tk : g.BQ)));
    for (int64_t w = w0; w < w1; w++) {
      const int64_t grp = w / nsplit, sp = w % nsplit;
      const int64_t b = grp / a.Hkv, hk = grp % a.Hkv;
      const float* K = a.k + grp * slice;
      const float* V = a.v + grp * slice;
      float* GK = nsplit > 1 ? part.data() + (grp * nsplit + sp) * 2 * slice : gk + grp * slice;
      float* GV = nsplit > 1 ? GK + slice : gv + grp * slice;
      for (int64_t i = 0; i < slice; i++) GK[i] = GV[i] = 0.0f;
      const float* km = a.key_mask ? a.key_mask + b * Tk : nullptr;
      const int64_t u0 = units * sp / nsplit, u1 = units * (sp + 1) / nsplit;
      if (D > 0 && u1 > u0) {
        transpose_into(K, Tk, D, KT, Tk);
        transpose_into(V, Tk, D, VT, Tk);
      }
      for (int64_t u = u0; u < u1; u++) {
        const int64_t h = hk * g.G + u / g.nqb, qb = u % g.nqb;
        const int64_t bh = b * a.H + h;
        const int64_t i0 = qb * g.BQ, bq = Tq - i0 < g.BQ ? Tq - i0 : g.BQ;
        const float* Q = a.q + (bh * Tq + i0) * D;
        const float* O = out + (bh * Tq + i0) * D;
        const float* dO = gout + (bh * Tq + i0) * D;
        const float* L = lse + bh * Tq + i0;
        float* GQ = gq + (bh * Tq + i0) * D;
        const int64_t kend = key_end(a, g, i0, bq);
        if (kend == 0 || D == 0) {
          for (int64_t i = 0; i < bq * D; i++) GQ[i] = 0.0f;
          continue;
        }
        // Recompute scores into W, probabilities into P, dropped-out probabilities into Pd.
        gemm_small(bq, kend, D, a.scale, Q, D, 1, KT, Tk, false, W, kend, tail);
        for (int64_t r = 0; r < bq; r++) {
          const int64_t i = i0 + r;
          const int64_t lim = a.causal ? i + g.off : Tk - 1;
          const uint64_t idx0 = static_cast<uint64_t>((bh * Tq + i) * Tk);
          attn_row_probs(W + r * kend, P + r * kend, Pd + r * kend, kend, lim, km, L[r], g.seed_mixed, idx0, g.thr,
                         g.keep_scale, g.dropout);
        }
        // dV += Pd^T dO
        gemm_small(kend, D, bq, 1.0f, Pd, 1, kend, dO, D, true, GV, D, tail);
        // dPd = dO V^T (into W), then dS * scale in place.
        gemm_small(bq, kend, D, 1.0f, dO, D, 1, VT, Tk, false, W, kend, tail);
        for (int64_t r = 0; r < bq; r++) {
          const float delta = static_cast<float>(dot_f64(dO + r * D, O + r * D, D));
          attn_row_dscores(P + r * kend, Pd + r * kend, W + r * kend, kend, delta, a.scale, g.keep_scale, g.dropout);
        }
        // dQ = dS K ; dK += dS^T Q
        gemm_small(bq, D, kend, 1.0f, W, kend, 1, K, D, false, GQ, D, tail);
        gemm_small(kend, D, bq, 1.0f, W, 1, kend, Q, D, true, GK, D, tail);
      }
    }
  });
  if (nsplit == 1) return;
  parallel_for(groups, 1, [&](int64_t g0, int64_t g1) {
    for (int64_t grp = g0; grp < g1; grp++) {
      float* GK = gk + grp * slice;
      float* GV = gv + grp * slice;
      const float* p0 = part.data() + grp * nsplit * 2 * slice;
      for (int64_t i = 0; i < slice; i++) {
        GK[i] = p0[i];
        GV[i] = p0[slice + i];
      }
      for (int64_t s = 1; s < nsplit; s++) {
        add_into(GK, p0 + s * 2 * slice, slice);
        add_into(GV, p0 + s * 2 * slice + slice, slice);
      }
    }
  });
}

}  // namespace ft
