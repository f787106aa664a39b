// A vector of trivially copyable values that keeps up to N of them in the object itself: for the
// dims, axes, strides and masks a kernel works out on every call, which would otherwise cost a
// heap allocation per step.
//
//   SmallVector<int64_t, 8> dims;            // no allocation up to 8 elements
//   for (int64_t d : shape.dims()) dims.push_back(d);
//   std::span<const int64_t> view = dims;
//
// Longer contents move to the heap, so any size works.
#pragma once
#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <span>
#include <type_traits>
#include <vector>

namespace fg {

template <typename T, size_t N>
class SmallVector {
  static_assert(std::is_trivially_copyable_v<T>, "SmallVector holds trivially copyable values");
  static_assert(!std::is_same_v<T, bool>, "std::vector<bool> has no data(): hold char flags instead");

 public:
  SmallVector() = default;
  SmallVector(size_t n, T value) { resize(n, value); }
  SmallVector(std::initializer_list<T> values) {
    for (const T& v : values) push_back(v);
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* data() { return size_ <= N ? inline_ : heap_.data(); }
  const T* data() const { return size_ <= N ? inline_ : heap_.data(); }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  T& back() { return data()[size_ - 1]; }
  const T& back() const { return data()[size_ - 1]; }
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  operator std::span<const T>() const { return {data(), size_}; }  // NOLINT: like std::vector

  void push_back(T value) {
    if (size_ < N) {
      inline_[size_++] = value;
      return;
    }
    if (size_ == N) heap_.assign(inline_, inline_ + N);
    heap_.push_back(value);
    ++size_;
  }
  void resize(size_t n, T value = T()) {
    if (n <= N) {
      if (size_ > N) std::copy(heap_.begin(), heap_.begin() + std::min(n, size_), inline_);
      for (size_t i = size_; i < n; ++i) inline_[i] = value;
      heap_.clear();
    } else {
      if (size_ <= N) heap_.assign(inline_, inline_ + size_);
      heap_.resize(n, value);
    }
    size_ = n;
  }
  void clear() { resize(0); }
  void assign(const T* values, size_t n) {
    resize(n);
    std::copy(values, values + n, data());
  }
  void erase(T* pos) {
    std::copy(pos + 1, end(), pos);
    resize(size_ - 1);
  }

 private:
  size_t size_ = 0;
  T inline_[N] = {};
  std::vector<T> heap_;  // the contents when size_ > N
};

}  // namespace fg
