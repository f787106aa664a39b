#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <functional>
#include <limits>

#include "core/kernel.h"
#include "graph/gradients.h"
#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/math.h"
#include "ops/register.h"
#include "runtime/session.h"
#include "tests/test_util.h"

namespace fg {
namespace {

using testing::eval;
using testing::expect_gradients_match;
using testing::random_tensor;

Tensor F32(const std::vector<float>& v, const Shape& s) { return Tensor::from_vector(v, s); }
Tensor F64(const std::vector<double>& v, const Shape& s) { return Tensor::from_vector(v, s); }

void expect_values(const Tensor& t, const Shape& shape, const std::vector<double>& want, double tol = 1e-6) {
  ASSERT_EQ(t.shape(), shape);
  ASSERT_EQ(t.num_elements(), static_cast<int64_t>(want.size()));
  dispatch_all(t.dtype(), "expect_values", [&]<typename T>() {
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_NEAR(static_cast<double>(t.data<T>()[i]), want[i], tol) << "element " << i << " of " << t;
  });
}

int count_ops(const Graph& g, const std::string& type) {
  int n = 0;
  for (Operation* op : g.get_operations()) n += op->type() == type;
  return n;
}

// Multi-index helpers for reference computations written independently of the kernels.
std::vector<int64_t> unravel(int64_t i, const std::vector<int64_t>& dims) {
  std::vector<int64_t> idx(dims.size());
  for (size_t d = dims.size(); d-- > 0;) {
    idx[d] = i % dims[d];
    i /= dims[d];
  }
  return idx;
}
int64_t ravel_broadcast(const std::vector<int64_t>& out_idx, const Shape& s) {
  const int off = static_cast<int>(out_idx.size()) - s.rank();
  int64_t flat = 0;
  for (int d = 0; d < s.rank(); ++d) flat = flat * s.dim(d) + (s.dim(d) == 1 ? 0 : out_idx[d + off]);
  return flat;
}

Tensor reference_binary(const Tensor& a, const Tensor& b, const Shape& out,
                        const std::function<double(double, double)>& f) {
  Tensor r(f64, out);
  for (int64_t i = 0; i < r.num_elements(); ++i) {
    const auto idx = unravel(i, out.dim_vector());
    r.data<double>()[i] = f(a.data<double>()[ravel_broadcast(idx, a.shape())],
                            b.data<double>()[ravel_broadcast(idx, b.shape())]);
  }
  return r;
}

// ---------------------------------------------------------------- binary forward

TEST(MathBinary, SameShapeValues) {
  Graph g;
  auto x = constant(g, F32({1, -2, 3, 4, 5, -6}, {2, 3}));
  auto y = constant(g, F32({2, 2, -1, 8, 0.5f, 3}, {2, 3}));
  expect_values(eval(add(x, y)), {2, 3}, {3, 0, 2, 12, 5.5, -3});
  expect_values(eval(subtract(x, y)), {2, 3}, {-1, -4, 4, -4, 4.5, -9});
  expect_values(eval(multiply(x, y)), {2, 3}, {2, -4, -3, 32, 2.5, -18});
  expect_values(eval(divide(x, y)), {2, 3}, {0.5, -1, -3, 0.5, 10, -2});
  expect_values(eval(maximum(x, y)), {2, 3}, {2, 2, 3, 8, 5, 3});
  expect_values(eval(minimum(x, y)), {2, 3}, {1, -2, -1, 4, 0.5, -6});
  auto base = constant(g, F32({2, 9, 4}, {3}));
  auto e = constant(g, F32({3, 0.5f, -1}, {3}));
  expect_values(eval(pow(base, e)), {3}, {8, 3, 0.25});
}

TEST(MathBinary, OpTypesAndNames) {
  Graph g;
  auto x = placeholder(g, f32, {2}, "x");
  // Python's operators name their nodes in lower case, the tf.* functions after the op type.
  EXPECT_EQ((x + x).op()->name(), "add");
  EXPECT_EQ((x + x).op()->type(), "Add");  // TF 1.10-1.12 have no AddV2
  EXPECT_EQ((x - x).op()->name(), "sub");
  EXPECT_EQ((x * x).op()->name(), "mul");
  auto q = x / x;
  EXPECT_EQ(q.op()->name(), "truediv");
  EXPECT_EQ(q.op()->type(), "RealDiv");
  EXPECT_EQ((-x).op()->name(), "Neg");
  Graph h;
  auto y = placeholder(h, f32, {2}, "y");
  EXPECT_EQ(add(y, y).op()->name(), "Add");
  EXPECT_EQ(add(y, y).op()->type(), "Add");
  EXPECT_EQ(subtract(y, y).op()->name(), "Sub");
  EXPECT_EQ(multiply(y, y, "scaled").op()->name(), "scaled");
  EXPECT_EQ(divide(y, y).op()->name(), "truediv");
  // Later graphs use "AddV2": the same kernel runs it.
  auto add_v2 = OpBuilder(g, "AddV2", "").input(x).input(x).build_output();
  expect_values(eval(add_v2, {{x, F32({1, 2}, {2})}}), {2}, {2, 4});
}

TEST(MathBinary, BroadcastRowVector) {
  Graph g;
  auto x = constant(g, F32({1, 2, 3, 4, 5, 6}, {2, 3}));
  auto b = constant(g, F32({10, 20, 30}, {3}));
  auto z = x + b;
  EXPECT_EQ(z.shape(), Shape({2, 3}));
  expect_values(eval(z), {2, 3}, {11, 22, 33, 14, 25, 36});
  expect_values(eval(b - x), {2, 3}, {9, 18, 27, 6, 15, 24});
}

TEST(MathBinary, BroadcastBothOperands) {
  Graph g;
  auto x = constant(g, F32({1, 2}, {2, 1}));
  auto y = constant(g, F32({10, 20, 30}, {1, 3}));
  auto z = x * y;
  EXPECT_EQ(z.shape(), Shape({2, 3}));
  expect_values(eval(z), {2, 3}, {10, 20, 30, 20, 40, 60});
  expect_values(eval(add(x, y)), {2, 3}, {11, 21, 31, 12, 22, 32});
}

TEST(MathBinary, BroadcastScalar) {
  Graph g;
  auto x = constant(g, F32({1, 2, 3, 4}, {2, 2}));
  auto s = constant(g, Tensor(2.0f));
  expect_values(eval(s * x), {2, 2}, {2, 4, 6, 8});
  expect_values(eval(x - s), {2, 2}, {-1, 0, 1, 2});
  expect_values(eval(s / x), {2, 2}, {2, 1, 2.0 / 3, 0.5});
  expect_values(eval(s + s), {}, {4});
}

TEST(MathBinary, BroadcastMiddleDims) {
  Graph g;
  std::vector<float> av(12), bv = {2, -3};
  for (int i = 0; i < 12; ++i) av[i] = static_cast<float>(i + 1);
  auto a = constant(g, F32(av, {4, 1, 3}));
  auto b = constant(g, F32(bv, {2, 1}));
  auto z = a * b;
  EXPECT_EQ(z.shape(), Shape({4, 2, 3}));
  std::vector<double> want;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 3; ++k) want.push_back(av[i * 3 + k] * bv[j]);
  expect_values(eval(z), {4, 2, 3}, want);
}

TEST(MathBinary, GeneralStridedBroadcastMatchesReference) {
  // Large enough to run in parallel; patterns alternate so no dims merge.
  const Shape sa{64, 1, 33, 17}, sb{1, 40, 33, 1};
  const Tensor a = random_tensor(sa, 1), b = random_tensor(sb, 2);
  Graph g;
  auto z = subtract(constant(g, a), constant(g, b));
  const Tensor got = eval(z);
  const Tensor want = reference_binary(a, b, {64, 40, 33, 17}, [](double p, double q) { return p - q; });
  ASSERT_EQ(got.shape(), want.shape());
  for (int64_t i = 0; i < got.num_elements(); ++i) ASSERT_EQ(got.data<double>()[i], want.data<double>()[i]) << i;
}

TEST(MathBinary, LargeFastPathsMatchReference) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{512, 300}, {300}}, {{512, 300}, {512, 300}}, {{512, 300}, {}}, {{512, 300}, {512, 1}},
      {{}, {512, 300}},     {{300}, {512, 300}},       {{7, 1, 5, 1, 3}, {2, 1, 4, 1}}};
  for (const auto& [sa, sb] : cases) {
    const Tensor a = random_tensor(sa, 3), b = random_tensor(sb, 4);
    Graph g;
    const Shape out = broadcast_shapes(sa, sb, "test");
    const Tensor got = eval(multiply(constant(g, a), constant(g, b)));
    const Tensor want = reference_binary(a, b, out, [](double p, double q) { return p * q; });
    ASSERT_EQ(got.shape(), out);
    for (int64_t i = 0; i < got.num_elements(); ++i)
      ASSERT_EQ(got.data<double>()[i], want.data<double>()[i]) << sa << " * " << sb << " at " << i;
  }
}

TEST(MathBinary, IntegerTypes) {
  Graph g;
  auto a = constant(g, Tensor::from_vector<int32_t>({7, -3, 2}, {3}));
  auto b = constant(g, Tensor::from_vector<int32_t>({2, 5, 10}, {3}));
  expect_values(eval(a + b), {3}, {9, 2, 12});
  expect_values(eval(a * b), {3}, {14, -15, 20});
  expect_values(eval(maximum(a, b)), {3}, {7, 5, 10});
  expect_values(eval(pow(a, b)), {3}, {49, -243, 1024});
  EXPECT_EQ(eval(a + b).dtype(), i32);
  auto c = constant(g, Tensor::from_vector<int64_t>({int64_t{1} << 40, 3}, {2}));
  expect_values(eval(c - scalar_like(c, 1)), {2}, {static_cast<double>((int64_t{1} << 40) - 1), 2});
  auto u = constant(g, Tensor::from_vector<uint8_t>({250, 3}, {2}));
  const Tensor us = eval(u + u);
  EXPECT_EQ(us.dtype(), u8);
  EXPECT_EQ(us.data<uint8_t>()[0], static_cast<uint8_t>(500 % 256));
  EXPECT_EQ(us.data<uint8_t>()[1], 6);
  auto neg = constant(g, Tensor::from_vector<int32_t>({-1}, {1}));
  testing::expect_invalid_argument([&] { eval(pow(a, neg)); }, {"negative integer powers"});
}

TEST(MathBinary, ScalarOperatorsUseTheTensorDtype) {
  Graph g;
  auto x = constant(g, F64({1, 2}, {2}));
  auto y = 2 * x + 1;
  EXPECT_EQ(y.dtype(), f64);
  expect_values(eval(y), {2}, {3, 5});
  expect_values(eval(1 - x / 4), {2}, {0.75, 0.5});
  expect_values(eval(0.5 / x - x * 3.0), {2}, {-2.5, -5.75});
  auto i = constant(g, Tensor::from_vector<int32_t>({3}, {1}));
  EXPECT_EQ((i * 2).dtype(), i32);
  expect_values(eval(i * 2 - 1), {1}, {5});
}

TEST(MathCompare, ValuesAndBroadcasting) {
  Graph g;
  auto x = constant(g, F32({1, 2, 3, 4, 5, 6}, {2, 3}));
  auto t = constant(g, F32({2, 5, 3}, {3}));
  auto check = [&](const Output& o, const std::vector<double>& want) {
    EXPECT_EQ(o.dtype(), boolean);
    expect_values(eval(o), {2, 3}, want);
  };
  check(equal(x, t), {0, 0, 1, 0, 1, 0});
  check(less(x, t), {1, 1, 0, 0, 0, 0});
  check(greater(x, t), {0, 0, 0, 1, 0, 1});
  check(less_equal(x, t), {1, 1, 1, 0, 1, 0});
  check(greater_equal(x, t), {0, 0, 1, 1, 1, 1});
  auto p = constant(g, Tensor::from_vector<bool>({true, false}, {2}));
  auto q = constant(g, Tensor(true));
  expect_values(eval(equal(p, q)), {2}, {1, 0});
  auto ia = constant(g, Tensor::from_vector<int64_t>({1, 5}, {2}));
  expect_values(eval(less(ia, scalar_like(ia, 3))), {2}, {1, 0});
}

TEST(MathCompare, NotDifferentiable) {
  Graph g;
  auto x = placeholder(g, f64, {3}, "x");
  auto m = cast(greater(x, scalar_like(x, 0)), f64);
  auto grads = gradients({reduce_sum(m * x)}, {x});
  const Tensor v = F64({-1, 2, 3}, {3});
  // Only the multiply's direct path contributes: the comparison passes nothing back.
  expect_values(eval(grads[0], {{x, v}}), {3}, {0, 1, 1});
}

// ---------------------------------------------------------------- errors

TEST(MathErrors, DtypeMismatchNamesTheOp) {
  Graph g;
  auto f = placeholder(g, f32, {2}, "f");
  auto i = placeholder(g, i32, {2}, "i");
  testing::expect_invalid_argument([&] { add(f, i, "my_add"); }, {"Add", "my_add", "int32", "float32"});
  testing::expect_invalid_argument([&] { matmul(f, i); }, {"MatMul"});
  testing::expect_invalid_argument([&] { sqrt(i); }, {"Sqrt", "int32"});
  testing::expect_invalid_argument([&] { divide(i, i); }, {"RealDiv", "int32"});
  auto b = placeholder(g, boolean, {2}, "b");
  testing::expect_invalid_argument([&] { less(b, b); }, {"Less", "bool"});
  testing::expect_invalid_argument([&] { reduce_sum(b); }, {"Sum", "bool"});
  testing::expect_invalid_argument([&] { select(f, f, f); }, {"Select", "condition"});
  testing::expect_invalid_argument([&] { add_n({f, i}); }, {"AddN"});
  testing::expect_invalid_argument([&] { argmax(f, 0, f32); }, {"ArgMax", "output_type"});
}

TEST(MathErrors, ShapeErrorsAtGraphBuild) {
  Graph g;
  auto a = placeholder(g, f32, {2, 3}, "a");
  auto b = placeholder(g, f32, {4}, "b");
  testing::expect_invalid_argument([&] { add(a, b); }, {"Add", "[2,3]", "[4]"});
  testing::expect_invalid_argument([&] { multiply(a, b, "prod"); }, {"prod"});
  auto c = placeholder(g, f32, {4, 5}, "c");
  testing::expect_invalid_argument([&] { matmul(a, c); }, {"MatMul", "3", "4"});
  testing::expect_invalid_argument([&] { matmul(a, c, {.transpose_a = true}); }, {"MatMul", "2", "4", "transpose_a=1"});
  EXPECT_EQ(matmul(a, placeholder(g, f32, {5, 3}), {.transpose_b = true}).shape(), Shape({2, 5}));
}

TEST(MathErrors, MoreShapeErrorsAtGraphBuild) {
  Graph g;
  auto a = placeholder(g, f32, {2, 3}, "a");
  auto v = placeholder(g, f32, {3}, "v");
  testing::expect_invalid_argument([&] { matmul(a, v); }, {"MatMul", "rank 2"});
  testing::expect_invalid_argument([&] { reduce_sum(a, {2}); }, {"Sum", "Invalid reduction dimension", "2"});
  testing::expect_invalid_argument([&] { reduce_max(a, {-3}); }, {"Max", "-3"});
  testing::expect_invalid_argument([&] { argmax(a, 2); }, {"ArgMax"});
  auto t = placeholder(g, f32, {4, 3}, "t");
  testing::expect_invalid_argument([&] { select(placeholder(g, boolean, {2, 3}), a, t); }, {"Select"});
  testing::expect_invalid_argument([&] { select(placeholder(g, boolean, {3}), a, a); }, {"Select", "condition"});
  testing::expect_invalid_argument([&] { add_n({a, t}); }, {"AddN"});
  auto shp = constant(g, Tensor::from_vector<int32_t>({4, 4}, {2}));
  testing::expect_invalid_argument([&] { broadcast_to(a, shp); }, {"BroadcastTo"});
  const int64_t before = g.num_operations();
  EXPECT_THROW(add(a, placeholder(g, f32, {5}, "w")), InvalidArgument);
  EXPECT_EQ(g.num_operations(), before + 1) << "a failed build leaves no half-made op behind";
}

TEST(MathErrors, ShapeErrorsAtRunTime) {
  Graph g;
  auto x = placeholder(g, f32, {-1, 3}, "x");
  auto y = placeholder(g, f32, {-1, 3}, "y");
  auto z = add(x, y, "z");
  EXPECT_EQ(z.shape(), Shape({-1, 3}));
  Session sess(g);
  testing::expect_invalid_argument([&] { sess.run({{x, Tensor(f32, {2, 3})}, {y, Tensor(f32, {4, 3})}}, z); },
               {"Incompatible shapes", "[2,3]", "[4,3]", "z"});
  auto a = placeholder(g, f32, {-1, -1}, "a");
  auto m = matmul(a, a, {.name = "mm"});
  testing::expect_invalid_argument([&] { sess.run({{a, Tensor(f32, {2, 3})}}, m); }, {"size-incompatible", "mm"});
  auto s = reduce_sum(x, {1}, false, "s");
  EXPECT_EQ(eval(s, {{x, Tensor(f32, {2, 3})}}).shape(), Shape({2}));
  auto axes = placeholder(g, i32, {-1}, "axes");
  auto s2 = sum(x, axes, false, "s2");
  testing::expect_invalid_argument([&] { sess.run({{x, Tensor(f32, {2, 3})}, {axes, Tensor::from_vector<int32_t>({5})}}, s2); },
               {"Invalid reduction dimension", "s2"});
  auto c = placeholder(g, boolean, {-1}, "c");
  auto sel = select(c, x, x, "sel");
  testing::expect_invalid_argument([&] { sess.run({{x, Tensor(f32, {2, 3})}, {c, Tensor(boolean, {3})}}, sel); }, {"sel", "condition"});
}

// ---------------------------------------------------------------- unary

TEST(MathUnary, Values) {
  Graph g;
  auto x = constant(g, F32({0.25f, 1, 4}, {3}));
  expect_values(eval(negative(x)), {3}, {-0.25, -1, -4});
  expect_values(eval(square(x)), {3}, {0.0625, 1, 16});
  expect_values(eval(sqrt(x)), {3}, {0.5, 1, 2});
  expect_values(eval(rsqrt(x)), {3}, {2, 1, 0.5});
  expect_values(eval(exp(x)), {3}, {std::exp(0.25), std::exp(1.0), std::exp(4.0)}, 1e-4);
  expect_values(eval(log(x)), {3}, {std::log(0.25), 0, std::log(4.0)});
  expect_values(eval(reciprocal(x)), {3}, {4, 1, 0.25});
  auto s = constant(g, F32({-2.5f, 0, 3}, {3}));
  expect_values(eval(abs(s)), {3}, {2.5, 0, 3});
  expect_values(eval(sign(s)), {3}, {-1, 0, 1});
  auto i = constant(g, Tensor::from_vector<int32_t>({-3, 0, 4}, {3}));
  expect_values(eval(abs(i)), {3}, {3, 0, 4});
  expect_values(eval(-i), {3}, {3, 0, -4});
  expect_values(eval(square(i)), {3}, {9, 0, 16});
  expect_values(eval(sign(i)), {3}, {-1, 0, 1});
  auto l = constant(g, Tensor::from_vector<int64_t>({-7}, {1}));
  expect_values(eval(abs(l)), {1}, {7});
}

TEST(MathUnary, FloorAndCeil) {
  Graph g;
  auto x = constant(g, F32({-1.5f, -0.5f, 0, 0.5f, 2}, {5}));
  expect_values(eval(floor(x)), {5}, {-2, -1, 0, 0, 2});
  expect_values(eval(ceil(x)), {5}, {-1, -0, 0, 1, 2});
  auto p = placeholder(g, f64, {3}, "p");
  auto grads = gradients({reduce_sum(floor(p) * ceil(p) + p)}, {p});
  // Floor and Ceil pass nothing back (TF's gradients for them are None).
  expect_values(eval(grads[0], {{p, F64({-0.5, 0.5, 1.5}, {3})}}), {3}, {1, 1, 1});
}

TEST(MathUnary, LargeInputRunsInParallelChunks) {
  const Tensor x = random_tensor({1000, 100}, 5, 0.1, 2.0);
  Graph g;
  const Tensor y = eval(log(exp(constant(g, x))));
  for (int64_t i = 0; i < x.num_elements(); ++i) ASSERT_NEAR(y.data<double>()[i], x.data<double>()[i], 1e-12);
}

// ---------------------------------------------------------------- in-place reuse

TEST(MathInPlace, KernelsReuseAUniquelyOwnedInput) {
  register_ops();  // the registry is read before any builder runs
  const OpRegistry& reg = OpRegistry::global();
  AttrMap attrs;
  const std::string name = "node";  // KernelContext keeps a reference to it
  std::vector<VariableSlot*> refs;
  std::atomic<uint64_t> counter{0};
  {
    std::vector<Tensor> in = {F32({1, 4}, {2})}, out(1);
    const void* buf = in[0].raw_data();
    KernelContext ctx(name, attrs, in, refs, out, &counter);
    reg.get("Sqrt").kernel(ctx);
    EXPECT_EQ(out[0].raw_data(), buf);
    expect_values(out[0], {2}, {1, 2});
  }
  {  // [N,C] + [C]: the matrix's buffer is reused; the vector cannot be.
    std::vector<Tensor> in = {F32({1, 2, 3, 4}, {2, 2}), F32({10, 20}, {2})}, out(1);
    const void* buf = in[0].raw_data();
    KernelContext ctx(name, attrs, in, refs, out, &counter);
    reg.get("AddV2").kernel(ctx);
    EXPECT_EQ(out[0].raw_data(), buf);
    expect_values(out[0], {2, 2}, {11, 22, 13, 24});
  }
  {  // [C] + [N,C]: the second operand is the one that can be reused.
    std::vector<Tensor> in = {F32({10, 20}, {2}), F32({1, 2, 3, 4}, {2, 2})}, out(1);
    const void* buf = in[1].raw_data();
    KernelContext ctx(name, attrs, in, refs, out, &counter);
    reg.get("Sub").kernel(ctx);
    EXPECT_EQ(out[0].raw_data(), buf);
    expect_values(out[0], {2, 2}, {9, 18, 7, 16});
  }
  {  // Someone else holds the buffer: a new one is allocated and the input is left intact.
    Tensor held = F32({1, 4}, {2});
    std::vector<Tensor> in = {held}, out(1);
    KernelContext ctx(name, attrs, in, refs, out, &counter);
    reg.get("Neg").kernel(ctx);
    EXPECT_FALSE(out[0].shares_buffer_with(held));
    expect_values(held, {2}, {1, 4});
    expect_values(out[0], {2}, {-1, -4});
  }
}

TEST(MathInPlace, FetchedAndFedValuesAreNotClobbered) {
  Graph g;
  auto x = placeholder(g, f32, {3}, "x");
  auto a = x + 1.0f;
  auto b = exp(a);
  auto c = b * 2.0f;
  Session sess(g);
  const Tensor xv = F32({0, 1, 2}, {3});
  auto r = sess.run({{x, xv}}, {a, c});
  expect_values(xv, {3}, {0, 1, 2});
  expect_values(r[0], {3}, {1, 2, 3});
  expect_values(r[1], {3}, {2 * std::exp(1.0), 2 * std::exp(2.0), 2 * std::exp(3.0)}, 1e-4);
}

// ---------------------------------------------------------------- Select, AddN

TEST(MathSelect, ElementwiseRowwiseAndScalarConditions) {
  Graph g;
  auto t = constant(g, F32({1, 2, 3, 4, 5, 6}, {2, 3}));
  auto e = constant(g, F32({-1, -2, -3, -4, -5, -6}, {2, 3}));
  auto full = constant(g, Tensor::from_vector<bool>({true, false, true, false, false, true}, {2, 3}));
  expect_values(eval(select(full, t, e)), {2, 3}, {1, -2, 3, -4, -5, 6});
  auto rows = constant(g, Tensor::from_vector<bool>({false, true}, {2}));
  expect_values(eval(select(rows, t, e)), {2, 3}, {-1, -2, -3, 4, 5, 6});
  expect_values(eval(select(constant(g, Tensor(false)), t, e)), {2, 3}, {-1, -2, -3, -4, -5, -6});
  auto iv = constant(g, Tensor::from_vector<int32_t>({1, 2}, {2}));
  auto jv = constant(g, Tensor::from_vector<int32_t>({3, 4}, {2}));
  expect_values(eval(select(rows, iv, jv)), {2}, {3, 2});
}

TEST(MathAddN, SumsListsOfTensors) {
  Graph g;
  auto a = constant(g, F32({1, 2}, {2}));
  auto b = constant(g, F32({10, 20}, {2}));
  auto c = constant(g, F32({100, 200}, {2}));
  auto s = add_n({a, b, c});
  EXPECT_EQ(s.op()->type(), "AddN");
  EXPECT_EQ(s.op()->attr<int64_t>("N"), 3);
  expect_values(eval(s), {2}, {111, 222});
  expect_values(eval(add_n({a})), {2}, {1, 2});
  // The same tensor twice, consumed by nothing else: must not be overwritten mid-sum.
  expect_values(eval(add_n({a + b, a + b})), {2}, {22, 44});
  auto x = placeholder(g, f32, {2}, "x");
  auto once = x * 2.0f;
  expect_values(eval(add_n({once, once, x}), {{x, F32({1, 3}, {2})}}), {2}, {5, 15});
}

// ---------------------------------------------------------------- MatMul

TEST(MathMatMul, AllTransposeCombinations) {
  Graph g;
  // A = [[1,2,3],[4,5,6]] (2x3), B = [[1,0],[0,1],[2,-1]] (3x2); A*B = [[7,-1],[16,-1]].
  const std::vector<float> a = {1, 2, 3, 4, 5, 6}, at = {1, 4, 2, 5, 3, 6};
  const std::vector<float> b = {1, 0, 0, 1, 2, -1}, bt = {1, 0, 2, 0, 1, -1};
  const std::vector<double> want = {7, -1, 16, -1};
  auto A = constant(g, F32(a, {2, 3})), At = constant(g, F32(at, {3, 2}));
  auto B = constant(g, F32(b, {3, 2})), Bt = constant(g, F32(bt, {2, 3}));
  expect_values(eval(matmul(A, B)), {2, 2}, want);
  expect_values(eval(matmul(At, B, {.transpose_a = true})), {2, 2}, want);
  expect_values(eval(matmul(A, Bt, {.transpose_b = true})), {2, 2}, want);
  expect_values(eval(matmul(At, Bt, {.transpose_a = true, .transpose_b = true})), {2, 2}, want);
  auto m = matmul(A, B, {.name = "layer/MatMul"});
  EXPECT_EQ(m.op()->name(), "layer/MatMul");
  auto Ai = constant(g, Tensor::from_vector<int32_t>({1, 2, 3, 4, 5, 6}, {2, 3}));
  auto Bi = constant(g, Tensor::from_vector<int32_t>({1, 0, 0, 1, 2, -1}, {3, 2}));
  expect_values(eval(matmul(Ai, Bi)), {2, 2}, want);
}

TEST(MathMatMul, ShapesWithUnknownDimsAndEmptyInner) {
  Graph g;
  auto x = placeholder(g, f32, {-1, 784}, "X");
  auto w = placeholder(g, f32, {784, 300}, "W");
  EXPECT_EQ(matmul(x, w).shape(), Shape({-1, 300}));
  auto u = placeholder(g, f32, Shape::unknown(), "u");
  EXPECT_EQ(matmul(u, w).shape(), Shape({-1, 300}));
  EXPECT_EQ(matmul(w, u, {.transpose_a = true}).shape(), Shape({300, -1}));
  auto e1 = constant(g, Tensor(f32, {2, 0})), e2 = constant(g, Tensor(f32, {0, 3}));
  expect_values(eval(matmul(e1, e2)), {2, 3}, {0, 0, 0, 0, 0, 0});
}

// ---------------------------------------------------------------- reductions

// Reference reduction over `mask` (true = reduced) in float64.
Tensor reference_reduce(const Tensor& x, const std::vector<bool>& mask, bool keep, const std::string& kind) {
  std::vector<int64_t> out_dims, kept_dims;
  for (int i = 0; i < x.rank(); ++i) {
    kept_dims.push_back(mask[i] ? 1 : x.dim(i));
    if (!mask[i] || keep) out_dims.push_back(mask[i] ? 1 : x.dim(i));
  }
  const Shape kept(kept_dims);
  Tensor r(f64, Shape(out_dims));
  std::vector<int64_t> count(r.num_elements(), 0);
  for (int64_t i = 0; i < x.num_elements(); ++i) {
    const auto idx = unravel(i, x.shape().dim_vector());
    const int64_t o = ravel_broadcast(idx, kept);
    const double v = x.data<double>()[i];
    double& acc = r.data<double>()[o];
    if (count[o]++ == 0) acc = v;
    else if (kind == "Sum" || kind == "Mean") acc += v;
    else if (kind == "Prod") acc *= v;
    else if (kind == "Max") acc = std::max(acc, v);
    else acc = std::min(acc, v);
  }
  if (kind == "Mean")
    for (int64_t o = 0; o < r.num_elements(); ++o) r.data<double>()[o] /= count[o];
  return r;
}

TEST(MathReduce, EveryAxisCombinationMatchesReference) {
  const Tensor x = random_tensor({2, 3, 4}, 11, 0.5, 1.5);
  const std::vector<std::pair<const char*, std::function<Output(const Output&, const std::vector<int64_t>&, bool)>>>
      ops = {{"Sum", [](auto& v, auto& a, bool k) { return reduce_sum(v, a, k); }},
             {"Mean", [](auto& v, auto& a, bool k) { return reduce_mean(v, a, k); }},
             {"Max", [](auto& v, auto& a, bool k) { return reduce_max(v, a, k); }},
             {"Min", [](auto& v, auto& a, bool k) { return reduce_min(v, a, k); }},
             {"Prod", [](auto& v, auto& a, bool k) { return reduce_prod(v, a, k); }}};
  for (const auto& [kind, build] : ops) {
    for (int bits = 0; bits < 8; ++bits) {
      for (bool negative_axes : {false, true}) {
        for (bool keep : {false, true}) {
          std::vector<int64_t> axes;
          std::vector<bool> mask(3);
          for (int d = 0; d < 3; ++d)
            if (bits >> d & 1) {
              axes.push_back(negative_axes ? d - 3 : d);
              mask[d] = true;
            }
          // An empty axis list means "all axes" in the builder (TF's axis=None).
          if (axes.empty()) mask.assign(3, true);
          Graph g;
          auto y = build(constant(g, x), axes, keep);
          const Tensor got = eval(y);
          const Tensor want = reference_reduce(x, mask, keep, kind);
          SCOPED_TRACE(str_cat(kind, " axes ", Shape(axes), " keep_dims ", keep));
          EXPECT_EQ(y.op()->type(), kind);
          EXPECT_EQ(y.shape(), want.shape()) << "static shape";
          ASSERT_EQ(got.shape(), want.shape());
          for (int64_t i = 0; i < got.num_elements(); ++i)
            EXPECT_NEAR(got.data<double>()[i], want.data<double>()[i], 1e-12);
        }
      }
    }
  }
}

TEST(MathReduce, LargeTensorsAllKernelPaths) {
  // Shapes chosen to hit: all axes, column blocks (axis 0), last axis, [outer, reduced, inner],
  // and non-adjacent reduced runs; all big enough to run in parallel.
  const std::vector<std::pair<Shape, std::vector<bool>>> cases = {
      {{300000}, {true}},
      {{4096, 70}, {true, false}},
      {{70, 4096}, {false, true}},
      {{40, 300, 50}, {false, true, false}},
      {{40, 30, 20, 25}, {true, false, true, false}},
      {{8, 1, 5000}, {true, true, false}},
  };
  for (const auto& [shape, mask] : cases) {
    const Tensor x = random_tensor(shape, 21);
    std::vector<int64_t> axes;
    for (size_t d = 0; d < mask.size(); ++d)
      if (mask[d]) axes.push_back(static_cast<int64_t>(d));
    for (const char* kind : {"Sum", "Max", "Mean"}) {
      Graph g;
      auto c = constant(g, x);
      Output y = std::string(kind) == "Sum" ? reduce_sum(c, axes) : std::string(kind) == "Max" ? reduce_max(c, axes)
                                                                                               : reduce_mean(c, axes);
      const Tensor got = eval(y), want = reference_reduce(x, mask, false, kind);
      ASSERT_EQ(got.shape(), want.shape()) << kind << " " << shape;
      for (int64_t i = 0; i < got.num_elements(); ++i)
        ASSERT_NEAR(got.data<double>()[i], want.data<double>()[i], 1e-9) << kind << " " << shape << " at " << i;
    }
  }
}

TEST(MathReduce, NamesFollowTf1) {
  Graph g;
  auto x = placeholder(g, f32, {-1, 10}, "x");
  auto loss = reduce_mean(x, {}, "loss");
  EXPECT_EQ(loss.op()->name(), "loss");
  EXPECT_EQ(loss.op()->input(1).op()->name(), "Const");
  EXPECT_EQ(loss.shape(), Shape({}));
  auto s = reduce_sum(x, {1});
  EXPECT_EQ(s.op()->name(), "Sum");
  EXPECT_EQ(s.op()->input(1).op()->name(), "Sum/reduction_indices");
  EXPECT_EQ(s.shape(), Shape({-1}));
  EXPECT_EQ(reduce_sum(x, {1}).op()->name(), "Sum_1");
  EXPECT_EQ(reduce_max(x, {0}, true).shape(), Shape({1, 10}));
  auto exact = reduce_sum(x, {1}, false, "scope/total/");
  EXPECT_EQ(exact.op()->name(), "scope/total");
  EXPECT_EQ(exact.op()->input(1).op()->name(), "scope/total/reduction_indices");
  EXPECT_FALSE(s.op()->attr<bool>("keep_dims"));
  EXPECT_EQ(s.op()->attr<DType>("Tidx"), i32);
}

TEST(MathReduce, ShapeInferenceWithRuntimeAxes) {
  Graph g;
  auto x = placeholder(g, f32, {2, 3}, "x");
  auto axes = placeholder(g, i32, {-1}, "axes");
  auto keep = sum(x, axes, true);
  auto drop = sum(x, axes, false);
  EXPECT_EQ(keep.shape(), Shape({-1, -1}));
  EXPECT_FALSE(drop.shape().known_rank());
  Session sess(g);
  const Tensor xv = F32({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_values(sess.run({{x, xv}, {axes, Tensor::from_vector<int32_t>({-1})}}, keep), {2, 1}, {6, 15});
  expect_values(sess.run({{x, xv}, {axes, Tensor::from_vector<int32_t>({0, 1})}}, drop), {}, {21});
  // Empty axes reduce nothing (TF), repeated axes reduce once.
  expect_values(sess.run({{x, xv}, {axes, Tensor::from_vector<int32_t>({})}}, drop), {2, 3}, {1, 2, 3, 4, 5, 6});
  expect_values(sess.run({{x, xv}, {axes, Tensor::from_vector<int32_t>({1, -1})}}, drop), {2}, {6, 15});
  auto axes64 = constant(g, Tensor::from_vector<int64_t>({0}));
  expect_values(eval(sum(x, axes64), {{x, xv}}), {3}, {5, 7, 9});
}

TEST(MathReduce, UnknownRankInput) {
  Graph g;
  auto x = placeholder(g, f32, Shape::unknown(), "x");
  auto all = reduce_sum(x);
  auto kept = reduce_max(x, {}, true);
  Session sess(g);
  const Tensor xv = F32({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_values(sess.run({{x, xv}}, all), {}, {21});
  expect_values(sess.run({{x, xv}}, kept), {1, 1}, {6});
  expect_values(sess.run({{x, Tensor(5.0f)}}, all), {}, {5});
}

TEST(MathReduce, IntegersEmptyAndSizeOneAxes) {
  Graph g;
  auto i = constant(g, Tensor::from_vector<int32_t>({1, 2, 4}, {3}));
  expect_values(eval(reduce_mean(i)), {}, {2});  // integer mean truncates, as TF
  expect_values(eval(reduce_max(i)), {}, {4});
  expect_values(eval(reduce_prod(i)), {}, {8});
  auto e = constant(g, Tensor(f32, {0, 3}));
  expect_values(eval(reduce_sum(e, {0})), {3}, {0, 0, 0});
  EXPECT_TRUE(std::isnan(eval(reduce_mean(e)).scalar<float>()));
  EXPECT_EQ(eval(reduce_max(e, {0})).data<float>()[0], -std::numeric_limits<float>::infinity());
  expect_values(eval(reduce_sum(e, {1})), {0}, {});
  auto one = constant(g, F32({1, 2, 3}, {1, 3}));
  expect_values(eval(reduce_sum(one, {0})), {3}, {1, 2, 3});
  expect_values(eval(reduce_mean(one, {0}, true)), {1, 3}, {1, 2, 3});
}

TEST(MathArgMax, AxesTiesAndOutputTypes) {
  Graph g;
  auto x = constant(g, F32({1, 9, 3, 9, 0, 5}, {2, 3}));
  auto a1 = argmax(x, 1);
  EXPECT_EQ(a1.dtype(), i64);
  EXPECT_EQ(a1.shape(), Shape({2}));
  EXPECT_EQ(a1.op()->input(1).op()->name(), "ArgMax/dimension");
  expect_values(eval(a1), {2}, {1, 0});
  auto ties = constant(g, F32({2, 7, 7, 5, 5, 1}, {2, 3}));
  expect_values(eval(argmax(ties, 1)), {2}, {1, 0});  // the first of tied extrema, as TF
  expect_values(eval(argmin(ties, 0)), {3}, {0, 1, 1});
  expect_values(eval(argmin(constant(g, F32({4, 1, 1}, {3})), 0)), {}, {1});
  expect_values(eval(argmax(x, 0)), {3}, {1, 0, 1});
  auto am = argmax(x, -1, i32);
  EXPECT_EQ(am.dtype(), i32);
  expect_values(eval(am), {2}, {1, 0});
  expect_values(eval(argmin(x, 1)), {2}, {0, 1});
  auto i = constant(g, Tensor::from_vector<int32_t>({3, 1, 2, 7, 7, 0, 1, 2}, {2, 2, 2}));
  expect_values(eval(argmax(i, 1)), {2, 2}, {0, 1, 0, 1});
  auto empty = constant(g, Tensor(f32, {2, 0}));
  testing::expect_invalid_argument([&] { eval(argmax(empty, 1)); }, {"empty"});
}

// ---------------------------------------------------------------- BroadcastTo, BroadcastGradientArgs

TEST(MathBroadcast, BroadcastToValuesAndShapes) {
  Graph g;
  auto v = constant(g, F32({1, 2, 3}, {3}));
  auto shp = constant(g, Tensor::from_vector<int32_t>({2, 3}));
  auto b = broadcast_to(v, shp);
  EXPECT_EQ(b.shape(), Shape({2, 3}));
  expect_values(eval(b), {2, 3}, {1, 2, 3, 1, 2, 3});
  auto col = constant(g, F32({1, 2}, {2, 1}));
  expect_values(eval(broadcast_to(col, shp)), {2, 3}, {1, 1, 1, 2, 2, 2});
  auto x = placeholder(g, f32, {-1, 3}, "x");
  auto dyn = broadcast_to(constant(g, Tensor(7.0f)), shape(x));
  EXPECT_EQ(dyn.shape(), Shape({-1, -1}));
  expect_values(eval(dyn, {{x, Tensor(f32, {1, 3})}}), {1, 3}, {7, 7, 7});
  auto bad = broadcast_to(col, shape(x));
  testing::expect_invalid_argument([&] { eval(bad, {{x, Tensor(f32, {4, 3})}}); }, {"Unable to broadcast", "[2,1]", "[4,3]"});
}

TEST(MathBroadcast, BroadcastGradientArgsMatchesTf) {
  auto run = [](std::vector<int32_t> a, std::vector<int32_t> b) {
    Graph g;
    auto [r0, r1] = broadcast_gradient_args(constant(g, Tensor::from_vector(a)), constant(g, Tensor::from_vector(b)));
    Session sess(g);
    auto r = sess.run({}, {r0, r1});
    return std::make_pair(r[0].to_vector<int32_t>(), r[1].to_vector<int32_t>());
  };
  using V = std::vector<int32_t>;
  EXPECT_EQ(run({2, 3, 5}, {1}), std::make_pair(V{}, V{0, 1, 2}));
  EXPECT_EQ(run({2, 1}, {1, 3}), std::make_pair(V{1}, V{0}));
  EXPECT_EQ(run({4, 1, 3}, {2, 1}), std::make_pair(V{1}, V{0, 2}));
  EXPECT_EQ(run({1}, {1}), std::make_pair(V{0}, V{0}));
  EXPECT_EQ(run({5, 3}, {5, 3}), std::make_pair(V{}, V{}));
  testing::expect_invalid_argument([&] { run({2, 3}, {4}); }, {"Incompatible shapes"});
}

TEST(MathBroadcast, SumToShapeOfPicksStaticOrDynamicPath) {
  Graph g;
  auto grad = placeholder(g, f32, {-1, 300}, "grad");
  auto x = placeholder(g, f32, {-1, 300}, "x");
  auto b = placeholder(g, f32, {300}, "b");
  EXPECT_EQ(sum_to_shape_of(grad, x, b), grad) << "no broadcasting: the gradient itself";
  const int64_t n = g.num_operations();
  auto gb = sum_to_shape_of(grad, b, x);
  EXPECT_EQ(gb.op()->type(), "Sum");
  EXPECT_EQ(gb.shape(), Shape({300}));
  EXPECT_EQ(count_ops(g, "BroadcastGradientArgs"), 0);
  EXPECT_EQ(g.num_operations(), n + 2) << "just the axes constant and the Sum";
  auto k = placeholder(g, f32, {1, 300}, "k");
  auto gk = sum_to_shape_of(grad, k, x);
  EXPECT_EQ(gk.op()->type(), "Reshape");
  EXPECT_EQ(gk.shape(), Shape({1, 300}));
  auto u = placeholder(g, f32, {-1, 1}, "u");
  auto gu = sum_to_shape_of(grad, u, x);
  EXPECT_EQ(count_ops(g, "BroadcastGradientArgs"), 1) << "[?,1] vs [?,300]: dim 0 might broadcast";
  Session sess(g);
  const Tensor gv = random_tensor({4, 300}, 3, -1, 1, f32);
  const Tensor uv(f32, {4, 1}), xv(f32, {4, 300}), bv(f32, {300});
  const Tensor r = sess.run({{grad, gv}, {u, uv}, {x, xv}}, gu);
  EXPECT_EQ(r.shape(), Shape({4, 1}));
  double row0 = 0;
  for (int j = 0; j < 300; ++j) row0 += gv.data<float>()[j];
  EXPECT_NEAR(r.data<float>()[0], row0, 1e-3);
  const Tensor rb = sess.run({{grad, gv}, {x, xv}, {b, bv}}, gb);
  double col0 = 0;
  for (int i = 0; i < 4; ++i) col0 += gv.data<float>()[i * 300];
  EXPECT_NEAR(rb.data<float>()[0], col0, 1e-4);
}

// ---------------------------------------------------------------- numeric gradient checks (float64)

using Fn = std::function<Output(const std::vector<Output>&)>;

TEST(MathGradients, AddSubMulDivWithBroadcasting) {
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{2, 3}, {2, 3}}, {{2, 3}, {3}}, {{3}, {2, 3}}, {{2, 1}, {1, 3}}, {{4, 1, 3}, {2, 1}}, {{}, {2, 3}}, {{2, 3}, {}}};
  const std::vector<std::pair<const char*, Fn>> ops = {
      {"Add", [](auto& v) { return add(v[0], v[1]); }},
      {"AddV2", [](auto& v) { return OpBuilder(v[0], "AddV2", "").input(v[0]).input(v[1]).build_output(); }},
      {"Sub", [](auto& v) { return subtract(v[0], v[1]); }},
      {"Mul", [](auto& v) { return multiply(v[0], v[1]); }},
      {"RealDiv", [](auto& v) { return divide(v[0], v[1]); }},
  };
  for (const auto& [name, f] : ops) {
    for (const auto& [sa, sb] : shapes) {
      SCOPED_TRACE(str_cat(name, " ", sa, " ", sb));
      expect_gradients_match(f, {random_tensor(sa, 1), random_tensor(sb, 2, 0.5, 2.0)});
    }
  }
}

TEST(MathGradients, MaximumMinimumAwayFromTies) {
  for (const auto& [sa, sb] : std::vector<std::pair<Shape, Shape>>{{{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{3, 1}, {1, 4}}}) {
    SCOPED_TRACE(str_cat(sa, " ", sb));
    const Tensor a = random_tensor(sa, 5), b = random_tensor(sb, 6);
    expect_gradients_match([](auto& v) { return maximum(v[0], v[1]); }, {a, b});
    expect_gradients_match([](auto& v) { return minimum(v[0], v[1]); }, {a, b});
  }
}

TEST(MathGradients, Pow) {
  expect_gradients_match([](auto& v) { return pow(v[0], v[1]); },
                         {random_tensor({2, 3}, 7, 0.5, 2.0), random_tensor({2, 3}, 8, -2, 2)});
  expect_gradients_match([](auto& v) { return pow(v[0], v[1]); },
                         {random_tensor({2, 3}, 7, 0.5, 2.0), random_tensor({3}, 8, -2, 2)});
  expect_gradients_match([](auto& v) { return pow(v[0], v[1]); },
                         {random_tensor({2, 1}, 9, 0.5, 2.0), random_tensor({1, 3}, 10, -2, 2)});
}

TEST(MathGradients, UnaryOps) {
  const Tensor any = random_tensor({2, 3}, 12, -2, 2), positive = random_tensor({2, 3}, 13, 0.5, 2);
  Tensor away_from_zero = any.clone();
  for (double& v : away_from_zero.flat<double>()) v += v < 0 ? -0.1 : 0.1;
  expect_gradients_match([](auto& v) { return negative(v[0]); }, {any});
  expect_gradients_match([](auto& v) { return -v[0]; }, {any});
  expect_gradients_match([](auto& v) { return abs(v[0]); }, {away_from_zero});
  expect_gradients_match([](auto& v) { return square(v[0]); }, {any});
  expect_gradients_match([](auto& v) { return sqrt(v[0]); }, {positive});
  expect_gradients_match([](auto& v) { return rsqrt(v[0]); }, {positive});
  expect_gradients_match([](auto& v) { return exp(v[0]); }, {any});
  expect_gradients_match([](auto& v) { return log(v[0]); }, {positive});
  expect_gradients_match([](auto& v) { return reciprocal(v[0]); }, {positive});
  expect_gradients_match([](auto& v) { return sign(v[0]) * v[0]; }, {away_from_zero});
  // A composite: second-order use of the gradient ops' own building blocks.
  expect_gradients_match([](auto& v) { return log(1.0 + exp(v[0])) * sqrt(square(v[1]) + 1.0); },
                         {any, random_tensor({3}, 14)});
}

TEST(MathGradients, SelectAddNMatMul) {
  Fn sel = [](auto& v) {
    auto c = constant(*v[0].graph(), Tensor::from_vector<bool>({true, false, false, true, true, false}, {2, 3}));
    return select(c, v[0], v[1]);
  };
  expect_gradients_match(sel, {random_tensor({2, 3}, 15), random_tensor({2, 3}, 16)});
  Fn rows = [](auto& v) {
    auto c = constant(*v[0].graph(), Tensor::from_vector<bool>({false, true}, {2}));
    return select(c, v[0], v[1]);
  };
  expect_gradients_match(rows, {random_tensor({2, 3}, 15), random_tensor({2, 3}, 16)});
  expect_gradients_match([](auto& v) { return add_n({v[0], v[1], v[0], v[2]}); },
                         {random_tensor({3, 2}, 17), random_tensor({3, 2}, 18), random_tensor({3, 2}, 19)});
  const Tensor a = random_tensor({2, 3}, 20), b = random_tensor({3, 4}, 21);
  const Tensor at = random_tensor({3, 2}, 22), bt = random_tensor({4, 3}, 23);
  expect_gradients_match([](auto& v) { return matmul(v[0], v[1]); }, {a, b});
  expect_gradients_match([](auto& v) { return matmul(v[0], v[1], {.transpose_a = true}); }, {at, b});
  expect_gradients_match([](auto& v) { return matmul(v[0], v[1], {.transpose_b = true}); }, {a, bt});
  expect_gradients_match([](auto& v) { return matmul(v[0], v[1], {.transpose_a = true, .transpose_b = true}); },
                         {at, bt});
}

TEST(MathGradients, MatMulGradientGraphIsTfs) {
  Graph g;
  auto a = placeholder(g, f32, {2, 3}, "a");
  auto b = placeholder(g, f32, {3, 4}, "b");
  auto grads = gradients({reduce_sum(matmul(a, b))}, {a, b});
  EXPECT_EQ(grads[0].op()->name(), "gradients/MatMul_grad/MatMul");
  EXPECT_TRUE(grads[0].op()->attr<bool>("transpose_b"));
  EXPECT_EQ(grads[1].op()->name(), "gradients/MatMul_grad/MatMul_1");
  EXPECT_TRUE(grads[1].op()->attr<bool>("transpose_a"));
}

TEST(MathGradients, Reductions) {
  const Tensor x = random_tensor({2, 3, 4}, 24);
  const std::vector<std::vector<int64_t>> axes_list = {{}, {0}, {1}, {-1}, {0, 2}, {1, 2}, {0, 1, 2}};
  for (const auto& axes : axes_list) {
    for (bool keep : {false, true}) {
      SCOPED_TRACE(str_cat("axes ", Shape(axes), " keep_dims ", keep));
      expect_gradients_match([&](auto& v) { return reduce_sum(v[0], axes, keep); }, {x});
      expect_gradients_match([&](auto& v) { return reduce_mean(v[0], axes, keep); }, {x});
      expect_gradients_match([&](auto& v) { return reduce_max(v[0], axes, keep); }, {x});
      expect_gradients_match([&](auto& v) { return reduce_min(v[0], axes, keep); }, {x});
    }
  }
}

TEST(MathGradients, MaxReductionSharesTiesEqually) {
  Graph g;
  auto x = placeholder(g, f64, {2, 3}, "x");
  auto grads = gradients({reduce_max(x, {1})}, {x});
  expect_values(eval(grads[0], {{x, F64({1, 3, 3, 5, 2, 5}, {2, 3})}}), {2, 3}, {0, 0.5, 0.5, 0.5, 0, 0.5});
  auto gmin = gradients({reduce_min(x)}, {x});
  expect_values(eval(gmin[0], {{x, F64({1, 3, 1, 5, 1, 5}, {2, 3})}}), {2, 3}, {1.0 / 3, 0, 1.0 / 3, 0, 1.0 / 3, 0});
}

TEST(MathGradients, BroadcastTo) {
  Fn f = [](auto& v) { return broadcast_to(v[0], constant(*v[0].graph(), Tensor::from_vector<int32_t>({2, 4, 3}))); };
  expect_gradients_match(f, {random_tensor({4, 1}, 25)});
  expect_gradients_match(f, {random_tensor({3}, 26)});
}

// Symbolic vs central-difference gradients for placeholders with partly unknown static shapes
// (check_gradients always builds fully defined placeholders).
void expect_dynamic_gradients(Graph& g, const Output& y, const std::vector<Output>& xs, const std::vector<Tensor>& values,
                              const FeedDict& extra = {}) {
  FeedDict feeds = extra;
  for (size_t i = 0; i < xs.size(); ++i) feeds.push_back({xs[i], values[i]});
  Session probe(g);
  const Tensor y_val = probe.run(feeds, y);
  auto w = constant(g, random_tensor(y_val.shape(), 77, 0.5, 1.5));
  auto loss = reduce_sum(y * w);
  auto grads = gradients({loss}, xs);
  Session sess(g);
  std::vector<Tensor> symbolic = sess.run(feeds, grads);
  const size_t base = extra.size();
  for (size_t i = 0; i < xs.size(); ++i) {
    ASSERT_EQ(symbolic[i].shape(), values[i].shape());
    Tensor x = values[i].clone();
    feeds[base + i].second = x;
    for (int64_t k = 0; k < x.num_elements(); ++k) {
      double* p = x.data<double>() + k;
      const double orig = *p;
      *p = orig + 1e-6;
      const double up = sess.run(feeds, loss).scalar<double>();
      *p = orig - 1e-6;
      const double down = sess.run(feeds, loss).scalar<double>();
      *p = orig;
      EXPECT_NEAR(symbolic[i].data<double>()[k], (up - down) / 2e-6, 1e-6) << "input " << i << " element " << k;
    }
    feeds[base + i].second = values[i];
  }
}

TEST(MathGradients, DynamicShapesTakeTheRuntimePath) {
  {
    Graph g;
    auto x = placeholder(g, f64, {-1, 3}, "x");
    auto u = placeholder(g, f64, {-1, 1}, "u");
    auto y = x * u + x / (u + 3.0) - maximum(x, u);
    // [?,3] against [?,1]: dim 0 may broadcast either way, so only run time can tell.
    expect_dynamic_gradients(g, y, {x, u}, {random_tensor({4, 3}, 30), random_tensor({4, 1}, 31)});
    EXPECT_GE(count_ops(g, "BroadcastGradientArgs"), 1);
  }
  {  // The same graph shape, but u broadcast along dim 0 at run time.
    Graph g;
    auto x = placeholder(g, f64, {-1, 3}, "x");
    auto u = placeholder(g, f64, {-1, 1}, "u");
    auto y = x * u + x / (u + 3.0);
    expect_dynamic_gradients(g, y, {x, u}, {random_tensor({4, 3}, 32), random_tensor({1, 1}, 33)});
  }
  {  // Mean over an unknown batch: the count is computed at run time.
    Graph g;
    auto x = placeholder(g, f64, {-1, 3}, "x");
    auto y = reduce_mean(x, {0}) * reduce_mean(square(x));
    expect_dynamic_gradients(g, y, {x}, {random_tensor({5, 3}, 34)});
  }
  {  // Several unknown dims kept by a reduction, and axes known only at run time.
    Graph g;
    auto x = placeholder(g, f64, {-1, -1, 3}, "x");
    auto axes = placeholder(g, i32, {-1}, "axes");
    auto y = reduce_max(x, {2}) + reduce_mean(x, {2}) + sum(x, axes);
    expect_dynamic_gradients(g, y, {x}, {random_tensor({2, 3, 3}, 35)}, {{axes, Tensor::from_vector<int32_t>({2})}});
  }
}

TEST(MathGradients, UnknownBatchBiasNeedsNoBroadcastGradientArgs) {
  Graph g;
  auto x = placeholder(g, f32, {-1, 300}, "X");
  auto b = placeholder(g, f32, {300}, "b");
  auto y = x + b;
  auto loss = reduce_sum(square(y));
  auto grads = gradients({loss}, {x, b});
  EXPECT_EQ(count_ops(g, "BroadcastGradientArgs"), 0);
  EXPECT_EQ(grads[1].shape(), Shape({300}));
  EXPECT_EQ(grads[0].shape(), Shape({-1, 300}));
  const Tensor xv = random_tensor({8, 300}, 40, -1, 1, f32), bv = random_tensor({300}, 41, -1, 1, f32);
  Session sess(g);
  auto r = sess.run({{x, xv}, {b, bv}}, grads);
  for (int j = 0; j < 300; ++j) {
    double want = 0;
    for (int i = 0; i < 8; ++i) want += 2.0 * (xv.data<float>()[i * 300 + j] + bv.data<float>()[j]);
    ASSERT_NEAR(r[1].data<float>()[j], want, 1e-4) << j;
    ASSERT_NEAR(r[0].data<float>()[j], 2.0 * (xv.data<float>()[j] + bv.data<float>()[j]), 1e-5);
  }
}

TEST(MathGradients, SecondGradientsCallOverTheSameGraph) {
  Graph g;
  auto x = placeholder(g, f64, {-1, 3}, "x");
  auto w = constant(g, random_tensor({3, 2}, 50), "w");
  auto b = constant(g, random_tensor({2}, 51), "b");
  auto loss = reduce_mean(square(matmul(x, w) + b));
  auto first = gradients({loss}, {w, b});
  auto second = gradients({loss}, {w, b, x});
  EXPECT_EQ(first[0].op()->name().rfind("gradients/", 0), 0u);
  EXPECT_EQ(second[0].op()->name().rfind("gradients_1/", 0), 0u);
  Session sess(g);
  const Tensor xv = random_tensor({5, 3}, 52);
  auto r1 = sess.run({{x, xv}}, first);
  auto r2 = sess.run({{x, xv}}, second);
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(r1[i].shape(), r2[i].shape());
    for (int64_t k = 0; k < r1[i].num_elements(); ++k)
      EXPECT_DOUBLE_EQ(r1[i].data<double>()[k], r2[i].data<double>()[k]);
  }
  EXPECT_EQ(r2[2].shape(), Shape({5, 3}));
}

}  // namespace
}  // namespace fg

namespace fg {
namespace {

// A whole-tensor sum splits into chunks fixed by the size alone: the same bits on one thread as
// on every thread the machine has (tests/gemm_test.cc checks the same of products).
TEST(Reductions, FullReductionDoesNotDependOnTheThreadCount) {
  Graph g;
  auto x = placeholder(g, f32, {-1}, "x");
  auto sum = reduce_sum(x);
  auto mean = reduce_mean(x);
  Session s(g);
  const Tensor v = testing::random_tensor({300001}, 5, -1.0, 1.0, f32);
  const std::vector<Tensor> many = s.run({{x, v}}, {sum, mean});
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const std::vector<Tensor> one = s.run({{x, v}}, {sum, mean});
  omp_set_num_threads(saved);
  EXPECT_EQ(many[0].scalar<float>(), one[0].scalar<float>());
  EXPECT_EQ(many[1].scalar<float>(), one[1].scalar<float>());
  double exact = 0;
  for (float f : v.flat<float>()) exact += f;
  EXPECT_NEAR(one[0].scalar<float>(), exact, 1e-3);
}

}  // namespace
}  // namespace fg
