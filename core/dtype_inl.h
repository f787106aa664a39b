#pragma once
#include "core/errors.h"

namespace fg {

[[noreturn]] void throw_bad_dtype(const char* who, DType t, const char* allowed);

template <typename Fn>
decltype(auto) dispatch_float(DType t, const char* who, Fn&& fn) {
  switch (t) {
    case DType::kFloat: return fn.template operator()<float>();
    case DType::kDouble: return fn.template operator()<double>();
    default: throw_bad_dtype(who, t, "float32 or float64");
  }
}

template <typename Fn>
decltype(auto) dispatch_numeric(DType t, const char* who, Fn&& fn) {
  switch (t) {
    case DType::kFloat: return fn.template operator()<float>();
    case DType::kDouble: return fn.template operator()<double>();
    case DType::kInt32: return fn.template operator()<int32_t>();
    case DType::kInt64: return fn.template operator()<int64_t>();
    case DType::kUInt8: return fn.template operator()<uint8_t>();
    default: throw_bad_dtype(who, t, "a numeric type");
  }
}

template <typename Fn>
decltype(auto) dispatch_all(DType t, const char* who, Fn&& fn) {
  if (t == DType::kBool) return fn.template operator()<bool>();
  return dispatch_numeric(t, who, std::forward<Fn>(fn));
}

}  // namespace fg
