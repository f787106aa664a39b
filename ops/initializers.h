// TF1 initializers (tf.zeros_initializer, tf.glorot_uniform_initializer, ...), with TF1's defaults.
// They live beside the variables (as TF's init_ops do) because get_variable defaults to one.
//
//   auto he_init = variance_scaling_initializer();                 // scale 1, fan_in, truncated normal
//   auto k = get_variable(g, "kernel", {.shape = {784, 300}, .initializer = he_init});
//   layers::dense(X, 300, {.kernel_initializer = he_normal()});
#pragma once
#include <optional>
#include <string>

#include "ops/state.h"

namespace fg {

Initializer zeros_initializer();
Initializer ones_initializer();
Initializer constant_initializer(double value);
Initializer random_uniform_initializer(double minval = 0.0, double maxval = 1.0,
                                       std::optional<int64_t> seed = std::nullopt);
Initializer random_normal_initializer(double mean = 0.0, double stddev = 1.0,
                                      std::optional<int64_t> seed = std::nullopt);
Initializer truncated_normal_initializer(double mean = 0.0, double stddev = 1.0,
                                         std::optional<int64_t> seed = std::nullopt);

enum class FanMode { kFanIn, kFanOut, kFanAvg };
enum class Distribution { kTruncatedNormal, kUntruncatedNormal, kUniform };
struct VarianceScalingOptions {
  double scale = 1.0;
  FanMode mode = FanMode::kFanIn;
  Distribution distribution = Distribution::kTruncatedNormal;
  std::optional<int64_t> seed;
};
Initializer variance_scaling_initializer(const VarianceScalingOptions& options = {});
Initializer glorot_uniform_initializer(std::optional<int64_t> seed = std::nullopt);  // tf.layers default
Initializer glorot_normal_initializer(std::optional<int64_t> seed = std::nullopt);
Initializer he_normal(std::optional<int64_t> seed = std::nullopt);   // scale 2, fan_in, truncated normal
Initializer he_uniform(std::optional<int64_t> seed = std::nullopt);  // scale 2, fan_in, uniform

// (fan_in, fan_out) as TF computes them: [in, out] for a matrix, receptive field times
// channels for conv kernels, the single dim twice for a vector, 1 for a scalar.
std::pair<double, double> compute_fans(const Shape& shape);

}  // namespace fg
