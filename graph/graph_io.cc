#include "graph/graph_io.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>
#include <unordered_map>

#include "graph/op_registry.h"
#include "graph/tensor_proto.h"

namespace fg {

namespace {

// TF 1.10's GraphDef producer version, what the fixture and TF's tools expect to see.
constexpr int kProducer = 26;
// Outputs the unknown-op nodes of one GraphDef may declare beyond one per byte of the file.
constexpr int64_t kOpaqueOutputAllowance = 65536;

// A dtype as flowgraph carries it: reference types become their base type, and types
// flowgraph has no Tensor for keep TF's number (DType's values are TF's enum by design).
DType carried_dtype(int t) { return static_cast<DType>(t > 100 ? t - 100 : t); }

std::string tensor_ref(const Output& o) {
  return o.index() == 0 ? o.op()->name() : str_cat(o.op()->name(), ":", o.index());
}

[[noreturn]] void rethrow_with_context(const Error& e, const std::string& context) {
  throw_error(e.code(), str_cat(context, e.what()));
}

const char* attr_kind_name(const AttrValue& v) {
  static const char* names[] = {"none",  "int",          "float",       "bool",        "string",
                                "type",  "shape",        "tensor",      "list(int)",   "list(float)",
                                "list(type)", "list(shape)", "list(string)"};
  return names[v.index()];
}

bool is_empty_list(const AttrValue& v) {
  return std::visit([](const auto& x) {
    using X = std::decay_t<decltype(x)>;
    if constexpr (requires { x.empty(); } && !std::is_same_v<X, std::string>) return x.empty();
    else return false;
  }, v);
}

// An empty `list {}` carries no element type; give it the kind the op expects.
AttrValue empty_list_like(const AttrValue& kind) {
  return std::visit([](const auto& x) -> AttrValue {
    using X = std::decay_t<decltype(x)>;
    if constexpr (requires { x.empty(); } && !std::is_same_v<X, std::string>) return X{};
    else return std::vector<int64_t>{};
  }, kind);
}

// "name", "name:3" or "^name".
struct InputRef {
  std::string node;
  int index = 0;
  bool control = false;
};

InputRef parse_input(const std::string& s, const std::string& who) {
  InputRef r;
  if (!s.empty() && s[0] == '^') {
    r.control = true;
    r.node = s.substr(1);
  } else {
    r.node = s;
    const auto colon = s.rfind(':');
    if (colon != std::string::npos && colon + 1 < s.size() &&
        std::all_of(s.begin() + colon + 1, s.end(), [](unsigned char c) { return std::isdigit(c); })) {
      r.node = s.substr(0, colon);
      FG_CHECK(s.size() - colon - 1 <= 9, InvalidArgument, who, ": input '", s, "' has an absurd output index");
      r.index = std::stoi(s.substr(colon + 1));
    }
  }
  FG_CHECK(!r.node.empty(), InvalidArgument, who, ": empty input name '", s, "'");
  return r;
}

// The attr names an op def relies on (its kernel, shape function or arg lists read them).
std::set<std::string> known_attrs(const OpDef& def) {
  std::set<std::string> r;
  for (const auto& [name, v] : def.attr_defaults) r.insert(name);
  for (const auto& [name, v] : def.allowed_types) r.insert(name);
  for (const auto* args : {&def.inputs, &def.outputs})
    for (const ArgDef& a : *args) {
      if (!a.type_attr.empty()) r.insert(a.type_attr);
      if (!a.number_attr.empty()) r.insert(a.number_attr);
      if (!a.type_list_attr.empty()) r.insert(a.type_list_attr);
    }
  return r;
}

// A type flowgraph has no Tensor for, or one the registered def's kernel does not take (a string
// through an op whose kernels move fixed-size elements).
bool has_unsupported_dtype(const AttrValue& v, const OpDef& def, const std::string& name) {
  if (auto* t = std::get_if<DType>(&v)) return !is_supported_dtype(*t) || !def.allows(name, *t);
  if (auto* ts = std::get_if<std::vector<DType>>(&v))
    return std::any_of(ts->begin(), ts->end(), [](DType t) { return !is_supported_dtype(t); });
  return false;
}

}  // namespace

bool is_supported_dtype(DType t) {
  switch (t) {
    case DType::kFloat: case DType::kDouble: case DType::kInt32:
    case DType::kUInt8: case DType::kInt64: case DType::kBool: case DType::kString:
      return true;
    default:
      return false;
  }
}

// ---- attrs

tensorflow::AttrValue attr_to_proto(const AttrValue& v) {
  tensorflow::AttrValue p;
  std::visit([&](const auto& x) {
    using X = std::decay_t<decltype(x)>;
    if constexpr (std::is_same_v<X, std::monostate>) {
    } else if constexpr (std::is_same_v<X, int64_t>) p.set_i(x);
    else if constexpr (std::is_same_v<X, float>) p.set_f(x);
    else if constexpr (std::is_same_v<X, bool>) p.set_b(x);
    else if constexpr (std::is_same_v<X, std::string>) p.set_s(x);
    else if constexpr (std::is_same_v<X, DType>) p.set_type(dtype_to_proto(x));
    else if constexpr (std::is_same_v<X, Shape>) *p.mutable_shape() = shape_to_proto(x);
    else if constexpr (std::is_same_v<X, Tensor>) *p.mutable_tensor() = tensor_to_proto(x);
    else {
      auto* list = p.mutable_list();
      for (const auto& e : x) {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, int64_t>) list->add_i(e);
        else if constexpr (std::is_same_v<E, float>) list->add_f(e);
        else if constexpr (std::is_same_v<E, DType>) list->add_type(dtype_to_proto(e));
        else if constexpr (std::is_same_v<E, Shape>) *list->add_shape() = shape_to_proto(e);
        else list->add_s(e);
      }
    }
  }, v);
  return p;
}

bool attr_from_proto(const tensorflow::AttrValue& p, const std::string& who, AttrValue* out) {
  using P = tensorflow::AttrValue;
  switch (p.value_case()) {
    case P::kS: *out = p.s(); return true;
    case P::kI: *out = static_cast<int64_t>(p.i()); return true;
    case P::kF: *out = p.f(); return true;
    case P::kB: *out = p.b(); return true;
    case P::kType: *out = carried_dtype(p.type()); return true;
    case P::kShape: *out = shape_from_proto(p.shape(), who); return true;
    case P::kTensor:
      if (!is_supported_dtype(carried_dtype(p.tensor().dtype()))) return false;
      *out = tensor_from_proto(p.tensor(), who);
      return true;
    case P::kList: {
      const auto& l = p.list();
      const int kinds = (l.s_size() > 0) + (l.i_size() > 0) + (l.f_size() > 0) + (l.b_size() > 0) +
                        (l.type_size() > 0) + (l.shape_size() > 0) + (l.tensor_size() > 0) + (l.func_size() > 0);
      if (kinds > 1 || l.b_size() || l.tensor_size() || l.func_size()) return false;
      if (l.s_size()) *out = std::vector<std::string>(l.s().begin(), l.s().end());
      else if (l.f_size()) *out = std::vector<float>(l.f().begin(), l.f().end());
      else if (l.type_size()) {
        std::vector<DType> ts;
        for (int t : l.type()) ts.push_back(carried_dtype(t));
        *out = std::move(ts);
      } else if (l.shape_size()) {
        std::vector<Shape> ss;
        for (const auto& s : l.shape()) ss.push_back(shape_from_proto(s, who));
        *out = std::move(ss);
      } else {
        *out = std::vector<int64_t>(l.i().begin(), l.i().end());  // also the empty list
      }
      return true;
    }
    default:
      return false;  // func, placeholder, or nothing set: carried as bytes
  }
}

// ---- export

tensorflow::GraphDef to_graph_def(const Graph& g, const GraphDefOptions& options) {
  tensorflow::GraphDef gd;
  gd.mutable_versions()->set_producer(kProducer);
  for (const Operation* op : g.get_operations()) {
    tensorflow::NodeDef* n = gd.add_node();
    n->set_name(op->name());
    n->set_op(op->type());
    for (const Output& in : op->inputs()) n->add_input(tensor_ref(in));
    for (const Operation* c : op->control_inputs()) n->add_input("^" + c->name());
    if (!op->device().empty()) n->set_device(op->device());
    auto& attrs = *n->mutable_attr();
    for (const auto& [name, v] : op->attrs()) {
      if (std::holds_alternative<std::monostate>(v)) continue;
      attrs[name] = attr_to_proto(v);
    }
    for (const auto& [name, bytes] : op->opaque_attrs()) {
      FG_CHECK(attrs[name].ParseFromString(bytes), Internal, "to_graph_def: node '", op->name(), "' attr '", name,
               "' holds bytes that are not an AttrValue");
    }
    if (options.add_shapes && op->num_outputs() > 0) {
      auto* list = attrs["_output_shapes"].mutable_list();
      list->Clear();
      for (int i = 0; i < op->num_outputs(); ++i) *list->add_shape() = shape_to_proto(op->output_shape(i));
    }
  }
  return gd;
}

tensorflow::GraphDef Graph::to_graph_def() const { return fg::to_graph_def(*this); }

std::vector<DType> declared_output_dtypes(const tensorflow::OpDef& def, const AttrMap& attrs, const std::string& who,
                                          int64_t limit) {
  auto attr_of = [&](const std::string& name) -> std::optional<AttrValue> {
    if (auto it = attrs.find(name); it != attrs.end()) return it->second;
    for (const auto& a : def.attr())
      if (a.name() == name && a.has_default_value()) {
        AttrValue v;
        if (attr_from_proto(a.default_value(), who, &v)) return v;
      }
    return std::nullopt;
  };
  std::vector<DType> r;
  for (const auto& arg : def.output_arg()) {
    const std::string what = str_cat(who, ": output '", arg.name(), "' of its OpDef in the meta graph");
    if (!arg.type_list_attr().empty()) {
      auto v = attr_of(arg.type_list_attr());
      FG_CHECK(v && std::holds_alternative<std::vector<DType>>(*v), InvalidArgument, what, " needs list(type) attr '",
               arg.type_list_attr(), "'");
      const auto& ts = std::get<std::vector<DType>>(*v);
      FG_CHECK(static_cast<int64_t>(r.size() + ts.size()) <= limit, InvalidArgument, who,
               ": its OpDef in the meta graph declares more than ", limit, " outputs");
      r.insert(r.end(), ts.begin(), ts.end());
      continue;
    }
    DType t = carried_dtype(arg.type());
    if (arg.type() == tensorflow::DT_INVALID) {
      auto v = attr_of(arg.type_attr());
      FG_CHECK(v && std::holds_alternative<DType>(*v), InvalidArgument, what, " needs type attr '", arg.type_attr(),
               "'");
      t = std::get<DType>(*v);
    }
    int64_t n = 1;
    if (!arg.number_attr().empty()) {
      auto v = attr_of(arg.number_attr());
      FG_CHECK(v && std::holds_alternative<int64_t>(*v) && std::get<int64_t>(*v) >= 0, InvalidArgument, what,
               " needs a non-negative int attr '", arg.number_attr(), "'");
      n = std::get<int64_t>(*v);
    }
    FG_CHECK(static_cast<int64_t>(r.size()) + n <= limit, InvalidArgument, who,
             ": its OpDef in the meta graph declares more than ", limit, " outputs");
    r.insert(r.end(), static_cast<size_t>(n), t);
  }
  return r;
}

// ---- import

namespace {

struct NodeInfo {
  const tensorflow::NodeDef* def = nullptr;
  std::vector<InputRef> inputs;  // data inputs then control inputs, as in the NodeDef
  int max_output_ref = -1;       // highest output index any consumer names
  Operation* op = nullptr;
  std::vector<char> back_edge;   // per input: a while loop's edge into its Merge, built last
};

// What the passes of one import share.
struct Import {
  Graph& g;
  const tensorflow::GraphDef& graph_def;
  const ImportGraphDefOptions& options;
  OpRegistry& registry;
  std::unordered_map<std::string, int> index;  // node name -> position in the GraphDef
  std::vector<NodeInfo> nodes;
  std::map<std::string, Output> input_map;     // "node:index" -> tensor of g
  std::vector<int> order;                      // dependencies first
  ImportResult result;
  // Outputs the unknown-op nodes may still declare: each must be paid for by bytes of the file,
  // so a few bytes naming output 999999999 of an unknown op cannot make the import allocate
  // gigabytes.
  int64_t graph_def_bytes = 0;
  int64_t opaque_outputs_left = 0;

  const Output* mapped(const InputRef& r) const {
    if (r.control) return nullptr;
    auto it = input_map.find(str_cat(r.node, ":", r.index));
    return it == input_map.end() ? nullptr : &it->second;
  }
};

// Output dtypes of an opaque node: a registered def's arg list when there is one, else TF's
// usual attrs (list "dtypes"/"Tout"/"out_types", or one of T/dtype/out_type/DstT for all).
std::vector<DType> opaque_output_dtypes(const OpDef* reg, const AttrMap& attrs, int count) {
  auto dtype_attr = [&](const std::string& name) {
    auto it = attrs.find(name);
    return it != attrs.end() && std::holds_alternative<DType>(it->second) ? std::get<DType>(it->second)
                                                                          : DType::kInvalid;
  };
  std::vector<DType> r(count, DType::kInvalid);
  if (reg) {
    for (int i = 0; i < count && i < static_cast<int>(reg->outputs.size()); ++i)
      r[i] = reg->outputs[i].fixed != DType::kInvalid ? reg->outputs[i].fixed : dtype_attr(reg->outputs[i].type_attr);
    return r;
  }
  for (const char* list_name : {"dtypes", "Tout", "out_types", "output_types"}) {
    auto it = attrs.find(list_name);
    if (it == attrs.end() || !std::holds_alternative<std::vector<DType>>(it->second)) continue;
    const auto& ts = std::get<std::vector<DType>>(it->second);
    for (int i = 0; i < count && i < static_cast<int>(ts.size()); ++i) r[i] = ts[i];
    return r;
  }
  for (const char* name : {"T", "dtype", "out_type", "DstT"}) {
    const DType t = dtype_attr(name);
    if (t != DType::kInvalid) {
      std::fill(r.begin(), r.end(), t);
      break;
    }
  }
  return r;
}

// Every node has a name, an op type and a name of its own.
void index_nodes(Import& im) {
  const int n_nodes = im.graph_def.node_size();
  im.nodes.resize(n_nodes);
  for (int i = 0; i < n_nodes; ++i) {
    const auto& nd = im.graph_def.node(i);
    FG_CHECK(!nd.name().empty(), InvalidArgument, "import_graph_def: node ", i, " has no name");
    FG_CHECK(!nd.op().empty(), InvalidArgument, "import_graph_def: node '", nd.name(), "' has no op type");
    FG_CHECK(im.index.emplace(nd.name(), i).second, InvalidArgument, "import_graph_def: node '", nd.name(),
             "' appears twice in the GraphDef");
    im.nodes[i].def = &nd;
  }
}

// input_map's keys as "node:index", each mapped to a tensor of the destination graph.
void resolve_input_map(Import& im) {
  for (const auto& [key, out] : im.options.input_map) {
    FG_CHECK(out && out.graph() == &im.g, InvalidArgument, "import_graph_def: input_map['", key,
             "'] is not a tensor of the destination graph");
    const InputRef r = parse_input(key, "import_graph_def: input_map");
    FG_CHECK(!r.control, InvalidArgument, "import_graph_def: input_map key '", key, "' is a control input");
    im.input_map[str_cat(r.node, ":", r.index)] = out;
  }
}

// Each node's inputs: data inputs first, each naming a node of the file or a mapped tensor.
void parse_inputs(Import& im) {
  for (auto& n : im.nodes) {
    const std::string who = str_cat("import_graph_def: node '", n.def->name(), "'");
    bool seen_control = false;
    for (const std::string& s : n.def->input()) {
      InputRef r = parse_input(s, who);
      FG_CHECK(!seen_control || r.control, InvalidArgument, who, ": data input '", s, "' follows a control input");
      seen_control = r.control;
      auto it = im.index.find(r.node);
      FG_CHECK(im.mapped(r) || it != im.index.end(), InvalidArgument, who, " has an input '", s,
               "' that names no node of the GraphDef");
      if (!r.control && it != im.index.end())
        im.nodes[it->second].max_output_ref = std::max(im.nodes[it->second].max_output_ref, r.index);
      n.inputs.push_back(std::move(r));
    }
  }
}

// A while loop's one cycle: NextIteration (a loop_back_edge op) into its Merge (merge-like).
void mark_back_edges(Import& im) {
  for (auto& n : im.nodes) {
    n.back_edge.assign(n.inputs.size(), 0);
    const OpDef* def = im.registry.find(n.def->op());
    if (!def || !def->merge_like) continue;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const InputRef& r = n.inputs[k];
      if (r.control || im.mapped(r)) continue;
      const OpDef* src = im.registry.find(im.nodes[im.index.at(r.node)].def->op());
      n.back_edge[k] = src && src->loop_back_edge;
    }
  }
}

// Topological order: depth first from each node in file order, so an ordered file keeps its
// order exactly.
void order_by_dependencies(Import& im) {
  const int n_nodes = static_cast<int>(im.nodes.size());
  im.order.reserve(n_nodes);
  std::vector<char> state(n_nodes, 0);  // 1 = on the stack, 2 = done
  for (int root = 0; root < n_nodes; ++root) {
    if (state[root]) continue;
    std::vector<std::pair<int, size_t>> stack{{root, 0}};
    state[root] = 1;
    while (!stack.empty()) {
      auto& [i, next] = stack.back();
      if (next < im.nodes[i].inputs.size()) {
        const size_t k = next++;
        const InputRef& r = im.nodes[i].inputs[k];
        if (im.mapped(r) || im.nodes[i].back_edge[k]) continue;
        const int dep = im.index.at(r.node);
        FG_CHECK(state[dep] != 1, InvalidArgument, "import_graph_def: the GraphDef has a cycle through node '",
                 r.node, "' (the only cycle a graph may have is a while loop's NextIteration into its Merge)");
        if (state[dep] == 0) {
          state[dep] = 1;
          stack.push_back({dep, 0});
        }
      } else {
        state[i] = 2;
        im.order.push_back(i);
        stack.pop_back();
      }
    }
  }
}

// The scope, as TF's import_graph_def(name=...) opens it; no imported name may exist already.
void open_scope(Import& im) {
  const std::string& prefix = im.options.prefix;
  if (!prefix.empty()) {
    if (prefix.back() == '/') {
      im.result.prefix = prefix;
    } else {
      auto scope = im.g.name_scope(prefix);
      im.result.prefix = im.g.current_name_scope();
    }
  }
  for (const auto& n : im.nodes)
    FG_CHECK(!im.g.find_operation(im.result.prefix + n.def->name()), InvalidArgument, "import_graph_def: node '",
             im.result.prefix + n.def->name(), "' already exists in the graph");
}

// The node's data inputs, from nodes built before it or from input_map. A back edge's place is
// held by the node's first other data input until connect_back_edges.
std::vector<Output> data_inputs(const Import& im, const NodeInfo& n, const std::string& who) {
  std::vector<Output> data;
  std::vector<size_t> held;
  for (size_t k = 0; k < n.inputs.size(); ++k) {
    const InputRef& r = n.inputs[k];
    if (r.control) continue;
    if (const Output* m = im.mapped(r)) {
      data.push_back(*m);
      continue;
    }
    if (n.back_edge[k]) {
      held.push_back(data.size());
      data.emplace_back();
      continue;
    }
    Operation* src = im.nodes[im.index.at(r.node)].op;
    FG_CHECK(r.index < src->num_outputs(), InvalidArgument, who, ": input '", r.node, ":", r.index, "' names output ",
             r.index, " but '", src->name(), "' (", src->type(), ") has ", src->num_outputs(), " outputs");
    data.push_back(src->output(r.index));
  }
  if (!held.empty()) {
    auto entry = std::find_if(data.begin(), data.end(), [](const Output& o) { return static_cast<bool>(o); });
    FG_CHECK(entry != data.end(), InvalidArgument, who, ": every data input comes from a NextIteration; a loop's "
             "Merge needs one entering the loop");
    for (size_t pos : held) data[pos] = *entry;
  }
  return data;
}

// Each back edge, now that its NextIteration exists.
void connect_back_edges(Import& im) {
  for (auto& n : im.nodes) {
    int pos = 0;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const InputRef& r = n.inputs[k];
      if (r.control) continue;
      if (n.back_edge[k]) {
        const std::string who = str_cat("import_graph_def: node '", n.op->name(), "' (", n.def->op(), ")");
        Operation* src = im.nodes[im.index.at(r.node)].op;
        FG_CHECK(r.index < src->num_outputs(), InvalidArgument, who, ": input '", r.node, ":", r.index,
                 "' names output ", r.index, " but '", src->name(), "' has ", src->num_outputs(), " outputs");
        try {
          im.g.update_input(n.op, pos, src->output(r.index));
        } catch (const Error& e) {
          rethrow_with_context(e, who + ": ");
        }
      }
      ++pos;
    }
  }
}

// The node's control inputs, all from nodes built before it.
std::vector<Operation*> control_inputs(const Import& im, const NodeInfo& n) {
  std::vector<Operation*> control;
  for (const InputRef& r : n.inputs)
    if (r.control) control.push_back(im.nodes[im.index.at(r.node)].op);
  return control;
}

// A node's attrs as flowgraph holds them, and the def it is built with.
struct ResolvedNode {
  const OpDef* reg = nullptr;  // the registered def of its type, if any
  bool opaque = false;         // built with the opaque def of its type instead
  AttrMap attrs;
  std::map<std::string, std::string> raw;  // attrs kept as the file's bytes
};

// Reads the attrs and decides registered or opaque: a node is opaque when its type is not
// registered, or when a value its def relies on (an attr, an input) has no flowgraph form.
ResolvedNode resolve_def(const Import& im, const tensorflow::NodeDef& nd, const std::string& full,
                         const std::vector<Output>& data) {
  ResolvedNode r;
  r.reg = im.registry.find(nd.op());
  std::set<std::string> reg_attrs;
  if (r.reg) reg_attrs = known_attrs(*r.reg);
  r.opaque = r.reg == nullptr;
  // Sorted, so opaque attrs and error messages do not depend on the map's hash order.
  std::map<std::string, const tensorflow::AttrValue*> sorted;
  for (const auto& [name, value] : nd.attr()) sorted[name] = &value;
  for (const auto& [name, value] : sorted) {
    AttrValue v;
    if (attr_from_proto(*value, str_cat(full, " attr '", name, "'"), &v)) {
      if (reg_attrs.count(name) && has_unsupported_dtype(v, *r.reg, name)) r.opaque = true;
      // TF's encoding may differ from flowgraph's for the same value (`float_val: 0` for
      // a zeros tensor); keep the file's bytes so the node exports as it came.
      std::string bytes = value->SerializeAsString();
      if (attr_to_proto(v).SerializeAsString() != bytes) r.raw[name] = std::move(bytes);
      r.attrs[name] = std::move(v);
    } else {
      r.raw[name] = value->SerializeAsString();
      if (reg_attrs.count(name)) r.opaque = true;
    }
  }
  for (const Output& x : data)
    if (!is_supported_dtype(x.dtype())) r.opaque = true;
  if (r.reg && !r.reg->legacy_unknown_shape_attr.empty() && im.graph_def.versions().producer() <= 21) {
    auto it = r.attrs.find(r.reg->legacy_unknown_shape_attr);
    if (it != r.attrs.end() && std::holds_alternative<Shape>(it->second) && std::get<Shape>(it->second).rank() == 0) {
      it->second = Shape::unknown();
      r.raw.erase(it->first);
    }
  }
  return r;
}

const tensorflow::OpDef* listed_op_def(const Import& im, const std::string& type) {
  if (!im.options.op_list) return nullptr;
  for (const auto& op : im.options.op_list->op())
    if (op.name() == type) return &op;
  return nullptr;
}

// Attr kinds the registered op relies on must be right before the builder reads them.
void check_attr_kinds(const OpDef& reg, AttrMap& attrs, const std::string& who) {
  for (const auto& [name, def_value] : reg.attr_defaults) {
    auto it = attrs.find(name);
    if (it == attrs.end() || std::holds_alternative<std::monostate>(def_value)) continue;
    if (it->second.index() != def_value.index() && is_empty_list(it->second)) it->second = empty_list_like(def_value);
    FG_CHECK(it->second.index() == def_value.index(), InvalidArgument, who, ": attr '", name, "' is a ",
             attr_kind_name(it->second), ", expected a ", attr_kind_name(def_value));
  }
  for (const std::string& name : known_attrs(reg)) {
    auto it = attrs.find(name);
    if (it == attrs.end()) continue;
    bool is_type = reg.allowed_types.count(name) > 0, is_number = false, is_type_list = false;
    for (const auto* args : {&reg.inputs, &reg.outputs})
      for (const ArgDef& a : *args) {
        is_type = is_type || a.type_attr == name;
        is_number = is_number || a.number_attr == name;
        is_type_list = is_type_list || a.type_list_attr == name;
      }
    if (is_type_list && is_empty_list(it->second)) it->second = std::vector<DType>{};
    FG_CHECK(!is_type_list || std::holds_alternative<std::vector<DType>>(it->second), InvalidArgument, who,
             ": attr '", name, "' is a ", attr_kind_name(it->second), ", expected a list(type)");
    FG_CHECK(!is_type || std::holds_alternative<DType>(it->second), InvalidArgument, who, ": attr '", name,
             "' is a ", attr_kind_name(it->second), ", expected a type");
    FG_CHECK(!is_number || std::holds_alternative<int64_t>(it->second), InvalidArgument, who, ": attr '", name,
             "' is a ", attr_kind_name(it->second), ", expected an int");
  }
}

// An opaque node takes its inputs as they come; its outputs are as many as the file uses or
// declares, typed from its attrs and shaped by the shapes TF wrote.
void add_opaque_inputs_and_outputs(Import& im, OpBuilder& b, const NodeInfo& n, const ResolvedNode& r,
                                   const std::vector<Output>& data, const std::string& who) {
  const tensorflow::NodeDef& nd = *n.def;
  for (const Output& x : data) b.input(x);
  const tensorflow::OpDef* listed = r.reg ? nullptr : listed_op_def(im, nd.op());
  std::vector<DType> declared;
  if (listed) declared = declared_output_dtypes(*listed, r.attrs, who, im.opaque_outputs_left);
  int count = n.max_output_ref + 1;
  if (r.reg) count = std::max(count, static_cast<int>(r.reg->outputs.size()));
  std::vector<Shape> shapes;
  auto os = nd.attr().find("_output_shapes");
  if (os != nd.attr().end()) {
    count = std::max(count, os->second.list().shape_size());
    for (const auto& s : os->second.list().shape()) shapes.push_back(shape_from_proto(s, who));
  }
  if (listed) {
    FG_CHECK(n.max_output_ref < static_cast<int64_t>(declared.size()), InvalidArgument, who, ": output ",
             n.max_output_ref, " is used, but its OpDef in the meta graph declares ", declared.size(), " outputs");
    count = static_cast<int>(declared.size());
  }
  FG_CHECK(count <= im.opaque_outputs_left, InvalidArgument, who, ": declares ", count,
           " outputs; the unknown-op nodes of a GraphDef of ", im.graph_def_bytes, " bytes may declare ",
           kOpaqueOutputAllowance, " + ", im.graph_def_bytes, " outputs in all");
  im.opaque_outputs_left -= count;
  shapes.resize(count, Shape::unknown());
  b.opaque_outputs(listed ? declared : opaque_output_dtypes(r.reg, r.attrs, count), shapes);
}

// A registered node's inputs, matched to its def's args (list args take their attr's count).
void add_registered_inputs(OpBuilder& b, const OpDef& reg, const tensorflow::NodeDef& nd, const AttrMap& attrs,
                           const std::vector<Output>& data, const std::string& who) {
  size_t pos = 0;
  for (const ArgDef& arg : reg.inputs) {
    if (!arg.type_list_attr.empty()) {
      auto it = attrs.find(arg.type_list_attr);
      FG_CHECK(it != attrs.end(), InvalidArgument, who, ": missing attr '", arg.type_list_attr, "'");
      const size_t count = std::get<std::vector<DType>>(it->second).size();
      FG_CHECK(pos + count <= data.size(), InvalidArgument, who, ": attr ", arg.type_list_attr, " lists ", count,
               " types but the node has ", data.size(), " inputs");
      b.input_list(std::vector<Output>(data.begin() + pos, data.begin() + pos + count));
      pos += count;
      continue;
    }
    if (arg.number_attr.empty()) {
      FG_CHECK(pos < data.size(), InvalidArgument, who, ": has ", data.size(), " inputs; input '", arg.name,
               "' is missing");
      b.input(data[pos++]);
      continue;
    }
    auto it = attrs.find(arg.number_attr);
    FG_CHECK(it != attrs.end(), InvalidArgument, who, ": missing attr '", arg.number_attr, "'");
    const int64_t count = std::get<int64_t>(it->second);
    FG_CHECK(count >= 0 && pos + count <= data.size(), InvalidArgument, who, ": attr ", arg.number_attr, " = ", count,
             " but the node has ", data.size(), " inputs");
    b.input_list(std::vector<Output>(data.begin() + pos, data.begin() + pos + count));
    pos += count;
  }
  FG_CHECK(pos == data.size(), InvalidArgument, who, ": has ", data.size(), " inputs, ", nd.op(), " takes ", pos);
}

// TF's shape inference sees through Shape/Reshape chains flowgraph's does not; the shapes TF
// wrote refine ours (never contradict them: a clash keeps flowgraph's).
void refine_shapes(Operation* op, const tensorflow::NodeDef& nd, const std::string& who) {
  auto os = nd.attr().find("_output_shapes");
  if (os == nd.attr().end() || os->second.list().shape_size() != op->num_outputs()) return;
  for (int k = 0; k < op->num_outputs(); ++k) {
    const Shape s = shape_from_proto(os->second.list().shape(k), who);
    if (op->output_shape(k).compatible_with(s)) op->set_output_shape(k, s);
  }
}

// Builds one node, its inputs already built; errors name it.
void build_node(Import& im, NodeInfo& n) {
  const tensorflow::NodeDef& nd = *n.def;
  const std::string full = im.result.prefix + nd.name();
  const std::string who = str_cat("import_graph_def: node '", full, "' (", nd.op(), ")");
  try {
    const std::vector<Output> data = data_inputs(im, n, who);
    ResolvedNode r = resolve_def(im, nd, full, data);
    if (!r.opaque) check_attr_kinds(*r.reg, r.attrs, who);
    const OpDef& def = r.opaque ? im.registry.opaque_def(nd.op()) : *r.reg;
    OpBuilder b(im.g, def, full + "/");  // trailing '/': this exact name, marked as used
    if (r.opaque) add_opaque_inputs_and_outputs(im, b, n, r, data, who);
    else add_registered_inputs(b, *r.reg, nd, r.attrs, data, who);
    for (auto& [name, v] : r.attrs) b.attr(name, std::move(v));
    for (auto& [name, bytes] : r.raw) b.opaque_attr(name, std::move(bytes));
    for (Operation* c : control_inputs(im, n)) b.control_input(c);
    b.device(nd.device());
    n.op = b.build();
    im.result.operations.push_back(n.op);
    if (!r.opaque) refine_shapes(n.op, nd, who);
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.find(full) != std::string::npos) throw;
    rethrow_with_context(e, who + ": ");
  }
}

// The scopes of imported names are taken too, so a later name_scope("dnn") or Saver ("save")
// opens "dnn_1/" instead of colliding with imported nodes.
void reserve_imported_scopes(Graph& g, const ImportResult& result) {
  for (const Operation* op : result.operations)
    for (size_t slash = op->name().find('/'); slash != std::string::npos; slash = op->name().find('/', slash + 1))
      g.scoped_op_name(op->name().substr(0, slash + 1), "");
}

}  // namespace

ImportResult import_graph_def(Graph& g, const tensorflow::GraphDef& graph_def, const ImportGraphDefOptions& options) {
  Import im{g, graph_def, options, OpRegistry::global()};
  // Checked before touching the graph.
  index_nodes(im);
  resolve_input_map(im);
  parse_inputs(im);
  mark_back_edges(im);
  order_by_dependencies(im);
  open_scope(im);
  // Imported nodes keep exactly the control inputs the file gives them.
  auto no_deps = g.control_dependencies({});
  // All or nothing: a node that fails removes the ones imported before it.
  struct Rollback {
    Graph& g;
    int64_t n;
    bool armed = true;
    ~Rollback() { if (armed) g.truncate_operations(n); }
  } rollback{g, g.num_operations()};
  im.graph_def_bytes = static_cast<int64_t>(graph_def.ByteSizeLong());
  im.opaque_outputs_left = kOpaqueOutputAllowance + im.graph_def_bytes;
  for (int i : im.order) build_node(im, im.nodes[i]);
  connect_back_edges(im);
  rollback.armed = false;
  reserve_imported_scopes(g, im.result);
  return std::move(im.result);
}

std::string serialize_deterministic(const google::protobuf::Message& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&coded);
  }
  return out;
}

}  // namespace fg
