#include "data/mnist.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "core/parallel.h"

namespace fg::data {

namespace {

uint32_t read_be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// The one pixel scaling every path shares (load_mnist, to_float_images, gather_rows), so they all
// give the same floats: a correctly rounded division, as the chapter's X / 255.0 cast to float32.
inline void scale_pixels(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]) / 255.0f;
}

void scale_pixels_parallel(const uint8_t* src, float* dst, int64_t n) {
  parallel_for(n, 1, [&](int64_t b, int64_t e) { scale_pixels(src + b, dst + b, e - b); });
}

// An IDX file with its header checked: magic (0, 0, type 0x08 = ubyte, rank), then rank big-endian
// dims, then exactly prod(dims) bytes. Items (slices along the first dim) are read on demand
// straight into the caller's memory, so a large file never needs a second full-size buffer.
class IdxFile {
 public:
  IdxFile(const std::string& path, int want_rank) : path_(path), f_(path, std::ios::binary) {
    FG_CHECK(f_, NotFound, "MNIST: cannot open '", path, "'");
    f_.seekg(0, std::ios::end);
    const std::streamoff end = f_.tellg();
    FG_CHECK(f_ && end >= 0, DataLoss, "MNIST: error reading '", path, "'");
    const auto size = static_cast<size_t>(end);
    f_.seekg(0);
    unsigned char head[4 + 4 * 3] = {};
    const size_t header = 4 + 4 * static_cast<size_t>(want_rank);
    read_at(0, head, std::min(size, header));
    FG_CHECK(size >= 4, DataLoss, "MNIST: '", path, "' is truncated (", size, " bytes, no IDX header)");
    FG_CHECK(head[0] == 0 && head[1] == 0 && head[2] == 0x08 && head[3] == want_rank, DataLoss, "MNIST: '", path,
             "' has bad magic number 0x", std::hex, read_be32(head), std::dec, "; expected 0x0000080", want_rank,
             " (unsigned bytes, rank ", want_rank, ")");
    FG_CHECK(size >= header, DataLoss, "MNIST: '", path, "' is truncated inside its header");
    for (int i = 0; i < want_rank; ++i) dims_.push_back(read_be32(head + 4 + 4 * i));
    // The header's size is checked against the file's before anything is allocated for it.
    const int64_t n = checked_num_elements(dims_, str_cat("MNIST: '", path, "' header"));
    FG_CHECK(size - header == static_cast<uint64_t>(n), DataLoss, "MNIST: '", path, "' should hold ", n,
             " bytes of data after its header for shape ", Shape(dims_), " but holds ", size - header);
    header_ = static_cast<int64_t>(header);
    item_bytes_ = checked_num_elements(std::span(dims_).subspan(1), str_cat("MNIST: '", path, "' header"));
  }

  const std::vector<int64_t>& dims() const { return dims_; }
  int64_t count() const { return dims_[0]; }
  int64_t item_bytes() const { return item_bytes_; }  // bytes per item: prod(dims[1:])

  // Items [begin, begin + n) into dst (n * item_bytes() bytes).
  void read_items(int64_t begin, int64_t n, void* dst) {
    read_at(header_ + begin * item_bytes_, dst, static_cast<size_t>(n * item_bytes_));
  }

 private:
  void read_at(int64_t offset, void* dst, size_t bytes) {
    if (bytes == 0) return;
    f_.seekg(offset);
    f_.read(static_cast<char*>(dst), static_cast<std::streamsize>(bytes));
    FG_CHECK(f_ && static_cast<size_t>(f_.gcount()) == bytes, DataLoss, "MNIST: error reading '", path_, "'");
  }

  std::string path_;
  std::ifstream f_;
  std::vector<int64_t> dims_;
  int64_t header_ = 0, item_bytes_ = 0;
};

Tensor read_idx(const std::string& path, int want_rank) {
  IdxFile file(path, want_rank);
  Tensor t = Tensor::empty(u8, Shape(file.dims()));
  file.read_items(0, file.count(), t.raw_data());
  return t;
}

// Images [begin, end) of `file` as uint8 [n, pixels], read straight into the tensor. Zero-filled
// first (a memset of a few ms) rather than Tensor::empty, so the pages are first touched from user
// space here: filled by the kernel's read() alone, their first user access fell in the first
// training epoch's random gathers instead, measured +0.05-0.1 s on that epoch (plain200, 2-core VM).
Tensor read_images_u8(IdxFile& file, int64_t begin, int64_t end) {
  Tensor t(u8, {end - begin, file.item_bytes()});
  file.read_items(begin, end - begin, t.raw_data());
  return t;
}

// Images [begin, end) of `file` as float32 [n, pixels] / 255, read through a small staging buffer
// (a few thousand images at a time) rather than a full-size uint8 copy.
Tensor read_images_f32(IdxFile& file, int64_t begin, int64_t end) {
  const int64_t pixels = file.item_bytes(), chunk = 2048;
  Tensor t = Tensor::empty(f32, {end - begin, pixels});
  std::vector<uint8_t> staging(static_cast<size_t>(std::min(end - begin, chunk) * pixels));
  for (int64_t b = begin; b < end; b += chunk) {
    const int64_t n = std::min(chunk, end - b);
    file.read_items(b, n, staging.data());
    scale_pixels_parallel(staging.data(), t.data<float>() + (b - begin) * pixels, n * pixels);
  }
  return t;
}

Tensor labels_i32(const Tensor& labels, int64_t begin, int64_t end) {
  Tensor t = Tensor::empty(i32, {end - begin});
  for (int64_t i = 0; i < end - begin; ++i) t.data<int32_t>()[i] = labels.data<uint8_t>()[begin + i];
  return t;
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
  IdxFile train_x(dir + "/train-images-idx3-ubyte", 3);
  const Tensor train_y = read_idx_labels(dir + "/train-labels-idx1-ubyte");
  IdxFile test_x(dir + "/t10k-images-idx3-ubyte", 3);
  const Tensor test_y = read_idx_labels(dir + "/t10k-labels-idx1-ubyte");
  FG_CHECK(train_x.count() == train_y.dim(0), DataLoss, "MNIST: '", dir, "' has ", train_x.count(),
           " training images but ", train_y.dim(0), " labels");
  FG_CHECK(test_x.count() == test_y.dim(0), DataLoss, "MNIST: '", dir, "' has ", test_x.count(), " test images but ",
           test_y.dim(0), " labels");
  FG_CHECK(validation_size >= 0 && validation_size <= train_x.count(), InvalidArgument,
           "MNIST: validation_size ", validation_size, " out of range [0, ", train_x.count(), "]");
  const int64_t n_train = train_x.count(), n_test = test_x.count();
  Mnist m;
  m.validation = {read_images_f32(train_x, 0, validation_size), labels_i32(train_y, 0, validation_size)};
  m.train = {read_images_u8(train_x, validation_size, n_train), labels_i32(train_y, validation_size, n_train)};
  m.test = {read_images_f32(test_x, 0, n_test), labels_i32(test_y, 0, n_test)};
  return m;
}

Tensor to_float_images(const Tensor& images) {
  if (images.dtype() == f32) return images;
  FG_CHECK(images.dtype() == u8, InvalidArgument, "to_float_images: expected uint8 or float32 images, got ",
           dtype_name(images.dtype()));
  Tensor out = Tensor::empty(f32, images.shape());
  scale_pixels_parallel(images.data<uint8_t>(), out.data<float>(), images.num_elements());
  return out;
}

// Calls copy_row(source row, i) for rows indices[begin + i] of a source whose rows are
// `row_bytes` apart. Rows come from random places in a dataset larger than the L3, so a gather is
// bound by memory latency: each row is requested a few iterations before it is copied, which
// overlaps the misses (kernels_bench BM_GatherBatch; bench/README.md).
// parallel_for splits rows evenly, like the first layer's GEMM does, so each core gathers the
// rows it will multiply.
constexpr int64_t kPrefetchRows = 4;
constexpr int64_t kGatherCostPerByte = 4;

template <typename CopyRow>
void gather_prefetched(const char* src, int64_t row_bytes, const std::vector<int64_t>& indices, int64_t begin,
                       int64_t end, CopyRow&& copy_row) {
  parallel_for(end - begin, row_bytes * kGatherCostPerByte, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      if (i + kPrefetchRows < e) {
        const char* ahead = src + indices[begin + i + kPrefetchRows] * row_bytes;
        for (int64_t off = 0; off < row_bytes; off += 64) __builtin_prefetch(ahead + off);
      }
      copy_row(src + indices[begin + i] * row_bytes, i);
    }
  });
}

Tensor gather_rows(const Tensor& x, const std::vector<int64_t>& indices, int64_t begin, int64_t end) {
  Shape dims = x.shape();  // dims inline: gathering a batch allocates only the batch's buffer
  dims.set_dim(0, end - begin);
  const int64_t row = x.dim(0) == 0 ? 0 : x.num_elements() / x.dim(0);  // elements per row
  const char* src = static_cast<const char*>(x.raw_data());
  if (x.dtype() == u8) {  // images: gather and scale in one pass
    Tensor out = Tensor::empty(f32, dims);
    float* dst = out.data<float>();
    gather_prefetched(src, row, indices, begin, end, [&](const char* from, int64_t i) {
      scale_pixels(reinterpret_cast<const uint8_t*>(from), dst + i * row, row);
    });
    return out;
  }
  const int64_t row_bytes = row * static_cast<int64_t>(dtype_size(x.dtype()));
  Tensor out = Tensor::empty(x.dtype(), dims);
  char* dst = static_cast<char*>(out.raw_data());
  gather_prefetched(src, row_bytes, indices, begin, end,
                    [&](const char* from, int64_t i) { std::memcpy(dst + i * row_bytes, from, row_bytes); });
  return out;
}

ShuffleBatch::ShuffleBatch(Tensor x, Tensor y, int64_t batch_size, RandomEngine& rng, Shard shard)
    : x_(std::move(x)), y_(std::move(y)), shard_(shard) {
  FG_CHECK(batch_size > 0, InvalidArgument, "shuffle_batch: batch_size must be positive, got ", batch_size);
  FG_CHECK(x_.rank() >= 1 && y_.rank() >= 1 && x_.dim(0) == y_.dim(0), InvalidArgument,
           "shuffle_batch: X has shape ", x_.shape(), " but y has shape ", y_.shape());
  FG_CHECK(shard.count >= 1 && shard.index >= 0 && shard.index < shard.count, InvalidArgument,
           "shuffle_batch: shard ", shard.index, " of ", shard.count, " does not exist");
  FG_CHECK(batch_size >= shard.count, InvalidArgument, "shuffle_batch: a batch of ", batch_size,
           " cannot be split into ", shard.count, " shards of at least one row each");
  perm_ = rng.permutation(x_.dim(0));
  n_batches_ = x_.dim(0) / batch_size;
}

namespace {
// np.array_split of [0, n) into k parts: part b; the first (n % k) parts get one extra element.
std::pair<int64_t, int64_t> split_part(int64_t n, int64_t k, int64_t b) {
  const int64_t base = n / k, extra = n % k;
  const int64_t begin = b * base + std::min(b, extra);
  return {begin, begin + base + (b < extra ? 1 : 0)};
}
}  // namespace

std::pair<int64_t, int64_t> ShuffleBatch::batch_range(int64_t b) const {
  const auto [begin, end] = split_part(static_cast<int64_t>(perm_.size()), n_batches_, b);
  const auto [part_begin, part_end] = split_part(end - begin, shard_.count, shard_.index);
  return {begin + part_begin, begin + part_end};
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
