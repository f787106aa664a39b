#include "data/mnist.h"

#include <cstdlib>
#include <cstring>
#include <fstream>

#include "core/parallel.h"

namespace fg::data {

namespace {

uint32_t read_be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::vector<unsigned char> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  FG_CHECK(f, NotFound, "MNIST: cannot open '", path, "'");
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  FG_CHECK(!f.bad(), DataLoss, "MNIST: error reading '", path, "'");
  return bytes;
}

// Parses an IDX header: magic (0, 0, type 0x08 = ubyte, rank), then rank big-endian dims.
Tensor read_idx(const std::string& path, int want_rank) {
  const std::vector<unsigned char> b = read_file(path);
  FG_CHECK(b.size() >= 4, DataLoss, "MNIST: '", path, "' is truncated (", b.size(), " bytes, no IDX header)");
  FG_CHECK(b[0] == 0 && b[1] == 0 && b[2] == 0x08 && b[3] == want_rank, DataLoss, "MNIST: '", path,
           "' has bad magic number 0x", std::hex, read_be32(b.data()), std::dec, "; expected 0x0000080", want_rank,
           " (unsigned bytes, rank ", want_rank, ")");
  const size_t header = 4 + 4 * static_cast<size_t>(want_rank);
  FG_CHECK(b.size() >= header, DataLoss, "MNIST: '", path, "' is truncated inside its header");
  std::vector<int64_t> dims;
  int64_t n = 1;
  for (int i = 0; i < want_rank; ++i) {
    dims.push_back(read_be32(b.data() + 4 + 4 * i));
    n *= dims.back();
  }
  FG_CHECK(b.size() - header == static_cast<size_t>(n), DataLoss, "MNIST: '", path, "' should hold ", n,
           " bytes of data after its header for shape ", Shape(dims), " but holds ", b.size() - header);
  Tensor t = Tensor::empty(u8, Shape(dims));
  std::memcpy(t.raw_data(), b.data() + header, n);
  return t;
}

Split make_split(const Tensor& images, const Tensor& labels, int64_t begin, int64_t end) {
  const int64_t n = end - begin, pixels = images.num_elements() / std::max<int64_t>(images.dim(0), 1);
  Split s{Tensor::empty(f32, {n, pixels}), Tensor::empty(i32, {n})};
  const uint8_t* src = images.data<uint8_t>() + begin * pixels;
  float* dst = s.images.data<float>();
  parallel_for(n * pixels, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dst[i] = static_cast<float>(src[i]) / 255.0f;
  });
  for (int64_t i = 0; i < n; ++i) s.labels.data<int32_t>()[i] = labels.data<uint8_t>()[begin + i];
  return s;
}

}  // namespace

Tensor read_idx_images(const std::string& path) { return read_idx(path, 3); }
Tensor read_idx_labels(const std::string& path) { return read_idx(path, 1); }

std::string default_mnist_dir() {
  if (const char* d = std::getenv("FG_MNIST_DIR")) return d;
  if (const char* d = std::getenv("FG_DATA_DIR")) return std::string(d) + "/mnist";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.cache/flowgraph/mnist";
}

Mnist load_mnist(const std::string& dir, int64_t validation_size) {
  const Tensor train_x = read_idx_images(dir + "/train-images-idx3-ubyte");
  const Tensor train_y = read_idx_labels(dir + "/train-labels-idx1-ubyte");
  const Tensor test_x = read_idx_images(dir + "/t10k-images-idx3-ubyte");
  const Tensor test_y = read_idx_labels(dir + "/t10k-labels-idx1-ubyte");
  FG_CHECK(train_x.dim(0) == train_y.dim(0), DataLoss, "MNIST: '", dir, "' has ", train_x.dim(0),
           " training images but ", train_y.dim(0), " labels");
  FG_CHECK(test_x.dim(0) == test_y.dim(0), DataLoss, "MNIST: '", dir, "' has ", test_x.dim(0), " test images but ",
           test_y.dim(0), " labels");
  FG_CHECK(validation_size >= 0 && validation_size <= train_x.dim(0), InvalidArgument,
           "MNIST: validation_size ", validation_size, " out of range [0, ", train_x.dim(0), "]");
  Mnist m;
  m.validation = make_split(train_x, train_y, 0, validation_size);
  m.train = make_split(train_x, train_y, validation_size, train_x.dim(0));
  m.test = make_split(test_x, test_y, 0, test_x.dim(0));
  return m;
}

Tensor gather_rows(const Tensor& x, const std::vector<int64_t>& indices, int64_t begin, int64_t end) {
  std::vector<int64_t> dims = x.shape().dims();
  const int64_t row_bytes = x.dim(0) == 0 ? 0 : static_cast<int64_t>(x.num_bytes()) / x.dim(0);
  dims[0] = end - begin;
  Tensor out = Tensor::empty(x.dtype(), Shape(dims));
  const char* src = static_cast<const char*>(x.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  parallel_for(end - begin, row_bytes / 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) std::memcpy(dst + i * row_bytes, src + indices[begin + i] * row_bytes, row_bytes);
  });
  return out;
}

ShuffleBatch::ShuffleBatch(Tensor x, Tensor y, int64_t batch_size, RandomEngine& rng)
    : x_(std::move(x)), y_(std::move(y)) {
  FG_CHECK(batch_size > 0, InvalidArgument, "shuffle_batch: batch_size must be positive, got ", batch_size);
  FG_CHECK(x_.rank() >= 1 && y_.rank() >= 1 && x_.dim(0) == y_.dim(0), InvalidArgument,
           "shuffle_batch: X has shape ", x_.shape(), " but y has shape ", y_.shape());
  perm_ = rng.permutation(x_.dim(0));
  n_batches_ = x_.dim(0) / batch_size;
}

std::pair<int64_t, int64_t> ShuffleBatch::batch_range(int64_t b) const {
  // np.array_split: the first (n % k) parts get one extra element.
  const int64_t n = static_cast<int64_t>(perm_.size()), k = n_batches_;
  const int64_t base = n / k, extra = n % k;
  const int64_t begin = b * base + std::min(b, extra);
  return {begin, begin + base + (b < extra ? 1 : 0)};
}

ShuffleBatch::iterator::iterator(const ShuffleBatch* owner, int64_t batch) : owner_(owner), batch_(batch) {
  if (owner_ && batch_ < owner_->n_batches_) {
    auto [b, e] = owner_->batch_range(batch_);
    current_ = {gather_rows(owner_->x_, owner_->perm_, b, e), gather_rows(owner_->y_, owner_->perm_, b, e)};
  }
}

ShuffleBatch::iterator& ShuffleBatch::iterator::operator++() {
  *this = iterator(owner_, batch_ + 1);
  return *this;
}

}  // namespace fg::data
