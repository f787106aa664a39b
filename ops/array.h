// Sources, identities and shape ops: tf.placeholder, tf.constant, tf.identity, tf.reshape, ...
//
//   auto X = placeholder(g, f32, {-1, 784}, "X");
//   auto training = placeholder_with_default(g, false, {}, "training");
//   auto c = constant(g, Tensor::from_vector<float>({1, 2, 3}), "c");
//   auto flat = reshape(x, {-1, 784});
//   auto init = group(g, {a.op(), b.op()}, "init");
#pragma once
#include <string>
#include <vector>

#include "graph/graph.h"

namespace fg {

Output placeholder(Graph& g, DType dtype, const Shape& shape = Shape::unknown(), const std::string& name = "");
// A placeholder that yields `value` when not fed (creates "<name>/input" and "<name>").
Output placeholder_with_default(Graph& g, const Tensor& value, const Shape& shape, const std::string& name = "");
Output placeholder_with_default(const Output& input, const Shape& shape, const std::string& name = "");
Output constant(Graph& g, const Tensor& value, const std::string& name = "");
// A scalar constant of `dtype` with value `v` (cast), e.g. to combine with a tensor of that dtype.
Output scalar_constant(Graph& g, double v, DType dtype, const std::string& name = "");
Output identity(const Output& x, const std::string& name = "");
Output stop_gradient(const Output& x, const std::string& name = "");
Operation* no_op(Graph& g, const std::string& name = "");
// A NoOp that depends on every op in `ops` (tf.group).
Operation* group(Graph& g, const std::vector<Operation*>& ops, const std::string& name = "");
Output reshape(const Output& x, const Output& shape, const std::string& name = "");
Output reshape(const Output& x, const std::vector<int64_t>& shape, const std::string& name = "");
Output shape(const Output& x, DType out_type = DType::kInt32, const std::string& name = "");
Output fill(const Output& dims, const Output& value, const std::string& name = "");
Output zeros_like(const Output& x, const std::string& name = "");
Output ones_like(const Output& x, const std::string& name = "");
// tf.cast. Float to integer truncates toward zero and saturates: NaN gives 0, values beyond the
// integer type's range its nearest limit (C++ and TF's CPU kernel leave those undefined).
Output cast(const Output& x, DType dtype, const std::string& name = "");
Output expand_dims(const Output& x, int64_t axis, const std::string& name = "");

}  // namespace fg
