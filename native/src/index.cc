// Indexing: embedding-style row gather, and its deterministic scatter-add backward.
// scatterAdd splits the COLUMNS among threads (every thread walks all ids in order), so there are no
// races and the accumulation order per element is the id order, whatever the thread count.
// Not here: id validation for scatterAdd (the caller validated them in the forward).
#include <cstring>

#include "common.h"
#include "kernels.h"

namespace ft {
namespace {

FT_KERNEL void add_row_impl(const float* g, float* dst, int64_t w) {
  for (int64_t c = 0; c < w; c++) dst[c] += g[c];
}
FT_ISA_VARIANTS(add_row)

}  // namespace

int64_t gather(const float* table, int64_t V, int64_t C, const int32_t* ids, int64_t n, float* out) {
  for (int64_t i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= V) return i;
  if (C == 0) return -1;
  parallel_for(n, C >= 4096 ? 1 : 4096 / C + 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++)
      std::memcpy(out + i * C, table + static_cast<int64_t>(ids[i]) * C, static_cast<size_t>(C) * sizeof(float));
  });
  return -1;
}

void scatter_add(const float* g, const int32_t* ids, int64_t n, int64_t C, float* gtable) {
  if (n == 0 || C == 0) return;
  // Column blocks of >= 64 floats per thread; one thread when C is small or the work is tiny.
  const int64_t grain = n * C < (1 << 15) ? C : 64;
  parallel_for(C, grain, [&](int64_t c0, int64_t c1) {
    for (int64_t i = 0; i < n; i++)
      add_row(g + i * C + c0, gtable + static_cast<int64_t>(ids[i]) * C + c0, c1 - c0);
  });
}

}  // namespace ft
