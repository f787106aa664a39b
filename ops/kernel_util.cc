#include "ops/internal/kernel_util.h"

#include <algorithm>
#include <limits>

#include "ops/array.h"

namespace fg {

Graph& graph_of(const Output& x, const char* op_type) {
  FG_CHECK(x, InvalidArgument, op_type, ": input is a none tensor");
  return *x.graph();
}

Output index_vector(Graph& g, const std::vector<int64_t>& values, const std::string& name) {
  const bool fits = std::all_of(values.begin(), values.end(), [](int64_t v) {
    return v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max();
  });
  if (!fits) return constant(g, Tensor::from_vector(values), name);
  return constant(g, Tensor::from_vector(std::vector<int32_t>(values.begin(), values.end())), name);
}

void check_data_format(const std::string& f) {
  FG_CHECK(f == "NHWC", InvalidArgument, "data_format '", f, "' is not supported on CPU; only NHWC");
}

}  // namespace fg
