// Frozen weights in less memory: dequantisation of bf16 / int8 (per-row absmax, LLM.int8 weight storage) /
// NF4 (bitsandbytes' 4-bit NormalFloat, blocks of 64, optionally double-quantised absmax) weights, and
// the GEMM that reads such a weight one panel at a time (dequantised into the packing tile of the bf16
// kernel, or into a fp32 tile handed to the fp32 GEMM), so the fp32 weight never exists whole.
// Not here: quantisation itself (src/backend/quant.ts, done once at load), the GEMM kernels themselves.
#include <algorithm>
#include <vector>

#include "common.h"
#include "gemm_bf16.h"
#include "kernels.h"

namespace ft {

namespace {

// bitsandbytes' NF4 code (get_4bit_type('nf4'), csrc/kernels.cu dDequantizeNF4), code index order.
constexpr float kNF4[16] = {-1.0f,
                            -0.6961928009986877f,
                            -0.5250730514526367f,
                            -0.39491748809814453f,
                            -0.28444138169288635f,
                            -0.18477343022823334f,
                            -0.09105003625154495f,
                            0.0f,
                            0.07958029955625534f,
                            0.16093020141124725f,
                            0.24611230194568634f,
                            0.33791524171829224f,
                            0.44070982933044434f,
                            0.5626170039176941f,
                            0.7229568362236023f,
                            1.0f};

FT_INLINE float nf4_absmax(const QuantWeight& w, int64_t blk) {
  if (w.absmax) return w.absmax[blk];
  return w.code2[w.qabsmax[blk]] * w.absmax2[blk / w.block2] + w.offset;
}

}  // namespace

void dequant_rect(const QuantWeight& w, int64_t r0, int64_t r1, int64_t c0, int64_t c1, float* out, int64_t ld) {
  const int64_t C = w.cols;
  for (int64_t r = r0; r < r1; r++) {
    float* o = out + (r - r0) * ld;
    if (w.format == Q_BF16) {
      const uint16_t* d = static_cast<const uint16_t*>(w.data) + r * C;
      for (int64_t c = c0; c < c1; c++) o[c - c0] = bf16_to_f32(d[c]);
    } else if (w.format == Q_INT8) {
      const int8_t* d = static_cast<const int8_t*>(w.data) + r * C;
      const float s = w.absmax[r] / 127.0f;
      for (int64_t c = c0; c < c1; c++) o[c - c0] = static_cast<float>(d[c]) * s;
    } else {
      const uint8_t* d = static_cast<const uint8_t*>(w.data);
      int64_t i = r * C + c0;
      const int64_t end = r * C + c1;
      while (i < end) {
        const int64_t blk = i / w.block;
        const int64_t stop = std::min(end, (blk + 1) * w.block);
        const float s = nf4_absmax(w, blk);
        for (; i < stop; i++) {
          const uint8_t byte = d[i >> 1];
          const int q = (i & 1) ? (byte & 0x0F) : (byte >> 4);
          o[i - r * C - c0] = kNF4[q] * s;
        }
      }
    }
  }
}

namespace {

struct QuantB {
  const QuantWeight* w;
  bool transW;
};

// op(W)[k0:k0+kc, n0:n0+nc]: rows n of W when transposed (n-major tile), rows k otherwise (k-major).
BTile quant_fetch(const void* ctx, int64_t k0, int64_t kc, int64_t n0, int64_t nc, std::vector<float>& scratch) {
  const QuantB* q = static_cast<const QuantB*>(ctx);
  scratch.resize(static_cast<size_t>(kc * nc));
  if (q->transW) {
    dequant_rect(*q->w, n0, n0 + nc, k0, k0 + kc, scratch.data(), kc);
    return {scratch.data(), kc, false};
  }
  dequant_rect(*q->w, k0, k0 + kc, n0, n0 + nc, scratch.data(), nc);
  return {scratch.data(), nc, true};
}

constexpr int64_t kQNC = 128;  // columns per fp32 task
constexpr int64_t kQKC = 512;  // k per dequantised fp32 tile

}  // namespace

void gemm_quant(int64_t M, int64_t N, int64_t K, float alpha, const float* a, bool transA, const QuantWeight& w,
                bool transW, float beta, float* c, bool bf16) {
  if (M <= 0 || N <= 0) return;
  QuantB qb{&w, transW};
  if (bf16 && bf16_kernel_in_use()) {
    BSource src{&qb, quant_fetch};
    gemm_bf16_source(M, N, K, alpha, a, transA, src, beta, c);
    return;
  }
  // fp32, or bf16 without the AVX512_BF16 kernel: the tiled fp32 path below, with A and every dequantised
  // tile rounded to bf16 in the latter case (still one tile at a time, never the whole weight).
  std::vector<float> arounded;
  if (bf16) {
    arounded.resize(static_cast<size_t>(M * K));
    round_to_bf16(a, arounded.data(), M * K);
    a = arounded.data();
  }
  if (K <= 0) {
    for (int64_t i = 0; i < M * N; i++) c[i] = beta == 0.f ? 0.f : beta * c[i];
    return;
  }
  // fp32: each task owns kQNC columns of C and walks K in tiles; each tile is dequantised once and
  // multiplied by the single-threaded fp32 GEMM (with leading dimensions, no copy of A or C).
  const int64_t ntasks = (N + kQNC - 1) / kQNC;
  parallel_for(ntasks, 1, [&](int64_t b, int64_t e) {
    static thread_local std::vector<float> tile;
    for (int64_t t = b; t < e; t++) {
      const int64_t n0 = t * kQNC, nc = std::min(kQNC, N - n0);
      for (int64_t k0 = 0; k0 < K; k0 += kQKC) {
        const int64_t kc = std::min(kQKC, K - k0);
        BTile bt = quant_fetch(&qb, k0, kc, n0, nc, tile);
        if (bf16) round_to_bf16(tile.data(), tile.data(), kc * nc);
        const float* ak = transA ? a + k0 * M : a + k0;
        const int64_t lda = transA ? M : K;
        sgemm_serial(transA, !bt.kmajor, M, nc, kc, alpha, ak, lda, bt.p, bt.ld, k0 == 0 ? beta : 1.0f, c + n0, N);
      }
    }
  });
}

}  // namespace ft
