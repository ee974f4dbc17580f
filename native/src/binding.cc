// N-API glue for the finetune native backend: converts and VALIDATES every argument (types, integer
// sizes, buffer lengths, strided extents, id ranges) before calling a kernel, so no call from
// JavaScript can read or write out of range. Errors carry code FT_SHAPE / FT_DTYPE / FT_ARG, which
// src/backend/native.ts maps to ShapeError / DTypeError.
// Not here: any computation (kernels.h and the kernel files).
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "binding_args.h"
#include "common.h"
#include "kernels.h"

namespace ft_binding {
void register_mixed_precision(Napi::Env env, Napi::Object exports);  // binding_mixed.cc
}

namespace {

using namespace ft_binding;

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("blas", ft::blas_compiled());
  o.Set("useBlas", ft::use_blas());
  o.Set("blasCore", ft::blas_core());
  o.Set("avx2", ft::gemm_uses_avx2());
  o.Set("isa", ft::isa_name(ft::isa_level()));
  o.Set("isaMax", ft::isa_name(ft::isa_max()));
  o.Set("threads", ft::num_threads());
#ifdef _OPENMP
  o.Set("openmp", true);
#else
  o.Set("openmp", false);
#endif
  return o;
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Args A{info, "setNumThreads"};
  int64_t n = A.integer(0, "n", 1);
  ft::set_num_threads(static_cast<int>(n > 1024 ? 1024 : n));
  return info.Env().Undefined();
}

Napi::Value SetUseBlas(const Napi::CallbackInfo& info) {
  Args A{info, "setUseBlas"};
  return Napi::Boolean::New(info.Env(), ft::set_use_blas(A.boolean(0, "on")));
}

// fmaPeak(ms, isa): isa 1 = AVX2 (ymm), 2 = AVX-512 (zmm); 0 when the CPU lacks it.
Napi::Value FmaPeak(const Napi::CallbackInfo& info) {
  Args A{info, "fmaPeak"};
  int64_t ms = A.integer(0, "ms", 1);
  int64_t isa = A.integer(1, "isa", 0);
  return Napi::Number::New(info.Env(), ft::fma_peak_gflops(static_cast<int>(ms > 10000 ? 10000 : ms),
                                                           static_cast<int>(isa > 8 ? 8 : isa)));
}

// setIsa(level): 0 portable, 1 AVX2, 2 AVX-512; false (nothing changed) when unsupported here.
Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  Args A{info, "setIsa"};
  int64_t level = A.integer(0, "level", 0);
  return Napi::Boolean::New(info.Env(), ft::set_isa(static_cast<int>(level > 8 ? 8 : level)));
}

// ---- elementwise ----

Napi::Value Unary(const Napi::CallbackInfo& info) {
  Args A{info, "unary"};
  int64_t op = A.integer(0, "op");
  if (op >= ft::U_COUNT) A.arg("unknown op code");
  auto x = A.f32(1, "x");
  auto out = A.f32(2, "out");
  int64_t n = A.integer(3, "n");
  A.need(x, n, "x");
  A.need(out, n, "out");
  ft::unary(static_cast<int>(op), x.p, out.p, n, static_cast<float>(A.num(4, "alpha")));
  return info.Env().Undefined();
}

Napi::Value UnaryBackward(const Napi::CallbackInfo& info) {
  Args A{info, "unaryBackward"};
  int64_t op = A.integer(0, "op");
  if (op >= ft::U_COUNT) A.arg("unknown op code");
  auto x = A.f32(1, "x");
  auto y = A.f32(2, "y");
  auto gy = A.f32(3, "gy");
  auto gx = A.f32(4, "gx");
  int64_t n = A.integer(5, "n");
  A.need(x, n, "x");
  A.need(y, n, "y");
  A.need(gy, n, "gy");
  A.need(gx, n, "gx");
  ft::unary_backward(static_cast<int>(op), x.p, y.p, gy.p, gx.p, n, static_cast<float>(A.num(6, "alpha")));
  return info.Env().Undefined();
}

Napi::Value Binary(const Napi::CallbackInfo& info) {
  Args A{info, "binary"};
  int64_t op = A.integer(0, "op");
  if (op >= ft::B_COUNT) A.arg("unknown op code");
  int64_t dims[3][kMaxDims];
  int nd = read_dims(A, 1, 2, 3, dims);
  auto a = A.f32(3, "a");
  int64_t aoff = A.integer(4, "aOffset");
  auto b = A.f32(5, "b");
  int64_t boff = A.integer(6, "bOffset");
  auto out = A.f32(7, "out");
  int64_t total = 1;
  for (int d = 0; d < nd; d++) total = A.mul(total, dims[0][d]);
  check_view(A, nd, dims[0], dims[1], aoff, a.n, "a");
  check_view(A, nd, dims[0], dims[2], boff, b.n, "b");
  A.need(out, total, "out");
  if (total > 0) ft::binary(static_cast<int>(op), nd, dims[0], a.p + aoff, dims[1], b.p + boff, dims[2], out.p);
  return info.Env().Undefined();
}

Napi::Value Where(const Napi::CallbackInfo& info) {
  Args A{info, "where"};
  auto c = A.f32(0, "cond");
  auto a = A.f32(1, "a");
  auto b = A.f32(2, "b");
  auto out = A.f32(3, "out");
  int64_t n = A.integer(4, "n");
  A.need(c, n, "cond");
  A.need(a, n, "a");
  A.need(b, n, "b");
  A.need(out, n, "out");
  ft::where(c.p, a.p, b.p, out.p, n);
  return info.Env().Undefined();
}

Napi::Value CopyStrided(const Napi::CallbackInfo& info) {
  Args A{info, "copyStrided"};
  int64_t dims[3][kMaxDims];
  int nd = read_dims(A, 0, 1, 3, dims);
  int st = 0, dt = 0;
  auto src = A.any(2, "src", &st);
  int64_t soff = A.integer(3, "srcOffset");
  auto dst = A.any(4, "dst", &dt);
  int64_t doff = A.integer(5, "dstOffset");
  check_view(A, nd, dims[0], dims[1], soff, src.n, "src");
  check_view(A, nd, dims[0], dims[2], doff, dst.n, "dst");
  int64_t total = 1;
  for (int d = 0; d < nd; d++) total *= dims[0][d];
  if (total > 0)
    ft::copy_strided(nd, dims[0], static_cast<const char*>(src.p) + soff * 4, st, dims[1],
                     static_cast<char*>(dst.p) + doff * 4, dt, dims[2]);
  return info.Env().Undefined();
}

Napi::Value Fill(const Napi::CallbackInfo& info) {
  Args A{info, "fill"};
  int t = 0;
  auto x = A.any(0, "x", &t);
  double v = A.num(1, "value");
  int64_t n = A.integer(2, "n");
  A.need(x, n, "x");
  if (t == ft::T_F32) {
    ft::fill_f32(static_cast<float*>(x.p), static_cast<float>(v), n);
  } else {
    // JavaScript ToInt32, as an Int32Array store does.
    double m = std::isfinite(v) ? std::fmod(std::trunc(v), 4294967296.0) : 0.0;
    if (m < 0) m += 4294967296.0;
    if (m >= 2147483648.0) m -= 4294967296.0;
    ft::fill_i32(static_cast<int32_t*>(x.p), static_cast<int32_t>(m), n);
  }
  return info.Env().Undefined();
}

Napi::Value Axpy(const Napi::CallbackInfo& info) {
  Args A{info, "axpy"};
  float alpha = static_cast<float>(A.num(0, "alpha"));
  auto x = A.f32(1, "x");
  auto y = A.f32(2, "y");
  int64_t n = A.integer(3, "n");
  A.need(x, n, "x");
  A.need(y, n, "y");
  ft::axpy(alpha, x.p, y.p, n);
  return info.Env().Undefined();
}

Napi::Value Dropout(const Napi::CallbackInfo& info) {
  Args A{info, "dropout"};
  auto x = A.f32(0, "x");
  auto out = A.f32(1, "out");
  int64_t n = A.integer(2, "n");
  double p = A.num(3, "p");
  if (!(p >= 0.0 && p < 1.0)) A.arg("p must be in [0, 1), got " + std::to_string(p));
  uint32_t seed = to_uint32(A.num(4, "seed"));
  A.need(x, n, "x");
  A.need(out, n, "out");
  ft::dropout(x.p, out.p, n, p, seed);
  return info.Env().Undefined();
}

// ---- reductions ----

Napi::Value Reduce(const Napi::CallbackInfo& info) {
  Args A{info, "reduce"};
  int64_t op = A.integer(0, "op");
  if (op > ft::R_MAX) A.arg("unknown reduce op");
  auto x = A.f32(1, "x");
  int64_t outer = A.integer(2, "outer"), axis = A.integer(3, "axis"), inner = A.integer(4, "inner");
  auto out = A.f32(5, "out");
  auto arg = A.i32(6, "argmax", true);
  int64_t on = A.mul(outer, inner);
  A.need(x, A.mul(on, axis), "x");
  A.need(out, on, "out");
  if (arg.p) A.need(arg, on, "argmax");
  if (axis > INT32_MAX) A.shape("axis longer than 2^31-1");
  ft::reduce(static_cast<int>(op), x.p, outer, axis, inner, out.p, arg.p);
  return info.Env().Undefined();
}

Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  Args A{info, "sumSquares"};
  auto x = A.f32(0, "x");
  int64_t n = A.integer(1, "n");
  A.need(x, n, "x");
  return Napi::Number::New(info.Env(), ft::sum_squares(x.p, n));
}

// ---- gemm ----

Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Args A{info, "gemm"};
  int64_t batch = A.integer(0, "batch"), M = A.integer(1, "M"), N = A.integer(2, "N"), K = A.integer(3, "K");
  float alpha = static_cast<float>(A.num(4, "alpha"));
  auto a = A.f32(5, "a");
  int64_t aoff = A.integer(6, "aOffset"), abs = A.integer(7, "aBatchStride");
  bool ta = A.boolean(8, "transA");
  auto b = A.f32(9, "b");
  int64_t boff = A.integer(10, "bOffset"), bbs = A.integer(11, "bBatchStride");
  bool tb = A.boolean(12, "transB");
  float beta = static_cast<float>(A.num(13, "beta"));
  auto c = A.f32(14, "c");
  int64_t coff = A.integer(15, "cOffset"), cbs = A.integer(16, "cBatchStride");
  if (batch == 0 || M == 0 || N == 0) return info.Env().Undefined();
  const int64_t mn = A.mul(M, N), mk = A.mul(M, K), kn = A.mul(K, N);
  if (batch > 1 && cbs < mn)
    A.shape("cBatchStride " + std::to_string(cbs) + " would make the batch outputs overlap (needs >= M*N = " +
            std::to_string(mn) + ")");
  A.need(c, coff + A.mul(batch - 1, cbs) + mn, "c");
  if (K > 0) {
    A.need(a, aoff + A.mul(batch - 1, abs) + mk, "a");
    A.need(b, boff + A.mul(batch - 1, bbs) + kn, "b");
  }
  ft::gemm_batched(batch, M, N, K, alpha, a.p + (K > 0 ? aoff : 0), abs, ta, b.p + (K > 0 ? boff : 0), bbs, tb, beta,
                   c.p + coff, cbs);
  return info.Env().Undefined();
}

// ---- fused row ops ----

Napi::Value Softmax(const Napi::CallbackInfo& info) {
  Args A{info, "softmax"};
  auto x = A.f32(0, "x");
  int64_t rows = A.integer(1, "rows"), cols = A.integer(2, "cols");
  auto y = A.f32(3, "y");
  bool log = A.boolean(4, "log");
  int64_t n = A.mul(rows, cols);
  A.need(x, n, "x");
  A.need(y, n, "y");
  ft::softmax(x.p, rows, cols, y.p, log);
  return info.Env().Undefined();
}

Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  Args A{info, "softmaxBackward"};
  auto y = A.f32(0, "y");
  auto gy = A.f32(1, "gy");
  int64_t rows = A.integer(2, "rows"), cols = A.integer(3, "cols");
  auto gx = A.f32(4, "gx");
  bool log = A.boolean(5, "log");
  int64_t n = A.mul(rows, cols);
  A.need(y, n, "y");
  A.need(gy, n, "gy");
  A.need(gx, n, "gx");
  ft::softmax_backward(y.p, gy.p, rows, cols, gx.p, log);
  return info.Env().Undefined();
}

Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  Args A{info, "layerNorm"};
  auto x = A.f32(0, "x");
  auto gamma = A.f32(1, "gamma", true);
  auto beta = A.f32(2, "beta", true);
  int64_t rows = A.integer(3, "rows"), cols = A.integer(4, "cols");
  float eps = static_cast<float>(A.num(5, "eps"));
  auto y = A.f32(6, "y");
  auto mean = A.f32(7, "mean");
  auto rstd = A.f32(8, "rstd");
  int64_t n = A.mul(rows, cols);
  A.need(x, n, "x");
  A.need(y, n, "y");
  if (gamma.p) A.need(gamma, cols, "gamma");
  if (beta.p) A.need(beta, cols, "beta");
  A.need(mean, rows, "mean");
  A.need(rstd, rows, "rstd");
  ft::layer_norm(x.p, gamma.p, beta.p, rows, cols, eps, y.p, mean.p, rstd.p);
  return info.Env().Undefined();
}

Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  Args A{info, "layerNormBackward"};
  auto x = A.f32(0, "x");
  auto gamma = A.f32(1, "gamma", true);
  auto mean = A.f32(2, "mean");
  auto rstd = A.f32(3, "rstd");
  auto gy = A.f32(4, "gy");
  int64_t rows = A.integer(5, "rows"), cols = A.integer(6, "cols");
  auto gx = A.f32(7, "gx");
  auto gg = A.f32(8, "ggamma", true);
  auto gb = A.f32(9, "gbeta", true);
  int64_t n = A.mul(rows, cols);
  A.need(x, n, "x");
  A.need(gy, n, "gy");
  A.need(gx, n, "gx");
  A.need(mean, rows, "mean");
  A.need(rstd, rows, "rstd");
  if (gamma.p) A.need(gamma, cols, "gamma");
  if (gg.p) A.need(gg, cols, "ggamma");
  if (gb.p) A.need(gb, cols, "gbeta");
  ft::layer_norm_backward(x.p, gamma.p, mean.p, rstd.p, gy.p, rows, cols, gx.p, gg.p, gb.p);
  return info.Env().Undefined();
}

Napi::Value RmsNorm(const Napi::CallbackInfo& info) {
  Args A{info, "rmsNorm"};
  auto x = A.f32(0, "x");
  auto gamma = A.f32(1, "gamma", true);
  int64_t rows = A.integer(2, "rows"), cols = A.integer(3, "cols");
  float eps = static_cast<float>(A.num(4, "eps"));
  auto y = A.f32(5, "y");
  auto rstd = A.f32(6, "rstd");
  int64_t n = A.mul(rows, cols);
  A.need(x, n, "x");
  A.need(y, n, "y");
  if (gamma.p) A.need(gamma, cols, "gamma");
  A.need(rstd, rows, "rstd");
  ft::rms_norm(x.p, gamma.p, rows, cols, eps, y.p, rstd.p);
  return info.Env().Undefined();
}

Napi::Value RmsNormBackward(const Napi::CallbackInfo& info) {
  Args A{info, "rmsNormBackward"};
  auto x = A.f32(0, "x");
  auto gamma = A.f32(1, "gamma", true);
  auto rstd = A.f32(2, "rstd");
  auto gy = A.f32(3, "gy");
  int64_t rows = A.integer(4, "rows"), cols = A.integer(5, "cols");
  auto gx = A.f32(6, "gx");
  auto gg = A.f32(7, "ggamma", true);
  int64_t n = A.mul(rows, cols);
  A.need(x, n, "x");
  A.need(gy, n, "gy");
  A.need(gx, n, "gx");
  A.need(rstd, rows, "rstd");
  if (gamma.p) A.need(gamma, cols, "gamma");
  if (gg.p) A.need(gg, cols, "ggamma");
  ft::rms_norm_backward(x.p, gamma.p, rstd.p, gy.p, rows, cols, gx.p, gg.p);
  return info.Env().Undefined();
}

// ---- losses ----

int32_t int32_arg(const Args& A, size_t i, const char* name) {
  double d = A.num(i, name);
  if (d != std::floor(d) || d < -2147483648.0 || d > 2147483647.0) A.arg(std::string(name) + " must be an int32");
  return static_cast<int32_t>(d);
}

Napi::Value CrossEntropy(const Napi::CallbackInfo& info) {
  Args A{info, "crossEntropy"};
  auto logits = A.f32(0, "logits");
  auto targets = A.i32(1, "targets");
  int64_t rows = A.integer(2, "rows"), cols = A.integer(3, "cols");
  int32_t ignore = int32_arg(A, 4, "ignoreIndex");
  auto loss = A.f32(5, "loss");
  auto lse = A.f32(6, "lse");
  A.need(logits, A.mul(rows, cols), "logits");
  A.need(targets, rows, "targets");
  A.need(loss, rows, "loss");
  A.need(lse, rows, "lse");
  return Napi::Number::New(info.Env(),
                           static_cast<double>(ft::cross_entropy(logits.p, targets.p, rows, cols, ignore, loss.p, lse.p)));
}

Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  Args A{info, "crossEntropyBackward"};
  auto logits = A.f32(0, "logits");
  auto lse = A.f32(1, "lse");
  auto targets = A.i32(2, "targets");
  auto gloss = A.f32(3, "gloss");
  int64_t rows = A.integer(4, "rows"), cols = A.integer(5, "cols");
  int32_t ignore = int32_arg(A, 6, "ignoreIndex");
  auto gx = A.f32(7, "gx");
  int64_t n = A.mul(rows, cols);
  A.need(logits, n, "logits");
  A.need(gx, n, "gx");
  A.need(lse, rows, "lse");
  A.need(targets, rows, "targets");
  A.need(gloss, rows, "gloss");
  for (int64_t r = 0; r < rows; r++) {
    int32_t t = targets.p[r];
    if (t != ignore && (t < 0 || t >= cols))
      A.shape("targets[" + std::to_string(r) + "] = " + std::to_string(t) + " is outside [0, " + std::to_string(cols) + ")");
  }
  ft::cross_entropy_backward(logits.p, lse.p, targets.p, gloss.p, rows, cols, ignore, gx.p);
  return info.Env().Undefined();
}

Napi::Value Bce(const Napi::CallbackInfo& info) {
  Args A{info, "bceWithLogits"};
  auto x = A.f32(0, "x");
  auto y = A.f32(1, "y");
  auto loss = A.f32(2, "loss");
  int64_t n = A.integer(3, "n");
  A.need(x, n, "x");
  A.need(y, n, "y");
  A.need(loss, n, "loss");
  ft::bce_with_logits(x.p, y.p, loss.p, n);
  return info.Env().Undefined();
}

Napi::Value BceBackward(const Napi::CallbackInfo& info) {
  Args A{info, "bceWithLogitsBackward"};
  auto x = A.f32(0, "x");
  auto y = A.f32(1, "y");
  auto gl = A.f32(2, "gloss");
  auto gx = A.f32(3, "gx");
  int64_t n = A.integer(4, "n");
  A.need(x, n, "x");
  A.need(y, n, "y");
  A.need(gl, n, "gloss");
  A.need(gx, n, "gx");
  ft::bce_with_logits_backward(x.p, y.p, gl.p, gx.p, n);
  return info.Env().Undefined();
}

// ---- indexing ----

Napi::Value Gather(const Napi::CallbackInfo& info) {
  Args A{info, "gather"};
  auto table = A.f32(0, "table");
  int64_t V = A.integer(1, "V"), C = A.integer(2, "C");
  auto ids = A.i32(3, "ids");
  int64_t n = A.integer(4, "n");
  auto out = A.f32(5, "out");
  A.need(table, A.mul(V, C), "table");
  A.need(ids, n, "ids");
  A.need(out, A.mul(n, C), "out");
  return Napi::Number::New(info.Env(), static_cast<double>(ft::gather(table.p, V, C, ids.p, n, out.p)));
}

Napi::Value ScatterAdd(const Napi::CallbackInfo& info) {
  Args A{info, "scatterAdd"};
  auto g = A.f32(0, "g");
  auto ids = A.i32(1, "ids");
  int64_t n = A.integer(2, "n"), C = A.integer(3, "C");
  auto gt = A.f32(4, "gtable");
  A.need(g, A.mul(n, C), "g");
  A.need(ids, n, "ids");
  if (C > 0) {
    const int64_t V = gt.n / C;
    for (int64_t i = 0; i < n; i++)
      if (ids.p[i] < 0 || ids.p[i] >= V)
        A.shape("ids[" + std::to_string(i) + "] = " + std::to_string(ids.p[i]) + " is outside the table's " +
                std::to_string(V) + " rows");
  }
  ft::scatter_add(g.p, ids.p, n, C, gt.p);
  return info.Env().Undefined();
}

// ---- attention ----

ft::AttnParams attn_params(const Args& A) {
  ft::AttnParams p{};
  p.B = A.integer(0, "B");
  p.H = A.integer(1, "H");
  p.Hkv = A.integer(2, "Hkv", 1);
  p.Tq = A.integer(3, "Tq");
  p.Tk = A.integer(4, "Tk");
  p.D = A.integer(5, "D");
  if (p.H % p.Hkv != 0) A.shape("H = " + std::to_string(p.H) + " is not a multiple of Hkv = " + std::to_string(p.Hkv));
  auto q = A.f32(6, "q");
  auto k = A.f32(7, "k");
  auto v = A.f32(8, "v");
  auto km = A.f32(9, "keyMask", true);
  p.causal = A.boolean(10, "causal");
  p.scale = static_cast<float>(A.num(11, "scale"));
  p.dropout_p = A.num(12, "dropoutP");
  if (!(p.dropout_p >= 0.0 && p.dropout_p < 1.0)) A.arg("dropoutP must be in [0, 1)");
  p.seed = to_uint32(A.num(13, "seed"));
  A.need(q, A.mul(A.mul(p.B, p.H), A.mul(p.Tq, p.D)), "q");
  A.need(k, A.mul(A.mul(p.B, p.Hkv), A.mul(p.Tk, p.D)), "k");
  A.need(v, A.mul(A.mul(p.B, p.Hkv), A.mul(p.Tk, p.D)), "v");
  if (km.p) A.need(km, A.mul(p.B, p.Tk), "keyMask");
  p.q = q.p;
  p.k = k.p;
  p.v = v.p;
  p.key_mask = km.p;
  return p;
}

Napi::Value Attention(const Napi::CallbackInfo& info) {
  Args A{info, "attention"};
  ft::AttnParams p = attn_params(A);
  auto out = A.f32(14, "out");
  auto lse = A.f32(15, "lse");
  A.need(out, A.mul(A.mul(p.B, p.H), A.mul(p.Tq, p.D)), "out");
  A.need(lse, A.mul(A.mul(p.B, p.H), p.Tq), "lse");
  if (p.B * p.H * p.Tq > 0) ft::attention(p, out.p, lse.p);
  return info.Env().Undefined();
}

Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  Args A{info, "attentionBackward"};
  ft::AttnParams p = attn_params(A);
  auto out = A.f32(14, "out");
  auto lse = A.f32(15, "lse");
  auto gout = A.f32(16, "gout");
  auto gq = A.f32(17, "gq");
  auto gk = A.f32(18, "gk");
  auto gv = A.f32(19, "gv");
  const int64_t nq = A.mul(A.mul(p.B, p.H), A.mul(p.Tq, p.D));
  const int64_t nk = A.mul(A.mul(p.B, p.Hkv), A.mul(p.Tk, p.D));
  A.need(out, nq, "out");
  A.need(gout, nq, "gout");
  A.need(gq, nq, "gq");
  A.need(lse, A.mul(A.mul(p.B, p.H), p.Tq), "lse");
  A.need(gk, nk, "gk");
  A.need(gv, nk, "gv");
  if (p.B * p.Hkv > 0) ft::attention_backward(p, out.p, lse.p, gout.p, gq.p, gk.p, gv.p);
  return info.Env().Undefined();
}

// ---- optimizer ----

Napi::Value AdamW(const Napi::CallbackInfo& info) {
  Args A{info, "adamw"};
  auto p = A.f32(0, "p");
  auto g = A.f32(1, "g");
  auto m = A.f32(2, "m");
  auto v = A.f32(3, "v");
  int64_t n = A.integer(4, "n");
  A.need(p, n, "p");
  A.need(g, n, "g");
  A.need(m, n, "m");
  A.need(v, n, "v");
  double step = A.num(10, "step");
  if (!(step >= 1)) A.arg("step counts from 1");
  ft::adamw(p.p, g.p, m.p, v.p, n, A.num(5, "lr"), A.num(6, "beta1"), A.num(7, "beta2"), A.num(8, "eps"),
            A.num(9, "weightDecay"), step, A.num(11, "gradScale"));
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("setUseBlas", Napi::Function::New(env, SetUseBlas));
  exports.Set("fmaPeak", Napi::Function::New(env, FmaPeak));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa));
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("unaryBackward", Napi::Function::New(env, UnaryBackward));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("where", Napi::Function::New(env, Where));
  exports.Set("copyStrided", Napi::Function::New(env, CopyStrided));
  exports.Set("fill", Napi::Function::New(env, Fill));
  exports.Set("axpy", Napi::Function::New(env, Axpy));
  exports.Set("dropout", Napi::Function::New(env, Dropout));
  exports.Set("reduce", Napi::Function::New(env, Reduce));
  exports.Set("sumSquares", Napi::Function::New(env, SumSquares));
  exports.Set("gemm", Napi::Function::New(env, Gemm));
  exports.Set("softmax", Napi::Function::New(env, Softmax));
  exports.Set("softmaxBackward", Napi::Function::New(env, SoftmaxBackward));
  exports.Set("layerNorm", Napi::Function::New(env, LayerNorm));
  exports.Set("layerNormBackward", Napi::Function::New(env, LayerNormBackward));
  exports.Set("rmsNorm", Napi::Function::New(env, RmsNorm));
  exports.Set("rmsNormBackward", Napi::Function::New(env, RmsNormBackward));
  exports.Set("crossEntropy", Napi::Function::New(env, CrossEntropy));
  exports.Set("crossEntropyBackward", Napi::Function::New(env, CrossEntropyBackward));
  exports.Set("bceWithLogits", Napi::Function::New(env, Bce));
  exports.Set("bceWithLogitsBackward", Napi::Function::New(env, BceBackward));
  exports.Set("gather", Napi::Function::New(env, Gather));
  exports.Set("scatterAdd", Napi::Function::New(env, ScatterAdd));
  exports.Set("attention", Napi::Function::New(env, Attention));
  exports.Set("attentionBackward", Napi::Function::New(env, AttentionBackward));
  exports.Set("adamw", Napi::Function::New(env, AdamW));
  register_mixed_precision(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(finetune_native, Init)
