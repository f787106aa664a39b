#include "ops/state.h"

#include <algorithm>
#include <limits>
#include <type_traits>

#include "core/eigen.h"
#include "core/parallel.h"
#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/initializers.h"
#include "ops/internal/kernel_util.h"
#include "ops/internal/register.h"
#include "ops/math.h"

namespace fg {

namespace {

void add_to_variable_collections(Graph& g, const Variable& v, std::vector<std::string> collections) {
  if (collections.empty()) collections.push_back(GraphKeys::GLOBAL_VARIABLES);
  if (v.trainable && std::find(collections.begin(), collections.end(), GraphKeys::TRAINABLE_VARIABLES) == collections.end())
    collections.push_back(GraphKeys::TRAINABLE_VARIABLES);
  for (const auto& key : collections) g.add_to_collection(key, v);
}

// The ops of one variable, named like TF1: "<full>", "<full>/Assign", "<full>/read".
// `make_initial` runs inside "<full>/Initializer" when given; otherwise `initial` is used as is.
Variable build_variable(Graph& g, const std::string& full, const Shape& shape_hint, DType dtype,
                        const std::function<Output()>& make_initial, Output initial, bool trainable,
                        bool validate_shape) {
  auto scope = g.name_scope(full + "/");
  if (make_initial) {
    auto init_scope = g.name_scope("Initializer");
    initial = make_initial();
  }
  FG_CHECK(initial, InvalidArgument, "variable '", full, "': no initial value");
  dtype = initial.dtype();
  Shape shape = validate_shape ? initial.shape() : Shape::unknown();
  if (shape_hint.known_rank()) shape = shape.merge_with(shape_hint, "variable '" + full + "'");
  FG_CHECK(!validate_shape || shape.is_fully_defined(), InvalidArgument, "variable '", full,
           "': initial value must have a fully defined shape, got ", initial.shape());
  Variable v;
  v.op = OpBuilder(g, "VariableV2", full + "/").attr("shape", shape).attr("dtype", dtype).build();
  v.initializer = OpBuilder(g, "Assign", "Assign")
                      .input(v.ref()).input(initial).attr("validate_shape", validate_shape).build();
  v.snapshot = identity(v.ref(), "read");
  v.initial_value = initial;
  v.trainable = trainable;
  return v;
}

}  // namespace

Variable variable(const Output& initial_value, const VariableOptions& options) {
  Graph& g = *initial_value.graph();
  const std::string full = g.unique_name(options.name.empty() ? "Variable" : options.name, false);
  Variable v = build_variable(g, full, Shape::unknown(), initial_value.dtype(), nullptr, initial_value,
                              options.trainable, options.validate_shape);
  add_to_variable_collections(g, v, options.collections);
  return v;
}

Variable get_variable(Graph& g, const std::string& name, const GetVariableOptions& options) {
  const std::string scope = g.current_variable_scope();
  const std::string full = scope.empty() ? name : scope + "/" + name;
  if (const Variable* existing = g.find_variable(full)) {
    FG_CHECK(g.variable_scope_reuse(), InvalidArgument, "Variable ", full,
             " already exists, disallowed. Did you mean to set reuse=True or reuse=tf.AUTO_REUSE in VarScope?");
    if (options.shape)
      FG_CHECK(existing->shape().compatible_with(*options.shape), InvalidArgument, "Trying to share variable ", full,
               ", but specified shape ", *options.shape, " and found shape ", existing->shape(), ".");
    return *existing;
  }
  FG_CHECK(!g.variable_scope_reuse(), InvalidArgument, "Variable ", full,
           " does not exist, or was not created with tf.get_variable(). Did you mean to set reuse=tf.AUTO_REUSE "
           "in VarScope?");
  FG_CHECK(options.shape && options.shape->is_fully_defined(), InvalidArgument, "Shape of a new variable (", full,
           ") must be fully defined, but instead was ", options.shape ? options.shape->to_string() : "<unknown>", ".");
  return create_variable(g, full, *options.shape, options.dtype,
                         options.initializer ? options.initializer : glorot_uniform_initializer(), options.trainable,
                         options.collections);
}

Variable create_variable(Graph& g, const std::string& full_name, const Shape& shape, DType dtype,
                         const Initializer& initializer, bool trainable, const std::vector<std::string>& collections) {
  FG_CHECK(!g.find_variable(full_name), InvalidArgument, "Variable ", full_name, " already exists");
  // Variable names depend only on variable scopes: create the ops at the root name scope, and
  // outside any control-dependency scope (initializers must run on their own).
  auto root = g.name_scope("");
  auto no_deps = g.control_dependencies({});
  const std::string unique = g.unique_name(full_name, false);
  Variable v = build_variable(g, unique, shape, dtype, [&] { return initializer(g, shape, dtype); }, Output(),
                              trainable, true);
  g.register_variable(full_name, v);
  add_to_variable_collections(g, v, collections);
  return v;
}

Output assign(const Variable& ref, const Output& value, const std::string& name) {
  return OpBuilder(value, "Assign", name).input(ref.ref()).input(value).build_output();
}

Output assign_add(const Variable& ref, const Output& value, const std::string& name) {
  return OpBuilder(value, "AssignAdd", name).input(ref.ref()).input(value).build_output();
}

Output assign_sub(const Variable& ref, const Output& value, const std::string& name) {
  return OpBuilder(value, "AssignSub", name).input(ref.ref()).input(value).build_output();
}

namespace {
Output scatter_op(const char* type, const Variable& ref, const Output& indices, const Output& updates,
                  const std::string& name) {
  return OpBuilder(updates, type, name).input(ref.ref()).input(indices).input(updates).build_output();
}
}  // namespace

Output scatter_update(const Variable& ref, const Output& indices, const Output& updates, const std::string& name) {
  return scatter_op("ScatterUpdate", ref, indices, updates, name);
}
Output scatter_add(const Variable& ref, const Output& indices, const Output& updates, const std::string& name) {
  return scatter_op("ScatterAdd", ref, indices, updates, name);
}
Output scatter_sub(const Variable& ref, const Output& indices, const Output& updates, const std::string& name) {
  return scatter_op("ScatterSub", ref, indices, updates, name);
}
Output scatter_mul(const Variable& ref, const Output& indices, const Output& updates, const std::string& name) {
  return scatter_op("ScatterMul", ref, indices, updates, name);
}
Output scatter_div(const Variable& ref, const Output& indices, const Output& updates, const std::string& name) {
  return scatter_op("ScatterDiv", ref, indices, updates, name);
}
Output scatter_min(const Variable& ref, const Output& indices, const Output& updates, const std::string& name) {
  return scatter_op("ScatterMin", ref, indices, updates, name);
}
Output scatter_max(const Variable& ref, const Output& indices, const Output& updates, const std::string& name) {
  return scatter_op("ScatterMax", ref, indices, updates, name);
}

std::vector<Variable> global_variables(const Graph& g) { return g.get_variables(GraphKeys::GLOBAL_VARIABLES); }
std::vector<Variable> trainable_variables(const Graph& g) { return g.get_variables(GraphKeys::TRAINABLE_VARIABLES); }

Operation* variables_initializer(Graph& g, const std::vector<Variable>& vars, const std::string& name) {
  std::vector<Operation*> inits;
  for (const Variable& v : vars) inits.push_back(v.initializer);
  return group(g, inits, name);
}

Operation* global_variables_initializer(Graph& g) { return variables_initializer(g, global_variables(g), "init"); }

// ---- kernels

namespace {

void variable_shape(InferenceContext& c) { c.set_output(0, c.attr<Shape>("shape")); }

void variable_kernel(KernelContext& ctx) { ctx.set_output(0, read_variable(ctx.ref(0))); }

void assign_shape(InferenceContext& c) {
  const Shape& var = c.input_shape(0);
  const Shape& val = c.input_shape(1);
  if (c.attr<bool>("validate_shape") && !var.compatible_with(val))
    c.fail(str_cat("Shapes must be equal: the variable has shape ", var, ", the value has shape ", val));
  c.set_output(0, c.attr<bool>("validate_shape") ? var.merge_with(val, c.op().name()) : val);
}

void assign_kernel(KernelContext& ctx) {
  VariableSlot& slot = ctx.ref(0);
  const Tensor& value = ctx.input(1);
  std::lock_guard lock(slot.mu);
  if (ctx.attr<bool>("validate_shape") && slot.value.valid())
    FG_CHECK(slot.value.shape() == value.shape(), InvalidArgument, "Assign requires shapes of both tensors to match. ",
             "lhs shape= ", slot.value.shape(), " rhs shape= ", value.shape());
  // The value's buffer is shared, never written: updates copy unless the slot holds it alone.
  slot.value = value;
  ctx.set_output(0, value);
}

template <int kSign>
void assign_update_kernel(KernelContext& ctx) {
  VariableSlot& slot = ctx.ref(0);
  const Tensor& delta = ctx.input(1);
  std::lock_guard lock(slot.mu);
  FG_CHECK(slot.value.valid(), FailedPrecondition, "Attempting to use uninitialized value ", slot.name);
  FG_CHECK(slot.value.shape() == delta.shape(), InvalidArgument, "the variable ", slot.name, " has shape ",
           slot.value.shape(), " but the update has shape ", delta.shape());
  Tensor out = slot.value.unique() ? slot.value : Tensor::empty(delta.dtype(), delta.shape());
  dispatch_numeric(delta.dtype(), "AssignAdd/AssignSub", [&]<typename T>() {
    if constexpr (kSign > 0) as_array<T>(out) = as_array<T>(slot.value) + as_array<T>(delta);
    else as_array<T>(out) = as_array<T>(slot.value) - as_array<T>(delta);
  });
  slot.value = out;
  ctx.set_output(0, out);
}

// ---- Scatter*: rows of a variable updated in place, TF's state_ops.

enum class Scatter { kUpdate, kAdd, kSub, kMul, kDiv, kMin, kMax };
constexpr const char* kScatterTypes[] = {"ScatterUpdate", "ScatterAdd", "ScatterSub", "ScatterMul",
                                         "ScatterDiv",    "ScatterMin", "ScatterMax"};

template <Scatter kOp, typename T>
void scatter_element(T& a, T b) {
  if constexpr (kOp == Scatter::kUpdate) a = b;
  else if constexpr (kOp == Scatter::kAdd) a += b;
  else if constexpr (kOp == Scatter::kSub) a -= b;
  else if constexpr (kOp == Scatter::kMul) a *= b;
  else if constexpr (kOp == Scatter::kDiv && std::is_integral_v<T> && std::is_signed_v<T>)
    a = a == std::numeric_limits<T>::min() && b == T(-1) ? a : a / b;  // wraps, as TF's kernel
  else if constexpr (kOp == Scatter::kDiv) a /= b;
  else if constexpr (kOp == Scatter::kMin) a = std::min(a, b);
  else a = std::max(a, b);
}

// TF's ScatterUpdateShape: updates are indices.shape + var.shape[1:], or a scalar for every row.
void scatter_shape(InferenceContext& c) {
  const Shape &var = c.input_shape(0), &indices = c.input_shape(1), &updates = c.input_shape(2);
  if (var.known_rank() && var.rank() == 0) c.fail("the variable must be at least 1-D, got a scalar");
  if (var.known_rank() && indices.known_rank() && !(updates.known_rank() && updates.rank() == 0)) {
    std::vector<int64_t> want = indices.dim_vector();
    for (int i = 1; i < var.rank(); ++i) want.push_back(var.dim(i));
    if (!Shape(want).compatible_with(updates))
      c.fail(str_cat("updates must have shape indices.shape + var.shape[1:] = ", Shape(want),
                     " or be a scalar, got ", updates));
  }
  c.set_output(0, var);
}

// Rows apply in index order (a repeated index applies each of its updates; ScatterUpdate's last
// wins). Every check comes before the first write, so a failed op leaves the variable as it was.
template <Scatter kOp>
void scatter_kernel(KernelContext& ctx) {
  constexpr const char* who = kScatterTypes[static_cast<int>(kOp)];
  VariableSlot& slot = ctx.ref(0);
  const Tensor &indices = ctx.input(1), &updates = ctx.input(2);
  std::lock_guard lock(slot.mu);
  FG_CHECK(slot.value.valid(), FailedPrecondition, "Attempting to use uninitialized value ", slot.name);
  const Tensor& var = slot.value;
  FG_CHECK(var.rank() >= 1, InvalidArgument, who, ": the variable must be at least 1-D, got shape ", var.shape());
  FG_CHECK(var.dtype() == updates.dtype(), InvalidArgument, who, ": the variable ", slot.name, " has dtype ",
           dtype_name(var.dtype()), " but updates have dtype ", dtype_name(updates.dtype()));
  const bool broadcast = updates.rank() == 0;
  if (!broadcast) check_row_updates(var.shape(), indices.shape(), updates.shape(), "updates", who);
  const std::vector<int64_t> rows = checked_indices(indices, var.dim(0), who);
  const int64_t n = static_cast<int64_t>(rows.size());
  const int64_t width = var.dim(0) == 0 ? 0 : var.num_elements() / var.dim(0);
  Tensor out = var.unique() ? var : var.clone();
  auto update = [&]<typename T>() {
    const T* u = updates.data<T>();
    if constexpr (kOp == Scatter::kDiv && std::is_integral_v<T>)
      for (int64_t k = 0; k < updates.num_elements(); ++k)
        FG_CHECK(u[k] != T(0), InvalidArgument, who, ": integer division by zero");
    T* o = out.data<T>();
    // Split by columns: each thread takes its columns of every row, rows in index order.
    parallel_for(width, n, [&](int64_t b, int64_t e) {
      for (int64_t i = 0; i < n; ++i) {
        T* row = o + rows[i] * width;
        for (int64_t k = b; k < e; ++k) scatter_element<kOp>(row[k], broadcast ? u[0] : u[i * width + k]);
      }
    });
  };
  if constexpr (kOp == Scatter::kUpdate) dispatch_all(var.dtype(), who, update);
  else dispatch_numeric(var.dtype(), who, update);
  slot.value = out;
  ctx.set_output(0, out);
}

}  // namespace

void register_state_ops(OpRegistry& r) {
  // "Variable" is the same op under its name before TF 1.0.
  for (const char* type : {"VariableV2", "Variable"})
    r.add(type).ref_output("ref", "dtype").attr("shape").attr("dtype").attr("container", std::string())
        .attr("shared_name", std::string()).shape(variable_shape).kernel_fn(variable_kernel).set_stateful()
        .variable().not_differentiable("a leaf: no inputs");
  r.add("Assign").ref_input("ref", "T").input("value", "T").ref_output("output_ref", "T")
      .attr("validate_shape", true).attr("use_locking", true).shape(assign_shape).kernel_fn(assign_kernel)
      .set_stateful().not_differentiable("stateful update")
      .reference_forwarding();
  r.add("AssignAdd").ref_input("ref", "T").input("value", "T").ref_output("output_ref", "T")
      .attr("use_locking", false).type_attr("T", kNumericTypes).shape(unchanged_shape)
      .kernel_fn(assign_update_kernel<1>).set_stateful().not_differentiable("stateful update")
      .reference_forwarding();
  r.add("AssignSub").ref_input("ref", "T").input("value", "T").ref_output("output_ref", "T")
      .attr("use_locking", false).type_attr("T", kNumericTypes).shape(unchanged_shape)
      .kernel_fn(assign_update_kernel<-1>).set_stateful().not_differentiable("stateful update")
      .reference_forwarding();
  const std::vector<DType> min_max_types = {DType::kFloat, DType::kDouble, DType::kInt32, DType::kInt64};
  const auto scatter = [&](Scatter op, Kernel k, const std::vector<DType>* types) {
    OpDef& d = r.add(kScatterTypes[static_cast<int>(op)]);
    d.ref_input("ref", "T").input("indices", "Tindices").input("updates", "T").ref_output("output_ref", "T")
        .type_attr("Tindices", kIndexTypes).attr("use_locking", op == Scatter::kUpdate).shape(scatter_shape)
        .kernel_fn(k).set_stateful().not_differentiable("stateful update").reference_forwarding();
    if (types) d.type_attr("T", *types);  // ScatterUpdate's T is any type, as Assign's
  };
  scatter(Scatter::kUpdate, scatter_kernel<Scatter::kUpdate>, nullptr);
  scatter(Scatter::kAdd, scatter_kernel<Scatter::kAdd>, &kNumericTypes);
  scatter(Scatter::kSub, scatter_kernel<Scatter::kSub>, &kNumericTypes);
  scatter(Scatter::kMul, scatter_kernel<Scatter::kMul>, &kNumericTypes);
  scatter(Scatter::kDiv, scatter_kernel<Scatter::kDiv>, &kNumericTypes);
  scatter(Scatter::kMin, scatter_kernel<Scatter::kMin>, &min_max_types);
  scatter(Scatter::kMax, scatter_kernel<Scatter::kMax>, &min_max_types);
}

}  // namespace fg
