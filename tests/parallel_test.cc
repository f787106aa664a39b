#include "core/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "core/errors.h"

namespace fg {
namespace {

TEST(ParallelFor, CoversEveryIndexOnce) {
  for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{1} << 20}) {
    std::vector<std::atomic<int>> hits(n);
    parallel_for(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1, std::memory_order_relaxed);
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
  }
}

// A kernel's error inside a parallel block reaches the caller as itself (an exception leaving an
// OpenMP region would otherwise terminate the process).
TEST(ParallelFor, ExceptionInAParallelBlockReachesTheCaller) {
  const int64_t n = kParallelThreshold * 4;  // above the threshold: runs on the OpenMP team
  for (int64_t bad : {int64_t{0}, n - 1}) {  // in the first block, and in the last
    try {
      parallel_for(n, 1, [&](int64_t b, int64_t e) {
        if (bad >= b && bad < e) throw InvalidArgument("element " + std::to_string(bad) + " is bad");
      });
      FAIL() << "expected InvalidArgument";
    } catch (const InvalidArgument& e) {
      EXPECT_EQ(std::string(e.what()), "element " + std::to_string(bad) + " is bad");
    }
  }
}

}  // namespace
}  // namespace fg
