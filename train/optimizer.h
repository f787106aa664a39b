// TF1 optimizers: compute_gradients, apply_gradients, minimize — and the names TF gives them.
//
//   train::GradientDescentOptimizer opt(0.01);
//   Operation* training_op = opt.minimize(loss);                    // op named "GradientDescent"
//   auto gvs = opt.compute_gradients(loss);
//   for (auto& gv : gvs) gv.grad = clip_by_value(gv.grad, -1.0, 1.0);
//   Operation* clipped = opt.apply_gradients(gvs);
//   opt.minimize(loss, {.var_list = g.get_variables(GraphKeys::TRAINABLE_VARIABLES, "hidden[34]|outputs")});
#pragma once
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "graph/graph.h"
#include "ops/state.h"

namespace fg::train {

struct GradAndVar {
  Output grad;  // none when the loss does not depend on the variable
  Variable var;
};

struct MinimizeOptions {
  std::vector<Variable> var_list;           // default: TRAINABLE_VARIABLES
  std::optional<Variable> global_step;      // incremented once per step
  std::string name;                         // default: the optimizer's name
};

// A learning rate: a number or a scalar tensor (e.g. a decay schedule).
using LearningRate = std::variant<double, Output>;

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  std::vector<GradAndVar> compute_gradients(const Output& loss, std::vector<Variable> var_list = {});
  Operation* apply_gradients(const std::vector<GradAndVar>& grads_and_vars,
                             const std::optional<Variable>& global_step = std::nullopt, const std::string& name = "");
  Operation* minimize(const Output& loss, const MinimizeOptions& options = {});
  const std::string& name() const { return name_; }

  // Slot variables ("hidden1/kernel/Momentum"), by slot name ("momentum", "accumulator", "m", ...).
  std::optional<Variable> get_slot(const Variable& var, const std::string& slot_name) const;
  std::vector<std::string> get_slot_names() const;
  // Every variable the optimizer created: slots and non-slot variables (Adam's beta1_power).
  std::vector<Variable> variables() const;

 protected:
  explicit Optimizer(std::string name) : name_(std::move(name)) {}
  // Creates slots for the variables about to be updated (before the apply scope opens).
  virtual void create_slots(const std::vector<Variable>& vars) {}
  // Creates hyper-parameter tensors inside the apply scope, before any update.
  virtual void prepare(Graph& g, DType dtype) = 0;
  // One fused update op for one variable (inside the "update_<var>" scope).
  virtual Output apply_dense(const Output& grad, const Variable& var) = 0;
  // The op returned by apply_gradients: by default a NoOp grouping the updates, named `name`.
  virtual Operation* finish(Graph& g, const std::vector<Operation*>& updates, const std::string& name);

  // A slot named "<var>/<optimizer name>" (uniquified "_1", "_2" like TF's slot creator).
  Variable make_slot(const Variable& var, const Initializer& init, const std::string& slot_name);
  Variable zeros_slot(const Variable& var, const std::string& slot_name);
  // A non-trainable scalar variable shared by all updates (e.g. "beta1_power").
  Variable make_non_slot(Graph& g, double initial_value, DType dtype, const std::string& name);
  std::optional<Variable> non_slot(const std::string& name) const;
  // The learning rate as a tensor of `dtype`: the given tensor, or a Const named `name`.
  Output hyper_tensor(Graph& g, const LearningRate& value, DType dtype, const std::string& name);

 private:
  std::string name_;
  std::vector<std::pair<std::string, std::vector<std::pair<Operation*, Variable>>>> slots_;
  std::vector<std::pair<std::string, Variable>> non_slots_;
};

class GradientDescentOptimizer : public Optimizer {
 public:
  explicit GradientDescentOptimizer(LearningRate learning_rate, std::string name = "GradientDescent")
      : Optimizer(std::move(name)), lr_(std::move(learning_rate)) {}

 protected:
  void prepare(Graph& g, DType dtype) override;
  Output apply_dense(const Output& grad, const Variable& var) override;

 private:
  LearningRate lr_;
  Output lr_t_;
};

struct MomentumOptions {
  bool use_nesterov = false;
  std::string name = "Momentum";
};
class MomentumOptimizer : public Optimizer {
 public:
  MomentumOptimizer(LearningRate learning_rate, LearningRate momentum, MomentumOptions options = {})
      : Optimizer(options.name), lr_(std::move(learning_rate)), momentum_(std::move(momentum)),
        nesterov_(options.use_nesterov) {}

 protected:
  void create_slots(const std::vector<Variable>& vars) override;
  void prepare(Graph& g, DType dtype) override;
  Output apply_dense(const Output& grad, const Variable& var) override;

 private:
  LearningRate lr_, momentum_;
  bool nesterov_;
  Output lr_t_, momentum_t_;
};

struct AdagradOptions {
  double initial_accumulator_value = 0.1;
  std::string name = "Adagrad";
};
class AdagradOptimizer : public Optimizer {
 public:
  explicit AdagradOptimizer(LearningRate learning_rate, AdagradOptions options = {})
      : Optimizer(options.name), lr_(std::move(learning_rate)), initial_(options.initial_accumulator_value) {
    FG_CHECK(initial_ > 0, InvalidArgument, "AdagradOptimizer: initial_accumulator_value must be positive, got ",
             initial_);
  }

 protected:
  void create_slots(const std::vector<Variable>& vars) override;
  void prepare(Graph& g, DType dtype) override;
  Output apply_dense(const Output& grad, const Variable& var) override;

 private:
  LearningRate lr_;
  double initial_;
  Output lr_t_;
};

struct RMSPropOptions {
  double decay = 0.9;
  double momentum = 0.0;
  double epsilon = 1e-10;
  bool centered = false;
  std::string name = "RMSProp";
};
class RMSPropOptimizer : public Optimizer {
 public:
  explicit RMSPropOptimizer(LearningRate learning_rate, RMSPropOptions options = {})
      : Optimizer(options.name), lr_(std::move(learning_rate)), o_(std::move(options)) {}

 protected:
  void create_slots(const std::vector<Variable>& vars) override;
  void prepare(Graph& g, DType dtype) override;
  Output apply_dense(const Output& grad, const Variable& var) override;

 private:
  LearningRate lr_;
  RMSPropOptions o_;
  Output lr_t_, decay_t_, momentum_t_, epsilon_t_;
};

struct AdamOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  std::string name = "Adam";
};
class AdamOptimizer : public Optimizer {
 public:
  explicit AdamOptimizer(LearningRate learning_rate = 0.001, AdamOptions options = {})
      : Optimizer(options.name), lr_(std::move(learning_rate)), o_(std::move(options)) {}

 protected:
  void create_slots(const std::vector<Variable>& vars) override;
  void prepare(Graph& g, DType dtype) override;
  Output apply_dense(const Output& grad, const Variable& var) override;
  Operation* finish(Graph& g, const std::vector<Operation*>& updates, const std::string& name) override;

 private:
  LearningRate lr_;
  AdamOptions o_;
  Output lr_t_, beta1_t_, beta2_t_, epsilon_t_;
};

}  // namespace fg::train
