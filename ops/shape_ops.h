// Shape and layout ops, TF1's spellings: tf.tile, tf.size, tf.rank, tf.shape_n, tf.range, tf.stack,
// tf.unstack, tf.concat, tf.transpose, tf.pad, tf.invert_permutation, prevent_gradient.
//
//   Graph g;
//   auto a = placeholder(g, f32, {2, 3}, "a"), b = placeholder(g, f32, {2, 3}, "b");
//   auto t = tile(a, {2, 1});                 // Tile: [4, 3]
//   auto s = stack({a, b}, 1);                // Pack: [2, 2, 3]
//   std::vector<Output> parts = unstack(s, 1);  // Unpack: back to a and b
//   auto c = concat({a, b}, -1);              // ConcatV2: [2, 6]
//   auto at = transpose(a);                   // Transpose, perm reversed: [3, 2]
//   auto p = pad(a, {{1, 0}, {0, 2}});        // Pad with zeros: [3, 5]
//   auto r = range(g, 0, 10, 2);              // Range: [0 2 4 6 8]
//   auto n = size(a);                         // Size: 6 (int32)
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "graph/graph.h"

namespace fg {

Output tile(const Output& input, const Output& multiples, const std::string& name = "");
Output tile(const Output& input, const std::vector<int64_t>& multiples, const std::string& name = "");
// Braced lists ({0, 1}) pick the constant forms, not Output's {op, index} constructor.
inline Output tile(const Output& input, std::initializer_list<int64_t> multiples, const std::string& name = "") {
  return tile(input, std::vector<int64_t>(multiples), name);
}
// Size / Rank / ShapeN ops (always the op, even when the static shape knows the answer).
Output size(const Output& x, DType out_type = DType::kInt32, const std::string& name = "");
Output rank(const Output& x, const std::string& name = "");
std::vector<Output> shape_n(const std::vector<Output>& xs, DType out_type = DType::kInt32,
                            const std::string& name = "");
// [start, limit) in steps of delta; scalars of one dtype (int32, int64, float32, float64).
Output range(const Output& start, const Output& limit, const Output& delta, const std::string& name = "");
// Constants "range/start", "range/limit", "range/delta" (int32, or int64 when a bound needs it)
// and the op "range", as tf.range.
Output range(Graph& g, int64_t start, int64_t limit, int64_t delta = 1, const std::string& name = "");
// Pack along a new axis (negative counts from the end of the result).
Output stack(const std::vector<Output>& values, int64_t axis = 0, const std::string& name = "");
// Unpack along `axis`; num < 0 takes the number of pieces from the static shape.
std::vector<Output> unstack(const Output& value, int64_t axis = 0, int64_t num = -1, const std::string& name = "");
// ConcatV2 along `axis`; a single value is returned through an Identity named `name`, as TF does.
Output concat(const std::vector<Output>& values, int64_t axis, const std::string& name = "");
// Empty perm: the dims reversed.
Output transpose(const Output& a, const std::vector<int64_t>& perm = {}, const std::string& name = "");
Output transpose(const Output& a, const Output& perm, const std::string& name = "");
inline Output transpose(const Output& a, std::initializer_list<int64_t> perm, const std::string& name = "") {
  return transpose(a, std::vector<int64_t>(perm), name);
}
// Pad with zeros: paddings[i] = {before, after} for dim i.
Output pad(const Output& input, const std::vector<std::pair<int64_t, int64_t>>& paddings, const std::string& name = "");
Output pad(const Output& input, const Output& paddings, const std::string& name = "");
Output invert_permutation(const Output& x, const std::string& name = "");
// The identity whose gradient is an error carrying `message` (TF's PreventGradient).
Output prevent_gradient(const Output& x, const std::string& message = "", const std::string& name = "");


}  // namespace fg
