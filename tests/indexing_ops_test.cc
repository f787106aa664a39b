// Indexing ops (ops/indexing.h): values, TF's errors, shape functions, gradients.
#include <gtest/gtest.h>

#include <functional>

#include "graph/gradients.h"
#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/indexing.h"
#include "ops/math.h"
#include "ops/shape_ops.h"
#include "runtime/session.h"
#include "tests/test_util.h"

namespace fg {
namespace {

using testing::eval;
using testing::expect_error;
using testing::random_tensor;

template <typename T>
std::vector<T> values(const Tensor& t) {
  return t.to_vector<T>();
}

Tensor iota(const Shape& s, DType dtype = f32) {
  Tensor t = Tensor::empty(dtype, s);
  dispatch_numeric(dtype, "iota", [&]<typename T>() {
    for (int64_t i = 0; i < t.num_elements(); ++i) t.data<T>()[i] = static_cast<T>(i);
  });
  return t;
}

// A reference for x[spec] on iota tensors: element (multi-index over the input) -> value.
float at3(const Shape& s, int64_t i, int64_t j, int64_t k) { return static_cast<float>((i * s.dim(1) + j) * s.dim(2) + k); }

// ---- Slice

TEST(IndexingOps, SliceValuesShapesAndErrors) {
  Graph g;
  const Shape s{3, 4, 5};
  auto x = constant(g, iota(s));
  auto y = slice(x, {1, 0, 2}, {2, -1, 2});
  EXPECT_EQ(y.op()->type(), "Slice");
  EXPECT_EQ(y.op()->name(), "Slice");
  EXPECT_EQ(y.op()->input(1).op()->name(), "Slice/begin");
  EXPECT_EQ(y.op()->input(2).op()->name(), "Slice/size");
  EXPECT_EQ(y.shape(), (Shape{2, 4, 2}));
  const Tensor v = eval(y);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 2; ++k) EXPECT_EQ(v.at<float>({i, j, k}), at3(s, i + 1, j, k + 2));
  EXPECT_EQ(eval(slice(x, {3, 0, 0}, {0, 4, 5})).shape(), (Shape{0, 4, 5}));
  expect_error([&] { slice(x, {0, 0}, {1, 1}); }, Code::kInvalidArgument,
               {"Slice", "Expected begin and size arguments to be 1-D tensors of size 3"});
  expect_error([&] { slice(x, {1, 0, 0}, {3, 1, 1}); }, Code::kInvalidArgument, {"Expected size[0] in [0, 2], but got 3"});
  auto b = placeholder(g, i32, {3}, "b");
  auto z = slice(x, b, constant(g, Tensor::from_vector<int32_t>({1, 1, 1})), "sl");
  EXPECT_EQ(z.shape(), (Shape{1, 1, 1}));
  expect_error([&] { eval(z, {{b, Tensor::from_vector<int32_t>({0, -1, 0})}}); }, Code::kInvalidArgument,
               {"sl", "Expected begin[1] in [0, 4], but got -1"});
  expect_error([&] { eval(z, {{b, Tensor::from_vector<int32_t>({0, 4, 0})}}); }, Code::kInvalidArgument,
               {"sl", "Expected size[1] in [0, 0], but got 1"});
}

// ---- StridedSlice

TEST(IndexingOps, StridedSliceSpecsMatchNumpy) {
  Graph g;
  const Shape s{4, 5, 6};
  auto x = constant(g, iota(s));
  {
    // x[1:-1, tf.newaxis, ..., 3]
    auto y = strided_slice(x, {Slice{1, -1}, NewAxis, Ellipsis, 3});
    EXPECT_EQ(y.op()->type(), "StridedSlice");
    EXPECT_EQ(y.op()->name(), "strided_slice");
    EXPECT_EQ(y.op()->input(1).op()->name(), "strided_slice/stack");
    EXPECT_EQ(y.op()->input(3).op()->name(), "strided_slice/stack_2");
    EXPECT_EQ(y.op()->attr<int64_t>("new_axis_mask"), 2);
    EXPECT_EQ(y.op()->attr<int64_t>("ellipsis_mask"), 4);
    EXPECT_EQ(y.op()->attr<int64_t>("shrink_axis_mask"), 8);
    EXPECT_EQ(y.shape(), (Shape{2, 1, 5}));
    const Tensor v = eval(y);
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 5; ++j) EXPECT_EQ(v.at<float>({i, 0, j}), at3(s, i + 1, j, 3));
  }
  {
    // x[::-1, 4:0:-2, -1]
    auto y = strided_slice(x, {Slice{.step = -1}, Slice{4, 0, -2}, -1});
    EXPECT_EQ(y.shape(), (Shape{4, 2}));
    const Tensor v = eval(y);
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 2; ++j) EXPECT_EQ(v.at<float>({i, j}), at3(s, 3 - i, 4 - 2 * j, 5));
  }
  {
    // x[..., ::2, 1:], x[2], x[:, :, :] (identity), clamped bounds x[-100:100, 7:]
    auto a = strided_slice(x, {Ellipsis, Slice{.step = 2}, Slice{.begin = 1}});
    EXPECT_EQ(a.shape(), (Shape{4, 3, 5}));
    EXPECT_EQ(eval(a).at<float>({3, 2, 4}), at3(s, 3, 4, 5));
    auto b = strided_slice(x, {2});
    EXPECT_EQ(b.shape(), (Shape{5, 6}));
    EXPECT_EQ(eval(b).at<float>({1, 2}), at3(s, 2, 1, 2));
    auto c = strided_slice(x, {Slice{}, Slice{}, Slice{}});
    EXPECT_EQ(values<float>(eval(c)), values<float>(iota(s)));
    auto d = strided_slice(x, {Slice{-100, 100}, Slice{.begin = 7}});
    EXPECT_EQ(d.shape(), (Shape{4, 0, 6}));
    EXPECT_EQ(eval(d).num_elements(), 0);
  }
  {
    // A scalar from a vector, and new axes around a scalar.
    auto v = constant(g, Tensor::from_vector<int32_t>({10, 20, 30}));
    EXPECT_EQ(eval(strided_slice(v, {-1})).scalar<int32_t>(), 30);
    auto sc = constant(g, Tensor(5));
    EXPECT_EQ(strided_slice(sc, {NewAxis, NewAxis}).shape(), (Shape{1, 1}));
  }
}

TEST(IndexingOps, StridedSliceRawMasksAndDynamicShapes) {
  Graph g;
  auto x = placeholder(g, f32, {-1, 6}, "x");
  // begin/end from tensors: the static shape keeps what the masks decide.
  auto b = placeholder(g, i32, {2}, "b");
  auto y = strided_slice(x, b, constant(g, Tensor::from_vector<int32_t>({0, 4})),
                         constant(g, Tensor::from_vector<int32_t>({1, 1})), {.begin_mask = 0, .end_mask = 1, .name = "ss"});
  EXPECT_EQ(y.shape(), (Shape{-1, -1}));
  const Tensor v = eval(y, {{x, iota({3, 6})}, {b, Tensor::from_vector<int32_t>({1, 2})}});
  EXPECT_EQ(v.shape(), (Shape{2, 2}));
  EXPECT_EQ(values<float>(v), (std::vector<float>{8, 9, 14, 15}));
  // Shrinking an unknown dim gives its static size as removed.
  EXPECT_EQ(strided_slice(x, {0}).shape(), (Shape{6}));
  EXPECT_EQ(strided_slice(x, {Slice{}, 2}).shape(), (Shape{-1}));
}

TEST(IndexingOps, StridedSliceErrors) {
  Graph g;
  auto x = placeholder(g, f32, {4, 5}, "x");
  expect_error([&] { strided_slice(x, {4}); }, Code::kInvalidArgument,
               {"StridedSlice", "slice index 4 of dimension 0 out of bounds."});
  expect_error([&] { strided_slice(x, {Slice{.step = 0}}); }, Code::kInvalidArgument, {"strides[0] must be non-zero"});
  expect_error([&] { strided_slice(x, {0, 1, 2}); }, Code::kInvalidArgument,
               {"Index out of range using input dim 2; input has only 2 dims"});
  auto one = constant(g, Tensor::from_vector<int32_t>({1}));
  auto zero = constant(g, Tensor::from_vector<int32_t>({0}));
  expect_error([&] { strided_slice(x, zero, one, one, {.ellipsis_mask = 3}); }, Code::kInvalidArgument,
               {"Multiple ellipses in slice spec not allowed"});
  expect_error([&] { strided_slice(x, zero, constant(g, Tensor::from_vector<int32_t>({1, 1})), one); },
               Code::kInvalidArgument, {"StridedSlice"});
  // Fed begin: the bounds are checked when run.
  auto b = placeholder(g, i32, {1}, "b");
  auto y = strided_slice(x, b, one, one, {.shrink_axis_mask = 1, .name = "pick"});
  expect_error([&] { eval(y, {{x, iota({4, 5})}, {b, Tensor::from_vector<int32_t>({-5})}}); },
               Code::kInvalidArgument, {"pick", "slice index -5 of dimension 0 out of bounds."});
  EXPECT_EQ(values<float>(eval(y, {{x, iota({4, 5})}, {b, Tensor::from_vector<int32_t>({-4})}})),
            (std::vector<float>{0, 1, 2, 3, 4}));
  auto bs = placeholder(g, i32, {-1}, "bs");
  auto z = strided_slice(x, bs, bs, bs, {.name = "vecs"});
  expect_error([&] { eval(z, {{x, iota({4, 5})}, {bs, Tensor::from_vector<int32_t>({1, 1, 1})}}); },
               Code::kInvalidArgument, {"vecs", "Index out of range using input dim 2"});
}

TEST(IndexingOps, StridedSliceGradOp) {
  Graph g;
  auto dy = constant(g, Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2}));
  auto shape = constant(g, Tensor::from_vector<int32_t>({3, 4}));
  auto begin = constant(g, Tensor::from_vector<int32_t>({0, 3}));
  auto end = constant(g, Tensor::from_vector<int32_t>({3, 0}));
  auto strides = constant(g, Tensor::from_vector<int32_t>({2, -2}));
  // x[0:3:2, 3:0:-2] of a [3, 4] tensor: rows 0 and 2, columns 3 and 1.
  auto out = OpBuilder(g, "StridedSliceGrad", "ssg").input(shape).input(begin).input(end).input(strides).input(dy)
                 .build_output();
  EXPECT_EQ(out.shape(), (Shape{3, 4}));
  EXPECT_EQ(values<float>(eval(out)), (std::vector<float>{0, 2, 0, 1, 0, 0, 0, 0, 0, 4, 0, 3}));
  expect_error([&] {
    OpBuilder(g, "StridedSliceGrad", "bad").input(shape).input(begin).input(end).input(strides)
        .input(constant(g, Tensor(f32, {3}))).build();
  }, Code::kInvalidArgument, {"bad", "shape of dy was [3] instead of [2,2]"});
}

// ---- Gather / GatherV2

TEST(IndexingOps, GatherAlongAxes) {
  Graph g;
  auto p = constant(g, iota({3, 4}));
  auto i = constant(g, Tensor::from_vector<int32_t>({2, 0, 2, 1}, {2, 2}));
  auto y = gather(p, i);
  EXPECT_EQ(y.op()->type(), "GatherV2");
  EXPECT_EQ(y.op()->name(), "GatherV2");
  EXPECT_EQ(y.op()->input(2).op()->name(), "GatherV2/axis");
  EXPECT_EQ(y.shape(), (Shape{2, 2, 4}));
  EXPECT_EQ(values<float>(eval(y)), (std::vector<float>{8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7}));
  auto y1 = gather(p, constant(g, Tensor::from_vector<int64_t>({3, 0})), -1);
  EXPECT_EQ(y1.shape(), (Shape{3, 2}));
  EXPECT_EQ(values<float>(eval(y1)), (std::vector<float>{3, 0, 7, 4, 11, 8}));
  // A scalar index removes the axis; the v1 op gathers rows.
  EXPECT_EQ(eval(gather(p, constant(g, Tensor(1)), 1)).shape(), (Shape{3}));
  auto v1 = OpBuilder(g, "Gather", "v1").input(p).input(constant(g, Tensor::from_vector<int32_t>({1}))).build_output();
  EXPECT_EQ(v1.op()->attr<bool>("validate_indices"), true);
  EXPECT_EQ(values<float>(eval(v1)), (std::vector<float>{4, 5, 6, 7}));
}

TEST(IndexingOps, GatherErrors) {
  Graph g;
  auto p = placeholder(g, f32, {3, 4}, "p");
  auto i = placeholder(g, i32, {-1, 2}, "i");
  auto y = gather(p, i, 0, "g");
  expect_error([&] { eval(y, {{p, iota({3, 4})}, {i, Tensor::from_vector<int32_t>({0, 1, 2, 3}, {2, 2})}}); },
               Code::kInvalidArgument, {"g", "indices[1,1] = 3 is not in [0, 3)"});
  expect_error([&] { eval(y, {{p, iota({3, 4})}, {i, Tensor::from_vector<int32_t>({0, -1}, {1, 2})}}); },
               Code::kInvalidArgument, {"indices[0,1] = -1 is not in [0, 3)"});
  expect_error([&] { gather(p, i, 2); }, Code::kInvalidArgument, {"Expected axis in the range [-2, 2), but got 2"});
  expect_error([&] { gather(constant(g, Tensor(1.0f)), i); }, Code::kInvalidArgument, {"at least rank 1"});
}

// ---- UnsortedSegmentSum, DynamicStitch, OneHot, ListDiff

TEST(IndexingOps, UnsortedSegmentSum) {
  Graph g;
  auto data = constant(g, Tensor::from_vector<float>({1, 2, 3, 4, 5, 6, 7, 8}, {4, 2}));
  auto ids = constant(g, Tensor::from_vector<int32_t>({1, -1, 1, 0}));
  auto y = unsorted_segment_sum(data, ids, constant(g, Tensor(3)));
  EXPECT_EQ(y.shape(), (Shape{3, 2}));
  EXPECT_EQ(values<float>(eval(y)), (std::vector<float>{7, 8, 6, 8, 0, 0}));  // id -1 is dropped
  auto bad = unsorted_segment_sum(data, constant(g, Tensor::from_vector<int64_t>({0, 3, 0, 0})),
                                  constant(g, Tensor(3)), "uss");
  expect_error([&] { eval(bad); }, Code::kInvalidArgument, {"uss", "segment_ids[1] = 3 is out of range [0, 3)"});
  expect_error([&] { unsorted_segment_sum(data, constant(g, Tensor::from_vector<int32_t>({0, 1})), constant(g, Tensor(3))); },
               Code::kInvalidArgument, {"does not start with segment_ids.shape"});
}

TEST(IndexingOps, DynamicStitch) {
  Graph g;
  auto i0 = constant(g, Tensor::from_vector<int32_t>({6}));
  auto i1 = constant(g, Tensor::from_vector<int32_t>({4, 1}, {1, 2}));
  auto i2 = constant(g, Tensor::from_vector<int32_t>({5, 2, 0, 4}, {2, 2}));
  auto d0 = constant(g, Tensor::from_vector<float>({61, 62}, {1, 2}));
  auto d1 = constant(g, Tensor::from_vector<float>({41, 42, 11, 12}, {1, 2, 2}));
  auto d2 = constant(g, Tensor::from_vector<float>({51, 52, 21, 22, 1, 2, 91, 92}, {2, 2, 2}));
  auto y = dynamic_stitch({i0, i1, i2}, {d0, d1, d2});
  EXPECT_EQ(y.op()->type(), "DynamicStitch");
  EXPECT_EQ(y.op()->attr<int64_t>("N"), 3);
  EXPECT_EQ(y.shape(), (Shape{7, 2}));
  // Index 4 appears twice: the later data (91, 92) wins; index 3 is named by none (zeros).
  EXPECT_EQ(values<float>(eval(y)), (std::vector<float>{1, 2, 11, 12, 21, 22, 0, 0, 91, 92, 51, 52, 61, 62}));
  expect_error([&] { dynamic_stitch({i0, i1}, {d0}); }, Code::kInvalidArgument, {"dynamic_stitch"});
  expect_error([&] { dynamic_stitch({i2}, {d0}); }, Code::kInvalidArgument,
               {"data[0].shape = [1,2] does not start with indices[0].shape = [2,2]"});
  auto neg = dynamic_stitch({constant(g, Tensor::from_vector<int32_t>({0, -2}))}, {constant(g, iota({2}))}, "ds");
  expect_error([&] { eval(neg); }, Code::kInvalidArgument, {"ds", "indices[0][1] = -2 is out of range"});
}

TEST(IndexingOps, OneHot) {
  Graph g;
  auto i = constant(g, Tensor::from_vector<int32_t>({0, 2, -1, 5}));
  auto y = one_hot(i, 3);
  EXPECT_EQ(y.op()->type(), "OneHot");
  EXPECT_EQ(y.op()->name(), "one_hot");
  EXPECT_EQ(y.op()->input(1).op()->name(), "one_hot/depth");
  EXPECT_EQ(y.op()->input(2).op()->name(), "one_hot/on_value");
  EXPECT_EQ(y.dtype(), f32);
  EXPECT_EQ(y.shape(), (Shape{4, 3}));
  // Out-of-range indices give a row of off values, as in TF.
  EXPECT_EQ(values<float>(eval(y)), (std::vector<float>{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}));
  auto y0 = one_hot(constant(g, Tensor::from_vector<int64_t>({1, 0}, {1, 2})), 2, 5, -1, 0, i32);
  EXPECT_EQ(y0.shape(), (Shape{2, 1, 2}));
  EXPECT_EQ(values<int32_t>(eval(y0)), (std::vector<int32_t>{-1, 5, 5, -1}));
  auto u8 = one_hot(constant(g, Tensor::from_vector<uint8_t>({1})), 2, 1, 0, 1, f64);
  EXPECT_EQ(values<double>(eval(u8)), (std::vector<double>{0, 1}));
  expect_error([&] { one_hot(i, -1); }, Code::kInvalidArgument, {"depth must be non-negative, got: -1"});
  expect_error([&] { one_hot(i, 3, 1, 0, 2); }, Code::kInvalidArgument, {"Expected axis to be -1 or between [0, 2)"});
}

TEST(IndexingOps, ListDiff) {
  Graph g;
  auto x = constant(g, Tensor::from_vector<int32_t>({1, 2, 3, 4, 5, 6}));
  auto y = constant(g, Tensor::from_vector<int32_t>({1, 3, 5}));
  auto [out, idx] = setdiff1d(x, y);
  EXPECT_EQ(out.op()->type(), "ListDiff");
  Session sess(g);
  auto r = sess.run({}, {out, idx});
  EXPECT_EQ(values<int32_t>(r[0]), (std::vector<int32_t>{2, 4, 6}));
  EXPECT_EQ(values<int32_t>(r[1]), (std::vector<int32_t>{1, 3, 5}));
  expect_error([&] { setdiff1d(constant(g, iota({2, 2})), constant(g, iota({2}))); }, Code::kInvalidArgument,
               {"x should be a 1D vector"});
}

// ---- gradients: every differentiable op of the family, in float64

struct GradCase {
  const char* op_type;
  const char* what;
  std::function<Output(const std::vector<Output>&)> f;
  std::vector<Tensor> xs;
};

Output hidden(const Output& x) { return placeholder_with_default(x, Shape::unknown()); }

Output int_const(Graph& g, std::vector<int32_t> v, const Shape& s) { return constant(g, Tensor::from_vector(v, s)); }

std::vector<GradCase> indexing_gradient_cases() {
  using V = std::vector<Output>;
  return {
      {"Slice", "rank 3", [](const V& v) { return slice(v[0], {1, 0, 1}, {1, -1, 2}); }, {random_tensor({3, 2, 4}, 1)}},
      {"Slice", "unknown static shape", [](const V& v) { return slice(hidden(v[0]), {0, 1}, {2, 2}); },
       {random_tensor({3, 4}, 2)}},
      {"StridedSlice", "new axis, ellipsis, shrink", [](const V& v) {
         return strided_slice(v[0], {Slice{1, -1}, NewAxis, Ellipsis, 2});
       }, {random_tensor({4, 3, 5}, 3)}},
      {"StridedSlice", "negative strides", [](const V& v) {
         return strided_slice(v[0], {Slice{.step = -2}, Slice{3, 0, -1}});
       }, {random_tensor({5, 4}, 4)}},
      {"StridedSlice", "empty result", [](const V& v) { return strided_slice(v[0], {Slice{2, 2}}); },
       {random_tensor({4, 2}, 5)}},
      {"StridedSlice", "unknown static shape", [](const V& v) { return strided_slice(hidden(v[0]), {Ellipsis, -1}); },
       {random_tensor({2, 3}, 6)}},
      {"StridedSliceGrad", "its gradient is a strided slice", [](const V& v) {
         Graph& g = *v[0].graph();
         return OpBuilder(g, "StridedSliceGrad", "ssg").input(int_const(g, {4, 3}, {2})).input(int_const(g, {3, 0}, {2}))
             .input(int_const(g, {0, 3}, {2})).input(int_const(g, {-2, 2}, {2})).input(v[0])
             .build_output();
       }, {random_tensor({2, 2}, 7)}},
      {"GatherV2", "axis 0, repeated indices", [](const V& v) {
         return gather(v[0], int_const(*v[0].graph(), {2, 0, 2}, {3}));
       }, {random_tensor({3, 2}, 8)}},
      {"GatherV2", "axis 1, matrix of indices", [](const V& v) {
         return gather(v[0], int_const(*v[0].graph(), {1, 1, 0, 3}, {2, 2}), 1);
       }, {random_tensor({2, 4, 3}, 9)}},
      {"GatherV2", "axis -1, unknown static shape", [](const V& v) {
         return gather(hidden(v[0]), int_const(*v[0].graph(), {2, 0}, {2}), -1);
       }, {random_tensor({3, 3}, 10)}},
      {"GatherV2", "empty indices", [](const V& v) {
         return gather(v[0], constant(*v[0].graph(), Tensor(i32, {0})));
       }, {random_tensor({3, 2}, 11)}},
      {"Gather", "v1 op", [](const V& v) {
         Graph& g = *v[0].graph();
         return OpBuilder(g, "Gather", "Gather").input(v[0]).input(int_const(g, {1, 1, 2}, {3})).build_output();
       }, {random_tensor({3, 2}, 12)}},
      {"UnsortedSegmentSum", "with a dropped id", [](const V& v) {
         Graph& g = *v[0].graph();
         return unsorted_segment_sum(v[0], int_const(g, {2, -1, 0, 2}, {4}), constant(g, Tensor(4)));
       }, {random_tensor({4, 3}, 13)}},
      {"UnsortedSegmentSum", "matrix of ids", [](const V& v) {
         Graph& g = *v[0].graph();
         return unsorted_segment_sum(v[0], int_const(g, {0, 1, 1, 0}, {2, 2}), constant(g, Tensor(2)));
       }, {random_tensor({2, 2, 3}, 14)}},
      {"DynamicStitch", "two inputs, no repeated index", [](const V& v) {
         Graph& g = *v[0].graph();
         return dynamic_stitch({int_const(g, {3, 0}, {2}), int_const(g, {1, 2, 4}, {3})}, {v[0], v[1]});
       }, {random_tensor({2, 3}, 15), random_tensor({3, 3}, 16)}},
  };
}

TEST(IndexingOpsGradients, MatchNumericDifferences) {
  for (const GradCase& c : indexing_gradient_cases()) {
    SCOPED_TRACE(std::string(c.op_type) + ": " + c.what);
    bool built = false;
    auto f = [&](const std::vector<Output>& v) {
      Output y = c.f(v);
      for (Operation* op : y.graph()->get_operations()) built = built || op->type() == c.op_type;
      return y;
    };
    testing::expect_gradients_match(f, c.xs);
    EXPECT_TRUE(built) << "the case builds no " << c.op_type;
  }
}

TEST(IndexingOpsGradients, GatherGradientIsDenseUnsortedSegmentSum) {
  Graph g;
  auto p = placeholder(g, f32, {4, 2}, "p");
  auto y = gather(p, constant(g, Tensor::from_vector<int32_t>({1, 1, 3})));
  auto dp = gradients({reduce_sum(y)}, {p})[0];
  ASSERT_TRUE(static_cast<bool>(dp));
  EXPECT_EQ(dp.op()->type(), "UnsortedSegmentSum");
  EXPECT_EQ(dp.shape(), (Shape{4, 2}));
  EXPECT_EQ(values<float>(eval(dp, {{p, iota({4, 2})}})), (std::vector<float>{0, 0, 2, 2, 0, 0, 1, 1}));
  // StridedSlice's gradient is TF's StridedSliceGrad op with the forward op's masks.
  auto s = strided_slice(p, {Slice{.step = -1}, 0});
  auto ds = gradients({reduce_sum(s)}, {p})[0];
  EXPECT_EQ(ds.op()->type(), "StridedSliceGrad");
  EXPECT_EQ(ds.op()->attr<int64_t>("shrink_axis_mask"), 2);
  EXPECT_EQ(values<float>(eval(ds, {{p, iota({4, 2})}})), (std::vector<float>{1, 0, 1, 0, 1, 0, 1, 0}));
}

}  // namespace
}  // namespace fg
