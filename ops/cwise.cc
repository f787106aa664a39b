// Element-wise math: unary and binary (NumPy broadcasting) arithmetic, comparisons and
// SquaredDifference, one description each; Select and AddN.
#include <cmath>
#include <limits>
#include <type_traits>

#include "ops/array.h"
#include "ops/internal/elementwise.h"
#include "ops/internal/kernel_util.h"
#include "ops/internal/register.h"
#include "ops/math.h"

namespace fg {

namespace {

constexpr Domain kAny{-2, 2};
constexpr Domain kPositive{0.5, 2};
constexpr Domain kKink{-2, 2, true};

// ---- unary: x -> y

constexpr Spec unary(const char* type, TypeSet types, int64_t cost = 1, Domain domain = kAny,
                     const char* not_differentiable = nullptr) {
  return {.type = type, .inputs = {"x"}, .output = "y", .types = types, .cost = cost, .domains = {domain},
          .not_differentiable = not_differentiable};
}

struct Neg {
  static constexpr Spec spec = unary("Neg", TypeSet::kSigned);
  template <typename T, class X> static auto apply(const X& x) { return -x; }
  static std::vector<Output> gradient(GradContext& c) { return {negative(c.grad(0))}; }
};
struct Abs {
  static constexpr Spec spec = unary("Abs", TypeSet::kSigned, 1, kKink);
  template <typename T, class X> static auto apply(const X& x) { return x.abs(); }
  static std::vector<Output> gradient(GradContext& c) { return {multiply(c.grad(0), sign(c.input(0)))}; }
};
struct Sign {
  static constexpr Spec spec = unary("Sign", TypeSet::kSigned, 1, kKink);
  template <typename T, class X> static auto apply(const X& x) { return x.sign(); }
  static std::vector<Output> gradient(GradContext& c) { return {zeros_like(c.input(0))}; }
};
struct Square {
  static constexpr Spec spec = unary("Square", TypeSet::kSigned);
  template <typename T, class X> static auto apply(const X& x) { return x.square(); }
  static std::vector<Output> gradient(GradContext& c) {
    const Output x = c.input(0);
    return {multiply(c.grad(0), multiply(x, scalar_like(x, 2)))};
  }
};
// The gradient ops TF's gradients of Sqrt, Rsqrt and Reciprocal write: (y, dy) -> z, y the
// forward output.
constexpr Spec gradient_op(const char* type, int64_t cost) {
  return {.type = type, .inputs = {"y", "dy"}, .output = "z", .types = TypeSet::kFloat, .cost = cost,
          .domains = {kPositive, kAny}, .incoming = 1};
}
// SqrtGrad(y, dy) = dy / (2 y); TF's _SqrtGradGrad: d/dy = -(gg / y) z, d/d dy = gg / (2 y).
struct SqrtGrad {
  static constexpr Spec spec = gradient_op("SqrtGrad", 4);
  template <typename T, class Y, class D> static auto apply(const Y& y, const D& dy) { return dy * T(0.5) / y; }
  static std::vector<Output> gradient(GradContext& c) {
    const Output ga = c.grad(0) / c.input(0);
    return {-ga * c.output(0), 0.5 * ga};
  }
};
// RsqrtGrad(y, dy) = -dy y^3 / 2; TF's _RsqrtGradGrad: d/dy = -1.5 gg dy y^2, d/d dy = RsqrtGrad(y, gg).
struct RsqrtGrad {
  static constexpr Spec spec = gradient_op("RsqrtGrad", 4);
  template <typename T, class Y, class D> static auto apply(const Y& y, const D& dy) {
    return dy * (y * y * y) * T(-0.5);
  }
  static std::vector<Output> gradient(GradContext& c) {
    const Output y = c.input(0), dy = c.input(1), gg = c.grad(0);
    return {-1.5 * gg * dy * square(y), build<RsqrtGrad>(y, gg)};
  }
};
// ReciprocalGrad(y, dy) = -dy y^2; TF's _ReciprocalGradGrad: d/dy = -2 gg dy y, d/d dy =
// ReciprocalGrad(y, gg).
struct ReciprocalGrad {
  static constexpr Spec spec = gradient_op("ReciprocalGrad", 2);
  template <typename T, class Y, class D> static auto apply(const Y& y, const D& dy) { return -dy * y * y; }
  static std::vector<Output> gradient(GradContext& c) {
    const Output y = c.input(0), dy = c.input(1), gg = c.grad(0);
    return {gg * -2.0 * dy * y, build<ReciprocalGrad>(y, gg)};
  }
};

struct Sqrt {
  static constexpr Spec spec = unary("Sqrt", TypeSet::kFloat, 4, kPositive);
  template <typename T, class X> static auto apply(const X& x) { return x.sqrt(); }
  static std::vector<Output> gradient(GradContext& c) { return {build<SqrtGrad>(c.output(0), c.grad(0))}; }
};
struct Rsqrt {
  static constexpr Spec spec = unary("Rsqrt", TypeSet::kFloat, 6, kPositive);
  template <typename T, class X> static auto apply(const X& x) { return x.rsqrt(); }
  static std::vector<Output> gradient(GradContext& c) { return {build<RsqrtGrad>(c.output(0), c.grad(0))}; }
};
struct Exp {
  static constexpr Spec spec = unary("Exp", TypeSet::kFloat, 10);
  template <typename T, class X> static auto apply(const X& x) { return x.exp(); }
  static std::vector<Output> gradient(GradContext& c) { return {multiply(c.grad(0), c.output(0))}; }
};
struct Log {
  static constexpr Spec spec = unary("Log", TypeSet::kFloat, 10, kPositive);
  template <typename T, class X> static auto apply(const X& x) { return x.log(); }
  static std::vector<Output> gradient(GradContext& c) { return {multiply(c.grad(0), reciprocal(c.input(0)))}; }
};
struct Reciprocal {
  static constexpr Spec spec = unary("Reciprocal", TypeSet::kFloat, 4, kPositive);
  template <typename T, class X> static auto apply(const X& x) { return x.inverse(); }
  static std::vector<Output> gradient(GradContext& c) { return {build<ReciprocalGrad>(c.output(0), c.grad(0))}; }
};
// Piecewise constant: TF's gradient functions for these return None.
struct Floor {
  static constexpr Spec spec = unary("Floor", TypeSet::kFloat, 1, kAny, "piecewise constant");
  template <typename T, class X> static auto apply(const X& x) { return x.floor(); }
};
struct Ceil {
  static constexpr Spec spec = unary("Ceil", TypeSet::kFloat, 1, kAny, "piecewise constant");
  template <typename T, class X> static auto apply(const X& x) { return x.ceil(); }
};

// ---- binary with NumPy broadcasting: (x, y) -> z

constexpr Spec binary(const char* type, TypeSet types, int64_t cost = 1, std::array<Domain, 2> domains = {kAny, kAny},
                      const char* alias = nullptr) {
  return {.type = type, .inputs = {"x", "y"}, .output = "z", .types = types, .cost = cost, .broadcasts = true,
          .domains = domains, .alias = alias};
}
constexpr Spec comparison(const char* type, TypeSet types) {
  return {.type = type, .inputs = {"x", "y"}, .output = "z", .types = types, .broadcasts = true, .bool_output = true,
          .not_differentiable = "boolean output"};
}

// TF 1.x's Add (AddV2 came after 1.12; registered for graphs that use it).
struct Add {
  static constexpr Spec spec = binary("Add", TypeSet::kNumeric, 1, {kAny, kAny}, "AddV2");
  template <typename T, class X, class Y> static auto apply(const X& x, const Y& y) { return x + y; }
  static std::vector<Output> gradient(GradContext& c) {
    auto [gx, gy] = reduce_binary_grads(c.grad(0), c.grad(0), c.input(0), c.input(1));
    return {gx, gy};
  }
};
struct Sub {
  static constexpr Spec spec = binary("Sub", TypeSet::kNumeric);
  template <typename T, class X, class Y> static auto apply(const X& x, const Y& y) { return x - y; }
  static std::vector<Output> gradient(GradContext& c) {
    auto [gx, gy] = reduce_binary_grads(c.grad(0), c.grad(0), c.input(0), c.input(1));
    return {gx, negative(gy)};  // negating after the reduction touches fewer elements
  }
};
struct Mul {
  static constexpr Spec spec = binary("Mul", TypeSet::kNumeric);
  template <typename T, class X, class Y> static auto apply(const X& x, const Y& y) { return x * y; }
  static std::vector<Output> gradient(GradContext& c) {
    const Output g = c.grad(0), x = c.input(0), y = c.input(1);
    auto [gx, gy] = reduce_binary_grads(multiply(g, y), multiply(x, g), x, y);
    return {gx, gy};
  }
};
struct RealDiv {
  static constexpr Spec spec = binary("RealDiv", TypeSet::kFloat, 4, {kAny, kPositive});
  template <typename T, class X, class Y> static auto apply(const X& x, const Y& y) { return x / y; }
  static std::vector<Output> gradient(GradContext& c) {
    const Output g = c.grad(0), x = c.input(0), y = c.input(1);
    auto [gx, gy] = reduce_binary_grads(divide(g, y), multiply(g, divide(divide(negative(x), y), y)), x, y);
    return {gx, gy};
  }
};

// Integer division by zero is an error in TF's kernels (not UB).
template <typename T>
void check_integer_divisor(const Tensor& y) {
  if constexpr (std::is_integral_v<T>)
    for (T v : y.flat<T>()) FG_CHECK(v != 0, InvalidArgument, "Integer division by zero");
}
// Division rounding toward negative infinity, and its remainder (the sign of y), as Python's
// // and % (TF's floor_div, floor_mod); plain / and fmod for floating point then floor.
struct FloorDivScalar {
  template <typename T>
  T operator()(T x, T y) const {
    if constexpr (std::is_integral_v<T>) {
      if constexpr (std::is_signed_v<T>) {
        if (x == std::numeric_limits<T>::min() && y == T(-1)) return x;  // wraps, as TF's kernel
        const T q = x / y;
        return (q * y != x && ((x < 0) != (y < 0))) ? q - 1 : q;
      } else {
        return x / y;
      }
    } else {
      return std::floor(x / y);
    }
  }
};
struct FloorModScalar {
  template <typename T>
  T operator()(T x, T y) const {
    if constexpr (std::is_integral_v<T>) {
      if constexpr (std::is_signed_v<T>) {
        if (y == T(-1)) return T(0);
        const T r = x % y;
        return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
      } else {
        return x % y;
      }
    } else {
      const T r = std::fmod(x, y);
      return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
    }
  }
};
// Integers truncate (C's /), as TF's Div kernel; floating point divides.
struct TruncDivScalar {
  template <typename T>
  T operator()(T x, T y) const {
    if constexpr (std::is_integral_v<T> && std::is_signed_v<T>)
      if (x == std::numeric_limits<T>::min() && y == T(-1)) return x;
    return x / y;
  }
};
// TF1's Div (tf.div, older graphs' "/"): x / y, truncating for integers. TF's _DivGrad.
struct Div {
  static constexpr Spec spec = binary("Div", TypeSet::kNumeric, 4, {kAny, kPositive});
  template <typename T, class X, class Y> static auto apply(const X& x, const Y& y) {
    return x.binaryExpr(y, TruncDivScalar());
  }
  template <typename T>
  static void check(const Tensor&, const Tensor& y) { check_integer_divisor<T>(y); }
  static std::vector<Output> gradient(GradContext& c) {
    const Output g = c.grad(0), x = c.input(0), y = c.input(1);
    auto [gx, gy] = reduce_binary_grads(div(g, y), g * div(div(-x, y), y), x, y);
    return {gx, gy};
  }
};
// TF: FloorDiv has no gradient (piecewise constant; its registered gradient returns None).
struct FloorDiv {
  static constexpr Spec spec = {.type = "FloorDiv", .inputs = {"x", "y"}, .output = "z", .types = TypeSet::kNumeric,
                                .cost = 4, .broadcasts = true, .not_differentiable = "piecewise constant"};
  template <typename T, class X, class Y> static auto apply(const X& x, const Y& y) {
    return x.binaryExpr(y, FloorDivScalar());
  }
  template <typename T>
  static void check(const Tensor&, const Tensor& y) { check_integer_divisor<T>(y); }
};
// TF's _FloorModGrad: d/dx = g, d/dy = -g floor(x / y). TF registers it for signed types only.
struct FloorMod {
  static constexpr Spec spec = binary("FloorMod", TypeSet::kSigned, 4, {kAny, kPositive});
  template <typename T, class X, class Y> static auto apply(const X& x, const Y& y) {
    return x.binaryExpr(y, FloorModScalar());
  }
  template <typename T>
  static void check(const Tensor&, const Tensor& y) { check_integer_divisor<T>(y); }
  static std::vector<Output> gradient(GradContext& c) {
    const Output g = c.grad(0), x = c.input(0), y = c.input(1);
    auto [gx, gy] = reduce_binary_grads(g, g * negative(floordiv(x, y)), x, y);
    return {gx, gy};
  }
};

// TF's rule: the gradient goes to x where the selector holds (x wins ties), to y elsewhere.
template <bool kMax>
std::vector<Output> min_max_grad(GradContext& c) {
  const Output g = c.grad(0), x = c.input(0), y = c.input(1);
  const Output xmask = kMax ? greater_equal(x, y) : less_equal(x, y);
  const Output zeros = zeros_like(g);
  auto [gx, gy] = reduce_binary_grads(select(xmask, g, zeros), select(xmask, zeros, g), x, y);
  return {gx, gy};
}
// std::max / std::min's choice, NaNs included.
struct Maximum {
  static constexpr Spec spec = binary("Maximum", TypeSet::kSigned);
  template <typename T, class X, class Y> static auto apply(const X& x, const Y& y) { return (x < y).select(y, x); }
  static std::vector<Output> gradient(GradContext& c) { return min_max_grad<true>(c); }
};
struct Minimum {
  static constexpr Spec spec = binary("Minimum", TypeSet::kSigned);
  template <typename T, class X, class Y> static auto apply(const X& x, const Y& y) { return (y < x).select(y, x); }
  static std::vector<Output> gradient(GradContext& c) { return min_max_grad<false>(c); }
};

// Integer powers wrap like TF's kernels (unsigned arithmetic) instead of overflowing into UB.
struct PowScalar {
  template <typename T>
  T operator()(T base, T exp) const {
    if constexpr (std::is_integral_v<T>) {
      using U = std::make_unsigned_t<T>;
      U r = 1, b = static_cast<U>(base);
      while (exp > 0) {
        if (exp & 1) r *= b;
        b *= b;
        exp >>= 1;
      }
      return static_cast<T>(r);
    } else {
      return std::pow(base, exp);
    }
  }
};
struct Pow {
  static constexpr Spec spec = binary("Pow", TypeSet::kSigned, 20, {kPositive, kAny});
  template <typename T, class X, class Y> static auto apply(const X& x, const Y& y) { return x.binaryExpr(y, PowScalar()); }
  template <typename T>
  static void check(const Tensor&, const Tensor& y) {
    if constexpr (std::is_integral_v<T>) {
      for (T e : y.flat<T>()) FG_CHECK(e >= 0, InvalidArgument, "Integers to negative integer powers are not allowed");
    }
  }
  static std::vector<Output> gradient(GradContext& c) {
    const Output g = c.grad(0), x = c.input(0), y = c.input(1), z = c.output(0);
    const Output dx = multiply(multiply(g, y), pow(x, subtract(y, scalar_like(y, 1))));
    // d/dy x^y = x^y log x, taken as 0 where x <= 0 (as TF does) instead of NaN.
    const Output log_x = select(greater(x, scalar_like(x, 0)), log(x), zeros_like(x));
    const Output dy = multiply(multiply(g, z), log_x);
    auto [gx, gy] = reduce_binary_grads(dx, dy, x, y);
    return {gx, gy};
  }
};

// (x - y)^2; TF: d/dx = 2 g (x - y), d/dy = -d/dx, each summed down to its operand's shape.
struct SquaredDifference {
  static constexpr Spec spec = binary("SquaredDifference", TypeSet::kSigned, 2);
  template <typename T, class X, class Y> static auto apply(const X& x, const Y& y) { return (x - y).square(); }
  static std::vector<Output> gradient(GradContext& c) {
    const Output x = c.input(0), y = c.input(1);
    const Output x_grad = (2.0 * c.grad(0)) * (x - y);
    return {sum_to_shape_of(x_grad, x, y), -sum_to_shape_of(x_grad, y, x)};
  }
};

struct Equal {
  static constexpr Spec spec = comparison("Equal", TypeSet::kAll);
  template <typename T, class X, class Y> static auto apply(const X& x, const Y& y) { return x == y; }
};
struct Less {
  static constexpr Spec spec = comparison("Less", TypeSet::kNumeric);
  template <typename T, class X, class Y> static auto apply(const X& x, const Y& y) { return x < y; }
};
struct Greater {
  static constexpr Spec spec = comparison("Greater", TypeSet::kNumeric);
  template <typename T, class X, class Y> static auto apply(const X& x, const Y& y) { return x > y; }
};
struct LessEqual {
  static constexpr Spec spec = comparison("LessEqual", TypeSet::kNumeric);
  template <typename T, class X, class Y> static auto apply(const X& x, const Y& y) { return x <= y; }
};
struct GreaterEqual {
  static constexpr Spec spec = comparison("GreaterEqual", TypeSet::kNumeric);
  template <typename T, class X, class Y> static auto apply(const X& x, const Y& y) { return x >= y; }
};

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
    Tensor out = ctx.forward_any_input_or_allocate({1, 2}, t.dtype(), t.shape());
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

std::vector<Output> select_grad(GradContext& c) {
  const Output cond = c.input(0), g = c.grad(0);
  const Output zeros = zeros_like(c.input(1));
  return {Output(), select(cond, g, zeros), select(cond, zeros, g)};
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

std::vector<Output> addn_grad(GradContext& c) { return std::vector<Output>(c.num_inputs(), c.grad(0)); }

}  // namespace

// ---- builders

Output add(const Output& x, const Output& y, const std::string& name) {
  return build<Add>(x, y, name.empty() ? "Add" : name);
}
Output subtract(const Output& x, const Output& y, const std::string& name) { return build<Sub>(x, y, name); }
Output multiply(const Output& x, const Output& y, const std::string& name) { return build<Mul>(x, y, name); }
// tf.divide is Python's `/`, which TF1 names "truediv".
Output divide(const Output& x, const Output& y, const std::string& name) {
  return build<RealDiv>(x, y, name.empty() ? "truediv" : name);
}
Output negative(const Output& x, const std::string& name) { return build<Neg>(x, name); }
Output abs(const Output& x, const std::string& name) { return build<Abs>(x, name); }
Output square(const Output& x, const std::string& name) { return build<Square>(x, name); }
Output sqrt(const Output& x, const std::string& name) { return build<Sqrt>(x, name); }
Output rsqrt(const Output& x, const std::string& name) { return build<Rsqrt>(x, name); }
Output exp(const Output& x, const std::string& name) { return build<Exp>(x, name); }
Output log(const Output& x, const std::string& name) { return build<Log>(x, name); }
Output reciprocal(const Output& x, const std::string& name) { return build<Reciprocal>(x, name); }
Output sign(const Output& x, const std::string& name) { return build<Sign>(x, name); }
Output floor(const Output& x, const std::string& name) { return build<Floor>(x, name); }
Output ceil(const Output& x, const std::string& name) { return build<Ceil>(x, name); }
Output maximum(const Output& x, const Output& y, const std::string& name) { return build<Maximum>(x, y, name); }
Output div(const Output& x, const Output& y, const std::string& name) {
  return build<Div>(x, y, name.empty() ? "div" : name);
}
Output floordiv(const Output& x, const Output& y, const std::string& name) {
  return build<FloorDiv>(x, y, name.empty() ? "floordiv" : name);
}
Output floormod(const Output& x, const Output& y, const std::string& name) {
  return build<FloorMod>(x, y, name);
}
Output minimum(const Output& x, const Output& y, const std::string& name) { return build<Minimum>(x, y, name); }
Output pow(const Output& x, const Output& y, const std::string& name) { return build<Pow>(x, y, name); }
Output squared_difference_op(const Output& x, const Output& y, const std::string& name) {
  return build<SquaredDifference>(x, y, name);
}
Output equal(const Output& x, const Output& y, const std::string& name) { return build<Equal>(x, y, name); }
Output less(const Output& x, const Output& y, const std::string& name) { return build<Less>(x, y, name); }
Output greater(const Output& x, const Output& y, const std::string& name) { return build<Greater>(x, y, name); }
Output less_equal(const Output& x, const Output& y, const std::string& name) { return build<LessEqual>(x, y, name); }
Output greater_equal(const Output& x, const Output& y, const std::string& name) {
  return build<GreaterEqual>(x, y, name);
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

// Python's operators: TF1 names their nodes "add", "sub", "mul", "truediv".
Output operator+(const Output& x, const Output& y) { return build<Add>(x, y, "add"); }
Output operator-(const Output& x, const Output& y) { return build<Sub>(x, y, "sub"); }
Output operator*(const Output& x, const Output& y) { return build<Mul>(x, y, "mul"); }
Output operator/(const Output& x, const Output& y) { return build<RealDiv>(x, y, "truediv"); }
Output operator-(const Output& x) { return negative(x); }

Output scalar_like(const Output& like, double v) {
  return scalar_constant(graph_of(like, "scalar_like"), v, like.dtype());
}

void register_cwise_ops(OpRegistry& r) {
  register_elementwise_ops<Neg, Abs, Sign, Square, Sqrt, Rsqrt, Exp, Log, Reciprocal, Floor, Ceil>(r);
  register_elementwise_ops<SqrtGrad, RsqrtGrad, ReciprocalGrad>(r);
  register_elementwise_ops<Add, Sub, Mul, RealDiv, Maximum, Minimum, Pow, SquaredDifference>(r);
  register_elementwise_ops<Div, FloorDiv, FloorMod>(r);
  register_elementwise_ops<Equal, Less, Greater, LessEqual, GreaterEqual>(r);
  r.add("Select").input("condition", DType::kBool).input("t", "T").input("e", "T").output("output", "T")
      .type_attr("T", kAllTypes).shape(select_shape).kernel_fn(select_kernel).gradient(select_grad);
  r.add("AddN").list_input("inputs", "T", "N").output("sum", "T").attr("N").type_attr("T", kNumericTypes)
      .shape(addn_shape).kernel_fn(addn_kernel).gradient(addn_grad);
}

}  // namespace fg
