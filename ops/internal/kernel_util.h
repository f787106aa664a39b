// Helpers shared by the op families' kernels, shape functions and gradients. For kernel writers:
// not part of the public API.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

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

// Rows of a tensor named by an index tensor (Gather, Scatter*, SparseApply*): the int32/int64
// `indices` as int64, each checked to be in [0, limit) before anything is written
// (InvalidArgument "<who>: indices[i] = j is not in [0, limit)").
std::vector<int64_t> checked_indices(const Tensor& indices, int64_t limit, const char* who);
// Updates of whole rows of a variable of shape `var` (rank >= 1) at `indices` (Scatter*'s
// `updates`, SparseApply*'s `grad`) have shape indices.shape + var.shape[1:]; InvalidArgument
// naming `who` and `what` otherwise.
void check_row_updates(const Shape& var, const Shape& indices, const Shape& updates, const char* what,
                       const char* who);

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

// Graph-building helpers the op families' builders and gradients share.
namespace fg::detail {


using fg::graph_of;

// TF's array_ops.shape / size / rank (optimize=True): a Const when the static shape decides the
// value, else a Shape / Size / Rank op. Gradients use these, as TF's do.
Output shape_or_constant(const Output& x, DType out_type = DType::kInt32, const std::string& name = "Shape");
Output size_or_constant(const Output& x, DType out_type = DType::kInt32, const std::string& name = "Size");
Output rank_or_constant(const Output& x, const std::string& name = "Rank");

// A gradient has its input's shape: refines `grad`'s static shape with `like`'s (TF's set_shape
// after a gradient whose shape inference cannot see through runtime shapes). Returns `grad`.
Output with_static_shape(const Output& grad, const Shape& like);

// Integer constants of dtype int32 or int64 (InvalidArgument if a value does not fit int32).
Output int_vector(Graph& g, std::span<const int64_t> values, DType dtype, const std::string& name);
Output int_scalar(Graph& g, int64_t value, DType dtype, const std::string& name);

// The value of `x` when it is a Const int32/int64 tensor, as int64; false otherwise.
bool constant_int_values(const Output& x, std::vector<int64_t>* values);

// TF's SliceDebugString: the multi-index of flat element `i` of `shape`, "[1,2]" ("" for a scalar).
std::string index_string(const Shape& shape, int64_t i);

// An axis in [-rank, rank) made non-negative; InvalidArgument naming `who` otherwise.
int64_t canonical_axis(int64_t axis, int64_t rank, const std::string& who);

}  // namespace fg::detail
