// SavedModel: saved_model::save writes TF's layout (saved_model.pb with one MetaGraphDef, tags and
// signatures; variables/variables.{index,data-00000-of-00001}); a fresh process loads it and runs
// serving_default by its keys, getting the saving session's outputs bit for bit.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "graph/graph_io.h"
#include "ops/state.h"
#include "saved_model/saved_model.h"
#include "tests/seed_models.h"
#include "tests/test_util.h"
#include "ops/tensor_bundle.h"

namespace fg::saved_model {
namespace {

namespace fs = std::filesystem;
using testing::slurp;
using testing::spit;
using testing::TempDir;

std::string bytes_of(const Tensor& t) { return std::string(static_cast<const char*>(t.raw_data()), t.num_bytes()); }

std::set<std::string> files_under(const std::string& dir) {
  std::set<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    files.insert(fs::relative(e.path(), dir).string() + (e.is_directory() ? "/" : ""));
  return files;
}

// Saves the seed's batch-norm MLP after a few training steps, with X -> logits as serving_default.
struct SavedMlp {
  Tensor x, logits;
};

SavedMlp save_mlp(const std::string& export_dir) {
  Graph g;
  const auto m = testing::build_batch_norm_mlp(g);
  Session sess(g);
  testing::train_steps(sess, m, 3);
  SavedMlp r;
  r.x = testing::random_batch(64, 784, 11).first;
  r.logits = sess.run({{m.X, r.x}}, m.logits);
  save(sess, export_dir,
       {.tags = {kServe},
        .signatures = {{kDefaultServingSignatureDefKey,
                        predict_signature_def({{"X", m.X}}, {{"logits", m.logits}, {"probabilities", nn::softmax(m.logits)}})}}});
  return r;
}

TEST(SavedModel, LayoutIsTensorFlows) {
  TempDir dir;
  const std::string export_dir = dir / "export/1";
  save_mlp(export_dir);
  EXPECT_EQ(files_under(export_dir), (std::set<std::string>{"saved_model.pb", "variables/", "variables/variables.index",
                                                             "variables/variables.data-00000-of-00001"}));
  EXPECT_EQ(files_under(dir / "export"), (std::set<std::string>{"1/", "1/saved_model.pb", "1/variables/",
                                                                  "1/variables/variables.index",
                                                                  "1/variables/variables.data-00000-of-00001"}));
  EXPECT_TRUE(maybe_saved_model_directory(export_dir));
  const tensorflow::SavedModel sm = read_saved_model(export_dir);
  EXPECT_EQ(sm.saved_model_schema_version(), 1);
  ASSERT_EQ(sm.meta_graphs_size(), 1);
  const auto& meta = sm.meta_graphs(0);
  ASSERT_EQ(meta.meta_info_def().tags_size(), 1);
  EXPECT_EQ(meta.meta_info_def().tags(0), "serve");
  ASSERT_EQ(meta.signature_def().count("serving_default"), 1u);
  const auto& sig = meta.signature_def().at("serving_default");
  EXPECT_EQ(sig.method_name(), "tensorflow/serving/predict");
  ASSERT_EQ(sig.inputs().count("X"), 1u);
  const auto& in = sig.inputs().at("X");
  EXPECT_EQ(in.name(), "X:0");
  EXPECT_EQ(in.dtype(), tensorflow::DT_FLOAT);
  ASSERT_EQ(in.tensor_shape().dim_size(), 2);
  EXPECT_EQ(in.tensor_shape().dim(0).size(), -1);
  EXPECT_EQ(in.tensor_shape().dim(1).size(), 784);
  ASSERT_EQ(sig.outputs().size(), 2u);
  EXPECT_EQ(sig.outputs().at("logits").tensor_shape().dim(1).size(), 10);
  // The saver TF's loader runs, and a checkpoint with every variable.
  EXPECT_FALSE(meta.saver_def().restore_op_name().empty());
  EXPECT_FALSE(meta.saver_def().filename_tensor_name().empty());
  train::BundleReader reader(export_dir + "/variables/variables");
  EXPECT_EQ(reader.keys().size(), 18u);
  EXPECT_TRUE(reader.contains("hidden1/kernel"));
  EXPECT_TRUE(reader.contains("batch_normalization/moving_mean"));
  // The graph holds the nodes the signature names.
  bool has_x = false;
  for (const auto& n : meta.graph_def().node()) has_x = has_x || n.name() == "X";
  EXPECT_TRUE(has_x);
}

// The child half of FreshProcessRunsServingDefault: loads the export named in the environment and
// writes what serving_default gives for the saved input. Skipped unless the parent runs it.
TEST(SavedModel, ChildLoadsAndRuns) {
  const char* dir = std::getenv("FG_SAVED_MODEL_CHILD_DIR");
  if (!dir) GTEST_SKIP() << "run by SavedModel.FreshProcessRunsServingDefault";
  const std::string export_dir = std::string(dir) + "/export";
  const std::string input = slurp(std::string(dir) + "/input.f32");
  ASSERT_EQ(input.size(), 64u * 784 * 4);
  Tensor x(f32, {64, 784});
  std::memcpy(x.raw_data(), input.data(), input.size());
  auto bundle = load_saved_model(export_dir, {kServe});
  const auto out = run_signature(*bundle, kDefaultServingSignatureDefKey, {{"X", x}});
  ASSERT_EQ(out.size(), 2u);
  ASSERT_EQ(out.at("logits").shape(), (Shape{64, 10}));
  std::ofstream(std::string(dir) + "/logits.child", std::ios::binary) << bytes_of(out.at("logits"));
  // Only the requested key.
  const auto only = run_signature(*bundle, kDefaultServingSignatureDefKey, {{"X", x}}, {"probabilities"});
  ASSERT_EQ(only.size(), 1u);
  EXPECT_EQ(only.count("probabilities"), 1u);
}

TEST(SavedModel, FreshProcessRunsServingDefault) {
  TempDir dir;
  const SavedMlp saved = save_mlp(dir / "export");
  std::ofstream(dir / "input.f32", std::ios::binary) << bytes_of(saved.x);
  ASSERT_TRUE(testing::run_test_in_child("FG_SAVED_MODEL_CHILD_DIR='" + dir.str() + "'", "SavedModel.ChildLoadsAndRuns"));
  ASSERT_TRUE(fs::exists(dir / "logits.child")) << "the child did not run";
  EXPECT_EQ(slurp(dir / "logits.child"), bytes_of(saved.logits));
}

TEST(SavedModel, LoadIntoASessionTheTF1Way) {
  TempDir dir;
  const SavedMlp saved = save_mlp(dir / "export");
  Graph g;
  Session sess(g);
  const tensorflow::MetaGraphDef meta = load(sess, {"serve"}, dir / "export");
  const auto& sig = meta.signature_def().at("serving_default");
  Tensor logits = sess.run({{g.get_tensor_by_name(sig.inputs().at("X").name()), saved.x}},
                           g.get_tensor_by_name(sig.outputs().at("logits").name()));
  EXPECT_EQ(bytes_of(logits), bytes_of(saved.logits));
  // Running a signature with bad keys or dtypes names them.
  testing::expect_error([&] { run_signature(sess, sig, {{"x", saved.x}}); }, Code::kInvalidArgument,
                             {"no input 'x'", "'X'"});
  testing::expect_error([&] { run_signature(sess, sig, {}); }, Code::kInvalidArgument, {"input 'X'", "not given"});
  testing::expect_error([&] { run_signature(sess, sig, {{"X", Tensor(f64, {1, 784})}}); },
                             Code::kInvalidArgument, {"'X'", "DT_FLOAT"});
  testing::expect_error([&] { run_signature(sess, sig, {{"X", saved.x}}, {"nope"}); }, Code::kInvalidArgument,
                             {"no output 'nope'", "'logits'"});
}

TEST(SavedModel, ErrorsLeaveNoHalfExport) {
  TempDir dir;
  save_mlp(dir / "export");
  // An existing directory is not overwritten (even an empty one).
  testing::expect_error([&] { save_mlp(dir / "export"); }, Code::kAlreadyExists, {"already exists"});
  fs::create_directories(dir / "empty");
  testing::expect_error([&] { save_mlp(dir / "empty"); }, Code::kAlreadyExists, {"already exists"});
  // A signature naming a tensor the graph does not have.
  Graph g;
  auto x = placeholder(g, f32, {2}, "x");
  auto v = variable(constant(g, Tensor::from_vector<float>({1, 2})), {.name = "v"});
  auto y = x * v.value();
  Session sess(g);
  sess.run(global_variables_initializer(g));
  tensorflow::SignatureDef sig = predict_signature_def({{"x", x}}, {{"y", y}});
  (*sig.mutable_outputs())["y"].set_name("missing:0");
  testing::expect_error([&] { save(sess, dir / "bad", {.tags = {kServe}, .signatures = {{"s", sig}}}); },
                             Code::kInvalidArgument, {"'s'", "missing:0"});
  EXPECT_FALSE(fs::exists(dir / "bad"));
  // Uninitialized variables: FailedPrecondition, and nothing left beside the export either.
  Graph g2;
  variable(constant(g2, Tensor::from_vector<float>({1, 2})), {.name = "w"});
  Session sess2(g2);
  EXPECT_THROW(save(sess2, dir / "uninit", {.tags = {kServe}}), FailedPrecondition);
  EXPECT_EQ(files_under(dir.str()).count("uninit/"), 0u);
  for (const auto& f : files_under(dir.str())) EXPECT_EQ(f.find(".saving-"), std::string::npos) << f;

  // Loading: tags must match exactly; missing and corrupt files are named.
  Graph g3;
  Session sess3(g3);
  testing::expect_error([&] { load(sess3, {"serve", "gpu"}, dir / "export"); }, Code::kNotFound,
                             {"{gpu, serve}", "{serve}"});
  testing::expect_error([&] { load(sess3, {"serve"}, dir / "nowhere"); }, Code::kNotFound,
                             {"nowhere/saved_model.pb"});
  std::ofstream(dir / "export/saved_model.pb", std::ios::binary | std::ios::trunc) << "\xff\xff";
  testing::expect_error([&] { load(sess3, {"serve"}, dir / "export"); }, Code::kDataLoss, {"saved_model.pb"});
}

// tools/freeze_graph --input_saved_model_dir: the SavedModel's graph and variables, frozen.
TEST(SavedModel, FreezeGraphReadsASavedModel) {
  if (!fs::exists(std::string(FG_BINARY_DIR) + "/freeze_graph")) GTEST_SKIP() << "tools not built";
  TempDir dir;
  const SavedMlp saved = save_mlp(dir / "export");
  const auto sm = read_saved_model(dir / "export");
  const std::string logits = sm.meta_graphs(0).signature_def().at("serving_default").outputs().at("logits").name();
  const std::string node = logits.substr(0, logits.rfind(':'));
  const auto r = testing::run_built_program("freeze_graph", "--input_saved_model_dir=" + dir / "export" +
                                                                " --saved_model_tags=serve --output_node_names=" + node +
                                                                " --output_graph=" + dir / "frozen.pb");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  tensorflow::GraphDef frozen;
  ASSERT_TRUE(frozen.ParseFromString(slurp(dir / "frozen.pb")));
  for (const auto& n : frozen.node()) EXPECT_NE(n.op(), "VariableV2") << n.name();
  Graph g;
  import_graph_def(g, frozen, {.prefix = ""});
  Session sess(g);
  EXPECT_EQ(bytes_of(sess.run({{g.get_tensor_by_name("X:0"), saved.x}}, g.get_tensor_by_name(logits))),
            bytes_of(saved.logits));
}

TEST(SavedModel, SimpleSaveAndMainOp) {
  TempDir dir;
  Graph g;
  auto x = placeholder(g, f32, {2}, "x");
  auto v = variable(constant(g, Tensor::from_vector<float>({1, 2})), {.name = "v"});
  auto y = identity(x * v.value(), "y");
  Session sess(g);
  sess.run(global_variables_initializer(g));
  simple_save(sess, dir / "simple", {{"x", x}}, {{"y", y}});
  auto bundle = load_saved_model(dir / "simple", {kServe});
  const auto out = run_signature(*bundle, kDefaultServingSignatureDefKey, {{"x", Tensor::from_vector<float>({3, 4})}});
  EXPECT_EQ(out.at("y").to_vector<float>(), (std::vector<float>{3, 8}));

  // A main op runs after the restore: here it sets v to 10, 20.
  Graph g2;
  auto x2 = placeholder(g2, f32, {2}, "x");
  auto v2 = variable(constant(g2, Tensor::from_vector<float>({1, 2})), {.name = "v"});
  auto y2 = identity(x2 * v2.value(), "y");
  Operation* main_op = assign(v2, constant(g2, Tensor::from_vector<float>({10, 20}))).op();
  Session s2(g2);
  s2.run(global_variables_initializer(g2));
  save(s2, dir / "main_op", {.tags = {kServe, kTrain},
                             .signatures = {{kDefaultServingSignatureDefKey, predict_signature_def({{"x", x2}}, {{"y", y2}})}},
                             .main_op = main_op});
  auto b2 = load_saved_model(dir / "main_op", {kTrain, kServe});
  EXPECT_EQ(run_signature(*b2, kDefaultServingSignatureDefKey, {{"x", Tensor::from_vector<float>({1, 1})}}).at("y")
                .to_vector<float>(),
            (std::vector<float>{10, 20}));
}

}  // namespace
}  // namespace fg::saved_model
