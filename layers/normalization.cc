#include "layers/normalization.h"

#include "ops/array.h"
#include "ops/initializers.h"
#include "ops/math.h"
#include "ops/nn.h"
#include "ops/state.h"

namespace fg::layers {

namespace {

// TF1's _assign_moving_average: variable -= (variable - value) * (1 - momentum).
Operation* assign_moving_average(Graph& g, const Variable& variable, const Output& value, double momentum) {
  const std::string full = g.unique_name("AssignMovingAvg", false);
  auto scope = g.name_scope(full + "/");
  Output decay = scalar_constant(g, 1.0 - momentum, variable.dtype(), "decay");
  Output delta = multiply(subtract(variable.value(), value), decay);
  return assign_sub(variable, delta, full + "/").op();
}

}  // namespace

Output batch_normalization(const Output& inputs, const BatchNormOptions& o) {
  Graph& g = *inputs.graph();
  const Shape& in = inputs.shape();
  FG_CHECK(in.known_rank() && in.rank() >= 2 && in.dim(in.rank() - 1) >= 0, InvalidArgument,
           "batch_normalization '", o.name, "': inputs need a known rank >= 2 and a known last dimension, got ", in,
           " from '", inputs.name(), "'");
  FG_CHECK(o.momentum >= 0 && o.momentum <= 1, InvalidArgument, "batch_normalization: momentum must be in [0, 1], got ",
           o.momentum);
  const int64_t channels = in.dim(in.rank() - 1);
  const DType dtype = inputs.dtype();
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

  // A fixed mode needs no run-time flag; a tensor decides per run.
  const bool static_mode = std::holds_alternative<bool>(o.training);
  Output training = static_mode ? constant(g, Tensor(std::get<bool>(o.training)), "training")
                                : std::get<Output>(o.training);
  FG_CHECK(training.dtype() == boolean, InvalidArgument, "batch_normalization: training must be a bool tensor, got ",
           dtype_name(training.dtype()), " from '", training.name(), "'");
  const nn::FusedBatchNormResult r =
      nn::fused_batch_norm_dynamic(inputs, gamma, beta, moving_mean.value(), moving_variance.value(), training,
                                   o.epsilon, "FusedBatchNorm");
  if (!static_mode || std::get<bool>(o.training)) {
    g.add_to_collection(GraphKeys::UPDATE_OPS, assign_moving_average(g, moving_mean, r.batch_mean, o.momentum));
    g.add_to_collection(GraphKeys::UPDATE_OPS,
                        assign_moving_average(g, moving_variance, r.batch_variance, o.momentum));
  }
  return r.y;
}

}  // namespace fg::layers
