// Scans, TF1's tf.cumsum and tf.cumprod, and the gradient of Prod (TF's zero-aware _ProdGrad,
// which is built from two exclusive cumprods).
//
//   Graph g;
//   auto x = placeholder(g, f32, {2, 3}, "x");
//   auto s = cumsum(x, 1);                                      // [[a, a+b, a+b+c], ...]
//   auto p = cumprod(x, 1, /*exclusive=*/true);                 // [[1, a, a*b], ...]
//   auto r = cumsum(x, 0, /*exclusive=*/false, /*reverse=*/true);
#pragma once
#include <cstdint>
#include <string>

#include "graph/graph.h"

namespace fg {

Output cumsum(const Output& x, int64_t axis = 0, bool exclusive = false, bool reverse = false,
              const std::string& name = "");
Output cumprod(const Output& x, int64_t axis = 0, bool exclusive = false, bool reverse = false,
               const std::string& name = "");


}  // namespace fg
