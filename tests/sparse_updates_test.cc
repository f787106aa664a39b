// The sparse updates TF 1.x writes into training graphs: Scatter* on ref variables, the
// SparseApply* optimizer ops (an embedding's IndexedSlices gradient) and Unique (TF's
// _deduplicate_indexed_slices). SparseApply* results are held against the dense Apply* op run on
// the selected rows alone; Scatter* results against values worked out by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "flowgraph.h"
#include "graph/op_registry.h"
#include "tests/test_util.h"
#include "tests/tf_graph_check.h"

namespace fg {
namespace {

using testing::as_doubles;
using testing::expect_error;
using testing::float_tensor;
using testing::random_tensor;

const std::vector<std::string> kSparseApplyTypes = {
    "SparseApplyMomentum",        "SparseApplyAdagrad",           "SparseApplyRMSProp",
    "SparseApplyCenteredRMSProp", "SparseApplyAdadelta",          "SparseApplyProximalGradientDescent",
    "SparseApplyProximalAdagrad", "SparseApplyAdagradDA",         "SparseApplyFtrl",
    "SparseApplyFtrlV2"};

// Hyper-parameters by TF's input names (l1 > 0, so the proximal rules shrink).
double hyper(const std::string& name) {
  static const std::map<std::string, double> values = {
      {"lr", 0.1},      {"alpha", 0.1}, {"l1", 0.01},        {"l2", 0.02},          {"rho", 0.9},
      {"momentum", 0.9}, {"epsilon", 1e-3}, {"lr_power", -0.5}, {"l2_shrinkage", 0.05}};
  return values.at(name);
}

// Starting values of a ref by its name: accumulators positive, ms above mg^2 (centered RMSProp).
Tensor initial_value(const std::string& ref, const Shape& shape, DType dtype, uint64_t seed) {
  if (ref == "var") return random_tensor(shape, seed, -1, 1, dtype);
  if (ref == "mg" || ref == "mom" || ref == "linear" || ref == "gradient_accumulator")
    return random_tensor(shape, seed, -0.3, 0.3, dtype);
  return random_tensor(shape, seed, 0.5, 1.5, dtype);
}

// Rows `rows` of a [d0, w] float tensor.
Tensor take_rows(const Tensor& t, const std::vector<int64_t>& rows) {
  const std::vector<double> v = as_doubles(t);
  const int64_t w = t.dim(1);
  std::vector<double> out;
  for (int64_t r : rows) out.insert(out.end(), v.begin() + r * w, v.begin() + (r + 1) * w);
  return float_tensor(t.dtype(), {static_cast<int64_t>(rows.size()), w}, out);
}

// One Apply* or SparseApply* node, built from its OpDef's argument list: each ref a variable
// named after its argument, holding initial.at(name); hyper-parameters from hyper().
struct UpdateGraph {
  Graph g;
  std::vector<std::string> ref_names;
  std::vector<Variable> refs;
  Output update;

  UpdateGraph(const std::string& type, const std::map<std::string, Tensor>& initial, const Tensor& grad,
              const Tensor* indices = nullptr) {
    register_ops();
    OpBuilder b(g, type, "update");
    for (const ArgDef& a : OpRegistry::global().get(type).inputs) {
      if (a.is_ref) {
        ref_names.push_back(a.name);
        refs.push_back(variable(constant(g, initial.at(a.name)), {.name = a.name}));
        b.input(refs.back().ref());
      } else if (a.name == "grad" || a.name == "delta") {
        b.input(constant(g, grad, "grad"));
      } else if (a.name == "indices") {
        b.input(constant(g, *indices, "indices"));
      } else if (a.fixed == i64) {
        b.input(constant(g, Tensor(int64_t{3}), "global_step"));
      } else {
        b.input(constant(g, float_tensor(grad.dtype(), {}, {hyper(a.name)}), a.name));
      }
    }
    update = b.build_output();
  }

  // Runs the update `times` times from the initial values; every ref's value after, by name.
  std::map<std::string, Tensor> run(int times = 1) {
    Session s(g);
    s.run(global_variables_initializer(g));
    Tensor out;
    for (int i = 0; i < times; ++i) out = s.run(update);
    std::map<std::string, Tensor> values;
    for (size_t i = 0; i < refs.size(); ++i) values[ref_names[i]] = s.variable_value(refs[i].op);
    EXPECT_TRUE(out.equals(values.at("var")));  // the op's output is the updated variable
    return values;
  }
};

std::map<std::string, Tensor> initial_refs(const std::string& type, const Shape& shape, DType dtype) {
  register_ops();
  std::map<std::string, Tensor> initial;
  uint64_t seed = 7;
  for (const ArgDef& a : OpRegistry::global().get(type).inputs)
    if (a.is_ref) initial[a.name] = initial_value(a.name, shape, dtype, seed++);
  return initial;
}

// ---- SparseApply*

TEST(SparseApply, SelectedRowsMatchTheDenseOpAndOtherRowsStayBitForBit) {
  for (const DType dtype : {f32, f64}) {
    for (const std::string& type : kSparseApplyTypes) {
      SCOPED_TRACE(str_cat(type, " ", dtype_name(dtype)));
      const std::string dense_type = type.substr(std::string("Sparse").size());
      const auto initial = initial_refs(type, {5, 3}, dtype);
      const Tensor grad = random_tensor({2, 3}, 11, -1, 1, dtype);
      // Both index dtypes: int32 with float32, int64 with float64.
      const std::vector<int64_t> rows = {3, 0};
      const Tensor indices = dtype == f32 ? Tensor::from_vector<int32_t>({3, 0}) : Tensor::from_vector<int64_t>({3, 0});
      UpdateGraph sparse(type, initial, grad, &indices);
      const auto got = sparse.run();
      ASSERT_EQ(got.size(), initial.size());
      const double tol = dtype == f32 ? 2e-6 : 1e-13;
      for (size_t k = 0; k < rows.size(); ++k) {
        std::map<std::string, Tensor> row_initial;
        for (const auto& [name, value] : initial) row_initial[name] = take_rows(value, {rows[k]});
        UpdateGraph dense(dense_type, row_initial, take_rows(grad, {static_cast<int64_t>(k)}));
        const auto want = dense.run();
        for (const auto& [name, value] : want) {
          const std::vector<double> w = as_doubles(value), g = as_doubles(take_rows(got.at(name), {rows[k]}));
          ASSERT_EQ(w.size(), g.size());
          for (size_t j = 0; j < w.size(); ++j)
            EXPECT_NEAR(g[j], w[j], tol * std::max(1.0, std::abs(w[j]))) << name << " row " << rows[k] << " col " << j;
          // The row did change (every rule moves var for a nonzero gradient).
          if (name == "var") EXPECT_NE(as_doubles(take_rows(initial.at(name), {rows[k]})), g);
        }
      }
      for (const auto& [name, value] : got)
        EXPECT_TRUE(take_rows(value, {1, 2, 4}).equals(take_rows(initial.at(name), {1, 2, 4}))) << name;
    }
  }
}

TEST(SparseApply, RepeatedIndexAppliesTwiceInIndexOrder) {
  for (const DType dtype : {f32, f64}) {
    for (const std::string& type : kSparseApplyTypes) {
      SCOPED_TRACE(str_cat(type, " ", dtype_name(dtype)));
      const auto initial = initial_refs(type, {4, 2}, dtype);
      const Tensor grad = random_tensor({3, 2}, 5, -1, 1, dtype);
      const Tensor twice = Tensor::from_vector<int32_t>({2, 0, 2});
      const auto got = UpdateGraph(type, initial, grad, &twice).run();
      // The same updates one row at a time: row 2 with grad row 0, row 0 with row 1, row 2 with row 2.
      std::map<std::string, Tensor> want = initial;
      const std::vector<std::pair<int32_t, int64_t>> steps = {{2, 0}, {0, 1}, {2, 2}};
      for (const auto& [row, grad_row] : steps) {
        const Tensor one = Tensor::from_vector<int32_t>({row});
        want = UpdateGraph(type, want, take_rows(grad, {grad_row}), &one).run();
      }
      for (const auto& [name, value] : want) EXPECT_TRUE(got.at(name).equals(value)) << name;
      // The second update of row 2 counted: without it, row 2 ends elsewhere.
      const Tensor once = Tensor::from_vector<int32_t>({2, 0});
      const auto first_two = UpdateGraph(type, initial, take_rows(grad, {0, 1}), &once).run();
      EXPECT_FALSE(take_rows(got.at("var"), {2}).equals(take_rows(first_two.at("var"), {2})));
    }
  }
}

// A reader holding the variable's value makes the update write a copy: the reader's tensor keeps
// the old values, and a repeated index still sees its first update.
TEST(SparseApply, AReaderKeepsTheOldValueAndRepeatsStillAccumulate) {
  Graph g;
  Variable var = variable(constant(g, Tensor::from_vector<double>({1, 2, 3, 4}, {2, 2})), {.name = "var"});
  Variable accum = variable(constant(g, Tensor::from_vector<double>({0, 0, 0, 0}, {2, 2})), {.name = "accum"});
  const Output grad = constant(g, Tensor::from_vector<double>({1, 1, 2, 2}, {2, 2}));
  const Output ids = constant(g, Tensor::from_vector<int64_t>({1, 1}));
  const Output up = sparse_apply_momentum(var, accum, constant(g, Tensor(0.5)), grad, ids, constant(g, Tensor(0.5)),
                                          false);
  EXPECT_EQ(up.op()->type(), "SparseApplyMomentum");
  Session s(g);
  s.run(global_variables_initializer(g));
  const Tensor before = s.variable_value(var.op);  // shares the slot's buffer
  s.run(up);
  EXPECT_EQ(before.to_vector<double>(), (std::vector<double>{1, 2, 3, 4}));
  // accum row 1: 0 -> 1 -> 0.5 + 2 = 2.5; var row 1: 3 - 0.5 * 1 - 0.5 * 2.5 = 1.25.
  EXPECT_EQ(s.variable_value(accum.op).to_vector<double>(), (std::vector<double>{0, 0, 2.5, 2.5}));
  EXPECT_EQ(s.variable_value(var.op).to_vector<double>(), (std::vector<double>{1, 2, 1.25, 2.25}));
}

TEST(SparseApply, ErrorsNameTheOpAndLeaveTheVariablesUnchanged) {
  const auto initial = initial_refs("SparseApplyFtrl", {3, 2}, f32);
  const Tensor grad = random_tensor({2, 2}, 3, -1, 1, f32);
  {  // an index out of range, after a valid one: nothing is written
    const Tensor bad = Tensor::from_vector<int32_t>({0, 3});
    UpdateGraph u("SparseApplyFtrl", initial, grad, &bad);
    Session s(u.g);
    s.run(global_variables_initializer(u.g));
    expect_error([&] { s.run(u.update); }, Code::kInvalidArgument,
                 {"SparseApplyFtrl", "indices[1] = 3 is not in [0, 3)"});
    for (size_t i = 0; i < u.refs.size(); ++i)
      EXPECT_TRUE(s.variable_value(u.refs[i].op).equals(initial.at(u.ref_names[i]))) << u.ref_names[i];
    const Tensor negative = Tensor::from_vector<int64_t>({-1, 0});
    UpdateGraph n("SparseApplyFtrl", initial, grad, &negative);
    Session sn(n.g);
    sn.run(global_variables_initializer(n.g));
    expect_error([&] { sn.run(n.update); }, Code::kInvalidArgument, {"SparseApplyFtrl", "indices[0] = -1"});
    EXPECT_TRUE(sn.variable_value(n.refs[0].op).equals(initial.at("var")));
  }
  {  // grad rows of the wrong width: when the graph is built...
    const Tensor ids = Tensor::from_vector<int32_t>({0, 1});
    expect_error([&] { UpdateGraph("SparseApplyFtrl", initial, random_tensor({2, 3}, 3, -1, 1, f32), &ids); },
                 Code::kInvalidArgument, {"SparseApplyFtrl", "grad has shape [2,3]"});
    // ... and when it runs, through a placeholder of unknown shape.
    Graph g;
    Variable var = variable(constant(g, initial.at("var")), {.name = "var"});
    Variable acc = variable(constant(g, initial.at("accum")), {.name = "accum"});
    const Output gp = placeholder(g, f32, Shape::unknown(), "g");
    const Output up = sparse_apply_adagrad(var, acc, constant(g, Tensor(0.1f)), gp, constant(g, ids));
    Session s(g);
    s.run(global_variables_initializer(g));
    expect_error([&] { s.run({{gp, random_tensor({2, 3}, 3, -1, 1, f32)}}, {}, {up.op()}); },
                 Code::kInvalidArgument, {"SparseApplyAdagrad", "grad must have shape", "[2,2]"});
    expect_error([&] { s.run({{gp, random_tensor({3, 2}, 3, -1, 1, f32)}}, {}, {up.op()}); },
                 Code::kInvalidArgument, {"SparseApplyAdagrad", "grad must have shape"});
    EXPECT_TRUE(s.variable_value(var.op).equals(initial.at("var")));
  }
  {  // float indices are not an index dtype
    const Tensor ids = Tensor::from_vector<float>({0, 1});
    const auto refs = initial_refs("SparseApplyMomentum", {3, 2}, f32);
    expect_error([&] { UpdateGraph("SparseApplyMomentum", refs, grad, &ids); },
                 Code::kInvalidArgument, {"SparseApplyMomentum", "Tindices"});
  }
  {  // an uninitialized slot
    const Tensor ids = Tensor::from_vector<int32_t>({0, 1});
    UpdateGraph u("SparseApplyRMSProp", initial_refs("SparseApplyRMSProp", {3, 2}, f32), grad, &ids);
    Session s(u.g);
    s.run(u.refs[0].initializer);
    expect_error([&] { s.run(u.update); }, Code::kFailedPrecondition,
                 {"SparseApplyRMSProp", "Attempting to use uninitialized value ms"});
  }
}

// ---- Scatter*

struct ScatterCase {
  const char* type;
  std::vector<double> updates, want;
};

// var [[1, 2], [3, 4], [5, 6]] at indices [2, 0, 2]: row 2 gets two updates, row 1 none.
TEST(Scatter, EveryOpAgainstHandValuesWithRepeatedIndices) {
  const ScatterCase cases[] = {
      {"ScatterUpdate", {1, 1, 2, 2, 3, 3}, {2, 2, 3, 4, 3, 3}},  // the last update of row 2 wins
      {"ScatterAdd", {1, 1, 2, 2, 3, 3}, {3, 4, 3, 4, 9, 10}},
      {"ScatterSub", {1, 1, 2, 2, 3, 3}, {-1, 0, 3, 4, 1, 2}},
      {"ScatterMul", {1, 1, 2, 2, 3, 3}, {2, 4, 3, 4, 15, 18}},
      {"ScatterDiv", {1, 2, 2, 2, 5, 2}, {0.5, 1, 3, 4, 1, 1.5}},
      {"ScatterMin", {1, 7, 2, 2, 3, 3}, {1, 2, 3, 4, 1, 3}},
      {"ScatterMax", {1, 7, 2, 2, 3, 3}, {2, 2, 3, 4, 5, 7}},
  };
  for (const DType dtype : {f32, f64}) {
    for (const DType index_dtype : {i32, i64}) {
      for (const ScatterCase& c : cases) {
        SCOPED_TRACE(str_cat(c.type, " ", dtype_name(dtype), " ", dtype_name(index_dtype)));
        Graph g;
        Variable var = variable(constant(g, float_tensor(dtype, {3, 2}, {1, 2, 3, 4, 5, 6})), {.name = "v"});
        const Tensor ids = index_dtype == i32 ? Tensor::from_vector<int32_t>({2, 0, 2})
                                              : Tensor::from_vector<int64_t>({2, 0, 2});
        const Output up = OpBuilder(g, c.type, "").input(var.ref()).input(constant(g, ids))
                              .input(constant(g, float_tensor(dtype, {3, 2}, c.updates))).build_output();
        EXPECT_EQ(up.shape(), Shape({3, 2}));
        Session s(g);
        s.run(global_variables_initializer(g));
        EXPECT_EQ(as_doubles(s.run(up)), c.want);
        EXPECT_EQ(as_doubles(s.variable_value(var.op)), c.want);
      }
    }
  }
}

TEST(Scatter, BuildersIntegersScalarUpdatesAndHigherRankIndices) {
  Graph g;
  Variable v = variable(constant(g, Tensor::from_vector<int32_t>({1, 2, 3, 4, 5, 6}, {3, 2})), {.name = "v"});
  const Output ids = constant(g, Tensor::from_vector<int64_t>({1, 1}));
  // A scalar update applies to every element of the named rows, each time the row is named.
  const Output add = scatter_add(v, ids, constant(g, Tensor(int32_t{10})));
  const Output div = scatter_div(v, constant(g, Tensor::from_vector<int32_t>({2})),
                                 constant(g, Tensor::from_vector<int32_t>({-2, 4}, {1, 2})));  // truncates
  const Output set = scatter_update(v, constant(g, Tensor::from_vector<int32_t>({0})), constant(g, Tensor(int32_t{7})));
  // indices [2, 1] with updates [2, 1, 2]: indices.shape + var.shape[1:].
  const Output sub = scatter_sub(v, constant(g, Tensor::from_vector<int32_t>({0, 2}, {2, 1})),
                                 constant(g, Tensor::from_vector<int32_t>({1, 1, 1, 1}, {2, 1, 2})));
  const Output mul = scatter_mul(v, ids, constant(g, Tensor::from_vector<int32_t>({2, 2, 3, 3}, {2, 2})));
  const Output mn = scatter_min(v, ids, constant(g, Tensor(int32_t{0})));
  const Output mx = scatter_max(v, ids, constant(g, Tensor(int32_t{5})));
  for (const auto& [op, type] : std::vector<std::pair<Output, std::string>>{
           {add, "ScatterAdd"}, {div, "ScatterDiv"}, {set, "ScatterUpdate"}, {sub, "ScatterSub"},
           {mul, "ScatterMul"}, {mn, "ScatterMin"}, {mx, "ScatterMax"}})
    EXPECT_EQ(op.op()->type(), type);
  Session s(g);
  s.run(global_variables_initializer(g));
  EXPECT_EQ(s.run(add).to_vector<int32_t>(), (std::vector<int32_t>{1, 2, 23, 24, 5, 6}));
  EXPECT_EQ(s.run(div).to_vector<int32_t>(), (std::vector<int32_t>{1, 2, 23, 24, -2, 1}));
  EXPECT_EQ(s.run(set).to_vector<int32_t>(), (std::vector<int32_t>{7, 7, 23, 24, -2, 1}));
  EXPECT_EQ(s.run(sub).to_vector<int32_t>(), (std::vector<int32_t>{6, 6, 23, 24, -3, 0}));
  EXPECT_EQ(s.run(mul).to_vector<int32_t>(), (std::vector<int32_t>{6, 6, 138, 144, -3, 0}));
  EXPECT_EQ(s.run(mx).to_vector<int32_t>(), (std::vector<int32_t>{6, 6, 138, 144, -3, 0}));
  EXPECT_EQ(s.run(mn).to_vector<int32_t>(), (std::vector<int32_t>{6, 6, 0, 0, -3, 0}));
  // Integer division by zero is an error, before anything is written.
  const Output by_zero = scatter_div(v, constant(g, Tensor::from_vector<int32_t>({0, 1})),
                                     constant(g, Tensor::from_vector<int32_t>({1, 1, 1, 0}, {2, 2})));
  expect_error([&] { s.run(by_zero); }, Code::kInvalidArgument, {"ScatterDiv", "division by zero"});
  EXPECT_EQ(s.variable_value(v.op).to_vector<int32_t>(), (std::vector<int32_t>{6, 6, 0, 0, -3, 0}));
}

TEST(Scatter, ErrorsNameTheOpAndLeaveTheVariableUnchanged) {
  Graph g;
  const Tensor start = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {3, 2});
  Variable v = variable(constant(g, start), {.name = "v"});
  const Output rows = constant(g, Tensor::from_vector<float>({1, 1, 1, 1}, {2, 2}));
  // Out of range after an index in range: checked before anything is written.
  const Output bad = scatter_add(v, constant(g, Tensor::from_vector<int32_t>({0, 3})), rows);
  const Output negative = scatter_update(v, constant(g, Tensor::from_vector<int64_t>({-1, 0})), rows);
  Session s(g);
  s.run(global_variables_initializer(g));
  expect_error([&] { s.run(bad); }, Code::kInvalidArgument, {"ScatterAdd", "indices[1] = 3 is not in [0, 3)"});
  expect_error([&] { s.run(negative); }, Code::kInvalidArgument, {"ScatterUpdate", "indices[0] = -1 is not in [0, 3)"});
  EXPECT_TRUE(s.variable_value(v.op).equals(start));
  // Updates of the wrong shape: at build time, and at run time through an unknown shape.
  expect_error([&] { scatter_sub(v, constant(g, Tensor::from_vector<int32_t>({0, 1})),
                                 constant(g, Tensor::from_vector<float>({1, 1, 1}, {1, 3}))); },
               Code::kInvalidArgument, {"ScatterSub", "updates must have shape indices.shape + var.shape[1:] = [2,2]"});
  const Output up = placeholder(g, f32, Shape::unknown(), "up");
  const Output sub = scatter_sub(v, constant(g, Tensor::from_vector<int32_t>({0, 1})), up);
  Session s2(g);
  s2.run(global_variables_initializer(g));
  expect_error([&] { s2.run({{up, Tensor::from_vector<float>({1, 1, 1, 1})}}, sub); }, Code::kInvalidArgument,
               {"ScatterSub", "updates must have shape indices.shape + var.shape[1:] = [2,2]", "got [4]"});
  EXPECT_TRUE(s2.variable_value(v.op).equals(start));
  // Index dtype.
  expect_error([&] { scatter_mul(v, constant(g, Tensor::from_vector<float>({0, 1})), rows); },
               Code::kInvalidArgument, {"ScatterMul", "Tindices"});
  // Uninitialized.
  const Output mx = scatter_max(v, constant(g, Tensor::from_vector<int32_t>({0})), constant(g, Tensor(1.0f)));
  Session fresh(g);
  expect_error([&] { fresh.run(mx); }, Code::kFailedPrecondition,
               {"ScatterMax", "Attempting to use uninitialized value v"});
}

// ---- Unique

TEST(Unique, ValuesInOrderOfFirstOccurrenceAndPositions) {
  Graph g;
  const auto [y, idx] = unique(constant(g, Tensor::from_vector<int32_t>({1, 1, 2, 4, 4, 4, 7, 8, 8})));
  EXPECT_EQ(y.op()->type(), "Unique");
  EXPECT_EQ(idx.dtype(), i32);
  EXPECT_EQ(idx.shape(), Shape({9}));
  const auto [fy, fidx] = unique(constant(g, Tensor::from_vector<double>({3, 1, 3, 2, 1})), i64);
  EXPECT_EQ(fidx.dtype(), i64);
  const Output back = gather(fy, fidx);
  const auto [ey, eidx] = unique(constant(g, Tensor::from_vector<int64_t>({})));
  Session s(g);
  const auto r = s.run({}, {y, idx});
  EXPECT_EQ(r[0].to_vector<int32_t>(), (std::vector<int32_t>{1, 2, 4, 7, 8}));
  EXPECT_EQ(r[1].to_vector<int32_t>(), (std::vector<int32_t>{0, 0, 1, 2, 2, 2, 3, 4, 4}));
  const auto f = s.run({}, {fy, fidx, back});
  EXPECT_EQ(f[0].to_vector<double>(), (std::vector<double>{3, 1, 2}));
  EXPECT_EQ(f[1].to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 0, 2, 1}));
  EXPECT_EQ(f[2].to_vector<double>(), (std::vector<double>{3, 1, 3, 2, 1}));  // x == gather(y, idx)
  const auto e = s.run({}, {ey, eidx});
  EXPECT_EQ(e[0].shape(), Shape({0}));
  EXPECT_EQ(e[1].shape(), Shape({0}));
  expect_error([&] { unique(constant(g, Tensor::from_vector<int32_t>({1, 2}, {1, 2}))); }, Code::kInvalidArgument,
               {"Unique", "1D"});
}

// ---- files

// One node of every new type, and the graph's stripped_op_list, are TF's by TF's own OpDefs.
TEST(SparseUpdates, EveryOpHasTensorFlowsSignature) {
  Graph g;
  const Output rows = constant(g, Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2}), "rows");
  const Output ids = constant(g, Tensor::from_vector<int32_t>({0, 2}), "ids");
  std::vector<std::string> types = kSparseApplyTypes;
  for (const char* t : {"ScatterUpdate", "ScatterAdd", "ScatterSub", "ScatterMul", "ScatterDiv", "ScatterMin",
                        "ScatterMax"})
    types.push_back(t);
  for (const std::string& t : types) {
    OpBuilder b(g, t, "");
    for (const ArgDef& a : OpRegistry::global().get(t).inputs) {
      if (a.is_ref) b.input(variable(constant(g, Tensor::from_vector<float>({0, 0, 0, 0, 0, 0}, {3, 2}))).ref());
      else if (a.name == "indices") b.input(ids);
      else if (a.name == "grad" || a.name == "updates") b.input(rows);
      else if (a.fixed == i64) b.input(constant(g, Tensor(int64_t{1})));
      else b.input(constant(g, Tensor(0.5f)));
    }
    EXPECT_EQ(b.build()->output(0).shape(), Shape({3, 2})) << t;
  }
  unique(ids, i64);
  const tensorflow::MetaGraphDef meta = train::to_meta_graph_def(g);
  testing::expect_graph_is_tf(meta.graph_def());
  testing::expect_stripped_op_list_is_tf(meta);
  // What a TF 1.10 graph may hold: all but ScatterMin/ScatterMax and SparseApplyAdagrad's update_slots.
  for (const std::string& v : testing::tf_graph_violations(meta.graph_def(), testing::TfOpDefs::tf1_10()))
    EXPECT_TRUE(v.find("ScatterM") != std::string::npos || v.find("update_slots") != std::string::npos) << v;
}

// A graph of SparseApplyMomentum and ScatterSub exports as TF's meta-graph (TF's ops and attrs
// only), imports back and runs to the same values.
TEST(SparseUpdates, MetaGraphRoundTripRunsIdentically) {
  Graph g;
  Variable emb = variable(constant(g, random_tensor({5, 3}, 1, -1, 1, f32)), {.name = "emb"});
  Variable acc = variable(constant(g, random_tensor({5, 3}, 2, 0, 1, f32)), {.name = "acc"});
  Variable counts = variable(constant(g, Tensor::from_vector<float>({10, 10, 10, 10})), {.name = "counts"});
  const Output ids = constant(g, Tensor::from_vector<int64_t>({4, 1, 4}), "ids");
  const Output up = sparse_apply_momentum(emb, acc, constant(g, Tensor(0.1f), "lr"),
                                          constant(g, random_tensor({3, 3}, 3, -1, 1, f32), "grad"), ids,
                                          constant(g, Tensor(0.9f), "momentum"), true, "train");
  const Output sub = scatter_sub(counts, constant(g, Tensor::from_vector<int32_t>({3, 0, 3})),
                                 constant(g, Tensor(1.0f)), "count");
  const tensorflow::MetaGraphDef meta = train::to_meta_graph_def(g);
  testing::expect_graph_is_tf(meta.graph_def());
  testing::expect_stripped_op_list_is_tf(meta);
  // TF's attrs, no others (internal "_" attrs aside).
  const auto attr_names = [](const tensorflow::NodeDef& n) {
    std::set<std::string> names;
    for (const auto& [name, value] : n.attr())
      if (name[0] != '_') names.insert(name);
    return names;
  };
  int checked = 0;
  for (const auto& n : meta.graph_def().node()) {
    if (n.name() == "train") {
      EXPECT_EQ(n.op(), "SparseApplyMomentum");
      EXPECT_TRUE(n.attr().at("use_nesterov").b());
      EXPECT_EQ(attr_names(n), (std::set<std::string>{"T", "Tindices", "use_locking", "use_nesterov"}));
      ++checked;
    }
    if (n.name() == "count") {
      EXPECT_EQ(n.op(), "ScatterSub");
      EXPECT_EQ(attr_names(n), (std::set<std::string>{"T", "Tindices", "use_locking"}));
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2);
  Graph g2;
  train::import_meta_graph(g2, meta);
  std::vector<Tensor> results[2];
  int k = 0;
  for (Graph* graph : {&g, &g2}) {
    Session s(*graph);
    s.run(global_variables_initializer(*graph));
    for (int step = 0; step < 2; ++step)
      s.run({graph->get_operation_by_name("train"), graph->get_operation_by_name("count")});
    for (const char* v : {"emb", "acc", "counts"})
      results[k].push_back(s.variable_value(graph->get_operation_by_name(v)));
    ++k;
  }
  for (size_t i = 0; i < results[0].size(); ++i) EXPECT_TRUE(results[0][i].equals(results[1][i])) << i;
  EXPECT_EQ(results[0][2].to_vector<float>(), (std::vector<float>{8, 10, 10, 6}));
}

// One TF1-style embedding training step as TF 1.x writes it for an IndexedSlices gradient:
// GatherV2 of the embedding, the gradient of the loss at the gathered rows (values) with the ids
// (indices), deduplicated by Unique + UnsortedSegmentSum, then SparseApplyAdagrad. The loss goes
// down, and each step equals the dense ApplyAdagrad step on the densified gradient.
TEST(SparseUpdates, EmbeddingTrainingStepAsTensorFlowWritesIt) {
  Graph g;
  const Tensor table = random_tensor({6, 3}, 4, -1, 1, f32);
  Variable emb = variable(constant(g, table), {.name = "embedding"});
  const Tensor acc0 = Tensor::from_vector<float>(std::vector<float>(18, 0.1f), {6, 3});
  Variable acc = variable(constant(g, acc0), {.name = "acc"});
  const Output ids = placeholder(g, i32, {5}, "ids");
  const Output rows = gather(emb.value(), ids);
  const Output target = constant(g, random_tensor({5, 3}, 9, -1, 1, f32), "target");
  const Output loss = reduce_sum(square(rows - target));
  const Output values = gradients({loss}, {rows})[0];
  const auto [unique_ids, positions] = unique(ids);
  const Output summed = unsorted_segment_sum(values, positions, strided_slice(shape(unique_ids), {0}));
  const Output lr = constant(g, Tensor(0.3f), "lr");
  const Output step = sparse_apply_adagrad(emb, acc, lr, summed, unique_ids);
  // The dense route on copies of the variables, for comparison.
  Variable emb2 = variable(constant(g, table), {.name = "embedding2"});
  Variable acc2 = variable(constant(g, acc0), {.name = "acc2"});
  const Output rows2 = gather(emb2.value(), ids);
  const Output dense_grad = gradients({reduce_sum(square(rows2 - target))}, {emb2.value()})[0];
  const Output dense_step = apply_adagrad(emb2, acc2, lr, dense_grad);

  Session s(g);
  s.run(global_variables_initializer(g));
  const Tensor id_values = Tensor::from_vector<int32_t>({1, 4, 1, 0, 4});
  std::vector<float> losses;
  for (int i = 0; i < 5; ++i) {
    losses.push_back(s.run({{ids, id_values}}, loss).scalar<float>());
    s.run({{ids, id_values}}, {}, {step.op(), dense_step.op()});
    const auto sparse_v = as_doubles(s.variable_value(emb.op)), dense_v = as_doubles(s.variable_value(emb2.op));
    for (size_t j = 0; j < sparse_v.size(); ++j) EXPECT_NEAR(sparse_v[j], dense_v[j], 1e-6) << "step " << i << " " << j;
  }
  for (size_t i = 1; i < losses.size(); ++i) EXPECT_LT(losses[i], losses[i - 1]) << i;
  // Rows no id names (2, 3, 5) never moved.
  EXPECT_TRUE(take_rows(s.variable_value(emb.op), {2, 3, 5}).equals(take_rows(table, {2, 3, 5})));
}

}  // namespace
}  // namespace fg
