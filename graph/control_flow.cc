#include "graph/control_flow.h"

#include "graph/op_registry.h"

namespace fg {

Output CondContext::external_value(const Output& outside) const {
  auto it = external_.find(outside);
  return it == external_.end() ? Output() : it->second;
}

void CondContext::add_external_entry(const Output& outside, const Output& inside) {
  auto [it, inserted] = external_.emplace(outside, inside);
  if (inserted) {
    external_order_.emplace_back(outside, inside);
  } else if (it->second != inside) {
    it->second = inside;
    for (auto& [o, i] : external_order_)
      if (o == outside) i = inside;
  }
}

Output CondContext::add_value(const Output& x) {
  if (values_.count(x)) {
    const Output inside = external_value(x);
    return inside ? inside : x;
  }
  values_.insert(x);
  Output real = x;
  if (outer_) {
    real = outer_->add_value(x);
    values_.insert(real);
    add_external_entry(real, real);
  }
  Graph& g = *x.graph();
  Operation* sw;
  {
    // Made outside any branch and control dependency, then joined to this one.
    auto plain = g.control_dependencies({});
    sw = OpBuilder(g, referenced_variable(real) ? "RefSwitch" : "Switch", "Switch").input(real).input(pred_).build();
  }
  add_op(sw);
  const Output inside = sw->output(branch_);
  add_external_entry(x, inside);
  return inside;
}

void CondContext::add_op(Operation* op) {
  op->graph()->set_cond_context(op, this);
  for (CondContext* c = this; c; c = c->outer_)
    for (int j = 0; j < op->num_outputs(); ++j) c->values_.insert(op->output(j));
}

bool CondContext::contains(const Operation* op) const {
  for (const CondContext* c = op->cond_context(); c; c = c->outer_)
    if (c == this) return true;
  return false;
}

}  // namespace fg
