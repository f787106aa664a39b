// The one way kernels view Tensor buffers through Eigen (row-major, like the buffers).
//
//   auto x = as_array<float>(t);            // 1-d Eigen::Map<Array>, all elements
//   auto m = as_matrix<float>(t, rows, cols);
//   m.noalias() = a * b;                    // Eigen's product (matrix products belong in core/gemm.h)
#pragma once
// GCC 12 falsely reports Eigen's vectorized reductions as reading uninitialized registers (PR 105593):
// its AVX-512 headers' _mm512_undefined_* self-initialise. The warning is located in those headers,
// so silencing it while Eigen (and through it the intrinsics headers) is included covers every use.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <Eigen/Core>
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic pop
#endif

#include "core/tensor.h"

namespace fg {

template <typename T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Aligned64>;
template <typename T>
using MatrixMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, Eigen::Aligned64>;

template <typename T>
ArrayMap<T> as_array(const Tensor& t) {
  return ArrayMap<T>(t.data<T>(), t.num_elements());
}
// Views the tensor as rows x cols; a tensor of rank >= 2 defaults to [prod(dims[:-1]), dims[-1]].
template <typename T>
MatrixMap<T> as_matrix(const Tensor& t, int64_t rows, int64_t cols) {
  return MatrixMap<T>(t.data<T>(), rows, cols);
}
template <typename T>
MatrixMap<T> as_matrix(const Tensor& t) {
  const int64_t cols = t.rank() == 0 ? 1 : t.dim(t.rank() - 1);
  return as_matrix<T>(t, cols == 0 ? 0 : t.num_elements() / cols, cols);
}

}  // namespace fg
