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

// Normalizes the last axis. Training mode uses the batch's mean and (biased) variance and adds
// moving_mean/moving_variance updates (`moving -= (moving - batch) * (1 - momentum)`) to
// UPDATE_OPS; otherwise the moving statistics are used and the updates change nothing.
Output batch_normalization(const Output& inputs, const BatchNormOptions& options = {});

}  // namespace fg::layers
