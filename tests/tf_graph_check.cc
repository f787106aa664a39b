#include "tests/tf_graph_check.h"

#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "core/errors.h"
#include "proto/types.pb.h"

namespace fg::testing {

namespace {

using tensorflow::AttrValue;
using tensorflow::DataType;
using tensorflow::NodeDef;
using tensorflow::OpDef;

std::string data_path(const char* name) { return std::string(FG_SOURCE_DIR) + "/tests/data/" + name; }

std::string type_name(DataType t) {
  std::string s = tensorflow::DataType_Name(t);
  return s.rfind("DT_", 0) == 0 ? s.substr(3) : s;
}

DataType base_type(DataType t) {
  return t > tensorflow::DT_FLOAT_REF - 1 ? static_cast<DataType>(t - (tensorflow::DT_FLOAT_REF - tensorflow::DT_FLOAT))
                                          : t;
}

const OpDef::AttrDef* find_attr(const OpDef& def, const std::string& name) {
  for (const auto& a : def.attr())
    if (a.name() == name) return &a;
  return nullptr;
}

// The node's value of `name`, or the definition's default.
const AttrValue* attr_value(const NodeDef& node, const OpDef& def, const std::string& name) {
  auto it = node.attr().find(name);
  if (it != node.attr().end()) return &it->second;
  const OpDef::AttrDef* a = find_attr(def, name);
  return a && a->has_default_value() ? &a->default_value() : nullptr;
}

// The dtypes (and ref-ness) of one arg for this node; nullopt when its attrs do not say.
struct ArgTypes {
  std::vector<DataType> types;
  bool is_ref = false;
};
std::optional<ArgTypes> arg_types(const OpDef::ArgDef& arg, const NodeDef& node, const OpDef& def) {
  ArgTypes r;
  r.is_ref = arg.is_ref();
  if (!arg.type_list_attr().empty()) {
    const AttrValue* v = attr_value(node, def, arg.type_list_attr());
    if (!v || v->value_case() != AttrValue::kList) return std::nullopt;
    for (int t : v->list().type()) r.types.push_back(static_cast<DataType>(t));
    return r;
  }
  int64_t n = 1;
  if (!arg.number_attr().empty()) {
    const AttrValue* v = attr_value(node, def, arg.number_attr());
    if (!v || v->value_case() != AttrValue::kI || v->i() < 0) return std::nullopt;
    n = v->i();
  }
  DataType t = arg.type();
  if (!arg.type_attr().empty()) {
    const AttrValue* v = attr_value(node, def, arg.type_attr());
    if (!v || v->value_case() != AttrValue::kType) return std::nullopt;
    t = v->type();
  }
  r.types.assign(static_cast<size_t>(n), t);
  return r;
}

struct OutputType {
  DataType type;
  bool is_ref;
};
std::optional<std::vector<OutputType>> output_types(const NodeDef& node, const OpDef& def) {
  std::vector<OutputType> r;
  for (const auto& arg : def.output_arg()) {
    auto t = arg_types(arg, node, def);
    if (!t) return std::nullopt;
    for (DataType d : t->types) r.push_back({base_type(d), t->is_ref});
  }
  return r;
}

bool kind_matches(const std::string& kind, const AttrValue& v) {
  using V = AttrValue;
  if (kind == "int") return v.value_case() == V::kI;
  if (kind == "float") return v.value_case() == V::kF;
  if (kind == "bool") return v.value_case() == V::kB;
  if (kind == "string") return v.value_case() == V::kS;
  if (kind == "type") return v.value_case() == V::kType;
  if (kind == "shape") return v.value_case() == V::kShape;
  if (kind == "tensor") return v.value_case() == V::kTensor;
  if (kind == "func") return v.value_case() == V::kFunc;
  if (kind.rfind("list(", 0) != 0 || v.value_case() != V::kList) return false;
  const auto& l = v.list();
  const std::string e = kind.substr(5, kind.size() - 6);
  // Only the member list of the declared kind may hold values (an empty list is any list).
  const int others = (e == "int" ? 0 : l.i_size()) + (e == "float" ? 0 : l.f_size()) + (e == "bool" ? 0 : l.b_size()) +
                     (e == "string" ? 0 : l.s_size()) + (e == "type" ? 0 : l.type_size()) +
                     (e == "shape" ? 0 : l.shape_size()) + (e == "tensor" ? 0 : l.tensor_size()) +
                     (e == "func" ? 0 : l.func_size());
  return others == 0;
}

int64_t list_size(const AttrValue::ListValue& l) {
  return l.i_size() + l.f_size() + l.b_size() + l.s_size() + l.type_size() + l.shape_size() + l.tensor_size() +
         l.func_size();
}

std::string allowed_string(const AttrValue& allowed) {
  std::vector<std::string> parts;
  for (int t : allowed.list().type()) parts.push_back(type_name(static_cast<DataType>(t)));
  for (const auto& s : allowed.list().s()) parts.push_back("\"" + s + "\"");
  std::string r;
  for (const auto& p : parts) r += (r.empty() ? "" : ", ") + p;
  return "{" + r + "}";
}

// Why `v` is not an allowed value of attr `a`, or "".
std::string check_allowed(const OpDef::AttrDef& a, const AttrValue& v) {
  if (!a.has_allowed_values()) return "";
  const auto& al = a.allowed_values().list();
  auto type_ok = [&](int t) { return std::find(al.type().begin(), al.type().end(), t) != al.type().end(); };
  auto s_ok = [&](const std::string& s) { return std::find(al.s().begin(), al.s().end(), s) != al.s().end(); };
  if (a.type() == "type" && !type_ok(v.type()))
    return type_name(v.type()) + " is not one of " + allowed_string(a.allowed_values());
  if (a.type() == "list(type)")
    for (int t : v.list().type())
      if (!type_ok(t))
        return type_name(static_cast<DataType>(t)) + " is not one of " + allowed_string(a.allowed_values());
  if (a.type() == "string" && !s_ok(v.s()))
    return "\"" + v.s() + "\" is not one of " + allowed_string(a.allowed_values());
  if (a.type() == "list(string)")
    for (const auto& s : v.list().s())
      if (!s_ok(s)) return "\"" + s + "\" is not one of " + allowed_string(a.allowed_values());
  return "";
}

struct InputRef {
  std::string node;
  int index = 0;
};
InputRef parse_input(const std::string& s) {
  InputRef r{s, 0};
  const auto colon = s.rfind(':');
  if (colon != std::string::npos && colon + 1 < s.size() &&
      std::all_of(s.begin() + colon + 1, s.end(), [](unsigned char c) { return std::isdigit(c); })) {
    r.node = s.substr(0, colon);
    r.index = std::stoi(s.substr(colon + 1));
  }
  return r;
}

using NodeMap = std::map<std::string, const NodeDef*>;

// The violations of `node` against one definition of its type.
std::vector<std::string> node_violations(const NodeDef& node, const OpDef& def, const NodeMap& nodes,
                                         const TfOpDefs& defs) {
  std::vector<std::string> v;
  const std::string who = "node '" + node.name() + "' (" + node.op() + ")";
  for (const auto& [name, value] : node.attr()) {
    if (!name.empty() && name[0] == '_') continue;  // TF's internal attrs (_class, _output_shapes)
    const OpDef::AttrDef* a = find_attr(def, name);
    if (!a) {
      v.push_back(who + ": attr '" + name + "' that TF's " + def.name() + " does not have");
      continue;
    }
    if (!kind_matches(a->type(), value)) {
      v.push_back(who + ": attr '" + name + "' is not a " + a->type() + ": " + value.ShortDebugString());
      continue;
    }
    if (std::string why = check_allowed(*a, value); !why.empty()) v.push_back(who + ": attr '" + name + "': " + why);
    if (a->has_minimum()) {
      const int64_t n = a->type() == "int" ? value.i() : list_size(value.list());
      if (n < a->minimum())
        v.push_back(who + ": attr '" + name + "' is " + std::to_string(n) + ", below TF's minimum " +
                    std::to_string(a->minimum()));
    }
  }
  for (const auto& a : def.attr())
    if (!a.has_default_value() && !node.attr().count(a.name()))
      v.push_back(who + ": lacks attr '" + a.name() + "', which TF requires");
  if (!v.empty()) return v;  // the arg lists depend on the attrs

  std::vector<InputRef> data;
  bool seen_control = false;
  for (const std::string& in : node.input()) {
    if (!in.empty() && in[0] == '^') {
      seen_control = true;
      continue;
    }
    if (seen_control) v.push_back(who + ": data input '" + in + "' after a control input");
    data.push_back(parse_input(in));
  }
  std::vector<std::pair<DataType, bool>> expected;  // per data input: dtype, is_ref
  for (const auto& arg : def.input_arg()) {
    auto t = arg_types(arg, node, def);
    if (!t) return v;  // not determinable
    for (DataType d : t->types) expected.emplace_back(base_type(d), t->is_ref);
  }
  if (expected.size() != data.size()) {
    v.push_back(who + ": has " + std::to_string(data.size()) + " data inputs, TF's definition takes " +
                std::to_string(expected.size()));
    return v;
  }
  for (size_t k = 0; k < data.size(); ++k) {
    auto it = nodes.find(data[k].node);
    if (it == nodes.end()) {
      v.push_back(who + ": input " + std::to_string(k) + " names no node '" + data[k].node + "'");
      continue;
    }
    const auto& producer_defs = defs.find(it->second->op());
    if (producer_defs.empty()) continue;  // reported at the producer
    const auto outs = output_types(*it->second, producer_defs.front());
    if (!outs) continue;
    if (data[k].index < 0 || static_cast<size_t>(data[k].index) >= outs->size()) {
      v.push_back(who + ": input " + std::to_string(k) + " '" + node.input(static_cast<int>(k)) +
                  "': " + it->second->op() + " has " + std::to_string(outs->size()) + " outputs");
      continue;
    }
    const OutputType got = (*outs)[static_cast<size_t>(data[k].index)];
    const auto [want, want_ref] = expected[k];
    if (got.type != want)
      v.push_back(who + ": input " + std::to_string(k) + " '" + node.input(static_cast<int>(k)) + "' is " +
                  type_name(got.type) + ", TF's definition wants " + type_name(want));
    if (want_ref && !got.is_ref)
      v.push_back(who + ": input " + std::to_string(k) + " '" + node.input(static_cast<int>(k)) +
                  "' must be a reference (TF: is_ref), but " + it->second->op() + "'s output is not");
  }
  return v;
}

// The differences of `ours` from TF's `tf`, as "what: ours vs TF's".
std::vector<std::string> op_def_diffs(const OpDef& ours, const OpDef& tf) {
  std::vector<std::string> d;
  auto args = [&](const char* what, const auto& a, const auto& b) {
    if (a.size() != b.size()) {
      d.push_back(std::string(what) + " count " + std::to_string(a.size()) + " vs TF's " + std::to_string(b.size()));
      return;
    }
    for (int i = 0; i < a.size(); ++i) {
      const auto &x = a[i], &y = b[i];
      const std::string at = std::string(what) + " " + std::to_string(i) + " '" + y.name() + "'";
      if (x.name() != y.name()) d.push_back(at + ": named '" + x.name() + "'");
      if (x.type() != y.type() || x.type_attr() != y.type_attr())
        d.push_back(at + ": type " + (x.type_attr().empty() ? type_name(x.type()) : x.type_attr()) + " vs TF's " +
                    (y.type_attr().empty() ? type_name(y.type()) : y.type_attr()));
      if (x.number_attr() != y.number_attr())
        d.push_back(at + ": number_attr '" + x.number_attr() + "' vs TF's '" + y.number_attr() + "'");
      if (x.type_list_attr() != y.type_list_attr())
        d.push_back(at + ": type_list_attr '" + x.type_list_attr() + "' vs TF's '" + y.type_list_attr() + "'");
      if (x.is_ref() != y.is_ref())
        d.push_back(at + ": is_ref " + (x.is_ref() ? "true" : "false") + " vs TF's " + (y.is_ref() ? "true" : "false"));
    }
  };
  args("input_arg", ours.input_arg(), tf.input_arg());
  args("output_arg", ours.output_arg(), tf.output_arg());
  for (const auto& a : ours.attr())
    if (!find_attr(tf, a.name())) d.push_back("attr '" + a.name() + "' that TF's does not have");
  for (const auto& b : tf.attr()) {
    const OpDef::AttrDef* a = find_attr(ours, b.name());
    const std::string at = "attr '" + b.name() + "'";
    if (!a) {
      d.push_back("lacks " + at);
      continue;
    }
    if (a->type() != b.type()) d.push_back(at + ": type " + a->type() + " vs TF's " + b.type());
    if (a->has_default_value() != b.has_default_value() ||
        !google::protobuf::util::MessageDifferencer::Equals(a->default_value(), b.default_value()))
      d.push_back(at + ": default " + (a->has_default_value() ? a->default_value().ShortDebugString() : "none") +
                  " vs TF's " + (b.has_default_value() ? b.default_value().ShortDebugString() : "none"));
    if (a->has_minimum() != b.has_minimum() || a->minimum() != b.minimum())
      d.push_back(at + ": minimum " + (a->has_minimum() ? std::to_string(a->minimum()) : "none") + " vs TF's " +
                  (b.has_minimum() ? std::to_string(b.minimum()) : "none"));
    if (a->has_allowed_values() && b.has_allowed_values()) {
      AttrValue v;
      for (int t : a->allowed_values().list().type()) {
        v.set_type(static_cast<DataType>(t));
        if (std::string why = check_allowed(b, v); !why.empty()) d.push_back(at + ": allows " + why);
      }
      for (const auto& s : a->allowed_values().list().s()) {
        v.set_s(s);
        if (std::string why = check_allowed(b, v); !why.empty()) d.push_back(at + ": allows " + why);
      }
    }
  }
  return d;
}

// The violations against the closest of several definitions (none when one fits).
template <typename F>
std::vector<std::string> best_of(const std::vector<OpDef>& alternatives, F&& check) {
  std::vector<std::string> best;
  for (size_t i = 0; i < alternatives.size(); ++i) {
    std::vector<std::string> v = check(alternatives[i]);
    if (v.empty()) return v;
    if (i == 0 || v.size() < best.size()) best = std::move(v);
  }
  return best;
}

std::string join_lines(const std::vector<std::string>& v) {
  std::string r;
  for (const auto& s : v) r += "  " + s + "\n";
  return r;
}

}  // namespace

TfOpDefs TfOpDefs::from_files(const std::vector<std::string>& paths) {
  TfOpDefs r;
  for (const std::string& path : paths) {
    std::ifstream f(path);
    FG_CHECK(f, NotFound, "TfOpDefs: cannot open '", path, "'");
    std::stringstream text;
    text << f.rdbuf();
    tensorflow::OpList list;
    FG_CHECK(google::protobuf::TextFormat::ParseFromString(text.str(), &list), DataLoss, "TfOpDefs: '", path,
             "' is not a text-format tensorflow.OpList");
    for (const OpDef& def : list.op()) r.defs_[def.name()].push_back(def);
  }
  return r;
}

const TfOpDefs& TfOpDefs::tf1_10() {
  static const TfOpDefs defs = from_files({data_path("tf1_op_defs.pbtxt")});
  return defs;
}

const TfOpDefs& TfOpDefs::tf1_any() {
  static const TfOpDefs defs = from_files({data_path("tf1_op_defs.pbtxt"), data_path("tf1_later_op_defs.pbtxt")});
  return defs;
}

const TfOpDefs& TfOpDefs::tf1_with_contrib() {
  static const TfOpDefs defs = from_files(
      {data_path("tf1_op_defs.pbtxt"), data_path("tf1_later_op_defs.pbtxt"), data_path("tf1_contrib_op_defs.pbtxt")});
  return defs;
}

const std::vector<OpDef>& TfOpDefs::find(const std::string& type) const {
  static const std::vector<OpDef> none;
  auto it = defs_.find(type);
  return it == defs_.end() ? none : it->second;
}

std::vector<std::string> tf_graph_violations(const tensorflow::GraphDef& gd, const TfOpDefs& defs) {
  std::vector<std::string> v;
  NodeMap nodes;
  for (const NodeDef& n : gd.node())
    if (!nodes.emplace(n.name(), &n).second) v.push_back("node '" + n.name() + "' appears twice");
  for (const NodeDef& n : gd.node()) {
    const auto& alternatives = defs.find(n.op());
    if (alternatives.empty()) {
      v.push_back("node '" + n.name() + "': op '" + n.op() + "' is not a TensorFlow 1.x op");
      continue;
    }
    for (auto& s : best_of(alternatives, [&](const OpDef& d) { return node_violations(n, d, nodes, defs); }))
      v.push_back(std::move(s));
  }
  return v;
}

std::vector<std::string> tf_stripped_op_list_violations(const tensorflow::MetaGraphDef& meta, const TfOpDefs& defs) {
  std::vector<std::string> v;
  std::set<std::string> used, listed;
  for (const NodeDef& n : meta.graph_def().node()) used.insert(n.op());
  for (const OpDef& ours : meta.meta_info_def().stripped_op_list().op()) {
    const std::string who = "stripped_op_list op '" + ours.name() + "'";
    if (!listed.insert(ours.name()).second) v.push_back(who + " is listed twice");
    if (!used.count(ours.name())) v.push_back(who + " is not used by the graph");
    const auto& alternatives = defs.find(ours.name());
    if (alternatives.empty()) {
      v.push_back(who + " is not a TensorFlow 1.x op");
      continue;
    }
    for (const auto& s : best_of(alternatives, [&](const OpDef& d) { return op_def_diffs(ours, d); }))
      v.push_back(who + ": " + s);
  }
  for (const std::string& type : used)
    if (!listed.count(type)) v.push_back("stripped_op_list lacks op '" + type + "', which the graph uses");
  return v;
}

void expect_graph_is_tf(const tensorflow::GraphDef& gd, const TfOpDefs& defs) {
  const auto v = tf_graph_violations(gd, defs);
  EXPECT_TRUE(v.empty()) << v.size() << " violations of TensorFlow's op definitions:\n" << join_lines(v);
}

void expect_stripped_op_list_is_tf(const tensorflow::MetaGraphDef& meta, const TfOpDefs& defs) {
  const auto v = tf_stripped_op_list_violations(meta, defs);
  EXPECT_TRUE(v.empty()) << v.size() << " violations of TensorFlow's op definitions:\n" << join_lines(v);
}

}  // namespace fg::testing
