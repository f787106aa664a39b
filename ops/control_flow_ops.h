// TF 1.x control flow: tf.cond and its parts, Switch and Merge.
//
//   auto training = placeholder_with_default(g, Tensor(false), {}, "training");
//   Output y = cond(training, [&] { return nn::dropout(x, 0.5); }, [&] { return identity(x); });
//   auto [x_false, x_true] = switch_op(x, training);   // at run time one of them is dead
//   auto [z, value_index] = merge({x_false, x_true});   // the live one
//
// cond builds TF's nodes and names: "cond/Switch" (pred, pred), "cond/switch_t", "cond/switch_f",
// "cond/pred_id", each branch's ops (every outside tensor entering through a Switch on pred_id,
// ops without inputs waiting on the branch's pivot), and "cond/Merge" per result. At run time
// only the taken branch runs: the other's ops are dead (runtime/plan.h). Gradients flow back
// through the taken branch only (the gradient of a Merge is a Switch, of a Switch a Merge).
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "graph/graph.h"

namespace fg {

// tf.cond: true_fn's results when pred (a bool scalar) is true at run time, else false_fn's. Both
// return the same number of tensors, pairwise of the same dtype.
Output cond(const Output& pred, const std::function<Output()>& true_fn, const std::function<Output()>& false_fn,
            const std::string& name = "cond");
std::vector<Output> cond(const Output& pred, const std::function<std::vector<Output>()>& true_fn,
                         const std::function<std::vector<Output>()>& false_fn, const std::string& name = "cond");

// TF's smart_cond: when pred is a Const, the branch it selects is built directly (no cond);
// otherwise cond.
Output smart_cond(const Output& pred, const std::function<Output()>& true_fn,
                  const std::function<Output()>& false_fn, const std::string& name = "cond");
std::vector<Output> smart_cond(const Output& pred, const std::function<std::vector<Output>()>& true_fn,
                               const std::function<std::vector<Output>()>& false_fn,
                               const std::string& name = "cond");

// Switch (RefSwitch for a variable reference): {output_false, output_true}, data forwarded to the
// one pred selects, the other dead.
std::pair<Output, Output> switch_op(const Output& data, const Output& pred, const std::string& name = "Switch");
// Merge (RefMerge when every input is a reference): {output, value_index}, the live input and its
// index. Should several be live, the lowest index wins (TF takes whichever arrives first).
std::pair<Output, Output> merge(const std::vector<Output>& inputs, const std::string& name = "Merge");

}  // namespace fg
