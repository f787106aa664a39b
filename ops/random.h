// Random tensors with TF1's seed rules (graph seed + op seed), drawn from Philox so the same
// seeds give the same values on every run and thread count. Each run of the op draws new values.
//
//   g.set_random_seed(42);
//   auto w = random_uniform(g, {784, 300}, -0.1, 0.1);
//   auto n = truncated_normal(g, {300}, 0.0, 0.05, f32, /*seed=*/7);
#pragma once
#include <optional>
#include <string>

#include "graph/graph.h"

namespace fg {

Output random_uniform(Graph& g, const Shape& shape, double minval = 0.0, double maxval = 1.0, DType dtype = f32,
                      std::optional<int64_t> seed = std::nullopt, const std::string& name = "");
// With the shape as an int32 tensor (e.g. shape(x) for a batch of unknown size).
Output random_uniform(const Output& shape, double minval = 0.0, double maxval = 1.0, DType dtype = f32,
                      std::optional<int64_t> seed = std::nullopt, const std::string& name = "");
Output random_normal(Graph& g, const Shape& shape, double mean = 0.0, double stddev = 1.0, DType dtype = f32,
                     std::optional<int64_t> seed = std::nullopt, const std::string& name = "");
Output truncated_normal(Graph& g, const Shape& shape, double mean = 0.0, double stddev = 1.0, DType dtype = f32,
                        std::optional<int64_t> seed = std::nullopt, const std::string& name = "");

}  // namespace fg
