// A static dataflow graph in TF1's shape: operations with unique scoped names, tensors named
// "op:index", name scopes, control dependencies and collections.
//
//   Graph g;
//   auto X = placeholder(g, f32, {-1, 784}, "X");
//   {
//     auto scope = g.name_scope("dnn");              // ops below are named "dnn/..."
//     auto deps = g.control_dependencies({update});  // ops below run after `update`
//   }
//   g.add_to_collection("my_important_ops", X);
//   Output same = g.get_tensor_by_name("X:0");
//
// Building a graph is single-threaded; a built graph may be read (and run) from many threads.
//
// Ownership: a Graph owns its Operations (created by the op builders, destroyed with the graph).
// Output, Operation*, Variable and collection items refer to them without owning them. Using an
// Output (or a Variable) after its Graph is destroyed is a FailedPrecondition; an Operation* of a
// destroyed graph must not be used at all (take it from an Output while the graph lives). A
// Session refers to its Graph the same way and is a FailedPrecondition to run once it is gone.
#pragma once
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "core/attr.h"
#include "core/dtype.h"
#include "core/lifetime.h"
#include "core/shape.h"

namespace tensorflow {
class GraphDef;
}

namespace fg {

class Graph;
class Operation;
class CondContext;
struct OpDef;

// One output of an operation. Cheap to copy; a default-constructed Output is "none". Every
// accessor but index() and the comparisons checks that the graph still lives (an atomic load)
// and throws FailedPrecondition once it is destroyed.
class Output {
 public:
  Output() = default;
  Output(Operation* op, int index);
  Operation* op() const {
    if (op_ && !graph_life_.alive()) throw_graph_destroyed();
    return op_;
  }
  int index() const { return index_; }
  explicit operator bool() const { return op_ != nullptr; }
  Graph* graph() const;
  std::string name() const;  // "hidden1/MatMul:0"
  DType dtype() const;
  const Shape& shape() const;
  bool operator==(const Output& o) const { return op_ == o.op_ && index_ == o.index_; }
  bool operator!=(const Output& o) const { return !(*this == o); }

 private:
  [[noreturn]] void throw_graph_destroyed() const;
  Operation* op_ = nullptr;
  int index_ = 0;
  Lifetime::Watch graph_life_;
};

struct OutputHash {
  size_t operator()(const Output& o) const {
    return std::hash<const void*>()(o.op()) ^ (static_cast<size_t>(o.index()) * 0x9E3779B97F4A7C15ull);
  }
};

class Operation {
 public:
  const std::string& name() const { return name_; }
  const std::string& type() const { return type_; }
  const OpDef& def() const { return *def_; }
  Graph* graph() const { return graph_; }
  // Position in creation order; also TF1's default op-level seed.
  int64_t id() const { return id_; }

  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  Output input(int i) const { return inputs_.at(i); }
  const std::vector<Output>& inputs() const { return inputs_; }
  const std::vector<Operation*>& control_inputs() const { return control_inputs_; }
  void add_control_input(Operation* op);

  int num_outputs() const { return static_cast<int>(output_dtypes_.size()); }
  Output output(int i);
  DType output_dtype(int i) const { return output_dtypes_.at(i); }
  const Shape& output_shape(int i) const { return output_shapes_.at(i); }
  // Narrows a static shape (e.g. set_shape); throws if incompatible.
  void set_output_shape(int i, const Shape& s);

  const AttrMap& attrs() const { return attrs_; }
  bool has_attr(const std::string& name) const { return attrs_.count(name) > 0; }
  template <typename T>
  const T& attr(const std::string& name) const;

  // Ops consuming this op's outputs, in creation order.
  const std::vector<Operation*>& consumers() const { return consumers_; }

  // The NodeDef's device ("/device:CPU:0"): carried so imported graphs export unchanged;
  // flowgraph itself runs everything on the CPU.
  const std::string& device() const { return device_; }
  // Attrs of imported nodes as serialized tensorflow::AttrValue bytes, written back on export
  // in place of attrs(): those AttrValue cannot hold (half tensors, functions, lists of
  // bools), and those whose file encoding differs from flowgraph's (TF's `float_val: 0` for a
  // zeros tensor), so an imported node exports exactly as it came.
  const std::map<std::string, std::string>& opaque_attrs() const { return opaque_attrs_; }
  // The branch of a tf.cond the op was made in (graph/control_flow.h), or nullptr.
  CondContext* cond_context() const { return cond_context_; }

 private:
  friend class Graph;
  friend class OpBuilder;
  friend class Output;
  std::string name_, type_;
  const OpDef* def_ = nullptr;
  Graph* graph_ = nullptr;
  int64_t id_ = 0;
  std::vector<Output> inputs_;
  std::vector<Operation*> control_inputs_;
  std::vector<DType> output_dtypes_;
  std::vector<Shape> output_shapes_;
  AttrMap attrs_;
  std::vector<Operation*> consumers_;
  std::string device_;
  std::map<std::string, std::string> opaque_attrs_;
  CondContext* cond_context_ = nullptr;
  Lifetime::Watch graph_life_;  // copied into this op's Outputs
};

inline Output::Output(Operation* op, int index) : op_(op), index_(index) {
  if (op) graph_life_ = op->graph_life_;
}

// A TF1 variable: the VariableV2 op, its initializer (Assign) and its read snapshot (Identity).
// Converts to its snapshot, so `matmul(X, W)` reads the variable.
struct Variable {
  Operation* op = nullptr;          // VariableV2, name "hidden1/kernel"
  Operation* initializer = nullptr; // "hidden1/kernel/Assign"
  Output snapshot;                  // "hidden1/kernel/read:0"
  Output initial_value;
  bool trainable = true;

  Output ref() const { return Output(op, 0); }
  Output value() const { return snapshot; }
  operator Output() const { return snapshot; }
  const std::string& name() const;  // the op's name, "hidden1/kernel"
  DType dtype() const { return live_op()->output_dtype(0); }
  const Shape& shape() const { return live_op()->output_shape(0); }
  bool operator==(const Variable& o) const { return op == o.op; }

 private:
  // `op`, after checking through the snapshot that its graph still lives.
  Operation* live_op() const {
    if (snapshot) snapshot.op();
    return op;
  }
};

using CollectionItem = std::variant<Operation*, Output, Variable, std::string, int64_t, float>;

namespace GraphKeys {
inline const std::string GLOBAL_VARIABLES = "variables";
inline const std::string TRAINABLE_VARIABLES = "trainable_variables";
inline const std::string UPDATE_OPS = "update_ops";
inline const std::string REGULARIZATION_LOSSES = "regularization_losses";
inline const std::string LOSSES = "losses";
inline const std::string GLOBAL_STEP = "global_step";
inline const std::string TRAIN_OP = "train_op";
}  // namespace GraphKeys

// RAII guard returned by the scope functions; restores the previous scope when destroyed.
class ScopeGuard {
 public:
  explicit ScopeGuard(std::function<void()> exit) : exit_(std::move(exit)) {}
  ScopeGuard(ScopeGuard&& o) noexcept : exit_(std::exchange(o.exit_, nullptr)) {}
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;
  ~ScopeGuard() { if (exit_) exit_(); }

 private:
  std::function<void()> exit_;
};

struct VariableScopeOptions {
  std::optional<bool> reuse;     // unset: inherit the enclosing scope's reuse
  std::string default_name;      // used (uniquified) when the scope name is empty
};

class Graph {
 public:
  Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  ~Graph();

  // ---- operations and tensors
  std::vector<Operation*> get_operations() const;
  int64_t num_operations() const { return static_cast<int64_t>(ops_.size()); }
  Operation* get_operation_by_name(const std::string& name) const;  // NotFound if absent
  Operation* find_operation(const std::string& name) const;         // nullptr if absent
  Output get_tensor_by_name(const std::string& name) const;         // "X:0"

  // ---- naming
  // "dnn/hidden1/MatMul" inside scope dnn/hidden1; "_1", "_2", ... on collisions (TF's rules).
  std::string unique_name(const std::string& name, bool mark_as_used = true);
  std::string current_name_scope() const { return name_scope_; }  // "" or "dnn/hidden1/"
  // Opens a (uniquified) child scope; a name ending in '/' re-enters that exact scope; "" resets to root.
  ScopeGuard name_scope(const std::string& name);
  // The full name for a composite builder's scope: `name` uniquified (not yet marked as used), or,
  // for a name ending in '/', that exact name without the slash. Open it with name_scope(r + "/")
  // and give the final op the name r + "/".
  std::string composite_name(const std::string& name);
  // The scope a new op of this name would get: resolves names ending in '/' verbatim.
  std::string scoped_op_name(const std::string& requested, const std::string& default_name);

  // ---- variable scopes (names of variables depend only on these, not on name scopes)
  ScopeGuard variable_scope(const std::string& name, VariableScopeOptions options = {});
  std::string current_variable_scope() const { return var_scope_; }  // "" or "hidden1"
  bool variable_scope_reuse() const { return var_reuse_; }
  // The store behind get_variable: full name -> variable.
  const Variable* find_variable(const std::string& full_name) const;
  void register_variable(const std::string& full_name, const Variable& v);
  // "dense", "dense_1", ...: TF1 layers' default names.
  std::string unique_layer_name(const std::string& base);

  // ---- control dependencies
  // Ops created inside the guard depend on `ops`; an empty list clears the enclosing deps and,
  // as TF's control_dependencies(None), leaves any cond branch being built (variables do).
  ScopeGuard control_dependencies(const std::vector<Operation*>& ops);
  const std::vector<Operation*>& current_control_dependencies() const { return control_deps_; }

  // ---- control flow: tf.cond's branch contexts (graph/control_flow.h; ops/control_flow_ops.h
  // builds conds). A context nested in `outer` is listed by it, a top-level one by the graph.
  CondContext* new_cond_context(const std::string& name, const Output& pred, const Output& pivot, int branch,
                                CondContext* outer);
  const std::vector<CondContext*>& cond_contexts() const { return top_cond_contexts_; }
  // The branch new ops join, or nullptr.
  CondContext* current_cond_context() const { return cond_context_; }
  ScopeGuard enter_cond_context(CondContext* c);
  // Internal, for cond() and importers: the branch an op belongs to.
  void set_cond_context(Operation* op, CondContext* c) { op->cond_context_ = c; }
  // Internal, for importers: contexts made after the first `n` go (an import that failed).
  size_t num_all_cond_contexts() const { return all_cond_contexts_.size(); }
  void truncate_cond_contexts(size_t n);

  // ---- collections
  void add_to_collection(const std::string& key, CollectionItem item);
  // Items whose name matches `scope` from the start (Python's re.match), or all when empty.
  std::vector<CollectionItem> get_collection(const std::string& key, const std::string& scope = "") const;
  std::vector<Variable> get_variables(const std::string& key, const std::string& scope = "") const;
  std::vector<std::string> get_all_collection_keys() const;
  void clear_collection(const std::string& key);

  // ---- serialization: TF's GraphDef, nodes in creation order (graph/graph_io.h has the options
  // and import_graph_def; include it to use the result).
  tensorflow::GraphDef to_graph_def() const;

  // Watches this graph's lifetime (its Outputs and Sessions hold one).
  Lifetime::Watch lifetime() const { return lifetime_.watch(); }

  // ---- seeds (tf.set_random_seed)
  void set_random_seed(int64_t seed) { seed_ = seed; }
  std::optional<int64_t> seed() const { return seed_; }

  // Internal, for OpBuilder: a new op slot, its name's registration, and undoing a failed build.
  Operation* new_operation();
  void register_op_name(Operation* op);
  void remove_last_operation();
  // Internal, for importers: removes every operation after the first `n` (an import that
  // failed half way), with their names and their entries in other ops' consumers().
  void truncate_operations(int64_t n);
  // Internal, for importers: input i of `op` becomes `x` (a while loop's back edge, which can be
  // built only after the op it leads to). Same dtype required.
  void update_input(Operation* op, int i, const Output& x);

 private:
  std::deque<std::unique_ptr<Operation>> ops_;
  std::unordered_map<std::string, Operation*> by_name_;
  std::unordered_map<std::string, int> names_in_use_;
  std::string name_scope_;
  std::string var_scope_;
  bool var_reuse_ = false;
  std::unordered_map<std::string, Variable> var_store_;
  std::unordered_map<std::string, int> layer_names_;
  std::vector<Operation*> control_deps_;
  CondContext* cond_context_ = nullptr;
  std::deque<std::unique_ptr<CondContext>> all_cond_contexts_;
  std::vector<CondContext*> top_cond_contexts_;
  std::vector<std::pair<std::string, std::vector<CollectionItem>>> collections_;
  std::optional<int64_t> seed_;
  Lifetime lifetime_;
};

// The name TF gives a collection item (op name, tensor name, variable name, or the value itself).
std::string collection_item_name(const CollectionItem& item);
// Flattens items (and nested lists) into operations: a tensor or variable yields its op.
Operation* as_operation(const CollectionItem& item);

template <typename T>
const T& Operation::attr(const std::string& name) const {
  auto it = attrs_.find(name);
  if (it == attrs_.end())
    throw NotFound(str_cat("Operation '", name_, "' (", type_, ") has no attr '", name, "'"));
  if (!std::holds_alternative<T>(it->second))
    throw InvalidArgument(str_cat("Operation '", name_, "' attr '", name, "' has another type: ",
                                  attr_to_string(it->second)));
  return std::get<T>(it->second);
}

}  // namespace fg
