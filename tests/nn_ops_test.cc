#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>

#include "graph/gradients.h"
#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/math.h"
#include "ops/nn.h"
#include "runtime/session.h"
#include "tests/test_util.h"

namespace fg {
namespace {

using testing::eval;
using testing::expect_gradients_match;
using testing::random_tensor;

void expect_near_vec(const Tensor& t, const std::vector<double>& want, double tol) {
  ASSERT_EQ(t.num_elements(), static_cast<int64_t>(want.size()));
  dispatch_float(t.dtype(), "test", [&]<typename T>() {
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(t.data<T>()[i], want[i], tol) << "element " << i;
  });
}

// Values in [0.1, 1.1) in magnitude with random signs: away from Relu's kink at 0.
Tensor away_from_zero(const Shape& shape, uint64_t seed) {
  Tensor t = random_tensor(shape, seed);
  for (double& v : t.flat<double>()) v = (v < 0 ? -0.1 : 0.1) + v;
  return t;
}

TEST(NnOps, ReluForward) {
  Graph g;
  auto x = placeholder(g, f32, {5});
  auto y = nn::relu(x);
  EXPECT_EQ(y.op()->type(), "Relu");
  EXPECT_EQ(y.op()->name(), "Relu");
  Tensor r = eval(y, {{x, Tensor::from_vector<float>({-2, -0.5f, 0, 0.5f, 3})}});
  expect_near_vec(r, {0, 0, 0, 0.5, 3}, 0);
  // NaN propagates rather than being hidden as 0.
  Tensor n = eval(y, {{x, Tensor::from_vector<float>({std::nanf(""), 1, -1, 2, -2})}});
  EXPECT_TRUE(std::isnan(n.data<float>()[0]));
}

TEST(NnOps, ReluIntegerAndInPlaceChain) {
  Graph g;
  auto x = placeholder(g, i32, {4});
  Tensor r = eval(nn::relu(x), {{x, Tensor::from_vector<int32_t>({-3, 0, 2, -1})}});
  EXPECT_EQ(r.to_vector<int32_t>(), (std::vector<int32_t>{0, 0, 2, 0}));
  // BiasAdd's output has a single reader, so Relu runs in its buffer; the result must not change.
  auto v = placeholder(g, f64, {2, 2});
  auto b = constant(g, Tensor::from_vector<double>({1, -10}));
  Tensor h = eval(nn::relu(nn::relu(nn::bias_add(v, b))), {{v, Tensor::from_vector<double>({1, 2, -3, 20}, {2, 2})}});
  expect_near_vec(h, {2, 0, 0, 10}, 0);
}

TEST(NnOps, ReluGradient) {
  for (const Shape& s : {Shape{7}, Shape{3, 4}, Shape{2, 3, 2}}) {
    expect_gradients_match([](const std::vector<Output>& x) { return nn::relu(x[0]); }, {away_from_zero(s, 1)});
  }
}

TEST(NnOps, ReluGradOpAndItsGradient) {
  Graph g;
  auto x = placeholder(g, f32, {3}, "x");
  auto y = nn::relu(x);
  auto grads = gradients({reduce_sum(y)}, {x});
  ASSERT_TRUE(static_cast<bool>(grads[0]));
  const Operation* rg = g.find_operation("gradients/Relu_grad/ReluGrad");
  ASSERT_NE(rg, nullptr);
  EXPECT_EQ(rg->type(), "ReluGrad");
  Tensor d = eval(grads[0], {{x, Tensor::from_vector<float>({-1, 2, 0.5f})}});
  expect_near_vec(d, {0, 1, 1}, 0);
  // ReluGrad is linear in its gradients input.
  expect_gradients_match(
      [](const std::vector<Output>& in) {
        return OpBuilder(in[0], "ReluGrad", "").input(in[0]).input(in[1]).build_output();
      },
      {random_tensor({2, 5}, 3), away_from_zero({2, 5}, 4)});
}

TEST(NnOps, BiasAddForwardRank2And3) {
  Graph g;
  auto v = placeholder(g, f32, {-1, 3}, "v");
  auto b = placeholder(g, f32, {3}, "b");
  auto y = nn::bias_add(v, b);
  EXPECT_EQ(y.op()->type(), "BiasAdd");
  EXPECT_EQ(y.op()->attr<std::string>("data_format"), "NHWC");
  EXPECT_EQ(y.shape(), (Shape{-1, 3}));
  Tensor r = eval(y, {{v, Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3})},
                      {b, Tensor::from_vector<float>({10, 20, 30})}});
  expect_near_vec(r, {11, 22, 33, 14, 25, 36}, 0);

  auto v3 = placeholder(g, f32, {2, 2, 2}, "v3");
  auto b2 = placeholder(g, f32, {2}, "b2");
  Tensor r3 = eval(nn::bias_add(v3, b2), {{v3, Tensor::from_vector<float>({0, 1, 2, 3, 4, 5, 6, 7}, {2, 2, 2})},
                                          {b2, Tensor::from_vector<float>({100, 200})}});
  expect_near_vec(r3, {100, 201, 102, 203, 104, 205, 106, 207}, 0);
}

TEST(NnOps, BiasAddShapeErrors) {
  Graph g;
  auto v = placeholder(g, f32, {2, 3}, "v");
  auto b4 = placeholder(g, f32, {4}, "b4");
  EXPECT_THROW(nn::bias_add(v, b4), InvalidArgument);
  auto vec = placeholder(g, f32, {3}, "vec");
  auto b3 = placeholder(g, f32, {3}, "b3");
  EXPECT_THROW(nn::bias_add(vec, b3), InvalidArgument);
  // Statically unknown shapes are checked by the kernel, naming the node.
  auto vu = placeholder(g, f32, Shape::unknown(), "vu");
  auto bu = placeholder(g, f32, Shape::unknown(), "bu");
  auto y = nn::bias_add(vu, bu, "bad_bias");
  try {
    eval(y, {{vu, Tensor(f32, {2, 3})}, {bu, Tensor(f32, {4})}});
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("Must provide as many biases"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad_bias"), std::string::npos) << e.what();
  }
}

TEST(NnOps, BiasAddGradient) {
  auto f = [](const std::vector<Output>& x) { return nn::bias_add(x[0], x[1]); };
  expect_gradients_match(f, {random_tensor({4, 3}, 1), random_tensor({3}, 2)});
  expect_gradients_match(f, {random_tensor({2, 3, 4}, 3), random_tensor({4}, 4)});
  Graph g;
  auto v = placeholder(g, f32, {-1, 2}, "v");
  auto b = placeholder(g, f32, {2}, "b");
  auto grads = gradients({nn::bias_add(v, b)}, {v, b});
  const Operation* bg = g.find_operation("gradients/BiasAdd_grad/BiasAddGrad");
  ASSERT_NE(bg, nullptr);
  EXPECT_EQ(bg->type(), "BiasAddGrad");
  EXPECT_EQ(OpBuilder(v, "BiasAddGrad", "").input(v).build_output().shape(), (Shape{2}));
  Tensor db = eval(grads[1], {{v, Tensor(f32, {3, 2})}, {b, Tensor(f32, {2})}});
  expect_near_vec(db, {3, 3}, 0);
}

void check_column_sums(int64_t rows, int64_t cols) {
  Tensor x = Tensor::empty(f32, {rows, cols});
  for (int64_t i = 0; i < x.num_elements(); ++i) x.data<float>()[i] = static_cast<float>((i * 37) % 101) / 7.0f;
  std::vector<double> want(cols, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) want[c] += x.data<float>()[r * cols + c];
  Graph g;
  auto p = placeholder(g, f32, {-1, cols});
  auto s = OpBuilder(p, "BiasAddGrad", "").input(p).build_output();
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  Tensor one = eval(s, {{p, x}});
  omp_set_num_threads(2);
  Tensor two = eval(s, {{p, x}});
  omp_set_num_threads(saved);
  for (int64_t c = 0; c < cols; ++c)
    EXPECT_NEAR(one.data<float>()[c], want[c], 2e-5 * want[c] + 1e-6) << rows << "x" << cols << " column " << c;
  EXPECT_TRUE(one.equals(two)) << one << " vs " << two;
}

TEST(NnOps, BiasAddGradColumnSumsLargeAndThreadIndependent) {
  check_column_sums(20000, 7);  // narrow rows: blocked partial sums
  check_column_sums(300, 1000);  // wide rows: threads split the columns
  check_column_sums(3, 5);       // small: serial
}

TEST(NnOps, BiasAddGradGradient) {
  expect_gradients_match(
      [](const std::vector<Output>& x) { return OpBuilder(x[0], "BiasAddGrad", "").input(x[0]).build_output(); },
      {random_tensor({3, 2, 4}, 5)});
}

TEST(NnOps, SoftmaxForward) {
  Graph g;
  auto x = placeholder(g, f32, {-1, 3});
  auto y = nn::softmax(x);
  EXPECT_EQ(y.op()->type(), "Softmax");
  Tensor r = eval(y, {{x, Tensor::from_vector<float>({1, 2, 3, 0, 0, 0}, {2, 3})}});
  expect_near_vec(r, {0.09003057, 0.24472847, 0.66524096, 1 / 3.0, 1 / 3.0, 1 / 3.0}, 1e-6);
}

TEST(NnOps, SoftmaxHugeLogitsRowsSumToOne) {
  Graph g;
  auto x = placeholder(g, f32, {-1, 3});
  Tensor r = eval(nn::softmax(x), {{x, Tensor::from_vector<float>({1000, 1000, 1000, 1000, 0, -1000,
                                                                    -1000, -1000, 999}, {3, 3})}});
  for (int row = 0; row < 3; ++row) {
    double sum = 0;
    for (int c = 0; c < 3; ++c) {
      const float v = r.at<float>({row, c});
      EXPECT_TRUE(std::isfinite(v));
      sum += v;
    }
    EXPECT_NEAR(sum, 1.0, 1e-6) << "row " << row;
  }
  EXPECT_NEAR(r.at<float>({0, 0}), 1 / 3.0, 1e-6);
  EXPECT_NEAR(r.at<float>({1, 0}), 1.0, 1e-6);
  EXPECT_NEAR(r.at<float>({2, 2}), 1.0, 1e-6);
}

TEST(NnOps, SoftmaxManyRowsParallel) {
  // Enough rows for the row-parallel path; each row checked against a direct evaluation.
  const int64_t rows = 3000, cols = 17;
  Tensor x = random_tensor({rows, cols}, 11, -5, 5);
  Graph g;
  auto p = placeholder(g, f64, {-1, cols});
  Tensor r = eval(nn::softmax(p), {{p, x}});
  for (int64_t i = 0; i < rows; i += 299) {
    double m = -1e300, s = 0;
    for (int64_t c = 0; c < cols; ++c) m = std::max(m, x.at<double>({i, c}));
    for (int64_t c = 0; c < cols; ++c) s += std::exp(x.at<double>({i, c}) - m);
    for (int64_t c = 0; c < cols; ++c) EXPECT_NEAR(r.at<double>({i, c}), std::exp(x.at<double>({i, c}) - m) / s, 1e-14);
  }
}

TEST(NnOps, LogSoftmaxForward) {
  Graph g;
  auto x = placeholder(g, f64, {-1, 3});
  auto y = nn::log_softmax(x);
  EXPECT_EQ(y.op()->type(), "LogSoftmax");
  Tensor r = eval(y, {{x, Tensor::from_vector<double>({1, 2, 3, 1000, 0, -1000}, {2, 3})}});
  expect_near_vec(r, {-2.40760596444438, -1.40760596444438, -0.40760596444438, 0, -1000, -2000}, 1e-12);
}

TEST(NnOps, SoftmaxRejectsScalar) {
  Graph g;
  auto x = placeholder(g, f32, {});
  EXPECT_THROW(nn::softmax(x), InvalidArgument);
}

TEST(NnOps, SoftmaxGradient) {
  auto f = [](const std::vector<Output>& x) { return nn::softmax(x[0]); };
  expect_gradients_match(f, {random_tensor({3, 5}, 1, -2, 2)});
  expect_gradients_match(f, {random_tensor({2, 3, 4}, 2, -2, 2)});
  expect_gradients_match(f, {random_tensor({6}, 3, -2, 2)});
}

TEST(NnOps, LogSoftmaxGradient) {
  auto f = [](const std::vector<Output>& x) { return nn::log_softmax(x[0]); };
  expect_gradients_match(f, {random_tensor({3, 5}, 4, -2, 2)});
  expect_gradients_match(f, {random_tensor({2, 3, 4}, 5, -2, 2)});
}

TEST(NnOps, SparseXentEqualsMinusLogSoftmaxOfLabel) {
  Graph g;
  auto logits = placeholder(g, f64, {-1, 4}, "logits");
  auto labels = placeholder(g, i32, Shape::unknown(), "labels");
  auto loss = nn::sparse_softmax_cross_entropy_with_logits(labels, logits);
  EXPECT_EQ(loss.op()->type(), "SparseSoftmaxCrossEntropyWithLogits");
  EXPECT_EQ(loss.op()->name(), "SparseSoftmaxCrossEntropyWithLogits/SparseSoftmaxCrossEntropyWithLogits");
  EXPECT_NE(g.find_operation("SparseSoftmaxCrossEntropyWithLogits/Shape"), nullptr);
  EXPECT_EQ(loss.shape(), (Shape{-1}));
  EXPECT_EQ(loss.op()->output(1).shape(), (Shape{-1, 4}));
  EXPECT_EQ(loss.op()->attr<DType>("Tlabels"), i32);

  Tensor x = random_tensor({5, 4}, 7, -3, 3);
  x.at<double>({4, 0}) = 1000;  // a huge logit stays finite
  Tensor y = Tensor::from_vector<int32_t>({0, 3, 2, 1, 0});
  const Output log_sm = nn::log_softmax(logits), sm = nn::softmax(logits);
  Session sess(g);
  auto out = sess.run({{logits, x}, {labels, y}}, {loss, loss.op()->output(1), log_sm, sm});
  for (int64_t i = 0; i < 5; ++i) {
    const int32_t lab = y.data<int32_t>()[i];
    EXPECT_NEAR(out[0].data<double>()[i], -out[2].at<double>({i, lab}), 1e-12) << "row " << i;
    for (int64_t c = 0; c < 4; ++c)
      EXPECT_NEAR(out[1].at<double>({i, c}), out[3].at<double>({i, c}) - (c == lab ? 1.0 : 0.0), 1e-12);
  }
  EXPECT_NEAR(out[0].data<double>()[4], 0.0, 1e-12);
}

TEST(NnOps, SparseXentInt64LabelsAndFloat) {
  Graph g;
  auto logits = placeholder(g, f32, {2, 2});
  auto labels = placeholder(g, i64, {2});
  auto loss = nn::sparse_softmax_cross_entropy_with_logits(labels, logits, "xent");
  EXPECT_EQ(loss.op()->name(), "xent/xent");
  Tensor r = eval(loss, {{logits, Tensor::from_vector<float>({0, 0, 2, 0}, {2, 2})},
                         {labels, Tensor::from_vector<int64_t>({1, 1})}});
  expect_near_vec(r, {std::log(2.0), std::log(1 + std::exp(2.0))}, 1e-6);
}

TEST(NnOps, SparseXentOutOfRangeLabelIsInvalidArgument) {
  Graph g;
  auto logits = placeholder(g, f32, {-1, 3});
  auto labels = placeholder(g, i32, {-1});
  auto loss = nn::sparse_softmax_cross_entropy_with_logits(labels, logits);
  for (const auto& [bad, idx] : {std::pair{3, 1}, std::pair{-1, 1}}) {
    try {
      eval(loss, {{logits, Tensor(f32, {3, 3})}, {labels, Tensor::from_vector<int32_t>({0, bad, 7})}});
      FAIL() << "expected InvalidArgument for label " << bad;
    } catch (const InvalidArgument& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(str_cat("label value of ", bad, " at index ", idx)), std::string::npos) << msg;
      EXPECT_NE(msg.find("[0, 3)"), std::string::npos) << msg;
      EXPECT_NE(msg.find("SparseSoftmaxCrossEntropyWithLogits/SparseSoftmaxCrossEntropyWithLogits"), std::string::npos)
          << msg;
    }
  }
}

TEST(NnOps, SparseXentStaticShapeChecks) {
  Graph g;
  auto logits = placeholder(g, f32, {4, 3});
  EXPECT_THROW(nn::sparse_softmax_cross_entropy_with_logits(placeholder(g, i32, {4, 1}), logits), InvalidArgument);
  EXPECT_THROW(nn::sparse_softmax_cross_entropy_with_logits(placeholder(g, i32, {5}), logits), InvalidArgument);
  EXPECT_THROW(nn::sparse_softmax_cross_entropy_with_logits(placeholder(g, i32, {}), placeholder(g, f32, {})),
               InvalidArgument);
}

TEST(NnOps, SparseXentRank3Logits) {
  Graph g;
  auto logits = placeholder(g, f64, {2, 2, 3});
  auto labels = placeholder(g, i32, {2, 2});
  auto loss = nn::sparse_softmax_cross_entropy_with_logits(labels, logits);
  EXPECT_EQ(loss.shape(), (Shape{2, 2}));
  Tensor x = random_tensor({2, 2, 3}, 8);
  Tensor y = Tensor::from_vector<int32_t>({2, 0, 1, 1}, {2, 2});
  Tensor r = eval(loss, {{logits, x}, {labels, y}});
  ASSERT_EQ(r.shape(), (Shape{2, 2}));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 2; ++j) {
      double s = 0;
      for (int64_t c = 0; c < 3; ++c) s += std::exp(x.at<double>({i, j, c}));
      EXPECT_NEAR(r.at<double>({i, j}), std::log(s) - x.at<double>({i, j, y.at<int32_t>({i, j})}), 1e-12);
    }
}

TEST(NnOps, SparseXentGradientWrtLogits) {
  auto labels = Tensor::from_vector<int32_t>({2, 0, 4});
  expect_gradients_match(
      [&](const std::vector<Output>& x) {
        return nn::sparse_softmax_cross_entropy_with_logits(constant(*x[0].graph(), labels), x[0]);
      },
      {random_tensor({3, 5}, 9, -2, 2)});
  // Through the rank-3 (reshaping) path.
  auto labels2 = Tensor::from_vector<int32_t>({1, 0, 2, 2}, {2, 2});
  expect_gradients_match(
      [&](const std::vector<Output>& x) {
        return nn::sparse_softmax_cross_entropy_with_logits(constant(*x[0].graph(), labels2), x[0]);
      },
      {random_tensor({2, 2, 3}, 10, -2, 2)});
}

TEST(NnOps, SparseXentGradientThroughBackpropOutput) {
  auto labels = Tensor::from_vector<int32_t>({1, 3});
  expect_gradients_match(
      [&](const std::vector<Output>& x) {
        return nn::sparse_softmax_cross_entropy_with_logits(constant(*x[0].graph(), labels), x[0]).op()->output(1);
      },
      {random_tensor({2, 4}, 12, -2, 2)});
}

TEST(NnOps, InTopKTiesAndK) {
  Graph g;
  auto pred = placeholder(g, f32, {-1, 4}, "pred");
  auto tgt = placeholder(g, i32, {-1}, "tgt");
  auto top1 = nn::in_top_k(pred, tgt, 1);
  auto top2 = nn::in_top_k(pred, tgt, 2);
  EXPECT_EQ(top1.op()->type(), "InTopKV2");
  EXPECT_EQ(top1.op()->name(), "in_top_k/InTopKV2");
  EXPECT_EQ(top2.op()->name(), "in_top_k_1/InTopKV2");
  EXPECT_EQ(top1.op()->input(2).op()->name(), "in_top_k/InTopKV2/k");
  EXPECT_EQ(top1.dtype(), boolean);
  EXPECT_EQ(top1.shape(), (Shape{-1}));
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  // Row 0/1: a tie for the max; 2: the third largest; 3: the second of a tie for second; 4: a NaN
  // elsewhere; 5: an infinite target; 6: out-of-range target.
  Tensor p = Tensor::from_vector<float>({0.1f, 0.3f, 0.3f, 0.2f,
                                         0.1f, 0.3f, 0.3f, 0.2f,
                                         0.1f, 0.3f, 0.3f, 0.2f,
                                         0.5f, 0.2f, 0.9f, 0.5f,
                                         0.9f, nan, 0.1f, 0.2f,
                                         inf, 0.1f, 0.2f, 0.3f,
                                         0.9f, 0.1f, 0.2f, 0.3f}, {7, 4});
  Tensor t = Tensor::from_vector<int32_t>({1, 2, 3, 3, 0, 0, 4});
  Session sess(g);
  auto r = sess.run({{pred, p}, {tgt, t}}, {top1, top2});
  EXPECT_EQ(r[0].to_vector<bool>(), (std::vector<bool>{true, true, false, false, false, false, false}));
  EXPECT_EQ(r[1].to_vector<bool>(), (std::vector<bool>{true, true, false, true, false, false, false}));
}

TEST(NnOps, InTopKInt64AndTensorK) {
  Graph g;
  auto pred = constant(g, Tensor::from_vector<float>({3, 1, 2, 1, 2, 3}, {2, 3}));
  auto tgt = constant(g, Tensor::from_vector<int64_t>({2, 0}));
  auto k = placeholder(g, i64, {}, "k");
  auto r = nn::in_top_k(pred, tgt, k);
  EXPECT_EQ(eval(r, {{k, Tensor(int64_t{1})}}).to_vector<bool>(), (std::vector<bool>{false, false}));
  EXPECT_EQ(eval(r, {{k, Tensor(int64_t{2})}}).to_vector<bool>(), (std::vector<bool>{true, false}));
  EXPECT_EQ(eval(r, {{k, Tensor(int64_t{3})}}).to_vector<bool>(), (std::vector<bool>{true, true}));
  EXPECT_EQ(eval(r, {{k, Tensor(int64_t{0})}}).to_vector<bool>(), (std::vector<bool>{false, false}));
  EXPECT_EQ(eval(nn::in_top_k(pred, tgt, 1)).to_vector<bool>(), (std::vector<bool>{false, false}));
}

TEST(NnOps, InTopKIsNotDifferentiableAndRejectsFloat64) {
  Graph g;
  auto pred = placeholder(g, f64, {2, 3});
  auto tgt = placeholder(g, i32, {2});
  EXPECT_THROW(nn::in_top_k(pred, tgt, 1), InvalidArgument);
  auto p32 = placeholder(g, f32, {2, 3});
  auto r = cast(nn::in_top_k(p32, tgt, 1), f32);
  auto grads = gradients({reduce_sum(r)}, {p32});
  EXPECT_FALSE(static_cast<bool>(grads[0]));
}

// ---- activations: Elu, Selu, LeakyRelu, Sigmoid, Tanh, Softplus, Relu6

constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;

double ref_softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

struct ActivationCase {
  const char* type;
  Output (*build)(const Output&, const std::string&);
  double (*ref)(double);
};

const std::vector<ActivationCase>& activation_cases() {
  static const std::vector<ActivationCase> cases = {
      {"Elu", nn::elu, [](double x) { return x > 0 ? x : std::expm1(x); }},
      {"Selu", nn::selu, [](double x) { return kSeluScale * (x > 0 ? x : kSeluAlpha * std::expm1(x)); }},
      // alpha is a float attr, as in TF: float64 tensors see 0.2f, not 0.2.
      {"LeakyRelu", nn::leaky_relu, [](double x) { return x > 0 ? x : static_cast<double>(0.2f) * x; }},
      {"Sigmoid", nn::sigmoid, [](double x) { return 1 / (1 + std::exp(-x)); }},
      {"Tanh", nn::tanh, [](double x) { return std::tanh(x); }},
      {"Softplus", nn::softplus, ref_softplus},
      {"Relu6", nn::relu6, [](double x) { return std::min(std::max(x, 0.0), 6.0); }},
      {"Softsign", nn::softsign, [](double x) { return x / (1 + std::abs(x)); }},
  };
  return cases;
}

TEST(NnActivations, ForwardMatchesReferenceInBothFloatTypes) {
  const std::vector<double> xs = {-30, -7, -2.5, -1, -0.3, -1e-9, 0, 1e-9, 0.4, 1, 3, 5.9, 6, 7.5, 40};
  for (const ActivationCase& a : activation_cases()) {
    for (DType dt : {f64, f32}) {
      Graph g;
      auto x = placeholder(g, dt, {static_cast<int64_t>(xs.size())}, "x");
      auto y = a.build(x, "");
      EXPECT_EQ(y.op()->type(), a.type);
      EXPECT_EQ(y.op()->name(), a.type);
      EXPECT_EQ(y.dtype(), dt);
      EXPECT_EQ(y.shape(), x.shape());
      Tensor in = Tensor::empty(dt, x.shape());
      dispatch_float(dt, "test", [&]<typename T>() {
        for (size_t i = 0; i < xs.size(); ++i) in.data<T>()[i] = static_cast<T>(xs[i]);
      });
      Tensor r = eval(y, {{x, in}});
      dispatch_float(dt, "test", [&]<typename T>() {
        for (size_t i = 0; i < xs.size(); ++i) {
          const double want = a.ref(static_cast<double>(static_cast<T>(xs[i])));
          const double tol = dt == f64 ? 1e-15 * std::max(1.0, std::abs(want)) : 4e-7 * std::max(1.0, std::abs(want));
          EXPECT_NEAR(r.data<T>()[i], want, tol) << a.type << "(" << xs[i] << ") in " << dtype_name(dt);
        }
      });
    }
  }
}

TEST(NnActivations, NaNStaysNaN) {
  // Long enough for the vectorized path, with NaNs in packet bodies and in the scalar tail.
  std::vector<ActivationCase> cases = activation_cases();
  cases.push_back({"Relu", nn::relu, nullptr});
  for (DType dt : {f32, f64}) {
    Tensor in = random_tensor({67}, 24, -8, 8, dt);
    const std::vector<int64_t> nans = {0, 5, 17, 40, 66};
    dispatch_float(dt, "test", [&]<typename T>() {
      for (int64_t i : nans) in.data<T>()[i] = std::numeric_limits<T>::quiet_NaN();
    });
    for (const ActivationCase& a : cases) {
      Graph g;
      auto x = placeholder(g, dt, {67});
      Tensor r = eval(a.build(x, ""), {{x, in}});
      dispatch_float(dt, "test", [&]<typename T>() {
        for (int64_t i = 0; i < 67; ++i) {
          const bool is_nan = std::find(nans.begin(), nans.end(), i) != nans.end();
          EXPECT_EQ(std::isnan(r.data<T>()[i]), is_nan) << a.type << " element " << i << " " << dtype_name(dt);
        }
      });
    }
  }
}

TEST(NnActivations, ExtremeInputsStayFiniteAndExact) {
  Graph g;
  auto x = placeholder(g, f64, {4});
  Tensor in = Tensor::from_vector<double>({-800, -40, 40, 800});
  Tensor sp = eval(nn::softplus(x), {{x, in}});
  // log(1 + e^x) underflows to e^x on the left (not to 0) and is x itself far right (no overflow).
  EXPECT_DOUBLE_EQ(sp.data<double>()[1], std::exp(-40.0));
  EXPECT_EQ(sp.data<double>()[0], 0.0);
  EXPECT_DOUBLE_EQ(sp.data<double>()[2], 40.0);
  EXPECT_DOUBLE_EQ(sp.data<double>()[3], 800.0);
  Tensor sg = eval(nn::sigmoid(x), {{x, in}});
  expect_near_vec(sg, {0, std::exp(-40.0), 1, 1}, 1e-300);
  Tensor th = eval(nn::tanh(x), {{x, in}});
  expect_near_vec(th, {-1, -1, 1, 1}, 0);
  Tensor el = eval(nn::elu(x), {{x, in}});
  expect_near_vec(el, {-1, std::expm1(-40.0), 40, 800}, 0);
  // Float: the same without overflow to inf or NaN.
  auto xf = placeholder(g, f32, {4});
  Tensor inf_in = Tensor::from_vector<float>({-200, -90, 90, 200});
  for (auto* f : {nn::softplus, nn::sigmoid, nn::tanh, nn::elu, nn::selu}) {
    Tensor r = eval(f(xf, ""), {{xf, inf_in}});
    for (float v : r.flat<float>()) EXPECT_TRUE(std::isfinite(v));
  }
  Tensor spf = eval(nn::softplus(xf), {{xf, inf_in}});
  EXPECT_EQ(spf.data<float>()[3], 200.0f);
}

TEST(NnActivations, LeakyReluAlphaAttrAndOverloads) {
  Graph g;
  auto x = placeholder(g, f64, {4}, "x");
  auto d = nn::leaky_relu(x);
  EXPECT_EQ(d.op()->type(), "LeakyRelu");
  EXPECT_FLOAT_EQ(d.op()->attr<float>("alpha"), 0.2f);
  auto a = nn::leaky_relu(x, 0.01f, "lrelu");
  EXPECT_EQ(a.op()->name(), "lrelu");
  EXPECT_FLOAT_EQ(a.op()->attr<float>("alpha"), 0.01f);
  auto named = nn::leaky_relu(x, "named");
  EXPECT_EQ(named.op()->name(), "named");
  EXPECT_FLOAT_EQ(named.op()->attr<float>("alpha"), 0.2f);
  // alpha > 1 is x > 0 ? x : alpha x, not max(x, alpha x).
  auto big = nn::leaky_relu(x, 3.0f);
  Tensor in = Tensor::from_vector<double>({-2, -0.5, 0.5, 2});
  expect_near_vec(eval(d, {{x, in}}), {-0.4, -0.1, 0.5, 2}, 1e-7);
  expect_near_vec(eval(big, {{x, in}}), {-6, -1.5, 0.5, 2}, 0);
}

// Every activation converts to the function-pointer type layers' Activation accepts, so
// `layers::dense(x, n, {.activation = nn::elu})` compiles; leaky_relu through its name-only overload.
TEST(NnActivations, FitTheActivationPointerType) {
  using ActivationFn = Output (*)(const Output&, const std::string&);
  const ActivationFn fns[] = {nn::relu, nn::elu, nn::selu, nn::leaky_relu, nn::sigmoid,
                              nn::tanh, nn::softplus, nn::relu6};
  Graph g;
  auto x = placeholder(g, f32, {2});
  const char* types[] = {"Relu", "Elu", "Selu", "LeakyRelu", "Sigmoid", "Tanh", "Softplus", "Relu6"};
  for (size_t i = 0; i < std::size(fns); ++i) EXPECT_EQ(fns[i](x, "").op()->type(), types[i]);
}

TEST(NnActivations, Relu6IntegersAndInPlaceChain) {
  Graph g;
  auto x = placeholder(g, i32, {5});
  Tensor r = eval(nn::relu6(x), {{x, Tensor::from_vector<int32_t>({-3, 0, 4, 6, 9})}});
  EXPECT_EQ(r.to_vector<int32_t>(), (std::vector<int32_t>{0, 0, 4, 6, 6}));
  // Each op's input has one reader, so the chain runs in one buffer; values must not change.
  auto v = placeholder(g, f64, {4});
  Tensor in = Tensor::from_vector<double>({-1, -0.5, 0.5, 8});
  Tensor chained = eval(nn::relu6(nn::tanh(nn::elu(v * 1.0))), {{v, in}});
  for (int i = 0; i < 4; ++i) {
    const double e = in.data<double>()[i] > 0 ? in.data<double>()[i] : std::expm1(in.data<double>()[i]);
    EXPECT_NEAR(chained.data<double>()[i], std::min(std::max(std::tanh(e), 0.0), 6.0), 1e-15);
  }
}

TEST(NnActivations, ActivationsRejectIntegers) {
  Graph g;
  auto x = placeholder(g, i32, {2});
  for (auto* f : {nn::elu, nn::selu, nn::sigmoid, nn::tanh, nn::softplus})
    EXPECT_THROW(f(x, ""), InvalidArgument);
  EXPECT_THROW(nn::leaky_relu(x), InvalidArgument);
}

TEST(NnActivations, Gradients) {
  // Values away from the kinks at 0 (and Relu6's at 6).
  for (const ActivationCase& a : activation_cases()) {
    for (const Shape& s : {Shape{7}, Shape{3, 4}, Shape{2, 3, 2}}) {
      Tensor x = away_from_zero(s, 21);
      for (double& v : x.flat<double>()) v *= 3;  // [-3.3, 3.3]: both branches, far from 6
      SCOPED_TRACE(a.type);
      expect_gradients_match([&](const std::vector<Output>& in) { return a.build(in[0], ""); }, {x});
    }
  }
  Tensor near6 = away_from_zero({6}, 22);
  for (double& v : near6.flat<double>()) v += 6;
  expect_gradients_match([](const std::vector<Output>& in) { return nn::relu6(in[0]); }, {near6});
  expect_gradients_match([](const std::vector<Output>& in) { return nn::leaky_relu(in[0], 0.05f); },
                         {away_from_zero({3, 3}, 23)});
  // Far out, where a naive softplus or sigmoid would overflow.
  Tensor far = Tensor::from_vector<double>({-50, -20, 20, 50});
  expect_gradients_match([](const std::vector<Output>& in) { return nn::softplus(in[0]); }, {far});
  expect_gradients_match([](const std::vector<Output>& in) { return nn::sigmoid(in[0]); }, {far});
}

TEST(NnActivations, GradientOpsFollowTf) {
  struct Case { const char* type; Output (*f)(const Output&, const std::string&); const char* grad_op;
                bool via_output; };
  const Case cases[] = {{"Elu", nn::elu, "EluGrad", true},          {"Selu", nn::selu, "SeluGrad", true},
                        {"LeakyRelu", nn::leaky_relu, "LeakyReluGrad", false},
                        {"Sigmoid", nn::sigmoid, "SigmoidGrad", true}, {"Tanh", nn::tanh, "TanhGrad", true},
                        {"Softplus", nn::softplus, "SoftplusGrad", false},
                        {"Relu6", nn::relu6, "Relu6Grad", true}};
  for (const Case& k : cases) {
    Graph g;
    auto x = placeholder(g, f32, {3}, "x");
    auto y = k.f(x, "");
    gradients({reduce_sum(y)}, {x});
    const Operation* op = g.find_operation(str_cat("gradients/", k.type, "_grad/", k.grad_op));
    ASSERT_NE(op, nullptr) << k.type;
    EXPECT_EQ(op->type(), k.grad_op);
    // TF's argument conventions: which input holds the forward tensor, and which one.
    const bool y_first = std::string(k.grad_op) == "SigmoidGrad" || std::string(k.grad_op) == "TanhGrad";
    EXPECT_EQ(op->input(y_first ? 0 : 1), k.via_output ? y : x) << k.grad_op;
  }
}

TEST(NnActivations, GradOpsAndTheirGradients) {
  auto grad_op = [](const char* type) {
    return [type](const std::vector<Output>& in) {
      OpBuilder b(in[0], type, "");
      b.input(in[0]).input(in[1]);
      if (std::string(type) == "LeakyReluGrad") b.attr("alpha", 0.3f);
      return b.build_output();
    };
  };
  // (gradients, outputs/features): second argument away from the kinks.
  Tensor g = random_tensor({2, 5}, 31);
  Tensor neg = random_tensor({2, 5}, 32, -0.9, -0.1);  // Elu/Selu outputs below 0 lie in (-1, 0) / (-1.76, 0)
  Tensor mixed = away_from_zero({2, 5}, 33);
  for (const char* type : {"EluGrad", "SeluGrad"}) {
    SCOPED_TRACE(type);
    expect_gradients_match(grad_op(type), {g, neg});
    expect_gradients_match(grad_op(type), {g, mixed});
  }
  for (const char* type : {"LeakyReluGrad", "Relu6Grad", "SoftplusGrad"}) {
    SCOPED_TRACE(type);
    expect_gradients_match(grad_op(type), {g, mixed});
  }
  Tensor y = random_tensor({2, 5}, 34, 0.05, 0.95);  // a sigmoid's / tanh's output range
  for (const char* type : {"SigmoidGrad", "TanhGrad"}) {
    SCOPED_TRACE(type);
    expect_gradients_match(grad_op(type), {y, g});
  }
}

TEST(NnActivations, GradOpShapeMismatchIsInvalidArgument) {
  Graph g;
  auto a = placeholder(g, f32, {2, 3});
  auto b = placeholder(g, f32, {3, 2});
  try {
    OpBuilder(a, "EluGrad", "bad").input(a).input(b).build();
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("EluGrad 'bad'"), std::string::npos) << e.what();
  }
  auto u = placeholder(g, f32, Shape::unknown());
  auto v = placeholder(g, f32, Shape::unknown());
  auto op = OpBuilder(u, "SigmoidGrad", "late").input(u).input(v).build_output();
  try {
    eval(op, {{u, Tensor(f32, {2})}, {v, Tensor(f32, {3})}});
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("y and dy must have the same shape"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("late"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace fg
