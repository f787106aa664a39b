#include "runtime/plan.h"

#include <algorithm>

namespace fg {

namespace {

std::vector<StepInput> own_inputs(const Operation* op) {
  std::vector<StepInput> v;
  for (int i = 0; i < op->num_inputs(); ++i) v.push_back({op->input(i), input_is_ref(*op, i)});
  return v;
}

// A reference straight to a variable is no dependency (Assign must not wait for the variable's
// value); one through an op that forwards a reference (RefSwitch) depends on that op.
bool is_dependency(const Operation* op, int i) {
  return !input_is_ref(*op, i) || !op->input(i).op()->def().holds_variable;
}

// A cycle among the ops a run needs: TF's graphs have them only in while loops, which flowgraph
// carries without kernels, so the error names the loop's op that cannot run.
[[noreturn]] void cycle_error(const std::vector<std::pair<Operation*, size_t>>& stack, Operation* dep) {
  size_t first = 0;
  while (first < stack.size() && stack[first].first != dep) ++first;
  for (size_t k = first; k < stack.size(); ++k) {
    const Operation* op = stack[k].first;
    if (!op->def().kernel)
      throw Unimplemented(str_cat("No CPU kernel for op type '", op->type(), "' (node '", op->name(),
                                  "', in a cycle: a while loop); flowgraph can import and carry it but not run it"));
  }
  throw InvalidArgument(str_cat("Session::run: the graph has a cycle through '", dep->name(), "'"));
}

}  // namespace

int PlanCompilation::id_of(const Output& o) {
  auto [it, inserted] = value_id.emplace(o, plan->num_values);
  if (inserted) ++plan->num_values;
  return it->second;
}

Output PlanCompilation::resolved(const Output& o) const {
  auto it = forwarded.find(o);
  return it != forwarded.end() ? it->second : o;
}

std::vector<StepInput> PlanCompilation::inputs_of(Operation* op) const {
  auto it = fused.find(op);
  std::vector<StepInput> ins = it != fused.end() ? it->second.inputs : own_inputs(op);
  for (StepInput& in : ins)
    if (!in.is_ref) in.value = resolved(in.value);
  return ins;
}

void check_signature(PlanCompilation& c) {
  for (const Output& f : c.feeds) {
    FG_CHECK(f && f.graph() == &c.graph, InvalidArgument, "Session::run: a fed tensor is not in this session's graph");
    FG_CHECK(c.fed.insert(f).second, InvalidArgument, "Session::run: tensor '", f.name(), "' is fed twice");
    c.plan->feeds.push_back(f);
    c.plan->feed_ids.push_back(c.id_of(f));
  }
  for (const Output& f : c.fetches)
    FG_CHECK(f && f.graph() == &c.graph, InvalidArgument, "Session::run: a fetched tensor is not in this session's graph");
  for (Operation* t : c.targets)
    FG_CHECK(t && t->graph() == &c.graph, InvalidArgument, "Session::run: a target op is not in this session's graph");
}

// Post-order DFS over the ops the fetches and targets need; fed tensors and reference edges
// (Assign's variable) are not dependencies.
void order_needed_ops(PlanCompilation& c) {
  std::unordered_map<Operation*, int> state;  // 1 = on stack, 2 = done
  std::vector<std::pair<Operation*, size_t>> stack;
  auto visit = [&](Operation* root) {
    if (state[root] == 2) return;
    stack.push_back({root, 0});
    state[root] = 1;
    while (!stack.empty()) {
      auto& [op, next] = stack.back();
      const size_t n_in = op->num_inputs(), n_ctl = op->control_inputs().size();
      if (next < n_in + n_ctl) {
        Operation* dep = nullptr;
        if (next < n_in) {
          const Output in = op->input(static_cast<int>(next));
          if (!c.fed.count(in) && is_dependency(op, static_cast<int>(next))) dep = in.op();
        } else {
          dep = op->control_inputs()[next - n_in];
        }
        ++next;
        if (dep) {
          int& s = state[dep];
          if (s == 1) cycle_error(stack, dep);
          if (s == 0) {
            s = 1;
            stack.push_back({dep, 0});
          }
        }
      } else {
        state[op] = 2;
        c.order.push_back(op);
        stack.pop_back();
      }
    }
  };
  for (const Output& f : c.fetches) if (!c.fed.count(f)) visit(f.op());
  for (Operation* t : c.targets) visit(t);
}

// Plan-level fusions (OpRegistry::fusions), decided on the graph's own uses: a fused consumer
// reads its producer's inputs and the producer leaves the plan.
void apply_fusions(PlanCompilation& c, const std::vector<Fusion>& fusions) {
  if (fusions.empty()) return;
  std::unordered_map<Output, int, OutputHash> uses;
  std::unordered_set<Operation*> in_plan(c.order.begin(), c.order.end()), pinned(c.targets.begin(), c.targets.end());
  for (Operation* op : c.order) {
    for (const StepInput& in : own_inputs(op)) if (!in.is_ref) ++uses[in.value];
    for (Operation* ctl : op->control_inputs()) pinned.insert(ctl);
  }
  for (const Output& f : c.fetches) pinned.insert(f.op());
  for (Operation* op : c.order) {
    if (c.absorbed.count(op)) continue;
    const std::vector<StepInput> ins = own_inputs(op);
    for (const Fusion& f : fusions) {
      if (f.consumer_def != &op->def() || f.input >= op->num_inputs() || ins[f.input].is_ref) continue;
      const Output in = ins[f.input].value;
      Operation* p = in.op();
      if (&p->def() != f.producer_def || p->num_outputs() != 1 || c.fed.count(in) || !in_plan.count(p) ||
          pinned.count(p) || uses[in] != 1 || c.absorbed.count(p))
        continue;
      // A plain fusion takes an unfused producer; a chained one, a producer fused with `inner`.
      const auto inner = c.fused.find(p);
      if (!f.inner_def ? inner != c.fused.end()
                       : inner == c.fused.end() || &inner->second.absorbed.back()->def() != f.inner_def)
        continue;
      if (f.applies && !f.applies(*op, *p)) continue;
      FusedOp fused{&f, std::vector<StepInput>(ins.begin(), ins.begin() + f.input), {}};
      for (const StepInput& pi : f.inner_def ? inner->second.inputs : own_inputs(p)) fused.inputs.push_back(pi);
      fused.inputs.insert(fused.inputs.end(), ins.begin() + f.input + 1, ins.end());
      if (f.inner_def) {
        fused.absorbed = std::move(inner->second.absorbed);
        c.fused.erase(inner);
      }
      fused.absorbed.push_back(p);
      c.fused[op] = std::move(fused);
      c.absorbed.insert(p);
      break;
    }
  }
}

// Ops that forward their input's value (Identity, StopGradient): the plan reads that value
// directly and runs no step for them (one step fewer per variable read). Not one with control
// inputs, whose place in the order matters, nor a target or a fed one.
void forward_inputs(PlanCompilation& c) {
  std::unordered_set<Operation*> target_ops(c.targets.begin(), c.targets.end());
  for (Operation* op : c.order) {
    if (c.absorbed.count(op) || !op->def().forwards_input || op->num_inputs() != 1 ||
        !op->control_inputs().empty() || target_ops.count(op) || c.fed.count(op->output(0)))
      continue;
    // The order is topological, so the source is already resolved.
    c.forwarded.emplace(op->output(0), c.resolved(op->input(0)));
    c.absorbed.insert(op);
  }
}

// Readers of each value, so that the last one can take the buffer; fetched values are kept.
void count_reads(PlanCompilation& c) {
  for (Operation* op : c.order) {
    if (c.absorbed.count(op)) continue;
    for (const StepInput& in : c.inputs_of(op))
      if (!in.is_ref) ++c.readers[c.id_of(in.value)];
  }
  for (const Output& f : c.fetches) {
    c.plan->fetches.push_back(f);
    c.plan->fetch_ids.push_back(c.id_of(c.resolved(f)));
    c.fetched.insert(c.plan->fetch_ids.back());
  }
}

void emit_steps(PlanCompilation& c) {
  for (Operation* op : c.order) {
    if (c.absorbed.count(op)) continue;
    Step s;
    s.op = op;
    s.kernel = op->def().kernel;
    s.attrs = &op->attrs();
    if (auto f = c.fused.find(op); f != c.fused.end()) {
      s.kernel = f->second.fusion->kernel;
      // Every absorbed op's attrs, innermost first, so outer ops and the consumer win a clash.
      s.fused_attrs = std::make_shared<AttrMap>();
      for (Operation* absorbed_op : f->second.absorbed)
        for (const auto& [name, value] : absorbed_op->attrs()) (*s.fused_attrs)[name] = value;
      for (const auto& [name, value] : op->attrs()) (*s.fused_attrs)[name] = value;
      s.attrs = s.fused_attrs.get();
    }
    if (!s.kernel)
      throw Unimplemented(str_cat("No CPU kernel for op type '", op->type(), "' (node '", op->name(),
                                  "'); flowgraph can import and carry it but not run it"));
    const std::vector<StepInput> ins = c.inputs_of(op);
    const int n = static_cast<int>(ins.size());
    s.inputs.resize(n, -1);
    s.last_use.resize(n, 0);
    std::vector<const Operation*> vars(n, nullptr);
    for (int i = 0; i < n; ++i) {
      const Output in = ins[i].value;
      if (ins[i].is_ref) {
        vars[i] = referenced_variable(in);
        FG_CHECK(vars[i], InvalidArgument, "node '", op->name(), "': reference input ", i, " is not a variable");
        continue;
      }
      const int id = c.id_of(in);
      s.inputs[i] = id;
      s.last_use[i] = (--c.readers[id] == 0 && !c.fetched.count(id)) ? 1 : 0;
    }
    if (op->def().holds_variable) vars.push_back(op);
    s.refs.resize(vars.size(), nullptr);
    for (int j = 0; j < op->num_outputs(); ++j) {
      const Output o = op->output(j);
      auto id = c.value_id.find(o);
      s.outputs.push_back(id != c.value_id.end() && !c.fed.count(o) ? id->second : -1);
    }
    c.plan->steps.push_back(std::move(s));
    c.ref_variables.push_back(std::move(vars));
  }
}

// Deadness (TF's executor rules): an op is dead when a data input is dead, or a control input's
// op is; a merge-like op only when all its data inputs are. A forwarding op that runs no step
// stands for its source on its control edges; a fed value is never dead.
void track_deadness(PlanCompilation& c) {
  Plan& plan = *c.plan;
  plan.control_flow = std::any_of(plan.steps.begin(), plan.steps.end(),
                                  [](const Step& s) { return s.op->def().switch_like; });
  if (!plan.control_flow) return;
  auto control_id = [&](Operation* src) {
    if (src->num_outputs() > 0) {
      auto fw = c.forwarded.find(src->output(0));
      if (fw != c.forwarded.end()) return c.id_of(fw->second);
    }
    return c.id_of(Output(src, -1));
  };
  plan.flow.resize(plan.steps.size());
  for (size_t k = 0; k < plan.steps.size(); ++k) {
    const Step& s = plan.steps[k];
    StepFlow& f = plan.flow[k];
    f.merge_like = s.op->def().merge_like && !s.inputs.empty();
    const std::vector<StepInput> ins = c.inputs_of(s.op);
    for (size_t i = 0; i < ins.size(); ++i) {
      if (!ins[i].is_ref) f.live_deps.push_back(s.inputs[i]);
      else f.live_deps.push_back(ins[i].value.op()->def().holds_variable ? -1 : c.id_of(ins[i].value));
    }
    std::vector<Operation*> ops{s.op};
    if (auto fused = c.fused.find(s.op); fused != c.fused.end())
      ops.insert(ops.end(), fused->second.absorbed.begin(), fused->second.absorbed.end());
    for (Operation* op : ops)
      for (Operation* ctl : op->control_inputs()) f.live_deps.push_back(control_id(ctl));
  }
  // Ids exist now for everything any step reads; each producer writes the flags of its own.
  for (size_t k = 0; k < plan.steps.size(); ++k) {
    const Step& s = plan.steps[k];
    StepFlow& f = plan.flow[k];
    for (int j = 0; j < s.op->num_outputs(); ++j) {
      const Output o = s.op->output(j);
      auto id = c.value_id.find(o);
      f.outputs.push_back(id != c.value_id.end() && !c.fed.count(o) ? id->second : -1);
    }
    auto id = c.value_id.find(Output(s.op, -1));
    if (id != c.value_id.end()) f.control_out = id->second;
  }
}

void bind_variables(PlanCompilation& c, const std::function<VariableSlot*(const Operation*)>& slot_for) {
  for (size_t i = 0; i < c.plan->steps.size(); ++i) {
    Step& s = c.plan->steps[i];
    const auto& vars = c.ref_variables[i];
    for (size_t k = 0; k < vars.size(); ++k)
      if (vars[k]) s.refs[k] = slot_for(vars[k]);
    // A variable's own kernel only reads its slot, which the run loop does without a call.
    if (s.op->def().holds_variable && s.kernel == s.op->def().kernel) s.read_slot = s.refs.back();
  }
}

void attach_counters(PlanCompilation& c,
                     const std::function<std::atomic<uint64_t>*(const Operation*)>& counter_for) {
  for (Step& s : c.plan->steps) s.counter = counter_for(s.op);
}

}  // namespace fg
