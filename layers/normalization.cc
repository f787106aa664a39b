#include "layers/normalization.h"

#include "ops/array.h"
#include "ops/control_flow_ops.h"
#include "ops/initializers.h"
#include "ops/math.h"
#include "ops/nn.h"
#include "ops/shape_ops.h"
#include "ops/state.h"

namespace fg::layers {

namespace {

// TF1's _assign_moving_average: variable -= (variable - value) * (1 - momentum), in a scope
// "AssignMovingAvg" whose AssignSub takes the scope's own name.
Operation* assign_moving_average(Graph& g, const Variable& variable, const Output& value, const Output& momentum) {
  const std::string full = g.unique_name("AssignMovingAvg", false);
  auto scope = g.name_scope(full + "/");
  const Output decay = subtract(scalar_constant(g, 1.0, variable.dtype(), "sub/x"), momentum, "sub");
  const Output delta = multiply(subtract(variable.value(), value), decay);
  return assign_sub(variable, delta, full + "/").op();
}

}  // namespace

Output batch_normalization(const Output& inputs, const BatchNormOptions& o) {
  Graph& g = *inputs.graph();
  const Shape& in = inputs.shape();
  FG_CHECK(in.known_rank() && (in.rank() == 2 || in.rank() == 4) && in.dim(in.rank() - 1) >= 0, InvalidArgument,
           "batch_normalization '", o.name, "': inputs need rank 2 or 4 and a known last dimension, got ", in,
           " from '", inputs.name(), "'");
  FG_CHECK(o.momentum >= 0 && o.momentum <= 1, InvalidArgument, "batch_normalization: momentum must be in [0, 1], got ",
           o.momentum);
  const int64_t channels = in.dim(in.rank() - 1);
  const DType dtype = inputs.dtype();
  FG_CHECK(dtype == f32, InvalidArgument, "batch_normalization '", o.name,
           "': TF's FusedBatchNorm takes float32 only, got ", dtype_name(dtype), " from '", inputs.name(), "'");
  if (const Output* t = std::get_if<Output>(&o.training))
    FG_CHECK(*t && t->dtype() == boolean, InvalidArgument, "batch_normalization: training must be a bool tensor, got ",
             *t ? dtype_name(t->dtype()) : std::string("none"), *t ? " from '" + t->name() + "'" : "");
  const std::optional<bool> reuse = o.reuse ? std::optional(true) : std::nullopt;
  auto scope = o.name.empty() ? g.variable_scope("", {.reuse = reuse, .default_name = "batch_normalization"})
                              : g.variable_scope(o.name, {.reuse = reuse});
  const Shape param_shape{channels};
  Output gamma = o.scale ? Output(get_variable(g, "gamma", {.shape = param_shape, .dtype = dtype,
                                                            .initializer = ones_initializer(),
                                                            .trainable = o.trainable}))
                         : Output();
  Output beta = o.center ? Output(get_variable(g, "beta", {.shape = param_shape, .dtype = dtype,
                                                           .initializer = zeros_initializer(),
                                                           .trainable = o.trainable}))
                         : Output();
  Variable moving_mean = get_variable(g, "moving_mean", {.shape = param_shape, .dtype = dtype,
                                                         .initializer = zeros_initializer(), .trainable = false});
  Variable moving_variance = get_variable(g, "moving_variance", {.shape = param_shape, .dtype = dtype,
                                                                 .initializer = ones_initializer(), .trainable = false});
  if (!gamma) gamma = constant(g, [&] { Tensor t(dtype, param_shape); dispatch_float(dtype, "batch_normalization",
      [&]<typename T>() { for (T& v : t.flat<T>()) v = T(1); }); return t; }(), "Const");
  if (!beta) beta = constant(g, Tensor(dtype, param_shape), "Const");

  // TF's fused batch norm, as tf.layers writes it: FusedBatchNorm takes NHWC, so a 2-D batch
  // goes through as [N, 1, 1, C] (tf.contrib.layers' way) and comes back as [N, C].
  const Output x = in.rank() == 2 ? reshape(inputs, {-1, 1, 1, channels}) : inputs;
  auto training_fn = [&]() -> std::vector<Output> {
    const auto r = nn::fused_batch_norm(x, gamma, beta, Output(), Output(), o.epsilon, true, "FusedBatchNorm");
    return {r.y, r.batch_mean, r.batch_variance};
  };
  auto inference_fn = [&]() -> std::vector<Output> {
    const auto r = nn::fused_batch_norm(x, gamma, beta, moving_mean.value(), moving_variance.value(), o.epsilon, false,
                                        "FusedBatchNorm");
    return {r.y, r.batch_mean, r.batch_variance};
  };
  const bool* fixed = std::get_if<bool>(&o.training);
  const std::vector<Output> r = fixed ? (*fixed ? training_fn() : inference_fn())
                                      : smart_cond(std::get<Output>(o.training), training_fn, inference_fn);
  Output y = r[0];
  if (!fixed || *fixed) {
    // The fused kernel's variance has Bessel's correction; the moving variance, as tf.layers keeps
    // it, does not: times (n - 1) / n, n = elements per channel.
    const Output n = divide(cast(size(x), dtype), cast(size(r[2]), dtype));
    const Output factor = divide(subtract(n, scalar_constant(g, 1.0, dtype)), n);
    const Output variance = multiply(r[2], factor);
    // Outside training the updates must change nothing: momentum 1 makes the decay 0.
    const Output momentum =
        fixed ? scalar_constant(g, o.momentum, dtype, "Const")
              : smart_cond(std::get<Output>(o.training), [&] { return scalar_constant(g, o.momentum, dtype, "Const"); },
                           [&] { return scalar_constant(g, 1.0, dtype, "Const"); });
    g.add_to_collection(GraphKeys::UPDATE_OPS, assign_moving_average(g, moving_mean, r[1], momentum));
    g.add_to_collection(GraphKeys::UPDATE_OPS, assign_moving_average(g, moving_variance, variance, momentum));
  }
  if (in.rank() == 2) y = reshape(y, {-1, channels});
  return y;
}

}  // namespace fg::layers
