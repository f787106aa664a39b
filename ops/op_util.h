// Internal to ops/: graph-building helpers the op families' builders and gradients share.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace fg::detail {

// The graph of `x`; InvalidArgument naming `who` when x is a none tensor.
Graph& graph_of(const Output& x, const char* who);

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
