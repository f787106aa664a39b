#include "train/saver.h"

#include <chrono>
#include <filesystem>
#include <mutex>
#include <set>

#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/io_ops.h"
#include "ops/register.h"
#include "proto/attr_value.pb.h"
#include "runtime/session.h"
#include "ops/checkpoint_files.h"
#include "train/meta_graph.h"

namespace fg::train {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// TF's Saver graph (BaseSaverBuilder, V2, one shard), node for node; returns its SaverDef.
tensorflow::SaverDef build_saver_ops(Graph& g, const std::map<std::string, Variable>& vars,
                                     const SaverOptions& options) {
  register_ops();
  auto no_deps = g.control_dependencies({});
  auto scope = g.name_scope(options.name.empty() ? "save" : options.name);
  std::vector<std::string> names, slices;
  std::vector<DType> dtypes;
  for (const auto& [name, v] : vars) {
    names.push_back(name);
    slices.push_back("");
    dtypes.push_back(v.dtype());
  }
  const Output filename = constant(g, Tensor("model"), "Const");
  const auto strings = [&](const std::vector<std::string>& values, const std::string& name) {
    return constant(g, Tensor::from_vector(values), name);
  };
  Operation* save = nullptr;
  {
    std::vector<Output> tensors;
    for (const auto& [name, v] : vars) tensors.push_back(v.ref());
    const Output tensor_names = strings(names, "SaveV2/tensor_names");
    const Output shape_and_slices = strings(slices, "SaveV2/shape_and_slices");
    save = save_v2(filename, tensor_names, shape_and_slices, tensors, "SaveV2");
  }
  const Output save_tensor = OpBuilder(g, "Identity", "control_dependency")
                                 .input(filename)
                                 .control_input(save)
                                 .attr("_class", std::vector<std::string>{"loc:@" + filename.op()->name()})
                                 .build_output();

  Operation* restore = nullptr;
  {
    const Output tensor_names = strings(names, "RestoreV2/tensor_names");
    const Output shape_and_slices = strings(slices, "RestoreV2/shape_and_slices");
    restore = OpBuilder(g, "RestoreV2", "RestoreV2")
                  .input(filename)
                  .input(tensor_names)
                  .input(shape_and_slices)
                  .attr("dtypes", dtypes)
                  .device("/device:CPU:0")
                  .build();
  }
  std::vector<Operation*> assigns;
  int i = 0;
  for (const auto& [name, v] : vars) {
    assigns.push_back(OpBuilder(g, "Assign", "Assign")
                          .input(v.ref())
                          .input(restore->output(i++))
                          .attr("validate_shape", true)
                          .attr("use_locking", true)
                          .attr("_class", std::vector<std::string>{"loc:@" + v.op->name()})
                          .build());
  }
  OpBuilder restore_all(g, "NoOp", "restore_all");
  for (Operation* a : assigns) restore_all.control_input(a);
  Operation* restore_op = restore_all.build();

  tensorflow::SaverDef def;
  def.set_filename_tensor_name(filename.name());
  def.set_save_tensor_name(save_tensor.name());
  def.set_restore_op_name(restore_op->name());
  def.set_max_to_keep(options.max_to_keep);
  def.set_sharded(false);
  def.set_keep_checkpoint_every_n_hours(options.keep_checkpoint_every_n_hours);
  def.set_version(tensorflow::SaverDef::V2);
  return def;
}

// The string values of a string constant (a saver's tensor_names), or nullopt.
std::optional<std::vector<std::string>> string_const_values(const Operation* op) {
  if (const Tensor* t = constant_value(*op); t && t->dtype() == DType::kString) return t->to_vector<std::string>();
  if (op->def().constant_attr.empty()) return std::nullopt;
  auto it = op->opaque_attrs().find(op->def().constant_attr);
  if (it == op->opaque_attrs().end()) return std::nullopt;
  tensorflow::AttrValue v;
  if (!v.ParseFromString(it->second) || v.tensor().dtype() != tensorflow::DT_STRING) return std::nullopt;
  return std::vector<std::string>(v.tensor().string_val().begin(), v.tensor().string_val().end());
}

// Every Variable the graph's collections know, by op.
std::map<const Operation*, Variable> known_variables(const Graph& g) {
  std::map<const Operation*, Variable> r;
  for (const auto& key : g.get_all_collection_keys())
    for (const Variable& v : g.get_variables(key)) r.emplace(v.op, v);
  return r;
}

// The ops that restore_op groups: its control inputs, and theirs when a control input is itself
// a group (a sharded saver's restore_shard), i.e. has no data inputs or outputs.
void collect_restores(Operation* op, std::vector<Operation*>& out, int depth) {
  for (Operation* c : op->control_inputs()) {
    if (c->num_inputs() == 0 && c->num_outputs() == 0) {
      if (depth < 2) collect_restores(c, out, depth + 1);
    } else {
      out.push_back(c);
    }
  }
}

}  // namespace

struct Saver::Impl {
  Graph* graph = nullptr;
  std::map<std::string, Variable> vars;
  tensorflow::SaverDef def;
  mutable std::mutex mu;
  std::vector<std::pair<std::string, double>> last;  // prefix, time written
  double next_keep_time = 0;

  void init_keep_time() { next_keep_time = now_seconds() + def.keep_checkpoint_every_n_hours() * 3600.0; }
};

namespace {

std::map<std::string, Variable> check_var_map(const std::map<std::string, Variable>& var_map) {
  FG_CHECK(!var_map.empty(), InvalidArgument, "Saver: no variables to save");
  const Graph* g = nullptr;
  for (const auto& [name, v] : var_map) {
    FG_CHECK(!name.empty(), InvalidArgument, "Saver: a variable has an empty checkpoint name");
    FG_CHECK(v.op, InvalidArgument, "Saver: '", name, "' maps to a none variable");
    FG_CHECK(!g || v.op->graph() == g, InvalidArgument, "Saver: variable '", v.name(),
             "' is from another graph than the others");
    g = v.op->graph();
  }
  return var_map;
}

std::map<std::string, Variable> by_op_name(const std::vector<Variable>& var_list) {
  std::map<std::string, Variable> m;
  for (const Variable& v : var_list) {
    FG_CHECK(v.op, InvalidArgument, "Saver: var_list holds a none variable");
    auto [it, inserted] = m.emplace(v.name(), v);
    FG_CHECK(inserted || it->second.op == v.op, InvalidArgument,
             "Saver: at least two variables have the same name: ", v.name());
  }
  return m;
}

}  // namespace

Saver::Saver(Graph& g, const SaverOptions& options)
    : Saver(g.get_variables(GraphKeys::GLOBAL_VARIABLES), options) {}

Saver::Saver(const std::vector<Variable>& var_list, const SaverOptions& options)
    : Saver(by_op_name(var_list), options) {}

Saver::Saver(const std::map<std::string, Variable>& var_map, const SaverOptions& options)
    : impl_(std::make_unique<Impl>()) {
  impl_->vars = check_var_map(var_map);
  impl_->graph = impl_->vars.begin()->second.op->graph();
  impl_->def = build_saver_ops(*impl_->graph, impl_->vars, options);
  impl_->init_keep_time();
}

Saver Saver::from_saver_def(Graph& g, const tensorflow::SaverDef& saver_def) {
  Saver s;
  s.impl_ = std::make_unique<Impl>();
  s.impl_->graph = &g;
  s.impl_->def = saver_def;
  Operation* restore = g.get_operation_by_name(saver_def.restore_op_name());
  const auto known = known_variables(g);
  std::vector<Operation*> assigns;
  collect_restores(restore, assigns, 0);
  std::map<std::string, Variable> vars;
  for (Operation* a : assigns) {
    // An assignment of a RestoreV2 output to a variable. RestoreV2 is TF's file reader, named
    // as TF's saver graph names it (flowgraph carries it, as the importer carries node types).
    if (a->num_inputs() != 2) continue;
    Operation* var = referenced_variable(a->input(0));
    const Output value = a->input(1);
    if (!var || value.op()->type() != "RestoreV2" || value.op()->num_inputs() < 3) continue;
    const auto names = string_const_values(value.op()->input(1).op());
    const auto slices = string_const_values(value.op()->input(2).op());
    if (!names || value.index() >= static_cast<int>(names->size())) continue;
    FG_CHECK(!slices || value.index() >= static_cast<int>(slices->size()) || (*slices)[value.index()].empty(),
             Unimplemented, "Saver: '", a->name(), "' restores a slice ('", (*slices)[value.index()],
             "') of a partitioned variable, which flowgraph does not support");
    auto k = known.find(var);
    Variable v;
    if (k != known.end()) {
      v = k->second;
    } else {
      v.op = var;  // a variable no collection lists: the op is all save/restore needs
    }
    vars.emplace((*names)[value.index()], v);
  }
  if (vars.empty()) {
    // Not the V2 graph TF's Saver builds: fall back to TF's default var_list.
    vars = by_op_name(g.get_variables(GraphKeys::GLOBAL_VARIABLES));
  }
  s.impl_->vars = check_var_map(vars);
  s.impl_->init_keep_time();
  return s;
}

Saver::Saver(Saver&&) noexcept = default;
Saver& Saver::operator=(Saver&&) noexcept = default;
Saver::~Saver() = default;

const tensorflow::SaverDef& Saver::saver_def() const { return impl_->def; }
const std::map<std::string, Variable>& Saver::variables() const { return impl_->vars; }
Graph& Saver::graph() const { return *impl_->graph; }

std::vector<std::string> Saver::last_checkpoints() const {
  std::lock_guard lock(impl_->mu);
  std::vector<std::string> r;
  for (const auto& [p, t] : impl_->last) r.push_back(p);
  return r;
}

std::string Saver::save(Session& sess, const std::string& prefix, const SaveOptions& options) {
  FG_CHECK(&sess.graph() == impl_->graph, InvalidArgument, "Saver::save: the session runs another graph");
  FG_CHECK(!prefix.empty(), InvalidArgument, "Saver::save: empty checkpoint prefix");
  std::lock_guard lock(impl_->mu);
  const std::string path = options.global_step ? str_cat(prefix, "-", *options.global_step) : prefix;

  // Read every value before writing anything: an uninitialized variable fails the save
  // without leaving files behind.
  std::vector<std::pair<std::string, Tensor>> values;
  for (const auto& [name, v] : impl_->vars) values.emplace_back(name, sess.variable_value(v.op));
  {
    BundleWriter w(path);
    for (const auto& [name, t] : values) w.add(name, t);
    w.finish();
  }
  // The .meta goes before the state file names the checkpoint, so `latest_checkpoint` never
  // points at a checkpoint whose meta-graph is still missing.
  if (options.write_meta_graph) export_meta_graph(*impl_->graph, path + ".meta", {.saver_def = impl_->def});

  if (options.write_state) {
    auto& last = impl_->last;
    std::erase_if(last, [&](const auto& e) { return e.first == path; });
    last.emplace_back(path, now_seconds());
    std::vector<std::string> doomed;
    const int keep = impl_->def.max_to_keep();
    while (keep > 0 && static_cast<int>(last.size()) > keep) {
      const auto [old, when] = last.front();
      last.erase(last.begin());
      if (when >= impl_->next_keep_time) {
        // keep_checkpoint_every_n_hours: this one stays on disk, outside the rotation.
        impl_->next_keep_time += impl_->def.keep_checkpoint_every_n_hours() * 3600.0;
        continue;
      }
      doomed.push_back(old);
    }
    std::vector<std::string> all;
    for (const auto& [p, t] : last) all.push_back(p);
    std::string dir = std::filesystem::path(path).parent_path().string();
    if (dir.empty()) dir = ".";
    write_checkpoint_state(dir, path, all);
    // Deleted only once the state file no longer names them.
    for (const auto& p : doomed) remove_checkpoint(p);
  }
  return path;
}

void Saver::restore(Session& sess, const std::string& prefix) {
  FG_CHECK(&sess.graph() == impl_->graph, InvalidArgument, "Saver::restore: the session runs another graph");
  FG_CHECK(!prefix.empty(), InvalidArgument, "Saver::restore: empty checkpoint prefix (no checkpoint found?)");
  std::lock_guard lock(impl_->mu);
  internal::try_recover_directory(internal::dir_of(prefix));
  BundleReader reader(prefix);
  // All checked and read before any variable changes: a failed restore changes nothing.
  std::vector<std::pair<const Operation*, Tensor>> values;
  for (const auto& [name, v] : impl_->vars) {
    FG_CHECK(reader.contains(name), NotFound, "Saver::restore: key '", name, "' (variable '", v.name(),
             "') not found in checkpoint ", prefix);
    const auto [dtype, shape] = reader.dtype_and_shape(name);
    FG_CHECK(dtype == v.dtype(), InvalidArgument, "Saver::restore: variable '", v.name(), "' is ",
             dtype_name(v.dtype()), " but checkpoint ", prefix, " holds ", dtype_name(dtype), " for '", name, "'");
    FG_CHECK(v.shape().compatible_with(shape), InvalidArgument, "Saver::restore: variable '", v.name(),
             "' has shape ", v.shape(), " but checkpoint ", prefix, " holds shape ", shape, " for '", name, "'");
    values.emplace_back(v.op, reader.read(name));
  }
  for (const auto& [op, t] : values) sess.set_variable_value(op, t);
}

}  // namespace fg::train
