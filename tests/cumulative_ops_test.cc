// Cumsum, Cumprod and the gradient of Prod (ops/cumulative.h).
#include <gtest/gtest.h>

#include <functional>

#include "graph/gradients.h"
#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/cumulative.h"
#include "ops/math.h"
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

TEST(CumulativeOps, CumsumAndCumprodValues) {
  Graph g;
  auto x = constant(g, Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
  auto s = cumsum(x, 1);
  EXPECT_EQ(s.op()->type(), "Cumsum");
  EXPECT_EQ(s.op()->name(), "Cumsum");
  EXPECT_EQ(s.op()->input(1).op()->name(), "Cumsum/axis");
  EXPECT_EQ(s.shape(), (Shape{2, 3}));
  EXPECT_EQ(values<float>(eval(s)), (std::vector<float>{1, 3, 6, 4, 9, 15}));
  EXPECT_EQ(values<float>(eval(cumsum(x, 0))), (std::vector<float>{1, 2, 3, 5, 7, 9}));
  EXPECT_EQ(values<float>(eval(cumsum(x, -1, true))), (std::vector<float>{0, 1, 3, 0, 4, 9}));
  EXPECT_EQ(values<float>(eval(cumsum(x, 1, false, true))), (std::vector<float>{6, 5, 3, 15, 11, 6}));
  EXPECT_EQ(values<float>(eval(cumsum(x, 1, true, true))), (std::vector<float>{5, 3, 0, 11, 6, 0}));
  EXPECT_EQ(values<float>(eval(cumprod(x, 1))), (std::vector<float>{1, 2, 6, 4, 20, 120}));
  EXPECT_EQ(values<float>(eval(cumprod(x, 0, true))), (std::vector<float>{1, 1, 1, 1, 2, 3}));
  EXPECT_EQ(values<float>(eval(cumprod(x, 1, true, true))), (std::vector<float>{6, 3, 1, 30, 6, 1}));
  auto i = constant(g, Tensor::from_vector<int64_t>({3, -1, 2}));
  EXPECT_EQ(values<int64_t>(eval(cumsum(i))), (std::vector<int64_t>{3, 2, 4}));
  EXPECT_EQ(eval(cumsum(constant(g, Tensor(f32, {0, 4})), 0)).shape(), (Shape{0, 4}));
}

TEST(CumulativeOps, LargeScanSplitsAcrossThreadsAndMatchesASerialScan) {
  Graph g;
  const Tensor x = random_tensor({3, 4000, 70}, 5);
  auto p = placeholder(g, f64, x.shape());
  const Tensor y = eval(cumsum(p, 1, false, true), {{p, x}});
  for (int a = 0; a < 3; ++a)
    for (int c = 0; c < 70; c += 23) {
      double acc = 0;
      for (int b = 3999; b >= 0; --b) {
        acc += x.at<double>({a, b, c});
        ASSERT_DOUBLE_EQ(y.at<double>({a, b, c}), acc);
      }
    }
}

TEST(CumulativeOps, Errors) {
  Graph g;
  auto x = placeholder(g, f32, {2, 3}, "x");
  expect_error([&] { cumsum(x, 2); }, Code::kInvalidArgument,
               {"Cumsum", "ScanOp: Expected scan axis in the range [-2, 2), but got 2"});
  auto a = placeholder(g, i32, {}, "a");
  auto s = OpBuilder(g, "Cumprod", "cp").input(x).input(a).build_output();
  expect_error([&] { eval(s, {{x, Tensor(f32, {2, 3})}, {a, Tensor(-3)}}); }, Code::kInvalidArgument,
               {"cp", "Expected scan axis in the range [-2, 2), but got -3"});
}

TEST(CumulativeOps, ProdGradientHandlesZerosAsTf) {
  Graph g;
  auto x = placeholder(g, f32, {2, 3}, "x");
  auto y = reduce_prod(x, {1});
  auto dx = gradients({reduce_sum(y)}, {x})[0];
  ASSERT_TRUE(static_cast<bool>(dx));
  // Row 0 has one zero: only the zero's gradient is non-zero; row 1 has two: all are zero.
  const Tensor v = eval(dx, {{x, Tensor::from_vector<float>({2, 0, 3, 0, 5, 0}, {2, 3})}});
  EXPECT_EQ(values<float>(v), (std::vector<float>{0, 6, 0, 0, 0, 0}));
  // Built from exclusive cumprods as TF's _ProdGrad.
  int cumprods = 0;
  for (Operation* op : g.get_operations()) cumprods += op->type() == "Cumprod";
  EXPECT_EQ(cumprods, 2);
}

// ---- gradients, float64

struct GradCase {
  const char* op_type;
  const char* what;
  std::function<Output(const std::vector<Output>&)> f;
  std::vector<Tensor> xs;
};

Output hidden(const Output& x) { return placeholder_with_default(x, Shape::unknown()); }

Tensor away_from_zero(const Shape& s, uint64_t seed) {
  Tensor t = random_tensor(s, seed, 0.5, 1.5);
  double sign = 1;
  for (double& v : t.flat<double>()) v *= (sign = -sign);
  return t;
}

std::vector<GradCase> cumulative_gradient_cases() {
  using V = std::vector<Output>;
  return {
      {"Cumsum", "axis 1", [](const V& v) { return cumsum(v[0], 1); }, {random_tensor({3, 4}, 1)}},
      {"Cumsum", "exclusive reverse, negative axis", [](const V& v) { return cumsum(v[0], -2, true, true); },
       {random_tensor({4, 2, 3}, 2)}},
      {"Cumprod", "axis 0", [](const V& v) { return cumprod(v[0], 0); }, {away_from_zero({4, 3}, 3)}},
      {"Cumprod", "exclusive reverse", [](const V& v) { return cumprod(v[0], 1, true, true); },
       {away_from_zero({2, 4}, 4)}},
      {"Prod", "one axis", [](const V& v) { return reduce_prod(v[0], {1}); }, {random_tensor({3, 4}, 5)}},
      {"Prod", "all axes, keep dims", [](const V& v) { return reduce_prod(v[0], {}, true); },
       {away_from_zero({2, 3}, 6)}},
      {"Prod", "negative axes, rank 3", [](const V& v) { return reduce_prod(v[0], {-1, 0}); },
       {random_tensor({2, 3, 2}, 7)}},
      {"Prod", "with zeros in the input", [](const V& v) { return reduce_prod(v[0], {0}); },
       {Tensor::from_vector<double>({0, 1.5, 0, 2, -0.5, 0, 3, 1, 0.7}, {3, 3})}},
      {"Prod", "unknown static shape", [](const V& v) { return reduce_prod(hidden(v[0]), {1}); },
       {random_tensor({2, 3}, 8)}},
      {"Prod", "axes fed at run time", [](const V& v) {
         Graph& g = *v[0].graph();
         auto axes = placeholder_with_default(constant(g, Tensor::from_vector<int32_t>({-1})), Shape{1});
         return OpBuilder(g, "Prod", "Prod").input(v[0]).input(axes).build_output();
       }, {random_tensor({3, 2}, 9)}},
      {"Prod", "empty reduced dim", [](const V& v) { return reduce_prod(v[0], {1}); }, {random_tensor({3, 0}, 10)}},
  };
}

TEST(CumulativeOpsGradients, MatchNumericDifferences) {
  for (const GradCase& c : cumulative_gradient_cases()) {
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

}  // namespace
}  // namespace fg
