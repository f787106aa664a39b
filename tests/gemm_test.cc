#include "core/gemm.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <filesystem>
#include <cstdlib>
#include <string>
#include <thread>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

#include "core/errors.h"
#include "core/parallel.h"
#include "test_util.h"

namespace fg {
namespace {

// Restores the process-wide backend whatever a test does.
class GemmBackendGuard {
 public:
  GemmBackendGuard() : saved_(gemm_backend()) {}
  ~GemmBackendGuard() { set_gemm_backend(saved_); }

 private:
  GemmBackend saved_;
};

template <typename T>
std::vector<T> random_matrix(int64_t rows, int64_t ld, std::mt19937& rng) {
  std::uniform_int_distribution<int> d(-4, 4);  // small integers: every backend's sum is exact
  std::vector<T> v(rows * ld);
  for (auto& x : v) x = static_cast<T>(d(rng));
  return v;
}

// C = alpha op(A) op(B) + beta C, the definition, on row-major strided storage.
template <typename T>
void reference_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const std::vector<T>& a, int64_t lda,
                    const std::vector<T>& b, int64_t ldb, T beta, std::vector<T>& c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      T sum = 0;
      for (int64_t p = 0; p < k; ++p) sum += (ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
      c[i * ldc + j] = beta == T(0) ? alpha * sum : alpha * sum + beta * c[i * ldc + j];
    }
}

template <typename T>
void check_all_cases(GemmBackend backend) {
  GemmBackendGuard guard;
  set_gemm_backend(backend);
  std::mt19937 rng(7);
  struct Case { int64_t m, n, k; };
  // Shapes on both sides of the one-thread threshold, split by rows (tall C) and by columns
  // (short wide C, bands of 16 columns plus a ragged last one), and the MLP's odd ones.
  // Row vectors (m = 1): one part and several, full packets, half packets (10 and 5 columns) and
  // scalars (3), ragged ends that overlap a packet (300, 100, 17).
  for (Case s : {Case{1, 1, 1}, Case{3, 5, 7}, Case{1, 300, 784}, Case{1, 100, 300}, Case{1, 10, 100},
                 Case{1, 17, 4000}, Case{1, 5, 30000}, Case{1, 3, 9}, Case{1, 600, 50}, Case{200, 100, 10},
                 Case{130, 257, 129}, Case{200, 300, 784}, Case{50, 300, 784}, Case{40, 333, 200}}) {
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (auto [alpha, beta] : {std::pair<T, T>{1, 0}, {2, 1}, {-0.5, 3}}) {
          const int64_t a_rows = ta ? s.k : s.m, a_cols = ta ? s.m : s.k;
          const int64_t b_rows = tb ? s.n : s.k, b_cols = tb ? s.k : s.n;
          const int64_t lda = a_cols + 3, ldb = b_cols + 1, ldc = s.n + 2;  // padded rows
          auto a = random_matrix<T>(a_rows, lda, rng);
          auto b = random_matrix<T>(b_rows, ldb, rng);
          auto c = random_matrix<T>(s.m, ldc, rng);
          if (beta == T(0) && std::numeric_limits<T>::has_quiet_NaN)
            for (auto& x : c) x = std::numeric_limits<T>::quiet_NaN();  // beta 0 must not read C
          auto want = c;
          reference_gemm(ta, tb, s.m, s.n, s.k, alpha, a, lda, b, ldb, beta, want, ldc);
          gemm<T>(ta, tb, s.m, s.n, s.k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
          for (int64_t i = 0; i < s.m; ++i)
            for (int64_t j = 0; j < s.n; ++j)
              ASSERT_EQ(c[i * ldc + j], want[i * ldc + j])
                  << gemm_backend_name(backend) << " " << s.m << "x" << s.n << "x" << s.k << " ta=" << ta
                  << " tb=" << tb << " alpha=" << alpha << " beta=" << beta << " at (" << i << "," << j << ")";
          // The padding between rows of C is never written.
          for (int64_t i = 0; i < s.m; ++i)
            for (int64_t j = s.n; j < ldc; ++j)
              if (beta != T(0) || !std::numeric_limits<T>::has_quiet_NaN)
                ASSERT_EQ(c[i * ldc + j], want[i * ldc + j]);
        }
  }
}

TEST(Gemm, EigenMatchesDefinitionFloat) { check_all_cases<float>(GemmBackend::kEigen); }
TEST(Gemm, EigenMatchesDefinitionDouble) { check_all_cases<double>(GemmBackend::kEigen); }
TEST(Gemm, EigenMatchesDefinitionInt) {
  check_all_cases<int32_t>(GemmBackend::kEigen);
  check_all_cases<int64_t>(GemmBackend::kEigen);
}

TEST(Gemm, OneDnnMatchesDefinition) {
  if (!gemm_backend_available(GemmBackend::kOneDnn)) GTEST_SKIP() << "built without oneDNN";
  check_all_cases<float>(GemmBackend::kOneDnn);
}

TEST(Gemm, DefaultBackendIsTheMeasuredOne) {
  // bench/README.md: oneDNN is 1.5-2.4x Eigen on the MLP's shapes, so it is the default when built in.
  const bool env_override = std::getenv("FG_GEMM") != nullptr;
  if (!env_override && gemm_backend_available(GemmBackend::kOneDnn)) EXPECT_EQ(gemm_backend(), GemmBackend::kOneDnn);
}

// $FG_GEMM=eigen is read once, at start-up: checked in a child process started with it.
TEST(Gemm, EnvironmentSelectsEigen) {
  if (const char* env = std::getenv("FG_GEMM"); env && std::string(env) == "eigen") {
    EXPECT_EQ(gemm_backend(), GemmBackend::kEigen);
    return;
  }
  EXPECT_TRUE(testing::run_test_in_child("FG_GEMM=eigen", "Gemm.EnvironmentSelectsEigen"));
}

TEST(Gemm, EmptyInnerDimensionScalesC) {
  std::vector<float> c = {1, 2, 3, 4};
  gemm<float>(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 2.0f, c.data(), 2);
  EXPECT_EQ(c, (std::vector<float>{2, 4, 6, 8}));
  gemm<float>(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.0f, c.data(), 2);
  EXPECT_EQ(c, (std::vector<float>{0, 0, 0, 0}));
}

TEST(Gemm, ResultsDoNotDependOnTheThreadCount) {
  if (num_threads() < 2) GTEST_SKIP() << "one thread";
  std::mt19937 rng(3);
  for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{200, 300, 784}, {50, 300, 784}, {1, 300, 784},
                         {1, 40, 4000}, {50, 100, 300}, {10, 300, 784}}) {
    std::uniform_real_distribution<float> d(-1, 1);
    std::vector<float> a(m * k), b(k * n), c1(m * n), c2(m * n);
    for (auto& x : a) x = d(rng);
    for (auto& x : b) x = d(rng);
    ASSERT_GT(gemm_threads(m, n, k), 1);
    gemm<float>(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c1.data(), n);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    gemm<float>(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c2.data(), n);
    omp_set_num_threads(saved);
    EXPECT_EQ(c1, c2) << m << "x" << n << "x" << k;  // bitwise: no band depends on the split
  }
}

TEST(Gemm, SmallProductsStayOnOneThread) {
  if (num_threads() < 2) GTEST_SKIP() << "one thread";
  EXPECT_EQ(gemm_threads(200, 10, 100), 1);   // the output layer: a second thread doubles its time
  // Single-sample inference: the first layer's rows are split over the threads (each core keeps
  // its part of the weights in its L2), unless B is transposed.
  EXPECT_EQ(gemm_threads(1, 300, 784), num_threads());
  EXPECT_EQ(gemm_threads(1, 300, 784, /*transpose_b=*/true), 1);
  EXPECT_EQ(gemm_threads(1, 100, 300), 1);  // 120 KB: faster on one thread
  EXPECT_EQ(gemm_threads(1, 10, 100), 1);
  EXPECT_EQ(gemm_threads(200, 300, 784), num_threads());
  EXPECT_EQ(gemm_threads(50, 100, 300), num_threads());   // batch 50's second layer: 1.5-1.8x faster on two
  EXPECT_EQ(gemm_threads(10, 300, 784), num_threads());   // batch-10 inference
  const int before = omp_get_max_threads();
  std::vector<float> a(200 * 100, 1), b(100 * 10, 1), c(200 * 10);
  gemm<float>(false, false, 200, 10, 100, 1.0f, a.data(), 100, b.data(), 10, 0.0f, c.data(), 10);
  EXPECT_EQ(omp_get_max_threads(), before) << "gemm must restore the caller's OpenMP thread count";
  EXPECT_EQ(c[0], 100.0f);
}

// Both backends parallelize with OpenMP when allowed to; gemm calls them single-threaded from the
// caller and from the pool's workers, so products on several threads start no libgomp team: the
// process has its main thread and the pool's workers, nothing more. Counted in a child process,
// since other tests start OpenMP teams on purpose.
TEST(Gemm, ProductsStartNoOpenMpThreads) {
  if (!std::getenv("FG_TEST_COUNT_THREADS")) {
    EXPECT_TRUE(testing::run_test_in_child("FG_TEST_COUNT_THREADS=1", "Gemm.ProductsStartNoOpenMpThreads"));
    return;
  }
  GemmBackendGuard guard;
  std::vector<float> a(200 * 784, 1), b(784 * 300, 1), c(200 * 300);
  for (GemmBackend backend : {GemmBackend::kEigen, GemmBackend::kOneDnn}) {
    if (!gemm_backend_available(backend)) continue;
    set_gemm_backend(backend);
    for (int64_t m : {int64_t{200}, int64_t{1}}) {
      ASSERT_EQ(gemm_threads(m, 300, 784), num_threads());
      gemm<float>(false, false, m, 300, 784, 1.0f, a.data(), 784, b.data(), 300, 0.0f, c.data(), 300);
      ASSERT_EQ(c[0], 784.0f);
    }
  }
  std::vector<double> d(200 * 784, 1), e(784 * 300, 1), f(200 * 300);
  gemm<double>(false, false, 200, 300, 784, 1.0, d.data(), 784, e.data(), 300, 0.0, f.data(), 300);
  ASSERT_EQ(f[0], 784.0);
  int64_t threads = 0;
  for ([[maybe_unused]] const auto& task : std::filesystem::directory_iterator("/proc/self/task")) ++threads;
  EXPECT_EQ(threads, num_threads() > 1 ? std::thread::hardware_concurrency() : 1);
}

TEST(Gemm, UnavailableBackendIsUnimplemented) {
  if (gemm_backend_available(GemmBackend::kOneDnn)) GTEST_SKIP() << "oneDNN is built in";
  EXPECT_THROW(set_gemm_backend(GemmBackend::kOneDnn), Unimplemented);
}

}  // namespace
}  // namespace fg
