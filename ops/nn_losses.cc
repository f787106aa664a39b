#include "ops/nn_losses.h"

#include <cmath>

#include "core/eigen.h"
#include "core/parallel.h"
#include "graph/op_registry.h"
#include "ops/internal/register.h"
#include "ops/array.h"
#include "ops/indexing.h"
#include "ops/math.h"
#include "ops/nn.h"
#include "ops/internal/kernel_util.h"
#include "ops/shape_ops.h"

namespace fg::nn {

namespace {

// TF's _flatten_outer_dims: [d0, ..., dn-1, c] -> [d0 * ... * dn-1, c].
Output flatten_outer_dims(const Output& x) {
  Graph& g = *x.graph();
  const Output r = detail::rank_or_constant(x);
  const Output last_dim_size = slice(detail::shape_or_constant(x), stack({r - 1}), detail::int_vector(g, std::vector<int64_t>{1}, DType::kInt32, "Const"));
  const Output minus_one = detail::int_vector(g, std::vector<int64_t>{-1}, DType::kInt32, "Const");
  Output out = reshape(x, concat({minus_one, last_dim_size}, 0));
  const Shape& s = x.shape();
  if (s.known_rank() && s.rank() >= 1) {
    int64_t product = 1;
    bool valid = true;
    for (int i = 0; i + 1 < s.rank(); ++i) {
      if (s.dim(i) < 0) valid = false;
      else product *= s.dim(i);
    }
    if (valid) out.op()->set_output_shape(out.index(), Shape{product, s.dim(-1)});
  }
  return out;
}

// Moves dim `axis` to the end: transpose(x, concat([range(axis), range(axis + 1, rank), [axis]], 0)).
Output move_dim_to_end(const Output& x, int64_t axis, const Output& rank) {
  Graph& g = *x.graph();
  const Output zero = scalar_constant(g, 0, DType::kInt32), one = scalar_constant(g, 1, DType::kInt32);
  const Output a = detail::int_scalar(g, axis, DType::kInt32, "Const");
  return transpose(x, concat({range(zero, a, one), range(a + 1, rank, one), stack({a})}, 0));
}

}  // namespace

Output softmax_cross_entropy_with_logits_v2(const Output& labels, const Output& logits, int64_t axis,
                                            const std::string& name) {
  FG_CHECK(labels && logits, InvalidArgument, "softmax_cross_entropy_with_logits: labels and logits are required");
  Graph& g = *logits.graph();
  auto scope = g.name_scope(name.empty() ? "softmax_cross_entropy_with_logits" : name);
  const std::string op_name = g.current_name_scope();
  const Output lab = labels.dtype() == logits.dtype() ? labels : cast(labels, logits.dtype());
  const Output input_rank = detail::rank_or_constant(logits);
  const Shape static_shape = logits.shape();
  Output precise = logits, l = lab;
  if (axis != -1) {
    precise = move_dim_to_end(precise, axis, input_rank);
    l = move_dim_to_end(l, axis, input_rank);
  }
  const Output input_shape = detail::shape_or_constant(precise);
  precise = flatten_outer_dims(precise);
  l = flatten_outer_dims(l);
  Operation* op = OpBuilder(g, "SoftmaxCrossEntropyWithLogits", op_name).input(precise).input(l).build();
  const Output output_shape = slice(input_shape, detail::int_vector(g, std::vector<int64_t>{0}, DType::kInt32, "Const"),
                                    stack({input_rank - 1}));
  Output cost = reshape(op->output(0), output_shape);
  if (static_shape.known_rank() && axis == -1 && static_shape.rank() >= 1) {
    std::vector<int64_t> dims = static_shape.dim_vector();
    dims.pop_back();
    cost.op()->set_output_shape(cost.index(), Shape(dims));
  }
  return cost;
}

Output softmax_cross_entropy_with_logits(const Output& labels, const Output& logits, int64_t axis,
                                         const std::string& name) {
  FG_CHECK(labels && logits, InvalidArgument, "softmax_cross_entropy_with_logits: labels and logits are required");
  Graph& g = *logits.graph();
  Output stopped;
  std::string scope_name;
  {
    auto scope = g.name_scope(name.empty() ? "softmax_cross_entropy_with_logits_sg" : name);
    scope_name = g.current_name_scope();
    stopped = stop_gradient(labels, "labels_stop_gradient");
  }
  return softmax_cross_entropy_with_logits_v2(stopped, logits, axis, scope_name);
}

Output l2_loss(const Output& t, const std::string& name) {
  return OpBuilder(t, "L2Loss", name).input(t).build_output();
}

}  // namespace fg::nn

namespace fg {

namespace {

// -- SoftmaxCrossEntropyWithLogits: features and labels of one rank-2 shape, or broadcastable to one.

void xent_shape(InferenceContext& c) {
  const Shape& f = c.input_shape(0);
  const Shape& l = c.input_shape(1);
  if ((!f.known_rank() || f.rank() == 2) && f.compatible_with(l)) {
    Shape s = f.merge_with(l, "SoftmaxCrossEntropyWithLogits");
    if (!s.known_rank()) s = Shape{-1, -1};
    c.set_output(0, Shape{s.dim(0)});
    c.set_output(1, s);
    return;
  }
  Shape b;
  try {
    b = broadcast_shapes(f, l, "SoftmaxCrossEntropyWithLogits");
  } catch (const InvalidArgument&) {
    c.fail(str_cat("logits and labels must be broadcastable: logits_size=", f, " labels_size=", l));
  }
  if (!b.known_rank()) c.fail("Shape must be broadcasted with rank 2, but is rank is unknown.");
  if (b.rank() != 2) c.fail(str_cat("Shape must be broadcasted with rank 2, but is rank ", b.rank()));
  c.set_output(0, Shape{b.dim(0)});
  c.set_output(1, b);
}

void xent_kernel(KernelContext& ctx) {
  const Tensor& logits = ctx.input(0);
  const Tensor& labels = ctx.input(1);
  FG_CHECK(logits.rank() == 2 && labels.rank() == 2, InvalidArgument,
           "logits and labels must be either 2-dimensional, or broadcasted to be 2-dimensional");
  int64_t dims[2];
  for (int i = 0; i < 2; ++i) {
    const int64_t a = logits.dim(i), b = labels.dim(i);
    FG_CHECK(a == b || a == 1 || b == 1, InvalidArgument, "logits and labels must be broadcastable: logits_size=",
             logits.shape(), " labels_size=", labels.shape());
    dims[i] = a == 1 ? b : a;
  }
  const int64_t batch = dims[0], classes = dims[1];
  Tensor loss = Tensor::empty(logits.dtype(), {batch});
  Tensor backprop = Tensor::empty(logits.dtype(), {batch, classes});
  dispatch_float(logits.dtype(), "SoftmaxCrossEntropyWithLogits", [&]<typename T>() {
    const T* lg = logits.data<T>();
    const T* lb = labels.data<T>();
    T* out_loss = loss.data<T>();
    T* bp = backprop.data<T>();
    // Element (i, j) of a possibly broadcast [rows, cols] input.
    const int64_t lg_rs = logits.dim(0) == 1 ? 0 : logits.dim(1), lg_cs = logits.dim(1) == 1 ? 0 : 1;
    const int64_t lb_rs = labels.dim(0) == 1 ? 0 : labels.dim(1), lb_cs = labels.dim(1) == 1 ? 0 : 1;
    parallel_for(batch, 4 * classes, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const T* x = lg + i * lg_rs;
        const T* y = lb + i * lb_rs;
        T* g = bp + i * classes;
        T max = classes > 0 ? x[0] : T(0);
        for (int64_t j = 1; j < classes; ++j) max = std::max(max, x[j * lg_cs]);
        T sum = 0;
        for (int64_t j = 0; j < classes; ++j) {
          g[j] = std::exp(x[j * lg_cs] - max);
          sum += g[j];
        }
        const T log_sum = std::log(sum);
        T l = 0;
        for (int64_t j = 0; j < classes; ++j) {
          const T yj = y[j * lb_cs];
          l += yj * (log_sum - (x[j * lg_cs] - max));
          g[j] = g[j] / sum - yj;
        }
        out_loss[i] = l;
      }
    });
  });
  ctx.set_output(0, loss);
  ctx.set_output(1, backprop);
}

// TF's _SoftmaxCrossEntropyWithLogitsGrad. Its second-order term's batched matmul of
// [b, 1, c] x [b, c, 1] is the row-wise dot product, written as a reduce_sum here. TF leaves out
// the labels' part of that term (backprop = softmax - labels); it is included here.
std::vector<Output> xent_grad(GradContext& c) {
  const Output logits = c.input(0), labels = c.input(1);
  const Output grad_loss = c.grad_or_zeros(0);
  Output grad = expand_dims(grad_loss, -1) * c.output(1);
  Output dlabels = expand_dims(grad_loss, -1) * -nn::log_softmax(logits);
  if (c.grad(1)) {
    const Output gg = c.grad(1);
    const Output sm = nn::softmax(logits);
    grad = grad + (gg - reduce_sum(gg * sm, {-1}, /*keep_dims=*/true)) * sm;
    dlabels = dlabels - gg;
  }
  // Inputs that were broadcast get their gradients summed back to their own shapes.
  if (logits.shape() != c.output(1).shape()) grad = sum_to_shape_of(grad, logits, labels);
  if (labels.shape() != c.output(1).shape()) dlabels = sum_to_shape_of(dlabels, labels, logits);
  return {grad, dlabels};
}

// -- L2Loss

void l2_loss_shape(InferenceContext& c) { c.set_output(0, Shape{}); }

void l2_loss_kernel(KernelContext& ctx) {
  const Tensor& t = ctx.input(0);
  Tensor out = Tensor::empty(t.dtype(), {});
  dispatch_float(t.dtype(), "L2Loss", [&]<typename T>() {
    const int64_t n = t.num_elements();
    // Fixed chunks summed in order: the result does not depend on the thread count.
    constexpr int64_t kChunk = 1 << 14;
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    std::vector<double> partial(chunks, 0.0);
    const auto all = as_array<T>(t);
    parallel_for(chunks, kChunk, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        const int64_t begin = k * kChunk, len = std::min(n, begin + kChunk) - begin;
        partial[k] = all.segment(begin, len).template cast<double>().square().sum();
      }
    });
    double total = 0;
    for (double s : partial) total += s;
    *out.data<T>() = static_cast<T>(total / 2);
  });
  ctx.set_output(0, out);
}

std::vector<Output> l2_loss_grad(GradContext& c) { return {c.input(0) * c.grad(0)}; }

// -- InTopK (k an attr)

void in_top_k_shape(InferenceContext& c) {
  const Shape& p = c.input_shape(0);
  const Shape& t = c.input_shape(1);
  if (p.known_rank() && p.rank() != 2) c.fail(str_cat("predictions must be 2-dimensional, got shape ", p));
  if (t.known_rank() && t.rank() != 1) c.fail(str_cat("targets must be 1-dimensional, got shape ", t));
  const int64_t a = p.known_rank() ? p.dim(0) : -1, b = t.known_rank() ? t.dim(0) : -1;
  if (a >= 0 && b >= 0 && a != b)
    c.fail(str_cat("First dimension of predictions ", a, " must match length of targets ", b));
  c.set_output(0, Shape{a >= 0 ? a : b});
}

void in_top_k_kernel(KernelContext& ctx) {
  const Tensor& pred = ctx.input(0);
  const Tensor& targets = ctx.input(1);
  const int64_t k = ctx.attr<int64_t>("k");
  FG_CHECK(pred.rank() == 2, InvalidArgument, "predictions must be 2-dimensional");
  FG_CHECK(targets.rank() == 1, InvalidArgument, "targets must be 1-dimensional");
  FG_CHECK(pred.dim(0) == targets.dim(0), InvalidArgument, "First dimension of predictions ", pred.dim(0),
           " must match length of targets ", targets.dim(0));
  const int64_t batch = pred.dim(0), classes = pred.dim(1);
  const auto tv = int_values(targets, "InTopK");
  Tensor out = Tensor::empty(DType::kBool, {batch});
  const float* p = pred.data<float>();
  bool* o = out.data<bool>();
  parallel_for(batch, classes, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t t = tv[i];
      const float* row = p + i * classes;
      bool cannot_say = t < 0 || t >= classes || !std::isfinite(row[t]);
      int64_t more = 0;
      for (int64_t j = 0; !cannot_say && j < classes; ++j) {
        if (!std::isfinite(row[j])) cannot_say = true;
        else if (row[j] > row[t] && ++more > k) break;
      }
      o[i] = !cannot_say && more < k;
    }
  });
  ctx.set_output(0, out);
}

}  // namespace

void register_nn_loss_ops(OpRegistry& r) {
  r.add("SoftmaxCrossEntropyWithLogits").input("features", "T").input("labels", "T").output("loss", "T")
      .output("backprop", "T").type_attr("T", kFloatTypes).shape(xent_shape).kernel_fn(xent_kernel)
      .gradient(xent_grad);
  r.add("L2Loss").input("t", "T").output("output", "T").type_attr("T", kFloatTypes).shape(l2_loss_shape)
      .kernel_fn(l2_loss_kernel).gradient(l2_loss_grad);
  r.add("InTopK").input("predictions", DType::kFloat).input("targets", "T").output("precision", DType::kBool)
      .attr("k").attr("T", DType::kInt32).type_attr("T", {DType::kInt32, DType::kInt64}).shape(in_top_k_shape)
      .kernel_fn(in_top_k_kernel).not_differentiable("boolean output");
}

}  // namespace fg
