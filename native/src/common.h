// Shared helpers for the kernel files: CPU-dispatch attribute, the OpenMP thread count, a
// deterministic static parallel-for, and lane-wise accumulators that vectorise without -ffast-math.
// Not here: any N-API (binding.cc) or any kernel (one .cc per family).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#ifdef _OPENMP
#include <omp.h>
#endif

// FT_CLONES compiles a function twice (x86-64-v3 = AVX2+FMA, and the build baseline) and picks the
// clone at load time (GCC ifunc). Hot loops live in FT_CLONES functions; an OpenMP region must CALL
// such a function, because GCC outlines the region body before cloning (it would not be cloned).
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define FT_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define FT_CLONES
#endif
#define FT_INLINE inline __attribute__((always_inline))

namespace ft {

/** Threads used by every parallel kernel (set by setNumThreads; default: OpenMP's max). */
int num_threads();
void set_num_threads(int n);

/**
 * Static contiguous split of [0, n) over the thread count: thread t gets one fixed range, so the
 * partition (and any per-range arithmetic) depends only on n and the thread count. Serial when n is
 * below 2*grain or one thread is set. f(begin, end) must be safe to run concurrently on disjoint ranges.
 */
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  int nt = num_threads();
  if (grain < 1) grain = 1;
  int64_t maxt = n / grain;
  if (maxt < nt) nt = static_cast<int>(maxt < 1 ? 1 : maxt);
  if (nt <= 1) {
    f(int64_t{0}, n);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
  {
    int t = omp_get_thread_num();
    int T = omp_get_num_threads();
    int64_t b = n * t / T, e = n * (t + 1) / T;
    if (b < e) f(b, e);
  }
#else
  f(int64_t{0}, n);
#endif
}

/** Runs f(t, T) once on each of T threads (T = min(num_threads(), maxT)). */
template <class F>
void parallel_threads(int maxT, F&& f) {
  int nt = num_threads();
  if (maxT < nt) nt = maxT < 1 ? 1 : maxT;
  if (nt <= 1) {
    f(0, 1);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
  f(omp_get_thread_num(), omp_get_num_threads());
#else
  f(0, 1);
#endif
}

// ---- lane-wise reductions: 8 independent lanes (vectorisable without reassociation flags), lanes
// combined in a fixed order, so results are reproducible bit for bit.

/** sum x[0..n) in double. */
FT_INLINE double sum_f64(const float* x, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) acc[l] += static_cast<double>(x[i + l]);
  for (int l = 0; i < n; i++, l++) acc[l] += static_cast<double>(x[i]);
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/** sum x[i]*y[i] in double. */
FT_INLINE double dot_f64(const float* x, const float* y, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) acc[l] += static_cast<double>(x[i + l]) * static_cast<double>(y[i + l]);
  for (int l = 0; i < n; i++, l++) acc[l] += static_cast<double>(x[i]) * static_cast<double>(y[i]);
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/** sum (x[i]-c)^2 in double. */
FT_INLINE double sumsq_dev_f64(const float* x, double c, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) {
      double d = static_cast<double>(x[i + l]) - c;
      acc[l] += d * d;
    }
  for (int l = 0; i < n; i++, l++) {
    double d = static_cast<double>(x[i]) - c;
    acc[l] += d * d;
  }
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/** max of x[0..n) (n >= 1); NaN-propagating like Math.max. */
FT_INLINE float max_f32(const float* x, int64_t n) {
  float acc[8];
  for (int l = 0; l < 8; l++) acc[l] = x[0];
  int64_t i = 0;
  bool nan = false;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) {
      float v = x[i + l];
      nan |= (v != v);
      acc[l] = v > acc[l] ? v : acc[l];
    }
  for (int l = 0; i < n; i++, l++) {
    float v = x[i];
    nan |= (v != v);
    acc[l] = v > acc[l] ? v : acc[l];
  }
  float m = acc[0];
  for (int l = 1; l < 8; l++) m = acc[l] > m ? acc[l] : m;
  return nan ? __builtin_nanf("") : m;
}

/** Scratch memory owned by the calling thread, grown on demand and kept (no per-call page faults). */
float* thread_scratch(int slot, size_t floats);

}  // namespace ft
