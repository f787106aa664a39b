#include "layers/regularizers.h"

#include "ops/array.h"
#include "ops/math.h"

namespace fg::layers {

namespace {

// scale * penalty(w) under "<name>/", the product named "<name>" like TF's regularizers.
Regularizer scaled(double scale, const char* name, Output (*penalty)(const Output&)) {
  FG_CHECK(scale >= 0, InvalidArgument, name, ": scale must be non-negative, got ", scale);
  return [scale, name, penalty](const Output& w) -> Output {
    if (scale == 0) return Output();
    Graph& g = *w.graph();
    const std::string full = g.unique_name(name, false);
    auto s = g.name_scope(full + "/");
    Output sc = scalar_constant(g, scale, w.dtype(), "scale");
    return multiply(sc, penalty(w), full + "/");
  };
}

Output l1_penalty(const Output& w) { return reduce_sum(abs(w)); }
Output l2_penalty(const Output& w) { return reduce_sum(square(w)) * 0.5; }

}  // namespace

Regularizer l1_regularizer(double scale) { return scaled(scale, "l1_regularizer", l1_penalty); }
Regularizer l2_regularizer(double scale) { return scaled(scale, "l2_regularizer", l2_penalty); }

Regularizer l1_l2_regularizer(double scale_l1, double scale_l2) {
  Regularizer l1 = l1_regularizer(scale_l1), l2 = l2_regularizer(scale_l2);
  return [l1, l2](const Output& w) -> Output {
    Graph& g = *w.graph();
    const std::string full = g.unique_name("l1_l2_regularizer", false);
    auto s = g.name_scope(full + "/");
    std::vector<Output> parts;
    if (Output a = l1(w)) parts.push_back(a);
    if (Output b = l2(w)) parts.push_back(b);
    if (parts.empty()) return Output();
    return parts.size() == 1 ? identity(parts[0], full + "/") : add_n(parts, full + "/");
  };
}

std::vector<Output> get_regularization_losses(const Graph& g, const std::string& scope) {
  std::vector<Output> r;
  for (const auto& item : g.get_collection(GraphKeys::REGULARIZATION_LOSSES, scope))
    if (const Output* o = std::get_if<Output>(&item)) r.push_back(*o);
  return r;
}

}  // namespace fg::layers
