// Layer norm and RMS norm over the rows of a contiguous (rows, cols) buffer, forward and backward.
// Statistics in double. The backward's gamma/beta gradients are summed over fixed 16-row chunks and
// then over chunks in order, so they are bitwise reproducible on any thread count.
// Not here: the optimizer's norms (reduce.cc sum_squares).
#include <cmath>
#include <vector>

#include "common.h"
#include "kernels.h"

namespace ft {
namespace {

constexpr int64_t kChunkRows = 16;

int64_t row_grain(int64_t cols) { return cols >= 8192 ? 1 : 8192 / (cols + 1) + 1; }

FT_KERNEL void ln_rows_impl(const float* x, const float* gamma, const float* beta, int64_t r0, int64_t r1, int64_t cols,
                       float eps, float* y, float* mean, float* rstd) {
  for (int64_t r = r0; r < r1; r++) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const double mu = sum_f64(xr, cols) / static_cast<double>(cols);
    const double var = sumsq_dev_f64(xr, mu, cols) / static_cast<double>(cols);
    const float rs = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
    const float m = static_cast<float>(mu);
    mean[r] = m;
    rstd[r] = rs;
    if (gamma && beta)
      for (int64_t c = 0; c < cols; c++) yr[c] = (xr[c] - m) * rs * gamma[c] + beta[c];
    else if (gamma)
      for (int64_t c = 0; c < cols; c++) yr[c] = (xr[c] - m) * rs * gamma[c];
    else if (beta)
      for (int64_t c = 0; c < cols; c++) yr[c] = (xr[c] - m) * rs + beta[c];
    else
      for (int64_t c = 0; c < cols; c++) yr[c] = (xr[c] - m) * rs;
  }
}
FT_ISA_VARIANTS(ln_rows)

// Rows [r0, r1) of the backward: writes gx, and this chunk's column sums of gy*xhat and gy into
// pg / pb (float, zeroed here) when they are non-null.
FT_KERNEL void ln_back_rows_impl(const float* x, const float* gamma, const float* mean, const float* rstd, const float* gy,
                            int64_t r0, int64_t r1, int64_t cols, float* gx, float* pg, float* pb, bool rms) {
  if (pg) for (int64_t c = 0; c < cols; c++) pg[c] = 0.0f;
  if (pb) for (int64_t c = 0; c < cols; c++) pb[c] = 0.0f;
  for (int64_t r = r0; r < r1; r++) {
    const float* xr = x + r * cols;
    const float* gr = gy + r * cols;
    float* gxr = gx + r * cols;
    const float m = rms ? 0.0f : mean[r];
    const float rs = rstd[r];
    // a = mean(g), b = mean(g * xhat) with g = gy * gamma (8 float lanes widened to double).
    ft_v4d alo = {0, 0, 0, 0}, ahi = {0, 0, 0, 0}, blo = {0, 0, 0, 0}, bhi = {0, 0, 0, 0};
    const ft_v8f mv = {m, m, m, m, m, m, m, m}, rv = {rs, rs, rs, rs, rs, rs, rs, rs};
    int64_t c = 0;
    for (; c + 8 <= cols; c += 8) {
      const ft_v8f g = gamma ? load8(gr + c) * load8(gamma + c) : load8(gr + c);
      const ft_v8f xh = (load8(xr + c) - mv) * rv;
      widen_add(alo, ahi, g);
      widen_add(blo, bhi, g * xh);
    }
    double ta = 0.0, tb = 0.0;
    for (; c < cols; c++) {
      const float g = gamma ? gr[c] * gamma[c] : gr[c];
      const float xh = (xr[c] - m) * rs;
      ta += static_cast<double>(g);
      tb += static_cast<double>(g * xh);
    }
    const double inv = 1.0 / static_cast<double>(cols);
    const float a = rms ? 0.0f : static_cast<float>((hsum(alo, ahi) + ta) * inv);
    const float b = static_cast<float>((hsum(blo, bhi) + tb) * inv);
    for (int64_t j = 0; j < cols; j++) {
      const float g = gamma ? gr[j] * gamma[j] : gr[j];
      const float xh = (xr[j] - m) * rs;
      gxr[j] = rs * (g - a - xh * b);
    }
    if (pg) for (int64_t j = 0; j < cols; j++) pg[j] += gr[j] * ((xr[j] - m) * rs);
    if (pb) for (int64_t j = 0; j < cols; j++) pb[j] += gr[j];
  }
}
FT_ISA_VARIANTS(ln_back_rows)

void norm_backward(const float* x, const float* gamma, const float* mean, const float* rstd, const float* gy,
                   int64_t rows, int64_t cols, float* gx, float* ggamma, float* gbeta, bool rms) {
  if (cols == 0 || rows == 0) return;
  const int64_t chunks = (rows + kChunkRows - 1) / kChunkRows;
  std::vector<float> pg(ggamma ? static_cast<size_t>(chunks * cols) : 0);
  std::vector<float> pb(gbeta ? static_cast<size_t>(chunks * cols) : 0);
  parallel_for(chunks, (row_grain(cols) + kChunkRows - 1) / kChunkRows, [&](int64_t cb, int64_t ce) {
    for (int64_t ch = cb; ch < ce; ch++) {
      const int64_t r0 = ch * kChunkRows, r1 = r0 + kChunkRows < rows ? r0 + kChunkRows : rows;
      ln_back_rows(x, gamma, mean, rstd, gy, r0, r1, cols, gx, ggamma ? pg.data() + ch * cols : nullptr,
                   gbeta ? pb.data() + ch * cols : nullptr, rms);
    }
  });
  if (!ggamma && !gbeta) return;
  // Column sums over chunks, in chunk order (parallel over columns: disjoint outputs).
  parallel_for(cols, 256, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; c++) {
      if (ggamma) {
        double s = 0.0;
        for (int64_t ch = 0; ch < chunks; ch++) s += static_cast<double>(pg[static_cast<size_t>(ch * cols + c)]);
        ggamma[c] += static_cast<float>(s);
      }
      if (gbeta) {
        double s = 0.0;
        for (int64_t ch = 0; ch < chunks; ch++) s += static_cast<double>(pb[static_cast<size_t>(ch * cols + c)]);
        gbeta[c] += static_cast<float>(s);
      }
    }
  });
}

FT_KERNEL void rms_rows_impl(const float* x, const float* gamma, int64_t r0, int64_t r1, int64_t cols, float eps, float* y,
                        float* rstd) {
  for (int64_t r = r0; r < r1; r++) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const double ms = sumsq_dev_f64(xr, 0.0, cols) / static_cast<double>(cols);
    const float rs = static_cast<float>(1.0 / std::sqrt(ms + static_cast<double>(eps)));
    rstd[r] = rs;
    if (gamma)
      for (int64_t c = 0; c < cols; c++) yr[c] = xr[c] * rs * gamma[c];
    else
      for (int64_t c = 0; c < cols; c++) yr[c] = xr[c] * rs;
  }
}
FT_ISA_VARIANTS(rms_rows)

}  // namespace

void layer_norm(const float* x, const float* gamma, const float* beta, int64_t rows, int64_t cols, float eps, float* y,
                float* mean, float* rstd) {
  if (cols == 0) return;
  parallel_for(rows, row_grain(cols), [&](int64_t b, int64_t e) { ln_rows(x, gamma, beta, b, e, cols, eps, y, mean, rstd); });
}

void layer_norm_backward(const float* x, const float* gamma, const float* mean, const float* rstd, const float* gy,
                         int64_t rows, int64_t cols, float* gx, float* ggamma, float* gbeta) {
  norm_backward(x, gamma, mean, rstd, gy, rows, cols, gx, ggamma, gbeta, false);
}

void rms_norm(const float* x, const float* gamma, int64_t rows, int64_t cols, float eps, float* y, float* rstd) {
  if (cols == 0) return;
  parallel_for(rows, row_grain(cols), [&](int64_t b, int64_t e) { rms_rows(x, gamma, b, e, cols, eps, y, rstd); });
}

void rms_norm_backward(const float* x, const float* gamma, const float* rstd, const float* gy, int64_t rows,
                       int64_t cols, float* gx, float* ggamma) {
  norm_backward(x, gamma, nullptr, rstd, gy, rows, cols, gx, ggamma, nullptr, true);
}

}  // namespace ft
