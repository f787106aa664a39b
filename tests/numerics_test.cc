// CheckNumerics and add_check_numerics_ops: TF1's op, messages and gradient.
#include "ops/numerics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "graph/gradients.h"
#include "ops/array.h"
#include "ops/math.h"
#include "ops/state.h"
#include "ops/initializers.h"
#include "runtime/session.h"
#include "tests/test_util.h"
#include "train/optimizer.h"

namespace fg {
namespace {

using testing::expect_error;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(CheckNumerics, PassesFiniteValuesAndNamesNanAndInf) {
  Graph g;
  Output x = placeholder(g, f32, {-1}, "x");
  Output y = check_numerics(x, "my tensor");
  EXPECT_EQ(y.op()->type(), "CheckNumerics");
  EXPECT_EQ(y.op()->name(), "CheckNumerics");
  EXPECT_EQ(y.op()->attr<std::string>("message"), "my tensor");
  Session sess(g);
  const Tensor ok = Tensor::from_vector<float>({1, -2, 3e38f});
  EXPECT_TRUE(sess.run({{x, ok}}, y).equals(ok));
  expect_error([&] { sess.run({{x, Tensor::from_vector<float>({1, kNaN})}}, y); }, Code::kInvalidArgument,
                    {"my tensor : Tensor had NaN values", "CheckNumerics"});
  expect_error([&] { sess.run({{x, Tensor::from_vector<float>({-kInf, 1})}}, y); }, Code::kInvalidArgument,
                    {"my tensor : Tensor had Inf values"});
  expect_error([&] { sess.run({{x, Tensor::from_vector<float>({kInf, kNaN})}}, y); }, Code::kInvalidArgument,
                    {"my tensor : Tensor had Inf and NaN values"});
  // Large tensors (split over threads) find a single bad element anywhere.
  Tensor big(f32, {1 << 20});
  big.data<float>()[(1 << 20) - 3] = kNaN;
  expect_error([&] { sess.run({{x, big}}, y); }, Code::kInvalidArgument, {"Tensor had NaN values"});
  Graph g2;
  expect_error([&] { check_numerics(placeholder(g2, i32, {}), "m"); }, Code::kInvalidArgument, {"int32"});
}

TEST(CheckNumerics, GradientIsTheIncomingGradientChecked) {
  Graph g;
  Output x = placeholder(g, f64, {3}, "x");
  Output y = check_numerics(x * x, "sq");
  Output dx = gradients({reduce_sum(y)}, {x})[0];
  // d/dx sum(x*x) through the check: 2x, the check op in the gradient's path.
  bool checked = false;
  for (Operation* op : g.get_operations())
    if (op->type() == "CheckNumerics" && op->attr<std::string>("message") ==
                                             "Not a number (NaN) or infinity (Inf) values detected in gradient. sq")
      checked = true;
  EXPECT_TRUE(checked);
  Session sess(g);
  const Tensor v = Tensor::from_vector<double>({1, 2, 3});
  EXPECT_TRUE(sess.run({{x, v}}, dx).equals(Tensor::from_vector<double>({2, 4, 6})));
  testing::expect_gradients_match([](const std::vector<Output>& in) { return check_numerics(in[0] * in[0], "m"); },
                                  {testing::random_tensor({2, 3}, 7)});
}

TEST(CheckNumerics, AddCheckNumericsOpsStopsAtTheFirstBadTensor) {
  Graph g;
  Output x = placeholder(g, f32, {2}, "x");
  Output l = log(x, "log");                  // log(-1) = NaN, log(0) = -inf
  Output s = multiply(l, l, "square");
  Output n = cast(s, i32, "as_int");         // int: not checked
  Variable v = get_variable(g, "v", {.shape = Shape{2}, .initializer = ones_initializer()});
  Operation* check = add_check_numerics_ops(g);
  EXPECT_EQ(check->type(), "NoOp");
  int checks = 0;
  for (Operation* op : g.get_operations()) {
    if (op->type() != "CheckNumerics") continue;
    ++checks;
    EXPECT_NE(op->attr<std::string>("message"), "v:0");  // the variable's reference is not checked
    EXPECT_NE(op->input(0).dtype(), i32);
  }
  // x, log, square, v/read, the initializer's value (and none for VariableV2, v/Assign or the cast).
  EXPECT_EQ(checks, 5);
  Session sess(g);
  sess.run(global_variables_initializer(g));
  EXPECT_NO_THROW(sess.run({{x, Tensor::from_vector<float>({1, 2})}}, {n}, {check}));
  expect_error([&] { sess.run({{x, Tensor::from_vector<float>({-1, 2})}}, {n}, {check}); },
                    Code::kInvalidArgument, {"log:0 : Tensor had NaN values"});
  expect_error([&] { sess.run({{x, Tensor::from_vector<float>({0, 2})}}, {n}, {check}); },
                    Code::kInvalidArgument, {"log:0 : Tensor had Inf values"});
  Graph empty;
  expect_error([&] { add_check_numerics_ops(empty); }, Code::kInvalidArgument, {"no float32"});
}

TEST(CheckNumerics, ADivergingTrainingRunStopsAtTheFirstBadStep) {
  Graph g;
  Output x = placeholder(g, f32, {-1}, "x");
  Variable w = get_variable(g, "w", {.shape = Shape{}, .initializer = ones_initializer()});
  Output loss = reduce_sum(check_numerics(w * x * x, "prediction"), {}, false, "loss");
  Operation* train = train::GradientDescentOptimizer(10.0).minimize(loss);
  Session sess(g);
  sess.run(global_variables_initializer(g));
  const Tensor batch = Tensor::from_vector<float>({1e18f, 2e18f});
  int steps = 0;
  try {
    for (; steps < 10; ++steps) sess.run({{x, batch}}, {}, {train});
    ADD_FAILURE() << "the run did not stop";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("Tensor had Inf values"), std::string::npos) << e.what();
  }
  EXPECT_LE(steps, 2);
}

}  // namespace
}  // namespace fg
