// A dense n-d array: dtype, fully defined shape, and a 64-byte-aligned buffer shared by copies.
//
//   Tensor a(f32, {2, 3});                                // zero-filled
//   Tensor b = Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2});
//   Tensor c(0.5f);                                       // scalar
//   b.flat<float>()[3] == 4; c.scalar<float>() == 0.5f;
//   std::cout << b;                                       // [[1 2] [3 4]]
//
// Copying a Tensor shares its buffer (like TF); clone() copies the bytes.
// A Tensor may be read from several threads; writing one that others read is the caller's race.
//
// String tensors (TF's DT_STRING) hold byte strings, packed into the one buffer (each element's
// end offset, then all the bytes), so a tensor of strings is bounded by max_tensor_bytes like any
// other, and numeric tensors carry nothing for them. They are built whole and read by element:
//
//   Tensor s("model.ckpt");                                  // a scalar string
//   Tensor v = Tensor::from_vector<std::string>({"a", "bc"});
//   v.str(1) == "bc"; s.scalar<std::string>() == "model.ckpt";
#pragma once
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/dtype.h"
#include "core/errors.h"
#include "core/shape.h"
#include "core/small_vector.h"

namespace fg {

// A tensor's bytes. It lives in the shared_ptr control block at the head of one block from the
// buffer cache (core/allocator.h), its data in the same block right after it: one allocation per
// tensor, no malloc beside it.
class Buffer {
 public:
  // Bytes before the data in such a block: the control block, padded to keep the data aligned.
  static constexpr size_t kHeaderBytes = 64;
  // Only Tensor::empty makes the key, for std::allocate_shared over a block of kHeaderBytes + bytes.
  class Key {
    friend class Tensor;
    Key() = default;
  };
  Buffer(Key, size_t bytes);
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* data_;
  size_t size_;
};

class Tensor {
 public:
  Tensor() = default;  // an empty handle: !valid()
  Tensor(DType dtype, const Shape& shape);  // zero-filled
  // Scalars.
  Tensor(float v);
  Tensor(double v);
  Tensor(int32_t v);
  Tensor(int64_t v);
  Tensor(bool v);
  Tensor(const char* s);  // string scalars
  Tensor(std::string_view s);
  Tensor(const std::string& s);

  // Allocates without zero-filling: for kernels that overwrite every element. (A string tensor
  // is all empty strings.)
  static Tensor empty(DType dtype, const Shape& shape);

  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape) {
    if constexpr (std::is_same_v<T, std::string>) {
      return from_strings(std::span<const std::string>(values), shape);
    } else {
    Tensor t = empty(dtype_of<T>(), shape);
    FG_CHECK(static_cast<int64_t>(values.size()) == t.num_elements(), InvalidArgument,
             "Tensor::from_vector: ", values.size(), " values for shape ", shape);
    std::copy(values.begin(), values.end(), t.data<T>());
    return t;
    }
  }
  static Tensor from_strings(std::span<const std::string> values, const Shape& shape);
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values) {
    return from_vector(values, Shape{static_cast<int64_t>(values.size())});
  }

  bool valid() const { return buffer_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  int64_t dim(int i) const { return shape_.dim(i); }
  int64_t num_elements() const { return num_elements_; }
  // The buffer's size: num_elements() * dtype_size(dtype()), or a string tensor's packed bytes.
  size_t num_bytes() const { return buffer_ ? buffer_->size() : 0; }

  void* raw_data() const { return buffer_ ? static_cast<char*>(buffer_->data()) : nullptr; }
  template <typename T>
  T* data() const {
    static_assert(!std::is_same_v<T, std::string>, "a string tensor's elements are read with str(i)");
    check_dtype(dtype_of<T>());
    return static_cast<T*>(raw_data());
  }
  template <typename T>
  std::span<T> flat() const { return {data<T>(), static_cast<size_t>(num_elements_)}; }
  template <typename T>
  T scalar() const {
    FG_CHECK(num_elements_ == 1, InvalidArgument, "Tensor::scalar: tensor has shape ", shape_);
    if constexpr (std::is_same_v<T, std::string>) return std::string(str(0));
    else return *data<T>();
  }
  // Element i (row-major) of a string tensor, valid while the tensor's buffer lives.
  std::string_view str(int64_t i) const;
  // Element at a multi-index, for tests and printing: t.at<float>({1, 2}).
  template <typename T>
  T& at(std::initializer_list<int64_t> index) const { return data<T>()[offset_of(index)]; }
  template <typename T>
  std::vector<T> to_vector() const {
    if constexpr (std::is_same_v<T, std::string>) {
      check_dtype(DType::kString);
      std::vector<std::string> r;
      r.reserve(num_elements_);
      for (int64_t i = 0; i < num_elements_; ++i) r.emplace_back(str(i));
      return r;
    } else {
      auto f = flat<T>();
      return {f.begin(), f.end()};
    }
  }

  // Same buffer, new shape with the same number of elements.
  Tensor reshaped(const Shape& shape) const;
  Tensor clone() const;
  // True when no other Tensor shares this buffer (so a kernel may overwrite it).
  bool unique() const { return buffer_.use_count() == 1; }
  bool shares_buffer_with(const Tensor& o) const { return buffer_ == o.buffer_; }

  // Elementwise equality of dtype, shape and values.
  bool equals(const Tensor& o) const;
  std::string to_string(int64_t max_elements = 64) const;

 private:
  friend class StringTensorWriter;
  // An uninitialized buffer of `bytes` for dtype and shape, bounded by max_tensor_bytes.
  static Tensor allocate(DType dtype, const Shape& shape, int64_t num_elements, int64_t bytes);
  void check_dtype(DType want) const;
  int64_t offset_of(std::initializer_list<int64_t> index) const;

  DType dtype_ = DType::kInvalid;
  Shape shape_;
  int64_t num_elements_ = 0;
  std::shared_ptr<Buffer> buffer_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Builds a string tensor from data whose total size is known first (a file's lengths, a proto):
// the constructor checks the whole size against max_tensor_bytes before anything is copied.
//
//   StringTensorWriter w(Shape{2}, /*total_chars=*/3);
//   w.append("a"); w.append("bc");
//   Tensor t = std::move(w).finish();
class StringTensorWriter {
 public:
  // ResourceExhausted when the tensor would exceed max_tensor_bytes; InvalidArgument for a
  // negative total_chars or a shape that is not fully defined.
  StringTensorWriter(const Shape& shape, int64_t total_chars);
  // The next element; InvalidArgument when the elements or the bytes would exceed the declared
  // ones.
  void append(std::string_view s);
  // InvalidArgument unless exactly the declared elements and bytes were appended.
  Tensor finish() &&;

 private:
  Tensor t_;
  int64_t total_chars_;
  int64_t next_ = 0;
  int64_t chars_ = 0;
};

// The elements of an int32 or int64 tensor (a shape, axes or dims given as a tensor) as int64;
// InvalidArgument naming `what` for any other dtype.
SmallVector<int64_t, Shape::kInline> int_values(const Tensor& t, std::string_view what);

}  // namespace fg
