// TF1's learning-rate schedules as graph ops on the global step.
//
//   Variable step = train::get_or_create_global_step(g);
//   Output lr = train::exponential_decay(0.1, step, 10000, 0.1);          // TF1's example
//   auto op = train::MomentumOptimizer(lr, 0.9).minimize(loss, {.global_step = step});
//   // A power schedule written from primitives: lr0 * (1 + t / r)^-c
//   Output power = 0.01f * pow(1.0f + cast(step.value(), f32) / 1000.0f, constant(g, Tensor(-1.0f)));
#pragma once
#include <string>
#include <vector>

#include "graph/graph.h"

namespace fg::train {

// The int64 scalar "global_step" (in GLOBAL_VARIABLES and GLOBAL_STEP, not trainable).
Variable get_or_create_global_step(Graph& g);
// The existing global step, if any.
std::optional<Variable> get_global_step(const Graph& g);

// lr * decay_rate ^ (step / decay_steps)   (floor of the exponent when staircase)
Output exponential_decay(double learning_rate, const Output& global_step, double decay_steps, double decay_rate,
                         bool staircase = false, const std::string& name = "ExponentialDecay");
// lr / (1 + decay_rate * step / decay_steps)
Output inverse_time_decay(double learning_rate, const Output& global_step, double decay_steps, double decay_rate,
                          bool staircase = false, const std::string& name = "InverseTimeDecay");
// lr * exp(-decay_rate * step / decay_steps)
Output natural_exp_decay(double learning_rate, const Output& global_step, double decay_steps, double decay_rate,
                         bool staircase = false, const std::string& name = "NaturalExpDecay");
// (lr - end) * (1 - min(step, decay_steps) / decay_steps) ^ power + end; with cycle, decay_steps
// grows to the next multiple of itself past the step.
Output polynomial_decay(double learning_rate, const Output& global_step, double decay_steps,
                        double end_learning_rate = 0.0001, double power = 1.0, bool cycle = false,
                        const std::string& name = "PolynomialDecay");
// values[0] while step <= boundaries[0], values[i] while boundaries[i-1] < step <= boundaries[i],
// values.back() after the last boundary.
Output piecewise_constant(const Output& x, const std::vector<double>& boundaries, const std::vector<double>& values,
                          const std::string& name = "PiecewiseConstant");

}  // namespace fg::train
