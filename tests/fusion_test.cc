// Plan-level fusions (graph/op_registry.h Fusion): the fused plan computes what the op-by-op plan
// computes, and fuses only where the producer's value has no other use.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <tuple>

#include "flowgraph.h"
#include "graph/op_registry.h"
#include "test_util.h"

namespace fg {
namespace {

struct Model {
  Graph g;
  Output X, y, loss, kernel_grad;
  Operation* train_op = nullptr;
  Variable kernel;

  explicit Model(DType dtype) {
    g.set_random_seed(5);
    X = placeholder(g, dtype, {-1, 6}, "X");
    y = placeholder(g, i32, {-1}, "y");
    auto h = layers::dense(X, 5, {.activation = nn::relu, .name = "hidden"});
    auto logits = layers::dense(h, 3, {.name = "outputs"});
    loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(y, logits));
    train::GradientDescentOptimizer opt(0.1);
    auto grads = opt.compute_gradients(loss);
    kernel = g.get_variables(GraphKeys::TRAINABLE_VARIABLES, "hidden")[0];
    for (auto& [grad, var] : grads)
      if (var.name() == "hidden/kernel") kernel_grad = grad;
    train_op = opt.apply_gradients(grads);
  }
};

void expect_allclose(const Tensor& a, const Tensor& b, double tol) {
  ASSERT_EQ(a.shape(), b.shape());
  ASSERT_EQ(a.dtype(), b.dtype());
  dispatch_float(a.dtype(), "expect_allclose", [&]<typename T>() {
    for (int64_t i = 0; i < a.num_elements(); ++i)
      ASSERT_NEAR(double(a.data<T>()[i]), double(b.data<T>()[i]), tol) << "element " << i;
  });
}

Tensor labels(int64_t n) {
  Tensor t = Tensor::empty(i32, {n});
  for (int64_t i = 0; i < n; ++i) t.flat<int32_t>()[i] = static_cast<int32_t>(i % 3);
  return t;
}

// Trains a few steps and returns every variable's final value.
std::vector<Tensor> train(DType dtype, bool fusions, std::vector<Session::OpProfile>* profile = nullptr) {
  Model m(dtype);
  Session sess(m.g);
  sess.set_fusions_enabled(fusions);
  sess.run(global_variables_initializer(m.g));
  const Tensor x = testing::random_tensor({8, 6}, 11, -1, 1, dtype), yb = labels(8);
  sess.set_profiling(profile != nullptr);
  for (int i = 0; i < 5; ++i) sess.run({{m.X, x}, {m.y, yb}}, {}, {m.train_op});
  if (profile) *profile = sess.profile();
  std::vector<Tensor> values;
  for (const Variable& v : m.g.get_variables(GraphKeys::TRAINABLE_VARIABLES)) values.push_back(sess.variable_value(v.op));
  return values;
}

bool has_op(const std::vector<Session::OpProfile>& p, const std::string& name) {
  for (const auto& o : p)
    if (o.name == name) return true;
  return false;
}

TEST(Fusion, GradientDescentIntoGemmTrainsLikeTheOpByOpPlan) {
  for (DType dtype : {f64, f32}) {
    std::vector<Session::OpProfile> fused_profile, plain_profile;
    const auto fused = train(dtype, true, &fused_profile);
    const auto plain = train(dtype, false, &plain_profile);
    ASSERT_EQ(fused.size(), plain.size());
    for (size_t i = 0; i < fused.size(); ++i)
      expect_allclose(fused[i], plain[i], dtype == f64 ? 1e-12 : 1e-5);
    // The weight gradients' MatMuls ran inside the updates: gone from the fused plan's profile.
    const std::string dw = "gradients/hidden/MatMul_grad/MatMul_1";
    EXPECT_TRUE(has_op(plain_profile, dw));
    EXPECT_FALSE(has_op(fused_profile, dw));
    EXPECT_TRUE(has_op(fused_profile, "GradientDescent/update_hidden/kernel/ApplyGradientDescent"));
  }
}

TEST(Fusion, FetchedGradientIsNotFusedAway) {
  Model m(f64);
  Session fused(m.g), plain(m.g);
  plain.set_fusions_enabled(false);
  const Tensor x = testing::random_tensor({8, 6}, 11, -1, 1, f64), yb = labels(8);
  for (Session* s : {&fused, &plain}) s->run(global_variables_initializer(m.g));
  // Fetching the kernel's gradient in the training run pins its MatMul: both plans must agree.
  auto a = fused.run({{m.X, x}, {m.y, yb}}, {m.kernel_grad}, {m.train_op});
  auto b = plain.run({{m.X, x}, {m.y, yb}}, {m.kernel_grad}, {m.train_op});
  expect_allclose(a[0], b[0], 1e-12);
  expect_allclose(fused.variable_value(m.kernel.op), plain.variable_value(m.kernel.op), 1e-12);
}

TEST(Fusion, UpdateLeavesAHeldOldValueIntact) {
  Model m(f64);
  Session sess(m.g);
  sess.run(global_variables_initializer(m.g));
  const Tensor before = sess.variable_value(m.kernel.op);  // holds the buffer: the update must copy
  const Tensor snapshot = before.clone();
  sess.run({{m.X, testing::random_tensor({8, 6}, 11, -1, 1, f64)}, {m.y, labels(8)}}, {}, {m.train_op});
  EXPECT_TRUE(before.equals(snapshot)) << "the fused update wrote into a buffer someone else holds";
  EXPECT_FALSE(sess.variable_value(m.kernel.op).equals(snapshot)) << "the variable was not updated";
}

TEST(Fusion, ShapeMismatchIsInvalidArgumentNamingTheNode) {
  // A hand-built update whose MatMul product does not match the variable.
  Graph g;
  Variable v = variable(constant(g, Tensor(f32, {3, 2})), {.name = "v"});
  auto a = placeholder(g, f32, {-1, -1}, "a");
  auto b = placeholder(g, f32, {-1, -1}, "b");
  auto update = apply_gradient_descent(v, constant(g, Tensor(0.5f)), matmul(a, b), "update");
  Session sess(g);
  sess.run(global_variables_initializer(g));
  try {
    sess.run({{a, Tensor(f32, {4, 2})}, {b, Tensor(f32, {2, 2})}}, update);
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("update"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("shape"), std::string::npos) << e.what();
  }
}

// One run of `fetches` in a fresh session, fusions on or off, with the ops it ran.
struct PlanRun {
  std::vector<Tensor> values;
  std::vector<Session::OpProfile> profile;
};
PlanRun run_plan(Graph& g, bool fusions, const FeedDict& feeds, const std::vector<Output>& fetches) {
  Session sess(g);
  sess.set_fusions_enabled(fusions);
  sess.run(global_variables_initializer(g));
  sess.set_profiling(true);
  PlanRun r;
  r.values = sess.run(feeds, fetches);
  r.profile = sess.profile();
  return r;
}

// A dense ReLU layer's forward pass, fused (one GEMM with bias and ReLU in its epilogue) and op by
// op, at shapes where the GEMM runs on one thread, splits by rows and splits by columns.
TEST(Fusion, DenseReluForwardIsBitIdentical) {
  for (DType dtype : {f32, f64})
    for (auto [batch, in, units] : {std::tuple<int64_t, int64_t, int64_t>{3, 5, 4}, {200, 784, 300}, {50, 784, 300}}) {
      Graph g;
      g.set_random_seed(9);
      auto X = placeholder(g, dtype, {-1, in}, "X");
      auto h = layers::dense(X, units, {.activation = nn::relu, .bias_initializer = random_uniform_initializer(-1, 1),
                                        .name = "hidden"});
      const Tensor x = testing::random_tensor({batch, in}, 4, -1, 1, dtype);
      const PlanRun fused = run_plan(g, true, {{X, x}}, {h}), plain = run_plan(g, false, {{X, x}}, {h});
      EXPECT_TRUE(fused.values[0].equals(plain.values[0]))
          << dtype_name(dtype) << " " << batch << "x" << in << "x" << units;
      EXPECT_FALSE(has_op(fused.profile, "hidden/MatMul"));
      EXPECT_FALSE(has_op(fused.profile, "hidden/BiasAdd"));
      EXPECT_TRUE(has_op(fused.profile, "hidden/Relu"));
      EXPECT_TRUE(has_op(plain.profile, "hidden/MatMul"));
      EXPECT_TRUE(has_op(plain.profile, "hidden/BiasAdd"));
    }
}

// Every activation with a fused form, forward (MatMul -> BiasAdd -> activation) and backward (the
// input gradient's MatMul -> activation gradient), against the op-by-op plan. ReLU's fused forms are
// bit-identical; the transcendental ones may differ by an ulp where Eigen evaluates a row's tail
// with the scalar function instead of the vectorized one.
TEST(Fusion, EveryActivationForwardAndBackward) {
  struct Case {
    const char* name;
    Output (*fn)(const Output&);
    const char* grad_type;
    bool grad_reads_features;  // then BiasAdd's value has two uses and only MatMul -> BiasAdd fuses
  };
  const Case cases[] = {
      {"Relu", [](const Output& x) { return nn::relu(x); }, "ReluGrad", false},
      {"Elu", [](const Output& x) { return nn::elu(x); }, "EluGrad", false},
      {"Selu", [](const Output& x) { return nn::selu(x); }, "SeluGrad", false},
      {"LeakyRelu", [](const Output& x) { return nn::leaky_relu(x, 0.3f); }, "LeakyReluGrad", true},
      {"Sigmoid", [](const Output& x) { return nn::sigmoid(x); }, "SigmoidGrad", false},
      {"Tanh", [](const Output& x) { return nn::tanh(x); }, "TanhGrad", false},
      {"Softplus", [](const Output& x) { return nn::softplus(x); }, "SoftplusGrad", true},
      {"Relu6", [](const Output& x) { return nn::relu6(x); }, "Relu6Grad", false},
  };
  for (const Case& c : cases)
    for (int64_t batch : {7, 200}) {
      SCOPED_TRACE(std::string(c.name) + " batch " + std::to_string(batch));
      Graph g;
      g.set_random_seed(3);
      auto X = placeholder(g, f32, {-1, 40}, "X");
      auto h1 = layers::dense(X, 300, {.activation = c.fn, .name = "hidden1"});
      auto h2 = layers::dense(h1, 20, {.activation = c.fn, .name = "hidden2"});
      auto loss = reduce_sum(h2 * h2);
      auto kernel1 = g.get_variables(GraphKeys::TRAINABLE_VARIABLES, "hidden1")[0];
      auto grads = gradients({loss}, {kernel1.value()});
      const Tensor x = testing::random_tensor({batch, 40}, 8, -1, 1, f32);
      const PlanRun fused = run_plan(g, true, {{X, x}}, {h2, grads[0]});
      const PlanRun plain = run_plan(g, false, {{X, x}}, {h2, grads[0]});
      for (int i = 0; i < 2; ++i) {
        if (std::string(c.name) == "Relu") EXPECT_TRUE(fused.values[i].equals(plain.values[i])) << "output " << i;
        else expect_allclose(fused.values[i], plain.values[i], 1e-4);
      }
      const std::string dx = "gradients/hidden2/MatMul_grad/MatMul";  // hidden2's input gradient
      const std::string act_grad = std::string("gradients/hidden1/") + c.name + "_grad/" + c.grad_type;
      EXPECT_TRUE(has_op(plain.profile, dx));
      EXPECT_FALSE(has_op(fused.profile, dx)) << "the input gradient's MatMul was not fused into " << act_grad;
      EXPECT_TRUE(has_op(fused.profile, act_grad));
      EXPECT_FALSE(has_op(fused.profile, "hidden1/MatMul"));
      EXPECT_EQ(has_op(fused.profile, "hidden1/BiasAdd"), c.grad_reads_features);
    }
}

// Every activation registered with a fused form (its description gives the fusions) against the
// op-by-op plan: the forward product fused with BiasAdd and the activation, the input gradient's
// product fused with the activation's gradient op.
TEST(Fusion, EveryRegisteredActivationFusion) {
  register_ops();  // the registry is read before any builder runs
  std::vector<std::string> activations;
  std::set<std::string> fused_grads;
  for (const Fusion& f : OpRegistry::global().fusions()) {
    if (f.producer == "BiasAdd" && f.inner == "MatMul") activations.push_back(f.consumer);
    if (f.producer == "MatMul" && f.inner.empty() && f.consumer != "BiasAdd") fused_grads.insert(f.consumer);
  }
  EXPECT_GE(activations.size(), 8u);
  for (const std::string& type : activations) {
    SCOPED_TRACE(type);
    Graph g;
    auto X = placeholder(g, f32, {-1, 40}, "X");
    auto dense = [&](const Output& in, int64_t units, const std::string& name, uint64_t seed) {
      auto scope = g.name_scope(name);
      auto w = constant(g, testing::random_tensor({in.shape().dim(1), units}, seed, -0.2, 0.2, f32), "kernel");
      auto b = constant(g, testing::random_tensor({units}, seed + 1, -0.5, 0.5, f32), "bias");
      auto z = nn::bias_add(matmul(in, w), b);
      return std::pair{OpBuilder(z, type, "").input(z).build_output(), w};
    };
    auto [h1, w1] = dense(X, 300, "hidden1", 3);
    auto [h2, w2] = dense(h1, 20, "hidden2", 5);
    auto grads = gradients({reduce_sum(h2 * h2)}, {w1});
    const Operation* act_grad = nullptr;
    for (Operation* op : g.get_operations())
      if (op->name().rfind("gradients/hidden1/" + type + "_grad/", 0) == 0 && fused_grads.count(op->type()))
        act_grad = op;
    ASSERT_NE(act_grad, nullptr) << "no fused gradient op for " << type;
    const Tensor x = testing::random_tensor({50, 40}, 8, -1, 1, f32);
    const PlanRun fused = run_plan(g, true, {{X, x}}, {h2, grads[0]});
    const PlanRun plain = run_plan(g, false, {{X, x}}, {h2, grads[0]});
    for (int i = 0; i < 2; ++i) expect_allclose(fused.values[i], plain.values[i], 1e-4);
    EXPECT_FALSE(has_op(fused.profile, "hidden1/MatMul"));
    EXPECT_TRUE(has_op(fused.profile, "hidden1/" + type));
    EXPECT_TRUE(has_op(plain.profile, "gradients/hidden2/MatMul_grad/MatMul"));
    EXPECT_FALSE(has_op(fused.profile, "gradients/hidden2/MatMul_grad/MatMul"))
        << "the input gradient's MatMul was not fused into " << act_grad->name();
    EXPECT_TRUE(has_op(fused.profile, act_grad->name()));
  }
}

TEST(Fusion, ChainStopsWhereAValueIsFetched) {
  Graph g;
  auto X = placeholder(g, f32, {-1, 6}, "X");
  auto h = layers::dense(X, 4, {.activation = nn::relu, .name = "hidden"});
  Output pre_activation = g.get_tensor_by_name("hidden/BiasAdd:0");
  Session sess(g);
  sess.run(global_variables_initializer(g));
  sess.set_profiling(true);
  const Tensor x = testing::random_tensor({5, 6}, 4, -1, 1, f32);
  auto r = sess.run({{X, x}}, {pre_activation, h});  // BiasAdd's value is wanted: Relu cannot absorb it
  const auto prof = sess.profile();
  EXPECT_FALSE(has_op(prof, "hidden/MatMul")) << "MatMul + BiasAdd still fuse";
  EXPECT_TRUE(has_op(prof, "hidden/BiasAdd"));
  EXPECT_TRUE(has_op(prof, "hidden/Relu"));
  for (int64_t i = 0; i < r[0].num_elements(); ++i)
    EXPECT_EQ(r[1].flat<float>()[i], std::max(r[0].flat<float>()[i], 0.0f));
}

}  // namespace
}  // namespace fg
