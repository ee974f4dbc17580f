// Row softmax / log-softmax and their backward, over contiguous (rows, cols). Stable (row max
// subtracted), row sums in double, one thread per block of rows (deterministic).
// Not here: the fused cross-entropy (loss.cc) or attention's internal softmax (attention.cc).
#include <cmath>

#include "common.h"
#include "kernels.h"
#include "vmath.h"

namespace ft {
namespace {

FT_KERNEL void softmax_rows_impl(const float* x, int64_t r0, int64_t r1, int64_t cols, float* y, bool log, float* scratch) {
  for (int64_t r = r0; r < r1; r++) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const float m = max_f32(xr, cols);
    // exps into y (softmax) or a scratch row (log-softmax: y may alias x), then a double sum.
    float* e = log ? scratch : yr;
    for (int64_t j = 0; j < cols; j++) e[j] = vexp_nonpos(xr[j] - m);
    const double s = sum_f64(e, cols);
    if (log) {
      // (x - max) - log(sum), in the reference's order: exact for the max element.
      const float ls = static_cast<float>(std::log(s));
      for (int64_t c = 0; c < cols; c++) yr[c] = (xr[c] - m) - ls;
    } else {
      const float inv = static_cast<float>(1.0 / s);
      for (int64_t c = 0; c < cols; c++) yr[c] *= inv;
    }
  }
}
FT_ISA_VARIANTS(softmax_rows)

FT_KERNEL void softmax_backward_rows_impl(const float* y, const float* gy, int64_t r0, int64_t r1, int64_t cols, float* gx,
                                    bool log) {
  for (int64_t r = r0; r < r1; r++) {
    const float* yr = y + r * cols;
    const float* gr = gy + r * cols;
    float* gxr = gx + r * cols;
    if (log) {
      const float s = static_cast<float>(sum_f64(gr, cols));
      for (int64_t c = 0; c < cols; c++) gxr[c] = gr[c] - vexp_nonpos(yr[c]) * s;
    } else {
      const float d = static_cast<float>(dot_f64(gr, yr, cols));
      for (int64_t c = 0; c < cols; c++) gxr[c] = yr[c] * (gr[c] - d);
    }
  }
}
FT_ISA_VARIANTS(softmax_backward_rows)

int64_t row_grain(int64_t cols) { return cols >= 8192 ? 1 : 8192 / (cols + 1) + 1; }

}  // namespace

void softmax(const float* x, int64_t rows, int64_t cols, float* y, bool log) {
  if (cols == 0) return;
  parallel_for(rows, row_grain(cols), [&](int64_t b, int64_t e) {
    softmax_rows(x, b, e, cols, y, log, log ? thread_scratch(2, static_cast<size_t>(cols)) : nullptr);
  });
}

void softmax_backward(const float* y, const float* gy, int64_t rows, int64_t cols, float* gx, bool log) {
  if (cols == 0) return;
  parallel_for(rows, row_grain(cols), [&](int64_t b, int64_t e) { softmax_backward_rows(y, gy, b, e, cols, gx, log); });
}

}  // namespace ft
