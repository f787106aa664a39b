#include "graph/graph.h"

#include <algorithm>
#include <regex>

#include "graph/control_flow.h"
#include "graph/op_registry.h"

namespace fg {

// ---- Output / Operation / Variable

Graph* Output::graph() const { return op()->graph(); }
std::string Output::name() const { return str_cat(op()->name(), ":", index_); }
DType Output::dtype() const { return op()->output_dtype(index_); }
const Shape& Output::shape() const { return op()->output_shape(index_); }

void Output::throw_graph_destroyed() const {
  throw FailedPrecondition(str_cat("An Output (index ", index_, ") of an operation whose Graph was destroyed was used: "
                                   "a Graph owns its operations, and Outputs refer to them without keeping it alive"));
}

Output Operation::output(int i) {
  FG_CHECK(i >= 0 && i < num_outputs(), OutOfRange, "Operation '", name_, "' (", type_, ") has ", num_outputs(),
           " outputs; asked for output ", i);
  return Output(this, i);
}

void Operation::add_control_input(Operation* op) {
  if (std::find(control_inputs_.begin(), control_inputs_.end(), op) == control_inputs_.end())
    control_inputs_.push_back(op);
}

void Operation::set_output_shape(int i, const Shape& s) {
  output_shapes_.at(i) = output_shapes_.at(i).merge_with(s, str_cat("set_shape on '", name_, "'"));
}

const std::string& Variable::name() const { return live_op()->name(); }

// ---- Graph

Graph::Graph() = default;
Graph::~Graph() = default;

std::vector<Operation*> Graph::get_operations() const {
  std::vector<Operation*> r;
  r.reserve(ops_.size());
  for (auto& op : ops_) r.push_back(op.get());
  return r;
}

Operation* Graph::find_operation(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

Operation* Graph::get_operation_by_name(const std::string& name) const {
  Operation* op = find_operation(name);
  FG_CHECK(op, NotFound, "The name '", name, "' refers to an Operation not in the graph.");
  return op;
}

Output Graph::get_tensor_by_name(const std::string& name) const {
  const auto colon = name.rfind(':');
  FG_CHECK(colon != std::string::npos && colon + 1 < name.size(), InvalidArgument, "The name '", name,
           "' looks like an operation name, not a tensor name (expected 'op_name:output_index')");
  const std::string op_name = name.substr(0, colon);
  int index = 0;
  try {
    size_t used = 0;
    index = std::stoi(name.substr(colon + 1), &used);
    FG_CHECK(used == name.size() - colon - 1, InvalidArgument, "bad index");
  } catch (const std::exception&) {
    throw InvalidArgument(str_cat("The name '", name, "' has a malformed output index"));
  }
  Operation* op = find_operation(op_name);
  FG_CHECK(op, NotFound, "The name '", name, "' refers to a Tensor which does not exist. The operation, '",
           op_name, "', does not exist in the graph.");
  FG_CHECK(index >= 0 && index < op->num_outputs(), NotFound, "The name '", name,
           "' refers to a Tensor which does not exist. The operation, '", op_name, "', exists but only has ",
           op->num_outputs(), " outputs.");
  return op->output(index);
}

namespace {
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}
}  // namespace

std::string Graph::unique_name(const std::string& name, bool mark_as_used) {
  std::string full = name_scope_ + name;
  // TF compares names case-insensitively when uniquifying.
  const std::string key = lower(full);
  int i = names_in_use_.count(key) ? names_in_use_[key] : 0;
  if (mark_as_used) names_in_use_[key] = i + 1;
  if (i > 0) {
    const std::string base = full;
    while (names_in_use_.count(lower(str_cat(base, "_", i)))) ++i;
    full = str_cat(base, "_", i);
    if (mark_as_used) names_in_use_[lower(full)] = 1;
  }
  return full;
}

ScopeGuard Graph::name_scope(const std::string& name) {
  std::string previous = name_scope_;
  if (name.empty()) {
    name_scope_.clear();
  } else if (name.back() == '/') {
    name_scope_ = name;
  } else {
    name_scope_ = unique_name(name) + "/";
  }
  return ScopeGuard([this, previous] { name_scope_ = previous; });
}

std::string Graph::composite_name(const std::string& name) {
  if (!name.empty() && name.back() == '/') return name.substr(0, name.size() - 1);
  return unique_name(name, false);
}

std::string Graph::scoped_op_name(const std::string& requested, const std::string& default_name) {
  const std::string& n = requested.empty() ? default_name : requested;
  if (!n.empty() && n.back() == '/') {
    const std::string exact = n.substr(0, n.size() - 1);
    names_in_use_[lower(exact)] = std::max(names_in_use_[lower(exact)], 1);
    return exact;
  }
  return unique_name(n);
}

ScopeGuard Graph::variable_scope(const std::string& name, VariableScopeOptions options) {
  const std::string prev_scope = var_scope_, prev_name_scope = name_scope_;
  const bool prev_reuse = var_reuse_;
  std::string leaf = name;
  if (leaf.empty() && !options.default_name.empty()) {
    // TF uniquifies default names among sibling variable scopes.
    const std::string candidate = var_scope_.empty() ? options.default_name : var_scope_ + "/" + options.default_name;
    int& n = layer_names_[candidate];
    leaf = n == 0 ? options.default_name : str_cat(options.default_name, "_", n);
    ++n;
  }
  if (!leaf.empty()) var_scope_ = var_scope_.empty() ? leaf : var_scope_ + "/" + leaf;
  if (options.reuse) var_reuse_ = *options.reuse || var_reuse_;
  // Entering a variable scope also opens a name scope of the same (uniquified) name.
  if (!leaf.empty()) name_scope_ = unique_name(leaf) + "/";
  return ScopeGuard([this, prev_scope, prev_name_scope, prev_reuse] {
    var_scope_ = prev_scope;
    name_scope_ = prev_name_scope;
    var_reuse_ = prev_reuse;
  });
}

const Variable* Graph::find_variable(const std::string& full_name) const {
  auto it = var_store_.find(full_name);
  return it == var_store_.end() ? nullptr : &it->second;
}

void Graph::register_variable(const std::string& full_name, const Variable& v) { var_store_[full_name] = v; }

std::string Graph::unique_layer_name(const std::string& base) {
  const std::string key = var_scope_.empty() ? base : var_scope_ + "/" + base;
  int& n = layer_names_[key];
  const std::string r = n == 0 ? base : str_cat(base, "_", n);
  ++n;
  return r;
}

ScopeGuard Graph::control_dependencies(const std::vector<Operation*>& ops) {
  std::vector<Operation*> previous = control_deps_;
  CondContext* previous_context = cond_context_;
  if (ops.empty()) {
    control_deps_.clear();
    cond_context_ = nullptr;
  } else {
    for (Operation* op : ops)
      if (op && std::find(control_deps_.begin(), control_deps_.end(), op) == control_deps_.end())
        control_deps_.push_back(op);
  }
  return ScopeGuard([this, previous, previous_context] {
    control_deps_ = previous;
    cond_context_ = previous_context;
  });
}

CondContext* Graph::new_cond_context(const std::string& name, const Output& pred, const Output& pivot, int branch,
                                     CondContext* outer) {
  FG_CHECK(branch == 0 || branch == 1, InvalidArgument, "cond context '", name, "': branch must be 0 or 1, got ",
           branch);
  all_cond_contexts_.push_back(std::make_unique<CondContext>(name, pred, pivot, branch, outer));
  CondContext* c = all_cond_contexts_.back().get();
  // TF's CondContext starts with the predicate and pivot among its values, the predicate as its
  // own external value.
  c->add_value_entry(pred);
  c->add_value_entry(pivot);
  c->add_external_entry(pred, pred);
  // The pivot's op belongs to the branch, as importing TF's CondContextDef makes it.
  if (pivot) pivot.op()->cond_context_ = c;
  if (outer) outer->nested_.push_back(c);
  else top_cond_contexts_.push_back(c);
  return c;
}

ScopeGuard Graph::enter_cond_context(CondContext* c) {
  CondContext* previous = cond_context_;
  cond_context_ = c;
  return ScopeGuard([this, previous] { cond_context_ = previous; });
}

void Graph::truncate_cond_contexts(size_t n) {
  while (all_cond_contexts_.size() > n) {
    CondContext* c = all_cond_contexts_.back().get();
    if (c->outer_) std::erase(c->outer_->nested_, c);
    else std::erase(top_cond_contexts_, c);
    for (auto& op : ops_)
      if (op->cond_context_ == c) op->cond_context_ = nullptr;
    if (cond_context_ == c) cond_context_ = nullptr;
    all_cond_contexts_.pop_back();
  }
}

void Graph::add_to_collection(const std::string& key, CollectionItem item) {
  for (auto& [k, items] : collections_) {
    if (k == key) {
      items.push_back(std::move(item));
      return;
    }
  }
  collections_.push_back({key, {std::move(item)}});
}

std::string collection_item_name(const CollectionItem& item) {
  return std::visit([](const auto& x) -> std::string {
    using X = std::decay_t<decltype(x)>;
    if constexpr (std::is_same_v<X, Operation*>) return x->name();
    else if constexpr (std::is_same_v<X, Output>) return x.name();
    else if constexpr (std::is_same_v<X, Variable>) return x.name();
    else if constexpr (std::is_same_v<X, std::string>) return x;
    else return std::to_string(x);
  }, item);
}

Operation* as_operation(const CollectionItem& item) {
  if (auto* op = std::get_if<Operation*>(&item)) return *op;
  if (auto* o = std::get_if<Output>(&item)) return o->op();
  if (auto* v = std::get_if<Variable>(&item)) return v->op;
  throw InvalidArgument(str_cat("collection item '", collection_item_name(item), "' is not an operation or tensor"));
}

std::vector<CollectionItem> Graph::get_collection(const std::string& key, const std::string& scope) const {
  // The pattern is checked even when the collection is empty, so a typo never goes unnoticed.
  std::regex re;
  if (!scope.empty()) {
    try {
      re.assign(scope);
    } catch (const std::regex_error& e) {
      throw InvalidArgument(str_cat("get_collection('", key, "'): scope '", scope,
                                    "' is not a valid regular expression (", e.what(), ")"));
    }
  }
  std::vector<CollectionItem> r;
  for (auto& [k, items] : collections_) {
    if (k != key) continue;
    if (scope.empty()) return items;
    for (const auto& item : items) {
      // Python's re.match: anchored at the start only.
      if (std::regex_search(collection_item_name(item), re, std::regex_constants::match_continuous))
        r.push_back(item);
    }
  }
  return r;
}

std::vector<Variable> Graph::get_variables(const std::string& key, const std::string& scope) const {
  std::vector<Variable> r;
  for (const auto& item : get_collection(key, scope))
    if (auto* v = std::get_if<Variable>(&item)) r.push_back(*v);
  return r;
}

std::vector<std::string> Graph::get_all_collection_keys() const {
  std::vector<std::string> r;
  for (auto& [k, items] : collections_) r.push_back(k);
  return r;
}

void Graph::clear_collection(const std::string& key) {
  std::erase_if(collections_, [&](const auto& kv) { return kv.first == key; });
}

Operation* Graph::new_operation() {
  ops_.push_back(std::make_unique<Operation>());
  Operation* op = ops_.back().get();
  op->graph_ = this;
  op->graph_life_ = lifetime_.watch();
  op->id_ = static_cast<int64_t>(ops_.size()) - 1;
  return op;
}

void Graph::register_op_name(Operation* op) { by_name_[op->name()] = op; }

void Graph::truncate_operations(int64_t n) {
  const int64_t keep = std::max<int64_t>(n, 0);
  // Consumers are unlinked before anything goes: a loop's back edge leads from a later op.
  for (int64_t k = keep; k < static_cast<int64_t>(ops_.size()); ++k)
    for (const Output& in : ops_[k]->inputs_)
      if (in.op()->id_ < keep) std::erase(in.op()->consumers_, ops_[k].get());
  while (static_cast<int64_t>(ops_.size()) > keep) remove_last_operation();
}

void Graph::update_input(Operation* op, int i, const Output& x) {
  FG_CHECK(op && i >= 0 && i < op->num_inputs() && x && x.graph() == this, Internal, "update_input: bad arguments");
  FG_CHECK(x.dtype() == op->inputs_[i].dtype(), InvalidArgument, "node '", op->name(), "': input ", i, " has dtype ",
           dtype_name(op->inputs_[i].dtype()), " but '", x.name(), "' is ", dtype_name(x.dtype()));
  const Output old = op->inputs_[i];
  op->inputs_[i] = x;
  if (std::none_of(op->inputs_.begin(), op->inputs_.end(), [&](const Output& in) { return in.op() == old.op(); }))
    std::erase(old.op()->consumers_, op);
  auto& cons = x.op()->consumers_;
  if (std::find(cons.begin(), cons.end(), op) == cons.end())
    cons.insert(std::upper_bound(cons.begin(), cons.end(), op,
                                 [](const Operation* a, const Operation* b) { return a->id_ < b->id_; }),
                op);
}

void Graph::remove_last_operation() {
  by_name_.erase(ops_.back()->name());
  ops_.pop_back();
}

}  // namespace fg
