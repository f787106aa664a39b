// GraphDef I/O: a Graph as TensorFlow's GraphDef, and GraphDefs (flowgraph's or TensorFlow's)
// imported into a Graph.
//
//   tensorflow::GraphDef gd = g.to_graph_def();            // nodes in creation order
//   Graph g2;
//   auto r = import_graph_def(g2, gd, {.prefix = ""});     // same names, attrs, control inputs
//   Output logits = g2.get_tensor_by_name("dnn/outputs/add:0");
//
// Nodes of types flowgraph does not run (an op it lacks, a DT_HALF Const) import as
// opaque nodes: they keep their type, inputs and attrs, and export unchanged, but a Session
// raises Unimplemented naming the node if a run needs one. Everything else is rebuilt with
// the registered op, so shapes are inferred and attrs checked as if built in C++.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "proto/graph.pb.h"
#include "proto/op_def.pb.h"

namespace fg {

struct GraphDefOptions {
  // Adds each node's static output shapes as the "_output_shapes" attr, as TF's
  // as_graph_def(add_shapes=True) does for meta-graphs.
  bool add_shapes = false;
};
tensorflow::GraphDef to_graph_def(const Graph& g, const GraphDefOptions& options = {});

struct ImportGraphDefOptions {
  // As in TF: node names go under this (uniquified) name scope; "" imports names verbatim,
  // and "name/" uses that scope exactly. Any name clash is InvalidArgument.
  std::string prefix = "import";
  // Tensors of the GraphDef ("X:0", or "X" for output 0) replaced by tensors of `g`.
  std::map<std::string, Output> input_map;
  // TF's definitions of the graph's op types (a meta-graph's stripped_op_list): a node of a type
  // flowgraph does not register takes its outputs' count and dtypes from its definition here.
  const tensorflow::OpList* op_list = nullptr;
};

struct ImportResult {
  std::string prefix;                 // the scope actually used: "import/", "import_1/" or ""
  std::vector<Operation*> operations; // the new operations, in creation order
};

// Rebuilds the GraphDef's nodes in topological order (any node order is accepted); a while
// loop's NextIteration -> Merge edge, the one cycle allowed, is connected last. Unknown inputs,
// other cycles and malformed attrs are InvalidArgument naming the node; unsupported dtypes
// inside an otherwise known op make that node opaque rather than failing the import. As TF does,
// a GraphDef of producer version <= 21 (TF 1.1 and older) means an unknown shape by a scalar
// Placeholder shape.
// All or nothing: after an error the graph holds the operations it held before. Types are looked
// up in OpRegistry::global(): FailedPrecondition before register_ops() (ops/register.h) ran.
ImportResult import_graph_def(Graph& g, const tensorflow::GraphDef& graph_def, const ImportGraphDefOptions& options = {});

// Conversions of single attr values, for meta-graph and saver code. attr_from_proto returns
// false when AttrValue cannot hold the value (it then belongs in Operation::opaque_attrs).
tensorflow::AttrValue attr_to_proto(const AttrValue& v);
bool attr_from_proto(const tensorflow::AttrValue& p, const std::string& who, AttrValue* out);

// The outputs TF's definition of an op declares for a node with `attrs`: their dtypes, from the
// def's fixed types or the attrs (the def's defaults where the node leaves an attr out). More
// than `limit` outputs, or a missing attr, is InvalidArgument naming `who`.
std::vector<DType> declared_output_dtypes(const tensorflow::OpDef& def, const AttrMap& attrs, const std::string& who,
                                          int64_t limit);

// True for the dtypes flowgraph has Tensors for (imported graphs may carry others, as
// DType values equal to TF's enum, on opaque nodes).
bool is_supported_dtype(DType t);

// The message's bytes with map fields (attrs) in key order, so that the same graph always gives
// the same file: what every graph, meta-graph and SavedModel writer serializes with.
std::string serialize_deterministic(const google::protobuf::Message& m);

}  // namespace fg
