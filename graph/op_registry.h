// One record per op type: inputs, outputs, attrs with defaults, shape function, CPU kernel and
// gradient. Op families register theirs from one place (ops/register.cc):
//
//   r.add("Relu").input("features", "T").output("activations", "T").type_attr("T", kFloatTypes)
//    .shape(same_shape_as_input0).kernel(relu_kernel).gradient(relu_grad);
//
// and build nodes with OpBuilder:
//
//   Output y = OpBuilder(x, "Relu", name.empty() ? "Relu" : name).input(x).build()->output(0);
//
// The registry is filled once, before any graph is built; afterwards it is read-only and safe to
// share between threads.
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
  bool is_ref = false;               // a variable reference (Assign's "ref")
  std::string number_attr;           // "N": a list input of N tensors (AddN)
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
  ShapeFn shape_fn = nullptr;
  Kernel kernel = nullptr;
  GradFn grad_fn = nullptr;
  bool stateful = false;       // never pruned as a duplicate; random ops, variables, assigns
  bool no_gradient = false;    // differentiation stops here silently (StopGradient, comparisons)
  // Why an op has no gradient function, said where it is registered: every op has a gradient or a
  // reason (tests/gradient_coverage_test.cc walks the registry).
  std::string no_gradient_reason;
  // An imported node flowgraph can carry but not run (see OpRegistry::opaque_def): its inputs
  // are not matched to args and its outputs are declared by the importer.
  bool opaque = false;

  // Fluent construction.
  OpDef& input(const std::string& name, const std::string& type_attr_or_dtype);
  OpDef& input(const std::string& name, DType fixed);
  OpDef& ref_input(const std::string& name, const std::string& type_attr);
  OpDef& list_input(const std::string& name, const std::string& type_attr, const std::string& number_attr);
  OpDef& output(const std::string& name, const std::string& type_attr);
  OpDef& output(const std::string& name, DType fixed);
  OpDef& attr(const std::string& name, AttrValue default_value = {});
  OpDef& type_attr(const std::string& name, std::vector<DType> allowed);
  OpDef& shape(ShapeFn fn) { shape_fn = fn; return *this; }
  OpDef& kernel_fn(Kernel k) { kernel = k; return *this; }
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
};

inline const std::vector<DType> kFloatTypes = {DType::kFloat, DType::kDouble};
inline const std::vector<DType> kNumericTypes = {DType::kFloat, DType::kDouble, DType::kInt32,
                                                 DType::kInt64, DType::kUInt8};
inline const std::vector<DType> kAllTypes = {DType::kFloat, DType::kDouble, DType::kInt32,
                                             DType::kInt64, DType::kUInt8, DType::kBool};

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
};

class OpRegistry {
 public:
  // The process-wide registry, with every built-in op registered on first use. Defined by the
  // ops layer (ops/register.cc), which alone knows the op families.
  static OpRegistry& global();
  OpDef& add(const std::string& type);
  const OpDef* find(const std::string& type) const;  // nullptr if unknown
  const OpDef& get(const std::string& type) const;   // NotFound if unknown
  std::vector<std::string> types() const;
  // Registers a type that can be imported and carried but not run or differentiated.
  const OpDef& placeholder_def(const std::string& type);
  // A kernel-less, gradient-less def of `type` for importing nodes flowgraph cannot run: types
  // it does not register (SaveV2), and registered types used with unsupported dtypes (a
  // DT_STRING Const). Kept apart from the registered defs, so find(type) is unaffected.
  // Safe to call from several threads.
  const OpDef& opaque_def(const std::string& type);
  // Fusions are registered beside their ops (ops/training.cc registers GD-into-GEMM).
  void add_fusion(Fusion f) { fusions_.push_back(std::move(f)); }
  const std::vector<Fusion>& fusions() const { return fusions_; }

 private:
  std::map<std::string, std::unique_ptr<OpDef>> defs_;
  std::vector<Fusion> fusions_;
  std::mutex opaque_mu_;
  std::map<std::string, std::unique_ptr<OpDef>> opaque_defs_;
};

// Builds one node: resolves its name in the current scope, checks input dtypes against the
// OpDef, fills default attrs, adds the current control dependencies, runs the shape function.
class OpBuilder {
 public:
  OpBuilder(Graph& g, const std::string& type, const std::string& name);
  // Convenience: the graph of `any_input`.
  OpBuilder(const Output& any_input, const std::string& type, const std::string& name)
      : OpBuilder(*any_input.graph(), type, name) {}
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
