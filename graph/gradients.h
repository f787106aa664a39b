// Reverse-mode symbolic differentiation, TF1's tf.gradients.
//
//   auto grads = gradients({loss}, {W.ref(), b.ref()});   // d loss / d W, d loss / d b
//   // grads[i] is a none Output when ys do not depend on xs[i].
//
// Walks back from `ys` over the ops that lie between `xs` and `ys` only, sums several
// contributions with AddN, passes nothing through StopGradient or integer tensors, and names
// its ops under "gradients/" ("gradients/hidden1/MatMul_grad/MatMul_1"). An op on the path
// without a registered gradient is an Unimplemented error naming its type and node.
#pragma once
#include <vector>

#include "graph/graph.h"

namespace fg {

std::vector<Output> gradients(const std::vector<Output>& ys, const std::vector<Output>& xs,
                              const std::vector<Output>& grad_ys = {});

}  // namespace fg
