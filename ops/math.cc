#include "ops/math.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <tuple>
#include <type_traits>

#include "core/allocator.h"
#include "core/eigen.h"
#include "core/gemm.h"
#include "core/parallel.h"
#include "core/small_vector.h"
#include "graph/op_registry.h"
#include "ops/array.h"

namespace fg {

namespace {

const std::vector<DType> kSignedTypes = {DType::kFloat, DType::kDouble, DType::kInt32, DType::kInt64};
const std::vector<DType> kIndexTypes = {DType::kInt32, DType::kInt64};

Graph& graph_of(const Output& x, const char* op_type) {
  FG_CHECK(x, InvalidArgument, op_type, ": input is a none tensor");
  return *x.graph();
}

Output unary(const char* type, const Output& x, const std::string& name) {
  graph_of(x, type);
  return OpBuilder(x, type, name).input(x).build_output();
}

Output binary(const char* type, const Output& x, const Output& y, const std::string& name) {
  graph_of(x, type);
  graph_of(y, type);
  return OpBuilder(x, type, name).input(x).input(y).build_output();
}

// int32 when every value fits, int64 otherwise (as TF converts a list), never narrowed.
Output index_vector(Graph& g, const std::vector<int64_t>& values, const std::string& name) {
  const bool fits = std::all_of(values.begin(), values.end(), [](int64_t v) {
    return v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max();
  });
  if (!fits) return constant(g, Tensor::from_vector(values), name);
  return constant(g, Tensor::from_vector(std::vector<int32_t>(values.begin(), values.end())), name);
}

// Reductions with constant axes: TF1 creates the axes as "<op>/reduction_indices".
Output reduction(const char* type, const Output& x, const std::vector<int64_t>& axes, bool keep_dims,
                 const std::string& name) {
  Graph& g = graph_of(x, type);
  if (axes.empty()) {
    if (!x.shape().known_rank()) {
      // Which axes exist is only known at run time: reduce the flattened tensor instead.
      Output r = reduction(type, reshape(x, std::vector<int64_t>{-1}), {0}, false, keep_dims ? "" : name);
      return keep_dims ? reshape(r, ones_like(shape(x)), name) : r;
    }
    std::vector<int64_t> all(x.shape().rank());
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
    // TF1 builds the all-axes constant in the caller's scope, before the op's own scope.
    Output c = index_vector(g, all, "Const");
    return OpBuilder(x, type, name).input(x).input(c).attr("keep_dims", keep_dims).build_output();
  }
  const std::string full = g.composite_name(name.empty() ? type : name);
  Output idx;
  {
    auto scope = g.name_scope(full + "/");
    idx = index_vector(g, axes, "reduction_indices");
  }
  return OpBuilder(x, type, full + "/").input(x).input(idx).attr("keep_dims", keep_dims).build_output();
}

Output arg_reduction(const char* type, const Output& x, int64_t axis, DType output_type, const std::string& name) {
  Graph& g = graph_of(x, type);
  const std::string full = g.composite_name(name.empty() ? type : name);
  Output dim;
  {
    auto scope = g.name_scope(full + "/");
    const bool fits = axis >= std::numeric_limits<int32_t>::min() && axis <= std::numeric_limits<int32_t>::max();
    dim = constant(g, fits ? Tensor(static_cast<int32_t>(axis)) : Tensor(axis), "dimension");
  }
  return OpBuilder(x, type, full + "/").input(x).input(dim).attr("output_type", output_type).build_output();
}

}  // namespace

// ---- builders

Output add(const Output& x, const Output& y, const std::string& name) { return binary("AddV2", x, y, name.empty() ? "Add" : name); }
Output subtract(const Output& x, const Output& y, const std::string& name) { return binary("Sub", x, y, name); }
Output multiply(const Output& x, const Output& y, const std::string& name) { return binary("Mul", x, y, name); }
// tf.divide is Python's `/`, which TF1 names "truediv".
Output divide(const Output& x, const Output& y, const std::string& name) {
  return binary("RealDiv", x, y, name.empty() ? "truediv" : name);
}
Output negative(const Output& x, const std::string& name) { return unary("Neg", x, name); }
Output abs(const Output& x, const std::string& name) { return unary("Abs", x, name); }
Output square(const Output& x, const std::string& name) { return unary("Square", x, name); }
Output sqrt(const Output& x, const std::string& name) { return unary("Sqrt", x, name); }
Output rsqrt(const Output& x, const std::string& name) { return unary("Rsqrt", x, name); }
Output exp(const Output& x, const std::string& name) { return unary("Exp", x, name); }
Output log(const Output& x, const std::string& name) { return unary("Log", x, name); }
Output reciprocal(const Output& x, const std::string& name) { return unary("Reciprocal", x, name); }
Output sign(const Output& x, const std::string& name) { return unary("Sign", x, name); }
Output floor(const Output& x, const std::string& name) { return unary("Floor", x, name); }
Output ceil(const Output& x, const std::string& name) { return unary("Ceil", x, name); }
Output maximum(const Output& x, const Output& y, const std::string& name) { return binary("Maximum", x, y, name); }
Output minimum(const Output& x, const Output& y, const std::string& name) { return binary("Minimum", x, y, name); }
Output pow(const Output& x, const Output& y, const std::string& name) { return binary("Pow", x, y, name); }
Output equal(const Output& x, const Output& y, const std::string& name) { return binary("Equal", x, y, name); }
Output less(const Output& x, const Output& y, const std::string& name) { return binary("Less", x, y, name); }
Output greater(const Output& x, const Output& y, const std::string& name) { return binary("Greater", x, y, name); }
Output less_equal(const Output& x, const Output& y, const std::string& name) { return binary("LessEqual", x, y, name); }
Output greater_equal(const Output& x, const Output& y, const std::string& name) {
  return binary("GreaterEqual", x, y, name);
}

Output select(const Output& condition, const Output& x, const Output& y, const std::string& name) {
  graph_of(condition, "Select");
  return OpBuilder(condition, "Select", name).input(condition).input(x).input(y).build_output();
}

Output add_n(const std::vector<Output>& xs, const std::string& name) {
  FG_CHECK(!xs.empty(), InvalidArgument, "AddN: needs at least one input");
  graph_of(xs[0], "AddN");
  return OpBuilder(xs[0], "AddN", name).input_list(xs).build_output();
}

Output matmul(const Output& a, const Output& b, const MatMulOptions& options) {
  graph_of(a, "MatMul");
  return OpBuilder(a, "MatMul", options.name)
      .input(a).input(b).attr("transpose_a", options.transpose_a).attr("transpose_b", options.transpose_b)
      .build_output();
}

Output reduce_sum(const Output& x, const std::vector<int64_t>& axes, bool keep_dims, const std::string& name) {
  return reduction("Sum", x, axes, keep_dims, name);
}
Output reduce_mean(const Output& x, const std::vector<int64_t>& axes, bool keep_dims, const std::string& name) {
  return reduction("Mean", x, axes, keep_dims, name);
}
Output reduce_max(const Output& x, const std::vector<int64_t>& axes, bool keep_dims, const std::string& name) {
  return reduction("Max", x, axes, keep_dims, name);
}
Output reduce_min(const Output& x, const std::vector<int64_t>& axes, bool keep_dims, const std::string& name) {
  return reduction("Min", x, axes, keep_dims, name);
}
Output reduce_prod(const Output& x, const std::vector<int64_t>& axes, bool keep_dims, const std::string& name) {
  return reduction("Prod", x, axes, keep_dims, name);
}

Output sum(const Output& x, const Output& axes, bool keep_dims, const std::string& name) {
  graph_of(x, "Sum");
  return OpBuilder(x, "Sum", name).input(x).input(axes).attr("keep_dims", keep_dims).build_output();
}

Output argmax(const Output& x, int64_t axis, DType output_type, const std::string& name) {
  return arg_reduction("ArgMax", x, axis, output_type, name);
}
Output argmin(const Output& x, int64_t axis, DType output_type, const std::string& name) {
  return arg_reduction("ArgMin", x, axis, output_type, name);
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

// Python's operators: TF1 names their nodes "add", "sub", "mul", "truediv".
Output operator+(const Output& x, const Output& y) { return binary("AddV2", x, y, "add"); }
Output operator-(const Output& x, const Output& y) { return binary("Sub", x, y, "sub"); }
Output operator*(const Output& x, const Output& y) { return binary("Mul", x, y, "mul"); }
Output operator/(const Output& x, const Output& y) { return binary("RealDiv", x, y, "truediv"); }
Output operator-(const Output& x) { return negative(x); }

Output scalar_like(const Output& like, double v) {
  return scalar_constant(graph_of(like, "scalar_like"), v, like.dtype());
}

// ---- broadcasting gradients

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

// Gradients of a broadcasting binary op reduced to the shapes of x and y. Both share one
// BroadcastGradientArgs when static shapes do not decide, as TF's gradient functions do.
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

}  // namespace

Output sum_to_shape_of(const Output& grad, const Output& x, const Output& other) {
  if (const auto plan = plan_static_reduction(x.shape(), other.shape())) return apply_static_reduction(grad, x, *plan);
  const Output sx = shape(x);
  return reshape(sum(grad, broadcast_gradient_args(sx, shape(other)).first), sx);
}

MatMulDims matmul_dims(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  FG_CHECK(a.rank() == 2 && b.rank() == 2, InvalidArgument, "In[0] and In[1] must be matrices, got ", a.shape(),
           " and ", b.shape());
  const int64_t m = a.dim(ta ? 1 : 0), k = a.dim(ta ? 0 : 1), k2 = b.dim(tb ? 1 : 0), n = b.dim(tb ? 0 : 1);
  FG_CHECK(k == k2, InvalidArgument, "Matrix size-incompatible: In[0]: ", a.shape(), ", In[1]: ", b.shape(),
           " (transpose_a=", ta, ", transpose_b=", tb, ")");
  return {m, k, n};
}

bool is_float_matmul(const Operation& consumer, const Operation& producer) {
  return is_floating(producer.output_dtype(0)) && consumer.output_dtype(0) == producer.output_dtype(0);
}

namespace {

// ---- type dispatch over the sets the op families accept

enum class TypeSet { kFloat, kSigned, kNumeric, kAll };

template <TypeSet S, typename Fn>
void dispatch_set(DType t, const std::string& who, Fn&& fn) {
  if constexpr (S == TypeSet::kFloat) {
    dispatch_float(t, who.c_str(), fn);
  } else if constexpr (S == TypeSet::kSigned) {
    switch (t) {
      case DType::kInt32: fn.template operator()<int32_t>(); return;
      case DType::kInt64: fn.template operator()<int64_t>(); return;
      case DType::kFloat: fn.template operator()<float>(); return;
      case DType::kDouble: fn.template operator()<double>(); return;
      default: throw_bad_dtype(who.c_str(), t, "float32, float64, int32 or int64");
    }
  } else if constexpr (S == TypeSet::kNumeric) {
    dispatch_numeric(t, who.c_str(), fn);
  } else {
    dispatch_all(t, who.c_str(), fn);
  }
}

// ---- the broadcasting engine shared by every binary element-wise kernel

// Output dims with runs of dims that broadcast the same way merged, and each operand's strides
// over them (0 where it is broadcast). [N,C]+[C] becomes dims {N,C}, strides a {C,1}, b {0,1}.
struct Broadcast {
  SmallVector<int64_t, Shape::kInline> out_dims;  // the full output shape
  SmallVector<int64_t, Shape::kInline> dims, sa, sb;
  int64_t n = 0;
};

Broadcast make_broadcast(const Shape& a, const Shape& b) {
  const int r = std::max(a.rank(), b.rank());
  Broadcast p;
  p.out_dims.resize(r);
  SmallVector<int, Shape::kInline> pattern;  // bit 0: a broadcast, bit 1: b broadcast
  for (int i = 0; i < r; ++i) {
    const int ia = i - (r - a.rank()), ib = i - (r - b.rank());
    const int64_t da = ia >= 0 ? a.dim(ia) : 1, db = ib >= 0 ? b.dim(ib) : 1;
    int64_t d;
    if (da == db || db == 1) d = da;
    else if (da == 1) d = db;
    else throw InvalidArgument(str_cat("Incompatible shapes: ", a, " vs. ", b));
    p.out_dims[i] = d;
    if (d == 1) continue;  // size-1 output dims do not move any index
    const int pat = (da != d ? 1 : 0) | (db != d ? 2 : 0);
    if (!pattern.empty() && pattern.back() == pat) {
      p.dims.back() *= d;
    } else {
      p.dims.push_back(d);
      pattern.push_back(pat);
    }
  }
  p.n = 1;
  for (int64_t d : p.out_dims) p.n *= d;
  const size_t nd = p.dims.size();
  p.sa.resize(nd);
  p.sb.resize(nd);
  int64_t ka = 1, kb = 1;
  for (size_t j = nd; j-- > 0;) {
    p.sa[j] = (pattern[j] & 1) ? 0 : ka;
    p.sb[j] = (pattern[j] & 2) ? 0 : kb;
    if (!(pattern[j] & 1)) ka *= p.dims[j];
    if (!(pattern[j] & 2)) kb *= p.dims[j];
  }
  return p;
}

// out[i] = f(a[...], b[...]) over the output in parallel. The innermost merged dim runs as a
// tight loop whose strides (0 or 1) are template constants, so the same-shape, scalar and
// row-vector cases all vectorize; outer dims only cost an index decomposition per row.
template <typename A, typename B, typename O, typename F>
void broadcast_apply(const Broadcast& p, const A* a, const B* b, O* out, F f, int64_t cost) {
  if (p.n == 0) return;
  const int nd = static_cast<int>(p.dims.size());
  if (nd == 0) {
    out[0] = f(a[0], b[0]);
    return;
  }
  const int64_t inner = p.dims.back();
  auto run = [&]<int SA, int SB>() {
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
        const A* pa = a + oa;
        const B* pb = b + ob;
        O* po = out + i;
        for (int64_t k = 0; k < len; ++k) po[k] = f(pa[SA ? k : 0], pb[SB ? k : 0]);
        i += len;
      }
    });
  };
  const bool ia = p.sa.back() != 0, ib = p.sb.back() != 0;
  if (ia && ib) run.template operator()<1, 1>();
  else if (ia) run.template operator()<1, 0>();
  else if (ib) run.template operator()<0, 1>();
  else run.template operator()<0, 0>();
}

// An input's buffer for the output when it holds the whole output (so it is never broadcast and
// its layout is the output's) and nothing else reads it.
Tensor forward_any_or_allocate(KernelContext& ctx, std::initializer_list<int> candidates, DType dtype,
                               const Shape& shape) {
  const int64_t n = shape.num_elements();
  for (int i : candidates) {
    const Tensor& in = ctx.input(i);
    if (in.dtype() == dtype && in.num_elements() == n && in.unique()) return ctx.forward_input_or_allocate(i, dtype, shape);
  }
  return Tensor::empty(dtype, shape);
}

// ---- binary element-wise functors: apply(a, b), the accepted types, and a relative cost.

template <typename T>
T int_pow(T base, T exp) {
  // Unsigned arithmetic wraps like TF's kernels instead of overflowing into UB.
  using U = std::make_unsigned_t<T>;
  U r = 1, b = static_cast<U>(base);
  while (exp > 0) {
    if (exp & 1) r *= b;
    b *= b;
    exp >>= 1;
  }
  return static_cast<T>(r);
}

#define FG_BINARY_FUNCTOR(Name, Types, Cost, expr)              \
  struct Name {                                                 \
    static constexpr TypeSet kTypes = TypeSet::Types;           \
    static constexpr int64_t kCost = Cost;                      \
    template <typename T>                                       \
    static auto apply(T a, T b) { return expr; }                \
  };
FG_BINARY_FUNCTOR(AddF, kNumeric, 1, static_cast<T>(a + b))
FG_BINARY_FUNCTOR(SubF, kNumeric, 1, static_cast<T>(a - b))
FG_BINARY_FUNCTOR(MulF, kNumeric, 1, static_cast<T>(a * b))
FG_BINARY_FUNCTOR(DivF, kFloat, 4, a / b)
FG_BINARY_FUNCTOR(MaxF, kNumeric, 1, a < b ? b : a)
FG_BINARY_FUNCTOR(MinF, kNumeric, 1, b < a ? b : a)
FG_BINARY_FUNCTOR(EqualF, kAll, 1, a == b)
FG_BINARY_FUNCTOR(LessF, kNumeric, 1, a < b)
FG_BINARY_FUNCTOR(GreaterF, kNumeric, 1, a > b)
FG_BINARY_FUNCTOR(LessEqualF, kNumeric, 1, a <= b)
FG_BINARY_FUNCTOR(GreaterEqualF, kNumeric, 1, a >= b)
#undef FG_BINARY_FUNCTOR

struct PowF {
  static constexpr TypeSet kTypes = TypeSet::kSigned;
  static constexpr int64_t kCost = 20;
  template <typename T>
  static T apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) return int_pow(a, b);
    else return std::pow(a, b);
  }
  // Checked before the parallel loop: kernels must not throw from inside it.
  template <typename T>
  static void check(const Tensor&, const Tensor& y) {
    if constexpr (std::is_integral_v<T>) {
      for (T e : y.flat<T>())
        FG_CHECK(e >= 0, InvalidArgument, "Integers to negative integer powers are not allowed");
    }
  }
};

template <class F>
void binary_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& y = ctx.input(1);
  FG_CHECK(x.dtype() == y.dtype(), InvalidArgument, "operands have different dtypes: ", dtype_name(x.dtype()),
           " and ", dtype_name(y.dtype()));
  dispatch_set<F::kTypes>(x.dtype(), ctx.op_name(), [&]<typename T>() {
    using O = decltype(F::template apply<T>(T(), T()));
    if constexpr (requires { F::template check<T>(x, y); }) F::template check<T>(x, y);
    const Broadcast p = make_broadcast(x.shape(), y.shape());
    Tensor out = forward_any_or_allocate(ctx, {0, 1}, dtype_of<O>(), Shape(p.out_dims));
    broadcast_apply(p, x.data<T>(), y.data<T>(), out.data<O>(), [](T a, T b) { return F::template apply<T>(a, b); },
                    F::kCost);
    ctx.set_output(0, out);
  });
}

void broadcast_shape_fn(InferenceContext& c) {
  c.set_output(0, broadcast_shapes(c.input_shape(0), c.input_shape(1), str_cat(c.op().type(), " '", c.op().name(), "'")));
}

// ---- unary element-wise: one kernel over Eigen array expressions (vectorized exp/log/sqrt)

#define FG_UNARY_FUNCTOR(Name, Types, Cost, expr)               \
  struct Name {                                                 \
    static constexpr TypeSet kTypes = TypeSet::Types;           \
    static constexpr int64_t kCost = Cost;                      \
    template <typename X>                                       \
    static auto apply(const X& x) { return expr; }              \
  };
FG_UNARY_FUNCTOR(NegF, kSigned, 1, -x)
FG_UNARY_FUNCTOR(AbsF, kSigned, 1, x.abs())
FG_UNARY_FUNCTOR(SignF, kSigned, 1, x.sign())
FG_UNARY_FUNCTOR(SquareF, kSigned, 1, x.square())
FG_UNARY_FUNCTOR(SqrtF, kFloat, 4, x.sqrt())
FG_UNARY_FUNCTOR(RsqrtF, kFloat, 6, x.rsqrt())
FG_UNARY_FUNCTOR(ExpF, kFloat, 10, x.exp())
FG_UNARY_FUNCTOR(LogF, kFloat, 10, x.log())
FG_UNARY_FUNCTOR(ReciprocalF, kFloat, 4, x.inverse())
FG_UNARY_FUNCTOR(FloorF, kFloat, 1, x.floor())
FG_UNARY_FUNCTOR(CeilF, kFloat, 1, x.ceil())
#undef FG_UNARY_FUNCTOR

template <class F>
void unary_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  dispatch_set<F::kTypes>(x.dtype(), ctx.op_name(), [&]<typename T>() {
    Tensor y = ctx.forward_input_or_allocate(0, x.dtype(), x.shape());
    auto in = as_array<T>(x);
    auto out = as_array<T>(y);
    parallel_for(x.num_elements(), F::kCost, [&](int64_t b, int64_t e) {
      out.segment(b, e - b) = F::apply(in.segment(b, e - b));
    });
    ctx.set_output(0, y);
  });
}

// ---- Select (TF1: condition same shape as t, a vector over t's first dim, or a scalar)

void select_shape(InferenceContext& c) {
  const std::string who = str_cat("Select '", c.op().name(), "'");
  const Shape out = c.input_shape(1).merge_with(c.input_shape(2), who);
  const Shape& cond = c.input_shape(0);
  if (cond.known_rank() && out.known_rank() && cond.rank() != 0 && !cond.compatible_with(out)) {
    const bool row = cond.rank() == 1 && out.rank() >= 1 &&
                     (cond.dim(0) < 0 || out.dim(0) < 0 || cond.dim(0) == out.dim(0));
    if (!row)
      c.fail(str_cat("condition must be a scalar, a vector matching the first dimension of t, or of t's shape; got ",
                     cond, " for t of shape ", out));
  }
  c.set_output(0, out);
}

void select_kernel(KernelContext& ctx) {
  const Tensor& cond = ctx.input(0);
  const Tensor& t = ctx.input(1);
  const Tensor& e = ctx.input(2);
  FG_CHECK(t.shape() == e.shape(), InvalidArgument, "'then' and 'else' must have the same size.  but received: ",
           t.shape(), " vs. ", e.shape());
  if (cond.rank() == 0) {
    ctx.set_output(0, *cond.data<bool>() ? t : e);
    return;
  }
  const bool same = cond.shape() == t.shape();
  FG_CHECK(same || (cond.rank() == 1 && t.rank() >= 1 && cond.dim(0) == t.dim(0)), InvalidArgument,
           "condition must be a scalar, a vector matching the first dimension of 'then', or of its shape; got ",
           cond.shape(), " for 'then' of shape ", t.shape());
  dispatch_all(t.dtype(), ctx.op_name().c_str(), [&]<typename T>() {
    Tensor out = forward_any_or_allocate(ctx, {1, 2}, t.dtype(), t.shape());
    const bool* c = cond.data<bool>();
    const T* pt = t.data<T>();
    const T* pe = e.data<T>();
    T* po = out.data<T>();
    if (same) {
      parallel_for(t.num_elements(), 1, [&](int64_t b, int64_t end) {
        for (int64_t i = b; i < end; ++i) po[i] = c[i] ? pt[i] : pe[i];
      });
    } else {
      const int64_t rows = t.dim(0), width = rows == 0 ? 0 : t.num_elements() / rows;
      parallel_for(rows, width, [&](int64_t b, int64_t end) {
        for (int64_t r = b; r < end; ++r) {
          const T* src = (c[r] ? pt : pe) + r * width;
          if (src != po + r * width) std::copy(src, src + width, po + r * width);
        }
      });
    }
    ctx.set_output(0, out);
  });
}

// ---- AddN

void addn_shape(InferenceContext& c) {
  Shape s = c.input_shape(0);
  for (int i = 1; i < c.num_inputs(); ++i) s = s.merge_with(c.input_shape(i), str_cat("AddN '", c.op().name(), "'"));
  c.set_output(0, s);
}

void addn_kernel(KernelContext& ctx) {
  const int n = ctx.num_inputs();
  const Tensor& x0 = ctx.input(0);
  for (int i = 1; i < n; ++i)
    FG_CHECK(ctx.input(i).shape() == x0.shape(), InvalidArgument, "AddN: inputs must have the same shape, got ",
             x0.shape(), " and ", ctx.input(i).shape(), " (input ", i, ")");
  if (n == 1) {
    ctx.set_output(0, x0);
    return;
  }
  int first = 0;  // the input the sum starts from: the one whose buffer we write into, if any
  for (int i = 0; i < n; ++i)
    if (ctx.input(i).unique()) {
      first = i;
      break;
    }
  dispatch_numeric(x0.dtype(), ctx.op_name().c_str(), [&]<typename T>() {
    Tensor out = ctx.forward_input_or_allocate(first, x0.dtype(), x0.shape());
    // Data pointers kept inline: a step summing a few gradients allocates nothing on the heap.
    SmallVector<T*, 8> in;
    for (int i = 0; i < n; ++i) in.push_back(ctx.input(i).template data<T>());
    auto o = as_array<T>(out);
    parallel_for(x0.num_elements(), n, [&](int64_t b, int64_t e) {
      auto seg = o.segment(b, e - b);
      seg = ArrayMap<T>(in[first], x0.num_elements()).segment(b, e - b);
      for (int i = 0; i < n; ++i)
        if (i != first) seg += ArrayMap<T>(in[i], x0.num_elements()).segment(b, e - b);
    });
    ctx.set_output(0, out);
  });
}

// ---- MatMul

void matmul_shape(InferenceContext& c) {
  Shape s[2] = {c.input_shape(0), c.input_shape(1)};
  for (int i = 0; i < 2; ++i) {
    if (!s[i].known_rank()) s[i] = Shape{-1, -1};
    if (s[i].rank() != 2)
      c.fail(str_cat("Shape must be rank 2 but is rank ", s[i].rank(), " for input ", i, " with shape ", s[i]));
  }
  const bool ta = c.attr<bool>("transpose_a"), tb = c.attr<bool>("transpose_b");
  const int64_t m = s[0].dim(ta ? 1 : 0), k1 = s[0].dim(ta ? 0 : 1);
  const int64_t k2 = s[1].dim(tb ? 1 : 0), n = s[1].dim(tb ? 0 : 1);
  if (k1 >= 0 && k2 >= 0 && k1 != k2)
    c.fail(str_cat("Dimensions must be equal, but are ", k1, " and ", k2, " for inputs with shapes ", c.input_shape(0),
                   " and ", c.input_shape(1), " (transpose_a=", ta, ", transpose_b=", tb, ")"));
  c.set_output(0, Shape{m, n});
}

void matmul_kernel(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const bool ta = ctx.attr<bool>("transpose_a"), tb = ctx.attr<bool>("transpose_b");
  const auto [m, k, n] = matmul_dims(a, b, ta, tb);
  Tensor out = Tensor::empty(a.dtype(), {m, n});
  dispatch_set<TypeSet::kSigned>(a.dtype(), ctx.op_name(), [&]<typename T>() {
    gemm<T>(ta, tb, m, n, k, T(1), a.data<T>(), a.dim(1), b.data<T>(), b.dim(1), T(0), out.data<T>(), n);
  });
  ctx.set_output(0, out);
}

// ---- reductions

// Which dims `axes` (a scalar or vector, negative counting from the end, repeats allowed) reduces.
using ReductionMask = SmallVector<char, Shape::kInline>;  // 1 where the dim is reduced

ReductionMask reduction_mask(const Tensor& axes, int rank, std::string_view who) {
  ReductionMask mask(rank, 0);
  for (int64_t a : int_values(axes, "reduction_indices")) {
    FG_CHECK(a >= -rank && a < rank, InvalidArgument, who, "Invalid reduction dimension (", a, " for input with ",
             rank, " dimension(s)");
    mask[a < 0 ? a + rank : a] = 1;
  }
  return mask;
}

void reduction_shape(InferenceContext& c) {
  const Shape& in = c.input_shape(0);
  const bool keep = c.attr<bool>("keep_dims");
  const Tensor* axes = c.input_constant(1);
  if (!in.known_rank()) return c.set_output(0, Shape::unknown());
  if (!axes) {
    // Unknown axes: with keep_dims the rank survives; without it even the rank is unknown.
    return c.set_output(0, keep ? Shape(std::vector<int64_t>(in.rank(), -1)) : Shape::unknown());
  }
  const ReductionMask mask = reduction_mask(*axes, in.rank(), str_cat(c.op().type(), " '", c.op().name(), "': "));
  std::vector<int64_t> dims;
  for (int i = 0; i < in.rank(); ++i) {
    if (!mask[i]) dims.push_back(in.dim(i));
    else if (keep) dims.push_back(1);
  }
  c.set_output(0, Shape(dims));
}

template <typename T>
constexpr T lowest() {
  if constexpr (std::numeric_limits<T>::has_infinity) return -std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::lowest();
}
template <typename T>
constexpr T highest() {
  if constexpr (std::numeric_limits<T>::has_infinity) return std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::max();
}

// A reducer: identity, pairwise combine, reduce of a contiguous segment (Eigen, vectorized) and
// element-wise accumulation of a row into an accumulator row.
struct SumReducer {
  static constexpr TypeSet kTypes = TypeSet::kNumeric;
  static constexpr bool kMean = false;
  template <typename T> static T identity() { return T(0); }
  template <typename T> static T combine(T a, T b) { return static_cast<T>(a + b); }
  template <typename S> static auto reduce(const S& s) { return s.sum(); }
  template <typename A, typename S> static void accumulate(A& acc, const S& s) { acc += s; }
};
struct MeanReducer : SumReducer {
  static constexpr bool kMean = true;
};
struct ProdReducer {
  static constexpr TypeSet kTypes = TypeSet::kNumeric;
  static constexpr bool kMean = false;
  template <typename T> static T identity() { return T(1); }
  template <typename T> static T combine(T a, T b) { return static_cast<T>(a * b); }
  template <typename S> static auto reduce(const S& s) { return s.prod(); }
  template <typename A, typename S> static void accumulate(A& acc, const S& s) { acc *= s; }
};
struct MaxReducer {
  static constexpr TypeSet kTypes = TypeSet::kNumeric;
  static constexpr bool kMean = false;
  template <typename T> static T identity() { return lowest<T>(); }
  template <typename T> static T combine(T a, T b) { return a < b ? b : a; }
  template <typename S> static auto reduce(const S& s) { return s.maxCoeff(); }
  template <typename A, typename S> static void accumulate(A& acc, const S& s) { acc = acc.max(s); }
};
struct MinReducer {
  static constexpr TypeSet kTypes = TypeSet::kNumeric;
  static constexpr bool kMean = false;
  template <typename T> static T identity() { return highest<T>(); }
  template <typename T> static T combine(T a, T b) { return b < a ? b : a; }
  template <typename S> static auto reduce(const S& s) { return s.minCoeff(); }
  template <typename A, typename S> static void accumulate(A& acc, const S& s) { acc = acc.min(s); }
};

// Reduces `in` viewed as [K, R, I] over R into `out` ([K, I]); R >= 1.
template <typename T, class Red>
void reduce_kri(const Tensor& in, const Tensor& out, int64_t K, int64_t R, int64_t I) {
  auto src = as_array<T>(in);
  auto dst = as_array<T>(out);
  if (I == 1 && K == 1) {
    // Everything: partial results per chunk of at least 16 K elements, combined in a fixed order;
    // how many chunks depends on R alone, so the result does not depend on the thread count.
    const int64_t chunks = std::clamp<int64_t>(R / 16384, 1, 8);
    ScratchArray<T> partial(chunks);
    parallel_for(chunks, R / chunks, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        const int64_t lo = R * c / chunks, hi = R * (c + 1) / chunks;
        partial[c] = Red::reduce(src.segment(lo, hi - lo));
      }
    });
    T r = partial[0];
    for (int64_t c = 1; c < chunks; ++c) r = Red::template combine<T>(r, partial[c]);
    dst[0] = r;
    return;
  }
  if (I == 1) {  // the last axis: each output is one contiguous segment
    parallel_for(K, R, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) dst[k] = Red::reduce(src.segment(k * R, R));
    });
    return;
  }
  // Column blocks: each task owns a block of output columns and streams the R input rows through
  // it, so reads are sequential and the accumulator stays in cache (the bias-gradient case).
  const int64_t wanted = 4 * static_cast<int64_t>(num_threads());
  int64_t blocks = std::clamp<int64_t>((wanted + K - 1) / K, 1, std::max<int64_t>(1, I / 64));
  const int64_t width = (I + blocks - 1) / blocks;
  blocks = (I + width - 1) / width;
  parallel_for(K * blocks, R * width, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t k = t / blocks, c0 = (t % blocks) * width, len = std::min(width, I - c0);
      auto acc = dst.segment(k * I + c0, len);
      const int64_t base = k * R * I + c0;
      acc = src.segment(base, len);
      for (int64_t r = 1; r < R; ++r) Red::accumulate(acc, src.segment(base + r * I, len));
    }
  });
}

template <class Red>
void reduction_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const ReductionMask mask = reduction_mask(ctx.input(1), x.rank(), "");
  const bool keep = ctx.attr<bool>("keep_dims");
  SmallVector<int64_t, Shape::kInline> out_dims;
  // Dims merged into runs of reduced / kept dims; size-1 dims change nothing and are dropped.
  struct Run {
    int64_t size;
    bool reduced;
  };
  SmallVector<Run, Shape::kInline> groups;
  int64_t count = 1;
  for (int i = 0; i < x.rank(); ++i) {
    const int64_t d = x.dim(i);
    if (!mask[i]) out_dims.push_back(d);
    else if (keep) out_dims.push_back(1);
    if (mask[i]) count *= d;
    if (d == 1) continue;
    if (!groups.empty() && groups.back().reduced == (mask[i] != 0)) groups.back().size *= d;
    else groups.push_back({d, mask[i] != 0});
  }
  const Shape out_shape(out_dims);
  const bool reduces = std::any_of(groups.begin(), groups.end(), [](const Run& g) { return g.reduced; });
  if (!reduces) {  // only size-1 dims (or none) reduced: same elements, new shape
    ctx.set_output(0, x.reshaped(out_shape));
    return;
  }
  dispatch_set<Red::kTypes>(x.dtype(), ctx.op_name(), [&]<typename T>() {
    Tensor out = Tensor::empty(x.dtype(), out_shape);
    if (x.num_elements() == 0) {
      T fill = Red::template identity<T>();
      if constexpr (Red::kMean && std::is_floating_point_v<T>) fill = std::numeric_limits<T>::quiet_NaN();
      std::fill(out.data<T>(), out.data<T>() + out.num_elements(), fill);
      ctx.set_output(0, out);
      return;
    }
    // Reduced runs that are not adjacent are reduced one run per pass, innermost first, each a
    // [outer, reduced, inner] reduction of the previous pass's result.
    Tensor cur = x;
    while (true) {
      int j = static_cast<int>(groups.size()) - 1;
      while (j >= 0 && !groups[j].reduced) --j;
      if (j < 0) break;
      int64_t K = 1, I = 1;
      for (int i = 0; i < j; ++i) K *= groups[i].size;
      for (size_t i = j + 1; i < groups.size(); ++i) I *= groups[i].size;
      const int64_t R = groups[j].size;
      groups.erase(groups.begin() + j);
      if (j > 0 && j < static_cast<int>(groups.size()) && !groups[j - 1].reduced && !groups[j].reduced) {
        groups[j - 1].size *= groups[j].size;
        groups.erase(groups.begin() + j);
      }
      const bool last = std::none_of(groups.begin(), groups.end(), [](const Run& g) { return g.reduced; });
      Tensor next = last ? out : Tensor::empty(x.dtype(), Shape{K * I});
      reduce_kri<T, Red>(cur, next, K, R, I);
      cur = next;
    }
    if constexpr (Red::kMean) {
      if constexpr (std::is_integral_v<T>) {
        for (T& v : out.flat<T>()) v = static_cast<T>(static_cast<int64_t>(v) / count);
      } else {
        auto o = as_array<T>(out);
        o /= static_cast<T>(count);
      }
    }
    ctx.set_output(0, out);
  });
}

// ---- ArgMax / ArgMin

int64_t arg_axis(const Tensor& dimension, int rank, const std::string& who) {
  const auto v = int_values(dimension, "dimension");
  FG_CHECK(v.size() == 1, InvalidArgument, who, "dimension must be a scalar, got shape ", dimension.shape());
  FG_CHECK(v[0] >= -rank && v[0] < rank, InvalidArgument, who, "Expected dimension in the range [", -rank, ", ",
           rank, "), but got ", v[0]);
  return v[0] < 0 ? v[0] + rank : v[0];
}

void arg_shape(InferenceContext& c) {
  const Shape& in = c.input_shape(0);
  if (!in.known_rank()) return c.set_output(0, Shape::unknown());
  if (in.rank() == 0) c.fail("input must have rank >= 1");
  const Tensor* d = c.input_constant(1);
  if (!d) return c.set_output(0, Shape(std::vector<int64_t>(in.rank() - 1, -1)));
  const int64_t axis = arg_axis(*d, in.rank(), str_cat(c.op().type(), " '", c.op().name(), "': "));
  std::vector<int64_t> dims = in.dim_vector();
  dims.erase(dims.begin() + axis);
  c.set_output(0, Shape(dims));
}

template <bool kMax>
void arg_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  FG_CHECK(x.rank() >= 1, InvalidArgument, "input must have rank >= 1, got a scalar");
  const int64_t axis = arg_axis(ctx.input(1), x.rank(), "");
  FG_CHECK(x.dim(axis) > 0, InvalidArgument, "Reduction axis ", axis, " is empty in shape ", x.shape());
  std::vector<int64_t> dims = x.shape().dim_vector();
  dims.erase(dims.begin() + axis);
  const DType out_type = ctx.attr<DType>("output_type");
  Tensor out = Tensor::empty(out_type, Shape(dims));
  int64_t K = 1, I = 1;
  for (int i = 0; i < axis; ++i) K *= x.dim(i);
  for (int i = static_cast<int>(axis) + 1; i < x.rank(); ++i) I *= x.dim(i);
  const int64_t R = x.dim(axis);
  dispatch_numeric(x.dtype(), ctx.op_name().c_str(), [&]<typename T>() {
    const T* in = x.data<T>();
    auto run = [&]<typename O>(O* o) {
      parallel_for(K * I, R, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
          const int64_t k = t / I, i = t - k * I;
          const T* p = in + k * R * I + i;
          T best = p[0];
          int64_t at = 0;
          for (int64_t r = 1; r < R; ++r) {
            const T v = p[r * I];
            if (kMax ? v > best : v < best) {  // strict: the first of equal values wins, as in TF
              best = v;
              at = r;
            }
          }
          o[t] = static_cast<O>(at);
        }
      });
    };
    if (out_type == DType::kInt32) run(out.data<int32_t>());
    else run(out.data<int64_t>());
  });
  ctx.set_output(0, out);
}

// ---- BroadcastTo and BroadcastGradientArgs

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
  const auto dims = int_values(ctx.input(1), "shape");
  for (int64_t d : dims) FG_CHECK(d >= 0, InvalidArgument, "BroadcastTo: negative dimension in shape ", Shape(dims));
  const Shape target(dims);
  bool ok = x.rank() <= target.rank();
  for (int i = 0; ok && i < x.rank(); ++i) {
    const int64_t dx = x.dim(i), dt = target.dim(i + target.rank() - x.rank());
    ok = dx == 1 || dx == dt;
  }
  FG_CHECK(ok, InvalidArgument, "Unable to broadcast tensor of shape ", x.shape(), " to tensor of shape ", target);
  Broadcast p = make_broadcast(x.shape(), target);
  if (x.num_elements() == target.num_elements()) {  // nothing repeats
    ctx.set_output(0, x.reshaped(target));
    return;
  }
  // The second operand is only a shape: pin it to x's first element so it is never read past.
  std::fill(p.sb.begin(), p.sb.end(), 0);
  dispatch_all(x.dtype(), ctx.op_name().c_str(), [&]<typename T>() {
    Tensor out = Tensor::empty(x.dtype(), target);
    const T* px = x.data<T>();
    broadcast_apply(p, px, px, out.data<T>(), [](T a, T) { return a; }, 1);
    ctx.set_output(0, out);
  });
}

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

// ---- gradients

std::vector<Output> add_grad(GradContext& c) {
  auto [gx, gy] = reduce_binary_grads(c.grad(0), c.grad(0), c.input(0), c.input(1));
  return {gx, gy};
}

std::vector<Output> sub_grad(GradContext& c) {
  auto [gx, gy] = reduce_binary_grads(c.grad(0), c.grad(0), c.input(0), c.input(1));
  return {gx, negative(gy)};  // negating after the reduction touches fewer elements
}

std::vector<Output> mul_grad(GradContext& c) {
  const Output g = c.grad(0), x = c.input(0), y = c.input(1);
  auto [gx, gy] = reduce_binary_grads(multiply(g, y), multiply(x, g), x, y);
  return {gx, gy};
}

std::vector<Output> div_grad(GradContext& c) {
  const Output g = c.grad(0), x = c.input(0), y = c.input(1);
  auto [gx, gy] = reduce_binary_grads(divide(g, y), multiply(g, divide(divide(negative(x), y), y)), x, y);
  return {gx, gy};
}

// TF's rule: the gradient goes to x where the selector holds (x wins ties), to y elsewhere.
template <bool kMax>
std::vector<Output> min_max_grad(GradContext& c) {
  const Output g = c.grad(0), x = c.input(0), y = c.input(1);
  const Output xmask = kMax ? greater_equal(x, y) : less_equal(x, y);
  const Output zeros = zeros_like(g);
  auto [gx, gy] = reduce_binary_grads(select(xmask, g, zeros), select(xmask, zeros, g), x, y);
  return {gx, gy};
}

std::vector<Output> pow_grad(GradContext& c) {
  const Output g = c.grad(0), x = c.input(0), y = c.input(1), z = c.output(0);
  const Output dx = multiply(multiply(g, y), pow(x, subtract(y, scalar_like(y, 1))));
  // d/dy x^y = x^y log x, taken as 0 where x <= 0 (as TF does) instead of NaN.
  const Output log_x = select(greater(x, scalar_like(x, 0)), log(x), zeros_like(x));
  const Output dy = multiply(multiply(g, z), log_x);
  auto [gx, gy] = reduce_binary_grads(dx, dy, x, y);
  return {gx, gy};
}

std::vector<Output> select_grad(GradContext& c) {
  const Output cond = c.input(0), g = c.grad(0);
  const Output zeros = zeros_like(c.input(1));
  return {Output(), select(cond, g, zeros), select(cond, zeros, g)};
}

std::vector<Output> addn_grad(GradContext& c) { return std::vector<Output>(c.num_inputs(), c.grad(0)); }

std::vector<Output> neg_grad(GradContext& c) { return {negative(c.grad(0))}; }
std::vector<Output> abs_grad(GradContext& c) { return {multiply(c.grad(0), sign(c.input(0)))}; }
std::vector<Output> sign_grad(GradContext& c) { return {zeros_like(c.input(0))}; }
std::vector<Output> square_grad(GradContext& c) {
  const Output x = c.input(0);
  return {multiply(c.grad(0), multiply(x, scalar_like(x, 2)))};
}
std::vector<Output> sqrt_grad(GradContext& c) {  // 0.5 g / y
  const Output g = c.grad(0);
  return {divide(multiply(g, scalar_like(g, 0.5)), c.output(0))};
}
std::vector<Output> rsqrt_grad(GradContext& c) {  // -0.5 g y^3
  const Output g = c.grad(0), y = c.output(0);
  return {multiply(g, multiply(scalar_like(y, -0.5), multiply(square(y), y)))};
}
std::vector<Output> exp_grad(GradContext& c) { return {multiply(c.grad(0), c.output(0))}; }
std::vector<Output> log_grad(GradContext& c) { return {multiply(c.grad(0), reciprocal(c.input(0)))}; }
std::vector<Output> reciprocal_grad(GradContext& c) {  // -g y^2
  return {multiply(negative(c.grad(0)), square(c.output(0)))};
}

// TF's _MatMulGrad, case by case.
std::vector<Output> matmul_grad(GradContext& c) {
  const Output a = c.input(0), b = c.input(1), g = c.grad(0);
  const bool ta = c.op().attr<bool>("transpose_a"), tb = c.op().attr<bool>("transpose_b");
  if (!ta && !tb) return {matmul(g, b, {.transpose_b = true}), matmul(a, g, {.transpose_a = true})};
  if (!ta && tb) return {matmul(g, b), matmul(g, a, {.transpose_a = true})};
  if (ta && !tb) return {matmul(b, g, {.transpose_b = true}), matmul(a, g)};
  return {matmul(b, g, {.transpose_a = true, .transpose_b = true}),
          matmul(g, a, {.transpose_a = true, .transpose_b = true})};
}

// The reduction's axes (normalized) when they are a constant and the input's rank is known.
std::optional<ReductionMask> static_reduction_mask(const Operation& op) {
  const Shape& s = op.input(0).shape();
  const Operation* src = op.input(1).op();
  if (!s.known_rank() || src->type() != "Const") return std::nullopt;
  return reduction_mask(src->attr<Tensor>("value"), s.rank(), op.name() + ": ");
}

// `v`, shaped like the reduction's output, reshaped to the input's rank (1 at reduced axes).
Output to_kept_dims(const Output& v, const Operation& op) {
  if (op.attr<bool>("keep_dims")) return v;
  const Output x = op.input(0);
  if (const auto mask = static_reduction_mask(op)) {
    std::vector<int64_t> kept = x.shape().dim_vector();
    for (size_t i = 0; i < kept.size(); ++i)
      if ((*mask)[i]) kept[i] = 1;
    if (std::count(kept.begin(), kept.end(), int64_t{-1}) <= 1) return reshape(v, kept);
    Output r = v;  // several unknown dims: insert the 1s one by one, lowest axis first
    for (size_t i = 0; i < kept.size(); ++i)
      if ((*mask)[i]) r = expand_dims(r, static_cast<int64_t>(i));
    return r;
  }
  // Axes known only at run time: the kept shape is that of the same reduction with keep_dims.
  const Output kept = OpBuilder(x, "Sum", "Sum").input(x).input(op.input(1)).attr("keep_dims", true).build_output();
  return reshape(v, shape(kept));
}

// `v` (kept-dims shaped) repeated over the reduced axes back to x's shape.
Output broadcast_like_input(const Output& v, const Output& x) {
  const Shape& s = x.shape();
  if (s.is_fully_defined()) {
    if (v.shape() == s) return v;
    return broadcast_to(v, index_vector(*x.graph(), s.dim_vector(), "Const"));
  }
  return broadcast_to(v, shape(x));
}

std::vector<Output> sum_grad(GradContext& c) {
  const Output x = c.input(0);
  return {broadcast_like_input(to_kept_dims(c.grad(0), c.op()), x), Output()};
}

std::vector<Output> mean_grad(GradContext& c) {
  const Output x = c.input(0), y = c.output(0), g = c.grad(0);
  Output factor;
  if (x.shape().is_fully_defined() && y.shape().is_fully_defined()) {
    const int64_t in = x.shape().num_elements(), out = std::max<int64_t>(y.shape().num_elements(), 1);
    factor = scalar_constant(*x.graph(), static_cast<double>(in / out), g.dtype());
  } else {
    const Output one = scalar_constant(*x.graph(), 1, DType::kInt32);
    factor = divide(cast(reduce_prod(shape(x)), g.dtype()), cast(maximum(reduce_prod(shape(y)), one), g.dtype()));
  }
  // Scaling before the broadcast touches the (smaller) reduced tensor only.
  return {broadcast_like_input(to_kept_dims(divide(g, factor), c.op()), x), Output()};
}

// TF's rule: the gradient goes to the elements equal to the extremum, shared equally by ties.
std::vector<Output> min_max_reduction_grad(GradContext& c) {
  const Output x = c.input(0);
  const Output y = to_kept_dims(c.output(0), c.op()), g = to_kept_dims(c.grad(0), c.op());
  const Output indicators = cast(equal(y, x), g.dtype());
  const Output num_selected = sum(indicators, c.input(1), /*keep_dims=*/true);
  return {multiply(divide(indicators, num_selected), g), Output()};
}

std::vector<Output> broadcast_to_grad(GradContext& c) {
  const Output x = c.input(0), target = c.input(1), g = c.grad(0);
  if (const auto plan = plan_static_reduction(x.shape(), c.output(0).shape()))
    return {apply_static_reduction(g, x, *plan), Output()};
  const Output sx = shape(x, target.dtype());
  return {reshape(sum(g, broadcast_gradient_args(sx, target).first), sx), Output()};
}

}  // namespace

void register_math_ops(OpRegistry& r) {
  auto binary_op = [&](const char* type, Kernel k, const std::vector<DType>& types) -> OpDef& {
    return r.add(type).input("x", "T").input("y", "T").output("z", "T").type_attr("T", types)
        .shape(broadcast_shape_fn).kernel_fn(k);
  };
  binary_op("AddV2", binary_kernel<AddF>, kNumericTypes).gradient(add_grad);
  binary_op("Add", binary_kernel<AddF>, kNumericTypes).gradient(add_grad);
  binary_op("Sub", binary_kernel<SubF>, kNumericTypes).gradient(sub_grad);
  binary_op("Mul", binary_kernel<MulF>, kNumericTypes).gradient(mul_grad);
  binary_op("RealDiv", binary_kernel<DivF>, kFloatTypes).gradient(div_grad);
  // TF 1.x's Maximum, Minimum and MatMul take no uint8 (MatMul no int64 either): a graph using one
  // would not load in TF.
  binary_op("Maximum", binary_kernel<MaxF>, kSignedTypes).gradient(min_max_grad<true>);
  binary_op("Minimum", binary_kernel<MinF>, kSignedTypes).gradient(min_max_grad<false>);
  binary_op("Pow", binary_kernel<PowF>, kSignedTypes).gradient(pow_grad);

  auto comparison = [&](const char* type, Kernel k, const std::vector<DType>& types) {
    r.add(type).input("x", "T").input("y", "T").output("z", DType::kBool).type_attr("T", types)
        .shape(broadcast_shape_fn).kernel_fn(k).not_differentiable();
  };
  comparison("Equal", binary_kernel<EqualF>, kAllTypes);
  comparison("Less", binary_kernel<LessF>, kNumericTypes);
  comparison("Greater", binary_kernel<GreaterF>, kNumericTypes);
  comparison("LessEqual", binary_kernel<LessEqualF>, kNumericTypes);
  comparison("GreaterEqual", binary_kernel<GreaterEqualF>, kNumericTypes);

  r.add("Select").input("condition", DType::kBool).input("t", "T").input("e", "T").output("output", "T")
      .type_attr("T", kAllTypes).shape(select_shape).kernel_fn(select_kernel).gradient(select_grad);

  auto unary_op = [&](const char* type, Kernel k, GradFn g, const std::vector<DType>& types) {
    r.add(type).input("x", "T").output("y", "T").type_attr("T", types).shape(unchanged_shape).kernel_fn(k).gradient(g);
  };
  unary_op("Neg", unary_kernel<NegF>, neg_grad, kSignedTypes);
  unary_op("Abs", unary_kernel<AbsF>, abs_grad, kSignedTypes);
  unary_op("Sign", unary_kernel<SignF>, sign_grad, kSignedTypes);
  unary_op("Square", unary_kernel<SquareF>, square_grad, kSignedTypes);
  unary_op("Sqrt", unary_kernel<SqrtF>, sqrt_grad, kFloatTypes);
  unary_op("Rsqrt", unary_kernel<RsqrtF>, rsqrt_grad, kFloatTypes);
  unary_op("Exp", unary_kernel<ExpF>, exp_grad, kFloatTypes);
  unary_op("Log", unary_kernel<LogF>, log_grad, kFloatTypes);
  unary_op("Reciprocal", unary_kernel<ReciprocalF>, reciprocal_grad, kFloatTypes);
  // Piecewise constant: TF's gradient functions for these return None.
  r.add("Floor").input("x", "T").output("y", "T").type_attr("T", kFloatTypes).shape(unchanged_shape)
      .kernel_fn(unary_kernel<FloorF>).not_differentiable();
  r.add("Ceil").input("x", "T").output("y", "T").type_attr("T", kFloatTypes).shape(unchanged_shape)
      .kernel_fn(unary_kernel<CeilF>).not_differentiable();

  r.add("AddN").list_input("inputs", "T", "N").output("sum", "T").attr("N").type_attr("T", kNumericTypes)
      .shape(addn_shape).kernel_fn(addn_kernel).gradient(addn_grad);

  r.add("MatMul").input("a", "T").input("b", "T").output("product", "T").attr("transpose_a", false)
      .attr("transpose_b", false).type_attr("T", {DType::kFloat, DType::kDouble, DType::kInt32})
      .shape(matmul_shape).kernel_fn(matmul_kernel).gradient(matmul_grad);

  auto reduction_op = [&](const char* type, Kernel k) -> OpDef& {
    return r.add(type).input("input", "T").input("reduction_indices", "Tidx").output("output", "T")
        .attr("keep_dims", false).attr("Tidx", DType::kInt32).type_attr("T", kNumericTypes)
        .type_attr("Tidx", kIndexTypes).shape(reduction_shape).kernel_fn(k);
  };
  reduction_op("Sum", reduction_kernel<SumReducer>).gradient(sum_grad);
  reduction_op("Mean", reduction_kernel<MeanReducer>).gradient(mean_grad);
  reduction_op("Max", reduction_kernel<MaxReducer>).gradient(min_max_reduction_grad);
  reduction_op("Min", reduction_kernel<MinReducer>).gradient(min_max_reduction_grad);
  reduction_op("Prod", reduction_kernel<ProdReducer>);  // TF's zero-aware Prod gradient is not implemented

  auto arg_op = [&](const char* type, Kernel k) {
    r.add(type).input("input", "T").input("dimension", "Tidx").output("output", "output_type")
        .attr("output_type", DType::kInt64).attr("Tidx", DType::kInt32).type_attr("T", kNumericTypes)
        .type_attr("Tidx", kIndexTypes).type_attr("output_type", kIndexTypes).shape(arg_shape).kernel_fn(k)
        .not_differentiable();
  };
  arg_op("ArgMax", arg_kernel<true>);
  arg_op("ArgMin", arg_kernel<false>);

  r.add("BroadcastTo").input("input", "T").input("shape", "Tidx").output("output", "T").attr("Tidx", DType::kInt32)
      .type_attr("T", kAllTypes).type_attr("Tidx", kIndexTypes).shape(broadcast_to_shape)
      .kernel_fn(broadcast_to_kernel).gradient(broadcast_to_grad);
  r.add("BroadcastGradientArgs").input("s0", "T").input("s1", "T").output("r0", "T").output("r1", "T")
      .attr("T", DType::kInt32).type_attr("T", kIndexTypes).shape(bga_shape).kernel_fn(bga_kernel)
      .not_differentiable();
}

}  // namespace fg
