// GraphDef I/O: to_graph_def / import_graph_def round trips, attrs of every kind, node
// ordering, prefixes and input maps, and nodes flowgraph can carry but not run.
#include "graph/graph_io.h"

#include <gtest/gtest.h>
#include <google/protobuf/util/message_differencer.h>

#include <algorithm>

#include "graph/op_registry.h"
#include "graph/tensor_proto.h"
#include "ops/array.h"
#include "ops/initializers.h"
#include "ops/math.h"
#include "ops/nn.h"
#include "ops/register.h"
#include "ops/state.h"
#include "runtime/session.h"
#include "tests/test_util.h"

namespace fg {
namespace {

using testing::expect_error;

using google::protobuf::util::MessageDifferencer;

// A small model touching list inputs, multi-output ops, control inputs, attrs of several kinds.
struct Model {
  Output X, y, logits, loss, accuracy, extra;
  Variable W, b;
  Operation* init = nullptr;
};

Model build_model(Graph& g) {
  Model m;
  m.X = placeholder(g, f32, {-1, 4}, "X");
  m.y = placeholder(g, i32, {-1}, "y");
  {
    auto scope = g.variable_scope("dnn");
    m.W = get_variable(g, "W", {.shape = Shape{3, 4}});
    m.b = get_variable(g, "b", {.shape = Shape{3}, .initializer = constant_initializer(0.5)});
  }
  m.logits = matmul(m.X, m.W, {.transpose_b = true, .name = "logits_mm"}) + m.b;
  auto xent = nn::sparse_softmax_cross_entropy_with_logits(m.y, m.logits);
  m.loss = reduce_mean(xent, {}, false, "loss");
  m.accuracy = reduce_mean(cast(nn::in_top_k(m.logits, m.y, 1), f32), {}, false, "accuracy");
  m.init = global_variables_initializer(g);
  {
    auto deps = g.control_dependencies({m.init});
    Output row_sums = reduce_sum(m.logits, {1}, true, "row_sums");
    m.extra = add_n({m.loss, m.accuracy, reduce_mean(row_sums) * 0.f}, "extra");
  }
  return m;
}

Tensor features() { return testing::random_tensor({5, 4}, 3, -1, 1, f32); }
Tensor labels() { return Tensor::from_vector<int32_t>({0, 1, 2, 1, 0}); }

TEST(GraphIo, ToGraphDefListsNodesInCreationOrder) {
  Graph g;
  build_model(g);
  const tensorflow::GraphDef gd = g.to_graph_def();
  EXPECT_EQ(gd.versions().producer(), 26);
  ASSERT_EQ(gd.node_size(), g.num_operations());
  const auto ops = g.get_operations();
  for (int i = 0; i < gd.node_size(); ++i) {
    EXPECT_EQ(gd.node(i).name(), ops[i]->name());
    EXPECT_EQ(gd.node(i).op(), ops[i]->type());
  }
  auto node = [&](const std::string& name) -> const tensorflow::NodeDef& {
    for (const auto& n : gd.node())
      if (n.name() == name) return n;
    ADD_FAILURE() << "no node " << name;
    return gd.node(0);
  };
  // Inputs: "x" for output 0, "x:1" for others, "^x" for control inputs, last.
  const auto& assign = node("dnn/W/Assign");
  ASSERT_EQ(assign.input_size(), 2);
  EXPECT_EQ(assign.input(0), "dnn/W");
  const auto& extra = node("extra");
  EXPECT_EQ(extra.input(extra.input_size() - 1), "^init");
  EXPECT_EQ(extra.attr().at("N").i(), 3);
  EXPECT_TRUE(node("logits_mm").attr().at("transpose_b").b());
  EXPECT_FALSE(node("logits_mm").attr().at("transpose_a").b());
  EXPECT_EQ(node("logits_mm").attr().at("T").type(), tensorflow::DT_FLOAT);
  EXPECT_EQ(node("X").attr().at("shape").shape().dim(1).size(), 4);
  EXPECT_TRUE(node("row_sums").attr().at("keep_dims").b());
  EXPECT_EQ(node("row_sums").attr().at("Tidx").type(), tensorflow::DT_INT32);
  EXPECT_EQ(node("dnn/W").attr().at("dtype").type(), tensorflow::DT_FLOAT);
  EXPECT_EQ(node("init").input_size(), 2);
  EXPECT_EQ(node("init").input(0)[0], '^');
  EXPECT_FALSE(node("X").attr().count("_output_shapes"));
  const auto with_shapes = to_graph_def(g, {.add_shapes = true});
  for (const auto& n : with_shapes.node())
    if (n.name() == "logits_mm") {
      ASSERT_EQ(n.attr().at("_output_shapes").list().shape_size(), 1);
      EXPECT_EQ(shape_from_proto(n.attr().at("_output_shapes").list().shape(0)), (Shape{-1, 3}));
    }
}

TEST(GraphIo, RoundTripPreservesEverythingAndEvaluatesEqual) {
  Graph g;
  Model m = build_model(g);
  const tensorflow::GraphDef gd = to_graph_def(g, {.add_shapes = true});

  Graph g2;
  const ImportResult r = import_graph_def(g2, gd, {.prefix = ""});
  EXPECT_EQ(r.prefix, "");
  ASSERT_EQ(static_cast<int64_t>(r.operations.size()), g.num_operations());
  // Byte-for-byte the same GraphDef back (the _output_shapes g2 carries are recomputed).
  EXPECT_TRUE(MessageDifferencer::Equals(to_graph_def(g2, {.add_shapes = true}), gd));
  const auto ops = g.get_operations(), ops2 = g2.get_operations();
  for (size_t i = 0; i < ops.size(); ++i) {
    EXPECT_EQ(ops2[i]->name(), ops[i]->name());
    EXPECT_EQ(ops2[i]->type(), ops[i]->type());
    EXPECT_EQ(ops2[i]->num_outputs(), ops[i]->num_outputs());
    EXPECT_EQ(ops2[i]->control_inputs().size(), ops[i]->control_inputs().size());
    EXPECT_FALSE(ops2[i]->def().opaque) << ops2[i]->name();
    for (int k = 0; k < ops[i]->num_outputs(); ++k) {
      EXPECT_EQ(ops2[i]->output_dtype(k), ops[i]->output_dtype(k));
      EXPECT_EQ(ops2[i]->output_shape(k), ops[i]->output_shape(k)) << ops[i]->name();
    }
  }
  EXPECT_TRUE(g2.get_operation_by_name("logits_mm")->attr<bool>("transpose_b"));

  // Same variable values in, same numbers out.
  Session s1(g), s2(g2);
  s1.run(m.init);
  for (const char* v : {"dnn/W", "dnn/b"})
    s2.set_variable_value(g2.get_operation_by_name(v), s1.variable_value(g.get_operation_by_name(v)));
  const FeedDict f1 = {{m.X, features()}, {m.y, labels()}};
  const FeedDict f2 = {{g2.get_tensor_by_name("X:0"), features()}, {g2.get_tensor_by_name("y:0"), labels()}};
  const auto a = s1.run(f1, {m.loss, m.accuracy, m.extra, m.logits});
  const auto b = s2.run(f2, {g2.get_tensor_by_name(m.loss.name()), g2.get_tensor_by_name(m.accuracy.name()),
                             g2.get_tensor_by_name(m.extra.name()), g2.get_tensor_by_name(m.logits.name())});
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i].equals(b[i])) << i;
  // The imported initializer runs too.
  Session s3(g2);
  s3.run(g2.get_operation_by_name("init"));
  EXPECT_TRUE(s3.variable_value(g2.get_operation_by_name("dnn/b")).equals(Tensor::from_vector<float>({.5f, .5f, .5f})));
}

TEST(GraphIo, AttrValuesOfEveryKindRoundTrip) {
  const std::vector<AttrValue> values = {
      int64_t{-7}, 2.5f, true, std::string("bytes\0x", 7), DType::kInt64, Shape{-1, 3}, Shape::unknown(),
      Tensor::from_vector<double>({1, 2, 3}, {3, 1}), std::vector<int64_t>{1, 2}, std::vector<float>{0.5f},
      std::vector<DType>{f32, i32}, std::vector<Shape>{Shape{}, Shape{2}}, std::vector<std::string>{"a", "b"},
      std::vector<int64_t>{}};
  for (const AttrValue& v : values) {
    SCOPED_TRACE(attr_to_string(v));
    tensorflow::AttrValue wire;
    ASSERT_TRUE(wire.ParseFromString(attr_to_proto(v).SerializeAsString()));
    AttrValue back;
    ASSERT_TRUE(attr_from_proto(wire, "attr", &back));
    ASSERT_EQ(back.index(), v.index());
    if (auto* t = std::get_if<Tensor>(&v)) EXPECT_TRUE(std::get<Tensor>(back).equals(*t));
    else EXPECT_EQ(attr_to_string(back), attr_to_string(v));
  }
  // Reference types read as their base type.
  tensorflow::AttrValue ref;
  ref.set_type(tensorflow::DT_FLOAT_REF);
  AttrValue back;
  ASSERT_TRUE(attr_from_proto(ref, "a", &back));
  EXPECT_EQ(std::get<DType>(back), f32);
  // What AttrValue cannot hold is reported, to be carried as bytes.
  tensorflow::AttrValue bools;
  bools.mutable_list()->add_b(true);
  EXPECT_FALSE(attr_from_proto(bools, "a", &back));
  tensorflow::AttrValue func;
  func.mutable_func()->set_name("f");
  EXPECT_FALSE(attr_from_proto(func, "a", &back));
  tensorflow::AttrValue halves;
  halves.mutable_tensor()->set_dtype(tensorflow::DT_HALF);
  EXPECT_FALSE(attr_from_proto(halves, "a", &back));
  tensorflow::AttrValue strings;
  strings.mutable_tensor()->set_dtype(tensorflow::DT_STRING);
  strings.mutable_tensor()->add_string_val("x");
  ASSERT_TRUE(attr_from_proto(strings, "a", &back));
  EXPECT_EQ(std::get<Tensor>(back).scalar<std::string>(), "x");
}

// A GraphDef written by hand, as TF would: text of NodeDefs.
tensorflow::NodeDef* add_node(tensorflow::GraphDef& gd, const std::string& name, const std::string& op,
                              std::vector<std::string> inputs = {}) {
  gd.mutable_versions()->set_producer(26);
  auto* n = gd.add_node();
  n->set_name(name);
  n->set_op(op);
  for (auto& i : inputs) n->add_input(i);
  return n;
}
void set_type(tensorflow::NodeDef* n, const std::string& attr, tensorflow::DataType t) {
  (*n->mutable_attr())[attr].set_type(t);
}
void set_const(tensorflow::NodeDef* n, const Tensor& value) {
  set_type(n, "dtype", dtype_to_proto(value.dtype()));
  *(*n->mutable_attr())["value"].mutable_tensor() = tensor_to_proto(value);
}

TEST(GraphIo, NodesInAnyOrderImportTopologically) {
  register_ops();  // the first use of a graph is an import
  tensorflow::GraphDef gd;
  set_type(add_node(gd, "sum", "AddV2", {"a", "b:0", "^c"}), "T", tensorflow::DT_FLOAT);
  set_const(add_node(gd, "b", "Const"), Tensor(2.f));
  set_const(add_node(gd, "a", "Const", {"^c"}), Tensor(3.f));
  add_node(gd, "c", "NoOp");
  Graph g;
  const auto r = import_graph_def(g, gd, {.prefix = ""});
  std::vector<std::string> names;
  for (Operation* op : r.operations) names.push_back(op->name());
  // Depth first from the first node: its inputs in order, each after its own inputs.
  EXPECT_EQ(names, (std::vector<std::string>{"c", "a", "b", "sum"}));
  Operation* sum = g.get_operation_by_name("sum");
  ASSERT_EQ(sum->control_inputs().size(), 1u);
  EXPECT_EQ(sum->control_inputs()[0]->name(), "c");
  EXPECT_EQ(testing::eval(sum->output(0)).scalar<float>(), 5.f);
}

TEST(GraphIo, PrefixesUniquifyAndInputMapReplacesTensors) {
  Graph src;
  Output x = placeholder(src, f32, {2}, "x");
  multiply(x, constant(src, Tensor::from_vector<float>({3, 4}), "k"), "y");
  const tensorflow::GraphDef gd = src.to_graph_def();

  Graph g;
  Output mine = constant(g, Tensor::from_vector<float>({1, 2}), "mine");
  const auto r1 = import_graph_def(g, gd);  // TF's default name "import"
  const auto r2 = import_graph_def(g, gd, {.prefix = "import", .input_map = {{"x:0", mine}}});
  EXPECT_EQ(r1.prefix, "import/");
  EXPECT_EQ(r2.prefix, "import_1/");
  EXPECT_EQ(g.get_operation_by_name("import/y")->input(0).name(), "import/x:0");
  EXPECT_EQ(g.get_operation_by_name("import_1/y")->input(0), mine);
  EXPECT_EQ(testing::eval(g.get_tensor_by_name("import_1/y:0")).to_vector<float>(), (std::vector<float>{3, 8}));
  // An exact scope, and a clash with it.
  import_graph_def(g, gd, {.prefix = "exact/"});
  EXPECT_NE(g.find_operation("exact/y"), nullptr);
  expect_error([&] { import_graph_def(g, gd, {.prefix = "exact/"}); }, Code::kInvalidArgument,
               {"exact/", "already exists"});
  // Imported names and their scopes are taken: new ops and scopes do not collide.
  EXPECT_EQ(identity(mine, "import").op()->name(), "import_2");
  Output k = constant(g, Tensor(1.f), "exact/k");
  EXPECT_EQ(k.op()->name(), "exact/k_1");
}

TEST(GraphIo, MalformedGraphDefsAreInvalidArgumentNamingTheNode) {
  register_ops();  // the first use of a graph is an import
  Graph g;
  {
    tensorflow::GraphDef gd;
    set_type(add_node(gd, "n", "Identity", {"missing"}), "T", tensorflow::DT_FLOAT);
    expect_error([&] { import_graph_def(g, gd); }, Code::kInvalidArgument, {"'n'", "missing"});
  }
  {
    tensorflow::GraphDef gd;
    set_type(add_node(gd, "p", "Identity", {"q"}), "T", tensorflow::DT_FLOAT);
    set_type(add_node(gd, "q", "Identity", {"p"}), "T", tensorflow::DT_FLOAT);
    expect_error([&] { import_graph_def(g, gd); }, Code::kInvalidArgument, {"cycle"});
  }
  {
    tensorflow::GraphDef gd;
    add_node(gd, "dup", "NoOp");
    add_node(gd, "dup", "NoOp");
    expect_error([&] { import_graph_def(g, gd); }, Code::kInvalidArgument, {"'dup'", "twice"});
  }
  {
    tensorflow::GraphDef gd;
    set_const(add_node(gd, "c", "Const"), Tensor(1.f));
    set_type(add_node(gd, "i", "Identity", {"c:1"}), "T", tensorflow::DT_FLOAT);
    expect_error([&] { import_graph_def(g, gd); }, Code::kInvalidArgument, {"import/i", "c:1", "1 outputs"});
  }
  {
    tensorflow::GraphDef gd;
    set_const(add_node(gd, "c", "Const"), Tensor(1.f));
    auto* mm = add_node(gd, "mm", "MatMul", {"c", "c"});
    set_type(mm, "T", tensorflow::DT_FLOAT);
    (*mm->mutable_attr())["transpose_a"].set_i(1);
    expect_error([&] { import_graph_def(g, gd); }, Code::kInvalidArgument, {"mm", "transpose_a", "bool"});
  }
  {
    tensorflow::GraphDef gd;  // a registered op with the wrong number of inputs
    set_const(add_node(gd, "c", "Const"), Tensor(1.f));
    set_type(add_node(gd, "m", "Mul", {"c"}), "T", tensorflow::DT_FLOAT);
    expect_error([&] { import_graph_def(g, gd); }, Code::kInvalidArgument, {"m"});
  }
  EXPECT_EQ(g.num_operations(), 0);  // a failed import leaves nothing behind
}

TEST(GraphIo, UnknownOpsImportAndFailOnlyWhenRun) {
  register_ops();  // the first use of a graph is an import
  tensorflow::GraphDef gd;
  set_const(add_node(gd, "c", "Const"), Tensor::from_vector<float>({1, 2}));
  auto* mystery = add_node(gd, "mystery", "MysteryOp", {"c"});
  set_type(mystery, "T", tensorflow::DT_FLOAT);
  (*mystery->mutable_attr())["flags"].mutable_list()->add_b(true);  // not an AttrValue flowgraph holds
  (*mystery->mutable_attr())["f"].mutable_func()->set_name("some_function");
  mystery->set_device("/job:worker/device:GPU:0");
  set_type(add_node(gd, "use", "Identity", {"mystery:2"}), "T", tensorflow::DT_FLOAT);
  set_type(add_node(gd, "fine", "Neg", {"c"}), "T", tensorflow::DT_FLOAT);
  // Halves flowgraph cannot hold: a half Const and an Identity of it.
  auto* s = add_node(gd, "s", "Const");
  set_type(s, "dtype", tensorflow::DT_HALF);
  auto* sv = (*s->mutable_attr())["value"].mutable_tensor();
  sv->set_dtype(tensorflow::DT_HALF);
  sv->add_half_val(0x3c00);
  set_type(add_node(gd, "s_id", "Identity", {"s"}), "T", tensorflow::DT_HALF);
  // A string op flowgraph does not run (Substr is not registered), and a registered op whose
  // kernel takes no strings (ZerosLike): both carried.
  auto* w = add_node(gd, "w", "Const");
  set_type(w, "dtype", tensorflow::DT_STRING);
  auto* wv = (*w->mutable_attr())["value"].mutable_tensor();
  wv->set_dtype(tensorflow::DT_STRING);
  wv->add_string_val("hello");
  set_type(add_node(gd, "w_zeros", "ZerosLike", {"w"}), "T", tensorflow::DT_STRING);
  set_type(add_node(gd, "w_id", "Identity", {"w"}), "T", tensorflow::DT_STRING);

  Graph g;
  import_graph_def(g, gd, {.prefix = ""});
  Operation* m = g.get_operation_by_name("mystery");
  EXPECT_TRUE(m->def().opaque);
  EXPECT_EQ(m->num_outputs(), 3);  // the highest index a consumer names
  EXPECT_EQ(m->output_dtype(2), f32);
  EXPECT_FALSE(g.get_operation_by_name("use")->def().opaque);
  EXPECT_TRUE(g.get_operation_by_name("s")->def().opaque);
  EXPECT_TRUE(g.get_operation_by_name("s_id")->def().opaque);
  EXPECT_EQ(g.get_operation_by_name("s_id")->output_dtype(0), static_cast<DType>(tensorflow::DT_HALF));
  EXPECT_FALSE(g.get_operation_by_name("w")->def().opaque);
  EXPECT_FALSE(g.get_operation_by_name("w_id")->def().opaque);
  EXPECT_TRUE(g.get_operation_by_name("w_zeros")->def().opaque);
  EXPECT_EQ(g.get_operation_by_name("w_zeros")->output_dtype(0), string_dtype);
  EXPECT_EQ(OpRegistry::global().find("MysteryOp"), nullptr);  // the registry is untouched

  Session sess(g);
  EXPECT_EQ(sess.run(g.get_tensor_by_name("fine:0")).to_vector<float>(), (std::vector<float>{-1, -2}));
  expect_error([&] { sess.run(g.get_tensor_by_name("use:0")); }, Code::kUnimplemented, {"'mystery'", "MysteryOp"});
  expect_error([&] { sess.run(g.get_tensor_by_name("s_id:0")); }, Code::kUnimplemented, {"'s'"});
  EXPECT_EQ(sess.run(g.get_tensor_by_name("w_id:0")).scalar<std::string>(), "hello");
  expect_error([&] { sess.run(g.get_tensor_by_name("w_zeros:0")); }, Code::kUnimplemented, {"'w_zeros'"});

  // All of it exports exactly as it came.
  EXPECT_TRUE(MessageDifferencer::Equals(g.to_graph_def(), gd)) << g.to_graph_def().DebugString();
}

TEST(GraphIo, TensorFlowEncodingsSurviveTheRoundTrip) {
  register_ops();  // the first use of a graph is an import
  // TF writes tf.zeros([3]) as one float_val; flowgraph would write tensor_content.
  tensorflow::GraphDef gd;
  auto* z = add_node(gd, "zeros", "Const");
  set_type(z, "dtype", tensorflow::DT_FLOAT);
  auto* t = (*z->mutable_attr())["value"].mutable_tensor();
  t->set_dtype(tensorflow::DT_FLOAT);
  t->mutable_tensor_shape()->add_dim()->set_size(3);
  t->add_float_val(0.f);
  Graph g;
  import_graph_def(g, gd, {.prefix = ""});
  EXPECT_TRUE(MessageDifferencer::Equals(g.to_graph_def(), gd));
  EXPECT_EQ(testing::eval(g.get_tensor_by_name("zeros:0")).to_vector<float>(), (std::vector<float>{0, 0, 0}));
  EXPECT_FALSE(g.get_operation_by_name("zeros")->def().opaque);
}

}  // namespace
}  // namespace fg
