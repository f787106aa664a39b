#include "train/meta_graph.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>

#include "graph/control_flow.h"
#include "graph/graph_io.h"
#include "graph/op_registry.h"
#include "graph/tensor_proto.h"
#include "ops/register.h"
#include "proto/control_flow.pb.h"
#include "proto/variable.pb.h"
#include "ops/tensor_bundle.h"

namespace fg::train {

namespace {

// What TF tools see as the writer. Loaders do not parse it; it tells a reader the graph
// speaks TF 1.10's op set (producer 26) and came from flowgraph.
constexpr const char* kTensorflowVersion = "1.10.1-flowgraph";
constexpr const char* kGitVersion = "flowgraph-0.1.0";

const char* attr_type_name(const AttrValue& v) {
  static const char* names[] = {"",          "int",          "float",       "bool",
                                "string",    "type",         "shape",       "tensor",
                                "list(int)", "list(float)",  "list(type)",  "list(shape)",
                                "list(string)"};
  return names[v.index()];
}

tensorflow::OpDef::ArgDef arg_to_proto(const ArgDef& a) {
  tensorflow::OpDef::ArgDef p;
  p.set_name(a.name);
  if (a.fixed != DType::kInvalid) p.set_type(dtype_to_proto(a.fixed));
  else p.set_type_attr(a.type_attr);
  p.set_number_attr(a.number_attr);
  p.set_type_list_attr(a.type_list_attr);
  p.set_is_ref(a.is_ref);
  return p;
}

// TF's definitions of carried types, as the stripped_op_lists of imported meta graphs
// declared them (first declaration wins), so a re-exported graph declares them again.
std::mutex imported_defs_mu;
std::map<std::string, tensorflow::OpDef>& imported_op_defs() {
  static auto* defs = new std::map<std::string, tensorflow::OpDef>();
  return *defs;
}

void remember_imported_op_defs(const tensorflow::MetaGraphDef& meta) {
  std::lock_guard lock(imported_defs_mu);
  for (const auto& op : meta.meta_info_def().stripped_op_list().op())
    if (op.input_arg_size() + op.output_arg_size() + op.attr_size() > 0) imported_op_defs().emplace(op.name(), op);
}

std::optional<tensorflow::OpDef> carried_op_def(const std::string& type) {
  std::lock_guard lock(imported_defs_mu);
  if (auto it = imported_op_defs().find(type); it != imported_op_defs().end()) return it->second;
  return std::nullopt;
}

// A carried type's definition as an imported meta graph gave it, if it declares what every node
// of that type in `g` has (outputs and their dtypes). Otherwise none: a signature flowgraph cannot
// vouch for is left out of the stripped_op_list, so an importer types the nodes by their uses
// and shapes, as it did the first time, instead of trusting a definition that contradicts them.
std::optional<tensorflow::OpDef> carried_op_def_for(const Graph& g, const std::string& type) {
  auto def = carried_op_def(type);
  if (!def) return std::nullopt;
  for (const Operation* op : g.get_operations()) {
    if (op->type() != type) continue;
    std::vector<DType> declared;
    try {
      declared = declared_output_dtypes(*def, op->attrs(), op->name(), op->num_outputs() + 1);
    } catch (const Error&) {
      return std::nullopt;
    }
    if (static_cast<int>(declared.size()) != op->num_outputs()) return std::nullopt;
    for (int i = 0; i < op->num_outputs(); ++i)
      if (declared[i] != op->output_dtype(i)) return std::nullopt;
  }
  return def;
}

// TF's OpDef for one of flowgraph's registered types; `example` supplies the kind of attrs
// that have no default.
tensorflow::OpDef op_def_to_proto(const OpDef& def, const Operation& example) {
  tensorflow::OpDef p;
  p.set_name(def.type);
  for (const ArgDef& a : def.inputs) *p.add_input_arg() = arg_to_proto(a);
  for (const ArgDef& a : def.outputs) *p.add_output_arg() = arg_to_proto(a);
  std::set<std::string> type_attrs, number_attrs, type_list_attrs;
  for (const auto* args : {&def.inputs, &def.outputs})
    for (const ArgDef& a : *args) {
      if (!a.type_attr.empty()) type_attrs.insert(a.type_attr);
      if (!a.number_attr.empty()) number_attrs.insert(a.number_attr);
      if (!a.type_list_attr.empty()) type_list_attrs.insert(a.type_list_attr);
    }
  for (const auto& [name, allowed] : def.allowed_types) type_attrs.insert(name);
  std::vector<std::string> names;
  for (const auto& [name, dv] : def.attr_defaults) names.push_back(name);
  for (const auto* set : {&type_attrs, &number_attrs, &type_list_attrs})
    for (const auto& name : *set)
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  for (const std::string& name : names) {
    auto* attr = p.add_attr();
    attr->set_name(name);
    const AttrValue* dv = nullptr;
    for (const auto& [n, v] : def.attr_defaults)
      if (n == name && !std::holds_alternative<std::monostate>(v)) dv = &v;
    if (type_attrs.count(name)) attr->set_type("type");
    else if (type_list_attrs.count(name)) {
      attr->set_type("list(type)");
      attr->set_has_minimum(true);
      attr->set_minimum(1);
    } else if (number_attrs.count(name)) {
      attr->set_type("int");
      attr->set_has_minimum(true);
      attr->set_minimum(1);  // TF's usual `N: int >= 1`; attr_minimums says otherwise
    } else if (dv) attr->set_type(attr_type_name(*dv));
    else if (example.has_attr(name)) attr->set_type(attr_type_name(example.attrs().at(name)));
    if (dv) *attr->mutable_default_value() = attr_to_proto(*dv);
    if (auto m = def.attr_minimums.find(name); m != def.attr_minimums.end()) {
      attr->set_has_minimum(true);
      attr->set_minimum(m->second);
    }
    auto allowed = def.allowed_types.find(name);
    if (allowed != def.allowed_types.end())
      for (DType t : allowed->second) attr->mutable_allowed_values()->mutable_list()->add_type(dtype_to_proto(t));
  }
  p.set_is_stateful(def.stateful);
  return p;
}

tensorflow::VariableDef variable_to_proto(const Variable& v) {
  tensorflow::VariableDef p;
  p.set_variable_name(v.op->name() + ":0");
  if (v.initial_value) p.set_initial_value_name(v.initial_value.name());
  if (v.initializer) p.set_initializer_name(v.initializer->name());
  if (v.snapshot) p.set_snapshot_name(v.snapshot.name());
  p.set_trainable(v.trainable);
  return p;
}

std::string with_scope(const std::string& scope, const std::string& name) {
  return name.empty() ? name : scope + name;
}

// TF's CondContext.to_proto: values sorted by name, nested conds inside their branch.
tensorflow::CondContextDef cond_context_to_proto(const CondContext& c) {
  tensorflow::CondContextDef d;
  d.set_context_name(c.name());
  d.set_pred_name(c.pred().name());
  d.set_pivot_name(c.pivot().name());
  d.set_branch(c.branch());
  std::vector<std::string> values;
  for (const Output& v : c.values()) values.push_back(v.name());
  std::sort(values.begin(), values.end());
  auto* vd = d.mutable_values_def();
  for (const std::string& v : values) vd->add_values(v);
  for (const auto& [outside, inside] : c.external_values()) (*vd->mutable_external_values())[outside.name()] = inside.name();
  for (const CondContext* nested : c.nested()) *d.add_nested_contexts()->mutable_cond_ctxt() = cond_context_to_proto(*nested);
  return d;
}

// TF's CondContext.from_proto: the branch's ops are the values that do not enter from outside;
// a nested cond's ops then move to the nested branch.
void import_cond_context(Graph& g, const tensorflow::CondContextDef& d, const std::string& scope, CondContext* outer,
                         const std::string& who) {
  auto tensor = [&](const std::string& name) {
    const std::string full = with_scope(scope, name);
    try {
      return g.get_tensor_by_name(full);
    } catch (const Error& e) {
      throw NotFound(str_cat(who, ": context '", d.context_name(), "' names '", full, "': ", e.what()));
    }
  };
  FG_CHECK(d.branch() == 0 || d.branch() == 1, InvalidArgument, who, ": context '", d.context_name(),
           "' has branch ", d.branch(), ", expected 0 or 1");
  CondContext* c = g.new_cond_context(with_scope(scope, d.context_name()), tensor(d.pred_name()),
                                      tensor(d.pivot_name()), d.branch(), outer);
  const auto& vd = d.values_def();
  std::vector<std::string> external(vd.external_values().size());
  std::transform(vd.external_values().begin(), vd.external_values().end(), external.begin(),
                 [](const auto& kv) { return kv.first; });
  std::sort(external.begin(), external.end());
  for (const std::string& k : external) c->add_external_entry(tensor(k), tensor(vd.external_values().at(k)));
  for (const std::string& v : vd.values()) {
    const Output t = tensor(v);
    c->add_value_entry(t);
    if (!vd.external_values().count(v)) g.set_cond_context(t.op(), c);
  }
  for (const auto& nested : d.nested_contexts())
    if (nested.has_cond_ctxt()) import_cond_context(g, nested.cond_ctxt(), scope, c, who);
}

}  // namespace

const std::string kCondContextKey = "cond_context";

bool is_variable_collection(const std::string& key) {
  // The keys TF1 registers VariableDef proto functions for.
  static const std::set<std::string> keys = {"variables",       "trainable_variables", "local_variables",
                                             "model_variables", "moving_average_variables",
                                             "global_step",     "metric_variables"};
  return keys.count(key) > 0;
}

tensorflow::MetaGraphDef to_meta_graph_def(const Graph& g, const ExportMetaGraphOptions& options) {
  tensorflow::MetaGraphDef meta;
  auto* info = meta.mutable_meta_info_def();
  info->set_tensorflow_version(kTensorflowVersion);
  info->set_tensorflow_git_version(kGitVersion);
  std::map<std::string, const Operation*> used;  // type -> first op of that type
  for (const Operation* op : g.get_operations()) used.emplace(op->type(), op);
  for (const auto& [type, op] : used) {
    // A carried node of a registered type (a half Const) has the registered type's signature.
    const OpDef* registered = OpRegistry::global().find(type);
    if (registered) {
      *info->mutable_stripped_op_list()->add_op() = op_def_to_proto(*registered, *op);
    } else if (auto carried = carried_op_def_for(g, type)) {
      *info->mutable_stripped_op_list()->add_op() = *carried;
    }
  }

  *meta.mutable_graph_def() = to_graph_def(g, {.add_shapes = true});
  if (options.clear_devices)
    for (auto& n : *meta.mutable_graph_def()->mutable_node()) n.clear_device();
  if (options.saver_def) *meta.mutable_saver_def() = *options.saver_def;

  const std::vector<std::string> keys =
      options.collection_list.empty() ? g.get_all_collection_keys() : options.collection_list;
  for (const std::string& key : keys) {
    const auto items = g.get_collection(key);
    if (items.empty()) continue;
    tensorflow::CollectionDef col;
    auto mixed = [&](const CollectionItem& item) {
      return InvalidArgument(str_cat("export_meta_graph: collection '", key, "' mixes '",
                                     collection_item_name(items.front()), "' with '", collection_item_name(item),
                                     "', which a CollectionDef cannot hold together"));
    };
    const CollectionItem& first = items.front();
    if (std::holds_alternative<Variable>(first) && is_variable_collection(key)) {
      for (const auto& item : items) {
        const Variable* v = std::get_if<Variable>(&item);
        if (!v) throw mixed(item);
        col.mutable_bytes_list()->add_value(variable_to_proto(*v).SerializeAsString());
      }
    } else if (std::holds_alternative<std::string>(first)) {
      for (const auto& item : items) {
        const auto* s = std::get_if<std::string>(&item);
        if (!s) throw mixed(item);
        col.mutable_bytes_list()->add_value(*s);
      }
    } else if (std::holds_alternative<int64_t>(first)) {
      for (const auto& item : items) {
        const auto* i = std::get_if<int64_t>(&item);
        if (!i) throw mixed(item);
        col.mutable_int64_list()->add_value(*i);
      }
    } else if (std::holds_alternative<float>(first)) {
      for (const auto& item : items) {
        const auto* f = std::get_if<float>(&item);
        if (!f) throw mixed(item);
        col.mutable_float_list()->add_value(*f);
      }
    } else {
      // Ops by name, tensors as "op:index"; a variable outside TF's variable collections is
      // its tensor "var:0", as TF writes it.
      auto* list = col.mutable_node_list();
      for (const auto& item : items) {
        if (const auto* op = std::get_if<Operation*>(&item)) list->add_value((*op)->name());
        else if (const auto* o = std::get_if<Output>(&item)) list->add_value(o->name());
        else if (const auto* v = std::get_if<Variable>(&item)) list->add_value(v->op->name() + ":0");
        else throw mixed(item);
      }
    }
    (*meta.mutable_collection_def())[key] = std::move(col);
  }
  const bool wants_conds = options.collection_list.empty() ||
                           std::find(keys.begin(), keys.end(), kCondContextKey) != keys.end();
  if (wants_conds && !g.cond_contexts().empty()) {
    tensorflow::CollectionDef col;
    for (const CondContext* c : g.cond_contexts())
      col.mutable_bytes_list()->add_value(serialize_deterministic(cond_context_to_proto(*c)));
    (*meta.mutable_collection_def())[kCondContextKey] = std::move(col);
  }
  return meta;
}

tensorflow::MetaGraphDef export_meta_graph(const Graph& g, const std::string& path,
                                           const ExportMetaGraphOptions& options) {
  tensorflow::MetaGraphDef meta = to_meta_graph_def(g, options);
  write_file_atomic(path, serialize_deterministic(meta));
  return meta;
}

tensorflow::MetaGraphDef read_meta_graph_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  FG_CHECK(f, NotFound, "import_meta_graph: cannot open '", path, "'");
  const std::string bytes{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  FG_CHECK(!f.bad(), DataLoss, "import_meta_graph: error reading '", path, "'");
  FG_CHECK(!bytes.empty(), DataLoss, "import_meta_graph: '", path, "' is empty, not a MetaGraphDef");
  tensorflow::MetaGraphDef meta;
  FG_CHECK(meta.ParseFromString(bytes), DataLoss, "import_meta_graph: '", path,
           "' is not a valid MetaGraphDef (truncated or corrupt, ", bytes.size(), " bytes)");
  return meta;
}

std::optional<Saver> import_meta_graph(Graph& g, const std::string& path, const ImportMetaGraphOptions& options) {
  const tensorflow::MetaGraphDef meta = read_meta_graph_file(path);
  try {
    return import_meta_graph(g, meta, options);
  } catch (const Error& e) {
    // Name the file: a message about node 'x' alone does not say which file was bad.
    const std::string msg = str_cat(e.what(), " (in '", path, "')");
    switch (e.code()) {
      case Code::kInvalidArgument: throw InvalidArgument(msg);
      case Code::kNotFound: throw NotFound(msg);
      case Code::kUnimplemented: throw Unimplemented(msg);
      case Code::kDataLoss: throw DataLoss(msg);
      case Code::kFailedPrecondition: throw FailedPrecondition(msg);
      default: throw;
    }
  }
}

namespace {
void restore_collections(Graph& g, const tensorflow::MetaGraphDef& meta, const std::string& scope);
std::optional<Saver> restore_saver(Graph& g, const tensorflow::MetaGraphDef& meta, const std::string& scope);
}  // namespace

std::optional<Saver> import_meta_graph(Graph& g, const tensorflow::MetaGraphDef& meta,
                                       const ImportMetaGraphOptions& options) {
  register_ops();
  remember_imported_op_defs(meta);
  ImportGraphDefOptions io;
  io.prefix = options.import_scope;
  io.op_list = &meta.meta_info_def().stripped_op_list();
  ImportResult imported;
  if (options.clear_devices) {
    tensorflow::GraphDef gd = meta.graph_def();
    for (auto& n : *gd.mutable_node()) n.clear_device();
    imported = import_graph_def(g, gd, io);
  } else {
    imported = import_graph_def(g, meta.graph_def(), io);
  }
  const std::string& scope = imported.prefix;
  // All or nothing, like import_graph_def: on error the new ops go and the collections are
  // put back as they were.
  const int64_t ops_before = g.num_operations() - static_cast<int64_t>(imported.operations.size());
  const size_t contexts_before = g.num_all_cond_contexts();
  std::vector<std::pair<std::string, std::vector<CollectionItem>>> saved_collections;
  for (const auto& [key, col] : meta.collection_def()) saved_collections.emplace_back(key, g.get_collection(key));
  try {
    restore_collections(g, meta, scope);
    return restore_saver(g, meta, scope);
  } catch (...) {
    for (const auto& [key, items] : saved_collections) {
      g.clear_collection(key);
      for (const auto& item : items) g.add_to_collection(key, item);
    }
    g.truncate_cond_contexts(contexts_before);
    g.truncate_operations(ops_before);
    throw;
  }
}

namespace {

// What the collections of one meta-graph share while they are restored.
struct CollectionImport {
  Graph& g;
  const std::string& scope;
  std::set<std::string> trainable_names;                  // old TF wrote no `trainable` field
  std::unordered_map<const Operation*, Variable> variables;  // by variable op, as restored
};

// The collection keys, sorted, variable collections first so that other collections naming a
// variable's tensor get the Variable back.
std::vector<std::string> collection_order(const tensorflow::MetaGraphDef& meta) {
  std::vector<std::string> keys;
  for (const auto& [key, col] : meta.collection_def()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  std::stable_partition(keys.begin(), keys.end(), [](const std::string& k) { return is_variable_collection(k); });
  return keys;
}

std::set<std::string> trainable_variable_names(const tensorflow::MetaGraphDef& meta) {
  std::set<std::string> names;
  if (auto it = meta.collection_def().find(GraphKeys::TRAINABLE_VARIABLES); it != meta.collection_def().end())
    for (const auto& bytes : it->second.bytes_list().value()) {
      tensorflow::VariableDef d;
      if (d.ParseFromString(bytes)) names.insert(d.variable_name());
    }
  return names;
}

// Names of ops ("train_op") or tensors ("loss:0"); a variable's tensor comes back as its Variable.
void restore_node_list(CollectionImport& ci, const std::string& key, const tensorflow::CollectionDef& col,
                       const std::string& who) {
  for (const std::string& name : col.node_list().value()) {
    const std::string full = with_scope(ci.scope, name);
    try {
      if (name.find(':') == std::string::npos) {
        ci.g.add_to_collection(key, ci.g.get_operation_by_name(full));
        continue;
      }
      const Output o = ci.g.get_tensor_by_name(full);
      auto v = ci.variables.find(o.op());
      if (o.index() == 0 && v != ci.variables.end()) ci.g.add_to_collection(key, v->second);
      else ci.g.add_to_collection(key, o);
    } catch (const Error& e) {
      throw NotFound(str_cat(who, " names '", full, "': ", e.what()));
    }
  }
}

// A VariableDef of a variable collection, as the Variable it describes (one per variable op).
const Variable& restore_variable(CollectionImport& ci, const std::string& bytes, const std::string& who) {
  tensorflow::VariableDef d;
  FG_CHECK(d.ParseFromString(bytes), DataLoss, who, " holds an item that is not a VariableDef");
  FG_CHECK(!d.is_resource(), Unimplemented, who, ": '", d.variable_name(),
           "' is a resource variable, which flowgraph does not support");
  Graph& g = ci.g;
  const std::string& scope = ci.scope;
  const Output ref = g.get_tensor_by_name(with_scope(scope, d.variable_name()));
  FG_CHECK(ref.op()->def().holds_variable, InvalidArgument, who, ": '", ref.name(), "' is a ", ref.op()->type(),
           ", not a variable");
  auto [it, inserted] = ci.variables.try_emplace(ref.op());
  Variable& v = it->second;
  if (inserted) {
    v.op = ref.op();
    if (!d.initializer_name().empty()) v.initializer = g.get_operation_by_name(with_scope(scope, d.initializer_name()));
    if (!d.snapshot_name().empty()) v.snapshot = g.get_tensor_by_name(with_scope(scope, d.snapshot_name()));
    if (!d.initial_value_name().empty())
      v.initial_value = g.get_tensor_by_name(with_scope(scope, d.initial_value_name()));
    v.trainable = d.trainable() || ci.trainable_names.count(d.variable_name()) > 0;
  }
  return v;
}

void restore_collections(Graph& g, const tensorflow::MetaGraphDef& meta, const std::string& scope) {
  CollectionImport ci{g, scope, trainable_variable_names(meta), {}};
  for (const std::string& key : collection_order(meta)) {
    const tensorflow::CollectionDef& col = meta.collection_def().at(key);
    const std::string who = str_cat("import_meta_graph: collection '", key, "'");
    switch (col.kind_case()) {
      case tensorflow::CollectionDef::kNodeList:
        restore_node_list(ci, key, col, who);
        break;
      case tensorflow::CollectionDef::kBytesList:
        if (key == kCondContextKey) {
          for (const std::string& bytes : col.bytes_list().value()) {
            tensorflow::CondContextDef d;
            FG_CHECK(d.ParseFromString(bytes), DataLoss, who, " holds an item that is not a CondContextDef");
            import_cond_context(g, d, scope, nullptr, who);
          }
          break;
        }
        for (const std::string& bytes : col.bytes_list().value()) {
          if (is_variable_collection(key)) g.add_to_collection(key, restore_variable(ci, bytes, who));
          else g.add_to_collection(key, bytes);
        }
        break;
      case tensorflow::CollectionDef::kInt64List:
        for (int64_t i : col.int64_list().value()) g.add_to_collection(key, i);
        break;
      case tensorflow::CollectionDef::kFloatList:
        for (float f : col.float_list().value()) g.add_to_collection(key, f);
        break;
      default:
        break;  // any_list (and empty collections): TF skips them too
    }
  }
}

// The file's Saver, its names under the import scope; none when the meta-graph has no SaverDef.
std::optional<Saver> restore_saver(Graph& g, const tensorflow::MetaGraphDef& meta, const std::string& scope) {
  if (!meta.has_saver_def() || meta.saver_def().restore_op_name().empty()) return std::nullopt;
  tensorflow::SaverDef def = meta.saver_def();
  def.set_filename_tensor_name(with_scope(scope, def.filename_tensor_name()));
  def.set_save_tensor_name(with_scope(scope, def.save_tensor_name()));
  def.set_restore_op_name(with_scope(scope, def.restore_op_name()));
  return Saver::from_saver_def(g, def);
}

}  // namespace

}  // namespace fg::train
