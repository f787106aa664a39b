// Indexing ops, TF1's spellings: tf.slice, tf.strided_slice (Python's x[...]), tf.gather, tf.one_hot,
// tf.dynamic_stitch, tf.unsorted_segment_sum, tf.setdiff1d.
//
//   Graph g;
//   auto x = placeholder(g, f32, {4, 5, 6}, "x");
//   auto a = strided_slice(x, {Slice{1, -1}, NewAxis, Ellipsis, 0});  // x[1:-1, tf.newaxis, ..., 0]: [2, 1, 5]
//   auto b = strided_slice(x, {Slice{.step = -1}});                    // x[::-1]: [4, 5, 6]
//   auto c = slice(x, {0, 1, 0}, {-1, 2, 3});                          // Slice: [4, 2, 3]
//   auto ids = placeholder(g, i32, {3}, "ids");
//   auto rows = gather(x, ids);                                        // GatherV2 on axis 0: [3, 5, 6]
//   auto hot = one_hot(ids, 10);                                       // OneHot, float32: [3, 10]
#pragma once
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "graph/graph.h"

namespace fg {

Output slice(const Output& input, const std::vector<int64_t>& begin, const std::vector<int64_t>& size,
             const std::string& name = "");
Output slice(const Output& input, const Output& begin, const Output& size, const std::string& name = "");
// Braced lists ({0, 1}) pick the constant form, not Output's {op, index} constructor.
inline Output slice(const Output& input, std::initializer_list<int64_t> begin, std::initializer_list<int64_t> size,
                    const std::string& name = "") {
  return slice(input, std::vector<int64_t>(begin), std::vector<int64_t>(size), name);
}

// One entry of a NumPy-style index. Slice is begin:end:step, an unset bound taking the whole range
// in the step's direction: Slice{} is ':', Slice{.begin = 2} '2:', Slice{.step = -1} '::-1'.
struct Slice {
  std::optional<int64_t> begin, end;
  int64_t step = 1;
};
struct NewAxisT {};
inline constexpr NewAxisT NewAxis{};    // tf.newaxis
struct EllipsisT {};
inline constexpr EllipsisT Ellipsis{};  // ...
// An integer (which removes its dim), a Slice, NewAxis or Ellipsis.
class SliceIndex {
 public:
  template <typename I> requires std::is_integral_v<I>
  SliceIndex(I i) : v_(static_cast<int64_t>(i)) {}  // NOLINT: reads like Python's x[3]
  SliceIndex(Slice s) : v_(s) {}                     // NOLINT
  SliceIndex(NewAxisT) : v_(NewAxisT{}) {}           // NOLINT
  SliceIndex(EllipsisT) : v_(EllipsisT{}) {}         // NOLINT
  const std::variant<int64_t, Slice, NewAxisT, EllipsisT>& value() const { return v_; }

 private:
  std::variant<int64_t, Slice, NewAxisT, EllipsisT> v_;
};
// x[index...] as TF1's __getitem__ builds it: the constants "strided_slice/stack", "stack_1",
// "stack_2" and the StridedSlice op "strided_slice" with its masks.
Output strided_slice(const Output& x, const std::vector<SliceIndex>& index, const std::string& name = "");

// tf.strided_slice with begin/end/strides tensors (int32 or int64 vectors) and TF's bit masks.
struct StridedSliceOptions {
  int64_t begin_mask = 0, end_mask = 0, ellipsis_mask = 0, new_axis_mask = 0, shrink_axis_mask = 0;
  std::string name;
};
Output strided_slice(const Output& x, const Output& begin, const Output& end, const Output& strides,
                     const StridedSliceOptions& options = {});

// tf.gather: GatherV2 of `indices` (int32/int64) along `axis` of `params`. An index out of
// [0, params.shape[axis]) is InvalidArgument when run.
Output gather(const Output& params, const Output& indices, int64_t axis = 0, const std::string& name = "");
// tf.one_hot: [indices.shape..., depth] (the new axis at `axis`), on_value where indices == i.
Output one_hot(const Output& indices, int64_t depth, double on_value = 1, double off_value = 0, int64_t axis = -1,
               DType dtype = DType::kFloat, const std::string& name = "");
// merged[indices[m][i], ...] = data[m][i, ...]; later m win on repeated indices.
Output dynamic_stitch(const std::vector<Output>& indices, const std::vector<Output>& data,
                      const std::string& name = "");
// out[k] = sum of data[i] over i with segment_ids[i] == k; negative ids are dropped.
Output unsorted_segment_sum(const Output& data, const Output& segment_ids, const Output& num_segments,
                            const std::string& name = "");
// ListDiff: the values of x not in y, and their positions in x.
std::pair<Output, Output> setdiff1d(const Output& x, const Output& y, DType index_dtype = DType::kInt32,
                                    const std::string& name = "");
// tf.unique: the distinct values of vector x in order of first occurrence (y), and for each element
// of x the position of its value in y (idx, int32 or int64): x == gather(y, idx).
std::pair<Output, Output> unique(const Output& x, DType out_idx = DType::kInt32, const std::string& name = "");


}  // namespace fg
