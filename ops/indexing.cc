#include "ops/indexing.h"

#include <cstring>
#include <limits>
#include <unordered_map>

#include "core/parallel.h"
#include "graph/op_registry.h"
#include "ops/internal/register.h"
#include "ops/array.h"
#include "ops/math.h"
#include "ops/internal/kernel_util.h"
#include "ops/shape_ops.h"
#include "ops/internal/strided_copy.h"

namespace fg {

using detail::Dims;
using detail::int_scalar;
using detail::int_vector;

namespace {

std::string composite(Graph& g, const std::string& name, const char* default_name) {
  return g.composite_name(name.empty() ? default_name : name);
}

// int32 unless a value needs int64, as TF converts Python lists of ints.
DType index_dtype(std::initializer_list<const std::vector<int64_t>*> lists) {
  for (const auto* v : lists)
    for (int64_t x : *v)
      if (x < std::numeric_limits<int32_t>::min() || x > std::numeric_limits<int32_t>::max()) return DType::kInt64;
  return DType::kInt32;
}

// The elements of a uint8, int32 or int64 tensor as int64.
std::vector<int64_t> index_values(const Tensor& t, const char* who) {
  std::vector<int64_t> r(t.num_elements());
  if (t.dtype() == DType::kUInt8) std::copy(t.data<uint8_t>(), t.data<uint8_t>() + r.size(), r.begin());
  else if (t.dtype() == DType::kInt32) std::copy(t.data<int32_t>(), t.data<int32_t>() + r.size(), r.begin());
  else if (t.dtype() == DType::kInt64) std::copy(t.data<int64_t>(), t.data<int64_t>() + r.size(), r.begin());
  else throw InvalidArgument(str_cat(who, ": indices must be uint8, int32 or int64, not ", dtype_name(t.dtype())));
  return r;
}
}  // namespace

// ---- builders

Output slice(const Output& input, const Output& begin, const Output& size, const std::string& name) {
  return OpBuilder(input, "Slice", name).input(input).input(begin).input(size).build_output();
}

Output slice(const Output& input, const std::vector<int64_t>& begin, const std::vector<int64_t>& size,
             const std::string& name) {
  Graph& g = detail::graph_of(input, "slice");
  const std::string full = composite(g, name, "Slice");
  Output b, s;
  {
    auto scope = g.name_scope(full + "/");
    const DType t = index_dtype({&begin, &size});  // one Index dtype for both
    b = int_vector(g, begin, t, "begin");
    s = int_vector(g, size, t, "size");
  }
  return slice(input, b, s, full + "/");
}

Output strided_slice(const Output& x, const Output& begin, const Output& end, const Output& strides,
                     const StridedSliceOptions& o) {
  return OpBuilder(x, "StridedSlice", o.name).input(x).input(begin).input(end).input(strides)
      .attr("begin_mask", o.begin_mask).attr("end_mask", o.end_mask).attr("ellipsis_mask", o.ellipsis_mask)
      .attr("new_axis_mask", o.new_axis_mask).attr("shrink_axis_mask", o.shrink_axis_mask).build_output();
}

Output strided_slice(const Output& x, const std::vector<SliceIndex>& index, const std::string& name) {
  FG_CHECK(index.size() <= 62, InvalidArgument, "strided_slice: ", index.size(), " index entries; at most 62");
  std::vector<int64_t> begin, end, strides;
  StridedSliceOptions o;
  for (size_t i = 0; i < index.size(); ++i) {
    const int64_t bit = int64_t{1} << i;
    const auto& v = index[i].value();
    if (const auto* k = std::get_if<int64_t>(&v)) {
      FG_CHECK(*k < std::numeric_limits<int64_t>::max(), InvalidArgument, "strided_slice: index ", *k, " too large");
      begin.push_back(*k);
      end.push_back(*k + 1);
      strides.push_back(1);
      o.shrink_axis_mask |= bit;
    } else if (const auto* s = std::get_if<Slice>(&v)) {
      begin.push_back(s->begin.value_or(0));
      end.push_back(s->end.value_or(0));
      strides.push_back(s->step);
      if (!s->begin) o.begin_mask |= bit;
      if (!s->end) o.end_mask |= bit;
    } else {
      begin.push_back(0);
      end.push_back(0);
      strides.push_back(1);
      if (std::holds_alternative<NewAxisT>(v)) o.new_axis_mask |= bit;
      else o.ellipsis_mask |= bit;
    }
  }
  Graph& g = detail::graph_of(x, "strided_slice");
  const std::string full = composite(g, name, "strided_slice");
  Output b, e, s;
  {
    auto scope = g.name_scope(full + "/");
    const DType t = index_dtype({&begin, &end, &strides});  // one Index dtype for all three
    b = int_vector(g, begin, t, "stack");
    e = int_vector(g, end, t, "stack_1");
    s = int_vector(g, strides, t, "stack_2");
  }
  o.name = full + "/";
  return strided_slice(x, b, e, s, o);
}

Output gather(const Output& params, const Output& indices, int64_t axis, const std::string& name) {
  Graph& g = detail::graph_of(params, "gather");
  const std::string full = composite(g, name, "GatherV2");
  Output a;
  {
    auto scope = g.name_scope(full + "/");
    a = int_scalar(g, axis, DType::kInt32, "axis");
  }
  return OpBuilder(g, "GatherV2", full + "/").input(params).input(indices).input(a).build_output();
}

Output one_hot(const Output& indices, int64_t depth, double on_value, double off_value, int64_t axis, DType dtype,
               const std::string& name) {
  Graph& g = detail::graph_of(indices, "one_hot");
  auto scope = g.name_scope(name.empty() ? "one_hot" : name);
  const std::string op_name = g.current_name_scope();  // "one_hot/": the op takes the scope's name
  const Output on = scalar_constant(g, on_value, dtype, "on_value");
  const Output off = scalar_constant(g, off_value, dtype, "off_value");
  Output d;
  {
    auto inner = g.name_scope(op_name);
    d = int_scalar(g, depth, DType::kInt32, "depth");
  }
  return OpBuilder(g, "OneHot", op_name).input(indices).input(d).input(on).input(off).attr("axis", axis)
      .build_output();
}

Output dynamic_stitch(const std::vector<Output>& indices, const std::vector<Output>& data, const std::string& name) {
  FG_CHECK(!indices.empty() && indices.size() == data.size(), InvalidArgument, "dynamic_stitch: ", indices.size(),
           " index tensors for ", data.size(), " data tensors");
  return OpBuilder(data[0], "DynamicStitch", name).input_list(indices).input_list(data).build_output();
}

Output unsorted_segment_sum(const Output& data, const Output& segment_ids, const Output& num_segments,
                            const std::string& name) {
  return OpBuilder(data, "UnsortedSegmentSum", name).input(data).input(segment_ids).input(num_segments)
      .build_output();
}

std::pair<Output, Output> setdiff1d(const Output& x, const Output& y, DType index_dtype, const std::string& name) {
  Operation* op = OpBuilder(x, "ListDiff", name).input(x).input(y).attr("out_idx", index_dtype).build();
  return {op->output(0), op->output(1)};
}

std::pair<Output, Output> unique(const Output& x, DType out_idx, const std::string& name) {
  Operation* op = OpBuilder(x, "Unique", name).input(x).attr("out_idx", out_idx).build();
  return {op->output(0), op->output(1)};
}

// ---- kernels, shapes, gradients

namespace {

// -- strided slices: TF's ValidateStridedSliceOp, shared by StridedSlice(Grad)'s shape functions
// and kernels. Dims of -1 are unknown (shape functions only).

struct StridedSliceResult {
  Dims processing_shape, final_shape;     // -1: unknown
  Dims begin, end, strides;               // per input dim, canonical (when known)
  bool is_identity = true;
};

constexpr int64_t kNewAxis = -1, kShrinkAxis = -2;

// begin/end may be null (unknown); strides must be known.
StridedSliceResult validate_strided_slice(const int64_t* begin, const int64_t* end, std::span<const int64_t> strides,
                                          std::span<const int64_t> input_shape, int64_t begin_mask, int64_t end_mask,
                                          int64_t ellipsis_mask, int64_t new_axis_mask, int64_t shrink_axis_mask) {
  const int64_t sparse_dims = static_cast<int64_t>(strides.size());
  FG_CHECK(sparse_dims <= 62, InvalidArgument, "StridedSlice: ", sparse_dims, " slice specs; at most 62 are supported");
  FG_CHECK(!(ellipsis_mask & (ellipsis_mask - 1)), InvalidArgument, "Multiple ellipses in slice spec not allowed");
  // The sparse spec: an implicit ellipsis at the end when none is given.
  int64_t num_add_axis_after_ellipsis = 0;
  bool ellipsis_seen = false;
  for (int64_t i = 0; i < sparse_dims; ++i) {
    if (ellipsis_seen && ((int64_t{1} << i) & new_axis_mask)) ++num_add_axis_after_ellipsis;
    if ((int64_t{1} << i) & ellipsis_mask) ellipsis_seen = true;
  }
  int64_t sp_ellipsis = ellipsis_mask, sp_dims = sparse_dims;
  if (!ellipsis_seen) {
    sp_ellipsis |= int64_t{1} << sp_dims;
    ++sp_dims;
  }
  // The dense spec, one entry per input dim.
  const int64_t dims = static_cast<int64_t>(input_shape.size());
  StridedSliceResult r;
  r.begin.resize(dims, 0);
  r.end.resize(dims, 0);
  r.strides.resize(dims, 1);
  SmallVector<char, Shape::kInline> d_begin_mask(dims, 0), d_end_mask(dims, 0), d_shrink(dims, 0);
  Dims gather_indices;
  int64_t full_index = 0;
  for (int64_t i = 0; i < sp_dims; ++i) {
    const int64_t bit = int64_t{1} << i;
    if (bit & sp_ellipsis) {
      const int64_t next_index = std::min(dims - (sp_dims - i) + 1 + num_add_axis_after_ellipsis, dims);
      for (; full_index < next_index; ++full_index) {
        d_begin_mask[full_index] = d_end_mask[full_index] = 1;
        gather_indices.push_back(full_index);
      }
    } else if (bit & new_axis_mask) {
      gather_indices.push_back(kNewAxis);
    } else {
      FG_CHECK(full_index < dims, InvalidArgument, "Index out of range using input dim ", full_index,
               "; input has only ", dims, " dims");
      if (begin) r.begin[full_index] = begin[i];
      if (end) r.end[full_index] = end[i];
      r.strides[full_index] = strides[i];
      d_begin_mask[full_index] = (begin_mask & bit) != 0;
      d_end_mask[full_index] = (end_mask & bit) != 0;
      if (shrink_axis_mask & bit) {
        gather_indices.push_back(kShrinkAxis);
        d_shrink[full_index] = 1;
      } else {
        gather_indices.push_back(full_index);
      }
      ++full_index;
    }
  }
  // The processing shape: the sliced size of every input dim.
  for (int64_t i = 0; i < dims; ++i) {
    int64_t& b = r.begin[i];
    int64_t& e = r.end[i];
    const int64_t stride = r.strides[i];
    const int64_t dim = input_shape[i];
    FG_CHECK(stride != 0, InvalidArgument, "strides[", i, "] must be non-zero");
    const bool shrink = d_shrink[i];
    if (dim == -1) {
      r.processing_shape.push_back(shrink ? 1 : -1);
      r.is_identity = false;
      continue;
    }
    const bool masked[2] = {d_begin_mask[i] != 0, d_end_mask[i] != 0};
    const int64_t valid[2] = {stride > 0 ? 0 : -1, stride > 0 ? dim : dim - 1};
    auto canonical = [&](int64_t x, int c) {
      if (masked[c]) return stride > 0 ? valid[c] : valid[(c + 1) & 1];
      const int64_t fwd = x < 0 ? dim + x : x;
      return fwd < valid[0] ? valid[0] : fwd > valid[1] ? valid[1] : fwd;
    };
    FG_CHECK(!(shrink && stride <= 0), InvalidArgument, "only stride 1 allowed on non-range indexing.");
    const bool both_masked = masked[0] && masked[1];
    int64_t interval = -1;
    bool known = false;
    if (begin && end) {
      if (shrink) {
        const int64_t fwd = b < 0 ? dim + b : b;
        FG_CHECK(fwd >= 0 && fwd < dim, InvalidArgument, "slice index ", b, " of dimension ", i, " out of bounds.");
        b = fwd;
        e = b + 1;
      } else {
        b = canonical(b, 0);
        e = canonical(e, 1);
      }
      r.is_identity = r.is_identity && stride == 1 && b == 0 && e == dim;
      interval = e - b;
      known = true;
    } else {
      r.is_identity = r.is_identity && stride == 1 && both_masked;
      if (shrink) {
        interval = 1;
        known = true;
      } else if (both_masked) {
        interval = stride < 0 ? -dim : dim;
        known = true;
      }
    }
    if (!known) {
      r.processing_shape.push_back(-1);
    } else if (interval == 0 || ((interval < 0) != (stride < 0))) {
      r.processing_shape.push_back(0);
    } else {
      r.processing_shape.push_back(interval / stride + (interval % stride != 0 ? 1 : 0));
    }
  }
  for (int64_t gi : gather_indices) {
    if (gi >= 0) r.final_shape.push_back(r.processing_shape[gi]);
    else if (gi == kNewAxis) r.final_shape.push_back(1);
  }
  return r;
}

struct SliceMasks {
  int64_t begin, end, ellipsis, new_axis, shrink;
};
template <typename C>
SliceMasks masks_of(const C& c) {
  return {c.template attr<int64_t>("begin_mask"), c.template attr<int64_t>("end_mask"),
          c.template attr<int64_t>("ellipsis_mask"), c.template attr<int64_t>("new_axis_mask"),
          c.template attr<int64_t>("shrink_axis_mask")};
}

// The begin/end/strides inputs (1, 2, 3) as vectors of equal length.
void check_slice_vectors(const Tensor& b, const Tensor& e, const Tensor& s) {
  FG_CHECK(b.rank() == 1 && e.rank() == 1 && s.rank() == 1 && b.num_elements() == e.num_elements() &&
               b.num_elements() == s.num_elements(),
           InvalidArgument, "Expected begin, end, and strides to be 1D equal size tensors, but got shapes ", b.shape(),
           ", ", e.shape(), ", and ", s.shape(), " instead.");
}

// Shape function of StridedSlice; for StridedSliceGrad, the shape of dy it expects.
Shape strided_slice_static_shape(InferenceContext& c, const Shape& input, int first) {
  Shape vec = Shape::unknown();
  for (int i = first; i < first + 3; ++i) {
    const Shape& s = c.input_shape(i);
    if (s.known_rank() && s.rank() != 1) c.fail(str_cat("begin, end and strides must be vectors, got shape ", s));
    vec = vec.merge_with(s, str_cat(c.op().type(), " '", c.op().name(), "': begin, end and strides"));
  }
  const Tensor* st = c.input_constant(first + 2);
  if (!input.known_rank() || !vec.known_rank() || vec.dim(0) < 0 || !st) return Shape::unknown();
  const Tensor* bt = c.input_constant(first);
  const Tensor* et = c.input_constant(first + 1);
  const auto sv = int_values(*st, "StridedSlice");
  SmallVector<int64_t, Shape::kInline> bv, ev;
  if (bt) bv = int_values(*bt, "StridedSlice");
  if (et) ev = int_values(*et, "StridedSlice");
  const SliceMasks m = masks_of(c);
  try {
    const StridedSliceResult r = validate_strided_slice(bt ? bv.data() : nullptr, et ? ev.data() : nullptr, sv,
                                                        input.dims(), m.begin, m.end, m.ellipsis, m.new_axis,
                                                        m.shrink);
    return Shape(std::span<const int64_t>(r.final_shape));
  } catch (const InvalidArgument& e) {
    c.fail(e.what());
  }
}

void strided_slice_shape(InferenceContext& c) { c.set_output(0, strided_slice_static_shape(c, c.input_shape(0), 1)); }

StridedSliceResult strided_slice_from(const Tensor& b, const Tensor& e, const Tensor& s,
                                      std::span<const int64_t> input_shape, const SliceMasks& m) {
  check_slice_vectors(b, e, s);
  const auto bv = int_values(b, "StridedSlice"), ev = int_values(e, "StridedSlice"), sv = int_values(s, "StridedSlice");
  return validate_strided_slice(bv.data(), ev.data(), sv, input_shape, m.begin, m.end, m.ellipsis, m.new_axis,
                                m.shrink);
}

// The element offset of the slice's first element and each processing dim's step.
void box_of(const StridedSliceResult& r, std::span<const int64_t> input_shape, int64_t* base, Dims* steps) {
  const Dims strides = detail::row_major_strides(input_shape);
  *base = 0;
  steps->clear();
  for (size_t i = 0; i < input_shape.size(); ++i) {
    *base += r.begin[i] * strides[i];
    steps->push_back(r.strides[i] * strides[i]);
  }
}

void strided_slice_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const StridedSliceResult r =
      strided_slice_from(ctx.input(1), ctx.input(2), ctx.input(3), x.shape().dims(), masks_of(ctx));
  const Shape final_shape{std::span<const int64_t>(r.final_shape)};
  if (r.is_identity) return ctx.set_output(0, x.reshaped(final_shape));
  Tensor out = Tensor::empty(x.dtype(), final_shape);
  int64_t base;
  Dims steps;
  box_of(r, x.shape().dims(), &base, &steps);
  dispatch_all(x.dtype(), "StridedSlice", [&]<typename T>() {
    detail::strided_copy<false, T>(x.data<T>(), base, steps, out.data<T>(), r.processing_shape);
  });
  ctx.set_output(0, out);
}

std::vector<Output> strided_slice_grad(GradContext& c) {
  const Output x = c.input(0), begin = c.input(1);
  const Output shape_x = detail::shape_or_constant(x, begin.dtype());
  const Operation& op = c.op();
  OpBuilder b(c.grad(0), "StridedSliceGrad", "StridedSliceGrad");
  b.input(shape_x).input(begin).input(c.input(2)).input(c.input(3)).input(c.grad(0));
  for (const char* m : {"begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"})
    b.attr(m, op.attr<int64_t>(m));
  Output dx = b.build_output();
  return {dx, Output(), Output(), Output()};
}

void strided_slice_grad_shape(InferenceContext& c) {
  const Shape& ss = c.input_shape(0);
  if (ss.known_rank() && ss.rank() != 1) c.fail(str_cat("shape must be 1-D, got shape.shape = ", ss));
  const Shape out = shape_from_shape_input(c, 0);
  // dy must have the sliced shape when it is known statically.
  const Shape want = strided_slice_static_shape(c, out, 1);
  if (!want.compatible_with(c.input_shape(4)))
    c.fail(str_cat("shape of dy was ", c.input_shape(4), " instead of ", want));
  c.set_output(0, out);
}

void strided_slice_grad_kernel(KernelContext& ctx) {
  const Tensor& st = ctx.input(0);
  FG_CHECK(st.rank() == 1, InvalidArgument, "shape must be 1-D, got shape.shape = ", st.shape());
  const auto shape_v = int_values(st, "StridedSliceGrad");
  for (int64_t d : shape_v) FG_CHECK(d >= 0, InvalidArgument, "StridedSliceGrad: negative dimension in shape ", Shape(shape_v));
  const Tensor& dy = ctx.input(4);
  const StridedSliceResult r = strided_slice_from(ctx.input(1), ctx.input(2), ctx.input(3), shape_v, masks_of(ctx));
  const Shape final_shape{std::span<const int64_t>(r.final_shape)};
  FG_CHECK(dy.shape() == final_shape, InvalidArgument, "shape of dy was ", dy.shape(), " instead of ", final_shape);
  Tensor out(dy.dtype(), Shape(shape_v));  // zero-filled
  int64_t base;
  Dims steps;
  box_of(r, shape_v, &base, &steps);
  dispatch_all(dy.dtype(), "StridedSliceGrad", [&]<typename T>() {
    detail::strided_copy<true, T>(out.data<T>(), base, steps, dy.data<T>(), r.processing_shape);
  });
  ctx.set_output(0, out);
}

std::vector<Output> strided_slice_grad_grad(GradContext& c) {
  const Operation& op = c.op();
  StridedSliceOptions o{op.attr<int64_t>("begin_mask"), op.attr<int64_t>("end_mask"),
                        op.attr<int64_t>("ellipsis_mask"), op.attr<int64_t>("new_axis_mask"),
                        op.attr<int64_t>("shrink_axis_mask"), ""};
  return {Output(), Output(), Output(), Output(), strided_slice(c.grad(0), c.input(1), c.input(2), c.input(3), o)};
}

// -- Slice

void slice_shape(InferenceContext& c) {
  const Shape& in = c.input_shape(0);
  for (int i : {1, 2}) {
    const Shape& s = c.input_shape(i);
    if (s.known_rank() && s.rank() != 1) c.fail(str_cat("begin and size must be vectors, got shape ", s));
  }
  const Shape vec = c.input_shape(1).merge_with(c.input_shape(2), str_cat("Slice '", c.op().name(), "': begin and size"));
  int64_t n = vec.known_rank() ? vec.dim(0) : -1;
  if (n >= 0 && in.known_rank() && n != in.rank())
    c.fail(str_cat("Expected begin and size arguments to be 1-D tensors of size ", in.rank(), ", but got shapes ",
                   c.input_shape(1), " and ", c.input_shape(2), " instead."));
  if (n < 0) n = in.rank();
  if (n < 0) return c.set_output(0, Shape::unknown());
  const Tensor* bt = c.input_constant(1);
  const Tensor* st = c.input_constant(2);
  std::vector<int64_t> out(n, -1);
  if (st) {
    const auto sv = int_values(*st, "Slice");
    SmallVector<int64_t, Shape::kInline> bv;
    if (bt) bv = int_values(*bt, "Slice");
    for (int64_t i = 0; i < n; ++i) {
      const int64_t d = in.known_rank() ? in.dim(static_cast<int>(i)) : -1;
      if (sv[i] != -1) {
        if (sv[i] < 0) c.fail(str_cat("Expected size[", i, "] >= -1, but got ", sv[i]));
        if (bt && d >= 0 && (bv[i] < 0 || bv[i] + sv[i] > d))
          c.fail(str_cat("Expected size[", i, "] in [0, ", d - bv[i], "], but got ", sv[i]));
        out[i] = sv[i];
      } else if (bt && d >= 0) {
        if (bv[i] < 0 || bv[i] > d) c.fail(str_cat("Expected begin[", i, "] in [0, ", d, "], but got ", bv[i]));
        out[i] = d - bv[i];
      }
    }
  }
  c.set_output(0, Shape(out));
}

void slice_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& bt = ctx.input(1);
  const Tensor& st = ctx.input(2);
  FG_CHECK(bt.rank() == 1 && st.rank() == 1 && bt.num_elements() == x.rank() && st.num_elements() == x.rank(),
           InvalidArgument, "Expected begin and size arguments to be 1-D tensors of size ", x.rank(),
           ", but got shapes ", bt.shape(), " and ", st.shape(), " instead.");
  const auto b = int_values(bt, "Slice");
  auto s = int_values(st, "Slice");
  bool identity = true;
  for (int i = 0; i < x.rank(); ++i) {
    const int64_t d = x.dim(i);
    if (s[i] == -1) {
      FG_CHECK(b[i] >= 0 && b[i] <= d, InvalidArgument, "Expected begin[", i, "] in [0, ", d, "], but got ", b[i]);
      s[i] = d - b[i];
    }
    FG_CHECK(b[i] >= 0 && b[i] <= d, InvalidArgument, "Expected begin[", i, "] in [0, ", d, "], but got ", b[i]);
    FG_CHECK(s[i] >= 0 && s[i] <= d - b[i], InvalidArgument, "Expected size[", i, "] in [0, ", d - b[i], "], but ",
             "got ", s[i]);
    identity = identity && b[i] == 0 && s[i] == d;
  }
  if (identity) return ctx.set_output(0, x);
  Tensor out = Tensor::empty(x.dtype(), Shape(std::span<const int64_t>(s)));
  const Dims strides = detail::row_major_strides(x.shape().dims());
  int64_t base = 0;
  for (int i = 0; i < x.rank(); ++i) base += b[i] * strides[i];
  dispatch_all(x.dtype(), "Slice", [&]<typename T>() {
    detail::strided_copy<false, T>(x.data<T>(), base, strides, out.data<T>(), s);
  });
  ctx.set_output(0, out);
}

// TF's _SliceGrad: pad the gradient back to the input's shape.
std::vector<Output> slice_grad(GradContext& c) {
  const Output x = c.input(0), begin = c.input(1);
  Graph& g = *x.graph();
  const Output input_rank = detail::rank_or_constant(x);
  const Output slice_size = detail::shape_or_constant(c.output(0), begin.dtype());
  const Output shape = stack({input_rank, scalar_constant(g, 1, DType::kInt32)});
  const Output before_pad = reshape(begin, shape);
  const Output after_pad = reshape(detail::shape_or_constant(x, begin.dtype()) - slice_size - begin, shape);
  const Output paddings = concat({before_pad, after_pad}, 1);
  return {detail::with_static_shape(pad(c.grad(0), paddings), x.shape()), Output(), Output()};
}

// -- Gather / GatherV2

void gather_output_shape(InferenceContext& c, std::optional<int64_t> axis_value) {
  const Shape& p = c.input_shape(0);
  const Shape& idx = c.input_shape(1);
  if (p.known_rank() && p.rank() < 1) c.fail(str_cat("Shape must be at least rank 1 but is rank ", p.rank()));
  if (!axis_value) {
    if (p.known_rank() && idx.known_rank()) return c.set_output(0, Shape(std::vector<int64_t>(p.rank() + idx.rank() - 1, -1)));
    return c.set_output(0, Shape::unknown());
  }
  const int64_t axis = *axis_value;
  if (!p.known_rank() || !idx.known_rank()) return c.set_output(0, Shape::unknown());
  const int64_t rank = p.rank();
  if (axis < -rank || axis >= rank)
    c.fail(str_cat("Expected axis in the range [", -rank, ", ", rank, "), but got ", axis));
  const int64_t a = axis < 0 ? axis + rank : axis;
  std::vector<int64_t> out;
  for (int64_t i = 0; i < a; ++i) out.push_back(p.dim(static_cast<int>(i)));
  for (int64_t d : idx.dims()) out.push_back(d);
  for (int64_t i = a + 1; i < rank; ++i) out.push_back(p.dim(static_cast<int>(i)));
  c.set_output(0, Shape(out));
}

void gather_shape(InferenceContext& c) { gather_output_shape(c, 0); }

void gather_v2_shape(InferenceContext& c) {
  const Shape& as = c.input_shape(2);
  if (as.known_rank() && as.rank() != 0) c.fail(str_cat("axis must be a scalar, got shape ", as));
  const Tensor* a = c.input_constant(2);
  gather_output_shape(c, a ? std::optional<int64_t>(int_values(*a, "GatherV2")[0]) : std::nullopt);
}

void gather_impl(KernelContext& ctx, int64_t axis_in, const char* who) {
  const Tensor& params = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  const int64_t rank = params.rank();
  FG_CHECK(rank >= 1, InvalidArgument, who, ": params must be at least 1 dimensional, got shape ", params.shape());
  FG_CHECK(axis_in >= -rank && axis_in < rank, InvalidArgument, "Expected axis in the range [", -rank, ", ", rank,
           "), but got ", axis_in);
  const int64_t axis = axis_in < 0 ? axis_in + rank : axis_in;
  const int64_t limit = params.dim(static_cast<int>(axis));
  const std::vector<int64_t> idx = checked_indices(indices, limit, who);
  int64_t outer = 1, inner = 1;
  Dims out_dims;
  for (int64_t i = 0; i < axis; ++i) {
    outer *= params.dim(static_cast<int>(i));
    out_dims.push_back(params.dim(static_cast<int>(i)));
  }
  for (int64_t d : indices.shape().dims()) out_dims.push_back(d);
  for (int64_t i = axis + 1; i < rank; ++i) {
    inner *= params.dim(static_cast<int>(i));
    out_dims.push_back(params.dim(static_cast<int>(i)));
  }
  Tensor out = Tensor::empty(params.dtype(), Shape(out_dims));
  const int64_t m = static_cast<int64_t>(idx.size());
  const size_t row_bytes = inner * dtype_size(params.dtype());
  const char* src = static_cast<const char*>(params.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  parallel_for(outer * m, inner, [&](int64_t b, int64_t e) {
    for (int64_t q = b; q < e; ++q) {
      const int64_t o = q / m, k = q % m;
      std::memcpy(dst + q * row_bytes, src + (o * limit + idx[k]) * row_bytes, row_bytes);
    }
  });
  ctx.set_output(0, out);
}

void gather_kernel(KernelContext& ctx) { gather_impl(ctx, 0, "Gather"); }

void gather_v2_kernel(KernelContext& ctx) {
  const Tensor& a = ctx.input(2);
  FG_CHECK(a.rank() == 0, InvalidArgument, "axis must be scalar, got shape ", a.shape());
  gather_impl(ctx, int_values(a, "GatherV2")[0], "GatherV2");
}

// TF's gradient of a gather along axis 0 is IndexedSlices(values, indices, params_shape); densified
// the way TF converts IndexedSlices to a tensor: UnsortedSegmentSum over params_shape[0] rows.
Output gather_axis0_grad(const Output& params, const Output& indices, const Output& grad) {
  const Output params_shape = detail::shape_or_constant(params);
  const Output indices_size = expand_dims(detail::size_or_constant(indices), 0);
  const Output tail = strided_slice(params_shape, {Slice{.begin = 1}});
  const Output values_shape = concat({indices_size, tail}, 0);
  const Output values = reshape(grad, values_shape);
  const Output flat_indices = reshape(indices, indices_size);
  return unsorted_segment_sum(values, flat_indices, strided_slice(params_shape, {0}));
}

std::vector<Output> gather_grad(GradContext& c) {
  return {detail::with_static_shape(gather_axis0_grad(c.input(0), c.input(1), c.grad(0)), c.input(0).shape()),
          Output()};
}

// TF's _GatherV2Grad: axis 0 as Gather's; any other axis moves the gathered dim to the front,
// sums with UnsortedSegmentSum and moves it back.
std::vector<Output> gather_v2_grad(GradContext& c) {
  const Output params = c.input(0), indices = c.input(1), axis = c.input(2);
  std::vector<int64_t> av;
  if (detail::constant_int_values(axis, &av) && av.size() == 1 && av[0] == 0)
    return {detail::with_static_shape(gather_axis0_grad(params, indices, c.grad(0)), params.shape()), Output(),
            Output()};
  Graph& g = *params.graph();
  const Output params_shape = detail::shape_or_constant(params);
  const Output indices_size = expand_dims(detail::size_or_constant(indices), 0);
  const Output a = axis.dtype() == DType::kInt32 ? axis : cast(axis, DType::kInt32);
  const Output a1 = reshape(a, {1});
  const Output one = int_vector(g, std::vector<int64_t>{1}, DType::kInt32, "Const");
  const Output zero = int_vector(g, std::vector<int64_t>{0}, DType::kInt32, "Const");
  // params_shape[:axis], params_shape[axis:][1:], params_shape[axis]
  const Output outer_shape = strided_slice(params_shape, zero, a1, one, {.begin_mask = 1});
  const Output from_axis = strided_slice(params_shape, a1, zero, one, {.end_mask = 1});
  const Output inner_shape = strided_slice(from_axis, one, zero, one, {.end_mask = 1});
  const Output num_segments = strided_slice(params_shape, a1, a1 + 1, one, {.shrink_axis_mask = 1});
  const Output outer_dims = size(outer_shape), inner_dims = size(inner_shape);
  const Output zero_s = scalar_constant(g, 0, DType::kInt32), one_s = scalar_constant(g, 1, DType::kInt32);
  const Output outer_axes = range(zero_s, outer_dims, one_s);
  const Output inner_axes = range(outer_dims + 1, outer_dims + 1 + inner_dims, one_s);
  const Output values = reshape(c.grad(0), concat({outer_shape, indices_size, inner_shape}, 0));
  const Output flat_indices = reshape(indices, indices_size);
  const Output values_t = transpose(values, concat({stack({outer_dims}), outer_axes, inner_axes}, 0));
  const Output summed = unsorted_segment_sum(values_t, flat_indices, num_segments);
  const Output dx = transpose(summed, concat({outer_axes + 1, zero, inner_axes}, 0));
  return {detail::with_static_shape(dx, params.shape()), Output(), Output()};
}

// -- UnsortedSegmentSum

void segment_sum_shape(InferenceContext& c) {
  const Shape& data = c.input_shape(0);
  const Shape& ids = c.input_shape(1);
  const Shape& ns = c.input_shape(2);
  if (ns.known_rank() && ns.rank() != 0) c.fail(str_cat("num_segments should be a scalar, not shape ", ns));
  if (!data.known_rank() || !ids.known_rank()) return c.set_output(0, Shape::unknown());
  if (ids.rank() > data.rank())
    c.fail(str_cat("data.shape = ", data, " does not start with segment_ids.shape = ", ids));
  for (int i = 0; i < ids.rank(); ++i)
    if (data.dim(i) >= 0 && ids.dim(i) >= 0 && data.dim(i) != ids.dim(i))
      c.fail(str_cat("data.shape = ", data, " does not start with segment_ids.shape = ", ids));
  const Tensor* n = c.input_constant(2);
  std::vector<int64_t> out{n ? int_values(*n, "UnsortedSegmentSum")[0] : -1};
  if (out[0] < -1) c.fail(str_cat("num_segments must be non-negative, got ", out[0]));
  for (int i = ids.rank(); i < data.rank(); ++i) out.push_back(data.dim(i));
  c.set_output(0, Shape(out));
}

void segment_sum_kernel(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& ids = ctx.input(1);
  const Tensor& ns = ctx.input(2);
  FG_CHECK(ns.rank() == 0, InvalidArgument, "num_segments should be a scalar, not shape ", ns.shape());
  const int64_t num = int_values(ns, "UnsortedSegmentSum")[0];
  FG_CHECK(num >= 0, InvalidArgument, "Input num_segments == ", num, " must not be negative.");
  bool prefix = ids.rank() <= data.rank();
  for (int i = 0; prefix && i < ids.rank(); ++i) prefix = data.dim(i) == ids.dim(i);
  FG_CHECK(prefix, InvalidArgument, "data.shape = ", data.shape(), " does not start with segment_ids.shape = ",
           ids.shape());
  const std::vector<int64_t> idv = index_values(ids, "UnsortedSegmentSum");
  for (size_t i = 0; i < idv.size(); ++i)
    FG_CHECK(idv[i] < num, InvalidArgument, "segment_ids", detail::index_string(ids.shape(), static_cast<int64_t>(i)),
             " = ", idv[i], " is out of range [0, ", num, ")");
  Dims out_dims{num};
  int64_t inner = 1;
  for (int i = ids.rank(); i < data.rank(); ++i) {
    out_dims.push_back(data.dim(i));
    inner *= data.dim(i);
  }
  Tensor out(data.dtype(), Shape(out_dims));  // zero-filled
  const int64_t rows = static_cast<int64_t>(idv.size());
  dispatch_numeric(data.dtype(), "UnsortedSegmentSum", [&]<typename T>() {
    const T* in = data.data<T>();
    T* o = out.data<T>();
    // Split by columns: every thread adds whole rows of its columns, in row order (deterministic).
    parallel_for(inner, rows, [&](int64_t b, int64_t e) {
      for (int64_t i = 0; i < rows; ++i) {
        if (idv[i] < 0) continue;  // dropped, as TF does
        const T* src = in + i * inner;
        T* dst = o + idv[i] * inner;
        for (int64_t k = b; k < e; ++k) dst[k] += src[k];
      }
    });
  });
  ctx.set_output(0, out);
}

// TF's _UnsortedSegmentSumGrad (_GatherDropNegatives): the gradient rows of the segments, zero
// where the id was negative.
std::vector<Output> segment_sum_grad(GradContext& c) {
  const Output grad = c.grad(0), ids = c.input(1);
  const Output clipped = maximum(ids, zeros_like(ids));
  const Output gathered = gather(grad, clipped);
  Output is_positive = greater_equal(ids, scalar_constant(*ids.graph(), 0, ids.dtype()));
  // Broadcast the per-row flag over the trailing dims (TF's `is_positive & ones_like`).
  const Output flag_shape = concat({detail::shape_or_constant(ids),
                                    fill(reshape(detail::rank_or_constant(gathered) - detail::rank_or_constant(ids), {1}),
                                         scalar_constant(*ids.graph(), 1, DType::kInt32))},
                                   0);
  is_positive = broadcast_to(reshape(is_positive, flag_shape), detail::shape_or_constant(gathered));
  return {detail::with_static_shape(select(is_positive, gathered, zeros_like(gathered)), c.input(0).shape()), Output(),
          Output()};
}

// -- DynamicStitch

void dynamic_stitch_shape(InferenceContext& c) {
  const int64_t n = c.attr<int64_t>("N");
  if (c.num_inputs() != 2 * n) c.fail(str_cat("expects ", 2 * n, " inputs (N = ", n, "), got ", c.num_inputs()));
  Shape extra = Shape::unknown();
  bool all_constant = true;
  int64_t max_index = -1;
  for (int64_t i = 0; i < n; ++i) {
    const Shape& is = c.input_shape(static_cast<int>(i));
    const Shape& ds = c.input_shape(static_cast<int>(n + i));
    const Tensor* it = c.input_constant(static_cast<int>(i));
    if (!it) all_constant = false;
    else
      for (int32_t v : it->flat<int32_t>()) max_index = std::max<int64_t>(max_index, v);
    if (!is.known_rank() || !ds.known_rank()) continue;
    if (ds.rank() < is.rank())
      c.fail(str_cat("data[", i, "].shape = ", ds, " does not start with indices[", i, "].shape = ", is));
    for (int d = 0; d < is.rank(); ++d)
      if (is.dim(d) >= 0 && ds.dim(d) >= 0 && is.dim(d) != ds.dim(d))
        c.fail(str_cat("data[", i, "].shape = ", ds, " does not start with indices[", i, "].shape = ", is));
    std::vector<int64_t> rest(ds.dims().begin() + is.rank(), ds.dims().end());
    extra = extra.merge_with(Shape(rest), str_cat("DynamicStitch '", c.op().name(), "': data shapes past the indices"));
  }
  if (!extra.known_rank()) return c.set_output(0, Shape::unknown());
  std::vector<int64_t> out{all_constant ? max_index + 1 : -1};
  for (int64_t d : extra.dims()) out.push_back(d);
  c.set_output(0, Shape(out));
}

void dynamic_stitch_kernel(KernelContext& ctx) {
  const int n = ctx.num_inputs() / 2;
  FG_CHECK(ctx.num_inputs() == 2 * n, InvalidArgument, "DynamicStitch: ", ctx.num_inputs(),
           " inputs; expects equal numbers of indices and data");
  const Tensor& i0 = ctx.input(0);
  const Tensor& d0 = ctx.input(n);
  FG_CHECK(d0.rank() >= i0.rank(), InvalidArgument, "data[0].shape = ", d0.shape(),
           " does not start with indices[0].shape = ", i0.shape());
  const std::span<const int64_t> tail(d0.shape().dims().begin() + i0.rank(), d0.shape().dims().end());
  int64_t max_index = -1;
  for (int m = 0; m < n; ++m) {
    const Tensor& ind = ctx.input(m);
    const Tensor& dat = ctx.input(n + m);
    bool starts = dat.rank() >= ind.rank();
    for (int d = 0; starts && d < ind.rank(); ++d) starts = dat.dim(d) == ind.dim(d);
    FG_CHECK(starts, InvalidArgument, "data[", m, "].shape = ", dat.shape(), " does not start with indices[", m,
             "].shape = ", ind.shape());
    const std::span<const int64_t> t(dat.shape().dims().begin() + ind.rank(), dat.shape().dims().end());
    FG_CHECK(std::equal(t.begin(), t.end(), tail.begin(), tail.end()), InvalidArgument, "Need data[0].shape[",
             i0.rank(), ":] = data[", m, "].shape[", ind.rank(), ":], got data[0].shape = ", d0.shape(), ", data[", m,
             "].shape = ", dat.shape(), ", indices[0].shape = ", i0.shape(), ", indices[", m, "].shape = ",
             ind.shape());
    const int32_t* v = ind.data<int32_t>();
    for (int64_t k = 0; k < ind.num_elements(); ++k) {
      FG_CHECK(v[k] >= 0, InvalidArgument, "indices[", m, "]", detail::index_string(ind.shape(), k), " = ", v[k],
               " is out of range");
      max_index = std::max<int64_t>(max_index, v[k]);
    }
  }
  Dims out_dims{max_index + 1};
  int64_t inner = 1;
  for (int64_t d : tail) {
    out_dims.push_back(d);
    inner *= d;
  }
  Tensor out(d0.dtype(), Shape(out_dims));  // rows no index names stay zero
  // Which (m, k) writes each row: the last one in order, so later data win.
  std::vector<std::pair<int32_t, int64_t>> writer(max_index + 1, {-1, 0});
  for (int m = 0; m < n; ++m) {
    const int32_t* v = ctx.input(m).data<int32_t>();
    for (int64_t k = 0; k < ctx.input(m).num_elements(); ++k) writer[v[k]] = {m, k};
  }
  const size_t row_bytes = inner * dtype_size(d0.dtype());
  char* dst = static_cast<char*>(out.raw_data());
  parallel_for(max_index + 1, inner, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const auto [m, k] = writer[r];
      if (m < 0) continue;
      std::memcpy(dst + r * row_bytes, static_cast<const char*>(ctx.input(n + m).raw_data()) + k * row_bytes,
                  row_bytes);
    }
  });
  ctx.set_output(0, out);
}

// TF's _DynamicStitchGrads: each data tensor's gradient is the output gradient gathered at its
// indices (a repeated index sends the gradient to every tensor that named it, as in TF).
std::vector<Output> dynamic_stitch_grad(GradContext& c) {
  const int n = c.num_inputs() / 2;
  std::vector<Output> grads(n);
  for (int i = 0; i < n; ++i) grads.push_back(gather(c.grad(0), c.input(i)));
  return grads;
}

// -- OneHot

void one_hot_shape(InferenceContext& c) {
  const int64_t axis = c.attr<int64_t>("axis");
  if (axis < -1) c.fail("axis must be >= -1");
  for (int i : {1, 2, 3}) {
    const Shape& s = c.input_shape(i);
    if (s.known_rank() && s.rank() != 0) c.fail(str_cat("depth, on_value and off_value must be scalars, got shape ", s));
  }
  const Tensor* dt = c.input_constant(1);
  const int64_t depth = dt ? *dt->data<int32_t>() : -1;
  if (dt && depth < 0) c.fail(str_cat("depth must be non-negative, got: ", depth));
  const Shape& in = c.input_shape(0);
  if (!in.known_rank()) return c.set_output(0, Shape::unknown());
  if (axis > in.rank()) c.fail(str_cat("Expected axis to be -1 or between [0, ", in.rank() + 1, ").  But received: ", axis));
  std::vector<int64_t> out = in.dim_vector();
  out.insert(axis == -1 ? out.end() : out.begin() + axis, depth);
  c.set_output(0, Shape(out));
}

void one_hot_kernel(KernelContext& ctx) {
  const Tensor& indices = ctx.input(0);
  const Tensor& dt = ctx.input(1);
  const Tensor& on = ctx.input(2);
  const Tensor& off = ctx.input(3);
  FG_CHECK(dt.rank() == 0, InvalidArgument, "depth must be a scalar, but got: ", dt.shape());
  FG_CHECK(on.rank() == 0, InvalidArgument, "on_value must be a scalar, but got: ", on.shape());
  FG_CHECK(off.rank() == 0, InvalidArgument, "off_value must be a scalar, but got: ", off.shape());
  const int64_t depth = *dt.data<int32_t>();
  FG_CHECK(depth >= 0, InvalidArgument, "depth must be non-negative, got: ", depth);
  const int64_t axis_attr = ctx.attr<int64_t>("axis");
  const int64_t out_rank = indices.rank() + 1;
  FG_CHECK(axis_attr == -1 || (axis_attr >= 0 && axis_attr < out_rank), InvalidArgument,
           "Expected axis to be -1 or between [0, ", out_rank, ").  But received: ", axis_attr);
  const int64_t axis = axis_attr == -1 ? indices.rank() : axis_attr;
  Dims out_dims;
  int64_t prefix = 1, suffix = 1;
  for (int i = 0; i < indices.rank(); ++i) {
    if (i == axis) out_dims.push_back(depth);
    out_dims.push_back(indices.dim(i));
    (i < axis ? prefix : suffix) *= indices.dim(i);
  }
  if (axis == indices.rank()) out_dims.push_back(depth);
  FG_CHECK(depth == 0 || indices.num_elements() <= std::numeric_limits<int64_t>::max() / depth, InvalidArgument,
           "OneHot: output shape overflows");
  const std::vector<int64_t> idx = index_values(indices, "OneHot");
  Tensor out = Tensor::empty(on.dtype(), Shape(out_dims));
  dispatch_all(on.dtype(), "OneHot", [&]<typename T>() {
    const T on_v = *on.data<T>(), off_v = *off.data<T>();
    T* o = out.data<T>();
    // Output row (p, d) holds suffix values: on where indices[p, s] == d.
    parallel_for(prefix * depth, suffix, [&](int64_t b, int64_t e) {
      for (int64_t q = b; q < e; ++q) {
        const int64_t p = q / depth, d = q % depth;
        const int64_t* in = idx.data() + p * suffix;
        T* row = o + q * suffix;
        for (int64_t s = 0; s < suffix; ++s) row[s] = in[s] == d ? on_v : off_v;
      }
    });
  });
  ctx.set_output(0, out);
}

// -- ListDiff

void list_diff_shape(InferenceContext& c) {
  for (int i : {0, 1}) {
    const Shape& s = c.input_shape(i);
    if (s.known_rank() && s.rank() != 1) c.fail(str_cat(i == 0 ? "x" : "y", " should be a 1D vector, got shape ", s));
  }
  c.set_output(0, Shape{-1});
  c.set_output(1, Shape{-1});
}

void list_diff_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& y = ctx.input(1);
  FG_CHECK(x.rank() == 1, InvalidArgument, "x should be a 1D vector.");
  FG_CHECK(y.rank() == 1, InvalidArgument, "y should be a 1D vector.");
  const DType out_idx = ctx.attr<DType>("out_idx");
  dispatch_all(x.dtype(), "ListDiff", [&]<typename T>() {
    const T* xv = x.data<T>();
    const T* yv = y.data<T>();
    std::vector<T> ys(yv, yv + y.num_elements());
    std::sort(ys.begin(), ys.end());
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < x.num_elements(); ++i)
      if (!std::binary_search(ys.begin(), ys.end(), xv[i])) keep.push_back(i);
    const int64_t n = static_cast<int64_t>(keep.size());
    FG_CHECK(out_idx == DType::kInt64 || x.num_elements() <= std::numeric_limits<int32_t>::max(), InvalidArgument,
             "ListDiff: x has more elements than int32 indices can name");
    Tensor out = Tensor::empty(x.dtype(), {n});
    Tensor idx = Tensor::empty(out_idx, {n});
    for (int64_t k = 0; k < n; ++k) {
      out.data<T>()[k] = xv[keep[k]];
      if (out_idx == DType::kInt32) idx.data<int32_t>()[k] = static_cast<int32_t>(keep[k]);
      else idx.data<int64_t>()[k] = keep[k];
    }
    ctx.set_output(0, out);
    ctx.set_output(1, idx);
  });
}

// -- Unique

void unique_shape(InferenceContext& c) {
  const Shape& x = c.input_shape(0);
  if (x.known_rank() && x.rank() != 1) c.fail(str_cat("x should be a 1D vector, got shape ", x));
  c.set_output(0, Shape{-1});
  c.set_output(1, x.known_rank() ? x : Shape{-1});
}

void unique_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  FG_CHECK(x.rank() == 1, InvalidArgument, "Unique: x should be a 1D vector, got shape ", x.shape());
  const DType out_idx = ctx.attr<DType>("out_idx");
  const int64_t n = x.num_elements();
  FG_CHECK(out_idx == DType::kInt32 || out_idx == DType::kInt64, InvalidArgument,
           "Unique: out_idx must be int32 or int64, not ", dtype_name(out_idx));
  FG_CHECK(out_idx == DType::kInt64 || n <= std::numeric_limits<int32_t>::max(), InvalidArgument,
           "Unique: x has more elements than int32 indices can name");
  Tensor idx = Tensor::empty(out_idx, {n});
  int32_t* idx32 = out_idx == DType::kInt32 ? idx.data<int32_t>() : nullptr;
  int64_t* idx64 = out_idx == DType::kInt64 ? idx.data<int64_t>() : nullptr;
  dispatch_all(x.dtype(), "Unique", [&]<typename T>() {
    const T* xv = x.data<T>();
    std::unordered_map<T, int64_t> position;  // of each value in y
    std::vector<int64_t> first;                // y[k] = x[first[k]]
    for (int64_t i = 0; i < n; ++i) {
      const auto [it, fresh] = position.try_emplace(xv[i], static_cast<int64_t>(first.size()));
      if (fresh) first.push_back(i);
      if (idx32) idx32[i] = static_cast<int32_t>(it->second);
      else idx64[i] = it->second;
    }
    Tensor y = Tensor::empty(x.dtype(), {static_cast<int64_t>(first.size())});
    T* yv = y.data<T>();
    for (size_t k = 0; k < first.size(); ++k) yv[k] = xv[first[k]];
    ctx.set_output(0, y);
  });
  ctx.set_output(1, idx);
}

}  // namespace

void register_indexing_ops(OpRegistry& r) {
  auto masks = [](OpDef& d) -> OpDef& {
    return d.attr("begin_mask", int64_t{0}).attr("end_mask", int64_t{0}).attr("ellipsis_mask", int64_t{0})
        .attr("new_axis_mask", int64_t{0}).attr("shrink_axis_mask", int64_t{0});
  };
  r.add("Slice").input("input", "T").input("begin", "Index").input("size", "Index").output("output", "T")
      .type_attr("T", kAllTypes).type_attr("Index", kIndexTypes).shape(slice_shape).kernel_fn(slice_kernel)
      .gradient(slice_grad);
  masks(r.add("StridedSlice").input("input", "T").input("begin", "Index").input("end", "Index")
            .input("strides", "Index").output("output", "T").type_attr("T", kAllTypes).type_attr("Index", kIndexTypes))
      .shape(strided_slice_shape).kernel_fn(strided_slice_kernel).gradient(strided_slice_grad);
  masks(r.add("StridedSliceGrad").input("shape", "Index").input("begin", "Index").input("end", "Index")
            .input("strides", "Index").input("dy", "T").output("output", "T").type_attr("T", kAllTypes)
            .type_attr("Index", kIndexTypes))
      .shape(strided_slice_grad_shape).kernel_fn(strided_slice_grad_kernel).gradient(strided_slice_grad_grad);
  r.add("Gather").input("params", "Tparams").input("indices", "Tindices").output("output", "Tparams")
      .attr("validate_indices", true).type_attr("Tparams", kAllTypes).type_attr("Tindices", kIndexTypes)
      .shape(gather_shape).kernel_fn(gather_kernel).gradient(gather_grad);
  r.add("GatherV2").input("params", "Tparams").input("indices", "Tindices").input("axis", "Taxis")
      .output("output", "Tparams").type_attr("Tparams", kAllTypes).type_attr("Tindices", kIndexTypes)
      .type_attr("Taxis", kIndexTypes).shape(gather_v2_shape).kernel_fn(gather_v2_kernel).gradient(gather_v2_grad);
  r.add("UnsortedSegmentSum").input("data", "T").input("segment_ids", "Tindices")
      .input("num_segments", "Tnumsegments").output("output", "T").attr("Tnumsegments", DType::kInt32)
      .type_attr("T", kNumericTypes).type_attr("Tindices", kIndexTypes).type_attr("Tnumsegments", kIndexTypes)
      .shape(segment_sum_shape).kernel_fn(segment_sum_kernel).gradient(segment_sum_grad);
  r.add("DynamicStitch").list_input("indices", "int32", "N").list_input("data", "T", "N").output("merged", "T")
      .attr("N").type_attr("T", kAllTypes).shape(dynamic_stitch_shape).kernel_fn(dynamic_stitch_kernel)
      .gradient(dynamic_stitch_grad);
  r.add("OneHot").input("indices", "TI").input("depth", DType::kInt32).input("on_value", "T")
      .input("off_value", "T").output("output", "T").attr("axis", int64_t{-1}).attr("TI", DType::kInt64)
      .type_attr("T", kAllTypes).type_attr("TI", {DType::kUInt8, DType::kInt32, DType::kInt64})
      .shape(one_hot_shape).kernel_fn(one_hot_kernel).not_differentiable("TF's NotDifferentiable: the output depends on the indices only");
  r.add("ListDiff").input("x", "T").input("y", "T").output("out", "T").output("idx", "out_idx")
      .attr("out_idx", DType::kInt32).type_attr("T", kAllTypes).type_attr("out_idx", kIndexTypes)
      .shape(list_diff_shape).kernel_fn(list_diff_kernel).not_differentiable("integer outputs: TF's NotDifferentiable");
  r.add("Unique").input("x", "T").output("y", "T").output("idx", "out_idx").attr("out_idx", DType::kInt32)
      .type_attr("T", kAllTypes).type_attr("out_idx", kIndexTypes).shape(unique_shape).kernel_fn(unique_kernel)
      .without_gradient("TF registers no gradient for Unique: differentiating through its values is an error there");
}

}  // namespace fg
