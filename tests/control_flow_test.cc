// TF 1.x control flow: Switch/RefSwitch/Merge/RefMerge semantics in the Session (dead values
// through data and control edges, dead fetches and targets), tf.cond's nodes and names, smart_cond,
// and while loops that import and are carried.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "flowgraph.h"
#include "graph/control_flow.h"
#include "graph/op_registry.h"
#include "proto/control_flow.pb.h"
#include "tests/test_util.h"

namespace fg {
namespace {

using testing::expect_error;

Tensor f32v(std::vector<float> v) { return Tensor::from_vector<float>(v); }

// d loss / d element i of a float64 variable by central differences on its value, which is restored.
double central_difference(Session& s, const FeedDict& feeds, const Output& loss, Operation* var, int64_t i) {
  const Tensor orig = s.variable_value(var).clone();
  Tensor t = orig.clone();
  t.data<double>()[i] += 1e-6;
  s.set_variable_value(var, t);
  const double up = s.run(feeds, loss).scalar<double>();
  t.data<double>()[i] -= 2e-6;
  s.set_variable_value(var, t);
  const double down = s.run(feeds, loss).scalar<double>();
  s.set_variable_value(var, orig);
  return (up - down) / 2e-6;
}

TEST(Switch, ForwardsDataToTheSidePredSelectsAndTheOtherIsDead) {
  Graph g;
  auto x = placeholder(g, f32, {2}, "x");
  auto p = placeholder(g, boolean, {}, "p");
  auto [out_false, out_true] = switch_op(x, p);
  EXPECT_EQ(out_false.name(), "Switch:0");
  EXPECT_EQ(out_true.name(), "Switch:1");
  EXPECT_EQ(out_true.shape(), Shape({2}));
  Session s(g);
  const Tensor xv = f32v({1, 2});
  EXPECT_EQ(s.run({{x, xv}, {p, Tensor(true)}}, out_true).to_vector<float>(), (std::vector<float>{1, 2}));
  EXPECT_EQ(s.run({{x, xv}, {p, Tensor(false)}}, out_false).to_vector<float>(), (std::vector<float>{1, 2}));
  // TF's wording for a fetch that got no value, naming the tensor.
  expect_error([&] { s.run({{x, xv}, {p, Tensor(false)}}, out_true); }, Code::kInvalidArgument,
               {"Retval[0] does not have value", "'Switch:1'"});
  expect_error([&] { s.run({{x, xv}, {p, Tensor(true)}}, {out_true, out_false}); }, Code::kInvalidArgument,
               {"Retval[1] does not have value", "'Switch:0'"});
  // A pred that is not a scalar.
  auto pv = placeholder(g, boolean, Shape::unknown(), "pv");
  auto [f2, t2] = switch_op(x, pv, "SwitchV");
  expect_error([&] { s.run({{x, xv}, {pv, Tensor::from_vector<bool>({true, false})}}, t2); }, Code::kInvalidArgument,
               {"SwitchV", "pred must be a bool scalar"});
  EXPECT_THROW(switch_op(x, placeholder(g, boolean, {2}, "p2")), InvalidArgument);
}

TEST(Switch, DeadnessFlowsThroughDataEdgesUntilAMerge) {
  Graph g;
  auto x = placeholder(g, f32, {2}, "x");
  auto p = placeholder(g, boolean, {}, "p");
  auto [xf, xt] = switch_op(x, p);
  Output when_true = nn::relu(xt * 2.0f) + 1.0f;  // dead unless p
  Output when_false = xf - 10.0f;              // dead unless !p
  auto [y, index] = merge({when_false, when_true});
  EXPECT_EQ(y.op()->type(), "Merge");
  EXPECT_EQ(y.shape(), Shape({2}));
  EXPECT_EQ(index.dtype(), i32);
  Session s(g);
  const Tensor xv = f32v({1, -2});
  auto r = s.run({{x, xv}, {p, Tensor(true)}}, {y, index, when_true});
  EXPECT_EQ(r[0].to_vector<float>(), (std::vector<float>{3, 1}));
  EXPECT_EQ(r[1].scalar<int32_t>(), 1);
  EXPECT_EQ(r[2].to_vector<float>(), (std::vector<float>{3, 1}));
  r = s.run({{x, xv}, {p, Tensor(false)}}, {y, index});
  EXPECT_EQ(r[0].to_vector<float>(), (std::vector<float>{-9, -12}));
  EXPECT_EQ(r[1].scalar<int32_t>(), 0);
  expect_error([&] { s.run({{x, xv}, {p, Tensor(false)}}, {y, when_true}); }, Code::kInvalidArgument,
               {"Retval[1] does not have value", when_true.name()});
  // Feeding the Switch's output makes everything after it live.
  EXPECT_EQ(s.run({{xt, f32v({5, 5})}, {x, xv}, {p, Tensor(false)}}, when_true).to_vector<float>(),
            (std::vector<float>{11, 11}));
}

TEST(Switch, ADeadControlInputMakesAnOpDeadButNotAMerge) {
  Graph g;
  auto p = placeholder(g, boolean, {}, "p");
  auto [pf, pt] = switch_op(p, p);
  Output pivot = identity(pt, "pivot");  // forwarded: the plan runs no step for it
  Output c;
  {
    auto deps = g.control_dependencies({pivot.op()});
    c = constant(g, f32v({7}), "c");  // no data input: dead through its control input alone
  }
  Output other = constant(g, f32v({1}), "other");
  Output merged_dep;
  {
    auto deps = g.control_dependencies({c.op()});
    merged_dep = merge({other, c}, "M").first;  // a dead control input does not kill a Merge
  }
  Session s(g);
  EXPECT_EQ(s.run({{p, Tensor(true)}}, c).to_vector<float>(), (std::vector<float>{7}));
  expect_error([&] { s.run({{p, Tensor(false)}}, c); }, Code::kInvalidArgument, {"does not have value", "'c:0'"});
  EXPECT_EQ(s.run({{p, Tensor(false)}}, merged_dep).to_vector<float>(), (std::vector<float>{1}));
  EXPECT_EQ(s.run({{p, Tensor(true)}}, merged_dep).to_vector<float>(), (std::vector<float>{1}))
      << "several live inputs: the lowest index";
}

TEST(Merge, WithoutAnySwitchTakesTheFirstInput) {
  Graph g;
  auto a = placeholder(g, f32, {-1}, "a");
  auto b = placeholder(g, f32, {3}, "b");
  auto [m, i] = merge({a, b});
  EXPECT_EQ(m.shape(), Shape({-1}));
  auto r = testing::eval(m, {{a, f32v({1})}, {b, f32v({2, 3, 4})}});
  EXPECT_EQ(r.to_vector<float>(), (std::vector<float>{1}));
  EXPECT_EQ(testing::eval(i, {{a, f32v({1})}, {b, f32v({2, 3, 4})}}).scalar<int32_t>(), 0);
}

TEST(Switch, ADeadTargetIsNotAnErrorAndDoesNothing) {
  Graph g;
  auto p = placeholder(g, boolean, {}, "p");
  Variable v = variable(constant(g, f32v({1, 2}), "init_v"), {.name = "v"});
  auto [d_false, d_true] = switch_op(constant(g, f32v({10, 10}), "delta"), p);
  Output add = assign_add(v, d_true, "add_in_true");
  Session s(g);
  s.run(global_variables_initializer(g));
  s.run({{p, Tensor(false)}}, {}, {add.op()});
  EXPECT_EQ(s.variable_value(v.op).to_vector<float>(), (std::vector<float>{1, 2}));
  s.run({{p, Tensor(true)}}, {}, {add.op()});
  EXPECT_EQ(s.variable_value(v.op).to_vector<float>(), (std::vector<float>{11, 12}));
}

TEST(RefSwitch, AnAssignThroughTheTakenSideUpdatesTheVariable) {
  Graph g;
  auto p = placeholder(g, boolean, {}, "p");
  Variable v = variable(constant(g, f32v({4, 8}), "init_v"), {.name = "v"});
  Operation* rs = OpBuilder(g, "RefSwitch", "v/Switch").input(v.ref()).input(p).build();
  EXPECT_EQ(referenced_variable(rs->output(1)), v.op);
  Operation* sub = OpBuilder(g, "AssignSub", "v/AssignSub").input(rs->output(1)).input(constant(g, f32v({1, 2}))).build();
  EXPECT_EQ(referenced_variable(sub->output(0)), v.op) << "Assign's output_ref refers to the variable";
  // TF's moving-average update: the Merge of the untouched value and the update.
  auto [sf, st] = switch_op(v.value(), p, "read_switch");
  auto [updated, idx] = merge({sf, sub->output(0)});
  Session s(g);
  s.run(global_variables_initializer(g));
  EXPECT_EQ(s.run({{p, Tensor(false)}}, updated).to_vector<float>(), (std::vector<float>{4, 8}));
  EXPECT_EQ(s.variable_value(v.op).to_vector<float>(), (std::vector<float>{4, 8}));
  EXPECT_EQ(s.run({{p, Tensor(true)}}, updated).to_vector<float>(), (std::vector<float>{3, 6}));
  EXPECT_EQ(s.variable_value(v.op).to_vector<float>(), (std::vector<float>{3, 6}));
  // Read as a value, the taken side is the variable's current tensor.
  EXPECT_EQ(s.run({{p, Tensor(false)}}, rs->output(0)).to_vector<float>(), (std::vector<float>{3, 6}));
  // RefMerge of two references to the same variable refers to it too.
  auto [rm, rm_index] = merge({rs->output(0), sub->output(0)}, "RefMerge");
  EXPECT_EQ(rm.op()->type(), "RefMerge");
  EXPECT_EQ(referenced_variable(rm), v.op);
  auto r = s.run({{p, Tensor(true)}}, {rm, rm_index});
  EXPECT_EQ(r[0].to_vector<float>(), (std::vector<float>{2, 4}));
  EXPECT_EQ(r[1].scalar<int32_t>(), 1);
  r = s.run({{p, Tensor(false)}}, {rm, rm_index});
  EXPECT_EQ(r[0].to_vector<float>(), (std::vector<float>{2, 4}));
  EXPECT_EQ(r[1].scalar<int32_t>(), 0);
}

TEST(RefSwitch, AnUninitializedVariableCanBeAssignedThroughItButNotRead) {
  Graph g;
  auto p = placeholder(g, boolean, {}, "p");
  Variable v = variable(constant(g, f32v({1}), "init_v"), {.name = "v"});
  Operation* rs = OpBuilder(g, "RefSwitch", "v/Switch").input(v.ref()).input(p).build();
  Operation* set = OpBuilder(g, "Assign", "v/Set").input(rs->output(1)).input(constant(g, f32v({5}))).build();
  Output read_through = identity(rs->output(1), "read_through");
  Session s(g);
  expect_error([&] { s.run({{p, Tensor(true)}}, read_through); }, Code::kFailedPrecondition,
               {"v/Switch", "uninitialized"});
  s.run({{p, Tensor(false)}}, {}, {set});
  EXPECT_FALSE(s.is_initialized(v.op));
  s.run({{p, Tensor(true)}}, {}, {set});
  EXPECT_EQ(s.variable_value(v.op).to_vector<float>(), (std::vector<float>{5}));
}

TEST(Switch, FusedStepsInADeadBranchDoNotRun) {
  Graph g;
  g.set_random_seed(3);
  auto x = placeholder(g, f32, {-1, 4}, "x");
  auto p = placeholder(g, boolean, {}, "p");
  auto [xf, xt] = switch_op(x, p);
  // MatMul -> BiasAdd -> Relu fuse into one step; in the dead branch it must not run.
  Output h = layers::dense(xt, 3, {.activation = nn::relu, .name = "d"});
  auto [y, i] = merge({reduce_sum(xf, {1}), reduce_sum(h, {1})});
  Session s(g);
  s.run(global_variables_initializer(g));
  const Tensor xv = testing::random_tensor({2, 4}, 1, -1, 1, f32);
  EXPECT_EQ(s.run({{x, xv}, {p, Tensor(false)}}, y).to_vector<float>(),
            testing::eval(reduce_sum(x, {1}), {{x, xv}}).to_vector<float>());
  s.set_profiling(true);
  s.run({{x, xv}, {p, Tensor(false)}}, y);
  for (const auto& prof : s.profile())
    if (prof.type != "VariableV2") EXPECT_EQ(prof.name.rfind("d/", 0), std::string::npos) << prof.name << " ran";
  s.set_profiling(false);
  EXPECT_EQ(s.run({{x, xv}, {p, Tensor(true)}}, i).scalar<int32_t>(), 1);
}

// ---- tf.cond

std::vector<std::string> op_names(const Graph& g) {
  std::vector<std::string> r;
  for (const Operation* op : g.get_operations()) r.push_back(op->name());
  return r;
}

bool has_control_input(const Operation* op, const std::string& name) {
  return std::any_of(op->control_inputs().begin(), op->control_inputs().end(),
                     [&](const Operation* c) { return c->name() == name; });
}

TEST(Cond, BuildsTensorFlowsNodesAndNames) {
  Graph g;
  auto x = placeholder(g, f32, {-1, 3}, "x");
  auto training = placeholder_with_default(g, Tensor(false), {}, "training");
  Output y = cond(training, [&] { return x * 2.0f; }, [&] { return x; });
  EXPECT_EQ(y.name(), "cond/Merge:0");
  EXPECT_EQ(y.shape(), Shape({-1, 3}));
  Operation* sw = g.get_operation_by_name("cond/Switch");
  EXPECT_EQ(sw->type(), "Switch");
  EXPECT_EQ(sw->input(0), training);
  EXPECT_EQ(sw->input(1), training);
  EXPECT_EQ(g.get_operation_by_name("cond/switch_t")->input(0).name(), "cond/Switch:1");
  EXPECT_EQ(g.get_operation_by_name("cond/switch_f")->input(0).name(), "cond/Switch:0");
  EXPECT_EQ(g.get_operation_by_name("cond/pred_id")->input(0), training);
  // True branch: x enters through a Switch named under the op that uses it; the constant waits
  // on the branch's pivot.
  Operation* mul = g.get_operation_by_name("cond/mul");
  EXPECT_EQ(mul->input(0).name(), "cond/mul/Switch:1");
  EXPECT_EQ(g.get_operation_by_name("cond/mul/Switch")->input(1).name(), "cond/pred_id:0");
  EXPECT_TRUE(has_control_input(mul->input(1).op(), "cond/switch_t")) << mul->input(1).op()->name();
  // False branch returns x itself: TF's "cond/Switch_1", output 0.
  Operation* merge_op = y.op();
  EXPECT_EQ(merge_op->input(0).name(), "cond/Switch_1:0");
  EXPECT_EQ(merge_op->input(1).name(), "cond/mul:0");
  // The branch contexts, as TF's cond_context collection lists them.
  ASSERT_EQ(g.cond_contexts().size(), 2u);
  const CondContext* t = g.cond_contexts()[0];
  const CondContext* f = g.cond_contexts()[1];
  EXPECT_EQ(t->name(), "cond/cond_text");
  EXPECT_EQ(f->name(), "cond/cond_text_1");
  EXPECT_EQ(t->pred().name(), "cond/pred_id:0");
  EXPECT_EQ(t->pivot().name(), "cond/switch_t:0");
  EXPECT_EQ(f->pivot().name(), "cond/switch_f:0");
  EXPECT_EQ(t->branch(), 1);
  EXPECT_EQ(f->branch(), 0);
  EXPECT_EQ(mul->cond_context(), t);
  EXPECT_EQ(g.get_operation_by_name("cond/Switch_1")->cond_context(), f);
  EXPECT_EQ(merge_op->cond_context(), nullptr);
  EXPECT_EQ(t->external_value(x).name(), "cond/mul/Switch:1");
  EXPECT_EQ(f->external_value(x).name(), "cond/Switch_1:0");
  EXPECT_TRUE(t->has_value(Output(mul, 0)));
  EXPECT_FALSE(f->has_value(Output(mul, 0)));

  Session s(g);
  const Tensor xv = f32v({1, 2, 3});
  EXPECT_EQ(s.run({{x, xv.reshaped({1, 3})}}, y).to_vector<float>(), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(s.run({{x, xv.reshaped({1, 3})}, {training, Tensor(true)}}, y).to_vector<float>(),
            (std::vector<float>{2, 4, 6}));
}

TEST(Cond, SeveralResultsNamesUniquifyAndErrorsNameTheProblem) {
  Graph g;
  auto x = placeholder(g, f32, {2}, "x");
  auto p = placeholder(g, boolean, {}, "p");
  auto rs = cond(p, [&]() -> std::vector<Output> { return {x + 1.0f, x * x}; },
                 [&]() -> std::vector<Output> { return {x - 1.0f, x}; });
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].name(), "cond/Merge:0");
  EXPECT_EQ(rs[1].name(), "cond/Merge_1:0");
  Output second = cond(p, [&] { return x; }, [&] { return x; });
  EXPECT_EQ(second.name(), "cond_1/Merge:0");
  Output named = cond(p, [&] { return x; }, [&] { return -x; }, "choose");
  EXPECT_EQ(named.name(), "choose/Merge:0");
  auto r = testing::eval(rs[1], {{x, f32v({3, 4})}, {p, Tensor(true)}});
  EXPECT_EQ(r.to_vector<float>(), (std::vector<float>{9, 16}));
  r = testing::eval(named, {{x, f32v({3, 4})}, {p, Tensor(false)}});
  EXPECT_EQ(r.to_vector<float>(), (std::vector<float>{-3, -4}));

  expect_error([&] { cond(x, [&] { return x; }, [&] { return x; }); }, Code::kInvalidArgument,
               {"pred must be a bool"});
  expect_error([&] { cond(p, [&] { return x; }, [&] { return cast(x, i32); }); }, Code::kInvalidArgument,
               {"same type", "float", "int32"});
  expect_error([&] {
    cond(p, [&]() -> std::vector<Output> { return {x, x}; }, [&]() -> std::vector<Output> { return {x}; });
  }, Code::kInvalidArgument, {"true_fn returned 2", "false_fn 1"});
}

TEST(Cond, OnlyTheTakenBranchRunsAndVariablesMadeInsideLiveOutside) {
  Graph g;
  auto p = placeholder(g, boolean, {}, "p");
  Variable counter = variable(constant(g, f32v({0}), "zero"), {.name = "counter"});
  Output y = cond(p, [&] { return assign_add(counter, constant(g, f32v({1}), "one")); },
                  [&] {
                    // A variable made inside a branch is not part of it (TF's init_scope).
                    Variable w = get_variable(g, "w", {.shape = Shape{1}, .initializer = ones_initializer()});
                    EXPECT_EQ(w.op->cond_context(), nullptr);
                    EXPECT_EQ(w.initializer->cond_context(), nullptr);
                    return w.value() * 10.0f;
                  });
  Session s(g);
  s.run(global_variables_initializer(g));
  EXPECT_EQ(s.run({{p, Tensor(false)}}, y).to_vector<float>(), (std::vector<float>{10}));
  EXPECT_EQ(s.variable_value(counter.op).to_vector<float>(), (std::vector<float>{0}));
  EXPECT_EQ(s.run({{p, Tensor(true)}}, y).to_vector<float>(), (std::vector<float>{1}));
  EXPECT_EQ(s.run({{p, Tensor(true)}}, y).to_vector<float>(), (std::vector<float>{2}));
  EXPECT_EQ(s.variable_value(counter.op).to_vector<float>(), (std::vector<float>{2}));
  // The assign's reference entered the branch through a RefSwitch.
  const Operation* add = g.get_operation_by_name("cond/AssignAdd");
  EXPECT_EQ(add->input(0).op()->type(), "RefSwitch");
  EXPECT_EQ(add->input(0).name(), "cond/AssignAdd/Switch:1");
}

TEST(Cond, NestedCondsSwitchThroughEveryLevel) {
  Graph g;
  auto x = placeholder(g, f32, {}, "x");
  auto a = placeholder(g, boolean, {}, "a");
  auto b = placeholder(g, boolean, {}, "b");
  Output y = cond(a, [&] { return cond(b, [&] { return x * 2.0f; }, [&] { return x * 3.0f; }); },
                  [&] { return x * 5.0f; });
  ASSERT_EQ(g.cond_contexts().size(), 2u) << "nested contexts are listed by their outer branch";
  EXPECT_EQ(g.cond_contexts()[0]->nested().size(), 2u);
  const Operation* inner_mul = g.get_operation_by_name("cond/cond/mul");
  EXPECT_EQ(inner_mul->cond_context()->outer(), g.cond_contexts()[0]);
  Session s(g);
  for (bool av : {false, true})
    for (bool bv : {false, true}) {
      const float want = av ? (bv ? 2.0f : 3.0f) : 5.0f;
      EXPECT_EQ(s.run({{x, Tensor(1.0f)}, {a, Tensor(av)}, {b, Tensor(bv)}}, y).scalar<float>(), want)
          << av << bv;
    }
}

TEST(SmartCond, AConstantPredBuildsOnlyItsBranch) {
  Graph g;
  auto x = placeholder(g, f32, {}, "x");
  const int64_t before = g.num_operations();
  Output y = smart_cond(constant(g, Tensor(true), "yes"), [&] { return x * 2.0f; }, [&] { return x * 3.0f; });
  EXPECT_EQ(y.op()->type(), "Mul");
  EXPECT_EQ(g.num_operations(), before + 3) << "the Const pred, the 2.0 and the Mul";
  EXPECT_TRUE(g.cond_contexts().empty());
  EXPECT_EQ(testing::eval(y, {{x, Tensor(1.5f)}}).scalar<float>(), 3.0f);
  // A placeholder_with_default is decided at run time: a real cond.
  auto p = placeholder_with_default(g, Tensor(true), {}, "p");
  Output z = smart_cond(p, [&] { return x * 2.0f; }, [&] { return x * 3.0f; });
  EXPECT_EQ(z.op()->type(), "Merge");
  EXPECT_EQ(testing::eval(z, {{x, Tensor(1.0f)}, {p, Tensor(false)}}).scalar<float>(), 3.0f);
}

// ---- gradients through cond

// A float64 cond over the inputs, pred fixed by a placeholder_with_default's value (never folded).
// A pred computed by the run (not a feed or a constant): the plan tracks deadness as it runs
// instead of being specialized on the pred's value (runtime/plan.h).
Output computed(const Output& pred) { return equal(pred, constant(*pred.graph(), Tensor(true))); }

std::function<Output(const std::vector<Output>&)> cond_model(bool pred_value, bool computed_pred = false) {
  return [pred_value, computed_pred](const std::vector<Output>& in) {
    Graph& g = *in[0].graph();
    auto pred = placeholder_with_default(g, Tensor(pred_value), {}, "pred");
    if (computed_pred) pred = computed(pred);
    const Output x = in[0], w = in[1], b = in[2];
    // w appears in the true branch only, b in the false one only (broadcast over x's rows).
    return cond(pred, [&] { return nn::tanh(x * w) + x; }, [&] { return x * x + b; });
  };
}

TEST(CondGradient, NumericChecksWithPredTrueAndFalse) {
  const std::vector<Tensor> xs{testing::random_tensor({3, 4}, 1), testing::random_tensor({3, 4}, 2),
                               testing::random_tensor({4}, 3)};
  for (bool p : {true, false})
    for (bool run_time_pred : {false, true}) {
      SCOPED_TRACE(str_cat(p ? "pred true" : "pred false", run_time_pred ? ", computed" : ", a constant"));
      testing::expect_gradients_match(cond_model(p, run_time_pred), xs);
    }
  // A branch returning an outside tensor as is, and nested conds.
  for (bool p : {true, false})
    testing::expect_gradients_match(
        [p](const std::vector<Output>& in) {
          Graph& g = *in[0].graph();
          auto pred = placeholder_with_default(g, Tensor(p), {}, "pred");
          auto inner = placeholder_with_default(g, Tensor(!p), {}, "inner");
          return cond(pred, [&] { return in[0]; },
                      [&] { return cond(inner, [&] { return exp(in[0]) * in[1]; }, [&] { return in[1]; }); });
        },
        {testing::random_tensor({2, 3}, 4), testing::random_tensor({2, 3}, 5)});
}

// A pred known as the run starts (fed, or a constant) runs a plan specialized on its value: no
// Switch or Merge step, nothing of the untaken branch. It computes, bit for bit, what the generic
// plan computes, which tracks deadness as it runs (a pred the run computes).
TEST(CondPlans, SpecializedOnAKnownPredMatchTheGenericPlan) {
  const Tensor xv = testing::random_tensor({3, 4}, 10);
  std::vector<Tensor> results[2][2];  // [pred computed][pred value]
  for (bool run_time_pred : {false, true}) {
    Graph g;
    auto x = placeholder(g, f64, {3, 4}, "x");
    auto p = placeholder(g, boolean, {}, "p");
    const Output pred = run_time_pred ? computed(p) : p;
    Variable w = variable(constant(g, testing::random_tensor({4}, 8), "w_init"), {.name = "w"});
    Variable b = variable(constant(g, testing::random_tensor({4}, 9), "b_init"), {.name = "b"});
    Output y = cond(pred, [&] { return nn::tanh(x * w.value()) + x; }, [&] { return x * x + b.value(); });
    Output loss = reduce_sum(y * y);
    auto grads = gradients({loss}, {x, w.value(), b.value()});
    Operation* train = train::GradientDescentOptimizer(0.1).minimize(loss);
    Session s(g);
    s.run(global_variables_initializer(g));
    for (bool pv : {true, false}) {
      SCOPED_TRACE(str_cat(run_time_pred ? "computed pred " : "fed pred ", pv));
      s.set_profiling(true);
      s.reset_profile();
      std::vector<Tensor>& r = results[run_time_pred][pv];
      r = s.run({{x, xv}, {p, Tensor(pv)}}, {y, grads[0], grads[1], grads[2]}, {train});
      r.push_back(s.variable_value(w.op));
      r.push_back(s.variable_value(b.op));
      int control_flow_steps = 0, tanh_steps = 0;
      for (const auto& prof : s.profile()) {
        control_flow_steps += prof.type == "Switch" || prof.type == "Merge";
        tanh_steps += prof.type == "Tanh" || prof.type == "TanhGrad";
      }
      if (run_time_pred) EXPECT_GT(control_flow_steps, 0);
      else EXPECT_EQ(control_flow_steps, 0);
      if (pv) EXPECT_GT(tanh_steps, 0);
      else EXPECT_EQ(tanh_steps, 0);
      s.set_profiling(false);
    }
  }
  for (bool pv : {true, false})
    for (size_t k = 0; k < results[0][pv].size(); ++k)
      EXPECT_TRUE(results[0][pv][k].equals(results[1][pv][k])) << "pred " << pv << " value " << k;
}

// What a specialized plan cannot do the same way, the generic plan does: a dead fetch is an error
// naming it, a Merge's value_index is read, a pred fed with no bool scalar fails in its Switch.
TEST(CondPlans, TheGenericPlanRunsWhereASpecializationWouldDiffer) {
  Graph g;
  auto x = placeholder(g, f32, {2}, "x");
  auto p = placeholder(g, boolean, Shape::unknown(), "p");
  auto [xf, xt] = switch_op(x, p, "sw");
  auto [y, index] = merge({xf * 2.0f, xt * 3.0f});
  Session s(g);
  const Tensor xv = f32v({1, 2});
  expect_error([&] { s.run({{x, xv}, {p, Tensor(true)}}, xf); }, Code::kInvalidArgument,
               {"Retval[0] does not have value", "'sw:0'"});
  auto r = s.run({{x, xv}, {p, Tensor(true)}}, {y, index});
  EXPECT_EQ(r[0].to_vector<float>(), (std::vector<float>{3, 6}));
  EXPECT_EQ(r[1].scalar<int32_t>(), 1);
  EXPECT_EQ(s.run({{x, xv}, {p, Tensor(false)}}, y).to_vector<float>(), (std::vector<float>{2, 4}));
  expect_error([&] { s.run({{x, xv}, {p, Tensor::from_vector<bool>({true, false})}}, y); }, Code::kInvalidArgument,
               {"sw", "pred must be a bool scalar"});
  // A Callable takes the same paths.
  auto call = s.make_callable({x, p}, {y});
  EXPECT_EQ(call({xv, Tensor(true)})[0].to_vector<float>(), (std::vector<float>{3, 6}));
  EXPECT_EQ(call({xv, Tensor(false)})[0].to_vector<float>(), (std::vector<float>{2, 4}));
}

TEST(CondGradient, TensorFlowsPattern) {
  Graph g;
  auto x = placeholder(g, f64, {3}, "x");
  auto p = placeholder(g, boolean, {}, "p");
  Output y = cond(p, [&] { return x * 2.0; }, [&] { return x; });
  auto grads = gradients({reduce_sum(y)}, {x});
  // Merge's gradient: a Switch of the incoming gradient on the cond's pred_id.
  const Operation* merge_grad = g.get_operation_by_name("gradients/cond/Merge_grad/cond_grad");
  EXPECT_EQ(merge_grad->type(), "Switch");
  EXPECT_EQ(merge_grad->input(1).name(), "cond/pred_id:0");
  // A Switch's gradient: a Merge of zeros (made only when the other branch runs) and the gradient.
  const Operation* switch_grad = g.get_operation_by_name("gradients/cond/Switch_1_grad/cond_grad");
  EXPECT_EQ(switch_grad->type(), "Merge");
  EXPECT_EQ(switch_grad->input(1).op()->type(), "Fill") << "zeros for the true side, not taken by Switch_1";
  const Operation* zeros_switch = g.get_operation_by_name("gradients/cond/Switch_1_grad/Switch");
  EXPECT_EQ(zeros_switch->input(0), x);
  EXPECT_EQ(zeros_switch->input(1).name(), "cond/pred_id:0");
  Session s(g);
  const Tensor xv = Tensor::from_vector<double>({1, 2, 3});
  EXPECT_EQ(s.run({{x, xv}, {p, Tensor(true)}}, grads[0]).to_vector<double>(), (std::vector<double>{2, 2, 2}));
  EXPECT_EQ(s.run({{x, xv}, {p, Tensor(false)}}, grads[0]).to_vector<double>(), (std::vector<double>{1, 1, 1}));
}

TEST(CondGradient, AVariableReadInOneBranchOnlyAndMinimizeTrainsTheBranchTaken) {
  Graph g;
  auto x = placeholder(g, f64, {2}, "x");
  auto p = placeholder(g, boolean, {}, "p");
  Variable a = variable(constant(g, Tensor::from_vector<double>({1.5, -0.5}), "a_init"), {.name = "a"});
  Variable b = variable(constant(g, Tensor::from_vector<double>({0.25, 2.0}), "b_init"), {.name = "b"});
  Output loss = reduce_sum(cond(p, [&] { return square(a.value() * x - 1.0); }, [&] { return exp(b.value() * x); }));
  auto grads = gradients({loss}, {a.value(), b.value()});
  ASSERT_TRUE(grads[0] && grads[1]);
  Session s(g);
  s.run(global_variables_initializer(g));
  const Tensor xv = Tensor::from_vector<double>({0.7, -1.3});
  // Numeric check of d loss / d variable, perturbing the variables' values.
  for (bool pv : {true, false}) {
    const FeedDict feeds{{x, xv}, {p, Tensor(pv)}};
    const std::vector<Tensor> symbolic = s.run(feeds, grads);
    for (int k = 0; k < 2; ++k) {
      const Variable& v = k == 0 ? a : b;
      for (int i = 0; i < 2; ++i)
        EXPECT_NEAR(symbolic[k].data<double>()[i], central_difference(s, feeds, loss, v.op, i), 1e-6)
            << "pred " << pv << " var " << k;
      if ((k == 0) != pv) EXPECT_EQ(symbolic[k].to_vector<double>(), (std::vector<double>{0, 0}));
    }
  }
  // GradientDescent through the cond changes only the variables of the branch taken.
  Operation* train = train::GradientDescentOptimizer(0.1).minimize(loss);
  s.run(global_variables_initializer(g));
  s.run({{x, xv}, {p, Tensor(true)}}, {}, {train});
  EXPECT_NE(s.variable_value(a.op).to_vector<double>(), (std::vector<double>{1.5, -0.5}));
  EXPECT_EQ(s.variable_value(b.op).to_vector<double>(), (std::vector<double>{0.25, 2.0}));
  const std::vector<double> a_after = s.variable_value(a.op).to_vector<double>();
  s.run({{x, xv}, {p, Tensor(false)}}, {}, {train});
  EXPECT_EQ(s.variable_value(a.op).to_vector<double>(), a_after);
  EXPECT_NE(s.variable_value(b.op).to_vector<double>(), (std::vector<double>{0.25, 2.0}));
}

// RefSwitch and RefMerge pass gradients to the variable behind their reference (TF registers
// _SwitchGrad and _RefMergeGrad for them): checked against central differences on its value.
TEST(RefSwitch, GradientsReachTheVariable) {
  Graph g;
  auto x = placeholder(g, f64, {2}, "x");
  auto p = placeholder(g, boolean, {}, "p");
  Variable v = variable(constant(g, Tensor::from_vector<double>({0.5, -1.5}), "v_init"), {.name = "v"});
  auto [ref_false, ref_true] = switch_op(Output(v.op, 0), p);
  ASSERT_EQ(ref_true.op()->type(), "RefSwitch");
  auto [merged, index] = merge({ref_false, ref_true});
  ASSERT_EQ(merged.op()->type(), "RefMerge");
  const Output loss = reduce_sum(exp(merged * x) + merged);
  const Output grad = gradients({loss}, {Output(v.op, 0)})[0];
  ASSERT_TRUE(grad);
  Session s(g);
  s.run(global_variables_initializer(g));
  const Tensor xv = Tensor::from_vector<double>({0.3, -0.8});
  for (bool pv : {true, false}) {
    const FeedDict feeds{{x, xv}, {p, Tensor(pv)}};
    const Tensor symbolic = s.run(feeds, grad);
    const Tensor orig = s.variable_value(v.op).clone();
    for (int i = 0; i < 2; ++i) {
      const double want = xv.data<double>()[i] * std::exp(orig.data<double>()[i] * xv.data<double>()[i]) + 1;
      EXPECT_NEAR(symbolic.data<double>()[i], central_difference(s, feeds, loss, v.op, i), 1e-6)
          << "pred " << pv << " element " << i;
      EXPECT_NEAR(symbolic.data<double>()[i], want, 1e-12) << "pred " << pv << " element " << i;
    }
  }
}

TEST(CondGradient, AGraphWithoutItsCondContextsDifferentiatesTheSame) {
  // As import_graph_def of a bare GraphDef leaves it: Switches and Merges with no branch known.
  Graph built;
  auto x = placeholder(built, f64, {3}, "x");
  auto w = placeholder(built, f64, {3}, "w");
  auto p = placeholder(built, boolean, {}, "p");
  cond(p, [&] { return exp(x) * w; }, [&] { return x * x; }, "c");
  Graph g;
  import_graph_def(g, built.to_graph_def(), {.prefix = ""});
  EXPECT_TRUE(g.cond_contexts().empty());
  const Output y = g.get_tensor_by_name("c/Merge:0");
  const auto xi = g.get_tensor_by_name("x:0"), wi = g.get_tensor_by_name("w:0"), pi = g.get_tensor_by_name("p:0");
  auto grads = gradients({reduce_sum(y)}, {xi, wi});
  Session s(g);
  const Tensor xv = Tensor::from_vector<double>({0.5, -1, 2}), wv = Tensor::from_vector<double>({3, 4, 5});
  auto r = s.run({{xi, xv}, {wi, wv}, {pi, Tensor(true)}}, grads);
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(r[0].data<double>()[i], std::exp(xv.data<double>()[i]) * wv.data<double>()[i], 1e-12);
    EXPECT_NEAR(r[1].data<double>()[i], std::exp(xv.data<double>()[i]), 1e-12);
  }
  r = s.run({{xi, xv}, {wi, wv}, {pi, Tensor(false)}}, grads);
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(r[0].data<double>()[i], 2 * xv.data<double>()[i], 1e-12);
    EXPECT_EQ(r[1].data<double>()[i], 0.0);
  }
}

// ---- cond contexts in meta-graphs

TEST(CondContexts, TravelInTheMetaGraphsCondContextCollection) {
  Graph g;
  auto x = placeholder(g, f32, {}, "x");
  auto a = placeholder(g, boolean, {}, "a");
  auto b = placeholder(g, boolean, {}, "b");
  cond(a, [&] { return cond(b, [&] { return x * 2.0f; }, [&] { return x; }, "inner"); }, [&] { return -x; });
  const tensorflow::MetaGraphDef meta = train::to_meta_graph_def(g);
  const auto& col = meta.collection_def().at(train::kCondContextKey).bytes_list();
  ASSERT_EQ(col.value_size(), 2) << "top-level contexts only; nested ones inside their branch";
  tensorflow::CondContextDef t;
  ASSERT_TRUE(t.ParseFromString(col.value(0)));
  EXPECT_EQ(t.context_name(), "cond/cond_text");
  EXPECT_EQ(t.pred_name(), "cond/pred_id:0");
  EXPECT_EQ(t.pivot_name(), "cond/switch_t:0");
  EXPECT_EQ(t.branch(), 1);
  EXPECT_TRUE(std::is_sorted(t.values_def().values().begin(), t.values_def().values().end()));
  EXPECT_EQ(t.values_def().external_values().at("cond/pred_id:0"), "cond/pred_id:0");
  ASSERT_EQ(t.nested_contexts_size(), 2);
  EXPECT_EQ(t.nested_contexts(0).cond_ctxt().context_name(), "cond/inner/cond_text");
  EXPECT_EQ(t.nested_contexts(1).cond_ctxt().branch(), 0);

  Graph g2;
  train::import_meta_graph(g2, meta, {.import_scope = "imported"});
  ASSERT_EQ(g2.cond_contexts().size(), 2u);
  EXPECT_EQ(g2.cond_contexts()[0]->name(), "imported/cond/cond_text");
  EXPECT_EQ(g2.cond_contexts()[0]->nested().size(), 2u);
  for (const Operation* op : g.get_operations()) {
    const Operation* other = g2.get_operation_by_name("imported/" + op->name());
    EXPECT_EQ(other->cond_context() ? other->cond_context()->name() : "",
              op->cond_context() ? "imported/" + op->cond_context()->name() : "")
        << op->name();
  }
  // A context naming a tensor the graph lacks fails the whole import.
  tensorflow::MetaGraphDef bad = meta;
  tensorflow::CondContextDef d = t;
  d.set_pivot_name("cond/no_such_op:0");
  bad.mutable_collection_def()->at(train::kCondContextKey).mutable_bytes_list()->set_value(0, d.SerializeAsString());
  Graph g3;
  expect_error([&] { train::import_meta_graph(g3, bad); }, Code::kNotFound, {"cond_context", "cond/no_such_op:0"});
  EXPECT_EQ(g3.num_operations(), 0);
  EXPECT_TRUE(g3.cond_contexts().empty());
}

// ---- while loops: import and carry

// tf.while_loop(lambda i: i < 3, lambda i: i + 1, [0]) as TF 1.x writes it, NextIteration after
// the Merge that reads it.
tensorflow::GraphDef counting_loop() {
  tensorflow::GraphDef gd;
  auto node = [&](const std::string& name, const std::string& op, std::vector<std::string> inputs,
                  DType t = DType::kInt32) {
    auto* n = gd.add_node();
    n->set_name(name);
    n->set_op(op);
    for (auto& in : inputs) n->add_input(in);
    if (op != "Const" && op != "LoopCond") (*n->mutable_attr())["T"] = attr_to_proto(t);
    return n;
  };
  auto* zero = node("Const", "Const", {});
  (*zero->mutable_attr())["dtype"] = attr_to_proto(DType::kInt32);
  (*zero->mutable_attr())["value"] = attr_to_proto(Tensor(int32_t{0}));
  auto* three = node("while/Less/y", "Const", {"^while/Merge"});
  (*three->mutable_attr())["dtype"] = attr_to_proto(DType::kInt32);
  (*three->mutable_attr())["value"] = attr_to_proto(Tensor(int32_t{3}));
  auto* one = node("while/add/y", "Const", {"^while/Identity"});
  (*one->mutable_attr())["dtype"] = attr_to_proto(DType::kInt32);
  (*one->mutable_attr())["value"] = attr_to_proto(Tensor(int32_t{1}));
  auto* enter = node("while/Enter", "Enter", {"Const"});
  (*enter->mutable_attr())["frame_name"] = attr_to_proto(std::string("while/while_context"));
  auto* merge = node("while/Merge", "Merge", {"while/Enter", "while/NextIteration"});
  (*merge->mutable_attr())["N"] = attr_to_proto(int64_t{2});
  node("while/Less", "Less", {"while/Merge", "while/Less/y"});
  node("while/LoopCond", "LoopCond", {"while/Less"});
  node("while/Switch", "Switch", {"while/Merge", "while/LoopCond"});
  node("while/Identity", "Identity", {"while/Switch:1"});
  node("while/add", "Add", {"while/Identity", "while/add/y"});
  node("while/NextIteration", "NextIteration", {"while/add"});
  node("while/Exit", "Exit", {"while/Switch"});
  return gd;
}

TEST(WhileLoop, ImportsIsCarriedAndRunningItIsUnimplementedNamingTheNode) {
  register_ops();  // the first use of a graph is an import
  const tensorflow::GraphDef gd = counting_loop();
  Graph g;
  import_graph_def(g, gd, {.prefix = ""});
  Operation* merge_op = g.get_operation_by_name("while/Merge");
  EXPECT_EQ(merge_op->input(1).name(), "while/NextIteration:0") << "the back edge";
  const auto& consumers = g.get_operation_by_name("while/NextIteration")->consumers();
  EXPECT_NE(std::find(consumers.begin(), consumers.end(), merge_op), consumers.end());
  // Exported again with the same nodes and inputs.
  const tensorflow::GraphDef again = g.to_graph_def();
  ASSERT_EQ(again.node_size(), gd.node_size());
  for (const auto& n : gd.node()) {
    const auto it = std::find_if(again.node().begin(), again.node().end(),
                                 [&](const tensorflow::NodeDef& m) { return m.name() == n.name(); });
    ASSERT_NE(it, again.node().end()) << n.name();
    EXPECT_EQ(it->op(), n.op());
    EXPECT_EQ(std::vector<std::string>(it->input().begin(), it->input().end()),
              std::vector<std::string>(n.input().begin(), n.input().end()))
        << n.name();
  }
  Session s(g);
  expect_error([&] { s.run(g.get_tensor_by_name("while/Exit:0")); }, Code::kUnimplemented,
               {"No CPU kernel", "while/"});
  expect_error([&] { s.run(g.get_tensor_by_name("while/Enter:0")); }, Code::kUnimplemented,
               {"'Enter'", "while/Enter"});
  // A graph with loops imports again into another scope; an import that fails leaves nothing.
  import_graph_def(g, gd, {.prefix = "again"});
  EXPECT_EQ(g.get_operation_by_name("again/while/Merge")->input(1).name(), "again/while/NextIteration:0");
  tensorflow::GraphDef broken = gd;
  broken.mutable_node(0)->set_op("NoSuchOp");
  (*broken.mutable_node(3)->mutable_attr())["T"] = attr_to_proto(DType::kFloat);  // Enter: float into an int32 loop
  const int64_t n_before = g.num_operations();
  EXPECT_THROW(import_graph_def(g, broken, {.prefix = "broken"}), Error);
  EXPECT_EQ(g.num_operations(), n_before);
}

TEST(WhileLoop, ACycleWithoutNextIterationIsStillRefused) {
  register_ops();  // the first use of a graph is an import
  tensorflow::GraphDef gd;
  auto* a = gd.add_node();
  a->set_name("a");
  a->set_op("Identity");
  a->add_input("b");
  (*a->mutable_attr())["T"] = attr_to_proto(DType::kFloat);
  auto* b = gd.add_node();
  b->set_name("b");
  b->set_op("Identity");
  b->add_input("a");
  (*b->mutable_attr())["T"] = attr_to_proto(DType::kFloat);
  Graph g;
  expect_error([&] { import_graph_def(g, gd); }, Code::kInvalidArgument, {"cycle"});
}

}  // namespace
}  // namespace fg
