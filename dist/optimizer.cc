#include "dist/optimizer.h"

#include <map>

#include "dist/dist.h"
#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/math.h"

namespace fg::dist {

std::vector<train::GradAndVar> DistributedOptimizer::compute_gradients(const Output& loss,
                                                                       std::vector<Variable> var_list) {
  std::vector<train::GradAndVar> gvs = optimizer_->compute_gradients(loss, std::move(var_list));
  Graph& g = *loss.graph();
  auto scope = g.name_scope("Distributed" + optimizer_->name() + "_Allreduce");
  std::map<DType, Output> ranks;  // MPISize as each gradient dtype, made once
  for (train::GradAndVar& gv : gvs) {
    // No gradient on this rank means none on any rank (they all build this graph): skip it alike.
    if (!gv.grad) continue;
    Output& n = ranks[gv.grad.dtype()];
    if (!n) n = cast(mpi_size(g), gv.grad.dtype());
    gv.grad = divide(OpBuilder(gv.grad, "MPIAllreduce", "MPIAllreduce").input(gv.grad).build_output(), n);
  }
  return gvs;
}

Operation* DistributedOptimizer::minimize(const Output& loss, const train::MinimizeOptions& options) {
  return apply_gradients(compute_gradients(loss, options.var_list), options.global_step, options.name);
}

}  // namespace fg::dist
