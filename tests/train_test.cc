#include <gtest/gtest.h>

#include "flowgraph.h"

namespace fg {
namespace {

TEST(Train, GradientDescentStepMatchesHandComputation) {
  Graph g;
  auto x = placeholder(g, f32, {-1, 2}, "x");
  auto w = variable(constant(g, Tensor::from_vector<float>({1, 2}, {2, 1})), {.name = "w"});
  auto loss = reduce_sum(square(matmul(x, w)));
  Operation* step = train::GradientDescentOptimizer(0.1).minimize(loss);
  EXPECT_EQ(step->name(), "GradientDescent");
  EXPECT_EQ(step->type(), "NoOp");
  EXPECT_NE(g.find_operation("GradientDescent/update_w/ApplyGradientDescent"), nullptr);
  EXPECT_NE(g.find_operation("GradientDescent/learning_rate"), nullptr);
  Session s(g);
  s.run(global_variables_initializer(g));
  // loss = (x.w)^2, d/dw = 2 (x.w) x; x = [1, 1]: x.w = 3, grad = [6, 6]; w -= 0.1 * grad.
  s.run({{x, Tensor::from_vector<float>({1, 1}, {1, 2})}}, {}, {step});
  auto wv = s.run(w.value()).to_vector<float>();
  EXPECT_NEAR(wv[0], 0.4f, 1e-6);
  EXPECT_NEAR(wv[1], 1.4f, 1e-6);
}

TEST(Train, SecondOptimizerGetsUniqueName) {
  Graph g;
  auto w = variable(constant(g, Tensor(1.0f)), {.name = "w"});
  auto loss = square(w.value());
  EXPECT_EQ(train::GradientDescentOptimizer(0.1).minimize(loss)->name(), "GradientDescent");
  EXPECT_EQ(train::GradientDescentOptimizer(0.1).minimize(loss)->name(), "GradientDescent_1");
}

TEST(Train, VarListFreezesOtherVariables) {
  Graph g;
  auto a = variable(constant(g, Tensor(1.0f)), {.name = "hidden1"});
  auto b = variable(constant(g, Tensor(1.0f)), {.name = "outputs"});
  auto loss = square(a.value() * b.value());
  auto step = train::GradientDescentOptimizer(0.1).minimize(
      loss, {.var_list = g.get_variables(GraphKeys::TRAINABLE_VARIABLES, "outputs")});
  Session s(g);
  s.run(global_variables_initializer(g));
  s.run(step);
  EXPECT_EQ(s.run(a.value()).scalar<float>(), 1.0f);
  EXPECT_NEAR(s.run(b.value()).scalar<float>(), 0.8f, 1e-6);
}

TEST(Train, ApplyGradientsAfterEditingThem) {
  Graph g;
  auto w = variable(constant(g, Tensor(3.0f)), {.name = "w"});
  auto loss = square(w.value());
  train::GradientDescentOptimizer opt(0.5);
  auto gvs = opt.compute_gradients(loss);
  ASSERT_EQ(gvs.size(), 1u);
  for (auto& gv : gvs) gv.grad = gv.grad * 0.5f;  // grad 6 -> 3
  auto step = opt.apply_gradients(gvs);
  Session s(g);
  s.run(global_variables_initializer(g));
  s.run(step);
  EXPECT_NEAR(s.run(w.value()).scalar<float>(), 1.5f, 1e-6);
}

TEST(Train, GlobalStepIncrementsOncePerStep) {
  Graph g;
  auto w = variable(constant(g, Tensor(3.0f)), {.name = "w"});
  auto gs = variable(constant(g, Tensor(int64_t{0})), {.name = "global_step", .trainable = false});
  auto step = train::GradientDescentOptimizer(0.1).minimize(square(w.value()), {.global_step = gs});
  EXPECT_EQ(step->type(), "AssignAdd");
  Session s(g);
  s.run(global_variables_initializer(g));
  for (int i = 0; i < 3; ++i) s.run(step);
  EXPECT_EQ(s.run(gs.value()).scalar<int64_t>(), 3);
}

TEST(Train, NoGradientsIsAClearError) {
  Graph g;
  auto w = variable(constant(g, Tensor(3.0f)), {.name = "w"});
  auto x = placeholder(g, f32, {}, "x");
  EXPECT_THROW(train::GradientDescentOptimizer(0.1).minimize(square(x), {.var_list = {w}}), InvalidArgument);
}

TEST(Train, LearnsXorLikeProblem) {
  Graph g;
  g.set_random_seed(7);
  auto X = placeholder(g, f32, {-1, 2}, "X");
  auto y = placeholder(g, i32, {-1}, "y");
  auto h = layers::dense(X, 16, {.activation = nn::relu, .name = "hidden"});
  auto logits = layers::dense(h, 2, {.name = "out"});
  auto loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(y, logits));
  auto step = train::GradientDescentOptimizer(0.5).minimize(loss);
  auto acc = reduce_mean(cast(nn::in_top_k(logits, y, 1), f32));
  Session s(g);
  s.run(global_variables_initializer(g));
  auto xs = Tensor::from_vector<float>({0, 0, 0, 1, 1, 0, 1, 1}, {4, 2});
  auto ys = Tensor::from_vector<int32_t>({0, 1, 1, 0});
  for (int i = 0; i < 2000; ++i) s.run({{X, xs}, {y, ys}}, {}, {step});
  EXPECT_EQ(s.run({{X, xs}, {y, ys}}, acc).scalar<float>(), 1.0f);
}

}  // namespace
}  // namespace fg
