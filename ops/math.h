// Element-wise arithmetic with NumPy broadcasting, reductions, comparisons and MatMul.
//
//   auto z = matmul(X, W) + b;                 // operators build Add, Sub, Mul, RealDiv, Neg
//   auto loss = reduce_mean(xent, {}, "loss");  // all axes
//   auto l1 = 0.001f * reduce_sum(abs(W));      // C++ scalars become constants of the tensor's dtype
//   auto hit = equal(argmax(logits, 1), cast(y, i64));
#pragma once
#include <concepts>
#include <string>
#include <utility>
#include <vector>

#include "graph/graph.h"

namespace fg {

Output add(const Output& x, const Output& y, const std::string& name = "");       // Add
Output subtract(const Output& x, const Output& y, const std::string& name = "");  // Sub
Output multiply(const Output& x, const Output& y, const std::string& name = "");  // Mul
Output divide(const Output& x, const Output& y, const std::string& name = "");    // RealDiv
Output negative(const Output& x, const std::string& name = "");                   // Neg
// TF1's tf.div (Div: integers truncate), tf.floordiv (FloorDiv, Python's //, no gradient) and
// tf.floormod (FloorMod, Python's %, the sign of y). Integer division by zero is InvalidArgument.
Output div(const Output& x, const Output& y, const std::string& name = "");
Output floordiv(const Output& x, const Output& y, const std::string& name = "");
Output floormod(const Output& x, const Output& y, const std::string& name = "");
Output abs(const Output& x, const std::string& name = "");
Output square(const Output& x, const std::string& name = "");
Output sqrt(const Output& x, const std::string& name = "");
Output rsqrt(const Output& x, const std::string& name = "");
Output exp(const Output& x, const std::string& name = "");
Output log(const Output& x, const std::string& name = "");
Output reciprocal(const Output& x, const std::string& name = "");  // Reciprocal, 1/x
Output sign(const Output& x, const std::string& name = "");        // Sign: -1, 0 or 1
Output floor(const Output& x, const std::string& name = "");       // Floor (no gradient, as TF)
Output ceil(const Output& x, const std::string& name = "");        // Ceil (no gradient, as TF)
Output maximum(const Output& x, const Output& y, const std::string& name = "");
Output minimum(const Output& x, const Output& y, const std::string& name = "");
Output pow(const Output& x, const Output& y, const std::string& name = "");
Output equal(const Output& x, const Output& y, const std::string& name = "");
Output less(const Output& x, const Output& y, const std::string& name = "");
Output greater(const Output& x, const Output& y, const std::string& name = "");
Output less_equal(const Output& x, const Output& y, const std::string& name = "");
Output greater_equal(const Output& x, const Output& y, const std::string& name = "");
// Select (TF1 tf.where with x and y): condition is bool, same shape as x, or a vector over dim 0.
Output select(const Output& condition, const Output& x, const Output& y, const std::string& name = "");
Output add_n(const std::vector<Output>& xs, const std::string& name = "");  // AddN

struct MatMulOptions {
  bool transpose_a = false;
  bool transpose_b = false;
  std::string name;
};
Output matmul(const Output& a, const Output& b, const MatMulOptions& options = {});

// Reductions over `axes` (all axes when empty); negative axes count from the end.
Output reduce_sum(const Output& x, const std::vector<int64_t>& axes = {}, bool keep_dims = false,
                  const std::string& name = "");
Output reduce_mean(const Output& x, const std::vector<int64_t>& axes = {}, bool keep_dims = false,
                   const std::string& name = "");
Output reduce_max(const Output& x, const std::vector<int64_t>& axes = {}, bool keep_dims = false,
                  const std::string& name = "");
Output reduce_min(const Output& x, const std::vector<int64_t>& axes = {}, bool keep_dims = false,
                  const std::string& name = "");
// TF1's reduce_mean(x, name="loss") spelling: reduce_mean(x, {}, "loss").
inline Output reduce_mean(const Output& x, const std::vector<int64_t>& axes, const char* name) {
  return reduce_mean(x, axes, false, name);
}
inline Output reduce_sum(const Output& x, const std::vector<int64_t>& axes, const char* name) {
  return reduce_sum(x, axes, false, name);
}
Output reduce_prod(const Output& x, const std::vector<int64_t>& axes = {}, bool keep_dims = false,
                   const std::string& name = "");  // Prod (not differentiable)
// Reductions with the axes as a tensor (int32 vector).
Output sum(const Output& x, const Output& axes, bool keep_dims = false, const std::string& name = "");
Output argmax(const Output& x, int64_t axis, DType output_type = DType::kInt64, const std::string& name = "");
Output argmin(const Output& x, int64_t axis, DType output_type = DType::kInt64, const std::string& name = "");

// BroadcastTo: x repeated along broadcast dims to the shape given by an int32/int64 vector.
Output broadcast_to(const Output& x, const Output& shape, const std::string& name = "");
// BroadcastGradientArgs(s0, s1): the axes each operand's gradient is summed over (TF's r0, r1).
std::pair<Output, Output> broadcast_gradient_args(const Output& s0, const Output& s1, const std::string& name = "");

// The gradient-side helper for broadcasting: sums `grad` down to the shape of `x` (the identity
// when no broadcasting happened). Uses static shapes when they decide it, else BroadcastGradientArgs.
Output sum_to_shape_of(const Output& grad, const Output& x, const Output& other);

// ---- operators; a C++ arithmetic scalar on either side becomes a constant of the tensor's dtype.
Output operator+(const Output& x, const Output& y);
Output operator-(const Output& x, const Output& y);
Output operator*(const Output& x, const Output& y);
Output operator/(const Output& x, const Output& y);
Output operator-(const Output& x);

Output scalar_like(const Output& like, double v);
template <typename S> requires std::is_arithmetic_v<S>
Output operator+(const Output& x, S s) { return x + scalar_like(x, static_cast<double>(s)); }
template <typename S> requires std::is_arithmetic_v<S>
Output operator+(S s, const Output& x) { return scalar_like(x, static_cast<double>(s)) + x; }
template <typename S> requires std::is_arithmetic_v<S>
Output operator-(const Output& x, S s) { return x - scalar_like(x, static_cast<double>(s)); }
template <typename S> requires std::is_arithmetic_v<S>
Output operator-(S s, const Output& x) { return scalar_like(x, static_cast<double>(s)) - x; }
template <typename S> requires std::is_arithmetic_v<S>
Output operator*(const Output& x, S s) { return x * scalar_like(x, static_cast<double>(s)); }
template <typename S> requires std::is_arithmetic_v<S>
Output operator*(S s, const Output& x) { return scalar_like(x, static_cast<double>(s)) * x; }
template <typename S> requires std::is_arithmetic_v<S>
Output operator/(const Output& x, S s) { return x / scalar_like(x, static_cast<double>(s)); }
template <typename S> requires std::is_arithmetic_v<S>
Output operator/(S s, const Output& x) { return scalar_like(x, static_cast<double>(s)) / x; }

}  // namespace fg
