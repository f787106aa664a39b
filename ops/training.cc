#include "ops/training.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>

#include "core/eigen.h"
#include "core/gemm.h"
#include "core/parallel.h"
#include "graph/op_registry.h"
#include "ops/internal/kernel_util.h"
#include "ops/internal/register.h"
#include "ops/math.h"

namespace fg {

// ---- builders

Output apply_gradient_descent(const Variable& var, const Output& alpha, const Output& delta, const std::string& name) {
  return OpBuilder(delta, "ApplyGradientDescent", name).input(var.ref()).input(alpha).input(delta).build_output();
}

Output apply_momentum(const Variable& var, const Variable& accum, const Output& lr, const Output& grad,
                      const Output& momentum, bool use_nesterov, const std::string& name) {
  return OpBuilder(grad, "ApplyMomentum", name)
      .input(var.ref()).input(accum.ref()).input(lr).input(grad).input(momentum)
      .attr("use_nesterov", use_nesterov).build_output();
}

Output apply_adagrad(const Variable& var, const Variable& accum, const Output& lr, const Output& grad,
                     const std::string& name) {
  return OpBuilder(grad, "ApplyAdagrad", name).input(var.ref()).input(accum.ref()).input(lr).input(grad).build_output();
}

Output apply_rms_prop(const Variable& var, const Variable& ms, const Variable& mom, const Output& lr, const Output& rho,
                      const Output& momentum, const Output& epsilon, const Output& grad, const std::string& name) {
  return OpBuilder(grad, "ApplyRMSProp", name)
      .input(var.ref()).input(ms.ref()).input(mom.ref()).input(lr).input(rho).input(momentum).input(epsilon)
      .input(grad).build_output();
}

Output apply_centered_rms_prop(const Variable& var, const Variable& mg, const Variable& ms, const Variable& mom,
                               const Output& lr, const Output& rho, const Output& momentum, const Output& epsilon,
                               const Output& grad, const std::string& name) {
  return OpBuilder(grad, "ApplyCenteredRMSProp", name)
      .input(var.ref()).input(mg.ref()).input(ms.ref()).input(mom.ref()).input(lr).input(rho).input(momentum)
      .input(epsilon).input(grad).build_output();
}

Output apply_adam(const Variable& var, const Variable& m, const Variable& v, const Output& beta1_power,
                  const Output& beta2_power, const Output& lr, const Output& beta1, const Output& beta2,
                  const Output& epsilon, const Output& grad, const std::string& name) {
  return OpBuilder(grad, "ApplyAdam", name)
      .input(var.ref()).input(m.ref()).input(v.ref()).input(beta1_power).input(beta2_power).input(lr)
      .input(beta1).input(beta2).input(epsilon).input(grad).build_output();
}

// ---- the shared update machinery

namespace {

// Every Apply* op: refs first (var and its slots), then scalar hyper-parameters, then the
// gradient last. Shapes of all refs and the gradient must agree; scalars must be scalars.
void apply_shape(InferenceContext& c) {
  const auto& args = c.op().def().inputs;
  const Shape& var = c.input_shape(0);
  for (int i = 1; i < c.num_inputs(); ++i) {
    const bool tensor_arg = args[i].is_ref || args[i].name == "grad" || args[i].name == "delta";
    const Shape& s = c.input_shape(i);
    if (tensor_arg && !var.compatible_with(s))
      c.fail(str_cat("input '", args[i].name, "' has shape ", s, " but the variable has shape ", var));
    if (!tensor_arg && s.known_rank() && s.rank() != 0)
      c.fail(str_cat("input '", args[i].name, "' must be a scalar, got shape ", s));
  }
  c.set_output(0, var);
}

// Locks every ref slot (in address order, so concurrent steps cannot deadlock), checks them, and
// gives each an output buffer: the slot's own when no reader holds it, else a fresh one. The
// update then reads the old buffers and writes the new ones element by element.
class RefUpdate {
 public:
  RefUpdate(KernelContext& ctx, int num_refs, const Tensor& grad) : RefUpdate(ctx, num_refs, grad.dtype(), grad.shape()) {}
  // For updates whose gradient is computed in the kernel (the fused GD-into-GEMM below).
  RefUpdate(KernelContext& ctx, int num_refs, DType dtype, const Shape& shape) : n_(num_refs) {
    FG_CHECK(num_refs <= kMaxRefs, Internal, "RefUpdate: ", num_refs, " refs, at most ", kMaxRefs);
    for (int i = 0; i < n_; ++i) slots_[i] = &ctx.ref(i);
    std::array<VariableSlot*, kMaxRefs> order = slots_;
    for (int i = 1; i < n_; ++i)  // insertion sort of at most kMaxRefs (std::sort trips -Warray-bounds)
      for (int j = i; j > 0 && std::less<>{}(order[j], order[j - 1]); --j) std::swap(order[j], order[j - 1]);
    for (int i = 0; i < n_; ++i) locks_[i] = std::unique_lock(order[i]->mu);
    for (int i = 0; i < n_; ++i) {
      VariableSlot* s = slots_[i];
      FG_CHECK(s->value.valid(), FailedPrecondition, "Attempting to use uninitialized value ", s->name);
      FG_CHECK(s->value.shape() == shape, InvalidArgument, s->name, " has shape ", s->value.shape(),
               " but the gradient has shape ", shape);
      FG_CHECK(s->value.dtype() == dtype, InvalidArgument, s->name, " has dtype ", dtype_name(s->value.dtype()),
               " but the gradient has dtype ", dtype_name(dtype));
      const bool in_place = s->value.unique();
      out_[i] = in_place ? s->value : Tensor::empty(dtype, shape);
      old_[i] = s->value;
    }
  }
  // The old value of ref i and the buffer its new value goes to (the same one when updating in
  // place: every formula below reads element j before writing element j, nothing else).
  template <typename T>
  ArrayMap<T> in(int i) const { return as_array<T>(old_[i]); }
  template <typename T>
  ArrayMap<T> out(int i) const { return as_array<T>(out_[i]); }
  // Publishes the new buffers; the op's output is the updated variable.
  void commit(KernelContext& ctx) {
    for (int i = 0; i < n_; ++i) slots_[i]->value = out_[i];
    ctx.set_output(0, out_[0]);
  }

 private:
  // The most refs an update takes (ApplyCenteredRMSProp: var, mg, ms, mom); fixed arrays, so
  // an update allocates nothing.
  static constexpr int kMaxRefs = 4;
  int n_;
  std::array<VariableSlot*, kMaxRefs> slots_{};
  std::array<std::unique_lock<std::mutex>, kMaxRefs> locks_;
  std::array<Tensor, kMaxRefs> old_, out_;
};

template <typename T>
T scalar_input(KernelContext& ctx, int i, const char* what) {
  const Tensor& t = ctx.input(i);
  FG_CHECK(t.num_elements() == 1, InvalidArgument, what, " must be a scalar, got shape ", t.shape());
  return *t.data<T>();
}

// Runs `update(segment)` over contiguous blocks in parallel; `segment(array)` is that block of an
// ArrayMap, so each formula is one vectorized Eigen expression per block.
template <typename Fn>
void for_each_block(int64_t n, Fn&& update) {
  parallel_for(n, 8, [&](int64_t b, int64_t e) {
    update([b, e](auto& a) { return a.segment(b, e - b); });
  });
}

void apply_gradient_descent_kernel(KernelContext& ctx) {
  const Tensor& grad = ctx.input(2);
  RefUpdate u(ctx, 1, grad);
  dispatch_float(grad.dtype(), "ApplyGradientDescent", [&]<typename T>() {
    const T lr = scalar_input<T>(ctx, 1, "alpha");
    auto var = u.in<T>(0), out = u.out<T>(0), g = as_array<T>(grad);
    for_each_block(grad.num_elements(), [&](auto seg) { seg(out) = seg(var) - lr * seg(g); });
  });
  u.commit(ctx);
}

// ApplyGradientDescent whose delta is a MatMul used by nothing else (the weight gradient
// X^T dZ of a dense layer): var = var - alpha * op(a) op(b) as one GEMM accumulating into the
// variable (beta = 1). The gradient is never stored, and each thread updates the block of the
// variable it computed while that block is still in its core's cache (run apart, the update
// re-reads a gradient half of which sits in the other core's cache).
// Inputs: var (ref), alpha, a, b; attrs: ApplyGradientDescent's and MatMul's.
void apply_gradient_descent_matmul_kernel(KernelContext& ctx) {
  const Tensor &a = ctx.input(2), &b = ctx.input(3);
  const bool ta = ctx.attr<bool>("transpose_a"), tb = ctx.attr<bool>("transpose_b");
  // Named variables, not a structured binding: lambdas below capture them (clang before 16 cannot).
  const MatMulDims dims = matmul_dims(a, b, ta, tb);
  const int64_t m = dims.m, k = dims.k, n = dims.n;
  RefUpdate u(ctx, 1, a.dtype(), Shape{m, n});
  dispatch_float(a.dtype(), "ApplyGradientDescent", [&]<typename T>() {
    const T lr = scalar_input<T>(ctx, 1, "alpha");
    auto var = u.in<T>(0), out = u.out<T>(0);
    if (out.data() != var.data()) std::copy(var.data(), var.data() + var.size(), out.data());  // a reader holds var
    gemm<T>(ta, tb, m, n, k, -lr, a.data<T>(), a.dim(1), b.data<T>(), b.dim(1), T(1), out.data(), n);
  });
  u.commit(ctx);
}

void apply_momentum_kernel(KernelContext& ctx) {
  const Tensor& grad = ctx.input(3);
  RefUpdate u(ctx, 2, grad);
  const bool nesterov = ctx.attr<bool>("use_nesterov");
  dispatch_float(grad.dtype(), "ApplyMomentum", [&]<typename T>() {
    const T lr = scalar_input<T>(ctx, 2, "lr"), mu = scalar_input<T>(ctx, 4, "momentum");
    auto var = u.in<T>(0), acc = u.in<T>(1), g = as_array<T>(grad);
    auto var_out = u.out<T>(0), acc_out = u.out<T>(1);
    for_each_block(grad.num_elements(), [&](auto seg) {
      seg(acc_out) = seg(acc) * mu + seg(g);
      if (nesterov) seg(var_out) = seg(var) - (seg(g) * lr + seg(acc_out) * mu * lr);
      else seg(var_out) = seg(var) - lr * seg(acc_out);
    });
  });
  u.commit(ctx);
}

// update_slots (later TF 1.x) false leaves the accumulator as it is.
void apply_adagrad_kernel(KernelContext& ctx) {
  const Tensor& grad = ctx.input(3);
  RefUpdate u(ctx, 2, grad);
  const bool update_slots = ctx.attr<bool>("update_slots");
  dispatch_float(grad.dtype(), "ApplyAdagrad", [&]<typename T>() {
    const T lr = scalar_input<T>(ctx, 2, "lr");
    auto var = u.in<T>(0), acc = u.in<T>(1), g = as_array<T>(grad);
    auto var_out = u.out<T>(0), acc_out = u.out<T>(1);
    for_each_block(grad.num_elements(), [&](auto seg) {
      if (update_slots) seg(acc_out) = seg(acc) + seg(g) * seg(g);
      else seg(acc_out) = seg(acc);
      seg(var_out) = seg(var) - lr * seg(g) / seg(acc_out).sqrt();
    });
  });
  u.commit(ctx);
}

// The optimizers below update element by element: each reads every old value of its element
// before writing it, so updating in place is safe. (TF's Eigen sign: 0 at 0.)
template <typename T>
T sgn(T x) { return static_cast<T>((x > T(0)) - (x < T(0))); }
template <typename Fn>
void for_each_element(int64_t n, Fn&& fn) {
  parallel_for(n, 16, [&](int64_t b, int64_t e) { for (int64_t i = b; i < e; ++i) fn(i); });
}

// TF 1.x's kernel: the variable's step uses the updated accum_update (its Eigen expression for the
// update is evaluated again after accum_update is written).
void apply_adadelta_kernel(KernelContext& ctx) {
  const Tensor& grad = ctx.input(6);
  RefUpdate u(ctx, 3, grad);
  dispatch_float(grad.dtype(), "ApplyAdadelta", [&]<typename T>() {
    const T lr = scalar_input<T>(ctx, 3, "lr"), rho = scalar_input<T>(ctx, 4, "rho"),
            eps = scalar_input<T>(ctx, 5, "epsilon");
    const T *var = u.in<T>(0).data(), *acc = u.in<T>(1).data(), *upd = u.in<T>(2).data(), *g = grad.data<T>();
    T *var_out = u.out<T>(0).data(), *acc_out = u.out<T>(1).data(), *upd_out = u.out<T>(2).data();
    for_each_element(grad.num_elements(), [&](int64_t i) {
      const T a = acc[i] * rho + g[i] * g[i] * (T(1) - rho);
      const T step = std::sqrt(upd[i] + eps) / std::sqrt(a + eps) * g[i];
      const T au = upd[i] * rho + step * step * (T(1) - rho);
      var_out[i] = var[i] - std::sqrt(au + eps) / std::sqrt(a + eps) * g[i] * lr;
      acc_out[i] = a;
      upd_out[i] = au;
    });
  });
  u.commit(ctx);
}

// Fobos: v = var - step * grad, shrunk by step * l1 toward 0 (when l1 > 0), divided by
// 1 + step * l2; step is lr (ProximalGradientDescent) or lr / sqrt(accum) (ProximalAdagrad).
template <typename T>
T proximal(T v, T step, T l1, T l2) {
  if (l1 > T(0)) return sgn(v) * std::max(std::abs(v) - step * l1, T(0)) / (T(1) + l2 * step);
  return v / (T(1) + l2 * step);
}

void apply_proximal_gradient_descent_kernel(KernelContext& ctx) {
  const Tensor& grad = ctx.input(4);
  RefUpdate u(ctx, 1, grad);
  dispatch_float(grad.dtype(), "ApplyProximalGradientDescent", [&]<typename T>() {
    const T lr = scalar_input<T>(ctx, 1, "alpha"), l1 = scalar_input<T>(ctx, 2, "l1"),
            l2 = scalar_input<T>(ctx, 3, "l2");
    const T *var = u.in<T>(0).data(), *g = grad.data<T>();
    T* var_out = u.out<T>(0).data();
    for_each_element(grad.num_elements(), [&](int64_t i) { var_out[i] = proximal(var[i] - g[i] * lr, lr, l1, l2); });
  });
  u.commit(ctx);
}

void apply_proximal_adagrad_kernel(KernelContext& ctx) {
  const Tensor& grad = ctx.input(5);
  RefUpdate u(ctx, 2, grad);
  dispatch_float(grad.dtype(), "ApplyProximalAdagrad", [&]<typename T>() {
    const T lr = scalar_input<T>(ctx, 2, "lr"), l1 = scalar_input<T>(ctx, 3, "l1"),
            l2 = scalar_input<T>(ctx, 4, "l2");
    const T *var = u.in<T>(0).data(), *acc = u.in<T>(1).data(), *g = grad.data<T>();
    T *var_out = u.out<T>(0).data(), *acc_out = u.out<T>(1).data();
    for_each_element(grad.num_elements(), [&](int64_t i) {
      const T a = acc[i] + g[i] * g[i];
      const T step = lr / std::sqrt(a);
      var_out[i] = proximal(var[i] - g[i] * step, step, l1, l2);
      acc_out[i] = a;
    });
  });
  u.commit(ctx);
}

// TF's AdagradDA: the accumulators take the gradient, then the variable is recomputed from them
// at global_step (an int64 scalar input, converted to T as TF's kernel's arithmetic does).
void apply_adagrad_da_kernel(KernelContext& ctx) {
  const Tensor& grad = ctx.input(3);
  RefUpdate u(ctx, 3, grad);
  const Tensor& step_t = ctx.input(7);
  FG_CHECK(step_t.num_elements() == 1, InvalidArgument, "global_step must be a scalar, got shape ", step_t.shape());
  const int64_t global_step = step_t.data<int64_t>()[0];
  dispatch_float(grad.dtype(), "ApplyAdagradDA", [&]<typename T>() {
    const T lr = scalar_input<T>(ctx, 4, "lr"), l1 = scalar_input<T>(ctx, 5, "l1"), l2 = scalar_input<T>(ctx, 6, "l2");
    const T steps = static_cast<T>(global_step), steps_lr = steps * lr;
    const T *acc = u.in<T>(1).data(), *sq = u.in<T>(2).data(), *g = grad.data<T>();
    T *var_out = u.out<T>(0).data(), *acc_out = u.out<T>(1).data(), *sq_out = u.out<T>(2).data();
    for_each_element(grad.num_elements(), [&](int64_t i) {
      const T a = acc[i] + g[i], s = sq[i] + g[i] * g[i];
      const T denom = l2 * steps_lr + std::sqrt(s);
      var_out[i] = l1 > T(0) ? lr * T(-1) * sgn(a) * std::max(std::abs(a) - steps * l1, T(0)) / denom
                             : lr * a * T(-1) / denom;
      acc_out[i] = a;
      sq_out[i] = s;
    });
  });
  u.commit(ctx);
}

// FTRL-proximal; ApplyFtrlV2 first adds 2 * l2_shrinkage * var to the gradient (TF 1.x's kernel
// accumulates the square of that shrunk gradient too).
template <bool kV2>
void apply_ftrl_kernel(KernelContext& ctx) {
  const Tensor& grad = ctx.input(3);
  RefUpdate u(ctx, 3, grad);
  dispatch_float(grad.dtype(), kV2 ? "ApplyFtrlV2" : "ApplyFtrl", [&]<typename T>() {
    const T lr = scalar_input<T>(ctx, 4, "lr"), l1 = scalar_input<T>(ctx, 5, "l1"), l2 = scalar_input<T>(ctx, 6, "l2");
    const T shrinkage = kV2 ? scalar_input<T>(ctx, 7, "l2_shrinkage") : T(0);
    const T lr_power = scalar_input<T>(ctx, kV2 ? 8 : 7, "lr_power");
    const bool half = lr_power == T(-0.5);
    const T *var = u.in<T>(0).data(), *acc = u.in<T>(1).data(), *lin = u.in<T>(2).data(), *g0 = grad.data<T>();
    T *var_out = u.out<T>(0).data(), *acc_out = u.out<T>(1).data(), *lin_out = u.out<T>(2).data();
    for_each_element(grad.num_elements(), [&](int64_t i) {
      const T g = g0[i] + T(2) * shrinkage * var[i];
      const T new_acc = acc[i] + g * g;
      const T p_new = half ? std::sqrt(new_acc) : std::pow(new_acc, -lr_power);
      const T p_old = half ? std::sqrt(acc[i]) : std::pow(acc[i], -lr_power);
      const T linear = lin[i] + g - (p_new - p_old) / lr * var[i];
      const T x = l1 * sgn(linear) - linear, y = p_new / lr + T(2) * l2;
      var_out[i] = std::abs(linear) > l1 ? x / y : T(0);
      lin_out[i] = linear;
      acc_out[i] = new_acc;
    });
  });
  u.commit(ctx);
}

// AddSign and PowerSign: m = beta m + (1 - beta) g, then a step of lr g scaled by the agreement
// of the signs of g and m: alpha + sign_decay sign(g) sign(m), or exp(logbase sign_decay sign(g) sign(m)).
template <bool kPower>
void apply_sign_kernel(KernelContext& ctx) {
  const Tensor& grad = ctx.input(6);
  RefUpdate u(ctx, 2, grad);
  dispatch_float(grad.dtype(), kPower ? "ApplyPowerSign" : "ApplyAddSign", [&]<typename T>() {
    const T lr = scalar_input<T>(ctx, 2, "lr"), base = scalar_input<T>(ctx, 3, kPower ? "logbase" : "alpha"),
            decay = scalar_input<T>(ctx, 4, "sign_decay"), beta = scalar_input<T>(ctx, 5, "beta");
    const T *var = u.in<T>(0).data(), *m = u.in<T>(1).data(), *g = grad.data<T>();
    T *var_out = u.out<T>(0).data(), *m_out = u.out<T>(1).data();
    for_each_element(grad.num_elements(), [&](int64_t i) {
      const T mi = m[i] * beta + g[i] * (T(1) - beta);
      const T sign_gm = sgn(g[i]) * sgn(mi);
      const T scale = kPower ? std::exp(base * decay * sign_gm) : base + decay * sign_gm;
      var_out[i] = var[i] - lr * scale * g[i];
      m_out[i] = mi;
    });
  });
  u.commit(ctx);
}

// RMSProp's update; the centered form (TF's ApplyCenteredRMSProp) also keeps the mean gradient mg
// and divides by the estimated variance instead of the raw second moment.
template <bool kCentered>
void apply_rms_prop_kernel(KernelContext& ctx) {
  constexpr int kRefs = kCentered ? 4 : 3, kMs = kCentered ? 2 : 1, kMom = kMs + 1;  // var, [mg,] ms, mom
  const Tensor& grad = ctx.input(kRefs + 4);
  RefUpdate u(ctx, kRefs, grad);
  dispatch_float(grad.dtype(), kCentered ? "ApplyCenteredRMSProp" : "ApplyRMSProp", [&]<typename T>() {
    const T lr = scalar_input<T>(ctx, kRefs, "lr"), rho = scalar_input<T>(ctx, kRefs + 1, "rho"),
            mu = scalar_input<T>(ctx, kRefs + 2, "momentum"), eps = scalar_input<T>(ctx, kRefs + 3, "epsilon");
    auto var = u.in<T>(0), mg = u.in<T>(1), ms = u.in<T>(kMs), mom = u.in<T>(kMom), g = as_array<T>(grad);
    auto var_out = u.out<T>(0), mg_out = u.out<T>(1), ms_out = u.out<T>(kMs), mom_out = u.out<T>(kMom);
    for_each_block(grad.num_elements(), [&](auto seg) {
      seg(ms_out) = seg(ms) * rho + seg(g) * seg(g) * (T(1) - rho);
      if constexpr (kCentered) {
        seg(mg_out) = seg(mg) * rho + seg(g) * (T(1) - rho);
        seg(mom_out) = seg(mom) * mu + lr * seg(g) / (seg(ms_out) - seg(mg_out) * seg(mg_out) + eps).sqrt();
      } else {
        seg(mom_out) = seg(mom) * mu + lr * seg(g) / (seg(ms_out) + eps).sqrt();
      }
      seg(var_out) = seg(var) - seg(mom_out);
    });
  });
  u.commit(ctx);
}

void apply_adam_kernel(KernelContext& ctx) {
  const Tensor& grad = ctx.input(9);
  RefUpdate u(ctx, 3, grad);
  const bool nesterov = ctx.attr<bool>("use_nesterov");
  dispatch_float(grad.dtype(), "ApplyAdam", [&]<typename T>() {
    const T b1p = scalar_input<T>(ctx, 3, "beta1_power"), b2p = scalar_input<T>(ctx, 4, "beta2_power"),
            lr = scalar_input<T>(ctx, 5, "lr"), b1 = scalar_input<T>(ctx, 6, "beta1"),
            b2 = scalar_input<T>(ctx, 7, "beta2"), eps = scalar_input<T>(ctx, 8, "epsilon");
    const T lr_t = lr * std::sqrt(T(1) - b2p) / (T(1) - b1p);
    auto var = u.in<T>(0), m = u.in<T>(1), v = u.in<T>(2), g = as_array<T>(grad);
    auto var_out = u.out<T>(0), m_out = u.out<T>(1), v_out = u.out<T>(2);
    for_each_block(grad.num_elements(), [&](auto seg) {
      seg(m_out) = seg(m) + (seg(g) - seg(m)) * (T(1) - b1);
      seg(v_out) = seg(v) + (seg(g) * seg(g) - seg(v)) * (T(1) - b2);
      if (nesterov)
        seg(var_out) = seg(var) - (seg(g) * (T(1) - b1) + b1 * seg(m_out)) * lr_t / (seg(v_out).sqrt() + eps);
      else
        seg(var_out) = seg(var) - lr_t * seg(m_out) / (seg(v_out).sqrt() + eps);
    });
  });
  u.commit(ctx);
}

}  // namespace

void register_training_ops(OpRegistry& r) {
  auto def = [&](const std::string& type, std::initializer_list<const char*> refs,
                 std::initializer_list<const char*> scalars, const char* grad, Kernel k) -> OpDef& {
    OpDef& d = r.add(type);
    for (const char* n : refs) d.ref_input(n, "T");
    for (const char* n : scalars) d.input(n, "T");
    d.input(grad, "T").ref_output("out", "T").attr("use_locking", false).type_attr("T", kFloatTypes)
        .shape(apply_shape).kernel_fn(k).set_stateful()
      .not_differentiable("stateful update");
    return d;
  };
  def("ApplyGradientDescent", {"var"}, {"alpha"}, "delta", apply_gradient_descent_kernel);
  r.add_fusion({.consumer = "ApplyGradientDescent", .producer = "MatMul", .input = 2,
                .kernel = apply_gradient_descent_matmul_kernel, .applies = is_float_matmul});
  // TF's argument order for ApplyMomentum is (var, accum, lr, grad, momentum).
  OpDef& momentum = r.add("ApplyMomentum");
  momentum.ref_input("var", "T").ref_input("accum", "T").input("lr", "T").input("grad", "T").input("momentum", "T")
      .ref_output("out", "T").attr("use_locking", false).attr("use_nesterov", false).type_attr("T", kFloatTypes)
      .shape(apply_shape).kernel_fn(apply_momentum_kernel).set_stateful()
      .not_differentiable("stateful update");
  def("ApplyAdagrad", {"var", "accum"}, {"lr"}, "grad", apply_adagrad_kernel).attr("update_slots", true);
  def("ApplyRMSProp", {"var", "ms", "mom"}, {"lr", "rho", "momentum", "epsilon"}, "grad",
      apply_rms_prop_kernel<false>);
  def("ApplyCenteredRMSProp", {"var", "mg", "ms", "mom"}, {"lr", "rho", "momentum", "epsilon"}, "grad",
      apply_rms_prop_kernel<true>);
  def("ApplyAdam", {"var", "m", "v"}, {"beta1_power", "beta2_power", "lr", "beta1", "beta2", "epsilon"}, "grad",
      apply_adam_kernel).attr("use_nesterov", false);
  def("ApplyAdadelta", {"var", "accum", "accum_update"}, {"lr", "rho", "epsilon"}, "grad", apply_adadelta_kernel);
  def("ApplyProximalGradientDescent", {"var"}, {"alpha", "l1", "l2"}, "delta", apply_proximal_gradient_descent_kernel);
  def("ApplyProximalAdagrad", {"var", "accum"}, {"lr", "l1", "l2"}, "grad", apply_proximal_adagrad_kernel);
  def("ApplyAddSign", {"var", "m"}, {"lr", "alpha", "sign_decay", "beta"}, "grad", apply_sign_kernel<false>);
  def("ApplyPowerSign", {"var", "m"}, {"lr", "logbase", "sign_decay", "beta"}, "grad", apply_sign_kernel<true>);
  // The gradient comes before the hyper-parameters in these (TF's argument order).
  const auto grad_first = [&](const std::string& type, std::initializer_list<const char*> refs,
                              std::initializer_list<const char*> scalars) -> OpDef& {
    OpDef& d = r.add(type);
    for (const char* n : refs) d.ref_input(n, "T");
    d.input("grad", "T");
    for (const char* n : scalars) d.input(n, "T");
    return d;
  };
  grad_first("ApplyFtrl", {"var", "accum", "linear"}, {"lr", "l1", "l2", "lr_power"})
      .ref_output("out", "T").attr("use_locking", false).type_attr("T", kFloatTypes).shape(apply_shape)
      .kernel_fn(apply_ftrl_kernel<false>).set_stateful().not_differentiable("stateful update");
  grad_first("ApplyFtrlV2", {"var", "accum", "linear"}, {"lr", "l1", "l2", "l2_shrinkage", "lr_power"})
      .ref_output("out", "T").attr("use_locking", false).type_attr("T", kFloatTypes).shape(apply_shape)
      .kernel_fn(apply_ftrl_kernel<true>).set_stateful().not_differentiable("stateful update");
  grad_first("ApplyAdagradDA", {"var", "gradient_accumulator", "gradient_squared_accumulator"}, {"lr", "l1", "l2"})
      .input("global_step", DType::kInt64).ref_output("out", "T").attr("use_locking", false)
      .type_attr("T", kFloatTypes).shape(apply_shape).kernel_fn(apply_adagrad_da_kernel).set_stateful()
      .not_differentiable("stateful update");
}

}  // namespace fg
