// Keep training a graph TensorFlow wrote, with the graph's own ops: its saver subgraph restores
// (save/restore_all fed save/Const:0) and saves (save/control_dependency:0), its own training op
// trains (TF 1.10's MNIST MLP; TF 1.12's batch norm through tf.cond). And graphs we write with Momentum and Adam (slots, beta1_power) continue training after
// export and import exactly as they would have in the original graph.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "flowgraph.h"
#include "graph/op_registry.h"
#include "proto/summary.pb.h"
#include "tests/test_util.h"

namespace fg {
namespace {

using testing::TempDir;

std::string mlp_prefix() { return (testing::fixture_dir("tf1-mnist-mlp") / "my_model_final.ckpt").string(); }

// Runs the graph's own restore op, as TF users do: sess.run(restore_op, {filename: prefix}).
void restore_with_graphs_own_ops(Session& sess, const tensorflow::SaverDef& def, const std::string& prefix) {
  Graph& g = sess.graph();
  sess.run({{g.get_tensor_by_name(def.filename_tensor_name()), Tensor(prefix)}}, {},
           {g.get_operation_by_name(def.restore_op_name())});
}
// Runs the graph's own save op: sess.run(save_tensor, {filename: prefix}) returns the prefix.
std::string save_with_graphs_own_ops(Session& sess, const tensorflow::SaverDef& def, const std::string& prefix) {
  Graph& g = sess.graph();
  return sess.run({{g.get_tensor_by_name(def.filename_tensor_name()), Tensor(prefix)}},
                  g.get_tensor_by_name(def.save_tensor_name()))
      .scalar<std::string>();
}

TEST(TfContinueTraining, MnistMlpTrainsOnWithItsOwnTrainingOpAndSaver) {
  FG_REQUIRE_FIXTURE("tf1-mnist-mlp");
  const std::string mnist = testing::require_mnist();
  if (mnist.empty()) GTEST_SKIP() << "MNIST not installed";
  const data::Mnist m = data::load_mnist(mnist);

  Graph g;
  std::optional<train::Saver> saver = train::import_meta_graph(g, mlp_prefix() + ".meta");
  ASSERT_TRUE(saver.has_value());
  const tensorflow::SaverDef def = saver->saver_def();
  EXPECT_EQ(def.filename_tensor_name(), "save/Const:0");
  EXPECT_EQ(def.save_tensor_name(), "save/control_dependency:0");
  EXPECT_EQ(def.restore_op_name(), "save/restore_all");
  Session sess(g);
  restore_with_graphs_own_ops(sess, def, mlp_prefix());

  const Output X = g.get_tensor_by_name("X:0"), y = g.get_tensor_by_name("y:0");
  const Output accuracy = g.get_tensor_by_name("eval/Mean:0"), loss = g.get_tensor_by_name("loss/loss:0");
  const FeedDict validation{{X, m.validation.images}, {y, m.validation.labels}};
  // The training loss, over train[5000:] in a few large batches.
  auto train_loss = [&] {
    const int64_t n = m.train.size(), chunk = 11000;
    std::vector<int64_t> all(n);
    for (int64_t i = 0; i < n; ++i) all[i] = i;
    double sum = 0;
    for (int64_t b = 0; b < n; b += chunk) {
      const int64_t e = std::min(n, b + chunk);
      const Tensor l = sess.run({{X, data::gather_rows(m.train.images, all, b, e)},
                                 {y, data::gather_rows(m.train.labels, all, b, e)}},
                                loss);
      sum += static_cast<double>(l.scalar<float>()) * static_cast<double>(e - b);
    }
    return sum / static_cast<double>(n);
  };
  const auto before = sess.run(validation, {accuracy, loss});
  const double train_loss_before = train_loss();
  std::map<std::string, Tensor> restored;
  for (const Variable& v : g.get_variables(GraphKeys::GLOBAL_VARIABLES)) restored[v.name()] = sess.variable_value(v.op);
  EXPECT_EQ(before[0].scalar<float>(), 0.9772f);  // what TF 1.10 printed

  // One epoch of the graph's own GradientDescent (TF's gradient graph: Tile, BroadcastGradientArgs,
  // PreventGradient, ... all run), batch 50 over train[5000:], seed 42.
  Operation* training_op = g.get_operation_by_name("train/GradientDescent");
  for (Operation* op : g.get_operations()) EXPECT_FALSE(op->def().opaque) << op->name();
  RandomEngine rng(42);
  data::ShuffleBatch batches(m.train.images, m.train.labels, 50, rng);
  EXPECT_EQ(batches.num_batches(), 1100);
  for (const auto& [xb, yb] : batches) sess.run({{X, xb}, {y, yb}}, {}, {training_op});
  const auto after = sess.run(validation, {accuracy, loss});
  const double train_loss_after = train_loss();
  EXPECT_GE(after[0].scalar<float>(), 0.975f);
  EXPECT_LT(train_loss_after, train_loss_before);
  std::printf("[ one epoch ] validation accuracy %.4f -> %.4f, loss %.5f -> %.5f; training loss %.5f -> %.5f\n",
              before[0].scalar<float>(), after[0].scalar<float>(), before[1].scalar<float>(),
              after[1].scalar<float>(), train_loss_before, train_loss_after);

  // Saved through the graph's own save op, read back by our Saver into a fresh import.
  TempDir dir;
  const std::string prefix = dir / "continued.ckpt";
  EXPECT_EQ(save_with_graphs_own_ops(sess, def, prefix), prefix);
  Graph g2;
  std::optional<train::Saver> saver2 = train::import_meta_graph(g2, mlp_prefix() + ".meta");
  Session sess2(g2);
  saver2->restore(sess2, prefix);
  int compared = 0;
  for (const Variable& v : g.get_variables(GraphKeys::GLOBAL_VARIABLES)) {
    const Tensor want = sess.variable_value(v.op);
    EXPECT_TRUE(sess2.variable_value(g2.get_operation_by_name(v.name())).equals(want)) << v.name();
    EXPECT_FALSE(want.equals(restored.at(v.name()))) << v.name() << " did not train";
    ++compared;
  }
  EXPECT_EQ(compared, 6);
  EXPECT_EQ(sess2.run({{g2.get_tensor_by_name("X:0"), m.validation.images},
                       {g2.get_tensor_by_name("y:0"), m.validation.labels}},
                      g2.get_tensor_by_name("eval/Mean:0"))
                .scalar<float>(),
            after[0].scalar<float>());
}

// A raw little-endian file of the fixture.
template <typename T>
Tensor read_raw(const std::filesystem::path& path, const Shape& shape) {
  const std::string bytes = testing::slurp(path);
  Tensor t = Tensor::empty(dtype_of<T>(), shape);
  EXPECT_EQ(bytes.size(), static_cast<size_t>(t.num_elements()) * sizeof(T)) << path;
  std::memcpy(t.data<T>(), bytes.data(), std::min(bytes.size(), static_cast<size_t>(t.num_elements()) * sizeof(T)));
  return t;
}

// TF 1.12's batch norm through tf.cond: its own training op trains through the conds.
TEST(TfContinueTraining, BnCondTrainsWithItsOwnTrainingOp) {
  FG_REQUIRE_FIXTURE("tf1-bn-cond");
  const auto dir = testing::fixture_dir("tf1-bn-cond");
  const std::string prefix = (dir / "mini_project_final.ckpt").string();
  Graph g;
  std::optional<train::Saver> saver = train::import_meta_graph(g, prefix + ".meta");
  ASSERT_TRUE(saver.has_value());
  EXPECT_EQ(g.get_operation_by_name("train/log_loss")->output_dtype(0), string_dtype);
  Session sess(g);
  restore_with_graphs_own_ops(sess, saver->saver_def(), prefix);

  const FeedDict feeds{{g.get_tensor_by_name("X:0"), read_raw<float>(dir / "input.f32", {16, 5828})},
                       {g.get_tensor_by_name("y:0"), read_raw<int32_t>(dir / "labels.i32", {16})},
                       {g.get_tensor_by_name("dnn/training:0"), Tensor(true)}};
  const Output loss = g.get_tensor_by_name("loss/loss:0");
  Operation* training_op = g.get_operation_by_name("train/training_op");
  for (Operation* op : g.get_operations()) EXPECT_FALSE(op->def().opaque) << op->name();
  std::vector<float> losses = {sess.run(feeds, loss).scalar<float>()};
  for (int step = 0; step < 20; ++step) {
    sess.run(feeds, {}, {training_op});
    losses.push_back(sess.run(feeds, loss).scalar<float>());
  }
  std::printf("[ 20 steps ] loss %.5f -> %.5f\n", losses.front(), losses.back());
  // Its summary op runs too: the loss as TF's Summary proto.
  tensorflow::Summary summary;
  ASSERT_TRUE(summary.ParseFromString(
      std::string(sess.run(feeds, g.get_tensor_by_name("train/log_loss:0")).scalar<std::string>())));
  ASSERT_EQ(summary.value_size(), 1);
  EXPECT_EQ(summary.value(0).simple_value(), losses.back());
  EXPECT_LT(losses.back(), losses.front());
  EXPECT_LT(losses.back(), 0.5f * losses.front());  // it learns the 16 labels, not noise
  for (float l : losses) EXPECT_TRUE(std::isfinite(l));
  // The inference path (training false, the moving statistics) still runs on the trained weights.
  FeedDict inference = feeds;
  inference.erase(inference.begin() + 2);
  const Tensor logits = sess.run(inference, g.get_tensor_by_name("dnn/logits/BiasAdd:0"));
  EXPECT_EQ(logits.shape(), (Shape{16, 2}));
}

// A small classifier trained by `opt`, exported by Saver::save (checkpoint + .meta).
struct Written {
  std::vector<Tensor> xs, ys;  // the batches of the whole run
  std::string prefix;
  std::map<std::string, Tensor> final_values;  // every global variable after all the batches
};

constexpr int kSteps = 6, kStepsBeforeSave = 3;

Written write_and_train(train::Optimizer& opt, const std::string& dir, const std::string& train_op_name) {
  Written w;
  for (int i = 0; i < kSteps; ++i) {
    w.xs.push_back(testing::random_tensor({8, 5}, 100 + i, -1, 1, f32));
    std::vector<int32_t> labels(8);
    for (int k = 0; k < 8; ++k) labels[k] = (i * 7 + k * 3) % 3;
    w.ys.push_back(Tensor::from_vector<int32_t>(labels));
  }
  Graph g;
  g.set_random_seed(7);
  Output X = placeholder(g, f32, {-1, 5}, "X");
  Output y = placeholder(g, i32, {-1}, "y");
  Output h = layers::dense(X, 6, {.activation = nn::relu, .name = "hidden"});
  Output logits = layers::dense(h, 3, {.name = "logits"});
  Output loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(y, logits), {}, "loss");
  Operation* train_op = opt.minimize(loss);
  EXPECT_EQ(train_op->name(), train_op_name);
  train::Saver saver(g);
  Session sess(g);
  sess.run(global_variables_initializer(g));
  for (int i = 0; i < kSteps; ++i) {
    if (i == kStepsBeforeSave) w.prefix = saver.save(sess, dir + "/model.ckpt");
    sess.run({{X, w.xs[i]}, {y, w.ys[i]}}, {}, {train_op});
  }
  for (const Variable& v : g.get_variables(GraphKeys::GLOBAL_VARIABLES)) w.final_values[v.name()] = sess.variable_value(v.op);
  return w;
}

void expect_continues_identically(train::Optimizer& opt, const std::string& train_op_name,
                                  const std::vector<std::string>& slots) {
  TempDir dir;
  const Written w = write_and_train(opt, dir.path().string(), train_op_name);
  for (const std::string& s : slots) EXPECT_TRUE(w.final_values.count(s)) << s << " is not a global variable";

  // What a TF user does with the .meta: import, restore with the graph's own saver ops, fetch the
  // training op by name, keep training.
  Graph g;
  std::optional<train::Saver> saver = train::import_meta_graph(g, w.prefix + ".meta");
  ASSERT_TRUE(saver.has_value());
  Session sess(g);
  restore_with_graphs_own_ops(sess, saver->saver_def(), w.prefix);
  Operation* train_op = g.get_operation_by_name(train_op_name);
  EXPECT_FALSE(train_op->def().opaque);
  for (int i = kStepsBeforeSave; i < kSteps; ++i)
    sess.run({{g.get_tensor_by_name("X:0"), w.xs[i]}, {g.get_tensor_by_name("y:0"), w.ys[i]}}, {}, {train_op});
  const auto vars = g.get_variables(GraphKeys::GLOBAL_VARIABLES);
  EXPECT_EQ(vars.size(), w.final_values.size());
  for (const Variable& v : vars) {
    ASSERT_TRUE(w.final_values.count(v.name())) << v.name();
    EXPECT_TRUE(sess.variable_value(v.op).equals(w.final_values.at(v.name()))) << v.name();
  }
  // And the graph's own save op writes what our Saver reads back.
  const std::string again = save_with_graphs_own_ops(sess, saver->saver_def(), dir / "again.ckpt");
  Graph g2;
  train::Saver ours = *train::import_meta_graph(g2, w.prefix + ".meta");
  Session sess2(g2);
  ours.restore(sess2, again);
  for (const Variable& v : g2.get_variables(GraphKeys::GLOBAL_VARIABLES))
    EXPECT_TRUE(sess2.variable_value(v.op).equals(w.final_values.at(v.name()))) << v.name();
}

TEST(TfContinueTraining, MomentumGraphWeWriteContinuesAfterExportAndImport) {
  train::MomentumOptimizer opt(0.1, 0.9);
  expect_continues_identically(opt, "Momentum", {"hidden/kernel/Momentum", "logits/bias/Momentum"});
  train::MomentumOptimizer nesterov(0.1, 0.9, {.use_nesterov = true});
  expect_continues_identically(nesterov, "Momentum", {"hidden/kernel/Momentum"});
}

TEST(TfContinueTraining, AdamGraphWeWriteContinuesAfterExportAndImport) {
  train::AdamOptimizer opt(0.05);
  expect_continues_identically(opt, "Adam",
                               {"hidden/kernel/Adam", "hidden/kernel/Adam_1", "logits/bias/Adam_1", "beta1_power",
                                "beta2_power"});
}

}  // namespace
}  // namespace fg
