// Element types, numbered as TensorFlow's DataType enum so protos and checkpoints agree.
//
//   Tensor t(f32, {2, 3});      // fg::f32, f64, i32, i64, u8, boolean
//   dtype_of<float>() == f32;
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace fg {

enum class DType : int {
  kInvalid = 0,
  kFloat = 1,
  kDouble = 2,
  kInt32 = 3,
  kUInt8 = 4,
  kInt64 = 9,
  kBool = 10,
};

inline constexpr DType f32 = DType::kFloat;
inline constexpr DType f64 = DType::kDouble;
inline constexpr DType i32 = DType::kInt32;
inline constexpr DType i64 = DType::kInt64;
inline constexpr DType u8 = DType::kUInt8;
inline constexpr DType boolean = DType::kBool;

size_t dtype_size(DType t);
// TF's spelling: "float32", "int32", "bool", ...
std::string dtype_name(DType t);
bool is_floating(DType t);
bool is_integer(DType t);

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return f32; }
template <> constexpr DType dtype_of<double>() { return f64; }
template <> constexpr DType dtype_of<int32_t>() { return i32; }
template <> constexpr DType dtype_of<int64_t>() { return i64; }
template <> constexpr DType dtype_of<uint8_t>() { return u8; }
template <> constexpr DType dtype_of<bool>() { return boolean; }

// Calls fn.template operator()<T>() with T the C++ type of `t`.
// The *_float variant accepts only f32/f64, the *_numeric variant every non-bool type.
template <typename Fn>
decltype(auto) dispatch_all(DType t, const char* who, Fn&& fn);
template <typename Fn>
decltype(auto) dispatch_float(DType t, const char* who, Fn&& fn);
template <typename Fn>
decltype(auto) dispatch_numeric(DType t, const char* who, Fn&& fn);

}  // namespace fg

#include "core/dtype_inl.h"
