#include "layers/dropout.h"

#include "ops/array.h"
#include "ops/control_flow_ops.h"
#include "ops/math.h"
#include "ops/random.h"

namespace fg::nn {

Output dropout(const Output& x, const std::variant<double, Output>& keep_prob, std::optional<int64_t> seed,
               const std::string& name) {
  Graph& g = *x.graph();
  FG_CHECK(is_floating(x.dtype()), InvalidArgument, "dropout: x must be float, got ", dtype_name(x.dtype()));
  if (const double* k = std::get_if<double>(&keep_prob))
    FG_CHECK(*k > 0 && *k <= 1, InvalidArgument, "dropout: keep_prob must be in (0, 1], got ", *k);
  const std::string full = g.composite_name(name);
  auto scope = g.name_scope(full + "/");
  Output keep = std::holds_alternative<double>(keep_prob)
                    ? scalar_constant(g, std::get<double>(keep_prob), x.dtype(), "keep_prob")
                    : std::get<Output>(keep_prob);
  if (keep.dtype() != x.dtype()) keep = cast(keep, x.dtype());
  Output noise_shape = x.shape().is_fully_defined() ? Output() : shape(x);
  Output u = noise_shape ? random_uniform(noise_shape, 0.0, 1.0, x.dtype(), seed)
                         : random_uniform(g, x.shape(), 0.0, 1.0, x.dtype(), seed);
  Output binary = floor(add(keep, u));
  return multiply(divide(x, keep), binary, full + "/");
}

}  // namespace fg::nn

namespace fg::layers {

Output dropout(const Output& inputs, double rate, const DropoutOptions& o) {
  FG_CHECK(rate >= 0 && rate < 1, InvalidArgument, "dropout: rate must be in [0, 1), got ", rate);
  Graph& g = *inputs.graph();
  if (const bool* t = std::get_if<bool>(&o.training)) {
    if (!*t || rate == 0) {
      const std::string full = g.composite_name(o.name);
      auto scope = g.name_scope(full + "/");
      return identity(inputs, "Identity");
    }
    return nn::dropout(inputs, 1.0 - rate, o.seed, o.name);
  }
  const Output training = std::get<Output>(o.training);
  FG_CHECK(training && training.dtype() == boolean, InvalidArgument, "dropout: training must be a bool tensor, got ",
           training ? dtype_name(training.dtype()) : std::string("none"),
           training ? " from '" + training.name() + "'" : "");
  // TF 1.x's layer: smart_cond(training, dropped, identity), so the inference pass is the input.
  const std::string full = g.composite_name(o.name);
  auto scope = g.name_scope(full + "/");
  return smart_cond(training, [&] { return nn::dropout(inputs, 1.0 - rate, o.seed, "dropout"); },
                    [&] { return identity(inputs, "Identity"); });
}

}  // namespace fg::layers
