#include <gtest/gtest.h>

#include <cmath>

#include "flowgraph.h"

namespace fg {
namespace {

// The seed's op listing (cell [14]) for a graph that starts X, y, training, hidden1.
TEST(Layers, DenseNamesOpsLikeTF) {
  Graph g;
  auto X = placeholder(g, f32, {-1, 784}, "X");
  placeholder(g, i32, Shape::unknown(), "y");
  placeholder_with_default(g, Tensor(false), {}, "training");
  layers::dense(X, 300, {.name = "hidden1"});
  std::vector<std::string> names;
  for (Operation* op : g.get_operations()) names.push_back(op->name());
  const std::vector<std::string> expected = {
      "X", "y", "training/input", "training",
      "hidden1/kernel/Initializer/random_uniform/shape",
      "hidden1/kernel/Initializer/random_uniform/min",
      "hidden1/kernel/Initializer/random_uniform/max",
      "hidden1/kernel/Initializer/random_uniform/RandomUniform",
      "hidden1/kernel/Initializer/random_uniform/sub",
      "hidden1/kernel/Initializer/random_uniform/mul",
      "hidden1/kernel/Initializer/random_uniform",
      "hidden1/kernel", "hidden1/kernel/Assign", "hidden1/kernel/read",
      "hidden1/bias/Initializer/zeros", "hidden1/bias", "hidden1/bias/Assign", "hidden1/bias/read",
      "hidden1/MatMul", "hidden1/BiasAdd"};
  EXPECT_EQ(names, expected);
  EXPECT_EQ(g.get_operation_by_name("hidden1/kernel")->type(), "VariableV2");
  EXPECT_EQ(g.get_operation_by_name("hidden1/MatMul")->type(), "MatMul");
  EXPECT_EQ(g.get_operation_by_name("hidden1/BiasAdd")->type(), "BiasAdd");
  EXPECT_EQ(g.get_operation_by_name("hidden1/kernel/Assign")->type(), "Assign");
  EXPECT_EQ(g.get_tensor_by_name("hidden1/kernel:0").shape(), Shape({784, 300}));
}

TEST(Layers, DenseInsideNameScopeKeepsVariableNames) {
  Graph g;
  auto X = placeholder(g, f32, {-1, 4}, "X");
  Output h;
  {
    auto s = g.name_scope("dnn");
    h = layers::dense(X, 3, {.activation = nn::relu, .name = "hidden1"});
  }
  EXPECT_EQ(h.op()->name(), "dnn/hidden1/Relu");
  EXPECT_NE(g.find_operation("dnn/hidden1/MatMul"), nullptr);
  EXPECT_NE(g.find_operation("hidden1/kernel"), nullptr);
  auto vars = g.get_variables(GraphKeys::TRAINABLE_VARIABLES, "hidden[123]");
  ASSERT_EQ(vars.size(), 2u);
  EXPECT_EQ(vars[0].name(), "hidden1/kernel");
  EXPECT_EQ(vars[1].name(), "hidden1/bias");
}

TEST(Layers, DefaultNamesAreUniquified) {
  Graph g;
  auto X = placeholder(g, f32, {-1, 4}, "X");
  layers::dense(X, 3);
  layers::dense(X, 3);
  EXPECT_NE(g.find_operation("dense/kernel"), nullptr);
  EXPECT_NE(g.find_operation("dense_1/kernel"), nullptr);
  EXPECT_NE(g.find_operation("dense_1/MatMul"), nullptr);
  // The same explicit name twice without reuse is TF's "already exists" error.
  layers::dense(X, 3, {.name = "h"});
  EXPECT_THROW(layers::dense(X, 3, {.name = "h"}), InvalidArgument);
  // With reuse the layer shares the variables.
  layers::dense(X, 3, {.name = "h", .reuse = true});
  EXPECT_EQ(global_variables(g).size(), 6u);
}

TEST(Layers, DenseComputesXWPlusB) {
  Graph g;
  auto X = placeholder(g, f32, {-1, 2}, "X");
  auto h = layers::dense(X, 2, {.kernel_initializer = constant_initializer(0.5),
                                .bias_initializer = constant_initializer(1.0)});
  Session s(g);
  s.run(global_variables_initializer(g));
  auto v = s.run({{X, Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2})}}, h);
  EXPECT_EQ(v.to_vector<float>(), (std::vector<float>{2.5f, 2.5f, 4.5f, 4.5f}));
}

TEST(Layers, ActivationAcceptsLambdasLikeTheSeedsLeakyRelu) {
  Graph g;
  auto X = placeholder(g, f32, {-1, 2}, "X");
  auto leaky_relu = [](const Output& z, float alpha = 0.01f) { return maximum(alpha * z, z); };
  auto h = layers::dense(X, 2, {.activation = leaky_relu, .kernel_initializer = constant_initializer(-1.0),
                                .name = "hidden1"});
  Session s(g);
  s.run(global_variables_initializer(g));
  auto v = s.run({{X, Tensor::from_vector<float>({1, 1}, {1, 2})}}, h);
  EXPECT_NEAR(v.to_vector<float>()[0], -0.02f, 1e-7);
}

TEST(Layers, InitializerStatisticsFollowTF1Defaults) {
  Graph g;
  g.set_random_seed(1);
  auto glorot = get_variable(g, "glorot", {.shape = Shape{400, 200}});
  auto vs = get_variable(g, "vs", {.shape = Shape{400, 200}, .initializer = variance_scaling_initializer()});
  auto he = get_variable(g, "he", {.shape = Shape{400, 200}, .initializer = he_normal()});
  Session s(g);
  s.run(global_variables_initializer(g));
  auto stats = [](const Tensor& t) {
    double sum = 0, sq = 0, maxabs = 0;
    for (float v : t.flat<float>()) { sum += v; sq += double(v) * v; maxabs = std::max(maxabs, double(std::abs(v))); }
    const double n = double(t.num_elements()), mean = sum / n;
    return std::tuple{mean, std::sqrt(sq / n - mean * mean), maxabs};
  };
  auto [gm, gs, gmax] = stats(s.run(glorot.value()));
  const double limit = std::sqrt(6.0 / 600.0);
  EXPECT_LE(gmax, limit);
  EXPECT_NEAR(gs, limit / std::sqrt(3.0), 0.002);
  auto [vm, vsd, vmax] = stats(s.run(vs.value()));
  EXPECT_NEAR(vsd, std::sqrt(1.0 / 400.0), 0.002);  // fan_in, scale 1
  EXPECT_LE(vmax, 2 * std::sqrt(1.0 / 400.0) / 0.87962566103423978 + 1e-6);
  auto [hm, hsd, hmax] = stats(s.run(he.value()));
  EXPECT_NEAR(hsd, std::sqrt(2.0 / 400.0), 0.003);
  EXPECT_NEAR(gm, 0, 0.002);
}

TEST(Layers, SameGraphSeedGivesSameWeights) {
  auto build_and_init = [](int64_t seed) {
    Graph g;
    g.set_random_seed(seed);
    auto X = placeholder(g, f32, {-1, 20}, "X");
    layers::dense(X, 10, {.name = "h"});
    Session s(g);
    s.run(global_variables_initializer(g));
    return s.run(g.get_tensor_by_name("h/kernel:0"));
  };
  EXPECT_TRUE(build_and_init(42).equals(build_and_init(42)));
  EXPECT_FALSE(build_and_init(42).equals(build_and_init(43)));
}

}  // namespace
}  // namespace fg
