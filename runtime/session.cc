#include "runtime/session.h"

#include <algorithm>
#include <chrono>
#include <unordered_set>

#include "graph/op_registry.h"

namespace fg {

Targets::Targets(const std::vector<CollectionItem>& items) {
  for (const auto& item : items) ops_.push_back(as_operation(item));
}

Targets::Targets(std::initializer_list<Targets> parts) {
  for (const Targets& p : parts) ops_.insert(ops_.end(), p.ops_.begin(), p.ops_.end());
}

struct Step {
  Operation* op = nullptr;
  Kernel kernel = nullptr;
  const AttrMap* attrs = nullptr;          // the op's, or fused_attrs
  std::shared_ptr<AttrMap> fused_attrs;    // consumer's + producer's attrs of a fused step
  std::vector<int> inputs;          // value ids (-1 for reference inputs)
  std::vector<char> last_use;       // move the value out instead of copying
  std::vector<VariableSlot*> refs;  // slots behind reference inputs
  std::vector<int> outputs;         // value ids (-1: fed by the caller, or never read)
  std::vector<DType> output_dtypes;
  std::atomic<uint64_t>* counter = nullptr;
  // A variable whose value a later step reads: read in the run loop itself, with no kernel call
  // (six of a 3-layer MLP's ten steps at inference).
  VariableSlot* read_slot = nullptr;
};

struct Plan {
  std::vector<Step> steps;
  int num_values = 0;
  std::vector<Output> feeds;
  std::vector<int> feed_ids;
  std::vector<int> fetch_ids;
};

namespace {

[[noreturn]] void rethrow_in_node(const Error& e, const Operation& op) {
  throw_error(e.code(), str_cat(e.what(), "\n\t [[node ", op.name(), " (", op.type(), ")]]"));
}

using PlanKey = std::vector<uintptr_t>;

// A plan's signature: the identities of its feeds, fetches and targets, sizes first. Operations
// live as long as their graph, so their addresses name them as well as their names would,
// without building strings on every run.
void make_plan_key(PlanKey& key, const std::vector<Output>& feeds, const std::vector<Output>& fetches,
                   const std::vector<Operation*>& targets) {
  key.clear();
  key.push_back(feeds.size());
  key.push_back(fetches.size());
  for (const auto* outputs : {&feeds, &fetches})
    for (const Output& o : *outputs) {
      key.push_back(reinterpret_cast<uintptr_t>(o.op()));
      key.push_back(static_cast<uintptr_t>(o.index()));
    }
  for (Operation* t : targets) key.push_back(reinterpret_cast<uintptr_t>(t));
}

bool is_variable_op(const Operation* op) { return op->type() == "VariableV2" || op->type() == "Variable"; }

}  // namespace

Session::Session(Graph& graph) : graph_(graph) {}
Session::~Session() = default;

size_t Session::num_cached_plans() const {
  std::shared_lock lock(mu_);
  return plans_.size();
}

VariableSlot* Session::slot_for(const Operation* var_op) {
  auto& slot = slots_[var_op];
  if (!slot) {
    slot = std::make_unique<VariableSlot>();
    slot->name = var_op->name();
  }
  return slot.get();
}

std::shared_ptr<const Plan> Session::get_plan(const std::vector<Output>& feeds, const std::vector<Output>& fetches,
                                              const std::vector<Operation*>& targets) {
  thread_local PlanKey key;
  make_plan_key(key, feeds, fetches, targets);
  {
    std::shared_lock lock(mu_);
    auto it = plans_.find(key);
    if (it != plans_.end()) return it->second;
  }
  PlanKey new_key = key;
  auto plan = compile(feeds, fetches, targets);
  std::unique_lock lock(mu_);
  return plans_.emplace(std::move(new_key), std::move(plan)).first->second;
}

std::shared_ptr<const Plan> Session::compile(const std::vector<Output>& feeds, const std::vector<Output>& fetches,
                                             const std::vector<Operation*>& targets) {
  auto plan = std::make_shared<Plan>();
  std::unordered_map<Output, int, OutputHash> value_id;
  auto id_of = [&](const Output& o) {
    auto [it, inserted] = value_id.emplace(o, plan->num_values);
    if (inserted) ++plan->num_values;
    return it->second;
  };
  std::unordered_set<Output, OutputHash> fed;
  for (const Output& f : feeds) {
    FG_CHECK(f && f.graph() == &graph_, InvalidArgument, "Session::run: a fed tensor is not in this session's graph");
    FG_CHECK(fed.insert(f).second, InvalidArgument, "Session::run: tensor '", f.name(), "' is fed twice");
    plan->feeds.push_back(f);
    plan->feed_ids.push_back(id_of(f));
  }
  for (const Output& f : fetches)
    FG_CHECK(f && f.graph() == &graph_, InvalidArgument, "Session::run: a fetched tensor is not in this session's graph");
  for (Operation* t : targets)
    FG_CHECK(t && t->graph() == &graph_, InvalidArgument, "Session::run: a target op is not in this session's graph");

  // Post-order DFS over the ops the fetches and targets need; fed tensors and reference edges
  // (Assign's variable) are not dependencies.
  std::vector<Operation*> order;
  std::unordered_map<Operation*, int> state;  // 1 = on stack, 2 = done
  auto visit = [&](Operation* root) {
    std::vector<std::pair<Operation*, size_t>> stack;
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
          const bool is_ref = op->def().inputs.size() > next && op->def().inputs[next].is_ref;
          if (!fed.count(in) && !is_ref) dep = in.op();
        } else {
          dep = op->control_inputs()[next - n_in];
        }
        ++next;
        if (dep) {
          int& s = state[dep];
          FG_CHECK(s != 1, InvalidArgument, "Session::run: the graph has a cycle through '", dep->name(), "'");
          if (s == 0) {
            s = 1;
            stack.push_back({dep, 0});
          }
        }
      } else {
        state[op] = 2;
        order.push_back(op);
        stack.pop_back();
      }
    }
  };
  for (const Output& f : fetches) if (!fed.count(f)) visit(f.op());
  for (Operation* t : targets) visit(t);

  // Plan-level fusions (OpRegistry::fusions), decided on the graph's own uses: a fused consumer
  // reads its producer's inputs and the producer leaves the plan.
  struct Input {
    Output value;
    bool is_ref;
  };
  auto own_inputs = [](Operation* op) {
    std::vector<Input> v;
    for (int i = 0; i < op->num_inputs(); ++i)
      v.push_back({op->input(i), op->def().inputs.size() > static_cast<size_t>(i) && op->def().inputs[i].is_ref});
    return v;
  };
  std::unordered_map<Operation*, std::vector<Input>> fused_inputs;
  std::unordered_map<Operation*, const Fusion*> fused_with;
  std::unordered_map<Operation*, std::vector<Operation*>> fused_ops;  // absorbed ops, innermost first
  std::unordered_set<Operation*> absorbed;
  const auto& fusions = OpRegistry::global().fusions();
  if (fusions_enabled_.load(std::memory_order_relaxed) && !fusions.empty()) {
    std::unordered_map<Output, int, OutputHash> uses;
    std::unordered_set<Operation*> in_plan(order.begin(), order.end()), pinned(targets.begin(), targets.end());
    for (Operation* op : order) {
      for (const Input& in : own_inputs(op)) if (!in.is_ref) ++uses[in.value];
      for (Operation* c : op->control_inputs()) pinned.insert(c);
    }
    for (const Output& f : fetches) pinned.insert(f.op());
    for (Operation* op : order) {
      if (absorbed.count(op)) continue;
      const std::vector<Input> ins = own_inputs(op);
      for (const Fusion& f : fusions) {
        if (f.consumer != op->type() || f.input >= op->num_inputs() || ins[f.input].is_ref) continue;
        const Output in = ins[f.input].value;
        Operation* p = in.op();
        if (p->type() != f.producer || p->num_outputs() != 1 || fed.count(in) || !in_plan.count(p) ||
            pinned.count(p) || uses[in] != 1 || absorbed.count(p))
          continue;
        // A plain fusion takes an unfused producer; a chained one, a producer fused with `inner`.
        const auto inner = fused_with.find(p);
        if (f.inner.empty() ? inner != fused_with.end()
                            : inner == fused_with.end() || fused_ops[p].back()->type() != f.inner)
          continue;
        if (f.applies && !f.applies(*op, *p)) continue;
        std::vector<Input> merged(ins.begin(), ins.begin() + f.input);
        for (const Input& pi : f.inner.empty() ? own_inputs(p) : fused_inputs[p]) merged.push_back(pi);
        merged.insert(merged.end(), ins.begin() + f.input + 1, ins.end());
        fused_inputs[op] = std::move(merged);
        fused_with[op] = &f;
        std::vector<Operation*> chain = f.inner.empty() ? std::vector<Operation*>{} : fused_ops[p];
        chain.push_back(p);
        fused_ops[op] = std::move(chain);
        if (!f.inner.empty()) {
          fused_inputs.erase(p);
          fused_with.erase(p);
          fused_ops.erase(p);
        }
        absorbed.insert(p);
        break;
      }
    }
  }
  // Identity ops forward their input's value, so the plan reads that value directly and runs no
  // step for them (one step fewer per variable read). Not one with control inputs, whose place in
  // the order matters, nor a target or a fed one.
  std::unordered_map<Output, Output, OutputHash> forwarded;
  {
    std::unordered_set<Operation*> target_ops(targets.begin(), targets.end());
    for (Operation* op : order) {
      if (absorbed.count(op) || op->type() != "Identity" || op->num_inputs() != 1 || !op->control_inputs().empty() ||
          target_ops.count(op) || fed.count(op->output(0)))
        continue;
      Output source = op->input(0);
      if (auto it = forwarded.find(source); it != forwarded.end()) source = it->second;  // order is topological
      forwarded.emplace(op->output(0), source);
      absorbed.insert(op);
    }
  }
  // Grouped ops (OpDef::group_kernel): the ops of such a type with equal attrs, none downstream of
  // another, run as one step. Whatever depends on any of them moves after the groups and the rest
  // keeps its order before them, so the plan stays topological (and the same on every process
  // that runs the same graph, which collectives need).
  std::unordered_map<Operation*, std::vector<Operation*>> groups;  // first member -> all members
  std::unordered_set<Operation*> grouped_away;                     // the other members
  if (fusions_enabled_.load(std::memory_order_relaxed)) {
    auto groupable = [&](Operation* op) {
      const OpDef& d = op->def();
      return d.group_kernel && !absorbed.count(op) && !fused_with.count(op) && d.inputs.size() == 1 &&
             d.outputs.size() == 1 && op->num_inputs() == 1 && op->num_outputs() == 1 && !d.inputs[0].is_ref;
    };
    if (std::count_if(order.begin(), order.end(), groupable) >= 2) {
      auto same_attrs = [](const Operation* a, const Operation* b) {
        if (&a->def() != &b->def() || a->attrs().size() != b->attrs().size()) return false;
        for (auto ia = a->attrs().begin(), ib = b->attrs().begin(); ia != a->attrs().end(); ++ia, ++ib)
          if (ia->first != ib->first || attr_to_string(ia->second) != attr_to_string(ib->second)) return false;
        return true;
      };
      std::unordered_set<Operation*> members, downstream;
      std::vector<std::vector<Operation*>> buckets;
      for (Operation* op : order) {
        auto after = [&](Operation* dep) { return members.count(dep) || downstream.count(dep); };
        bool is_after = false;
        for (const Input& in : own_inputs(op))
          if (!in.is_ref && !fed.count(in.value) && after(in.value.op())) is_after = true;
        for (Operation* c : op->control_inputs())
          if (after(c)) is_after = true;
        if (is_after) {
          downstream.insert(op);
        } else if (groupable(op)) {
          members.insert(op);
          auto b = std::find_if(buckets.begin(), buckets.end(), [&](const auto& v) { return same_attrs(v[0], op); });
          if (b == buckets.end()) buckets.push_back({op});
          else b->push_back(op);
        }
      }
      std::vector<Operation*> before, leaders, rest;
      for (auto& b : buckets)
        if (b.size() >= 2) {
          leaders.push_back(b[0]);
          grouped_away.insert(b.begin() + 1, b.end());
          groups[b[0]] = std::move(b);
        }
      if (!groups.empty()) {
        for (Operation* op : order) {
          if (groups.count(op) || grouped_away.count(op)) continue;
          (downstream.count(op) ? rest : before).push_back(op);
        }
        order = std::move(before);
        order.insert(order.end(), leaders.begin(), leaders.end());
        order.insert(order.end(), rest.begin(), rest.end());
      }
    }
  }
  auto resolved = [&](const Output& o) {
    auto it = forwarded.find(o);
    return it != forwarded.end() ? it->second : o;
  };
  auto inputs_of = [&](Operation* op) {
    auto it = fused_inputs.find(op);
    std::vector<Input> ins = it != fused_inputs.end() ? it->second : own_inputs(op);
    for (Input& in : ins)
      if (!in.is_ref) in.value = resolved(in.value);
    return ins;
  };

  // A step's ops: the op itself, or a group's members.
  auto step_ops = [&](Operation* op) {
    auto it = groups.find(op);
    return it != groups.end() ? it->second : std::vector<Operation*>{op};
  };

  // Count readers so the last one can take the buffer.
  std::unordered_map<int, int> readers;
  std::unordered_set<int> fetched;
  for (Operation* op : order) {
    if (absorbed.count(op)) continue;
    for (Operation* m : step_ops(op))
      for (const Input& in : inputs_of(m))
        if (!in.is_ref) ++readers[id_of(in.value)];
  }
  for (const Output& f : fetches) {
    plan->fetch_ids.push_back(id_of(resolved(f)));
    fetched.insert(plan->fetch_ids.back());
  }

  std::unique_lock lock(mu_);
  for (Operation* op : order) {
    if (absorbed.count(op) || grouped_away.count(op)) continue;
    Step s;
    s.op = op;
    s.kernel = op->def().kernel;
    s.attrs = &op->attrs();
    if (auto f = fused_with.find(op); f != fused_with.end()) {
      s.kernel = f->second->kernel;
      // Every absorbed op's attrs, innermost first, so outer ops and the consumer win a clash.
      s.fused_attrs = std::make_shared<AttrMap>();
      for (Operation* absorbed_op : fused_ops[op])
        for (const auto& [name, value] : absorbed_op->attrs()) (*s.fused_attrs)[name] = value;
      for (const auto& [name, value] : op->attrs()) (*s.fused_attrs)[name] = value;
      s.attrs = s.fused_attrs.get();
    }
    const std::vector<Operation*> ops = step_ops(op);
    if (ops.size() > 1) s.kernel = op->def().group_kernel;
    if (!s.kernel)
      throw Unimplemented(str_cat("No CPU kernel for op type '", op->type(), "' (node '", op->name(),
                                  "'); flowgraph can import and carry it but not run it"));
    std::vector<Input> ins;
    for (Operation* m : ops) {
      std::vector<Input> m_ins = inputs_of(m);
      ins.insert(ins.end(), m_ins.begin(), m_ins.end());
    }
    const int n = static_cast<int>(ins.size());
    s.inputs.resize(n, -1);
    s.last_use.resize(n, 0);
    s.refs.resize(n, nullptr);
    for (int i = 0; i < n; ++i) {
      const Output in = ins[i].value;
      if (ins[i].is_ref) {
        FG_CHECK(is_variable_op(in.op()), InvalidArgument, "node '", op->name(), "': reference input ", i,
                 " is not a variable");
        s.refs[i] = slot_for(in.op());
        continue;
      }
      const int id = id_of(in);
      s.inputs[i] = id;
      s.last_use[i] = (--readers[id] == 0 && !fetched.count(id)) ? 1 : 0;
    }
    if (is_variable_op(op)) {
      s.refs.push_back(slot_for(op));
      if (s.kernel == op->def().kernel) s.read_slot = s.refs.back();
    }
    for (Operation* m : ops)
      for (int j = 0; j < m->num_outputs(); ++j) {
        const Output o = m->output(j);
        const bool needed = value_id.count(o) && !fed.count(o);
        s.outputs.push_back(needed ? value_id[o] : -1);
        s.output_dtypes.push_back(o.dtype());
      }
    auto& counter = counters_[op];
    if (!counter) counter = std::make_unique<std::atomic<uint64_t>>(0);
    s.counter = counter.get();
    plan->steps.push_back(std::move(s));
  }
  return plan;
}

namespace {

// A run's working vectors, kept per thread so that a cached plan's run allocates none of them;
// emptied of tensors when the run ends, so no buffer outlives its run. A run nested in a run on
// the same thread (a kernel that runs a session) uses vectors of its own.
struct RunScratch {
  std::vector<Tensor> values, inputs, outputs;
  std::vector<VariableSlot*> refs;
  bool in_use = false;
};

class ScratchLease {
 public:
  ScratchLease() : s_(t_scratch.in_use ? own_ : t_scratch) { s_.in_use = true; }
  ~ScratchLease() {
    s_.values.clear();
    s_.inputs.clear();
    s_.outputs.clear();
    if (&s_ == &t_scratch) s_.in_use = false;
  }
  RunScratch* operator->() { return &s_; }

 private:
  static thread_local RunScratch t_scratch;
  RunScratch own_;
  RunScratch& s_;
};
thread_local RunScratch ScratchLease::t_scratch;

}  // namespace

void Session::execute(const Plan& plan, std::span<const Tensor> feed_values, std::vector<Tensor>* owned_feeds,
                      std::vector<Tensor>& result) {
  ScratchLease scratch;
  std::vector<Tensor>& values = scratch->values;
  values.resize(plan.num_values);
  for (size_t i = 0; i < plan.feeds.size(); ++i) {
    const Output& f = plan.feeds[i];
    const Tensor& t = feed_values[i];
    FG_CHECK(t.valid(), InvalidArgument, "Session::run: the value fed for '", f.name(), "' is an empty tensor");
    FG_CHECK(t.dtype() == f.dtype(), InvalidArgument, "Cannot feed value of dtype ", dtype_name(t.dtype()),
             " for Tensor '", f.name(), "', which has dtype ", dtype_name(f.dtype()));
    FG_CHECK(f.shape().compatible_with(t.shape()), InvalidArgument, "Cannot feed value of shape ", t.shape(),
             " for Tensor '", f.name(), "', which has shape ", f.shape());
    // Moved when the caller gave them up, so that a fed buffer no one else holds can be reused.
    values[plan.feed_ids[i]] = owned_feeds ? std::move((*owned_feeds)[i]) : t;
  }
  std::vector<Tensor>& inputs = scratch->inputs;
  std::vector<Tensor>& outputs = scratch->outputs;
  std::vector<VariableSlot*>& refs = scratch->refs;
  const bool profiling = profiling_.load(std::memory_order_relaxed);
  std::vector<double> step_us(profiling ? plan.steps.size() : 0);
  size_t step_index = 0;
  for (const Step& s : plan.steps) {
    if (s.read_slot && !profiling) {
      try {
        if (s.outputs[0] >= 0) values[s.outputs[0]] = read_variable(*s.read_slot);
      } catch (const Error& e) {
        rethrow_in_node(e, *s.op);
      }
      ++step_index;
      continue;
    }
    // inputs and outputs are empty between steps, so that no buffer is held past its last use.
    const int n = static_cast<int>(s.inputs.size());
    inputs.resize(n);
    for (int i = 0; i < n; ++i) {
      const int id = s.inputs[i];
      if (id >= 0) inputs[i] = s.last_use[i] ? std::move(values[id]) : values[id];
    }
    if (!s.refs.empty() || !refs.empty()) refs = s.refs;
    outputs.resize(s.outputs.size());
    KernelContext ctx(s.op->name(), *s.attrs, inputs, refs, outputs, s.counter);
    try {
      if (profiling) {
        const auto start = std::chrono::steady_clock::now();
        s.kernel(ctx);
        step_us[step_index] = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
      } else {
        s.kernel(ctx);
      }
      ++step_index;
    } catch (const Error& e) {
      rethrow_in_node(e, *s.op);
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {
      throw Internal(str_cat(e.what(), "\n\t [[node ", s.op->name(), " (", s.op->type(), ")]]"));
    }
    for (size_t j = 0; j < s.outputs.size(); ++j) {
      if (s.outputs[j] < 0) continue;
      if (!outputs[j].valid() || outputs[j].dtype() != s.output_dtypes[j])
        throw Internal(str_cat("kernel of '", s.op->name(), "' (", s.op->type(), ") produced no ",
                               dtype_name(s.output_dtypes[j]), " value for output ", j));
      values[s.outputs[j]] = std::move(outputs[j]);
    }
    inputs.clear();
    outputs.clear();
  }
  if (profiling) {
    std::lock_guard<std::mutex> lock(profile_mu_);
    for (size_t i = 0; i < plan.steps.size(); ++i) {
      OpProfile& p = profile_[plan.steps[i].op];
      if (p.calls == 0) {
        p.name = plan.steps[i].op->name();
        p.type = plan.steps[i].op->type();
      }
      ++p.calls;
      p.total_us += step_us[i];
    }
  }
  result.resize(plan.fetch_ids.size());  // no allocation when the caller's vector is reused
  for (size_t i = 0; i < plan.fetch_ids.size(); ++i) result[i] = values[plan.fetch_ids[i]];
}

void Session::set_fusions_enabled(bool on) {
  std::unique_lock lock(mu_);
  fusions_enabled_.store(on, std::memory_order_relaxed);
  plans_.clear();
}

void Session::set_profiling(bool on) { profiling_.store(on, std::memory_order_relaxed); }

std::vector<Session::OpProfile> Session::profile() const {
  std::vector<OpProfile> out;
  {
    std::lock_guard<std::mutex> lock(profile_mu_);
    for (const auto& [op, p] : profile_) out.push_back(p);
  }
  std::sort(out.begin(), out.end(), [](const OpProfile& a, const OpProfile& b) {
    return a.total_us != b.total_us ? a.total_us > b.total_us : a.name < b.name;
  });
  return out;
}

void Session::reset_profile() {
  std::lock_guard<std::mutex> lock(profile_mu_);
  profile_.clear();
}

std::vector<Tensor> Session::run(const FeedDict& feeds, const std::vector<Output>& fetches, const Targets& targets) {
  std::vector<Output> feed_keys;
  std::vector<Tensor> feed_values;
  feed_keys.reserve(feeds.size());
  feed_values.reserve(feeds.size());
  for (const auto& [k, v] : feeds) {
    feed_keys.push_back(k);
    feed_values.push_back(v);
  }
  std::vector<Tensor> result;
  execute(*get_plan(feed_keys, fetches, targets.ops()), feed_values, &feed_values, result);
  return result;
}

Tensor Session::run(const FeedDict& feeds, const Output& fetch) { return run(feeds, std::vector<Output>{fetch})[0]; }

Callable Session::make_callable(const std::vector<Output>& feeds, const std::vector<Output>& fetches,
                                const Targets& targets) {
  return Callable(this, get_plan(feeds, fetches, targets.ops()));
}

void Callable::check_feed_count(size_t got) const {
  FG_CHECK(got == plan_->feeds.size(), InvalidArgument, "Callable: expected ", plan_->feeds.size(), " feeds, got ", got);
}

std::vector<Tensor> Callable::operator()(std::vector<Tensor> feeds) const {
  check_feed_count(feeds.size());
  std::vector<Tensor> result;
  session_->execute(*plan_, feeds, &feeds, result);
  return result;
}

void Callable::operator()(std::span<const Tensor> feeds, std::vector<Tensor>& fetches) const {
  check_feed_count(feeds.size());
  session_->execute(*plan_, feeds, nullptr, fetches);
}

Tensor Session::variable_value(const Operation* var_op) {
  FG_CHECK(var_op && is_variable_op(var_op), NotFound, "Session: '", var_op ? var_op->name() : "<null>",
           "' is not a variable");
  VariableSlot* slot;
  {
    std::unique_lock lock(mu_);
    slot = slot_for(var_op);
  }
  return read_variable(*slot);
}

void Session::set_variable_value(const Operation* var_op, const Tensor& value) {
  FG_CHECK(var_op && is_variable_op(var_op), NotFound, "Session: '", var_op ? var_op->name() : "<null>",
           "' is not a variable");
  FG_CHECK(value.dtype() == var_op->output_dtype(0), InvalidArgument, "Session: variable '", var_op->name(),
           "' has dtype ", dtype_name(var_op->output_dtype(0)), ", got ", dtype_name(value.dtype()));
  FG_CHECK(var_op->output_shape(0).compatible_with(value.shape()), InvalidArgument, "Session: variable '",
           var_op->name(), "' has shape ", var_op->output_shape(0), ", got ", value.shape());
  VariableSlot* slot;
  {
    std::unique_lock lock(mu_);
    slot = slot_for(var_op);
  }
  std::lock_guard lock(slot->mu);
  slot->value = value;
}

bool Session::is_initialized(const Operation* var_op) {
  VariableSlot* slot;
  {
    std::unique_lock lock(mu_);
    slot = slot_for(var_op);
  }
  std::lock_guard lock(slot->mu);
  return slot->value.valid();
}

}  // namespace fg
