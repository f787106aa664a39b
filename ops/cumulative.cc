#include "ops/cumulative.h"

#include "core/parallel.h"
#include "graph/op_registry.h"
#include "ops/internal/register.h"
#include "ops/array.h"
#include "ops/indexing.h"
#include "ops/math.h"
#include "ops/internal/kernel_util.h"
#include "ops/shape_ops.h"

namespace fg {

namespace {

Output scan(const char* type, const Output& x, int64_t axis, bool exclusive, bool reverse, const std::string& name) {
  Graph& g = detail::graph_of(x, type);
  const std::string full = g.composite_name(name.empty() ? type : name);
  Output a;
  {
    auto scope = g.name_scope(full + "/");
    a = detail::int_scalar(g, axis, DType::kInt32, "axis");
  }
  return OpBuilder(g, type, full + "/").input(x).input(a).attr("exclusive", exclusive).attr("reverse", reverse)
      .build_output();
}

}  // namespace

Output cumsum(const Output& x, int64_t axis, bool exclusive, bool reverse, const std::string& name) {
  return scan("Cumsum", x, axis, exclusive, reverse, name);
}

Output cumprod(const Output& x, int64_t axis, bool exclusive, bool reverse, const std::string& name) {
  return scan("Cumprod", x, axis, exclusive, reverse, name);
}

namespace {


Output scan_op(const char* type, const Output& x, const Output& axis, bool exclusive, bool reverse) {
  return OpBuilder(x, type, type).input(x).input(axis).attr("exclusive", exclusive).attr("reverse", reverse)
      .build_output();
}

void scan_shape(InferenceContext& c) {
  const Shape& a = c.input_shape(1);
  if (a.known_rank() && a.rank() != 0) c.fail(str_cat("ScanOp: axis must be a scalar, not ", a));
  const Shape& x = c.input_shape(0);
  if (const Tensor* at = c.input_constant(1); at && x.known_rank()) {
    const int64_t axis = int_values(*at, "Scan")[0];
    if (axis < -x.rank() || axis >= x.rank())
      c.fail(str_cat("ScanOp: Expected scan axis in the range [", -x.rank(), ", ", x.rank(), "), but got ", axis));
  }
  c.set_output(0, x);
}

struct SumOp {
  template <typename T> static T identity() { return T(0); }
  template <typename T> static T apply(T a, T b) { return a + b; }
};
struct ProdOp {
  template <typename T> static T identity() { return T(1); }
  template <typename T> static T apply(T a, T b) { return a * b; }
};

template <typename Op>
void scan_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& at = ctx.input(1);
  FG_CHECK(at.rank() == 0, InvalidArgument, "ScanOp: axis must be a scalar, not ", at.shape());
  const int64_t rank = x.rank();
  const int64_t axis_in = int_values(at, "Scan")[0];
  FG_CHECK(axis_in >= -rank && axis_in < rank, InvalidArgument, "ScanOp: Expected scan axis in the range [", -rank,
           ", ", rank, "), but got ", axis_in);
  const int axis = static_cast<int>(axis_in < 0 ? axis_in + rank : axis_in);
  const bool exclusive = ctx.attr<bool>("exclusive"), reverse = ctx.attr<bool>("reverse");
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= x.dim(i);
  for (int i = axis + 1; i < rank; ++i) inner *= x.dim(i);
  const int64_t n = x.dim(axis);
  Tensor out = Tensor::empty(x.dtype(), x.shape());
  dispatch_numeric(x.dtype(), "Scan", [&]<typename T>() {
    const T* in = x.data<T>();
    T* o = out.data<T>();
    // Columns (outer index, inner index) are independent; a block of columns scans along the
    // axis row by row, so the inner loop runs over contiguous elements.
    parallel_for(outer * inner, n, [&](int64_t b, int64_t e) {
      while (b < e) {
        const int64_t p = b / inner, j0 = b % inner, j1 = std::min(inner, j0 + (e - b));
        const T* src = in + p * n * inner;
        T* dst = o + p * n * inner;
        for (int64_t step = 0; step < n; ++step) {
          const int64_t k = reverse ? n - 1 - step : step;
          const int64_t prev = reverse ? k + 1 : k - 1;
          T* row = dst + k * inner;
          if (step == 0) {
            for (int64_t j = j0; j < j1; ++j) row[j] = exclusive ? Op::template identity<T>() : src[k * inner + j];
          } else {
            const T* last = dst + prev * inner;
            const T* xin = src + (exclusive ? prev : k) * inner;
            for (int64_t j = j0; j < j1; ++j) row[j] = Op::apply(last[j], xin[j]);
          }
        }
        b += j1 - j0;
      }
    });
  });
  ctx.set_output(0, out);
}

std::vector<Output> cumsum_grad(GradContext& c) {
  const Operation& op = c.op();
  return {scan_op("Cumsum", c.grad(0), c.input(1), op.attr<bool>("exclusive"), !op.attr<bool>("reverse")),
          Output()};
}

// TF's _CumprodGrad (which, as TF's, divides by x and so is not defined where x is 0).
std::vector<Output> cumprod_grad(GradContext& c) {
  const Operation& op = c.op();
  const Output x = c.input(0), axis = c.input(1);
  const bool exclusive = op.attr<bool>("exclusive"), reverse = op.attr<bool>("reverse");
  const Output prod = scan_op("Cumprod", x, axis, exclusive, reverse);
  const Output out = scan_op("Cumsum", prod * c.grad(0), axis, exclusive, !reverse);
  return {out / x, Output()};
}

// axes mod rank for axes in [-rank, rank): TF's FloorMod, in ops every family has.
Output non_negative_axes(const Output& axes, const Output& rank) {
  Graph& g = *axes.graph();
  return axes + rank * cast(less(axes, scalar_constant(g, 0, axes.dtype())), axes.dtype());
}

// TF's math_ops.reduced_shape: input_shape with the reduced axes set to 1 (a Const when static).
Output reduced_shape(const Output& x, const Output& input_shape, const Output& axes) {
  Graph& g = *x.graph();
  std::vector<int64_t> av;
  if (x.shape().is_fully_defined() && detail::constant_int_values(axes, &av)) {
    std::vector<int64_t> dims = x.shape().dim_vector();
    for (int64_t a : av) dims[detail::canonical_axis(a, x.shape().rank(), "Prod gradient")] = 1;
    return detail::int_vector(g, dims, DType::kInt32, "Const");
  }
  const Output a = cast(reshape(axes, {-1}), DType::kInt32);
  const Output input_rank = detail::size_or_constant(input_shape);
  const Output nonneg = non_negative_axes(a, input_rank);
  const Output zero = scalar_constant(g, 0, DType::kInt32), one = scalar_constant(g, 1, DType::kInt32);
  return dynamic_stitch({range(zero, input_rank, one), nonneg}, {input_shape, fill(shape(nonneg), one)});
}

// TF's _ProdGrad: the product of all other elements of each reduced group, as the product of an
// exclusive cumprod from the left and one from the right, so that zeros need no division.
std::vector<Output> prod_grad(GradContext& c) {
  const Output x = c.input(0), axes = c.input(1);
  Graph& g = *x.graph();
  const Output input_shape = detail::shape_or_constant(x);
  const Output kept = reduced_shape(x, input_shape, axes);
  const Output grad = broadcast_to(reshape(c.grad(0), kept), input_shape);

  // The reduced axes first, then the others; static when the axes and rank are.
  Output perm, reduced_num, other_num;
  std::vector<int64_t> av;
  if (x.shape().known_rank() && detail::constant_int_values(axes, &av)) {
    const int64_t rank = x.shape().rank();
    std::vector<int64_t> reduced, other;
    std::vector<char> is_reduced(rank, 0);
    for (int64_t a : av) {
      const int64_t k = detail::canonical_axis(a, rank, "Prod gradient");
      reduced.push_back(k);
      is_reduced[k] = 1;
    }
    for (int64_t i = 0; i < rank; ++i)
      if (!is_reduced[i]) other.push_back(i);
    std::vector<int64_t> p = reduced;
    p.insert(p.end(), other.begin(), other.end());
    perm = detail::int_vector(g, p, DType::kInt32, "concat");
    auto count = [&](const std::vector<int64_t>& dims_of, const char* name) {
      int64_t n = 1;
      bool known = true;
      for (int64_t i : dims_of) {
        known = known && x.shape().dim(static_cast<int>(i)) >= 0;
        if (known) n *= x.shape().dim(static_cast<int>(i));
      }
      if (known) return detail::int_scalar(g, n, DType::kInt32, name);
      return reduce_prod(gather(input_shape, detail::int_vector(g, dims_of, DType::kInt32, "Const")), {}, false, name);
    };
    reduced_num = count(reduced, "Prod");
    other_num = count(other, "Prod_1");
  } else {
    const Output rank = detail::rank_or_constant(x);
    const Output reduced = non_negative_axes(cast(reshape(axes, {-1}), DType::kInt32), rank);
    const Output zero = scalar_constant(g, 0, DType::kInt32), one = scalar_constant(g, 1, DType::kInt32);
    const Output other = setdiff1d(range(zero, rank, one), reduced).first;
    perm = concat({reduced, other}, 0);
    reduced_num = reduce_prod(gather(input_shape, reduced));
    other_num = reduce_prod(gather(input_shape, other));
  }
  const Output permuted = transpose(x, perm);
  const Output permuted_shape = detail::shape_or_constant(permuted);
  const Output reshaped = reshape(permuted, stack({reduced_num, other_num}));
  const Output zero_axis = scalar_constant(g, 0, DType::kInt32);
  const Output left = scan_op("Cumprod", reshaped, zero_axis, /*exclusive=*/true, /*reverse=*/false);
  const Output right = scan_op("Cumprod", reshaped, zero_axis, /*exclusive=*/true, /*reverse=*/true);
  const Output y = reshape(left * right, permuted_shape);
  const Output out = grad * transpose(y, invert_permutation(perm));
  return {reshape(out, input_shape), Output()};
}

}  // namespace

void register_cumulative_ops(OpRegistry& r) {
  r.add("Cumsum").input("x", "T").input("axis", "Tidx").output("out", "T").attr("exclusive", false)
      .attr("reverse", false).attr("Tidx", DType::kInt32).type_attr("T", kNumericTypes).type_attr("Tidx", kIndexTypes)
      .shape(scan_shape).kernel_fn(scan_kernel<SumOp>).gradient(cumsum_grad);
  r.add("Cumprod").input("x", "T").input("axis", "Tidx").output("out", "T").attr("exclusive", false)
      .attr("reverse", false).attr("Tidx", DType::kInt32).type_attr("T", kNumericTypes).type_attr("Tidx", kIndexTypes)
      .shape(scan_shape).kernel_fn(scan_kernel<ProdOp>).gradient(cumprod_grad);
  OpDef& prod = r.extend("Prod");
  FG_CHECK(!prod.grad_fn && !prod.no_gradient, Internal, "Prod already has a gradient");
  prod.gradient(prod_grad);
}

}  // namespace fg
