#include "train/graph_util.h"

#include <unordered_map>
#include <unordered_set>

#include "core/errors.h"
#include "graph/graph_io.h"
#include "graph/op_registry.h"
#include "graph/tensor_proto.h"
#include "runtime/session.h"

namespace fg::train {

namespace {

// "name", "name:1", "^name" -> "name".
std::string node_name_of(const std::string& input) {
  std::string s = !input.empty() && input[0] == '^' ? input.substr(1) : input;
  const auto colon = s.rfind(':');
  if (colon != std::string::npos && colon + 1 < s.size() &&
      s.find_first_not_of("0123456789", colon + 1) == std::string::npos)
    s.resize(colon);
  return s;
}

}  // namespace

tensorflow::GraphDef extract_sub_graph(const tensorflow::GraphDef& graph_def, const std::vector<std::string>& dest_nodes) {
  std::unordered_map<std::string, int> index;
  for (int i = 0; i < graph_def.node_size(); ++i) index.emplace(graph_def.node(i).name(), i);
  std::vector<bool> keep(graph_def.node_size(), false);
  std::vector<int> stack;
  for (const std::string& d : dest_nodes) {
    const std::string name = node_name_of(d);
    auto it = index.find(name);
    FG_CHECK(it != index.end(), InvalidArgument, "extract_sub_graph: '", name, "' is not a node of the graph");
    stack.push_back(it->second);
  }
  while (!stack.empty()) {
    const int i = stack.back();
    stack.pop_back();
    if (keep[i]) continue;
    keep[i] = true;
    for (const std::string& in : graph_def.node(i).input()) {
      auto it = index.find(node_name_of(in));
      FG_CHECK(it != index.end(), InvalidArgument, "extract_sub_graph: node '", graph_def.node(i).name(),
               "' has input '", in, "', which is not a node of the graph");
      if (!keep[it->second]) stack.push_back(it->second);
    }
  }
  // Everything but the nodes carries over: versions, and the function library (which the
  // schema keeps as an unknown field).
  tensorflow::GraphDef out = graph_def;
  out.clear_node();
  for (int i = 0; i < graph_def.node_size(); ++i)
    if (keep[i]) *out.add_node() = graph_def.node(i);
  return out;
}

tensorflow::GraphDef convert_variables_to_constants(Session& sess, const tensorflow::GraphDef& graph_def,
                                                    const std::vector<std::string>& output_node_names,
                                                    const ConvertVariablesOptions& options) {
  tensorflow::GraphDef out = extract_sub_graph(graph_def, output_node_names);
  const Graph& g = sess.graph();
  for (auto& node : *out.mutable_node()) {
    const OpDef* def = OpRegistry::global().find(node.op());
    if (!def || !def->holds_variable) continue;
    if (options.variable_names_whitelist && !options.variable_names_whitelist->count(node.name())) continue;
    if (options.variable_names_blacklist.count(node.name())) continue;
    Operation* op = g.find_operation(node.name());
    FG_CHECK(op && op->def().holds_variable, NotFound, "convert_variables_to_constants: variable '", node.name(),
             "' of the GraphDef is not a variable of the session's graph");
    FG_CHECK(sess.is_initialized(op), FailedPrecondition, "convert_variables_to_constants: variable '", node.name(),
             "' is not initialized in the session (restore or initialize it first)");
    const Tensor value = sess.variable_value(op);
    tensorflow::NodeDef c;
    c.set_name(node.name());
    c.set_op("Const");
    c.set_device(node.device());
    (*c.mutable_attr())["dtype"].set_type(dtype_to_proto(value.dtype()));
    *(*c.mutable_attr())["value"].mutable_tensor() = tensor_to_proto(value);
    node = std::move(c);
  }
  return out;
}

}  // namespace fg::train
