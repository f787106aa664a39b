#include "graph/gradients.h"

#include <deque>
#include <unordered_map>
#include <unordered_set>

#include "graph/op_registry.h"

namespace fg {

namespace {

Output ones_like_scalar_graph(Graph& g, const Output& y, int i) {
  const std::string name = str_cat("grad_ys_", i);
  if (y.shape().is_fully_defined()) {
    Tensor ones = dispatch_float(y.dtype(), "gradients", [&]<typename T>() {
      Tensor t = Tensor::empty(y.dtype(), y.shape());
      for (T& v : t.flat<T>()) v = T(1);
      return t;
    });
    return OpBuilder(g, "Const", name).attr("dtype", y.dtype()).attr("value", ones).build_output();
  }
  Output shape = OpBuilder(g, "Shape", "Shape").input(y).attr("out_type", DType::kInt32).build_output();
  Tensor one = dispatch_float(y.dtype(), "gradients", [&]<typename T>() { return Tensor(T(1)); });
  Output c = OpBuilder(g, "Const", name).attr("dtype", y.dtype()).attr("value", one).build_output();
  return OpBuilder(g, "Fill", "Fill").input(shape).input(c).build_output();
}

Output aggregate(Graph& g, const std::vector<Output>& parts) {
  if (parts.size() == 1) return parts[0];
  return OpBuilder(g, "AddN", "AddN").input_list(parts).build_output();
}

}  // namespace

std::vector<Output> gradients(const std::vector<Output>& ys, const std::vector<Output>& xs,
                              const std::vector<Output>& grad_ys) {
  FG_CHECK(!ys.empty(), InvalidArgument, "gradients: ys is empty");
  FG_CHECK(grad_ys.empty() || grad_ys.size() == ys.size(), InvalidArgument, "gradients: ", ys.size(),
           " ys but ", grad_ys.size(), " grad_ys");
  Graph& g = *ys[0].graph();
  for (const Output& x : xs) FG_CHECK(x && x.graph() == &g, InvalidArgument, "gradients: an x is not in ys' graph");

  // Ops reachable forward from xs, and among them those that reach some y.
  std::unordered_set<Operation*> from_xs;
  {
    std::deque<Operation*> q;
    for (const Output& x : xs) if (from_xs.insert(x.op()).second) q.push_back(x.op());
    while (!q.empty()) {
      Operation* op = q.front();
      q.pop_front();
      for (Operation* c : op->consumers()) if (from_xs.insert(c).second) q.push_back(c);
    }
  }
  std::unordered_set<Operation*> between;
  {
    std::deque<Operation*> q;
    for (const Output& y : ys) if (from_xs.count(y.op()) && between.insert(y.op()).second) q.push_back(y.op());
    while (!q.empty()) {
      Operation* op = q.front();
      q.pop_front();
      for (const Output& in : op->inputs())
        if (from_xs.count(in.op()) && between.insert(in.op()).second) q.push_back(in.op());
    }
  }
  // Pending edges from consumers inside `between`: an op is differentiated once all have reported.
  std::unordered_map<Operation*, int> pending;
  for (Operation* op : between)
    for (const Output& in : op->inputs())
      if (between.count(in.op())) ++pending[in.op()];

  auto scope = g.name_scope("gradients");
  std::unordered_map<Output, std::vector<Output>, OutputHash> grads;
  for (size_t i = 0; i < ys.size(); ++i) {
    if (!is_floating(ys[i].dtype())) continue;
    grads[ys[i]].push_back(grad_ys.empty() ? ones_like_scalar_graph(g, ys[i], static_cast<int>(i)) : grad_ys[i]);
  }

  std::deque<Operation*> ready;
  std::unordered_set<Operation*> queued;
  for (const Output& y : ys)
    if (between.count(y.op()) && pending[y.op()] == 0 && queued.insert(y.op()).second) ready.push_back(y.op());

  while (!ready.empty()) {
    Operation* op = ready.front();
    ready.pop_front();
    std::vector<Output> out_grads(op->num_outputs());
    bool any = false;
    for (int i = 0; i < op->num_outputs(); ++i) {
      auto it = grads.find(op->output(i));
      if (it == grads.end() || it->second.empty()) continue;
      out_grads[i] = aggregate(g, it->second);
      it->second = {out_grads[i]};
      any = true;
    }
    std::vector<Output> in_grads(op->num_inputs());
    const OpDef& def = op->def();
    bool feeds_between = false;
    for (const Output& in : op->inputs()) feeds_between |= between.count(in.op()) > 0;
    if (any && feeds_between && !def.no_gradient) {
      if (!def.grad_fn)
        throw Unimplemented(str_cat("No gradient defined for operation '", op->name(), "' (op type: ", op->type(), ")"));
      auto op_scope = g.name_scope(op->name() + "_grad");
      GradContext ctx(*op, out_grads);
      in_grads = def.grad_fn(ctx);
      FG_CHECK(static_cast<int>(in_grads.size()) == op->num_inputs(), Internal, "gradient of ", op->type(), " '",
               op->name(), "' returned ", in_grads.size(), " gradients for ", op->num_inputs(), " inputs");
    }
    for (int i = 0; i < op->num_inputs(); ++i) {
      const Output in = op->input(i);
      if (!between.count(in.op())) continue;
      if (in_grads[i] && is_floating(in.dtype())) grads[in].push_back(in_grads[i]);
      if (--pending[in.op()] == 0 && queued.insert(in.op()).second) ready.push_back(in.op());
    }
  }

  std::vector<Output> result;
  for (const Output& x : xs) {
    auto it = grads.find(x);
    if (it == grads.end() || it->second.empty()) {
      result.emplace_back();
    } else {
      result.push_back(aggregate(g, it->second));
    }
  }
  return result;
}

}  // namespace fg
