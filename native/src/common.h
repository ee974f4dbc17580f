// Shared helpers for the kernel files: CPU-dispatch attribute, the thread count, a deterministic
// parallel-for over the pool in threads.cc, and lane-wise accumulators that vectorise without -ffast-math.
// Not here: any N-API (binding.cc) or any kernel (one .cc per family).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

// ISA variants, chosen at RUN time (so tests can force each one, see set_isa): a hot function is written
// once as `FT_KERNEL ret name_impl(...)` (always inlined, no target of its own) and FT_ISA_VARIANTS(name)
// then defines name_base (the build baseline, x86-64-v2 on x64), name_avx2 (AVX2+FMA, x86-64-v3) and
// name_avx512 (AVX-512 F/BW/DQ/VL/CD, x86-64-v4, 512-bit vectors preferred), each compiling the inlined
// body for its own ISA, plus `name(...)` which calls the one for isa_level(). A parallel_for body (a
// lambda, not cloned) must CALL such a function to get the wide code. GCC/clang on x86-64 only;
// elsewhere `name` is the body itself.
#if defined(__x86_64__) && defined(__GNUC__)
#define FT_ISA_X86 1
#define FT_TARGET_AVX2 __attribute__((target("avx2,fma,bmi,bmi2,f16c,lzcnt,movbe")))
#if defined(__clang__)  // clang: no prefer-vector-width in target(); its generic tuning already prefers 512
#define FT_TARGET_AVX512 \
  __attribute__((target("avx2,fma,bmi,bmi2,f16c,lzcnt,movbe,avx512f,avx512bw,avx512dq,avx512vl,avx512cd")))
#else
#define FT_TARGET_AVX512                                                                                     \
  __attribute__((target("avx2,fma,bmi,bmi2,f16c,lzcnt,movbe,avx512f,avx512bw,avx512dq,avx512vl,avx512cd," \
                        "prefer-vector-width=512")))
#endif
#define FT_ISA_VARIANTS(name)                                                                                \
  template <class... A>                                                                                     \
  __attribute__((noinline)) auto name##_base(A... a) { return name##_impl(a...); }                         \
  template <class... A>                                                                                     \
  __attribute__((noinline)) FT_TARGET_AVX2 auto name##_avx2(A... a) { return name##_impl(a...); }          \
  template <class... A>                                                                                     \
  __attribute__((noinline)) FT_TARGET_AVX512 auto name##_avx512(A... a) { return name##_impl(a...); }      \
  template <class... A>                                                                                     \
  inline auto name(A... a) {                                                                                \
    const int l_ = ::ft::isa_level();                                                                       \
    if (l_ >= ::ft::kIsaAvx512) return name##_avx512(a...);                                                 \
    if (l_ == ::ft::kIsaAvx2) return name##_avx2(a...);                                                     \
    return name##_base(a...);                                                                               \
  }
#else
#define FT_ISA_VARIANTS(name) \
  template <class... A>       \
  inline auto name(A... a) {  \
    return name##_impl(a...); \
  }
#endif
#define FT_INLINE inline __attribute__((always_inline))
/** The body of an FT_ISA_VARIANTS function (name it name_impl). */
#define FT_KERNEL static FT_INLINE

namespace ft {

/** Instruction-set levels of the kernels (isa.cc). */
enum IsaLevel : int { kIsaPortable = 0, kIsaAvx2 = 1, kIsaAvx512 = 2 };
/** The widest level this CPU and OS support (AVX-512 needs the OS to save zmm/opmask state: XCR0). */
int isa_max();
/** The level the kernels use now (default: isa_max()); read once per kernel call or chunk. */
extern std::atomic<int> g_isa_level;
inline int isa_level() { return g_isa_level.load(std::memory_order_relaxed); }
/** Use `level` from now on; false (nothing changed) when the CPU or OS does not support it. */
bool set_isa(int level);
/** "portable", "avx2", "avx512". */
const char* isa_name(int level);

/** Threads used by every parallel kernel (set by setNumThreads; default: the CPUs this process may use). */
int num_threads();
void set_num_threads(int n);

/** A unit of parallel work: run chunk number `chunk` of the job described by ctx. */
using ChunkFn = void (*)(void* ctx, int64_t chunk);

/**
 * Runs fn(ctx, c) for every c in [0, chunks) on the calling thread and up to maxThreads - 1 pool
 * workers (threads.cc). Chunks are taken dynamically; the call returns as soon as every chunk has
 * FINISHED, without waiting for late workers to check in, so a worker the OS has descheduled (a busy
 * machine, V8's GC threads) costs nothing: the caller runs the chunks itself. Nested calls (from inside
 * a chunk) and calls while another thread is dispatching run serially on the caller.
 */
void run_chunks(int64_t chunks, int maxThreads, ChunkFn fn, void* ctx);

/**
 * Parallel loop over [0, n): the range is cut into fixed chunks (at least `grain` long, about 8 per
 * thread) that threads take dynamically. Chunk boundaries depend only on n, grain and the thread count,
 * never on which thread runs a chunk, so results are bitwise reproducible for a given thread count.
 * Serial when n < 2*grain or one thread is set. f(begin, end) must be safe to run concurrently on
 * disjoint ranges.
 */
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  const int nt = num_threads();
  if (grain < 1) grain = 1;
  if (nt <= 1 || n < 2 * grain) {
    f(int64_t{0}, n);
    return;
  }
  int64_t chunk = (n + 8 * nt - 1) / (8 * nt);
  if (chunk < grain) chunk = grain;
  using Fn = std::remove_reference_t<F>;
  struct Ctx {
    Fn* f;
    int64_t n, chunk;
  } ctx{&f, n, chunk};
  run_chunks((n + chunk - 1) / chunk, nt,
             [](void* p, int64_t c) {
               auto* x = static_cast<Ctx*>(p);
               const int64_t b = c * x->chunk, e = b + x->chunk < x->n ? b + x->chunk : x->n;
               (*x->f)(b, e);
             },
             &ctx);
}

/** Runs f(t, T) once for each t < T (T = min(num_threads(), maxT)), on up to T threads at once. */
template <class F>
void parallel_threads(int maxT, F&& f) {
  int nt = num_threads();
  if (maxT < nt) nt = maxT < 1 ? 1 : maxT;
  if (nt <= 1) {
    f(0, 1);
    return;
  }
  using Fn = std::remove_reference_t<F>;
  struct Ctx {
    Fn* f;
    int T;
  } ctx{&f, nt};
  run_chunks(nt, nt, [](void* p, int64_t c) { auto* x = static_cast<Ctx*>(p); (*x->f)(static_cast<int>(c), x->T); }, &ctx);
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

/**
 * Scratch memory owned by the calling thread, grown on demand and kept (no per-call page faults).
 * Slots: 0-1 built-in GEMM packing, 2-5 attention (scores, probabilities, transposed K/V, GEMM tails).
 */
constexpr int kScratchSlots = 6;
float* thread_scratch(int slot, size_t floats);

}  // namespace ft
