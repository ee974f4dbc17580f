// Branch-free float32 math (exp, tanh, erfc, sigmoid, GELU) that GCC vectorises inside FT_CLONES
// loops, so the transcendental ops run at SIMD speed without -ffast-math or libmvec.
// Accuracy: exp ~1 ulp (Cephes polynomial), tanh ~2 ulp, erfc relative error < ~1e-6.
// Not here: log/pow (rare; they use <cmath>).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common.h"

namespace ft {

FT_INLINE float bits_to_f(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/** e^x. Exact 0 below the denormal range, +inf above ~88.72, NaN in -> NaN out. */
FT_INLINE float vexp(float x) {
  float xc = x < -104.0f ? -104.0f : (x > 88.8f ? 88.8f : x);
  float n = std::rint(xc * 1.44269504088896341f);
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * (r * r) + r + 1.0f;
  // 2^n split in two factors so that n in [-150, 128] never leaves the normal exponent range.
  int32_t ni = static_cast<int32_t>(n);
  int32_t n1 = ni >> 1, n2 = ni - n1;
  y = y * bits_to_f(static_cast<uint32_t>(n1 + 127) << 23) * bits_to_f(static_cast<uint32_t>(n2 + 127) << 23);
  y = x > 88.72283935546875f ? HUGE_VALF : y;
  y = x < -103.972084045410f ? 0.0f : y;
  return x != x ? x : y;
}

/** tanh(x): odd polynomial near 0 (no cancellation), 1 - 2/(e^{2|x|}+1) elsewhere. */
FT_INLINE float vtanh(float x) {
  float a = std::fabs(x);
  float z = x * x;
  float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z + 1.33314422036e-1f) * z -
                 3.33332819422e-1f) * z * x + x;
  float e = vexp(2.0f * a);
  float big = 1.0f - 2.0f / (e + 1.0f);
  big = std::copysign(big, x);
  return a < 0.625f ? small : big;
}

/** 1 / (1 + e^-x). */
FT_INLINE float vsigmoid(float x) { return 1.0f / (1.0f + vexp(-x)); }

/** erfc(z) for z >= 0 (Numerical Recipes' Chebyshev fit, fractional error < 1.2e-7 in exact arithmetic). */
FT_INLINE float verfc_pos(float z) {
  float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  return t * vexp(p - z * z);
}

/** Standard normal CDF Phi(x) = 0.5 erfc(-x/sqrt2), accurate in both tails. */
FT_INLINE float vphi(float x) {
  float e = 0.5f * verfc_pos(std::fabs(x) * 0.70710678118654752f);
  return x >= 0.0f ? 1.0f - e : e;
}

constexpr float kInvSqrt2Pi = 0.39894228040143268f;  // 1/sqrt(2 pi)
constexpr float kGeluTanhK = 0.79788456080286536f;   // sqrt(2/pi)
constexpr float kGeluTanhC = 0.044715f;

/** exact GELU: x * Phi(x). */
FT_INLINE float vgelu(float x) { return x * vphi(x); }
/** d/dx of exact GELU: Phi(x) + x phi(x). */
FT_INLINE float vgelu_grad(float x) { return vphi(x) + x * kInvSqrt2Pi * vexp(-0.5f * x * x); }

/** tanh GELU, written as x * sigmoid(2u) = 0.5 x (1 + tanh u): no cancellation for negative x. */
FT_INLINE float vgelu_tanh(float x) {
  float u = kGeluTanhK * (x + kGeluTanhC * x * x * x);
  return x * vsigmoid(2.0f * u);
}
/** d/dx of tanh GELU: 0.5(1+t) + 0.5 x (1-t^2) k (1 + 3c x^2), t = tanh u. */
FT_INLINE float vgelu_tanh_grad(float x) {
  float u = kGeluTanhK * (x + kGeluTanhC * x * x * x);
  float s = vsigmoid(2.0f * u);  // (1 + t) / 2
  float one_minus_t2 = 4.0f * s * (1.0f - s);
  return s + 0.5f * x * one_minus_t2 * kGeluTanhK * (1.0f + 3.0f * kGeluTanhC * x * x);
}

}  // namespace ft
