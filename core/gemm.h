// The one matrix product every kernel calls: row-major C = alpha * op(A) * op(B) + beta * C.
//
//   // out[m,n] = x[m,k] * w[k,n]
//   gemm<float>(false, false, m, n, k, 1.0f, x, k, w, n, 0.0f, out, n);
//   // w[k,n] -= lr * x[m,k]^T * dz[m,n], in place (beta = 1 accumulates into C)
//   gemm<float>(true, false, k, n, m, -lr, x, k, dz, n, 1.0f, w, n);
//
// float goes to oneDNN's dnnl_sgemm when flowgraph is built with it (the faster of the two on
// the MLP's shapes; bench/README.md has the measurements), everything else to Eigen's product. The thread count is chosen per call from the product's size (waking a
// second thread costs more than it saves on small products); with several, flowgraph splits C
// into bands, one per thread of parallel_for's pool, each multiplied single-threaded. A row
// vector times an untransposed matrix (m == 1: a dense layer on one sample) runs on
// flowgraph's own kernel instead, split by rows of B so each core keeps its rows in its cache.
// beta == 0 never reads C (no zero-fill needed, NaNs in C are ignored).
// Safe to call from several threads at once.
#pragma once
#include <cstdint>
#include <type_traits>

namespace fg {

enum class GemmBackend { kEigen, kOneDnn };

template <typename T>
void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

// The same, then epilogue(row0, row1, col0, col1) on the thread that computed that block of C,
// right after it, while it is still in that core's cache (a fused dense layer's bias and
// activation). The blocks cover C exactly once.
// A non-owning reference to the callable (no allocation per call, unlike std::function): pass
// a lambda straight to gemm; it is called only during that call.
class GemmEpilogue {
 public:
  GemmEpilogue() = default;
  template <typename F>
    requires(!std::is_same_v<std::decay_t<F>, GemmEpilogue> &&
             std::is_invocable_v<const F&, int64_t, int64_t, int64_t, int64_t>)
  GemmEpilogue(const F& f)  // NOLINT: implicit, like std::function
      : callable_(&f), call_([](const void* c, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
          (*static_cast<const F*>(c))(r0, r1, c0, c1);
        }) {}
  explicit operator bool() const { return call_ != nullptr; }
  void operator()(int64_t row0, int64_t row1, int64_t col0, int64_t col1) const {
    call_(callable_, row0, row1, col0, col1);
  }

 private:
  const void* callable_ = nullptr;
  void (*call_)(const void*, int64_t, int64_t, int64_t, int64_t) = nullptr;
};
template <typename T>
void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc, const GemmEpilogue& epilogue);

// The backend float products use: oneDNN when built with it, unless $FG_GEMM=eigen.
GemmBackend gemm_backend();
// For benchmarks and tests; throws Unimplemented for a backend this build lacks.
void set_gemm_backend(GemmBackend backend);
bool gemm_backend_available(GemmBackend backend);
const char* gemm_backend_name(GemmBackend backend);

// Threads a float product of this shape runs on (1 .. num_threads()).
int gemm_threads(int64_t m, int64_t n, int64_t k, bool transpose_b = false);

}  // namespace fg
