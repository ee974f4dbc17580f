// Process-wide thread settings, per-thread scratch buffers, and the FMA-peak probe used by bench/ops.ts.
// Not here: kernels.
#include <chrono>
#include <cstdlib>
#include <vector>

#include "common.h"
#include "kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace ft {
namespace {
int initial_threads() {
#ifdef _OPENMP
  int n = omp_get_max_threads();
  return n < 1 ? 1 : n;
#else
  return 1;
#endif
}
int g_threads = initial_threads();
}  // namespace

int num_threads() { return g_threads; }

void set_num_threads(int n) {
  g_threads = n < 1 ? 1 : n;
#ifdef _OPENMP
  omp_set_num_threads(g_threads);
#endif
}

float* thread_scratch(int slot, size_t floats) {
  // 64-byte aligned, grown geometrically, kept for the thread's lifetime (OpenMP threads persist).
  struct Buf {
    float* p = nullptr;
    size_t n = 0;
    ~Buf() { std::free(p); }
  };
  static thread_local Buf bufs[4];
  Buf& b = bufs[slot];
  if (b.n < floats) {
    std::free(b.p);
    size_t want = floats + floats / 4 + 16;
    size_t bytes = (want * sizeof(float) + 63) / 64 * 64;
    b.p = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!b.p) std::abort();
    b.n = want;
  }
  return b.p;
}

namespace {
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2,fma"))) double fma_loop(int64_t iters) {
  __m256 a0 = _mm256_set1_ps(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0,
         a10 = a0, a11 = a0;
  const __m256 b = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(0.0001f);
  for (int64_t i = 0; i < iters; i++) {
    a0 = _mm256_fmadd_ps(a0, b, c); a1 = _mm256_fmadd_ps(a1, b, c); a2 = _mm256_fmadd_ps(a2, b, c);
    a3 = _mm256_fmadd_ps(a3, b, c); a4 = _mm256_fmadd_ps(a4, b, c); a5 = _mm256_fmadd_ps(a5, b, c);
    a6 = _mm256_fmadd_ps(a6, b, c); a7 = _mm256_fmadd_ps(a7, b, c); a8 = _mm256_fmadd_ps(a8, b, c);
    a9 = _mm256_fmadd_ps(a9, b, c); a10 = _mm256_fmadd_ps(a10, b, c); a11 = _mm256_fmadd_ps(a11, b, c);
    __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5), "+x"(a6), "+x"(a7), "+x"(a8),
                     "+x"(a9), "+x"(a10), "+x"(a11));
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a1), a11);
  float o[8];
  _mm256_storeu_ps(o, s);
  return o[0];
}
#endif
}  // namespace

double fma_peak_gflops(int ms) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return 0.0;
  using clk = std::chrono::steady_clock;
  // Calibrate on one thread, then run every thread for about `ms` milliseconds.
  int64_t iters = 1 << 20;
  auto t0 = clk::now();
  volatile double sink = fma_loop(iters);
  double dt = std::chrono::duration<double>(clk::now() - t0).count();
  int64_t target = static_cast<int64_t>(static_cast<double>(iters) * (ms / 1000.0) / (dt > 0 ? dt : 1e-3));
  if (target < iters) target = iters;
  double flops = 0;
  auto t1 = clk::now();
  parallel_threads(num_threads(), [&](int, int) { sink = sink + fma_loop(target); });
  double secs = std::chrono::duration<double>(clk::now() - t1).count();
  flops = static_cast<double>(target) * 12.0 * 16.0 * num_threads();
  (void)sink;
  return flops / secs / 1e9;
#else
  (void)ms;
  return 0.0;
#endif
}

}  // namespace ft
