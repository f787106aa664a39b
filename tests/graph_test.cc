#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>

#include "flowgraph.h"
#include "graph/op_registry.h"
#include "tests/test_util.h"

namespace fg {
namespace {

TEST(Graph, UniqueNamesGetSuffixes) {
  Graph g;
  auto a = placeholder(g, f32, {}, "x");
  auto b = placeholder(g, f32, {}, "x");
  auto c = placeholder(g, f32, {}, "x");
  EXPECT_EQ(a.op()->name(), "x");
  EXPECT_EQ(b.op()->name(), "x_1");
  EXPECT_EQ(c.op()->name(), "x_2");
  EXPECT_EQ(b.name(), "x_1:0");
  // TF compares case-insensitively when uniquifying.
  EXPECT_EQ(placeholder(g, f32, {}, "X").op()->name(), "X_3");
}

TEST(Graph, NameScopesNestAndUniquify) {
  Graph g;
  {
    auto s = g.name_scope("dnn");
    EXPECT_EQ(g.current_name_scope(), "dnn/");
    {
      auto s2 = g.name_scope("hidden1");
      EXPECT_EQ(placeholder(g, f32, {}, "a").op()->name(), "dnn/hidden1/a");
    }
    EXPECT_EQ(placeholder(g, f32, {}).op()->name(), "dnn/Placeholder");
  }
  EXPECT_EQ(g.current_name_scope(), "");
  {
    auto s = g.name_scope("dnn");
    EXPECT_EQ(g.current_name_scope(), "dnn_1/");
  }
  {
    auto s = g.name_scope("dnn/");  // re-enter exactly
    EXPECT_EQ(placeholder(g, f32, {}, "b").op()->name(), "dnn/b");
  }
}

TEST(Graph, GetTensorAndOperationByName) {
  Graph g;
  auto X = placeholder(g, f32, {-1, 784}, "X");
  EXPECT_EQ(g.get_tensor_by_name("X:0"), X);
  EXPECT_EQ(g.get_operation_by_name("X"), X.op());
  EXPECT_THROW(g.get_tensor_by_name("nope:0"), NotFound);
  EXPECT_THROW(g.get_tensor_by_name("X:1"), NotFound);
  EXPECT_THROW(g.get_tensor_by_name("X"), InvalidArgument);
  EXPECT_THROW(g.get_operation_by_name("nope"), NotFound);
  try {
    g.get_tensor_by_name("nope:0");
  } catch (const NotFound& e) {
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos);
  }
}

TEST(Graph, StaticShapesAndPlaceholderAttrs) {
  Graph g;
  auto X = placeholder(g, f32, {-1, 784}, "X");
  EXPECT_EQ(X.shape(), Shape({-1, 784}));
  EXPECT_EQ(X.dtype(), f32);
  EXPECT_EQ(X.op()->attr<Shape>("shape"), Shape({-1, 784}));
  auto y = placeholder(g, i32, Shape::unknown(), "y");
  EXPECT_FALSE(y.shape().known_rank());
  EXPECT_THROW(X.op()->attr<int64_t>("shape"), InvalidArgument);
  EXPECT_THROW(X.op()->attr<Shape>("nope"), NotFound);
}

TEST(Graph, PlaceholderWithDefaultNamesLikeTF) {
  Graph g;
  placeholder(g, f32, {-1, 784}, "X");
  placeholder(g, i32, {-1}, "y");
  auto training = placeholder_with_default(g, Tensor(false), {}, "training");
  const auto ops = g.get_operations();
  ASSERT_EQ(ops.size(), 4u);
  EXPECT_EQ(ops[2]->name(), "training/input");
  EXPECT_EQ(ops[3]->name(), "training");
  EXPECT_EQ(training.op()->type(), "PlaceholderWithDefault");
  EXPECT_EQ(training.dtype(), boolean);
}

TEST(Graph, ControlDependenciesAndGroup) {
  Graph g;
  auto a = placeholder(g, f32, {}, "a");
  Operation* n1 = no_op(g, "n1");
  Operation* inside;
  {
    auto deps = g.control_dependencies({n1});
    inside = identity(a, "inside").op();
    {
      auto clear = g.control_dependencies({});
      EXPECT_TRUE(identity(a, "cleared").op()->control_inputs().empty());
    }
  }
  ASSERT_EQ(inside->control_inputs().size(), 1u);
  EXPECT_EQ(inside->control_inputs()[0], n1);
  EXPECT_TRUE(identity(a, "outside").op()->control_inputs().empty());
  Operation* grp = group(g, {n1, inside}, "grp");
  EXPECT_EQ(grp->type(), "NoOp");
  EXPECT_EQ(grp->control_inputs().size(), 2u);
}

TEST(Graph, CollectionsMatchScopeFromStart) {
  Graph g;
  auto a = placeholder(g, f32, {}, "hidden1_x");
  auto b = placeholder(g, f32, {}, "hidden3_x");
  auto c = placeholder(g, f32, {}, "outputs_x");
  auto d = placeholder(g, f32, {}, "dnn_hidden1");
  for (auto& t : {a, b, c, d}) g.add_to_collection("mine", t);
  g.add_to_collection("other", a.op());
  EXPECT_EQ(g.get_collection("mine").size(), 4u);
  auto sel = g.get_collection("mine", "hidden[123]|outputs");
  ASSERT_EQ(sel.size(), 3u);  // re.match: dnn_hidden1 does not match from the start
  EXPECT_EQ(std::get<Output>(sel[0]), a);
  EXPECT_EQ(std::get<Output>(sel[2]), c);
  EXPECT_TRUE(g.get_collection("missing").empty());
  EXPECT_EQ(g.get_all_collection_keys().size(), 2u);
}

TEST(Graph, BadScopeRegexIsInvalidArgumentNamingThePattern) {
  Graph g;
  g.add_to_collection("mine", placeholder(g, f32, {}, "hidden1_x"));
  testing::expect_error([&] { g.get_collection("mine", "hidden[12"); }, Code::kInvalidArgument,
                             {"'hidden[12'", "regular expression", "mine"});
  testing::expect_error([&] { g.get_variables(GraphKeys::GLOBAL_VARIABLES, "(a"); }, Code::kInvalidArgument,
                             {"'(a'"});
}

TEST(Graph, OpBuilderChecksDtypesAndArity) {
  Graph g;
  auto a = placeholder(g, f32, {2}, "a");
  auto b = placeholder(g, f64, {2}, "b");
  try {
    OpBuilder(g, "Identity", "bad").input(a).input(b).build();
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("Identity 'bad'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(OpBuilder(g, "NoSuchOp", "x"), NotFound);
  // Differently-typed inputs sharing attr T.
  EXPECT_THROW(OpBuilder(g, "AddV2", "mixed").input(a).input(b).build(), InvalidArgument);
  EXPECT_EQ(g.find_operation("mixed"), nullptr);
}

TEST(Graph, VariableScopesNameVariablesNotNameScopes) {
  Graph g;
  Variable k;
  {
    auto ns = g.name_scope("dnn");
    auto vs = g.variable_scope("hidden1");
    k = get_variable(g, "kernel", {.shape = Shape{3, 2}});
    EXPECT_EQ(identity(k, "op").op()->name(), "dnn/hidden1/op");
  }
  EXPECT_EQ(k.name(), "hidden1/kernel");
  EXPECT_EQ(k.initializer->name(), "hidden1/kernel/Assign");
  EXPECT_EQ(k.snapshot.op()->name(), "hidden1/kernel/read");
  // Creating it again without reuse is an error; reusing returns the same variable.
  {
    auto vs = g.variable_scope("hidden1");
    EXPECT_THROW(get_variable(g, "kernel", {.shape = Shape{3, 2}}), InvalidArgument);
  }
  {
    auto vs = g.variable_scope("", {.reuse = true});
    EXPECT_EQ(get_variable(g, "hidden1/kernel").op, k.op);
    EXPECT_THROW(get_variable(g, "hidden1/missing"), InvalidArgument);
  }
}

TEST(Graph, VariableCollectionsAndTrainable) {
  Graph g;
  auto v1 = variable(constant(g, Tensor(1.0f)), {.name = "v"});
  auto v2 = variable(constant(g, Tensor(2.0f)), {.name = "v", .trainable = false});
  EXPECT_EQ(v1.name(), "v");
  EXPECT_EQ(v2.name(), "v_1");
  EXPECT_EQ(global_variables(g).size(), 2u);
  ASSERT_EQ(trainable_variables(g).size(), 1u);
  EXPECT_EQ(trainable_variables(g)[0], v1);
  EXPECT_EQ(global_variables_initializer(g)->name(), "init");
}

TEST(Graph, MissingGradientIsUnimplementedNamingTheOp) {
  register_ops();  // the registry is read before any builder runs
  Graph g;
  if (!OpRegistry::global().find("TestOpaqueOp"))
    OpRegistry::global().add("TestOpaqueOp").input("x", "T").output("y", "T").shape(unchanged_shape);
  auto x = placeholder(g, f32, {2}, "x");
  auto y = OpBuilder(g, "TestOpaqueOp", "opaque").input(x).build_output();
  try {
    gradients({reduce_sum(y)}, {x});
    FAIL() << "expected Unimplemented";
  } catch (const Unimplemented& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("opaque"), std::string::npos) << m;
    EXPECT_NE(m.find("TestOpaqueOp"), std::string::npos) << m;
  }
}

// The graph layer owns the registry, and the ops layer fills it (ops/register.h): until then a
// lookup is FailedPrecondition naming register_ops(), not an empty answer, and a builder that
// starts a graph fills it. Checked in a fresh process, where nothing has filled it yet.
TEST(Graph, RegistryAnswersNothingBeforeRegisterOps) {
  if (!std::getenv("FG_TEST_FRESH_REGISTRY")) {
    EXPECT_TRUE(testing::run_test_in_child("FG_TEST_FRESH_REGISTRY=1", "Graph.RegistryAnswersNothingBeforeRegisterOps"));
    return;
  }
  auto expect_not_registered = [](const std::function<void()>& fn) {
    try {
      fn();
      ADD_FAILURE() << "expected FailedPrecondition";
    } catch (const FailedPrecondition& e) {
      EXPECT_NE(std::string(e.what()).find("register_ops()"), std::string::npos) << e.what();
    }
  };
  Graph g;
  expect_not_registered([] { OpRegistry::global(); });
  expect_not_registered([&] { OpBuilder(g, "NoOp", "n"); });
  tensorflow::GraphDef gd;
  gd.add_node()->set_name("n");
  gd.mutable_node(0)->set_op("NoOp");
  expect_not_registered([&] { import_graph_def(g, gd); });
  EXPECT_EQ(g.num_operations(), 0);
  EXPECT_TRUE(placeholder(g, f32, {2}, "x"));  // a builder that starts a graph registers the ops
  EXPECT_NE(OpRegistry::global().find("MatMul"), nullptr);
  EXPECT_EQ(import_graph_def(g, gd).operations.size(), 1u);
}

// Shape functions read constant inputs through the constant trait (OpDef::constant_attr), so any
// op declaring it is seen through, and an op without it is not, whatever its attrs.
void test_constant_shape(InferenceContext& c) { c.set_output(0, c.attr<Tensor>("v").shape()); }

TEST(Graph, ShapeFunctionsSeeConstantsByTrait) {
  register_ops();  // the registry is read before any builder runs
  if (!OpRegistry::global().find("TestConstant"))
    OpRegistry::global().add("TestConstant").output("output", "dtype").attr("v").attr("dtype")
        .shape(test_constant_shape).constant("v");
  Graph g;
  auto x = placeholder(g, f32, {6}, "x");
  Output dims = OpBuilder(g, "TestConstant", "dims").attr("dtype", i32)
                    .attr("v", Tensor::from_vector<int32_t>({2, 3})).build_output();
  ASSERT_NE(constant_value(*dims.op()), nullptr);
  EXPECT_EQ(reshape(x, dims).shape(), Shape({2, 3}));
  EXPECT_EQ(reshape(x, identity(dims)).shape(), Shape({-1, -1})) << "an Identity is no constant";
  EXPECT_EQ(constant_value(*identity(dims).op()), nullptr);
  EXPECT_EQ(constant_value(*x.op()), nullptr);
}

TEST(Graph, GradientsStopAtStopGradientAndIntegers) {
  Graph g;
  auto x = placeholder(g, f32, {3}, "x");
  auto y = reduce_sum(stop_gradient(x * 2.0f)) + reduce_sum(x);
  auto grads = gradients({y}, {x});
  ASSERT_TRUE(grads[0]);
  Session s(g);
  auto gv = s.run({{x, Tensor::from_vector<float>({1, 2, 3})}}, grads[0]);
  EXPECT_EQ(gv.to_vector<float>(), (std::vector<float>{1, 1, 1}));
  EXPECT_EQ(grads[0].op()->name().rfind("gradients/", 0), 0u) << grads[0].op()->name();
  // Unconnected: none.
  auto z = placeholder(g, f32, {3}, "z");
  EXPECT_FALSE(gradients({y}, {z})[0]);
}

TEST(Graph, GradientsSumSeveralPaths) {
  Graph g;
  auto x = placeholder(g, f64, {2}, "x");
  auto y = reduce_sum(x * x + x * 3.0);
  auto gx = gradients({y}, {x})[0];
  Session s(g);
  auto v = s.run({{x, Tensor::from_vector<double>({1, -2})}}, gx);
  EXPECT_EQ(v.to_vector<double>(), (std::vector<double>{5, -1}));
}

// TF's `attr >= n` bounds hold when an op is built: ConcatV2 joins at least two values.
TEST(Graph, AttrMinimumsAreChecked) {
  Graph g;
  auto a = placeholder(g, f32, {2}, "a");
  auto axis = constant(g, Tensor(int32_t{0}));
  testing::expect_error([&] { OpBuilder(a, "ConcatV2", "c").input_list({a}).input(axis).build(); },
                        Code::kInvalidArgument, {"ConcatV2", "'N' is 1, below its minimum 2"});
  EXPECT_EQ(OpBuilder(a, "ConcatV2", "c2").input_list({a, a}).input(axis).build_output().shape(),
            Shape({4}));
}

}  // namespace
}  // namespace fg
