#include "ops/internal/kernel_util.h"

#include "ops/array.h"

namespace fg {

Graph& graph_of(const Output& x, const char* op_type) {
  FG_CHECK(x, InvalidArgument, op_type, ": input is a none tensor");
  return *x.graph();
}

Output int32_vector(Graph& g, const std::vector<int64_t>& values, const std::string& name) {
  std::vector<int32_t> v(values.begin(), values.end());
  return constant(g, Tensor::from_vector(v), name);
}

void check_data_format(const std::string& f) {
  FG_CHECK(f == "NHWC", InvalidArgument, "data_format '", f, "' is not supported on CPU; only NHWC");
}

}  // namespace fg
