// Element-wise ops, each declared once by a description; its OpDef (and its gradient op's), builder,
// kernel, dense-layer fusions and gradient-check entry all come from that description. For kernel
// writers: not part of the public API.
//
//   struct Softsign {
//     static constexpr Spec spec{.type = "Softsign", .inputs = {"features"}, .output = "activations",
//                                .types = TypeSet::kFloat, .cost = 4};
//     template <typename T, class X> static auto apply(const X& x) { return x / (x.abs() + T(1)); }
//     using Grad = SoftsignGrad;  // its gradient op's description
//     static std::vector<Output> gradient(GradContext& c) { return {build<Grad>(c.grad(0), c.input(0))}; }
//   };
//   Output nn::softsign(const Output& x, const std::string& name) { return build<Softsign>(x, name); }
//   register_activations<Relu, Softsign>(registry);  // ops/internal/dense_fusion.h: ops, grads, fusions
//
// `apply<T>` maps Eigen array expressions (a contiguous stretch of each input, or one broadcast value
// repeated) to the output's expression. Runs of one shape (unary ops, gradient ops) evaluate it with
// Eigen's vectorized functions (exp, log, tanh...); a broadcasting op's stretches are written one
// coefficient at a time, a loop the compiler vectorizes for arithmetic. A description
// may also read attrs in a constructor from the KernelContext (LeakyRelu's alpha), declare them in
// `static void declare(OpDef&)`, and check its inputs before the parallel loop in
// `template <typename T> static void check(const Tensor&, const Tensor&)` (kernels must not throw
// from inside it).
#pragma once
#include <array>
#include <string>
#include <type_traits>
#include <vector>

#include "core/eigen.h"
#include "core/kernel.h"
#include "core/parallel.h"
#include "core/small_vector.h"
#include "graph/op_registry.h"

namespace fg {

// ---- the broadcasting engine every element-wise kernel runs on

// Output dims with runs of dims that broadcast the same way merged, and each operand's element
// strides over them (0 where it is broadcast). [N,C]+[C] becomes dims {N,C}, strides a {C,1}, b {0,1}.
struct Broadcast {
  SmallVector<int64_t, Shape::kInline> out_dims;  // the full output shape
  SmallVector<int64_t, Shape::kInline> dims, sa, sb;
  int64_t n = 0;
};
// NumPy's rule; InvalidArgument "Incompatible shapes" when a and b do not broadcast.
Broadcast make_broadcast(const Shape& a, const Shape& b);

// Operands of one shape: run(i, len) on the blocks [i, i + len) of a parallel loop over n elements.
template <typename Run>
void for_each_block(int64_t n, int64_t cost, Run&& run) {
  parallel_for(n, cost, [&](int64_t begin, int64_t end) { run(begin, end - begin); });
}

// Calls run.template operator()<SA, SB>(i, oa, ob, len), in parallel, for stretches of output
// elements [i, i + len) along which operand a advances by SA (0 or 1) from its element oa and b by
// SB from ob. The strides are template constants, so the same-shape, scalar and row-vector cases
// all vectorize; outer dims only cost an index decomposition per stretch.
template <typename Run>
void for_each_run(const Broadcast& p, int64_t cost, Run&& run) {
  if (p.n == 0) return;
  const int nd = static_cast<int>(p.dims.size());
  if (nd == 0) {
    run.template operator()<1, 1>(int64_t{0}, int64_t{0}, int64_t{0}, int64_t{1});
    return;
  }
  const int64_t inner = p.dims.back();
  auto stretches = [&]<int SA, int SB>() {
    parallel_for(p.n, cost, [&](int64_t begin, int64_t end) {
      int64_t i = begin;
      while (i < end) {
        int64_t row = i / inner;
        const int64_t col = i - row * inner;
        int64_t oa = col * SA, ob = col * SB;
        for (int d = nd - 2; d >= 0; --d) {
          const int64_t q = row / p.dims[d];
          const int64_t idx = row - q * p.dims[d];
          oa += idx * p.sa[d];
          ob += idx * p.sb[d];
          row = q;
        }
        const int64_t len = std::min(inner - col, end - i);
        run.template operator()<SA, SB>(i, oa, ob, len);
        i += len;
      }
    });
  };
  const bool ia = p.sa.back() != 0, ib = p.sb.back() != 0;
  if (ia && ib) stretches.template operator()<1, 1>();
  else if (ia) stretches.template operator()<1, 0>();
  else if (ib) stretches.template operator()<0, 1>();
  else stretches.template operator()<0, 0>();
}

// One operand of a stretch: `len` elements from `offset` (stride 1), or element `offset` repeated.
template <int S, typename T>
auto stretch(const T* base, int64_t offset, int64_t len) {
  if constexpr (S == 1) return Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(base + offset, len);
  else return Eigen::Array<T, Eigen::Dynamic, 1>::Constant(len, base[offset]);
}
// Writes a stretch's expression one coefficient at a time: for the short stretches broadcasting
// makes (a row each), the compiler's vectorization of this loop beats Eigen's per-call set-up of
// its packet loop; long runs of one shape go through Eigen's packet path instead.
template <typename O, class E>
void assign_coefficients(O* out, const E& e, int64_t len) {
  for (int64_t k = 0; k < len; ++k) out[k] = e.coeff(k);
}

// ---- descriptions

// Where a gradient check draws an input's values: [lo, hi), moved 0.1 away from 0 for an op with a
// kink there.
struct Domain {
  double lo = -2, hi = 2;
  bool away_from_zero = false;
};

struct Spec {
  const char* type;
  std::array<const char*, 2> inputs;  // TF's argument names; the second null for a unary op
  const char* output;
  TypeSet types;
  int64_t cost = 1;          // per element, relative to a streaming add (parallel_for's cost)
  bool broadcasts = false;   // binary: NumPy broadcasting; otherwise both inputs have one shape
  bool bool_output = false;  // comparisons
  std::array<Domain, 2> domains = {};
  const char* alias = nullptr;               // a second op type run by the same def (TF1's Add)
  const char* not_differentiable = nullptr;  // why, for an op without a gradient
  // An activation's gradient op: the input that takes the incoming gradient (where the input
  // gradient's MatMul fuses in).
  int incoming = -1;

  constexpr int arity() const { return inputs[1] ? 2 : 1; }
};

// Every registered description's spec, for the gradient-coverage test.
const std::vector<Spec>& elementwise_specs();
void record_spec(const Spec& spec);

template <class D>
D make_functor(const KernelContext& ctx) {
  if constexpr (std::is_constructible_v<D, const KernelContext&>) return D(ctx);
  else return D{};
}

template <class D>
void elementwise_kernel(KernelContext& ctx) {
  constexpr Spec s = D::spec;
  const Tensor& x = ctx.input(0);
  const D f = make_functor<D>(ctx);
  if constexpr (s.arity() == 1) {
    dispatch<s.types>(x.dtype(), s.type, [&]<typename T>() {
      Tensor out = ctx.forward_input_or_allocate(0, x.dtype(), x.shape());
      auto a = as_array<T>(x);
      auto o = as_array<T>(out);
      for_each_block(x.num_elements(), s.cost, [&](int64_t i, int64_t len) {
        o.segment(i, len) = f.template apply<T>(a.segment(i, len));
      });
      ctx.set_output(0, out);
    });
  } else {
    const Tensor& y = ctx.input(1);
    FG_CHECK(x.dtype() == y.dtype(), InvalidArgument, "operands have different dtypes: ", dtype_name(x.dtype()),
             " and ", dtype_name(y.dtype()));
    if constexpr (!s.broadcasts)
      FG_CHECK(x.shape() == y.shape(), InvalidArgument, s.type, ": ", s.inputs[0], " and ", s.inputs[1],
               " must have the same shape, got ", x.shape(), " and ", y.shape());
    dispatch<s.types>(x.dtype(), s.type, [&]<typename T>() {
      using O = std::conditional_t<s.bool_output, bool, T>;
      if constexpr (requires { D::template check<T>(x, y); }) D::template check<T>(x, y);
      if constexpr (s.broadcasts) {
        const Broadcast p = make_broadcast(x.shape(), y.shape());
        Tensor out = ctx.forward_any_input_or_allocate({0, 1}, dtype_of<O>(), Shape(p.out_dims));
        const T* a = x.data<T>();
        const T* b = y.data<T>();
        O* o = out.data<O>();
        for_each_run(p, s.cost, [&]<int SA, int SB>(int64_t i, int64_t oa, int64_t ob, int64_t len) {
          assign_coefficients(o + i, f.template apply<T>(stretch<SA>(a, oa, len), stretch<SB>(b, ob, len)), len);
        });
        ctx.set_output(0, out);
      } else {  // Eigen's packet path over each block
        Tensor out = ctx.forward_any_input_or_allocate({0, 1}, dtype_of<O>(), x.shape());
        auto a = as_array<T>(x);
        auto b = as_array<T>(y);
        auto o = as_array<O>(out);
        for_each_block(x.num_elements(), s.cost, [&](int64_t i, int64_t len) {
          o.segment(i, len) = f.template apply<T>(a.segment(i, len), b.segment(i, len));
        });
        ctx.set_output(0, out);
      }
    });
  }
}

// ---- builders

template <class D>
OpBuilder op_builder(std::initializer_list<Output> inputs, const std::string& name) {
  FG_CHECK(static_cast<int>(inputs.size()) == D::spec.arity(), Internal, D::spec.type, ": ", inputs.size(),
           " inputs");
  for (const Output& x : inputs) FG_CHECK(x, InvalidArgument, D::spec.type, ": input is a none tensor");
  OpBuilder b(*inputs.begin(), D::spec.type, name);
  for (const Output& x : inputs) b.input(x);
  return b;
}
template <class D>
Output build(const Output& x, const std::string& name = "") {
  return op_builder<D>({x}, name).build_output();
}
template <class D>
Output build(const Output& x, const Output& y, const std::string& name = "") {
  return op_builder<D>({x, y}, name).build_output();
}

// ---- registration

void broadcast_shape_fn(InferenceContext& c);  // NumPy broadcasting of inputs 0 and 1
void same_shape_pair(InferenceContext& c);     // inputs 0 and 1 merged

template <class D>
void register_elementwise(OpRegistry& r) {
  constexpr Spec s = D::spec;
  for (const char* type : {s.type, s.alias}) {
    if (!type) continue;
    OpDef& d = r.add(type);
    for (int i = 0; i < s.arity(); ++i) d.input(s.inputs[i], "T");
    if (s.bool_output) d.output(s.output, DType::kBool);
    else d.output(s.output, "T");
    d.type_attr("T", dtypes_of(s.types));
    if constexpr (requires(OpDef& o) { D::declare(o); }) D::declare(d);
    d.shape(s.arity() == 1 ? unchanged_shape : s.broadcasts ? broadcast_shape_fn : same_shape_pair);
    d.kernel_fn(elementwise_kernel<D>);
    if constexpr (requires(GradContext& c) { D::gradient(c); }) {
      d.gradient(D::gradient);
    } else {
      static_assert(s.not_differentiable, "a description without a gradient says why");
      d.not_differentiable(s.not_differentiable);
    }
    Spec named = s;
    named.type = type;
    record_spec(named);
  }
}

template <class... Ds>
void register_elementwise_ops(OpRegistry& r) {
  (register_elementwise<Ds>(r), ...);
}

}  // namespace fg
