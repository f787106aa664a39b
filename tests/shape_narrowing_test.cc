// Shape dimensions stay int64 from the builders to the kernels: a dim past int32 is carried
// whole (TF makes such a shape constant int64) or refused with InvalidArgument naming the op
// and the value, never cut to its low 32 bits.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "graph/gradients.h"
#include "ops/array.h"
#include "ops/math.h"
#include "ops/random.h"
#include "runtime/session.h"
#include "tests/test_util.h"

namespace fg {
namespace {

constexpr int64_t k2p32 = int64_t{1} << 32;
constexpr int64_t k2p40 = int64_t{1} << 40;
constexpr int64_t k2p62 = int64_t{1} << 62;

const Tensor& const_value(const Output& c) {
  EXPECT_EQ(c.op()->type(), "Const");
  return c.op()->attr<Tensor>("value");
}

Tensor four() { return Tensor::from_vector<float>({1, 2, 3, 4}); }

// ---- reshape(x, std::vector<int64_t>) ---------------------------------------------------------

TEST(ShapeNarrowing, ReshapeListKeepsInt32WhenItFitsAndInt64Otherwise) {
  Graph g;
  const Output x = placeholder(g, f32, Shape::unknown(), "x");
  const Output small = reshape(x, std::vector<int64_t>{2, -1});
  const Tensor& s = const_value(small.op()->input(1));
  EXPECT_EQ(s.dtype(), i32);  // as TF: int32 when every value fits
  EXPECT_EQ(s.flat<int32_t>()[1], -1);

  const Output big = reshape(x, std::vector<int64_t>{k2p32 + 4});
  const Tensor& b = const_value(big.op()->input(1));
  ASSERT_EQ(b.dtype(), i64);
  EXPECT_EQ(b.flat<int64_t>()[0], k2p32 + 4);
  EXPECT_EQ(big.shape(), Shape({k2p32 + 4}));
}

TEST(ShapeNarrowing, ReshapeListRefusesWhatDoesNotFitWithTheRealValues) {
  Graph g;
  const Output x = constant(g, four(), "x");
  // Cut to int32, these would read as the valid-looking [4], [0,4] and [0,0].
  testing::expect_invalid_argument([&] { reshape(x, std::vector<int64_t>{k2p32 + 4}, "r1"); },
                 {"Reshape 'r1'", "[4294967300]", "4 elements"});
  testing::expect_invalid_argument([&] { reshape(x, std::vector<int64_t>{k2p62, 4}, "r2"); },
                 {"Reshape 'r2'", "[4611686018427387904,4]", "overflows"});
  testing::expect_invalid_argument([&] { reshape(x, std::vector<int64_t>{k2p40, k2p40}, "r3"); },
                 {"Reshape 'r3'", "[1099511627776,1099511627776]", "overflows"});
  testing::expect_invalid_argument([&] { reshape(x, std::vector<int64_t>{-1, k2p32}, "r4"); }, {"Reshape 'r4'", "[?,4294967296]"});
}

TEST(ShapeNarrowing, ReshapeListCarriesLargeDimsOfAnEmptyTensor) {
  Graph g;
  const Output x = placeholder(g, f32, {0}, "x");
  const Output y = reshape(x, std::vector<int64_t>{0, k2p32 + 4});
  EXPECT_EQ(y.shape(), Shape({0, k2p32 + 4}));
  const Tensor v = testing::eval(y, {{x, Tensor(f32, {0})}});
  EXPECT_EQ(v.shape(), Shape({0, k2p32 + 4}));  // not [0,4]
}

// ---- shape tensors fed at run time -----------------------------------------------------------

TEST(ShapeNarrowing, FedInt64ShapeTensor) {
  Graph g;
  const Output x = placeholder(g, f32, Shape::unknown(), "x");
  const Output shape_t = placeholder(g, i64, {-1}, "shape");
  const Output y = reshape(x, shape_t, "r");
  Session sess(g);
  auto run = [&](const Tensor& xv, std::vector<int64_t> dims) {
    return sess.run({{x, xv}, {shape_t, Tensor::from_vector(dims)}}, y);
  };
  EXPECT_EQ(run(four(), {2, 2}).shape(), Shape({2, 2}));
  EXPECT_EQ(run(Tensor(f32, {0}), {0, k2p32 + 4}).shape(), Shape({0, k2p32 + 4}));
  testing::expect_invalid_argument([&] { run(four(), {k2p32 + 4}); }, {"Reshape", "[4294967300]", "node r"});
  testing::expect_invalid_argument([&] { run(four(), {k2p62, 4}); }, {"[4611686018427387904,4]", "overflows", "node r"});
  testing::expect_invalid_argument([&] { run(four(), {k2p40, k2p40}); }, {"[1099511627776,1099511627776]", "overflows", "node r"});
  testing::expect_invalid_argument([&] { run(Tensor(f32, {0}), {k2p62, k2p62, 0}); }, {"overflows", "node r"});
}

TEST(ShapeNarrowing, ConstantInt64ShapeTensor) {
  Graph g;
  const Output x = constant(g, four(), "x");
  testing::expect_invalid_argument([&] { reshape(x, constant(g, Tensor::from_vector<int64_t>({k2p32 + 4})), "r"); },
                 {"Reshape 'r'", "[4294967300]"});
  const Output ok = reshape(x, constant(g, Tensor::from_vector<int64_t>({2, 2})));
  EXPECT_EQ(ok.shape(), Shape({2, 2}));
  EXPECT_TRUE(testing::eval(ok).equals(Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2})));
}

// ---- other places a dim or an axis passes through a 32-bit type ------------------------------

TEST(ShapeNarrowing, ShapeOpRefusesAnInt32OutTypeThatCannotHoldADim) {
  Graph g;
  const Output x = placeholder(g, f32, Shape::unknown(), "x");
  const Tensor wide(f32, {0, k2p32 + 4});
  const Tensor s64 = testing::eval(shape(x, i64), {{x, wide}});
  EXPECT_EQ(s64.flat<int64_t>()[1], k2p32 + 4);
  testing::expect_invalid_argument([&] { testing::eval(shape(x, i32, "s"), {{x, wide}}); },
                 {"int32", "dim 1", "4294967300", "node s"});
}

TEST(ShapeNarrowing, AxesAreNotNarrowed) {
  Graph g;
  const Output x = constant(g, Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2}), "x");
  // Cut to int32, 2^32 would be axis 0 and reduce, expand or arg-max along it.
  testing::expect_invalid_argument([&] { reduce_sum(x, {k2p32}, false, "sum"); }, {"sum", "4294967296"});
  testing::expect_invalid_argument([&] { expand_dims(x, k2p32, "ed"); }, {"ExpandDims", "4294967296"});
  testing::expect_invalid_argument([&] { argmax(x, k2p32, i64, "am"); }, {"4294967296"});
  EXPECT_EQ(expand_dims(x, -1).shape(), Shape({2, 2, 1}));
  EXPECT_TRUE(testing::eval(reduce_sum(x, {-1})).equals(Tensor::from_vector<float>({3, 7})));
}

TEST(ShapeNarrowing, RandomShapeConstantIsInt64WhenNeeded) {
  Graph g;
  const Output r = random_uniform(g, Shape{0, k2p32 + 4}, 0.0, 1.0, f32, 1, "ru");
  const Output shape_const = g.get_operation_by_name("ru/shape")->output(0);
  const Tensor& s = const_value(shape_const);
  ASSERT_EQ(s.dtype(), i64);
  EXPECT_EQ(s.flat<int64_t>()[1], k2p32 + 4);
  EXPECT_EQ(testing::eval(r).shape(), Shape({0, k2p32 + 4}));
  const Output small = random_uniform(g, Shape{2, 3}, 0.0, 1.0, f32, 1, "small");
  EXPECT_EQ(const_value(g.get_operation_by_name("small/shape")->output(0)).dtype(), i32);
}

TEST(ShapeNarrowing, ReductionGradientBroadcastsToTheWholeShape) {
  Graph g;
  const Output x = placeholder(g, f32, {0, k2p32 + 4}, "x");
  const Output dx = gradients({reduce_sum(x)}, {x})[0];
  EXPECT_EQ(testing::eval(dx, {{x, Tensor(f32, {0, k2p32 + 4})}}).shape(), Shape({0, k2p32 + 4}));
}

}  // namespace
}  // namespace fg
