#include "core/gemm.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/eigen.h"
#include "core/errors.h"
#include "core/parallel.h"

#ifdef FG_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

// Eigen's packets (__m512 and the like) as template arguments: GCC warns that their alignment
// attributes are dropped from the template's signature, which is harmless here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace fg {

namespace {

// Multiply-adds one extra thread must have to win: below this the hand-off and the cache lines
// the second core must fetch cost more than it gives (kernels_bench BM_Gemm at the MLP's shapes;
// bench/README.md, "Constants and the measurements behind them").
constexpr int64_t kMacsPerThread = int64_t{1} << 18;

// Threads for a product split into bands of C (every product but the row-vector kernel's).
int band_threads(int64_t m, int64_t n, int64_t k) {
  const int64_t wanted = std::max<int64_t>(1, m * n * k / kMacsPerThread);
  return static_cast<int>(std::min<int64_t>(wanted, num_threads()));
}

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
// only, so concurrent Session::run calls do not disturb each other), then restores it: the
// backends parallelize with OpenMP when it is above 1.
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

// ---- Row-vector products, C[1,n] = alpha x[1,k] B[k,n] + beta C: a dense layer on one sample.
//
// Such a product reads each element of B once for one multiply-add, so it runs as fast as B
// streams in. A first layer such as 784x300 floats does not fit one core's L2 beside everything
// else, so every library streams it from L3. Split by rows of B into contiguous parts, spread
// over the threads, each thread's rows stay in its own core's L2 from one call to the next. The parts' partial
// sums are added in part order on the calling thread, and how many parts there are depends only
// on the shape, so the result does not depend on the thread count.

// Smallest part worth a thread. Fewer, larger parts measured faster, and a matrix that fits the
// caller's L2 whole is faster on one thread than split (bench/README.md).
constexpr int64_t kRowVectorPartBytes = int64_t{256} << 10;
constexpr int64_t kRowVectorMaxParts = 8;

template <typename T>
constexpr bool kHasRowVectorKernel = std::is_same_v<T, float> || std::is_same_v<T, double>;

bool is_row_vector_product(int64_t m, bool tb) { return m == 1 && !tb; }

template <typename T>
int64_t row_vector_parts(int64_t n, int64_t k) {
  const int64_t by_size = std::clamp<int64_t>(n * k * int64_t(sizeof(T)) / kRowVectorPartBytes, 1, kRowVectorMaxParts);
  return std::min<int64_t>(std::bit_floor(static_cast<uint64_t>(by_size)), k);
}

template <typename P>
constexpr int packet_size = Eigen::internal::unpacket_traits<P>::size;

// out[j0 + i*L, +L) for packets i < NP, the last one at `last` instead when the columns run out
// (it then overlaps the one before it; an overlapped column gets the same sum from both, so
// storing both is harmless): the sum over p < k of x[p] b[p, :], accumulated in registers.
template <typename P, int NP, typename T>
void row_times_rows(const T* x, int64_t x_stride, const T* b, int64_t ldb, int64_t k, int64_t j0, int64_t last,
                    T* out) {
  using namespace Eigen::internal;
  constexpr int L = packet_size<P>;
  P acc[NP];
  for (int i = 0; i < NP; ++i) acc[i] = pset1<P>(T(0));
  const T* row = b + j0;
  const int64_t last_offset = last - j0;
  for (int64_t p = 0; p < k; ++p, row += ldb) {
    const P xp = pset1<P>(x[p * x_stride]);
    // Unrolled, so that the accumulators live in registers.
#pragma GCC unroll 32
    for (int i = 0; i < NP - 1; ++i) acc[i] = pmadd(xp, ploadu<P>(row + i * L), acc[i]);
    acc[NP - 1] = pmadd(xp, ploadu<P>(row + last_offset), acc[NP - 1]);
  }
#pragma GCC unroll 32
  for (int i = 0; i < NP - 1; ++i) pstoreu(out + j0 + i * L, acc[i]);
  pstoreu(out + last, acc[NP - 1]);
}

// Accumulators for three quarters of the vector registers, leaving the rest for the broadcast and
// the loads: 24 packets under AVX-512 (384 floats, so 300 columns stream in one pass over the
// rows), 12 under AVX. Half the registers, which splits such a row in two passes, measured slower.
constexpr int kRowVectorPackets = EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS * 3 / 4;

template <typename P, typename T, int... NP>
void row_times_rows_dispatch(int np, std::integer_sequence<int, NP...>, const T* x, int64_t x_stride, const T* b,
                             int64_t ldb, int64_t k, int64_t j0, int64_t last, T* out) {
  ((np == NP + 1 ? row_times_rows<P, NP + 1>(x, x_stride, b, ldb, k, j0, last, out) : void()), ...);
}

// out[0:n] = sum over p < k of x[p * x_stride] * b[p * ldb + 0:n], in packets of P, or of half
// packets when n is narrower than one (the output layer's 10 columns), or scalars below those.
template <typename P, typename T>
void row_vector_partial(const T* x, int64_t x_stride, const T* b, int64_t ldb, int64_t k, int64_t n, T* out) {
  constexpr int L = packet_size<P>;
  using Half = typename Eigen::internal::unpacket_traits<P>::half;
  if (n < L) {
    if constexpr (packet_size<Half> < L) return row_vector_partial<Half>(x, x_stride, b, ldb, k, n, out);
    for (int64_t j = 0; j < n; ++j) out[j] = T(0);
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < n; ++j) out[j] += x[p * x_stride] * b[p * ldb + j];
    return;
  }
  for (int64_t j0 = 0; j0 < n; j0 += kRowVectorPackets * L) {
    const int64_t width = std::min<int64_t>(kRowVectorPackets * L, n - j0);
    const int np = static_cast<int>((width + L - 1) / L);
    const int64_t last = std::min<int64_t>(j0 + int64_t(np - 1) * L, n - L);
    row_times_rows_dispatch<P>(np, std::make_integer_sequence<int, kRowVectorPackets>(), x, x_stride, b, ldb, k, j0,
                               last, out);
  }
}

template <typename T>
void row_vector_product(bool ta, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b, int64_t ldb,
                        T beta, T* c) {
  const int64_t parts = row_vector_parts<T>(n, k);
  const int64_t x_stride = ta ? lda : 1;
  // Partial sums of the calling thread's products, reused from call to call.
  thread_local std::vector<T> scratch;
  if (scratch.size() < size_t(parts * n)) scratch.resize(parts * n);
  T* partial = scratch.data();
  // By value: a worker reads them from one place rather than from the caller's stack frame.
  auto run_parts = [=](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t k0 = k * p / parts, k1 = k * (p + 1) / parts;
      row_vector_partial<typename Eigen::internal::packet_traits<T>::type>(a + k0 * x_stride, x_stride, b + k0 * ldb,
                                                                           ldb, k1 - k0, n, partial + p * n);
    }
  };
  if (parts > 1) parallel_for(parts, kParallelThreshold, run_parts);
  else run_parts(0, 1);
  Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> sum(partial, n), out(c, n);
  for (int64_t p = 1; p < parts; ++p) sum += Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(partial + p * n, n);
  if (beta == T(0)) out = alpha * sum;
  else out = alpha * sum + beta * out;
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

int gemm_threads(int64_t m, int64_t n, int64_t k, bool transpose_b) {
  if (is_row_vector_product(m, transpose_b))
    return static_cast<int>(std::min<int64_t>(row_vector_parts<float>(n, k), num_threads()));
  return band_threads(m, n, k);
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
  if constexpr (kHasRowVectorKernel<T>) {
    if (is_row_vector_product(m, tb)) {
      row_vector_product<T>(ta, n, k, alpha, a, lda, b, ldb, beta, c);
      if (epilogue) epilogue(0, 1, 0, n);
      return;
    }
  }
  // Each call multiplies on one thread; flowgraph's pool does the splitting (below).
  auto run = [&](int64_t m, int64_t n, const T* a, const T* b, T* c) {
    with_threads(1, [&] {
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
    });
  };
  // Not gemm_threads: a row vector reaching this point (B transposed, or an integer type) is split
  // by the bands' rule, not the row-vector kernel's.
  const int threads = band_threads(m, n, k);
  if (threads == 1) {
    run(m, n, a, b, c);
    if (epilogue) epilogue(0, m, 0, n);
    return;
  }
  // Our own split rather than the backend's: each thread multiplies one band of C's rows (or
  // columns, when C is wide and short) on one thread, so the band it writes stays in its core's
  // cache for the element-wise ops after it, which parallel_for splits the same way. On cores
  // that are slow to share cache lines this is faster per epoch than oneDNN's own split
  // (bench/README.md), and no band depends on the thread count, so results do not either.
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

#pragma GCC diagnostic pop
