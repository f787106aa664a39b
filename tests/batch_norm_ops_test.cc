// Batch normalization: FusedBatchNorm / FusedBatchNormGrad (TF's, float32 only), and the
// primitive-built nn::moments / nn::batch_normalization with the SquaredDifference and Squeeze ops
// they use, against which the fused ops' gradients are compared in float64.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <string>
#include <vector>

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
using testing::expect_float32_gradients_match;
using testing::expect_gradients_match;
using testing::random_tensor;

std::vector<double> doubles(const Tensor& t) {
  return dispatch_float(t.dtype(), "test", [&]<typename T>() {
    std::vector<double> v;
    for (T x : t.flat<T>()) v.push_back(static_cast<double>(x));
    return v;
  });
}

Tensor as_dtype(const Tensor& t, DType dt) {
  Tensor out = Tensor::empty(dt, t.shape());
  dispatch_float(dt, "test", [&]<typename T>() {
    const std::vector<double> v = doubles(t);
    for (size_t i = 0; i < v.size(); ++i) out.data<T>()[i] = static_cast<T>(v[i]);
  });
  return out;
}

// Two-pass per-channel statistics of a channels-last tensor, in double.
struct Naive {
  std::vector<double> mean, var;  // biased variance
  int64_t rows = 0;
};

Naive naive_stats(const Tensor& x) {
  const std::vector<double> v = doubles(x);
  const int64_t c = x.dim(-1), rows = x.num_elements() / c;
  Naive s{std::vector<double>(c, 0.0), std::vector<double>(c, 0.0), rows};
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < c; ++k) s.mean[k] += v[r * c + k];
  for (double& m : s.mean) m /= static_cast<double>(rows);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < c; ++k) s.var[k] += (v[r * c + k] - s.mean[k]) * (v[r * c + k] - s.mean[k]);
  for (double& q : s.var) q /= static_cast<double>(rows);
  return s;
}

std::vector<double> naive_normalize(const Tensor& x, const std::vector<double>& mean, const std::vector<double>& var,
                                    const Tensor& scale, const Tensor& offset, double eps) {
  const std::vector<double> v = doubles(x), sc = doubles(scale), of = doubles(offset);
  const int64_t c = x.dim(-1);
  std::vector<double> y(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const int64_t k = static_cast<int64_t>(i) % c;
    y[i] = (v[i] - mean[k]) / std::sqrt(var[k] + eps) * sc[k] + of[k];
  }
  return y;
}

void expect_close(const Tensor& t, const std::vector<double>& want, double abs_tol, double rel_tol,
                  const std::string& what) {
  const std::vector<double> got = doubles(t);
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got[i], want[i], abs_tol + rel_tol * std::abs(want[i])) << what << " element " << i;
}

// A positive [C] tensor (variances).
Tensor positive(int64_t c, uint64_t seed) { return random_tensor({c}, seed, 0.5, 2.0); }

template <typename Fn>
auto with_threads(int n, Fn&& fn) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(n);
  auto r = fn();
  omp_set_num_threads(saved);
  return r;
}

// ---- FusedBatchNorm forward

TEST(BatchNormOps, FusedTrainingForwardRank2AndRank4) {
  for (const Shape& shape : {Shape{7, 3}, Shape{2, 3, 2, 4}}) {
    {
      const DType dt = f32;
      const int64_t c = shape.dim(-1);
      Tensor x = as_dtype(random_tensor(shape, 1, -2, 3), dt);
      Tensor scale = as_dtype(random_tensor({c}, 2, 0.5, 1.5), dt);
      Tensor offset = as_dtype(random_tensor({c}, 3), dt);
      Graph g;
      auto px = placeholder(g, dt, shape, "x");
      auto ps = placeholder(g, dt, {c}, "scale");
      auto po = placeholder(g, dt, {c}, "offset");
      auto r = nn::fused_batch_norm(px, ps, po, Output(), Output());
      EXPECT_EQ(r.op->type(), "FusedBatchNorm");
      EXPECT_EQ(r.op->name(), "FusedBatchNorm");
      // TF's wrapper feeds empty constants for the statistics it does not need.
      EXPECT_EQ(r.op->input(3).op()->name(), "Const");
      EXPECT_EQ(r.op->input(4).op()->name(), "Const_1");
      EXPECT_TRUE(r.op->attr<bool>("is_training"));
      EXPECT_EQ(r.op->attr<std::string>("data_format"), "NHWC");
      EXPECT_FLOAT_EQ(r.op->attr<float>("epsilon"), 0.001f);
      EXPECT_EQ(r.y.shape(), shape);
      EXPECT_EQ(r.batch_mean.shape(), (Shape{c}));
      EXPECT_EQ(r.op->output(4).shape(), (Shape{c}));

      Session sess(g);
      auto out = sess.run({{px, x}, {ps, scale}, {po, offset}},
                          {r.y, r.batch_mean, r.batch_variance, r.op->output(3), r.op->output(4)});
      const Naive s = naive_stats(x);
      const double eps = static_cast<double>(0.001f);
      const double tol = 2e-6;
      const std::string what = str_cat(shape, " ", dtype_name(dt));
      expect_close(out[0], naive_normalize(x, s.mean, s.var, scale, offset, eps), tol, tol, what + " y");
      expect_close(out[1], s.mean, tol, tol, what + " batch_mean");
      std::vector<double> unbiased = s.var;
      for (double& v : unbiased) v *= static_cast<double>(s.rows) / static_cast<double>(s.rows - 1);
      expect_close(out[2], unbiased, tol, tol, what + " batch_variance (Bessel-corrected)");
      expect_close(out[3], s.mean, tol, tol, what + " reserve_space_1");
      expect_close(out[4], s.var, tol, tol, what + " reserve_space_2 (biased)");
    }
  }
}

TEST(BatchNormOps, FusedInferenceUsesTheGivenStatistics) {
  for (const Shape& shape : {Shape{5, 3}, Shape{2, 2, 1, 3}}) {
    Tensor x = random_tensor(shape, 4, -2, 2, f32);
    Tensor scale = random_tensor({3}, 5, 0.5, 1.5, f32), offset = random_tensor({3}, 6, -1, 1, f32);
    Tensor mean = random_tensor({3}, 7, -1, 1, f32), var = random_tensor({3}, 8, 0.5, 2, f32);
    Graph g;
    auto pm = placeholder(g, f32, {3}, "mean");
    auto r = nn::fused_batch_norm(constant(g, x), constant(g, scale), constant(g, offset), pm,
                                  constant(g, var), 0.01, /*is_training=*/false, "bn");
    EXPECT_EQ(r.op->name(), "bn");
    Session sess(g);
    auto out = sess.run({{pm, mean}}, {r.y, r.batch_mean, r.batch_variance, r.op->output(3), r.op->output(4)});
    expect_close(out[0], naive_normalize(x, doubles(mean), doubles(var), scale, offset, static_cast<double>(0.01f)),
                 3e-6, 3e-6, "y");
    EXPECT_TRUE(out[1].equals(mean));
    EXPECT_TRUE(out[2].equals(var));
    EXPECT_TRUE(out[3].equals(mean));
    EXPECT_TRUE(out[4].equals(var));
  }
}

TEST(BatchNormOps, FusedEpsilonFloorAndRequiredStatistics) {
  Graph g;
  // TF's FusedBatchNorm takes float32 only.
  auto x64 = placeholder(g, f64, {-1, 2});
  testing::expect_error([&] { nn::fused_batch_norm(x64, x64, x64, Output(), Output(), 0.001, true, "bn64"); },
                        Code::kInvalidArgument, {"FusedBatchNorm 'bn64'", "float64 is not allowed"});
  auto x = placeholder(g, f32, {-1, 2});
  auto s = placeholder(g, f32, {2});
  // TF's wrapper raises epsilon to cuDNN's minimum.
  EXPECT_FLOAT_EQ(nn::fused_batch_norm(x, s, s, Output(), Output(), 1e-8).op->attr<float>("epsilon"), 1.001e-5f);
  EXPECT_FLOAT_EQ(nn::fused_batch_norm(x, s, s, Output(), Output(), 0.1).op->attr<float>("epsilon"), 0.1f);
  EXPECT_THROW(nn::fused_batch_norm(x, s, s, Output(), Output(), 0.001, /*is_training=*/false), InvalidArgument);
  EXPECT_THROW(nn::fused_batch_norm(x, Output(), s, s, s), InvalidArgument);
}

TEST(BatchNormOps, UnbiasedVarianceDivisorIsFlooredAtOne) {
  Graph g;
  auto x = placeholder(g, f32, {-1, 2});
  auto one = constant(g, Tensor::from_vector<float>({1, 1}));
  auto zero = constant(g, Tensor::from_vector<float>({0, 0}));
  auto r = nn::fused_batch_norm(x, one, zero, Output(), Output());
  Session sess(g);
  auto single = sess.run({{x, Tensor::from_vector<float>({3, -4}, {1, 2})}}, {r.batch_mean, r.batch_variance, r.y});
  expect_close(single[0], {3, -4}, 0, 0, "mean of one row");
  expect_close(single[1], {0, 0}, 0, 0, "variance of one row");
  expect_close(single[2], {0, 0}, 0, 0, "y of one row");
  auto pair = sess.run({{x, Tensor::from_vector<float>({1, 0, 3, 4}, {2, 2})}}, {r.batch_variance, r.op->output(4)});
  expect_close(pair[0], {2, 8}, 1e-6, 0, "unbiased variance of two rows");
  expect_close(pair[1], {1, 4}, 1e-6, 0, "biased variance of two rows");
}

// Mean 1000, std about 1: E[x^2] - E[x]^2 in float would be noise; the kernel must not be.
TEST(BatchNormOps, LargeMeanIsAccurateInFloat) {
  const int64_t rows = 20000, c = 5;
  Tensor x = random_tensor({rows, c}, 9, -1.7, 1.7, f32);
  for (int64_t i = 0; i < x.num_elements(); ++i) x.data<float>()[i] += 1000.0f + static_cast<float>(i % c);
  const Naive s = naive_stats(x);
  Tensor scale = Tensor::from_vector<float>({1, 2, 0.5f, 1, 1});
  Tensor offset = Tensor::from_vector<float>({0, 1, -1, 0, 2});
  for (const Shape& shape : {Shape{rows, c}, Shape{10, 40, 50, c}}) {
    Graph g;
    auto px = placeholder(g, f32, shape);
    auto fused = nn::fused_batch_norm(px, constant(g, scale), constant(g, offset), Output(), Output());
    Session sess(g);
    auto out = sess.run({{px, x.reshaped(shape)}}, {fused.y, fused.batch_mean, fused.op->output(4)});
    const std::vector<double> y = naive_normalize(x, s.mean, s.var, scale, offset, static_cast<double>(0.001f));
    expect_close(out[1], s.mean, 0, 1e-7, "mean");
    expect_close(out[2], s.var, 0, 1e-5, "variance");
    // x itself is only known to ulp(1000) = 6e-5 in float; y is as good as its input.
    expect_close(out[0], y, 2e-4, 0, "y");
    for (double v : s.var) EXPECT_GT(v, 0.5);  // the check above is not vacuous
  }
}

// ---- determinism

struct BnRun {
  std::vector<Tensor> values;
};

BnRun run_all(const Shape& shape, int threads) {
  const int64_t c = shape.dim(-1);
  Tensor x = random_tensor(shape, 20, -1, 3, f32);
  Tensor dy = random_tensor(shape, 21, -1, 1, f32);
  Graph g;
  auto px = placeholder(g, f32, shape);
  auto pdy = placeholder(g, f32, shape);
  auto scale = constant(g, random_tensor({c}, 22, 0.5, 1.5, f32));
  auto offset = constant(g, random_tensor({c}, 23, -1, 1, f32));
  auto r = nn::fused_batch_norm(px, scale, offset, Output(), Output());
  Operation* grad = OpBuilder(px, "FusedBatchNormGrad", "").input(pdy).input(px).input(scale)
                        .input(r.op->output(3)).input(r.op->output(4)).build();
  Session sess(g);
  return with_threads(threads, [&] {
    return BnRun{sess.run({{px, x}, {pdy, dy}},
                          {r.y, r.batch_mean, r.batch_variance, grad->output(0), grad->output(1), grad->output(2)})};
  });
}

TEST(BatchNormOps, SameBitsOnOneAndTwoThreads) {
  // Tall and narrow (row blocks), short and wide (column chunks), NHWC, and small (serial).
  for (const Shape& shape : {Shape{6000, 37}, Shape{40, 3000}, Shape{16, 12, 12, 24}, Shape{5, 3}}) {
    const BnRun one = run_all(shape, 1), two = run_all(shape, 2);
    for (size_t i = 0; i < one.values.size(); ++i)
      EXPECT_TRUE(one.values[i].equals(two.values[i])) << shape << " output " << i;
  }
}

// ---- gradients

// The inference statistics of the gradient tests, in the dtype asked for.
std::pair<Tensor, Tensor> population(int64_t c, DType dt) {
  return {as_dtype(random_tensor({c}, 30, -1, 1), dt), as_dtype(positive(c, 31), dt)};
}

Output fused(const std::vector<Output>& in, bool training) {
  Graph& g = *in[0].graph();
  Output mean, var;
  if (!training) {
    const auto [m, v] = population(in[0].shape().dim(-1), f32);
    mean = constant(g, m);
    var = constant(g, v);
  }
  return nn::fused_batch_norm(in[0], in[1], in[2], mean, var, 0.001, training).y;
}

TEST(BatchNormOps, FusedGradientsTrainingAndInference) {
  for (const Shape& shape : {Shape{5, 3}, Shape{2, 2, 2, 3}}) {
    const std::vector<Tensor> xs = {random_tensor(shape, 32, -2, 2), random_tensor({3}, 33, 0.5, 1.5),
                                    random_tensor({3}, 34)};
    for (bool training : {true, false}) {
      SCOPED_TRACE(str_cat(shape, training ? " training" : " inference"));
      expect_float32_gradients_match([&](const std::vector<Output>& in) { return fused(in, training); }, xs);
    }
  }
}

// TF drops gradients that reach the statistics outputs; here they are exact.
TEST(BatchNormOps, GradientsThroughTheBatchStatistics) {
  Tensor x = random_tensor({6, 3}, 40, -2, 2);
  auto params = [](Graph& g) {
    return std::pair{constant(g, as_dtype(random_tensor({3}, 41, 0.5, 1.5), f32)),
                     constant(g, as_dtype(random_tensor({3}, 42), f32))};
  };
  expect_float32_gradients_match(
      [&](const std::vector<Output>& in) {
        auto [s, o] = params(*in[0].graph());
        auto r = nn::fused_batch_norm(in[0], s, o, Output(), Output());
        return r.y * 0.5f + r.batch_mean + r.batch_variance;  // [C] broadcast over the rows
      },
      {x});
  expect_float32_gradients_match(
      [&](const std::vector<Output>& in) {
        auto [s, o] = params(*in[0].graph());
        return nn::fused_batch_norm(in[0], s, o, Output(), Output()).batch_variance;
      },
      {random_tensor({2, 2, 2, 3}, 43)});
}

TEST(BatchNormOps, GradientOpsAndNoGradientForStatistics) {
  for (bool training : {true, false}) {
    Graph g;
    auto x = placeholder(g, f32, {-1, 2}, "x");
    auto s = placeholder(g, f32, {2}, "s");
    auto o = placeholder(g, f32, {2}, "o");
    auto m = placeholder(g, f32, {2}, "m");
    auto v = placeholder(g, f32, {2}, "v");
    auto r = nn::fused_batch_norm(x, s, o, m, v, 0.001, training);
    auto grads = gradients({reduce_sum(r.y)}, {x, s, o, m, v});
    EXPECT_TRUE(grads[0] && grads[1] && grads[2]);
    EXPECT_FALSE(grads[3]);
    EXPECT_FALSE(grads[4]);
    const Operation* bg = g.find_operation("gradients/FusedBatchNorm_grad/FusedBatchNormGrad");
    ASSERT_NE(bg, nullptr);
    EXPECT_EQ(bg->type(), "FusedBatchNormGrad");
    EXPECT_EQ(bg->attr<bool>("is_training"), training);
    EXPECT_FLOAT_EQ(bg->attr<float>("epsilon"), 0.001f);
    // As TF: the batch statistics from the reserve spaces when training, the inputs otherwise.
    EXPECT_EQ(bg->input(3), training ? r.op->output(3) : m);
    EXPECT_EQ(bg->input(4), training ? r.op->output(4) : v);
    EXPECT_EQ(bg->output_shape(0), (Shape{-1, 2}));
    EXPECT_EQ(bg->output_shape(3), (Shape{0}));
  }
}

// ---- errors

void expect_invalid(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

TEST(BatchNormOps, StaticShapeErrorsNameTheOp) {
  Graph g;
  auto x3 = placeholder(g, f32, {2, 3, 4});
  auto c4 = placeholder(g, f32, {4});
  auto c3 = placeholder(g, f32, {3});
  expect_invalid([&] { nn::fused_batch_norm(x3, c4, c4, Output(), Output(), 0.001, true, "bn3"); },
                 {"FusedBatchNorm 'bn3'", "2-D [N, C] or 4-D NHWC", "[2,3,4]"});
  auto x = placeholder(g, f32, {-1, 3});
  expect_invalid([&] { nn::fused_batch_norm(x, c4, c3, Output(), Output(), 0.001, true, "bad_scale"); },
                 {"FusedBatchNorm 'bad_scale'", "scale has 4 elements", "3 channels"});
  expect_invalid([&] { nn::fused_batch_norm(x, c3, c3, c3, c4, 0.001, false, "bad_var"); },
                 {"FusedBatchNorm 'bad_var'", "variance has 4 elements"});
  // Empty statistics are fine when training (what TF's wrapper passes).
  EXPECT_NO_THROW(nn::fused_batch_norm(x, c3, c3, constant(g, Tensor(f32, {0})), constant(g, Tensor(f32, {0}))));
}

TEST(BatchNormOps, RunTimeShapeErrorsNameTheNode) {
  Graph g;
  auto x = placeholder(g, f32, Shape::unknown(), "x");
  auto s = placeholder(g, f32, Shape::unknown(), "s");
  auto r = nn::fused_batch_norm(x, s, s, Output(), Output(), 0.001, true, "bn_late");
  expect_invalid([&] { eval(r.y, {{x, Tensor(f32, {2, 3})}, {s, Tensor(f32, {4})}}); },
                 {"FusedBatchNorm", "scale must have shape [3]", "bn_late"});
  expect_invalid([&] { eval(r.y, {{x, Tensor(f32, {2, 3, 3})}, {s, Tensor(f32, {3})}}); },
                 {"FusedBatchNorm", "must be 2-D [N, C] or 4-D NHWC", "[2,3,3]", "bn_late"});
}

// ---- nn.moments and nn.batch_normalization

TEST(BatchNormOps, MomentsValuesNamesAndShapes) {
  Graph g;
  auto x = placeholder(g, f64, {-1, 3}, "x");
  auto [mean, variance] = nn::moments(x, {0});
  for (const char* name : {"moments/mean", "moments/mean/reduction_indices", "moments/StopGradient",
                           "moments/SquaredDifference", "moments/variance", "moments/Squeeze", "moments/Squeeze_1"})
    EXPECT_NE(g.find_operation(name), nullptr) << name;
  EXPECT_EQ(g.find_operation("moments/StopGradient")->type(), "StopGradient");
  EXPECT_EQ(g.find_operation("moments/SquaredDifference")->type(), "SquaredDifference");
  EXPECT_EQ(g.find_operation("moments/variance")->type(), "Mean");
  EXPECT_EQ(mean.op()->name(), "moments/Squeeze");
  EXPECT_EQ(mean.op()->type(), "Squeeze");
  EXPECT_EQ(variance.op()->name(), "moments/Squeeze_1");
  EXPECT_EQ(mean.shape(), (Shape{3}));
  EXPECT_EQ(variance.shape(), (Shape{3}));
  Tensor xv = random_tensor({9, 3}, 50, -5, 5);
  for (int64_t i = 0; i < xv.num_elements(); ++i) xv.data<double>()[i] += 100;
  Session sess(g);
  auto out = sess.run({{x, xv}}, {mean, variance});
  const Naive s = naive_stats(xv);
  expect_close(out[0], s.mean, 1e-12, 0, "mean");
  expect_close(out[1], s.var, 1e-12, 0, "variance");

  auto [km, kv] = nn::moments(x, {0}, /*keep_dims=*/true);
  EXPECT_EQ(km.op()->name(), "moments_1/mean");
  EXPECT_EQ(kv.op()->name(), "moments_1/variance");
  EXPECT_EQ(km.shape(), (Shape{1, 3}));
  EXPECT_EQ(g.find_operation("moments_1/Squeeze"), nullptr);

  auto x4 = placeholder(g, f64, {2, 3, 4, 5}, "x4");
  auto [m4, v4] = nn::moments(x4, {0, 1, 2}, false, "bn_stats");
  EXPECT_EQ(m4.shape(), (Shape{5}));
  EXPECT_EQ(v4.op()->name(), "bn_stats/Squeeze_1");
  Tensor x4v = random_tensor({2, 3, 4, 5}, 51);
  auto o4 = sess.run({{x4, x4v}}, {m4, v4});
  const Naive s4 = naive_stats(x4v);
  expect_close(o4[0], s4.mean, 1e-14, 0, "NHWC mean");
  expect_close(o4[1], s4.var, 1e-14, 0, "NHWC variance");
  auto [mid_m, mid_v] = nn::moments(x4, {1, -1});
  EXPECT_EQ(mid_v.shape(), (Shape{2, 4}));
  EXPECT_THROW(nn::moments(x, {}), InvalidArgument);
}

TEST(BatchNormOps, MomentsGradients) {
  for (bool keep : {false, true}) {
    auto mean_of = [keep](const std::vector<int64_t>& axes) {
      return [=](const std::vector<Output>& in) { return nn::moments(in[0], axes, keep).first; };
    };
    auto var_of = [keep](const std::vector<int64_t>& axes) {
      return [=](const std::vector<Output>& in) { return nn::moments(in[0], axes, keep).second; };
    };
    expect_gradients_match(mean_of({0}), {random_tensor({5, 3}, 52)});
    expect_gradients_match(var_of({0}), {random_tensor({5, 3}, 53)});
    expect_gradients_match(var_of({0, 2}), {random_tensor({2, 3, 4}, 54)});
    expect_gradients_match(var_of({0, 1, 2}), {random_tensor({2, 2, 3, 2}, 55)});
  }
}

TEST(BatchNormOps, BatchNormalizationFormulaAndTfNames) {
  Graph g;
  auto x = placeholder(g, f64, {-1, 3}, "x");
  auto m = placeholder(g, f64, {3}, "m");
  auto v = placeholder(g, f64, {3}, "v");
  auto o = placeholder(g, f64, {3}, "o");
  auto s = placeholder(g, f64, {3}, "s");
  auto y = nn::batch_normalization(x, m, v, o, s, 0.001);
  const std::vector<std::pair<const char*, const char*>> ops = {
      {"batchnorm/add", "Add"}, {"batchnorm/add/y", "Const"}, {"batchnorm/Rsqrt", "Rsqrt"},
      {"batchnorm/mul", "Mul"},   {"batchnorm/mul_1", "Mul"},   {"batchnorm/mul_2", "Mul"},
      {"batchnorm/sub", "Sub"},   {"batchnorm/add_1", "Add"}};
  for (const auto& [name, type] : ops) {
    const Operation* op = g.find_operation(name);
    ASSERT_NE(op, nullptr) << name;
    EXPECT_EQ(op->type(), type) << name;
  }
  EXPECT_EQ(y.op()->name(), "batchnorm/add_1");
  // x * inv (mul_1) and mean * inv (mul_2), as TF builds them.
  EXPECT_EQ(g.find_operation("batchnorm/mul_1")->input(0), x);
  EXPECT_EQ(g.find_operation("batchnorm/mul_2")->input(0), m);

  Tensor xv = random_tensor({4, 3}, 60), mv = random_tensor({3}, 61), vv = positive(3, 62);
  Tensor ov = random_tensor({3}, 63), sv = random_tensor({3}, 64, 0.5, 1.5);
  Tensor r = eval(y, {{x, xv}, {m, mv}, {v, vv}, {o, ov}, {s, sv}});
  expect_close(r, naive_normalize(xv, doubles(mv), doubles(vv), sv, ov, 0.001), 1e-14, 1e-14, "batchnorm");

  // Without offset and scale: -mean * inv through a Neg, no "mul" for the scale.
  auto bare = nn::batch_normalization(x, m, v, Output(), Output(), 0.01, "plain");
  EXPECT_NE(g.find_operation("plain/Neg"), nullptr);
  EXPECT_EQ(g.find_operation("plain/sub"), nullptr);
  EXPECT_EQ(g.find_operation("plain/mul")->input(0), x);
  Tensor rb = eval(bare, {{x, xv}, {m, mv}, {v, vv}});
  expect_close(rb, naive_normalize(xv, doubles(mv), doubles(vv), Tensor::from_vector<double>({1, 1, 1}),
                                   Tensor::from_vector<double>({0, 0, 0}), 0.01),
               1e-14, 1e-14, "plain");
}

TEST(BatchNormOps, BatchNormalizationGradients) {
  expect_gradients_match(
      [](const std::vector<Output>& in) { return nn::batch_normalization(in[0], in[1], in[2], in[3], in[4], 0.001); },
      {random_tensor({4, 3}, 65), random_tensor({3}, 66), positive(3, 67), random_tensor({3}, 68),
       random_tensor({3}, 69, 0.5, 1.5)});
  expect_gradients_match(
      [](const std::vector<Output>& in) { return nn::batch_normalization(in[0], in[1], in[2], Output(), Output(), 0.1); },
      {random_tensor({2, 2, 3}, 70), random_tensor({3}, 71), positive(3, 72)});
}

// The fused ops in float32 agree with the primitive-built path in float64 (whose gradients are
// checked numerically above), values and gradients, in training and inference: the tight check
// behind the float32 numeric ones.
TEST(BatchNormOps, FusedMatchesThePrimitivePathInFloat64) {
  for (const Shape& shape : {Shape{50, 4}, Shape{3, 4, 5, 4}}) {
    for (bool training : {true, false}) {
      SCOPED_TRACE(str_cat(shape, training ? " training" : " inference"));
      const Tensor xv = random_tensor(shape, 75, -3, 3), sv = random_tensor({4}, 73, 0.5, 1.5),
                   ov = random_tensor({4}, 74), wv = random_tensor(shape, 76, 0.5, 1.5);
      const auto [mv, vv] = population(4, f64);
      std::vector<Tensor> got, want;
      for (DType dt : {f32, f64}) {
        Graph g;
        auto x = placeholder(g, dt, shape, "x");
        auto s = placeholder(g, dt, {4}, "s");
        auto o = placeholder(g, dt, {4}, "o");
        Output y;
        if (dt == f32) {
          y = training ? fused({x, s, o}, true)
                       : nn::fused_batch_norm(x, s, o, constant(g, as_dtype(mv, f32)), constant(g, as_dtype(vv, f32)),
                                              0.001, false).y;
        } else {
          std::vector<int64_t> axes(shape.rank() - 1);
          for (size_t k = 0; k < axes.size(); ++k) axes[k] = static_cast<int64_t>(k);
          auto [mean, variance] = training ? nn::moments(x, axes) : std::pair{constant(g, mv), constant(g, vv)};
          y = nn::batch_normalization(x, mean, variance, o, s, static_cast<double>(0.001f));
        }
        auto grads = gradients({reduce_sum(y * constant(g, as_dtype(wv, dt)))}, {x, s, o});
        Session sess(g);
        const FeedDict feeds{{x, as_dtype(xv, dt)}, {s, as_dtype(sv, dt)}, {o, as_dtype(ov, dt)}};
        (dt == f32 ? got : want) = sess.run(feeds, {y, grads[0], grads[1], grads[2]});
      }
      const char* what[] = {"y", "dx", "dscale", "doffset"};
      for (int k = 0; k < 4; ++k) {
        double scale = 0;
        for (double v : doubles(want[k])) scale = std::max(scale, std::abs(v));
        expect_close(got[k], doubles(want[k]), 2e-6 * std::max(1.0, scale), 0, what[k]);
      }
    }
  }
}

// ---- SquaredDifference and Squeeze

Output squared_difference(const Output& a, const Output& b) {
  return OpBuilder(a, "SquaredDifference", "").input(a).input(b).build_output();
}

TEST(BatchNormOps, SquaredDifferenceBroadcastsAndDifferentiates) {
  Graph g;
  auto a = placeholder(g, f64, {2, 1, 3});
  auto b = placeholder(g, f64, {4, 1});
  auto d = squared_difference(a, b);
  EXPECT_EQ(d.shape(), (Shape{2, 4, 3}));
  Tensor av = random_tensor({2, 1, 3}, 76), bv = random_tensor({4, 1}, 77);
  Tensor r = eval(d, {{a, av}, {b, bv}});
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 4; ++j)
      for (int64_t k = 0; k < 3; ++k) {
        const double diff = av.at<double>({i, 0, k}) - bv.at<double>({j, 0});
        EXPECT_DOUBLE_EQ(r.at<double>({i, j, k}), diff * diff);
      }
  auto i32a = placeholder(g, i32, {3});
  Tensor ri = eval(squared_difference(i32a, constant(g, Tensor(int32_t{2}))),
                   {{i32a, Tensor::from_vector<int32_t>({-1, 2, 7})}});
  EXPECT_EQ(ri.to_vector<int32_t>(), (std::vector<int32_t>{9, 0, 25}));
  EXPECT_THROW(squared_difference(a, placeholder(g, f64, {2})), InvalidArgument);

  auto f = [](const std::vector<Output>& in) { return squared_difference(in[0], in[1]); };
  expect_gradients_match(f, {random_tensor({3, 4}, 78), random_tensor({3, 4}, 79)});
  expect_gradients_match(f, {random_tensor({3, 4}, 80), random_tensor({4}, 81)});
  expect_gradients_match(f, {random_tensor({2, 1, 3}, 82), random_tensor({4, 1}, 83)});
  expect_gradients_match(f, {random_tensor({}, 84), random_tensor({2, 3}, 85)});
}

Output squeeze(const Output& x, const std::vector<int64_t>& axes) {
  return OpBuilder(x, "Squeeze", "").input(x).attr("squeeze_dims", axes).build_output();
}

TEST(BatchNormOps, SqueezeShapesErrorsAndGradient) {
  Graph g;
  auto x = placeholder(g, f32, {1, 3, 1, -1});
  EXPECT_EQ(squeeze(x, {0}).shape(), (Shape{3, 1, -1}));
  EXPECT_EQ(squeeze(x, {-2, 0}).shape(), (Shape{3, -1}));
  EXPECT_EQ(squeeze(x, {}).shape(), Shape::unknown());  // the last dim may or may not be 1
  EXPECT_EQ(squeeze(placeholder(g, f32, {1, 2, 1}), {}).shape(), (Shape{2}));
  expect_invalid([&] { squeeze(x, {1}); }, {"Squeeze", "Can not squeeze dim[1]", "got 3"});
  expect_invalid([&] { squeeze(x, {4}); }, {"Squeeze", "dim index 4"});
  auto u = squeeze(x, {3});
  Tensor r = eval(u, {{x, Tensor(f32, {1, 3, 1, 1})}});
  EXPECT_EQ(r.shape(), (Shape{1, 3, 1}));
  expect_invalid([&] { eval(u, {{x, Tensor(f32, {1, 3, 1, 2})}}); }, {"Can not squeeze dim[3]"});
  expect_gradients_match([](const std::vector<Output>& in) { return squeeze(in[0], {1}); },
                         {random_tensor({3, 1, 2}, 86)});
  expect_gradients_match(
      [](const std::vector<Output>& in) {
        return squeeze(reshape(in[0], placeholder_with_default(constant(*in[0].graph(),
                                                                        Tensor::from_vector<int32_t>({2, 1, 3})),
                                                               Shape{3})),
                       {1});
      },
      {random_tensor({6}, 87)});
}

}  // namespace
}  // namespace fg
