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
// glibc only (ifunc); elsewhere the baseline build is used as is.
#if defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__) && defined(__GNUC__) && !defined(__clang__)
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
 * Parallel loop over [0, n): the range is cut into fixed chunks (at least `grain` long, about 8 per
 * thread) that threads take dynamically, so a thread descheduled by the OS (a busy machine, V8's GC
 * threads) does not stall the others at the barrier. Chunk contents never depend on which thread runs
 * them, so results are bitwise reproducible. Serial when n < 2*grain or one thread is set.
 * f(begin, end) must be safe to run concurrently on disjoint ranges.
 */
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  int nt = num_threads();
  if (grain < 1) grain = 1;
  if (nt <= 1 || n < 2 * grain) {
    f(int64_t{0}, n);
    return;
  }
#ifdef _OPENMP
  int64_t chunk = (n + 8 * nt - 1) / (8 * nt);
  if (chunk < grain) chunk = grain;
  const int64_t chunks = (n + chunk - 1) / chunk;
  if (chunks < nt) nt = static_cast<int>(chunks);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
  for (int64_t c = 0; c < chunks; c++) {
    const int64_t b = c * chunk, e = b + chunk < n ? b + chunk : n;
    f(b, e);
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

// ---- lane-wise reductions: 8 float lanes widened to two 4-double accumulators with GCC vector
// extensions (AVX in the x86-64-v3 clone, SSE2 pairs otherwise; plain auto-vectorisation would need
// -ffast-math to reorder a reduction). Lanes are combined in a fixed order, so results are reproducible.

typedef float ft_v4f __attribute__((vector_size(16)));
typedef float ft_v8f __attribute__((vector_size(32)));
typedef double ft_v4d __attribute__((vector_size(32)));
typedef int32_t ft_v8i __attribute__((vector_size(32)));

FT_INLINE ft_v8f load8(const float* p) {
  ft_v8f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

/** lo += (double) v[0..4), hi += (double) v[4..8). */
FT_INLINE void widen_add(ft_v4d& lo, ft_v4d& hi, ft_v8f v) {
  float t[8];
  std::memcpy(t, &v, sizeof t);
  ft_v4f a, b;
  std::memcpy(&a, t, sizeof a);
  std::memcpy(&b, t + 4, sizeof b);
  lo += __builtin_convertvector(a, ft_v4d);
  hi += __builtin_convertvector(b, ft_v4d);
}

FT_INLINE double hsum(ft_v4d lo, ft_v4d hi) {
  ft_v4d s = lo + hi;
  return (s[0] + s[2]) + (s[1] + s[3]);
}

/** sum x[0..n) in double. */
FT_INLINE double sum_f64(const float* x, int64_t n) {
  ft_v4d lo = {0, 0, 0, 0}, hi = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) widen_add(lo, hi, load8(x + i));
  double tail = 0.0;
  for (; i < n; i++) tail += static_cast<double>(x[i]);
  return hsum(lo, hi) + tail;
}

/** sum x[i]*y[i] in double (products rounded to float first). */
FT_INLINE double dot_f64(const float* x, const float* y, int64_t n) {
  ft_v4d lo = {0, 0, 0, 0}, hi = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) widen_add(lo, hi, load8(x + i) * load8(y + i));
  double tail = 0.0;
  for (; i < n; i++) tail += static_cast<double>(x[i] * y[i]);
  return hsum(lo, hi) + tail;
}

/** sum (x[i]-c)^2 in double. */
FT_INLINE double sumsq_dev_f64(const float* x, double c, int64_t n) {
  ft_v4d lo = {0, 0, 0, 0}, hi = {0, 0, 0, 0};
  const ft_v4d cv = {c, c, c, c};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    ft_v4d a = {0, 0, 0, 0}, b = {0, 0, 0, 0};
    widen_add(a, b, load8(x + i));
    a -= cv;
    b -= cv;
    lo += a * a;
    hi += b * b;
  }
  double tail = 0.0;
  for (; i < n; i++) {
    double d = static_cast<double>(x[i]) - c;
    tail += d * d;
  }
  return hsum(lo, hi) + tail;
}

/** max of x[0..n) (n >= 1); NaN-propagating like Math.max. */
FT_INLINE float max_f32(const float* x, int64_t n) {
  float m = x[0];
  bool nan = false;
  int64_t i = 0;
  if (n >= 8) {
    ft_v8f acc = load8(x);
    ft_v8i bad = acc != acc;
    for (i = 8; i + 8 <= n; i += 8) {
      ft_v8f v = load8(x + i);
      bad |= (v != v);
      acc = v > acc ? v : acc;
    }
    for (int l = 0; l < 8; l++) {
      m = acc[l] > m ? acc[l] : m;
      nan |= bad[l] != 0;
    }
  }
  for (; i < n; i++) {
    float v = x[i];
    nan |= (v != v);
    m = v > m ? v : m;
  }
  return nan ? __builtin_nanf("") : m;
}

/** Scratch memory owned by the calling thread, grown on demand and kept (no per-call page faults). */
float* thread_scratch(int slot, size_t floats);

}  // namespace ft
