#include "core/attr.h"

#include <sstream>

namespace fg {

std::string attr_to_string(const AttrValue& v) {
  std::ostringstream os;
  std::visit([&](const auto& x) {
    using X = std::decay_t<decltype(x)>;
    if constexpr (std::is_same_v<X, std::monostate>) os << "<none>";
    else if constexpr (std::is_same_v<X, DType>) os << dtype_name(x);
    else if constexpr (std::is_same_v<X, bool>) os << (x ? "true" : "false");
    else if constexpr (std::is_same_v<X, std::vector<DType>>) {
      os << "[";
      for (size_t i = 0; i < x.size(); ++i) os << (i ? "," : "") << dtype_name(x[i]);
      os << "]";
    } else if constexpr (requires { x.begin(); } && !std::is_same_v<X, std::string>) {
      os << "[";
      for (size_t i = 0; i < x.size(); ++i) os << (i ? "," : "") << x[i];
      os << "]";
    } else os << x;
  }, v);
  return os.str();
}

}  // namespace fg
