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
  Output r = o;
  for (auto it = forwarded.find(r); it != forwarded.end(); it = forwarded.find(r)) r = it->second;
  return r;
}

std::vector<StepInput> PlanCompilation::inputs_of(Operation* op) const {
  auto it = fused.find(op);
  std::vector<StepInput> ins = it != fused.end() ? it->second.inputs : own_inputs(op);
  for (StepInput& in : ins)
    if (!in.is_ref) in.value = resolved(in.value);
  return ins;
}

std::vector<Operation*> PlanCompilation::step_ops(Operation* op) const {
  auto it = groups.find(op);
  return it != groups.end() ? it->second : std::vector<Operation*>{op};
}

// An empty Output has no name, so the message gives its position instead.
void check_in_graph(const PlanCompilation& c, const Output& o, const char* what, size_t i) {
  FG_CHECK(o, InvalidArgument, "Session::run: ", what, " #", i, " is an empty Output (it names no operation)");
  FG_CHECK(o.graph() == &c.graph, InvalidArgument, "Session::run: ", what, " tensor '", o.name(),
           "' belongs to another graph than this session's");
}

void check_signature(PlanCompilation& c) {
  for (size_t i = 0; i < c.feeds.size(); ++i) {
    const Output& f = c.feeds[i];
    check_in_graph(c, f, "fed", i);
    FG_CHECK(c.fed.insert(f).second, InvalidArgument, "Session::run: tensor '", f.name(), "' is fed twice");
    c.plan->feeds.push_back(f);
    c.plan->feed_ids.push_back(c.id_of(f));
  }
  for (size_t i = 0; i < c.fetches.size(); ++i) check_in_graph(c, c.fetches[i], "fetched", i);
  for (Operation* t : c.targets)
    FG_CHECK(t && t->graph() == &c.graph, InvalidArgument, "Session::run: target op '", t ? t->name() : "",
             "' belongs to another graph than this session's");
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

// Ops whose type has a group kernel (OpDef::group_kernel, one input and one output each), with
// equal attrs and none downstream of another, run as one step: a collective sends their tensors
// as one message. Whatever depends on a member moves after the groups and the rest keeps its order
// before them, so the plan stays topological, and the same on every process that runs the same
// graph, which collectives need. Fused consumers and absorbed ops are not grouped.
void group_ops(PlanCompilation& c) {
  auto groupable = [&](Operation* op) {
    const OpDef& d = op->def();
    return d.group_kernel && !c.absorbed.count(op) && !c.fused.count(op) && d.inputs.size() == 1 &&
           d.outputs.size() == 1 && op->num_inputs() == 1 && op->num_outputs() == 1 && !d.inputs[0].is_ref;
  };
  if (std::count_if(c.order.begin(), c.order.end(), groupable) < 2) return;
  auto same_attrs = [](const Operation* a, const Operation* b) {
    if (&a->def() != &b->def() || a->attrs().size() != b->attrs().size()) return false;
    for (auto ia = a->attrs().begin(), ib = b->attrs().begin(); ia != a->attrs().end(); ++ia, ++ib)
      if (ia->first != ib->first || attr_to_string(ia->second) != attr_to_string(ib->second)) return false;
    return true;
  };
  std::unordered_set<Operation*> members, downstream;
  std::vector<std::vector<Operation*>> buckets;  // by attrs, in order of first appearance
  for (Operation* op : c.order) {
    auto after = [&](Operation* dep) { return members.count(dep) || downstream.count(dep); };
    bool is_after = false;
    for (const StepInput& in : own_inputs(op))
      if (!in.is_ref && !c.fed.count(in.value) && after(in.value.op())) is_after = true;
    for (Operation* ctl : op->control_inputs())
      if (after(ctl)) is_after = true;
    if (is_after) {
      downstream.insert(op);
    } else if (groupable(op)) {
      members.insert(op);
      auto b = std::find_if(buckets.begin(), buckets.end(), [&](const auto& v) { return same_attrs(v[0], op); });
      if (b == buckets.end()) buckets.push_back({op});
      else b->push_back(op);
    }
  }
  std::unordered_set<Operation*> grouped;  // every member of a group of two or more
  std::vector<Operation*> leaders;
  for (auto& b : buckets)
    if (b.size() >= 2) {
      leaders.push_back(b[0]);
      grouped.insert(b.begin(), b.end());
      c.groups[b[0]] = std::move(b);
    }
  if (leaders.empty()) return;
  std::vector<Operation*> before, rest;
  for (Operation* op : c.order) {
    if (grouped.count(op)) continue;
    (downstream.count(op) ? rest : before).push_back(op);
  }
  c.order = std::move(before);
  c.order.insert(c.order.end(), leaders.begin(), leaders.end());
  c.order.insert(c.order.end(), rest.begin(), rest.end());
}

// Readers of each value, so that the last one can take the buffer; fetched values are kept.
void count_reads(PlanCompilation& c) {
  for (Operation* op : c.order) {
    if (c.absorbed.count(op)) continue;
    for (Operation* m : c.step_ops(op))
      for (const StepInput& in : c.inputs_of(m))
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
    const std::vector<Operation*> ops = c.step_ops(op);
    if (ops.size() > 1) s.kernel = op->def().group_kernel;
    if (!s.kernel)
      throw Unimplemented(str_cat("No CPU kernel for op type '", op->type(), "' (node '", op->name(),
                                  "'); flowgraph can import and carry it but not run it"));
    std::vector<StepInput> ins;
    for (Operation* m : ops) {
      const std::vector<StepInput> m_ins = c.inputs_of(m);
      ins.insert(ins.end(), m_ins.begin(), m_ins.end());
    }
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
    for (Operation* m : ops)
      for (int j = 0; j < m->num_outputs(); ++j) {
        const Output o = m->output(j);
        auto id = c.value_id.find(o);
        s.outputs.push_back(id != c.value_id.end() && !c.fed.count(o) ? id->second : -1);
        s.output_dtypes.push_back(o.dtype());
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

bool find_switch_preds(PlanCompilation& c, Specializations& s) {
  for (Operation* op : c.order) {
    if (!op->def().switch_like) continue;
    if (op->num_inputs() != 2) return false;
    // Through ops that forward their input (pred_id's Identity, an unfed PlaceholderWithDefault).
    Output pred = op->input(1);
    PredSource src;
    for (int depth = 0;; ++depth) {
      if (depth > 64) return false;
      if (c.fed.count(pred)) {
        src.feed = static_cast<int>(std::find(c.feeds.begin(), c.feeds.end(), pred) - c.feeds.begin());
        break;
      }
      const Operation* p = pred.op();
      if (const Tensor* t = constant_value(*p)) {
        if (t->dtype() != DType::kBool || t->num_elements() != 1) return false;
        src.value = t->flat<bool>()[0];
        break;
      }
      if (!p->def().forwards_input || p->num_inputs() < 1 || pred.index() != 0 || input_is_ref(*p, 0)) return false;
      pred = p->input(0);
    }
    int k = 0;
    while (k < static_cast<int>(s.sources.size()) &&
           (s.sources[k].feed != src.feed || (src.feed < 0 && s.sources[k].value != src.value)))
      ++k;
    if (k == static_cast<int>(s.sources.size())) {
      if (s.sources.size() == Specializations::kMaxSources) return false;
      s.sources.push_back(src);
    }
    s.source_of[op] = k;
  }
  return !s.source_of.empty();
}

bool specialize_switches(PlanCompilation& c, const std::unordered_map<const Operation*, bool>& pred_of) {
  std::unordered_set<Output, OutputHash> dead;  // outputs that carry no value
  std::unordered_set<const Operation*> dead_ops, consumed_index;
  auto is_dead = [&](const Output& o) { return !c.fed.count(o) && dead.count(o); };
  for (Operation* op : c.order)
    for (int i = 0; i < op->num_inputs(); ++i)
      if (op->input(i).index() == 1 && op->input(i).op()->def().merge_like) consumed_index.insert(op->input(i).op());
  for (const Output& f : c.fetches)
    if (f.index() == 1 && f.op()->def().merge_like) consumed_index.insert(f.op());
  auto kill = [&](Operation* op) {
    dead_ops.insert(op);
    for (int j = 0; j < op->num_outputs(); ++j) dead.insert(op->output(j));
  };
  auto forward = [&](const Output& from, const Output& to) {
    if (!c.fed.count(from)) c.forwarded[from] = to;
  };
  std::vector<Operation*> live;
  for (Operation* op : c.order) {
    const OpDef& def = op->def();
    if (def.merge_like && op->num_inputs() > 0) {
      // Live when any input is; control inputs never make it dead. Its output is the first live
      // input, as the kernel picks it.
      int first = -1;
      for (int i = 0; i < op->num_inputs() && first < 0; ++i)
        if (!is_dead(op->input(i))) first = i;
      if (first < 0) {
        kill(op);
        continue;
      }
      if (consumed_index.count(op)) return false;
      forward(op->output(0), op->input(first));
      c.absorbed.insert(op);
      live.push_back(op);
      continue;
    }
    bool dies = false;
    for (int i = 0; i < op->num_inputs() && !dies; ++i) dies = is_dead(op->input(i));
    for (Operation* ctl : op->control_inputs()) dies = dies || dead_ops.count(ctl);
    if (dies) {
      kill(op);
      continue;
    }
    if (def.switch_like) {
      auto it = pred_of.find(op);
      if (it == pred_of.end() || op->num_outputs() != 2) return false;
      const int taken = it->second ? 1 : 0;
      dead.insert(op->output(1 - taken));
      forward(op->output(taken), op->input(0));
      c.absorbed.insert(op);
    }
    live.push_back(op);
  }
  for (const Output& f : c.fetches)
    if (is_dead(f)) return false;
  // Every value read must come from a step or a feed: a reference forwarded to a variable that
  // no step reads (a RefSwitch's side read as a value) has neither.
  const std::unordered_set<const Operation*> in_plan(live.begin(), live.end());
  auto has_producer = [&](const Output& read) {
    const Output src = c.resolved(read);
    return c.fed.count(src) || (in_plan.count(src.op()) && !c.absorbed.count(src.op()));
  };
  for (Operation* op : live) {
    if (c.absorbed.count(op)) continue;
    for (int i = 0; i < op->num_inputs(); ++i)
      if (!input_is_ref(*op, i) && !has_producer(op->input(i))) return false;
  }
  for (const Output& f : c.fetches)
    if (!has_producer(f)) return false;
  c.order = std::move(live);
  return true;
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
