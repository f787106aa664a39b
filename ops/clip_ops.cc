#include "ops/clip_ops.h"

#include "ops/array.h"
#include "ops/math.h"

namespace fg {

Output clip_by_value(const Output& t, double clip_value_min, double clip_value_max, const std::string& name) {
  FG_CHECK(clip_value_min <= clip_value_max, InvalidArgument, "clip_by_value: clip_value_min ", clip_value_min,
           " > clip_value_max ", clip_value_max);
  Graph& g = *t.graph();
  const std::string full = g.composite_name(name);
  auto scope = g.name_scope(full + "/");
  Output t_min = minimum(t, scalar_constant(g, clip_value_max, t.dtype(), "clip_value_max"), "Minimum");
  return maximum(t_min, scalar_constant(g, clip_value_min, t.dtype(), "clip_value_min"), full + "/");
}

Output clip_by_norm(const Output& t, double clip_norm, const std::vector<int64_t>& axes, const std::string& name) {
  FG_CHECK(clip_norm > 0, InvalidArgument, "clip_by_norm: clip_norm must be positive, got ", clip_norm);
  Graph& g = *t.graph();
  const std::string full = g.composite_name(name);
  auto scope = g.name_scope(full + "/");
  Output l2sum = reduce_sum(t * t, axes, /*keep_dims=*/true);
  // TF guards the zero norm so its gradient stays finite.
  Output pred = greater(l2sum, scalar_like(l2sum, 0.0));
  Output l2sum_safe = select(pred, l2sum, ones_like(l2sum));
  Output l2norm = select(pred, sqrt(l2sum_safe), l2sum);
  Output cn = scalar_constant(g, clip_norm, t.dtype(), "clip_norm");
  return identity(divide(t * cn, maximum(l2norm, cn)), full + "/");
}

Output global_norm(const std::vector<Output>& tensors, const std::string& name) {
  std::vector<Output> parts;
  for (const Output& t : tensors) if (t) parts.push_back(t);
  FG_CHECK(!parts.empty(), InvalidArgument, "global_norm: no tensors");
  Graph& g = *parts[0].graph();
  const std::string full = g.composite_name(name);
  auto scope = g.name_scope(full + "/");
  std::vector<Output> sums;
  for (const Output& t : parts) sums.push_back(reduce_sum(square(t)));
  Output total = sums.size() == 1 ? sums[0] : add_n(sums);
  return sqrt(total, full + "/");
}

std::pair<std::vector<Output>, Output> clip_by_global_norm(const std::vector<Output>& tensors, double clip_norm,
                                                           const std::string& name) {
  FG_CHECK(clip_norm > 0, InvalidArgument, "clip_by_global_norm: clip_norm must be positive, got ", clip_norm);
  std::vector<Output> present;
  for (const Output& t : tensors) if (t) present.push_back(t);
  FG_CHECK(!present.empty(), InvalidArgument, "clip_by_global_norm: no tensors");
  Graph& g = *present[0].graph();
  const std::string full = g.composite_name(name);
  auto scope = g.name_scope(full + "/");
  Output norm = global_norm(present);
  Output cn = scalar_constant(g, clip_norm, norm.dtype(), "clip_norm");
  // clip_norm * min(1 / norm, 1 / clip_norm): 1 when the norm is within bounds.
  Output scale = cn * minimum(1.0 / norm, scalar_constant(g, 1.0 / clip_norm, norm.dtype()));
  std::vector<Output> out;
  int i = 0;
  for (const Output& t : tensors) {
    if (!t) {
      out.emplace_back();
      continue;
    }
    Output s = t.dtype() == scale.dtype() ? scale : cast(scale, t.dtype());
    out.push_back(identity(t * s, str_cat(full, "/_", i++)));
  }
  return {out, norm};
}

}  // namespace fg
