// Internal to ops/: the one loop that moves elements between a dense tensor and a strided view of
// another buffer. Slice, StridedSlice(Grad), Transpose, Pack/Unpack, ConcatV2 and Pad are all this
// loop with different offsets and steps.
#pragma once
#include <algorithm>
#include <cstdint>
#include <span>
#include <type_traits>

#include "core/parallel.h"
#include "core/shape.h"
#include "core/small_vector.h"

namespace fg::detail {

using Dims = SmallVector<int64_t, Shape::kInline>;

// Row-major element strides of a shape's dims.
inline Dims row_major_strides(std::span<const int64_t> dims) {
  Dims s(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

// For every multi-index j of `dims` (row-major), with v = base + sum_i j[i] * steps[i]:
//   kScatter false: dense[j] = view[v]     (gather a strided view into a dense tensor)
//   kScatter true:  view[v] = dense[j]     (scatter a dense tensor into a strided view; the caller
//                                           guarantees no two j reach the same v)
// Rows of the innermost dim are split over parallel_for.
template <bool kScatter, typename T>
void strided_copy(std::conditional_t<kScatter, T*, const T*> view, int64_t base, std::span<const int64_t> steps,
                  std::conditional_t<kScatter, const T*, T*> dense, std::span<const int64_t> dims) {
  const int r = static_cast<int>(dims.size());
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  if (n == 0) return;
  const int64_t inner = r > 0 ? dims[r - 1] : 1;
  const int64_t inner_step = r > 0 ? steps[r - 1] : 0;
  const int64_t rows = n / inner;
  parallel_for(rows, inner, [&](int64_t b, int64_t e) {
    // The multi-index of row b over dims[0 .. r-2], then an odometer.
    Dims idx(r > 1 ? r - 1 : 0, 0);
    int64_t off = base;
    for (int64_t q = b, i = r - 2; i >= 0; --i) {
      idx[i] = q % dims[i];
      q /= dims[i];
      off += idx[i] * steps[i];
    }
    for (int64_t q = b; q < e; ++q) {
      auto* d = dense + q * inner;
      auto* v = view + off;
      if (inner_step == 1) {
        if constexpr (kScatter) std::copy(d, d + inner, v);
        else std::copy(v, v + inner, d);
      } else {
        for (int64_t k = 0; k < inner; ++k) {
          if constexpr (kScatter) v[k * inner_step] = d[k];
          else d[k] = v[k * inner_step];
        }
      }
      for (int i = r - 2; i >= 0; --i) {
        off += steps[i];
        if (++idx[i] < dims[i]) break;
        off -= steps[i] * dims[i];
        idx[i] = 0;
      }
    }
  });
}

}  // namespace fg::detail
