#include "train/optimizer.h"

#include "graph/gradients.h"
#include "graph/op_registry.h"
#include <algorithm>

#include "ops/array.h"
#include "ops/initializers.h"
#include "ops/math.h"
#include "ops/state.h"
#include "ops/training.h"

namespace fg::train {

std::vector<GradAndVar> Optimizer::compute_gradients(const Output& loss, std::vector<Variable> var_list) {
  Graph& g = *loss.graph();
  if (var_list.empty()) var_list = trainable_variables(g);
  FG_CHECK(!var_list.empty(), InvalidArgument, name_, ".compute_gradients: no variables to optimize");
  FG_CHECK(is_floating(loss.dtype()), InvalidArgument, name_, ".compute_gradients: the loss '", loss.name(),
           "' has dtype ", dtype_name(loss.dtype()), "; expected a float type");
  std::vector<Output> refs;
  for (const Variable& v : var_list) refs.push_back(v.ref());
  std::vector<Output> grads = gradients({loss}, refs);
  std::vector<GradAndVar> result;
  for (size_t i = 0; i < var_list.size(); ++i) result.push_back({grads[i], var_list[i]});
  return result;
}

Output Optimizer::hyper_tensor(Graph& g, const LearningRate& value, DType dtype, const std::string& name) {
  if (const Output* t = std::get_if<Output>(&value)) {
    FG_CHECK(t->graph() == &g, InvalidArgument, name_, ": hyper-parameter '", name, "' is a tensor of another graph");
    FG_CHECK(!t->shape().known_rank() || t->shape().rank() == 0, InvalidArgument, name_, ": hyper-parameter '", name,
             "' must be a scalar, got shape ", t->shape());
    return t->dtype() == dtype ? *t : cast(*t, dtype);
  }
  return scalar_constant(g, std::get<double>(value), dtype, name);
}

Variable Optimizer::make_slot(const Variable& var, const Initializer& init, const std::string& slot_name) {
  Graph& g = *var.op->graph();
  std::vector<std::pair<Operation*, Variable>>* slot_map = nullptr;
  for (auto& [n, m] : slots_) if (n == slot_name) slot_map = &m;
  if (!slot_map) {
    slots_.push_back({slot_name, {}});
    slot_map = &slots_.back().second;
  }
  for (auto& [op, v] : *slot_map) if (op == var.op) return v;
  // TF's slot creator uniquifies "<var>/<optimizer>" among existing names: Adam, Adam_1, ...
  std::string full = var.name() + "/" + name_;
  for (int i = 1; g.find_operation(full) || g.find_variable(full); ++i) full = str_cat(var.name(), "/", name_, "_", i);
  Variable slot = create_variable(g, full, var.shape(), var.dtype(), init, /*trainable=*/false);
  slot_map->push_back({var.op, slot});
  return slot;
}

Variable Optimizer::zeros_slot(const Variable& var, const std::string& slot_name) {
  return make_slot(var, zeros_initializer(), slot_name);
}

Variable Optimizer::make_non_slot(Graph& g, double initial_value, DType dtype, const std::string& name) {
  for (auto& [n, v] : non_slots_)
    if (n == name && v.op->graph() == &g) return v;
  auto no_deps = g.control_dependencies({});
  Variable v = variable(scalar_constant(g, initial_value, dtype), {.name = name, .trainable = false});
  non_slots_.push_back({name, v});
  return v;
}

std::optional<Variable> Optimizer::non_slot(const std::string& name) const {
  for (auto& [n, v] : non_slots_) if (n == name) return v;
  return std::nullopt;
}

std::optional<Variable> Optimizer::get_slot(const Variable& var, const std::string& slot_name) const {
  for (auto& [n, m] : slots_)
    if (n == slot_name)
      for (auto& [op, v] : m) if (op == var.op) return v;
  return std::nullopt;
}

std::vector<std::string> Optimizer::get_slot_names() const {
  std::vector<std::string> r;
  for (auto& [n, m] : slots_) r.push_back(n);
  std::sort(r.begin(), r.end());
  return r;
}

std::vector<Variable> Optimizer::variables() const {
  std::vector<Variable> r;
  for (auto& [n, v] : non_slots_) r.push_back(v);
  for (auto& [n, m] : slots_) for (auto& [op, v] : m) r.push_back(v);
  return r;
}

Operation* Optimizer::finish(Graph& g, const std::vector<Operation*>& updates, const std::string& name) {
  return group(g, updates, name);
}

Operation* Optimizer::apply_gradients(const std::vector<GradAndVar>& grads_and_vars,
                                      const std::optional<Variable>& global_step, const std::string& name) {
  std::vector<GradAndVar> with_grads;
  for (const auto& gv : grads_and_vars) if (gv.grad) with_grads.push_back(gv);
  if (with_grads.empty()) {
    std::string vars;
    for (const auto& gv : grads_and_vars) vars += (vars.empty() ? "" : ", ") + gv.var.name();
    throw InvalidArgument(str_cat("No gradients provided for any variable, check your graph for ops that do not "
                                  "support gradients, between variables [", vars, "] and the loss"));
  }
  Graph& g = *with_grads.front().var.op->graph();
  std::vector<Variable> vars;
  for (const auto& gv : with_grads) {
    FG_CHECK(gv.grad.dtype() == gv.var.dtype(), InvalidArgument, name_, ": gradient '", gv.grad.name(), "' has dtype ",
             dtype_name(gv.grad.dtype()), " but variable '", gv.var.name(), "' has ", dtype_name(gv.var.dtype()));
    FG_CHECK(gv.grad.shape().compatible_with(gv.var.shape()), InvalidArgument, name_, ": gradient '", gv.grad.name(),
             "' has shape ", gv.grad.shape(), " but variable '", gv.var.name(), "' has shape ", gv.var.shape());
    vars.push_back(gv.var);
  }
  create_slots(vars);
  const std::string full = g.unique_name(name.empty() ? name_ : name, false);
  Operation* result;
  {
    auto scope = g.name_scope(full + "/");
    prepare(g, vars.front().dtype());
    std::vector<Operation*> updates;
    for (const auto& gv : with_grads) {
      auto update_scope = g.name_scope("update_" + gv.var.name());
      updates.push_back(apply_dense(gv.grad, gv.var).op());
    }
    if (global_step) {
      auto deps = g.control_dependencies({finish(g, updates, "update")});
      result = assign_add(*global_step, scalar_constant(g, 1, global_step->dtype(), "value"), full + "/").op();
    } else {
      result = finish(g, updates, full + "/");
    }
  }
  g.add_to_collection(GraphKeys::TRAIN_OP, result);
  return result;
}

Operation* Optimizer::minimize(const Output& loss, const MinimizeOptions& options) {
  return apply_gradients(compute_gradients(loss, options.var_list), options.global_step, options.name);
}

// ---- GradientDescent

void GradientDescentOptimizer::prepare(Graph& g, DType dtype) { lr_t_ = hyper_tensor(g, lr_, dtype, "learning_rate"); }

Output GradientDescentOptimizer::apply_dense(const Output& grad, const Variable& var) {
  return apply_gradient_descent(var, lr_t_, grad);
}

// ---- Momentum

void MomentumOptimizer::create_slots(const std::vector<Variable>& vars) {
  for (const Variable& v : vars) zeros_slot(v, "momentum");
}

void MomentumOptimizer::prepare(Graph& g, DType dtype) {
  lr_t_ = hyper_tensor(g, lr_, dtype, "learning_rate");
  momentum_t_ = hyper_tensor(g, momentum_, dtype, "momentum");
}

Output MomentumOptimizer::apply_dense(const Output& grad, const Variable& var) {
  return apply_momentum(var, *get_slot(var, "momentum"), lr_t_, grad, momentum_t_, nesterov_);
}

// ---- Adagrad

void AdagradOptimizer::create_slots(const std::vector<Variable>& vars) {
  for (const Variable& v : vars) make_slot(v, constant_initializer(initial_), "accumulator");
}

void AdagradOptimizer::prepare(Graph& g, DType dtype) { lr_t_ = hyper_tensor(g, lr_, dtype, "learning_rate"); }

Output AdagradOptimizer::apply_dense(const Output& grad, const Variable& var) {
  return apply_adagrad(var, *get_slot(var, "accumulator"), lr_t_, grad);
}

// ---- RMSProp

void RMSPropOptimizer::create_slots(const std::vector<Variable>& vars) {
  for (const Variable& v : vars) {
    // TF1 starts the mean square at one, not zero.
    make_slot(v, ones_initializer(), "rms");
    if (o_.centered) zeros_slot(v, "mg");
    zeros_slot(v, "momentum");
  }
}

void RMSPropOptimizer::prepare(Graph& g, DType dtype) {
  lr_t_ = hyper_tensor(g, lr_, dtype, "learning_rate");
  decay_t_ = hyper_tensor(g, o_.decay, dtype, "decay");
  momentum_t_ = hyper_tensor(g, o_.momentum, dtype, "momentum");
  epsilon_t_ = hyper_tensor(g, o_.epsilon, dtype, "epsilon");
}

Output RMSPropOptimizer::apply_dense(const Output& grad, const Variable& var) {
  if (o_.centered)
    return apply_centered_rms_prop(var, *get_slot(var, "mg"), *get_slot(var, "rms"), *get_slot(var, "momentum"),
                                   lr_t_, decay_t_, momentum_t_, epsilon_t_, grad);
  return apply_rms_prop(var, *get_slot(var, "rms"), *get_slot(var, "momentum"), lr_t_, decay_t_, momentum_t_,
                        epsilon_t_, grad);
}

// ---- Adam

void AdamOptimizer::create_slots(const std::vector<Variable>& vars) {
  Graph& g = *vars.front().op->graph();
  make_non_slot(g, o_.beta1, vars.front().dtype(), "beta1_power");
  make_non_slot(g, o_.beta2, vars.front().dtype(), "beta2_power");
  for (const Variable& v : vars) {
    zeros_slot(v, "m");
    zeros_slot(v, "v");
  }
}

void AdamOptimizer::prepare(Graph& g, DType dtype) {
  lr_t_ = hyper_tensor(g, lr_, dtype, "learning_rate");
  beta1_t_ = hyper_tensor(g, o_.beta1, dtype, "beta1");
  beta2_t_ = hyper_tensor(g, o_.beta2, dtype, "beta2");
  epsilon_t_ = hyper_tensor(g, o_.epsilon, dtype, "epsilon");
}

Output AdamOptimizer::apply_dense(const Output& grad, const Variable& var) {
  const Variable b1p = *non_slot("beta1_power"), b2p = *non_slot("beta2_power");
  return apply_adam(var, *get_slot(var, "m"), *get_slot(var, "v"), b1p.value(), b2p.value(), lr_t_, beta1_t_,
                    beta2_t_, epsilon_t_, grad);
}

Operation* AdamOptimizer::finish(Graph& g, const std::vector<Operation*>& updates, const std::string& name) {
  const Variable b1p = *non_slot("beta1_power"), b2p = *non_slot("beta2_power");
  std::vector<Operation*> all = updates;
  {
    // The powers advance only after every variable used the current ones.
    auto deps = g.control_dependencies(updates);
    all.push_back(assign(b1p, b1p.value() * beta1_t_).op());
    all.push_back(assign(b2p, b2p.value() * beta2_t_).op());
  }
  return group(g, all, name);
}

}  // namespace fg::train
