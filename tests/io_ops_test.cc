// The saver subgraph's ops run: SaveV2, RestoreV2, MergeV2Checkpoints, ShardedFilename(spec),
// StringJoin and Pack of strings, with TF's attrs and semantics; a Saver's SaverDef names work
// as in TF (feed save/Const:0, fetch save/control_dependency:0 or run save/restore_all), and a
// sharded saver graph as TF builds one saves and restores.
#include <gtest/gtest.h>

#include <filesystem>

#include "flowgraph.h"
#include "graph/op_registry.h"
#include "ops/checkpoint_files.h"
#include "tests/test_util.h"

namespace fg {
namespace {

namespace fs = std::filesystem;
using testing::expect_error;
using testing::slurp;
using testing::TempDir;

Output strings(Graph& g, const std::vector<std::string>& v, const std::string& name = "") {
  return constant(g, Tensor::from_vector(v), name);
}

TEST(IoOps, SaveV2ThenRestoreV2EveryDtype) {
  TempDir dir;
  Graph g;
  Output prefix = placeholder(g, string_dtype, {}, "prefix");
  const std::vector<Tensor> values = {Tensor::from_vector<float>({1.5f, -2}, {2, 1}), Tensor(int64_t{9}),
                                      Tensor::from_vector<std::string>({"a", "bc"}), Tensor(true)};
  std::vector<Output> tensors;
  for (const Tensor& v : values) tensors.push_back(constant(g, v));
  Output names = strings(g, {"w", "step", "words", "flag"}, "names");
  Output slices = strings(g, {"", "", "", ""}, "slices");
  Operation* save = save_v2(prefix, names, slices, tensors);
  EXPECT_EQ(save->type(), "SaveV2");
  EXPECT_EQ(save->attr<std::vector<DType>>("dtypes"), (std::vector<DType>{f32, i64, string_dtype, boolean}));
  const std::vector<Output> back = restore_v2(prefix, names, slices, {f32, i64, string_dtype, boolean});
  ASSERT_EQ(back.size(), 4u);
  EXPECT_FALSE(back[0].shape().known_rank());  // read from the file
  EXPECT_EQ(back[2].dtype(), string_dtype);

  Session sess(g);
  const std::string path = dir / "sub/ckpt";  // directories are created
  sess.run({{prefix, path}}, {}, {save});
  const train::BundleReader r(path);
  EXPECT_EQ(r.keys(), (std::vector<std::string>{"flag", "step", "w", "words"}));
  const auto got = sess.run({{prefix, path}}, back);
  for (size_t i = 0; i < values.size(); ++i) EXPECT_TRUE(got[i].equals(values[i])) << i;
  // No temporaries are left.
  for (const auto& f : fs::directory_iterator(dir.path() / "sub"))
    EXPECT_EQ(f.path().string().find("tempstate"), std::string::npos) << f.path();
}

TEST(IoOps, SaveV2AndRestoreV2ErrorsAreTensorFlows) {
  TempDir dir;
  Graph g;
  Output prefix = placeholder(g, string_dtype, {}, "prefix");
  Output v = constant(g, Tensor(2.f), "v");
  Operation* save = save_v2(prefix, strings(g, {"v"}), strings(g, {""}), {v}, "save");
  Session sess(g);
  sess.run({{prefix, dir / "ok"}}, {}, {save});

  Output p2 = placeholder(g, string_dtype, {}, "p2");
  Output names = placeholder(g, string_dtype, {-1}, "names");
  Output slices = placeholder(g, string_dtype, {-1}, "slices");
  const auto restore = [&](const std::vector<std::string>& n, const std::vector<std::string>& s, DType t) {
    auto out = restore_v2(p2, names, slices, {t});
    return sess.run({{p2, dir / "ok"}, {names, Tensor::from_vector(n)}, {slices, Tensor::from_vector(s)}}, out[0]);
  };
  EXPECT_EQ(restore({"v"}, {""}, f32).scalar<float>(), 2.f);
  expect_error([&] { restore({"w"}, {""}, f32); }, Code::kNotFound, {"Key w not found in checkpoint", "ok"});
  expect_error([&] { restore({"v"}, {""}, i32); }, Code::kInvalidArgument,
               {"Expected to restore a tensor of type int32, got a tensor of type float32 instead: tensor_name = v"});
  expect_error([&] { restore({"v"}, {"2 0,1"}, f32); }, Code::kUnimplemented, {"'v'", "shape_and_slice '2 0,1'"});
  expect_error([&] { restore({"v", "v"}, {"", ""}, f32); }, Code::kInvalidArgument, {"Got 2 tensor names but 1 tensors"});
  expect_error([&] { restore({"v"}, {"", ""}, f32); }, Code::kInvalidArgument, {"different number of elements: 1 vs. 2"});
  expect_error([&] { sess.run({{p2, dir / "nothing_here"}, {names, Tensor::from_vector<std::string>({"v"})},
                               {slices, Tensor::from_vector<std::string>({""})}},
                              restore_v2(p2, names, slices, {f32})[0]); },
               Code::kNotFound, {"nothing_here"});
  // Static shapes are checked when the graph is built; a prefix must be a scalar at run time.
  expect_error([&] { save_v2(prefix, strings(g, {"a", "b"}), strings(g, {"", ""}), {v}); }, Code::kInvalidArgument,
               {"tensor_names has 2 elements for 1 tensors"});
  Output many = placeholder(g, string_dtype, Shape::unknown(), "many");
  Operation* bad = save_v2(many, strings(g, {"v"}), strings(g, {""}), {v});
  expect_error([&] { sess.run({{many, Tensor::from_vector<std::string>({"a", "b"})}}, {}, {bad}); },
               Code::kInvalidArgument, {"Input prefix should have a single element, got 2 instead."});
  EXPECT_NO_THROW(save_v2(prefix, strings(g, {"f"}), strings(g, {""}), {constant(g, Tensor(1.0))}));
}

TEST(IoOps, ShardedFilenameFilespecAndStringJoin) {
  Graph g;
  Output base = constant(g, Tensor("/tmp/m_temp_1/part"), "base");
  EXPECT_EQ(testing::eval(sharded_filename(base, constant(g, Tensor(3)), constant(g, Tensor(12))))
                .scalar<std::string>(),
            "/tmp/m_temp_1/part-00003-of-00012");
  EXPECT_EQ(testing::eval(sharded_filespec(base, constant(g, Tensor(2)))).scalar<std::string>(),
            "/tmp/m_temp_1/part-?????" "-of-00002");  // split: "??-" is a trigraph
  expect_error([&] { sharded_filename(base, constant(g, Tensor(1.f)), constant(g, Tensor(1))); },
               Code::kInvalidArgument, {"ShardedFilename", "shard", "int32"});

  // Scalars broadcast over the one shape of the other inputs.
  Output words = strings(g, {"a", "bb", "", "d"}, "words");
  Output join = string_join({constant(g, Tensor("<")), reshape(words, {2, 2}), constant(g, Tensor(">"))}, "|");
  EXPECT_EQ(join.shape(), (Shape{2, 2}));
  const Tensor joined = testing::eval(join);
  EXPECT_EQ(joined.shape(), (Shape{2, 2}));
  EXPECT_EQ(joined.to_vector<std::string>(), (std::vector<std::string>{"<|a|>", "<|bb|>", "<||>", "<|d|>"}));
  EXPECT_EQ(testing::eval(string_join({words, words})).to_vector<std::string>(),
            (std::vector<std::string>{"aa", "bbbb", "", "dd"}));
  EXPECT_EQ(join.op()->attr<std::string>("separator"), "|");
  EXPECT_EQ(join.op()->attr<int64_t>("N"), 3);
  expect_error([&] { string_join({words, strings(g, {"x", "y"})}); }, Code::kInvalidArgument, {"StringJoin"});
  Output ph = placeholder(g, string_dtype, {-1}, "ph");
  expect_error([&] { testing::eval(string_join({words, ph}), {{ph, Tensor::from_vector<std::string>({"x"})}}); },
               Code::kInvalidArgument, {"Input shapes do not match: [4] vs. [1]"});
  expect_error([&] { string_join({constant(g, Tensor(1.f))}); }, Code::kInvalidArgument, {"StringJoin"});
  // Pack takes strings (a sharded saver packs its shards' names).
  const Tensor packed = testing::eval(stack({reshape(words, {2, 2}), reshape(words, {2, 2})}, 1));
  EXPECT_EQ(packed.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(packed.to_vector<std::string>(), (std::vector<std::string>{"a", "bb", "a", "bb", "", "d", "", "d"}));
}

// X [?,3] -> dense(2), with a Saver: its SaverDef's tensors are run the way TF's Python Saver
// runs them.
struct Model {
  Graph g;
  Output X, out;
  std::vector<Variable> vars;
  Operation* init = nullptr;
  Model() {
    X = placeholder(g, f32, {-1, 3}, "X");
    auto scope = g.variable_scope("layer");
    Variable kernel = get_variable(g, "kernel", {.shape = Shape{3, 2}});
    Variable bias = get_variable(g, "bias", {.shape = Shape{2}, .initializer = constant_initializer(0.25)});
    vars = {kernel, bias};
    out = matmul(X, kernel) + bias;
    init = global_variables_initializer(g);
  }
};

TEST(IoOps, SaverDefTensorsSaveAndRestoreAsInTensorFlow) {
  TempDir dir;
  Model m;
  train::Saver saver(m.g);
  const auto& def = saver.saver_def();
  const Output filename = m.g.get_tensor_by_name(def.filename_tensor_name());
  const Output save_tensor = m.g.get_tensor_by_name(def.save_tensor_name());
  Operation* restore_op = m.g.get_operation_by_name(def.restore_op_name());
  Session sess(m.g);
  sess.run(m.init);
  // TF's Saver.save: sess.run(save_tensor, {filename: path}); the value is the path.
  const std::string by_graph = dir / "by_graph";
  EXPECT_EQ(sess.run({{filename, by_graph}}, save_tensor).scalar<std::string>(), by_graph);
  // The same files train::Saver writes, byte for byte.
  const std::string by_saver = saver.save(sess, dir / "by_saver", {.write_meta_graph = false, .write_state = false});
  EXPECT_EQ(slurp(by_graph + ".index"), slurp(by_saver + ".index"));
  EXPECT_EQ(slurp(by_graph + ".data-00000-of-00001"), slurp(by_saver + ".data-00000-of-00001"));
  // TF's Saver.restore: sess.run(restore_op, {filename: path}).
  const Tensor before = sess.run({{m.X, Tensor::from_vector<float>({1, 2, 3}, {1, 3})}}, m.out);
  Session fresh(m.g);
  fresh.run({{filename, by_graph}}, {}, {restore_op});
  for (const Variable& v : m.vars) EXPECT_TRUE(fresh.variable_value(v.op).equals(sess.variable_value(v.op)));
  EXPECT_TRUE(fresh.run({{m.X, Tensor::from_vector<float>({1, 2, 3}, {1, 3})}}, m.out).equals(before));
  // And train::Saver reads what the graph wrote.
  Session third(m.g);
  saver.restore(third, by_graph);
  for (const Variable& v : m.vars) EXPECT_TRUE(third.variable_value(v.op).equals(sess.variable_value(v.op)));

  // An uninitialized variable fails the graph's save before anything is written.
  Session empty(m.g);
  expect_error([&] { empty.run({{filename, dir / "never"}}, save_tensor); }, Code::kFailedPrecondition,
               {"uninitialized"});
  EXPECT_FALSE(fs::exists(dir / "never.index"));
}

// A meta-graph written by flowgraph and imported again: its saver ops still run.
TEST(IoOps, ImportedSaverGraphRunsItsOwnSaveAndRestore) {
  TempDir dir;
  Model m;
  train::Saver saver(m.g);
  Session sess(m.g);
  sess.run(m.init);
  const std::string path = saver.save(sess, dir / "model");
  Graph g;
  std::optional<train::Saver> imported = train::import_meta_graph(g, path + ".meta");
  ASSERT_TRUE(imported);
  const auto& def = imported->saver_def();
  Session s2(g);
  s2.run({{g.get_tensor_by_name(def.filename_tensor_name()), path}}, {}, {g.get_operation_by_name(def.restore_op_name())});
  for (const Variable& v : m.vars)
    EXPECT_TRUE(s2.variable_value(g.get_operation_by_name(v.name())).equals(sess.variable_value(v.op))) << v.name();
  const std::string again = dir / "again";
  s2.run({{g.get_tensor_by_name(def.filename_tensor_name()), again}}, g.get_tensor_by_name(def.save_tensor_name()));
  EXPECT_EQ(slurp(again + ".data-00000-of-00001"), slurp(path + ".data-00000-of-00001"));
  EXPECT_EQ(slurp(again + ".index"), slurp(path + ".index"));
}

// TF's sharded Saver graph (sharded=True): each shard saves to <prefix>_temp_<id>/part-0000k-of-N,
// MergeV2Checkpoints packs the names and merges them into <prefix>, deleting the temporary
// directory; the restore reads <prefix>.
TEST(IoOps, ShardedSaverGraphSavesMergesAndRestores) {
  TempDir dir;
  Model m;
  Graph& g = m.g;
  Output prefix, save_tensor;
  Operation* restore_all = nullptr;
  {
    auto no_deps = g.control_dependencies({});
    auto scope = g.name_scope("save");
    prefix = constant(g, Tensor("model"), "Const");
    Output tmp = string_join({prefix, constant(g, Tensor("_temp_0123/part"), "StringJoin/inputs_1")}, "", "StringJoin");
    Output num_shards = constant(g, Tensor(2), "num_shards");
    std::vector<Output> shard_names;
    std::vector<Operation*> saves;
    for (int shard = 0; shard < 2; ++shard) {
      const Variable& v = m.vars[shard];
      Output file = sharded_filename(tmp, constant(g, Tensor(shard), "ShardedFilename/shard"), num_shards,
                                     "ShardedFilename");
      Operation* save = save_v2(file, strings(g, {v.name()}, "SaveV2/tensor_names"),
                                strings(g, {""}, "SaveV2/shape_and_slices"), {v.ref()}, "SaveV2");
      shard_names.push_back(OpBuilder(g, "Identity", "control_dependency").input(file).control_input(save)
                                .build_output());
      saves.push_back(save);
    }
    Operation* merge = nullptr;
    {
      auto deps = g.control_dependencies({shard_names[0].op(), shard_names[1].op()});
      merge = merge_v2_checkpoints(stack(shard_names, 0, "MergeV2Checkpoints/checkpoint_prefixes"), prefix, true,
                                   "MergeV2Checkpoints");
    }
    {
      auto deps = g.control_dependencies({merge});
      save_tensor = identity(prefix, "Identity");
    }
    std::vector<Operation*> assigns;
    for (const Variable& v : m.vars) {
      Output value = restore_v2(prefix, strings(g, {v.name()}, "RestoreV2/tensor_names"),
                                strings(g, {""}, "RestoreV2/shape_and_slices"), {f32}, "RestoreV2")[0];
      assigns.push_back(assign(v, value).op());
    }
    Operation* shard = group(g, assigns, "restore_shard");
    restore_all = group(g, {shard}, "restore_all");
  }
  Session sess(g);
  sess.run(m.init);
  const std::string path = dir / "model.ckpt";
  EXPECT_EQ(sess.run({{prefix, path}}, save_tensor).scalar<std::string>(), path);
  // One checkpoint of two shards, the temporary directory gone.
  EXPECT_TRUE(fs::exists(path + ".index"));
  EXPECT_TRUE(fs::exists(path + ".data-00000-of-00002"));
  EXPECT_TRUE(fs::exists(path + ".data-00001-of-00002"));
  EXPECT_FALSE(fs::exists(path + "_temp_0123"));
  const train::BundleReader r(path);
  EXPECT_EQ(r.num_shards(), 2);
  EXPECT_EQ(r.entry("layer/kernel").shard_id(), 0);
  EXPECT_EQ(r.entry("layer/bias").shard_id(), 1);
  EXPECT_TRUE(r.read("layer/bias").equals(sess.variable_value(m.vars[1].op)));

  Session fresh(g);
  fresh.run({{prefix, path}}, {}, {restore_all});
  for (const Variable& v : m.vars) EXPECT_TRUE(fresh.variable_value(v.op).equals(sess.variable_value(v.op)));
  // train::Saver over this SaverDef finds the variables through restore_shard.
  tensorflow::SaverDef def;
  def.set_filename_tensor_name(prefix.name());
  def.set_save_tensor_name(save_tensor.name());
  def.set_restore_op_name(restore_all->name());
  def.set_sharded(true);
  train::Saver from_def = train::Saver::from_saver_def(g, def);
  EXPECT_EQ(from_def.variables().size(), 2u);
  Session third(g);
  from_def.restore(third, path);
  EXPECT_TRUE(third.variable_value(m.vars[0].op).equals(sess.variable_value(m.vars[0].op)));
}

TEST(IoOps, MergeV2CheckpointsRefusesATensorInTwoInputs) {
  TempDir dir;
  for (const char* p : {"a", "b"}) {
    train::BundleWriter w(dir / p);
    w.add("same", Tensor(1.f));
    w.finish();
  }
  Graph g;
  Operation* merge = merge_v2_checkpoints(strings(g, {dir / "a", dir / "b"}), constant(g, Tensor(dir / "m")));
  EXPECT_TRUE(merge->attr<bool>("delete_old_dirs"));
  expect_error([&] { Session(g).run(merge); }, Code::kInvalidArgument, {"tensor 'same'", "more than one"});
  // Nothing moved.
  EXPECT_TRUE(fs::exists(dir / "a.data-00000-of-00001"));
  EXPECT_TRUE(fs::exists(dir / "b.index"));
  EXPECT_FALSE(fs::exists(dir / "m.index"));
  // Merging into one of the inputs keeps it.
  {
    train::BundleWriter w(dir / "c");
    w.add("other", Tensor(2.f));
    w.finish();
  }
  Graph g2;
  Session(g2).run(merge_v2_checkpoints(strings(g2, {dir / "a", dir / "c"}), constant(g2, Tensor(dir / "a")), false));
  const train::BundleReader r(dir / "a");
  EXPECT_EQ(r.keys(), (std::vector<std::string>{"other", "same"}));
  EXPECT_EQ(r.read("other").scalar<float>(), 2.f);
  EXPECT_FALSE(fs::exists(dir / "c.index"));
}

}  // namespace
}  // namespace fg
