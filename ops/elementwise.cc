#include "ops/internal/elementwise.h"

#include <algorithm>
#include <map>

namespace fg {

Broadcast make_broadcast(const Shape& a, const Shape& b) {
  const int r = std::max(a.rank(), b.rank());
  Broadcast p;
  p.out_dims.resize(r);
  SmallVector<int, Shape::kInline> pattern;  // bit 0: a broadcast, bit 1: b broadcast
  for (int i = 0; i < r; ++i) {
    const int ia = i - (r - a.rank()), ib = i - (r - b.rank());
    const int64_t da = ia >= 0 ? a.dim(ia) : 1, db = ib >= 0 ? b.dim(ib) : 1;
    int64_t d;
    if (da == db || db == 1) d = da;
    else if (da == 1) d = db;
    else throw InvalidArgument(str_cat("Incompatible shapes: ", a, " vs. ", b));
    p.out_dims[i] = d;
    if (d == 1) continue;  // size-1 output dims do not move any index
    const int pat = (da != d ? 1 : 0) | (db != d ? 2 : 0);
    if (!pattern.empty() && pattern.back() == pat) {
      p.dims.back() *= d;
    } else {
      p.dims.push_back(d);
      pattern.push_back(pat);
    }
  }
  p.n = 1;
  for (int64_t d : p.out_dims) p.n *= d;
  const size_t nd = p.dims.size();
  p.sa.resize(nd);
  p.sb.resize(nd);
  int64_t ka = 1, kb = 1;
  for (size_t j = nd; j-- > 0;) {
    p.sa[j] = (pattern[j] & 1) ? 0 : ka;
    p.sb[j] = (pattern[j] & 2) ? 0 : kb;
    if (!(pattern[j] & 1)) ka *= p.dims[j];
    if (!(pattern[j] & 2)) kb *= p.dims[j];
  }
  return p;
}

void broadcast_shape_fn(InferenceContext& c) {
  c.set_output(0, broadcast_shapes(c.input_shape(0), c.input_shape(1), str_cat(c.op().type(), " '", c.op().name(), "'")));
}

void same_shape_pair(InferenceContext& c) {
  c.set_output(0, c.input_shape(0).merge_with(c.input_shape(1), str_cat(c.op().type(), " '", c.op().name(), "'")));
}

namespace {
std::map<std::string, Spec>& specs_by_type() {
  static std::map<std::string, Spec> specs;
  return specs;
}
}  // namespace

void record_spec(const Spec& spec) { specs_by_type()[spec.type] = spec; }

const std::vector<Spec>& elementwise_specs() {
  static const std::vector<Spec> specs = [] {
    OpRegistry::global();  // registers every description
    std::vector<Spec> v;
    for (const auto& [type, spec] : specs_by_type()) v.push_back(spec);
    return v;
  }();
  return specs;
}

}  // namespace fg
