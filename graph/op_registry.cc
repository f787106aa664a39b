#include "graph/op_registry.h"

#include <algorithm>
#include <atomic>
#include <limits>

#include "graph/control_flow.h"

namespace fg {

// ---- OpDef

namespace {
bool looks_like_dtype(const std::string& s, DType* out) {
  static const std::pair<const char*, DType> names[] = {
      {"float", DType::kFloat}, {"double", DType::kDouble}, {"int32", DType::kInt32},
      {"int64", DType::kInt64}, {"uint8", DType::kUInt8},  {"bool", DType::kBool},
      {"string", DType::kString}};
  for (auto& [n, t] : names) if (s == n) { *out = t; return true; }
  return false;
}
}  // namespace

OpDef& OpDef::input(const std::string& name, const std::string& type_attr_or_dtype) {
  DType t;
  if (looks_like_dtype(type_attr_or_dtype, &t)) return input(name, t);
  inputs.push_back({name, type_attr_or_dtype});
  return *this;
}
OpDef& OpDef::input(const std::string& name, DType fixed) {
  ArgDef a{name};
  a.fixed = fixed;
  inputs.push_back(a);
  return *this;
}
OpDef& OpDef::ref_input(const std::string& name, const std::string& type_attr) {
  ArgDef a{name, type_attr};
  a.is_ref = true;
  inputs.push_back(a);
  return *this;
}
OpDef& OpDef::list_input(const std::string& name, const std::string& type_attr, const std::string& number_attr) {
  ArgDef a{name};
  if (!looks_like_dtype(type_attr, &a.fixed)) a.type_attr = type_attr;
  a.number_attr = number_attr;
  inputs.push_back(a);
  return *this;
}
OpDef& OpDef::output(const std::string& name, const std::string& type_attr) {
  DType t;
  if (looks_like_dtype(type_attr, &t)) return output(name, t);
  outputs.push_back({name, type_attr});
  return *this;
}
OpDef& OpDef::ref_output(const std::string& name, const std::string& type_attr) {
  ArgDef a{name, type_attr};
  a.is_ref = true;
  outputs.push_back(a);
  return *this;
}
OpDef& OpDef::output(const std::string& name, DType fixed) {
  ArgDef a{name};
  a.fixed = fixed;
  outputs.push_back(a);
  return *this;
}
OpDef& OpDef::list_output(const std::string& name, const std::string& type_attr, const std::string& number_attr) {
  ArgDef a{name};
  if (!looks_like_dtype(type_attr, &a.fixed)) a.type_attr = type_attr;
  a.number_attr = number_attr;
  outputs.push_back(a);
  return *this;
}
OpDef& OpDef::type_list_input(const std::string& name, const std::string& list_attr) {
  ArgDef a{name};
  a.type_list_attr = list_attr;
  inputs.push_back(a);
  return *this;
}
OpDef& OpDef::type_list_output(const std::string& name, const std::string& list_attr) {
  ArgDef a{name};
  a.type_list_attr = list_attr;
  outputs.push_back(a);
  return *this;
}
OpDef& OpDef::attr(const std::string& name, AttrValue default_value) {
  attr_defaults.emplace_back(name, std::move(default_value));
  return *this;
}
OpDef& OpDef::type_attr(const std::string& name, std::vector<DType> allowed) {
  allowed_types[name] = std::move(allowed);
  return *this;
}

bool OpDef::allows(const std::string& name, DType t) const {
  auto it = allowed_types.find(name);
  if (it == allowed_types.end()) return t != DType::kString;
  return std::find(it->second.begin(), it->second.end(), t) != it->second.end();
}

// ---- OpRegistry

namespace {
OpRegistry& global_registry() {
  static OpRegistry registry;
  return registry;
}
std::atomic<bool> g_global_loaded{false};
}  // namespace

OpRegistry& OpRegistry::global() {
  FG_CHECK(g_global_loaded.load(std::memory_order_acquire), FailedPrecondition,
           "flowgraph's ops are not registered: call fg::register_ops() (ops/register.h) before building or "
           "importing a graph through OpBuilder or import_graph_def (op builders such as placeholder, Session "
           "and import_meta_graph call it themselves)");
  return global_registry();
}

void OpRegistry::load_global(void (*library)(OpRegistry&)) {
  static std::once_flag once;
  std::call_once(once, [library] {
    OpRegistry& r = global_registry();
    library(r);
    r.finish_registration();
    g_global_loaded.store(true, std::memory_order_release);
  });
}

OpDef& OpRegistry::add(const std::string& type) {
  auto& slot = defs_[type];
  FG_CHECK(!slot, Internal, "op type '", type, "' registered twice");
  slot = std::make_unique<OpDef>();
  slot->type = type;
  return *slot;
}

const OpDef* OpRegistry::find(const std::string& type) const {
  auto it = defs_.find(type);
  return it == defs_.end() ? nullptr : it->second.get();
}

const OpDef& OpRegistry::get(const std::string& type) const {
  const OpDef* d = find(type);
  FG_CHECK(d, NotFound, "Op type not registered '", type, "'");
  return *d;
}

OpDef& OpRegistry::extend(const std::string& type) {
  auto it = defs_.find(type);
  FG_CHECK(it != defs_.end(), NotFound, "Op type not registered '", type, "'");
  return *it->second;
}

std::vector<std::string> OpRegistry::types() const {
  std::vector<std::string> r;
  for (auto& [k, v] : defs_) r.push_back(k);
  return r;
}

const OpDef& OpRegistry::placeholder_def(const std::string& type) {
  if (const OpDef* d = find(type)) return *d;
  OpDef& d = add(type);
  d.stateful = true;
  return d;
}

const OpDef& OpRegistry::opaque_def(const std::string& type) {
  std::lock_guard lock(opaque_mu_);
  auto& slot = opaque_defs_[type];
  if (!slot) {
    slot = std::make_unique<OpDef>();
    slot->type = type;
    slot->opaque = true;
    slot->stateful = true;  // unknown semantics: never treat two such nodes as interchangeable
    // A registered type's traits hold whatever its dtypes (a string Const is still a constant).
    if (const OpDef* reg = find(type)) {
      slot->holds_variable = reg->holds_variable;
      slot->forwards_input = reg->forwards_input;
      slot->constant_attr = reg->constant_attr;
      slot->forwards_reference = reg->forwards_reference;
      slot->switch_like = reg->switch_like;
      slot->merge_like = reg->merge_like;
      slot->loop_back_edge = reg->loop_back_edge;
    }
  }
  return *slot;
}

void OpRegistry::resolve(Fusion& f) const {
  auto def_of = [&](const std::string& type) -> const OpDef* {
    if (type.empty()) return nullptr;
    const OpDef* d = find(type);
    FG_CHECK(d, Internal, "fusion of ", f.producer, " into ", f.consumer, " names op type '", type,
             "', which is not registered");
    return d;
  };
  f.consumer_def = def_of(f.consumer);
  f.producer_def = def_of(f.producer);
  f.inner_def = def_of(f.inner);
}

void OpRegistry::add_fusion(Fusion f) {
  if (finished_) resolve(f);
  fusions_.push_back(std::move(f));
}

void OpRegistry::finish_registration() {
  for (Fusion& f : fusions_) resolve(f);
  finished_ = true;
}

// ---- traits

namespace {

// Bounded, since reference-forwarding ops with several reference inputs (RefMerge) branch.
Operation* referenced_variable(const Output& ref, int depth) {
  if (!ref || depth > 256) return nullptr;
  Operation* op = ref.op();
  const OpDef& def = op->def();
  if (def.holds_variable) return ref.index() == 0 ? op : nullptr;
  if (def.forwards_reference) {
    // Every reference input must name the same variable, or the output names none.
    Operation* var = nullptr;
    for (int i = 0; i < op->num_inputs(); ++i) {
      if (!input_is_ref(*op, i)) continue;
      Operation* v = referenced_variable(op->input(i), depth + 1);
      if (!v || (var && v != var)) return nullptr;
      var = v;
    }
    return var;
  }
  // An op forwarding its input's value forwards a reference through a reference input.
  if (ref.index() == 0 && def.forwards_input && op->num_inputs() > 0 && input_is_ref(*op, 0))
    return referenced_variable(op->input(0), depth + 1);
  return nullptr;
}

}  // namespace

Operation* referenced_variable(const Output& ref) { return referenced_variable(ref, 0); }

const ArgDef* input_arg(const Operation& op, int i) {
  for (const ArgDef& arg : op.def().inputs) {
    int64_t n = 1;
    if (!arg.number_attr.empty()) {
      auto it = op.attrs().find(arg.number_attr);
      n = it != op.attrs().end() && std::holds_alternative<int64_t>(it->second) ? std::get<int64_t>(it->second) : 0;
    }
    if (i < n) return &arg;
    i -= static_cast<int>(n);
  }
  return nullptr;
}

bool input_is_ref(const Operation& op, int i) {
  const ArgDef* a = input_arg(op, i);
  return a && a->is_ref;
}

const Tensor* constant_value(const Operation& op) {
  const std::string& attr = op.def().constant_attr;
  if (attr.empty()) return nullptr;
  auto it = op.attrs().find(attr);
  return it == op.attrs().end() ? nullptr : std::get_if<Tensor>(&it->second);
}

// ---- InferenceContext / GradContext

void unchanged_shape(InferenceContext& c) { c.set_output(0, c.input_shape(0)); }

Shape shape_from_shape_input(InferenceContext& c, int i) {
  if (const Tensor* t = c.input_constant(i)) {
    if (t->rank() != 1) c.fail(str_cat("shape input must be a vector, got shape ", t->shape()));
    std::vector<int64_t> dims;
    if (t->dtype() == DType::kInt32) for (int32_t d : t->flat<int32_t>()) dims.push_back(d);
    else if (t->dtype() == DType::kInt64) for (int64_t d : t->flat<int64_t>()) dims.push_back(d);
    else c.fail("shape input must be int32 or int64");
    return shape_from_dims(dims, str_cat(c.op().type(), " '", c.op().name(), "'"), /*allow_unknown=*/true);
  }
  const Shape& s = c.input_shape(i);
  if (s.rank() == 1 && s.dim(0) >= 0) return Shape(std::vector<int64_t>(s.dim(0), -1));
  return Shape::unknown();
}

const Tensor* InferenceContext::input_constant(int i) const { return constant_value(*op_.input(i).op()); }

void InferenceContext::fail(const std::string& msg) const {
  throw InvalidArgument(str_cat(op_.type(), " '", op_.name(), "': ", msg));
}

Output GradContext::grad_or_zeros(int i) const {
  if (grads_.at(i)) return grads_[i];
  Output y = op_.output(i);
  return OpBuilder(y, "ZerosLike", y.op()->name() + "_grad/zeros_like").input(y).build_output();
}

// ---- OpBuilder

OpBuilder::OpBuilder(Graph& g, const std::string& type, const std::string& name)
    : g_(g), def_(OpRegistry::global().get(type)), name_(name.empty() ? type : name) {}

Graph& OpBuilder::graph_of(const Output& x, const std::string& type) {
  FG_CHECK(x.op(), InvalidArgument, type, ": input is a none tensor");
  return *x.graph();
}

OpBuilder::OpBuilder(Graph& g, const OpDef& def, const std::string& name)
    : g_(g), def_(def), name_(name.empty() ? def.type : name) {}

OpBuilder& OpBuilder::opaque_outputs(std::vector<DType> dtypes, std::vector<Shape> shapes) {
  FG_CHECK(def_.opaque, Internal, def_.type, " '", name_, "': opaque_outputs on a registered def");
  FG_CHECK(dtypes.size() == shapes.size(), Internal, def_.type, " '", name_, "': ", dtypes.size(),
           " output dtypes but ", shapes.size(), " shapes");
  opaque_dtypes_ = std::move(dtypes);
  opaque_shapes_ = std::move(shapes);
  return *this;
}

OpBuilder& OpBuilder::opaque_attr(const std::string& name, std::string serialized) {
  opaque_attrs_[name] = std::move(serialized);
  return *this;
}

OpBuilder& OpBuilder::device(const std::string& device) {
  device_ = device;
  return *this;
}

OpBuilder& OpBuilder::input(const Output& x) {
  FG_CHECK(x.op(), InvalidArgument, def_.type, " '", name_, "': input ", inputs_.size(), " is a none tensor");
  FG_CHECK(x.graph() == &g_, InvalidArgument, def_.type, " '", name_, "': input '", x.name(),
           "' is from a different graph");
  inputs_.push_back(x);
  list_sizes_.push_back(-1);
  return *this;
}

OpBuilder& OpBuilder::input_list(const std::vector<Output>& xs) {
  for (const Output& x : xs) input(x);
  for (size_t k = 0; k < xs.size(); ++k) list_sizes_.pop_back();
  list_sizes_.push_back(static_cast<int>(xs.size()));
  return *this;
}

OpBuilder& OpBuilder::attr(const std::string& name, AttrValue v) {
  attrs_[name] = std::move(v);
  return *this;
}

OpBuilder& OpBuilder::control_input(Operation* op) {
  control_.push_back(op);
  return *this;
}

OpBuilder& OpBuilder::exact_name() {
  exact_ = true;
  return *this;
}

Operation* OpBuilder::build() {
  const std::string full_name = exact_ ? name_ : g_.scoped_op_name(name_, def_.type);
  FG_CHECK(!g_.find_operation(full_name), InvalidArgument, "Duplicate node name in graph: '", full_name, "'");
  auto fail = [&](const auto&... parts) -> void {
    throw InvalidArgument(str_cat(def_.type, " '", full_name, "': ", parts...));
  };

  AttrMap attrs = attrs_;
  // Match inputs to the OpDef's args, inferring type attrs and list lengths.
  if (def_.opaque) {
    // Nothing to check against: the importer vouches for the node as the file describes it.
  } else if (list_sizes_.size() != def_.inputs.size())
    fail("expects ", def_.inputs.size(), " input args, got ", list_sizes_.size());
  size_t pos = 0;
  for (size_t a = 0; a < def_.inputs.size() && !def_.opaque; ++a) {
    const ArgDef& arg = def_.inputs[a];
    const int n = list_sizes_[a] < 0 ? 1 : list_sizes_[a];
    if (!arg.type_list_attr.empty()) {
      if (list_sizes_[a] < 0) fail("input '", arg.name, "' must be a list");
      if (n < 1) fail("input '", arg.name, "' needs at least one tensor");
      std::vector<DType> types;
      for (int k = 0; k < n; ++k) types.push_back(inputs_[pos + k].dtype());
      auto it = attrs.find(arg.type_list_attr);
      if (it == attrs.end() || std::holds_alternative<std::monostate>(it->second)) {
        attrs[arg.type_list_attr] = types;
      } else if (!std::holds_alternative<std::vector<DType>>(it->second) ||
                 std::get<std::vector<DType>>(it->second) != types) {
        fail("the dtypes of input '", arg.name, "' do not match attr ", arg.type_list_attr, " (",
             attr_to_string(it->second), ")");
      }
    } else if (!arg.number_attr.empty()) {
      if (list_sizes_[a] < 0) fail("input '", arg.name, "' must be a list");
      if (n < 1) fail("input '", arg.name, "' needs at least one tensor");
      // Lists sharing a length attr (DynamicStitch's indices and data) must agree with it.
      auto it = attrs.find(arg.number_attr);
      if (it != attrs.end() && std::holds_alternative<int64_t>(it->second) && std::get<int64_t>(it->second) != n)
        fail("input '", arg.name, "' has ", n, " tensors but attr ", arg.number_attr, " is ",
             std::get<int64_t>(it->second));
      attrs[arg.number_attr] = static_cast<int64_t>(n);
    } else if (list_sizes_[a] >= 0) {
      fail("input '", arg.name, "' is a single tensor, not a list");
    }
    for (int k = 0; k < n; ++k, ++pos) {
      const Output& x = inputs_[pos];
      if (arg.is_ref && !referenced_variable(x))
        fail("input '", arg.name, "' must be a variable reference, got '", x.name(), "' (", x.op()->type(), ")");
      if (arg.fixed != DType::kInvalid) {
        if (x.dtype() != arg.fixed)
          fail("input '", arg.name, "' expects ", dtype_name(arg.fixed), ", got ", dtype_name(x.dtype()), " from '",
               x.name(), "'");
      } else if (!arg.type_attr.empty()) {
        auto it = attrs.find(arg.type_attr);
        if (it == attrs.end() || std::holds_alternative<std::monostate>(it->second)) {
          attrs[arg.type_attr] = x.dtype();
        } else if (std::get<DType>(it->second) != x.dtype()) {
          fail("input '", arg.name, "' has dtype ", dtype_name(x.dtype()), " (from '", x.name(), "') but ",
               arg.type_attr, " is ", dtype_name(std::get<DType>(it->second)));
        }
      }
    }
  }
  for (const auto& [name, def] : def_.attr_defaults) {
    if (!attrs.count(name)) {
      if (std::holds_alternative<std::monostate>(def)) fail("missing required attr '", name, "'");
      attrs[name] = def;
    }
  }
  for (const auto& [name, minimum] : def_.attr_minimums) {
    auto it = attrs.find(name);
    if (it == attrs.end()) continue;
    // An int's value, a list's length (other kinds have no minimum in TF).
    const int64_t n = std::visit([](const auto& v) -> int64_t {
      using V = std::decay_t<decltype(v)>;
      if constexpr (std::is_same_v<V, int64_t>) return v;
      else if constexpr (requires { typename V::value_type; v.size(); } && !std::is_same_v<V, std::string>)
        return static_cast<int64_t>(v.size());
      else return std::numeric_limits<int64_t>::max();
    }, it->second);
    if (n < minimum) fail("attr '", name, "' is ", n, ", below its minimum ", minimum);
  }
  for (const auto& [name, allowed] : def_.allowed_types) {
    auto it = attrs.find(name);
    if (it == attrs.end()) fail("missing type attr '", name, "'");
    const DType t = std::get<DType>(it->second);
    if (std::find(allowed.begin(), allowed.end(), t) == allowed.end()) {
      std::string list;
      for (DType d : allowed) list += (list.empty() ? "" : ", ") + dtype_name(d);
      fail("attr ", name, " = ", dtype_name(t), " is not allowed; expected one of {", list, "}");
    }
  }
  // An attr without a list takes any type but string, whose elements its kernel cannot move.
  for (const auto* args : {&def_.inputs, &def_.outputs})
    for (const ArgDef& a : *args) {
      if (a.type_attr.empty() || def_.allowed_types.count(a.type_attr)) continue;
      auto it = attrs.find(a.type_attr);
      if (it != attrs.end() && std::holds_alternative<DType>(it->second) && !def_.allows(a.type_attr, std::get<DType>(it->second)))
        fail("attr ", a.type_attr, " = ", dtype_name(std::get<DType>(it->second)), " is not supported");
    }

  std::vector<DType> output_dtypes;
  for (const ArgDef& out : def_.outputs) {
    DType t = out.fixed;
    if (t == DType::kInvalid) {
      auto it = attrs.find(out.type_attr);
      t = it == attrs.end() ? DType::kInvalid : std::get<DType>(it->second);
    }
    if (!out.type_list_attr.empty()) {
      auto it = attrs.find(out.type_list_attr);
      if (it == attrs.end() || !std::holds_alternative<std::vector<DType>>(it->second))
        fail("attr '", out.type_list_attr, "' (the types of output '", out.name, "') must be a list of types");
      const auto& types = std::get<std::vector<DType>>(it->second);
      if (types.size() > (size_t{1} << 20)) fail("attr ", out.type_list_attr, " lists ", types.size(), " outputs");
      output_dtypes.insert(output_dtypes.end(), types.begin(), types.end());
      continue;
    }
    int64_t n = 1;
    if (!out.number_attr.empty()) {
      auto it = attrs.find(out.number_attr);
      if (it == attrs.end() || !std::holds_alternative<int64_t>(it->second))
        fail("attr '", out.number_attr, "' (the length of output '", out.name, "') must be an int");
      n = std::get<int64_t>(it->second);
      // A bound, so that a corrupt attr cannot ask for an unbounded allocation.
      if (n < 0 || n > (int64_t{1} << 20)) fail("attr ", out.number_attr, " = ", n, " is not a valid number of outputs");
    }
    output_dtypes.insert(output_dtypes.end(), n, t);
  }

  // Inside a cond branch, outside inputs enter through Switches named under the new op, and an
  // op with no inputs waits for the branch's pivot (unless a control input already does).
  CondContext* context = g_.current_cond_context();
  const int64_t ops_before = g_.num_operations();
  if (context) {
    try {
      auto scope = g_.name_scope(full_name + "/");
      for (Output& x : inputs_) x = context->add_value(x);
    } catch (...) {
      g_.truncate_operations(ops_before);
      throw;
    }
    if (inputs_.empty()) {
      bool waits = false;
      for (Operation* c : g_.current_control_dependencies()) waits = waits || context->contains(c);
      for (Operation* c : control_) waits = waits || context->contains(c);
      if (!waits) control_.push_back(context->pivot().op());
    }
  }

  Operation* op = g_.new_operation();
  op->name_ = full_name;
  op->type_ = def_.type;
  op->def_ = &def_;
  op->inputs_ = inputs_;
  op->attrs_ = std::move(attrs);
  op->device_ = device_;
  op->opaque_attrs_ = opaque_attrs_;
  for (Operation* c : g_.current_control_dependencies()) op->add_control_input(c);
  for (Operation* c : control_) op->add_control_input(c);
  op->output_dtypes_ = std::move(output_dtypes);
  op->output_shapes_.assign(op->output_dtypes_.size(), Shape::unknown());
  if (def_.opaque) {
    op->output_dtypes_ = opaque_dtypes_;
    op->output_shapes_ = opaque_shapes_;
  }
  g_.register_op_name(op);
  try {
    if (def_.shape_fn) {
      InferenceContext ctx(*op, op->output_shapes_);
      def_.shape_fn(ctx);
    }
  } catch (...) {
    g_.remove_last_operation();
    g_.truncate_operations(ops_before);
    throw;
  }
  for (const Output& x : op->inputs_) {
    auto& cons = x.op()->consumers_;
    if (cons.empty() || cons.back() != op) cons.push_back(op);
  }
  if (context) context->add_op(op);
  return op;
}

}  // namespace fg
