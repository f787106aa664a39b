// TF 1.x's control-flow contexts: which ops belong to which branch of a tf.cond (the runtime
// needs none of this; gradients and meta-graph files do).
//
//   Output y = cond(pred, [&] { return x * 2.0; }, [&] { return x; });   // ops/control_flow_ops.h
//   Operation* mul = g.get_operation_by_name("cond/mul");
//   CondContext* branch = mul->cond_context();        // "cond/cond_text": pred_id, switch_t, branch 1
//   branch->external_value(x);                         // "cond/mul/Switch:1", x inside the branch
//
// While a branch is built (Graph::enter_cond_context), every new op joins it: each input from
// outside enters through a Switch on the predicate (made once per tensor and kept in
// external_values), and an op without inputs gets a control input on the branch's pivot, so that
// the whole branch is dead when the other one is taken. Names and bookkeeping are TF's, so the
// contexts travel in a .meta's "cond_context" collection (train/meta_graph.h).
#pragma once
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "graph/graph.h"

namespace fg {

class CondContext {
 public:
  CondContext(std::string name, Output pred, Output pivot, int branch, CondContext* outer)
      : name_(std::move(name)), pred_(pred), pivot_(pivot), branch_(branch), outer_(outer) {}

  const std::string& name() const { return name_; }  // "cond/cond_text", "cond/cond_text_1"
  Output pred() const { return pred_; }               // the predicate as the branch sees it ("cond/pred_id:0")
  Output pivot() const { return pivot_; }             // live exactly when this branch runs ("cond/switch_t:0")
  int branch() const { return branch_; }              // 1: taken when pred is true, 0: when false
  CondContext* outer() const { return outer_; }       // the enclosing branch of a nested cond
  const std::vector<CondContext*>& nested() const { return nested_; }

  // Tensors seen in the context (TF's values_def.values): those made inside and those entering.
  bool has_value(const Output& x) const { return values_.count(x) > 0; }
  const std::unordered_set<Output, OutputHash>& values() const { return values_; }
  // Outside tensors used inside, each with the tensor standing for it in the branch.
  const std::vector<std::pair<Output, Output>>& external_values() const { return external_order_; }
  Output external_value(const Output& outside) const;  // none if `outside` does not enter

  // The tensor standing for `x` in this branch: x itself when made inside, else this branch's
  // output of a Switch (RefSwitch for a reference) on pred, made once per tensor and through the
  // enclosing branches first. Built in the current name scope.
  Output add_value(const Output& x);
  // Marks `op` as made in this branch: its outputs become values here and in the enclosing ones.
  void add_op(Operation* op);
  // True when `op` belongs to this branch or to one nested in it.
  bool contains(const Operation* op) const;

  // For importers: the bookkeeping TF's CondContextDef carries, added as read.
  void add_value_entry(const Output& x) { values_.insert(x); }
  void add_external_entry(const Output& outside, const Output& inside);

 private:
  friend class Graph;
  std::string name_;
  Output pred_, pivot_;
  int branch_;
  CondContext* outer_;
  std::vector<CondContext*> nested_;
  std::unordered_set<Output, OutputHash> values_;
  std::unordered_map<Output, Output, OutputHash> external_;
  std::vector<std::pair<Output, Output>> external_order_;
};

}  // namespace fg
