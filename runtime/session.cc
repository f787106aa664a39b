#include "runtime/session.h"

#include <algorithm>
#include <chrono>

#include "graph/op_registry.h"
#include "ops/register.h"
#include "runtime/plan.h"

namespace fg {

Targets::Targets(const std::vector<CollectionItem>& items) {
  for (const auto& item : items) ops_.push_back(as_operation(item));
}

Targets::Targets(std::initializer_list<Targets> parts) {
  for (const Targets& p : parts) ops_.insert(ops_.end(), p.ops_.begin(), p.ops_.end());
}

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

}  // namespace

Session::Session(Graph& graph) : graph_(graph), graph_life_(graph.lifetime()) { register_ops(); }
Session::~Session() = default;

void Session::throw_graph_destroyed() const {
  throw FailedPrecondition("Session: its Graph was destroyed (a Session refers to its Graph without owning it; "
                           "keep the Graph alive as long as the Session runs)");
}

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
                                             const std::vector<Operation*>& targets,
                                             const std::unordered_map<const Operation*, bool>* pred_values) {
  PlanCompilation c(graph_, feeds, fetches, targets);
  check_signature(c);
  order_needed_ops(c);
  if (pred_values && !specialize_switches(c, *pred_values)) return nullptr;
  if (fusions_enabled_.load(std::memory_order_relaxed)) apply_fusions(c, OpRegistry::global().fusions());
  forward_inputs(c);
  if (fusions_enabled_.load(std::memory_order_relaxed)) group_ops(c);
  count_reads(c);
  emit_steps(c);
  track_deadness(c);
  if (c.plan->control_flow && !pred_values) {
    auto specs = std::make_shared<Specializations>();
    specs->targets = targets;
    if (find_switch_preds(c, *specs)) c.plan->specializations = std::move(specs);
  }
  std::unique_lock lock(mu_);
  bind_variables(c, [&](const Operation* var) { return slot_for(var); });
  attach_counters(c, [&](const Operation* op) {
    auto& counter = counters_[op];
    if (!counter) counter = std::make_unique<std::atomic<uint64_t>>(0);
    return counter.get();
  });
  return std::move(c.plan);
}

namespace {

// A run's working vectors, kept per thread so that a cached plan's run allocates none of them;
// emptied of tensors when the run ends, so no buffer outlives its run. A run nested in a run on
// the same thread (a kernel that runs a session) uses vectors of its own.
struct RunScratch {
  std::vector<Tensor> values, inputs, outputs;
  std::vector<VariableSlot*> refs;
  std::vector<char> dead, input_dead, output_dead;  // control-flow plans only
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

// Whether a step runs, from the dead flags of what it depends on (see StepFlow).
bool step_is_dead(const StepFlow& f, size_t n_inputs, const std::vector<char>& dead) {
  if (f.merge_like) {
    for (size_t k = 0; k < n_inputs; ++k)
      if (f.live_deps[k] < 0 || !dead[f.live_deps[k]]) return false;
    return true;
  }
  for (int id : f.live_deps)
    if (id >= 0 && dead[id]) return true;
  return false;
}

// The steps of a plan. With kControlFlow, values may be dead: a dead step runs no kernel and
// marks its outputs dead; a switch-like kernel marks the outputs it leaves dead. Without it the
// loop is the plain one, with no deadness cost.
template <bool kControlFlow>
void run_steps(const Plan& plan, RunScratch& scratch, bool profiling, std::vector<double>& step_us) {
  std::vector<Tensor>& values = scratch.values;
  std::vector<Tensor>& inputs = scratch.inputs;
  std::vector<Tensor>& outputs = scratch.outputs;
  std::vector<VariableSlot*>& refs = scratch.refs;
  std::vector<char>& dead = scratch.dead;
  size_t step_index = 0;
  for (const Step& s : plan.steps) {
    [[maybe_unused]] const StepFlow* flow = nullptr;
    if constexpr (kControlFlow) {
      flow = &plan.flow[step_index];
      if (step_is_dead(*flow, s.inputs.size(), dead)) {
        for (int id : flow->outputs)
          if (id >= 0) dead[id] = 1;
        if (flow->control_out >= 0) dead[flow->control_out] = 1;
        // Dead inputs hold nothing; live ones read last here are released as they would be.
        for (size_t i = 0; i < s.inputs.size(); ++i)
          if (s.inputs[i] >= 0 && s.last_use[i]) values[s.inputs[i]] = Tensor();
        if (profiling) step_us[step_index] = -1;  // did not run
        ++step_index;
        continue;
      }
      for (int id : flow->outputs)
        if (id >= 0) dead[id] = 0;
      if (flow->control_out >= 0) dead[flow->control_out] = 0;
    }
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
    [[maybe_unused]] KernelDeadness deadness;
    if constexpr (kControlFlow) {
      scratch.output_dead.assign(s.outputs.size(), 0);
      if (flow->merge_like) {
        scratch.input_dead.resize(n);
        for (int i = 0; i < n; ++i) scratch.input_dead[i] = flow->live_deps[i] >= 0 && dead[flow->live_deps[i]];
        deadness.input_dead = scratch.input_dead.data();
      }
      deadness.output_dead = scratch.output_dead.data();
    }
    try {
      auto call = [&] {
        if (profiling) {
          const auto start = std::chrono::steady_clock::now();
          s.kernel(ctx);
          step_us[step_index] =
              std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
        } else {
          s.kernel(ctx);
        }
      };
      if constexpr (kControlFlow) {
        KernelDeadness::Scope flow_scope(&deadness);
        call();
      } else {
        call();
      }
      ++step_index;
    } catch (const Error& e) {
      rethrow_in_node(e, *s.op);
    } catch (const std::bad_alloc&) {
      throw ResourceExhausted(str_cat("OOM in a kernel's working memory\n\t [[node ", s.op->name(), " (",
                                      s.op->type(), ")]]"));
    } catch (const std::exception& e) {
      throw Internal(str_cat(e.what(), "\n\t [[node ", s.op->name(), " (", s.op->type(), ")]]"));
    }
    for (size_t j = 0; j < s.outputs.size(); ++j) {
      if constexpr (kControlFlow) {
        if (scratch.output_dead[j]) {
          if (flow->outputs[j] >= 0) dead[flow->outputs[j]] = 1;
          continue;
        }
        // A reference output read as a value reads the variable, which may be uninitialized.
        if (s.outputs[j] >= 0 && !outputs[j].valid() && s.op->def().forwards_reference)
          rethrow_in_node(FailedPrecondition(str_cat("output ", j, " refers to an uninitialized variable")), *s.op);
      }
      if (s.outputs[j] < 0) continue;
      if (!outputs[j].valid() || outputs[j].dtype() != s.output_dtypes[j])
        throw Internal(str_cat("kernel of '", s.op->name(), "' (", s.op->type(), ") produced no ",
                               dtype_name(s.output_dtypes[j]), " value for output ", j));
      values[s.outputs[j]] = std::move(outputs[j]);
    }
    inputs.clear();
    outputs.clear();
  }
}

}  // namespace

const Plan& Session::specialized(const Plan& plan, std::span<const Tensor> feed_values) {
  Specializations& specs = *plan.specializations;
  size_t key = 0;
  for (size_t k = 0; k < specs.sources.size(); ++k) {
    const PredSource& src = specs.sources[k];
    bool value = src.value;
    if (src.feed >= 0) {
      // Not a bool scalar: the generic plan runs, and its Switch says what is wrong.
      const Tensor& t = feed_values[src.feed];
      if (!t.valid() || t.dtype() != DType::kBool || t.rank() != 0) return plan;
      value = t.scalar<bool>();
    }
    key |= size_t{value} << k;
  }
  if (const Plan* p = specs.by_values[key].load(std::memory_order_acquire)) return *p;
  std::lock_guard lock(specs.mu);
  if (const Plan* p = specs.by_values[key].load(std::memory_order_acquire)) return *p;
  std::unordered_map<const Operation*, bool> values;
  for (const auto& [op, k] : specs.source_of) values[op] = (key >> k) & 1;
  std::shared_ptr<const Plan> p = compile(plan.feeds, plan.fetches, specs.targets, &values);
  const Plan* chosen = p ? p.get() : &plan;
  if (p) specs.owned.push_back(std::move(p));
  specs.by_values[key].store(chosen, std::memory_order_release);
  return *chosen;
}

void Session::execute(const Plan& given, std::span<const Tensor> feed_values, std::vector<Tensor>* owned_feeds,
                      std::vector<Tensor>& result) {
  const Plan& plan = given.specializations ? specialized(given, feed_values) : given;
  ScratchLease scratch;
  std::vector<Tensor>& values = scratch->values;
  values.resize(plan.num_values);
  if (plan.control_flow) scratch->dead.assign(plan.num_values, 0);
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
  const bool profiling = profiling_.load(std::memory_order_relaxed);
  std::vector<double> step_us(profiling ? plan.steps.size() : 0);
  if (plan.control_flow) run_steps<true>(plan, *scratch.operator->(), profiling, step_us);
  else run_steps<false>(plan, *scratch.operator->(), profiling, step_us);
  if (profiling) {
    std::lock_guard<std::mutex> lock(profile_mu_);
    for (size_t i = 0; i < plan.steps.size(); ++i) {
      if (step_us[i] < 0) continue;
      OpProfile& p = profile_[plan.steps[i].op];
      if (p.calls == 0) {
        p.name = plan.steps[i].op->name();
        p.type = plan.steps[i].op->type();
      }
      ++p.calls;
      p.total_us += step_us[i];
    }
  }
  if (plan.control_flow) {
    // TF's wording: the fetch (a function's return value there) did not get computed.
    for (size_t i = 0; i < plan.fetch_ids.size(); ++i)
      FG_CHECK(!scratch->dead[plan.fetch_ids[i]], InvalidArgument, "Retval[", i, "] does not have value: the fetched "
               "tensor '", plan.fetches[i].name(), "' is dead (it is on the side of a Switch, or in a branch of a cond, "
               "that this run did not take)");
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
  check_graph_alive();
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
  check_graph_alive();
  return Callable(this, get_plan(feeds, fetches, targets.ops()));
}

void Callable::check_call(size_t got) const {
  FG_CHECK(session_life_.alive(), FailedPrecondition,
           "Callable: its Session was destroyed (a Callable refers to its Session without owning it)");
  session_->check_graph_alive();
  FG_CHECK(got == plan_->feeds.size(), InvalidArgument, "Callable: expected ", plan_->feeds.size(), " feeds, got ", got);
}

std::vector<Tensor> Callable::operator()(std::vector<Tensor> feeds) const {
  check_call(feeds.size());
  std::vector<Tensor> result;
  session_->execute(*plan_, feeds, &feeds, result);
  return result;
}

void Callable::operator()(std::span<const Tensor> feeds, std::vector<Tensor>& fetches) const {
  check_call(feeds.size());
  session_->execute(*plan_, feeds, nullptr, fetches);
}

Tensor Session::variable_value(const Operation* var_op) {
  check_graph_alive();
  FG_CHECK(var_op && var_op->def().holds_variable, NotFound, "Session: '", var_op ? var_op->name() : "<null>",
           "' is not a variable");
  VariableSlot* slot;
  {
    std::unique_lock lock(mu_);
    slot = slot_for(var_op);
  }
  return read_variable(*slot);
}

void Session::set_variable_value(const Operation* var_op, const Tensor& value) {
  check_graph_alive();
  FG_CHECK(var_op && var_op->def().holds_variable, NotFound, "Session: '", var_op ? var_op->name() : "<null>",
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
  check_graph_alive();
  VariableSlot* slot;
  {
    std::unique_lock lock(mu_);
    slot = slot_for(var_op);
  }
  std::lock_guard lock(slot->mu);
  return slot->value.valid();
}

}  // namespace fg
