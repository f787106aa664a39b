// Broadcasting as ops and as gradients: BroadcastTo, BroadcastGradientArgs, and the reduction
// that brings a broadcast gradient back to an operand's shape.
#include <algorithm>
#include <optional>
#include <tuple>

#include "ops/array.h"
#include "ops/internal/elementwise.h"
#include "ops/internal/kernel_util.h"
#include "ops/internal/register.h"
#include "ops/math.h"

namespace fg {

namespace {

// The reduction that takes a gradient shaped like broadcast(x, other) to x's shape, when the
// static shapes decide it.
struct StaticReduction {
  std::vector<int64_t> axes;  // in the broadcast shape's numbering
  bool reshape = false;       // some reduced axis is one of x's size-1 dims, which must come back
};

std::optional<StaticReduction> plan_static_reduction(const Shape& x, const Shape& other) {
  if (!x.known_rank() || !other.known_rank()) return std::nullopt;
  const int rx = x.rank(), ro = other.rank(), r = std::max(rx, ro);
  StaticReduction plan;
  for (int i = 0; i < r; ++i) {
    const int ix = i - (r - rx), io = i - (r - ro);
    if (ix < 0) {  // x lacks the dim
      plan.axes.push_back(i);
      continue;
    }
    const int64_t dx = x.dim(ix);
    const bool other_is_one = io < 0 || other.dim(io) == 1;
    if (dx == 1) {
      if (!other_is_one) {
        plan.axes.push_back(i);
        plan.reshape = true;
      }
      continue;
    }
    // A known dim other than 1 is the output's dim; an unknown one is only when `other` cannot
    // broadcast it (it might be 1 at run time otherwise).
    if (dx >= 0 || other_is_one) continue;
    return std::nullopt;
  }
  return plan;
}

Output reshape_to_static(const Output& v, const Output& x) {
  const Shape& s = x.shape();
  if (std::count(s.dims().begin(), s.dims().end(), int64_t{-1}) <= 1) return reshape(v, s.dim_vector());
  return reshape(v, shape(x));
}

Output apply_static_reduction(const Output& grad, const Output& x, const StaticReduction& plan) {
  if (plan.axes.empty()) return grad;
  Output s = reduce_sum(grad, plan.axes);
  return plan.reshape ? reshape_to_static(s, x) : s;
}

// ---- BroadcastTo

void broadcast_to_shape(InferenceContext& c) {
  Shape target = shape_from_shape_input(c, 1);
  const Shape& in = c.input_shape(0);
  if (target.known_rank() && in.known_rank()) {
    if (in.rank() > target.rank()) c.fail(str_cat("cannot broadcast ", in, " to ", target, ": rank is too large"));
    std::vector<int64_t> dims = target.dim_vector();
    const int off = target.rank() - in.rank();
    for (int i = 0; i < in.rank(); ++i) {
      const int64_t di = in.dim(i), dt = dims[i + off];
      if (di < 0 || di == 1) continue;
      if (dt >= 0 && dt != di) c.fail(str_cat("cannot broadcast ", in, " to ", target));
      dims[i + off] = di;
    }
    target = Shape(dims);
  }
  c.set_output(0, target);
}

void broadcast_to_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Shape target = shape_from_dims(int_values(ctx.input(1), "shape"), "BroadcastTo");
  bool ok = x.rank() <= target.rank();
  for (int i = 0; ok && i < x.rank(); ++i) {
    const int64_t dx = x.dim(i), dt = target.dim(i + target.rank() - x.rank());
    ok = dx == 1 || dx == dt;
  }
  FG_CHECK(ok, InvalidArgument, "Unable to broadcast tensor of shape ", x.shape(), " to tensor of shape ", target);
  if (x.num_elements() == target.num_elements()) {  // nothing repeats
    ctx.set_output(0, x.reshaped(target));
    return;
  }
  // The target stands in as the second operand, which is never read.
  const Broadcast p = make_broadcast(x.shape(), target);
  dispatch_all(x.dtype(), "BroadcastTo", [&]<typename T>() {
    Tensor out = Tensor::empty(x.dtype(), target);
    const T* a = x.data<T>();
    T* o = out.data<T>();
    for_each_run(p, 1, [&]<int SA, int>(int64_t i, int64_t oa, int64_t, int64_t len) {
      assign_coefficients(o + i, stretch<SA>(a, oa, len), len);
    });
    ctx.set_output(0, out);
  });
}

std::vector<Output> broadcast_to_grad(GradContext& c) {
  const Output x = c.input(0), target = c.input(1), g = c.grad(0);
  if (const auto plan = plan_static_reduction(x.shape(), c.output(0).shape()))
    return {apply_static_reduction(g, x, *plan), Output()};
  const Output sx = shape(x, target.dtype());
  return {reshape(sum(g, broadcast_gradient_args(sx, target).first), sx), Output()};
}

// ---- BroadcastGradientArgs

void bga_shape(InferenceContext& c) {
  c.set_output(0, Shape{-1});
  c.set_output(1, Shape{-1});
}

void bga_kernel(KernelContext& ctx) {
  const auto s0 = int_values(ctx.input(0), "s0"), s1 = int_values(ctx.input(1), "s1");
  const int n0 = static_cast<int>(s0.size()), n1 = static_cast<int>(s1.size()), r = std::max(n0, n1);
  std::vector<int64_t> r0, r1;
  for (int i = 0; i < r; ++i) {
    const int64_t d0 = i < r - n0 ? 1 : s0[i - (r - n0)], d1 = i < r - n1 ? 1 : s1[i - (r - n1)];
    if (d0 == d1) {
      // Dims that are 1 on both sides are listed for both, as TF does: summing them is free.
      if (d0 == 1) {
        r0.push_back(i);
        r1.push_back(i);
      }
    } else if (d0 == 1) {
      r0.push_back(i);
    } else if (d1 == 1) {
      r1.push_back(i);
    } else {
      throw InvalidArgument(str_cat("Incompatible shapes: ", Shape(s0), " vs. ", Shape(s1)));
    }
  }
  const DType t = ctx.input(0).dtype();
  auto emit = [&](int i, const std::vector<int64_t>& v) {
    Tensor out = Tensor::empty(t, {static_cast<int64_t>(v.size())});
    for (size_t k = 0; k < v.size(); ++k) {
      if (t == DType::kInt32) out.data<int32_t>()[k] = static_cast<int32_t>(v[k]);
      else out.data<int64_t>()[k] = v[k];
    }
    ctx.set_output(i, out);
  };
  emit(0, r0);
  emit(1, r1);
}

}  // namespace

std::pair<Output, Output> reduce_binary_grads(const Output& gx, const Output& gy, const Output& x, const Output& y) {
  const auto px = plan_static_reduction(x.shape(), y.shape());
  const auto py = plan_static_reduction(y.shape(), x.shape());
  Output sx, sy, rx, ry;
  if (!px || !py) {
    sx = shape(x);
    sy = shape(y);
    std::tie(rx, ry) = broadcast_gradient_args(sx, sy);
  }
  auto reduce = [](const Output& g, const Output& v, const std::optional<StaticReduction>& plan, const Output& s,
                   const Output& r) -> Output {
    if (!g) return Output();
    if (plan) return apply_static_reduction(g, v, *plan);
    return reshape(sum(g, r), s);
  };
  Output rgx = reduce(gx, x, px, sx, rx);
  Output rgy = reduce(gy, y, py, sy, ry);
  return {rgx, rgy};
}

Output sum_to_shape_of(const Output& grad, const Output& x, const Output& other) {
  if (const auto plan = plan_static_reduction(x.shape(), other.shape())) return apply_static_reduction(grad, x, *plan);
  const Output sx = shape(x);
  return reshape(sum(grad, broadcast_gradient_args(sx, shape(other)).first), sx);
}

Output broadcast_to(const Output& x, const Output& shape, const std::string& name) {
  graph_of(x, "BroadcastTo");
  return OpBuilder(x, "BroadcastTo", name).input(x).input(shape).build_output();
}

std::pair<Output, Output> broadcast_gradient_args(const Output& s0, const Output& s1, const std::string& name) {
  graph_of(s0, "BroadcastGradientArgs");
  Operation* op = OpBuilder(s0, "BroadcastGradientArgs", name).input(s0).input(s1).build();
  return {op->output(0), op->output(1)};
}

void register_broadcast_ops(OpRegistry& r) {
  r.add("BroadcastTo").input("input", "T").input("shape", "Tidx").output("output", "T").attr("Tidx", DType::kInt32)
      .type_attr("T", kAllTypes).type_attr("Tidx", dtypes_of(TypeSet::kIndex)).shape(broadcast_to_shape)
      .kernel_fn(broadcast_to_kernel).gradient(broadcast_to_grad);
  r.add("BroadcastGradientArgs").input("s0", "T").input("s1", "T").output("r0", "T").output("r1", "T")
      .attr("T", DType::kInt32).type_attr("T", dtypes_of(TypeSet::kIndex)).shape(bga_shape).kernel_fn(bga_kernel)
      .not_differentiable("integer output");
}

}  // namespace fg
