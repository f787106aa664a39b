#include "ops/control_flow_ops.h"

#include "graph/control_flow.h"
#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/internal/register.h"
#include "ops/math.h"

namespace fg {

// ---- builders

std::pair<Output, Output> switch_op(const Output& data, const Output& pred, const std::string& name) {
  // TF's switch(): a variable reference goes through RefSwitch, so that both sides refer to it.
  Operation* op = OpBuilder(data, referenced_variable(data) ? "RefSwitch" : "Switch", name).input(data).input(pred)
                      .build();
  return {op->output(0), op->output(1)};
}

std::pair<Output, Output> merge(const std::vector<Output>& inputs, const std::string& name) {
  FG_CHECK(!inputs.empty(), InvalidArgument, "merge: no inputs");
  bool all_refs = true;
  for (const Output& x : inputs) all_refs = all_refs && x && referenced_variable(x);
  Operation* op = OpBuilder(inputs[0], all_refs ? "RefMerge" : "Merge", name).input_list(inputs).build();
  return {op->output(0), op->output(1)};
}

namespace {

// A branch's results as the Merge sees them: a tensor made inside stays, one from outside enters
// through a Switch (TF's _ProcessOutputTensor, which names it "Switch_<k>" in the cond's scope).
std::vector<Output> build_branch(Graph& g, CondContext* ctx, const std::function<std::vector<Output>()>& fn,
                                 const char* which) {
  auto enter = g.enter_cond_context(ctx);
  std::vector<Output> results = fn();
  for (size_t i = 0; i < results.size(); ++i) {
    FG_CHECK(results[i], InvalidArgument, "cond: ", which, " result ", i, " is a none tensor");
    results[i] = ctx->add_value(results[i]);
  }
  return results;
}

std::vector<Output> build_cond(const Output& pred, const std::function<std::vector<Output>()>& true_fn,
                               const std::function<std::vector<Output>()>& false_fn, const std::string& name) {
  FG_CHECK(pred, InvalidArgument, "cond: pred is a none tensor");
  FG_CHECK(pred.dtype() == DType::kBool, InvalidArgument, "cond: pred must be a bool tensor, got ",
           dtype_name(pred.dtype()), " from '", pred.name(), "'");
  FG_CHECK(!pred.shape().known_rank() || pred.shape().rank() == 0, InvalidArgument,
           "cond: pred must be a scalar, got shape ", pred.shape(), " from '", pred.name(), "'");
  FG_CHECK(true_fn && false_fn, InvalidArgument, "cond: true_fn and false_fn are required");
  Graph& g = *pred.graph();
  auto scope = g.name_scope(name.empty() ? "cond" : name);
  auto [p_false, p_true] = switch_op(pred, pred, "Switch");
  const Output pivot_true = identity(p_true, "switch_t");
  const Output pivot_false = identity(p_false, "switch_f");
  const Output pred_id = identity(pred, "pred_id");
  CondContext* outer = g.current_cond_context();
  CondContext* ctx_true = g.new_cond_context(g.unique_name("cond_text"), pred_id, pivot_true, 1, outer);
  const std::vector<Output> res_true = build_branch(g, ctx_true, true_fn, "true_fn's");
  CondContext* ctx_false = g.new_cond_context(g.unique_name("cond_text"), pred_id, pivot_false, 0, outer);
  const std::vector<Output> res_false = build_branch(g, ctx_false, false_fn, "false_fn's");
  FG_CHECK(!res_true.empty(), InvalidArgument, "cond: true_fn must return at least one tensor");
  FG_CHECK(res_true.size() == res_false.size(), InvalidArgument, "cond: true_fn returned ", res_true.size(),
           " tensors but false_fn ", res_false.size());
  std::vector<Output> merged;
  for (size_t i = 0; i < res_true.size(); ++i) {
    FG_CHECK(res_true[i].dtype() == res_false[i].dtype(), InvalidArgument,
             "cond: outputs of true_fn and false_fn must have the same type: ", dtype_name(res_true[i].dtype()), ", ",
             dtype_name(res_false[i].dtype()), " (result ", i, ")");
    merged.push_back(merge({res_false[i], res_true[i]}, "Merge").first);
  }
  return merged;
}

std::function<std::vector<Output>()> as_list(const std::function<Output()>& fn) {
  if (!fn) return nullptr;
  return [fn] { return std::vector<Output>{fn()}; };
}

// The value of a bool Const scalar, as TF's smart_constant_value folds it.
const bool* constant_pred(const Output& pred) {
  if (!pred) return nullptr;
  const Tensor* t = constant_value(*pred.op());
  return t && t->dtype() == DType::kBool && t->num_elements() == 1 ? t->data<bool>() : nullptr;
}

}  // namespace

std::vector<Output> cond(const Output& pred, const std::function<std::vector<Output>()>& true_fn,
                         const std::function<std::vector<Output>()>& false_fn, const std::string& name) {
  return build_cond(pred, true_fn, false_fn, name);
}

Output cond(const Output& pred, const std::function<Output()>& true_fn, const std::function<Output()>& false_fn,
            const std::string& name) {
  return build_cond(pred, as_list(true_fn), as_list(false_fn), name)[0];
}

std::vector<Output> smart_cond(const Output& pred, const std::function<std::vector<Output>()>& true_fn,
                               const std::function<std::vector<Output>()>& false_fn, const std::string& name) {
  if (const bool* value = constant_pred(pred)) {
    FG_CHECK(true_fn && false_fn, InvalidArgument, "smart_cond: true_fn and false_fn are required");
    return *value ? true_fn() : false_fn();
  }
  return build_cond(pred, true_fn, false_fn, name);
}

Output smart_cond(const Output& pred, const std::function<Output()>& true_fn, const std::function<Output()>& false_fn,
                  const std::string& name) {
  return smart_cond(pred, as_list(true_fn), as_list(false_fn), name)[0];
}

// ---- kernels, shapes, gradients

namespace {

bool pred_value(KernelContext& ctx) {
  const Tensor& p = ctx.input(1);
  FG_CHECK(p.dtype() == DType::kBool && p.rank() == 0, InvalidArgument, "pred must be a bool scalar, got ",
           dtype_name(p.dtype()), " of shape ", p.shape());
  return p.scalar<bool>();
}

void switch_kernel(KernelContext& ctx) {
  const int live = pred_value(ctx) ? 1 : 0;
  ctx.set_output(live, ctx.input(0));
  ctx.set_output_dead(1 - live);
}

// The taken output refers to the variable; as a value it reads the variable's current tensor
// (none while it is uninitialized: an Assign through it may be what initializes it).
void ref_switch_kernel(KernelContext& ctx) {
  const int live = pred_value(ctx) ? 1 : 0;
  VariableSlot& slot = ctx.ref(0);
  {
    std::lock_guard lock(slot.mu);
    if (slot.value.valid()) ctx.set_output(live, slot.value);
  }
  ctx.set_output_dead(1 - live);
}

int first_live_input(KernelContext& ctx) {
  for (int i = 0; i < ctx.num_inputs(); ++i)
    if (!ctx.input_dead(i)) return i;
  throw Internal("Merge ran with every input dead");
}

void merge_kernel(KernelContext& ctx) {
  const int i = first_live_input(ctx);
  ctx.set_output(0, ctx.input(i));
  ctx.set_output(1, Tensor(static_cast<int32_t>(i)));
}

void ref_merge_kernel(KernelContext& ctx) {
  const int i = first_live_input(ctx);
  VariableSlot& slot = ctx.ref(i);
  {
    std::lock_guard lock(slot.mu);
    if (slot.value.valid()) ctx.set_output(0, slot.value);
  }
  ctx.set_output(1, Tensor(static_cast<int32_t>(i)));
}

void switch_shape(InferenceContext& c) {
  const Shape& p = c.input_shape(1);
  if (p.known_rank() && p.rank() != 0) c.fail(str_cat("pred must be a scalar, got shape ", p));
  c.set_output(0, c.input_shape(0));
  c.set_output(1, c.input_shape(0));
}

// The inputs' common shape: dims they agree on, unknown elsewhere (rank unknown unless shared).
void merge_shape(InferenceContext& c) {
  Shape s = c.input_shape(0);
  for (int i = 1; i < c.num_inputs() && s.known_rank(); ++i) {
    const Shape& t = c.input_shape(i);
    if (!t.known_rank() || t.rank() != s.rank()) {
      s = Shape::unknown();
      break;
    }
    for (int d = 0; d < s.rank(); ++d)
      if (s.dim(d) != t.dim(d)) s.set_dim(d, -1);
  }
  c.set_output(0, s);
  c.set_output(1, Shape{});
}

// TF's ZerosLikeOutsideLoop for a Switch of a cond branch: zeros shaped like the Switch's input,
// made only when the other branch runs (behind a Switch of their own), so that the gradient's
// Merge always has exactly one live input.
Output zeros_for_untaken_branch(Operation& op, const CondContext& ctx) {
  Graph& g = *op.graph();
  const auto sides = switch_op(op.input(0), ctx.pred(), "Switch");
  const Output side = ctx.branch() == 1 ? sides.first : sides.second;
  const Output pivot = identity(side, "Identity");
  const Output dims = shape(side, DType::kInt32, "Shape");
  const std::string zeros_name = g.unique_name("zeros", /*mark_as_used=*/false);
  Output zero;
  {
    auto deps = g.control_dependencies({pivot.op()});
    auto scope = g.name_scope(zeros_name + "/");
    zero = scalar_constant(g, 0.0, op.output_dtype(0), "Const");
  }
  return fill(dims, zero, zeros_name + "/");
}

// TF's _SwitchGrad: in a cond branch, the gradient of the taken side merged with zeros for the
// other; outside a known branch (a graph imported without its cond contexts), each side's
// gradient is switched back onto the side it came from and merged.
std::vector<Output> switch_grad(GradContext& c) {
  Operation& op = c.op();
  Output g_false = c.grad(0), g_true = c.grad(1);
  if (const CondContext* ctx = op.cond_context()) {
    if (!g_false) g_false = zeros_for_untaken_branch(op, *ctx);
    if (!g_true) g_true = zeros_for_untaken_branch(op, *ctx);
    return {merge({g_false, g_true}, "cond_grad").first, Output()};
  }
  if (!g_false) g_false = zeros_like(op.output(0));
  if (!g_true) g_true = zeros_like(op.output(1));
  const Output pred = op.input(1);
  return {merge({switch_op(g_false, pred).first, switch_op(g_true, pred).second}).first, Output()};
}

// TF's _MergeGrad: for a cond's Merge (false input, true input), a Switch on the cond's predicate;
// otherwise the gradient goes to input i when value_index == i.
std::vector<Output> merge_grad(GradContext& c) {
  Operation& op = c.op();
  const Output grad = c.grad(0);
  std::vector<Output> r(op.num_inputs());
  if (!grad) return r;
  const CondContext* ctx = op.input(0).op()->cond_context();
  if (ctx && op.num_inputs() == 2) {
    const auto [to_false, to_true] = switch_op(grad, ctx->pred(), "cond_grad");
    return {to_false, to_true};
  }
  Graph& g = *op.graph();
  for (int i = 0; i < op.num_inputs(); ++i) {
    const Output taken = equal(op.output(1), constant(g, Tensor(static_cast<int32_t>(i))));
    r[i] = switch_op(grad, taken).second;
  }
  return r;
}

}  // namespace

void register_control_flow_ops(OpRegistry& r) {
  r.add("Switch").input("data", "T").input("pred", DType::kBool).output("output_false", "T")
      .output("output_true", "T").attr("T").type_attr("T", kAllTypes).shape(switch_shape).kernel_fn(switch_kernel)
      .gradient(switch_grad).switching();
  r.add("RefSwitch").ref_input("data", "T").input("pred", DType::kBool).ref_output("output_false", "T")
      .ref_output("output_true", "T").attr("T").type_attr("T", kAllTypes).shape(switch_shape)
      .kernel_fn(ref_switch_kernel).gradient(switch_grad).switching().reference_forwarding();
  r.add("Merge").list_input("inputs", "T", "N").output("output", "T").output("value_index", DType::kInt32)
      .attr("T").attr("N").type_attr("T", kAllTypes).shape(merge_shape).kernel_fn(merge_kernel).gradient(merge_grad)
      .merging();
  OpDef& ref_merge = r.add("RefMerge").list_input("inputs", "T", "N").ref_output("output", "T")
                         .output("value_index", DType::kInt32).attr("T").attr("N").type_attr("T", kAllTypes)
                         .shape(merge_shape).kernel_fn(ref_merge_kernel).gradient(merge_grad).merging()
                         .reference_forwarding();
  ref_merge.inputs.back().is_ref = true;
  // While loops import and are carried; flowgraph has no kernels for them (yet).
  const std::string loop = "while loops are imported and carried, not run";
  r.add("Enter").input("data", "T").output("output", "T").attr("T").attr("frame_name")
      .attr("is_constant", false).attr("parallel_iterations", int64_t{10}).type_attr("T", kAllTypes)
      .shape(unchanged_shape).without_gradient(loop);
  r.add("Exit").input("data", "T").output("output", "T").attr("T").type_attr("T", kAllTypes).shape(unchanged_shape)
      .without_gradient(loop);
  r.add("NextIteration").input("data", "T").output("output", "T").attr("T").type_attr("T", kAllTypes)
      .shape(unchanged_shape).loop_back().without_gradient(loop);
  r.add("LoopCond").input("input", DType::kBool).output("output", DType::kBool).shape(unchanged_shape)
      .not_differentiable("a bool output");
}

}  // namespace fg
