// Shared declarations of the bf16 GEMM (gemm_bf16.cc) and the quantised-weight GEMM (quant.cc): the
// scalar bf16 conversions (round-to-nearest-even, NaN kept quiet) and the "B source" through which the
// packed kernel reads a tile of op(B), so a quantised weight is dequantised panel by panel, never whole.
// Not here: kernels (see the .cc files) or N-API.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

namespace ft {

inline uint16_t f32_to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

/** A fp32 tile of op(B) starting at (k0, n0): element (k, n) at p[k*ld + n] (kmajor) or p[n*ld + k]. */
struct BTile {
  const float* p;
  int64_t ld;
  bool kmajor;
};

/** Produces the tile op(B)[k0:k0+kc, n0:n0+nc], using `scratch` (thread-owned) when it must materialise it. */
using BFetch = BTile (*)(const void* ctx, int64_t k0, int64_t kc, int64_t n0, int64_t nc, std::vector<float>& scratch);
struct BSource {
  const void* ctx;
  BFetch fetch;
};

/** C (M, N row-major) = alpha * bf16(op(A)) bf16(op(B)) + beta * C, op(B) read through src. */
void gemm_bf16_source(int64_t M, int64_t N, int64_t K, float alpha, const float* a, bool transA, const BSource& src,
                      float beta, float* c);

}  // namespace ft
