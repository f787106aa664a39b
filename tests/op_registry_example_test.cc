// The usage example that opens graph/op_registry.h, compiled and run as written there: the build
// extracts it from the header (cmake/extract_example.cmake), so the two cannot drift apart.
#include <gtest/gtest.h>

#include "core/eigen.h"
#include "flowgraph.h"
#include "graph/op_registry.h"
#include "tests/test_util.h"

namespace fg {
namespace {

TEST(OpRegistryExample, CompilesRunsAndDifferentiates) {
#include "graph/op_registry.h.inc"
  EXPECT_EQ(y_value.to_vector<float>(), (std::vector<float>{2, 4}));
  // The example's gradient: d(sum 2x)/dx = 2, through TimesTwo itself.
  Output dx = gradients({reduce_sum(y)}, {x})[0];
  EXPECT_EQ(Session(g).run({{x, Tensor::from_vector<float>({1, 2})}}, dx).to_vector<float>(),
            (std::vector<float>{2, 2}));
  testing::expect_gradients_match([](const std::vector<Output>& in) {
    return OpBuilder(in[0], "TimesTwo", "").input(in[0]).build_output();
  }, {testing::random_tensor({3}, 7)});
}

}  // namespace
}  // namespace fg
