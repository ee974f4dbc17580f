// Elementwise kernels: unary ops and their derivatives, broadcasting binary ops over strided views,
// where, strided copy with dtype conversion, fill, axpy and counter-hash dropout.
// Parallel over fixed ranges of the output; each element is computed independently (deterministic).
// Not here: reductions (reduce.cc) or anything touching N-API.
#include <cmath>

#include "common.h"
#include "kernels.h"
#include "rng.h"
#include "vmath.h"

namespace ft {
namespace {

constexpr int64_t kGrain = 1 << 15;  // below ~32K elements dispatching to the pool costs more than it saves

FT_KERNEL void unary_range_impl(int op, const float* x, float* out, int64_t n, float alpha) {
  switch (op) {
    case U_NEG: for (int64_t i = 0; i < n; i++) out[i] = -x[i]; break;
    case U_EXP: for (int64_t i = 0; i < n; i++) out[i] = vexp(x[i]); break;
    case U_LOG: for (int64_t i = 0; i < n; i++) out[i] = std::log(x[i]); break;
    case U_SQRT: for (int64_t i = 0; i < n; i++) out[i] = std::sqrt(x[i]); break;
    case U_RSQRT: for (int64_t i = 0; i < n; i++) out[i] = 1.0f / std::sqrt(x[i]); break;
    case U_ABS: for (int64_t i = 0; i < n; i++) out[i] = std::fabs(x[i]); break;
    case U_SQUARE: for (int64_t i = 0; i < n; i++) out[i] = x[i] * x[i]; break;
    case U_TANH: for (int64_t i = 0; i < n; i++) out[i] = vtanh(x[i]); break;
    case U_SIGMOID: for (int64_t i = 0; i < n; i++) out[i] = vsigmoid(x[i]); break;
    case U_RELU:
      for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        out[i] = v > 0.0f ? v : 0.0f;  // NaN -> 0, as the reference
      }
      break;
    case U_GELU: for (int64_t i = 0; i < n; i++) out[i] = vgelu(x[i]); break;
    case U_GELU_TANH: for (int64_t i = 0; i < n; i++) out[i] = vgelu_tanh(x[i]); break;
    case U_SILU: for (int64_t i = 0; i < n; i++) out[i] = x[i] * vsigmoid(x[i]); break;
    case U_SCALE: for (int64_t i = 0; i < n; i++) out[i] = alpha * x[i]; break;
    case U_ADD_SCALAR: for (int64_t i = 0; i < n; i++) out[i] = x[i] + alpha; break;
    case U_POW:
      if (alpha == 2.0f) {
        for (int64_t i = 0; i < n; i++) out[i] = x[i] * x[i];
      } else {
        for (int64_t i = 0; i < n; i++) out[i] = std::pow(x[i], alpha);
      }
      break;
    case U_RECIP: for (int64_t i = 0; i < n; i++) out[i] = 1.0f / x[i]; break;
    default: break;
  }
}
FT_ISA_VARIANTS(unary_range)

FT_KERNEL void unary_backward_range_impl(int op, const float* x, const float* y, const float* gy, float* gx, int64_t n,
                                    float alpha) {
  switch (op) {
    case U_NEG: for (int64_t i = 0; i < n; i++) gx[i] = -gy[i]; break;
    case U_EXP: for (int64_t i = 0; i < n; i++) gx[i] = gy[i] * y[i]; break;
    case U_LOG: for (int64_t i = 0; i < n; i++) gx[i] = gy[i] / x[i]; break;
    case U_SQRT: for (int64_t i = 0; i < n; i++) gx[i] = gy[i] * 0.5f / y[i]; break;
    case U_RSQRT: for (int64_t i = 0; i < n; i++) gx[i] = gy[i] * -0.5f * y[i] * y[i] * y[i]; break;
    case U_ABS:
      for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        gx[i] = v > 0.0f ? gy[i] : (v < 0.0f ? -gy[i] : 0.0f * gy[i]);
      }
      break;
    case U_SQUARE: for (int64_t i = 0; i < n; i++) gx[i] = gy[i] * 2.0f * x[i]; break;
    case U_TANH: for (int64_t i = 0; i < n; i++) gx[i] = gy[i] * (1.0f - y[i] * y[i]); break;
    case U_SIGMOID: for (int64_t i = 0; i < n; i++) gx[i] = gy[i] * y[i] * (1.0f - y[i]); break;
    case U_RELU: for (int64_t i = 0; i < n; i++) gx[i] = x[i] > 0.0f ? gy[i] : 0.0f; break;
    case U_GELU: for (int64_t i = 0; i < n; i++) gx[i] = gy[i] * vgelu_grad_y(x[i], y[i]); break;
    case U_GELU_TANH: for (int64_t i = 0; i < n; i++) gx[i] = gy[i] * vgelu_tanh_grad(x[i]); break;
    case U_SILU:
      for (int64_t i = 0; i < n; i++) {
        float s = vsigmoid(x[i]);
        gx[i] = gy[i] * s * (1.0f + x[i] * (1.0f - s));
      }
      break;
    case U_SCALE: for (int64_t i = 0; i < n; i++) gx[i] = gy[i] * alpha; break;
    case U_ADD_SCALAR: for (int64_t i = 0; i < n; i++) gx[i] = gy[i]; break;
    case U_POW:
      for (int64_t i = 0; i < n; i++) gx[i] = gy[i] * alpha * std::pow(x[i], alpha - 1.0f);
      break;
    case U_RECIP: for (int64_t i = 0; i < n; i++) gx[i] = -gy[i] * y[i] * y[i]; break;
    default: break;
  }
}
FT_ISA_VARIANTS(unary_backward_range)

// One binary op over n elements with inner strides sa, sb (contiguous and broadcast cases vectorise).
template <class F>
FT_INLINE void binary_loop(F f, const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; i++) out[i] = f(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float bv = *b;
    for (int64_t i = 0; i < n; i++) out[i] = f(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const float av = *a;
    for (int64_t i = 0; i < n; i++) out[i] = f(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; i++) out[i] = f(a[i * sa], b[i * sb]);
  }
}

// NaN-propagating max/min; ties (and -0 vs +0) return a, exactly as the reference.
FT_INLINE float fmax_js(float a, float b) { return (a >= b || a != a) ? a : b; }
FT_INLINE float fmin_js(float a, float b) { return (a <= b || a != a) ? a : b; }

FT_INLINE void binary_inner(int op, const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  switch (op) {
    case B_ADD: binary_loop([](float p, float q) { return p + q; }, a, sa, b, sb, out, n); break;
    case B_SUB: binary_loop([](float p, float q) { return p - q; }, a, sa, b, sb, out, n); break;
    case B_MUL: binary_loop([](float p, float q) { return p * q; }, a, sa, b, sb, out, n); break;
    case B_DIV: binary_loop([](float p, float q) { return p / q; }, a, sa, b, sb, out, n); break;
    case B_MAXIMUM: binary_loop([](float p, float q) { return fmax_js(p, q); }, a, sa, b, sb, out, n); break;
    case B_MINIMUM: binary_loop([](float p, float q) { return fmin_js(p, q); }, a, sa, b, sb, out, n); break;
    case B_EQ: binary_loop([](float p, float q) { return p == q ? 1.0f : 0.0f; }, a, sa, b, sb, out, n); break;
    case B_GT: binary_loop([](float p, float q) { return p > q ? 1.0f : 0.0f; }, a, sa, b, sb, out, n); break;
    case B_LT: binary_loop([](float p, float q) { return p < q ? 1.0f : 0.0f; }, a, sa, b, sb, out, n); break;
    default: break;
  }
}

/**
 * Drops size-1 dims and merges adjacent dims that are contiguous in every operand (strided[k] for k <
 * nops), so most loops end up with one long innermost run. Returns the new rank (>= 1).
 */
int collapse(int ndim, const int64_t* shape, int nops, const int64_t* const* strides, int64_t* oshape,
             int64_t (*ostrides)[kMaxDims]) {
  int r = 0;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] == 1) continue;
    if (r > 0) {
      bool merge = true;
      for (int k = 0; k < nops; k++)
        if (ostrides[k][r - 1] != strides[k][d] * shape[d]) merge = false;
      if (merge) {
        oshape[r - 1] *= shape[d];
        for (int k = 0; k < nops; k++) ostrides[k][r - 1] = strides[k][d];
        continue;
      }
    }
    oshape[r] = shape[d];
    for (int k = 0; k < nops; k++) ostrides[k][r] = strides[k][d];
    r++;
  }
  if (r == 0) {
    oshape[0] = 1;
    for (int k = 0; k < nops; k++) ostrides[k][0] = 0;
    r = 1;
  }
  return r;
}

/**
 * Calls seg(offsets[], outPos, len) for each innermost run of the linear range [begin, end). Offsets
 * are kept up to date incrementally (one add per run, plus a carry when a dimension wraps), so short
 * runs (a 32-float head of a permuted (B, T, H, D) tensor) cost little more than their copy.
 */
template <int NOPS, class F>
FT_INLINE void walk(int nd, const int64_t* shape, const int64_t (*st)[kMaxDims], int64_t begin, int64_t end, F seg) {
  int64_t idx[kMaxDims];
  int64_t rem = begin;
  for (int d = nd - 1; d >= 0; d--) {
    idx[d] = rem % shape[d];
    rem /= shape[d];
  }
  int64_t off[NOPS];
  for (int k = 0; k < NOPS; k++) {
    int64_t o = 0;
    for (int d = 0; d < nd; d++) o += idx[d] * st[k][d];
    off[k] = o;
  }
  int64_t pos = begin;
  const int last = nd - 1;
  while (pos < end) {
    int64_t len = shape[last] - idx[last];
    if (len > end - pos) len = end - pos;
    seg(off, pos, len);
    pos += len;
    idx[last] += len;
    for (int k = 0; k < NOPS; k++) off[k] += len * st[k][last];
    for (int d = last; d > 0 && idx[d] >= shape[d]; d--) {
      for (int k = 0; k < NOPS; k++) off[k] += st[k][d - 1] - shape[d] * st[k][d];
      idx[d] = 0;
      idx[d - 1]++;
    }
  }
}

FT_INLINE int32_t to_int32_js(float f) {
  if (f > -2147483648.0f && f < 2147483648.0f) return static_cast<int32_t>(f);  // NaN fails both tests
  if (!std::isfinite(f)) return 0;
  double m = std::fmod(std::trunc(static_cast<double>(f)), 4294967296.0);
  if (m < 0) m += 4294967296.0;
  if (m >= 2147483648.0) m -= 4294967296.0;
  return static_cast<int32_t>(m);
}

template <class S, class D, class Conv>
FT_INLINE void copy_loop(const S* s, int64_t ss, D* d, int64_t ds, int64_t n, Conv conv) {
  if (ss == 1 && ds == 1) {
    for (int64_t i = 0; i < n; i++) d[i] = conv(s[i]);
  } else if (ds == 1) {
    for (int64_t i = 0; i < n; i++) d[i] = conv(s[i * ss]);
  } else {
    for (int64_t i = 0; i < n; i++) d[i * ds] = conv(s[i * ss]);
  }
}

FT_INLINE void copy_inner(int st, const void* s, int64_t ss, int dt, void* d, int64_t ds, int64_t n) {
  if (st == T_F32 && dt == T_F32)
    copy_loop(static_cast<const float*>(s), ss, static_cast<float*>(d), ds, n, [](float v) { return v; });
  else if (st == T_I32 && dt == T_I32)
    copy_loop(static_cast<const int32_t*>(s), ss, static_cast<int32_t*>(d), ds, n, [](int32_t v) { return v; });
  else if (st == T_I32 && dt == T_F32)
    copy_loop(static_cast<const int32_t*>(s), ss, static_cast<float*>(d), ds, n,
              [](int32_t v) { return static_cast<float>(v); });
  else
    copy_loop(static_cast<const float*>(s), ss, static_cast<int32_t*>(d), ds, n, [](float v) { return to_int32_js(v); });
}

// The strided walks with the per-run loops inlined (one dispatch per range, not per run).
FT_KERNEL void binary_range_impl(int op, int nd, const int64_t* cs, const int64_t (*cst)[kMaxDims], int64_t begin,
                            int64_t end, const float* a, const float* b, float* out) {
  walk<2>(nd, cs, cst, begin, end, [&](const int64_t* off, int64_t pos, int64_t len) {
    binary_inner(op, a + off[0], cst[0][nd - 1], b + off[1], cst[1][nd - 1], out + pos, len);
  });
}
FT_ISA_VARIANTS(binary_range)

FT_KERNEL void copy_range_impl(int nd, const int64_t* cs, const int64_t (*cst)[kMaxDims], int64_t begin, int64_t end,
                          const void* src, int src_type, void* dst, int dst_type) {
  // float32 and int32 are both 4 bytes
  walk<2>(nd, cs, cst, begin, end, [&](const int64_t* off, int64_t, int64_t len) {
    copy_inner(src_type, static_cast<const char*>(src) + off[0] * 4, cst[0][nd - 1], dst_type,
               static_cast<char*>(dst) + off[1] * 4, cst[1][nd - 1], len);
  });
}
FT_ISA_VARIANTS(copy_range)

// In double, as the reference: the product is exact, one rounding to double, one to float. (The float
// form `y += alpha * x` was contracted to an FMA in the AVX2 build but rounded twice in the baseline
// one, so the portable variant, untested until setIsa existed, differed from the reference.)
FT_KERNEL void axpy_range_impl(float alpha, const float* x, float* y, int64_t n) {
  const double a = static_cast<double>(alpha);
  for (int64_t i = 0; i < n; i++) y[i] = static_cast<float>(static_cast<double>(y[i]) + a * static_cast<double>(x[i]));
}
FT_ISA_VARIANTS(axpy_range)

FT_KERNEL void where_range_impl(const float* c, const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = c[i] != 0.0f ? a[i] : b[i];
}
FT_ISA_VARIANTS(where_range)

FT_KERNEL void dropout_range_impl(const float* x, float* out, int64_t n, uint64_t base, uint32_t seed_mixed,
                             uint32_t threshold, double scale) {
  uint32_t mi = static_cast<uint32_t>(base) * kIndexMul;
  for (int64_t i = 0; i < n; i++) {
    const uint32_t h = hash32_mixed(seed_mixed, mi);
    mi += kIndexMul;
    // x * (1/(1-p)) in double, rounded once: bit-identical to the reference on float32.
    out[i] = h >= threshold ? static_cast<float>(static_cast<double>(x[i]) * scale) : 0.0f;
  }
}
FT_ISA_VARIANTS(dropout_range)

}  // namespace

void unary(int op, const float* x, float* out, int64_t n, float alpha) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) { unary_range(op, x + b, out + b, e - b, alpha); });
}

void unary_backward(int op, const float* x, const float* y, const float* gy, float* gx, int64_t n, float alpha) {
  parallel_for(n, kGrain / 2, [&](int64_t b, int64_t e) {
    unary_backward_range(op, x ? x + b : nullptr, y ? y + b : nullptr, gy + b, gx + b, e - b, alpha);
  });
}

void binary(int op, int ndim, const int64_t* shape, const float* a, const int64_t* as, const float* b,
            const int64_t* bs, float* out) {
  int64_t total = 1;
  for (int d = 0; d < ndim; d++) total *= shape[d];
  if (total == 0) return;
  // out is contiguous: its strides are the suffix products of shape.
  int64_t os[kMaxDims];
  int64_t acc = 1;
  for (int d = ndim - 1; d >= 0; d--) {
    os[d] = acc;
    acc *= shape[d];
  }
  const int64_t* in[3] = {as, bs, os};
  int64_t cs[kMaxDims];
  int64_t cst[3][kMaxDims];
  int nd = collapse(ndim, shape, 3, in, cs, cst);
  parallel_for(total, kGrain, [&](int64_t begin, int64_t end) { binary_range(op, nd, cs, cst, begin, end, a, b, out); });
}

void where(const float* cond, const float* a, const float* b, float* out, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t s, int64_t e) { where_range(cond + s, a + s, b + s, out + s, e - s); });
}

void copy_strided(int ndim, const int64_t* shape, const void* src, int src_type, const int64_t* ss, void* dst,
                  int dst_type, const int64_t* ds) {
  int64_t total = 1;
  for (int d = 0; d < ndim; d++) total *= shape[d];
  if (total == 0) return;
  const int64_t* in[2] = {ss, ds};
  int64_t cs[kMaxDims];
  int64_t cst[2][kMaxDims];
  int nd = collapse(ndim, shape, 2, in, cs, cst);
  // A destination stride 0 over a dim of size > 1 writes one element many times: keep the serial
  // (last write wins) order then.
  bool overlapping = false;
  for (int d = 0; d < nd; d++)
    if (cst[1][d] == 0 && cs[d] > 1) overlapping = true;
  auto run = [&](int64_t begin, int64_t end) { copy_range(nd, cs, cst, begin, end, src, src_type, dst, dst_type); };
  if (overlapping)
    run(0, total);
  else
    parallel_for(total, kGrain, run);
}

void fill_f32(float* x, float v, int64_t n) {
  parallel_for(n, kGrain * 4, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) x[i] = v;
  });
}

void fill_i32(int32_t* x, int32_t v, int64_t n) {
  parallel_for(n, kGrain * 4, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) x[i] = v;
  });
}

void axpy(float alpha, const float* x, float* y, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) { axpy_range(alpha, x + b, y + b, e - b); });
}

void dropout(const float* x, float* out, int64_t n, double p, uint32_t seed) {
  const uint32_t thr = dropout_threshold(p);
  const uint32_t sm = fmix32(seed);
  const double scale = 1.0 / (1.0 - p);
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    dropout_range(x + b, out + b, e - b, static_cast<uint64_t>(b), sm, thr, scale);
  });
}

}  // namespace ft
