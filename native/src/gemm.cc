// GEMM front end: the single-threaded sgemm used everywhere (OpenBLAS cblas_sgemm when compiled in
// and enabled, else the built-in one), and the batched multi-threaded driver behind Backend.gemm.
//
// Threads: OpenBLAS is pinned to ONE thread (openblas_set_num_threads(1)) and we split every product
// ourselves over our OpenMP pool: by batch entry when batch >= threads, else by blocks of rows or
// columns of C (two per thread, scheduled dynamically).
// One pool means no oversubscription: OpenBLAS's own pthreads spinning beside an OpenMP pool put
// 4 busy threads on 2 cores (measured here: 1.1-2x slower); with this split one sgemm reaches the
// same speed as OpenBLAS's own threading on BERT-base shapes (~71 GFLOP/s on 2 cores here both ways).
#include <cstdint>

#include "common.h"
#include "kernels.h"

#ifdef FT_HAVE_CBLAS
// Declared here rather than via <cblas.h>: the Debian/Fedora/Homebrew headers differ, the ABI doesn't.
extern "C" {
void cblas_sgemm(int order, int transA, int transB, int M, int N, int K, float alpha, const float* A, int lda,
                 const float* B, int ldb, float beta, float* C, int ldc);
void openblas_set_num_threads(int n);
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
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;
#else
bool g_use_blas = false;
#endif

constexpr int64_t kMinParallelFlops = 1 << 22;  // ~100 us of work: below it fork/join costs more than it saves

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

void sgemm_serial(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
#ifdef FT_HAVE_CBLAS
  // int32 limits of the CBLAS interface: larger problems fall back to the built-in kernel.
  const int64_t lim = INT32_MAX;
  if (g_use_blas && K > 0 && M < lim && N < lim && K < lim && lda < lim && ldb < lim && ldc < lim) {
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

void gemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t aBatchStride,
                  bool transA, const float* b, int64_t bBatchStride, bool transB, float beta, float* c,
                  int64_t cBatchStride) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
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
    // 8 rows), taken dynamically: each piece packs the shared operand once (a few % of its work), and
    // a thread held up by the OS does not hold up the whole product.
    const bool byCols = N >= M;
    const int64_t units = byCols ? (N + 15) / 16 : (M + 7) / 8;
    const int64_t pieces = units < 2 * nt ? units : 2 * nt;
    parallel_for(pieces, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; p++) {
        const int64_t u0 = units * p / pieces, u1 = units * (p + 1) / pieces;
        if (byCols) {
          const int64_t j0 = u0 * 16, j1 = u1 * 16 < N ? u1 * 16 : N;
          const float* Bj = transB ? B + j0 * ldb : B + j0;
          sgemm_serial(transA, transB, M, j1 - j0, K, alpha, A, lda, Bj, ldb, beta, C + j0, ldc);
        } else {
          const int64_t i0 = u0 * 8, i1 = u1 * 8 < M ? u1 * 8 : M;
          const float* Ai = transA ? A + i0 : A + i0 * lda;
          sgemm_serial(transA, transB, i1 - i0, N, K, alpha, Ai, lda, B, ldb, beta, C + i0 * ldc, ldc);
        }
      }
    });
  }
}

}  // namespace ft
