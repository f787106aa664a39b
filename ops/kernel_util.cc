#include "ops/internal/kernel_util.h"

#include <algorithm>
#include <limits>

#include "graph/op_registry.h"
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

std::vector<int64_t> checked_indices(const Tensor& indices, int64_t limit, const char* who) {
  const int64_t n = indices.num_elements();
  std::vector<int64_t> v(static_cast<size_t>(n));
  if (indices.dtype() == DType::kInt32) std::copy(indices.data<int32_t>(), indices.data<int32_t>() + n, v.begin());
  else if (indices.dtype() == DType::kInt64) std::copy(indices.data<int64_t>(), indices.data<int64_t>() + n, v.begin());
  else throw InvalidArgument(str_cat(who, ": indices must be int32 or int64, not ", dtype_name(indices.dtype())));
  for (int64_t i = 0; i < n; ++i)
    FG_CHECK(v[i] >= 0 && v[i] < limit, InvalidArgument, who, ": indices", detail::index_string(indices.shape(), i),
             " = ", v[i], " is not in [0, ", limit, ")");
  return v;
}

void check_row_updates(const Shape& var, const Shape& indices, const Shape& updates, const char* what,
                       const char* who) {
  std::vector<int64_t> want = indices.dim_vector();
  for (int i = 1; i < var.rank(); ++i) want.push_back(var.dim(i));
  FG_CHECK(updates == Shape(want), InvalidArgument, who, ": ", what,
           " must have shape indices.shape + var.shape[1:] = ", Shape(want), " (indices ", indices, ", var ", var,
           "), got ", updates);
}

void check_data_format(const std::string& f) {
  FG_CHECK(f == "NHWC", InvalidArgument, "data_format '", f, "' is not supported on CPU; only NHWC");
}

}  // namespace fg

namespace fg::detail {



Output shape_or_constant(const Output& x, DType out_type, const std::string& name) {
  if (x.shape().is_fully_defined()) return int_vector(*x.graph(), x.shape().dims(), out_type, name);
  return shape(x, out_type, name);
}

Output size_or_constant(const Output& x, DType out_type, const std::string& name) {
  if (x.shape().is_fully_defined()) return int_scalar(*x.graph(), x.shape().num_elements(), out_type, name);
  return OpBuilder(x, "Size", name).input(x).attr("out_type", out_type).build_output();
}

Output rank_or_constant(const Output& x, const std::string& name) {
  if (x.shape().known_rank()) return int_scalar(*x.graph(), x.shape().rank(), DType::kInt32, name);
  return OpBuilder(x, "Rank", name).input(x).build_output();
}

Output with_static_shape(const Output& grad, const Shape& like) {
  if (grad && grad.shape().compatible_with(like)) grad.op()->set_output_shape(grad.index(), like);
  return grad;
}

namespace {
Tensor int_tensor(std::span<const int64_t> values, const Shape& shape, DType dtype, const std::string& name) {
  FG_CHECK(dtype == DType::kInt32 || dtype == DType::kInt64, InvalidArgument, "'", name,
           "': integer constants are int32 or int64, not ", dtype_name(dtype));
  Tensor t = Tensor::empty(dtype, shape);
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::kInt64) {
      t.data<int64_t>()[i] = values[i];
    } else {
      FG_CHECK(values[i] >= std::numeric_limits<int32_t>::min() && values[i] <= std::numeric_limits<int32_t>::max(),
               InvalidArgument, "'", name, "': ", values[i], " does not fit int32");
      t.data<int32_t>()[i] = static_cast<int32_t>(values[i]);
    }
  }
  return t;
}
}  // namespace

Output int_vector(Graph& g, std::span<const int64_t> values, DType dtype, const std::string& name) {
  return constant(g, int_tensor(values, Shape{static_cast<int64_t>(values.size())}, dtype, name), name);
}

Output int_scalar(Graph& g, int64_t value, DType dtype, const std::string& name) {
  return constant(g, int_tensor(std::span<const int64_t>(&value, 1), Shape{}, dtype, name), name);
}

bool constant_int_values(const Output& x, std::vector<int64_t>* values) {
  if (!x || x.op()->type() != "Const") return false;
  const Tensor& t = x.op()->attr<Tensor>("value");
  if (t.dtype() != DType::kInt32 && t.dtype() != DType::kInt64) return false;
  const auto v = int_values(t, "constant");
  values->assign(v.begin(), v.end());
  return true;
}

std::string index_string(const Shape& shape, int64_t i) {
  const int r = shape.rank();
  if (r <= 0) return "";
  std::vector<int64_t> idx(r);
  for (int d = r - 1; d >= 0; --d) {
    const int64_t n = shape.dim(d);
    idx[d] = n > 0 ? i % n : 0;
    i = n > 0 ? i / n : 0;
  }
  std::string s = "[";
  for (int d = 0; d < r; ++d) {
    if (d) s += ',';
    s += std::to_string(idx[d]);
  }
  s += ']';
  return s;
}

int64_t canonical_axis(int64_t axis, int64_t rank, const std::string& who) {
  FG_CHECK(axis >= -rank && axis < rank, InvalidArgument, who, ": axis ", axis, " is out of range [", -rank, ", ",
           rank, ")");
  return axis < 0 ? axis + rank : axis;
}

}  // namespace fg::detail
