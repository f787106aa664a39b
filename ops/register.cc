// The one place that knows every op family.
#include "ops/register.h"

#include "graph/op_registry.h"
#include "ops/internal/register.h"

namespace fg {

void register_ops() {
  OpRegistry::load_global([](OpRegistry& r) {
    register_array_ops(r);
    register_control_flow_ops(r);
    register_cwise_ops(r);
    register_broadcast_ops(r);
    register_reduction_ops(r);
    register_matmul_ops(r);
    register_activation_ops(r);
    register_softmax_ops(r);
    register_moments_ops(r);
    register_batch_norm_ops(r);
    register_numerics_ops(r);
    register_random_ops(r);
    register_state_ops(r);
    register_training_ops(r);
    register_shape_ops(r);
    register_indexing_ops(r);
    register_cumulative_ops(r);  // after the reductions: it gives Prod its gradient
    register_nn_loss_ops(r);
    register_io_ops(r);
  });
}

}  // namespace fg
