// tf.layers.batch_normalization with TF1's variables, defaults and update ops.
//
//   auto training = placeholder_with_default(g, Tensor(false), {}, "training");
//   auto bn1 = layers::batch_normalization(hidden1, {.training = training, .momentum = 0.9});
//   // creates batch_normalization/{gamma,beta,moving_mean,moving_variance}; in training mode the
//   // moving averages are updated by the ops in GraphKeys::UPDATE_OPS:
//   sess.run({{training, true}, ...}, {}, {training_op, g.get_collection(GraphKeys::UPDATE_OPS)});
#pragma once
#include <string>
#include <variant>

#include "graph/graph.h"

namespace fg::layers {

struct BatchNormOptions {
  // A C++ bool, or a bool scalar tensor decided at run time (usually a placeholder_with_default).
  std::variant<bool, Output> training = false;
  double momentum = 0.99;
  double epsilon = 1e-3;
  bool center = true;  // learn beta
  bool scale = true;   // learn gamma
  bool trainable = true;
  std::string name;    // default "batch_normalization", "batch_normalization_1", ...
  bool reuse = false;
};

// Normalizes the last axis of a float32 2-D or 4-D (NHWC) input with TF's graph for the fused layer:
// FusedBatchNorm (a 2-D input reshaped to [N, 1, 1, C] and back), and with a training tensor a cond
// choosing FusedBatchNorm with is_training true (the batch's statistics) or false (the moving
// ones). Training adds the updates `moving -= (moving - batch) * (1 - momentum)` (the batch's
// biased variance) to UPDATE_OPS, as AssignSub ops; with a training tensor momentum becomes
// cond(training, momentum, 1), so that run outside training they change nothing.
Output batch_normalization(const Output& inputs, const BatchNormOptions& options = {});

}  // namespace fg::layers
