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
//   bind_variables(c, slot_for);  attach_counters(c, counter_for);   // the Session's state
//   std::shared_ptr<const Plan> plan = std::move(c.plan);
//
// Each pass reads what the earlier ones decided and adds its own part; a pass that needs more
// of the graph's semantics reads it from OpDef traits, never from type names.
#pragma once
#include <atomic>
#include <functional>
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

struct Plan {
  std::vector<Step> steps;
  int num_values = 0;
  std::vector<Output> feeds;
  std::vector<int> feed_ids;
  std::vector<int> fetch_ids;
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
void bind_variables(PlanCompilation& c, const std::function<VariableSlot*(const Operation*)>& slot_for);
void attach_counters(PlanCompilation& c, const std::function<std::atomic<uint64_t>*(const Operation*)>& counter_for);

}  // namespace fg
