// Op types TF 1.x writes that flowgraph now runs: Add (what `+` writes; AddV2 still imports),
// Div, FloorDiv, FloorMod, SqrtGrad, RsqrtGrad, ReciprocalGrad, and the Apply* optimizer kernels
// with TF's arguments. Expected optimizer values were computed apart from the kernels, from TF
// 1.x's formulas, in double precision.
#include <gtest/gtest.h>

#include "flowgraph.h"
#include "graph/op_registry.h"
#include "tests/test_util.h"
#include "tests/tf_graph_check.h"

namespace fg {
namespace {

using testing::eval;
using testing::expect_error;

Tensor F64(std::vector<double> v) { return Tensor::from_vector(v); }
Tensor I32(std::vector<int32_t> v) { return Tensor::from_vector(v); }

TEST(Tf1Ops, AddIsWhatOperatorsWriteAndAddV2StillRuns) {
  Graph g;
  Output x = constant(g, F64({1, 2}), "x");
  EXPECT_EQ((x + x).op()->type(), "Add");
  EXPECT_EQ(add(x, x).op()->type(), "Add");
  // What flowgraph writes loads in TF 1.10: no AddV2 in the GraphDef.
  const tensorflow::GraphDef gd = g.to_graph_def();
  // Graphs of later TFs that use AddV2 run it with the same kernel.
  const Output v2 = OpBuilder(g, "AddV2", "").input(x).input(x).build_output();
  EXPECT_EQ(eval(v2).to_vector<double>(), (std::vector<double>{2, 4}));
  int adds = 0;
  for (const auto& n : gd.node()) {
    EXPECT_NE(n.op(), "AddV2") << n.name();
    if (n.name() == "add") ++adds;
  }
  EXPECT_EQ(adds, 1);
}

TEST(Tf1Ops, FloorDivFloorModAndDivRoundLikeTensorFlow) {
  Graph g;
  Output a = constant(g, I32({7, -7, 7, -7, 0, -8}), "a"), b = constant(g, I32({2, 2, -2, -2, 3, 3}), "b");
  EXPECT_EQ(eval(floordiv(a, b)).to_vector<int32_t>(), (std::vector<int32_t>{3, -4, -4, 3, 0, -3}));
  EXPECT_EQ(eval(floormod(a, b)).to_vector<int32_t>(), (std::vector<int32_t>{1, 1, -1, -1, 0, 1}));
  EXPECT_EQ(eval(div(a, b)).to_vector<int32_t>(), (std::vector<int32_t>{3, -3, -3, 3, 0, -2}));  // truncates
  Output x = constant(g, F64({7.5, -7.5, 7.5, -7.5}), "x"), y = constant(g, F64({2, 2, -2, -2}), "y");
  EXPECT_EQ(eval(floordiv(x, y)).to_vector<double>(), (std::vector<double>{3, -4, -4, 3}));
  EXPECT_EQ(eval(floormod(x, y)).to_vector<double>(), (std::vector<double>{1.5, 0.5, -0.5, -1.5}));
  EXPECT_EQ(eval(div(x, y)).to_vector<double>(), (std::vector<double>{3.75, -3.75, -3.75, 3.75}));
  // Broadcasting, names and types as TF writes them.
  const Output fd = floordiv(a, constant(g, Tensor(int32_t{4})));
  EXPECT_EQ(fd.op()->type(), "FloorDiv");
  EXPECT_EQ(eval(fd).to_vector<int32_t>(), (std::vector<int32_t>{1, -2, 1, -2, 0, -2}));
  Graph names;
  Output n = constant(names, F64({1}), "n");
  EXPECT_EQ(floordiv(n, n).op()->name(), "floordiv");  // tf.floordiv's, tf.floormod's and tf.div's
  EXPECT_EQ(floormod(n, n).op()->name(), "FloorMod");
  EXPECT_EQ(floormod(n, n).op()->type(), "FloorMod");
  EXPECT_EQ(div(n, n).op()->name(), "div");
  EXPECT_EQ(div(n, n).op()->type(), "Div");
  // Integer division by zero is an error, not undefined behaviour.
  Output zero = constant(g, I32({1, 0, 1, 1, 1, 1}), "zero");
  for (const Output& q : {floordiv(a, zero), floormod(a, zero), div(a, zero)})
    expect_error([&] { eval(q); }, Code::kInvalidArgument, {"Integer division by zero"});
  // FloorDiv has no gradient (TF's is None): differentiating through it gives nothing.
  Output p = placeholder(g, f64, {2}, "p");
  EXPECT_FALSE(gradients({reduce_sum(floordiv(p, constant(g, F64({2, 2}))))}, {p})[0]);
}

TEST(Tf1Ops, GradientsOfSqrtRsqrtReciprocalUseTensorFlowsGradientOps) {
  Graph g;
  Output x = placeholder(g, f64, {3}, "x");
  const struct {
    Output y;
    const char* grad_type;
  } cases[] = {{sqrt(x), "SqrtGrad"}, {rsqrt(x), "RsqrtGrad"}, {reciprocal(x), "Reciprocal"}};
  const Tensor xv = F64({0.25, 1, 4});
  for (const auto& c : cases) {
    const Output gx = gradients({reduce_sum(c.y)}, {x})[0];
    EXPECT_EQ(gx.op()->type(), std::string(c.grad_type) == "Reciprocal" ? "ReciprocalGrad" : c.grad_type);
    EXPECT_EQ(gx.op()->input(0), c.y);  // (y, dy), as TF's
  }
  EXPECT_EQ(eval(gradients({reduce_sum(sqrt(x))}, {x})[0], {{x, xv}}).to_vector<double>(),
            (std::vector<double>{1, 0.5, 0.25}));
  EXPECT_EQ(eval(gradients({reduce_sum(rsqrt(x))}, {x})[0], {{x, xv}}).to_vector<double>(),
            (std::vector<double>{-4, -0.5, -0.0625}));
  EXPECT_EQ(eval(gradients({reduce_sum(reciprocal(x))}, {x})[0], {{x, xv}}).to_vector<double>(),
            (std::vector<double>{-16, -1, -0.0625}));
}

// ---- Apply*: var = [1, -2, 0.5], grad = [0.1, -0.3, 0] (a zero gradient keeps its element).

struct ApplyCase {
  Graph g;
  std::vector<Variable> refs;
  Session* sess = nullptr;
  Variable ref(const std::vector<double>& v, const std::string& name) {
    refs.push_back(variable(constant(g, F64(v)), {.name = name}));
    return refs.back();
  }
  Output scalar(double v) { return constant(g, Tensor(v)); }
  Output grad() { return constant(g, F64({0.1, -0.3, 0.0}), "grad"); }
  // Runs `update` once from fresh values; returns every ref's new value.
  std::vector<std::vector<double>> run(const Output& update) {
    Session s(g);
    s.run(global_variables_initializer(g));
    const Tensor out = s.run(update);
    std::vector<std::vector<double>> r;
    for (const Variable& v : refs) r.push_back(s.variable_value(v.op).to_vector<double>());
    EXPECT_TRUE(out.equals(s.variable_value(refs[0].op)));  // the op's output is the updated var
    return r;
  }
};

void expect_near(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << i;
}

TEST(Tf1Ops, ApplyAdadeltaProximalAndAdagradDA) {
  {
    ApplyCase c;
    Variable var = c.ref({1, -2, 0.5}, "var"), acc = c.ref({0.2, 0.1, 0.3}, "accum"),
             upd = c.ref({0.05, 0.01, 0.02}, "accum_update");
    const auto r = c.run(OpBuilder(c.g, "ApplyAdadelta", "").input(var.ref()).input(acc.ref()).input(upd.ref())
                             .input(c.scalar(0.5)).input(c.scalar(0.9)).input(c.scalar(1e-3)).input(c.grad())
                             .build_output());
    expect_near(r[0], {0.974786564996547, -1.9502732466372477, 0.5});
    expect_near(r[1], {0.18100000000000002, 0.099, 0.27});
    expect_near(r[2], {0.04528021978021979, 0.00999, 0.018000000000000002});
  }
  {
    ApplyCase c;
    Variable var = c.ref({1, -2, 0.5}, "var");
    const auto r = c.run(OpBuilder(c.g, "ApplyProximalGradientDescent", "").input(var.ref()).input(c.scalar(0.5))
                             .input(c.scalar(0.1)).input(c.scalar(0.2)).input(c.grad()).build_output());
    expect_near(r[0], {0.818181818181818, -1.6363636363636362, 0.40909090909090906});
  }
  {
    ApplyCase c;
    Variable var = c.ref({1, -2, 0.5}, "var"), acc = c.ref({0.2, 0.1, 0.3}, "accum");
    const auto r = c.run(OpBuilder(c.g, "ApplyProximalAdagrad", "").input(var.ref()).input(acc.ref())
                             .input(c.scalar(0.5)).input(c.scalar(0.1)).input(c.scalar(0.2)).input(c.grad())
                             .build_output());
    expect_near(r[0], {0.641742430504416, -1.2535780125465168, 0.34561291120511517});
    expect_near(r[1], {0.21000000000000002, 0.19, 0.3});
  }
  {
    ApplyCase c;
    Variable var = c.ref({1, -2, 0.5}, "var"), ga = c.ref({0.2, -0.1, 0.3}, "gradient_accumulator"),
             gs = c.ref({0.1, 0.2, 0.3}, "gradient_squared_accumulator");
    const Output up = OpBuilder(c.g, "ApplyAdagradDA", "").input(var.ref()).input(ga.ref()).input(gs.ref())
                          .input(c.grad()).input(c.scalar(0.5)).input(c.scalar(0.1)).input(c.scalar(0.2))
                          .input(constant(c.g, Tensor(int64_t{3}))).build_output();
    const auto r = c.run(up);
    expect_near(r[0], {0, 0.059629120178362575, 0});
    expect_near(r[1], {0.3, -0.4, 0.3});
    expect_near(r[2], {0.11, 0.29, 0.3});
    // global_step is int64, as TF's argument list says.
    EXPECT_EQ(up.op()->def().inputs[7].fixed, i64);
  }
}

TEST(Tf1Ops, ApplyFtrlAndFtrlV2) {
  const struct {
    const char* type;
    double lr_power, shrinkage;
    std::vector<double> var, linear, accum;
  } cases[] = {
      {"ApplyFtrl", -0.5, 0, {-0.021201466798275094, 0.17404859600413197, -0.06686972259714734},
       {0.12791205200874778, -0.3213514866510825, 0.2}, {0.21, 0.19, 0.3}},
      {"ApplyFtrl", -0.7, 0, {-0.02566097385997914, 0.2411801147876777, -0.07930067962931445},
       {0.12747739221901244, -0.3473059644723441, 0.2}, {0.21, 0.19, 0.3}},
      {"ApplyFtrlV2", -0.5, 0.3, {0.0, -0.7983321324648767, -0.19601142276087435},
       {-0.01689758158369903, 2.866972822635005, 0.42322275766532624}, {0.69, 2.35, 0.39}},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(str_cat(k.type, " lr_power ", k.lr_power));
    ApplyCase c;
    Variable var = c.ref({1, -2, 0.5}, "var"), acc = c.ref({0.2, 0.1, 0.3}, "accum"),
             lin = c.ref({0.05, -0.5, 0.2}, "linear");
    OpBuilder b(c.g, k.type, "");
    b.input(var.ref()).input(acc.ref()).input(lin.ref()).input(c.grad()).input(c.scalar(0.5)).input(c.scalar(0.1))
        .input(c.scalar(0.2));
    if (std::string(k.type) == "ApplyFtrlV2") b.input(c.scalar(k.shrinkage));
    const auto r = c.run(b.input(c.scalar(k.lr_power)).build_output());
    expect_near(r[0], k.var);
    expect_near(r[2], k.linear);
    expect_near(r[1], k.accum);
  }
}

TEST(Tf1Ops, ApplyAddSignPowerSignAdamNesterovAndAdagradWithoutSlotUpdates) {
  for (const bool power : {false, true}) {
    ApplyCase c;
    Variable var = c.ref({1, -2, 0.5}, "var"), m = c.ref({0.05, 0.2, -0.1}, "m");
    const auto r = c.run(OpBuilder(c.g, power ? "ApplyPowerSign" : "ApplyAddSign", "").input(var.ref())
                             .input(m.ref()).input(c.scalar(0.5)).input(c.scalar(power ? 0.7 : 1.0))
                             .input(c.scalar(0.9)).input(c.scalar(0.9)).input(c.grad()).build_output());
    if (power) expect_near(r[0], {0.9061194710367828, -1.9201112298489655, 0.5});
    else expect_near(r[0], {0.905, -1.985, 0.5});
    expect_near(r[1], {0.055, 0.15, -0.09});
  }
  {
    ApplyCase c;
    Variable var = c.ref({1, -2, 0.5}, "var"), m = c.ref({0.05, 0.2, -0.1}, "m"), v = c.ref({0.01, 0.02, 0.03}, "v");
    const auto r = c.run(OpBuilder(c.g, "ApplyAdam", "").input(var.ref()).input(m.ref()).input(v.ref())
                             .input(c.scalar(0.9)).input(c.scalar(0.999)).input(c.scalar(0.5)).input(c.scalar(0.9))
                             .input(c.scalar(0.999)).input(c.scalar(1e-8)).input(c.grad())
                             .attr("use_nesterov", true).build_output());
    expect_near(r[0], {0.9059222490177657, -2.1171886595098983, 0.5739795400140629});
  }
  {
    ApplyCase c;
    Variable var = c.ref({1, -2, 0.5}, "var"), acc = c.ref({0.2, 0.1, 0.3}, "accum");
    const auto r = c.run(OpBuilder(c.g, "ApplyAdagrad", "").input(var.ref()).input(acc.ref()).input(c.scalar(0.5))
                             .input(c.grad()).attr("update_slots", false).build_output());
    expect_near(r[0], {0.8881966011250105, -1.525658350974743, 0.5});
    expect_near(r[1], {0.2, 0.1, 0.3});
  }
}

// Every Apply* flowgraph registers has TF's arguments and attrs: a graph with one node of each,
// and its stripped_op_list, are TF's by TF's own OpDefs.
TEST(Tf1Ops, ApplyOpsHaveTensorFlowsSignatures) {
  Graph g;
  Output grad = constant(g, Tensor::from_vector<float>({1, 2, 3}), "grad");
  Output scalar = constant(g, Tensor(0.5f), "scalar");
  Output step = constant(g, Tensor(int64_t{1}), "step");
  const std::vector<std::string> types = {"ApplyGradientDescent", "ApplyMomentum", "ApplyAdagrad", "ApplyAdagradDA",
                                          "ApplyAdadelta", "ApplyAdam", "ApplyRMSProp", "ApplyCenteredRMSProp",
                                          "ApplyFtrl", "ApplyFtrlV2", "ApplyProximalGradientDescent",
                                          "ApplyProximalAdagrad", "ApplyAddSign", "ApplyPowerSign"};
  for (const std::string& t : types) {
    OpBuilder b(g, t, "");
    for (const ArgDef& a : OpRegistry::global().get(t).inputs) {
      if (a.is_ref) b.input(variable(constant(g, Tensor::from_vector<float>({0, 0, 0}))).ref());
      else if (a.fixed == i64) b.input(step);
      else b.input(a.name == "grad" || a.name == "delta" ? grad : scalar);
    }
    b.build();
  }
  const tensorflow::MetaGraphDef meta = train::to_meta_graph_def(g);
  testing::expect_graph_is_tf(meta.graph_def());
  testing::expect_stripped_op_list_is_tf(meta);
}

}  // namespace
}  // namespace fg
