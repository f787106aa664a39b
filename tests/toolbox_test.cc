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

// TF 1.x's graph for the fused layer: a cond choosing FusedBatchNorm with is_training true or
// false (a 2-D input on a [N, 1, 1, C] reshape), momentum through a second cond, AssignSub updates.
TEST(BatchNormLayer, BuildsTensorFlowsCondOverFusedBatchNorm) {
  Graph g;
  auto x = placeholder(g, f32, {-1, 4}, "x");
  auto training = placeholder_with_default(g, Tensor(false), {}, "training");
  auto y = layers::batch_normalization(x, {.training = training, .momentum = 0.9});
  EXPECT_EQ(y.shape(), Shape({-1, 4}));
  Operation* reshape = g.find_operation("batch_normalization/Reshape");
  ASSERT_NE(reshape, nullptr);
  EXPECT_EQ(reshape->output_shape(0), Shape({-1, 1, 1, 4}));
  for (const auto& [name, is_training] :
       std::vector<std::pair<std::string, bool>>{{"batch_normalization/cond/FusedBatchNorm", true},
                                                 {"batch_normalization/cond/FusedBatchNorm_1", false}}) {
    const Operation* bn = g.find_operation(name);
    ASSERT_NE(bn, nullptr) << name;
    EXPECT_EQ(bn->type(), "FusedBatchNorm");
    EXPECT_EQ(bn->attr<bool>("is_training"), is_training) << name;
    // x enters the branch through a Switch on the cond's pred_id, on the side the branch takes.
    EXPECT_EQ(bn->input(0).op()->type(), "Switch") << name;
    EXPECT_EQ(bn->input(0).op()->input(0), reshape->output(0)) << name;
    EXPECT_EQ(bn->input(0).index(), is_training ? 1 : 0) << name;
    EXPECT_EQ(bn->input(0).op()->input(1).name(), "batch_normalization/cond/pred_id:0");
  }
  for (const char* name : {"batch_normalization/cond/Merge", "batch_normalization/cond/Merge_1",
                           "batch_normalization/cond/Merge_2", "batch_normalization/cond_1/Merge"}) {
    const Operation* op = g.find_operation(name);
    ASSERT_NE(op, nullptr) << name;
    EXPECT_EQ(op->type(), "Merge") << name;
  }
  auto updates = g.get_collection(GraphKeys::UPDATE_OPS);
  ASSERT_EQ(updates.size(), 2u);
  EXPECT_EQ(as_operation(updates[1])->name(), "batch_normalization/AssignMovingAvg_1");
  EXPECT_EQ(as_operation(updates[1])->type(), "AssignSub");
  // The decay reads the momentum cond: momentum when training, 1 (no change) otherwise.
  EXPECT_EQ(g.find_operation("batch_normalization/AssignMovingAvg/sub")->input(1).op()->name(),
            "batch_normalization/cond_1/Merge");
  // A fixed mode builds its branch alone, as TF's smart_cond does.
  auto fixed = layers::batch_normalization(x, {.training = true});
  EXPECT_EQ(g.find_operation("batch_normalization_1/FusedBatchNorm")->attr<bool>("is_training"), true);
  EXPECT_EQ(g.find_operation("batch_normalization_1/cond/Merge"), nullptr);
  for (const Operation* op : g.get_operations()) EXPECT_EQ(op->type().find("Dynamic"), std::string::npos) << op->name();
  // TF's FusedBatchNorm is float32 only.
  testing::expect_error([&] { layers::batch_normalization(placeholder(g, f64, {-1, 4}, "x64")); },
                        Code::kInvalidArgument, {"batch_normalization", "float32 only", "float64", "x64"});
  testing::expect_error([&] { layers::batch_normalization(placeholder(g, f32, {-1, 2, 4}, "x3")); },
                        Code::kInvalidArgument, {"batch_normalization", "rank 2 or 4", "x3"});
}

TEST(BatchNormLayer, FourDimensionalInputPerChannelAndTheUpdatesOnlyWhenTraining) {
  Graph g;
  auto x = placeholder(g, f32, {-1, 3, 2, 2}, "x");
  auto training = placeholder_with_default(g, Tensor(false), {}, "training");
  auto y = layers::batch_normalization(x, {.training = training, .momentum = 0.9, .epsilon = 1e-3});
  EXPECT_EQ(g.find_operation("batch_normalization/Reshape"), nullptr) << "NHWC goes in as it is";
  auto updates = g.get_collection(GraphKeys::UPDATE_OPS);
  const Variable* mean_var = g.find_variable("batch_normalization/moving_mean");
  const Variable* var_var = g.find_variable("batch_normalization/moving_variance");
  ASSERT_TRUE(mean_var && var_var);
  Session s(g);
  s.run(global_variables_initializer(g));
  const Tensor xv = testing::random_tensor({4, 3, 2, 2}, 7, -2, 5, f32);
  // Not training: y = x / sqrt(1 + eps), and the updates leave the statistics alone.
  auto inf = s.run({{x, xv}}, {y}, {updates});
  for (int64_t i = 0; i < xv.num_elements(); ++i)
    EXPECT_NEAR(inf[0].data<float>()[i], xv.data<float>()[i] / std::sqrt(1.001f), 1e-5);
  EXPECT_EQ(s.variable_value(mean_var->op).to_vector<float>(), std::vector<float>(2, 0.0f));
  EXPECT_EQ(s.variable_value(var_var->op).to_vector<float>(), std::vector<float>(2, 1.0f));
  auto tr = s.run({{x, xv}, {training, Tensor(true)}}, {y}, {updates});
  const std::vector<float> moving_mean = s.variable_value(mean_var->op).to_vector<float>();
  const std::vector<float> moving_var = s.variable_value(var_var->op).to_vector<float>();
  for (int c = 0; c < 2; ++c) {
    double mean = 0, var = 0, out_mean = 0;
    const int n = 4 * 3 * 2;
    for (int i = 0; i < n; ++i) mean += xv.data<float>()[i * 2 + c] / n;
    for (int i = 0; i < n; ++i) var += std::pow(xv.data<float>()[i * 2 + c] - mean, 2) / n;
    for (int i = 0; i < n; ++i) out_mean += tr[0].data<float>()[i * 2 + c] / n;
    EXPECT_NEAR(out_mean, 0.0, 1e-5);
    for (int i = 0; i < n; ++i)
      EXPECT_NEAR(tr[0].data<float>()[i * 2 + c], (xv.data<float>()[i * 2 + c] - mean) / std::sqrt(var + 1e-3), 1e-4);
    // moving = 0.9 moving + 0.1 batch, with the batch's biased variance.
    EXPECT_NEAR(moving_mean[c], 0.1 * mean, 1e-5);
    EXPECT_NEAR(moving_var[c], 0.9 + 0.1 * var, 1e-5);
  }
}

// The layer's gradients (float32, through its conds) against TF's formula built from primitives in
// float64: the batch's statistics when training, the moving ones otherwise.
TEST(BatchNormLayer, GradientsThroughTheCondMatchTheFormula) {
  const Tensor xv = testing::random_tensor({6, 3}, 11, -2, 3), wv = testing::random_tensor({6, 3}, 12, 0.5, 1.5);
  const Tensor gamma = testing::random_tensor({3}, 13, 0.5, 1.5), beta = testing::random_tensor({3}, 14);
  const Tensor mm = testing::random_tensor({3}, 15), mv = testing::random_tensor({3}, 16, 0.5, 2);
  auto to32 = [](const Tensor& t) {
    Tensor r = Tensor::empty(f32, t.shape());
    for (int64_t i = 0; i < t.num_elements(); ++i) r.data<float>()[i] = static_cast<float>(t.data<double>()[i]);
    return r;
  };
  for (bool train : {true, false}) {
    SCOPED_TRACE(train ? "training" : "inference");
    std::vector<Tensor> layer;
    {
      Graph g;
      auto x = placeholder(g, f32, {-1, 3}, "x");
      auto training = placeholder_with_default(g, Tensor(false), {}, "training");
      auto y = layers::batch_normalization(x, {.training = training});
      const Variable* gv = g.find_variable("batch_normalization/gamma");
      const Variable* bv = g.find_variable("batch_normalization/beta");
      auto grads = gradients({reduce_sum(y * constant(g, to32(wv)))}, {x, Output(gv->op, 0), Output(bv->op, 0)});
      Session s(g);
      s.run(global_variables_initializer(g));
      s.set_variable_value(gv->op, to32(gamma));
      s.set_variable_value(bv->op, to32(beta));
      s.set_variable_value(g.find_variable("batch_normalization/moving_mean")->op, to32(mm));
      s.set_variable_value(g.find_variable("batch_normalization/moving_variance")->op, to32(mv));
      layer = s.run({{x, to32(xv)}, {training, Tensor(train)}}, {y, grads[0], grads[1], grads[2]});
    }
    Graph g;
    auto x = placeholder(g, f64, {-1, 3}, "x");
    auto s = placeholder(g, f64, {3}, "s");
    auto o = placeholder(g, f64, {3}, "o");
    auto [mean, variance] = train ? nn::moments(x, {0}) : std::pair{constant(g, mm), constant(g, mv)};
    auto y = nn::batch_normalization(x, mean, variance, o, s, static_cast<double>(0.001f));
    auto grads = gradients({reduce_sum(y * constant(g, wv))}, {x, s, o});
    const auto want = Session(g).run({{x, xv}, {s, gamma}, {o, beta}}, {y, grads[0], grads[1], grads[2]});
    for (int k = 0; k < 4; ++k) {
      const Tensor& got = layer[k];
      ASSERT_EQ(got.shape(), want[k].shape()) << k;
      for (int64_t i = 0; i < got.num_elements(); ++i)
        EXPECT_NEAR(got.data<float>()[i], want[k].data<double>()[i], 2e-5 * (1 + std::abs(want[k].data<double>()[i])))
            << "output " << k << " element " << i;
    }
  }
}

// TF 1.x's layer: smart_cond(training, dropout, identity).
TEST(Dropout, BuildsTensorFlowsCondAndInferenceDrawsNoRandomNumbers) {
  Graph g;
  g.set_random_seed(5);
  auto x = placeholder(g, f32, {-1, 50}, "x");
  auto training = placeholder_with_default(g, Tensor(false), {}, "training");
  auto d = layers::dropout(x, 0.5, {.training = training});
  EXPECT_EQ(d.op()->name(), "dropout/cond/Merge");
  EXPECT_EQ(d.op()->type(), "Merge");
  const Operation* id = g.find_operation("dropout/cond/Identity");
  ASSERT_NE(id, nullptr);
  EXPECT_EQ(id->input(0).op()->type(), "Switch");
  EXPECT_EQ(id->input(0).op()->input(0), x);
  bool random = false;
  for (const Operation* op : g.get_operations()) {
    EXPECT_NE(op->type(), "Select") << op->name();
    if (op->type() == "RandomUniform") {
      random = true;
      EXPECT_EQ(op->name().rfind("dropout/cond/dropout/", 0), 0u) << op->name();
    }
  }
  EXPECT_TRUE(random);
  // A fixed mode builds no cond: off, the identity.
  const Output off = layers::dropout(x, 0.5, {.training = false});
  EXPECT_EQ(off.op()->type(), "Identity");
  EXPECT_EQ(off.op()->input(0), x);
  const Tensor ones = [] { Tensor t = Tensor::empty(f32, {2, 50}); for (float& v : t.flat<float>()) v = 1; return t; }();
  Session a(g), b(g);
  const Tensor first = a.run({{x, ones}, {training, Tensor(true)}}, d);
  EXPECT_TRUE(b.run({{x, ones}}, d).equals(ones));
  EXPECT_TRUE(b.run({{x, ones}, {training, Tensor(true)}}, d).equals(first)) << "the inference run drew random numbers";
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
