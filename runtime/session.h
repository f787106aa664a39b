// Runs a Graph: feeds in, fetches out, targets run for their effects. Holds variable values.
//
//   Session sess(g);
//   sess.run(init);                                              // targets only
//   sess.run({{X, xb}, {y, yb}, {training, true}}, {}, {training_op, update_ops});
//   float acc = sess.run({{X, vx}, {y, vy}}, accuracy).scalar<float>();
//   auto step = sess.make_callable({X, y}, {loss}, {training_op});
//   auto [l] = step({xb, yb});                                   // no name lookups, no hashing
//
// Each distinct (feeds, fetches, targets) signature is compiled once into a plan: pruned to what
// the fetches and targets need (stopping at fed tensors, so any tensor can be fed), ordered,
// with each value's last reader known so buffers are released (or reused in place) as early as
// possible; ops registered as fusable pairs (graph/op_registry.h `Fusion`, e.g. a weight
// gradient's MatMul into its ApplyGradientDescent) run as one kernel. `run` and callables are
// safe to use from several threads at once.
//
// Ownership: a Session refers to its Graph without owning it; running one whose Graph was
// destroyed is a FailedPrecondition (checked with one atomic load per run). It owns its
// variables' values and its compiled plans. A Callable refers to its Session the same way: calling
// it after the Session is destroyed is a FailedPrecondition.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/kernel.h"
#include "graph/graph.h"

namespace fg {

using FeedDict = std::vector<std::pair<Output, Tensor>>;

// Anything that names ops to run: an op, a tensor (its op), a variable (its VariableV2), a
// collection (e.g. UPDATE_OPS), or a braced list of those.
class Targets {
 public:
  Targets() = default;
  Targets(Operation* op) { if (op) ops_.push_back(op); }
  Targets(const Output& o) { if (o) ops_.push_back(o.op()); }
  Targets(const Variable& v) { ops_.push_back(v.op); }
  Targets(const std::vector<CollectionItem>& items);
  Targets(const std::vector<Operation*>& ops) : ops_(ops) {}
  Targets(std::initializer_list<Targets> parts);
  const std::vector<Operation*>& ops() const { return ops_; }

 private:
  std::vector<Operation*> ops_;
};

struct Plan;
class Callable;

class Session {
 public:
  explicit Session(Graph& graph);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  std::vector<Tensor> run(const FeedDict& feeds, const std::vector<Output>& fetches, const Targets& targets = {});
  Tensor run(const FeedDict& feeds, const Output& fetch);
  Tensor run(const Output& fetch) { return run({}, fetch); }
  void run(const Targets& targets) { run({}, {}, targets); }

  // A compiled plan invoked with tensors in the order of `feeds`; returns fetches in order.
  Callable make_callable(const std::vector<Output>& feeds, const std::vector<Output>& fetches,
                         const Targets& targets = {});

  Graph& graph() const { return graph_; }
  // Direct access to variable storage (Saver, tests). NotFound if `var_op` is not a variable.
  Tensor variable_value(const Operation* var_op);
  void set_variable_value(const Operation* var_op, const Tensor& value);
  bool is_initialized(const Operation* var_op);
  // Number of compiled plans, for tests of the plan cache.
  size_t num_cached_plans() const;

  // Plan-level fusions (OpRegistry::fusions, e.g. a MatMul whose only use is
  // ApplyGradientDescent's delta runs as one in-place GEMM) and group kernels (OpDef::group_kernel)
  // are on by default; off recompiles every plan op by op (for tests comparing the two, and for
  // profiling single ops).
  void set_fusions_enabled(bool on);

  // Per-op timing of every run while enabled (TF's RunOptions FULL_TRACE, summed): what a
  // training step spends where, measured inside the step rather than op by op in isolation.
  // Costs two clock reads per op while on; nothing when off.
  struct OpProfile {
    std::string name, type;
    int64_t calls = 0;
    double total_us = 0;
  };
  void set_profiling(bool on);
  // Every op timed since profiling was enabled or reset, longest total first.
  std::vector<OpProfile> profile() const;
  void reset_profile();

 private:
  friend class Callable;
  std::shared_ptr<const Plan> get_plan(const std::vector<Output>& feeds, const std::vector<Output>& fetches,
                                       const std::vector<Operation*>& targets);
  // With `pred_values`, the plan specialized on them (runtime/plan.h), or null when it would run
  // differently from the generic one.
  std::shared_ptr<const Plan> compile(const std::vector<Output>& feeds, const std::vector<Output>& fetches,
                                      const std::vector<Operation*>& targets,
                                      const std::unordered_map<const Operation*, bool>* pred_values = nullptr);
  // The plan a run of `plan` with these feeds executes: `plan`, or its specialization.
  const Plan& specialized(const Plan& plan, std::span<const Tensor> feed_values);
  void execute(const Plan& plan, std::span<const Tensor> feed_values, std::vector<Tensor>* owned_feeds,
               std::vector<Tensor>& result);
  VariableSlot* slot_for(const Operation* var_op);
  // FailedPrecondition once the graph is destroyed.
  void check_graph_alive() const {
    if (!graph_life_.alive()) throw_graph_destroyed();
  }
  [[noreturn]] void throw_graph_destroyed() const;

  Graph& graph_;
  Lifetime::Watch graph_life_;
  Lifetime lifetime_;  // watched by this session's Callables
  mutable std::shared_mutex mu_;
  std::map<std::vector<uintptr_t>, std::shared_ptr<const Plan>> plans_;  // by feeds, fetches, targets
  std::unordered_map<const Operation*, std::unique_ptr<VariableSlot>> slots_;
  std::unordered_map<const Operation*, std::unique_ptr<std::atomic<uint64_t>>> counters_;
  std::atomic<bool> profiling_{false};
  std::atomic<bool> fusions_enabled_{true};
  mutable std::mutex profile_mu_;
  std::unordered_map<const Operation*, OpProfile> profile_;
};

class Callable {
 public:
  std::vector<Tensor> operator()(std::vector<Tensor> feeds) const;
  // The same into `fetches`, resized to the fetches' count and reused from call to call: with
  // feeds the caller keeps (a std::array or vector), a call allocates nothing on the heap.
  //   std::array<Tensor, 2> in{xb, yb};  std::vector<Tensor> out;
  //   for (...) { in[0] = next_batch(); step(in, out); float loss = out[0].scalar<float>(); }
  void operator()(std::span<const Tensor> feeds, std::vector<Tensor>& fetches) const;

 private:
  friend class Session;
  Callable(Session* s, std::shared_ptr<const Plan> p)
      : session_(s), session_life_(s->lifetime_.watch()), plan_(std::move(p)) {}
  // Checks the feed count, and that the session and its graph still live.
  void check_call(size_t feeds) const;
  Session* session_;
  Lifetime::Watch session_life_;
  std::shared_ptr<const Plan> plan_;
};

}  // namespace fg
