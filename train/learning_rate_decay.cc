#include "train/learning_rate_decay.h"

#include "ops/array.h"
#include "ops/initializers.h"
#include "ops/math.h"
#include "ops/state.h"

namespace fg::train {

std::optional<Variable> get_global_step(const Graph& g) {
  auto vars = g.get_variables(GraphKeys::GLOBAL_STEP);
  if (vars.empty()) return std::nullopt;
  return vars.front();
}

Variable get_or_create_global_step(Graph& g) {
  if (auto existing = get_global_step(g)) return *existing;
  return create_variable(g, "global_step", Shape{}, i64, zeros_initializer(), /*trainable=*/false,
                         {GraphKeys::GLOBAL_VARIABLES, GraphKeys::GLOBAL_STEP});
}

namespace {

// The shared shape of exponential / inverse-time / natural-exp decay: in scope `name`, with
// lr and p = step / decay_steps (floored when staircase) as float32, `formula` builds the rest
// and names its final op `final_name`.
template <typename Formula>
Output decay(double learning_rate, const Output& global_step, double decay_steps, double decay_rate, bool staircase,
             const std::string& name, Formula&& formula) {
  FG_CHECK(decay_steps > 0, InvalidArgument, name, ": decay_steps must be positive, got ", decay_steps);
  Graph& g = *global_step.graph();
  const std::string full = g.composite_name(name);
  auto scope = g.name_scope(full + "/");
  Output lr = scalar_constant(g, learning_rate, f32, "learning_rate");
  Output p = cast(global_step, f32) / scalar_constant(g, decay_steps, f32, "decay_steps");
  if (staircase) p = floor(p);
  return formula(lr, p, scalar_constant(g, decay_rate, f32, "decay_rate"), full + "/");
}

}  // namespace

Output exponential_decay(double learning_rate, const Output& global_step, double decay_steps, double decay_rate,
                         bool staircase, const std::string& name) {
  return decay(learning_rate, global_step, decay_steps, decay_rate, staircase, name,
               [](const Output& lr, const Output& p, const Output& rate, const std::string& final_name) {
                 return multiply(lr, pow(rate, p), final_name);
               });
}

Output inverse_time_decay(double learning_rate, const Output& global_step, double decay_steps, double decay_rate,
                          bool staircase, const std::string& name) {
  return decay(learning_rate, global_step, decay_steps, decay_rate, staircase, name,
               [](const Output& lr, const Output& p, const Output& rate, const std::string& final_name) {
                 return divide(lr, 1.0f + rate * p, final_name);
               });
}

Output natural_exp_decay(double learning_rate, const Output& global_step, double decay_steps, double decay_rate,
                         bool staircase, const std::string& name) {
  return decay(learning_rate, global_step, decay_steps, decay_rate, staircase, name,
               [](const Output& lr, const Output& p, const Output& rate, const std::string& final_name) {
                 return multiply(lr, exp(-(rate * p)), final_name);
               });
}

Output polynomial_decay(double learning_rate, const Output& global_step, double decay_steps, double end_learning_rate,
                        double power, bool cycle, const std::string& name) {
  Graph& g = *global_step.graph();
  FG_CHECK(decay_steps > 0, InvalidArgument, "polynomial_decay: decay_steps must be positive, got ", decay_steps);
  const std::string full = g.composite_name(name);
  auto scope = g.name_scope(full + "/");
  Output lr = scalar_constant(g, learning_rate, f32, "learning_rate");
  Output end = scalar_constant(g, end_learning_rate, f32, "end_learning_rate");
  Output step = cast(global_step, f32);
  Output steps = scalar_constant(g, decay_steps, f32, "decay_steps");
  if (cycle) {
    // ceil(step / decay_steps), but at least 1 so step 0 does not divide by zero.
    Output multiplier = maximum(ceil(step / steps), scalar_constant(g, 1.0, f32));
    steps = steps * multiplier;
  } else {
    step = minimum(step, steps);
  }
  Output frac = 1.0f - step / steps;
  return add((lr - end) * pow(frac, scalar_constant(g, power, f32, "power")), end, full + "/");
}

Output piecewise_constant(const Output& x, const std::vector<double>& boundaries, const std::vector<double>& values,
                          const std::string& name) {
  FG_CHECK(values.size() == boundaries.size() + 1, InvalidArgument, "piecewise_constant: ", values.size(),
           " values for ", boundaries.size(), " boundaries; expected one more value than boundaries");
  for (size_t i = 1; i < boundaries.size(); ++i)
    FG_CHECK(boundaries[i - 1] < boundaries[i], InvalidArgument, "piecewise_constant: boundaries must increase");
  Graph& g = *x.graph();
  const std::string full = g.composite_name(name);
  auto scope = g.name_scope(full + "/");
  Output xf = x.dtype() == f32 ? x : cast(x, f32);
  Output out = scalar_constant(g, values.back(), f32);
  for (size_t i = boundaries.size(); i-- > 0;)
    out = select(less_equal(xf, scalar_constant(g, boundaries[i], f32)), scalar_constant(g, values[i], f32), out,
                 i == 0 ? full + "/" : "");
  return boundaries.empty() ? identity(out, full + "/") : out;
}

}  // namespace fg::train
