// The seed's deep-net toolbox at the layer level: batch normalization, dropout, regularizers,
// gradient clipping and the two UPDATE_OPS patterns.
#include <gtest/gtest.h>

#include <cmath>

#include "flowgraph.h"
#include "tests/test_util.h"

namespace fg {
namespace {

Tensor rows(int64_t n, int64_t c, float offset, float spread) {
  Tensor t = Tensor::empty(f32, {n, c});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j)
      t.data<float>()[i * c + j] = offset + spread * float((i * 7 + j * 3) % 11 - 5) + float(j);
  return t;
}

TEST(BatchNormLayer, CreatesTF1VariablesAndUpdateOps) {
  Graph g;
  auto x = placeholder(g, f32, {-1, 4}, "x");
  auto training = placeholder_with_default(g, Tensor(false), {}, "training");
  layers::batch_normalization(x, {.training = training, .momentum = 0.9});
  layers::batch_normalization(x, {.training = training});
  for (const char* name : {"batch_normalization/gamma", "batch_normalization/beta", "batch_normalization/moving_mean",
                           "batch_normalization/moving_variance", "batch_normalization_1/gamma",
                           "batch_normalization_1/moving_variance"})
    EXPECT_NE(g.find_variable(name), nullptr) << name;
  std::vector<std::string> trainable;
  for (const Variable& v : trainable_variables(g)) trainable.push_back(v.name());
  EXPECT_EQ(trainable, (std::vector<std::string>{"batch_normalization/gamma", "batch_normalization/beta",
                                                 "batch_normalization_1/gamma", "batch_normalization_1/beta"}));
  EXPECT_EQ(global_variables(g).size(), 8u);
  auto updates = g.get_collection(GraphKeys::UPDATE_OPS);
  ASSERT_EQ(updates.size(), 4u);
  EXPECT_EQ(as_operation(updates[0])->name(), "batch_normalization/AssignMovingAvg");
  EXPECT_EQ(as_operation(updates[1])->name(), "batch_normalization/AssignMovingAvg_1");
  EXPECT_EQ(as_operation(updates[0])->type(), "AssignSub");
}

TEST(BatchNormLayer, TrainingUsesBatchStatsAndUpdatesMovingAverages) {
  Graph g;
  auto x = placeholder(g, f32, {-1, 3}, "x");
  auto training = placeholder_with_default(g, Tensor(false), {}, "training");
  auto y = layers::batch_normalization(x, {.training = training, .momentum = 0.9, .epsilon = 1e-3});
  auto updates = g.get_collection(GraphKeys::UPDATE_OPS);
  Session s(g);
  s.run(global_variables_initializer(g));
  const Tensor xv = rows(8, 3, 10.0f, 2.0f);
  // Inference before any update: moving mean 0, variance 1 -> y = x / sqrt(1 + eps).
  Tensor y_inf = s.run({{x, xv}}, y);
  for (int64_t i = 0; i < xv.num_elements(); ++i)
    EXPECT_NEAR(y_inf.data<float>()[i], xv.data<float>()[i] / std::sqrt(1.001f), 1e-4);
  // Inference leaves the moving averages alone even when the updates run.
  s.run({{x, xv}}, {}, {updates});
  EXPECT_NEAR(s.run(g.get_tensor_by_name("batch_normalization/moving_mean:0")).data<float>()[0], 0.0f, 1e-7);
  // Training: per-column mean 0, variance ~1.
  auto r = s.run({{x, xv}, {training, Tensor(true)}}, {y}, {updates});
  for (int c = 0; c < 3; ++c) {
    double mean = 0, var = 0, batch_mean = 0, batch_var = 0;
    for (int i = 0; i < 8; ++i) batch_mean += xv.at<float>({i, c}) / 8.0;
    for (int i = 0; i < 8; ++i) batch_var += std::pow(xv.at<float>({i, c}) - batch_mean, 2) / 8.0;
    for (int i = 0; i < 8; ++i) mean += r[0].at<float>({i, c}) / 8.0;
    for (int i = 0; i < 8; ++i) var += std::pow(r[0].at<float>({i, c}) - mean, 2) / 8.0;
    EXPECT_NEAR(mean, 0.0, 1e-5);
    EXPECT_NEAR(var, batch_var / (batch_var + 1e-3), 1e-4);
    // moving = 0.9 * moving + 0.1 * batch
    EXPECT_NEAR(s.run(g.get_tensor_by_name("batch_normalization/moving_mean:0")).data<float>()[c], 0.1 * batch_mean, 1e-4);
    EXPECT_NEAR(s.run(g.get_tensor_by_name("batch_normalization/moving_variance:0")).data<float>()[c],
                0.9 + 0.1 * batch_var, 1e-4);
  }
}

TEST(BatchNormLayer, ControlDependenciesPatternRunsUpdatesWithTheTrainingOp) {
  Graph g;
  auto x = placeholder(g, f32, {-1, 3}, "x");
  auto training = placeholder_with_default(g, Tensor(false), {}, "training");
  auto y = layers::batch_normalization(layers::dense(x, 3, {.name = "h"}), {.training = training, .momentum = 0.9});
  auto loss = reduce_mean(square(y));
  Operation* train_op;
  {
    auto s = g.name_scope("train");
    std::vector<Operation*> updates;
    for (const auto& item : g.get_collection(GraphKeys::UPDATE_OPS)) updates.push_back(as_operation(item));
    auto deps = g.control_dependencies(updates);
    train_op = train::GradientDescentOptimizer(0.01).minimize(loss);
  }
  Session s(g);
  s.run(global_variables_initializer(g));
  s.run({{x, rows(8, 3, 5.0f, 1.0f)}, {training, Tensor(true)}}, {}, {train_op});
  EXPECT_NE(s.run(g.get_tensor_by_name("batch_normalization/moving_mean:0")).data<float>()[0], 0.0f);
}

TEST(BatchNormLayer, StaticTrainingFalseHasNoUpdates) {
  Graph g;
  auto x = placeholder(g, f32, {-1, 3}, "x");
  layers::batch_normalization(x);
  EXPECT_TRUE(g.get_collection(GraphKeys::UPDATE_OPS).empty());
  EXPECT_THROW(layers::batch_normalization(placeholder(g, f32, Shape::unknown(), "u")), InvalidArgument);
}

TEST(BatchNormLayer, GradientsReachGammaBetaAndTheLayerBelow) {
  Graph g;
  auto x = placeholder(g, f32, {-1, 3}, "x");
  auto h = layers::dense(x, 3, {.name = "h"});
  auto y = layers::batch_normalization(h, {.training = true});
  auto loss = reduce_sum(square(y - 1.0f));
  train::GradientDescentOptimizer opt(0.1);
  auto gvs = opt.compute_gradients(loss);
  ASSERT_EQ(gvs.size(), 4u);  // h/kernel, h/bias, gamma, beta
  for (const auto& gv : gvs) EXPECT_TRUE(static_cast<bool>(gv.grad)) << gv.var.name();
  // Batch norm removes the mean: the dense bias cannot change the loss.
  Session s(g);
  s.run(global_variables_initializer(g));
  auto bias_grad = s.run({{x, rows(8, 3, 1.0f, 1.0f)}}, gvs[1].grad).to_vector<float>();
  for (float v : bias_grad) EXPECT_NEAR(v, 0.0f, 1e-4);
}

TEST(Dropout, IdentityUnlessTraining) {
  Graph g;
  g.set_random_seed(3);
  auto x = placeholder(g, f32, {-1, 1000}, "x");
  auto training = placeholder_with_default(g, Tensor(false), {}, "training");
  auto d = layers::dropout(x, 0.5, {.training = training});
  Session s(g);
  Tensor xv = Tensor::empty(f32, {4, 1000});
  for (float& v : xv.flat<float>()) v = 1.0f;
  EXPECT_TRUE(s.run({{x, xv}}, d).equals(xv));
  Tensor on = s.run({{x, xv}, {training, Tensor(true)}}, d);
  int64_t zeros = 0;
  for (float v : on.flat<float>()) {
    EXPECT_TRUE(v == 0.0f || v == 2.0f) << v;
    zeros += v == 0.0f;
  }
  EXPECT_NEAR(double(zeros) / on.num_elements(), 0.5, 0.03);
}

TEST(Dropout, NnDropoutScalesKeptUnits) {
  Graph g;
  g.set_random_seed(4);
  auto x = placeholder(g, f32, {2, 500}, "x");
  auto d = nn::dropout(x, 0.8);
  Session s(g);
  Tensor xv = Tensor::empty(f32, {2, 500});
  for (float& v : xv.flat<float>()) v = 1.0f;
  double sum = 0;
  const Tensor out = s.run({{x, xv}}, d);
  for (float v : out.flat<float>()) {
    EXPECT_TRUE(v == 0.0f || std::abs(v - 1.25f) < 1e-6) << v;
    sum += v;
  }
  EXPECT_NEAR(sum / 1000, 1.0, 0.06);
  EXPECT_THROW(nn::dropout(x, 0.0), InvalidArgument);
  EXPECT_THROW(layers::dropout(x, 1.0), InvalidArgument);
}

TEST(Regularizers, DenseAddsScaledL1ToTheCollection) {
  Graph g;
  auto X = placeholder(g, f32, {-1, 2}, "X");
  layers::dense(X, 2, {.kernel_initializer = constant_initializer(-2.0), .kernel_regularizer = layers::l1_regularizer(0.5),
                       .name = "hidden1"});
  auto losses = layers::get_regularization_losses(g);
  ASSERT_EQ(losses.size(), 1u);
  EXPECT_EQ(losses[0].op()->name(), "hidden1/kernel/Regularizer/l1_regularizer");
  Session s(g);
  s.run(global_variables_initializer(g));
  EXPECT_NEAR(s.run(losses[0]).scalar<float>(), 0.5f * 8.0f, 1e-6);
}

TEST(Regularizers, L2AndL1L2) {
  Graph g;
  auto w = constant(g, Tensor::from_vector<float>({1, -2, 3}));
  Session s(g);
  EXPECT_NEAR(s.run(layers::l2_regularizer(0.1)(w)).scalar<float>(), 0.1f * 14.0f / 2, 1e-6);
  EXPECT_NEAR(s.run(layers::l1_l2_regularizer(0.1, 0.1)(w)).scalar<float>(), 0.6f + 0.7f, 1e-6);
  EXPECT_FALSE(layers::l1_regularizer(0.0)(w));
  EXPECT_THROW(layers::l1_regularizer(-1), InvalidArgument);
}

TEST(Clipping, ClipByValueNormAndGlobalNorm) {
  Graph g;
  auto t = constant(g, Tensor::from_vector<float>({3, -4}));
  auto u = constant(g, Tensor::from_vector<float>({12}));
  Session s(g);
  EXPECT_EQ(s.run(clip_by_value(t, -1.0, 1.0)).to_vector<float>(), (std::vector<float>{1, -1}));
  auto n = s.run(clip_by_norm(t, 1.0)).to_vector<float>();
  EXPECT_NEAR(n[0], 0.6f, 1e-6);
  EXPECT_NEAR(n[1], -0.8f, 1e-6);
  EXPECT_EQ(s.run(clip_by_norm(t, 10.0)).to_vector<float>(), (std::vector<float>{3, -4}));
  auto [clipped, norm] = clip_by_global_norm({t, Output(), u}, 6.5);
  EXPECT_NEAR(s.run(norm).scalar<float>(), 13.0f, 1e-5);
  EXPECT_FALSE(clipped[1]);
  auto c0 = s.run(clipped[0]).to_vector<float>();
  EXPECT_NEAR(c0[0], 1.5f, 1e-5);
  EXPECT_NEAR(s.run(clipped[2]).to_vector<float>()[0], 6.0f, 1e-5);
  EXPECT_EQ(clip_by_value(t, -1.0, 1.0).op()->name(), "clip_by_value_1");
}

TEST(Clipping, GradientsOfClipOps) {
  testing::expect_gradients_match([](const std::vector<Output>& in) { return clip_by_value(in[0], -0.5, 0.5); },
                                  {testing::random_tensor({3, 4}, 8)});
  testing::expect_gradients_match([](const std::vector<Output>& in) { return clip_by_norm(in[0], 0.5); },
                                  {testing::random_tensor({3, 4}, 9)}, 1e-5);
  testing::expect_gradients_match([](const std::vector<Output>& in) { return clip_by_norm(in[0], 0.5, {1}); },
                                  {testing::random_tensor({3, 4}, 10)}, 1e-5);
}

TEST(Clipping, SeedPatternTrainsWithClippedGradients) {
  Graph g;
  auto w = variable(constant(g, Tensor(10.0f)), {.name = "w"});
  train::GradientDescentOptimizer opt(0.1);
  auto gvs = opt.compute_gradients(square(w.value()));
  std::vector<train::GradAndVar> capped;
  for (const auto& [grad, var] : gvs) capped.push_back({clip_by_value(grad, -1.0, 1.0), var});
  auto op = opt.apply_gradients(capped);
  Session s(g);
  s.run(global_variables_initializer(g));
  s.run(op);  // grad 20 clipped to 1: w = 10 - 0.1
  EXPECT_NEAR(s.run(w.value()).scalar<float>(), 9.9f, 1e-6);
}

}  // namespace
}  // namespace fg
