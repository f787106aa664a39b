// A dense layer's products fused with what follows them, as plan-level fusions: forward,
// MatMul -> BiasAdd (-> activation) is one GEMM whose epilogue adds the bias and applies the
// activation; backward, the input gradient's MatMul -> activation gradient is one GEMM whose
// epilogue applies the gradient's formula. Each epilogue runs on the block of the product the
// thread just computed, while it is in that core's cache: one pass over [batch, units] instead of
// two or three, and no tensor crossing between cores. The arithmetic is the separate ops' (v + b,
// then the same Eigen expression): bit-identical for the piecewise-linear activations and their
// gradients; exp-based ones may differ by an ulp where Eigen takes a row's last few elements
// through the scalar function rather than the vectorized one. For kernel writers only.
#pragma once
#include <type_traits>

#include "core/gemm.h"
#include "ops/internal/elementwise.h"
#include "ops/internal/kernel_util.h"

namespace fg {

// MatMul -> BiasAdd with nothing after it.
struct NoActivation {
  template <typename T, class X> static auto apply(const X& x) { return x; }
};

// Inputs: a, b (MatMul's), bias; attrs: MatMul's, BiasAdd's and the activation's.
template <class F>
void matmul_bias_add_kernel(KernelContext& ctx) {
  check_data_format(ctx.attr<std::string>("data_format"));
  const Tensor &a = ctx.input(0), &b = ctx.input(1), &bias = ctx.input(2);
  const bool ta = ctx.attr<bool>("transpose_a"), tb = ctx.attr<bool>("transpose_b");
  // Named variables, not a structured binding: lambdas below capture them (clang before 16 cannot).
  const MatMulDims dims = matmul_dims(a, b, ta, tb);
  const int64_t m = dims.m, k = dims.k, n = dims.n;
  check_bias(bias, Shape{m, n});
  const F f = make_functor<F>(ctx);
  Tensor out = Tensor::empty(a.dtype(), {m, n});
  dispatch_float(a.dtype(), "MatMul+BiasAdd", [&]<typename T>() {
    auto C = as_matrix<T>(out, m, n);
    auto bias_row = as_array<T>(bias).transpose();
    gemm<T>(ta, tb, m, n, k, T(1), a.data<T>(), a.dim(1), b.data<T>(), b.dim(1), T(0), out.data<T>(), n,
            [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
              auto block = C.block(r0, c0, r1 - r0, c1 - c0).array();
              block.rowwise() += bias_row.segment(c0, c1 - c0);
              if constexpr (!std::is_same_v<F, NoActivation>) block = f.template apply<T>(block);
            });
  });
  ctx.set_output(0, out);
}

// An activation gradient F whose incoming gradient (input F::spec.incoming) is a MatMul's product.
// Inputs: the MatMul's a, b in the gradient's place, the other operand (features or outputs) in its.
template <class F>
void matmul_activation_grad_kernel(KernelContext& ctx) {
  constexpr int kA = F::spec.incoming, kOther = kA == 0 ? 2 : 0;
  const Tensor &a = ctx.input(kA), &b = ctx.input(kA + 1), &other = ctx.input(kOther);
  const bool ta = ctx.attr<bool>("transpose_a"), tb = ctx.attr<bool>("transpose_b");
  // Named variables, not a structured binding: lambdas below capture them (clang before 16 cannot).
  const MatMulDims dims = matmul_dims(a, b, ta, tb);
  const int64_t m = dims.m, k = dims.k, n = dims.n;
  FG_CHECK(other.shape() == Shape({m, n}), InvalidArgument, F::spec.type, ": ", F::spec.inputs[0], " and ",
           F::spec.inputs[1], " must have the same shape, got ", Shape({m, n}), " and ", other.shape());
  const F f = make_functor<F>(ctx);
  Tensor out = Tensor::empty(a.dtype(), {m, n});
  dispatch_float(a.dtype(), F::spec.type, [&]<typename T>() {
    auto C = as_matrix<T>(out, m, n);
    auto O = as_matrix<T>(other, m, n);
    gemm<T>(ta, tb, m, n, k, T(1), a.data<T>(), a.dim(1), b.data<T>(), b.dim(1), T(0), out.data<T>(), n,
            [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
              auto block = C.block(r0, c0, r1 - r0, c1 - c0).array();
              auto with = O.block(r0, c0, r1 - r0, c1 - c0).array();
              if constexpr (kA == 0) block = f.template apply<T>(block, with);
              else block = f.template apply<T>(with, block);
            });
  });
  ctx.set_output(0, out);
}

// Registers an activation D, its gradient op D::Grad, and their fusions with a dense layer's
// products.
template <class D>
void register_activation(OpRegistry& r) {
  using G = typename D::Grad;
  static_assert(G::spec.incoming == 0 || G::spec.incoming == 1, "the gradient op says which input is the gradient");
  register_elementwise<D>(r);
  register_elementwise<G>(r);
  r.add_fusion({.consumer = D::spec.type, .producer = "BiasAdd", .input = 0, .kernel = matmul_bias_add_kernel<D>,
                .applies = is_float_matmul, .inner = "MatMul"});
  r.add_fusion({.consumer = G::spec.type, .producer = "MatMul", .input = G::spec.incoming,
                .kernel = matmul_activation_grad_kernel<G>, .applies = is_float_matmul});
}

template <class... Ds>
void register_activations(OpRegistry& r) {
  (register_activation<Ds>(r), ...);
}

}  // namespace fg
