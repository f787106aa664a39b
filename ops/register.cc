// The one place that knows every op family: fills the process-wide registry on first use.
#include "graph/op_registry.h"
#include "ops/internal/register.h"

namespace fg {

OpRegistry& OpRegistry::global() {
  static OpRegistry* registry = [] {
    auto* r = new OpRegistry();
    register_array_ops(*r);
    register_cwise_ops(*r);
    register_broadcast_ops(*r);
    register_reduction_ops(*r);
    register_matmul_ops(*r);
    register_activation_ops(*r);
    register_softmax_ops(*r);
    register_moments_ops(*r);
    register_batch_norm_ops(*r);
    register_random_ops(*r);
    register_state_ops(*r);
    register_training_ops(*r);
    return r;
  }();
  return *registry;
}

}  // namespace fg
