// Run-time instruction-set selection: what this CPU and OS support (CPUID + XGETBV) and the level the
// kernels use now (set_isa forces a lower one, so tests and benchmarks can run every variant in one
// process). Not here: the variants themselves (FT_ISA_VARIANTS in common.h, the GEMM micro-kernels).
#include <atomic>

#include "common.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif

namespace ft {
namespace {

#if defined(__x86_64__) && defined(__GNUC__)
// XCR0 (the state components the OS saves on a context switch), 0 when XGETBV is not enabled.
uint64_t xcr0() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return 0;
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}
#endif

int detect() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  const uint64_t x = xcr0();
  const bool ymm = (x & 0x6) == 0x6;             // SSE + AVX state
  const bool zmm = ymm && (x & 0xe0) == 0xe0;    // + opmask, ZMM_Hi256, Hi16_ZMM
  const bool avx2 = ymm && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
  const bool avx512 = avx2 && zmm && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
                      __builtin_cpu_supports("avx512cd");
  return avx512 ? kIsaAvx512 : avx2 ? kIsaAvx2 : kIsaPortable;
#else
  return kIsaPortable;
#endif
}

const int g_isa_max = detect();

}  // namespace

std::atomic<int> g_isa_level{g_isa_max};

int isa_max() { return g_isa_max; }

bool set_isa(int level) {
  if (level < kIsaPortable || level > g_isa_max) return false;
  g_isa_level.store(level, std::memory_order_relaxed);
  return true;
}

const char* isa_name(int level) {
  switch (level) {
    case kIsaAvx512: return "avx512";
    case kIsaAvx2: return "avx2";
    default: return "portable";
  }
}

}  // namespace ft
