// Every graph flowgraph writes is TensorFlow's: the nodes of the example programs' graphs and of
// the models the tests export hold only op types, args and attrs TF 1.x defines, and the
// stripped_op_list of each .meta matches TF's definitions (tests/data/tf1_op_defs.pbtxt). The
// checker itself is tested on graphs with one fault each and on the real TF fixtures.
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "flowgraph.h"
#include "graph/op_registry.h"
#include "tests/test_util.h"
#include "tests/tf_graph_check.h"
#include "train/saver.h"

namespace fg::testing {
namespace {

namespace fs = std::filesystem;

std::optional<tensorflow::MetaGraphDef> fixture_meta(const char* dir, const char* file) {
  const fs::path p = fixture_dir(dir) / file;
  if (!fs::exists(p)) return std::nullopt;
  return train::read_meta_graph_file(p.string());
}

tensorflow::GraphDef parse_graph(const std::string& text) {
  tensorflow::GraphDef gd;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &gd)) << text;
  return gd;
}

// True when some violation mentions every one of `parts`.
bool has_violation(const std::vector<std::string>& v, std::initializer_list<const char*> parts) {
  for (const auto& s : v) {
    bool all = true;
    for (const char* p : parts) all = all && s.find(p) != std::string::npos;
    if (all) return true;
  }
  return false;
}

std::string lines(const std::vector<std::string>& v) {
  std::string r;
  for (const auto& s : v) r += s + "\n";
  return r;
}

void expect_meta_is_tf(const tensorflow::MetaGraphDef& meta) {
  expect_graph_is_tf(meta.graph_def());
  expect_stripped_op_list_is_tf(meta);
}

// ---- the data and the checker

TEST(TfOpDefsData, ParsesAndHoldsEveryOpFlowgraphRegisters) {
  register_ops();
  const TfOpDefs& defs = TfOpDefs::tf1_any();
  EXPECT_GE(TfOpDefs::tf1_10().num_types(), 150u);
  // Each definition is well formed: args name their attrs, and those attrs exist.
  for (const char* file : {"tf1_op_defs.pbtxt", "tf1_later_op_defs.pbtxt", "tf1_contrib_op_defs.pbtxt"}) {
    const TfOpDefs one = TfOpDefs::from_files({std::string(FG_SOURCE_DIR) + "/tests/data/" + file});
    EXPECT_GT(one.num_types(), 0u) << file;
  }
  // Contrib's ops are TF's only for the graphs that ask for them: a core graph holding one is not.
  EXPECT_TRUE(defs.find("MPIAllreduce").empty());
  EXPECT_FALSE(TfOpDefs::tf1_with_contrib().find("MPIAllreduce").empty());
  EXPECT_EQ(TfOpDefs::tf1_with_contrib().num_types(), defs.num_types() + 4);
  // Every type flowgraph registers is TF 1.x's.
  for (const std::string& type : OpRegistry::global().types()) {
    // Toy ops other tests of this binary register (TimesTwo: graph/op_registry.h's usage example).
    if (type.rfind("Test", 0) == 0 || type == "TimesTwo") continue;
    EXPECT_FALSE(defs.find(type).empty()) << type << " is not a TensorFlow 1.x op";
  }
  for (const char* type : {"Switch", "RefSwitch", "Merge", "RefMerge", "Enter", "Exit", "NextIteration", "LoopCond",
                           "StridedSlice", "ConcatV2", "SaveV2", "RestoreV2", "MergeV2Checkpoints", "ApplyAdam"})
    EXPECT_FALSE(defs.find(type).empty()) << type;
}

TEST(TfOpDefsData, EveryArgAndAttrResolves) {
  register_ops();
  const TfOpDefs& defs = TfOpDefs::tf1_with_contrib();
  std::set<std::string> types = {"MPIAllreduce", "MPISize", "MPIRank", "MPILocalRank"};  // dist/'s
  for (const std::string& type : OpRegistry::global().types()) types.insert(type);
  for (const std::string& type : types)
    for (const auto& def : defs.find(type)) {  // toy test ops have none
      std::set<std::string> attrs;
      for (const auto& a : def.attr()) EXPECT_TRUE(attrs.insert(a.name()).second) << type << " attr " << a.name();
      for (const auto* args : {&def.input_arg(), &def.output_arg()})
        for (const auto& a : *args) {
          for (const std::string& name : {a.type_attr(), a.number_attr(), a.type_list_attr()})
            EXPECT_TRUE(name.empty() || attrs.count(name)) << type << " arg " << a.name() << " names " << name;
          EXPECT_TRUE(a.type() != tensorflow::DT_INVALID || !a.type_attr().empty() || !a.type_list_attr().empty())
              << type << " arg " << a.name() << " has no type";
        }
    }
}

TEST(TfGraphCheck, TheFixturesTensorFlowWroteAreTensorFlows) {
  auto mlp = fixture_meta("tf1-mnist-mlp", "my_model_final.ckpt.meta");
  auto bn = fixture_meta("tf1-bn-cond", "mini_project_final.ckpt.meta");
  if (!mlp || !bn) GTEST_SKIP() << "no fixtures in " << fixture_dir("").parent_path();
  expect_meta_is_tf(*mlp);
  expect_meta_is_tf(*bn);
  // TF 1.10 wrote the MLP: it is TF 1.10's strictly.
  expect_graph_is_tf(mlp->graph_def(), TfOpDefs::tf1_10());
  expect_stripped_op_list_is_tf(*mlp, TfOpDefs::tf1_10());
  // TF 1.12 wrote the batch-norm model: by 1.10's definitions only Cast's Truncate is new.
  for (const auto& v : {tf_graph_violations(bn->graph_def(), TfOpDefs::tf1_10()),
                        tf_stripped_op_list_violations(*bn, TfOpDefs::tf1_10())}) {
    EXPECT_FALSE(v.empty());
    for (const auto& s : v) EXPECT_NE(s.find("Truncate"), std::string::npos) << s;
  }
}

TEST(TfGraphCheck, CatchesEachKindOfFault) {
  const std::string ok = R"(
    node { name: "x" op: "Placeholder" attr { key: "dtype" value { type: DT_FLOAT } } }
    node { name: "v" op: "VariableV2" attr { key: "dtype" value { type: DT_FLOAT } }
           attr { key: "shape" value { shape { dim { size: 2 } } } } }
    node { name: "a" op: "Assign" input: "v" input: "x" attr { key: "T" value { type: DT_FLOAT } } }
    node { name: "s" op: "AddN" input: "x" input: "v" attr { key: "N" value { i: 2 } }
           attr { key: "T" value { type: DT_FLOAT } } attr { key: "_class" value { list { s: "loc:@v" } } } }
  )";
  const auto none = tf_graph_violations(parse_graph(ok));
  EXPECT_TRUE(none.empty()) << lines(none);

  auto check = [&](const std::string& text, std::initializer_list<const char*> parts) {
    const auto v = tf_graph_violations(parse_graph(text));
    EXPECT_TRUE(has_violation(v, parts)) << "for:\n" << text << "got:\n" << lines(v);
  };
  check(R"(node { name: "f" op: "FusedBatchNormDynamic" })",
        {"'f'", "FusedBatchNormDynamic", "not a TensorFlow 1.x op"});
  check(R"(node { name: "p" op: "Placeholder" })", {"'p'", "lacks attr 'dtype'"});
  check(R"(node { name: "p" op: "Placeholder" attr { key: "dtype" value { type: DT_FLOAT } }
                  attr { key: "Truncate" value { b: false } } })",
        {"'p'", "attr 'Truncate'", "does not have"});
  check(R"(node { name: "p" op: "Placeholder" attr { key: "dtype" value { i: 1 } } })", {"'dtype'", "not a type"});
  check(R"(node { name: "x" op: "Placeholder" attr { key: "dtype" value { type: DT_BOOL } } }
           node { name: "r" op: "Relu" input: "x" attr { key: "T" value { type: DT_BOOL } } })",
        {"'r'", "BOOL is not one of"});
  check(ok + R"(node { name: "n" op: "AddN" input: "x" attr { key: "N" value { i: 2 } }
                        attr { key: "T" value { type: DT_FLOAT } } })",
        {"'n'", "1 data inputs", "takes 2"});
  check(ok + R"(node { name: "i" op: "Placeholder" attr { key: "dtype" value { type: DT_INT32 } } }
                node { name: "m" op: "Mul" input: "x" input: "i" attr { key: "T" value { type: DT_FLOAT } } })",
        {"'m'", "'i' is INT32", "wants FLOAT"});
  check(ok + R"(node { name: "b" op: "Assign" input: "x" input: "x" attr { key: "T" value { type: DT_FLOAT } } })",
        {"'b'", "must be a reference"});
  check(ok + R"(node { name: "c" op: "Identity" input: "^a" input: "x" attr { key: "T" value { type: DT_FLOAT } } })",
        {"'c'", "after a control input"});
  check(ok + R"(node { name: "d" op: "Identity" input: "x:1" attr { key: "T" value { type: DT_FLOAT } } })",
        {"'d'", "has 1 outputs"});
  check(
      R"(node { name: "n" op: "ConcatV2" attr { key: "N" value { i: 1 } } attr { key: "T" value { type: DT_FLOAT } } })",
      {"'N' is 1", "minimum 2"});
}

TEST(TfGraphCheck, CatchesStrippedOpListsThatAreNotTensorFlows) {
  auto mlp = fixture_meta("tf1-mnist-mlp", "my_model_final.ckpt.meta");
  if (!mlp) GTEST_SKIP() << "no fixtures in " << fixture_dir("").parent_path();
  auto broken = [&](const char* type, auto&& edit) {
    tensorflow::MetaGraphDef m = *mlp;
    for (auto& op : *m.mutable_meta_info_def()->mutable_stripped_op_list()->mutable_op())
      if (op.name() == type) edit(op);
    return tf_stripped_op_list_violations(m);
  };
  using tensorflow::OpDef;
  auto v = broken("VariableV2", [](OpDef& op) { op.mutable_output_arg(0)->set_is_ref(false); });
  EXPECT_TRUE(has_violation(v, {"VariableV2", "output_arg 0 'ref'", "is_ref false"})) << lines(v);
  v = broken("SaveV2", [](OpDef& op) { op.clear_input_arg(); });
  EXPECT_TRUE(has_violation(v, {"SaveV2", "input_arg count 0", "TF's 4"})) << lines(v);
  v = broken("Cast", [](OpDef& op) {
    auto* a = op.add_attr();
    a->set_name("Truncate");
    a->set_type("bool");
  });
  EXPECT_TRUE(has_violation(v, {"Cast", "Truncate"})) << lines(v);
  v = broken("MatMul", [](OpDef& op) { op.mutable_attr(0)->mutable_default_value()->set_b(true); });
  EXPECT_TRUE(has_violation(v, {"MatMul", "default"})) << lines(v);
  v = broken("Add", [](OpDef& op) { op.set_name("Bogus"); });
  EXPECT_TRUE(has_violation(v, {"Bogus", "not a TensorFlow 1.x op"})) << lines(v);
  EXPECT_TRUE(has_violation(v, {"lacks op 'Add'"})) << lines(v);
}

// ---- the models flowgraph writes

// A 784-300-100-10 network like the seed's, with `optimizer` minimizing its loss.
void build_dnn(Graph& g, train::Optimizer& optimizer, layers::Activation activation = nn::relu) {
  auto X = placeholder(g, f32, {-1, 784}, "X");
  auto y = placeholder(g, i32, {-1}, "y");
  Output logits;
  {
    auto s = g.name_scope("dnn");
    auto h1 = layers::dense(X, 300, {.activation = activation, .name = "hidden1"});
    auto h2 = layers::dense(h1, 100, {.activation = activation, .name = "hidden2"});
    logits = layers::dense(h2, 10, {.name = "outputs"});
  }
  Output loss;
  {
    auto s = g.name_scope("loss");
    loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(y, logits), {}, "loss");
  }
  {
    auto s = g.name_scope("train");
    optimizer.minimize(loss);
  }
  {
    auto s = g.name_scope("eval");
    reduce_mean(cast(nn::in_top_k(logits, y, 1), f32), {}, "accuracy");
  }
}

// The meta graph Saver::save writes for `g` (with the saver's nodes and SaverDef).
tensorflow::MetaGraphDef saved_meta(Graph& g) {
  TempDir dir;
  train::Saver saver(g);
  Session sess(g);
  sess.run(global_variables_initializer(g));
  const std::string path = saver.save(sess, (dir.path() / "model.ckpt").string());
  return train::read_meta_graph_file(path + ".meta");
}

TEST(TfGraph, EveryOptimizersTrainingGraphIsTensorFlows) {
  struct Case {
    const char* name;
    std::function<std::unique_ptr<train::Optimizer>()> make;
  };
  const std::vector<Case> cases = {
      {"GradientDescent", [] { return std::make_unique<train::GradientDescentOptimizer>(0.01); }},
      {"Momentum", [] { return std::make_unique<train::MomentumOptimizer>(0.01, 0.9); }},
      {"Nesterov",
       [] {
         return std::make_unique<train::MomentumOptimizer>(0.01, 0.9, train::MomentumOptions{.use_nesterov = true});
       }},
      {"Adagrad", [] { return std::make_unique<train::AdagradOptimizer>(0.01); }},
      {"RMSProp", [] { return std::make_unique<train::RMSPropOptimizer>(0.01); }},
      {"CenteredRMSProp",
       [] { return std::make_unique<train::RMSPropOptimizer>(0.01, train::RMSPropOptions{.centered = true}); }},
      {"Adam", [] { return std::make_unique<train::AdamOptimizer>(0.001); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Graph g;
    auto optimizer = c.make();
    build_dnn(g, *optimizer);
    expect_meta_is_tf(saved_meta(g));
  }
}

TEST(TfGraph, LayersActivationsAndRegularizersAreTensorFlows) {
  for (layers::Activation activation :
       {layers::Activation(nn::relu), layers::Activation(nn::elu), layers::Activation(nn::selu),
        layers::Activation(nn::leaky_relu), layers::Activation(nn::sigmoid), layers::Activation(nn::tanh),
        layers::Activation(nn::softplus), layers::Activation(nn::relu6)}) {
    Graph g;
    train::GradientDescentOptimizer gd(0.01);
    build_dnn(g, gd, activation);
    SCOPED_TRACE(g.get_operations().size());
    expect_meta_is_tf(saved_meta(g));
  }
  // Dropout with a training tensor, l1 regularization, He initialization, clipped gradients.
  Graph g;
  auto X = placeholder(g, f32, {-1, 784}, "X");
  auto y = placeholder(g, i32, {-1}, "y");
  auto training = placeholder_with_default(g, Tensor(false), {}, "training");
  auto h = layers::dense(layers::dropout(X, 0.5, {.training = training}), 100,
                         {.activation = nn::relu,
                          .kernel_initializer = variance_scaling_initializer(),
                          .kernel_regularizer = layers::l1_regularizer(0.001),
                          .name = "hidden1"});
  auto logits = layers::dense(layers::dropout(h, 0.5, {.training = training}), 10, {.name = "outputs"});
  std::vector<Output> losses = {reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(y, logits))};
  for (const Output& r : layers::get_regularization_losses(g)) losses.push_back(r);
  auto loss = add_n(losses, "loss");
  train::GradientDescentOptimizer optimizer(0.01);
  std::vector<train::GradAndVar> capped;
  for (const auto& [grad, var] : optimizer.compute_gradients(loss))
    capped.push_back({clip_by_value(grad, -1.0, 1.0), var});
  optimizer.apply_gradients(capped);
  expect_meta_is_tf(saved_meta(g));
}

TEST(TfGraph, BatchNormalizationIsTensorFlows) {
  Graph g;
  auto X = placeholder(g, f32, {-1, 784}, "X");
  auto training = placeholder_with_default(g, Tensor(false), {}, "training");
  auto h = nn::elu(
      layers::batch_normalization(layers::dense(X, 100, {.name = "hidden1"}), {.training = training, .momentum = 0.9}));
  train::GradientDescentOptimizer(0.01).minimize(reduce_mean(h));
  expect_meta_is_tf(saved_meta(g));
}

// Ops whose TF definitions bound an attr other than `N >= 1`: Squeeze's squeeze_dims (a list,
// >= 0, from moments), ConcatV2's N >= 2, Unpack's num >= 0.
TEST(TfGraph, AttrMinimumsAreTensorFlows) {
  Graph g;
  auto x = placeholder(g, f32, {-1, 3}, "x");
  auto w = get_variable(g, "w", {.shape = Shape{3}, .dtype = f32, .initializer = ones_initializer()});
  auto [mean, variance] = nn::moments(x * Output(w), {0});
  auto parts = unstack(concat({mean, variance}, 0), 0);
  reduce_sum(concat({reshape(parts[0], {1}), reshape(parts[5], {1})}, 0), {}, "total");
  expect_meta_is_tf(saved_meta(g));
}

// A TF graph imported and exported again: the nodes as TF wrote them, the stripped_op_list
// rebuilt from flowgraph's definitions.
void expect_reexport_is_tf(const char* dir, const char* file) {
  const fs::path p = fixture_dir(dir) / file;
  if (!fs::exists(p)) GTEST_SKIP() << "no fixture " << p;
  Graph g;
  std::optional<train::Saver> saver = train::import_meta_graph(g, p.string());
  ASSERT_TRUE(saver.has_value());
  expect_meta_is_tf(train::to_meta_graph_def(g, {.saver_def = saver->saver_def()}));
}

TEST(TfGraph, ImportedTensorFlowGraphExportsAsTensorFlows) {
  expect_reexport_is_tf("tf1-mnist-mlp", "my_model_final.ckpt.meta");
}

TEST(TfGraph, ImportedCondGraphExportsAsTensorFlows) {
  expect_reexport_is_tf("tf1-bn-cond", "mini_project_final.ckpt.meta");
}

// The graphs above by TF 1.10's definitions alone: what a flowgraph graph uses that TF 1.10
// lacks. Only these known differences are allowed; each is a reason TF 1.10 cannot load a file.
TEST(TfGraph, WhatTensorFlow110CannotLoadIsKnown) {
  // LeakyRelu(Grad): TF 1.12+; ApplyAdagrad's update_slots: a later 1.x attr. (`+` and add()
  // write Add, which TF 1.10 has, not AddV2.)
  const std::vector<const char*> known = {"'LeakyRelu'", "'LeakyReluGrad'", "'update_slots'"};
  std::set<std::string> seen;
  auto check = [&](const tensorflow::MetaGraphDef& meta) {
    auto v = tf_graph_violations(meta.graph_def(), TfOpDefs::tf1_10());
    for (auto& s : tf_stripped_op_list_violations(meta, TfOpDefs::tf1_10())) v.push_back(s);
    for (const auto& s : v) {
      const auto it =
          std::find_if(known.begin(), known.end(), [&](const char* k) { return s.find(k) != std::string::npos; });
      EXPECT_NE(it, known.end()) << s;
      if (it != known.end()) seen.insert(*it);
    }
  };
  Graph g;
  train::AdagradOptimizer adagrad(0.01);
  build_dnn(g, adagrad, layers::Activation(nn::leaky_relu));
  check(saved_meta(g));
  Graph cast_graph;
  auto x = placeholder(cast_graph, f32, {2}, "x");
  reduce_sum(cast(x + x, f64));
  check(train::to_meta_graph_def(cast_graph));
  for (const char* k : known) EXPECT_TRUE(seen.count(k)) << "no " << k << " any more: drop it from `known`";
}

// ---- the example programs: run with --epochs 0, they write their graphs' .meta files.

std::string example(const char* name) { return std::string(FG_BINARY_DIR) + "/" + name; }

// Runs `cmd`, returns its exit status; its output goes to `log`.
int run(const std::string& cmd, const fs::path& log) {
  return std::system((cmd + " > '" + log.string() + "' 2>&1").c_str());
}

// Every .meta file under `dir`, checked.
int check_metas_in(const fs::path& dir) {
  int n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.path().extension() != ".meta") continue;
    SCOPED_TRACE(e.path().filename().string());
    expect_meta_is_tf(train::read_meta_graph_file(e.path().string()));
    ++n;
  }
  return n;
}

struct ExampleRun {
  const char* program;
  std::string args;
};

void expect_examples_write_tf_graphs(const std::vector<ExampleRun>& runs) {
  const std::string data = mnist_dir();
  if (data.empty()) GTEST_SKIP() << "MNIST not installed";
  for (const ExampleRun& r : runs) {
    SCOPED_TRACE(std::string(r.program) + " " + r.args);
    if (!fs::exists(example(r.program))) GTEST_SKIP() << "examples not built";
    TempDir dir;
    // "{dir}" in the arguments stands for the run's own directory.
    std::string args = r.args;
    if (const size_t at = args.find("{dir}"); at != std::string::npos) args.replace(at, 5, "'" + dir.path().string() + "'");
    const std::string cmd = example(r.program) + " --epochs 0 --data '" + data + "' --export-meta '" +
                            (dir.path() / "graph.meta").string() + "' " + args;
    ASSERT_EQ(run(cmd, dir.path() / "log"), 0) << cmd << "\n" << slurp(dir.path() / "log");
    EXPECT_GE(check_metas_in(dir.path()), 1) << cmd << " wrote no .meta";
  }
}

TEST(TfGraph, ExampleProgramsGraphsAreTensorFlows) {
  expect_examples_write_tf_graphs({
      {"train_dnn", ""},
      {"dropout", ""},
      {"he_elu_leaky", ""},
      {"l1_manual", ""},
      {"l1_regularizer", ""},
      {"optimizers", ""},
      {"assign_external", ""},
  });
}

TEST(TfGraph, ReuseExampleProgramsSavedGraphsAreTensorFlows) {
  const std::string data = mnist_dir();
  if (data.empty()) GTEST_SKIP() << "MNIST not installed";
  for (const char* program : {"reuse_layers", "freeze_layers", "cache_frozen", "stop_gradient"}) {
    SCOPED_TRACE(program);
    if (!fs::exists(example(program))) GTEST_SKIP() << "examples not built";
    TempDir dir;
    const std::string cmd =
        example(program) + " --epochs 0 --pretrain-epochs 0 --data '" + data + "' --dir '" + dir.path().string() + "'";
    ASSERT_EQ(run(cmd, dir.path() / "log"), 0) << cmd << "\n" << slurp(dir.path() / "log");
    EXPECT_GE(check_metas_in(dir.path()), 1) << cmd << " wrote no .meta";
  }
}

TEST(TfGraph, BatchNormExampleGraphsAreTensorFlows) {
  expect_examples_write_tf_graphs(
      {{"batch_norm", ""}, {"batch_norm", "--control-deps"}, {"gradient_clipping", ""}, {"meta_graph", "--dir {dir}"}});
}

}  // namespace
}  // namespace fg::testing
