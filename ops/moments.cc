// tf.nn.moments and the op it needs beside the math family's: Squeeze.
#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/internal/kernel_util.h"
#include "ops/internal/register.h"
#include "ops/math.h"
#include "ops/nn.h"

namespace fg {

namespace {

Output squeeze_op(const Output& x, const std::vector<int64_t>& axes, const std::string& name = "") {
  return OpBuilder(x, "Squeeze", name).input(x).attr("squeeze_dims", axes).build_output();
}

// The squeezed shape; `fail` reports a bad axis. An empty axis list drops every dim of size 1.
template <typename Fail>
Shape squeezed_shape(const Shape& s, const std::vector<int64_t>& axes, Fail&& fail) {
  if (!s.known_rank()) return s;
  const int rank = s.rank();
  std::vector<bool> drop(rank, false);
  for (int64_t a : axes) {
    if (a < -rank || a >= rank) fail(str_cat("Tried to squeeze dim index ", a, " for tensor with ", rank, " dimensions."));
    const int k = static_cast<int>(a < 0 ? a + rank : a);
    if (s.dim(k) >= 0 && s.dim(k) != 1)
      fail(str_cat("Can not squeeze dim[", k, "], expected a dimension of 1, got ", s.dim(k), " (shape ", s, ")"));
    drop[k] = true;
  }
  std::vector<int64_t> dims;
  for (int k = 0; k < rank; ++k) {
    if (axes.empty() && s.dim(k) < 0) return Shape::unknown();  // it may or may not be 1
    if (axes.empty() ? s.dim(k) != 1 : !drop[k]) dims.push_back(s.dim(k));
  }
  return Shape(std::move(dims));
}

void squeeze_shape(InferenceContext& c) {
  c.set_output(0, squeezed_shape(c.input_shape(0), c.attr<std::vector<int64_t>>("squeeze_dims"),
                                 [&](const std::string& m) { c.fail(m); }));
}

void squeeze_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Shape s = squeezed_shape(x.shape(), ctx.attr<std::vector<int64_t>>("squeeze_dims"),
                                 [](const std::string& m) { throw InvalidArgument(m); });
  ctx.set_output(0, x.reshaped(s));
}

std::vector<Output> squeeze_grad(GradContext& c) {
  const Output x = c.input(0);
  if (x.shape().is_fully_defined()) return {reshape(c.grad(0), x.shape().dim_vector())};
  return {reshape(c.grad(0), shape(x))};
}

}  // namespace

namespace nn {

std::pair<Output, Output> moments(const Output& x, const std::vector<int64_t>& axes, bool keep_dims,
                                  const std::string& name) {
  FG_CHECK(x, InvalidArgument, "moments: x is a none tensor");
  // reduce_mean's {} means every axis, TF's [] none: refuse rather than pick one silently.
  FG_CHECK(!axes.empty(), InvalidArgument, "moments: axes must not be empty");
  Graph& g = *x.graph();
  auto scope = g.name_scope(name.empty() ? "moments" : name);
  Output mean = reduce_mean(x, axes, /*keep_dims=*/true, "mean");
  // The stop_gradient changes no gradient (d variance / d mean is zero) but saves building that path.
  Output variance = reduce_mean(squared_difference_op(x, stop_gradient(mean)), axes, /*keep_dims=*/true, "variance");
  if (!keep_dims) {
    mean = squeeze_op(mean, axes);
    variance = squeeze_op(variance, axes);
  }
  return {mean, variance};
}

}  // namespace nn

void register_moments_ops(OpRegistry& r) {
  r.add("Squeeze").input("input", "T").output("output", "T").attr("squeeze_dims", std::vector<int64_t>{})
      .attr_minimum("squeeze_dims", 0)
      .type_attr("T", kAllTypes).shape(squeeze_shape).kernel_fn(squeeze_kernel).gradient(squeeze_grad);
}

}  // namespace fg
