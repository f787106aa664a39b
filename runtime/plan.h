// A Session's compiled plan and the passes that compile one (internal to runtime/):
//
//   PlanCompilation c(graph, feeds, fetches, targets);
//   check_signature(c);      // feeds, fetches and targets are this graph's; nothing fed twice
//   order_needed_ops(c);     // what the fetches and targets need, dependencies first
//   apply_fusions(c, OpRegistry::global().fusions());
//   forward_inputs(c);       // ops with the forwards_input trait run no step
//   group_ops(c);            // a group kernel's ops that do not feed one another: one step
//   count_reads(c);          // each value's readers, so the last one may take the buffer
//   emit_steps(c);           // one step per remaining op: kernel, value ids, last uses
//   track_deadness(c);       // only for plans with a switch-like op: what makes each step dead
//   find_switch_preds(c, s); // whether that plan can be specialized on its preds' values
//   bind_variables(c, slot_for);  attach_counters(c, counter_for);   // the Session's state
//   std::shared_ptr<const Plan> plan = std::move(c.plan);
//
// A specialization for given pred values runs specialize_switches(c, values) after
// order_needed_ops, and the other passes as above.
//
// Each pass reads what the earlier ones decided and adds its own part; a pass that needs more
// of the graph's semantics reads it from OpDef traits, never from type names.
#pragma once
#include <array>
#include <atomic>
#include <functional>
#include <mutex>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/kernel.h"
#include "graph/op_registry.h"

namespace fg {

struct Step {
  Operation* op = nullptr;
  Kernel kernel = nullptr;
  const AttrMap* attrs = nullptr;          // the op's, or fused_attrs
  std::shared_ptr<AttrMap> fused_attrs;    // consumer's + producer's attrs of a fused step
  std::vector<int> inputs;          // value ids (-1 for reference inputs)
  std::vector<char> last_use;       // move the value out instead of copying
  std::vector<VariableSlot*> refs;  // slots behind reference inputs, then a variable op's own
  std::vector<int> outputs;         // value ids (-1: fed by the caller, or never read)
  std::vector<DType> output_dtypes;  // what the kernel must produce for each of outputs
  std::atomic<uint64_t>* counter = nullptr;
  // A variable whose value a later step reads: read in the run loop itself, with no kernel call.
  VariableSlot* read_slot = nullptr;
};

// A step's deadness, in control-flow plans only (kept apart from Step, so that plain plans walk
// steps of the same size as ever). Ids into the run's dead flags, which share the value ids.
struct StepFlow {
  // What the step's liveness depends on: one per input first (-1: a variable's own reference,
  // never dead), then its control inputs'. A merge-like step runs when any of its inputs is live,
  // any other step only when all of these are.
  std::vector<int> live_deps;
  std::vector<int> outputs;  // per output, the id its readers check (-1: none reads it)
  int control_out = -1;      // the id standing for the op on its control edges
  bool merge_like = false;
};

struct Plan;

// Where a switch-like op's pred comes from, when it is known as a run starts.
struct PredSource {
  int feed = -1;       // index into the plan's feeds, or -1 for a constant
  bool value = false;  // the constant's value
};

// The plans a control-flow plan runs instead of itself when every switch-like op's pred is known
// as a run starts (fed bool scalars, constants): one per combination of the preds' values,
// compiled on first use, in which the untaken sides are gone, switch- and merge-like ops forward
// their live input without a step, and no deadness is tracked. The graph is unchanged.
struct Specializations {
  static constexpr size_t kMaxSources = 6;
  std::vector<Operation*> targets;
  std::vector<PredSource> sources;
  std::unordered_map<const Operation*, int> source_of;  // per switch-like op, into sources
  // By the preds' values (bit k: sources[k]); null until compiled, the generic plan itself when
  // specializing would change what a run does (specialize_switches).
  std::array<std::atomic<const Plan*>, size_t{1} << kMaxSources> by_values{};
  std::mutex mu;  // held while one is compiled
  std::vector<std::shared_ptr<const Plan>> owned;
};

struct Plan {
  std::vector<Step> steps;
  int num_values = 0;
  std::vector<Output> feeds;
  std::vector<int> feed_ids;
  std::vector<int> fetch_ids;
  std::vector<Output> fetches;
  // Holds a switch-like op, so values may be dead: runs the deadness-tracking loop with `flow`,
  // one entry per step.
  bool control_flow = false;
  std::vector<StepFlow> flow;
  std::shared_ptr<Specializations> specializations;  // control-flow plans whose preds are known
};

// One input of a step: a value, or (is_ref) a reference to a variable.
struct StepInput {
  Output value;
  bool is_ref = false;
};

// A consumer that runs a fused kernel in place of itself and the ops it absorbed.
struct FusedOp {
  const Fusion* fusion = nullptr;
  std::vector<StepInput> inputs;  // the consumer's, with the producer's in place of the fused one
  std::vector<Operation*> absorbed;  // innermost first
};

// What the passes share while one plan compiles.
struct PlanCompilation {
  PlanCompilation(const Graph& g, const std::vector<Output>& feeds, const std::vector<Output>& fetches,
                  const std::vector<Operation*>& targets)
      : graph(g), feeds(feeds), fetches(fetches), targets(targets), plan(std::make_shared<Plan>()) {}

  const Graph& graph;
  const std::vector<Output>& feeds;
  const std::vector<Output>& fetches;
  const std::vector<Operation*>& targets;
  std::shared_ptr<Plan> plan;

  std::unordered_map<Output, int, OutputHash> value_id;
  std::unordered_set<Output, OutputHash> fed;
  std::vector<Operation*> order;                          // needed ops, dependencies first
  std::unordered_map<Operation*, FusedOp> fused;          // by consumer
  std::unordered_set<Operation*> absorbed;                // ops that run no step of their own
  std::unordered_map<Output, Output, OutputHash> forwarded;  // a forwarding op's output -> its source
  // Grouped ops: a group's first member -> all its members in plan order. Only the first stays
  // in `order`; its step runs the group kernel on every member's inputs and outputs.
  std::unordered_map<Operation*, std::vector<Operation*>> groups;
  std::unordered_map<int, int> readers;                   // by value id
  std::unordered_set<int> fetched;
  // Per step, the variable op behind each entry of its refs (bound to slots by bind_variables).
  std::vector<std::vector<const Operation*>> ref_variables;

  int id_of(const Output& o);
  // The step inputs of `op`: its own, or its fused ones, with forwarded values resolved.
  std::vector<StepInput> inputs_of(Operation* op) const;
  Output resolved(const Output& o) const;
  // The ops one step of `op` runs: its group's members, or `op` alone.
  std::vector<Operation*> step_ops(Operation* op) const;
};

void check_signature(PlanCompilation& c);
void order_needed_ops(PlanCompilation& c);
void apply_fusions(PlanCompilation& c, const std::vector<Fusion>& fusions);
void forward_inputs(PlanCompilation& c);
void group_ops(PlanCompilation& c);
void count_reads(PlanCompilation& c);
void emit_steps(PlanCompilation& c);
void track_deadness(PlanCompilation& c);
// Fills `s` with the sources of the preds of the plan's switch-like ops (TF's Switch inputs: data,
// pred); false when one is computed by the run, or there are more than kMaxSources.
bool find_switch_preds(PlanCompilation& c, Specializations& s);
// With each switch-like op's pred value given: drops the ops the untaken sides make dead (TF's
// rules, as track_deadness applies them at run time) and forwards each switch-like op's taken
// output and each merge-like op's output to their live input. False when the result could run
// differently from the generic plan (a fetch is dead, a merge-like op's value_index is read, a
// forwarded value would come from no step), so that the generic plan is kept.
bool specialize_switches(PlanCompilation& c, const std::unordered_map<const Operation*, bool>& pred_of);
void bind_variables(PlanCompilation& c, const std::function<VariableSlot*(const Operation*)>& slot_for);
void attach_counters(PlanCompilation& c, const std::function<std::atomic<uint64_t>*(const Operation*)>& counter_for);

}  // namespace fg
