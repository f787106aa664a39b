// Element types, numbered as TensorFlow's DataType enum so protos and checkpoints agree.
//
//   Tensor t(f32, {2, 3});      // fg::f32, f64, i32, i64, u8, boolean, string_dtype
//   dtype_of<float>() == f32;   dtype_of<std::string>() == string_dtype;
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fg {

enum class DType : int {
  kInvalid = 0,
  kFloat = 1,
  kDouble = 2,
  kInt32 = 3,
  kUInt8 = 4,
  kString = 7,
  kInt64 = 9,
  kBool = 10,
};

inline constexpr DType f32 = DType::kFloat;
inline constexpr DType f64 = DType::kDouble;
inline constexpr DType i32 = DType::kInt32;
inline constexpr DType i64 = DType::kInt64;
inline constexpr DType u8 = DType::kUInt8;
inline constexpr DType boolean = DType::kBool;
inline constexpr DType string_dtype = DType::kString;

// Bytes per element; 0 for strings (their elements vary in size: core/tensor.h) and invalid types.
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
template <> constexpr DType dtype_of<std::string>() { return string_dtype; }

// The sets of element types ops accept, for the one dtype dispatcher below and for OpDefs.
enum class TypeSet {
  kFloat,    // f32, f64
  kIndex,    // i32, i64
  kSigned,   // f32, f64, i32, i64
  kNumeric,  // every type but bool
  kAll,      // every type with fixed-size elements (not string)
};
// The set's dtypes in TF's order (float, double, int32, int64, uint8, bool).
const std::vector<DType>& dtypes_of(TypeSet s);

// Calls fn.template operator()<T>() with T the C++ type of `t`, or throws InvalidArgument naming
// `who` when `t` is not in S:
//
//   dispatch<TypeSet::kFloat>(x.dtype(), "Elu", [&]<typename T>() { ... });
template <TypeSet S, typename Fn>
decltype(auto) dispatch(DType t, const char* who, Fn&& fn);
// dispatch over kFloat, kNumeric and kAll.
template <typename Fn>
decltype(auto) dispatch_all(DType t, const char* who, Fn&& fn);
template <typename Fn>
decltype(auto) dispatch_float(DType t, const char* who, Fn&& fn);
template <typename Fn>
decltype(auto) dispatch_numeric(DType t, const char* who, Fn&& fn);

}  // namespace fg

#include "core/dtype_inl.h"
