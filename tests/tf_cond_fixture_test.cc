// A TF 1.12 checkpoint whose batch norm runs through tf.cond (../shared/fixtures/tf1-bn-cond):
// the .meta imports with its cond contexts, restores, gives the logits TF's graph gives for
// `training` false and true, runs TF's moving-average update conds (RefSwitch -> AssignSub), trains
// through the conds with minimize and exports again with the same nodes and contexts.
#include <gtest/gtest.h>
#include <google/protobuf/util/message_differencer.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "flowgraph.h"
#include "graph/control_flow.h"
#include "proto/control_flow.pb.h"
#include "tests/test_util.h"

namespace fg {
namespace {

namespace fs = std::filesystem;

fs::path fixture_dir() {
  if (const char* env = std::getenv("FG_FIXTURES")) return fs::path(env) / "tf1-bn-cond";
  return fs::path(FG_SOURCE_DIR) / ".." / "shared" / "fixtures" / "tf1-bn-cond";
}
std::string fixture_prefix() { return (fixture_dir() / "mini_project_final.ckpt").string(); }

#define REQUIRE_FIXTURE()                                                              \
  do {                                                                                 \
    if (!fs::exists(fixture_dir())) GTEST_SKIP() << "no fixture at " << fixture_dir(); \
  } while (0)

// A raw little-endian file of `shape`.
template <typename T>
Tensor read_raw(const std::string& name, const Shape& shape) {
  std::ifstream f(fixture_dir() / name, std::ios::binary);
  Tensor t = Tensor::empty(dtype_of<T>(), shape);
  f.read(reinterpret_cast<char*>(t.data<T>()), static_cast<std::streamsize>(t.num_elements() * sizeof(T)));
  EXPECT_TRUE(f.good()) << name;
  return t;
}

void expect_close(const Tensor& got, const Tensor& want, double rel = 1e-4) {
  ASSERT_EQ(got.shape(), want.shape());
  const float* g = got.data<float>();
  const float* w = want.data<float>();
  for (int64_t i = 0; i < want.num_elements(); ++i)
    EXPECT_NEAR(g[i], w[i], rel * std::max(1.0, std::abs(static_cast<double>(w[i])))) << "element " << i;
}

struct Fixture {
  Graph g;
  std::optional<train::Saver> saver;
  Output X, y, training, logits, loss;
  Tensor input = read_raw<float>("input.f32", {16, 5828});
  Tensor labels = read_raw<int32_t>("labels.i32", {16});

  Fixture() {
    saver = train::import_meta_graph(g, fixture_prefix() + ".meta");
    X = g.get_tensor_by_name("X:0");
    y = g.get_tensor_by_name("y:0");
    training = g.get_tensor_by_name("dnn/training:0");
    logits = g.get_tensor_by_name("dnn/logits/BiasAdd:0");
    loss = g.get_tensor_by_name("loss/loss:0");
  }
  Operation* op(const std::string& name) const { return g.get_operation_by_name(name); }
};

TEST(TfCondFixture, ImportsWithTheCondContextsTensorFlowWrote) {
  REQUIRE_FIXTURE();
  Fixture f;
  // Three layers, four conds each, two branches per cond.
  ASSERT_EQ(f.g.cond_contexts().size(), 24u);
  const CondContext* update_true = f.op("dnn/hidden3_1/cond_2/AssignMovingAvg/mul")->cond_context();
  ASSERT_NE(update_true, nullptr);
  EXPECT_EQ(update_true->name(), "dnn/hidden3_1/cond_2/cond_text");
  EXPECT_EQ(update_true->branch(), 1);
  EXPECT_EQ(update_true->pred().name(), "dnn/hidden3_1/cond_2/pred_id:0");
  EXPECT_EQ(update_true->pivot().name(), "dnn/hidden3_1/cond_2/switch_t:0");
  EXPECT_EQ(f.op("dnn/hidden3_1/cond_2/AssignMovingAvg/Switch")->cond_context(), update_true);
  EXPECT_EQ(update_true->external_value(f.g.get_tensor_by_name("hidden3/moving_mean:0")).name(),
            "dnn/hidden3_1/cond_2/AssignMovingAvg/Switch:1");
  const CondContext* moving_false = f.op("dnn/hidden3_1/cond/Switch_2")->cond_context();
  ASSERT_NE(moving_false, nullptr);
  EXPECT_EQ(moving_false->name(), "dnn/hidden3_1/cond/cond_text_1");
  EXPECT_EQ(moving_false->branch(), 0);
  // pred_id is the contexts' external value, not one of their ops; the Merge is outside.
  EXPECT_EQ(f.op("dnn/hidden3_1/cond/pred_id")->cond_context(), nullptr);
  EXPECT_EQ(f.op("dnn/hidden3_1/cond/Merge")->cond_context(), nullptr);
  EXPECT_EQ(f.op("dnn/hidden3_1/cond_2/AssignMovingAvg")->input(0).op()->type(), "RefSwitch");
}

TEST(TfCondFixture, LogitsForTrainingFalseAndTrueMatchTheFixture) {
  REQUIRE_FIXTURE();
  Fixture f;
  Session s(f.g);
  f.saver->restore(s, fixture_prefix());
  expect_close(s.run({{f.X, f.input}}, f.logits), read_raw<float>("logits_inference.f32", {16, 2}));
  expect_close(s.run({{f.X, f.input}, {f.training, Tensor(true)}}, f.logits),
               read_raw<float>("logits_training.f32", {16, 2}));
  // And back: the first run's plan again.
  expect_close(s.run({{f.X, f.input}, {f.training, Tensor(false)}}, f.logits),
               read_raw<float>("logits_inference.f32", {16, 2}));
}

TEST(TfCondFixture, UpdateCondsGiveTheMovingStatisticsOnlyWhenTraining) {
  REQUIRE_FIXTURE();
  Fixture f;
  Session s(f.g);
  f.saver->restore(s, fixture_prefix());
  Operation* mean = f.op("hidden3/moving_mean");
  Operation* variance = f.op("hidden3/moving_variance");
  const Targets updates{f.op("dnn/hidden3_1/cond_2/Merge"), f.op("dnn/hidden3_1/cond_3/Merge")};
  s.run({{f.X, f.input}, {f.training, Tensor(false)}}, {}, updates);
  EXPECT_EQ(s.variable_value(mean).to_vector<float>(), std::vector<float>(100, 0.0f));
  EXPECT_EQ(s.variable_value(variance).to_vector<float>(), std::vector<float>(100, 1.0f));
  s.run({{f.X, f.input}, {f.training, Tensor(true)}}, {}, updates);
  expect_close(s.variable_value(mean), read_raw<float>("moving_mean_after_update.f32", {100}));
  expect_close(s.variable_value(variance), read_raw<float>("moving_variance_after_update.f32", {100}));
  // The Merges' values: the updated variables when training, the untouched ones otherwise.
  const Output merged = f.g.get_tensor_by_name("dnn/hidden3_1/cond_2/Merge:0");
  const Tensor before = s.variable_value(mean).clone();
  expect_close(s.run({{f.X, f.input}, {f.training, Tensor(false)}}, merged), before);
  EXPECT_EQ(s.variable_value(mean).to_vector<float>(), before.to_vector<float>());
}

// The fixture's CondContextDefs, by context name.
std::map<std::string, tensorflow::CondContextDef> cond_contexts_of(const tensorflow::MetaGraphDef& meta) {
  std::map<std::string, tensorflow::CondContextDef> r;
  for (const std::string& bytes : meta.collection_def().at("cond_context").bytes_list().value()) {
    tensorflow::CondContextDef d;
    EXPECT_TRUE(d.ParseFromString(bytes));
    r[d.context_name()] = d;
  }
  return r;
}

TEST(TfCondFixture, TrainsThroughTheCondsAndExportsTheSameNodesAndContexts) {
  REQUIRE_FIXTURE();
  const tensorflow::MetaGraphDef original = train::read_meta_graph_file(fixture_prefix() + ".meta");
  Fixture f;
  // Exported untouched: every node of the file, its inputs, and the same cond contexts.
  const tensorflow::MetaGraphDef again = train::to_meta_graph_def(f.g);
  ASSERT_EQ(again.graph_def().node_size(), original.graph_def().node_size());
  std::map<std::string, const tensorflow::NodeDef*> by_name;
  for (const auto& n : again.graph_def().node()) by_name[n.name()] = &n;
  for (const auto& want : original.graph_def().node()) {
    ASSERT_TRUE(by_name.count(want.name())) << want.name();
    const tensorflow::NodeDef& got = *by_name[want.name()];
    EXPECT_EQ(got.op(), want.op()) << want.name();
    EXPECT_EQ(std::vector<std::string>(got.input().begin(), got.input().end()),
              std::vector<std::string>(want.input().begin(), want.input().end()))
        << want.name();
  }
  const auto want_contexts = cond_contexts_of(original);
  const auto got_contexts = cond_contexts_of(again);
  ASSERT_EQ(got_contexts.size(), want_contexts.size());
  for (const auto& [name, want] : want_contexts) {
    ASSERT_TRUE(got_contexts.count(name)) << name;
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(got_contexts.at(name), want))
        << got_contexts.at(name).DebugString() << "\nvs\n" << want.DebugString();
  }

  // minimize through the conds (our gradients, the imported contexts) trains with training true.
  Operation* train_op = train::GradientDescentOptimizer(0.05).minimize(f.loss);
  EXPECT_EQ(f.op("gradients/dnn/hidden3_1/cond/Merge_grad/cond_grad")->type(), "Switch");
  Session s(f.g);
  f.saver->restore(s, fixture_prefix());
  const FeedDict feeds{{f.X, f.input}, {f.y, f.labels}, {f.training, Tensor(true)}};
  const float loss0 = s.run(feeds, f.loss).scalar<float>();
  const Tensor mean_before = s.variable_value(f.op("hidden3/moving_mean")).clone();
  for (int i = 0; i < 5; ++i) s.run(feeds, {}, {train_op});
  const float loss5 = s.run(feeds, f.loss).scalar<float>();
  EXPECT_LT(loss5, loss0);
  EXPECT_EQ(s.variable_value(f.op("hidden3/moving_mean")).to_vector<float>(), mean_before.to_vector<float>())
      << "minimize does not run the update ops";

  // Saved and imported again: the same nodes (the new ones included) and contexts.
  const std::string dir = (fs::temp_directory_path() / str_cat("fg_tf_cond_", ::getpid())).string();
  fs::create_directories(dir);
  f.saver->save(s, dir + "/trained");
  Graph g2;
  std::optional<train::Saver> saver2 = train::import_meta_graph(g2, dir + "/trained.meta");
  EXPECT_EQ(g2.num_operations(), f.g.num_operations());
  EXPECT_EQ(g2.cond_contexts().size(), 24u);
  for (const Operation* op : f.g.get_operations()) {
    const Operation* other = g2.find_operation(op->name());
    ASSERT_NE(other, nullptr) << op->name();
    EXPECT_EQ(other->type(), op->type());
    EXPECT_EQ((other->cond_context() ? other->cond_context()->name() : ""),
              (op->cond_context() ? op->cond_context()->name() : ""))
        << op->name();
  }
  Session s2(g2);
  saver2->restore(s2, dir + "/trained");
  const FeedDict feeds2{{g2.get_tensor_by_name("X:0"), f.input},
                        {g2.get_tensor_by_name("y:0"), f.labels},
                        {g2.get_tensor_by_name("dnn/training:0"), Tensor(true)}};
  EXPECT_EQ(s2.run(feeds2, g2.get_tensor_by_name("loss/loss:0")).scalar<float>(), loss5);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace fg
