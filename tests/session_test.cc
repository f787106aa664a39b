#include <gtest/gtest.h>

#include <array>
#include <thread>

#include "flowgraph.h"
#include "graph/graph_io.h"
#include "graph/op_registry.h"
#include "tests/test_util.h"

namespace fg {
namespace {

TEST(Session, FeedsFetchesAndTargets) {
  Graph g;
  auto a = placeholder(g, f32, {2}, "a");
  auto b = a * 3.0f;
  auto c = b + 1.0f;
  Session s(g);
  auto r = s.run({{a, Tensor::from_vector<float>({1, 2})}}, {b, c});
  EXPECT_EQ(r[0].to_vector<float>(), (std::vector<float>{3, 6}));
  EXPECT_EQ(r[1].to_vector<float>(), (std::vector<float>{4, 7}));
}

TEST(Session, ProfilingTimesEveryRunOpOnlyWhileEnabled) {
  Graph g;
  auto a = placeholder(g, f32, {64, 64}, "a");
  auto b = matmul(a, a, {.name = "square"});
  auto c = reduce_sum(b, {}, false, "total");
  Session s(g);
  const Tensor x(f32, {64, 64});
  s.run({{a, x}}, c);  // not profiled
  EXPECT_TRUE(s.profile().empty());
  s.set_profiling(true);
  for (int i = 0; i < 3; ++i) s.run({{a, x}}, c);
  s.run({{a, x}}, b);  // another plan: only its ops
  s.set_profiling(false);
  s.run({{a, x}}, c);  // not profiled
  const auto prof = s.profile();
  auto find = [&](const std::string& name) -> const Session::OpProfile* {
    for (const auto& p : prof)
      if (p.name == name) return &p;
    return nullptr;
  };
  ASSERT_NE(find("square"), nullptr);
  EXPECT_EQ(find("square")->type, "MatMul");
  EXPECT_EQ(find("square")->calls, 4);
  ASSERT_NE(find("total"), nullptr);
  EXPECT_EQ(find("total")->type, "Sum");
  EXPECT_EQ(find("total")->calls, 3);
  EXPECT_EQ(find("a"), nullptr) << "fed tensors are not run";
  for (size_t i = 1; i < prof.size(); ++i) EXPECT_GE(prof[i - 1].total_us, prof[i].total_us) << "longest first";
  for (const auto& p : prof) EXPECT_GE(p.total_us, 0.0);
  s.reset_profile();
  EXPECT_TRUE(s.profile().empty());
}

TEST(Session, AnyTensorCanBeFed) {
  Graph g;
  auto a = placeholder(g, f32, {2}, "a");
  auto b = a * 3.0f;
  auto c = b + 1.0f;
  Session s(g);
  // Feeding b prunes a away: a is never needed.
  auto r = s.run({{b, Tensor::from_vector<float>({10, 20})}}, c);
  EXPECT_EQ(r.to_vector<float>(), (std::vector<float>{11, 21}));
}

TEST(Session, UnfedPlaceholderIsInvalidArgumentNamingIt) {
  Graph g;
  auto X = placeholder(g, f32, {-1, 784}, "X");
  auto y = X * 2.0f;
  Session s(g);
  try {
    s.run(y);
    FAIL();
  } catch (const InvalidArgument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("placeholder tensor 'X'"), std::string::npos) << m;
    EXPECT_NE(m.find("[?,784]"), std::string::npos) << m;
  }
}

TEST(Session, EmptyOrForeignTensorsAreNamed) {
  Graph g, other;
  auto X = placeholder(g, f32, {}, "X");
  auto y = X * 2.0f;
  auto foreign = placeholder(other, f32, {}, "elsewhere");
  Session s(g);
  const Tensor one(1.0f);
  testing::expect_error([&] { s.run({{X, one}}, {y, Output()}); }, Code::kInvalidArgument,
                             {"fetched #1", "empty Output"});
  testing::expect_error([&] { s.run({{X, one}}, {foreign * 3.0f}); }, Code::kInvalidArgument,
                             {"fetched tensor 'mul:0'", "another graph"});
  testing::expect_error([&] { s.run({{X, one}, {foreign, one}}, {y}); }, Code::kInvalidArgument,
                             {"fed tensor 'elsewhere:0'", "another graph"});
  testing::expect_error([&] { s.run({{Output(), one}}, {y}); }, Code::kInvalidArgument,
                             {"fed #0", "empty Output"});
  testing::expect_error([&] { s.run({{X, one}}, {y}, {foreign.op()}); }, Code::kInvalidArgument,
                             {"target op 'elsewhere'", "another graph"});
  testing::expect_error([&] { s.make_callable({X}, {Output()}); }, Code::kInvalidArgument,
                             {"fetched #0", "empty Output"});
}

TEST(Session, WrongFeedShapeOrDtypeNamesThePlaceholder) {
  Graph g;
  auto X = placeholder(g, f32, {-1, 784}, "X");
  auto y = X * 2.0f;
  Session s(g);
  try {
    s.run({{X, Tensor(f32, {5, 3})}}, y);
    FAIL();
  } catch (const InvalidArgument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("'X:0'"), std::string::npos) << m;
    EXPECT_NE(m.find("[5,3]"), std::string::npos) << m;
    EXPECT_NE(m.find("[?,784]"), std::string::npos) << m;
  }
  try {
    s.run({{X, Tensor(f64, {5, 784})}}, y);
    FAIL();
  } catch (const InvalidArgument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("'X:0'"), std::string::npos) << m;
    EXPECT_NE(m.find("float64"), std::string::npos) << m;
    EXPECT_NE(m.find("float32"), std::string::npos) << m;
  }
  EXPECT_THROW(s.run({{X, Tensor()}}, y), InvalidArgument);
}

TEST(Session, PlaceholderWithDefaultUsesDefaultUnlessFed) {
  Graph g;
  auto t = placeholder_with_default(g, Tensor(2.0f), {}, "t");
  auto y = t * 5.0f;
  Session s(g);
  EXPECT_EQ(s.run(y).scalar<float>(), 10.0f);
  EXPECT_EQ(s.run({{t, Tensor(3.0f)}}, y).scalar<float>(), 15.0f);
}

TEST(Session, UninitializedVariableIsFailedPreconditionNamingIt) {
  Graph g;
  auto v = variable(constant(g, Tensor::from_vector<float>({1, 2})), {.name = "weights"});
  Session s(g);
  try {
    s.run(v.value());
    FAIL();
  } catch (const FailedPrecondition& e) {
    EXPECT_NE(std::string(e.what()).find("uninitialized value weights"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[[node weights (VariableV2)]]"), std::string::npos) << e.what();
  }
  // The same through the kernel, which a profiled run calls for variable reads too.
  s.set_profiling(true);
  EXPECT_THROW(s.run(v.value()), FailedPrecondition);
  s.set_profiling(false);
  s.run(global_variables_initializer(g));
  EXPECT_EQ(s.run(v.value()).to_vector<float>(), (std::vector<float>{1, 2}));
  EXPECT_TRUE(s.is_initialized(v.op));
}

TEST(Session, AssignAndUpdatesKeepReadersConsistent) {
  Graph g;
  auto v = variable(constant(g, Tensor::from_vector<float>({1, 2})), {.name = "v"});
  auto p = placeholder(g, f32, {2}, "p");
  auto set = assign(v, p);
  auto add = assign_add(v, constant(g, Tensor::from_vector<float>({10, 10})));
  Session s(g);
  s.run(global_variables_initializer(g));
  Tensor before = s.run(v.value());
  s.run({{p, Tensor::from_vector<float>({5, 6})}}, {}, {set});
  EXPECT_EQ(s.run(v.value()).to_vector<float>(), (std::vector<float>{5, 6}));
  s.run(add);
  EXPECT_EQ(s.run(v.value()).to_vector<float>(), (std::vector<float>{15, 16}));
  // A value fetched earlier is never changed by later updates.
  EXPECT_EQ(before.to_vector<float>(), (std::vector<float>{1, 2}));
  // The assigned constant is not corrupted by the in-place add either.
  s.run(global_variables_initializer(g));
  s.run(add);
  s.run(global_variables_initializer(g));
  EXPECT_EQ(s.run(v.value()).to_vector<float>(), (std::vector<float>{1, 2}));
}

// Identity ops run no step of their own: the plan reads their input's value directly. They still
// compute what TF's would, a chain, a fetched one, one of a fed tensor, and one whose control
// input must run first.
TEST(Session, IdentityOpsForwardTheirInput) {
  Graph g;
  auto v = variable(constant(g, Tensor::from_vector<float>({1, 2})), {.name = "v"});
  auto p = placeholder(g, f32, {2}, "p");
  auto chain = identity(identity(v.value(), "read1"), "read2");
  auto doubled = chain * 2.0f;
  auto of_feed = identity(p, "of_feed");
  auto add = assign_add(v, constant(g, Tensor::from_vector<float>({10, 10})));
  Output after_add;
  {
    auto deps = g.control_dependencies({add.op()});
    after_add = identity(v.value(), "after_add");
  }
  Session s(g);
  s.run(global_variables_initializer(g));
  s.set_profiling(true);
  auto r = s.run({{p, Tensor::from_vector<float>({7, 8})}}, {chain, doubled, of_feed});
  EXPECT_EQ(r[0].to_vector<float>(), (std::vector<float>{1, 2}));
  EXPECT_EQ(r[1].to_vector<float>(), (std::vector<float>{2, 4}));
  EXPECT_EQ(r[2].to_vector<float>(), (std::vector<float>{7, 8}));
  for (const auto& op : s.profile()) EXPECT_NE(op.type, "Identity") << op.name << " ran as a step";
  // With a control input the Identity keeps its step, so its control input still runs.
  s.run(after_add);
  s.run(after_add);
  bool ran = false;
  for (const auto& op : s.profile()) ran |= op.name == "after_add";
  EXPECT_TRUE(ran);
  EXPECT_EQ(s.run(chain).to_vector<float>(), (std::vector<float>{21, 22}));
}

// Forwarding is a trait of the op (OpDef::forwards_input), not of the Identity type: StopGradient
// and an unfed PlaceholderWithDefault run no step either, and compute what TF's would.
TEST(Session, EveryForwardingOpRunsNoStep) {
  Graph g;
  auto x = placeholder(g, f32, {2}, "x");
  auto scale = placeholder_with_default(g, Tensor::from_vector<float>({1, 1}), {2}, "scale");
  auto y = stop_gradient(identity(x, "id"), "stop") * scale;
  Session s(g);
  s.set_profiling(true);
  EXPECT_EQ(s.run({{x, Tensor::from_vector<float>({2, 3})}}, y).to_vector<float>(), (std::vector<float>{2, 3}));
  EXPECT_EQ(s.run({{x, Tensor::from_vector<float>({2, 3})}, {scale, Tensor::from_vector<float>({10, 100})}}, y)
                .to_vector<float>(),
            (std::vector<float>{20, 300}));
  EXPECT_EQ(s.run(stop_gradient(scale, "stop_default")).to_vector<float>(), (std::vector<float>{1, 1}));
  const auto prof = s.profile();
  ASSERT_FALSE(prof.empty());
  for (const auto& op : prof) EXPECT_TRUE(op.type == "Mul" || op.type == "Const") << op.name << " (" << op.type << ") ran";
}

// A reference reaches its variable through ops that forward a reference input (as TF's
// RefIdentity does): the builder accepts it where a variable is expected, and an Assign through
// it updates the variable the Session holds.
TEST(Session, ReferencesReachTheirVariableThroughForwardingOps) {
  register_ops();  // the registry is read before any builder runs
  if (!OpRegistry::global().find("TestRefForward"))
    OpRegistry::global().add("TestRefForward").ref_input("ref", "T").output("output", "T").shape(unchanged_shape)
        .forwarding();
  Graph g;
  auto v = variable(constant(g, Tensor::from_vector<float>({1, 2})), {.name = "v"});
  Output through = OpBuilder(g, "TestRefForward", "through").input(v.ref()).build_output();
  Output set = OpBuilder(g, "Assign", "set").input(through).input(constant(g, Tensor::from_vector<float>({5, 6})))
                   .build_output();
  EXPECT_EQ(referenced_variable(through), v.op);
  EXPECT_EQ(referenced_variable(v.value()), nullptr) << "a read is a value, not a reference";
  try {
    OpBuilder(g, "Assign", "bad").input(v.value()).input(set).build();
    ADD_FAILURE() << "an Assign to a read built";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("'v/read:0' (Identity)"), std::string::npos) << e.what();
  }
  Session s(g);
  s.run(global_variables_initializer(g));
  s.run(set.op());
  EXPECT_EQ(s.run(v.value()).to_vector<float>(), (std::vector<float>{5, 6}));
}

// TF's variable op before TF 1.0 ("Variable") is a variable as VariableV2 is, imported or built.
TEST(Session, LegacyVariableOpHoldsAVariable) {
  register_ops();  // the registry is read before any builder runs
  tensorflow::GraphDef gd;
  auto* var = gd.add_node();
  var->set_name("w");
  var->set_op("Variable");
  (*var->mutable_attr())["dtype"] = attr_to_proto(f32);
  (*var->mutable_attr())["shape"] = attr_to_proto(Shape{2});
  auto* init = gd.add_node();
  init->set_name("init_value");
  init->set_op("Const");
  (*init->mutable_attr())["dtype"] = attr_to_proto(f32);
  (*init->mutable_attr())["value"] = attr_to_proto(Tensor::from_vector<float>({3, 4}));
  auto* assign = gd.add_node();
  assign->set_name("w/Assign");
  assign->set_op("Assign");
  assign->add_input("w");
  assign->add_input("init_value");
  Graph g;
  import_graph_def(g, gd, {.prefix = ""});
  Operation* w = g.get_operation_by_name("w");
  EXPECT_FALSE(w->def().opaque);
  Session s(g);
  s.run(g.get_operation_by_name("w/Assign"));
  EXPECT_EQ(s.variable_value(w).to_vector<float>(), (std::vector<float>{3, 4}));
  EXPECT_EQ(s.run(identity(w->output(0), "read")).to_vector<float>(), (std::vector<float>{3, 4}));
}

// A run's working vectors are kept per thread. A kernel that runs another session on the same
// thread must get vectors of its own, or the inner run would clear the outer run's values.
Session* g_inner_session = nullptr;
Output g_inner_x, g_inner_y;
void runs_inner_session_kernel(KernelContext& ctx) {
  ctx.set_output(0, g_inner_session->run({{g_inner_x, ctx.input(0)}}, g_inner_y));
}

TEST(Session, AKernelMayRunAnotherSession) {
  register_ops();  // the registry is read before any builder runs
  if (!OpRegistry::global().find("TestRunsInnerSession"))
    OpRegistry::global().add("TestRunsInnerSession").input("x", "T").output("y", "T").shape(unchanged_shape)
        .kernel_fn(runs_inner_session_kernel);
  Graph inner;
  g_inner_x = placeholder(inner, f32, {2}, "ix");
  g_inner_y = (g_inner_x * 10.0f) + 1.0f;
  Session inner_session(inner);
  g_inner_session = &inner_session;

  Graph g;
  auto x = placeholder(g, f32, {2}, "x");
  auto doubled = x * 2.0f;  // read again after the nested run
  auto nested = OpBuilder(g, "TestRunsInnerSession", "nested").input(doubled).build_output();
  auto y = nested + doubled;
  Session s(g);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(s.run({{x, Tensor::from_vector<float>({1, 2})}}, y).to_vector<float>(), (std::vector<float>{23, 45}));
  g_inner_session = nullptr;
}

// A run that fails part-way leaves nothing behind for the next run on the same thread, and no
// run keeps a value once it has returned.
TEST(Session, RunAfterAFailedRunStartsClean) {
  Graph g;
  auto x = placeholder(g, f32, {-1}, "x");
  auto r = reshape(x * 2.0f, std::vector<int64_t>{2, -1}, "shaper");
  Session s(g);
  EXPECT_THROW(s.run({{x, Tensor::from_vector<float>({1, 2, 3})}}, r), InvalidArgument);
  const Tensor ok = s.run({{x, Tensor::from_vector<float>({1, 2, 3, 4})}}, r);
  EXPECT_EQ(ok.shape(), Shape({2, 2}));
  EXPECT_EQ(ok.to_vector<float>(), (std::vector<float>{2, 4, 6, 8}));
  // No value outlives its run: once the fetched results are dropped, the fed tensor's buffer is
  // ours alone again (a fetched value stays among the run's values until the run ends).
  Tensor fed = Tensor::from_vector<float>({1, 2, 3, 4});
  s.run({{x, fed}}, std::vector<Output>{x, r});
  EXPECT_TRUE(fed.unique());
}

TEST(Session, PlansAreCachedPerSignature) {
  Graph g;
  auto a = placeholder(g, f32, {}, "a");
  auto b = a + 1.0f;
  Session s(g);
  for (int i = 0; i < 5; ++i) s.run({{a, Tensor(float(i))}}, b);
  EXPECT_EQ(s.num_cached_plans(), 1u);
  s.run({{a, Tensor(1.0f)}}, {b, a});
  EXPECT_EQ(s.num_cached_plans(), 2u);
}

TEST(Session, CallableRunsPositionally) {
  Graph g;
  auto a = placeholder(g, f32, {-1}, "a");
  auto b = placeholder(g, f32, {-1}, "b");
  auto c = a * b;
  Session s(g);
  auto f = s.make_callable({a, b}, {c});
  auto r = f({Tensor::from_vector<float>({1, 2}), Tensor::from_vector<float>({3, 4})});
  EXPECT_EQ(r[0].to_vector<float>(), (std::vector<float>{3, 8}));
  EXPECT_THROW(f({Tensor::from_vector<float>({1, 2})}), InvalidArgument);
  // Into a vector the caller keeps: resized to the fetches, the caller's feeds left as they were.
  const std::array<Tensor, 2> feeds{Tensor::from_vector<float>({2, 3}), Tensor::from_vector<float>({4, 5})};
  std::vector<Tensor> out(5);
  f(feeds, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].to_vector<float>(), (std::vector<float>{8, 15}));
  EXPECT_EQ(feeds[0].to_vector<float>(), (std::vector<float>{2, 3}));
  EXPECT_THROW(f(std::span<const Tensor>(feeds).first(1), out), InvalidArgument);
}

TEST(Session, RunsFromSeveralThreadsAtOnce) {
  Graph g;
  auto x = placeholder(g, f32, {-1, 64}, "x");
  auto w = variable(random_normal(g, {64, 32}, 0, 1, f32, 3), {.name = "w"});
  auto y = reduce_sum(nn::relu(matmul(x, w)), {1});
  Session s(g);
  s.run(global_variables_initializer(g));
  std::vector<Tensor> inputs, expected;
  for (int t = 0; t < 4; ++t) {
    Tensor in = Tensor::empty(f32, {16, 64});
    for (int64_t i = 0; i < in.num_elements(); ++i) in.data<float>()[i] = float((i * (t + 3)) % 17) / 17.0f - 0.4f;
    inputs.push_back(in);
    expected.push_back(s.run({{x, in}}, y));
  }
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 200; ++rep)
        if (!s.run({{x, inputs[t]}}, y).equals(expected[t])) ++mismatches[t];
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

TEST(Session, KernelErrorsNameTheNode) {
  Graph g;
  auto x = placeholder(g, f32, {-1}, "x");
  auto r = reshape(x, std::vector<int64_t>{3, -1}, "shaper");
  Session s(g);
  try {
    s.run({{x, Tensor(f32, {4})}}, r);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("shaper"), std::string::npos) << e.what();
  }
}

TEST(Session, TargetsAcceptCollections) {
  Graph g;
  auto v = variable(constant(g, Tensor(1.0f)), {.name = "v"});
  auto inc = assign_add(v, constant(g, Tensor(1.0f)));
  g.add_to_collection(GraphKeys::UPDATE_OPS, inc.op());
  Session s(g);
  s.run(global_variables_initializer(g));
  s.run({}, {}, {g.get_collection(GraphKeys::UPDATE_OPS)});
  s.run({}, {}, {no_op(g, "n"), g.get_collection(GraphKeys::UPDATE_OPS)});
  EXPECT_EQ(s.run(v.value()).scalar<float>(), 3.0f);
}

}  // namespace
}  // namespace fg
