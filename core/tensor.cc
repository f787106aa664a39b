#include "core/tensor.h"

#include <cstdlib>
#include <sstream>

#include "core/allocator.h"

namespace fg {

namespace {

// Hands std::allocate_shared one cached block of Buffer::kHeaderBytes + the tensor's bytes for its
// control block (which holds the Buffer) and the data after it.
template <class U>
struct TensorBlockAllocator {
  using value_type = U;
  size_t data_bytes;
  explicit TensorBlockAllocator(size_t bytes) : data_bytes(bytes) {}
  template <class V>
  TensorBlockAllocator(const TensorBlockAllocator<V>& o) : data_bytes(o.data_bytes) {}  // NOLINT: rebinding
  U* allocate(size_t n) {
    FG_CHECK(n * sizeof(U) <= Buffer::kHeaderBytes, Internal, "Tensor: a control block of ", n * sizeof(U),
             " bytes does not fit the buffer header");
    return static_cast<U*>(allocate_buffer(Buffer::kHeaderBytes + data_bytes));
  }
  void deallocate(U* p, size_t) { deallocate_buffer(p, Buffer::kHeaderBytes + data_bytes); }
  template <class V>
  bool operator==(const TensorBlockAllocator<V>& o) const { return data_bytes == o.data_bytes; }
};

}  // namespace

// The block starts at the 64-byte boundary at or before this (the control block is smaller than
// the header), and the data right after the header.
Buffer::Buffer(Key, size_t bytes)
    : data_(reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(this) / kHeaderBytes * kHeaderBytes) + kHeaderBytes),
      size_(bytes) {}

namespace {

// TF's DataTypeString, for its OOM wording.
const char* tf_type_name(DType t) {
  switch (t) {
    case DType::kFloat: return "float";
    case DType::kDouble: return "double";
    case DType::kInt32: return "int32";
    case DType::kUInt8: return "uint8";
    case DType::kInt64: return "int64";
    case DType::kBool: return "bool";
    case DType::kString: return "string";
    default: return "invalid";
  }
}

[[noreturn]] void throw_oom(DType dtype, const Shape& shape, const std::string& why) {
  throw ResourceExhausted(str_cat("OOM when allocating tensor with shape", shape, " and type ", tf_type_name(dtype),
                                  " on /device:CPU:0: ", why));
}

}  // namespace

// A string tensor's buffer: each element's end offset, then the elements' bytes back to back.
using StringOffset = uint64_t;

Tensor Tensor::allocate(DType dtype, const Shape& shape, int64_t n, int64_t bytes) {
  const int64_t limit = max_tensor_bytes();
  // The one size check of every tensor allocation (checked again, with the header, by
  // allocate_buffer).
  if (bytes > limit - static_cast<int64_t>(Buffer::kHeaderBytes))
    throw_oom(dtype, shape, str_cat(bytes, " bytes, more than the limit of ", limit,
                                    " bytes (max_tensor_bytes: physical memory, or $FG_MAX_TENSOR_BYTES)"));
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = shape;
  t.num_elements_ = n;
  try {
    t.buffer_ = std::allocate_shared<Buffer>(TensorBlockAllocator<Buffer>(bytes), Buffer::Key(), bytes);
  } catch (const ResourceExhausted& e) {
    throw_oom(dtype, shape, e.what());
  }
  return t;
}

Tensor Tensor::empty(DType dtype, const Shape& shape) {
  const int64_t n = shape.num_elements();  // InvalidArgument when it overflows int64
  FG_CHECK(n >= 0, InvalidArgument, "Tensor: shape ", shape, " is not fully defined");
  const size_t elem = dtype == DType::kString ? sizeof(StringOffset) : dtype_size(dtype);
  FG_CHECK(elem > 0, InvalidArgument, "Tensor: invalid dtype ", dtype_name(dtype));
  int64_t bytes;
  if (__builtin_mul_overflow(n, static_cast<int64_t>(elem), &bytes))
    throw_oom(dtype, shape, str_cat(n, " elements of ", elem, " bytes overflow int64"));
  Tensor t = allocate(dtype, shape, n, bytes);
  if (dtype == DType::kString) std::memset(t.raw_data(), 0, bytes);  // all end offsets 0: empty strings
  return t;
}

Tensor::Tensor(DType dtype, const Shape& shape) : Tensor(empty(dtype, shape)) {
  std::memset(raw_data(), 0, num_bytes());
}

Tensor::Tensor(float v) : Tensor(empty(f32, {})) { *data<float>() = v; }
Tensor::Tensor(double v) : Tensor(empty(f64, {})) { *data<double>() = v; }
Tensor::Tensor(int32_t v) : Tensor(empty(i32, {})) { *data<int32_t>() = v; }
Tensor::Tensor(int64_t v) : Tensor(empty(i64, {})) { *data<int64_t>() = v; }
Tensor::Tensor(bool v) : Tensor(empty(boolean, {})) { *data<bool>() = v; }
Tensor::Tensor(const char* s) : Tensor(std::string_view(s)) {}
Tensor::Tensor(const std::string& s) : Tensor(std::string_view(s)) {}
Tensor::Tensor(std::string_view s) {
  StringTensorWriter w(Shape{}, static_cast<int64_t>(s.size()));
  w.append(s);
  *this = std::move(w).finish();
}

Tensor Tensor::from_strings(std::span<const std::string> values, const Shape& shape) {
  int64_t chars = 0;
  for (const std::string& v : values) chars += static_cast<int64_t>(v.size());  // each fits in memory: no overflow
  const int64_t n = shape.num_elements();
  FG_CHECK(static_cast<int64_t>(values.size()) == n, InvalidArgument, "Tensor::from_vector: ", values.size(),
           " values for shape ", shape);
  StringTensorWriter w(shape, chars);
  for (const std::string& v : values) w.append(v);
  return std::move(w).finish();
}

std::string_view Tensor::str(int64_t i) const {
  check_dtype(DType::kString);
  FG_CHECK(i >= 0 && i < num_elements_, OutOfRange, "Tensor::str: index ", i, " out of range for shape ", shape_);
  const auto* end = static_cast<const StringOffset*>(raw_data());
  const char* chars = static_cast<const char*>(raw_data()) + num_elements_ * sizeof(StringOffset);
  const StringOffset b = i == 0 ? 0 : end[i - 1];
  return {chars + b, static_cast<size_t>(end[i] - b)};
}

StringTensorWriter::StringTensorWriter(const Shape& shape, int64_t total_chars) : total_chars_(total_chars) {
  const int64_t n = shape.num_elements();
  FG_CHECK(n >= 0, InvalidArgument, "Tensor: shape ", shape, " is not fully defined");
  FG_CHECK(total_chars >= 0, InvalidArgument, "Tensor: ", total_chars, " bytes of strings");
  int64_t bytes;
  if (__builtin_mul_overflow(n, static_cast<int64_t>(sizeof(StringOffset)), &bytes) ||
      __builtin_add_overflow(bytes, total_chars, &bytes))
    throw_oom(DType::kString, shape, str_cat(n, " strings of ", total_chars, " bytes in all overflow int64"));
  t_ = Tensor::allocate(DType::kString, shape, n, bytes);
}

void StringTensorWriter::append(std::string_view s) {
  const int64_t n = t_.num_elements();
  FG_CHECK(next_ < n && static_cast<int64_t>(s.size()) <= total_chars_ - chars_, InvalidArgument,
           "string tensor of shape ", t_.shape(), " and ", total_chars_, " bytes: element ", next_, " of ", s.size(),
           " bytes does not fit");
  char* base = static_cast<char*>(t_.raw_data());
  std::memcpy(base + n * sizeof(StringOffset) + chars_, s.data(), s.size());
  chars_ += static_cast<int64_t>(s.size());
  reinterpret_cast<StringOffset*>(base)[next_++] = static_cast<StringOffset>(chars_);
}

Tensor StringTensorWriter::finish() && {
  FG_CHECK(next_ == t_.num_elements() && chars_ == total_chars_, InvalidArgument, "string tensor of shape ",
           t_.shape(), ": ", next_, " elements of ", chars_, " bytes written, ", t_.num_elements(), " of ",
           total_chars_, " declared");
  return std::move(t_);
}

void Tensor::check_dtype(DType want) const {
  FG_CHECK(dtype_ == want, InvalidArgument, "Tensor of dtype ", dtype_name(dtype_),
           " accessed as ", dtype_name(want));
}

int64_t Tensor::offset_of(std::initializer_list<int64_t> index) const {
  FG_CHECK(static_cast<int>(index.size()) == rank(), InvalidArgument, "Tensor::at: ", index.size(),
           " indices for shape ", shape_);
  int64_t off = 0;
  int i = 0;
  for (int64_t ix : index) {
    FG_CHECK(ix >= 0 && ix < shape_.dim(i), OutOfRange, "Tensor::at: index ", ix, " out of range for dim ",
             i, " of shape ", shape_);
    off = off * shape_.dim(i) + ix;
    ++i;
  }
  return off;
}

Tensor Tensor::reshaped(const Shape& shape) const {
  FG_CHECK(shape.is_fully_defined() && shape.num_elements() == num_elements_, InvalidArgument,
           "Tensor::reshaped: cannot reshape ", shape_, " to ", shape);
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::clone() const {
  if (!valid()) return {};
  Tensor t = allocate(dtype_, shape_, num_elements_, static_cast<int64_t>(num_bytes()));
  std::memcpy(t.raw_data(), raw_data(), num_bytes());
  return t;
}

bool Tensor::equals(const Tensor& o) const {
  if (valid() != o.valid()) return false;
  if (!valid()) return true;
  return dtype_ == o.dtype_ && shape_ == o.shape_ && num_bytes() == o.num_bytes() &&
         std::memcmp(raw_data(), o.raw_data(), num_bytes()) == 0;
}

std::string Tensor::to_string(int64_t max_elements) const {
  if (!valid()) return "Tensor(<empty>)";
  std::ostringstream os;
  const int r = rank();
  // block[d]: elements spanned by one bracket at depth d.
  std::vector<int64_t> block(r, 1);
  for (int d = r - 1; d >= 0; --d) block[d] = shape_.dim(d) * (d + 1 < r ? block[d + 1] : 1);
  const auto print = [&](auto&& element) {
    const int64_t n = std::min(num_elements_, max_elements);
    if (num_elements_ == 0) {
      for (int d = 0; d < r; ++d) os << "[";
      for (int d = 0; d < r; ++d) os << "]";
      return;
    }
    for (int64_t k = 0; k < n; ++k) {
      for (int d = 0; d < r; ++d) if (k % block[d] == 0) os << "[";
      element(k);
      int closed = 0;
      for (int d = r - 1; d >= 0; --d) if ((k + 1) % block[d] == 0) { os << "]"; ++closed; }
      if (k + 1 < n) {
        if (closed) os << '\n' << std::string(r - closed, ' ');
        else os << ' ';
      }
    }
    if (n < num_elements_) os << " ...";
  };
  if (dtype_ == DType::kString) {
    print([&](int64_t k) { os << '"' << str(k) << '"'; });
    return os.str();
  }
  dispatch_all(dtype_, "Tensor::to_string", [&]<typename T>() {
    const T* p = data<T>();
    print([&](int64_t k) {
      if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, bool>) os << static_cast<int>(p[k]);
      else os << p[k];
    });
  });
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.to_string(); }

SmallVector<int64_t, Shape::kInline> int_values(const Tensor& t, std::string_view what) {
  SmallVector<int64_t, Shape::kInline> v;
  if (t.dtype() == DType::kInt32) for (int32_t d : t.flat<int32_t>()) v.push_back(d);
  else if (t.dtype() == DType::kInt64) for (int64_t d : t.flat<int64_t>()) v.push_back(d);
  else throw InvalidArgument(str_cat(what, ": expected an int32 or int64 tensor, got ", dtype_name(t.dtype())));
  return v;
}

}  // namespace fg
