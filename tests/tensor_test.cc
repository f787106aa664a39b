#include <gtest/gtest.h>

#include <stdexcept>

#include "core/random.h"
#include "core/tensor.h"

namespace fg {
namespace {

TEST(Tensor, ConstructsZeroFilledAndAligned) {
  Tensor t(f32, {3, 5});
  EXPECT_EQ(t.num_elements(), 15);
  EXPECT_EQ(t.num_bytes(), 60u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u);
  for (float v : t.flat<float>()) EXPECT_EQ(v, 0.0f);
}

TEST(Tensor, ScalarsAndVectors) {
  EXPECT_EQ(Tensor(2.5f).scalar<float>(), 2.5f);
  EXPECT_EQ(Tensor(int64_t{7}).dtype(), i64);
  EXPECT_EQ(Tensor(true).dtype(), boolean);
  auto v = Tensor::from_vector<int32_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(v.at<int32_t>({1, 2}), 6);
  EXPECT_THROW(v.at<int32_t>({2, 0}), OutOfRange);
  EXPECT_THROW(v.data<float>(), InvalidArgument);
  EXPECT_THROW(Tensor::from_vector<float>({1, 2, 3}, {2, 2}), InvalidArgument);
  EXPECT_THROW(v.scalar<int32_t>(), InvalidArgument);
}

TEST(Tensor, CopiesShareCloneCopies) {
  auto a = Tensor::from_vector<float>({1, 2});
  Tensor b = a;
  Tensor c = a.clone();
  a.data<float>()[0] = 9;
  EXPECT_EQ(b.data<float>()[0], 9);
  EXPECT_EQ(c.data<float>()[0], 1);
  EXPECT_TRUE(a.shares_buffer_with(b));
  EXPECT_FALSE(a.unique());
  EXPECT_TRUE(c.unique());
  EXPECT_TRUE(a.reshaped({2, 1}).shares_buffer_with(a));
  EXPECT_THROW(a.reshaped({3}), InvalidArgument);
}

TEST(Tensor, PrintsNested) {
  EXPECT_EQ(Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2}).to_string(), "[[1 2]\n [3 4]]");
  EXPECT_EQ(Tensor::from_vector<int32_t>({1, 2, 3}).to_string(), "[1 2 3]");
  EXPECT_EQ(Tensor(5.0f).to_string(), "5");
  EXPECT_EQ(Tensor(f32, {0}).to_string(), "[]");
  EXPECT_EQ(Tensor::from_vector<float>({1, 2, 3, 4}).to_string(2), "[1 2 ...");
}

TEST(Shape, UnknownDimsAndCompatibility) {
  Shape s{-1, 784};
  EXPECT_FALSE(s.is_fully_defined());
  EXPECT_EQ(s.num_elements(), -1);
  EXPECT_EQ(s.to_string(), "[?,784]");
  EXPECT_TRUE(s.compatible_with(Shape{50, 784}));
  EXPECT_FALSE(s.compatible_with(Shape{50, 783}));
  EXPECT_FALSE(s.compatible_with(Shape{784}));
  EXPECT_TRUE(Shape::unknown().compatible_with(s));
  EXPECT_EQ(s.merge_with(Shape{50, -1}, "t"), Shape({50, 784}));
  EXPECT_THROW(s.merge_with(Shape{1}, "t"), InvalidArgument);
  EXPECT_EQ(broadcast_shapes(Shape{-1, 300}, Shape{300}, "t"), Shape({-1, 300}));
  EXPECT_EQ(broadcast_shapes(Shape{4, 1, 3}, Shape{2, 1}, "t"), Shape({4, 2, 3}));
  EXPECT_THROW(broadcast_shapes(Shape{2, 3}, Shape{4}, "t"), InvalidArgument);
}

// Up to six dims live inside the Shape, more on the heap: both behave alike, through copies too.
TEST(Shape, ManyDimsAndCopies) {
  const Shape small{2, 3, 4, 5, 6, 7}, big{2, 3, 4, 5, 6, 7, 8};
  for (const Shape& s : {small, big}) {
    Shape copy = s;
    EXPECT_EQ(copy, s);
    EXPECT_EQ(copy.rank(), s.rank());
    EXPECT_EQ(copy.dim(-1), s.rank() + 1);
    copy.set_dim(0, -1);
    EXPECT_NE(copy, s);
    EXPECT_EQ(s.dim(0), 2) << "a copy's change must not reach the original";
    EXPECT_TRUE(copy.compatible_with(s));
    EXPECT_EQ(copy.merge_with(s, "t"), s);
    EXPECT_EQ(Shape(s.dim_vector()), s);
    EXPECT_THROW(s.dim(s.rank()), std::out_of_range);
    EXPECT_THROW(s.dim(-s.rank() - 1), std::out_of_range);
  }
  EXPECT_EQ(big.num_elements(), 40320);
  EXPECT_EQ(big.to_string(), "[2,3,4,5,6,7,8]");
  EXPECT_NE(small, big);
  EXPECT_NE(Shape::unknown(), Shape());
  EXPECT_FALSE(Shape({2, 3}).compatible_with(big));
  Shape assigned = big;
  assigned = small;
  EXPECT_EQ(assigned, small);
  assigned = big;
  EXPECT_EQ(assigned, big);
}

TEST(CoreRandom, PhiloxIsDeterministicAndSkippable) {
  PhiloxRandom a(1, 2), b(1, 2), c(1, 3);
  auto ra = a();
  EXPECT_EQ(ra, b());
  EXPECT_NE(ra, c());
  PhiloxRandom d(1, 2);
  d.skip(1);
  EXPECT_EQ(d(), a());  // the second block
  RandomEngine e1(5), e2(5);
  EXPECT_EQ(e1.permutation(100), e2.permutation(100));
  auto p = RandomEngine(6).permutation(1000);
  std::vector<int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) EXPECT_EQ(sorted[i], i);
}

TEST(CoreRandom, ResolveSeedsFollowsTF1) {
  EXPECT_EQ(resolve_seeds(1, 2, 9), (std::pair<int64_t, int64_t>{1, 2}));
  EXPECT_EQ(resolve_seeds(1, std::nullopt, 9), (std::pair<int64_t, int64_t>{1, 9}));
  EXPECT_EQ(resolve_seeds(std::nullopt, 5, 9), (std::pair<int64_t, int64_t>{87654321, 5}));
  EXPECT_NE(resolve_seeds(std::nullopt, std::nullopt, 9), resolve_seeds(std::nullopt, std::nullopt, 9));
}

}  // namespace
}  // namespace fg

namespace fg {
namespace {

// Inline up to N, on the heap beyond, and back inline when it shrinks: the same contents
// throughout (Shape keeps its dims in one; kernels their per-call dims and masks).
TEST(SmallVector, KeepsItsContentsAcrossTheInlineBoundary) {
  SmallVector<int64_t, 3> v{1, 2};
  v.push_back(3);
  v.push_back(4);  // moves to the heap
  v.push_back(5);
  EXPECT_EQ(std::vector<int64_t>(v.begin(), v.end()), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  v.erase(v.begin() + 1);
  EXPECT_EQ(std::vector<int64_t>(v.begin(), v.end()), (std::vector<int64_t>{1, 3, 4, 5}));
  v.resize(2);  // back inline
  EXPECT_EQ(std::vector<int64_t>(v.begin(), v.end()), (std::vector<int64_t>{1, 3}));
  v.resize(4, 9);
  EXPECT_EQ(std::vector<int64_t>(v.begin(), v.end()), (std::vector<int64_t>{1, 3, 9, 9}));
  const int64_t src[] = {7, 8};
  v.assign(src, 2);
  EXPECT_EQ(v.size(), 2u);
  EXPECT_EQ(v.back(), 8);
  const std::span<const int64_t> view = v;
  EXPECT_EQ(view[0], 7);
  SmallVector<int64_t, 3> copy = v;
  v[0] = 0;
  EXPECT_EQ(copy[0], 7);
  v.clear();
  EXPECT_TRUE(v.empty());
}

}  // namespace
}  // namespace fg
