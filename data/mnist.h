// MNIST (IDX files) the way the TF1 chapter prepares it: pixels / 255 as float32 [N, 784], int32
// labels, the first 5,000 training images held out for validation.
//
//   auto mnist = data::load_mnist(data::default_mnist_dir());
//   RandomEngine rng(42);
//   for (auto& [xb, yb] : data::shuffle_batch(mnist.train.images, mnist.train.labels, 200, rng)) ...
//
// Memory: the training images stay uint8 [N, 784] (43 MB instead of 172 MB as float32) and are
// scaled to float32 only as a batch is gathered, so `xb` above is float32 [200, 784] in [0, 1]
// exactly as if the whole split had been converted first. Validation and test are small and stay
// float32 [N, 784], ready to feed as they are. Code that needs the whole training set as float
// calls to_float_images(mnist.train.images). Loading reads each file straight into its split (no
// second full-size copy of the raw bytes).
//
// A truncated or corrupt file is a DataLoss naming the file; a missing one is NotFound.
#pragma once
#include <string>

#include "core/random.h"
#include "core/tensor.h"

namespace fg::data {

struct Split {
  Tensor images;  // train: uint8 [N, 784] raw pixels; validation, test: float32 [N, 784] in [0, 1]
  Tensor labels;  // int32 [N]
  int64_t size() const { return labels.valid() ? labels.num_elements() : 0; }
};

struct Mnist {
  Split train;             // images uint8: batch them with shuffle_batch / gather_rows
  Split validation, test;  // images float32: feed them directly
};

// uint8 [N, rows, cols] from an idx3 file (magic 0x00000803).
Tensor read_idx_images(const std::string& path);
// uint8 [N] from an idx1 file (magic 0x00000801).
Tensor read_idx_labels(const std::string& path);

// $FG_MNIST_DIR, else $FG_DATA_DIR/mnist, else ~/.cache/flowgraph/mnist.
std::string default_mnist_dir();
// Reads the four standard files (train-images-idx3-ubyte, ...) from `dir`.
Mnist load_mnist(const std::string& dir, int64_t validation_size = 5000);

// Pixels / 255 as float32, the shape kept: uint8 images (any shape) are converted, exactly as
// load_mnist scales validation and test; float32 images are returned as they are (sharing the
// buffer); any other dtype is InvalidArgument.
Tensor to_float_images(const Tensor& images);

// Rows `indices[begin, end)` of `x` gathered into a new tensor (the first dim indexes rows).
// uint8 `x` holds images: the rows come out as float32 pixels / 255 (gathered and converted in one
// pass, bit-identical to to_float_images then gathering). Other dtypes are copied as they are.
Tensor gather_rows(const Tensor& x, const std::vector<int64_t>& indices, int64_t begin, int64_t end);

// One of `count` equal parts of every batch, for data-parallel training: process `index` of
// `count` takes part `index` (np.array_split again), so that with the same seed on every process
// the parts of one step make up exactly the batch a single process would have taken.
struct Shard {
  int64_t index = 0;
  int64_t count = 1;
};

// The TF1 chapter's shuffle_batch: a fresh permutation, split into len(X) // batch_size nearly equal
// batches (np.array_split), gathered lazily one batch at a time with gather_rows (so uint8 images
// come out as float32 batches in [0, 1]). With a shard, each batch is that shard's part of it:
// the number of batches, and the random numbers drawn, do not depend on the shard.
class ShuffleBatch {
 public:
  ShuffleBatch(Tensor x, Tensor y, int64_t batch_size, RandomEngine& rng, Shard shard = {});
  class iterator {
   public:
    using value_type = std::pair<Tensor, Tensor>;
    const value_type& operator*() const { return current_; }
    iterator& operator++();
    bool operator!=(const iterator& o) const { return batch_ != o.batch_; }

   private:
    friend class ShuffleBatch;
    iterator(const ShuffleBatch* owner, int64_t batch);
    const ShuffleBatch* owner_;
    int64_t batch_;
    value_type current_;
  };
  iterator begin() const { return iterator(this, 0); }
  iterator end() const { return iterator(nullptr, n_batches_); }
  int64_t num_batches() const { return n_batches_; }
  // [begin, end) of batch b (of this shard's part of it) within the permutation.
  std::pair<int64_t, int64_t> batch_range(int64_t b) const;

 private:
  Tensor x_, y_;
  std::vector<int64_t> perm_;
  int64_t n_batches_;
  Shard shard_;
};

inline ShuffleBatch shuffle_batch(Tensor x, Tensor y, int64_t batch_size, RandomEngine& rng, Shard shard = {}) {
  return ShuffleBatch(std::move(x), std::move(y), batch_size, rng, shard);
}

}  // namespace fg::data
