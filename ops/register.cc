// The one place that knows every op family.
#include "ops/register.h"

#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/control_flow_ops.h"
#include "ops/cumulative.h"
#include "ops/indexing.h"
#include "ops/math.h"
#include "ops/nn.h"
#include "ops/nn_losses.h"
#include "ops/random.h"
#include "ops/shape_ops.h"
#include "ops/state.h"
#include "ops/training.h"

namespace fg {

void register_ops() {
  OpRegistry::load_global([](OpRegistry& r) {
    register_array_ops(r);
    register_control_flow_ops(r);
    register_math_ops(r);
    register_nn_ops(r);
    register_random_ops(r);
    register_state_ops(r);
    register_training_ops(r);
    register_shape_ops(r);
    register_indexing_ops(r);
    register_cumulative_ops(r);  // after the math family: it gives Prod its gradient
    register_nn_loss_ops(r);
  });
}

}  // namespace fg
