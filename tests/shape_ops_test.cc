// Shape and layout ops (ops/shape_ops.h): values, TF's errors, shape functions, gradients.
#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "graph/gradients.h"
#include "graph/op_registry.h"
#include "ops/array.h"
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

Tensor iota_f(const Shape& s) {
  Tensor t = Tensor::empty(f32, s);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = static_cast<float>(i);
  return t;
}

// ---- Tile

TEST(ShapeOps, TileValuesAndShapes) {
  Graph g;
  auto x = constant(g, Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
  auto t = tile(x, {2, 2});
  EXPECT_EQ(t.op()->type(), "Tile");
  EXPECT_EQ(t.op()->name(), "Tile");
  EXPECT_EQ(t.op()->input(1).op()->name(), "Tile/multiples");
  EXPECT_EQ(t.shape(), (Shape{4, 6}));
  EXPECT_EQ(values<float>(eval(t)), (std::vector<float>{1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6,  //
                                                        1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6}));
  // Rank 3, a multiple of 1 in the middle, int and bool dtypes.
  auto i3 = constant(g, Tensor::from_vector<int32_t>({1, 2, 3, 4}, {2, 1, 2}));
  Tensor r = eval(tile(i3, {1, 3, 2}));
  EXPECT_EQ(r.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(values<int32_t>(r), (std::vector<int32_t>{1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2,  //
                                                      3, 4, 3, 4, 3, 4, 3, 4, 3, 4, 3, 4}));
  auto b = constant(g, Tensor::from_vector<bool>({true, false}));
  EXPECT_EQ(values<bool>(eval(tile(b, {2}))), (std::vector<bool>{true, false, true, false}));
  // A zero multiple, and a scalar.
  EXPECT_EQ(eval(tile(x, {0, 1})).shape(), (Shape{0, 3}));
  EXPECT_EQ(eval(tile(constant(g, Tensor(2.5f)), std::vector<int64_t>{})).scalar<float>(), 2.5f);
  // Unknown dims stay unknown statically and are right at run time.
  auto p = placeholder(g, f32, {-1, 3});
  auto tp = tile(p, {3, 1});
  EXPECT_EQ(tp.shape(), (Shape{-1, 3}));
  EXPECT_EQ(eval(tp, {{p, iota_f({2, 3})}}).shape(), (Shape{6, 3}));
}

TEST(ShapeOps, TileErrors) {
  Graph g;
  auto x = placeholder(g, f32, {2, 3}, "x");
  expect_error([&] { tile(x, {2}); }, Code::kInvalidArgument, {"Tile", "vector of length 2 but got length 1"});
  auto m = placeholder(g, i32, {-1}, "m");
  auto t = tile(placeholder(g, f32, Shape::unknown(), "u"), m, "tiled");
  expect_error([&] { eval(t, {{g.get_tensor_by_name("u:0"), iota_f({2, 3})}, {m, Tensor::from_vector<int32_t>({1})}}); },
               Code::kInvalidArgument, {"tiled", "vector of length 2 but got length 1"});
  expect_error([&] { eval(t, {{g.get_tensor_by_name("u:0"), iota_f({2, 3})}, {m, Tensor::from_vector<int32_t>({1, -2})}}); },
               Code::kInvalidArgument, {"tiled", "Expected multiples[1] >= 0, but got -2"});
}

// ---- Size, Rank, ShapeN

TEST(ShapeOps, SizeRankShapeN) {
  Graph g;
  auto x = placeholder(g, f32, {-1, 3}, "x");
  auto s = size(x), s64 = size(x, i64), r = rank(x);
  EXPECT_EQ(s.op()->type(), "Size");
  EXPECT_EQ(s.shape(), Shape{});
  EXPECT_EQ(s64.dtype(), i64);
  EXPECT_EQ(r.op()->type(), "Rank");
  EXPECT_EQ(r.dtype(), i32);
  auto y = placeholder(g, f32, Shape::unknown(), "y");
  auto sn = shape_n({x, y});
  ASSERT_EQ(sn.size(), 2u);
  EXPECT_EQ(sn[0].op()->type(), "ShapeN");
  EXPECT_EQ(sn[0].op(), sn[1].op());
  EXPECT_EQ(sn[0].shape(), (Shape{2}));
  EXPECT_EQ(sn[1].shape(), (Shape{-1}));
  EXPECT_EQ(sn[0].op()->attr<int64_t>("N"), 2);

  Session sess(g);
  const FeedDict feeds{{x, iota_f({4, 3})}, {y, Tensor(f32, {2, 0, 5})}};
  auto out = sess.run(feeds, {s, s64, r, sn[0], sn[1], rank(y), size(y)});
  EXPECT_EQ(out[0].scalar<int32_t>(), 12);
  EXPECT_EQ(out[1].scalar<int64_t>(), 12);
  EXPECT_EQ(out[2].scalar<int32_t>(), 2);
  EXPECT_EQ(values<int32_t>(out[3]), (std::vector<int32_t>{4, 3}));
  EXPECT_EQ(values<int32_t>(out[4]), (std::vector<int32_t>{2, 0, 5}));
  EXPECT_EQ(out[5].scalar<int32_t>(), 3);
  EXPECT_EQ(out[6].scalar<int32_t>(), 0);
}

// ---- Range

TEST(ShapeOps, RangeValuesShapesAndErrors) {
  Graph g;
  auto r = range(g, 0, 10, 3);
  EXPECT_EQ(r.op()->name(), "range");
  EXPECT_EQ(r.op()->input(0).op()->name(), "range/start");
  EXPECT_EQ(r.op()->input(2).op()->name(), "range/delta");
  EXPECT_EQ(r.shape(), (Shape{4}));
  EXPECT_EQ(values<int32_t>(eval(r)), (std::vector<int32_t>{0, 3, 6, 9}));
  EXPECT_EQ(values<int32_t>(eval(range(g, 5, -1, -2))), (std::vector<int32_t>{5, 3, 1}));
  EXPECT_EQ(eval(range(g, 4, 4)).shape(), (Shape{0}));
  auto fr = range(constant(g, Tensor(0.5)), constant(g, Tensor(2.0)), constant(g, Tensor(0.5)));
  EXPECT_EQ(fr.shape(), (Shape{3}));
  const Tensor fv = eval(fr);
  EXPECT_EQ(fv.dtype(), f64);
  EXPECT_EQ(values<double>(fv), (std::vector<double>{0.5, 1.0, 1.5}));
  // int64 near its limits: the size does not overflow.
  auto big = range(constant(g, Tensor(int64_t{-9000000000000000000})), constant(g, Tensor(int64_t{9000000000000000000})),
                   constant(g, Tensor(int64_t{6000000000000000000})));
  EXPECT_EQ(values<int64_t>(eval(big)),
            (std::vector<int64_t>{-9000000000000000000, -3000000000000000000, 3000000000000000000}));
  // Constant arguments fail at graph build, fed ones when run.
  expect_error([&] { range(g, 0, 5, 0); }, Code::kInvalidArgument, {"Range", "Requires delta != 0"});
  expect_error([&] { range(g, 5, 0, 1); }, Code::kInvalidArgument, {"Requires start <= limit when delta > 0: 5/0"});
  auto s = placeholder(g, i32, {}, "s");
  auto rr = range(s, constant(g, Tensor(3)), constant(g, Tensor(1)), "rr");
  EXPECT_EQ(rr.shape(), (Shape{-1}));
  expect_error([&] { eval(rr, {{s, Tensor(7)}}); }, Code::kInvalidArgument,
               {"rr", "Requires start <= limit when delta > 0: 7/3"});
  expect_error([&] { range(placeholder(g, i32, {2}), s, s); }, Code::kInvalidArgument, {"start must be a scalar"});
}

// ---- Pack / Unpack

TEST(ShapeOps, StackAndUnstack) {
  Graph g;
  auto a = constant(g, Tensor::from_vector<float>({1, 2, 3}));
  auto b = constant(g, Tensor::from_vector<float>({4, 5, 6}));
  auto s0 = stack({a, b});
  EXPECT_EQ(s0.op()->type(), "Pack");
  EXPECT_EQ(s0.op()->name(), "stack");
  EXPECT_EQ(s0.shape(), (Shape{2, 3}));
  EXPECT_EQ(values<float>(eval(s0)), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  auto s1 = stack({a, b}, -1);
  EXPECT_EQ(s1.shape(), (Shape{3, 2}));
  EXPECT_EQ(values<float>(eval(s1)), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  // Scalars stack into a vector; one input is allowed.
  EXPECT_EQ(values<int32_t>(eval(stack({constant(g, Tensor(7)), constant(g, Tensor(8))}))),
            (std::vector<int32_t>{7, 8}));
  EXPECT_EQ(eval(stack({a})).shape(), (Shape{1, 3}));

  auto m = constant(g, Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
  auto cols = unstack(m, 1);
  ASSERT_EQ(cols.size(), 3u);
  EXPECT_EQ(cols[0].op()->type(), "Unpack");
  EXPECT_EQ(cols[0].op()->name(), "unstack");
  EXPECT_EQ(cols[2].shape(), (Shape{2}));
  Session sess(g);
  auto out = sess.run({}, {cols[0], cols[1], cols[2]});
  EXPECT_EQ(values<float>(out[0]), (std::vector<float>{1, 4}));
  EXPECT_EQ(values<float>(out[2]), (std::vector<float>{3, 6}));
  auto rows = unstack(m, -2);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(values<float>(eval(rows[1])), (std::vector<float>{4, 5, 6}));
}

TEST(ShapeOps, StackAndUnstackErrors) {
  Graph g;
  auto a = placeholder(g, f32, {3}, "a");
  expect_error([&] { stack({a, placeholder(g, f32, {2})}); }, Code::kInvalidArgument, {"Pack", "must match"});
  expect_error([&] { stack({a, a}, 2); }, Code::kInvalidArgument, {"Invalid axis: 2; must be in [-2,2)"});
  auto u = placeholder(g, f32, Shape::unknown(), "u");
  auto s = stack({u, a}, 0, "packed");
  expect_error([&] { eval(s, {{u, iota_f({2})}, {a, iota_f({3})}}); }, Code::kInvalidArgument,
               {"packed", "Shapes of all inputs must match: values[0].shape = [2] != values[1].shape = [3]"});
  expect_error([&] { unstack(u); }, Code::kInvalidArgument, {"cannot infer num"});
  auto parts = unstack(u, 0, 2, "parts");
  expect_error([&] { eval(parts[0], {{u, iota_f({3, 2})}}); }, Code::kInvalidArgument,
               {"parts", "Input shape axis 0 must equal 2, got shape [3,2]"});
  expect_error([&] { unstack(placeholder(g, f32, {3, 2}), 0, 2); }, Code::kInvalidArgument,
               {"Unpack", "Dimension must be 2 but is 3"});
}

// ---- ConcatV2 / ConcatOffset

TEST(ShapeOps, ConcatValuesAndShapes) {
  Graph g;
  auto a = constant(g, Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2}));
  auto b = constant(g, Tensor::from_vector<float>({5, 6}, {2, 1}));
  auto c = concat({a, b}, 1);
  EXPECT_EQ(c.op()->type(), "ConcatV2");
  EXPECT_EQ(c.op()->name(), "concat");
  EXPECT_EQ(c.op()->input(2).op()->name(), "concat/axis");
  EXPECT_EQ(c.shape(), (Shape{2, 3}));
  EXPECT_EQ(values<float>(eval(c)), (std::vector<float>{1, 2, 5, 3, 4, 6}));
  auto d = concat({a, a, constant(g, Tensor(f32, {0, 2}))}, -2);
  EXPECT_EQ(d.shape(), (Shape{4, 2}));
  EXPECT_EQ(values<float>(eval(d)), (std::vector<float>{1, 2, 3, 4, 1, 2, 3, 4}));
  // One value: an Identity named as the concat would be.
  auto one = concat({a}, 0);
  EXPECT_EQ(one.op()->type(), "Identity");
  EXPECT_EQ(one.op()->name(), "concat_2");
  // Partly known shapes.
  auto p = placeholder(g, f32, {-1, 2}, "p");
  EXPECT_EQ(concat({p, a}, 0).shape(), (Shape{-1, 2}));
  EXPECT_EQ(concat({p, a}, 1).shape(), (Shape{2, 4}));
}

TEST(ShapeOps, ConcatErrors) {
  Graph g;
  auto a = placeholder(g, f32, {2, 2}, "a");
  expect_error([&] { concat({a, placeholder(g, f32, {3, 3})}, 0); }, Code::kInvalidArgument,
               {"ConcatV2", "Dimension 1 in both shapes must be equal, but are 2 and 3"});
  expect_error([&] { concat({a, a}, 2); }, Code::kInvalidArgument, {"Expected concat_dim in [-2, 2), but got 2"});
  expect_error([&] { concat({constant(g, Tensor(1.0f)), constant(g, Tensor(2.0f))}, 0); }, Code::kInvalidArgument,
               {"Can't concatenate scalars"});
  auto u = placeholder(g, f32, Shape::unknown(), "u");
  auto c = concat({a, u}, 0, "cc");
  expect_error([&] { eval(c, {{a, iota_f({2, 2})}, {u, iota_f({2, 3})}}); }, Code::kInvalidArgument,
               {"cc", "ConcatOp : Dimensions of inputs should match: shape[0] = [2,2] vs. shape[1] = [2,3]"});
  expect_error([&] { eval(c, {{a, iota_f({2, 2})}, {u, iota_f({4})}}); }, Code::kInvalidArgument,
               {"ConcatOp : Ranks of all input tensors should match"});
  auto ax = placeholder(g, i32, {}, "ax");
  auto c2 = OpBuilder(g, "ConcatV2", "c2").input_list({a, a}).input(ax).build_output();
  EXPECT_EQ(c2.shape(), (Shape{-1, -1}));
  expect_error([&] { eval(c2, {{a, iota_f({2, 2})}, {ax, Tensor(-3)}}); }, Code::kInvalidArgument,
               {"c2", "Expected concatenating dimensions in the range [-2, 2), but got -3"});
  EXPECT_EQ(eval(c2, {{a, iota_f({2, 2})}, {ax, Tensor(-1)}}).shape(), (Shape{2, 4}));
}

TEST(ShapeOps, ConcatOffset) {
  Graph g;
  auto s0 = constant(g, Tensor::from_vector<int32_t>({2, 3, 5}));
  auto s1 = constant(g, Tensor::from_vector<int32_t>({2, 7, 5}));
  auto s2 = constant(g, Tensor::from_vector<int32_t>({2, 1, 5}));
  Operation* op = OpBuilder(g, "ConcatOffset", "off").input(constant(g, Tensor(1))).input_list({s0, s1, s2}).build();
  ASSERT_EQ(op->num_outputs(), 3);
  EXPECT_EQ(op->output(1).shape(), (Shape{3}));
  Session sess(g);
  auto out = sess.run({}, {op->output(0), op->output(1), op->output(2)});
  EXPECT_EQ(values<int32_t>(out[0]), (std::vector<int32_t>{0, 0, 0}));
  EXPECT_EQ(values<int32_t>(out[1]), (std::vector<int32_t>{0, 3, 0}));
  EXPECT_EQ(values<int32_t>(out[2]), (std::vector<int32_t>{0, 10, 0}));
  Operation* bad = OpBuilder(g, "ConcatOffset", "bad").input(constant(g, Tensor(0))).input_list({s0, s1}).build();
  expect_error([&] { sess.run({}, {bad->output(0)}); }, Code::kInvalidArgument,
               {"bad", "All dimensions except 0 must match. Input 1"});
}

// ---- Transpose / InvertPermutation

TEST(ShapeOps, TransposeValuesAndShapes) {
  Graph g;
  auto x = constant(g, iota_f({2, 3, 4}));
  auto t = transpose(x, {2, 0, 1});
  EXPECT_EQ(t.op()->type(), "Transpose");
  EXPECT_EQ(t.op()->name(), "transpose");
  EXPECT_EQ(t.op()->input(1).op()->name(), "transpose/perm");
  EXPECT_EQ(t.shape(), (Shape{4, 2, 3}));
  const Tensor v = eval(t);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) EXPECT_EQ(v.at<float>({k, i, j}), static_cast<float>(i * 12 + j * 4 + k));
  // The default reverses the dims; the identity permutation returns the input unchanged.
  EXPECT_EQ(transpose(x).shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(values<float>(eval(transpose(x, {0, 1, 2}))), values<float>(iota_f({2, 3, 4})));
  // Unknown rank: perm = (rank - 1) - range(rank).
  auto u = placeholder(g, f32, Shape::unknown(), "u");
  const Tensor ut = eval(transpose(u), {{u, iota_f({2, 3})}});
  EXPECT_EQ(ut.shape(), (Shape{3, 2}));
  EXPECT_EQ(values<float>(ut), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  // A known perm with an unknown input still gives the rank.
  EXPECT_EQ(transpose(u, {1, 0}).shape(), (Shape{-1, -1}));
}

TEST(ShapeOps, TransposeAndInvertPermutationErrors) {
  Graph g;
  auto x = placeholder(g, f32, {2, 3}, "x");
  expect_error([&] { transpose(x, {0, 2}); }, Code::kInvalidArgument, {"perm dim 2 is out of range of input rank 2"});
  auto p = placeholder(g, i32, {-1}, "p");
  auto t = transpose(x, p, "tt");
  expect_error([&] { eval(t, {{x, iota_f({2, 3})}, {p, Tensor::from_vector<int32_t>({1, 1})}}); },
               Code::kInvalidArgument, {"tt", "0 is missing from {1,1}."});
  expect_error([&] { eval(t, {{x, iota_f({2, 3})}, {p, Tensor::from_vector<int32_t>({0})}}); },
               Code::kInvalidArgument, {"transpose expects a vector of size 2. But input(1) is a vector of size 1"});

  auto ip = invert_permutation(p, "inv");
  EXPECT_EQ(ip.shape(), (Shape{-1}));
  EXPECT_EQ(values<int32_t>(eval(ip, {{p, Tensor::from_vector<int32_t>({2, 0, 3, 1})}})),
            (std::vector<int32_t>{1, 3, 0, 2}));
  expect_error([&] { eval(ip, {{p, Tensor::from_vector<int32_t>({0, 3})}}); }, Code::kInvalidArgument,
               {"inv", "3 is not between 0 and 2"});
  expect_error([&] { eval(ip, {{p, Tensor::from_vector<int32_t>({1, 1})}}); }, Code::kInvalidArgument,
               {"1 is duplicated in the input."});
}

// ---- Pad

TEST(ShapeOps, PadValuesAndErrors) {
  Graph g;
  auto x = constant(g, Tensor::from_vector<int32_t>({1, 2, 3, 4}, {2, 2}));
  auto p = pad(x, {{1, 0}, {0, 2}});
  EXPECT_EQ(p.op()->type(), "Pad");
  EXPECT_EQ(p.op()->input(1).op()->name(), "Pad/paddings");
  EXPECT_EQ(p.shape(), (Shape{3, 4}));
  EXPECT_EQ(values<int32_t>(eval(p)), (std::vector<int32_t>{0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0}));
  expect_error([&] { pad(x, {{1, 0}}); }, Code::kInvalidArgument, {"Pad", "first dimension of paddings must be the rank"});
  expect_error([&] { pad(x, {{1, 0}, {0, -1}}); }, Code::kInvalidArgument, {"Paddings must be non-negative"});
  auto pp = placeholder(g, i32, {-1, 2}, "pp");
  auto q = pad(x, pp, "padded");
  EXPECT_EQ(q.shape(), (Shape{-1, -1}));
  expect_error([&] { eval(q, {{pp, Tensor::from_vector<int32_t>({0, 1, -1, 0}, {2, 2})}}); }, Code::kInvalidArgument,
               {"padded", "Paddings must be non-negative: -1 0"});
}

// ---- PreventGradient

TEST(ShapeOps, PreventGradientForwardsAndRefusesItsGradient) {
  Graph g;
  auto x = placeholder(g, f32, {2}, "x");
  auto y = prevent_gradient(x * 2.0f, "no second derivative here", "pg");
  EXPECT_EQ(y.op()->type(), "PreventGradient");
  EXPECT_EQ(y.op()->attr<std::string>("message"), "no second derivative here");
  EXPECT_EQ(values<float>(eval(y, {{x, Tensor::from_vector<float>({1, 2})}})), (std::vector<float>{2, 4}));
  expect_error([&] { gradients({reduce_sum(y)}, {x}); }, Code::kInvalidArgument,
               {"Gradient explicitly disabled. Reason: no second derivative here", "pg"});
  // A path that does not cross it differentiates.
  EXPECT_TRUE(static_cast<bool>(gradients({reduce_sum(x * x) + reduce_sum(stop_gradient(y))}, {x})[0]));
}

TEST(ShapeOps, NoneInputsAreInvalidArgument) {
  Graph g;
  auto x = placeholder(g, f32, {2}, "x");
  expect_error([&] { tile(Output(), {1}); }, Code::kInvalidArgument, {"tile", "none tensor"});
  expect_error([&] { size(Output()); }, Code::kInvalidArgument, {"Size", "none tensor"});
  expect_error([&] { stack({x, Output()}); }, Code::kInvalidArgument, {"Pack", "none tensor"});
  expect_error([&] { concat({Output(), x}, 0); }, Code::kInvalidArgument, {"concat", "none tensor"});
  expect_error([&] { transpose(Output()); }, Code::kInvalidArgument, {"transpose", "none tensor"});
  expect_error([&] { pad(Output(), {{0, 0}}); }, Code::kInvalidArgument, {"pad", "none tensor"});
}

// ---- gradients: every differentiable op of the family, in float64

struct GradCase {
  const char* op_type;  // the op whose gradient the case checks (it must be in the graph)
  const char* what;
  std::function<Output(const std::vector<Output>&)> f;
  std::vector<Tensor> xs;
};

// The same function with x's static shape hidden, so the gradient takes its dynamic-shape path.
Output hidden(const Output& x) { return placeholder_with_default(x, Shape::unknown()); }

std::vector<GradCase> shape_op_gradient_cases() {
  using V = std::vector<Output>;
  return {
      {"Tile", "rank 2", [](const V& v) { return tile(v[0], {2, 3}); }, {random_tensor({2, 3}, 1)}},
      {"Tile", "rank 3, unknown static shape", [](const V& v) { return tile(hidden(v[0]), {1, 2, 2}); },
       {random_tensor({2, 1, 3}, 2)}},
      {"Tile", "empty input", [](const V& v) { return tile(v[0], {2, 1}); }, {random_tensor({0, 3}, 3)}},
      {"Pack", "axis 0", [](const V& v) { return stack({v[0], v[1]}); }, {random_tensor({2, 3}, 4), random_tensor({2, 3}, 5)}},
      {"Pack", "negative axis", [](const V& v) { return stack({v[0], v[1], v[0]}, -1); },
       {random_tensor({2, 3}, 6), random_tensor({2, 3}, 7)}},
      {"Unpack", "axis 1, one output unused", [](const V& v) {
         auto parts = unstack(v[0], 1);
         return parts[0] * 2.0 + parts[2];
       }, {random_tensor({4, 3}, 8)}},
      {"Unpack", "negative axis", [](const V& v) { return stack(unstack(v[0], -1), 0); }, {random_tensor({2, 3, 2}, 9)}},
      {"ConcatV2", "axis 0, three inputs", [](const V& v) { return concat({v[0], v[1], v[0]}, 0); },
       {random_tensor({2, 3}, 10), random_tensor({1, 3}, 11)}},
      {"ConcatV2", "negative axis, empty input", [](const V& v) { return concat({v[0], v[1]}, -1); },
       {random_tensor({2, 0}, 12), random_tensor({2, 3}, 13)}},
      {"ConcatV2", "unknown static shapes (ShapeN path)", [](const V& v) { return concat({hidden(v[0]), v[1]}, 1); },
       {random_tensor({2, 2}, 14), random_tensor({2, 3}, 15)}},
      {"ConcatV2", "axis fed at run time (dynamic non-negative axis)", [](const V& v) {
         Graph& g = *v[0].graph();
         auto axis = placeholder_with_default(constant(g, Tensor(-1)), Shape{});
         return OpBuilder(g, "ConcatV2", "concat_dyn").input_list({v[0], v[1]}).input(axis).build_output();
       }, {random_tensor({2, 2}, 16), random_tensor({2, 3}, 17)}},
      {"Transpose", "rank 3", [](const V& v) { return transpose(v[0], {1, 2, 0}); }, {random_tensor({2, 3, 4}, 18)}},
      {"Transpose", "unknown rank", [](const V& v) { return transpose(hidden(v[0])); }, {random_tensor({3, 2}, 19)}},
      {"Pad", "rank 2", [](const V& v) { return pad(v[0], {{1, 2}, {0, 1}}); }, {random_tensor({2, 3}, 20)}},
      {"Pad", "unknown static shape", [](const V& v) { return pad(hidden(v[0]), {{0, 1}, {2, 0}, {1, 1}}); },
       {random_tensor({2, 1, 2}, 21)}},
  };
}

TEST(ShapeOpsGradients, MatchNumericDifferences) {
  for (const GradCase& c : shape_op_gradient_cases()) {
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

TEST(ShapeOpsGradients, GradientsBuildTfsOps) {
  Graph g;
  auto x = placeholder(g, f32, {2, 3}, "x");
  auto grads = gradients({reduce_sum(tile(x, {2, 2}))}, {x});
  ASSERT_TRUE(static_cast<bool>(grads[0]));
  EXPECT_EQ(grads[0].shape(), (Shape{2, 3}));
  // TF's _TileGrad: Pack -> Transpose -> Reshape -> Sum over a Range of axes.
  std::set<std::string> types;
  for (Operation* op : g.get_operations())
    if (op->name().rfind("gradients/Tile_grad/", 0) == 0) types.insert(op->type());
  for (const char* t : {"Pack", "Transpose", "Reshape", "Range", "Sum"}) EXPECT_TRUE(types.count(t)) << t;
  auto c = concat({x, x}, 1);
  auto gc = gradients({reduce_sum(c)}, {x});
  EXPECT_NE(g.find_operation("gradients_1/concat_grad/ConcatOffset"), nullptr);
  EXPECT_EQ(values<float>(eval(gc[0], {{x, iota_f({2, 3})}})), std::vector<float>(6, 2.0f));
}

}  // namespace
}  // namespace fg
