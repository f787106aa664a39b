#include <gtest/gtest.h>

#include <cstdio>
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

TEST(Data, RealMnistSplitsLikeTheSeed) {
  const std::string dir = testing::mnist_dir();
  if (dir.empty()) {
    if (std::getenv("FG_REQUIRE_MNIST")) FAIL() << "MNIST is required but not installed";
    GTEST_SKIP() << "MNIST not installed (scripts/get_mnist.sh)";
  }
  const auto m = data::load_mnist(dir);
  EXPECT_EQ(m.train.images.shape(), Shape({55000, 784}));
  EXPECT_EQ(m.validation.images.shape(), Shape({5000, 784}));
  EXPECT_EQ(m.test.images.shape(), Shape({10000, 784}));
  EXPECT_EQ(m.validation.labels.data<int32_t>()[0], 5);  // the first MNIST training label
  float mx = 0;
  for (float v : m.train.images.flat<float>()) mx = std::max(mx, v);
  EXPECT_EQ(mx, 1.0f);
}

}  // namespace
}  // namespace fg
