// Files TensorFlow 1.10 wrote (../shared/fixtures/tf1-mnist-mlp): the meta-graph imports node
// for node, the checkpoint restores into it, and the restored model scores exactly what TF
// printed on the same 5,000 MNIST images.
#include <gtest/gtest.h>
#include <google/protobuf/util/message_differencer.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "data/mnist.h"
#include "graph/graph_io.h"
#include "graph/op_registry.h"
#include "runtime/session.h"
#include "tests/test_util.h"
#include "train/meta_graph.h"
#include "train/saver.h"
#include "ops/tensor_bundle.h"

namespace fg {
namespace {

namespace fs = std::filesystem;

using testing::TempDir;
using testing::expect_error;
using testing::slurp;
using testing::spit;

fs::path fixture_dir() { return testing::fixture_dir("tf1-mnist-mlp"); }
std::string fixture_prefix() { return (fixture_dir() / "my_model_final.ckpt").string(); }
std::string fixture_meta() { return fixture_prefix() + ".meta"; }


const std::vector<std::string> kVariables = {"dnn/hidden1/kernel", "dnn/hidden1/bias",  "dnn/hidden2/kernel",
                                             "dnn/hidden2/bias",   "dnn/outputs/kernel", "dnn/outputs/bias"};

TEST(TfFixture, MetaGraphImportsNodeForNode) {
  FG_REQUIRE_FIXTURE("tf1-mnist-mlp");
  const tensorflow::MetaGraphDef meta = train::read_meta_graph_file(fixture_meta());
  Graph g;
  std::optional<train::Saver> saver = train::import_meta_graph(g, fixture_meta());
  ASSERT_EQ(g.num_operations(), 152);
  ASSERT_EQ(meta.graph_def().node_size(), 152);
  // The file is in topological order, so creation order is file order.
  std::set<std::string> types;
  const auto ops = g.get_operations();
  for (int i = 0; i < 152; ++i) {
    EXPECT_EQ(ops[i]->name(), meta.graph_def().node(i).name());
    EXPECT_EQ(ops[i]->type(), meta.graph_def().node(i).op());
    types.insert(ops[i]->type());
  }
  EXPECT_EQ(types, (std::set<std::string>{
                       "Add", "ApplyGradientDescent", "Assign", "BroadcastGradientArgs", "Cast", "Const",
                       "ExpandDims", "Fill", "FloorDiv", "Identity", "InTopKV2", "MatMul", "Maximum", "Mean", "Mul",
                       "NoOp", "Placeholder", "PreventGradient", "Prod", "RealDiv", "Relu", "ReluGrad", "Reshape",
                       "RestoreV2", "SaveV2", "Shape", "SparseSoftmaxCrossEntropyWithLogits", "Sum", "Tile",
                       "TruncatedNormal", "VariableV2", "ZerosLike"}));

  // Every node is built with its registered op, none carried: all of TF's graph runs.
  for (const Operation* op : ops) EXPECT_FALSE(op->def().opaque) << op->name();
  // The saver's string tensors are flowgraph's own.
  for (const char* name : {"save/Const", "save/control_dependency"}) {
    EXPECT_FALSE(g.get_operation_by_name(name)->def().opaque) << name;
    EXPECT_EQ(g.get_operation_by_name(name)->output_dtype(0), string_dtype) << name;
  }
  Operation* restore = g.get_operation_by_name("save/RestoreV2");
  ASSERT_EQ(restore->num_outputs(), 6);
  EXPECT_EQ(restore->output_dtype(5), f32);
  EXPECT_EQ(restore->device(), "/device:CPU:0");
  EXPECT_EQ(g.get_operation_by_name("save/SaveV2")->num_outputs(), 0);
  EXPECT_EQ(g.get_operation_by_name("save/SaveV2")->num_inputs(), 9);
  Operation* bga = g.get_operation_by_name("train/gradients/dnn/hidden1/add_grad/BroadcastGradientArgs");
  EXPECT_EQ(bga->num_outputs(), 2);
  // Registered ops are rebuilt with shape inference.
  EXPECT_EQ(g.get_tensor_by_name("dnn/outputs/add:0").shape(), (Shape{-1, 10}));
  EXPECT_EQ(g.get_tensor_by_name("X:0").shape(), (Shape{-1, 784}));
  EXPECT_FALSE(g.get_tensor_by_name("y:0").shape().known_rank());
  EXPECT_EQ(g.get_tensor_by_name("eval/Mean:0").dtype(), f32);
  // Where TF's inference knew more (through Shape -> Reshape), its _output_shapes refine ours.
  EXPECT_EQ(g.get_tensor_by_name("train/gradients/dnn/outputs/add_grad/Reshape:0").shape(), (Shape{-1, 10}));
  // Attrs TF wrote that flowgraph does not use are carried.
  Operation* kernel = g.get_operation_by_name("dnn/hidden1/kernel");
  EXPECT_EQ(kernel->attr<std::string>("shared_name"), "");
  EXPECT_EQ(kernel->attr<std::vector<Shape>>("_output_shapes"), (std::vector<Shape>{Shape{784, 300}}));
  EXPECT_EQ(g.get_operation_by_name("dnn/hidden1/kernel/Assign")->attr<std::vector<std::string>>("_class"),
            (std::vector<std::string>{"loc:@dnn/hidden1/kernel"}));

  // Collections: Variables from VariableDefs, the train op by name.
  const auto vars = g.get_variables(GraphKeys::GLOBAL_VARIABLES);
  ASSERT_EQ(vars.size(), 6u);
  for (size_t i = 0; i < vars.size(); ++i) {
    EXPECT_EQ(vars[i].name(), kVariables[i]);
    EXPECT_EQ(vars[i].initializer->name(), kVariables[i] + "/Assign");
    EXPECT_EQ(vars[i].snapshot.name(), kVariables[i] + "/read:0");
    EXPECT_TRUE(vars[i].trainable);
  }
  EXPECT_EQ(vars[0].initial_value.name(), "dnn/hidden1/truncated_normal:0");
  EXPECT_EQ(vars[0].shape(), (Shape{784, 300}));
  EXPECT_EQ(g.get_variables(GraphKeys::TRAINABLE_VARIABLES, "dnn/hidden2").size(), 2u);
  const auto train_op = g.get_collection(GraphKeys::TRAIN_OP);
  ASSERT_EQ(train_op.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<Operation*>(train_op[0]));
  EXPECT_EQ(std::get<Operation*>(train_op[0])->name(), "train/GradientDescent");

  // The saver maps the checkpoint's names to the variables through TF's restore graph.
  ASSERT_TRUE(saver.has_value());
  EXPECT_EQ(saver->saver_def().filename_tensor_name(), "save/Const:0");
  EXPECT_EQ(saver->saver_def().restore_op_name(), "save/restore_all");
  EXPECT_EQ(saver->saver_def().max_to_keep(), 5);
  ASSERT_EQ(saver->variables().size(), 6u);
  for (const auto& [name, v] : saver->variables()) EXPECT_EQ(name, v.name());
}

TEST(TfFixture, ExportKeepsEveryNodeAndAttrTensorFlowWrote) {
  FG_REQUIRE_FIXTURE("tf1-mnist-mlp");
  const tensorflow::MetaGraphDef meta = train::read_meta_graph_file(fixture_meta());
  Graph g;
  train::import_meta_graph(g, fixture_meta());
  const tensorflow::GraphDef out = g.to_graph_def();
  ASSERT_EQ(out.node_size(), meta.graph_def().node_size());
  EXPECT_EQ(out.versions().producer(), 26);
  // flowgraph adds no attrs: it writes each op as TF 1.10 defines it (no Cast Truncate).
  for (int i = 0; i < out.node_size(); ++i) {
    const auto& want = meta.graph_def().node(i);
    const auto& got = out.node(i);
    SCOPED_TRACE(want.name());
    EXPECT_EQ(got.name(), want.name());
    EXPECT_EQ(got.op(), want.op());
    EXPECT_EQ(got.device(), want.device());
    ASSERT_EQ(got.input_size(), want.input_size());
    for (int k = 0; k < want.input_size(); ++k) EXPECT_EQ(got.input(k), want.input(k));
    for (const auto& [name, value] : want.attr()) {
      ASSERT_TRUE(got.attr().count(name)) << name;
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(got.attr().at(name), value))
          << name << ": " << got.attr().at(name).DebugString() << " vs " << value.DebugString();
    }
    for (const auto& [name, value] : got.attr())
      EXPECT_TRUE(want.attr().count(name)) << "added attr " << name;
  }

  // And a second trip through a .meta file changes nothing at all.
  TempDir dir;
  train::export_meta_graph(g, dir / "again.meta");
  Graph g2;
  train::import_meta_graph(g2, dir / "again.meta");
  {
    google::protobuf::util::MessageDifferencer d;
    std::string report;
    d.ReportDifferencesToString(&report);
    EXPECT_TRUE(d.Compare(g2.to_graph_def(), out)) << report.substr(0, 3000);
  }
  const auto meta2 = train::read_meta_graph_file(dir / "again.meta");
  EXPECT_EQ(meta2.meta_info_def().tensorflow_version(), "1.10.1-flowgraph");
  std::set<std::string> listed;
  for (const auto& op : meta2.meta_info_def().stripped_op_list().op()) listed.insert(op.name());
  EXPECT_EQ(listed.size(), 32u);
  EXPECT_TRUE(listed.count("SaveV2") && listed.count("MatMul"));
}

TEST(TfFixture, GradientHelpersAndSaverOpsRun) {
  FG_REQUIRE_FIXTURE("tf1-mnist-mlp");
  Graph g;
  train::import_meta_graph(g, fixture_meta());
  Session sess(g);
  // The inference path never touches them (pruning) ...
  sess.run(g.get_operation_by_name("init"));
  const Tensor x = testing::random_tensor({3, 784}, 1, 0, 1, f32);
  const Tensor logits = sess.run({{g.get_tensor_by_name("X:0"), x}}, g.get_tensor_by_name("dnn/outputs/add:0"));
  EXPECT_EQ(logits.shape(), (Shape{3, 10}));
  // TF's gradient helpers run: PreventGradient (the guard on the xent's backprop) forwards its input.
  const Output pg = g.get_tensor_by_name(
      "train/gradients/loss/SparseSoftmaxCrossEntropyWithLogits/SparseSoftmaxCrossEntropyWithLogits_grad/"
      "PreventGradient:0");
  EXPECT_EQ(pg.op()->type(), "PreventGradient");
  EXPECT_FALSE(pg.op()->def().opaque);
  const FeedDict feeds{{g.get_tensor_by_name("X:0"), x},
                       {g.get_tensor_by_name("y:0"), Tensor::from_vector<int32_t>({1, 7, 3})}};
  const auto guarded = sess.run(feeds, {pg, pg.op()->input(0)});
  EXPECT_EQ(guarded[0].shape(), (Shape{3, 10}));
  EXPECT_TRUE(guarded[0].equals(guarded[1]));
  // The Mean gradient's Tile, the first of TF's gradient helpers flowgraph lacked, spreads the
  // loss gradient over the batch.
  const Tensor tiled = sess.run(feeds, g.get_tensor_by_name("train/gradients/loss/loss_grad/Tile:0"));
  EXPECT_EQ(tiled.to_vector<float>(), (std::vector<float>{1, 1, 1}));
  // The saver's ops run too: unfed, save/Const holds the prefix TF's Saver was built with, which
  // names no checkpoint here.
  EXPECT_EQ(sess.run(g.get_tensor_by_name("save/Const:0")).scalar<std::string>(), "model");
  expect_error([&] { sess.run(g.get_operation_by_name("save/restore_all")); }, Code::kNotFound,
               {"model.index", "node save/RestoreV2"});
}

TEST(TfFixture, RestoredModelScoresExactlyWhatTensorFlowPrinted) {
  FG_REQUIRE_FIXTURE("tf1-mnist-mlp");
  const std::string mnist = testing::mnist_dir();
  if (mnist.empty()) {
    if (std::getenv("FG_REQUIRE_MNIST")) FAIL() << "FG_REQUIRE_MNIST is set but MNIST is not installed";
    GTEST_SKIP() << "MNIST not installed";
  }
  const data::Mnist m = data::load_mnist(mnist);  // validation = the first 5,000 training images
  ASSERT_EQ(m.validation.size(), 5000);

  Graph g;
  std::optional<train::Saver> saver = train::import_meta_graph(g, fixture_meta());
  ASSERT_TRUE(saver.has_value());
  Session sess(g);
  const Output X = g.get_tensor_by_name("X:0"), y = g.get_tensor_by_name("y:0");
  const Output accuracy = g.get_tensor_by_name("eval/Mean:0");
  expect_error([&] { sess.run({{X, m.validation.images}, {y, m.validation.labels}}, accuracy); },
               Code::kFailedPrecondition, {"dnn/"});
  saver->restore(sess, fixture_prefix());
  const Tensor acc = sess.run({{X, m.validation.images}, {y, m.validation.labels}}, accuracy);
  EXPECT_EQ(acc.scalar<float>(), 0.9772f);  // 4,886 of 5,000, exactly as TF 1.10 printed
  const Tensor hits = sess.run({{X, m.validation.images}, {y, m.validation.labels}},
                               g.get_tensor_by_name("eval/in_top_k/InTopKV2:0"));
  int64_t n = 0;
  for (bool b : hits.flat<bool>()) n += b;
  EXPECT_EQ(n, 4886);
}

TEST(TfFixture, SaverOnImportedGraphRewritesTheSameCheckpoint) {
  FG_REQUIRE_FIXTURE("tf1-mnist-mlp");
  Graph g;
  std::optional<train::Saver> saver = train::import_meta_graph(g, fixture_meta());
  ASSERT_TRUE(saver.has_value());
  Session sess(g);
  saver->restore(sess, fixture_prefix());
  TempDir dir;
  const std::string path = saver->save(sess, dir / "copy.ckpt");
  // Same names, same bytes: TF's layout on both sides.
  EXPECT_EQ(slurp(train::data_filename(path)), slurp(train::data_filename(fixture_prefix())));
  EXPECT_EQ(slurp(train::index_filename(path)), slurp(train::index_filename(fixture_prefix())));
  EXPECT_EQ(train::latest_checkpoint(dir.path().string()), path);

  // A fresh Saver over the imported graph (all global variables) builds "save_1/" ops and
  // reads the fixture too.
  train::Saver fresh(g);
  EXPECT_EQ(fresh.saver_def().restore_op_name(), "save_1/restore_all");
  Session sess2(g);
  fresh.restore(sess2, fixture_prefix());
  for (const auto& name : kVariables) {
    Operation* v = g.get_operation_by_name(name);
    EXPECT_TRUE(sess2.variable_value(v).equals(sess.variable_value(v))) << name;
  }
}

TEST(TfFixture, BadMetaFilesAreDataLossNamingTheFile) {
  FG_REQUIRE_FIXTURE("tf1-mnist-mlp");
  TempDir dir;
  const std::string bytes = slurp(fixture_meta());
  spit(dir.path() / "truncated.meta", bytes.substr(0, bytes.size() / 2));
  spit(dir.path() / "garbage.meta", std::string(4096, '\xff'));
  spit(dir.path() / "empty.meta", "");
  for (const char* name : {"truncated.meta", "garbage.meta", "empty.meta"}) {
    Graph g;
    expect_error([&] { train::import_meta_graph(g, dir / name); }, Code::kDataLoss, {dir / name});
    EXPECT_EQ(g.num_operations(), 0) << name;
  }
  Graph g;
  expect_error([&] { train::import_meta_graph(g, dir / "missing.meta"); }, Code::kNotFound, {dir / "missing.meta"});
}

std::pair<int, std::string> run_command(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(TfFixture, InspectCheckpointToolListsTheVariables) {
  FG_REQUIRE_FIXTURE("tf1-mnist-mlp");
  const fs::path tool = fs::path(FG_BINARY_DIR) / "inspect_checkpoint";
  if (!fs::exists(tool)) GTEST_SKIP() << "no " << tool << " (built with FG_BUILD_EXAMPLES=OFF?)";
  const auto [code, out] = run_command(str_cat("'", tool.string(), "' '", fixture_prefix(), "'"));
  EXPECT_EQ(code, 0);
  EXPECT_NE(out.find("dnn/hidden1/kernel (DT_FLOAT) [784,300]\n"), std::string::npos) << out;
  for (const auto& name : kVariables) EXPECT_NE(out.find(name + " (DT_FLOAT)"), std::string::npos) << out;
}

}  // namespace
}  // namespace fg
