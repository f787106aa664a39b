#include "ops/state.h"

#include <algorithm>

#include "core/eigen.h"
#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/initializers.h"
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
}

}  // namespace fg
