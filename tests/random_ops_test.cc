#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <functional>
#include <limits>

#include "graph/gradients.h"
#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/math.h"
#include "ops/random.h"
#include "ops/register.h"
#include "runtime/session.h"
#include "tests/test_util.h"

namespace fg {
namespace {

using Builder = std::function<Output(Graph&, const Shape&, DType, std::optional<int64_t>)>;

const std::vector<std::pair<const char*, Builder>>& all_builders() {
  static const std::vector<std::pair<const char*, Builder>> b = {
      {"RandomUniform", [](Graph& g, const Shape& s, DType t, std::optional<int64_t> seed) {
         return random_uniform(g, s, 0.0, 1.0, t, seed);
       }},
      {"RandomStandardNormal", [](Graph& g, const Shape& s, DType t, std::optional<int64_t> seed) {
         return random_normal(g, s, 0.0, 1.0, t, seed);
       }},
      {"TruncatedNormal", [](Graph& g, const Shape& s, DType t, std::optional<int64_t> seed) {
         return truncated_normal(g, s, 0.0, 1.0, t, seed);
       }},
  };
  return b;
}

// The random op (RandomUniform, ...) behind a builder's result (an Add).
Operation* random_op(const Output& result) {
  Operation* mul = result.op()->input(0).op();
  return mul->input(0).op();
}

struct Stats {
  double mean = 0, stddev = 0, min = 0, max = 0;
};

Stats stats_of(const Tensor& t) {
  std::vector<double> v = dispatch_float(t.dtype(), "stats", [&]<typename T>() {
    std::vector<double> out;
    for (T x : t.flat<T>()) out.push_back(static_cast<double>(x));
    return out;
  });
  Stats s{0, 0, std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()};
  for (double x : v) {
    s.mean += x;
    s.min = std::min(s.min, x);
    s.max = std::max(s.max, x);
  }
  s.mean /= static_cast<double>(v.size());
  for (double x : v) s.stddev += (x - s.mean) * (x - s.mean);
  s.stddev = std::sqrt(s.stddev / static_cast<double>(v.size()));
  return s;
}

TEST(RandomOps, UniformOpNamesMatchTF) {
  Graph g;
  auto w = random_uniform(g, {784, 300}, -1, 1);
  std::vector<std::pair<std::string, std::string>> got;
  for (Operation* op : g.get_operations()) got.emplace_back(op->name(), op->type());
  const std::vector<std::pair<std::string, std::string>> want = {
      {"random_uniform/shape", "Const"},          {"random_uniform/min", "Const"},
      {"random_uniform/max", "Const"},            {"random_uniform/RandomUniform", "RandomUniform"},
      {"random_uniform/sub", "Sub"},              {"random_uniform/mul", "Mul"},
      {"random_uniform", "Add"}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(w.name(), "random_uniform:0");
  EXPECT_EQ(w.shape(), (Shape{784, 300}));
  EXPECT_EQ(w.dtype(), f32);
  const Tensor& shape = g.get_operation_by_name("random_uniform/shape")->attr<Tensor>("value");
  EXPECT_EQ(shape.dtype(), i32);
  EXPECT_EQ(shape.to_vector<int32_t>(), (std::vector<int32_t>{784, 300}));
  EXPECT_EQ(g.get_operation_by_name("random_uniform/min")->attr<Tensor>("value").scalar<float>(), -1.0f);
  EXPECT_EQ(g.get_operation_by_name("random_uniform/max")->attr<Tensor>("value").scalar<float>(), 1.0f);
  const Operation* rnd = g.get_operation_by_name("random_uniform/RandomUniform");
  EXPECT_EQ(rnd->attr<DType>("dtype"), f32);
  EXPECT_EQ(rnd->attr<DType>("T"), i32);

  // A second one is uniquified as a whole; inside a scope the scope prefixes everything.
  auto w2 = random_uniform(g, {3}, 0, 1);
  EXPECT_EQ(w2.op()->name(), "random_uniform_1");
  EXPECT_NE(g.find_operation("random_uniform_1/RandomUniform"), nullptr);
  auto s = g.name_scope("hidden1/kernel/Initializer/");
  auto w3 = random_uniform(g, {3}, 0, 1);
  EXPECT_EQ(w3.op()->name(), "hidden1/kernel/Initializer/random_uniform");
  EXPECT_NE(g.find_operation("hidden1/kernel/Initializer/random_uniform/sub"), nullptr);
}

TEST(RandomOps, NormalAndTruncatedOpNamesMatchTF) {
  Graph g;
  random_normal(g, {2, 3}, 0, 1);
  truncated_normal(g, {4}, 0, 0.5, f64);
  std::vector<std::pair<std::string, std::string>> got;
  for (Operation* op : g.get_operations()) got.emplace_back(op->name(), op->type());
  const std::vector<std::pair<std::string, std::string>> want = {
      {"random_normal/shape", "Const"},
      {"random_normal/mean", "Const"},
      {"random_normal/stddev", "Const"},
      {"random_normal/RandomStandardNormal", "RandomStandardNormal"},
      {"random_normal/mul", "Mul"},
      {"random_normal", "Add"},
      {"truncated_normal/shape", "Const"},
      {"truncated_normal/mean", "Const"},
      {"truncated_normal/stddev", "Const"},
      {"truncated_normal/TruncatedNormal", "TruncatedNormal"},
      {"truncated_normal/mul", "Mul"},
      {"truncated_normal", "Add"}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(g.get_operation_by_name("truncated_normal")->output_dtype(0), f64);
}

TEST(RandomOps, RegisteredStatefulAndNotDifferentiable) {
  register_ops();  // the registry is read before any builder runs
  for (const auto& [type, build] : all_builders()) {
    const OpDef& def = OpRegistry::global().get(type);
    EXPECT_TRUE(def.stateful) << type;
    EXPECT_TRUE(def.no_gradient) << type;
  }
  Graph g;
  auto x = placeholder(g, f32, {3}, "x");
  auto y = reduce_sum(random_normal(g, {3}, 0, 1, f32, 1) * x);
  auto grads = gradients({y}, {x});
  ASSERT_TRUE(static_cast<bool>(grads[0]));
}

TEST(RandomOps, SameSeedsSameTensorsAcrossSessionsAndRunsDiffer) {
  for (DType dtype : {f32, f64}) {
    for (const auto& [type, build] : all_builders()) {
      Graph g;
      g.set_random_seed(42);
      Output r = build(g, {10, 7}, dtype, std::nullopt);
      Session a(g), b(g);
      const Tensor a1 = a.run(r), a2 = a.run(r);
      const Tensor b1 = b.run(r), b2 = b.run(r);
      EXPECT_TRUE(a1.equals(b1)) << type;
      EXPECT_TRUE(a2.equals(b2)) << type;
      EXPECT_FALSE(a1.equals(a2)) << type << ": consecutive runs must draw new numbers";
    }
  }
}

TEST(RandomOps, SameTensorsForAnyThreadCount) {
  const int saved = omp_get_max_threads();
  for (DType dtype : {f32, f64}) {
    for (const auto& [type, build] : all_builders()) {
      Graph g;
      // An odd size leaves a partial last block.
      Output r = build(g, {(1 << 18) + 3}, dtype, 5);
      std::vector<Tensor> per_threads;
      for (int threads : {1, 2}) {
        omp_set_num_threads(threads);
        Session s(g);
        per_threads.push_back(s.run(r));
        per_threads.push_back(s.run(r));
      }
      omp_set_num_threads(saved);
      EXPECT_TRUE(per_threads[0].equals(per_threads[2])) << type << " " << dtype_name(dtype);
      EXPECT_TRUE(per_threads[1].equals(per_threads[3])) << type << " " << dtype_name(dtype);
    }
  }
}

TEST(RandomOps, NoSeedDrawsFreshEntropy) {
  for (const auto& [type, build] : all_builders()) {
    Graph g;
    Output r = build(g, {64}, f32, std::nullopt);
    const Operation* op = random_op(r);
    EXPECT_EQ(op->type(), type);
    EXPECT_EQ(op->attr<int64_t>("seed"), 0);
    EXPECT_EQ(op->attr<int64_t>("seed2"), 0);
    Session a(g), b(g);
    const Tensor a1 = a.run(r);
    EXPECT_FALSE(a1.equals(b.run(r))) << type << ": unseeded sessions must differ";
    EXPECT_FALSE(a1.equals(a.run(r))) << type;
  }
}

TEST(RandomOps, GraphSeedOnlyUsesTheOpIndex) {
  auto build = [](Graph& g) {
    g.set_random_seed(7);
    placeholder(g, f32, {1}, "unrelated");
    return std::pair{random_uniform(g, {100}), random_uniform(g, {100})};
  };
  Graph g1, g2;
  auto [a, b] = build(g1);
  const Operation* ra = random_op(a);
  const Operation* rb = random_op(b);
  EXPECT_EQ(ra->attr<int64_t>("seed"), 7);
  EXPECT_EQ(ra->attr<int64_t>("seed2"), ra->id());
  EXPECT_EQ(rb->attr<int64_t>("seed2"), rb->id());
  EXPECT_EQ(ra->id(), 4);  // after "unrelated", shape, min, max
  Session s1(g1);
  auto v1 = s1.run({}, {a, b});
  EXPECT_FALSE(v1[0].equals(v1[1]));

  auto [c, d] = build(g2);
  Session s2(g2);
  auto v2 = s2.run({}, {c, d});
  EXPECT_TRUE(v1[0].equals(v2[0]));
  EXPECT_TRUE(v1[1].equals(v2[1]));
}

TEST(RandomOps, OpSeedAloneUsesTheDefaultGraphSeed) {
  Graph g1, g2;
  auto a = random_normal(g1, {50}, 0, 1, f32, 123);
  placeholder(g2, f32, {1}, "shifts_the_op_index");
  auto b = random_normal(g2, {50}, 0, 1, f32, 123);
  EXPECT_EQ(random_op(a)->attr<int64_t>("seed"), 87654321);
  EXPECT_EQ(random_op(a)->attr<int64_t>("seed2"), 123);
  EXPECT_TRUE(testing::eval(a).equals(testing::eval(b)));
}

TEST(RandomOps, ZeroSeedsStayDeterministic) {
  Graph g;
  g.set_random_seed(0);
  auto r = truncated_normal(g, {20}, 0, 1, f32, 0);
  EXPECT_EQ(random_op(r)->attr<int64_t>("seed"), 0);
  EXPECT_EQ(random_op(r)->attr<int64_t>("seed2"), std::numeric_limits<int32_t>::max());
  EXPECT_TRUE(testing::eval(r).equals(testing::eval(r)));
}

TEST(RandomOps, ElementsDependOnlyOnTheirPosition) {
  // Same seeds, different sizes: the shorter tensor is a prefix of the longer one.
  for (const auto& [type, build] : all_builders()) {
    Graph g1, g2;
    g1.set_random_seed(3);
    g2.set_random_seed(3);
    const Tensor shorter = testing::eval(build(g1, {7}, f64, 9));
    const Tensor longer = testing::eval(build(g2, {2, 8}, f64, 9));
    for (int i = 0; i < 7; ++i) EXPECT_EQ(shorter.data<double>()[i], longer.data<double>()[i]) << type << " " << i;
  }
}

TEST(RandomOps, UniformStatistics) {
  for (DType dtype : {f32, f64}) {
    Graph g;
    auto r = random_uniform(g, {100000}, -1, 3, dtype, 11);
    const Stats s = stats_of(testing::eval(r));
    EXPECT_GE(s.min, -1.0);
    EXPECT_LT(s.max, 3.0);
    EXPECT_NEAR(s.mean, 1.0, 0.02) << dtype_name(dtype);
    EXPECT_NEAR(s.stddev, 4 / std::sqrt(12.0), 0.01) << dtype_name(dtype);
  }
}

TEST(RandomOps, NormalStatistics) {
  for (DType dtype : {f32, f64}) {
    Graph g;
    const Stats s = stats_of(testing::eval(random_normal(g, {100000}, 0, 1, dtype, 12)));
    EXPECT_NEAR(s.mean, 0.0, 0.02) << dtype_name(dtype);
    EXPECT_NEAR(s.stddev, 1.0, 0.015) << dtype_name(dtype);
    EXPECT_LT(s.min, -3.5);  // real tails, not a clipped distribution
    EXPECT_GT(s.max, 3.5);
    const Stats t = stats_of(testing::eval(random_normal(g, {100000}, 2, 3, dtype, 13)));
    EXPECT_NEAR(t.mean, 2.0, 0.06) << dtype_name(dtype);
    EXPECT_NEAR(t.stddev, 3.0, 0.045) << dtype_name(dtype);
  }
}

TEST(RandomOps, TruncatedNormalStatistics) {
  for (DType dtype : {f32, f64}) {
    Graph g;
    const Stats s = stats_of(testing::eval(truncated_normal(g, {100000}, 0, 1, dtype, 14)));
    EXPECT_GT(s.min, -2.0);
    EXPECT_LT(s.max, 2.0);
    EXPECT_LT(s.min, -1.9);  // reaches close to the cut on both sides
    EXPECT_GT(s.max, 1.9);
    EXPECT_NEAR(s.mean, 0.0, 0.015) << dtype_name(dtype);
    // The standard deviation of a standard normal truncated to (-2, 2).
    EXPECT_NEAR(s.stddev, 0.8796, 0.01) << dtype_name(dtype);
    const Stats t = stats_of(testing::eval(truncated_normal(g, {100000}, 5, 0.5, dtype, 15)));
    EXPECT_GT(t.min, 4.0);
    EXPECT_LT(t.max, 6.0);
    EXPECT_NEAR(t.stddev, 0.5 * 0.8796, 0.005) << dtype_name(dtype);
  }
}

TEST(RandomOps, EmptyAndScalarShapes) {
  Graph g;
  EXPECT_EQ(testing::eval(random_uniform(g, {0, 3}, 0, 1, f32, 1)).num_elements(), 0);
  const Tensor s = testing::eval(truncated_normal(g, {}, 0, 1, f64, 1));
  EXPECT_EQ(s.shape(), Shape{});
  EXPECT_LT(std::abs(s.scalar<double>()), 2.0);
}

TEST(RandomOps, BadShapesAndDtypes) {
  Graph g;
  EXPECT_THROW(random_uniform(g, {-1, 3}), InvalidArgument);
  EXPECT_THROW(random_normal(g, {3}, 0, 1, i32), InvalidArgument);
  // A shape fed at run time is validated by the kernel.
  auto shape = placeholder(g, i32, {2}, "shape");
  auto r = OpBuilder(g, "RandomUniform", "").input(shape).attr("dtype", f32).build_output();
  EXPECT_EQ(r.shape(), (Shape{-1, -1}));
  EXPECT_EQ(testing::eval(r, {{shape, Tensor::from_vector<int32_t>({2, 5})}}).shape(), (Shape{2, 5}));
  try {
    testing::eval(r, {{shape, Tensor::from_vector<int32_t>({2, -5})}});
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("non-negative"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace fg
