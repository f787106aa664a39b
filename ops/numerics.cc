#include "ops/numerics.h"

#include <atomic>
#include <cmath>
#include <optional>

#include "core/parallel.h"
#include "graph/op_registry.h"
#include "ops/internal/register.h"
#include "ops/array.h"

namespace fg {

Output check_numerics(const Output& tensor, const std::string& message, const std::string& name) {
  return OpBuilder(tensor, "CheckNumerics", name).input(tensor).attr("message", message).build_output();
}

namespace {

// TF types these outputs *_ref, and its add_check_numerics_ops, which checks float dtypes only,
// passes over them: a variable, and the result of an op updating a variable through its first
// (reference) input (Assign, Apply*).
bool is_reference_output(const Operation& op) {
  return op.def().holds_variable || (!op.def().inputs.empty() && op.def().inputs[0].is_ref);
}

}  // namespace

Operation* add_check_numerics_ops(Graph& g) {
  Operation* last = nullptr;
  // A snapshot: the checks added below are not themselves checked.
  for (Operation* op : g.get_operations()) {
    if (is_reference_output(*op)) continue;
    for (int i = 0; i < op->num_outputs(); ++i) {
      if (!is_floating(op->output_dtype(i))) continue;
      std::optional<ScopeGuard> after_previous;
      if (last) after_previous.emplace(g.control_dependencies({last}));
      last = check_numerics(op->output(i), str_cat(op->name(), ":", i)).op();
    }
  }
  FG_CHECK(last, InvalidArgument, "add_check_numerics_ops: the graph has no float32 or float64 tensor to check");
  return group(g, {last});
}

namespace {

void check_numerics_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  std::atomic<int> found{0};  // bit 0: an inf, bit 1: a NaN
  dispatch_float(x.dtype(), "CheckNumerics", [&]<typename T>() {
    const T* p = x.data<T>();
    parallel_for(x.num_elements(), 1, [&](int64_t b, int64_t e) {
      int bits = 0;
      for (int64_t i = b; i < e; ++i) {
        if (!std::isfinite(p[i])) bits |= std::isnan(p[i]) ? 2 : 1;
      }
      if (bits) found.fetch_or(bits, std::memory_order_relaxed);
    });
  });
  if (const int bits = found.load(std::memory_order_relaxed)) {
    const char* what = bits == 3 ? "Inf and NaN" : bits == 2 ? "NaN" : "Inf";
    throw InvalidArgument(str_cat(ctx.attr<std::string>("message"), " : Tensor had ", what, " values"));
  }
  ctx.set_output(0, x);
}

std::vector<Output> check_numerics_grad(GradContext& c) {
  return {check_numerics(c.grad(0), str_cat("Not a number (NaN) or infinity (Inf) values detected in gradient. ",
                                            c.op().attr<std::string>("message")))};
}

}  // namespace

void register_numerics_ops(OpRegistry& r) {
  r.add("CheckNumerics").input("tensor", "T").output("output", "T").attr("message")
      .type_attr("T", kFloatTypes).shape(unchanged_shape).kernel_fn(check_numerics_kernel)
      .gradient(check_numerics_grad);
}

}  // namespace fg
