// GraphDefs of older TensorFlows and op types flowgraph does not run, read as TF reads them: an
// empty Placeholder shape of producers <= 21 is unknown; an unknown op's outputs are typed by the
// meta graph's stripped_op_list.
#include <gtest/gtest.h>

#include "flowgraph.h"
#include "graph/op_registry.h"
#include "graph/tensor_proto.h"
#include "tests/test_util.h"

namespace fg {
namespace {

using testing::expect_error;

tensorflow::NodeDef* node(tensorflow::GraphDef& gd, const std::string& name, const std::string& op,
                          std::vector<std::string> inputs = {}) {
  auto* n = gd.add_node();
  n->set_name(name);
  n->set_op(op);
  for (auto& i : inputs) n->add_input(i);
  return n;
}
void type_attr(tensorflow::NodeDef* n, const std::string& attr, tensorflow::DataType t) {
  (*n->mutable_attr())[attr].set_type(t);
}

// x: Placeholder with an empty `shape` (as TF 1.1 wrote an unknown shape), MatMul(x, w).
tensorflow::GraphDef old_placeholder_graph(int producer) {
  tensorflow::GraphDef gd;
  gd.mutable_versions()->set_producer(producer);
  auto* x = node(gd, "x", "Placeholder");
  type_attr(x, "dtype", tensorflow::DT_FLOAT);
  (*x->mutable_attr())["shape"].mutable_shape();  // no dims, no unknown_rank
  auto* w = node(gd, "w", "Const");
  type_attr(w, "dtype", tensorflow::DT_FLOAT);
  *(*w->mutable_attr())["value"].mutable_tensor() = tensor_to_proto(Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {3, 2}));
  type_attr(node(gd, "y", "MatMul", {"x", "w"}), "T", tensorflow::DT_FLOAT);
  return gd;
}

TEST(Tf1Import, ProducersUpTo21ReadAnEmptyPlaceholderShapeAsUnknown) {
  register_ops();
  for (int producer : {0, 17, 21}) {
    SCOPED_TRACE(producer);
    Graph g;
    import_graph_def(g, old_placeholder_graph(producer), {.prefix = ""});
    const Output x = g.get_tensor_by_name("x:0");
    EXPECT_FALSE(x.shape().known_rank());
    EXPECT_FALSE(g.get_operation_by_name("x")->attr<Shape>("shape").known_rank());
    Session s(g);
    const Tensor y = s.run({{x, Tensor::from_vector<float>({1, 0, 1, 0, 1, 0}, {2, 3})}}, g.get_tensor_by_name("y:0"));
    EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{6, 8, 3, 4}));
    // Written back (as producer 26), the shape says unknown in the newer way, and stays so.
    const tensorflow::GraphDef out = g.to_graph_def();
    EXPECT_GT(out.versions().producer(), 21);
    EXPECT_TRUE(out.node(0).attr().at("shape").shape().unknown_rank());
    Graph g2;
    import_graph_def(g2, out, {.prefix = ""});
    EXPECT_FALSE(g2.get_tensor_by_name("x:0").shape().known_rank());
  }
  // From producer 22 on, the same attr is a scalar, which MatMul rejects as TF does.
  Graph g;
  expect_error([&] { import_graph_def(g, old_placeholder_graph(22), {.prefix = ""}); }, Code::kInvalidArgument,
               {"'y'", "MatMul"});
  tensorflow::GraphDef scalar = old_placeholder_graph(22);
  scalar.mutable_node()->RemoveLast();
  import_graph_def(g, scalar, {.prefix = ""});
  EXPECT_EQ(g.get_tensor_by_name("x:0").shape(), Shape{});
  // Only Placeholder's shape has the legacy reading: PlaceholderWithDefault's scalar stays scalar.
  tensorflow::GraphDef pwd;
  pwd.mutable_versions()->set_producer(21);
  auto* c = node(pwd, "c", "Const");
  type_attr(c, "dtype", tensorflow::DT_FLOAT);
  *(*c->mutable_attr())["value"].mutable_tensor() = tensor_to_proto(Tensor(1.0f));
  auto* d = node(pwd, "d", "PlaceholderWithDefault", {"c"});
  type_attr(d, "dtype", tensorflow::DT_FLOAT);
  (*d->mutable_attr())["shape"].mutable_shape();
  Graph g3;
  import_graph_def(g3, pwd, {.prefix = ""});
  EXPECT_EQ(g3.get_tensor_by_name("d:0").shape(), Shape{});
}

// An op type flowgraph does not register, "FancyTopK": values (N x T), hits (bool), idx
// (out_idx, default int64, which the node leaves out as TF's default-stripping writers do).
tensorflow::OpDef fancy_top_k_def() {
  tensorflow::OpDef d;
  d.set_name("FancyTopK");
  auto* in = d.add_input_arg();
  in->set_name("input");
  in->set_type_attr("T");
  auto* values = d.add_output_arg();
  values->set_name("values");
  values->set_type_attr("T");
  values->set_number_attr("N");
  auto* hits = d.add_output_arg();
  hits->set_name("hits");
  hits->set_type(tensorflow::DT_BOOL);
  auto* idx = d.add_output_arg();
  idx->set_name("idx");
  idx->set_type_attr("out_idx");
  auto* t = d.add_attr();
  t->set_name("T");
  t->set_type("type");
  auto* n = d.add_attr();
  n->set_name("N");
  n->set_type("int");
  auto* oi = d.add_attr();
  oi->set_name("out_idx");
  oi->set_type("type");
  oi->mutable_default_value()->set_type(tensorflow::DT_INT64);
  return d;
}

tensorflow::GraphDef fancy_graph(int consumed_output) {
  tensorflow::GraphDef gd;
  gd.mutable_versions()->set_producer(26);
  auto* c = node(gd, "c", "Const");
  type_attr(c, "dtype", tensorflow::DT_FLOAT);
  *(*c->mutable_attr())["value"].mutable_tensor() = tensor_to_proto(Tensor::from_vector<float>({1, 2}));
  auto* k = node(gd, "k", "FancyTopK", {"c"});
  type_attr(k, "T", tensorflow::DT_FLOAT);
  (*k->mutable_attr())["N"].set_i(2);
  auto* cast = node(gd, "hit", "Cast", {str_cat("k:", consumed_output)});
  type_attr(cast, "SrcT", tensorflow::DT_BOOL);
  type_attr(cast, "DstT", tensorflow::DT_FLOAT);
  type_attr(node(gd, "idx", "Identity", {"k:3"}), "T", tensorflow::DT_INT64);
  return gd;
}

TEST(Tf1Import, UnknownOpsTakeTheirOutputTypesFromTheMetaGraphsOpList) {
  register_ops();
  ASSERT_EQ(OpRegistry::global().find("FancyTopK"), nullptr);
  tensorflow::OpList ops;
  *ops.add_op() = fancy_top_k_def();
  {
    Graph g;
    import_graph_def(g, fancy_graph(2), {.prefix = "", .op_list = &ops});
    Operation* k = g.get_operation_by_name("k");
    EXPECT_TRUE(k->def().opaque);
    ASSERT_EQ(k->num_outputs(), 4);
    EXPECT_EQ(k->output_dtype(0), f32);
    EXPECT_EQ(k->output_dtype(1), f32);
    EXPECT_EQ(k->output_dtype(2), boolean);
    EXPECT_EQ(k->output_dtype(3), i64);
    EXPECT_EQ(g.get_tensor_by_name("hit:0").dtype(), f32);
    // Running it is still Unimplemented, naming the node.
    Session s(g);
    expect_error([&] { s.run(g.get_tensor_by_name("hit:0")); }, Code::kUnimplemented, {"'k'", "FancyTopK"});
  }
  // Without the op list the output types are guessed from T, and the Cast of a bool fails.
  {
    Graph g;
    expect_error([&] { import_graph_def(g, fancy_graph(2), {.prefix = ""}); }, Code::kInvalidArgument,
                 {"'hit'", "Cast"});
  }
  // A node using an output its definition does not declare is InvalidArgument.
  {
    Graph g;
    tensorflow::GraphDef gd = fancy_graph(2);
    gd.mutable_node(3)->set_input(0, "k:4");
    expect_error([&] { import_graph_def(g, gd, {.prefix = "", .op_list = &ops}); }, Code::kInvalidArgument,
                 {"'k'", "output 4", "declares 4 outputs"});
    EXPECT_EQ(g.num_operations(), 0);
  }
  // A definition with a huge count allocates nothing: InvalidArgument.
  {
    Graph g;
    tensorflow::GraphDef gd = fancy_graph(2);
    (*gd.mutable_node(1)->mutable_attr())["N"].set_i(int64_t{1} << 40);
    expect_error([&] { import_graph_def(g, gd, {.prefix = "", .op_list = &ops}); }, Code::kInvalidArgument,
                 {"'k'", "declares more than"});
  }
  // import_meta_graph reads the stripped_op_list, and writes the definition back.
  {
    tensorflow::MetaGraphDef meta;
    *meta.mutable_graph_def() = fancy_graph(2);
    *meta.mutable_meta_info_def()->mutable_stripped_op_list() = ops;
    Graph g;
    train::import_meta_graph(g, meta);
    EXPECT_EQ(g.get_operation_by_name("k")->output_dtype(2), boolean);
    const tensorflow::MetaGraphDef again = train::to_meta_graph_def(g);
    bool listed = false;
    for (const auto& op : again.meta_info_def().stripped_op_list().op())
      if (op.name() == "FancyTopK") listed = op.output_arg_size() == 3;
    EXPECT_TRUE(listed);
  }
}

// An exported meta graph must import again. A carried type's definition is written back only when it
// declares what the graph's nodes have; otherwise it is left out, and the importer types the nodes
// by their uses and shapes as it did the first time (not by an empty or contradicting definition).
TEST(Tf1Import, AMetaGraphWithCarriedOpsReimportsWhetherOrNotItsOpListDefinesThem) {
  register_ops();
  // c -> k (of `type`, T = float, N = 1, `recorded` output shapes) -> Identity of k:0.
  auto graph = [](const std::string& type, int recorded) {
    tensorflow::MetaGraphDef meta;
    tensorflow::GraphDef& gd = *meta.mutable_graph_def();
    gd.mutable_versions()->set_producer(26);
    auto* c = node(gd, "c", "Const");
    type_attr(c, "dtype", tensorflow::DT_FLOAT);
    *(*c->mutable_attr())["value"].mutable_tensor() = tensor_to_proto(Tensor::from_vector<float>({1, 2}));
    auto* k = node(gd, "k", type, {"c"});
    type_attr(k, "T", tensorflow::DT_FLOAT);
    (*k->mutable_attr())["N"].set_i(1);
    for (int i = 0; i < recorded; ++i) (*k->mutable_attr())["_output_shapes"].mutable_list()->add_shape();
    type_attr(node(gd, "y", "Identity", {"k:0"}), "T", tensorflow::DT_FLOAT);
    return meta;
  };
  auto reimport = [](const tensorflow::MetaGraphDef& meta, const std::string& type) {
    Graph g;
    train::import_meta_graph(g, meta);
    const tensorflow::MetaGraphDef again = train::to_meta_graph_def(g);
    for (const auto& op : again.meta_info_def().stripped_op_list().op()) EXPECT_NE(op.name(), type);
    Graph g2;
    train::import_meta_graph(g2, again);
    return std::pair{g.get_operation_by_name("k")->num_outputs(), g2.get_operation_by_name("k")->num_outputs()};
  };
  // A type no meta graph defines: typed by its uses.
  {
    const auto [first, second] = reimport(graph("UnlistedTopK", 0), "UnlistedTopK");
    EXPECT_EQ(first, 1);
    EXPECT_EQ(second, 1);
  }
  // FancyTopK's definition is known from an earlier meta graph, and with N = 1 it declares three
  // outputs; this graph's node recorded four. The definition is not written back.
  {
    tensorflow::MetaGraphDef defined;
    *defined.mutable_graph_def() = fancy_graph(2);
    *defined.mutable_meta_info_def()->mutable_stripped_op_list()->add_op() = fancy_top_k_def();
    Graph g0;
    train::import_meta_graph(g0, defined);
    const auto [first, second] = reimport(graph("FancyTopK", 4), "FancyTopK");
    EXPECT_EQ(first, 4);
    EXPECT_EQ(second, 4);
  }
}

}  // namespace
}  // namespace fg
