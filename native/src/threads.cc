// Process-wide thread settings, the worker pool behind parallel_for (run_chunks), per-thread scratch
// buffers, and the FMA-peak probe used by the benchmarks. Not here: kernels.
//
// The pool: num_threads() - 1 workers started on first use. A job is published by bumping a 64-bit
// ticket (generation | chunk count | next chunk); every thread, the caller included, claims chunks by
// compare-and-swap on the ticket, and the caller returns once the finished-chunk counter reaches the
// chunk count. It never waits for a worker that has not claimed anything, so on a machine with more
// runnable threads than cores (where OpenMP's fork/join barrier stalled whole kernels for a scheduler
// time slice) the worst case is the serial time, not a multiple of it. Idle workers spin ~50 us, then
// sleep on a condition variable. Which thread runs a chunk never changes what the chunk computes.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "common.h"
#include "kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FT_PAUSE() _mm_pause()
#else
#define FT_PAUSE() ((void)0)
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

namespace ft {
namespace {
int initial_threads() {
#ifdef _OPENMP
  int n = omp_get_max_threads();  // the CPU count, or OMP_NUM_THREADS when the user set it
#else
  int n = static_cast<int>(std::thread::hardware_concurrency());
#endif
  return n < 1 ? 1 : n;
}
int g_threads = initial_threads();

// Ticket layout: generation (32 bits) | chunk count (16) | next chunk to claim (16).
constexpr uint64_t kIdxMask = 0xffff;
constexpr int64_t kMaxChunks = 0xffff;
FT_INLINE uint32_t gen_of(uint64_t t) { return static_cast<uint32_t>(t >> 32); }
FT_INLINE int64_t count_of(uint64_t t) { return static_cast<int64_t>((t >> 16) & kIdxMask); }
FT_INLINE int64_t idx_of(uint64_t t) { return static_cast<int64_t>(t & kIdxMask); }

thread_local bool tl_in_job = false;

struct Pool {
  std::atomic<uint64_t> ticket{0};
  std::atomic<ChunkFn> fn{nullptr};
  std::atomic<void*> ctx{nullptr};
  std::atomic<int> active{0};  // workers [0, active) may join the current job
  std::atomic<int64_t> done{0};
  std::atomic<int> sleepers{0};
  std::mutex dispatch;  // one dispatching thread at a time
  std::mutex sleep_m;
  std::condition_variable sleep_cv;
  std::vector<std::thread> workers;

  // Claims and runs chunks of generation g until none is left; returns how many it ran.
  int64_t work(uint32_t g) {
    int64_t ran = 0;
    uint64_t t = ticket.load(std::memory_order_acquire);
    const ChunkFn f = fn.load(std::memory_order_relaxed);
    void* c = ctx.load(std::memory_order_relaxed);
    while (gen_of(t) == g && idx_of(t) < count_of(t)) {
      if (ticket.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        f(c, idx_of(t));
        done.fetch_add(1, std::memory_order_release);
        ran++;
        t = ticket.load(std::memory_order_acquire);
      }
    }
    return ran;
  }

  // `seen`: the generation published before this worker existed (it joins the next one, which may
  // already be out by the time the thread starts).
  void worker_main(int id, uint32_t seen) {
    tl_in_job = true;  // a chunk that calls parallel_for runs it serially
    for (;;) {
      uint64_t t = ticket.load(std::memory_order_acquire);
      if (gen_of(t) == seen) {
        // Spin about 50 us, then sleep until the next job is published.
        auto t0 = std::chrono::steady_clock::now();
        int spins = 0;
        while (gen_of(t = ticket.load(std::memory_order_acquire)) == seen) {
          FT_PAUSE();
          if (++spins % 64 == 0 && std::chrono::steady_clock::now() - t0 > std::chrono::microseconds(50)) {
            std::unique_lock<std::mutex> lk(sleep_m);
            sleepers.fetch_add(1, std::memory_order_seq_cst);
            while (gen_of(t = ticket.load(std::memory_order_seq_cst)) == seen) sleep_cv.wait(lk);
            sleepers.fetch_sub(1, std::memory_order_relaxed);
            break;
          }
        }
      }
      seen = gen_of(t);
      if (id < active.load(std::memory_order_relaxed)) work(seen);
    }
  }

  void ensure_workers(int n) {
    while (static_cast<int>(workers.size()) < n) {
      const int id = static_cast<int>(workers.size());
      const uint32_t seen = gen_of(ticket.load(std::memory_order_relaxed));
      workers.emplace_back([this, id, seen] { worker_main(id, seen); });
      workers.back().detach();
    }
  }

  void run(int64_t chunks, int maxThreads, ChunkFn f, void* c) {
    std::unique_lock<std::mutex> lk(dispatch, std::try_to_lock);
    if (!lk.owns_lock() || tl_in_job || chunks > kMaxChunks) {
      for (int64_t i = 0; i < chunks; i++) f(c, i);
      return;
    }
    const int nw = maxThreads - 1;
    ensure_workers(nw);
    fn.store(f, std::memory_order_relaxed);
    ctx.store(c, std::memory_order_relaxed);
    active.store(nw, std::memory_order_relaxed);
    done.store(0, std::memory_order_relaxed);
    const uint32_t g = gen_of(ticket.load(std::memory_order_relaxed)) + 1;
    ticket.store((static_cast<uint64_t>(g) << 32) | (static_cast<uint64_t>(chunks) << 16), std::memory_order_seq_cst);
    if (sleepers.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> sl(sleep_m);
      sleep_cv.notify_all();
    }
    tl_in_job = true;
    work(g);
    tl_in_job = false;
    // Every chunk is claimed; wait only for chunks still running on workers.
    int spins = 0;
    while (done.load(std::memory_order_acquire) < chunks) {
      FT_PAUSE();
      if (++spins > 4096) std::this_thread::yield();
    }
  }
};

// Never destroyed: detached workers may still be spinning while the process exits.
Pool& pool() {
  static Pool* p = new Pool();
  return *p;
}
}  // namespace

int num_threads() { return g_threads; }

void set_num_threads(int n) { g_threads = n < 1 ? 1 : n; }

void run_chunks(int64_t chunks, int maxThreads, ChunkFn fn, void* ctx) {
  if (chunks <= 0) return;
  if (maxThreads <= 1 || chunks == 1) {
    for (int64_t i = 0; i < chunks; i++) fn(ctx, i);
    return;
  }
  pool().run(chunks, maxThreads, fn, ctx);
}

float* thread_scratch(int slot, size_t floats) {
  // 64-byte aligned, grown geometrically, kept for the thread's lifetime (pool workers persist).
  struct Buf {
    float* p = nullptr;
    size_t n = 0;
    ~Buf() { std::free(p); }
  };
  static thread_local Buf bufs[kScratchSlots];
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

// The same with zmm registers: 12 independent chains cover a 4-cycle latency on two FMA pipes.
FT_TARGET_AVX512 double fma_loop512(int64_t iters) {
  __m512 a0 = _mm512_set1_ps(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0,
         a10 = a0, a11 = a0;
  const __m512 b = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(0.0001f);
  for (int64_t i = 0; i < iters; i++) {
    a0 = _mm512_fmadd_ps(a0, b, c); a1 = _mm512_fmadd_ps(a1, b, c); a2 = _mm512_fmadd_ps(a2, b, c);
    a3 = _mm512_fmadd_ps(a3, b, c); a4 = _mm512_fmadd_ps(a4, b, c); a5 = _mm512_fmadd_ps(a5, b, c);
    a6 = _mm512_fmadd_ps(a6, b, c); a7 = _mm512_fmadd_ps(a7, b, c); a8 = _mm512_fmadd_ps(a8, b, c);
    a9 = _mm512_fmadd_ps(a9, b, c); a10 = _mm512_fmadd_ps(a10, b, c); a11 = _mm512_fmadd_ps(a11, b, c);
    __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7), "+v"(a8),
                     "+v"(a9), "+v"(a10), "+v"(a11));
  }
  __m512 s = _mm512_add_ps(_mm512_add_ps(a0, a1), a11);
  float o[16];
  _mm512_storeu_ps(o, s);
  return o[0];
}

// bf16 dot products (AVX512_BF16 VDPBF16PS: 16 lanes x 2 bf16 pairs, 64 flops per instruction).
__attribute__((target("avx512f,avx512bf16"))) double dpbf16_loop(int64_t iters) {
  __m512 a0 = _mm512_set1_ps(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0,
         a10 = a0, a11 = a0;
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
  for (int64_t i = 0; i < iters; i++) {
    a0 = _mm512_dpbf16_ps(a0, b, b); a1 = _mm512_dpbf16_ps(a1, b, b); a2 = _mm512_dpbf16_ps(a2, b, b);
    a3 = _mm512_dpbf16_ps(a3, b, b); a4 = _mm512_dpbf16_ps(a4, b, b); a5 = _mm512_dpbf16_ps(a5, b, b);
    a6 = _mm512_dpbf16_ps(a6, b, b); a7 = _mm512_dpbf16_ps(a7, b, b); a8 = _mm512_dpbf16_ps(a8, b, b);
    a9 = _mm512_dpbf16_ps(a9, b, b); a10 = _mm512_dpbf16_ps(a10, b, b); a11 = _mm512_dpbf16_ps(a11, b, b);
    __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7), "+v"(a8),
                     "+v"(a9), "+v"(a10), "+v"(a11));
  }
  __m512 s = _mm512_add_ps(_mm512_add_ps(a0, a1), a11);
  float o[16];
  _mm512_storeu_ps(o, s);
  return o[0];
}
#endif
}  // namespace

double fma_peak_gflops(int ms, int isa) {
#if defined(__x86_64__) && defined(__GNUC__)
  // isa 3: bf16 dot products (AVX512_BF16), counted as 2 flops per bf16 multiply-add.
  const bool bf16 = isa == 3 && isa_max() >= kIsaAvx512 && __builtin_cpu_supports("avx512bf16");
  if (!bf16 && (isa < kIsaAvx2 || isa > kIsaAvx512 || isa > isa_max())) return 0.0;
  const bool wide = isa == kIsaAvx512;
  auto loop = [wide, bf16](int64_t n) { return bf16 ? dpbf16_loop(n) : wide ? fma_loop512(n) : fma_loop(n); };
  using clk = std::chrono::steady_clock;
  // Calibrate on one thread, then run every thread for about `ms` milliseconds.
  int64_t iters = 1 << 20;
  auto t0 = clk::now();
  volatile double sink = loop(iters);
  double dt = std::chrono::duration<double>(clk::now() - t0).count();
  int64_t target = static_cast<int64_t>(static_cast<double>(iters) * (ms / 1000.0) / (dt > 0 ? dt : 1e-3));
  if (target < iters) target = iters;
  double flops = 0;
  auto t1 = clk::now();
  parallel_threads(num_threads(), [&](int, int) { sink = sink + loop(target); });
  double secs = std::chrono::duration<double>(clk::now() - t1).count();
  flops = static_cast<double>(target) * 12.0 * (bf16 ? 64.0 : wide ? 32.0 : 16.0) * num_threads();
  (void)sink;
  return flops / secs / 1e9;
#else
  (void)ms;
  (void)isa;
  return 0.0;
#endif
}

}  // namespace ft
