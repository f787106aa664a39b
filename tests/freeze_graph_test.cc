// Freezing: train::extract_sub_graph / convert_variables_to_constants and tools/freeze_graph
// with TensorFlow's flags. A frozen graph holds no variable and nothing its outputs do not need,
// imports into a fresh graph and gives the unfrozen graph's outputs bit for bit.
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "graph/graph_io.h"
#include "graph/op_registry.h"
#include "graph/tensor_proto.h"
#include "ops/register.h"
#include "tests/seed_models.h"
#include "tests/test_util.h"
#include "tests/tf_graph_check.h"
#include "train/graph_util.h"
#include "train/saver.h"

namespace fg::train {
namespace {

namespace fs = std::filesystem;
using testing::slurp;
using testing::spit;
using testing::TempDir;

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && a.num_bytes() == b.num_bytes() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.num_bytes()) == 0;
}

// Imports a frozen GraphDef into a graph of its own and runs `output` on `x`.
Tensor run_frozen(const tensorflow::GraphDef& frozen, const std::string& output, const Tensor& x) {
  Graph g;
  import_graph_def(g, frozen, {.prefix = ""});
  Session sess(g);
  return sess.run({{g.get_tensor_by_name("X:0"), x}}, g.get_tensor_by_name(output + ":0"));
}

int count_type(const tensorflow::GraphDef& gd, const std::string& type) {
  int n = 0;
  for (const auto& node : gd.node()) n += node.op() == type;
  return n;
}

bool has_node(const tensorflow::GraphDef& gd, const std::string& name) {
  for (const auto& node : gd.node())
    if (node.name() == name) return true;
  return false;
}

TEST(FreezeGraph, ExtractSubGraphKeepsWhatTheNodesNeedInOrder) {
  register_ops();
  tensorflow::GraphDef gd;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"(
    node { name: "a" op: "NoOp" }
    node { name: "unused" op: "NoOp" }
    node { name: "b" op: "NoOp" input: "^a" }
    node { name: "c" op: "Identity" input: "b:0" }
    node { name: "d" op: "Identity" input: "c" }
    versions { producer: 27 }
  )", &gd));
  const auto sub = extract_sub_graph(gd, {"d:0"});
  ASSERT_EQ(sub.node_size(), 4);
  EXPECT_EQ(sub.node(0).name(), "a");
  EXPECT_EQ(sub.node(1).name(), "b");
  EXPECT_EQ(sub.node(3).name(), "d");
  EXPECT_EQ(sub.versions().producer(), 27);
  testing::expect_error([&] { extract_sub_graph(gd, {"nope"}); }, Code::kInvalidArgument,
                             {"'nope' is not a node"});
}

TEST(FreezeGraph, FrozenBatchNormMlpGivesTheSameOutputsBitForBit) {
  Graph g;
  const auto m = testing::build_batch_norm_mlp(g);
  Session sess(g);
  testing::train_steps(sess, m, 3);
  auto [x, y] = testing::random_batch(64, 784, 7);
  const Tensor expected = sess.run({{m.X, x}}, m.logits);

  const std::string out = m.logits.op()->name();
  const tensorflow::GraphDef frozen = convert_variables_to_constants(sess, to_graph_def(g), {out});
  EXPECT_EQ(count_type(frozen, "VariableV2"), 0);
  // 3 dense layers (kernel, bias) and 3 batch norms (gamma, beta, moving mean and variance).
  const size_t n_vars = g.get_variables(GraphKeys::GLOBAL_VARIABLES).size();
  EXPECT_EQ(n_vars, 18u);
  int frozen_vars = 0;
  for (const auto& v : g.get_variables(GraphKeys::GLOBAL_VARIABLES)) {
    for (const auto& node : frozen.node()) {
      if (node.name() != v.name()) continue;
      ++frozen_vars;
      EXPECT_EQ(node.op(), "Const");
      // The value is the session's.
      EXPECT_TRUE(same_bytes(tensor_from_proto(node.attr().at("value").tensor(), node.name()),
                             sess.variable_value(v.op)))
          << node.name();
    }
  }
  EXPECT_EQ(frozen_vars, 18);
  // Pruned: no training, no initializers, no labels.
  for (const auto& node : frozen.node()) {
    EXPECT_EQ(node.name().rfind("gradients/", 0), std::string::npos) << node.name();
    EXPECT_EQ(node.name().find("Initializer"), std::string::npos) << node.name();
    EXPECT_NE(node.op(), "Assign") << node.name();
  }
  EXPECT_FALSE(has_node(frozen, "y"));
  EXPECT_FALSE(has_node(frozen, "loss"));
  EXPECT_TRUE(has_node(frozen, "training"));

  EXPECT_TRUE(same_bytes(run_frozen(frozen, out, x), expected));
  // Serialized and parsed back, as a file would be.
  tensorflow::GraphDef parsed;
  ASSERT_TRUE(parsed.ParseFromString(frozen.SerializeAsString()));
  EXPECT_TRUE(same_bytes(run_frozen(parsed, out, x), expected));
}

// Every node of a frozen graph is one TF 1.x defines (Const with TF's dtype and value attrs in
// place of each variable), so the graph loads there too. A ReLU MLP: batch norm's own op is
// checked against TF's in tf_graph_test.
TEST(FreezeGraph, FrozenGraphHoldsOnlyTensorFlowOps) {
  Graph g;
  auto X = placeholder(g, f32, {-1, 784}, "X");
  Output logits;
  {
    auto scope = g.name_scope("dnn");
    auto hidden1 = layers::dense(X, 300, {.activation = nn::relu, .name = "hidden1"});
    logits = layers::dense(hidden1, 10, {.name = "outputs"});
  }
  Session sess(g);
  sess.run(global_variables_initializer(g));
  const tensorflow::GraphDef frozen = convert_variables_to_constants(sess, to_graph_def(g), {logits.op()->name()});
  EXPECT_EQ(count_type(frozen, "VariableV2"), 0);
  EXPECT_EQ(count_type(frozen, "Const"), 4);
  testing::expect_graph_is_tf(frozen);
  auto [x, y] = testing::random_batch(16, 784, 3);
  EXPECT_TRUE(same_bytes(run_frozen(frozen, logits.op()->name(), x), sess.run({{X, x}}, logits)));
}

TEST(FreezeGraph, WhitelistBlacklistAndUninitializedVariables) {
  Graph g;
  auto X = placeholder(g, f32, {-1, 2}, "X");
  auto a = variable(constant(g, Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2})), {.name = "a"});
  auto b = variable(constant(g, Tensor::from_vector<float>({1, 1}, {2})), {.name = "b"});
  auto out = identity(matmul(X, a) + b, "out");
  Session sess(g);
  testing::expect_error([&] { convert_variables_to_constants(sess, to_graph_def(g), {"out"}); },
                             Code::kFailedPrecondition, {"'a'", "not initialized"});
  sess.run(global_variables_initializer(g));
  const auto only_a = convert_variables_to_constants(sess, to_graph_def(g), {"out"},
                                                     {.variable_names_whitelist = std::set<std::string>{"a"}});
  EXPECT_EQ(count_type(only_a, "VariableV2"), 1);
  for (const auto& node : only_a.node()) {
    if (node.name() == "a") EXPECT_EQ(node.op(), "Const");
    if (node.name() == "b") EXPECT_EQ(node.op(), "VariableV2");
  }
  const auto not_b = convert_variables_to_constants(sess, to_graph_def(g), {"out"}, {.variable_names_blacklist = {"b"}});
  EXPECT_EQ(count_type(not_b, "VariableV2"), 1);
  for (const auto& node : not_b.node())
    if (node.name() == "b") EXPECT_EQ(node.op(), "VariableV2");
  // A variable the session's graph does not have.
  auto gd = to_graph_def(g);
  gd.mutable_node(2)->set_name("renamed");
  for (auto& node : *gd.mutable_node())
    for (auto& in : *node.mutable_input())
      if (in == "a") in = "renamed";
  testing::expect_error([&] { convert_variables_to_constants(sess, gd, {"out"}); }, Code::kNotFound,
                             {"'renamed'"});
}

// ---- tools/freeze_graph

testing::CommandResult run_tool(const std::string& args) { return testing::run_built_program("freeze_graph", args); }

tensorflow::GraphDef read_graph(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  tensorflow::GraphDef gd;
  EXPECT_TRUE(gd.ParseFromIstream(&f)) << path;
  return gd;
}

TEST(FreezeGraph, ToolFreezesAMetaGraphAndCheckpointWithTensorFlowsFlags) {
  if (!fs::exists(std::string(FG_BINARY_DIR) + "/freeze_graph")) GTEST_SKIP() << "tools not built";
  TempDir dir;
  Graph g;
  const auto m = testing::build_batch_norm_mlp(g);
  Saver saver(g);
  Session sess(g);
  testing::train_steps(sess, m, 2);
  const std::string prefix = saver.save(sess, dir / "model.ckpt");
  auto [x, y] = testing::random_batch(32, 784, 9);
  const Tensor expected = sess.run({{m.X, x}}, m.logits);
  const Tensor expected_acc = sess.run({{m.X, x}, {m.y, y}}, m.accuracy);
  const std::string out = m.logits.op()->name();

  // Two outputs, as TF's comma-separated list.
  auto r = run_tool("--input_meta_graph=" + prefix + ".meta --input_checkpoint=" + prefix + " --output_node_names=" +
                   out + ",accuracy --output_graph=" + dir / "frozen.pb");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto frozen = read_graph(dir / "frozen.pb");
  EXPECT_NE(r.output.find(std::to_string(frozen.node_size()) + " ops in the final graph."), std::string::npos)
      << r.output;
  EXPECT_EQ(count_type(frozen, "VariableV2"), 0);
  EXPECT_FALSE(has_node(frozen, "GradientDescent"));
  EXPECT_TRUE(same_bytes(run_frozen(frozen, out, x), expected));
  {
    Graph fg;
    import_graph_def(fg, frozen, {.prefix = ""});
    Session fs_(fg);
    EXPECT_TRUE(same_bytes(fs_.run({{fg.get_tensor_by_name("X:0"), x}, {fg.get_tensor_by_name("y:0"), y}},
                                   fg.get_tensor_by_name("accuracy:0")),
                           expected_acc));
  }

  // A text GraphDef (TF's default encoding) and a binary one with --input_binary, restored by
  // variable name; the same frozen graph comes out.
  const tensorflow::GraphDef gd = to_graph_def(g);
  std::string text;
  google::protobuf::TextFormat::PrintToString(gd, &text);
  std::ofstream(dir / "graph.pbtxt") << text;
  std::ofstream(dir / "graph.bin", std::ios::binary) << gd.SerializeAsString();
  r = run_tool("--input_graph " + dir / "graph.pbtxt" + " --input_checkpoint " + prefix + " --output_node_names " +
               out + " --output_graph " + dir / "frozen_text.pb");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(same_bytes(run_frozen(read_graph(dir / "frozen_text.pb"), out, x), expected));
  r = run_tool("--input_graph=" + dir / "graph.bin" + " --input_binary=true --input_checkpoint=" + prefix +
               " --output_node_names=" + out + " --output_graph=" + dir / "frozen_bin.pb");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(same_bytes(run_frozen(read_graph(dir / "frozen_bin.pb"), out, x), expected));
  // The same graph and checkpoint give the same bytes, whichever way they came.
  EXPECT_EQ(slurp(dir / "frozen_text.pb"), slurp(dir / "frozen_bin.pb"));

  // Errors as TF words them, exit code 1, and no output file.
  r = run_tool("--input_meta_graph=" + prefix + ".meta --input_checkpoint=" + dir / "missing" +
               " --output_node_names=" + out + " --output_graph=" + dir / "never.pb");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("Input checkpoint '" + dir / "missing" + "' doesn't exist!"), std::string::npos) << r.output;
  r = run_tool("--input_meta_graph=" + prefix + ".meta --input_checkpoint=" + prefix + " --output_graph=" +
               dir / "never.pb");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("You need to supply the name of a node to --output_node_names."), std::string::npos)
      << r.output;
  r = run_tool("--input_meta_graph=" + prefix + ".meta --input_checkpoint=" + prefix +
               " --output_node_names=no/such/node --output_graph=" + dir / "never.pb");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("'no/such/node' is not a node"), std::string::npos) << r.output;
  r = run_tool("--input_grahp=x");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("unknown flag --input_grahp"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "never.pb"));
}

}  // namespace
}  // namespace fg::train
