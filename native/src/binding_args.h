// Argument conversion and validation helpers for the N-API glue (binding.cc): typed-array access with
// dtype checks, integer/number/boolean arguments, length checks, and strided-view extent checks.
// Every failure throws a JS error carrying code FT_SHAPE / FT_DTYPE / FT_ARG (see src/backend/native.ts).
// Not here: the exported functions themselves.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "kernels.h"

namespace ft_binding {

using ft::kMaxDims;


[[noreturn]] inline void fail(const Napi::Env& env, const char* code, const std::string& msg) {
  if (std::string(code) == "FT_SHAPE") {
    Napi::RangeError e = Napi::RangeError::New(env, msg);
    e.Set("code", Napi::String::New(env, code));
    throw e;
  }
  Napi::TypeError e = Napi::TypeError::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  throw e;
}

struct Args {
  const Napi::CallbackInfo& info;
  const char* op;
  Napi::Env env() const { return info.Env(); }

  [[noreturn]] void shape(const std::string& m) const { fail(env(), "FT_SHAPE", std::string(op) + ": " + m); }
  [[noreturn]] void arg(const std::string& m) const { fail(env(), "FT_ARG", std::string(op) + ": " + m); }

  template <class T>
  struct Buf {
    T* p;
    int64_t n;
  };

  Buf<float> f32(size_t i, const char* name, bool nullable = false) const {
    Napi::Value v = info[i];
    if (nullable && (v.IsNull() || v.IsUndefined())) return {nullptr, 0};
    if (!v.IsTypedArray()) arg(std::string(name) + " must be a Float32Array");
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() == napi_float64_array)
      fail(env(), "FT_DTYPE",
           std::string(op) + ": " + name + " is a Float64Array; the native backend supports float32 only (use the reference backend for float64)");
    if (ta.TypedArrayType() != napi_float32_array) arg(std::string(name) + " must be a Float32Array");
    Napi::Float32Array fa = v.As<Napi::Float32Array>();
    return {fa.Data(), static_cast<int64_t>(fa.ElementLength())};
  }

  Buf<int32_t> i32(size_t i, const char* name, bool nullable = false) const {
    Napi::Value v = info[i];
    if (nullable && (v.IsNull() || v.IsUndefined())) return {nullptr, 0};
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
      arg(std::string(name) + " must be an Int32Array");
    Napi::Int32Array ia = v.As<Napi::Int32Array>();
    return {ia.Data(), static_cast<int64_t>(ia.ElementLength())};
  }

  // A Float32Array or Int32Array (copyStrided, fill); type receives ft::T_F32 / ft::T_I32.
  Buf<void> any(size_t i, const char* name, int* type) const {
    Napi::Value v = info[i];
    if (!v.IsTypedArray()) arg(std::string(name) + " must be a Float32Array or Int32Array");
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() == napi_float32_array) {
      *type = ft::T_F32;
      Napi::Float32Array a = v.As<Napi::Float32Array>();
      return {a.Data(), static_cast<int64_t>(a.ElementLength())};
    }
    if (ta.TypedArrayType() == napi_int32_array) {
      *type = ft::T_I32;
      Napi::Int32Array a = v.As<Napi::Int32Array>();
      return {a.Data(), static_cast<int64_t>(a.ElementLength())};
    }
    if (ta.TypedArrayType() == napi_float64_array)
      fail(env(), "FT_DTYPE", std::string(op) + ": " + name + " is a Float64Array; the native backend supports float32 and int32 only");
    arg(std::string(name) + " must be a Float32Array or Int32Array");
  }

  double num(size_t i, const char* name) const {
    Napi::Value v = info[i];
    if (!v.IsNumber()) arg(std::string(name) + " must be a number");
    return v.As<Napi::Number>().DoubleValue();
  }

  // An integer in [lo, 2^53).
  int64_t integer(size_t i, const char* name, int64_t lo = 0) const {
    double d = num(i, name);
    if (!(d == std::floor(d)) || d < static_cast<double>(lo) || d >= 9007199254740992.0)
      arg(std::string(name) + " must be an integer >= " + std::to_string(lo) + ", got " + std::to_string(d));
    return static_cast<int64_t>(d);
  }

  bool boolean(size_t i, const char* name) const {
    Napi::Value v = info[i];
    if (!v.IsBoolean()) arg(std::string(name) + " must be a boolean");
    return v.As<Napi::Boolean>().Value();
  }

  int64_t mul(int64_t a, int64_t b) const {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) shape("size overflow");
    return r;
  }

  template <class T>
  void need(const Buf<T>& b, int64_t n, const char* name) const {
    if (b.n < n)
      shape(std::string(name) + " has " + std::to_string(b.n) + " elements, needs at least " + std::to_string(n));
  }
};

inline uint32_t to_uint32(double d) {
  if (!std::isfinite(d)) return 0;
  double m = std::fmod(std::trunc(d), 4294967296.0);
  if (m < 0) m += 4294967296.0;
  return static_cast<uint32_t>(m);
}

// Reads ndim and `groups` arrays of ndim numbers (shape first, then strides) from a Float64Array.
inline int read_dims(const Args& A, size_t i_ndim, size_t i_dims, int groups, int64_t (*out)[kMaxDims]) {
  int64_t nd = A.integer(i_ndim, "ndim");
  if (nd > kMaxDims) A.arg("at most " + std::to_string(kMaxDims) + " dims are supported, got " + std::to_string(nd));
  Napi::Value v = A.info[i_dims];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    A.arg("dims must be a Float64Array");
  Napi::Float64Array d = v.As<Napi::Float64Array>();
  if (static_cast<int64_t>(d.ElementLength()) < nd * groups) A.arg("dims array too short");
  for (int g = 0; g < groups; g++)
    for (int64_t k = 0; k < nd; k++) {
      double x = d[static_cast<size_t>(g * nd + k)];
      if (x != std::floor(x) || std::fabs(x) >= 9007199254740992.0) A.arg("shape and strides must be integers");
      if (g == 0 && x < 0) A.shape("negative dimension " + std::to_string(x));
      out[g][k] = static_cast<int64_t>(x);
    }
  return static_cast<int>(nd);
}

// Checks that every element a strided view reaches lies in [0, len).
inline void check_view(const Args& A, int nd, const int64_t* shape, const int64_t* strides, int64_t offset, int64_t len,
                const char* name) {
  int64_t total = 1;
  for (int d = 0; d < nd; d++) total = A.mul(total, shape[d]);
  if (total == 0) return;
  int64_t lo = offset, hi = offset;
  for (int d = 0; d < nd; d++) {
    int64_t span = A.mul(shape[d] - 1, strides[d]);
    if (span < 0) lo += span;
    else hi += span;
  }
  if (lo < 0 || hi >= len)
    A.shape(std::string(name) + " view reaches elements [" + std::to_string(lo) + ", " + std::to_string(hi) +
            "] but the buffer has " + std::to_string(len));
}

}  // namespace ft_binding
