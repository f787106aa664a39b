// Op attributes: the values a NodeDef's attr map can hold.
//
//   AttrValue a = int64_t{3};  std::get<int64_t>(a);
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "core/dtype.h"
#include "core/shape.h"
#include "core/tensor.h"

namespace fg {

using AttrValue = std::variant<std::monostate, int64_t, float, bool, std::string, DType, Shape, Tensor,
                               std::vector<int64_t>, std::vector<float>, std::vector<DType>,
                               std::vector<Shape>, std::vector<std::string>>;
// Ordered by name (NodeDef order), found by any string-like key without building a std::string.
using AttrMap = std::map<std::string, AttrValue, std::less<>>;

std::string attr_to_string(const AttrValue& v);

}  // namespace fg
