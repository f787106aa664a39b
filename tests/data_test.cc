#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/mnist.h"
#include "tests/test_util.h"

namespace fg {
namespace {

std::string write_temp(const std::string& name, const std::vector<unsigned char>& bytes) {
  const auto path = std::filesystem::temp_directory_path() / ("fg_data_test_" + name);
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return path.string();
}

std::vector<unsigned char> idx_images(int n, int rows, int cols) {
  std::vector<unsigned char> b = {0, 0, 8, 3, 0, 0, 0, (unsigned char)n, 0, 0, 0, (unsigned char)rows,
                                  0, 0, 0, (unsigned char)cols};
  for (int i = 0; i < n * rows * cols; ++i) b.push_back(static_cast<unsigned char>(i));
  return b;
}

TEST(Data, ReadsIdxImagesAndLabels) {
  const auto imgs = data::read_idx_images(write_temp("ok3", idx_images(2, 2, 3)));
  EXPECT_EQ(imgs.shape(), Shape({2, 2, 3}));
  EXPECT_EQ(imgs.data<uint8_t>()[7], 7);
  const auto labels = data::read_idx_labels(write_temp("ok1", {0, 0, 8, 1, 0, 0, 0, 3, 4, 5, 6}));
  EXPECT_EQ(labels.to_vector<uint8_t>(), (std::vector<uint8_t>{4, 5, 6}));
}

TEST(Data, TruncatedOrCorruptFilesAreDataLossNamingTheFile) {
  auto truncated = idx_images(2, 2, 3);
  truncated.pop_back();
  const auto p1 = write_temp("trunc", truncated);
  try {
    data::read_idx_images(p1);
    FAIL();
  } catch (const DataLoss& e) {
    EXPECT_NE(std::string(e.what()).find(p1), std::string::npos) << e.what();
  }
  auto bad_magic = idx_images(1, 1, 1);
  bad_magic[3] = 1;
  EXPECT_THROW(data::read_idx_images(write_temp("magic", bad_magic)), DataLoss);
  EXPECT_THROW(data::read_idx_images(write_temp("empty", {})), DataLoss);
  EXPECT_THROW(data::read_idx_images(write_temp("short", {0, 0, 8, 3, 0})), DataLoss);
  EXPECT_THROW(data::read_idx_images("/nonexistent/fg/file"), NotFound);
}

TEST(Data, ShuffleBatchSplitsLikeNumpyArraySplit) {
  Tensor x = Tensor::empty(f32, {10, 2});
  Tensor y = Tensor::empty(i32, {10});
  for (int i = 0; i < 10; ++i) {
    x.data<float>()[2 * i] = float(i);
    x.data<float>()[2 * i + 1] = float(-i);
    y.data<int32_t>()[i] = i;
  }
  RandomEngine rng(1);
  auto batches = data::shuffle_batch(x, y, 3, rng);  // 10 // 3 = 3 batches: sizes 4, 3, 3
  EXPECT_EQ(batches.num_batches(), 3);
  std::vector<int64_t> sizes;
  std::vector<int> seen(10, 0);
  for (auto& [xb, yb] : batches) {
    sizes.push_back(yb.num_elements());
    for (int64_t i = 0; i < yb.num_elements(); ++i) {
      const int label = yb.data<int32_t>()[i];
      ++seen[label];
      EXPECT_EQ(xb.data<float>()[2 * i], float(label));  // rows stay paired with their labels
      EXPECT_EQ(xb.data<float>()[2 * i + 1], float(-label));
    }
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 3, 3}));
  for (int c : seen) EXPECT_EQ(c, 1);
}

// Data-parallel shards: with the same seed, the shards' parts of each batch, in shard order, are
// exactly the unsharded batch (every epoch, since each shard draws the same random numbers).
TEST(Data, ShardsOfABatchMakeUpTheUnshardedBatch) {
  Tensor x = Tensor::empty(f32, {23, 1}), y = Tensor::empty(i32, {23});
  for (int i = 0; i < 23; ++i) {
    x.data<float>()[i] = float(i);
    y.data<int32_t>()[i] = i;
  }
  for (int64_t count : {1, 2, 3}) {
    RandomEngine whole_rng(7);
    std::vector<RandomEngine> shard_rngs(count, RandomEngine(7));
    for (int epoch = 0; epoch < 2; ++epoch) {
      auto whole = data::shuffle_batch(x, y, 5, whole_rng);  // 23 // 5 = 4 batches: 6, 6, 6, 5
      std::vector<data::ShuffleBatch> shards;
      for (int64_t s = 0; s < count; ++s) shards.push_back(data::shuffle_batch(x, y, 5, shard_rngs[s], {s, count}));
      for (int64_t b = 0; b < whole.num_batches(); ++b) {
        std::vector<int32_t> joined;
        for (auto& shard : shards) {
          ASSERT_EQ(shard.num_batches(), whole.num_batches());
          auto it = shard.begin();
          for (int64_t i = 0; i < b; ++i) ++it;
          const auto& [xb, yb] = *it;
          EXPECT_GE(yb.num_elements(), 5 / count);
          for (int64_t i = 0; i < yb.num_elements(); ++i) EXPECT_EQ(xb.data<float>()[i], float(yb.data<int32_t>()[i]));
          for (int32_t v : yb.flat<int32_t>()) joined.push_back(v);
        }
        auto it = whole.begin();
        for (int64_t i = 0; i < b; ++i) ++it;
        EXPECT_EQ(joined, (*it).second.to_vector<int32_t>()) << "count " << count << " epoch " << epoch << " batch " << b;
      }
    }
  }
  RandomEngine rng(1);
  EXPECT_THROW(data::shuffle_batch(x, y, 5, rng, {2, 2}), InvalidArgument);
  EXPECT_THROW(data::shuffle_batch(x, y, 5, rng, {0, 0}), InvalidArgument);
  EXPECT_THROW(data::shuffle_batch(x, y, 2, rng, {0, 3}), InvalidArgument);  // a shard would be empty
}

TEST(Data, ShuffleIsSeededAndVaries) {
  auto order = [](uint64_t seed, int epochs) {
    RandomEngine rng(seed);
    Tensor x = Tensor::empty(f32, {50, 1}), y = Tensor::empty(i32, {50});
    for (int i = 0; i < 50; ++i) y.data<int32_t>()[i] = i;
    std::vector<int32_t> out;
    for (int e = 0; e < epochs; ++e)
      for (auto& [xb, yb] : data::shuffle_batch(x, y, 10, rng))
        for (int32_t v : yb.flat<int32_t>()) out.push_back(v);
    return out;
  };
  EXPECT_EQ(order(5, 2), order(5, 2));
  EXPECT_NE(order(5, 2), order(6, 2));
  auto two = order(5, 2);
  EXPECT_NE(std::vector<int32_t>(two.begin(), two.begin() + 50), std::vector<int32_t>(two.begin() + 50, two.end()));
}

// The old loader scaled every pixel as static_cast<float>(p) / 255.0f into a float32 split; the
// reference below is that expression.
float old_scale(uint8_t p) { return static_cast<float>(p) / 255.0f; }

bool bits_equal(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// uint8 [256, 3]: row r holds r, 255 - r, (7 r) mod 256, so every byte value appears.
Tensor all_bytes_u8() {
  Tensor t = Tensor::empty(u8, {256, 3});
  for (int r = 0; r < 256; ++r) {
    t.data<uint8_t>()[3 * r] = static_cast<uint8_t>(r);
    t.data<uint8_t>()[3 * r + 1] = static_cast<uint8_t>(255 - r);
    t.data<uint8_t>()[3 * r + 2] = static_cast<uint8_t>((7 * r) % 256);
  }
  return t;
}

TEST(Data, GatherRowsScalesUint8ExactlyLikeTheOldFloatPath) {
  const Tensor x = all_bytes_u8();
  RandomEngine rng(3);
  const std::vector<int64_t> perm = rng.permutation(256);
  const Tensor xb = data::gather_rows(x, perm, 10, 210);
  ASSERT_EQ(xb.dtype(), f32);
  EXPECT_EQ(xb.shape(), Shape({200, 3}));
  for (int64_t i = 0; i < 200; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      const uint8_t p = x.data<uint8_t>()[perm[10 + i] * 3 + j];
      EXPECT_TRUE(bits_equal(xb.data<float>()[i * 3 + j], old_scale(p))) << "pixel " << int(p);
    }
  // The same floats as converting the whole split first and gathering float rows.
  const Tensor via_float = data::gather_rows(data::to_float_images(x), perm, 10, 210);
  ASSERT_EQ(via_float.dtype(), f32);
  EXPECT_EQ(std::memcmp(xb.raw_data(), via_float.raw_data(), xb.num_bytes()), 0);
  // The ends of the range are exact.
  const Tensor ends = data::gather_rows(x, {0, 255}, 0, 2);
  EXPECT_EQ(ends.to_vector<float>(), (std::vector<float>{0.0f, 1.0f, 0.0f, 1.0f, 0.0f, old_scale(249)}));
}

TEST(Data, GatherRowsCopiesFloatAndIntRowsAsTheyAre) {
  Tensor x = Tensor::empty(f32, {4, 2, 2});  // rows of any shape: the first dim indexes them
  for (int i = 0; i < 16; ++i) x.data<float>()[i] = 0.5f * float(i) - 3.0f;
  const Tensor xb = data::gather_rows(x, {3, 1, 0, 2}, 1, 3);
  ASSERT_EQ(xb.dtype(), f32);
  EXPECT_EQ(xb.shape(), Shape({2, 2, 2}));
  EXPECT_EQ(xb.to_vector<float>(), (std::vector<float>{-1.0f, -0.5f, 0.0f, 0.5f, -3.0f, -2.5f, -2.0f, -1.5f}));
  const Tensor y = Tensor::from_vector<int32_t>({10, 11, 12, 13});
  const Tensor yb = data::gather_rows(y, {3, 1, 0, 2}, 0, 4);
  ASSERT_EQ(yb.dtype(), i32);
  EXPECT_EQ(yb.to_vector<int32_t>(), (std::vector<int32_t>{13, 11, 10, 12}));
}

TEST(Data, ShuffleBatchOfUint8ImagesGivesFloatBatches) {
  const Tensor x = all_bytes_u8();
  Tensor y = Tensor::empty(i32, {256});
  for (int i = 0; i < 256; ++i) y.data<int32_t>()[i] = i;
  RandomEngine rng(9);
  int64_t rows = 0;
  for (auto& [xb, yb] : data::shuffle_batch(x, y, 50, rng)) {  // 256 // 50 = 5 batches: 52, 51, 51, 51, 51
    ASSERT_EQ(xb.dtype(), f32);
    ASSERT_EQ(xb.dim(0), yb.dim(0));
    EXPECT_EQ(xb.dim(1), 3);
    for (int64_t i = 0; i < yb.num_elements(); ++i) {
      const int r = yb.data<int32_t>()[i];  // rows stay paired with their labels
      EXPECT_TRUE(bits_equal(xb.data<float>()[3 * i], old_scale(static_cast<uint8_t>(r))));
      EXPECT_TRUE(bits_equal(xb.data<float>()[3 * i + 1], old_scale(static_cast<uint8_t>(255 - r))));
      EXPECT_TRUE(bits_equal(xb.data<float>()[3 * i + 2], old_scale(static_cast<uint8_t>((7 * r) % 256))));
    }
    rows += yb.num_elements();
  }
  EXPECT_EQ(rows, 256);
}

TEST(Data, ToFloatImages) {
  const Tensor x = all_bytes_u8().reshaped({16, 16, 3});
  const Tensor f = data::to_float_images(x);
  ASSERT_EQ(f.dtype(), f32);
  EXPECT_EQ(f.shape(), Shape({16, 16, 3}));
  for (int64_t i = 0; i < x.num_elements(); ++i)
    EXPECT_TRUE(bits_equal(f.data<float>()[i], old_scale(x.data<uint8_t>()[i]))) << i;
  // float32 images are already scaled: returned as they are, sharing the buffer.
  EXPECT_EQ(data::to_float_images(f).raw_data(), f.raw_data());
  const Tensor empty = data::to_float_images(Tensor::empty(u8, {0, 784}));
  EXPECT_EQ(empty.dtype(), f32);
  EXPECT_EQ(empty.shape(), Shape({0, 784}));
  EXPECT_THROW(data::to_float_images(Tensor::from_vector<int32_t>({1, 2})), InvalidArgument);
}

// A small MNIST directory: `n_train` training and `n_test` test images of 2 x 3 pixels, pixel k of
// image i = (i + k) mod 256, label i mod 10.
std::string write_small_mnist(const std::string& name, int n_train, int n_test) {
  const auto dir = std::filesystem::temp_directory_path() / ("fg_data_test_" + name);
  std::filesystem::create_directories(dir);
  auto be32 = [](std::vector<unsigned char>& b, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>(v >> s));
  };
  auto write = [&](const std::string& file, int n, bool images) {
    std::vector<unsigned char> b = {0, 0, 8, static_cast<unsigned char>(images ? 3 : 1)};
    be32(b, n);
    if (images) {
      be32(b, 2);
      be32(b, 3);
    }
    for (int i = 0; i < n; ++i)
      if (images)
        for (int k = 0; k < 6; ++k) b.push_back(static_cast<unsigned char>((i + k) % 256));
      else
        b.push_back(static_cast<unsigned char>(i % 10));
    std::ofstream(dir / file, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), b.size());
  };
  write("train-images-idx3-ubyte", n_train, true);
  write("train-labels-idx1-ubyte", n_train, false);
  write("t10k-images-idx3-ubyte", n_test, true);
  write("t10k-labels-idx1-ubyte", n_test, false);
  return dir.string();
}

// Splits larger than the loader's staging buffer (2,048 images), so the chunked reads are covered.
TEST(Data, LoadMnistKeepsTrainUint8AndScalesValidationAndTest) {
  const std::string dir = write_small_mnist("small", 7000, 2500);
  const auto m = data::load_mnist(dir, 2100);
  ASSERT_EQ(m.train.images.dtype(), u8);
  EXPECT_EQ(m.train.images.shape(), Shape({4900, 6}));
  ASSERT_EQ(m.validation.images.dtype(), f32);
  EXPECT_EQ(m.validation.images.shape(), Shape({2100, 6}));
  ASSERT_EQ(m.test.images.dtype(), f32);
  EXPECT_EQ(m.test.images.shape(), Shape({2500, 6}));
  EXPECT_EQ(m.train.size(), 4900);
  EXPECT_EQ(m.validation.size(), 2100);
  EXPECT_EQ(m.test.size(), 2500);
  for (int i = 0; i < 4900; ++i) {
    const int src = 2100 + i;
    ASSERT_EQ(m.train.labels.data<int32_t>()[i], src % 10);
    for (int k = 0; k < 6; ++k) ASSERT_EQ(m.train.images.data<uint8_t>()[6 * i + k], (src + k) % 256) << i;
  }
  for (int i = 0; i < 2100; ++i) {
    ASSERT_EQ(m.validation.labels.data<int32_t>()[i], i % 10);
    for (int k = 0; k < 6; ++k)
      ASSERT_TRUE(bits_equal(m.validation.images.data<float>()[6 * i + k], old_scale(static_cast<uint8_t>((i + k) % 256)))) << i;
  }
  for (int i = 0; i < 2500; ++i) {
    ASSERT_EQ(m.test.labels.data<int32_t>()[i], i % 10);
    for (int k = 0; k < 6; ++k)
      ASSERT_TRUE(bits_equal(m.test.images.data<float>()[6 * i + k], old_scale(static_cast<uint8_t>((i + k) % 256)))) << i;
  }
  // No validation split, and the whole training set as validation.
  const auto all_train = data::load_mnist(dir, 0);
  EXPECT_EQ(all_train.train.images.shape(), Shape({7000, 6}));
  EXPECT_EQ(all_train.validation.images.shape(), Shape({0, 6}));
  const auto all_valid = data::load_mnist(dir, 7000);
  EXPECT_EQ(all_valid.train.images.shape(), Shape({0, 6}));
  EXPECT_EQ(all_valid.validation.images.shape(), Shape({7000, 6}));
  EXPECT_THROW(data::load_mnist(dir, 7001), InvalidArgument);
  std::filesystem::remove_all(dir);
}

TEST(Data, RealMnistSplitsLikeTheSeed) {
  const std::string dir = testing::mnist_dir();
  if (dir.empty()) {
    if (std::getenv("FG_REQUIRE_MNIST")) FAIL() << "MNIST is required but not installed";
    GTEST_SKIP() << "MNIST not installed (scripts/get_mnist.sh)";
  }
  const auto m = data::load_mnist(dir);
  EXPECT_EQ(m.train.images.dtype(), u8);
  EXPECT_EQ(m.train.images.shape(), Shape({55000, 784}));
  EXPECT_EQ(m.validation.images.dtype(), f32);
  EXPECT_EQ(m.validation.images.shape(), Shape({5000, 784}));
  EXPECT_EQ(m.test.images.dtype(), f32);
  EXPECT_EQ(m.test.images.shape(), Shape({10000, 784}));
  EXPECT_EQ(m.validation.labels.data<int32_t>()[0], 5);  // the first MNIST training label
  uint8_t mx = 0;
  for (uint8_t v : m.train.images.flat<uint8_t>()) mx = std::max(mx, v);
  EXPECT_EQ(mx, 255);
  float fmx = 0;
  for (float v : m.validation.images.flat<float>()) fmx = std::max(fmx, v);
  EXPECT_EQ(fmx, 1.0f);
  // Each split holds its rows of the raw file, scaled as the old loader did.
  const Tensor raw = data::read_idx_images(dir + "/train-images-idx3-ubyte");
  const uint8_t* r = raw.data<uint8_t>();
  EXPECT_EQ(std::memcmp(m.train.images.raw_data(), r + 5000 * 784, 55000 * 784), 0);
  int mismatches = 0;
  for (int64_t i = 0; i < 5000 * 784; ++i) mismatches += !bits_equal(m.validation.images.data<float>()[i], old_scale(r[i]));
  EXPECT_EQ(mismatches, 0);
  // A batch of the training set is float32 [n, 784] in [0, 1].
  const Tensor xb = data::gather_rows(m.train.images, {0, 54999}, 0, 2);
  EXPECT_EQ(xb.dtype(), f32);
  EXPECT_EQ(xb.shape(), Shape({2, 784}));
  EXPECT_TRUE(bits_equal(xb.data<float>()[784 + 300], old_scale(r[(5000 + 54999) * 784 + 300])));
}

}  // namespace
}  // namespace fg
