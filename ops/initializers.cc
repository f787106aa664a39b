#include "ops/initializers.h"

#include <cmath>

#include "ops/array.h"
#include "ops/random.h"

namespace fg {

namespace {
Initializer filled(double value, const char* name) {
  return [value, name](Graph& g, const Shape& shape, DType dtype) {
    Tensor t = dispatch_all(dtype, name, [&]<typename T>() {
      Tensor v = Tensor::empty(dtype, shape);
      std::fill(v.data<T>(), v.data<T>() + v.num_elements(), static_cast<T>(value));
      return v;
    });
    return constant(g, t, name);
  };
}
}  // namespace

Initializer zeros_initializer() { return filled(0.0, "zeros"); }
Initializer ones_initializer() { return filled(1.0, "ones"); }
Initializer constant_initializer(double value) { return filled(value, "Const"); }

Initializer random_uniform_initializer(double minval, double maxval, std::optional<int64_t> seed) {
  return [=](Graph& g, const Shape& shape, DType dtype) {
    return random_uniform(g, shape, minval, maxval, dtype, seed);
  };
}

Initializer random_normal_initializer(double mean, double stddev, std::optional<int64_t> seed) {
  return [=](Graph& g, const Shape& shape, DType dtype) { return random_normal(g, shape, mean, stddev, dtype, seed); };
}

Initializer truncated_normal_initializer(double mean, double stddev, std::optional<int64_t> seed) {
  return [=](Graph& g, const Shape& shape, DType dtype) {
    return truncated_normal(g, shape, mean, stddev, dtype, seed);
  };
}

std::pair<double, double> compute_fans(const Shape& shape) {
  const int r = shape.rank();
  if (r < 1) return {1.0, 1.0};
  if (r == 1) return {double(shape.dim(0)), double(shape.dim(0))};
  if (r == 2) return {double(shape.dim(0)), double(shape.dim(1))};
  double receptive = 1;
  for (int i = 0; i < r - 2; ++i) receptive *= double(shape.dim(i));
  return {receptive * double(shape.dim(r - 2)), receptive * double(shape.dim(r - 1))};
}

Initializer variance_scaling_initializer(const VarianceScalingOptions& o) {
  FG_CHECK(o.scale > 0, InvalidArgument, "variance_scaling_initializer: scale must be positive, got ", o.scale);
  return [o](Graph& g, const Shape& shape, DType dtype) {
    const auto [fan_in, fan_out] = compute_fans(shape);
    double scale = o.scale;
    switch (o.mode) {
      case FanMode::kFanIn: scale /= std::max(1.0, fan_in); break;
      case FanMode::kFanOut: scale /= std::max(1.0, fan_out); break;
      case FanMode::kFanAvg: scale /= std::max(1.0, (fan_in + fan_out) / 2.0); break;
    }
    switch (o.distribution) {
      case Distribution::kTruncatedNormal:
        // The std of a standard normal truncated to [-2, 2]; dividing keeps the requested variance.
        return truncated_normal(g, shape, 0.0, std::sqrt(scale) / 0.87962566103423978, dtype, o.seed);
      case Distribution::kUntruncatedNormal:
        return random_normal(g, shape, 0.0, std::sqrt(scale), dtype, o.seed);
      case Distribution::kUniform:
      default: {
        const double limit = std::sqrt(3.0 * scale);
        return random_uniform(g, shape, -limit, limit, dtype, o.seed);
      }
    }
  };
}

Initializer glorot_uniform_initializer(std::optional<int64_t> seed) {
  return variance_scaling_initializer({1.0, FanMode::kFanAvg, Distribution::kUniform, seed});
}
Initializer glorot_normal_initializer(std::optional<int64_t> seed) {
  return variance_scaling_initializer({1.0, FanMode::kFanAvg, Distribution::kTruncatedNormal, seed});
}
Initializer he_normal(std::optional<int64_t> seed) {
  return variance_scaling_initializer({2.0, FanMode::kFanIn, Distribution::kTruncatedNormal, seed});
}
Initializer he_uniform(std::optional<int64_t> seed) {
  return variance_scaling_initializer({2.0, FanMode::kFanIn, Distribution::kUniform, seed});
}

}  // namespace fg
