#pragma once
#include <vector>

#include "core/errors.h"

namespace fg {

[[noreturn]] void throw_bad_dtype(const char* who, DType t, const char* allowed);

namespace detail {
constexpr bool type_set_has(TypeSet s, DType t) {
  switch (t) {
    case DType::kFloat:
    case DType::kDouble: return s != TypeSet::kIndex;
    case DType::kInt32:
    case DType::kInt64: return s != TypeSet::kFloat;
    case DType::kUInt8: return s == TypeSet::kNumeric || s == TypeSet::kAll;
    case DType::kBool: return s == TypeSet::kAll;
    default: return false;
  }
}
constexpr const char* type_set_text(TypeSet s) {
  switch (s) {
    case TypeSet::kFloat: return "float32 or float64";
    case TypeSet::kIndex: return "int32 or int64";
    case TypeSet::kSigned: return "float32, float64, int32 or int64";
    case TypeSet::kNumeric: return "a numeric type";
    default: return "float32, float64, int32, int64, uint8 or bool";
  }
}
}  // namespace detail

template <TypeSet S, typename Fn>
decltype(auto) dispatch(DType t, const char* who, Fn&& fn) {
  switch (t) {
    case DType::kFloat:
      if constexpr (detail::type_set_has(S, DType::kFloat)) return fn.template operator()<float>();
      break;
    case DType::kDouble:
      if constexpr (detail::type_set_has(S, DType::kDouble)) return fn.template operator()<double>();
      break;
    case DType::kInt32:
      if constexpr (detail::type_set_has(S, DType::kInt32)) return fn.template operator()<int32_t>();
      break;
    case DType::kInt64:
      if constexpr (detail::type_set_has(S, DType::kInt64)) return fn.template operator()<int64_t>();
      break;
    case DType::kUInt8:
      if constexpr (detail::type_set_has(S, DType::kUInt8)) return fn.template operator()<uint8_t>();
      break;
    case DType::kBool:
      if constexpr (detail::type_set_has(S, DType::kBool)) return fn.template operator()<bool>();
      break;
    default: break;
  }
  throw_bad_dtype(who, t, detail::type_set_text(S));
}

template <typename Fn>
decltype(auto) dispatch_float(DType t, const char* who, Fn&& fn) {
  return dispatch<TypeSet::kFloat>(t, who, std::forward<Fn>(fn));
}
template <typename Fn>
decltype(auto) dispatch_numeric(DType t, const char* who, Fn&& fn) {
  return dispatch<TypeSet::kNumeric>(t, who, std::forward<Fn>(fn));
}
template <typename Fn>
decltype(auto) dispatch_all(DType t, const char* who, Fn&& fn) {
  return dispatch<TypeSet::kAll>(t, who, std::forward<Fn>(fn));
}

}  // namespace fg
