// Helpers shared by the op families' kernels, shape functions and gradients. For kernel writers:
// not part of the public API.
#pragma once
#include <string>
#include <utility>

#include "core/tensor.h"
#include "graph/graph.h"

namespace fg {

// For kernels that multiply like MatMul (its fusions): the product's m, k, n for inputs a and b
// with the given transposes, or InvalidArgument in MatMul's words.
struct MatMulDims {
  int64_t m, k, n;
};
MatMulDims matmul_dims(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b);
// The condition of MatMul's fusions (Fusion::applies): the fused pair computes in floating point
// (the fused kernels multiply with gemm<float|double> only).
bool is_float_matmul(const Operation& consumer, const Operation& producer);

// BiasAdd's check of the bias against the value it is added to (also its fusions').
void check_bias(const Tensor& bias, const Shape& value);
// Only NHWC runs on CPU.
void check_data_format(const std::string& format);

// Merges two static dims (-1 unknown); `fail` reports a mismatch.
template <typename Fail>
int64_t merge_dim(int64_t a, int64_t b, Fail&& fail) {
  if (a < 0) return b;
  if (b < 0 || a == b) return a;
  fail();
  return a;
}

// Gradients of a broadcasting binary op reduced to the shapes of x and y (either may be none).
// Both share one BroadcastGradientArgs when static shapes do not decide, as TF's gradients do.
std::pair<Output, Output> reduce_binary_grads(const Output& gx, const Output& gy, const Output& x, const Output& y);

// TF's SquaredDifference (tf.nn.moments' piece; no public builder).
Output squared_difference_op(const Output& x, const Output& y, const std::string& name = "");

// x's graph; InvalidArgument naming `op_type` for a none tensor.
Graph& graph_of(const Output& x, const char* op_type);
// An index vector constant (reduction axes, target shapes): int32 when every value fits, int64
// otherwise (as TF converts a list), never narrowed.
Output index_vector(Graph& g, const std::vector<int64_t>& values, const std::string& name);

}  // namespace fg
