// Fused AdamW step with PyTorch semantics (decoupled weight decay first, bias-corrected moments,
// eps outside the sqrt) and gradient scaling folded in (clipping). Elementwise, so any split is
// deterministic. Not here: the global gradient norm (reduce.cc sum_squares) or schedules.
#include <cmath>
#include <cstdint>

#include "common.h"
#include "kernels.h"

namespace ft {
namespace {

FT_KERNEL void adamw_range_impl(float* p, const float* g, float* m, float* v, int64_t n, float decay, float b1, float b2,
                           float one_minus_b1, float one_minus_b2, float step_size, float inv_sqrt_bc2, float eps,
                           float gscale) {
  for (int64_t i = 0; i < n; i++) {
    const float gi = g[i] * gscale;
    const float mi = b1 * m[i] + one_minus_b1 * gi;
    const float vi = b2 * v[i] + one_minus_b2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float pi = p[i] * decay;
    p[i] = pi - step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
  }
}
FT_ISA_VARIANTS(adamw_range)

}  // namespace

void adamw(float* p, const float* g, float* m, float* v, int64_t n, double lr, double beta1, double beta2, double eps,
           double weight_decay, double step, double grad_scale) {
  const double bc1 = 1.0 - std::pow(beta1, step);
  const double bc2 = 1.0 - std::pow(beta2, step);
  const float decay = static_cast<float>(1.0 - lr * weight_decay);
  const float step_size = static_cast<float>(lr / bc1);
  const float inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
  // AVX-512 only when p, g, m and v sit at the same offset modulo 64 bytes: otherwise zmm accesses to some
  // of them split cache lines on every access, and on DRAM-sized sets the AVX-512 loop ran at 0.76x the
  // AVX2 one (3M floats, 16-byte skew; 1.00x when co-aligned, 1.4-1.6x in cache).
  const uintptr_t skew = (reinterpret_cast<uintptr_t>(p) ^ reinterpret_cast<uintptr_t>(g)) |
                         (reinterpret_cast<uintptr_t>(p) ^ reinterpret_cast<uintptr_t>(m)) |
                         (reinterpret_cast<uintptr_t>(p) ^ reinterpret_cast<uintptr_t>(v));
  const bool narrow = (skew & 63) != 0 && n * static_cast<int64_t>(sizeof(float)) > (1 << 20) && isa_level() >= kIsaAvx512;
  const auto range = [&](int64_t b, int64_t e) {
#ifdef FT_ISA_X86
    if (narrow) {
      adamw_range_avx2(p + b, g + b, m + b, v + b, e - b, decay, static_cast<float>(beta1), static_cast<float>(beta2),
                       static_cast<float>(1.0 - beta1), static_cast<float>(1.0 - beta2), step_size, inv_sqrt_bc2,
                       static_cast<float>(eps), static_cast<float>(grad_scale));
      return;
    }
#endif
    adamw_range(p + b, g + b, m + b, v + b, e - b, decay, static_cast<float>(beta1), static_cast<float>(beta2),
                static_cast<float>(1.0 - beta1), static_cast<float>(1.0 - beta2), step_size, inv_sqrt_bc2,
                static_cast<float>(eps), static_cast<float>(grad_scale));
  };
  parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) {
    // Start the vector loop on a 64-byte boundary of p: large typed arrays sit 16 bytes past a page
    // boundary (malloc's header), so every 64-byte zmm load and store split two cache lines, which made
    // the AVX-512 variant 10-16% slower than AVX2 on DRAM-sized parameter sets. m, v and g are laid out
    // the same way, so aligning p usually aligns all four. Elementwise: the split changes no result.
    const int64_t mis = static_cast<int64_t>((reinterpret_cast<uintptr_t>(p + b) & 63) / sizeof(float));
    const int64_t head = mis == 0 ? 0 : 16 - mis;
    if (head > 0 && head < e - b) {
      range(b, b + head);
      b += head;
    }
    range(b, e);
  });
}

}  // namespace ft
