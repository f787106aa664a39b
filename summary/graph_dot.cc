#include "summary/graph_dot.h"

#include <charconv>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <tuple>
#include <vector>

#include "graph/op_registry.h"
#include "ops/register.h"
#include "proto/attr_value.pb.h"

namespace fg::summary {

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  return parts;
}

std::string join(const std::vector<std::string>& parts, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += (i ? "/" : "") + parts[i];
  return s;
}

// A DOT double-quoted string: quotes and backslashes escaped, newlines as DOT's centred line
// break, other control characters dropped.
std::string quote(const std::string& s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '\n') {
      q += "\\n";
      continue;
    }
    if (c == '"' || c == '\\') q += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) q += c;
  }
  return q + "\"";
}

// "name", "name:1", "^name" -> node name, output index, control.
struct InputRef {
  std::string node;
  int index = 0;
  bool control = false;
};

InputRef parse_input(const std::string& in) {
  InputRef r;
  std::string s = in;
  if (!s.empty() && s[0] == '^') {
    r.control = true;
    s = s.substr(1);
  }
  const auto colon = s.rfind(':');
  if (colon != std::string::npos && colon + 1 < s.size() &&
      s.find_first_not_of("0123456789", colon + 1) == std::string::npos &&
      std::from_chars(s.data() + colon + 1, s.data() + s.size(), r.index).ec == std::errc()) {
    s.resize(colon);
  }
  r.node = s;
  return r;
}

std::string shape_label(const tensorflow::NodeDef& node, int index) {
  auto it = node.attr().find("_output_shapes");
  if (it == node.attr().end() || index >= it->second.list().shape_size()) return "";
  const auto& shape = it->second.list().shape(index);
  if (shape.unknown_rank()) return "?";
  if (shape.dim_size() == 0) return "scalar";
  std::string s;
  for (int i = 0; i < shape.dim_size(); ++i) {
    const int64_t d = shape.dim(i).size();
    s += (i ? "\xc3\x97" : "") + (d < 0 ? std::string("?") : std::to_string(d));
  }
  return s;
}

struct Item {
  std::string id, scope, label, tooltip, style;
  int count = 0;
};

}  // namespace

std::string graph_to_dot(const tensorflow::GraphDef& gd, const DotOptions& options) {
  register_ops();
  std::map<std::string, const tensorflow::NodeDef*> by_name;
  for (const auto& n : gd.node()) by_name.emplace(n.name(), &n);

  std::map<std::string, Item> items;             // by DOT id
  std::map<std::string, std::string> item_of;    // node name -> DOT id
  std::set<std::string> scopes;                  // every scope holding a drawn item
  auto add_scopes = [&](const std::string& scope) {
    const auto parts = split(scope, '/');
    for (size_t i = 1; !scope.empty() && i <= parts.size(); ++i) scopes.insert(join(parts, i));
  };
  auto place = [&](const std::string& name, const tensorflow::NodeDef* node) {
    const auto parts = split(name, '/');
    if (options.max_depth > 0 && static_cast<int>(parts.size()) > options.max_depth) {
      const std::string group = join(parts, options.max_depth);
      Item& it = items["scope:" + group];
      if (it.id.empty()) {
        it.id = "scope:" + group;
        it.scope = join(parts, options.max_depth - 1);
        it.style = "shape=box3d, style=filled, fillcolor=\"#dae8fc\"";
        add_scopes(it.scope);
      }
      ++it.count;
      it.label = parts[options.max_depth - 1] + "\n(" + std::to_string(it.count) + (it.count == 1 ? " op)" : " ops)");
      it.tooltip = group + "/";
      item_of[name] = it.id;
      return;
    }
    Item& it = items["op:" + name];
    it.id = "op:" + name;
    it.scope = join(parts, parts.size() - 1);
    it.label = parts.back();
    it.count = 1;
    if (!node) {
      it.tooltip = name + " (not in the graph)";
      it.style = "shape=box, style=dashed";
    } else {
      it.tooltip = name + " (" + node->op() + ")";
      const OpDef* def = OpRegistry::global().find(node->op());
      std::string fill = "#ffffff";
      if (def && def->holds_variable) fill = "#fff2cc";
      else if (def && !def->constant_attr.empty()) fill = "#eeeeee";
      else if (node->input_size() == 0) fill = "#d5e8d4";
      it.style = "shape=box, style=\"rounded,filled\", fillcolor=\"" + fill + "\"";
      if (it.label != node->op()) it.label += "\n" + node->op();
    }
    add_scopes(it.scope);
    item_of[name] = it.id;
  };
  for (const auto& n : gd.node()) place(n.name(), &n);
  for (const auto& n : gd.node())
    for (const auto& in : n.input()) {
      const InputRef ref = parse_input(in);
      if (!by_name.count(ref.node) && !item_of.count(ref.node)) place(ref.node, nullptr);
    }

  // Edges, one per (from, to, kind); shapes only where a single tensor makes the edge.
  struct EdgeInfo {
    std::set<std::string> tensors;
    std::string shape;
  };
  std::map<std::tuple<std::string, std::string, bool>, EdgeInfo> edges;
  for (const auto& n : gd.node())
    for (const auto& in : n.input()) {
      const InputRef ref = parse_input(in);
      const std::string& from = item_of.at(ref.node);
      const std::string& to = item_of.at(n.name());
      if (from == to) continue;
      EdgeInfo& e = edges[{from, to, ref.control}];
      e.tensors.insert(ref.node + ":" + std::to_string(ref.index));
      if (!ref.control && options.edge_shapes && by_name.count(ref.node))
        e.shape = shape_label(*by_name.at(ref.node), ref.index);
    }

  std::ostringstream out;
  out << "digraph G {\n"
      << "  graph [rankdir=" << quote(options.rankdir)
      << ", newrank=true, compound=true, fontname=\"Helvetica\", fontsize=11, nodesep=0.25, ranksep=0.35];\n"
      << "  node [fontname=\"Helvetica\", fontsize=10, height=0.3, margin=\"0.12,0.04\"];\n"
      << "  edge [fontname=\"Helvetica\", fontsize=8, color=\"#555555\", arrowsize=0.6];\n";
  // Clusters nest by scope path; each item goes in the cluster of its scope.
  std::map<std::string, std::vector<const Item*>> items_in;
  for (const auto& [id, it] : items) items_in[it.scope].push_back(&it);
  std::map<std::string, std::vector<std::string>> children;
  for (const auto& s : scopes) {
    const auto parts = split(s, '/');
    children[join(parts, parts.size() - 1)].push_back(s);
  }
  std::function<void(const std::string&, int)> emit = [&](const std::string& scope, int depth) {
    const std::string pad(2 * depth + 2, ' ');
    for (const auto& child : children[scope]) {
      out << pad << "subgraph " << quote("cluster_" + child) << " {\n"
          << pad << "  label=" << quote(split(child, '/').back()) << "; tooltip=" << quote(child + "/")
          << "; style=\"rounded,filled\"; fillcolor=" << quote(depth % 2 ? "#f4f4f4" : "#e8eef7")
          << "; color=\"#8899aa\";\n";
      emit(child, depth + 1);
      out << pad << "}\n";
    }
    for (const Item* it : items_in[scope])
      out << pad << quote(it->id) << " [label=" << quote(it->label) << ", tooltip=" << quote(it->tooltip) << ", "
          << it->style << "];\n";
  };
  emit("", 0);
  for (const auto& [key, e] : edges) {
    const auto& [from, to, control] = key;
    out << "  " << quote(from) << " -> " << quote(to);
    std::vector<std::string> attrs;
    if (control) attrs.push_back("style=dashed, color=\"#999999\"");
    if (!control && e.tensors.size() == 1 && !e.shape.empty()) attrs.push_back("label=" + quote(e.shape));
    if (e.tensors.size() > 1) attrs.push_back("label=" + quote(std::to_string(e.tensors.size()) + " tensors"));
    if (!attrs.empty()) {
      out << " [";
      for (size_t i = 0; i < attrs.size(); ++i) out << (i ? ", " : "") << attrs[i];
      out << "]";
    }
    out << ";\n";
  }
  out << "}\n";
  return out.str();
}

}  // namespace fg::summary
