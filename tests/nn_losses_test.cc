// Dense softmax cross entropy, L2Loss, InTopK (v1) (ops/nn_losses.h) and tf.losses (ops/losses.h).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "graph/gradients.h"
#include "graph/op_registry.h"
#include "layers/regularizers.h"
#include "ops/array.h"
#include "ops/indexing.h"
#include "ops/losses.h"
#include "ops/math.h"
#include "ops/nn.h"
#include "ops/nn_losses.h"
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

// -log softmax(logits)[j] weighted by labels, per row, in double.
std::vector<double> reference_xent(const std::vector<double>& logits, const std::vector<double>& labels, int rows,
                                   int cols) {
  std::vector<double> r(rows);
  for (int i = 0; i < rows; ++i) {
    double m = -1e300, s = 0;
    for (int j = 0; j < cols; ++j) m = std::max(m, logits[i * cols + j]);
    for (int j = 0; j < cols; ++j) s += std::exp(logits[i * cols + j] - m);
    for (int j = 0; j < cols; ++j) r[i] -= labels[i * cols + j] * (logits[i * cols + j] - m - std::log(s));
  }
  return r;
}

TEST(NnLosses, SoftmaxCrossEntropyOpValuesAndBroadcasting) {
  Graph g;
  const std::vector<float> lg = {1, 2, 3, 1000, 0, -1000};
  const std::vector<float> lb = {0.2f, 0.3f, 0.5f, 0, 1, 0};
  auto logits = constant(g, Tensor::from_vector(lg, {2, 3}));
  auto labels = constant(g, Tensor::from_vector(lb, {2, 3}));
  Operation* op = OpBuilder(g, "SoftmaxCrossEntropyWithLogits", "xent").input(logits).input(labels).build();
  EXPECT_EQ(op->output(0).shape(), (Shape{2}));
  EXPECT_EQ(op->output(1).shape(), (Shape{2, 3}));
  Session sess(g);
  auto out = sess.run({}, {op->output(0), op->output(1)});
  const auto want = reference_xent({1, 2, 3, 1000, 0, -1000}, {0.2, 0.3, 0.5, 0, 1, 0}, 2, 3);
  EXPECT_NEAR(out[0].data<float>()[0], want[0], 1e-5);
  EXPECT_NEAR(out[0].data<float>()[1], 1000.0, 1e-3);  // large logits stay finite
  const float z = std::exp(1.f) + std::exp(2.f) + std::exp(3.f);
  EXPECT_NEAR(out[1].data<float>()[0], std::exp(1.f) / z - 0.2f, 1e-6);
  EXPECT_NEAR(out[1].data<float>()[4], -1, 1e-6);
  // Labels [1, 3] broadcast over the batch.
  auto one_row = constant(g, Tensor::from_vector<float>({0, 0, 1}, {1, 3}));
  Operation* b = OpBuilder(g, "SoftmaxCrossEntropyWithLogits", "xb").input(logits).input(one_row).build();
  EXPECT_EQ(b->output(1).shape(), (Shape{2, 3}));
  EXPECT_NEAR(eval(b->output(0)).data<float>()[1], 2000.0, 1e-2);
  expect_error([&] {
    OpBuilder(g, "SoftmaxCrossEntropyWithLogits", "bad").input(logits).input(constant(g, Tensor(f32, {2, 4}))).build();
  }, Code::kInvalidArgument, {"bad", "logits and labels must be broadcastable: logits_size=[2,3] labels_size=[2,4]"});
  expect_error([&] {
    OpBuilder(g, "SoftmaxCrossEntropyWithLogits", "r3").input(constant(g, Tensor(f32, {1, 2, 3})))
        .input(constant(g, Tensor(f32, {1, 2, 3}))).build();
  }, Code::kInvalidArgument, {"Shape must be broadcasted with rank 2, but is rank 3"});
}

TEST(NnLosses, SoftmaxCrossEntropyWrappersFlattenLikeTf) {
  Graph g;
  auto logits = placeholder(g, f64, {-1, 2, 4}, "logits");
  auto labels = placeholder(g, f64, {-1, 2, 4}, "labels");
  auto xent = nn::softmax_cross_entropy_with_logits_v2(labels, logits);
  EXPECT_EQ(xent.shape(), (Shape{-1, 2}));
  EXPECT_NE(g.find_operation("softmax_cross_entropy_with_logits"), nullptr);
  EXPECT_EQ(g.find_operation("softmax_cross_entropy_with_logits")->type(), "SoftmaxCrossEntropyWithLogits");
  const Tensor lg = random_tensor({3, 2, 4}, 1, -3, 3), lb = random_tensor({3, 2, 4}, 2, 0, 1);
  const Tensor v = eval(xent, {{logits, lg}, {labels, lb}});
  EXPECT_EQ(v.shape(), (Shape{3, 2}));
  const auto want = reference_xent(lg.to_vector<double>(), lb.to_vector<double>(), 6, 4);
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(v.data<double>()[i], want[i], 1e-12);
  // A class axis other than the last is moved to the end first.
  auto t = nn::softmax_cross_entropy_with_logits_v2(transpose(labels, {0, 2, 1}), transpose(logits, {0, 2, 1}), 1);
  const Tensor tv = eval(t, {{logits, lg}, {labels, lb}});
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(tv.data<double>()[i], want[i], 1e-12);
  // v1 stops the gradient into the labels; v2 lets it through.
  auto v1 = nn::softmax_cross_entropy_with_logits(labels, logits);
  EXPECT_NE(g.find_operation("softmax_cross_entropy_with_logits_sg/labels_stop_gradient"), nullptr);
  EXPECT_FALSE(static_cast<bool>(gradients({reduce_sum(v1)}, {labels})[0]));
  EXPECT_TRUE(static_cast<bool>(gradients({reduce_sum(xent)}, {labels})[0]));
}

TEST(NnLosses, L2LossAndInTopKV1) {
  Graph g;
  auto t = constant(g, Tensor::from_vector<float>({1, -2, 3}));
  auto l = nn::l2_loss(t);
  EXPECT_EQ(l.op()->type(), "L2Loss");
  EXPECT_EQ(l.shape(), Shape{});
  EXPECT_EQ(eval(l).scalar<float>(), 7.0f);
  // A large tensor sums in fixed chunks: the result does not depend on the thread count.
  const Tensor big = random_tensor({300, 1000}, 3);
  auto p = placeholder(g, f64, big.shape());
  double want = 0;
  for (double v : big.flat<double>()) want += v * v;
  EXPECT_NEAR(eval(nn::l2_loss(p), {{p, big}}).scalar<double>(), want / 2, 1e-9 * want);

  auto pred = constant(g, Tensor::from_vector<float>({0.1f, 0.5f, 0.5f, 0.2f, 0.9f, 0.1f, 0.f, std::nanf(""), 1.f}, {3, 3}));
  auto targets = constant(g, Tensor::from_vector<int32_t>({2, 0, 0}));
  auto k1 = OpBuilder(g, "InTopK", "k1").input(pred).input(targets).attr("k", int64_t{1}).build_output();
  auto k2 = OpBuilder(g, "InTopK", "k2").input(pred).input(targets).attr("k", int64_t{2}).build_output();
  EXPECT_EQ(k1.shape(), (Shape{3}));
  // Ties count as in the top k; a NaN in the row gives false.
  EXPECT_EQ(values<bool>(eval(k1)), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(values<bool>(eval(k2)), (std::vector<bool>{true, true, false}));
  expect_error([&] {
    OpBuilder(g, "InTopK", "k3").input(pred).input(constant(g, Tensor::from_vector<int32_t>({1, 2}))).attr("k", int64_t{1})
        .build();
  }, Code::kInvalidArgument, {"k3", "First dimension of predictions 3 must match length of targets 2"});
  // InTopK is not differentiable.
  EXPECT_TRUE(OpRegistry::global().get("InTopK").no_gradient);
}

// ---- tf.losses

TEST(Losses, SparseSoftmaxCrossEntropyMeansOverNonZeroWeights) {
  Graph g;
  auto logits = placeholder(g, f32, {-1, 3}, "logits");
  auto y = placeholder(g, i32, {-1}, "y");
  auto loss = losses::sparse_softmax_cross_entropy(y, logits);
  EXPECT_EQ(loss.op()->name(), "sparse_softmax_cross_entropy_loss/value");
  EXPECT_EQ(loss.shape(), Shape{});
  EXPECT_NE(g.find_operation("sparse_softmax_cross_entropy_loss/xentropy/xentropy"), nullptr);
  EXPECT_NE(g.find_operation("sparse_softmax_cross_entropy_loss/num_present"), nullptr);
  EXPECT_NE(g.find_operation("sparse_softmax_cross_entropy_loss/assert_broadcastable/static_scalar_check_success"),
            nullptr);
  ASSERT_EQ(g.get_collection(GraphKeys::LOSSES).size(), 1u);
  EXPECT_EQ(std::get<Output>(g.get_collection(GraphKeys::LOSSES)[0]), loss);

  const Tensor lg = Tensor::from_vector<float>({1, 2, 3, 0, 0, 0, 5, 1, 1}, {3, 3});
  const Tensor lb = Tensor::from_vector<int32_t>({2, 1, 0});
  const auto per = reference_xent({1, 2, 3, 0, 0, 0, 5, 1, 1}, {0, 0, 1, 0, 1, 0, 1, 0, 0}, 3, 3);
  EXPECT_NEAR(eval(loss, {{logits, lg}, {y, lb}}).scalar<float>(), (per[0] + per[1] + per[2]) / 3, 1e-6);

  // Weights: a zero weight leaves its example out of the mean's count.
  auto w = placeholder(g, f32, {-1}, "w");
  auto wl = losses::sparse_softmax_cross_entropy(y, logits, {.weights = w});
  EXPECT_EQ(wl.op()->name(), "sparse_softmax_cross_entropy_loss_1/value");
  EXPECT_NEAR(eval(wl, {{logits, lg}, {y, lb}, {w, Tensor::from_vector<float>({2, 0, 1})}}).scalar<float>(),
              (2 * per[0] + per[2]) / 2, 1e-6);
  // All weights zero: 0, not NaN.
  EXPECT_EQ(eval(wl, {{logits, lg}, {y, lb}, {w, Tensor::from_vector<float>({0, 0, 0})}}).scalar<float>(), 0.0f);
  // Other reductions.
  auto sum = losses::sparse_softmax_cross_entropy(y, logits, {.weights = 2.0, .reduction = losses::Reduction::SUM});
  EXPECT_NEAR(eval(sum, {{logits, lg}, {y, lb}}).scalar<float>(), 2 * (per[0] + per[1] + per[2]), 1e-5);
  auto none = losses::sparse_softmax_cross_entropy(y, logits, {.loss_collection = "", .reduction = losses::Reduction::NONE});
  EXPECT_EQ(eval(none, {{logits, lg}, {y, lb}}).shape(), (Shape{3}));
  EXPECT_EQ(g.get_collection(GraphKeys::LOSSES).size(), 3u);  // "" adds to no collection
  auto mean = losses::sparse_softmax_cross_entropy(y, logits, {.weights = w, .reduction = losses::Reduction::MEAN});
  EXPECT_NEAR(eval(mean, {{logits, lg}, {y, lb}, {w, Tensor::from_vector<float>({2, 0, 1})}}).scalar<float>(),
              (2 * per[0] + per[2]) / 3, 1e-6);
  // Weights of the wrong static shape are refused, as TF does.
  expect_error([&] { losses::sparse_softmax_cross_entropy(y, logits, {.weights = placeholder(g, f32, {2, 2, 2})}); },
               Code::kInvalidArgument, {"weights can not be broadcast to values"});
}

TEST(Losses, SoftmaxMeanSquaredAbsoluteAndLogLoss) {
  Graph g;
  auto logits = placeholder(g, f32, {2, 3}, "logits");
  auto onehot = placeholder(g, f32, {2, 3}, "onehot");
  const Tensor lg = Tensor::from_vector<float>({1, 2, 3, 0, 0, 0}, {2, 3});
  const Tensor oh = Tensor::from_vector<float>({0, 0, 1, 0, 1, 0}, {2, 3});
  const auto per = reference_xent({1, 2, 3, 0, 0, 0}, {0, 0, 1, 0, 1, 0}, 2, 3);
  auto sce = losses::softmax_cross_entropy(onehot, logits);
  EXPECT_EQ(sce.op()->name(), "softmax_cross_entropy_loss/value");
  EXPECT_NE(g.find_operation("softmax_cross_entropy_loss/labels_stop_gradient"), nullptr);
  EXPECT_NEAR(eval(sce, {{logits, lg}, {onehot, oh}}).scalar<float>(), (per[0] + per[1]) / 2, 1e-6);
  // Label smoothing: labels * (1 - s) + s / num_classes.
  auto smooth = losses::softmax_cross_entropy(onehot, logits, {.label_smoothing = 0.3});
  const auto per_s = reference_xent({1, 2, 3, 0, 0, 0}, {0.1, 0.1, 0.8, 0.1, 0.8, 0.1}, 2, 3);
  EXPECT_NEAR(eval(smooth, {{logits, lg}, {onehot, oh}}).scalar<float>(), (per_s[0] + per_s[1]) / 2, 1e-6);

  auto pred = placeholder(g, f32, {4}, "pred");
  auto lab = placeholder(g, f32, {4}, "lab");
  const Tensor pv = Tensor::from_vector<float>({0.1f, 0.9f, 0.6f, 0.3f}), lv = Tensor::from_vector<float>({0, 1, 1, 0});
  auto mse = losses::mean_squared_error(lab, pred);
  EXPECT_EQ(mse.op()->name(), "mean_squared_error/value");
  EXPECT_NEAR(eval(mse, {{pred, pv}, {lab, lv}}).scalar<float>(), (0.01 + 0.01 + 0.16 + 0.09) / 4, 1e-7);
  auto ad = losses::absolute_difference(lab, pred, {.weights = constant(g, Tensor::from_vector<float>({1, 1, 0, 2}))});
  EXPECT_NEAR(eval(ad, {{pred, pv}, {lab, lv}}).scalar<float>(), (0.1 + 0.1 + 2 * 0.3) / 3, 1e-7);
  auto ll = losses::log_loss(lab, pred);
  double want = 0;
  for (int i = 0; i < 4; ++i) {
    const double p = pv.data<float>()[i], l = lv.data<float>()[i];
    want += -l * std::log(p + 1e-7) - (1 - l) * std::log(1 - p + 1e-7);
  }
  EXPECT_NEAR(eval(ll, {{pred, pv}, {lab, lv}}).scalar<float>(), want / 4, 1e-6);
  expect_error([&] { losses::mean_squared_error(placeholder(g, f32, {3}), pred); }, Code::kInvalidArgument,
               {"mean_squared_error", "incompatible"});
}

TEST(Losses, TotalAndRegularizationLosses) {
  Graph g;
  EXPECT_EQ(eval(losses::get_regularization_loss(g)).scalar<float>(), 0.0f);
  expect_error([&] { losses::get_total_loss(g); }, Code::kInvalidArgument, {"no losses"});
  auto x = placeholder(g, f32, {2}, "x");
  auto y = placeholder(g, f32, {2}, "y");
  auto mse = losses::mean_squared_error(y, x);
  auto reg = 0.5f * reduce_sum(x * x);
  g.add_to_collection(GraphKeys::REGULARIZATION_LOSSES, reg);
  auto total_reg = losses::get_regularization_loss(g);
  EXPECT_EQ(total_reg.op()->name(), "total_regularization_loss");
  EXPECT_EQ(total_reg.op()->type(), "Identity");  // TF's add_n of one tensor
  auto total = losses::get_total_loss(g);
  EXPECT_EQ(total.op()->name(), "total_loss");
  EXPECT_EQ(total.op()->type(), "AddN");
  EXPECT_EQ(losses::get_losses(g).size(), 1u);
  const FeedDict feeds{{x, Tensor::from_vector<float>({1, 2})}, {y, Tensor::from_vector<float>({0, 0})}};
  EXPECT_NEAR(eval(total, feeds).scalar<float>(), (1 + 4) / 2.0 + 0.5 * 5, 1e-6);
  // The total trains: its gradient reaches x through both terms.
  auto dx = gradients({total}, {x})[0];
  const Tensor dv = eval(dx, feeds);
  EXPECT_NEAR(dv.data<float>()[0], 2, 1e-6);
  EXPECT_NEAR(dv.data<float>()[1], 4, 1e-6);
}

// ---- gradients, float64

struct GradCase {
  const char* op_type;
  const char* what;
  std::function<Output(const std::vector<Output>&)> f;
  std::vector<Tensor> xs;
};

// Rows of probabilities along `axis`: the op's gradient assumes labels that sum to 1, as TF's does.
Tensor distribution(const Shape& s, uint64_t seed, int axis = -1) {
  Tensor t = random_tensor(s, seed, 0.1, 1);
  const int r = s.rank();
  const int a = axis < 0 ? axis + r : axis;
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < a; ++i) outer *= s.dim(i);
  for (int i = a + 1; i < r; ++i) inner *= s.dim(i);
  double* p = t.data<double>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < inner; ++k) {
      double sum = 0;
      for (int64_t j = 0; j < s.dim(a); ++j) sum += p[(o * s.dim(a) + j) * inner + k];
      for (int64_t j = 0; j < s.dim(a); ++j) p[(o * s.dim(a) + j) * inner + k] /= sum;
    }
  return t;
}

Output xent_op(const Output& logits, const Output& labels, int output) {
  return OpBuilder(logits, "SoftmaxCrossEntropyWithLogits", "xent").input(logits).input(labels).build()->output(output);
}

std::vector<GradCase> nn_loss_gradient_cases() {
  using V = std::vector<Output>;
  return {
      {"SoftmaxCrossEntropyWithLogits", "loss, to logits and labels",
       [](const V& v) { return xent_op(v[0], v[1], 0); },
       {random_tensor({3, 4}, 1, -2, 2), distribution({3, 4}, 2)}},
      {"SoftmaxCrossEntropyWithLogits", "backprop output (second order)",
       [](const V& v) { return xent_op(v[0], v[1], 1); },
       {random_tensor({2, 5}, 3, -2, 2), distribution({2, 5}, 4)}},
      {"SoftmaxCrossEntropyWithLogits", "broadcast labels",
       [](const V& v) { return xent_op(v[0], v[1], 0); },
       {random_tensor({3, 4}, 5, -2, 2), distribution({1, 4}, 6)}},
      {"SoftmaxCrossEntropyWithLogits", "v2 wrapper, rank 3, class axis 1",
       [](const V& v) { return nn::softmax_cross_entropy_with_logits_v2(v[1], v[0], 1); },
       {random_tensor({2, 3, 2}, 7, -2, 2), distribution({2, 3, 2}, 8, 1)}},
      {"L2Loss", "rank 2", [](const V& v) { return nn::l2_loss(v[0]); }, {random_tensor({3, 4}, 9)}},
      {"L2Loss", "empty", [](const V& v) { return nn::l2_loss(v[0]) + reduce_sum(v[0]); }, {random_tensor({0, 2}, 10)}},
  };
}

TEST(NnLossesGradients, MatchNumericDifferences) {
  for (const GradCase& c : nn_loss_gradient_cases()) {
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

TEST(LossesGradients, MeanLossGradientIsSoftmaxMinusLabelsOverTheCount) {
  // tf.losses computes in float32 (to_float), so its gradient is checked against the closed form:
  // d mean_i xent_i / d logits = (softmax - labels) / batch, through Select, num_present and value.
  Graph g;
  auto logits = placeholder(g, f32, {3, 4}, "logits");
  auto onehot = placeholder(g, f32, {3, 4}, "onehot");
  auto loss = losses::softmax_cross_entropy(onehot, logits);
  auto d = gradients({loss}, {logits})[0];
  const Tensor lg = random_tensor({3, 4}, 3, -2, 2, f32);
  const Tensor oh = Tensor::from_vector<float>({1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0}, {3, 4});
  const Tensor dv = eval(d, {{logits, lg}, {onehot, oh}});
  for (int i = 0; i < 3; ++i) {
    double z = 0;
    for (int j = 0; j < 4; ++j) z += std::exp(double(lg.at<float>({i, j})));
    for (int j = 0; j < 4; ++j)
      EXPECT_NEAR(dv.at<float>({i, j}), (std::exp(double(lg.at<float>({i, j}))) / z - oh.at<float>({i, j})) / 3, 1e-6);
  }
}

}  // namespace
}  // namespace fg
