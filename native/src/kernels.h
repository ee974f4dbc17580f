// The kernel API: plain C++ functions over raw float/int32 pointers and sizes, one .cc file per
// family. Callers (binding.cc) have already validated every size, stride and offset; kernels trust them.
// Semantics mirror src/backend/backend.ts (the spec); op codes mirror the tables in src/backend/native.ts.
// Not here: any N-API, allocation of outputs, or argument checking.
#pragma once
#include <cstdint>

namespace ft {

// ---- op codes (must match UNARY_CODES / BINARY_CODES in src/backend/native.ts) ----
enum UnaryCode : int {
  U_NEG, U_EXP, U_LOG, U_SQRT, U_RSQRT, U_ABS, U_SQUARE, U_TANH, U_SIGMOID, U_RELU,
  U_GELU, U_GELU_TANH, U_SILU, U_SCALE, U_ADD_SCALAR, U_POW, U_RECIP, U_COUNT
};
enum BinaryCode : int { B_ADD, B_SUB, B_MUL, B_DIV, B_MAXIMUM, B_MINIMUM, B_EQ, B_GT, B_LT, B_COUNT };
enum ElemType : int { T_F32 = 0, T_I32 = 1 };
constexpr int kMaxDims = 16;

// ---- elementwise (elementwise.cc) ----
void unary(int op, const float* x, float* out, int64_t n, float alpha);
void unary_backward(int op, const float* x, const float* y, const float* gy, float* gx, int64_t n, float alpha);
/** a, b point at their offset; strides in elements (0 = broadcast, may be negative). out contiguous. */
void binary(int op, int ndim, const int64_t* shape, const float* a, const int64_t* as, const float* b,
            const int64_t* bs, float* out);
void where(const float* cond, const float* a, const float* b, float* out, int64_t n);
/** src/dst point at their offset; element types from ElemType. */
void copy_strided(int ndim, const int64_t* shape, const void* src, int src_type, const int64_t* ss, void* dst,
                  int dst_type, const int64_t* ds);
void fill_f32(float* x, float v, int64_t n);
void fill_i32(int32_t* x, int32_t v, int64_t n);
void axpy(float alpha, const float* x, float* y, int64_t n);
/** p validated in [0, 1). */
void dropout(const float* x, float* out, int64_t n, double p, uint32_t seed);

// ---- reductions (reduce.cc) ----
enum ReduceCode : int { R_SUM, R_MAX };
void reduce(int op, const float* x, int64_t outer, int64_t axis, int64_t inner, float* out, int32_t* argmax);
double sum_squares(const float* x, int64_t n);

// ---- matrix products (gemm.cc, gemm_builtin.cc) ----
/** Row-major C = alpha op(A) op(B) + beta C on one thread; lda/ldb/ldc are row strides. */
void sgemm_serial(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
/** Built-in GEMM on one thread (used by sgemm_serial when BLAS is off or absent). */
void sgemm_builtin(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
/** Batched, multi-threaded; a/b/c point at their offsets (see Backend.gemm). */
void gemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t aBatchStride,
                  bool transA, const float* b, int64_t bBatchStride, bool transB, float beta, float* c,
                  int64_t cBatchStride);
/** "openblas" when compiled with it, else "builtin". */
const char* blas_compiled();
/** Select BLAS (true) or the built-in GEMM (false) at run time; returns false if BLAS is not compiled in. */
bool set_use_blas(bool on);
bool use_blas();
/** The OpenBLAS core chosen for this CPU (e.g. "Haswell", "SkylakeX"); "" without OpenBLAS. */
const char* blas_core();
/** Whether an AVX2+FMA (or wider) GEMM micro-kernel is in use now (isa_level() >= avx2). */
bool gemm_uses_avx2();

// ---- fused row ops (softmax.cc, norm.cc) ----
void softmax(const float* x, int64_t rows, int64_t cols, float* y, bool log);
void softmax_backward(const float* y, const float* gy, int64_t rows, int64_t cols, float* gx, bool log);
void layer_norm(const float* x, const float* gamma, const float* beta, int64_t rows, int64_t cols, float eps, float* y,
                float* mean, float* rstd);
void layer_norm_backward(const float* x, const float* gamma, const float* mean, const float* rstd, const float* gy,
                         int64_t rows, int64_t cols, float* gx, float* ggamma, float* gbeta);
void rms_norm(const float* x, const float* gamma, int64_t rows, int64_t cols, float eps, float* y, float* rstd);
void rms_norm_backward(const float* x, const float* gamma, const float* rstd, const float* gy, int64_t rows,
                       int64_t cols, float* gx, float* ggamma);

// ---- losses (loss.cc) ----
int64_t cross_entropy(const float* logits, const int32_t* targets, int64_t rows, int64_t cols, int32_t ignore,
                      float* loss, float* lse);
void cross_entropy_backward(const float* logits, const float* lse, const int32_t* targets, const float* gloss,
                            int64_t rows, int64_t cols, int32_t ignore, float* gx);
void bce_with_logits(const float* x, const float* y, float* loss, int64_t n);
void bce_with_logits_backward(const float* x, const float* y, const float* gloss, float* gx, int64_t n);

// ---- indexing (index.cc) ----
int64_t gather(const float* table, int64_t V, int64_t C, const int32_t* ids, int64_t n, float* out);
void scatter_add(const float* g, const int32_t* ids, int64_t n, int64_t C, float* gtable);

// ---- attention (attention.cc) ----
struct AttnParams {
  int64_t B, H, Hkv, Tq, Tk, D;
  const float* q;
  const float* k;
  const float* v;
  const float* key_mask;  // (B, Tk) or null
  bool causal;
  float scale;
  double dropout_p;  // [0, 1)
  uint32_t seed;
};
void attention(const AttnParams& a, float* out, float* lse);
void attention_backward(const AttnParams& a, const float* out, const float* lse, const float* gout, float* gq,
                        float* gk, float* gv);

// ---- optimizer (optim.cc) ----
void adamw(float* p, const float* g, float* m, float* v, int64_t n, double lr, double beta1, double beta2, double eps,
           double weight_decay, double step, double grad_scale);

// ---- machine (threads.cc) ----
/**
 * Measured FMA throughput on every thread in GFLOP/s over about `ms` milliseconds, with the vector width
 * of ISA level `isa` (kIsaAvx2: ymm, kIsaAvx512: zmm; 3: AVX512_BF16 dot products, 2 flops per bf16
 * multiply-add; bench only). 0 when the CPU lacks it.
 */
double fma_peak_gflops(int ms, int isa);

}  // namespace ft

// ---- bf16 mixed precision and quantised weights (gemm_bf16.cc, quant.cc) ----
namespace ft {
/** Whether the CPU has AVX512_BF16 dot products (VDPBF16PS). */
bool bf16_dot_supported();
/** Use the AVX512_BF16 kernel (true, if supported) or the portable converted path (false); returns whether honoured. */
bool set_bf16_kernel(bool on);
bool bf16_kernel_in_use();
/** out[i] = bf16(x[i]) as fp32 (round to nearest even). */
void round_to_bf16(const float* x, float* out, int64_t n);
/** Backend.gemm with both operands rounded to bf16 and fp32 accumulation (see Backend.gemmBf16). */
void gemm_bf16_batched(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t aBatchStride,
                       bool transA, const float* b, int64_t bBatchStride, bool transB, float beta, float* c,
                       int64_t cBatchStride);

enum QuantFormat : int { Q_BF16 = 0, Q_INT8 = 1, Q_NF4 = 2 };
/** A frozen (rows, cols) weight in a quantised storage format (see src/backend/quant.ts for the layout). */
struct QuantWeight {
  int format;
  int64_t rows, cols;
  const void* data;        // bf16: uint16 per element; int8: int8 per element; nf4: 2 codes per byte, high nibble first
  const float* absmax;     // int8: per row; nf4: per block of `block` elements; null when double-quantised
  int64_t block;           // nf4 block size (64)
  // nf4 double quantisation (bitsandbytes compress_statistics): absmax[b] = code2[qabsmax[b]] * absmax2[b / block2] + offset
  const uint8_t* qabsmax;
  const float* code2;      // 256 entries
  const float* absmax2;
  int64_t block2;          // 256
  float offset;
};
/** out (r1-r0, c1-c0) with row stride ld = W[r0:r1, c0:c1] dequantised to fp32. */
void dequant_rect(const QuantWeight& w, int64_t r0, int64_t r1, int64_t c0, int64_t c1, float* out, int64_t ld);
/**
 * C (M, N) = alpha * op(A) op(W) + beta * C with W quantised: op(W) = W^T (transW, W is (N, K)) or W (K, N).
 * bf16 = true rounds A and the dequantised W to bf16 (autocast); else fp32 products.
 */
void gemm_quant(int64_t M, int64_t N, int64_t K, float alpha, const float* a, bool transA, const QuantWeight& w,
                bool transW, float beta, float* c, bool bf16);
}  // namespace ft
