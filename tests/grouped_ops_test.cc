// Plan-level grouping (OpDef::group_kernel): the ops of a grouped type in a plan run as one step,
// one group per set of equal attrs, never one that depends on another member of its group.
#include <gtest/gtest.h>

#include "flowgraph.h"
#include "graph/op_registry.h"

namespace fg {
namespace {

int g_single_calls = 0;
std::vector<int> g_group_sizes;

Tensor plus_one(const Tensor& x) {
  Tensor y = Tensor::empty(x.dtype(), x.shape());
  for (int64_t i = 0; i < x.num_elements(); ++i) {
    if (x.dtype() == f32) y.data<float>()[i] = x.data<float>()[i] + 1;
    else y.data<double>()[i] = x.data<double>()[i] + 1;
  }
  return y;
}

void plus_one_kernel(KernelContext& ctx) {
  ++g_single_calls;
  ctx.set_output(0, plus_one(ctx.input(0)));
}

void plus_one_group_kernel(KernelContext& ctx) {
  g_group_sizes.push_back(ctx.num_inputs());
  EXPECT_EQ(ctx.num_outputs(), ctx.num_inputs());
  for (int i = 0; i < ctx.num_inputs(); ++i) ctx.set_output(i, plus_one(ctx.input(i)));
}

Output plus_one_op(const Output& x) {
  if (!OpRegistry::global().find("TestGroupedPlusOne"))
    OpRegistry::global().add("TestGroupedPlusOne").input("x", "T").output("y", "T").type_attr("T", kFloatTypes)
        .shape(unchanged_shape).kernel_fn(plus_one_kernel).grouped(plus_one_group_kernel);
  return OpBuilder(x, "TestGroupedPlusOne", "plus_one").input(x).build_output();
}

void reset_counts() {
  g_single_calls = 0;
  g_group_sizes.clear();
}

}  // namespace

TEST(GroupedOps, IndependentOpsRunAsOneStepPerDtype) {
  Graph g;
  auto a = placeholder(g, f32, {2}, "a"), b = placeholder(g, f32, {3}, "b"), c = placeholder(g, f32, {1}, "c");
  auto d = placeholder(g, f64, {2}, "d"), e = placeholder(g, f64, {1}, "e");
  // Each member's consumer comes right after it in the graph's own order; the group moves them.
  auto ya = plus_one_op(a) * 2.0f, yb = plus_one_op(b) * 3.0f, yc = plus_one_op(c);
  auto yd = plus_one_op(d) * 2.0, ye = plus_one_op(e);
  Session s(g);
  reset_counts();
  const auto r = s.run({{a, Tensor::from_vector<float>({1, 2})},
                        {b, Tensor::from_vector<float>({0, 1, 2})},
                        {c, Tensor::from_vector<float>({5})},
                        {d, Tensor::from_vector<double>({1, -1})},
                        {e, Tensor::from_vector<double>({0.5})}},
                       {ya, yb, yc, yd, ye});
  EXPECT_EQ(r[0].to_vector<float>(), (std::vector<float>{4, 6}));
  EXPECT_EQ(r[1].to_vector<float>(), (std::vector<float>{3, 6, 9}));
  EXPECT_EQ(r[2].to_vector<float>(), (std::vector<float>{6}));
  EXPECT_EQ(r[3].to_vector<double>(), (std::vector<double>{4, 0}));
  EXPECT_EQ(r[4].to_vector<double>(), (std::vector<double>{1.5}));
  EXPECT_EQ(g_single_calls, 0);
  EXPECT_EQ(g_group_sizes, (std::vector<int>{3, 2}));
}

TEST(GroupedOps, AnOpFedByAnotherMemberRunsAfterTheGroup) {
  Graph g;
  auto a = placeholder(g, f32, {2}, "a"), b = placeholder(g, f32, {2}, "b");
  auto first = plus_one_op(a);
  auto second = plus_one_op(first * 10.0f);  // depends on `first`: cannot share its step
  auto other = plus_one_op(b);
  auto total = second + other;
  Session s(g);
  reset_counts();
  const Tensor t = s.run({{a, Tensor::from_vector<float>({0, 1})}, {b, Tensor::from_vector<float>({2, 3})}}, total);
  // second = (a + 1) * 10 + 1, other = b + 1.
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{14, 25}));
  EXPECT_EQ(g_group_sizes, (std::vector<int>{2}));
  EXPECT_EQ(g_single_calls, 1);
}

TEST(GroupedOps, ControlDependentsWaitForTheGroup) {
  Graph g;
  auto v = variable(constant(g, Tensor::from_vector<float>({0, 0})), {.name = "v"});
  auto a = placeholder(g, f32, {2}, "a"), b = placeholder(g, f32, {2}, "b");
  auto pa = plus_one_op(a), pb = plus_one_op(b);
  Output assigned;
  {
    auto deps = g.control_dependencies({pa.op(), pb.op()});
    assigned = assign(v, pa + pb);
  }
  Session s(g);
  s.run(global_variables_initializer(g));
  reset_counts();
  const Tensor t = s.run({{a, Tensor::from_vector<float>({1, 2})}, {b, Tensor::from_vector<float>({3, 4})}}, assigned);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{6, 8}));
  EXPECT_EQ(g_group_sizes, (std::vector<int>{2}));
  EXPECT_EQ(s.variable_value(v.op).to_vector<float>(), (std::vector<float>{6, 8}));
}

TEST(GroupedOps, OneOpOrFusionsOffRunsTheOpsOwnKernel) {
  Graph g;
  auto a = placeholder(g, f32, {2}, "a"), b = placeholder(g, f32, {2}, "b");
  auto pa = plus_one_op(a), pb = plus_one_op(b);
  Session s(g);
  reset_counts();
  EXPECT_EQ(s.run({{a, Tensor::from_vector<float>({1, 2})}}, pa).to_vector<float>(), (std::vector<float>{2, 3}));
  EXPECT_EQ(g_single_calls, 1);
  EXPECT_TRUE(g_group_sizes.empty());

  s.set_fusions_enabled(false);
  reset_counts();
  const auto r = s.run({{a, Tensor::from_vector<float>({1, 2})}, {b, Tensor::from_vector<float>({0, 0})}}, {pa, pb});
  EXPECT_EQ(r[1].to_vector<float>(), (std::vector<float>{1, 1}));
  EXPECT_EQ(g_single_calls, 2);
  EXPECT_TRUE(g_group_sizes.empty());
}

}  // namespace fg
