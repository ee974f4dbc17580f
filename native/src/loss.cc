// Losses: softmax cross-entropy with ignore_index (forward saves each row's log-sum-exp; the backward
// recomputes probabilities from it) and binary cross-entropy with logits. Row sums in double.
// Not here: reductions of the per-row losses to a mean (the tensor layer composes those).
#include <cmath>

#include "common.h"
#include "kernels.h"
#include "vmath.h"

namespace ft {
namespace {

FT_KERNEL void ce_rows_impl(const float* logits, const int32_t* targets, int64_t r0, int64_t r1, int64_t cols,
                       int32_t ignore, float* loss, float* lse, float* scratch) {
  for (int64_t r = r0; r < r1; r++) {
    const float* xr = logits + r * cols;
    const float m = max_f32(xr, cols);
    const int32_t t = targets[r];
    const bool valid = t != ignore && t >= 0 && t < cols;
    if (m == -__builtin_inff()) {  // every logit -inf: lse -inf (reference logSumExp)
      lse[r] = m;
      loss[r] = valid ? static_cast<float>(static_cast<double>(m) - static_cast<double>(xr[t])) : 0.0f;
      continue;
    }
    for (int64_t j = 0; j < cols; j++) scratch[j] = vexp_nonpos(xr[j] - m);
    const double s = sum_f64(scratch, cols);
    const double l = static_cast<double>(m) + std::log(s);
    lse[r] = static_cast<float>(l);
    // Ignored rows and (reported) out-of-range targets get loss 0.
    loss[r] = valid ? static_cast<float>(l - static_cast<double>(xr[t])) : 0.0f;
  }
}
FT_ISA_VARIANTS(ce_rows)

FT_KERNEL void ce_back_rows_impl(const float* logits, const float* lse, const int32_t* targets, const float* gloss,
                            int64_t r0, int64_t r1, int64_t cols, int32_t ignore, float* gx) {
  for (int64_t r = r0; r < r1; r++) {
    const float* xr = logits + r * cols;
    float* gr = gx + r * cols;
    const int32_t t = targets[r];
    if (t == ignore) {
      for (int64_t c = 0; c < cols; c++) gr[c] = 0.0f;
      continue;
    }
    const float g = gloss[r], l = lse[r];
    for (int64_t c = 0; c < cols; c++) gr[c] = g * vexp_nonpos(xr[c] - l);
    gr[t] -= g;
  }
}
FT_ISA_VARIANTS(ce_back_rows)

FT_KERNEL void bce_range_impl(const float* x, const float* y, float* loss, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    loss[i] = (v > 0.0f ? v : 0.0f) - v * y[i] + std::log1p(vexp_nonpos(-std::fabs(v)));
  }
}
FT_ISA_VARIANTS(bce_range)

FT_KERNEL void bce_back_range_impl(const float* x, const float* y, const float* gloss, float* gx, int64_t n) {
  for (int64_t i = 0; i < n; i++) gx[i] = gloss[i] * (vsigmoid(x[i]) - y[i]);
}
FT_ISA_VARIANTS(bce_back_range)

int64_t row_grain(int64_t cols) { return cols >= 8192 ? 1 : 8192 / (cols + 1) + 1; }

}  // namespace

int64_t cross_entropy(const float* logits, const int32_t* targets, int64_t rows, int64_t cols, int32_t ignore,
                      float* loss, float* lse) {
  int64_t bad = -1;
  for (int64_t r = 0; r < rows && bad < 0; r++) {
    const int32_t t = targets[r];
    if (t != ignore && (t < 0 || t >= cols)) bad = r;
  }
  if (cols == 0) {
    for (int64_t r = 0; r < rows; r++) {
      lse[r] = -__builtin_inff();
      loss[r] = 0.0f;
    }
    return bad;
  }
  parallel_for(rows, row_grain(cols), [&](int64_t b, int64_t e) {
    ce_rows(logits, targets, b, e, cols, ignore, loss, lse, thread_scratch(2, static_cast<size_t>(cols)));
  });
  return bad;
}

void cross_entropy_backward(const float* logits, const float* lse, const int32_t* targets, const float* gloss,
                            int64_t rows, int64_t cols, int32_t ignore, float* gx) {
  parallel_for(rows, row_grain(cols), [&](int64_t b, int64_t e) {
    ce_back_rows(logits, lse, targets, gloss, b, e, cols, ignore, gx);
  });
}

void bce_with_logits(const float* x, const float* y, float* loss, int64_t n) {
  parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) { bce_range(x + b, y + b, loss + b, e - b); });
}

void bce_with_logits_backward(const float* x, const float* y, const float* gloss, float* gx, int64_t n) {
  parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) { bce_back_range(x + b, y + b, gloss + b, gx + b, e - b); });
}

}  // namespace ft
