// GEMM front end: the single-threaded sgemm (OpenBLAS cblas_sgemm when compiled in and enabled, except
// for the shapes where it is measurably slow, see blas_is_slow_for; else the built-in one), and the
// batched multi-threaded driver behind Backend.gemm.
//
// Threads: OpenBLAS is pinned to ONE thread (openblas_set_num_threads(1)) and we split every product
// ourselves over our pool (threads.cc): by batch entry when batch >= threads, else by blocks of rows or
// columns of C (two per thread, scheduled dynamically).
// One pool means no oversubscription: OpenBLAS's own pthreads spinning beside a second pool put
// 4 busy threads on 2 cores (measured here: 1.1-2x slower); with this split one sgemm reaches the
// same speed as OpenBLAS's own threading on BERT-base shapes (~71 GFLOP/s on 2 cores here both ways).
#include <cstdint>
#include <cstring>
#include <vector>

#include "common.h"
#include "kernels.h"

#ifdef FT_HAVE_CBLAS
// Declared here rather than via <cblas.h>: the Debian/Fedora/Homebrew headers differ, the ABI doesn't.
extern "C" {
void cblas_sgemm(int order, int transA, int transB, int M, int N, int K, float alpha, const float* A, int lda,
                 const float* B, int ldb, float beta, float* C, int ldc);
void openblas_set_num_threads(int n);
char* openblas_get_corename(void);
}
#endif

namespace ft {
namespace {

#ifdef FT_HAVE_CBLAS
bool init_blas() {
  openblas_set_num_threads(1);
  return true;
}
bool g_use_blas = init_blas();

// Whether the OpenBLAS core picked for this CPU has AVX-512 SGEMM kernels. Debian's 0.3.21 does not know
// Zen 4/5 and picks "Haswell" (AVX2) there.
bool blas_core_has_avx512() {
  const char* c = openblas_get_corename();
  if (!c) return false;
  for (const char* k : {"SkylakeX", "skylakex", "Cooperlake", "cooperlake", "SapphireRapids", "sapphirerapids"})
    if (std::strstr(c, k)) return true;
  return false;
}
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;
#else
bool g_use_blas = false;
#endif

constexpr int64_t kMinParallelFlops = 1 << 22;  // ~100 us of work: below it dispatching to the pool costs more than it saves

}  // namespace

const char* blas_compiled() {
#ifdef FT_HAVE_CBLAS
  return "openblas";
#else
  return "builtin";
#endif
}

bool set_use_blas(bool on) {
#ifdef FT_HAVE_CBLAS
  g_use_blas = on;
  return true;
#else
  g_use_blas = false;
  return !on;
#endif
}

bool use_blas() { return g_use_blas; }

const char* blas_core() {
#ifdef FT_HAVE_CBLAS
  const char* c = openblas_get_corename();
  return c ? c : "";
#else
  return "";
#endif
}

// Products OpenBLAS (0.3.21, Debian's) handles badly, measured on BERT's shapes (the built-in kernel
// runs at 34-42 GFLOP/s per core on every shape and placement here, OpenBLAS at up to ~5% more on the
// big ones but, depending on the shape and on where the operands sit in memory, at a third of that):
// - A transposed, B not (every Linear's weight gradient, g^T x): 11 GFLOP/s at 128x128x4096;
// - an output or inner dimension of 128-256 (tiny and mini models): 10-16 GFLOP/s at 1024x128x128 and
//   4096x256x256 on one thread, 23 GFLOP/s on two at 4096x256x1024 inside a training step;
// - at most 64 rows with K <= 1024: 12-16 GFLOP/s.
// OpenBLAS keeps the products with N >= 512 and K >= 384 (BERT-base, bert-small, MiniLM's FFN).
// With the AVX-512 built-in kernel in use and an OpenBLAS core without AVX-512 kernels (Debian's 0.3.21
// on Zen 5 picks Haswell), the built-in kernel wins every shape: 1.7-3x on BERT-base's (bench/isa.ts,
// docs/performance.md), so OpenBLAS is not called at all then.
static bool blas_is_slow_for(bool transA, bool transB, int64_t M, int64_t N, int64_t K) {
#ifdef FT_HAVE_CBLAS
  static const bool blas_avx512 = blas_core_has_avx512();
  if (isa_level() >= kIsaAvx512 && !blas_avx512) return true;
#endif
  return (transA && !transB) || K < 384 || N < 512 || (M <= 64 && K <= 1024);
}

void sgemm_serial(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
#ifdef FT_HAVE_CBLAS
  // int32 limits of the CBLAS interface: larger problems fall back to the built-in kernel.
  const int64_t lim = INT32_MAX;
  if (g_use_blas && K > 0 && M < lim && N < lim && K < lim && lda < lim && ldb < lim && ldc < lim &&
      !blas_is_slow_for(transA, transB, M, N, K)) {
    // Leading dimensions must be >= the row length even for a single row; ours always are
    // except for degenerate 1-row views, which we widen (the extra stride is never stepped over).
    const int64_t la = transA ? (lda < M ? M : lda) : (lda < K ? K : lda);
    const int64_t lb = transB ? (ldb < K ? K : ldb) : (ldb < N ? N : ldb);
    const int64_t lc = ldc < N ? N : ldc;
    cblas_sgemm(kRowMajor, transA ? kTrans : kNoTrans, transB ? kTrans : kNoTrans, static_cast<int>(M),
                static_cast<int>(N), static_cast<int>(K), alpha, A, static_cast<int>(la), B, static_cast<int>(lb), beta,
                C, static_cast<int>(lc));
    return;
  }
#endif
  sgemm_builtin(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

namespace {

// Weight gradients (g^T x: A transposed, a small M x N output, a long inner dimension K = rows of the
// batch): split into kSplitK pieces along K, computed as independent products (in parallel) and summed
// in piece order. Splitting C instead would pack the whole of A once per piece of C; splitting K packs
// every element once. The split depends on the shape only, so the bits do not depend on the thread count.
constexpr int64_t kSplitK = 4;
bool split_k(int64_t batch, bool transA, bool transB, int64_t M, int64_t N, int64_t K) {
  return batch == 1 && transA && !transB && K >= 2048 && M * N <= 512 * 512;
}

// C[i] += P[s * mn + i] for each piece s in order, i in [i0, i1).
FT_KERNEL void add_partials_impl(float* C, const float* P, int64_t mn, int64_t pieces, int64_t i0, int64_t i1) {
  for (int64_t s = 0; s < pieces; s++) {
    const float* p = P + s * mn;
    for (int64_t i = i0; i < i1; i++) C[i] += p[i];
  }
}
FT_ISA_VARIANTS(add_partials)

void gemm_split_k(int64_t M, int64_t N, int64_t K, float alpha, const float* A, const float* B, float beta, float* C) {
  const int64_t lda = M, ldb = N, mn = M * N;
  static thread_local std::vector<float> partial;  // pieces 1.. (piece 0 goes straight into C)
  if (partial.size() < static_cast<size_t>((kSplitK - 1) * mn)) partial.resize(static_cast<size_t>((kSplitK - 1) * mn));
  float* P = partial.data();
  // Piece boundaries on multiples of 256 (the built-in kernel's K block).
  int64_t cut[kSplitK + 1];
  for (int64_t s = 0; s <= kSplitK; s++) cut[s] = s == kSplitK ? K : (K * s / kSplitK) / 256 * 256;
  parallel_for(kSplitK, 1, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; s++) {
      const int64_t k0 = cut[s], kk = cut[s + 1] - k0;
      if (s == 0) sgemm_serial(true, false, M, N, kk, alpha, A, lda, B, ldb, beta, C, N);
      else sgemm_serial(true, false, M, N, kk, alpha, A + k0 * lda, lda, B + k0 * ldb, ldb, 0.0f, P + (s - 1) * mn, N);
    }
  });
  parallel_for(mn, 1 << 14, [&](int64_t i0, int64_t i1) { add_partials(C, P, mn, kSplitK - 1, i0, i1); });
}

}  // namespace

void gemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t aBatchStride,
                  bool transA, const float* b, int64_t bBatchStride, bool transB, float beta, float* c,
                  int64_t cBatchStride) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  if (split_k(batch, transA, transB, M, N, K)) {
    gemm_split_k(M, N, K, alpha, a, b, beta, c);
    return;
  }
  const int64_t lda = transA ? M : K, ldb = transB ? K : N, ldc = N;
  const int nt = num_threads();
  const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  if (nt > 1 && batch >= nt && flops * static_cast<double>(batch) >= kMinParallelFlops) {
    parallel_for(batch, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; i++)
        sgemm_serial(transA, transB, M, N, K, alpha, a + i * aBatchStride, lda, b + i * bBatchStride, ldb, beta,
                     c + i * cBatchStride, ldc);
    });
    return;
  }
  for (int64_t i = 0; i < batch; i++) {
    const float* A = a + i * aBatchStride;
    const float* B = b + i * bBatchStride;
    float* C = c + i * cBatchStride;
    if (nt <= 1 || flops < kMinParallelFlops) {
      sgemm_serial(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      continue;
    }
    // Split the longer side of C into 2 pieces per thread, aligned to the micro-tile (16 columns /
    // 8 rows; 32 columns / 14 rows for the AVX-512 kernel's 14x32 tile), taken dynamically: each piece
    // packs the shared operand once (a few % of its work), and a thread held up by the OS does not hold
    // up the whole product.
    const bool wide = isa_level() >= kIsaAvx512;
    const int64_t cu = wide ? 32 : 16, ru = wide ? 14 : 8;
    const bool byCols = N >= M;
    const int64_t units = byCols ? (N + cu - 1) / cu : (M + ru - 1) / ru;
    const int64_t pieces = units < 2 * nt ? units : 2 * nt;
    parallel_for(pieces, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; p++) {
        const int64_t u0 = units * p / pieces, u1 = units * (p + 1) / pieces;
        if (byCols) {
          const int64_t j0 = u0 * cu, j1 = u1 * cu < N ? u1 * cu : N;
          const float* Bj = transB ? B + j0 * ldb : B + j0;
          sgemm_serial(transA, transB, M, j1 - j0, K, alpha, A, lda, Bj, ldb, beta, C + j0, ldc);
        } else {
          const int64_t i0 = u0 * ru, i1 = u1 * ru < M ? u1 * ru : M;
          const float* Ai = transA ? A + i0 : A + i0 * lda;
          sgemm_serial(transA, transB, i1 - i0, N, K, alpha, Ai, lda, B, ldb, beta, C + i0 * ldc, ldc);
        }
      }
    });
  }
}

}  // namespace ft
