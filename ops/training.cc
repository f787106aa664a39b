#include "ops/training.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <vector>

#include "core/eigen.h"
#include "core/gemm.h"
#include "core/parallel.h"
#include "graph/op_registry.h"
#include "ops/internal/kernel_util.h"
#include "ops/internal/register.h"
#include "ops/math.h"

namespace fg {

// ---- builders

namespace {

// One update node: its inputs in TF's order (refs as var.ref()), default attrs.
OpBuilder update_op(const char* type, std::initializer_list<Output> inputs, const std::string& name) {
  OpBuilder b(*inputs.begin(), type, name);
  for (const Output& x : inputs) b.input(x);
  return b;
}

}  // namespace

Output apply_gradient_descent(const Variable& var, const Output& alpha, const Output& delta, const std::string& name) {
  return update_op("ApplyGradientDescent", {var.ref(), alpha, delta}, name).build_output();
}

Output apply_momentum(const Variable& var, const Variable& accum, const Output& lr, const Output& grad,
                      const Output& momentum, bool use_nesterov, const std::string& name) {
  return update_op("ApplyMomentum", {var.ref(), accum.ref(), lr, grad, momentum}, name)
      .attr("use_nesterov", use_nesterov).build_output();
}

Output apply_adagrad(const Variable& var, const Variable& accum, const Output& lr, const Output& grad,
                     const std::string& name) {
  return update_op("ApplyAdagrad", {var.ref(), accum.ref(), lr, grad}, name).build_output();
}

Output apply_rms_prop(const Variable& var, const Variable& ms, const Variable& mom, const Output& lr, const Output& rho,
                      const Output& momentum, const Output& epsilon, const Output& grad, const std::string& name) {
  return update_op("ApplyRMSProp", {var.ref(), ms.ref(), mom.ref(), lr, rho, momentum, epsilon, grad}, name)
      .build_output();
}

Output apply_centered_rms_prop(const Variable& var, const Variable& mg, const Variable& ms, const Variable& mom,
                               const Output& lr, const Output& rho, const Output& momentum, const Output& epsilon,
                               const Output& grad, const std::string& name) {
  return update_op("ApplyCenteredRMSProp", {var.ref(), mg.ref(), ms.ref(), mom.ref(), lr, rho, momentum, epsilon, grad},
                   name)
      .build_output();
}

Output apply_adam(const Variable& var, const Variable& m, const Variable& v, const Output& beta1_power,
                  const Output& beta2_power, const Output& lr, const Output& beta1, const Output& beta2,
                  const Output& epsilon, const Output& grad, const std::string& name) {
  return update_op("ApplyAdam",
                   {var.ref(), m.ref(), v.ref(), beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad}, name)
      .build_output();
}

Output sparse_apply_momentum(const Variable& var, const Variable& accum, const Output& lr, const Output& grad,
                             const Output& indices, const Output& momentum, bool use_nesterov,
                             const std::string& name) {
  return update_op("SparseApplyMomentum", {var.ref(), accum.ref(), lr, grad, indices, momentum}, name)
      .attr("use_nesterov", use_nesterov).build_output();
}

Output sparse_apply_adagrad(const Variable& var, const Variable& accum, const Output& lr, const Output& grad,
                            const Output& indices, const std::string& name) {
  return update_op("SparseApplyAdagrad", {var.ref(), accum.ref(), lr, grad, indices}, name).build_output();
}

Output sparse_apply_rms_prop(const Variable& var, const Variable& ms, const Variable& mom, const Output& lr,
                             const Output& rho, const Output& momentum, const Output& epsilon, const Output& grad,
                             const Output& indices, const std::string& name) {
  return update_op("SparseApplyRMSProp", {var.ref(), ms.ref(), mom.ref(), lr, rho, momentum, epsilon, grad, indices},
                   name)
      .build_output();
}

Output sparse_apply_centered_rms_prop(const Variable& var, const Variable& mg, const Variable& ms, const Variable& mom,
                                      const Output& lr, const Output& rho, const Output& momentum,
                                      const Output& epsilon, const Output& grad, const Output& indices,
                                      const std::string& name) {
  return update_op("SparseApplyCenteredRMSProp",
                   {var.ref(), mg.ref(), ms.ref(), mom.ref(), lr, rho, momentum, epsilon, grad, indices}, name)
      .build_output();
}

Output sparse_apply_adadelta(const Variable& var, const Variable& accum, const Variable& accum_update,
                             const Output& lr, const Output& rho, const Output& epsilon, const Output& grad,
                             const Output& indices, const std::string& name) {
  return update_op("SparseApplyAdadelta",
                   {var.ref(), accum.ref(), accum_update.ref(), lr, rho, epsilon, grad, indices}, name)
      .build_output();
}

Output sparse_apply_proximal_gradient_descent(const Variable& var, const Output& alpha, const Output& l1,
                                              const Output& l2, const Output& grad, const Output& indices,
                                              const std::string& name) {
  return update_op("SparseApplyProximalGradientDescent", {var.ref(), alpha, l1, l2, grad, indices}, name)
      .build_output();
}

Output sparse_apply_proximal_adagrad(const Variable& var, const Variable& accum, const Output& lr, const Output& l1,
                                     const Output& l2, const Output& grad, const Output& indices,
                                     const std::string& name) {
  return update_op("SparseApplyProximalAdagrad", {var.ref(), accum.ref(), lr, l1, l2, grad, indices}, name)
      .build_output();
}

Output sparse_apply_adagrad_da(const Variable& var, const Variable& gradient_accumulator,
                               const Variable& gradient_squared_accumulator, const Output& grad,
                               const Output& indices, const Output& lr, const Output& l1, const Output& l2,
                               const Output& global_step, const std::string& name) {
  return update_op("SparseApplyAdagradDA",
                   {var.ref(), gradient_accumulator.ref(), gradient_squared_accumulator.ref(), grad, indices, lr, l1,
                    l2, global_step},
                   name)
      .build_output();
}

Output sparse_apply_ftrl(const Variable& var, const Variable& accum, const Variable& linear, const Output& grad,
                         const Output& indices, const Output& lr, const Output& l1, const Output& l2,
                         const Output& lr_power, const std::string& name) {
  return update_op("SparseApplyFtrl", {var.ref(), accum.ref(), linear.ref(), grad, indices, lr, l1, l2, lr_power},
                   name)
      .build_output();
}

Output sparse_apply_ftrl_v2(const Variable& var, const Variable& accum, const Variable& linear, const Output& grad,
                            const Output& indices, const Output& lr, const Output& l1, const Output& l2,
                            const Output& l2_shrinkage, const Output& lr_power, const std::string& name) {
  return update_op("SparseApplyFtrlV2",
                   {var.ref(), accum.ref(), linear.ref(), grad, indices, lr, l1, l2, l2_shrinkage, lr_power}, name)
      .build_output();
}

// ---- the shared update machinery

namespace {

// Every Apply* op: refs first (var and its slots), then scalar hyper-parameters and the gradient
// ("delta" in some) in TF's order; the refs and the gradient have one shape. A SparseApply* op
// takes `indices` [N] right after the gradient, which then holds N rows: [N] + var.shape[1:].
void apply_shape(InferenceContext& c) {
  const auto& args = c.op().def().inputs;
  const Shape& var = c.input_shape(0);
  int indices = -1;
  for (int i = 0; i < c.num_inputs(); ++i)
    if (args[i].name == "indices") indices = i;
  for (int i = 1; i < c.num_inputs(); ++i) {
    const std::string& arg = args[i].name;
    const Shape& s = c.input_shape(i);
    if (i == indices) {
      if (s.known_rank() && s.rank() != 1) c.fail(str_cat("indices must be a vector, got shape ", s));
    } else if ((arg == "grad" || arg == "delta") && indices >= 0) {
      if (var.known_rank() && var.rank() == 0) c.fail("the variable must be at least 1-D, got a scalar");
      Shape rows = Shape::unknown();
      if (var.known_rank()) {
        const Shape& is = c.input_shape(indices);
        std::vector<int64_t> dims = var.dim_vector();
        dims[0] = is.known_rank() && is.rank() == 1 ? is.dim(0) : -1;
        rows = Shape(dims);
      }
      if (!rows.compatible_with(s) || (s.known_rank() && s.rank() == 0))
        c.fail(str_cat("grad has shape ", s, " but indices and the variable need [N] + var.shape[1:] = ", rows));
    } else if (args[i].is_ref || arg == "grad" || arg == "delta") {
      if (!var.compatible_with(s))
        c.fail(str_cat("input '", arg, "' has shape ", s, " but the variable has shape ", var));
    } else if (s.known_rank() && s.rank() != 0) {
      c.fail(str_cat("input '", arg, "' must be a scalar, got shape ", s));
    }
  }
  c.set_output(0, var);
}

// Locks every ref slot (in address order, so concurrent steps cannot deadlock), checks them, and
// gives each an output buffer: the slot's own when no reader holds it, else a fresh one. The
// update then reads the old buffers and writes the new ones element by element.
class RefUpdate {
 public:
  // A dense update: every ref has the gradient's dtype and shape.
  RefUpdate(KernelContext& ctx, int num_refs, const Tensor& grad) : RefUpdate(ctx, num_refs, grad.dtype(), &grad.shape()) {}
  // For updates whose gradient is computed in the kernel (the fused GD-into-GEMM below).
  RefUpdate(KernelContext& ctx, int num_refs, DType dtype, const Shape& shape) : RefUpdate(ctx, num_refs, dtype, &shape) {}
  // A sparse update of some rows: every ref has the variable's (ref 0's) shape. A fresh buffer
  // starts as a copy of the old value, and the old and new buffers are one, so that a row
  // updated twice (a repeated index) reads its first update.
  static RefUpdate rows(KernelContext& ctx, int num_refs, DType dtype) {
    return RefUpdate(ctx, num_refs, dtype, nullptr);
  }
  // The variable's shape.
  const Shape& shape() const { return old_[0].shape(); }
  // The old value of ref i and the buffer its new value goes to (the same one when updating in
  // place: every rule below reads element j before writing element j, nothing else).
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
  // `shape` null: a sparse update (rows()).
  RefUpdate(KernelContext& ctx, int num_refs, DType dtype, const Shape* shape) : n_(num_refs) {
    FG_CHECK(num_refs <= kMaxRefs, Internal, "RefUpdate: ", num_refs, " refs, at most ", kMaxRefs);
    for (int i = 0; i < n_; ++i) slots_[i] = &ctx.ref(i);
    std::array<VariableSlot*, kMaxRefs> order = slots_;
    for (int i = 1; i < n_; ++i)  // insertion sort of at most kMaxRefs (std::sort trips -Warray-bounds)
      for (int j = i; j > 0 && std::less<>{}(order[j], order[j - 1]); --j) std::swap(order[j], order[j - 1]);
    for (int i = 0; i < n_; ++i) locks_[i] = std::unique_lock(order[i]->mu);
    for (int i = 0; i < n_; ++i) {
      VariableSlot* s = slots_[i];
      FG_CHECK(s->value.valid(), FailedPrecondition, "Attempting to use uninitialized value ", s->name);
      const Shape& want = shape ? *shape : slots_[0]->value.shape();
      FG_CHECK(s->value.shape() == want, InvalidArgument, s->name, " has shape ", s->value.shape(),
               shape ? " but the gradient has shape " : " but the variable has shape ", want);
      FG_CHECK(s->value.dtype() == dtype, InvalidArgument, s->name, " has dtype ", dtype_name(s->value.dtype()),
               " but the gradient has dtype ", dtype_name(dtype));
      const bool in_place = s->value.unique();
      if (shape) {
        out_[i] = in_place ? s->value : Tensor::empty(dtype, want);
        old_[i] = s->value;
      } else {
        out_[i] = in_place ? s->value : s->value.clone();
        old_[i] = out_[i];
      }
    }
  }

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

// An optimizer's inputs by their index in its dense op: the sparse op takes `indices` right
// after the gradient, so the inputs after it come one later there.
struct UpdateInputs {
  KernelContext& ctx;
  int grad;
  bool sparse;
  const Tensor& input(int i) const { return ctx.input(sparse && i > grad ? i + 1 : i); }
  template <typename T>
  T scalar(int i, const char* what) const { return scalar_input<T>(ctx, sparse && i > grad ? i + 1 : i, what); }
};

// The elements one call of an update rule covers: n elements of every ref from ref_offset and n of
// the gradient from grad_offset (the same offset in a dense update; a row of the variable and a
// row of the gradient in a sparse one), as segments of the buffers' ArrayMaps.
template <typename T>
struct Run {
  const RefUpdate& u;
  const Tensor& grad;
  int64_t ref_offset, grad_offset, n;
  auto in(int i) const { return u.in<T>(i).segment(ref_offset, n); }
  auto out(int i) const { return u.out<T>(i).segment(ref_offset, n); }
  auto g() const { return as_array<T>(grad).segment(grad_offset, n); }
};

// An optimizer is a struct naming its ops (kDense, and kSparse when TF defines a sparse one),
// its number of refs, the index of its gradient in the dense op, a cost per element for
// parallel_for, and Rule<T>: built from the inputs (the hyper-parameters), called on runs of
// elements. The rule is the optimizer's one formula, used by both ops.
template <class Opt>
void apply_kernel(KernelContext& ctx) {
  const Tensor& grad = ctx.input(Opt::kGrad);
  RefUpdate u(ctx, Opt::kRefs, grad);
  dispatch_float(grad.dtype(), Opt::kDense, [&]<typename T>() {
    const typename Opt::template Rule<T> rule(UpdateInputs{ctx, Opt::kGrad, false});
    parallel_for(grad.num_elements(), Opt::kCost, [&](int64_t b, int64_t e) { rule(Run<T>{u, grad, b, b, e - b}); });
  });
  u.commit(ctx);
}

// TF's SparseApply*: the rule on rows `indices` of the refs, grad row i going to row indices[i].
// Every check comes before the first write, so a failed update leaves the variable as it was.
template <class Opt>
void sparse_apply_kernel(KernelContext& ctx) {
  const Tensor &grad = ctx.input(Opt::kGrad), &indices = ctx.input(Opt::kGrad + 1);
  RefUpdate u = RefUpdate::rows(ctx, Opt::kRefs, grad.dtype());
  const Shape& var = u.shape();
  FG_CHECK(var.rank() >= 1, InvalidArgument, Opt::kSparse, ": the variable must be at least 1-D, got shape ", var);
  FG_CHECK(indices.rank() == 1, InvalidArgument, Opt::kSparse, ": indices must be a vector, got shape ",
           indices.shape());
  check_row_updates(var, indices.shape(), grad.shape(), "grad", Opt::kSparse);
  const std::vector<int64_t> rows = checked_indices(indices, var.dim(0), Opt::kSparse);
  const int64_t n = static_cast<int64_t>(rows.size());
  const int64_t width = var.dim(0) == 0 ? 0 : var.num_elements() / var.dim(0);
  dispatch_float(grad.dtype(), Opt::kSparse, [&]<typename T>() {
    const typename Opt::template Rule<T> rule(UpdateInputs{ctx, Opt::kGrad, true});
    // Split by columns: each thread takes its columns of every row, rows in index order, so a
    // repeated index applies twice, one after the other, as in TF's kernels.
    parallel_for(width, Opt::kCost * n, [&](int64_t b, int64_t e) {
      for (int64_t i = 0; i < n; ++i) rule(Run<T>{u, grad, rows[i] * width + b, i * width + b, e - b});
    });
  });
  u.commit(ctx);
}

// ---- the optimizers' rules

// Rules written as Eigen expressions over a run (cost per element 8); each statement reads the
// old values of an element before its result is stored, so updating in place is safe.
struct GradientDescent {
  static constexpr const char *kDense = "ApplyGradientDescent", *kSparse = nullptr;
  static constexpr int kRefs = 1, kGrad = 2, kCost = 8;
  template <typename T>
  struct Rule {
    T lr;
    explicit Rule(const UpdateInputs& in) : lr(in.scalar<T>(1, "alpha")) {}
    void operator()(const Run<T>& r) const { r.out(0) = r.in(0) - lr * r.g(); }
  };
};

struct Momentum {
  static constexpr const char *kDense = "ApplyMomentum", *kSparse = "SparseApplyMomentum";
  static constexpr int kRefs = 2, kGrad = 3, kCost = 8;
  template <typename T>
  struct Rule {
    T lr, mu;
    bool nesterov;
    explicit Rule(const UpdateInputs& in)
        : lr(in.scalar<T>(2, "lr")), mu(in.scalar<T>(4, "momentum")), nesterov(in.ctx.attr<bool>("use_nesterov")) {}
    void operator()(const Run<T>& r) const {
      r.out(1) = r.in(1) * mu + r.g();
      if (nesterov) r.out(0) = r.in(0) - (r.g() * lr + r.out(1) * mu * lr);
      else r.out(0) = r.in(0) - lr * r.out(1);
    }
  };
};

// update_slots (later TF 1.x) false leaves the accumulator as it is.
struct Adagrad {
  static constexpr const char *kDense = "ApplyAdagrad", *kSparse = "SparseApplyAdagrad";
  static constexpr int kRefs = 2, kGrad = 3, kCost = 8;
  template <typename T>
  struct Rule {
    T lr;
    bool update_slots;
    explicit Rule(const UpdateInputs& in)
        : lr(in.scalar<T>(2, "lr")), update_slots(in.ctx.attr<bool>("update_slots")) {}
    void operator()(const Run<T>& r) const {
      if (update_slots) r.out(1) = r.in(1) + r.g() * r.g();
      else r.out(1) = r.in(1);
      r.out(0) = r.in(0) - lr * r.g() / r.out(1).sqrt();
    }
  };
};

// RMSProp's update; the centered form (TF's ApplyCenteredRMSProp) also keeps the mean gradient mg
// and divides by the estimated variance instead of the raw second moment.
template <bool kCentered>
struct RMSProp {
  static constexpr const char* kDense = kCentered ? "ApplyCenteredRMSProp" : "ApplyRMSProp";
  static constexpr const char* kSparse = kCentered ? "SparseApplyCenteredRMSProp" : "SparseApplyRMSProp";
  static constexpr int kRefs = kCentered ? 4 : 3, kGrad = kRefs + 4, kCost = 8;
  static constexpr int kMs = kCentered ? 2 : 1, kMom = kMs + 1;  // var, [mg,] ms, mom
  template <typename T>
  struct Rule {
    T lr, rho, mu, eps;
    explicit Rule(const UpdateInputs& in)
        : lr(in.scalar<T>(kRefs, "lr")), rho(in.scalar<T>(kRefs + 1, "rho")),
          mu(in.scalar<T>(kRefs + 2, "momentum")), eps(in.scalar<T>(kRefs + 3, "epsilon")) {}
    void operator()(const Run<T>& r) const {
      r.out(kMs) = r.in(kMs) * rho + r.g() * r.g() * (T(1) - rho);
      if constexpr (kCentered) {
        r.out(1) = r.in(1) * rho + r.g() * (T(1) - rho);
        r.out(kMom) = r.in(kMom) * mu + lr * r.g() / (r.out(kMs) - r.out(1) * r.out(1) + eps).sqrt();
      } else {
        r.out(kMom) = r.in(kMom) * mu + lr * r.g() / (r.out(kMs) + eps).sqrt();
      }
      r.out(0) = r.in(0) - r.out(kMom);
    }
  };
};

struct Adam {
  static constexpr const char *kDense = "ApplyAdam", *kSparse = nullptr;
  static constexpr int kRefs = 3, kGrad = 9, kCost = 8;
  template <typename T>
  struct Rule {
    T b1, b2, eps, lr_t;
    bool nesterov;
    explicit Rule(const UpdateInputs& in)
        : b1(in.scalar<T>(6, "beta1")), b2(in.scalar<T>(7, "beta2")), eps(in.scalar<T>(8, "epsilon")),
          nesterov(in.ctx.attr<bool>("use_nesterov")) {
      const T b1p = in.scalar<T>(3, "beta1_power"), b2p = in.scalar<T>(4, "beta2_power"), lr = in.scalar<T>(5, "lr");
      lr_t = lr * std::sqrt(T(1) - b2p) / (T(1) - b1p);
    }
    void operator()(const Run<T>& r) const {
      r.out(1) = r.in(1) + (r.g() - r.in(1)) * (T(1) - b1);
      r.out(2) = r.in(2) + (r.g() * r.g() - r.in(2)) * (T(1) - b2);
      if (nesterov)
        r.out(0) = r.in(0) - (r.g() * (T(1) - b1) + b1 * r.out(1)) * lr_t / (r.out(2).sqrt() + eps);
      else
        r.out(0) = r.in(0) - lr_t * r.out(1) / (r.out(2).sqrt() + eps);
    }
  };
};

// The rules below update element by element (cost 16): each reads every old value of its element
// before writing it. (TF's Eigen sign: 0 at 0.)
template <typename T>
T sgn(T x) { return static_cast<T>((x > T(0)) - (x < T(0))); }

// The raw buffers of a run, for the element-by-element rules.
template <typename T, int kRefs>
struct RunPointers {
  std::array<const T*, kRefs> in;
  std::array<T*, kRefs> out;
  const T* g;
  explicit RunPointers(const Run<T>& r) : g(r.g().data()) {
    for (int i = 0; i < kRefs; ++i) {
      in[i] = r.in(i).data();
      out[i] = r.out(i).data();
    }
  }
};

// TF 1.x's kernel: the variable's step uses the updated accum_update (its Eigen expression for the
// update is evaluated again after accum_update is written).
struct Adadelta {
  static constexpr const char *kDense = "ApplyAdadelta", *kSparse = "SparseApplyAdadelta";
  static constexpr int kRefs = 3, kGrad = 6, kCost = 16;
  template <typename T>
  struct Rule {
    T lr, rho, eps;
    explicit Rule(const UpdateInputs& in)
        : lr(in.scalar<T>(3, "lr")), rho(in.scalar<T>(4, "rho")), eps(in.scalar<T>(5, "epsilon")) {}
    void operator()(const Run<T>& r) const {
      const RunPointers<T, kRefs> p(r);
      for (int64_t i = 0; i < r.n; ++i) {
        const T g = p.g[i], a = p.in[1][i] * rho + g * g * (T(1) - rho);
        const T step = std::sqrt(p.in[2][i] + eps) / std::sqrt(a + eps) * g;
        const T au = p.in[2][i] * rho + step * step * (T(1) - rho);
        p.out[0][i] = p.in[0][i] - std::sqrt(au + eps) / std::sqrt(a + eps) * g * lr;
        p.out[1][i] = a;
        p.out[2][i] = au;
      }
    }
  };
};

// Fobos: v = var - step * grad, shrunk by step * l1 toward 0 (when l1 > 0), divided by
// 1 + step * l2; step is lr (ProximalGradientDescent) or lr / sqrt(accum) (ProximalAdagrad).
template <typename T>
T proximal(T v, T step, T l1, T l2) {
  if (l1 > T(0)) return sgn(v) * std::max(std::abs(v) - step * l1, T(0)) / (T(1) + l2 * step);
  return v / (T(1) + l2 * step);
}

struct ProximalGradientDescent {
  static constexpr const char *kDense = "ApplyProximalGradientDescent", *kSparse = "SparseApplyProximalGradientDescent";
  static constexpr int kRefs = 1, kGrad = 4, kCost = 16;
  template <typename T>
  struct Rule {
    T lr, l1, l2;
    explicit Rule(const UpdateInputs& in)
        : lr(in.scalar<T>(1, "alpha")), l1(in.scalar<T>(2, "l1")), l2(in.scalar<T>(3, "l2")) {}
    void operator()(const Run<T>& r) const {
      const RunPointers<T, kRefs> p(r);
      for (int64_t i = 0; i < r.n; ++i) p.out[0][i] = proximal(p.in[0][i] - p.g[i] * lr, lr, l1, l2);
    }
  };
};

struct ProximalAdagrad {
  static constexpr const char *kDense = "ApplyProximalAdagrad", *kSparse = "SparseApplyProximalAdagrad";
  static constexpr int kRefs = 2, kGrad = 5, kCost = 16;
  template <typename T>
  struct Rule {
    T lr, l1, l2;
    explicit Rule(const UpdateInputs& in)
        : lr(in.scalar<T>(2, "lr")), l1(in.scalar<T>(3, "l1")), l2(in.scalar<T>(4, "l2")) {}
    void operator()(const Run<T>& r) const {
      const RunPointers<T, kRefs> p(r);
      for (int64_t i = 0; i < r.n; ++i) {
        const T g = p.g[i], a = p.in[1][i] + g * g;
        const T step = lr / std::sqrt(a);
        p.out[0][i] = proximal(p.in[0][i] - g * step, step, l1, l2);
        p.out[1][i] = a;
      }
    }
  };
};

// TF's AdagradDA: the accumulators take the gradient, then the variable is recomputed from them
// at global_step (an int64 scalar input, converted to T as TF's kernel's arithmetic does).
struct AdagradDA {
  static constexpr const char *kDense = "ApplyAdagradDA", *kSparse = "SparseApplyAdagradDA";
  static constexpr int kRefs = 3, kGrad = 3, kCost = 16;
  template <typename T>
  struct Rule {
    T lr, l1, l2, steps;
    explicit Rule(const UpdateInputs& in)
        : lr(in.scalar<T>(4, "lr")), l1(in.scalar<T>(5, "l1")), l2(in.scalar<T>(6, "l2")) {
      const Tensor& step = in.input(7);
      FG_CHECK(step.num_elements() == 1, InvalidArgument, "global_step must be a scalar, got shape ", step.shape());
      steps = static_cast<T>(step.data<int64_t>()[0]);
    }
    void operator()(const Run<T>& r) const {
      const RunPointers<T, kRefs> p(r);
      const T steps_lr = steps * lr;
      for (int64_t i = 0; i < r.n; ++i) {
        const T g = p.g[i], a = p.in[1][i] + g, s = p.in[2][i] + g * g;
        const T denom = l2 * steps_lr + std::sqrt(s);
        p.out[0][i] = l1 > T(0) ? lr * T(-1) * sgn(a) * std::max(std::abs(a) - steps * l1, T(0)) / denom
                                : lr * a * T(-1) / denom;
        p.out[1][i] = a;
        p.out[2][i] = s;
      }
    }
  };
};

// FTRL-proximal; FtrlV2 first adds 2 * l2_shrinkage * var to the gradient (TF 1.x's kernels
// accumulate the square of that shrunk gradient too).
template <bool kV2>
struct Ftrl {
  static constexpr const char* kDense = kV2 ? "ApplyFtrlV2" : "ApplyFtrl";
  static constexpr const char* kSparse = kV2 ? "SparseApplyFtrlV2" : "SparseApplyFtrl";
  static constexpr int kRefs = 3, kGrad = 3, kCost = 16;
  template <typename T>
  struct Rule {
    T lr, l1, l2, shrinkage, lr_power;
    explicit Rule(const UpdateInputs& in)
        : lr(in.scalar<T>(4, "lr")), l1(in.scalar<T>(5, "l1")), l2(in.scalar<T>(6, "l2")),
          shrinkage(kV2 ? in.scalar<T>(7, "l2_shrinkage") : T(0)), lr_power(in.scalar<T>(kV2 ? 8 : 7, "lr_power")) {}
    void operator()(const Run<T>& r) const {
      const RunPointers<T, kRefs> p(r);
      const bool half = lr_power == T(-0.5);
      for (int64_t i = 0; i < r.n; ++i) {
        const T var = p.in[0][i], acc = p.in[1][i];
        const T g = p.g[i] + T(2) * shrinkage * var;
        const T new_acc = acc + g * g;
        const T p_new = half ? std::sqrt(new_acc) : std::pow(new_acc, -lr_power);
        const T p_old = half ? std::sqrt(acc) : std::pow(acc, -lr_power);
        const T linear = p.in[2][i] + g - (p_new - p_old) / lr * var;
        const T x = l1 * sgn(linear) - linear, y = p_new / lr + T(2) * l2;
        p.out[0][i] = std::abs(linear) > l1 ? x / y : T(0);
        p.out[2][i] = linear;
        p.out[1][i] = new_acc;
      }
    }
  };
};

// AddSign and PowerSign: m = beta m + (1 - beta) g, then a step of lr g scaled by the agreement
// of the signs of g and m: alpha + sign_decay sign(g) sign(m), or exp(logbase sign_decay sign(g) sign(m)).
template <bool kPower>
struct Sign {
  static constexpr const char* kDense = kPower ? "ApplyPowerSign" : "ApplyAddSign";
  static constexpr const char* kSparse = nullptr;
  static constexpr int kRefs = 2, kGrad = 6, kCost = 16;
  template <typename T>
  struct Rule {
    T lr, base, decay, beta;
    explicit Rule(const UpdateInputs& in)
        : lr(in.scalar<T>(2, "lr")), base(in.scalar<T>(3, kPower ? "logbase" : "alpha")),
          decay(in.scalar<T>(4, "sign_decay")), beta(in.scalar<T>(5, "beta")) {}
    void operator()(const Run<T>& r) const {
      const RunPointers<T, kRefs> p(r);
      for (int64_t i = 0; i < r.n; ++i) {
        const T g = p.g[i], m = p.in[1][i] * beta + g * (T(1) - beta);
        const T sign_gm = sgn(g) * sgn(m);
        const T scale = kPower ? std::exp(base * decay * sign_gm) : base + decay * sign_gm;
        p.out[0][i] = p.in[0][i] - lr * scale * g;
        p.out[1][i] = m;
      }
    }
  };
};

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

// The dense op, and the sparse one where TF defines it, of optimizer Opt, with TF's argument
// list `args` of the dense op (the refs first). The sparse op names the gradient "grad" (even
// where the dense op's is "delta") and adds `indices` after it. Returns the defs.
template <class Opt>
std::vector<OpDef*> register_update(OpRegistry& r, std::initializer_list<std::string> args) {
  std::vector<OpDef*> defs;
  for (const bool sparse : {false, true}) {
    if (sparse && !Opt::kSparse) break;
    OpDef& d = r.add(sparse ? Opt::kSparse : Opt::kDense);
    int i = 0;
    for (const std::string& arg : args) {
      const bool grad = arg == "grad" || arg == "delta";
      if (i++ < Opt::kRefs) d.ref_input(arg, "T");
      else if (arg == "global_step") d.input(arg, DType::kInt64);
      else d.input(sparse && grad ? "grad" : arg, "T");
      if (sparse && grad) d.input("indices", "Tindices");
    }
    d.ref_output("out", "T").attr("use_locking", false).type_attr("T", kFloatTypes);
    Kernel kernel = apply_kernel<Opt>;
    if constexpr (Opt::kSparse != nullptr) {
      if (sparse) kernel = sparse_apply_kernel<Opt>;
    }
    if (sparse) d.type_attr("Tindices", kIndexTypes);
    d.shape(apply_shape).kernel_fn(kernel).set_stateful().not_differentiable("stateful update");
    defs.push_back(&d);
  }
  return defs;
}

}  // namespace

void register_training_ops(OpRegistry& r) {
  register_update<GradientDescent>(r, {"var", "alpha", "delta"});
  r.add_fusion({.consumer = "ApplyGradientDescent", .producer = "MatMul", .input = 2,
                .kernel = apply_gradient_descent_matmul_kernel, .applies = is_float_matmul});
  for (OpDef* d : register_update<Momentum>(r, {"var", "accum", "lr", "grad", "momentum"}))
    d->attr("use_nesterov", false);
  for (OpDef* d : register_update<Adagrad>(r, {"var", "accum", "lr", "grad"})) d->attr("update_slots", true);
  register_update<RMSProp<false>>(r, {"var", "ms", "mom", "lr", "rho", "momentum", "epsilon", "grad"});
  register_update<RMSProp<true>>(r, {"var", "mg", "ms", "mom", "lr", "rho", "momentum", "epsilon", "grad"});
  for (OpDef* d : register_update<Adam>(r, {"var", "m", "v", "beta1_power", "beta2_power", "lr", "beta1", "beta2",
                                            "epsilon", "grad"}))
    d->attr("use_nesterov", false);
  register_update<Adadelta>(r, {"var", "accum", "accum_update", "lr", "rho", "epsilon", "grad"});
  register_update<ProximalGradientDescent>(r, {"var", "alpha", "l1", "l2", "delta"});
  register_update<ProximalAdagrad>(r, {"var", "accum", "lr", "l1", "l2", "grad"});
  register_update<AdagradDA>(r, {"var", "gradient_accumulator", "gradient_squared_accumulator", "grad", "lr", "l1",
                                 "l2", "global_step"});
  register_update<Ftrl<false>>(r, {"var", "accum", "linear", "grad", "lr", "l1", "l2", "lr_power"});
  register_update<Ftrl<true>>(r, {"var", "accum", "linear", "grad", "lr", "l1", "l2", "l2_shrinkage", "lr_power"});
  register_update<Sign<false>>(r, {"var", "m", "lr", "alpha", "sign_decay", "beta", "grad"});
  register_update<Sign<true>>(r, {"var", "m", "lr", "logbase", "sign_decay", "beta", "grad"});
}

}  // namespace fg
