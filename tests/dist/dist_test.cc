// The dist layer under mpirun (ctest runs this binary on 2 ranks and on 1): collectives, the
// allreduce's gradient, the fused broadcast, DistributedOptimizer against one process on the
// whole batch, sharded batches, and errors that reach every rank instead of hanging one.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <set>

#include "dist/dist.h"
#include "dist/internal.h"
#include "flowgraph.h"
#include "graph/graph_io.h"
#include "graph/op_registry.h"
#include "tests/test_util.h"
#include "tests/tf_graph_check.h"

namespace fg {
namespace {

// True when `t` holds the same bytes on every rank.
bool same_on_all_ranks(const Tensor& t) {
  const int n = static_cast<int>(t.num_bytes());
  std::vector<unsigned char> lo(n), hi(n);
  std::memcpy(lo.data(), t.raw_data(), n);
  std::memcpy(hi.data(), t.raw_data(), n);
  MPI_Allreduce(MPI_IN_PLACE, lo.data(), n, MPI_UNSIGNED_CHAR, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, hi.data(), n, MPI_UNSIGNED_CHAR, MPI_MAX, MPI_COMM_WORLD);
  return lo == hi;
}

// Root's value of `t` (same dtype and shape on every rank).
Tensor from_rank(const Tensor& t, int root) {
  Tensor copy = t.clone();
  MPI_Bcast(copy.raw_data(), static_cast<int>(copy.num_bytes()), MPI_BYTE, root, MPI_COMM_WORLD);
  return copy;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  double m = 0;
  for (int64_t i = 0; i < a.num_elements(); ++i)
    m = std::max(m, std::abs(double(a.data<float>()[i]) - double(b.data<float>()[i])));
  return m;
}

int count_ops(const Graph& g, const std::string& type) {
  int n = 0;
  for (Operation* op : g.get_operations()) n += op->type() == type;
  return n;
}

}  // namespace

TEST(Dist, RankSizeAndTheirOps) {
  const int r = dist::rank(), n = dist::size();
  EXPECT_GE(r, 0);
  EXPECT_LT(r, n);
  EXPECT_GE(dist::local_rank(), 0);
  EXPECT_LT(dist::local_rank(), dist::local_size());
  EXPECT_LE(dist::local_size(), n);
  int world = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  EXPECT_EQ(n, world);

  Graph g;
  auto size_op = dist::mpi_size(g);
  auto rank_op = OpBuilder(g, "MPIRank", "rank").build_output();
  auto local_op = OpBuilder(g, "MPILocalRank", "local_rank").build_output();
  EXPECT_EQ(size_op.dtype(), i32);
  EXPECT_EQ(size_op.shape(), Shape::scalar());
  auto rank_sum = dist::allreduce(rank_op, /*average=*/false);
  Session s(g);
  const auto v = s.run(FeedDict{}, std::vector<Output>{size_op, rank_op, local_op, rank_sum});
  EXPECT_EQ(v[0].scalar<int32_t>(), n);
  EXPECT_EQ(v[1].scalar<int32_t>(), r);
  EXPECT_EQ(v[2].scalar<int32_t>(), dist::local_rank());
  EXPECT_EQ(v[3].scalar<int32_t>(), n * (n - 1) / 2);
}

TEST(Dist, AllreduceSumsAndAveragesEachDtype) {
  const int r = dist::rank(), n = dist::size();
  Graph g;
  auto xf = placeholder(g, f32, {3}, "xf");
  auto xm = placeholder(g, f32, {2, 1}, "xm");
  auto xi = placeholder(g, i32, {2}, "xi");
  auto xl = placeholder(g, i64, {}, "xl");
  auto sum_f = dist::allreduce(xf, false), mean_f = dist::allreduce(xf), mean_m = dist::allreduce(xm);
  auto sum_i = dist::allreduce(xi, false), sum_l = dist::allreduce(xl, false);
  Session s(g);
  const auto v = s.run({{xf, Tensor::from_vector<float>({float(r), 2.0f * r, 1})},
                        {xm, Tensor::from_vector<float>({0.5f * r, -1}, {2, 1})},
                        {xi, Tensor::from_vector<int32_t>({r, 7})},
                        {xl, Tensor(int64_t{1} << 40)}},
                       {sum_f, mean_f, mean_m, sum_i, sum_l});
  const float rs = n * (n - 1) / 2.0f;
  EXPECT_EQ(v[0].to_vector<float>(), (std::vector<float>{rs, 2 * rs, float(n)}));
  EXPECT_EQ(v[1].to_vector<float>(), (std::vector<float>{rs / n, 2 * rs / n, 1}));
  EXPECT_EQ(v[2].to_vector<float>(), (std::vector<float>{0.5f * rs / n, -1}));
  EXPECT_EQ(v[2].shape(), Shape({2, 1}));
  EXPECT_EQ(v[3].to_vector<int32_t>(), (std::vector<int32_t>{static_cast<int32_t>(rs), 7 * n}));
  EXPECT_EQ(v[4].scalar<int64_t>(), n * (int64_t{1} << 40));
  // TF's MPIAllreduce takes int32, int64 and float32 only: anything else is refused when the node
  // is built, on every rank alike, before any rank waits in a collective.
  testing::expect_error([&] { dist::allreduce(placeholder(g, f64, {2}, "xd")); }, Code::kInvalidArgument,
                        {"MPIAllreduce", "float64", "not allowed"});
}

// T = sum over ranks of L_r, L_r = sum(w_r * y * y) with y = allreduce(x_r) (sum or mean over the
// ranks): the symbolic gradient of L_r on rank q must be dT/dx_q, checked against central
// differences of T with only rank q's input moved. In float32, as TF's MPIAllreduce takes no
// float64: T is quadratic in x, so central differences are exact but for rounding, and a step of
// 1/2 keeps float32's rounding of T (about 1e-5) far below the tolerance.
TEST(Dist, AllreduceGradientMatchesCentralDifferencesOfTheSumOverRanks) {
  const int r = dist::rank(), n = dist::size();
  for (bool average : {false, true}) {
    Graph g;
    auto x = placeholder(g, f32, {2, 3}, "x");
    auto y = dist::allreduce(x, average);
    auto w = constant(g, testing::random_tensor({2, 3}, 50 + r, 0.5, 1.5, f32));
    auto loss = reduce_sum(w * y * y);
    auto total = dist::allreduce(loss, /*average=*/false);
    auto grad = gradients({loss}, {x})[0];
    ASSERT_TRUE(grad);
    EXPECT_GE(count_ops(g, "MPIAllreduce"), 3);  // forward, total, and the gradient's own
    Session s(g);
    const Tensor x0 = testing::random_tensor({2, 3}, 10 + r, -1, 1, f32);
    const Tensor symbolic = s.run({{x, x0}}, grad);
    const float delta = 0.5f;
    for (int q = 0; q < n; ++q)
      for (int64_t i = 0; i < x0.num_elements(); ++i) {
        auto total_at = [&](float d) {
          Tensor moved = x0.clone();
          if (r == q) moved.data<float>()[i] += d;
          return double(s.run({{x, moved}}, total).scalar<float>());
        };
        const double numeric = (total_at(delta) - total_at(-delta)) / (2 * delta);
        if (r == q)
          EXPECT_NEAR(symbolic.data<float>()[i], numeric, 1e-4 * std::max(1.0, std::abs(numeric)))
              << "average " << average << " element " << i;
      }
  }
}

TEST(Dist, BroadcastGivesEveryRankRootsValuesInOneMessage) {
  const int r = dist::rank(), n = dist::size();
  for (int root : {0, n - 1}) {
    Graph g;
    g.set_random_seed(100 + r);  // different initial values on every rank
    auto w = get_variable(g, "w", {.shape = Shape{3, 4}});
    auto d = variable(cast(random_uniform(g, {5}), f64), {.name = "d"});
    auto k = variable(constant(g, Tensor::from_vector<int32_t>({r, -r})), {.name = "k"});
    auto step = variable(constant(g, Tensor(int64_t{10} * r)), {.name = "step", .trainable = false});
    auto flag = variable(constant(g, Tensor(r % 2 == 0)), {.name = "flag"});
    Session s(g);
    // Only root initializes: the others' variables get their first values from the broadcast.
    if (r == root) s.run(global_variables_initializer(g));
    const std::vector<Variable> vars = global_variables(g);
    ASSERT_EQ(vars.size(), 5u);
    std::vector<Tensor> before;
    if (r == root)
      for (const Variable& v : vars) before.push_back(s.variable_value(v.op).clone());
    const int64_t calls = dist::internal::allreduce_calls();
    dist::broadcast_global_variables(s, root);
    EXPECT_EQ(dist::internal::allreduce_calls(), calls);  // one MPI_Bcast of everything, no allreduce
    for (size_t i = 0; i < vars.size(); ++i) {
      const Tensor now = s.variable_value(vars[i].op);
      EXPECT_TRUE(same_on_all_ranks(now)) << vars[i].name();
      if (r == root) EXPECT_TRUE(now.equals(before[i])) << vars[i].name();
    }
  }
  // The test can fail: without the broadcast the ranks' values differ.
  if (n > 1) {
    Graph g;
    g.set_random_seed(100 + r);
    auto w = get_variable(g, "w", {.shape = Shape{3, 4}});
    Session s(g);
    s.run(global_variables_initializer(g));
    EXPECT_FALSE(same_on_all_ranks(s.variable_value(w.op)));
  }
}

TEST(Dist, BroadcastErrorsReachEveryRank) {
  const int r = dist::rank(), n = dist::size();
  {
    Graph g;
    auto w = get_variable(g, "w", {.shape = Shape{2}});
    Session s(g);  // nothing initialized, root included
    try {
      dist::broadcast_global_variables(s);
      ADD_FAILURE() << "no error";
    } catch (const FailedPrecondition& e) {
      EXPECT_NE(std::string(e.what()).find("'w' is not initialized on root rank 0"), std::string::npos) << e.what();
    }
    EXPECT_THROW(dist::broadcast_global_variables(s, n), InvalidArgument);
  }
  if (n > 1) {
    Graph g;
    auto w = get_variable(g, "w", {.shape = Shape{2}});
    if (r == 1) get_variable(g, "extra", {.shape = Shape{2}});  // rank 1 built another graph
    Session s(g);
    s.run(global_variables_initializer(g));
    try {
      dist::broadcast_global_variables(s);
      ADD_FAILURE() << "no error";
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find("the ranks have different global variables"), std::string::npos)
          << e.what();
    }
  }
}

TEST(Dist, AllreduceOfDifferentShapesIsAnErrorOnEveryRank) {
  const int r = dist::rank(), n = dist::size();
  Graph g;
  auto x = placeholder(g, f32, {-1}, "x");
  auto y = dist::allreduce(x, false);
  Session s(g);
  if (n > 1) {
    try {
      s.run({{x, Tensor(f32, {r + 1})}}, y);
      ADD_FAILURE() << "no error";
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find("the ranks reduce different tensors"), std::string::npos) << e.what();
    }
  }
  // The ranks are still in step afterwards.
  EXPECT_EQ(s.run({{x, Tensor::from_vector<float>({1, 2})}}, y).to_vector<float>(), (std::vector<float>{1.0f * n, 2.0f * n}));
}

namespace {

struct Mlp {
  Output X, y, loss;
};

Mlp build_mlp(Graph& g) {
  g.set_random_seed(3);
  Mlp m;
  m.X = placeholder(g, f32, {-1, 20}, "X");
  m.y = placeholder(g, i32, {-1}, "y");
  auto hidden = layers::dense(m.X, 16, {.activation = nn::elu, .name = "hidden"});
  auto logits = layers::dense(hidden, 5, {.name = "outputs"});
  m.loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(m.y, logits), {}, "loss");
  return m;
}

struct Dataset {
  Tensor x, y;
};

Dataset make_data(int64_t rows) {
  Dataset d{testing::random_tensor({rows, 20}, 7, -1, 1, f32), Tensor::empty(i32, {rows})};
  RandomEngine labels(11);
  for (int32_t& v : d.y.flat<int32_t>()) v = static_cast<int32_t>(labels.uniform(5));
  return d;
}

using MakeOptimizer = std::function<std::unique_ptr<train::Optimizer>()>;

// Trains the MLP over `data` (batch 200 per step, seed 9) and returns its trainable variables.
std::vector<Tensor> train_mlp(const Dataset& data, const MakeOptimizer& make, bool distributed,
                              bool session_fusions = true, int64_t* allreduces_per_step = nullptr) {
  Graph g;
  const Mlp m = build_mlp(g);
  auto optimizer = make();
  Operation* training_op = distributed ? dist::DistributedOptimizer(*optimizer).minimize(m.loss)
                                       : optimizer->minimize(m.loss);
  Session s(g);
  s.set_fusions_enabled(session_fusions);
  s.run(global_variables_initializer(g));
  if (distributed) dist::broadcast_global_variables(s);
  RandomEngine rng(9);
  int64_t steps = 0;
  const int64_t calls = dist::internal::allreduce_calls();
  auto batches = distributed ? dist::shuffle_batch(data.x, data.y, 200, rng) : data::shuffle_batch(data.x, data.y, 200, rng);
  for (const auto& [xb, yb] : batches) {
    s.run({{m.X, xb}, {m.y, yb}}, {}, {training_op});
    ++steps;
  }
  if (allreduces_per_step) *allreduces_per_step = (dist::internal::allreduce_calls() - calls) / steps;
  std::vector<Tensor> values;
  for (const Variable& v : trainable_variables(g)) values.push_back(s.variable_value(v.op));
  return values;
}

void expect_same_as_one_process(const MakeOptimizer& make, double tol) {
  const Dataset data = make_data(400);  // two steps of 200
  const std::vector<Tensor> one = train_mlp(data, make, false);
  int64_t per_step = 0;
  const std::vector<Tensor> many = train_mlp(data, make, true, true, &per_step);
  EXPECT_EQ(per_step, 1);  // all four gradients in one MPI_Allreduce
  ASSERT_EQ(one.size(), 4u);
  ASSERT_EQ(many.size(), one.size());
  for (size_t i = 0; i < one.size(); ++i) EXPECT_LE(max_abs_diff(one[i], many[i]), tol) << "variable " << i;
  // The comparison can fail: training moved the variables much further than the tolerance.
  Graph g;
  build_mlp(g);
  Session s(g);
  s.run(global_variables_initializer(g));
  const auto vars = trainable_variables(g);
  double moved = 0;
  for (size_t i = 0; i < vars.size(); ++i) moved = std::max(moved, max_abs_diff(s.variable_value(vars[i].op), one[i]));
  EXPECT_GT(moved, 100 * tol);
}

}  // namespace

TEST(Dist, DistributedGradientDescentMatchesOneProcessOnTheWholeBatch) {
  expect_same_as_one_process([] { return std::make_unique<train::GradientDescentOptimizer>(0.5); }, 2e-6);
}

TEST(Dist, DistributedMomentumMatchesOneProcessOnTheWholeBatch) {
  expect_same_as_one_process([] { return std::make_unique<train::MomentumOptimizer>(0.1, 0.9); }, 2e-6);
}

TEST(Dist, DistributedAdamMatchesOneProcessOnTheWholeBatch) {
  expect_same_as_one_process([] { return std::make_unique<train::AdamOptimizer>(0.01); }, 1e-5);
}

// The fused allreduce and the op-by-op one give the same numbers; the fusion threshold decides
// how many messages a step takes.
TEST(Dist, FusionChangesTheMessagesNotTheResult) {
  const Dataset data = make_data(400);
  const MakeOptimizer gd = [] { return std::make_unique<train::GradientDescentOptimizer>(0.5); };
  int64_t fused = 0, op_by_op = 0, split = 0;
  const auto a = train_mlp(data, gd, true, true, &fused);
  const auto b = train_mlp(data, gd, true, false, &op_by_op);
  // hidden/kernel is 1,280 bytes; the other three (64, 320 and 20 bytes) fit together in 1,000.
  const int64_t threshold = dist::internal::fusion_threshold();
  dist::internal::set_fusion_threshold(1000);
  const auto c = train_mlp(data, gd, true, true, &split);
  dist::internal::set_fusion_threshold(threshold);
  EXPECT_EQ(fused, 1);
  EXPECT_EQ(op_by_op, 4);
  EXPECT_EQ(split, 2);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(a[i].equals(b[i]) || max_abs_diff(a[i], b[i]) < 1e-6) << i;
    EXPECT_TRUE(a[i].equals(c[i])) << i;
  }
}

TEST(Dist, TheGraphHoldsTfContribOpsAndTheProfileOneAllreduceStep) {
  Graph g;
  const Mlp m = build_mlp(g);
  train::GradientDescentOptimizer sgd(0.1);
  dist::DistributedOptimizer opt(sgd);
  EXPECT_EQ(&opt.optimizer(), &sgd);
  Operation* training_op = opt.minimize(m.loss);
  EXPECT_EQ(training_op->name(), "GradientDescent");  // the wrapped optimizer's names
  const tensorflow::GraphDef def = to_graph_def(g);
  int allreduces = 0, sizes = 0;
  for (const auto& node : def.node()) {
    if (node.op() == "MPIAllreduce") {
      ++allreduces;
      EXPECT_EQ(node.attr_size(), 1);
      EXPECT_EQ(node.attr().count("T"), 1u);
      EXPECT_EQ(node.input_size(), 1);
    }
    sizes += node.op() == "MPISize";
  }
  EXPECT_EQ(allreduces, 4);
  EXPECT_EQ(sizes, 1);

  Session s(g);
  s.run(global_variables_initializer(g));
  dist::broadcast_global_variables(s);
  const Dataset data = make_data(200);
  s.set_profiling(true);
  for (int i = 0; i < 3; ++i) s.run({{m.X, data.x}, {m.y, data.y}}, {}, {training_op});
  int steps = 0;
  for (const auto& p : s.profile())
    if (p.type == "MPIAllreduce") {
      ++steps;
      EXPECT_EQ(p.calls, 3);
    }
  EXPECT_EQ(steps, 1);
}

// What dist writes is TensorFlow's: TF 1.x core ops and tf.contrib.mpi_collectives' own, in the
// nodes and in the .meta's stripped_op_list, and only with contrib's definitions (the check can fail).
TEST(Dist, TheGraphsDistWritesAreTensorFlowsWithContribsMpiOps) {
  Graph g;
  const Mlp m = build_mlp(g);
  dist::DistributedOptimizer(train::MomentumOptimizer(0.1, 0.9)).minimize(m.loss);
  OpBuilder(g, "MPIRank", "rank").build_output();
  OpBuilder(g, "MPILocalRank", "local_rank").build_output();
  dist::allreduce(cast(m.y, i64), false, "label_sum");
  train::Saver saver(g);
  const tensorflow::MetaGraphDef meta = train::to_meta_graph_def(g, {.saver_def = saver.saver_def()});
  std::set<std::string> contrib;
  for (const auto& node : meta.graph_def().node())
    if (node.op().rfind("MPI", 0) == 0) contrib.insert(node.op());
  EXPECT_EQ(contrib, (std::set<std::string>{"MPIAllreduce", "MPILocalRank", "MPIRank", "MPISize"}));
  testing::expect_graph_is_tf(meta.graph_def(), testing::TfOpDefs::tf1_with_contrib());
  testing::expect_stripped_op_list_is_tf(meta, testing::TfOpDefs::tf1_with_contrib());
  const auto core_only = testing::tf_graph_violations(meta.graph_def(), testing::TfOpDefs::tf1_any());
  ASSERT_FALSE(core_only.empty());
  for (const std::string& v : core_only) EXPECT_NE(v.find("'MPI"), std::string::npos) << v;
}

TEST(Dist, AVariableWithoutGradientIsSkippedOnEveryRank) {
  Graph g;
  const Mlp m = build_mlp(g);
  auto unused = get_variable(g, "unused", {.shape = Shape{3}});
  dist::DistributedOptimizer opt(train::GradientDescentOptimizer(0.1));
  const auto gvs = opt.compute_gradients(m.loss);
  ASSERT_EQ(gvs.size(), 5u);
  for (const auto& gv : gvs) {
    if (gv.var == unused) {
      EXPECT_FALSE(gv.grad);
    } else {
      ASSERT_TRUE(gv.grad);
      EXPECT_EQ(gv.grad.op()->type(), "RealDiv");
      EXPECT_EQ(gv.grad.op()->input(0).op()->type(), "MPIAllreduce");
    }
  }
  Operation* training_op = opt.apply_gradients(gvs);
  Session s(g);
  s.run(global_variables_initializer(g));
  dist::broadcast_global_variables(s);
  const Tensor before = s.variable_value(unused.op).clone();
  const Dataset data = make_data(200);
  s.run({{m.X, data.x}, {m.y, data.y}}, {}, {training_op});
  EXPECT_TRUE(s.variable_value(unused.op).equals(before));
}

TEST(Dist, ShuffleBatchGivesThisRanksPartOfTheSameBatch) {
  const int r = dist::rank(), n = dist::size();
  const Dataset data = make_data(1000);
  RandomEngine mine(21), whole(21);
  auto parts = dist::shuffle_batch(data.x, data.y, 100, mine);
  auto batches = data::shuffle_batch(data.x, data.y, 100, whole);
  ASSERT_EQ(parts.num_batches(), 10);
  auto it = batches.begin();
  for (const auto& [xb, yb] : parts) {
    const Tensor global = (*it).second;
    const int64_t per = 100 / n;
    ASSERT_EQ(yb.num_elements(), per + (r < 100 % n ? 1 : 0));
    const int64_t begin = r * per + std::min<int64_t>(r, 100 % n);
    for (int64_t i = 0; i < yb.num_elements(); ++i) EXPECT_EQ(yb.data<int32_t>()[i], global.data<int32_t>()[begin + i]);
    ++it;
  }
}

}  // namespace fg
