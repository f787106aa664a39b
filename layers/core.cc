#include "layers/core.h"

#include "ops/initializers.h"
#include "ops/math.h"
#include "ops/nn.h"

namespace fg::layers {

void apply_regularizer(const Regularizer& regularizer, const Variable& v) {
  if (!regularizer) return;
  Graph& g = *v.op->graph();
  auto scope = g.name_scope(v.name() + "/Regularizer/");
  Output loss = regularizer(v.value());
  if (loss) g.add_to_collection(GraphKeys::REGULARIZATION_LOSSES, loss);
}

Output dense(const Output& inputs, int64_t units, const DenseOptions& o) {
  Graph& g = *inputs.graph();
  FG_CHECK(units > 0, InvalidArgument, "dense: units must be positive, got ", units);
  const Shape& in = inputs.shape();
  FG_CHECK(in.known_rank() && in.rank() == 2 && in.dim(1) >= 0, InvalidArgument, "dense '", o.name,
           "': inputs must have shape [batch, features] with known features, got ", in, " from '", inputs.name(), "'");
  auto scope = o.name.empty() ? g.variable_scope("", {.reuse = o.reuse ? std::optional(true) : std::nullopt,
                                                      .default_name = "dense"})
                              : g.variable_scope(o.name, {.reuse = o.reuse ? std::optional(true) : std::nullopt});
  Variable kernel = get_variable(g, "kernel", {.shape = Shape{in.dim(1), units}, .dtype = inputs.dtype(),
                                               .initializer = o.kernel_initializer, .trainable = o.trainable});
  apply_regularizer(o.kernel_regularizer, kernel);
  Variable bias;
  if (o.use_bias) {
    bias = get_variable(g, "bias", {.shape = Shape{units}, .dtype = inputs.dtype(),
                                    .initializer = o.bias_initializer ? o.bias_initializer : zeros_initializer(),
                                    .trainable = o.trainable});
    apply_regularizer(o.bias_regularizer, bias);
  }
  Output out = matmul(inputs, kernel);
  if (o.use_bias) out = nn::bias_add(out, bias);
  if (o.activation) out = o.activation(out);
  return out;
}

}  // namespace fg::layers
