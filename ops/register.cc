// The one place that knows every op family: fills the process-wide registry on first use.
#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/math.h"
#include "ops/nn.h"
#include "ops/random.h"
#include "ops/state.h"
#include "ops/training.h"

namespace fg {

OpRegistry& OpRegistry::global() {
  static OpRegistry* registry = [] {
    auto* r = new OpRegistry();
    register_array_ops(*r);
    register_math_ops(*r);
    register_nn_ops(*r);
    register_random_ops(*r);
    register_state_ops(*r);
    register_training_ops(*r);
    r->finish_registration();
    return r;
  }();
  return *registry;
}

}  // namespace fg
