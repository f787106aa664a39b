// Inverted dropout: tf.nn.dropout and tf.layers.dropout.
//
//   auto training = placeholder_with_default(g, Tensor(false), {}, "training");
//   auto X_drop = layers::dropout(X, 0.5, {.training = training});   // identity unless training
//   auto h_drop = nn::dropout(h, 0.8);                                // always on, keep 80 %
#pragma once
#include <optional>
#include <string>
#include <variant>

#include "graph/graph.h"

namespace fg::nn {

// Keeps each element with probability keep_prob, scaled by 1 / keep_prob (TF1's formula:
// x / keep_prob * floor(keep_prob + uniform[0, 1))). keep_prob may be a scalar tensor.
Output dropout(const Output& x, const std::variant<double, Output>& keep_prob,
               std::optional<int64_t> seed = std::nullopt, const std::string& name = "dropout");

}  // namespace fg::nn

namespace fg::layers {

struct DropoutOptions {
  std::variant<bool, Output> training = false;  // a bool, or a bool scalar tensor read at run time
  std::optional<int64_t> seed;
  std::string name = "dropout";
};

// Drops with probability `rate` while training; the identity otherwise. With a training tensor,
// TF 1.x's graph: a cond ("dropout/cond/...") whose true branch drops and whose false branch is
// an Identity, so the inference pass is exact and draws no random numbers.
Output dropout(const Output& inputs, double rate, const DropoutOptions& options = {});

}  // namespace fg::layers
