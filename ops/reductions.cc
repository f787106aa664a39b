// Reductions (Sum, Mean, Max, Min, Prod) and ArgMax / ArgMin.
#include <algorithm>
#include <limits>
#include <optional>
#include <type_traits>

#include "core/allocator.h"
#include "core/eigen.h"
#include "core/parallel.h"
#include "core/small_vector.h"
#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/internal/kernel_util.h"
#include "ops/internal/register.h"
#include "ops/math.h"

namespace fg {

namespace {

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

namespace {

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
// Max or Min: std::max's / std::min's choice, from the most extreme value of T.
template <bool kMax>
struct ExtremumReducer {
  static constexpr TypeSet kTypes = TypeSet::kNumeric;
  static constexpr bool kMean = false;
  template <typename T> static T identity() { return kMax ? lowest<T>() : highest<T>(); }
  template <typename T> static T combine(T a, T b) { return (kMax ? a < b : b < a) ? b : a; }
  template <typename S> static auto reduce(const S& s) {
    if constexpr (kMax) return s.maxCoeff();
    else return s.minCoeff();
  }
  template <typename A, typename S> static void accumulate(A& acc, const S& s) {
    if constexpr (kMax) acc = acc.max(s);
    else acc = acc.min(s);
  }
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
  dispatch<Red::kTypes>(x.dtype(), ctx.op_name().c_str(), [&]<typename T>() {
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

}  // namespace

void register_reduction_ops(OpRegistry& r) {
  auto reduction_op = [&](const char* type, Kernel k) -> OpDef& {
    return r.add(type).input("input", "T").input("reduction_indices", "Tidx").output("output", "T")
        .attr("keep_dims", false).attr("Tidx", DType::kInt32).type_attr("T", kNumericTypes)
        .type_attr("Tidx", kIndexTypes).shape(reduction_shape).kernel_fn(k);
  };
  reduction_op("Sum", reduction_kernel<SumReducer>).gradient(sum_grad);
  reduction_op("Mean", reduction_kernel<MeanReducer>).gradient(mean_grad);
  reduction_op("Max", reduction_kernel<ExtremumReducer<true>>).gradient(min_max_reduction_grad);
  reduction_op("Min", reduction_kernel<ExtremumReducer<false>>).gradient(min_max_reduction_grad);
  // Prod's gradient (TF's zero-aware _ProdGrad) is built from cumprods: the cumulative family adds it.
  reduction_op("Prod", reduction_kernel<ProdReducer>);

  auto arg_op = [&](const char* type, Kernel k) {
    r.add(type).input("input", "T").input("dimension", "Tidx").output("output", "output_type")
        .attr("output_type", DType::kInt64).attr("Tidx", DType::kInt32).type_attr("T", kNumericTypes)
        .type_attr("Tidx", kIndexTypes).type_attr("output_type", kIndexTypes).shape(arg_shape).kernel_fn(k)
        .not_differentiable("integer output");
  };
  arg_op("ArgMax", arg_kernel<true>);
  arg_op("ArgMin", arg_kernel<false>);
}

}  // namespace fg
