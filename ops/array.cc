#include "ops/array.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/parallel.h"
#include "graph/op_registry.h"
#include "ops/internal/register.h"
#include "ops/math.h"
#include "ops/register.h"

namespace fg {

namespace {

// One element of Cast, defined for every input: C++ leaves a float-to-integer conversion of NaN or
// of a value outside the integer's range undefined, so those saturate (NaN gives 0). Everything
// else converts as static_cast does.
template <typename D, typename S>
inline D cast_value(S x) {
  if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D> && !std::is_same_v<D, bool>) {
    constexpr S lo = static_cast<S>(std::numeric_limits<D>::min());  // -2^(bits-1), or 0: exact
    constexpr S hi = std::is_signed_v<D> ? -lo : static_cast<S>(std::numeric_limits<D>::max()) + S(1);  // exact
    if (!(x == x)) return D(0);
    if (x >= hi) return std::numeric_limits<D>::max();
    if (x <= lo) return std::numeric_limits<D>::min();
  }
  return static_cast<D>(x);
}

}  // namespace

// ---- builders
// Those that can start a graph (a Graph&, no input) register the ops first (ops/register.h).

Output placeholder(Graph& g, DType dtype, const Shape& shape, const std::string& name) {
  register_ops();
  return OpBuilder(g, "Placeholder", name).attr("dtype", dtype).attr("shape", shape).build_output();
}

Output placeholder_with_default(const Output& input, const Shape& shape, const std::string& name) {
  return OpBuilder(input, "PlaceholderWithDefault", name)
      .input(input).attr("dtype", input.dtype()).attr("shape", shape).build_output();
}

Output placeholder_with_default(Graph& g, const Tensor& value, const Shape& shape, const std::string& name) {
  // TF1 names the default value "<name>/input", created in the op's own scope before the op.
  const std::string full = g.unique_name(name.empty() ? "PlaceholderWithDefault" : name, /*mark_as_used=*/false);
  Output input;
  {
    auto scope = g.name_scope(full + "/");
    input = constant(g, value, "input");
  }
  return placeholder_with_default(input, shape, full + "/");
}

Output constant(Graph& g, const Tensor& value, const std::string& name) {
  FG_CHECK(value.valid(), InvalidArgument, "constant '", name, "': empty tensor");
  register_ops();
  return OpBuilder(g, "Const", name.empty() ? "Const" : name).attr("dtype", value.dtype()).attr("value", value).build_output();
}

Output scalar_constant(Graph& g, double v, DType dtype, const std::string& name) {
  Tensor t = dispatch_all(dtype, "scalar_constant", [&]<typename T>() {
    Tensor s = Tensor::empty(dtype, {});
    *s.data<T>() = cast_value<T>(v);
    return s;
  });
  return constant(g, t, name);
}

Output identity(const Output& x, const std::string& name) {
  return OpBuilder(x, "Identity", name).input(x).build_output();
}

Output stop_gradient(const Output& x, const std::string& name) {
  return OpBuilder(x, "StopGradient", name).input(x).build_output();
}

Operation* no_op(Graph& g, const std::string& name) {
  register_ops();
  return OpBuilder(g, "NoOp", name).build();
}

Operation* group(Graph& g, const std::vector<Operation*>& ops, const std::string& name) {
  register_ops();
  OpBuilder b(g, "NoOp", name.empty() ? "group_deps" : name);
  for (Operation* op : ops) b.control_input(op);
  return b.build();
}

Output reshape(const Output& x, const Output& shape, const std::string& name) {
  return OpBuilder(x, "Reshape", name).input(x).input(shape).build_output();
}

namespace {

// TF's constant for a list of ints: int32 when every value fits, int64 otherwise, so a
// dimension is never narrowed on its way to the kernel.
Tensor index_vector(const std::vector<int64_t>& values) {
  const bool fits = std::all_of(values.begin(), values.end(), [](int64_t v) {
    return v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max();
  });
  if (!fits) return Tensor::from_vector(values);
  return Tensor::from_vector(std::vector<int32_t>(values.begin(), values.end()));
}

Tensor index_scalar(int64_t v) {
  if (v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max())
    return Tensor(static_cast<int32_t>(v));
  return Tensor(v);
}

}  // namespace

Output reshape(const Output& x, const std::vector<int64_t>& dims, const std::string& name) {
  Graph& g = *x.graph();
  const std::string full = g.unique_name(name.empty() ? "Reshape" : name, false);
  Output s;
  {
    auto scope = g.name_scope(full + "/");
    s = constant(g, index_vector(dims), "shape");
  }
  return reshape(x, s, full + "/");
}

Output shape(const Output& x, DType out_type, const std::string& name) {
  return OpBuilder(x, "Shape", name).input(x).attr("out_type", out_type).build_output();
}

Output fill(const Output& dims, const Output& value, const std::string& name) {
  return OpBuilder(dims, "Fill", name).input(dims).input(value).build_output();
}

Output zeros_like(const Output& x, const std::string& name) {
  return OpBuilder(x, "ZerosLike", name).input(x).build_output();
}

Output ones_like(const Output& x, const std::string& name) {
  return OpBuilder(x, "OnesLike", name).input(x).build_output();
}

Output cast(const Output& x, DType dtype, const std::string& name) {
  return OpBuilder(x, "Cast", name).input(x).attr("SrcT", x.dtype()).attr("DstT", dtype).build_output();
}

Output expand_dims(const Output& x, int64_t axis, const std::string& name) {
  Graph& g = *x.graph();
  const std::string full = g.unique_name(name.empty() ? "ExpandDims" : name, false);
  Output dim;
  {
    auto scope = g.name_scope(full + "/");
    dim = constant(g, index_scalar(axis), "dim");
  }
  return OpBuilder(x, "ExpandDims", full + "/").input(x).input(dim).build_output();
}

// ---- kernels, shapes, gradients

namespace {

void placeholder_shape(InferenceContext& c) { c.set_output(0, c.attr<Shape>("shape")); }

void placeholder_kernel(KernelContext& ctx) {
  throw InvalidArgument(str_cat("You must feed a value for placeholder tensor '", ctx.op_name(), "' with dtype ",
                                dtype_name(ctx.attr<DType>("dtype")), " and shape ", ctx.attr<Shape>("shape")));
}

void pwd_shape(InferenceContext& c) {
  c.set_output(0, c.attr<Shape>("shape").merge_with(c.input_shape(0), "PlaceholderWithDefault '" + c.op().name() + "'"));
}

void forward_kernel(KernelContext& ctx) { ctx.set_output(0, ctx.input(0)); }

void const_shape(InferenceContext& c) { c.set_output(0, c.attr<Tensor>("value").shape()); }
void const_kernel(KernelContext& ctx) { ctx.set_output(0, ctx.attr<Tensor>("value")); }

void noop_kernel(KernelContext&) {}

std::vector<Output> identity_grad(GradContext& c) { return {c.grad(0)}; }

// Resolves a requested shape (one -1 allowed) against a number of elements. `who` names the
// op in graph-time errors; at run time the session adds the node.
Shape resolve_reshape(std::span<const int64_t> req, int64_t n, const Shape& from, const std::string& who) {
  int64_t known = 1;
  int unknown = -1;
  bool overflow = false;
  SmallVector<int64_t, Shape::kInline> dims;
  for (int64_t d : req) dims.push_back(d);
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      FG_CHECK(unknown < 0, InvalidArgument, who, ": only one input size may be -1, not both ", unknown, " and ", i);
      unknown = static_cast<int>(i);
    } else {
      FG_CHECK(dims[i] >= 0, InvalidArgument, who, ": size ", i, " must be non-negative, not ", dims[i]);
      overflow = overflow || __builtin_mul_overflow(known, dims[i], &known);
    }
  }
  FG_CHECK(!overflow, InvalidArgument, who, ": cannot reshape a tensor with ", n, " elements (shape ", from,
           ") to shape ", Shape(req), ": the number of elements overflows int64");
  if (unknown >= 0) {
    FG_CHECK(known > 0 && n % known == 0, InvalidArgument, who, ": cannot reshape a tensor with ", n,
             " elements (shape ", from, ") to ", Shape(req));
    dims[unknown] = n / known;
  } else {
    FG_CHECK(known == n, InvalidArgument, who, ": cannot reshape a tensor with ", n, " elements (shape ", from,
             ") to shape ", Shape(req), " (", known, " elements)");
  }
  return Shape(dims);
}

void reshape_shape(InferenceContext& c) {
  Shape req = shape_from_shape_input(c, 1);
  if (req.known_rank()) {
    const int64_t n = c.input_shape(0).num_elements();
    if (n >= 0 && c.input_constant(1)) {
      req = resolve_reshape(req.dims(), n, c.input_shape(0), str_cat("Reshape '", c.op().name(), "'"));
    }
  }
  c.set_output(0, req);
}

void reshape_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.set_output(0, x.reshaped(resolve_reshape(int_values(ctx.input(1), "Reshape"), x.num_elements(), x.shape(),
                                                "Reshape")));
}

std::vector<Output> reshape_grad(GradContext& c) {
  const Output x = c.input(0);
  if (x.shape().is_fully_defined()) return {reshape(c.grad(0), x.shape().dim_vector()), Output()};
  return {reshape(c.grad(0), shape(x)), Output()};
}

void shape_shape(InferenceContext& c) {
  const Shape& s = c.input_shape(0);
  c.set_output(0, s.known_rank() ? Shape{s.rank()} : Shape{-1});
}

void shape_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  Tensor out = Tensor::empty(ctx.attr<DType>("out_type"), {x.rank()});
  for (int i = 0; i < x.rank(); ++i) {
    if (out.dtype() == DType::kInt32) {
      FG_CHECK(x.dim(i) <= std::numeric_limits<int32_t>::max(), InvalidArgument, "Shape: out_type is int32 but dim ",
               i, " of shape ", x.shape(), " is ", x.dim(i), "; use out_type int64");
      out.data<int32_t>()[i] = static_cast<int32_t>(x.dim(i));
    } else {
      out.data<int64_t>()[i] = x.dim(i);
    }
  }
  ctx.set_output(0, out);
}

void fill_shape(InferenceContext& c) { c.set_output(0, shape_from_shape_input(c, 0)); }

void fill_kernel(KernelContext& ctx) {
  const Tensor& value = ctx.input(1);
  FG_CHECK(value.num_elements() == 1 && value.rank() == 0, InvalidArgument, "Fill: value must be a scalar, got shape ",
           value.shape());
  FG_CHECK(ctx.input(0).rank() == 1, InvalidArgument, "Fill: dims must be a vector, got shape ", ctx.input(0).shape());
  Tensor out = Tensor::empty(value.dtype(), shape_from_dims(int_values(ctx.input(0), "Fill"), "Fill"));
  dispatch_all(value.dtype(), "Fill", [&]<typename T>() {
    const T v = *value.data<T>();
    T* p = out.data<T>();
    parallel_for(out.num_elements(), 1, [&](int64_t b, int64_t e) { std::fill(p + b, p + e, v); });
  });
  ctx.set_output(0, out);
}

std::vector<Output> fill_grad(GradContext& c) { return {Output(), reduce_sum(c.grad(0))}; }

template <int kValue>
void fill_like_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  Tensor out = Tensor::empty(x.dtype(), x.shape());
  dispatch_all(x.dtype(), "ZerosLike/OnesLike", [&]<typename T>() {
    T* p = out.data<T>();
    parallel_for(out.num_elements(), 1, [&](int64_t b, int64_t e) { std::fill(p + b, p + e, static_cast<T>(kValue)); });
  });
  ctx.set_output(0, out);
}

void cast_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const DType dst = ctx.attr<DType>("DstT");
  if (x.dtype() == dst) {
    ctx.set_output(0, x);
    return;
  }
  Tensor out = Tensor::empty(dst, x.shape());
  dispatch_all(x.dtype(), "Cast", [&]<typename S>() {
    dispatch_all(dst, "Cast", [&]<typename D>() {
      const S* in = x.data<S>();
      D* o = out.data<D>();
      parallel_for(x.num_elements(), 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) o[i] = cast_value<D>(in[i]);
      });
    });
  });
  ctx.set_output(0, out);
}

std::vector<Output> cast_grad(GradContext& c) {
  const DType src = c.op().attr<DType>("SrcT"), dst = c.op().attr<DType>("DstT");
  if (is_floating(src) && is_floating(dst)) return {cast(c.grad(0), src)};
  return {Output()};
}

int64_t normalize_axis(int64_t axis, int rank_after, const std::string& who) {
  FG_CHECK(axis >= -rank_after && axis < rank_after, InvalidArgument, who, ": axis ", axis, " out of range for rank ",
           rank_after);
  return axis < 0 ? axis + rank_after : axis;
}

void expand_dims_shape(InferenceContext& c) {
  const Shape& s = c.input_shape(0);
  const Tensor* d = c.input_constant(1);
  if (!s.known_rank() || !d) return c.set_output(0, Shape::unknown());
  std::vector<int64_t> dims = s.dim_vector();
  const int64_t axis = normalize_axis(int_values(*d, "ExpandDims")[0], s.rank() + 1, "ExpandDims");
  dims.insert(dims.begin() + axis, 1);
  c.set_output(0, Shape(dims));
}

void expand_dims_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const auto axis_v = int_values(ctx.input(1), "ExpandDims");
  FG_CHECK(axis_v.size() == 1, InvalidArgument, "ExpandDims: dim must be a scalar");
  const int64_t axis = normalize_axis(axis_v[0], x.rank() + 1, "ExpandDims");
  SmallVector<int64_t, Shape::kInline> dims;
  for (int i = 0; i < x.rank(); ++i) {
    if (i == axis) dims.push_back(1);
    dims.push_back(x.dim(i));
  }
  if (axis == x.rank()) dims.push_back(1);
  ctx.set_output(0, x.reshaped(Shape(dims)));
}

}  // namespace

void register_array_ops(OpRegistry& r) {
  r.add("Placeholder").output("output", "dtype").attr("dtype").attr("shape", Shape::unknown())
      .type_attr("dtype", kAllTypesAndString)
      .shape(placeholder_shape).kernel_fn(placeholder_kernel).set_stateful().legacy_unknown_shape("shape")
      .not_differentiable("a leaf: no inputs");
  r.add("PlaceholderWithDefault").input("input", "dtype").output("output", "dtype").attr("dtype").attr("shape")
      .type_attr("dtype", kAllTypesAndString)
      .shape(pwd_shape).kernel_fn(forward_kernel).forwarding().gradient(identity_grad);
  r.add("Const").output("output", "dtype").attr("value").attr("dtype").type_attr("dtype", kAllTypesAndString)
      .shape(const_shape).kernel_fn(const_kernel)
      .constant("value").not_differentiable("a leaf: no inputs");
  r.add("Identity").input("input", "T").output("output", "T").type_attr("T", kAllTypesAndString).shape(unchanged_shape).kernel_fn(forward_kernel)
      .forwarding().gradient(identity_grad);
  r.add("StopGradient").input("input", "T").output("output", "T").type_attr("T", kAllTypesAndString)
      .shape(unchanged_shape).kernel_fn(forward_kernel)
      .forwarding().not_differentiable("stops gradients by definition");
  r.add("NoOp").kernel_fn(noop_kernel).not_differentiable("no inputs or outputs");
  r.add("Reshape").input("tensor", "T").input("shape", "Tshape").output("output", "T").attr("Tshape", DType::kInt32)
      .type_attr("Tshape", {DType::kInt32, DType::kInt64}).type_attr("T", kAllTypesAndString).shape(reshape_shape).kernel_fn(reshape_kernel)
      .gradient(reshape_grad);
  r.add("Shape").input("input", "T").output("output", "out_type").attr("out_type", DType::kInt32)
      .type_attr("out_type", {DType::kInt32, DType::kInt64}).type_attr("T", kAllTypesAndString).shape(shape_shape).kernel_fn(shape_kernel)
      .not_differentiable("integer output");
  r.add("Fill").input("dims", "index_type").input("value", "T").output("output", "T").attr("index_type", DType::kInt32)
      .type_attr("index_type", {DType::kInt32, DType::kInt64}).shape(fill_shape).kernel_fn(fill_kernel)
      .gradient(fill_grad);
  r.add("ZerosLike").input("x", "T").output("y", "T").shape(unchanged_shape).kernel_fn(fill_like_kernel<0>)
      .not_differentiable("the value does not depend on x's");
  r.add("OnesLike").input("x", "T").output("y", "T").shape(unchanged_shape).kernel_fn(fill_like_kernel<1>)
      .not_differentiable("the value does not depend on x's");
  r.add("Cast").input("x", "SrcT").output("y", "DstT").attr("SrcT").attr("DstT")
      .shape(unchanged_shape).kernel_fn(cast_kernel).gradient(cast_grad);
  r.add("ExpandDims").input("input", "T").input("dim", "Tdim").output("output", "T").attr("Tdim", DType::kInt32)
      .type_attr("Tdim", {DType::kInt32, DType::kInt64}).type_attr("T", kAllTypesAndString).shape(expand_dims_shape).kernel_fn(expand_dims_kernel)
      .gradient(reshape_grad);
}

}  // namespace fg
