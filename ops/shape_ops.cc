#include "ops/shape_ops.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "core/parallel.h"
#include "graph/op_registry.h"
#include "ops/internal/register.h"
#include "ops/array.h"
#include "ops/indexing.h"
#include "ops/math.h"
#include "ops/internal/kernel_util.h"
#include "ops/internal/strided_copy.h"

namespace fg {

using detail::Dims;
using detail::int_scalar;
using detail::int_vector;

namespace {

// The scope-and-constants pattern of TF's generated wrappers: constants made from C++ values are
// named "<op>/<arg>" inside the op's own scope, and the op takes the scope's name.
struct CompositeName {
  Graph& g;
  std::string full;
  CompositeName(Graph& graph, const std::string& name, const char* default_name)
      : g(graph), full(graph.composite_name(name.empty() ? default_name : name)) {}
  ScopeGuard scope() { return g.name_scope(full + "/"); }
  std::string op_name() const { return full + "/"; }
};

}  // namespace

// ---- builders

Output tile(const Output& input, const Output& multiples, const std::string& name) {
  return OpBuilder(input, "Tile", name).input(input).input(multiples).build_output();
}

Output tile(const Output& input, const std::vector<int64_t>& multiples, const std::string& name) {
  CompositeName n(detail::graph_of(input, "tile"), name, "Tile");
  Output m;
  {
    auto s = n.scope();
    m = int_vector(n.g, multiples, DType::kInt32, "multiples");
  }
  return tile(input, m, n.op_name());
}

Output size(const Output& x, DType out_type, const std::string& name) {
  return OpBuilder(x, "Size", name).input(x).attr("out_type", out_type).build_output();
}

Output rank(const Output& x, const std::string& name) { return OpBuilder(x, "Rank", name).input(x).build_output(); }

std::vector<Output> shape_n(const std::vector<Output>& xs, DType out_type, const std::string& name) {
  FG_CHECK(!xs.empty(), InvalidArgument, "shape_n: no tensors given");
  Operation* op = OpBuilder(xs[0], "ShapeN", name).input_list(xs).attr("out_type", out_type).build();
  std::vector<Output> r;
  for (int i = 0; i < op->num_outputs(); ++i) r.push_back(op->output(i));
  return r;
}

Output range(const Output& start, const Output& limit, const Output& delta, const std::string& name) {
  return OpBuilder(start, "Range", name.empty() ? "range" : name).input(start).input(limit).input(delta)
      .build_output();
}

Output range(Graph& g, int64_t start, int64_t limit, int64_t delta, const std::string& name) {
  CompositeName n(g, name, "range");
  Output s, l, d;
  {
    auto scope = n.scope();
    // int32 unless a bound needs int64, as TF converts Python ints.
    auto fits = [](int64_t v) { return v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max(); };
    const DType t = fits(start) && fits(limit) && fits(delta) ? DType::kInt32 : DType::kInt64;
    s = int_scalar(g, start, t, "start");
    l = int_scalar(g, limit, t, "limit");
    d = int_scalar(g, delta, t, "delta");
  }
  return range(s, l, d, n.op_name());
}

Output stack(const std::vector<Output>& values, int64_t axis, const std::string& name) {
  FG_CHECK(!values.empty(), InvalidArgument, "stack: no values given");
  return OpBuilder(values[0], "Pack", name.empty() ? "stack" : name).input_list(values).attr("axis", axis)
      .build_output();
}

std::vector<Output> unstack(const Output& value, int64_t axis, int64_t num, const std::string& name) {
  if (num < 0) {
    const Shape& s = value.shape();
    FG_CHECK(s.known_rank(), InvalidArgument, "unstack: cannot infer num from shape ", s);
    const int64_t a = detail::canonical_axis(axis, s.rank(), "unstack");
    FG_CHECK(s.dim(static_cast<int>(a)) >= 0, InvalidArgument, "unstack: cannot infer num from shape ", s);
    num = s.dim(static_cast<int>(a));
  }
  Operation* op = OpBuilder(value, "Unpack", name.empty() ? "unstack" : name).input(value).attr("num", num)
                      .attr("axis", axis).build();
  std::vector<Output> r;
  for (int i = 0; i < op->num_outputs(); ++i) r.push_back(op->output(i));
  return r;
}

Output concat(const std::vector<Output>& values, int64_t axis, const std::string& name) {
  FG_CHECK(!values.empty(), InvalidArgument, "concat: no values given");
  Graph& g = detail::graph_of(values[0], "concat");
  if (values.size() == 1) {
    // TF converts the axis ("concat/concat_dim", to check it is a scalar) and returns
    // identity(values[0], name=scope).
    CompositeName n(g, name, "concat");
    {
      auto s = n.scope();
      int_scalar(g, axis, DType::kInt32, "concat_dim");
    }
    return identity(values[0], n.op_name());
  }
  CompositeName n(g, name, "concat");
  Output a;
  {
    auto s = n.scope();
    a = int_scalar(g, axis, DType::kInt32, "axis");
  }
  return OpBuilder(g, "ConcatV2", n.op_name()).input_list(values).input(a).build_output();
}

Output transpose(const Output& a, const Output& perm, const std::string& name) {
  return OpBuilder(a, "Transpose", name.empty() ? "transpose" : name).input(a).input(perm).build_output();
}

Output transpose(const Output& a, const std::vector<int64_t>& perm, const std::string& name) {
  Graph& g = detail::graph_of(a, "transpose");
  CompositeName n(g, name, "transpose");
  Output p;
  {
    auto s = n.scope();
    if (!perm.empty() || a.shape().known_rank()) {
      std::vector<int64_t> pv = perm;
      if (pv.empty())
        for (int i = a.shape().rank() - 1; i >= 0; --i) pv.push_back(i);
      p = int_vector(g, pv, DType::kInt32, "perm");
    } else {
      // Unknown rank: perm = (rank - 1) - range(0, rank, 1), as TF builds it.
      const Output r = rank(a);
      const Output zero = int_scalar(g, 0, DType::kInt32, "range/start");
      const Output one = int_scalar(g, 1, DType::kInt32, "range/delta");
      p = subtract(r - 1, range(zero, r, one, "range"));
    }
  }
  return transpose(a, p, n.op_name());
}

Output pad(const Output& input, const Output& paddings, const std::string& name) {
  return OpBuilder(input, "Pad", name).input(input).input(paddings).build_output();
}

Output pad(const Output& input, const std::vector<std::pair<int64_t, int64_t>>& paddings, const std::string& name) {
  Graph& g = detail::graph_of(input, "pad");
  CompositeName n(g, name, "Pad");
  Output p;
  {
    auto s = n.scope();
    std::vector<int32_t> v;
    for (const auto& [before, after] : paddings) {
      for (int64_t x : {before, after})
        FG_CHECK(x >= std::numeric_limits<int32_t>::min() && x <= std::numeric_limits<int32_t>::max(),
                 InvalidArgument, "pad: padding ", x, " does not fit int32");
      v.push_back(static_cast<int32_t>(before));
      v.push_back(static_cast<int32_t>(after));
    }
    p = constant(g, Tensor::from_vector(v, Shape{static_cast<int64_t>(paddings.size()), 2}), "paddings");
  }
  return pad(input, p, n.op_name());
}

Output invert_permutation(const Output& x, const std::string& name) {
  return OpBuilder(x, "InvertPermutation", name).input(x).build_output();
}

Output prevent_gradient(const Output& x, const std::string& message, const std::string& name) {
  return OpBuilder(x, "PreventGradient", name).input(x).attr("message", message).build_output();
}

// ---- kernels, shapes, gradients

namespace {

Dims dims_of(const Shape& s) {
  Dims d;
  for (int64_t v : s.dims()) d.push_back(v);
  return d;
}

// Product of dims with an overflow check: sizes computed from data must not wrap.
int64_t checked_product(std::span<const int64_t> dims, const std::string& who) {
  int64_t n = 1;
  for (int64_t d : dims) {
    FG_CHECK(d >= 0, InvalidArgument, who, ": negative dimension ", d);
    FG_CHECK(d == 0 || n <= std::numeric_limits<int64_t>::max() / d, InvalidArgument, who,
             ": the output shape ", Shape(dims), " has too many elements");
    n *= d;
  }
  return n;
}

Tensor int_result(DType dtype, const Shape& shape) { return Tensor::empty(dtype, shape); }

void store_int(Tensor& t, int64_t i, int64_t v) {
  if (t.dtype() == DType::kInt32) t.data<int32_t>()[i] = static_cast<int32_t>(v);
  else t.data<int64_t>()[i] = v;
}

// -- ShapeN, Size, Rank

void shape_n_shape(InferenceContext& c) {
  for (int i = 0; i < c.num_inputs(); ++i) {
    const Shape& s = c.input_shape(i);
    c.set_output(i, Shape{s.known_rank() ? s.rank() : -1});
  }
}

void shape_n_kernel(KernelContext& ctx) {
  const DType out_type = ctx.attr<DType>("out_type");
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    const Tensor& x = ctx.input(i);
    Tensor out = int_result(out_type, {x.rank()});
    for (int d = 0; d < x.rank(); ++d) {
      FG_CHECK(out_type == DType::kInt64 || x.dim(d) <= std::numeric_limits<int32_t>::max(), InvalidArgument,
               "ShapeN: dimension ", d, " of input ", i, " (", x.dim(d), ") does not fit int32");
      store_int(out, d, x.dim(d));
    }
    ctx.set_output(i, out);
  }
}

void scalar_shape(InferenceContext& c) { c.set_output(0, Shape{}); }

void size_kernel(KernelContext& ctx) {
  const DType out_type = ctx.attr<DType>("out_type");
  const int64_t n = ctx.input(0).num_elements();
  FG_CHECK(out_type == DType::kInt64 || n <= std::numeric_limits<int32_t>::max(), InvalidArgument,
           "Number of elements was larger than representable by 32-bit output type");
  Tensor out = int_result(out_type, {});
  store_int(out, 0, n);
  ctx.set_output(0, out);
}

void rank_kernel(KernelContext& ctx) { ctx.set_output(0, Tensor(static_cast<int32_t>(ctx.input(0).rank()))); }

// -- Range

template <typename T>
int64_t range_size(T start, T limit, T delta) {
  FG_CHECK(delta != T(0), InvalidArgument, "Requires delta != 0");
  FG_CHECK(!(start > limit && delta > T(0)), InvalidArgument, "Requires start <= limit when delta > 0: ", +start,
           "/", +limit);
  FG_CHECK(!(start < limit && delta < T(0)), InvalidArgument, "Requires start >= limit when delta < 0: ", +start,
           "/", +limit);
  if constexpr (std::is_integral_v<T>) {
    // In unsigned arithmetic: limit - start may not fit T.
    const uint64_t span = start < limit ? uint64_t(limit) - uint64_t(start) : uint64_t(start) - uint64_t(limit);
    const uint64_t step = delta < 0 ? uint64_t(0) - uint64_t(delta) : uint64_t(delta);
    return static_cast<int64_t>(span / step + (span % step != 0));
  } else {
    const double n = std::ceil(std::abs((static_cast<double>(limit) - start) / delta));
    FG_CHECK(std::isfinite(n) && n < 9.0e18, InvalidArgument, "Range: start, limit and delta give a size of ", n);
    return static_cast<int64_t>(n);
  }
}

void range_shape(InferenceContext& c) {
  const char* names[] = {"start", "limit", "delta"};
  for (int i = 0; i < 3; ++i) {
    const Shape& s = c.input_shape(i);
    if (s.known_rank() && s.rank() != 0) c.fail(str_cat(names[i], " must be a scalar, not shape ", s));
  }
  const Tensor *s = c.input_constant(0), *l = c.input_constant(1), *d = c.input_constant(2);
  if (!s || !l || !d) return c.set_output(0, Shape{-1});
  const int64_t n = dispatch_numeric(s->dtype(), "Range", [&]<typename T>() -> int64_t {
    if constexpr (std::is_same_v<T, uint8_t>) return 0;
    else {
      try {
        return range_size<T>(*s->data<T>(), *l->data<T>(), *d->data<T>());
      } catch (const Error& e) {
        c.fail(e.what());
      }
    }
  });
  c.set_output(0, Shape{n});
}

void range_kernel(KernelContext& ctx) {
  const char* names[] = {"start", "limit", "delta"};
  for (int i = 0; i < 3; ++i)
    FG_CHECK(ctx.input(i).rank() == 0, InvalidArgument, names[i], " must be a scalar, not shape ",
             ctx.input(i).shape());
  const DType t = ctx.input(0).dtype();
  dispatch_numeric(t, "Range", [&]<typename T>() {
    if constexpr (!std::is_same_v<T, uint8_t>) {
      const T start = *ctx.input(0).data<T>(), limit = *ctx.input(1).data<T>(), delta = *ctx.input(2).data<T>();
      const int64_t n = range_size<T>(start, limit, delta);
      Tensor out = Tensor::empty(t, {n});
      T* p = out.data<T>();
      parallel_for(n, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          if constexpr (std::is_integral_v<T>) {
            // Modulo 2^64: i * delta may leave T's range although start + i * delta never does.
            p[i] = static_cast<T>(uint64_t(int64_t(start)) + uint64_t(i) * uint64_t(int64_t(delta)));
          } else {
            p[i] = start + static_cast<T>(i) * delta;
          }
        }
      });
      ctx.set_output(0, out);
    }
  });
}

// -- Tile

void tile_shape(InferenceContext& c) {
  const Shape& in = c.input_shape(0);
  const Shape& ms = c.input_shape(1);
  if (ms.known_rank() && ms.rank() != 1) c.fail(str_cat("multiples must be a vector, got shape ", ms));
  Shape m = shape_from_shape_input(c, 1);
  if (in.known_rank() && m.known_rank() && m.rank() != in.rank())
    c.fail(str_cat("Expected multiples argument to be a vector of length ", in.rank(), " but got length ",
                   m.rank()));
  if (!m.known_rank() && in.known_rank()) m = Shape(std::vector<int64_t>(in.rank(), -1));
  if (!m.known_rank()) return c.set_output(0, Shape::unknown());
  std::vector<int64_t> out(m.rank(), -1);
  for (int i = 0; i < m.rank(); ++i) {
    const int64_t d = in.known_rank() ? in.dim(i) : -1, k = m.dim(i);
    if (k < -1) c.fail(str_cat("Expected multiples[", i, "] >= 0, but got ", k));
    if (k == 0 || d == 0) out[i] = 0;
    else if (k > 0 && d > 0) out[i] = d * k;
  }
  c.set_output(0, Shape(out));
}

void tile_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& mt = ctx.input(1);
  FG_CHECK(mt.rank() == 1 && mt.dim(0) == x.rank(), InvalidArgument,
           "Expected multiples argument to be a vector of length ", x.rank(), " but got length ",
           mt.rank() == 1 ? mt.dim(0) : mt.num_elements());
  const auto m = int_values(mt, "Tile");
  Dims out_dims;
  for (int i = 0; i < x.rank(); ++i) {
    FG_CHECK(m[i] >= 0, InvalidArgument, "Expected multiples[", i, "] >= 0, but got ", m[i]);
    FG_CHECK(x.dim(i) == 0 || m[i] <= std::numeric_limits<int64_t>::max() / x.dim(i), InvalidArgument,
             "Tile: multiples ", Shape(m), " overflow the shape ", x.shape());
    out_dims.push_back(x.dim(i) * m[i]);
  }
  checked_product(out_dims, "Tile");
  Tensor out = Tensor::empty(x.dtype(), Shape(out_dims));
  ctx.set_output(0, out);
  if (out.num_elements() == 0) return;
  const int r = x.rank();
  if (r == 0) {
    std::memcpy(out.raw_data(), x.raw_data(), x.num_bytes());
    return;
  }
  const size_t elem = dtype_size(x.dtype());
  const Dims in_strides = detail::row_major_strides(x.shape().dims());
  const int64_t in_inner = x.dim(r - 1), out_inner = out_dims[r - 1];
  const int64_t rows = out.num_elements() / out_inner;
  const char* src = static_cast<const char*>(x.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  parallel_for(rows, out_inner, [&](int64_t b, int64_t e) {
    Dims idx(r - 1, 0);
    for (int64_t q = b, i = r - 2; i >= 0; --i) {
      idx[i] = q % out_dims[i];
      q /= out_dims[i];
    }
    for (int64_t q = b; q < e; ++q) {
      int64_t in_off = 0;
      for (int i = 0; i < r - 1; ++i) in_off += (idx[i] % x.dim(i)) * in_strides[i];
      char* d = dst + q * out_inner * elem;
      for (int64_t k = 0; k < m[r - 1]; ++k) std::memcpy(d + k * in_inner * elem, src + in_off * elem, in_inner * elem);
      for (int i = r - 2; i >= 0; --i) {
        if (++idx[i] < out_dims[i]) break;
        idx[i] = 0;
      }
    }
  });
}

// TF's _TileGrad: reshape the gradient to interleaved [multiple_i, dim_i] pairs and sum the
// multiples away.
std::vector<Output> tile_grad(GradContext& c) {
  const Output x = c.input(0), multiples = c.input(1);
  const Output input_shape = detail::shape_or_constant(x, multiples.dtype());
  const Output split_shape = reshape(transpose(stack({multiples, input_shape})), {-1});
  const Output axes = range(scalar_constant(*x.graph(), 0, split_shape.dtype()),
                            detail::size_or_constant(split_shape, split_shape.dtype()),
                            scalar_constant(*x.graph(), 2, split_shape.dtype()));
  return {detail::with_static_shape(sum(reshape(c.grad(0), split_shape), axes), x.shape()), Output()};
}

// -- Pack / Unpack

void pack_shape(InferenceContext& c) {
  Shape cur = c.input_shape(c.num_inputs() - 1);
  for (int i = c.num_inputs() - 2; i >= 0; --i)
    cur = cur.merge_with(c.input_shape(i), str_cat("Pack '", c.op().name(), "': shapes of all inputs must match"));
  if (!cur.known_rank()) return c.set_output(0, Shape::unknown());
  const int64_t rank = cur.rank() + 1;
  int64_t axis = c.attr<int64_t>("axis");
  if (axis < -rank || axis >= rank) c.fail(str_cat("Invalid axis: ", axis, "; must be in [", -rank, ",", rank, ")"));
  if (axis < 0) axis += rank;
  std::vector<int64_t> dims = cur.dim_vector();
  dims.insert(dims.begin() + axis, c.num_inputs());
  c.set_output(0, Shape(dims));
}

// Strings (a sharded saver packs its shards' file names): output element (o, k, i) is element
// (o, i) of input k, o over the dims before the axis and i over those after it.
Tensor pack_strings(KernelContext& ctx, int64_t axis, const Shape& out_shape) {
  const Tensor& x0 = ctx.input(0);
  int64_t inner = 1;
  for (int d = static_cast<int>(axis); d < x0.rank(); ++d) inner *= x0.dim(d);
  const int64_t outer = inner == 0 ? 0 : x0.num_elements() / inner;
  int64_t chars = 0;
  for (int k = 0; k < ctx.num_inputs(); ++k)
    for (int64_t i = 0; i < ctx.input(k).num_elements(); ++i) chars += static_cast<int64_t>(ctx.input(k).str(i).size());
  StringTensorWriter w(out_shape, chars);
  for (int64_t o = 0; o < outer; ++o)
    for (int k = 0; k < ctx.num_inputs(); ++k)
      for (int64_t i = 0; i < inner; ++i) w.append(ctx.input(k).str(o * inner + i));
  return std::move(w).finish();
}

void pack_kernel(KernelContext& ctx) {
  const int n = ctx.num_inputs();
  const Tensor& x0 = ctx.input(0);
  for (int i = 1; i < n; ++i)
    FG_CHECK(ctx.input(i).shape() == x0.shape(), InvalidArgument,
             "Shapes of all inputs must match: values[0].shape = ", x0.shape(), " != values[", i,
             "].shape = ", ctx.input(i).shape());
  const int64_t rank = x0.rank() + 1;
  int64_t axis = ctx.attr<int64_t>("axis");
  FG_CHECK(axis >= -rank && axis < rank, InvalidArgument, "axis = ", axis, " not in [", -rank, ", ", rank, ")");
  if (axis < 0) axis += rank;
  Dims out_dims = dims_of(x0.shape());
  out_dims.push_back(0);
  for (int64_t i = rank - 1; i > axis; --i) out_dims[i] = out_dims[i - 1];
  out_dims[axis] = n;
  if (x0.dtype() == DType::kString) return ctx.set_output(0, pack_strings(ctx, axis, Shape(out_dims)));
  Tensor out = Tensor::empty(x0.dtype(), Shape(out_dims));
  const Dims out_strides = detail::row_major_strides(out_dims);
  Dims steps;
  for (int64_t i = 0; i < rank; ++i)
    if (i != axis) steps.push_back(out_strides[i]);
  dispatch_all(x0.dtype(), "Pack", [&]<typename T>() {
    for (int k = 0; k < n; ++k)
      detail::strided_copy<true, T>(out.data<T>(), k * out_strides[axis], steps, ctx.input(k).data<T>(),
                                    x0.shape().dims());
  });
  ctx.set_output(0, out);
}

std::vector<Output> pack_grad(GradContext& c) {
  const int64_t n = c.op().attr<int64_t>("N");
  return unstack(c.grad(0), c.op().attr<int64_t>("axis"), n);
}

void unpack_shape(InferenceContext& c) {
  const Shape& s = c.input_shape(0);
  const int64_t num = c.attr<int64_t>("num");
  Shape out = Shape::unknown();
  if (s.known_rank()) {
    const int64_t rank = s.rank();
    int64_t axis = c.attr<int64_t>("axis");
    if (axis < -rank || axis >= rank) c.fail(str_cat("Invalid axis: ", axis, "; must be in [", -rank, ",", rank, ")"));
    if (axis < 0) axis += rank;
    const int64_t d = s.dim(static_cast<int>(axis));
    if (d >= 0 && d != num) c.fail(str_cat("Dimension must be ", num, " but is ", d));
    std::vector<int64_t> dims = s.dim_vector();
    dims.erase(dims.begin() + axis);
    out = Shape(dims);
  }
  for (int i = 0; i < num; ++i) c.set_output(i, out);
}

void unpack_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t num = ctx.attr<int64_t>("num");
  const int64_t rank = x.rank();
  int64_t axis = ctx.attr<int64_t>("axis");
  FG_CHECK(axis >= -rank && axis < rank, InvalidArgument, "axis = ", axis, " not in [", -rank, ", ", rank, ")");
  if (axis < 0) axis += rank;
  FG_CHECK(rank > 0 && x.dim(static_cast<int>(axis)) == num, InvalidArgument, "Input shape axis ", axis,
           " must equal ", num, ", got shape ", x.shape());
  const Dims in_strides = detail::row_major_strides(x.shape().dims());
  Dims dims, steps;
  for (int64_t i = 0; i < rank; ++i)
    if (i != axis) {
      dims.push_back(x.dim(static_cast<int>(i)));
      steps.push_back(in_strides[i]);
    }
  dispatch_all(x.dtype(), "Unpack", [&]<typename T>() {
    for (int64_t k = 0; k < num; ++k) {
      Tensor out = Tensor::empty(x.dtype(), Shape(dims));
      detail::strided_copy<false, T>(x.data<T>(), k * in_strides[axis], steps, out.data<T>(), dims);
      ctx.set_output(static_cast<int>(k), out);
    }
  });
}

std::vector<Output> unpack_grad(GradContext& c) {
  std::vector<Output> grads;
  for (int i = 0; i < c.op().num_outputs(); ++i) grads.push_back(c.grad_or_zeros(i));
  return {stack(grads, c.op().attr<int64_t>("axis"))};
}

// -- ConcatV2 / ConcatOffset

void concat_shape(InferenceContext& c) {
  const int n = c.num_inputs() - 1;
  if (n < 2) c.fail(str_cat("N = ", n, " values; ConcatV2 takes at least 2 (use identity for one)"));
  const Shape& as = c.input_shape(n);
  if (as.known_rank() && as.rank() != 0) c.fail(str_cat("axis must be a scalar, got shape ", as));
  int rank = -1;
  for (int i = 0; i < n; ++i) {
    const Shape& s = c.input_shape(i);
    if (!s.known_rank()) continue;
    if (s.rank() == 0) c.fail("Can't concatenate scalars (use tf.stack instead)");
    if (rank >= 0 && s.rank() != rank)
      c.fail(str_cat("Shape must be rank ", rank, " but is rank ", s.rank(), " for input ", i));
    rank = s.rank();
  }
  if (rank < 0) return c.set_output(0, Shape::unknown());
  const Tensor* at = c.input_constant(n);
  if (!at) return c.set_output(0, Shape(std::vector<int64_t>(rank, -1)));
  int64_t axis = int_values(*at, "ConcatV2")[0];
  if (axis < -rank || axis >= rank)
    c.fail(str_cat("Expected concat_dim in [", -rank, ", ", rank, "), but got ", axis));
  if (axis < 0) axis += rank;
  std::vector<int64_t> out(rank, -1);
  int64_t total = 0;
  for (int i = 0; i < n; ++i) {
    const Shape& s = c.input_shape(i);
    if (!s.known_rank()) {
      total = -1;
      continue;
    }
    for (int d = 0; d < rank; ++d) {
      if (d == axis) {
        total = (total < 0 || s.dim(d) < 0) ? -1 : total + s.dim(d);
      } else if (s.dim(d) >= 0) {
        if (out[d] >= 0 && out[d] != s.dim(d))
          c.fail(str_cat("Dimension ", d, " in both shapes must be equal, but are ", out[d], " and ", s.dim(d),
                         ". Shapes are ", c.input_shape(0), " and ", s, "."));
        out[d] = s.dim(d);
      }
    }
  }
  out[axis] = total;
  c.set_output(0, Shape(out));
}

void concat_kernel(KernelContext& ctx) {
  const int n = ctx.num_inputs() - 1;
  const Tensor& at = ctx.input(n);
  FG_CHECK(at.rank() == 0, InvalidArgument, "Concat dim tensor should be a scalar integer, but got shape ",
           at.shape());
  const int64_t axis_in = int_values(at, "ConcatV2")[0];
  const Tensor& x0 = ctx.input(0);
  const int64_t rank = x0.rank();
  FG_CHECK(axis_in >= -rank && axis_in < rank, InvalidArgument,
           "ConcatOp : Expected concatenating dimensions in the range [", -rank, ", ", rank, "), but got ",
           axis_in);
  const int64_t axis = axis_in < 0 ? axis_in + rank : axis_in;
  Dims out_dims = dims_of(x0.shape());
  out_dims[axis] = 0;
  for (int i = 0; i < n; ++i) {
    const Tensor& x = ctx.input(i);
    FG_CHECK(x.rank() == rank, InvalidArgument, "ConcatOp : Ranks of all input tensors should match: shape[0] = ",
             x0.shape(), " vs. shape[", i, "] = ", x.shape());
    for (int d = 0; d < rank; ++d)
      FG_CHECK(d == axis || x.dim(d) == x0.dim(d), InvalidArgument,
               "ConcatOp : Dimensions of inputs should match: shape[0] = ", x0.shape(), " vs. shape[", i,
               "] = ", x.shape());
    out_dims[axis] += x.dim(static_cast<int>(axis));
  }
  Tensor out = Tensor::empty(x0.dtype(), Shape(out_dims));
  const Dims out_strides = detail::row_major_strides(out_dims);
  dispatch_all(x0.dtype(), "ConcatV2", [&]<typename T>() {
    int64_t offset = 0;
    for (int i = 0; i < n; ++i) {
      const Tensor& x = ctx.input(i);
      detail::strided_copy<true, T>(out.data<T>(), offset * out_strides[axis], out_strides, x.data<T>(),
                                    x.shape().dims());
      offset += x.dim(static_cast<int>(axis));
    }
  });
  ctx.set_output(0, out);
}

// TF's _ConcatGradHelper (its ConcatOffset + Slice form): each input's gradient is the slice of
// the output gradient at that input's offset.
std::vector<Output> concat_grad(GradContext& c) {
  const int n = c.num_inputs() - 1;
  Graph& g = *c.input(0).graph();
  const Output axis = c.input(n);
  std::vector<Output> values;
  for (int i = 0; i < n; ++i) values.push_back(c.input(i));
  bool fully_known = true;
  for (const Output& v : values) fully_known = fully_known && v.shape().is_fully_defined();
  std::vector<Output> sizes;
  if (fully_known) {
    for (const Output& v : values) sizes.push_back(detail::shape_or_constant(v));
  } else {
    sizes = shape_n(values);
  }
  // concat_dim mod rank: TF's FloorMod, computed statically when the axis and rank are known.
  Output non_neg;
  std::vector<int64_t> av;
  if (detail::constant_int_values(axis, &av) && av.size() == 1 && values[0].shape().known_rank()) {
    non_neg = int_scalar(g, detail::canonical_axis(av[0], values[0].shape().rank(), "ConcatV2 gradient"),
                         DType::kInt32, "mod");
  } else {
    const Output a = axis.dtype() == DType::kInt32 ? axis : cast(axis, DType::kInt32);
    const Output r = detail::rank_or_constant(values[0]);
    non_neg = a + r * cast(less(a, scalar_constant(g, 0, DType::kInt32)), DType::kInt32);
  }
  Operation* offsets = OpBuilder(g, "ConcatOffset", "ConcatOffset").input(non_neg).input_list(sizes).build();
  std::vector<Output> grads;
  for (int i = 0; i < n; ++i) grads.push_back(slice(c.grad(0), offsets->output(i), sizes[i]));
  grads.push_back(Output());
  return grads;
}

void concat_offset_shape(InferenceContext& c) {
  const Shape& d = c.input_shape(0);
  if (d.known_rank() && d.rank() != 0) c.fail(str_cat("concat_dim must be a scalar, got shape ", d));
  if (c.num_inputs() - 1 < 2) c.fail(str_cat("N = ", c.num_inputs() - 1, "; ConcatOffset takes at least 2 shapes"));
  for (int i = 1; i < c.num_inputs(); ++i) c.set_output(i - 1, c.input_shape(i));
}

void concat_offset_kernel(KernelContext& ctx) {
  const Tensor& cd = ctx.input(0);
  FG_CHECK(cd.rank() == 0, InvalidArgument, "Concat dim tensor should be a scalar integer, but got shape ",
           cd.shape());
  const int64_t cdim = *cd.data<int32_t>();
  const int n = ctx.num_inputs() - 1;
  const Tensor& s0 = ctx.input(1);
  FG_CHECK(s0.rank() == 1, InvalidArgument, "ConcatOffset: shape 0 must be a vector, got shape ", s0.shape());
  const int64_t dims = s0.num_elements();
  FG_CHECK(cdim >= 0 && cdim < dims, InvalidArgument, "Concat dim is out of range: ", cdim, " vs. ", dims);
  int64_t offset = 0;
  for (int i = 0; i < n; ++i) {
    const Tensor& s = ctx.input(1 + i);
    FG_CHECK(s.rank() == 1 && s.num_elements() == dims, InvalidArgument, "input ", i, " should contain ", dims,
             " elements, but got ", s.num_elements());
    Tensor out = Tensor::empty(DType::kInt32, {dims});
    for (int64_t j = 0; j < dims; ++j) {
      const int32_t v = s.data<int32_t>()[j];
      if (j == cdim) {
        out.data<int32_t>()[j] = static_cast<int32_t>(offset);
        offset += v;
      } else {
        FG_CHECK(v == s0.data<int32_t>()[j], InvalidArgument, "All dimensions except ", cdim, " must match. Input ",
                 i, " has shape ", s.to_string(), " and doesn't match input 0 with shape ", s0.to_string(), ".");
        out.data<int32_t>()[j] = 0;
      }
    }
    ctx.set_output(i, out);
  }
}

// -- Transpose / InvertPermutation

void transpose_shape(InferenceContext& c) {
  const Shape& in = c.input_shape(0);
  const Shape& ps = c.input_shape(1);
  if (ps.known_rank() && ps.rank() != 1) c.fail(str_cat("perm must be a vector, got shape ", ps));
  const Tensor* perm = c.input_constant(1);
  int64_t rank = -1;
  if (in.known_rank()) rank = in.rank();
  else if (ps.known_rank() && ps.dim(0) >= 0) rank = ps.dim(0);
  else if (perm) rank = perm->num_elements();
  if (rank < 0) return c.set_output(0, Shape::unknown());
  if (!in.known_rank() && rank < 2) return c.set_output(0, in);
  if (ps.known_rank() && ps.dim(0) >= 0 && ps.dim(0) != rank)
    c.fail(str_cat("Dimension must be ", rank, " but is ", ps.dim(0), " for the perm of a rank-", rank, " input"));
  std::vector<int64_t> out(rank, -1);
  if (perm) {
    const auto p = int_values(*perm, "Transpose");
    if (static_cast<int64_t>(p.size()) != rank)
      c.fail(str_cat("transpose expects a vector of size ", rank, ". But input(1) is a vector of size ", p.size()));
    for (int64_t i = 0; i < rank; ++i) {
      if (p[i] < 0 || p[i] >= rank) c.fail(str_cat("perm dim ", p[i], " is out of range of input rank ", rank));
      if (in.known_rank()) out[i] = in.dim(static_cast<int>(p[i]));
    }
  }
  c.set_output(0, Shape(out));
}

// The permutation as int64 after TF's checks.
Dims read_perm(const Tensor& pt, int64_t dims) {
  FG_CHECK(pt.rank() == 1, InvalidArgument, "perm must be a vector, not ", pt.shape());
  FG_CHECK(pt.num_elements() == dims, InvalidArgument, "transpose expects a vector of size ", dims,
           ". But input(1) is a vector of size ", pt.num_elements());
  Dims p = int_values(pt, "Transpose");
  SmallVector<char, Shape::kInline> seen(dims, 0);
  for (int64_t i = 0; i < dims; ++i) {
    FG_CHECK(p[i] >= 0 && p[i] < dims, InvalidArgument, p[i], " is out of range [0 .. ", dims, ")");
    seen[p[i]] = 1;
  }
  for (int64_t i = 0; i < dims; ++i) {
    if (!seen[i]) {
      std::string list;
      for (int64_t j = 0; j < dims; ++j) list += (j ? "," : "") + std::to_string(p[j]);
      throw InvalidArgument(str_cat(i, " is missing from {", list, "}."));
    }
  }
  return p;
}

void transpose_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Dims perm = read_perm(ctx.input(1), x.rank());
  bool identity = true;
  for (int i = 0; i < x.rank(); ++i) identity = identity && perm[i] == i;
  if (identity) return ctx.set_output(0, x);
  const Dims in_strides = detail::row_major_strides(x.shape().dims());
  Dims out_dims, steps;
  for (int i = 0; i < x.rank(); ++i) {
    out_dims.push_back(x.dim(static_cast<int>(perm[i])));
    steps.push_back(in_strides[perm[i]]);
  }
  Tensor out = Tensor::empty(x.dtype(), Shape(out_dims));
  dispatch_all(x.dtype(), "Transpose", [&]<typename T>() {
    detail::strided_copy<false, T>(x.data<T>(), 0, steps, out.data<T>(), out_dims);
  });
  ctx.set_output(0, out);
}

std::vector<Output> transpose_grad(GradContext& c) {
  return {detail::with_static_shape(transpose(c.grad(0), invert_permutation(c.input(1))), c.input(0).shape()),
          Output()};
}

void invert_permutation_shape(InferenceContext& c) {
  const Shape& s = c.input_shape(0);
  if (s.known_rank() && s.rank() != 1) c.fail(str_cat("Shape must be rank 1 but is rank ", s.rank()));
  c.set_output(0, s.known_rank() ? s : Shape{-1});
}

void invert_permutation_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  FG_CHECK(x.rank() == 1, InvalidArgument, "invert_permutation expects a 1D vector.");
  const auto p = int_values(x, "InvertPermutation");
  const int64_t n = x.num_elements();
  FG_CHECK(n <= std::numeric_limits<int32_t>::max(), InvalidArgument, "permutation of ", n,
           " elements exceeds int32 range");
  std::vector<int64_t> inv(n, -1);
  for (int64_t i = 0; i < n; ++i) {
    FG_CHECK(p[i] >= 0 && p[i] < n, InvalidArgument, p[i], " is not between 0 and ", n);
    FG_CHECK(inv[p[i]] == -1, InvalidArgument, p[i], " is duplicated in the input.");
    inv[p[i]] = i;
  }
  Tensor out = Tensor::empty(x.dtype(), x.shape());
  for (int64_t i = 0; i < n; ++i) store_int(out, i, inv[i]);
  ctx.set_output(0, out);
}

// -- Pad

void pad_shape(InferenceContext& c) {
  const Shape& in = c.input_shape(0);
  const Shape& ps = c.input_shape(1);
  if (ps.known_rank() && (ps.rank() != 2 || (ps.dim(1) >= 0 && ps.dim(1) != 2)))
    c.fail(str_cat("paddings must be a matrix with 2 columns, got shape ", ps));
  int64_t n = ps.known_rank() ? ps.dim(0) : -1;
  if (n >= 0 && in.known_rank() && in.rank() != n)
    c.fail(str_cat("The first dimension of paddings must be the rank of inputs", in, " ", ps));
  if (n < 0 && in.known_rank()) n = in.rank();
  const Tensor* p = c.input_constant(1);
  if (!p) return c.set_output(0, n >= 0 ? Shape(std::vector<int64_t>(n, -1)) : Shape::unknown());
  const auto v = int_values(*p, "Pad");
  std::vector<int64_t> out(n);
  for (int64_t i = 0; i < n; ++i) {
    if (v[2 * i] < 0 || v[2 * i + 1] < 0) c.fail("Paddings must be non-negative");
    const int64_t d = in.known_rank() ? in.dim(static_cast<int>(i)) : -1;
    out[i] = d < 0 ? -1 : d + v[2 * i] + v[2 * i + 1];
  }
  c.set_output(0, Shape(out));
}

void pad_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& pt = ctx.input(1);
  FG_CHECK(pt.rank() == 2 && pt.dim(1) == 2, InvalidArgument, "paddings must be a matrix with 2 columns: ",
           pt.shape());
  FG_CHECK(pt.dim(0) == x.rank(), InvalidArgument, "The first dimension of paddings must be the rank of inputs",
           pt.shape(), " ", x.shape());
  const auto p = int_values(pt, "Pad");
  Dims out_dims;
  for (int i = 0; i < x.rank(); ++i) {
    FG_CHECK(p[2 * i] >= 0 && p[2 * i + 1] >= 0, InvalidArgument, "Paddings must be non-negative: ", p[2 * i], " ",
             p[2 * i + 1]);
    FG_CHECK(p[2 * i] <= std::numeric_limits<int64_t>::max() / 2 - x.dim(i) - p[2 * i + 1], InvalidArgument,
             "Pad: paddings overflow dimension ", i);
    out_dims.push_back(x.dim(i) + p[2 * i] + p[2 * i + 1]);
  }
  checked_product(out_dims, "Pad");
  Tensor out(x.dtype(), Shape(out_dims));  // zero-filled
  const Dims out_strides = detail::row_major_strides(out_dims);
  int64_t base = 0;
  for (int i = 0; i < x.rank(); ++i) base += p[2 * i] * out_strides[i];
  dispatch_all(x.dtype(), "Pad", [&]<typename T>() {
    detail::strided_copy<true, T>(out.data<T>(), base, out_strides, x.data<T>(), x.shape().dims());
  });
  ctx.set_output(0, out);
}

// TF's _PadGrad: the slice of the gradient where the input sits.
std::vector<Output> pad_grad(GradContext& c) {
  const Output x = c.input(0), a = c.input(1);
  Graph& g = *x.graph();
  const Output zeros = detail::int_vector(g, std::vector<int64_t>{0, 0}, DType::kInt32, "Const");
  const Output one = scalar_constant(g, 1, DType::kInt32);
  const Output pad_before = slice(a, zeros, stack({detail::rank_or_constant(x), one}));
  const Output begin = reshape(pad_before, {-1});
  const Output sizes = detail::shape_or_constant(x, a.dtype());
  return {slice(c.grad(0), begin, sizes), Output()};
}

// -- PreventGradient

void forward_kernel(KernelContext& ctx) { ctx.set_output(0, ctx.input(0)); }

std::vector<Output> prevent_gradient_grad(GradContext& c) {
  throw InvalidArgument(str_cat("Gradient explicitly disabled. Reason: ", c.op().attr<std::string>("message"),
                                " (PreventGradient '", c.op().name(), "')"));
}

}  // namespace

void register_shape_ops(OpRegistry& r) {
  r.add("ShapeN").list_input("input", "T", "N").list_output("output", "out_type", "N").attr("N")
      .attr("out_type", DType::kInt32).type_attr("T", kAllTypesAndString).type_attr("out_type", kIndexTypes)
      .shape(shape_n_shape).kernel_fn(shape_n_kernel).not_differentiable("integer output");
  r.add("Size").input("input", "T").output("output", "out_type").attr("out_type", DType::kInt32)
      .type_attr("T", kAllTypesAndString).type_attr("out_type", kIndexTypes).shape(scalar_shape).kernel_fn(size_kernel)
      .not_differentiable("integer output");
  r.add("Rank").input("input", "T").output("output", DType::kInt32).type_attr("T", kAllTypesAndString).shape(scalar_shape)
      .kernel_fn(rank_kernel).not_differentiable("integer output");
  r.add("Range").input("start", "Tidx").input("limit", "Tidx").input("delta", "Tidx").output("output", "Tidx")
      .attr("Tidx", DType::kInt32)
      .type_attr("Tidx", {DType::kFloat, DType::kDouble, DType::kInt32, DType::kInt64}).shape(range_shape)
      .kernel_fn(range_kernel).not_differentiable("TF's NotDifferentiable: a sequence from its bounds");
  r.add("Tile").input("input", "T").input("multiples", "Tmultiples").output("output", "T")
      .attr("Tmultiples", DType::kInt32).type_attr("T", kAllTypes).type_attr("Tmultiples", kIndexTypes)
      .shape(tile_shape).kernel_fn(tile_kernel).gradient(tile_grad);
  r.add("Pack").list_input("values", "T", "N").output("output", "T").attr("N").attr("axis", int64_t{0})
      .type_attr("T", kAllTypesAndString).shape(pack_shape).kernel_fn(pack_kernel).gradient(pack_grad);
  r.add("Unpack").input("value", "T").list_output("output", "T", "num").attr("num").attr_minimum("num", 0)
      .attr("axis", int64_t{0})
      .type_attr("T", kAllTypes).shape(unpack_shape).kernel_fn(unpack_kernel).gradient(unpack_grad);
  r.add("ConcatV2").list_input("values", "T", "N").input("axis", "Tidx").output("output", "T").attr("N")
      .attr_minimum("N", 2)
      .attr("Tidx", DType::kInt32).type_attr("T", kAllTypes).type_attr("Tidx", kIndexTypes).shape(concat_shape)
      .kernel_fn(concat_kernel).gradient(concat_grad);
  r.add("ConcatOffset").input("concat_dim", DType::kInt32).list_input("shape", "int32", "N")
      .list_output("offset", "int32", "N").attr("N").shape(concat_offset_shape).kernel_fn(concat_offset_kernel)
      .not_differentiable("integer output");
  r.add("Transpose").input("x", "T").input("perm", "Tperm").output("y", "T").attr("Tperm", DType::kInt32)
      .type_attr("T", kAllTypes).type_attr("Tperm", kIndexTypes).shape(transpose_shape).kernel_fn(transpose_kernel)
      .gradient(transpose_grad);
  r.add("InvertPermutation").input("x", "T").output("y", "T").attr("T", DType::kInt32).type_attr("T", kIndexTypes)
      .shape(invert_permutation_shape).kernel_fn(invert_permutation_kernel).not_differentiable("integer output");
  r.add("Pad").input("input", "T").input("paddings", "Tpaddings").output("output", "T")
      .attr("Tpaddings", DType::kInt32).type_attr("T", kAllTypes).type_attr("Tpaddings", kIndexTypes)
      .shape(pad_shape).kernel_fn(pad_kernel).gradient(pad_grad);
  r.add("PreventGradient").input("input", "T").output("output", "T").attr("message", std::string())
      .type_attr("T", kAllTypes).shape(unchanged_shape).kernel_fn(forward_kernel).gradient(prevent_gradient_grad);
}

}  // namespace fg
