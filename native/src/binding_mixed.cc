// N-API glue for the bf16 GEMM and the quantised-weight kernels (gemm_bf16.cc, quant.cc): validates
// every size and buffer length like binding.cc, then calls the kernel. Registered from binding.cc's Init.
// Not here: computation.
#include <napi.h>

#include <cstdint>
#include <string>

#include "binding_args.h"
#include "kernels.h"

namespace ft_binding {

namespace {

Napi::Value Bf16Info(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("supported", ft::bf16_dot_supported());
  o.Set("kernel", ft::bf16_kernel_in_use());
  return o;
}

Napi::Value SetBf16Kernel(const Napi::CallbackInfo& info) {
  Args A{info, "setBf16Kernel"};
  return Napi::Boolean::New(info.Env(), ft::set_bf16_kernel(A.boolean(0, "on")));
}

Napi::Value GemmBf16(const Napi::CallbackInfo& info) {
  Args A{info, "gemmBf16"};
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
  if (batch > 1 && cbs < mn) A.shape("cBatchStride " + std::to_string(cbs) + " would make the batch outputs overlap");
  A.need(c, coff + A.mul(batch - 1, cbs) + mn, "c");
  if (K > 0) {
    A.need(a, aoff + A.mul(batch - 1, abs) + mk, "a");
    A.need(b, boff + A.mul(batch - 1, bbs) + kn, "b");
  }
  ft::gemm_bf16_batched(batch, M, N, K, alpha, a.p + (K > 0 ? aoff : 0), abs, ta, b.p + (K > 0 ? boff : 0), bbs, tb,
                        beta, c.p + coff, cbs);
  return info.Env().Undefined();
}

Napi::Value RoundBf16(const Napi::CallbackInfo& info) {
  Args A{info, "roundBf16"};
  auto x = A.f32(0, "x");
  auto out = A.f32(1, "out");
  int64_t n = A.integer(2, "n");
  A.need(x, n, "x");
  A.need(out, n, "out");
  ft::round_to_bf16(x.p, out.p, n);
  return info.Env().Undefined();
}

// Raw bytes of any typed array.
struct Bytes {
  const void* p;
  int64_t n;
};
Bytes bytes(const Args& A, size_t i, const char* name, bool nullable) {
  Napi::Value v = A.info[i];
  if (nullable && (v.IsNull() || v.IsUndefined())) return {nullptr, 0};
  if (!v.IsTypedArray()) A.arg(std::string(name) + " must be a typed array");
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  auto ab = ta.ArrayBuffer();
  return {static_cast<const uint8_t*>(ab.Data()) + ta.ByteOffset(), static_cast<int64_t>(ta.ByteLength())};
}

// Arguments i..i+9: format, rows, cols, data, absmax|null, block, qabsmax|null, code2|null, absmax2|null, offset.
ft::QuantWeight quant_weight(const Args& A, size_t i) {
  ft::QuantWeight w{};
  w.format = static_cast<int>(A.integer(i, "format"));
  w.rows = A.integer(i + 1, "rows");
  w.cols = A.integer(i + 2, "cols");
  Bytes d = bytes(A, i + 3, "data", false);
  auto absmax = A.f32(i + 4, "absmax", true);
  w.block = A.integer(i + 5, "block", 1);
  Bytes q = bytes(A, i + 6, "qabsmax", true);
  auto code2 = A.f32(i + 7, "code2", true);
  auto absmax2 = A.f32(i + 8, "absmax2", true);
  w.offset = static_cast<float>(A.num(i + 9, "offset"));
  const int64_t n = A.mul(w.rows, w.cols);
  if (w.format == ft::Q_BF16) {
    if (d.n < 2 * n) A.shape("bf16 data too short");
  } else if (w.format == ft::Q_INT8) {
    if (d.n < n) A.shape("int8 data too short");
    A.need(absmax, w.rows, "absmax");
  } else if (w.format == ft::Q_NF4) {
    if (d.n < (n + 1) / 2) A.shape("nf4 data too short");
    const int64_t blocks = (n + w.block - 1) / w.block;
    if (absmax.p) {
      A.need(absmax, blocks, "absmax");
    } else {
      if (!q.p || !code2.p || !absmax2.p) A.arg("nf4 needs absmax or (qabsmax, code2, absmax2)");
      if (q.n < blocks) A.shape("qabsmax too short");
      A.need(code2, 256, "code2");
      w.block2 = 256;
      A.need(absmax2, (blocks + 255) / 256, "absmax2");
    }
  } else {
    A.arg("unknown quantisation format " + std::to_string(w.format));
  }
  w.data = d.p;
  w.absmax = absmax.p;
  w.qabsmax = static_cast<const uint8_t*>(q.p);
  w.code2 = code2.p;
  w.absmax2 = absmax2.p;
  if (w.block2 == 0) w.block2 = 256;
  return w;
}

Napi::Value Dequant(const Napi::CallbackInfo& info) {
  Args A{info, "dequant"};
  ft::QuantWeight w = quant_weight(A, 0);
  auto out = A.f32(10, "out");
  A.need(out, A.mul(w.rows, w.cols), "out");
  ft::dequant_rect(w, 0, w.rows, 0, w.cols, out.p, w.cols);
  return info.Env().Undefined();
}

// gemmQuant(M, N, K, alpha, a, transA, ...weight(10), transW, beta, c, bf16)
Napi::Value GemmQuant(const Napi::CallbackInfo& info) {
  Args A{info, "gemmQuant"};
  int64_t M = A.integer(0, "M"), N = A.integer(1, "N"), K = A.integer(2, "K");
  float alpha = static_cast<float>(A.num(3, "alpha"));
  auto a = A.f32(4, "a");
  bool ta = A.boolean(5, "transA");
  ft::QuantWeight w = quant_weight(A, 6);
  bool tw = A.boolean(16, "transW");
  float beta = static_cast<float>(A.num(17, "beta"));
  auto c = A.f32(18, "c");
  bool bf16 = A.boolean(19, "bf16");
  const int64_t wr = tw ? N : K, wc = tw ? K : N;
  if (w.rows != wr || w.cols != wc)
    A.shape("weight is " + std::to_string(w.rows) + "x" + std::to_string(w.cols) + ", the product needs " +
            std::to_string(wr) + "x" + std::to_string(wc));
  A.need(a, A.mul(M, K), "a");
  A.need(c, A.mul(M, N), "c");
  ft::gemm_quant(M, N, K, alpha, a.p, ta, w, tw, beta, c.p, bf16);
  return info.Env().Undefined();
}

}  // namespace

void register_mixed_precision(Napi::Env env, Napi::Object exports) {
  exports.Set("bf16Info", Napi::Function::New(env, Bf16Info));
  exports.Set("setBf16Kernel", Napi::Function::New(env, SetBf16Kernel));
  exports.Set("gemmBf16", Napi::Function::New(env, GemmBf16));
  exports.Set("roundBf16", Napi::Function::New(env, RoundBf16));
  exports.Set("dequant", Napi::Function::New(env, Dequant));
  exports.Set("gemmQuant", Napi::Function::New(env, GemmQuant));
}

}  // namespace ft_binding
