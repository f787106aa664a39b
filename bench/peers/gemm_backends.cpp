// SGEMM at the MLP's training shapes through the two libraries PyTorch's Debian build brings, for
// comparison with flowgraph's Eigen product (kernels_bench BM_MatMul): OpenBLAS (its pthread
// build, Debian's libblas.so.3 once libopenblas0 is installed) and oneDNN (libdnnl.so.2, which
// runs on OpenMP like flowgraph). No headers needed: both are called through their C ABIs.
//
//   OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 build-bench/peers/gemm_backends
//
// Prints, per shape and backend, the median of 7 timings in µs and GFLOP/s (2*M*N*K per call).
// Operands are row-major as in flowgraph; OpenBLAS (column-major) computes C^T = op(B)^T op(A)^T.
#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

extern "C" {
// Fortran BLAS (column-major).
void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k, const float* alpha,
            const float* a, const int* lda, const float* b, const int* ldb, const float* beta, float* c,
            const int* ldc);
// oneDNN 2.x (row-major); returns dnnl_status_t (0 = success).
int dnnl_sgemm(char transa, char transb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
               const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
}

namespace {

struct Shape {
  const char* name;
  int m, n, k;
  bool ta, tb;
};

template <typename F>
double median_us(F&& f) {
  f();  // warm-up: thread pools, page faults
  std::vector<double> t;
  for (int r = 0; r < 7; ++r) {
    int calls = 0;
    const auto t0 = std::chrono::steady_clock::now();
    double elapsed = 0;
    do {
      f();
      ++calls;
      elapsed = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    } while (elapsed < 100000);  // 0.1 s per timing
    t.push_back(elapsed / calls);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main() {
  const Shape shapes[] = {
      {"L1 forward 200x784x300", 200, 300, 784, false, false},
      {"L1 dW 784x200x300 (ta)", 784, 300, 200, true, false},
      {"L2 forward 200x300x100", 200, 100, 300, false, false},
      {"L2 dW 300x200x100 (ta)", 300, 100, 200, true, false},
      {"L2 dX 200x100x300 (tb)", 200, 300, 100, false, true},
      {"L3 forward 200x100x10", 200, 10, 100, false, false},
      {"L3 dW 100x200x10 (ta)", 100, 10, 200, true, false},
      {"L3 dX 200x10x100 (tb)", 200, 100, 10, false, true},
      {"B50 L1 forward 50x784x300", 50, 300, 784, false, false},
      {"B50 L1 dW 784x50x300 (ta)", 784, 300, 50, true, false},
      {"B50 L2 forward 50x300x100", 50, 100, 300, false, false},
      {"B50 L2 dW 300x50x100 (ta)", 300, 100, 50, true, false},
      {"B50 L2 dX 50x100x300 (tb)", 50, 300, 100, false, true},
  };
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  std::printf("| shape (M x K x N) | OpenBLAS µs | OpenBLAS GFLOP/s | oneDNN µs | oneDNN GFLOP/s |\n|---|---:|---:|---:|---:|\n");
  for (const Shape& s : shapes) {
    // Row-major A is m x k (k x m when transposed), B is k x n (n x k when transposed).
    std::vector<float> a(size_t(s.m) * s.k), b(size_t(s.k) * s.n), c(size_t(s.m) * s.n);
    for (float& v : a) v = u(rng);
    for (float& v : b) v = u(rng);
    const int lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n, ldc = s.n;
    const float one = 1, zero = 0;
    const char ta = s.ta ? 'T' : 'N', tb = s.tb ? 'T' : 'N';
    const double blas = median_us([&] {
      // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
      sgemm_(&tb, &ta, &s.n, &s.m, &s.k, &one, b.data(), &ldb, a.data(), &lda, &zero, c.data(), &ldc);
    });
    // Both must agree before their timings mean anything.
    const std::vector<float> c_blas = c;
    if (dnnl_sgemm(ta, tb, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, c.data(), ldc) != 0) {
      std::fprintf(stderr, "dnnl_sgemm failed on %s\n", s.name);
      return 1;
    }
    float worst = 0;
    for (size_t i = 0; i < c.size(); ++i) worst = std::max(worst, std::abs(c[i] - c_blas[i]));
    if (worst > 1e-3f * float(s.k)) {
      std::fprintf(stderr, "%s: OpenBLAS and oneDNN differ by %g\n", s.name, double(worst));
      return 1;
    }
    const double dnnl = median_us([&] {
      dnnl_sgemm(ta, tb, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, c.data(), ldc);
    });
    const double flop = 2.0 * s.m * s.n * s.k;
    std::printf("| %s | %.1f | %.1f | %.1f | %.1f |\n", s.name, blas, flop / blas * 1e-3, dnnl, flop / dnnl * 1e-3);
  }
  return 0;
}
