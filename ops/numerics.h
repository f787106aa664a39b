// Numerics checks as TF1 has them: tf.check_numerics and tf.add_check_numerics_ops.
//
//   Output safe = check_numerics(logits, "logits");     // CheckNumerics: passes logits through
//   Operation* check = add_check_numerics_ops(g);       // one check per float tensor, chained
//   sess.run({{X, xb}, {y, yb}}, {}, {training_op, check});
//   // a NaN or inf: InvalidArgument "logits : Tensor had NaN values" (naming the node)
//
// A diverging training run stops at the first step that makes a NaN or an inf, with the name
// of the first tensor that has one.
#pragma once
#include <string>

#include "graph/graph.h"

namespace fg {

// TF's CheckNumerics: `tensor` unchanged, or InvalidArgument "<message> : Tensor had NaN values"
// ("Inf", "Inf and NaN") when run on a value that is not finite. Its gradient is the incoming
// gradient, checked the same way ("Not a number (NaN) or infinity (Inf) values detected in
// gradient. <message>").
Output check_numerics(const Output& tensor, const std::string& message, const std::string& name = "");

// TF's add_check_numerics_ops: a CheckNumerics (message "<op name>:<index>") for every float32
// and float64 output of the graph's operations (not variable references), each depending on the
// one before, so they run in graph order and the first bad tensor is the one reported; returns the
// NoOp grouping the last. Throws InvalidArgument for a graph with no such tensor.
Operation* add_check_numerics_ops(Graph& g);


}  // namespace fg
