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
#include <string>
#include <vector>

namespace fg {

class Shape {
 public:
  Shape() = default;  // scalar: rank 0
  Shape(std::initializer_list<int64_t> dims) : dims_(dims) {}
  explicit Shape(std::vector<int64_t> dims) : dims_(std::move(dims)) {}
  static Shape unknown() { Shape s; s.known_rank_ = false; return s; }
  static Shape scalar() { return Shape(); }

  bool known_rank() const { return known_rank_; }
  int rank() const { return known_rank_ ? static_cast<int>(dims_.size()) : -1; }
  int64_t dim(int i) const { return dims_.at(i < 0 ? i + dims_.size() : i); }
  const std::vector<int64_t>& dims() const { return dims_; }
  void set_dim(int i, int64_t d) { dims_.at(i) = d; }
  bool is_fully_defined() const;
  // Product of dims; -1 if not fully defined.
  int64_t num_elements() const;

  // True when some fully defined shape could match both.
  bool compatible_with(const Shape& other) const;
  // The most specific shape compatible with both; throws InvalidArgument naming `who` if none.
  Shape merge_with(const Shape& other, const std::string& who) const;

  bool operator==(const Shape& o) const { return known_rank_ == o.known_rank_ && dims_ == o.dims_; }
  bool operator!=(const Shape& o) const { return !(*this == o); }
  // "[?,784]", "[]" for a scalar, "<unknown>" for unknown rank.
  std::string to_string() const;

 private:
  std::vector<int64_t> dims_;
  bool known_rank_ = true;
};

std::ostream& operator<<(std::ostream& os, const Shape& s);

// NumPy broadcasting of static shapes (unknown dims allowed); throws InvalidArgument naming `who`.
Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& who);

}  // namespace fg
