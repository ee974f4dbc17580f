// Reductions: sum / max (+ first argmax) over the middle axis of a contiguous (outer, axis, inner)
// view, and a float64 sum of squares. Sums accumulate in double. The split of the work is fixed by
// the shapes alone (never by the thread count), so results are bitwise reproducible on any thread count.
// Not here: fused row ops (softmax.cc, norm.cc).
#include <cmath>
#include <vector>

#include "common.h"
#include "kernels.h"

namespace ft {
namespace {

constexpr int64_t kInnerBlock = 256;    // output columns per task when inner > 1
constexpr int64_t kAxisChunks = 16;     // fixed number of axis chunks when there are too few tasks
constexpr int64_t kSplitMin = 1 << 16;  // only split the axis when a task holds more elements than this
constexpr int64_t kFewTasks = 8;        // ... and there are fewer tasks than this

// sum over a in [a0, a1) of x[a*inner + i] for i in [0, w), into acc (double), w <= kInnerBlock.
FT_KERNEL void sum_cols_impl(const float* x, int64_t inner, int64_t a0, int64_t a1, int64_t w, double* acc) {
  for (int64_t i = 0; i < w; i++) acc[i] = 0.0;
  if (inner == 1) {
    acc[0] = sum_f64(x + a0, a1 - a0);
    return;
  }
  // Four rows per sweep keep acc in registers between them; the additions happen in the same order
  // as one row at a time (acc + r0 + r1 + r2 + r3, left to right), so the bits are the same.
  int64_t a = a0;
  for (; a + 4 <= a1; a += 4) {
    const float* r0 = x + a * inner;
    const float* r1 = r0 + inner;
    const float* r2 = r1 + inner;
    const float* r3 = r2 + inner;
    for (int64_t i = 0; i < w; i++) {
      double s = acc[i] + static_cast<double>(r0[i]);
      s += static_cast<double>(r1[i]);
      s += static_cast<double>(r2[i]);
      acc[i] = s + static_cast<double>(r3[i]);
    }
  }
  for (; a < a1; a++) {
    const float* row = x + a * inner;
    for (int64_t i = 0; i < w; i++) acc[i] += static_cast<double>(row[i]);
  }
}
FT_ISA_VARIANTS(sum_cols)

// max over a in [a0, a1) with first argmax; a NaN wins (and stays) like Math.max propagates it.
FT_KERNEL void max_cols_impl(const float* x, int64_t inner, int64_t a0, int64_t a1, int64_t w, float* m, int32_t* arg) {
  for (int64_t i = 0; i < w; i++) {
    m[i] = x[a0 * inner + i];
    arg[i] = static_cast<int32_t>(a0);
  }
  for (int64_t a = a0 + 1; a < a1; a++) {
    const float* row = x + a * inner;
    for (int64_t i = 0; i < w; i++) {
      float v = row[i];
      bool take = (v > m[i] || (v != v && m[i] == m[i]));
      m[i] = take ? v : m[i];
      arg[i] = take ? static_cast<int32_t>(a) : arg[i];
    }
  }
}
FT_ISA_VARIANTS(max_cols)

FT_KERNEL double sumsq_range_impl(const float* x, int64_t n) { return sumsq_dev_f64(x, 0.0, n); }
FT_ISA_VARIANTS(sumsq_range)

}  // namespace

void reduce(int op, const float* x, int64_t outer, int64_t axis, int64_t inner, float* out, int32_t* argmax) {
  if (outer == 0 || inner == 0) return;
  if (axis == 0) {  // empty reduction: sum 0, max -inf with argmax 0 (as the reference)
    for (int64_t i = 0; i < outer * inner; i++) {
      out[i] = op == R_SUM ? 0.0f : -__builtin_inff();
      if (argmax && op == R_MAX) argmax[i] = 0;
    }
    return;
  }
  const int64_t iblocks = (inner + kInnerBlock - 1) / kInnerBlock;
  const int64_t tasks = outer * iblocks;
  const int64_t per_task = axis * (inner < kInnerBlock ? inner : kInnerBlock);
  // Few big tasks: cut the axis into a fixed number of chunks, reduce chunks in parallel, combine in order.
  // (Decided from the shapes only, never the thread count, so the bits do not depend on it.)
  const int64_t chunks = (tasks < kFewTasks && per_task > kSplitMin && axis >= kAxisChunks) ? kAxisChunks : 1;
  const int64_t units = tasks * chunks;
  const int64_t W = inner < kInnerBlock ? inner : kInnerBlock;
  std::vector<double> psum;
  std::vector<float> pmax;
  std::vector<int32_t> parg;
  if (chunks > 1) {
    if (op == R_SUM) psum.resize(static_cast<size_t>(units * W));
    else { pmax.resize(static_cast<size_t>(units * W)); parg.resize(static_cast<size_t>(units * W)); }
  }
  const int64_t grain = per_task / chunks >= (1 << 14) ? 1 : (1 << 14) / (per_task / chunks + 1) + 1;
  parallel_for(units, grain, [&](int64_t ub, int64_t ue) {
    double accd[kInnerBlock];
    float accm[kInnerBlock];
    int32_t acca[kInnerBlock];
    for (int64_t u = ub; u < ue; u++) {
      const int64_t t = u / chunks, c = u % chunks;
      const int64_t o = t / iblocks, i0 = (t % iblocks) * kInnerBlock;
      const int64_t w = inner - i0 < kInnerBlock ? inner - i0 : kInnerBlock;
      const int64_t a0 = axis * c / chunks, a1 = axis * (c + 1) / chunks;
      const float* base = x + o * axis * inner + i0;
      float* dst = out + o * inner + i0;
      if (op == R_SUM) {
        double* acc = chunks > 1 ? psum.data() + u * W : accd;
        if (a1 > a0) sum_cols(base, inner, a0, a1, w, acc);
        else for (int64_t i = 0; i < w; i++) acc[i] = 0.0;
        if (chunks == 1)
          for (int64_t i = 0; i < w; i++) dst[i] = static_cast<float>(acc[i]);
      } else {
        float* m = chunks > 1 ? pmax.data() + u * W : accm;
        int32_t* ar = chunks > 1 ? parg.data() + u * W : acca;
        max_cols(base, inner, a0, a1, w, m, ar);
        if (chunks == 1) {
          for (int64_t i = 0; i < w; i++) dst[i] = m[i];
          if (argmax) for (int64_t i = 0; i < w; i++) argmax[o * inner + i0 + i] = ar[i];
        }
      }
    }
  });
  if (chunks == 1) return;
  for (int64_t t = 0; t < tasks; t++) {
    const int64_t o = t / iblocks, i0 = (t % iblocks) * kInnerBlock;
    const int64_t w = inner - i0 < kInnerBlock ? inner - i0 : kInnerBlock;
    for (int64_t i = 0; i < w; i++) {
      if (op == R_SUM) {
        double s = 0.0;
        for (int64_t c = 0; c < chunks; c++) s += psum[static_cast<size_t>((t * chunks + c) * W + i)];
        out[o * inner + i0 + i] = static_cast<float>(s);
      } else {
        float m = pmax[static_cast<size_t>((t * chunks) * W + i)];
        int32_t a = parg[static_cast<size_t>((t * chunks) * W + i)];
        for (int64_t c = 1; c < chunks; c++) {
          float v = pmax[static_cast<size_t>((t * chunks + c) * W + i)];
          if (v > m || (v != v && m == m)) {
            m = v;
            a = parg[static_cast<size_t>((t * chunks + c) * W + i)];
          }
        }
        out[o * inner + i0 + i] = m;
        if (argmax) argmax[o * inner + i0 + i] = a;
      }
    }
  }
}

double sum_squares(const float* x, int64_t n) {
  // Fixed 64K-element chunks summed in order: the same double result on any thread count.
  constexpr int64_t kChunk = 1 << 16;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  if (chunks <= 1) return n > 0 ? sumsq_range(x, n) : 0.0;
  std::vector<double> part(static_cast<size_t>(chunks));
  parallel_for(chunks, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; c++) {
      int64_t s = c * kChunk, len = n - s < kChunk ? n - s : kChunk;
      part[static_cast<size_t>(c)] = sumsq_range(x + s, len);
    }
  });
  double total = 0.0;
  for (double p : part) total += p;
  return total;
}

}  // namespace ft
