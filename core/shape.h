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
#include <vector>

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
  int rank() const { return known_rank_ ? rank_ : -1; }
  // Throws std::out_of_range past the rank (a negative i counts from the end).
  int64_t dim(int i) const { return data()[index(i)]; }
  std::span<const int64_t> dims() const { return {data(), static_cast<size_t>(rank_)}; }
  std::vector<int64_t> dim_vector() const { return {data(), data() + rank_}; }
  void set_dim(int i, int64_t d) { data()[index(i)] = d; }
  bool is_fully_defined() const;
  // Product of dims; -1 if not fully defined.
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
  // per-call dims, see core/small_vector.h.)
  static constexpr int kInline = 6;

 private:
  void assign(const int64_t* dims, size_t n);
  int index(int i) const;
  const int64_t* data() const { return rank_ <= kInline ? inline_ : heap_.data(); }
  int64_t* data() { return rank_ <= kInline ? inline_ : heap_.data(); }

  int64_t inline_[kInline] = {};
  std::vector<int64_t> heap_;  // only above kInline dims
  int rank_ = 0;
  bool known_rank_ = true;
};

std::ostream& operator<<(std::ostream& os, const Shape& s);

// NumPy broadcasting of static shapes (unknown dims allowed); throws InvalidArgument naming `who`.
Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& who);

}  // namespace fg
