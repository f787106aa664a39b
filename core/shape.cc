#include "core/shape.h"

#include "core/errors.h"

namespace fg {

bool Shape::is_fully_defined() const {
  if (!known_rank_) return false;
  for (int64_t d : dims_) if (d < 0) return false;
  return true;
}

int64_t Shape::num_elements() const {
  if (!is_fully_defined()) return -1;
  int64_t n = 1;
  for (int64_t d : dims_) n *= d;
  return n;
}

bool Shape::compatible_with(const Shape& o) const {
  if (!known_rank_ || !o.known_rank_) return true;
  if (dims_.size() != o.dims_.size()) return false;
  for (size_t i = 0; i < dims_.size(); ++i)
    if (dims_[i] >= 0 && o.dims_[i] >= 0 && dims_[i] != o.dims_[i]) return false;
  return true;
}

Shape Shape::merge_with(const Shape& o, const std::string& who) const {
  FG_CHECK(compatible_with(o), InvalidArgument, who, ": shapes ", *this, " and ", o, " are incompatible");
  if (!known_rank_) return o;
  if (!o.known_rank_) return *this;
  Shape r = *this;
  for (size_t i = 0; i < dims_.size(); ++i)
    if (r.dims_[i] < 0) r.dims_[i] = o.dims_[i];
  return r;
}

std::string Shape::to_string() const {
  if (!known_rank_) return "<unknown>";
  std::string s = "[";
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (i) s += ",";
    s += dims_[i] < 0 ? "?" : std::to_string(dims_[i]);
  }
  return s + "]";
}

std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.to_string(); }

Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& who) {
  if (!a.known_rank() || !b.known_rank()) return Shape::unknown();
  const int r = std::max(a.rank(), b.rank());
  std::vector<int64_t> out(r);
  for (int i = 0; i < r; ++i) {
    const int ia = a.rank() - r + i, ib = b.rank() - r + i;
    const int64_t da = ia >= 0 ? a.dim(ia) : 1, db = ib >= 0 ? b.dim(ib) : 1;
    if (da == 1) out[i] = db;
    else if (db == 1) out[i] = da;
    else if (da < 0) out[i] = db;  // unknown vs n>1 (or unknown): must be n at run time
    else if (db < 0) out[i] = da;
    else {
      FG_CHECK(da == db, InvalidArgument, who, ": incompatible shapes for broadcasting: ", a, " and ", b);
      out[i] = da;
    }
  }
  return Shape(std::move(out));
}

}  // namespace fg
