#include "core/dtype.h"

#include <iterator>

namespace fg {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kFloat: return 4;
    case DType::kDouble: return 8;
    case DType::kInt32: return 4;
    case DType::kInt64: return 8;
    case DType::kUInt8: return 1;
    case DType::kBool: return 1;
    default: return 0;
  }
}

std::string dtype_name(DType t) {
  switch (t) {
    case DType::kFloat: return "float32";
    case DType::kDouble: return "float64";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kUInt8: return "uint8";
    case DType::kBool: return "bool";
    case DType::kString: return "string";
    default: break;
  }
  // TF types flowgraph carries in imported graphs but has no Tensor for.
  static const char* const carried[] = {nullptr,  nullptr,     nullptr,    nullptr,  nullptr,  "int16",
                                        "int8",   "string",    "complex64", nullptr, "bool",   "qint8",
                                        "quint8", "qint32",    "bfloat16", "qint16",  "quint16", "uint16",
                                        "complex128", "float16", "resource", "variant", "uint32", "uint64"};
  const int i = static_cast<int>(t);
  if (i > 0 && i < static_cast<int>(std::size(carried)) && carried[i]) return carried[i];
  return str_cat("<invalid dtype ", i, ">");
}

bool is_floating(DType t) { return t == DType::kFloat || t == DType::kDouble; }
bool is_integer(DType t) { return t == DType::kInt32 || t == DType::kInt64 || t == DType::kUInt8; }

const std::vector<DType>& dtypes_of(TypeSet s) {
  static const auto lists = [] {
    std::vector<std::vector<DType>> l;
    for (TypeSet set : {TypeSet::kFloat, TypeSet::kIndex, TypeSet::kSigned, TypeSet::kNumeric, TypeSet::kAll}) {
      l.emplace_back();
      for (DType t : {DType::kFloat, DType::kDouble, DType::kInt32, DType::kInt64, DType::kUInt8, DType::kBool})
        if (detail::type_set_has(set, t)) l.back().push_back(t);
    }
    return l;
  }();
  return lists.at(static_cast<size_t>(s));
}

void throw_bad_dtype(const char* who, DType t, const char* allowed) {
  throw InvalidArgument(str_cat(who, ": expected ", allowed, ", got ", dtype_name(t)));
}

}  // namespace fg
