// tf.graph_util for deployment: a GraphDef pruned to what some nodes need, and frozen (its
// variables replaced by Const nodes holding a session's values), as tools/freeze_graph writes it.
//
//   Session sess(g);  ...train or restore...
//   tensorflow::GraphDef frozen =
//       train::convert_variables_to_constants(sess, g.to_graph_def(), {"dnn/outputs/BiasAdd"});
//   // frozen holds only what dnn/outputs/BiasAdd needs, and no variable: it imports and runs
//   // anywhere (here or in TF) without a checkpoint, giving the same outputs bit for bit.
#pragma once
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "proto/graph.pb.h"

namespace fg {
class Session;
}

namespace fg::train {

// The nodes `dest_nodes` need through data and control inputs, in graph_def's order, with its
// versions and library (tf.graph_util.extract_sub_graph). A name that is not a node is
// InvalidArgument; "name:1" and "^name" are read as "name".
tensorflow::GraphDef extract_sub_graph(const tensorflow::GraphDef& graph_def, const std::vector<std::string>& dest_nodes);

struct ConvertVariablesOptions {
  // Only these variables become constants (TF's variable_names_whitelist); unset: all.
  std::optional<std::set<std::string>> variable_names_whitelist;
  // These stay variables (variable_names_blacklist).
  std::set<std::string> variable_names_blacklist;
};

// extract_sub_graph(graph_def, output_node_names), with every variable node of it (an op that
// holds a variable: VariableV2, Variable) replaced by a Const of the same name holding the
// variable's value in `sess`, dtype and shape included. graph_def must be (a part of) the graph of
// `sess`: a variable node the session's graph does not have is NotFound, one it has not
// initialized FailedPrecondition naming it.
tensorflow::GraphDef convert_variables_to_constants(Session& sess, const tensorflow::GraphDef& graph_def,
                                                    const std::vector<std::string>& output_node_names,
                                                    const ConvertVariablesOptions& options = {});

}  // namespace fg::train
