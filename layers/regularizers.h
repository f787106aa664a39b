// Weight regularizers (tf.contrib.layers.l1_regularizer, ...): functions from a weight tensor
// to a scalar loss, for layers::dense's kernel_regularizer.
//
//   auto reg = layers::l1_regularizer(0.001);
//   auto h = layers::dense(X, 300, {.kernel_regularizer = reg, .name = "hidden1"});
//   std::vector<Output> losses = {base_loss};
//   for (const Output& l : layers::get_regularization_losses(g)) losses.push_back(l);
//   auto loss = add_n(losses, "loss");
#pragma once
#include "layers/core.h"

namespace fg::layers {

Regularizer l1_regularizer(double scale);                     // scale * sum(|w|)
Regularizer l2_regularizer(double scale);                     // scale * sum(w^2) / 2
Regularizer l1_l2_regularizer(double scale_l1 = 1.0, double scale_l2 = 1.0);

// The REGULARIZATION_LOSSES collection as tensors (tf.losses.get_regularization_losses).
std::vector<Output> get_regularization_losses(const Graph& g, const std::string& scope = "");

}  // namespace fg::layers
