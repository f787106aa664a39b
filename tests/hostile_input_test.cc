// Hostile and careless input: shapes that overflow, requests larger than memory, files that
// declare more than they hold. Each is a typed error (ASan and UBSan clean), never a wrapped
// count, an out-of-bounds write, an abort or an OOM kill.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/allocator.h"
#include "data/mnist.h"
#include "graph/graph_io.h"
#include "graph/tensor_proto.h"
#include "ops/array.h"
#include "ops/cumulative.h"
#include "ops/register.h"
#include "ops/initializers.h"
#include "ops/math.h"
#include "ops/state.h"
#include "proto/graph.pb.h"
#include "runtime/session.h"
#include "tests/test_util.h"
#include "train/meta_graph.h"

namespace fg {
namespace {

using testing::expect_error;

constexpr int64_t k2p20 = int64_t{1} << 20, k2p32 = int64_t{1} << 32, k2p40 = int64_t{1} << 40,
                  k2p62 = int64_t{1} << 62;

Output int64_vector(Graph& g, std::vector<int64_t> v) { return constant(g, Tensor::from_vector(v)); }

// ---- shapes and allocations

TEST(HostileShapes, CheckedArithmeticRefusesOverflowAndNegativeDims) {
  const std::vector<int64_t> big{k2p32, k2p32}, neg{2, -5};
  expect_error([&] { checked_num_elements(big, "Fill"); }, Code::kInvalidArgument,
                    {"Fill", "[4294967296,4294967296]", "more than 2^63 - 1 elements"});
  expect_error([&] { checked_num_elements(neg, "IDX"); }, Code::kInvalidArgument, {"IDX", "[2,-5]", "negative"});
  expect_error([&] { shape_from_dims(big, "x", true); }, Code::kInvalidArgument, {"4294967296"});
  EXPECT_EQ(shape_from_dims(std::vector<int64_t>{-1, k2p32, k2p20}, "x", true).rank(), 3);
  expect_error([&] { Shape{k2p32, k2p32}.num_elements(); }, Code::kInvalidArgument,
                    {"[4294967296,4294967296]"});
  EXPECT_EQ(checked_num_elements(std::vector<int64_t>{0, k2p62, 3}, "x"), 0);
  EXPECT_EQ(checked_num_elements(std::vector<int64_t>{3, int64_t{1} << 61}, "x"), 3 * (int64_t{1} << 61));
}

TEST(HostileShapes, TensorWhoseBytesWouldWrapIsOomNotAZeroByteBuffer) {
  expect_error([] { Tensor t(f32, {k2p62}); }, Code::kResourceExhausted,
                    {"OOM when allocating tensor with shape[4611686018427387904] and type float"});
  expect_error([] { Tensor::empty(f64, {k2p20, k2p20}); }, Code::kResourceExhausted,
                    {"OOM when allocating tensor with shape[1048576,1048576] and type double"});
  expect_error([] { Tensor::empty(f32, {k2p32, k2p32}); }, Code::kInvalidArgument,
                    {"[4294967296,4294967296]", "more than 2^63 - 1 elements"});
}

TEST(HostileShapes, FillOfTwoToTheSixtyTwoFloatsIsOom) {
  Graph g;
  Output y = fill(int64_vector(g, {k2p62}), constant(g, Tensor(1.0f)));
  Session sess(g);
  expect_error([&] { sess.run(y); }, Code::kResourceExhausted,
                    {"OOM when allocating tensor with shape[4611686018427387904] and type float", "Fill"});
}

TEST(HostileShapes, FillWhoseElementCountOverflowsIsInvalidArgumentAtBuildAndRunTime) {
  Graph g;
  expect_error([&] { fill(int64_vector(g, {k2p32, k2p32}), constant(g, Tensor(1.0f)), "f"); },
                    Code::kInvalidArgument, {"Fill 'f'", "[4294967296,4294967296]"});
  Output dims = placeholder(g, i64, {2}, "dims");
  Output y = fill(dims, constant(g, Tensor(1.0f)), "g");
  Session sess(g);
  expect_error([&] { sess.run({{dims, Tensor::from_vector<int64_t>({k2p32, k2p32})}}, y); },
                    Code::kInvalidArgument, {"Fill", "[4294967296,4294967296]", "node g"});
  expect_error([&] { sess.run({{dims, Tensor::from_vector<int64_t>({3, -1})}}, y); }, Code::kInvalidArgument,
                    {"Fill", "[3,-1]", "negative"});
}

TEST(HostileShapes, FourTebibyteRequestsAreOomBeforeTheAllocator) {
  Graph g;
  Output y = fill(int64_vector(g, {k2p20, k2p20}), constant(g, Tensor(1.0f)));
  // A [2^40] variable: its random initial value is OOM when run; a constant one (built now) at once.
  get_variable(g, "v", {.shape = Shape{k2p40}, .initializer = random_uniform_initializer()});
  expect_error([&] { get_variable(g, "w", {.shape = Shape{k2p40}, .initializer = zeros_initializer()}); },
                    Code::kResourceExhausted, {"OOM when allocating tensor with shape[1099511627776] and type float"});
  Session sess(g);
  const AllocatorStats before = allocator_stats();
  expect_error([&] { sess.run(y); }, Code::kResourceExhausted,
                    {"OOM when allocating tensor with shape[1048576,1048576] and type float"});
  expect_error([&] { sess.run(global_variables_initializer(g)); }, Code::kResourceExhausted,
                    {"OOM when allocating tensor with shape[1099511627776] and type float"});
  EXPECT_LE(allocator_stats().bytes_in_use, before.bytes_in_use + (int64_t{1} << 20));
}

TEST(HostileShapes, RuntimeReshapeOverflowIsInvalidArgument) {
  Graph g;
  Output x = placeholder(g, f32, Shape::unknown(), "x");
  Output s = placeholder(g, i64, {2}, "s");
  Output y = reshape(x, s, "r");
  Session sess(g);
  const Tensor empty(f32, {0});
  expect_error([&] { sess.run({{x, empty}, {s, Tensor::from_vector<int64_t>({k2p62, 4})}}, y); },
                    Code::kInvalidArgument, {"Reshape", "overflows"});
  // An empty tensor may take any shape whose product is 0, however large its other dims.
  EXPECT_EQ(sess.run({{x, empty}, {s, Tensor::from_vector<int64_t>({k2p62, -1})}}, y).shape(), (Shape{k2p62, 0}));
}

TEST(HostileValues, CastOfNanInfAndOutOfRangeFloatsToIntegersSaturates) {
  Graph g;
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  Output x = constant(g, Tensor::from_vector<float>({nan, inf, -inf, 3e9f, -3e9f, 2.7f, -2.7f, 255.5f, -0.5f}));
  constexpr int32_t i32max = std::numeric_limits<int32_t>::max(), i32min = std::numeric_limits<int32_t>::min();
  EXPECT_EQ(testing::eval(cast(x, i32)).to_vector<int32_t>(),
            (std::vector<int32_t>{0, i32max, i32min, i32max, i32min, 2, -2, 255, 0}));
  EXPECT_EQ(testing::eval(cast(x, u8)).to_vector<uint8_t>(), (std::vector<uint8_t>{0, 255, 0, 255, 0, 2, 0, 255, 0}));
  constexpr int64_t i64max = std::numeric_limits<int64_t>::max(), i64min = std::numeric_limits<int64_t>::min();
  Output d = constant(g, Tensor::from_vector<double>({std::nan(""), 1e19, -1e19, 9.3e18, -4.5}));
  EXPECT_EQ(testing::eval(cast(d, i64)).to_vector<int64_t>(), (std::vector<int64_t>{0, i64max, i64min, i64max, -4}));
  EXPECT_EQ(testing::eval(cast(d, i32)).to_vector<int32_t>(), (std::vector<int32_t>{0, i32max, i32min, i32max, -4}));
  EXPECT_EQ(scalar_constant(g, std::nan(""), i32).op()->attr<Tensor>("value").scalar<int32_t>(), 0);
}

// Signed integer arithmetic wraps as two's complement, as TF's CPU kernels do, in every kernel that
// adds or multiplies (the ops library is compiled with -fwrapv): no undefined behaviour, which the
// UBSan job would report. One element each, so no SIMD path hides the scalar code.
TEST(HostileValues, SignedIntegerOverflowWrapsInEveryArithmeticKernel) {
  Graph g;
  constexpr int32_t max = std::numeric_limits<int32_t>::max(), min = std::numeric_limits<int32_t>::min();
  constexpr int64_t max64 = std::numeric_limits<int64_t>::max(), min64 = std::numeric_limits<int64_t>::min();
  auto i32s = [&](std::vector<int32_t> v) { return constant(g, Tensor::from_vector<int32_t>(v)); };
  auto one = [&](const Output& x) { return testing::eval(x).to_vector<int32_t>(); };
  const Output top = i32s({max}), bottom = i32s({min}), one_ = i32s({1});
  EXPECT_EQ(one(add(top, one_)), std::vector<int32_t>{min});
  EXPECT_EQ(one(subtract(bottom, one_)), std::vector<int32_t>{max});
  EXPECT_EQ(one(multiply(i32s({65536}), i32s({65536}))), std::vector<int32_t>{0});
  EXPECT_EQ(one(square(i32s({65536}))), std::vector<int32_t>{0});
  EXPECT_EQ(one(negative(bottom)), std::vector<int32_t>{min});
  EXPECT_EQ(one(add_n({top, one_})), std::vector<int32_t>{min});
  EXPECT_EQ(one(reduce_sum(i32s({max, 1}))), std::vector<int32_t>{min});
  EXPECT_EQ(one(reduce_prod(i32s({65536, 65536}))), std::vector<int32_t>{0});
  EXPECT_EQ(one(cumsum(i32s({max, 1}))), (std::vector<int32_t>{max, min}));
  const Output big64 = constant(g, Tensor::from_vector<int64_t>({max64}));
  EXPECT_EQ(testing::eval(add(big64, constant(g, Tensor::from_vector<int64_t>({1})))).to_vector<int64_t>(),
            std::vector<int64_t>{min64});
  Variable v = variable(i32s({max, 0}), {.name = "v"});
  const Output bump = scatter_add(v, i32s({0}), i32s({1}));
  Session s(g);
  s.run(global_variables_initializer(g));
  EXPECT_EQ(s.run(bump).to_vector<int32_t>(), (std::vector<int32_t>{min, 0}));
}

TEST(HostileShapes, TheLimitIsSettableAndFailedAllocationsAreTyped) {
  const int64_t old = max_tensor_bytes();
  EXPECT_GT(old, int64_t{1} << 28);
  set_max_tensor_bytes(int64_t{1} << 20);
  EXPECT_NO_THROW(Tensor(f32, {1000}));
  expect_error([] { Tensor(f32, {1 << 20}); }, Code::kResourceExhausted,
                    {"OOM when allocating tensor with shape[1048576] and type float", "1048576 bytes"});
  expect_error([] { ScratchArray<double> a(size_t{1} << 62); }, Code::kResourceExhausted, {"OOM"});
  set_max_tensor_bytes(0);
  EXPECT_EQ(max_tensor_bytes(), old);
  // Past what the system can give (but under the limit): the system allocator's refusal is typed too.
  set_max_tensor_bytes(std::numeric_limits<int64_t>::max());
  expect_error([] { Tensor::empty(u8, {int64_t{1} << 60}); }, Code::kResourceExhausted,
                    {"OOM when allocating tensor with shape[1152921504606846976] and type uint8"});
  set_max_tensor_bytes(0);
}

TEST(HostileShapes, LimitFromTheEnvironment) {
  if (std::getenv("FG_MAX_TENSOR_BYTES")) {
    EXPECT_EQ(max_tensor_bytes(), 4096);
    EXPECT_NO_THROW(Tensor(f32, {1000}));
    expect_error([] { Tensor(f32, {1025}); }, Code::kResourceExhausted, {"shape[1025] and type float"});
    return;
  }
  EXPECT_TRUE(testing::run_test_in_child("FG_MAX_TENSOR_BYTES=4096", "HostileShapes.LimitFromTheEnvironment"));
}

// ---- files

tensorflow::GraphDef const_graph(const std::vector<int64_t>& dims, const std::string& content) {
  tensorflow::GraphDef gd;
  auto* n = gd.add_node();
  n->set_name("c");
  n->set_op("Const");
  (*n->mutable_attr())["dtype"].set_type(tensorflow::DT_FLOAT);
  auto* t = (*n->mutable_attr())["value"].mutable_tensor();
  t->set_dtype(tensorflow::DT_FLOAT);
  for (int64_t d : dims) t->mutable_tensor_shape()->add_dim()->set_size(d);
  if (!content.empty()) t->set_tensor_content(content);
  return gd;
}

TEST(HostileFiles, ConstDeclaringAPetabyteIsRefusedBeforeAllocating) {
  register_ops();  // the registry is read before any builder runs
  Graph g;
  const AllocatorStats before = allocator_stats();
  const tensorflow::GraphDef empty_value = const_graph({int64_t{1} << 48}, "");
  EXPECT_LT(empty_value.ByteSizeLong(), 100u);
  expect_error([&] { import_graph_def(g, empty_value); }, Code::kResourceExhausted,
                    {"OOM when allocating tensor with shape[281474976710656] and type float"});
  expect_error([&] { import_graph_def(g, const_graph({int64_t{1} << 48}, "abcd")); }, Code::kInvalidArgument,
                    {"c attr 'value'", "tensor_content has 4 bytes", "[281474976710656] needs 1125899906842624"});
  expect_error([&] { import_graph_def(g, const_graph({k2p62, 8}, "abcd")); }, Code::kInvalidArgument,
                    {"c attr 'value'", "more than 2^63 - 1 elements"});
  expect_error([&] { import_graph_def(g, const_graph({4, -3}, "")); }, Code::kInvalidArgument,
                    {"c attr 'value'", "[4,-3]"});
  EXPECT_EQ(allocator_stats().system_allocations, before.system_allocations);
  EXPECT_EQ(g.num_operations(), 0);
}

TEST(HostileFiles, OutputShapesThatOverflowAreInvalidArgument) {
  register_ops();  // the registry is read before any builder runs
  tensorflow::GraphDef gd;
  auto* n = gd.add_node();
  n->set_name("p");
  n->set_op("Placeholder");
  (*n->mutable_attr())["dtype"].set_type(tensorflow::DT_FLOAT);
  auto* s = (*n->mutable_attr())["_output_shapes"].mutable_list()->add_shape();
  s->add_dim()->set_size(k2p32);
  s->add_dim()->set_size(k2p32);
  Graph g;
  expect_error([&] { import_graph_def(g, gd); }, Code::kInvalidArgument,
                    {"p attr '_output_shapes'", "[4294967296,4294967296]"});
}

tensorflow::GraphDef unknown_op_with_output(int64_t index) {
  tensorflow::GraphDef gd;
  auto* a = gd.add_node();
  a->set_name("a");
  a->set_op("SomeOpFlowgraphDoesNotKnow");
  auto* b = gd.add_node();
  b->set_name("b");
  b->set_op("AnotherUnknownOp");
  b->add_input(str_cat("a:", index));
  return gd;
}

TEST(HostileFiles, UnknownOpDeclaringABillionOutputsIsRefusedAtImport) {
  register_ops();  // the registry is read before any builder runs
  Graph g;
  expect_error([&] { import_graph_def(g, unknown_op_with_output(999999998)); }, Code::kInvalidArgument,
                    {"node 'import/a'", "declares 999999999 outputs"});
  EXPECT_EQ(g.num_operations(), 0);
  // An ordinary multi-output unknown op still imports.
  import_graph_def(g, unknown_op_with_output(40), {.prefix = ""});
  EXPECT_EQ(g.get_operation_by_name("a")->num_outputs(), 41);
}

TEST(HostileFiles, MetaGraphWithABillionOutputUnknownOpIsRefused) {
  tensorflow::MetaGraphDef meta;
  *meta.mutable_graph_def() = unknown_op_with_output(999999998);
  const auto path = std::filesystem::temp_directory_path() / "fg_hostile_billion.meta";
  {
    std::ofstream f(path, std::ios::binary);
    meta.SerializeToOstream(&f);
  }
  Graph g;
  expect_error([&] { train::import_meta_graph(g, path.string()); }, Code::kInvalidArgument,
                    {"declares 999999999 outputs"});
  std::filesystem::remove(path);
}

TEST(HostileFiles, GraphDefWhoseFillGetsTwoToTheSixtyTwoAtRunTimeIsOom) {
  Graph src;
  Output dims = placeholder(src, i64, {1}, "dims");
  fill(dims, constant(src, Tensor(2.0f)), "fill");
  Graph g;
  import_graph_def(g, src.to_graph_def(), {.prefix = ""});
  Session sess(g);
  expect_error(
      [&] { sess.run({{g.get_tensor_by_name("dims:0"), Tensor::from_vector<int64_t>({k2p62})}},
                     g.get_tensor_by_name("fill:0")); },
      Code::kResourceExhausted, {"OOM when allocating tensor with shape[4611686018427387904] and type float", "fill"});
}

TEST(HostileFiles, Uint8FedIntoAStringTensorOfAnImportedGraphIsADtypeError) {
  register_ops();  // the registry is read before any builder runs
  tensorflow::GraphDef gd;
  auto* p = gd.add_node();
  p->set_name("filename");
  p->set_op("Placeholder");
  (*p->mutable_attr())["dtype"].set_type(tensorflow::DT_STRING);
  auto* id = gd.add_node();
  id->set_name("same");
  id->set_op("Identity");
  id->add_input("filename");
  (*id->mutable_attr())["T"].set_type(tensorflow::DT_STRING);
  auto* u = gd.add_node();
  u->set_name("pixels");
  u->set_op("Placeholder");
  (*u->mutable_attr())["dtype"].set_type(tensorflow::DT_UINT8);
  Graph g;
  import_graph_def(g, gd, {.prefix = ""});
  Output str = g.get_tensor_by_name("filename:0"), same = g.get_tensor_by_name("same:0");
  Output pixels = g.get_tensor_by_name("pixels:0");
  Session sess(g);
  const Tensor bytes = Tensor::from_vector<uint8_t>({104, 105});
  EXPECT_TRUE(sess.run({{pixels, bytes}}, pixels).equals(bytes));
  for (const Output& fed : {str, same}) {
    expect_error([&] { sess.run({{fed, bytes}}, pixels); }, Code::kInvalidArgument,
                      {"Cannot feed value of dtype uint8", fed.name(), "which has dtype string"});
    auto step = sess.make_callable({fed}, {pixels});
    expect_error([&] { step({bytes}); }, Code::kInvalidArgument, {"Cannot feed value of dtype uint8"});
  }
}

void write_idx(const std::filesystem::path& path, std::vector<uint32_t> dims, size_t data_bytes) {
  std::ofstream f(path, std::ios::binary);
  const unsigned char magic[4] = {0, 0, 8, static_cast<unsigned char>(dims.size())};
  f.write(reinterpret_cast<const char*>(magic), 4);
  for (uint32_t d : dims) {
    const unsigned char be[4] = {static_cast<unsigned char>(d >> 24), static_cast<unsigned char>(d >> 16),
                                 static_cast<unsigned char>(d >> 8), static_cast<unsigned char>(d)};
    f.write(reinterpret_cast<const char*>(be), 4);
  }
  f << std::string(data_bytes, '\x7f');
}

TEST(HostileFiles, IdxHeaderWhoseDimsOverflowIsInvalidArgumentNamingTheFile) {
  const auto path = std::filesystem::temp_directory_path() / "fg_hostile_idx";
  write_idx(path, {0xffffffffu, 0xffffffffu, 0xffffffffu}, 16);
  expect_error([&] { data::read_idx_images(path.string()); }, Code::kInvalidArgument,
                    {path.string(), "[4294967295,4294967295,4294967295]", "more than 2^63 - 1 elements"});
  // No items, but each item would be 2^64 bytes: refused too.
  write_idx(path, {0, 0xffffffffu, 0xffffffffu}, 0);
  expect_error([&] { data::read_idx_images(path.string()); }, Code::kInvalidArgument,
                    {path.string(), "[4294967295,4294967295]"});
  // A header declaring more than the file holds: DataLoss before any allocation.
  write_idx(path, {60000, 28, 28}, 100);
  expect_error([&] { data::read_idx_images(path.string()); }, Code::kDataLoss, {path.string(), "47040000"});
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace fg

namespace fg {
namespace {

using testing::expect_error;

// ---- lifetimes

TEST(Lifetimes, OutputOfADestroyedGraphIsFailedPreconditionNotAHang) {
  Output x;
  Variable v;
  {
    Graph g;
    x = placeholder(g, f32, {2}, "x");
    v = get_variable(g, "v", {.shape = Shape{2}});
  }
  Graph other;  // may take the destroyed graph's lifetime cell: a new generation, not the old one
  placeholder(other, f32, {2}, "x");
  const std::vector<std::string> why{"Graph was destroyed"};
  expect_error([&] { x.name(); }, Code::kFailedPrecondition, why);
  expect_error([&] { x.shape(); }, Code::kFailedPrecondition, why);
  expect_error([&] { x.graph(); }, Code::kFailedPrecondition, why);
  expect_error([&] { identity(x); }, Code::kFailedPrecondition, why);
  expect_error([&] { x + x; }, Code::kFailedPrecondition, why);
  expect_error([&] { v.name(); }, Code::kFailedPrecondition, why);
  expect_error([&] { identity(v); }, Code::kFailedPrecondition, why);
  expect_error([&] { Session s(other); s.run({{x, Tensor(f32, {2})}}, std::vector<Output>{}); }, Code::kFailedPrecondition, why);
  EXPECT_FALSE(Output() == x);
}

TEST(Lifetimes, SessionOfADestroyedGraphIsFailedPreconditionNotASegfault) {
  auto g = std::make_unique<Graph>();
  Output x = placeholder(*g, f32, {2}, "x");
  Output y = identity(x, "y");
  Variable v = get_variable(*g, "v", {.shape = Shape{2}});
  Operation* var_op = v.op;
  Session sess(*g);
  auto step = sess.make_callable({x}, {y});
  EXPECT_EQ(step({Tensor(f32, {2})})[0].num_elements(), 2);
  g.reset();
  const std::vector<std::string> why{"Session: its Graph was destroyed"};
  expect_error([&] { sess.run({{x, Tensor(f32, {2})}}, y); }, Code::kFailedPrecondition, why);
  expect_error([&] { sess.run(y); }, Code::kFailedPrecondition, why);
  expect_error([&] { step({Tensor(f32, {2})}); }, Code::kFailedPrecondition, why);
  std::vector<Tensor> out;
  const std::vector<Tensor> in{Tensor(f32, {2})};
  expect_error([&] { step(in, out); }, Code::kFailedPrecondition, why);
  expect_error([&] { sess.make_callable({x}, {y}); }, Code::kFailedPrecondition, why);
  expect_error([&] { sess.variable_value(var_op); }, Code::kFailedPrecondition, why);
  expect_error([&] { sess.is_initialized(var_op); }, Code::kFailedPrecondition, why);
}

TEST(Lifetimes, CallableOfADestroyedSessionIsFailedPrecondition) {
  Graph g;
  Output x = placeholder(g, f32, {2}, "x");
  Output y = identity(x, "y");
  auto sess = std::make_unique<Session>(g);
  auto step = sess->make_callable({x}, {y});
  sess.reset();
  expect_error([&] { step({Tensor(f32, {2})}); }, Code::kFailedPrecondition, {"Callable: its Session was destroyed"});
}

}  // namespace
}  // namespace fg
