// train::Saver and meta-graphs written by flowgraph: round trips, naming, rotation, the
// `checkpoint` file, subsets, errors, TF's on-disk layout, and crash safety.
#include "train/saver.h"

#include <gtest/gtest.h>
#include <leveldb/env.h>
#include <leveldb/iterator.h>
#include <leveldb/options.h>
#include <leveldb/table.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

#include "graph/graph_io.h"
#include "graph/op_registry.h"
#include "graph/tensor_proto.h"
#include "ops/array.h"
#include "ops/initializers.h"
#include "ops/math.h"
#include "ops/state.h"
#include "proto/tensor_bundle.pb.h"
#include "proto/variable.pb.h"
#include "runtime/session.h"
#include "tests/test_util.h"
#include "ops/checkpoint_files.h"
#include "ops/crc32c.h"
#include "train/meta_graph.h"

namespace fg::train {
namespace {

namespace fs = std::filesystem;

using testing::TempDir;
using testing::expect_error;
using testing::slurp;
using testing::spit;

// X [?,3] -> dense(2) with variables "layer/kernel", "layer/bias", plus an int64 "step".
struct Model {
  Output X, out;
  Variable kernel, bias, step;
  Operation* init = nullptr;
};

Model build_model(Graph& g) {
  Model m;
  m.X = placeholder(g, f32, {-1, 3}, "X");
  {
    auto scope = g.variable_scope("layer");
    m.kernel = get_variable(g, "kernel", {.shape = Shape{3, 2}});
    m.bias = get_variable(g, "bias", {.shape = Shape{2}, .initializer = constant_initializer(0.25)});
  }
  m.step = variable(constant(g, Tensor(int64_t{7})), {.name = "step", .trainable = false});
  m.out = matmul(m.X, m.kernel) + m.bias;
  m.init = global_variables_initializer(g);
  return m;
}

Tensor input() { return Tensor::from_vector<float>({1, 2, 3, -1, 0, 1}, {2, 3}); }

TEST(Saver, SaveThenRestoreIntoAFreshSession) {
  TempDir dir;
  Graph g;
  Model m = build_model(g);
  Saver saver(g);
  EXPECT_EQ(saver.variables().size(), 3u);
  Session s1(g);
  s1.run(m.init);
  s1.set_variable_value(m.step.op, Tensor(int64_t{42}));
  const Tensor out1 = s1.run({{m.X, input()}}, m.out);
  const std::string path = saver.save(s1, dir / "model.ckpt");
  EXPECT_EQ(path, dir / "model.ckpt");
  for (const char* suffix : {".index", ".data-00000-of-00001", ".meta"})
    EXPECT_TRUE(fs::exists(path + suffix)) << suffix;
  EXPECT_TRUE(fs::exists(dir.path() / "checkpoint"));
  EXPECT_EQ(latest_checkpoint(dir.str()), path);

  Session s2(g);
  EXPECT_FALSE(s2.is_initialized(m.kernel.op));
  saver.restore(s2, path);
  for (const Variable& v : {m.kernel, m.bias, m.step})
    EXPECT_TRUE(s2.variable_value(v.op).equals(s1.variable_value(v.op))) << v.name();
  EXPECT_TRUE(s2.run({{m.X, input()}}, m.out).equals(out1));
  // The bundle's names are the variables' op names, sorted.
  BundleReader r(path);
  EXPECT_EQ(r.keys(), (std::vector<std::string>{"layer/bias", "layer/kernel", "step"}));
}

TEST(Saver, BuildsTensorFlowsSaveGraph) {
  Graph g;
  Model m = build_model(g);
  Saver saver(g, {.max_to_keep = 3});
  const auto& def = saver.saver_def();
  EXPECT_EQ(def.filename_tensor_name(), "save/Const:0");
  EXPECT_EQ(def.save_tensor_name(), "save/control_dependency:0");
  EXPECT_EQ(def.restore_op_name(), "save/restore_all");
  EXPECT_EQ(def.max_to_keep(), 3);
  EXPECT_EQ(def.keep_checkpoint_every_n_hours(), 10000.f);
  EXPECT_EQ(def.version(), tensorflow::SaverDef::V2);
  EXPECT_FALSE(def.sharded());
  // Every name the SaverDef uses is a node, wired as TF wires it.
  for (const char* name : {"save/Const:0", "save/control_dependency:0"}) EXPECT_TRUE(g.get_tensor_by_name(name));
  Operation* save = g.get_operation_by_name("save/SaveV2");
  ASSERT_EQ(save->num_inputs(), 6);
  EXPECT_EQ(save->input(1).op()->name(), "save/SaveV2/tensor_names");
  EXPECT_EQ(save->input(3).op(), m.bias.op);  // sorted: layer/bias, layer/kernel, step
  EXPECT_EQ(save->input(5).op(), m.step.op);
  EXPECT_EQ(save->attr<std::vector<DType>>("dtypes"), (std::vector<DType>{f32, f32, i64}));
  Operation* restore = g.get_operation_by_name("save/RestoreV2");
  ASSERT_EQ(restore->num_outputs(), 3);
  Operation* restore_all = g.get_operation_by_name("save/restore_all");
  ASSERT_EQ(restore_all->control_inputs().size(), 3u);
  Operation* assign2 = g.get_operation_by_name("save/Assign_2");
  EXPECT_EQ(assign2->input(0).op(), m.step.op);
  EXPECT_EQ(assign2->input(1), restore->output(2));
  // The nodes run: restoring from a prefix with no checkpoint names it.
  Session sess(g);
  expect_error([&] { sess.run({{g.get_tensor_by_name("save/Const:0"), "/nonexistent/model"}}, {}, {restore_all}); },
               Code::kNotFound, {"/nonexistent/model", "save/RestoreV2"});
  // A second saver gets its own scope.
  Saver second(std::vector<Variable>{m.kernel});
  EXPECT_EQ(second.saver_def().restore_op_name(), "save_1/restore_all");
  // The exported meta-graph parses as TF's: SaveV2 and RestoreV2 read their tensor names.
  const tensorflow::GraphDef gd = g.to_graph_def();
  for (const auto& n : gd.node())
    if (n.name() == "save/RestoreV2/tensor_names") {
      const auto& t = n.attr().at("value").tensor();
      EXPECT_EQ(t.dtype(), tensorflow::DT_STRING);
      ASSERT_EQ(t.string_val_size(), 3);
      EXPECT_EQ(t.string_val(1), "layer/kernel");
    }
}

TEST(Saver, GlobalStepNamingRotationAndStateFile) {
  TempDir dir;
  Graph g;
  Model m = build_model(g);
  Saver saver(g, {.max_to_keep = 2});
  Session sess(g);
  sess.run(m.init);
  for (int64_t step = 1; step <= 4; ++step) {
    sess.set_variable_value(m.step.op, Tensor(step));
    EXPECT_EQ(saver.save(sess, dir / "model.ckpt", {.global_step = step * 100}), dir / str_cat("model.ckpt-", step * 100));
  }
  for (int step : {100, 200}) {
    EXPECT_FALSE(checkpoint_exists(dir / str_cat("model.ckpt-", step))) << step;
    EXPECT_FALSE(fs::exists(dir / str_cat("model.ckpt-", step, ".meta"))) << step;
    EXPECT_FALSE(fs::exists(data_filename(dir / str_cat("model.ckpt-", step)))) << step;
  }
  for (int step : {300, 400}) {
    EXPECT_TRUE(checkpoint_exists(dir / str_cat("model.ckpt-", step))) << step;
    EXPECT_TRUE(fs::exists(dir / str_cat("model.ckpt-", step, ".meta"))) << step;
  }
  EXPECT_EQ(saver.last_checkpoints(), (std::vector<std::string>{dir / "model.ckpt-300", dir / "model.ckpt-400"}));
  const auto state = read_checkpoint_state(dir.str());
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->model_checkpoint_path(), dir / "model.ckpt-400");
  ASSERT_EQ(state->all_model_checkpoint_paths_size(), 2);
  EXPECT_EQ(state->all_model_checkpoint_paths(0), dir / "model.ckpt-300");
  EXPECT_EQ(latest_checkpoint(dir.str()), dir / "model.ckpt-400");

  Session fresh(g);
  saver.restore(fresh, latest_checkpoint(dir.str()));
  EXPECT_EQ(fresh.variable_value(m.step.op).scalar<int64_t>(), 4);
  // Saving the same path again does not count twice.
  saver.save(sess, dir / "model.ckpt", {.global_step = 400});
  EXPECT_EQ(saver.last_checkpoints().size(), 2u);
}

TEST(Saver, MaxToKeepZeroKeepsEverything) {
  TempDir dir;
  Graph g;
  Model m = build_model(g);
  Saver saver(g, {.max_to_keep = 0});
  Session sess(g);
  sess.run(m.init);
  for (int step = 0; step < 7; ++step) saver.save(sess, dir / "m", {.global_step = step, .write_meta_graph = false});
  for (int step = 0; step < 7; ++step) EXPECT_TRUE(checkpoint_exists(dir / str_cat("m-", step)));
  EXPECT_FALSE(fs::exists(dir / "m-0.meta"));
}

TEST(Saver, SubsetRestoresOnlyItsVariables) {
  TempDir dir;
  Graph g;
  Model m = build_model(g);
  Saver all(g);
  Session s1(g);
  s1.run(m.init);
  const std::string path = all.save(s1, dir / "all");

  Saver just_kernel(g.get_variables(GraphKeys::TRAINABLE_VARIABLES, "layer/k"));
  ASSERT_EQ(just_kernel.variables().size(), 1u);
  Session s2(g);
  just_kernel.restore(s2, path);
  EXPECT_TRUE(s2.variable_value(m.kernel.op).equals(s1.variable_value(m.kernel.op)));
  EXPECT_FALSE(s2.is_initialized(m.bias.op));
  expect_error([&] { s2.variable_value(m.bias.op); }, Code::kFailedPrecondition, {"layer/bias"});
  expect_error([&] { s2.run({{m.X, input()}}, m.out); }, Code::kFailedPrecondition, {"layer/bias"});

  // Saving a subset writes only those names.
  const std::string part = just_kernel.save(s2, dir / "part");
  EXPECT_EQ(BundleReader(part).keys(), (std::vector<std::string>{"layer/kernel"}));
}

TEST(Saver, NameMapChoosesCheckpointNames) {
  TempDir dir;
  Graph g;
  Model m = build_model(g);
  Session sess(g);
  sess.run(m.init);
  Saver renamed(std::map<std::string, Variable>{{"old_scope/weights", m.kernel}});
  const std::string path = renamed.save(sess, dir / "renamed");
  EXPECT_EQ(BundleReader(path).keys(), (std::vector<std::string>{"old_scope/weights"}));
  Session fresh(g);
  renamed.restore(fresh, path);
  EXPECT_TRUE(fresh.variable_value(m.kernel.op).equals(sess.variable_value(m.kernel.op)));
  expect_error([] { Saver none(std::vector<Variable>{}); }, Code::kInvalidArgument, {"no variables"});
  Graph empty;
  expect_error([&] { Saver none(empty); }, Code::kInvalidArgument, {"no variables"});
}

TEST(Saver, RestoreErrorsNameVariableAndFileAndChangeNothing) {
  TempDir dir;
  Graph g;
  Model m = build_model(g);
  Session sess(g);
  sess.run(m.init);
  Saver kernel_only(std::vector<Variable>{m.kernel});
  const std::string small = kernel_only.save(sess, dir / "small");

  // Missing name.
  Saver all(g);
  Session fresh(g);
  expect_error([&] { all.restore(fresh, small); }, Code::kNotFound, {"layer/bias", small});
  EXPECT_FALSE(fresh.is_initialized(m.kernel.op));  // all or nothing

  // Other shape, other dtype.
  Graph g2;
  Output x = placeholder(g2, f32, {-1, 4}, "X");
  (void)x;
  Variable wrong_shape = variable(constant(g2, Tensor(f32, {4, 2})), {.name = "layer/kernel"});
  Session s2(g2);
  expect_error([&] { Saver(std::vector<Variable>{wrong_shape}).restore(s2, small); }, Code::kInvalidArgument,
               {"layer/kernel", "[4,2]", "[3,2]", small});
  Graph g3;
  Variable wrong_dtype = variable(constant(g3, Tensor(f64, {3, 2})), {.name = "layer/kernel"});
  Session s3(g3);
  expect_error([&] { Saver(std::vector<Variable>{wrong_dtype}).restore(s3, small); }, Code::kInvalidArgument,
               {"layer/kernel", "float64", "float32", small});

  // Missing and corrupt files.
  expect_error([&] { all.restore(fresh, dir / "nope"); }, Code::kNotFound, {dir / "nope"});
  std::string data = slurp(data_filename(small));
  data[5] ^= 0x40;
  spit(data_filename(small), data);
  expect_error([&] { kernel_only.restore(fresh, small); }, Code::kDataLoss, {small});
  spit(index_filename(small), "garbage");
  expect_error([&] { kernel_only.restore(fresh, small); }, Code::kDataLoss, {small});
  EXPECT_FALSE(fresh.is_initialized(m.kernel.op));

  // Saving uninitialized variables fails before any file appears.
  expect_error([&] { all.save(fresh, dir / "uninit"); }, Code::kFailedPrecondition, {"layer/"});
  EXPECT_FALSE(fs::exists(index_filename(dir / "uninit")));
}

// The index as a third party reads it: LevelDB table, header under "", sorted keys, entries
// pointing at back-to-back bytes whose masked crc32c matches.
TEST(Saver, IndexFollowsTensorFlowsLayout) {
  TempDir dir;
  Graph g;
  Model m = build_model(g);
  Session sess(g);
  sess.run(m.init);
  const std::string path = Saver(g).save(sess, dir / "layout");

  leveldb::Env* env = leveldb::Env::Default();
  uint64_t size = 0;
  ASSERT_TRUE(env->GetFileSize(index_filename(path), &size).ok());
  leveldb::RandomAccessFile* file = nullptr;
  ASSERT_TRUE(env->NewRandomAccessFile(index_filename(path), &file).ok());
  std::unique_ptr<leveldb::RandomAccessFile> file_owner(file);
  leveldb::Table* table = nullptr;
  ASSERT_TRUE(leveldb::Table::Open(leveldb::Options(), file, size, &table).ok());
  std::unique_ptr<leveldb::Table> table_owner(table);
  std::unique_ptr<leveldb::Iterator> it(table->NewIterator(leveldb::ReadOptions()));
  std::vector<std::pair<std::string, std::string>> entries;
  for (it->SeekToFirst(); it->Valid(); it->Next()) entries.emplace_back(it->key().ToString(), it->value().ToString());
  ASSERT_EQ(entries.size(), 4u);

  EXPECT_EQ(entries[0].first, "");
  tensorflow::BundleHeaderProto header;
  ASSERT_TRUE(header.ParseFromString(entries[0].second));
  EXPECT_EQ(header.num_shards(), 1);
  EXPECT_EQ(header.endianness(), tensorflow::BundleHeaderProto::LITTLE);
  EXPECT_EQ(header.version().producer(), 1);

  const std::string data = slurp(data_filename(path));
  const std::vector<std::string> names = {"layer/bias", "layer/kernel", "step"};
  const std::vector<std::pair<tensorflow::DataType, Shape>> types = {
      {tensorflow::DT_FLOAT, Shape{2}}, {tensorflow::DT_FLOAT, Shape{3, 2}}, {tensorflow::DT_INT64, Shape{}}};
  int64_t offset = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    SCOPED_TRACE(names[i]);
    EXPECT_EQ(entries[i + 1].first, names[i]);
    tensorflow::BundleEntryProto e;
    ASSERT_TRUE(e.ParseFromString(entries[i + 1].second));
    EXPECT_EQ(e.dtype(), types[i].first);
    EXPECT_EQ(shape_from_proto(e.shape()), types[i].second);
    EXPECT_EQ(e.shard_id(), 0);
    EXPECT_EQ(e.offset(), offset);
    const Tensor v = sess.variable_value(g.get_operation_by_name(names[i]));
    EXPECT_EQ(e.size(), static_cast<int64_t>(v.num_bytes()));
    EXPECT_EQ(data.compare(e.offset(), e.size(), static_cast<const char*>(v.raw_data()), v.num_bytes()), 0);
    EXPECT_EQ(e.crc32c(), crc32c::mask(crc32c::value(data.data() + e.offset(), e.size())));
    offset += e.size();
  }
  EXPECT_EQ(offset, static_cast<int64_t>(data.size()));
}

TEST(Saver, MetaGraphItWritesRestoresTheModel) {
  TempDir dir;
  Tensor expected;
  std::string path;
  {
    Graph g;
    Model m = build_model(g);
    g.add_to_collection("my_important_ops", m.out);
    g.add_to_collection("my_important_ops", m.init);
    g.add_to_collection("numbers", int64_t{3});
    g.add_to_collection("rates", 0.5f);
    g.add_to_collection("notes", std::string("hello"));
    g.add_to_collection("my_vars", m.kernel);  // a variable outside TF's variable collections
    Saver saver(g);
    Session sess(g);
    sess.run(m.init);
    expected = sess.run({{m.X, input()}}, m.out);
    path = saver.save(sess, dir / "model", {.global_step = 9});
  }
  Graph g;
  std::optional<Saver> saver = import_meta_graph(g, path + ".meta");
  ASSERT_TRUE(saver.has_value());
  EXPECT_EQ(saver->saver_def().restore_op_name(), "save/restore_all");
  ASSERT_EQ(saver->variables().size(), 3u);
  Session sess(g);
  saver->restore(sess, path);
  const auto ops = g.get_collection("my_important_ops");
  ASSERT_EQ(ops.size(), 2u);
  ASSERT_TRUE(std::holds_alternative<Output>(ops[0]));
  ASSERT_TRUE(std::holds_alternative<Operation*>(ops[1]));
  EXPECT_EQ(std::get<Operation*>(ops[1])->name(), "init");
  EXPECT_TRUE(sess.run({{g.get_tensor_by_name("X:0"), input()}}, std::get<Output>(ops[0])).equals(expected));
  EXPECT_EQ(std::get<int64_t>(g.get_collection("numbers").at(0)), 3);
  EXPECT_EQ(std::get<float>(g.get_collection("rates").at(0)), 0.5f);
  EXPECT_EQ(std::get<std::string>(g.get_collection("notes").at(0)), "hello");
  ASSERT_TRUE(std::holds_alternative<Variable>(g.get_collection("my_vars").at(0)));
  EXPECT_EQ(std::get<Variable>(g.get_collection("my_vars").at(0)).name(), "layer/kernel");
  const auto vars = g.get_variables(GraphKeys::GLOBAL_VARIABLES);
  ASSERT_EQ(vars.size(), 3u);
  EXPECT_EQ(vars[2].name(), "step");
  EXPECT_FALSE(vars[2].trainable);
  EXPECT_EQ(g.get_variables(GraphKeys::TRAINABLE_VARIABLES).size(), 2u);
  EXPECT_EQ(vars[0].initializer->name(), "layer/kernel/Assign");
  // The imported initializers run: a fresh session can start over.
  Session again(g);
  again.run(g.get_operation_by_name("init"));
  EXPECT_TRUE(again.variable_value(vars[1].op).equals(Tensor::from_vector<float>({.25f, .25f})));

  // And importing under a scope prefixes everything, collections and saver included.
  std::optional<Saver> scoped = import_meta_graph(g, path + ".meta", {.import_scope = "copy"});
  ASSERT_TRUE(scoped.has_value());
  EXPECT_EQ(scoped->saver_def().restore_op_name(), "copy/save/restore_all");
  EXPECT_EQ(scoped->variables().at("layer/kernel").name(), "copy/layer/kernel");
  EXPECT_EQ(g.get_variables(GraphKeys::GLOBAL_VARIABLES).size(), 6u);
  Session s2(g);
  scoped->restore(s2, path);
  EXPECT_TRUE(s2.run({{g.get_tensor_by_name("copy/X:0"), input()}}, g.get_tensor_by_name("copy/" + std::get<Output>(ops[0]).name())).equals(expected));
}

TEST(Saver, MetaGraphWithoutSaverAndMixedCollections) {
  TempDir dir;
  Graph g;
  Model m = build_model(g);
  export_meta_graph(g, dir / "plain.meta");
  Graph g2;
  EXPECT_FALSE(import_meta_graph(g2, dir / "plain.meta").has_value());
  EXPECT_EQ(g2.num_operations(), g.num_operations());
  g.add_to_collection("mixed", m.out);
  g.add_to_collection("mixed", int64_t{1});
  expect_error([&] { export_meta_graph(g, dir / "mixed.meta"); }, Code::kInvalidArgument, {"mixed"});
  EXPECT_FALSE(fs::exists(dir / "mixed.meta"));
  const auto meta = to_meta_graph_def(g, {.collection_list = {"variables"}});
  EXPECT_EQ(meta.collection_def().size(), 1u);
}

// A variable collection must describe variables: each bad VariableDef is an error naming the
// collection, and the import leaves the graph and its collections as they were.
TEST(Saver, MetaGraphVariableCollectionsHoldOnlyVariables) {
  Graph g;
  build_model(g);
  const tensorflow::MetaGraphDef good = to_meta_graph_def(g);
  auto with_bad_variable = [&](const std::function<void(tensorflow::VariableDef&)>& edit) {
    tensorflow::MetaGraphDef meta = good;
    auto* list = (*meta.mutable_collection_def())["variables"].mutable_bytes_list();
    tensorflow::VariableDef d;
    EXPECT_TRUE(d.ParseFromString(list->value(0)));
    edit(d);
    list->set_value(0, d.SerializeAsString());
    return meta;
  };
  Graph g2;
  const auto before = g2.num_operations();
  expect_error([&] { import_meta_graph(g2, with_bad_variable([](auto& d) { d.set_variable_name("X:0"); })); },
               Code::kInvalidArgument, {"collection 'variables'", "'X:0' is a Placeholder, not a variable"});
  expect_error([&] { import_meta_graph(g2, with_bad_variable([](auto& d) { d.set_is_resource(true); })); },
               Code::kUnimplemented, {"collection 'variables'", "resource variable"});
  tensorflow::MetaGraphDef garbage = good;
  (*garbage.mutable_collection_def())["variables"].mutable_bytes_list()->set_value(0, "\xff\xff");
  expect_error([&] { import_meta_graph(g2, garbage); }, Code::kDataLoss, {"collection 'variables'", "VariableDef"});
  EXPECT_EQ(g2.num_operations(), before);
  EXPECT_TRUE(g2.get_collection("variables").empty());
  EXPECT_FALSE(import_meta_graph(g2, good).has_value()) << "no SaverDef, no Saver";
  EXPECT_EQ(g2.get_variables("variables").size(), global_variables(g).size());
}

// A child process dies (SIGXFSZ, inside write(2)) halfway through saving step 2: step 1's
// checkpoint, the state file naming it, and its values all survive.
TEST(Saver, ChildKilledMidSaveLeavesThePreviousCheckpointRestorable) {
  TempDir dir;
  Graph g;
  Variable big = get_variable(g, "big", {.shape = Shape{4 << 20}, .initializer = zeros_initializer()});  // 16 MB
  Saver saver(g);
  Session sess(g);
  Tensor before = Tensor(f32, {4 << 20});
  before.flat<float>()[123] = 1.5f;
  sess.set_variable_value(big.op, before);
  const std::string first = saver.save(sess, dir / "model", {.global_step = 1});

  Tensor after = Tensor(f32, {4 << 20});
  after.flat<float>()[123] = -7.f;
  sess.set_variable_value(big.op, after);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_DFL);
    struct rlimit lim = {1 << 20, 1 << 20};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    try {
      saver.save(sess, dir / "model", {.global_step = 2});
    } catch (...) {
    }
    ::_exit(0);  // only reached if the limit did not kill us
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child finished its save; status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGXFSZ);

  EXPECT_FALSE(checkpoint_exists(dir / "model-2"));
  EXPECT_EQ(latest_checkpoint(dir.str()), first);
  Session fresh(g);
  saver.restore(fresh, latest_checkpoint(dir.str()));
  EXPECT_EQ(fresh.variable_value(big.op).flat<float>()[123], 1.5f);
  // A meta-graph rewritten in place by a dying child is whole too (old or new).
  Graph reimported;
  EXPECT_TRUE(import_meta_graph(reimported, first + ".meta").has_value());
}

TEST(Saver, ConcurrentSavesAndRestoresAreSerialized) {
  TempDir dir;
  Graph g;
  Model m = build_model(g);
  Saver saver(g, {.max_to_keep = 3});
  Session sess(g);
  sess.run(m.init);
  const std::string stable = saver.save(sess, dir / "stable", {.write_meta_graph = false, .write_state = false});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        saver.save(sess, dir / "m", {.global_step = t * 10 + i});
        Session s(g);
        saver.restore(s, stable);
        EXPECT_TRUE(s.variable_value(m.kernel.op).equals(sess.variable_value(m.kernel.op)));
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(saver.last_checkpoints().size(), 3u);
  for (const auto& p : saver.last_checkpoints()) EXPECT_TRUE(checkpoint_exists(p)) << p;
  int kept = 0;
  for (const auto& f : fs::directory_iterator(dir.path())) kept += f.path().extension() == ".index";
  EXPECT_EQ(kept, 4);  // the three kept, and "stable" outside the rotation
}

// ---- a child killed at every step of a save over the same prefix -------------------------------

using internal::CrashPoint;

// "big", "w" and "step", all holding one version number. A 4 MB "big" goes to the data file
// in a write of its own, so the save writes the data file twice.
struct VersionedModel {
  Graph g;
  int64_t big_size;
  Variable big, w, step;
  std::unique_ptr<Saver> saver;

  explicit VersionedModel(int64_t big_size = 16) : big_size(big_size) {
    big = get_variable(g, "big", {.shape = Shape{big_size}});  // a RandomUniform, not a 4 MB Const in the .meta
    w = get_variable(g, "w", {.shape = Shape{3, 2}});
    step = variable(constant(g, Tensor(int64_t{0})), {.name = "step", .trainable = false});
    saver = std::make_unique<Saver>(g);
  }
  static Tensor filled(const Shape& shape, float v) {
    Tensor t(f32, shape);
    for (float& x : t.flat<float>()) x = v;
    return t;
  }
  void set(Session& s, int64_t v) const {
    s.set_variable_value(big.op, filled({big_size}, static_cast<float>(v)));
    s.set_variable_value(w.op, filled({3, 2}, static_cast<float>(v)));
    s.set_variable_value(step.op, Tensor(v));
  }
  // The version every tensor holds, or -1 if they disagree (a mixed checkpoint).
  static int64_t version_of(const Tensor& big, const Tensor& w, const Tensor& step) {
    const int64_t v = step.scalar<int64_t>();
    for (const Tensor* t : {&big, &w})
      for (float x : t->flat<float>())
        if (x != static_cast<float>(v)) return -1;
    return v;
  }
  int64_t version(Session& s) const {
    return version_of(s.variable_value(big.op), s.variable_value(w.op), s.variable_value(step.op));
  }
  static int64_t version(const BundleReader& r) { return version_of(r.read("big"), r.read("w"), r.read("step")); }
};

// Forks a child that runs `body` with FG_CHECKPOINT_CRASH_AT=spec; returns its wait status.
int run_child_with_crash_point(const std::string& spec, const std::function<void()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("FG_CHECKPOINT_CRASH_AT", spec.c_str(), 1);
    try {
      body();
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  return status;
}
bool killed(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }
bool finished(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

std::set<std::string> file_names(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& f : fs::directory_iterator(dir)) names.insert(f.path().filename().string());
  return names;
}
bool has_temporaries(const fs::path& dir) {
  for (const auto& name : file_names(dir))
    if (name.find(".tempstate") != std::string::npos) return true;
  return false;
}

// After a kill: the prefix reads (without repairs, then through a restore that repairs) as one
// whole version, `want`; the restore leaves no temporaries; the next save is clean.
void expect_whole_checkpoint(VersionedModel& m, const TempDir& dir, const std::string& prefix, int64_t want,
                             const std::string& where) {
  SCOPED_TRACE(where);
  try {
    EXPECT_EQ(latest_checkpoint(dir.str()), prefix);
    EXPECT_EQ(VersionedModel::version(BundleReader(prefix)), want);
    Session fresh(m.g);
    m.saver->restore(fresh, prefix);
    EXPECT_EQ(m.version(fresh), want);
    EXPECT_FALSE(has_temporaries(dir.path()));
    EXPECT_EQ(VersionedModel::version(BundleReader(prefix)), want);
    Graph reimported;
    EXPECT_TRUE(import_meta_graph(reimported, prefix + ".meta").has_value());

    Session next(m.g);
    m.set(next, 9);
    m.saver->save(next, prefix);
    EXPECT_EQ(file_names(dir.path()), (std::set<std::string>{"checkpoint", "model.ckpt.data-00000-of-00001",
                                                             "model.ckpt.index", "model.ckpt.meta"}));
    Session after(m.g);
    m.saver->restore(after, prefix);
    EXPECT_EQ(m.version(after), 9);
  } catch (const Error& e) {
    ADD_FAILURE() << e.what();
  }
}

// Every named step of Saver::save over an existing prefix, at each time it is passed: the old
// checkpoint until the backup's unlink commits the new one, the new one from then on.
TEST(SaverCrash, KilledAtEveryStepOfASaveOverTheSamePrefix) {
  VersionedModel small, large(1 << 20);
  Session small_sess(small.g), large_sess(large.g);
  int kills = 0;
  for (int p = 0; p < static_cast<int>(CrashPoint::kCount); ++p) {
    const std::string name = internal::crash_point_name(static_cast<CrashPoint>(p));
    if (name.starts_with("recover.")) continue;  // nothing to recover in this test
    const int64_t want = p >= static_cast<int>(CrashPoint::kBackupIndexUnlinkAfter) ? 2 : 1;
    // Between the data file's writes needs two of them; elsewhere small tensors do.
    const bool two_writes = static_cast<CrashPoint>(p) == CrashPoint::kDataWritten;
    VersionedModel& m = two_writes ? large : small;
    Session& sess = two_writes ? large_sess : small_sess;
    for (int k = 1;; ++k) {
      const std::string spec = str_cat(name, "#", k);
      TempDir dir;
      const std::string prefix = dir / "model.ckpt";
      m.set(sess, 1);
      m.saver->save(sess, prefix);
      m.set(sess, 2);
      const int status = run_child_with_crash_point(spec, [&] { m.saver->save(sess, prefix); });
      if (finished(status)) {
        EXPECT_GT(k, 1) << name << " is never reached";
        break;
      }
      ASSERT_TRUE(killed(status)) << spec << ": wait status " << status;
      ++kills;
      expect_whole_checkpoint(m, dir, prefix, want, spec);
      if (HasFailure()) return;
    }
  }
  // Each point once; the data file's second write; and the file.* points again, as the .meta
  // and the `checkpoint` file are both written through write_file_atomic.
  int save_points = 0, file_points = 0;
  for (int p = 0; p < static_cast<int>(CrashPoint::kCount); ++p) {
    const std::string name = internal::crash_point_name(static_cast<CrashPoint>(p));
    save_points += !name.starts_with("recover.");
    file_points += name.starts_with("file.");
  }
  EXPECT_EQ(kills, save_points + 1 + file_points);
}

// A save or a restore killed while it rolls back what a killed commit left (the new data under
// the old index, both backups, a dead writer's temporary index) still finds the old checkpoint.
TEST(SaverCrash, KilledWhileRecoveringFromAKilledSave) {
  VersionedModel m;
  Session sess(m.g);
  for (const bool by_restore : {false, true}) {
    for (int p = 0; p < static_cast<int>(CrashPoint::kCount); ++p) {
      const std::string name = internal::crash_point_name(static_cast<CrashPoint>(p));
      if (!name.starts_with("recover.")) continue;
      for (int k = 1;; ++k) {
        const std::string spec = str_cat(name, "#", k, by_restore ? " (restore)" : " (save)");
        TempDir dir;
        const std::string prefix = dir / "model.ckpt";
        m.set(sess, 1);
        m.saver->save(sess, prefix);
        m.set(sess, 2);
        ASSERT_TRUE(killed(run_child_with_crash_point("bundle.data_rename.after", [&] { m.saver->save(sess, prefix); })));
        m.set(sess, 3);
        const int status = run_child_with_crash_point(str_cat(name, "#", k), [&] {
          if (by_restore) {
            Session s(m.g);
            m.saver->restore(s, prefix);
          } else {
            m.saver->save(sess, prefix);
          }
        });
        if (finished(status)) {
          EXPECT_GT(k, 1) << spec << " is never reached";
          break;
        }
        ASSERT_TRUE(killed(status)) << spec << ": wait status " << status;
        expect_whole_checkpoint(m, dir, prefix, 1, spec);
        if (HasFailure()) return;
      }
    }
  }
}

// A save killed between its two renames leaves the new data under the old index at the prefix.
TEST(SaverCrash, NewDataUnderOldIndexReadsAsTheOldCheckpoint) {
  VersionedModel m;
  Session sess(m.g);
  TempDir dir;
  const std::string prefix = dir / "model.ckpt";
  m.set(sess, 1);
  m.saver->save(sess, prefix);
  m.set(sess, 2);
  ASSERT_TRUE(killed(run_child_with_crash_point("bundle.data_rename.after", [&] { m.saver->save(sess, prefix); })));
  const std::set<std::string> names = file_names(dir.path());
  EXPECT_EQ(std::count_if(names.begin(), names.end(), [](const std::string& n) { return n.ends_with(".old"); }), 2);
  // The pair at the prefix is mixed (a copy of it fails its crcs); the backup is the checkpoint.
  fs::copy_file(index_filename(prefix), index_filename(dir / "mixed"));
  fs::copy_file(data_filename(prefix), data_filename(dir / "mixed"));
  expect_error([&] { BundleReader(dir / "mixed").read("big"); }, Code::kDataLoss, {"checksum"});
  EXPECT_EQ(VersionedModel::version(BundleReader(prefix)), 1);
  EXPECT_TRUE(has_temporaries(dir.path()));  // reading repairs nothing; a restore or save does
  Session fresh(m.g);
  m.saver->restore(fresh, prefix);
  EXPECT_EQ(m.version(fresh), 1);
  EXPECT_FALSE(has_temporaries(dir.path()));
}

}  // namespace
}  // namespace fg::train
