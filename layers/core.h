// TF1's tf.layers: dense, with variables named by variable scope ("hidden1/kernel") and ops by
// name scope ("dnn/hidden1/MatMul").
//
//   auto h1 = layers::dense(X, 300, {.activation = nn::relu, .name = "hidden1"});
//   auto h2 = layers::dense(h1, 100, {.activation = [](const Output& z) { return maximum(0.01f * z, z); },
//                                     .kernel_initializer = variance_scaling_initializer(),
//                                     .name = "hidden2"});
#pragma once
#include <functional>
#include <string>
#include <type_traits>

#include "graph/graph.h"
#include "ops/state.h"

namespace fg::layers {

// An activation: tf.nn functions (nn::relu, nn::elu, ...) or any callable Output(const Output&).
class Activation {
 public:
  Activation() = default;
  Activation(Output (*fn)(const Output&, const std::string&)) : fn_([fn](const Output& x) { return fn(x, ""); }) {}
  template <typename F>
    requires(std::is_invocable_r_v<Output, F, const Output&> &&
             !std::is_convertible_v<F, Output (*)(const Output&, const std::string&)>)
  Activation(F f) : fn_(std::move(f)) {}
  explicit operator bool() const { return static_cast<bool>(fn_); }
  Output operator()(const Output& x) const { return fn_(x); }

 private:
  std::function<Output(const Output&)> fn_;
};

// A regularizer maps a weight tensor to a scalar loss (see layers/regularizers.h).
using Regularizer = std::function<Output(const Output&)>;

struct DenseOptions {
  Activation activation;              // none: linear
  bool use_bias = true;
  Initializer kernel_initializer;     // default glorot_uniform
  Initializer bias_initializer;       // default zeros
  Regularizer kernel_regularizer;     // its loss goes to REGULARIZATION_LOSSES
  Regularizer bias_regularizer;
  bool trainable = true;
  std::string name;                   // default "dense", "dense_1", ...
  bool reuse = false;
};

Output dense(const Output& inputs, int64_t units, const DenseOptions& options = {});

// Adds regularizer(weights) to REGULARIZATION_LOSSES under "<variable>/Regularizer/".
void apply_regularizer(const Regularizer& regularizer, const Variable& v);

}  // namespace fg::layers
