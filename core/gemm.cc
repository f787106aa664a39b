#include "core/gemm.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/eigen.h"
#include "core/errors.h"
#include "core/parallel.h"

#ifdef FG_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

namespace fg {

namespace {

// Multiply-adds one extra thread must have to win: below this the OpenMP wake-up and the
// split's packing overhead cost more than the second core gives (bench: kernels_bench
// BM_Gemm at the MLP's shapes; [200x100]x[100x10] is 2x faster on one thread, [50x300]x[300x100]
// breaks even, [200x300]x[300x100] is 1.3x faster on two).
constexpr int64_t kMacsPerThread = int64_t{2} << 20;

GemmBackend initial_backend() {
  const char* env = std::getenv("FG_GEMM");
  if (env && std::strcmp(env, "eigen") == 0) return GemmBackend::kEigen;
#ifdef FG_HAVE_ONEDNN
  return GemmBackend::kOneDnn;
#else
  return GemmBackend::kEigen;
#endif
}

std::atomic<GemmBackend>& backend_state() {
  static std::atomic<GemmBackend> backend{initial_backend()};
  return backend;
}

// Runs fn with the calling thread's OpenMP team size set to `threads` (an ICV of this thread
// only, so concurrent Session::run calls do not disturb each other), then restores it.
template <typename Fn>
void with_threads(int threads, Fn&& fn) {
  const int saved = omp_get_max_threads();
  if (threads == saved) return fn();
  omp_set_num_threads(threads);
  try {
    fn();
  } catch (...) {
    omp_set_num_threads(saved);
    throw;
  }
  omp_set_num_threads(saved);
}

template <typename T>
using ConstStrided = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0,
                                Eigen::OuterStride<>>;
template <typename T>
using Strided = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0, Eigen::OuterStride<>>;

template <typename T>
void eigen_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
                int64_t ldb, T beta, T* c, int64_t ldc) {
  ConstStrided<T> A(a, ta ? k : m, ta ? m : k, Eigen::OuterStride<>(lda));
  ConstStrided<T> B(b, tb ? n : k, tb ? k : n, Eigen::OuterStride<>(ldb));
  Strided<T> C(c, m, n, Eigen::OuterStride<>(ldc));
  auto product = [&](auto&& lhs, auto&& rhs) {
    if (beta == T(0)) {
      C.noalias() = alpha * (lhs * rhs);
    } else {
      if (beta != T(1)) C *= beta;
      C.noalias() += alpha * (lhs * rhs);
    }
  };
  if (!ta && !tb) product(A, B);
  else if (!ta) product(A, B.transpose());
  else if (!tb) product(A.transpose(), B);
  else product(A.transpose(), B.transpose());
}

}  // namespace

GemmBackend gemm_backend() { return backend_state().load(std::memory_order_relaxed); }

bool gemm_backend_available(GemmBackend backend) {
#ifdef FG_HAVE_ONEDNN
  return true;
#else
  return backend == GemmBackend::kEigen;
#endif
}

void set_gemm_backend(GemmBackend backend) {
  FG_CHECK(gemm_backend_available(backend), Unimplemented, "GEMM backend ", gemm_backend_name(backend),
           " is not built into this flowgraph (install libdnnl-dev and rebuild)");
  backend_state().store(backend, std::memory_order_relaxed);
}

const char* gemm_backend_name(GemmBackend backend) { return backend == GemmBackend::kOneDnn ? "onednn" : "eigen"; }

int gemm_threads(int64_t m, int64_t n, int64_t k) {
  const int max_threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t wanted = std::max<int64_t>(1, m * n * k / kMacsPerThread);
  return static_cast<int>(std::min<int64_t>(wanted, max_threads));
}

template <typename T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b, int64_t ldb,
          T beta, T* c, int64_t ldc) {
  gemm<T>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, GemmEpilogue());
}

template <typename T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b, int64_t ldb,
          T beta, T* c, int64_t ldc, const GemmEpilogue& epilogue) {
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == T(0)) {
    // Nothing to multiply: C = beta * C, where beta == 0 must not read C.
    Strided<T> C(c, m, n, Eigen::OuterStride<>(ldc));
    if (beta == T(0)) C.setZero();
    else if (beta != T(1)) C *= beta;
    if (epilogue) epilogue(0, m, 0, n);
    return;
  }
  auto run = [&](int64_t m, int64_t n, const T* a, const T* b, T* c) {
#ifdef FG_HAVE_ONEDNN
    if constexpr (std::is_same_v<T, float>) {
      if (gemm_backend() == GemmBackend::kOneDnn) {
        const dnnl_status_t s =
            dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        FG_CHECK(s == dnnl_success, Internal, "dnnl_sgemm failed with status ", static_cast<int>(s), " for ", m,
                 "x", k, " * ", k, "x", n);
        return;
      }
    }
#endif
    eigen_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  };
  const int threads = gemm_threads(m, n, k);
  if (threads == 1) {
    with_threads(1, [&] { run(m, n, a, b, c); });
    if (epilogue) epilogue(0, m, 0, n);
    return;
  }
  // Our own split rather than the backend's: each thread multiplies one band of C's rows (or
  // columns, when C is wide and short) on one thread, so the band it writes stays in its core's
  // cache for the element-wise ops after it, which parallel_for splits the same way. Cores that
  // are slow to share cache lines (0.5 us round trip on the benchmark VM) make this 1-5 % faster
  // per epoch than oneDNN's own 2-thread split (bench/README.md), and no band depends on the
  // thread count, so results do not either.
  const bool by_rows = m >= n || m >= 64 * threads;
  const int64_t extent = by_rows ? m : n;
  parallel_for(threads, kParallelThreshold, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      int64_t lo = extent * t / threads, hi = extent * (t + 1) / threads;
      if (!by_rows) lo = lo / 16 * 16, hi = t + 1 == threads ? extent : hi / 16 * 16;
      if (hi <= lo) continue;
      if (by_rows) run(hi - lo, n, ta ? a + lo : a + lo * lda, b, c + lo * ldc);
      else run(m, hi - lo, a, tb ? b + lo * ldb : b + lo, c + lo);
      if (epilogue) by_rows ? epilogue(lo, hi, 0, n) : epilogue(0, m, lo, hi);
    }
  });
}

#define FG_INSTANTIATE_GEMM(T)                                                                                     \
  template void gemm<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T, T*, \
                        int64_t);                                                                                   \
  template void gemm<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T, T*, \
                        int64_t, const GemmEpilogue&);
FG_INSTANTIATE_GEMM(float)
FG_INSTANTIATE_GEMM(double)
FG_INSTANTIATE_GEMM(int32_t)
FG_INSTANTIATE_GEMM(int64_t)
#undef FG_INSTANTIATE_GEMM

}  // namespace fg
