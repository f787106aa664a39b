// One record per op type: inputs, outputs, attrs with defaults, shape function, CPU kernel,
// gradient, and the traits the runtime reads. flowgraph's op families fill the process-wide
// registry through register_ops() (ops/register.h); an op of your own registers the same way
// (kernels map buffers to Eigen with core/eigen.h):
//
//   register_ops();  // flowgraph's ops first: the registry answers no lookup before them
//   OpRegistry::global().add("TimesTwo").input("x", "T").output("y", "T").type_attr("T", kFloatTypes)
//       .shape(unchanged_shape)
//       .kernel_fn([](KernelContext& ctx) {
//         const Tensor& x = ctx.input(0);
//         Tensor y = ctx.allocate_output(0, x.dtype(), x.shape());
//         dispatch_float(x.dtype(), "TimesTwo", [&]<typename T>() { as_array<T>(y) = T(2) * as_array<T>(x); });
//       })
//       .gradient([](GradContext& c) -> std::vector<Output> {
//         return {OpBuilder(c.grad(0), "TimesTwo", "").input(c.grad(0)).build_output()};
//       });
//
// and build its nodes with OpBuilder, as the op families' builder functions do:
//
//   Graph g;
//   Output x = placeholder(g, f32, {2}, "x");
//   Output y = OpBuilder(g, "TimesTwo", "twice").input(x).build_output();
//   Tensor y_value = Session(g).run({{x, Tensor::from_vector<float>({1, 2})}}, y);  // [2, 4]
//
// The registry is filled before graphs are built; afterwards it is read-only and safe to share
// between threads.
#pragma once
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/kernel.h"
#include "graph/graph.h"

namespace fg {

struct ArgDef {
  std::string name;
  std::string type_attr;             // "T": dtype taken from / stored in this attr
  DType fixed = DType::kInvalid;     // or a fixed dtype
  bool is_ref = false;               // a variable reference (Assign's "ref", VariableV2's output)
  std::string number_attr;           // "N": a list input of N tensors (AddN)
  std::string type_list_attr;        // "dtypes": a list of tensors, one per type in this attr (SaveV2)
};

// What a shape function sees while a node is being built.
class InferenceContext {
 public:
  InferenceContext(const Operation& op, std::vector<Shape>& outputs) : op_(op), outputs_(outputs) {}
  const Operation& op() const { return op_; }
  int num_inputs() const { return op_.num_inputs(); }
  const Shape& input_shape(int i) const { return op_.input(i).shape(); }
  DType input_dtype(int i) const { return op_.input(i).dtype(); }
  // The value of input i when it is a Const node (Reshape's shape, Sum's axes), else nullptr.
  const Tensor* input_constant(int i) const;
  template <typename T>
  const T& attr(const std::string& name) const { return op_.attr<T>(name); }
  void set_output(int i, const Shape& s) { outputs_.at(i) = s; }
  // Throws InvalidArgument naming the node.
  [[noreturn]] void fail(const std::string& msg) const;

 private:
  const Operation& op_;
  std::vector<Shape>& outputs_;
};

using ShapeFn = void (*)(InferenceContext&);

// Shape functions shared by many ops.
void unchanged_shape(InferenceContext& c);      // output 0 has input 0's shape
// Reads an int32/int64 shape vector from a Const input i (e.g. Reshape's shape); unknown dims -1.
// Returns an unknown shape when the input is not a constant (its length still gives the rank).
Shape shape_from_shape_input(InferenceContext& c, int i);

// What a gradient function sees: the forward op and the gradients flowing into its outputs
// (a none Output where an output got no gradient). It returns one gradient per input
// (none for inputs that get no gradient).
class GradContext {
 public:
  GradContext(Operation& op, std::vector<Output> grads) : op_(op), grads_(std::move(grads)) {}
  Operation& op() const { return op_; }
  Output input(int i) const { return op_.input(i); }
  Output output(int i) const { return op_.output(i); }
  Output grad(int i) const { return grads_.at(i); }
  // The incoming gradient, or zeros shaped like output i when none arrived.
  Output grad_or_zeros(int i) const;
  int num_inputs() const { return op_.num_inputs(); }

 private:
  Operation& op_;
  std::vector<Output> grads_;
};

using GradFn = std::vector<Output> (*)(GradContext&);

struct OpDef {
  std::string type;
  std::vector<ArgDef> inputs, outputs;
  std::vector<std::pair<std::string, AttrValue>> attr_defaults;  // monostate: required
  std::map<std::string, std::vector<DType>> allowed_types;
  // TF's `>= n` on an int attr (its value) or a list attr (its length).
  std::map<std::string, int64_t> attr_minimums;
  ShapeFn shape_fn = nullptr;
  Kernel kernel = nullptr;
  // Optional: runs every op of this type in a plan (same attrs, none downstream of another) as
  // one step, seeing all their inputs and filling all their outputs in plan order. A plan-level
  // rewrite like Fusion (the graph keeps one node per op): a collective sends many small tensors
  // as one message. For types with one input and one output.
  Kernel group_kernel = nullptr;
  GradFn grad_fn = nullptr;
  bool stateful = false;       // never pruned as a duplicate; random ops, variables, assigns
  bool no_gradient = false;    // differentiation stops here silently (StopGradient, comparisons)
  // Why an op has no gradient function, said where it is registered: every op has a gradient or a
  // reason (tests/gradient_coverage_test.cc walks the registry).
  std::string no_gradient_reason;
  // An imported node flowgraph can carry but not run (see OpRegistry::opaque_def): its inputs
  // are not matched to args and its outputs are declared by the importer.
  bool opaque = false;

  // Traits: what the graph and runtime layers know about an op, declared with it, so that they
  // never decide anything by comparing type names.
  // Holds a variable: each Session keeps a slot for the node, and output 0 refers to it
  // (VariableV2). Reference inputs take such outputs.
  bool holds_variable = false;
  // Output 0 is input 0's value, unchanged (Identity, StopGradient): a plan reads the input
  // directly and runs no step. Through a reference input, output 0 is the same reference.
  bool forwards_input = false;
  // Output 0 is the Tensor in this attr (Const's "value"); shape functions may read it.
  std::string constant_attr;
  // Every output refers to the variable behind the op's reference inputs (RefSwitch, RefMerge,
  // Assign's output_ref): a reference input may take it, and a plan binds it to that slot.
  bool forwards_reference = false;
  // TF's control flow. A plan that holds a switch-like op tracks which values are dead (carry no
  // value, as the untaken side of a Switch): an op with a dead input, data or control, does not
  // run and its outputs are dead. A switch-like op's kernel may leave outputs dead (Switch).
  bool switch_like = false;
  // Runs when any data input is live and is dead only when all are (Merge); its kernel sees which
  // inputs are dead. Control inputs never make it dead.
  bool merge_like = false;
  // Its output feeds a while loop's merge-like op from the previous iteration (NextIteration):
  // importers build that edge after the loop's other nodes, the one cycle a graph may have.
  bool loop_back_edge = false;
  // A shape attr that GraphDef producers <= 21 (TF <= 1.1) wrote empty for an unknown shape, so
  // that TF reads a scalar value of it from such files as unknown (Placeholder's "shape").
  std::string legacy_unknown_shape_attr;

  // Fluent construction.
  OpDef& input(const std::string& name, const std::string& type_attr_or_dtype);
  OpDef& input(const std::string& name, DType fixed);
  OpDef& ref_input(const std::string& name, const std::string& type_attr);
  OpDef& list_input(const std::string& name, const std::string& type_attr, const std::string& number_attr);
  OpDef& output(const std::string& name, const std::string& type_attr);
  OpDef& output(const std::string& name, DType fixed);
  // N outputs of one dtype, N the int attr `number_attr` (Unpack's "output: num * T").
  OpDef& list_output(const std::string& name, const std::string& type_attr, const std::string& number_attr);
  OpDef& ref_output(const std::string& name, const std::string& type_attr);
  // Tensors of the types in the list(type) attr `list_attr`, one per entry (SaveV2's "tensors:
  // dtypes", RestoreV2's output).
  OpDef& type_list_input(const std::string& name, const std::string& list_attr);
  OpDef& type_list_output(const std::string& name, const std::string& list_attr);
  OpDef& attr(const std::string& name, AttrValue default_value = {});
  OpDef& type_attr(const std::string& name, std::vector<DType> allowed);
  OpDef& attr_minimum(const std::string& name, int64_t minimum) { attr_minimums[name] = minimum; return *this; }
  OpDef& shape(ShapeFn fn) { shape_fn = fn; return *this; }
  OpDef& kernel_fn(Kernel k) { kernel = k; return *this; }
  OpDef& grouped(Kernel k) { group_kernel = k; return *this; }
  OpDef& gradient(GradFn g) { grad_fn = g; return *this; }
  // Its gradient is none by definition (a bool or integer output, a leaf, StopGradient):
  // gradients() passes nothing back through it.
  OpDef& not_differentiable(std::string reason) {
    no_gradient = true;
    no_gradient_reason = std::move(reason);
    return *this;
  }
  // It has a gradient mathematically but none is implemented: differentiating through it is an error.
  OpDef& without_gradient(std::string reason) {
    no_gradient_reason = std::move(reason);
    return *this;
  }
  OpDef& set_stateful() { stateful = true; return *this; }
  OpDef& variable() { holds_variable = true; return *this; }
  OpDef& forwarding() { forwards_input = true; return *this; }
  OpDef& constant(const std::string& value_attr) { constant_attr = value_attr; return *this; }
  OpDef& reference_forwarding() { forwards_reference = true; return *this; }
  OpDef& switching() { switch_like = true; return *this; }
  OpDef& merging() { merge_like = true; return *this; }
  OpDef& loop_back() { loop_back_edge = true; return *this; }
  OpDef& legacy_unknown_shape(const std::string& attr) { legacy_unknown_shape_attr = attr; return *this; }

  // Whether type attr `name` may be `t`: one of its allowed types, or with no list any type with
  // fixed-size elements. Strings only where a def lists them (its kernels handle them).
  bool allows(const std::string& name, DType t) const;
};

inline const std::vector<DType> kFloatTypes = {DType::kFloat, DType::kDouble};
inline const std::vector<DType> kNumericTypes = {DType::kFloat, DType::kDouble, DType::kInt32,
                                                 DType::kInt64, DType::kUInt8};
inline const std::vector<DType> kAllTypes = {DType::kFloat, DType::kDouble, DType::kInt32,
                                             DType::kInt64, DType::kUInt8, DType::kBool};
inline const std::vector<DType> kIndexTypes = {DType::kInt32, DType::kInt64};
// For ops that move tensors without reading their elements (Identity, Const, Reshape).
inline const std::vector<DType> kAllTypesAndString = {DType::kFloat, DType::kDouble, DType::kInt32, DType::kInt64,
                                                      DType::kUInt8,  DType::kBool,   DType::kString};

// A plan-level rewrite, like TF Grappler's remapper: when input `input` of a `consumer` op is the
// only use of a `producer` op's single output (not fetched, not fed, no control edge from it), a
// Session runs one fused kernel at the consumer's place instead of the two. The fused kernel sees
// the consumer's inputs with that one replaced by all the producer's inputs, and the attrs of both
// (the consumer's win a clash). The graph is untouched: names, gradients, GraphDefs stay TF's.
//
// With `inner` set, the producer must itself have been fused with an op of that type (a chain of
// three, e.g. Relu of BiasAdd of MatMul); the fused kernel then sees the inner fusion's inputs.
struct Fusion {
  std::string consumer, producer;
  int input = 0;
  Kernel kernel = nullptr;
  // Extra condition on the pair (dtype, attrs); none = always.
  bool (*applies)(const Operation& consumer, const Operation& producer) = nullptr;
  std::string inner;
  // The defs those names denote, set by OpRegistry::finish_registration: a Session matches
  // nodes by def, so a carried (opaque) node of the same type never takes a fused kernel.
  const OpDef* consumer_def = nullptr;
  const OpDef* producer_def = nullptr;
  const OpDef* inner_def = nullptr;
};

class OpRegistry {
 public:
  // The process-wide registry, once a library of ops was loaded into it (load_global; the ops
  // layer's register_ops() loads flowgraph's, and the op builders that start a graph, Session
  // and train's importers call it). FailedPrecondition before that, so that nothing reads a
  // registry without flowgraph's ops.
  static OpRegistry& global();
  // Fills the process-wide registry: the first call runs `library` on it and ends registration
  // (finish_registration); later calls return at once. Thread-safe.
  static void load_global(void (*library)(OpRegistry&));
  OpDef& add(const std::string& type);
  const OpDef* find(const std::string& type) const;  // nullptr if unknown
  const OpDef& get(const std::string& type) const;   // NotFound if unknown
  // A def registered earlier, for a family that adds to it while the registry is being filled
  // (the gradient of Prod lives with the ops it is built from). NotFound if unknown.
  OpDef& extend(const std::string& type);
  std::vector<std::string> types() const;
  // Registers a type that can be imported and carried but not run or differentiated.
  const OpDef& placeholder_def(const std::string& type);
  // A kernel-less, gradient-less def of `type` for importing nodes flowgraph cannot run: types
  // it does not register (SaveV2), and registered types used with unsupported dtypes (a
  // DT_HALF Const, which keeps Const's traits). Kept apart from the registered defs, so
  // find(type) is unaffected. Safe to call from several threads.
  const OpDef& opaque_def(const std::string& type);
  // Fusions are registered beside their ops (ops/training.cc registers GD-into-GEMM).
  void add_fusion(Fusion f);
  const std::vector<Fusion>& fusions() const { return fusions_; }
  // Ends the registration of a library of ops: resolves the fusions' type names to defs
  // (Internal if one names no registered type). Fusions added later resolve at once.
  void finish_registration();

 private:
  void resolve(Fusion& f) const;
  std::map<std::string, std::unique_ptr<OpDef>> defs_;
  std::vector<Fusion> fusions_;
  bool finished_ = false;
  std::mutex opaque_mu_;
  std::map<std::string, std::unique_ptr<OpDef>> opaque_defs_;
};

// The variable node a reference refers to (through ops that forward a reference input), or
// nullptr when `ref` is no variable reference.
Operation* referenced_variable(const Output& ref);

// The arg of `op`'s def that input i belongs to (list args span several inputs), or nullptr for
// an opaque node; and whether that arg is a reference.
const ArgDef* input_arg(const Operation& op, int i);
bool input_is_ref(const Operation& op, int i);

// The value of a constant node (a def with constant_attr holding a Tensor), else nullptr.
const Tensor* constant_value(const Operation& op);

// Builds one node: resolves its name in the current scope, checks input dtypes against the
// OpDef, fills default attrs, adds the current control dependencies, runs the shape function.
class OpBuilder {
 public:
  OpBuilder(Graph& g, const std::string& type, const std::string& name);
  // Convenience: the graph of `any_input`.
  OpBuilder(const Output& any_input, const std::string& type, const std::string& name)
      : OpBuilder(graph_of(any_input, type), type, name) {}
  OpBuilder& input(const Output& x);
  OpBuilder& input_list(const std::vector<Output>& xs);
  OpBuilder& attr(const std::string& name, AttrValue v);
  OpBuilder& control_input(Operation* op);
  // Skips the scope prefix and uniquifying: the name is used exactly (TF's trailing-'/' rule).
  OpBuilder& exact_name();

  // ---- for importers (import_graph_def, Saver): nodes exactly as a NodeDef describes them.
  // Builds with `def`, which must outlive the graph (a registered or opaque def).
  OpBuilder(Graph& g, const OpDef& def, const std::string& name);
  // Opaque defs only: the outputs, which neither an arg list nor a shape function gives.
  OpBuilder& opaque_outputs(std::vector<DType> dtypes, std::vector<Shape> shapes);
  // An attr AttrValue cannot hold, as serialized tensorflow::AttrValue bytes.
  OpBuilder& opaque_attr(const std::string& name, std::string serialized);
  OpBuilder& device(const std::string& device);
  Operation* build();
  Output build_output() { return build()->output(0); }

 private:
  // The graph of `x`; InvalidArgument naming `type` when x is a none tensor.
  static Graph& graph_of(const Output& x, const std::string& type);

  Graph& g_;
  const OpDef& def_;
  std::string name_;
  bool exact_ = false;
  std::vector<Output> inputs_;
  std::vector<int> list_sizes_;
  std::vector<Operation*> control_;
  AttrMap attrs_;
  std::vector<DType> opaque_dtypes_;
  std::vector<Shape> opaque_shapes_;
  std::map<std::string, std::string> opaque_attrs_;
  std::string device_;
};

}  // namespace fg
