#include "graph/tensor_proto.h"

#include <cstring>
#include <limits>

namespace fg {

DType dtype_from_proto(tensorflow::DataType t, const std::string& who) {
  int base = static_cast<int>(t);
  if (base > 100) base -= 100;
  switch (base) {
    case tensorflow::DT_FLOAT: return DType::kFloat;
    case tensorflow::DT_DOUBLE: return DType::kDouble;
    case tensorflow::DT_INT32: return DType::kInt32;
    case tensorflow::DT_UINT8: return DType::kUInt8;
    case tensorflow::DT_INT64: return DType::kInt64;
    case tensorflow::DT_BOOL: return DType::kBool;
    case tensorflow::DT_STRING: return DType::kString;
    case tensorflow::DT_INVALID:
      throw InvalidArgument(str_cat(who, ": dtype is DT_INVALID (unset)"));
    default:
      throw Unimplemented(str_cat(who, ": dtype ", proto_dtype_name(static_cast<int>(t)),
                                  " is not supported by flowgraph (float32, float64, int32, int64, "
                                  "uint8, bool, string are)"));
  }
}

tensorflow::DataType dtype_to_proto(DType t) {
  // DType's values are TF's DataType numbers by construction.
  return static_cast<tensorflow::DataType>(static_cast<int>(t));
}

std::string proto_dtype_name(int t) {
  if (tensorflow::DataType_IsValid(t)) return tensorflow::DataType_Name(static_cast<tensorflow::DataType>(t));
  return str_cat("DT_<", t, ">");
}

Shape shape_from_proto(const tensorflow::TensorShapeProto& p, const std::string& who) {
  if (p.unknown_rank()) {
    FG_CHECK(p.dim_size() == 0, InvalidArgument, who, ": TensorShapeProto has unknown_rank and ",
             p.dim_size(), " dims");
    return Shape::unknown();
  }
  std::vector<int64_t> dims;
  dims.reserve(p.dim_size());
  for (const auto& d : p.dim()) dims.push_back(d.size());
  return shape_from_dims(dims, str_cat(who, ": TensorShapeProto"), /*allow_unknown=*/true);
}

tensorflow::TensorShapeProto shape_to_proto(const Shape& s) {
  tensorflow::TensorShapeProto p;
  if (!s.known_rank()) {
    p.set_unknown_rank(true);
    return p;
  }
  for (int64_t d : s.dims()) p.add_dim()->set_size(d);
  return p;
}

namespace {

int typed_value_count(const tensorflow::TensorProto& p) {
  return p.half_val_size() + p.float_val_size() + p.double_val_size() + p.int_val_size() +
         p.string_val_size() + p.scomplex_val_size() + p.int64_val_size() + p.bool_val_size() +
         p.dcomplex_val_size() + p.resource_handle_val_size() + p.variant_val_size() +
         p.uint32_val_size() + p.uint64_val_size();
}

// Copies `in` into t's elements, converting to T; pads with the last value like TF.
template <typename T, typename Field>
void fill_from_field(const Field& in, const Tensor& t, const std::string& who, const char* field) {
  const int64_t n = t.num_elements();
  const int64_t in_n = in.size();
  FG_CHECK(in_n <= n, InvalidArgument, who, ": TensorProto has ", in_n, " values in ", field,
           " for shape ", t.shape(), " (", n, " elements)");
  T* out = t.data<T>();
  for (int64_t i = 0; i < in_n; ++i) out[i] = static_cast<T>(in.Get(static_cast<int>(i)));
  const T pad = in_n > 0 ? out[in_n - 1] : T{};
  for (int64_t i = in_n; i < n; ++i) out[i] = pad;
}

}  // namespace

tensorflow::TensorProto tensor_to_proto(const Tensor& t) {
  FG_CHECK(t.valid(), InvalidArgument, "tensor_to_proto: the tensor is empty (not valid)");
  tensorflow::TensorProto p;
  p.set_dtype(dtype_to_proto(t.dtype()));
  *p.mutable_tensor_shape() = shape_to_proto(t.shape());
  if (t.dtype() == DType::kString) {  // TF has no tensor_content for strings
    for (int64_t i = 0; i < t.num_elements(); ++i) p.add_string_val(std::string(t.str(i)));
    return p;
  }
  if (t.num_elements() > 1 && t.dtype() != DType::kBool) {
    p.set_tensor_content(static_cast<const char*>(t.raw_data()), t.num_bytes());
    return p;
  }
  if (t.num_elements() == 0) return p;
  switch (t.dtype()) {
    case DType::kFloat: p.add_float_val(t.scalar<float>()); break;
    case DType::kDouble: p.add_double_val(t.scalar<double>()); break;
    case DType::kInt32: p.add_int_val(t.scalar<int32_t>()); break;
    case DType::kUInt8: p.add_int_val(t.scalar<uint8_t>()); break;
    case DType::kInt64: p.add_int64_val(t.scalar<int64_t>()); break;
    case DType::kBool:
      for (bool b : t.flat<bool>()) p.add_bool_val(b);
      break;
    default: throw Internal(str_cat("tensor_to_proto: unhandled dtype ", dtype_name(t.dtype())));
  }
  return p;
}

namespace {

// string_val, padded with the last value like the other fields; the total size (padding
// included) is computed before anything is allocated, so a few bytes declaring a huge shape or
// padding a long string many times are ResourceExhausted, not an allocation.
Tensor strings_from_proto(const tensorflow::TensorProto& p, const Shape& shape, const std::string& who) {
  FG_CHECK(p.tensor_content().empty(), InvalidArgument, who,
           ": TensorProto of dtype DT_STRING has tensor_content (strings go in string_val)");
  FG_CHECK(typed_value_count(p) == p.string_val_size(), InvalidArgument, who,
           ": TensorProto of dtype DT_STRING has values in fields other than string_val");
  const int64_t n = shape.num_elements(), in_n = p.string_val_size();
  FG_CHECK(in_n <= n, InvalidArgument, who, ": TensorProto has ", in_n, " values in string_val for shape ", shape,
           " (", n, " elements)");
  int64_t chars = 0;
  for (const std::string& v : p.string_val()) chars += static_cast<int64_t>(v.size());  // all in memory already
  const int64_t pad = in_n > 0 ? static_cast<int64_t>(p.string_val(static_cast<int>(in_n - 1)).size()) : 0;
  int64_t pad_chars;
  if (__builtin_mul_overflow(n - in_n, pad, &pad_chars) || __builtin_add_overflow(chars, pad_chars, &chars))
    chars = std::numeric_limits<int64_t>::max();  // the writer reports it as too large
  StringTensorWriter w(shape, chars);
  for (const std::string& v : p.string_val()) w.append(v);
  const std::string_view last = in_n > 0 ? std::string_view(p.string_val(static_cast<int>(in_n - 1))) : "";
  for (int64_t i = in_n; i < n; ++i) w.append(last);
  return std::move(w).finish();
}

}  // namespace

Tensor tensor_from_proto(const tensorflow::TensorProto& p, const std::string& who) {
  const DType dtype = dtype_from_proto(p.dtype(), who);
  const Shape shape = shape_from_proto(p.tensor_shape(), who);
  FG_CHECK(shape.is_fully_defined(), InvalidArgument, who, ": TensorProto shape ", shape,
           " is not fully defined");
  if (dtype == DType::kString) return strings_from_proto(p, shape, who);
  // The declared size is checked against what the proto holds before anything is allocated: raw
  // content must match it exactly; typed values may be fewer (TF pads with the last one), and
  // then the tensor is as large as the shape says, within the allocator's limit.
  const int64_t n = shape.num_elements();
  if (!p.tensor_content().empty()) {
    const size_t elem = dtype_size(dtype);
    const bool fits = n <= std::numeric_limits<int64_t>::max() / static_cast<int64_t>(elem);  // n * elem
    if (!fits || static_cast<size_t>(n) * elem != p.tensor_content().size()) {
      throw InvalidArgument(str_cat(who, ": TensorProto tensor_content has ", p.tensor_content().size(),
                                    " bytes, but ", dtype_name(dtype), " ", shape, " needs ",
                                    fits ? str_cat(static_cast<size_t>(n) * elem) : str_cat(n, " elements of ", elem)));
    }
  } else {
    FG_CHECK(typed_value_count(p) <= n, InvalidArgument, who, ": TensorProto has ", typed_value_count(p),
             " values for shape ", shape, " (", n, " elements)");
  }
  Tensor t = Tensor::empty(dtype, shape);

  if (!p.tensor_content().empty()) {
    std::memcpy(t.raw_data(), p.tensor_content().data(), t.num_bytes());
    if (dtype == DType::kBool) {
      for (uint8_t b : std::span(static_cast<const uint8_t*>(t.raw_data()), t.num_bytes()))
        FG_CHECK(b <= 1, InvalidArgument, who, ": TensorProto bool tensor_content holds byte ",
                 int(b));
    }
    return t;
  }

  // Values in a field other than the dtype's own field mean the proto contradicts itself.
  const auto check_only = [&](int own, const char* field) {
    FG_CHECK(typed_value_count(p) == own, InvalidArgument, who, ": TensorProto of dtype ",
             proto_dtype_name(p.dtype()), " has values in fields other than ", field);
  };
  switch (dtype) {
    case DType::kFloat:
      check_only(p.float_val_size(), "float_val");
      fill_from_field<float>(p.float_val(), t, who, "float_val");
      break;
    case DType::kDouble:
      check_only(p.double_val_size(), "double_val");
      fill_from_field<double>(p.double_val(), t, who, "double_val");
      break;
    case DType::kInt32:
      check_only(p.int_val_size(), "int_val");
      fill_from_field<int32_t>(p.int_val(), t, who, "int_val");
      break;
    case DType::kUInt8:
      check_only(p.int_val_size(), "int_val");
      for (int32_t v : p.int_val())
        FG_CHECK(v >= 0 && v <= 255, InvalidArgument, who, ": TensorProto uint8 int_val holds ", v);
      fill_from_field<uint8_t>(p.int_val(), t, who, "int_val");
      break;
    case DType::kInt64:
      check_only(p.int64_val_size(), "int64_val");
      fill_from_field<int64_t>(p.int64_val(), t, who, "int64_val");
      break;
    case DType::kBool:
      check_only(p.bool_val_size(), "bool_val");
      fill_from_field<bool>(p.bool_val(), t, who, "bool_val");
      break;
    default: throw Internal(str_cat(who, ": tensor_from_proto: unhandled dtype ", dtype_name(dtype)));
  }
  return t;
}

}  // namespace fg
