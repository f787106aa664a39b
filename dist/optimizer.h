// Horovod's DistributedOptimizer: wraps any optimizer so that the gradients it applies are the
// average over all ranks of each rank's gradients.
//
//   dist::DistributedOptimizer opt(train::AdamOptimizer(0.001));   // owns a copy
//   Operation* training_op = opt.minimize(loss);
//   // or, keeping the wrapped optimizer (it must outlive `dist_opt`):
//   train::MomentumOptimizer momentum(0.01, 0.9);
//   dist::DistributedOptimizer dist_opt(momentum);
//   auto gvs = dist_opt.compute_gradients(loss);                   // averaged over the ranks
//   Operation* step = dist_opt.apply_gradients(gvs);               // momentum's own update ops
//
// compute_gradients adds one MPIAllreduce per gradient (divided by MPISize), the graph
// tf.contrib.mpi_collectives writes; the Session runs them as one fused allreduce per step.
// apply_gradients is the wrapped optimizer's, names included, so its slots and checkpoints are
// those of a single-process run. A variable the loss does not reach has no gradient on any rank
// (all ranks build the same graph) and is skipped on all of them alike; all gradients are dense.
#pragma once
#include <concepts>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "train/optimizer.h"

namespace fg::dist {

class DistributedOptimizer {
 public:
  // Wraps `optimizer`, which must outlive this wrapper.
  explicit DistributedOptimizer(train::Optimizer& optimizer) : optimizer_(&optimizer) {}
  // Wraps a copy of a temporary optimizer: DistributedOptimizer(train::GradientDescentOptimizer(0.01)).
  template <typename O>
    requires std::derived_from<O, train::Optimizer> && (!std::is_lvalue_reference_v<O>)
  explicit DistributedOptimizer(O&& optimizer)
      : owned_(std::make_unique<O>(std::move(optimizer))), optimizer_(owned_.get()) {}

  // The wrapped optimizer's gradients, each replaced by its average over all ranks.
  std::vector<train::GradAndVar> compute_gradients(const Output& loss, std::vector<Variable> var_list = {});
  Operation* apply_gradients(const std::vector<train::GradAndVar>& grads_and_vars,
                             const std::optional<Variable>& global_step = std::nullopt, const std::string& name = "") {
    return optimizer_->apply_gradients(grads_and_vars, global_step, name);
  }
  Operation* minimize(const Output& loss, const train::MinimizeOptions& options = {});

  train::Optimizer& optimizer() const { return *optimizer_; }

 private:
  std::unique_ptr<train::Optimizer> owned_;
  train::Optimizer* optimizer_;
};

}  // namespace fg::dist
