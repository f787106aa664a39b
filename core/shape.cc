#include "core/shape.h"

#include <algorithm>
#include <stdexcept>

#include "core/errors.h"

namespace fg {

int Shape::index(int i) const {
  const int rank = rank_or_zero();
  const int j = i < 0 ? i + rank : i;
  if (j < 0 || j >= rank) throw std::out_of_range("Shape: dimension " + std::to_string(i) + " of " + to_string());
  return j;
}

bool Shape::operator==(const Shape& o) const {
  const auto a = dims(), b = o.dims();
  return known_rank_ == o.known_rank_ && std::equal(a.begin(), a.end(), b.begin(), b.end());
}

bool Shape::is_fully_defined() const {
  if (!known_rank_) return false;
  for (int64_t d : dims()) if (d < 0) return false;
  return true;
}

int64_t Shape::num_elements() const {
  if (!known_rank_) return -1;
  int64_t n = 1;
  bool overflow = false;
  for (int64_t d : dims()) {
    if (d < 0) return -1;
    overflow |= __builtin_mul_overflow(n, d, &n);
  }
  FG_CHECK(!overflow, InvalidArgument, "Shape ", *this,
           " has more than 2^63 - 1 elements (the element count overflows int64)");
  return n;
}

std::string dims_string(std::span<const int64_t> dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

int64_t checked_num_elements(std::span<const int64_t> dims, std::string_view who) {
  int64_t n = 1;
  bool overflow = false;
  for (int64_t d : dims) {
    FG_CHECK(d >= 0, InvalidArgument, who, ": shape ", dims_string(dims),
             " has a negative dimension (dims must be non-negative)");
    overflow |= __builtin_mul_overflow(n, d, &n);
  }
  FG_CHECK(!overflow, InvalidArgument, who, ": shape ", dims_string(dims),
           " has more than 2^63 - 1 elements (the element count overflows int64)");
  return n;
}

Shape shape_from_dims(std::span<const int64_t> dims, std::string_view who, bool allow_unknown) {
  int64_t n = 1;
  bool overflow = false;
  for (int64_t d : dims) {
    FG_CHECK(d >= 0 || (allow_unknown && d == -1), InvalidArgument, who, ": shape ", dims_string(dims),
             allow_unknown ? " has a dimension below -1" : " has a negative dimension (dims must be non-negative)");
    if (d >= 0) overflow |= __builtin_mul_overflow(n, d, &n);
  }
  FG_CHECK(!overflow, InvalidArgument, who, ": shape ", dims_string(dims),
           " has more than 2^63 - 1 elements (the element count overflows int64)");
  return Shape(dims);
}

bool Shape::compatible_with(const Shape& o) const {
  if (!known_rank_ || !o.known_rank_) return true;
  if (dims_.size() != o.dims_.size()) return false;
  const int64_t *a = data(), *b = o.data();
  for (int i = 0; i < rank_or_zero(); ++i)
    if (a[i] >= 0 && b[i] >= 0 && a[i] != b[i]) return false;
  return true;
}

Shape Shape::merge_with(const Shape& o, const std::string& who) const {
  FG_CHECK(compatible_with(o), InvalidArgument, who, ": shapes ", *this, " and ", o, " are incompatible");
  if (!known_rank_) return o;
  if (!o.known_rank_) return *this;
  Shape r = *this;
  for (int i = 0; i < rank_or_zero(); ++i)
    if (r.data()[i] < 0) r.data()[i] = o.data()[i];
  return r;
}

std::string Shape::to_string() const {
  if (!known_rank_) return "<unknown>";
  std::string s = "[";
  for (int i = 0; i < rank_or_zero(); ++i) {
    if (i) s += ",";
    s += data()[i] < 0 ? "?" : std::to_string(data()[i]);
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
