// Tensor shapes. A static (graph-time) shape may have unknown dims (-1) or unknown rank;
// a Tensor's shape is always fully defined.
//
//   Shape s{-1, 784};                  // [?,784]
//   s.rank() == 2; s.dim(1) == 784; s.is_fully_defined() == false;
//   Shape::unknown();                  // TF's shape=None
#pragma once
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/small_vector.h"

namespace fg {

class Shape {
 public:
  Shape() = default;  // scalar: rank 0
  Shape(std::initializer_list<int64_t> dims) { assign(dims.begin(), dims.size()); }
  explicit Shape(const std::vector<int64_t>& dims) { assign(dims.data(), dims.size()); }
  explicit Shape(std::span<const int64_t> dims) { assign(dims.data(), dims.size()); }
  static Shape unknown() { Shape s; s.known_rank_ = false; return s; }
  static Shape scalar() { return Shape(); }

  bool known_rank() const { return known_rank_; }
  int rank() const { return known_rank_ ? rank_or_zero() : -1; }
  // Throws std::out_of_range past the rank (a negative i counts from the end).
  int64_t dim(int i) const { return data()[index(i)]; }
  std::span<const int64_t> dims() const { return dims_; }
  std::vector<int64_t> dim_vector() const { return {dims_.begin(), dims_.end()}; }
  void set_dim(int i, int64_t d) { data()[index(i)] = d; }
  bool is_fully_defined() const;
  // Product of dims; -1 if not fully defined; InvalidArgument if it does not fit in int64.
  int64_t num_elements() const;

  // True when some fully defined shape could match both.
  bool compatible_with(const Shape& other) const;
  // The most specific shape compatible with both; throws InvalidArgument naming `who` if none.
  Shape merge_with(const Shape& other, const std::string& who) const;

  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
  // "[?,784]", "[]" for a scalar, "<unknown>" for unknown rank.
  std::string to_string() const;

  // Dims up to kInline live in the object itself: a Tensor is copied at every read of a value,
  // and a heap-allocated dims vector made each copy a malloc. (Also the inline size of kernels'
  // per-call dims.)
  static constexpr int kInline = 6;

 private:
  void assign(const int64_t* dims, size_t n) { dims_.assign(dims, n); }
  int index(int i) const;
  int rank_or_zero() const { return static_cast<int>(dims_.size()); }
  const int64_t* data() const { return dims_.data(); }
  int64_t* data() { return dims_.data(); }

  SmallVector<int64_t, kInline> dims_;
  bool known_rank_ = true;
};

std::ostream& operator<<(std::ostream& os, const Shape& s);

// The one checked arithmetic for shapes that come from data (a kernel's shape input, a file's
// header, a proto): every size computed from such dims goes through these, so a crafted shape
// becomes an error here instead of a wrapped count and an out-of-bounds write later.
//
//   Shape s = shape_from_dims(int_values(dims, "Fill"), "Fill");   // [2^32,2^32]: InvalidArgument
//   int64_t n = checked_num_elements(s.dims(), "Fill");
//
// The product of `dims` (each >= 0); InvalidArgument naming `who` and the dims when one is
// negative or the product exceeds int64.
int64_t checked_num_elements(std::span<const int64_t> dims, std::string_view who);
// A shape from dims given as data: each >= 0 (or -1, unknown, when `allow_unknown`) and the known
// dims' product within int64; InvalidArgument naming `who` and the dims otherwise.
Shape shape_from_dims(std::span<const int64_t> dims, std::string_view who, bool allow_unknown = false);
// "[2,-5,3]": dims as given (negative values shown as they are), for error messages.
std::string dims_string(std::span<const int64_t> dims);

// NumPy broadcasting of static shapes (unknown dims allowed); throws InvalidArgument naming `who`.
Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& who);

}  // namespace fg
