// Gradient clipping, TF1's tf.clip_by_value / clip_by_norm / clip_by_global_norm, built from
// element-wise ops (so they differentiate and name like TF's).
//
//   auto gvs = optimizer.compute_gradients(loss);
//   for (auto& gv : gvs) gv.grad = clip_by_value(gv.grad, -1.0, 1.0);
//   auto [clipped, norm] = clip_by_global_norm(grads, 5.0);
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "graph/graph.h"

namespace fg {

// min(max(t, clip_value_min), clip_value_max)
Output clip_by_value(const Output& t, double clip_value_min, double clip_value_max,
                     const std::string& name = "clip_by_value");
// t * clip_norm / max(||t||_2, clip_norm), the norm over `axes` (all when empty).
Output clip_by_norm(const Output& t, double clip_norm, const std::vector<int64_t>& axes = {},
                    const std::string& name = "clip_by_norm");
// sqrt(sum over tensors of sum(t^2)); none entries are skipped.
Output global_norm(const std::vector<Output>& tensors, const std::string& name = "global_norm");
// Every tensor times clip_norm / max(global_norm, clip_norm); also returns the global norm.
std::pair<std::vector<Output>, Output> clip_by_global_norm(const std::vector<Output>& tensors, double clip_norm,
                                                           const std::string& name = "clip_by_global_norm");

}  // namespace fg
