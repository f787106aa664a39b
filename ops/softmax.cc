// Softmax, LogSoftmax, SparseSoftmaxCrossEntropyWithLogits and InTopKV2: a classifier's output ops.
#include <cmath>
#include <limits>

#include "core/eigen.h"
#include "core/parallel.h"
#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/internal/kernel_util.h"
#include "ops/internal/register.h"
#include "ops/math.h"
#include "ops/nn.h"

namespace fg {

namespace nn {

Output softmax(const Output& logits, const std::string& name) {
  return OpBuilder(logits, "Softmax", name).input(logits).build_output();
}

Output log_softmax(const Output& logits, const std::string& name) {
  return OpBuilder(logits, "LogSoftmax", name).input(logits).build_output();
}

Output sparse_softmax_cross_entropy_with_logits(const Output& labels, const Output& logits, const std::string& name) {
  FG_CHECK(labels && logits, InvalidArgument, "sparse_softmax_cross_entropy_with_logits: labels and logits are required");
  Graph& g = *logits.graph();
  FG_CHECK(labels.graph() == &g, InvalidArgument,
           "sparse_softmax_cross_entropy_with_logits: labels and logits are from different graphs");
  const Shape& ls = labels.shape();
  const Shape& xs = logits.shape();
  FG_CHECK(xs.rank() != 0, InvalidArgument, "Logits cannot be scalars - received shape ", xs, ".");
  FG_CHECK(!xs.known_rank() || !ls.known_rank() || ls.rank() == xs.rank() - 1, InvalidArgument,
           "Rank mismatch: Rank of labels (received ", ls.rank(), ") should equal rank of logits minus 1 (received ",
           xs.rank(), ").");
  if (xs.known_rank() && ls.known_rank()) {
    for (int i = 0; i < ls.rank(); ++i)
      FG_CHECK(ls.dim(i) < 0 || xs.dim(i) < 0 || ls.dim(i) == xs.dim(i), InvalidArgument,
               "Shape mismatch: The shape of labels (received ", ls,
               ") should equal the shape of logits except for the last dimension (received ", xs, ").");
  }
  // TF1 names: scope "SparseSoftmaxCrossEntropyWithLogits/" holding "Shape" (of the labels) and the
  // op itself, which takes the scope's name again.
  const std::string op_name = name.empty() ? "SparseSoftmaxCrossEntropyWithLogits" : name;
  auto scope = g.name_scope(op_name);
  Output labels_shape = shape(labels);
  auto xent = [&](const Output& x, const Output& y) {
    return OpBuilder(g, "SparseSoftmaxCrossEntropyWithLogits", op_name).input(x).input(y).build_output();
  };
  if (!xs.known_rank() || xs.rank() == 2) return xent(logits, labels);
  // Higher rank: flatten to [batch, classes] and restore the labels' shape afterwards, as TF does.
  const int64_t classes = xs.dim(-1);
  FG_CHECK(classes >= 0, InvalidArgument, "sparse_softmax_cross_entropy_with_logits: the number of classes (last "
           "dimension of logits ", xs, ") must be known when logits have rank ", xs.rank());
  Output cost = reshape(xent(reshape(logits, {-1, classes}), reshape(labels, {-1})), labels_shape);
  if (ls.known_rank()) cost.op()->set_output_shape(0, ls);
  return cost;
}

Output in_top_k(const Output& predictions, const Output& targets, const Output& k, const std::string& name) {
  Graph& g = *predictions.graph();
  auto scope = g.name_scope(name.empty() ? "in_top_k" : name);
  return OpBuilder(g, "InTopKV2", name.empty() ? "InTopKV2" : name).input(predictions).input(targets).input(k)
      .build_output();
}

Output in_top_k(const Output& predictions, const Output& targets, int64_t k, const std::string& name) {
  Graph& g = *predictions.graph();
  // TF1: scope "in_top_k/", the op "in_top_k/InTopKV2" and its k constant "in_top_k/InTopKV2/k".
  auto scope = g.name_scope(name.empty() ? "in_top_k" : name);
  const std::string full = g.unique_name(name.empty() ? "InTopKV2" : name, /*mark_as_used=*/false);
  Output kc;
  {
    auto inner = g.name_scope(full + "/");
    if (targets.dtype() == DType::kInt64) {
      kc = constant(g, Tensor(k), "k");
    } else {
      FG_CHECK(k >= std::numeric_limits<int32_t>::min() && k <= std::numeric_limits<int32_t>::max(), InvalidArgument,
               "in_top_k: k = ", k, " does not fit the int32 targets' dtype");
      kc = constant(g, Tensor(static_cast<int32_t>(k)), "k");
    }
  }
  return OpBuilder(g, "InTopKV2", full + "/").input(predictions).input(targets).input(kc).build_output();
}

}  // namespace nn

namespace {

// -- Softmax, LogSoftmax

void softmax_shape(InferenceContext& c) {
  const Shape& s = c.input_shape(0);
  if (s.rank() == 0) c.fail("logits must have >= 1 dimension, got shape []");
  c.set_output(0, s);
}

template <bool kLog>
void softmax_kernel(KernelContext& ctx) {
  const char* who = kLog ? "LogSoftmax" : "Softmax";
  const Tensor& x = ctx.input(0);
  FG_CHECK(x.rank() >= 1, InvalidArgument, who, ": logits must have >= 1 dimension, got shape ", x.shape());
  Tensor y = ctx.forward_input_or_allocate(0, x.dtype(), x.shape());
  dispatch_float(x.dtype(), who, [&]<typename T>() {
    auto X = as_matrix<T>(x);
    auto Y = as_matrix<T>(y);
    // Shifting by the row max keeps exp() <= 1: no overflow for any finite logits.
    parallel_for(X.rows(), X.cols() * 8, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        auto xr = X.row(r).array();
        auto yr = Y.row(r).array();
        const T m = xr.maxCoeff();
        if constexpr (kLog) {
          const T lse = std::log((xr - m).exp().sum());
          yr = (xr - m) - lse;
        } else {
          yr = (xr - m).exp();
          yr /= yr.sum();
        }
      }
    });
  });
  ctx.set_output(0, y);
}

std::vector<Output> softmax_grad(GradContext& c) {
  const Output sm = c.output(0);
  const Output g = c.grad(0);
  const Output sum_channels = reduce_sum(g * sm, {-1}, /*keep_dims=*/true);
  return {(g - sum_channels) * sm};
}

std::vector<Output> log_softmax_grad(GradContext& c) {
  const Output g = c.grad(0);
  return {g - reduce_sum(g, {-1}, /*keep_dims=*/true) * exp(c.output(0))};
}

// -- SparseSoftmaxCrossEntropyWithLogits

void sparse_xent_shape(InferenceContext& c) {
  const Shape& f = c.input_shape(0);
  const Shape& l = c.input_shape(1);
  if (f.known_rank() && f.rank() != 2) c.fail(str_cat("logits must be 2-D, but got shape ", f));
  if (l.known_rank() && l.rank() != 1) c.fail(str_cat("labels must be 1-D, but got shape ", l));
  const int64_t n = merge_dim(f.known_rank() ? f.dim(0) : -1, l.known_rank() ? l.dim(0) : -1, [&] {
    c.fail(str_cat("logits and labels must have the same first dimension, got logits shape ", f,
                   " and labels shape ", l));
  });
  const int64_t classes = f.known_rank() ? f.dim(1) : -1;
  c.set_output(0, Shape{n});
  c.set_output(1, Shape{n, classes});
}

void sparse_xent_kernel(KernelContext& ctx) {
  const Tensor& features = ctx.input(0);
  const Tensor& labels = ctx.input(1);
  FG_CHECK(features.rank() == 2, InvalidArgument, "logits must be 2-D, but got shape ", features.shape());
  FG_CHECK(labels.rank() == 1, InvalidArgument, "labels must be 1-D, but got shape ", labels.shape());
  FG_CHECK(features.dim(0) == labels.dim(0), InvalidArgument,
           "logits and labels must have the same first dimension, got logits shape ", features.shape(),
           " and labels shape ", labels.shape());
  const int64_t n = features.dim(0), classes = features.dim(1);
  const DType dtype = features.dtype();
  dispatch<TypeSet::kIndex>(labels.dtype(), "SparseSoftmaxCrossEntropyWithLogits", [&]<typename L>() {
    const L* lab = labels.data<L>();
    for (int64_t i = 0; i < n; ++i) {
      FG_CHECK(lab[i] >= 0 && lab[i] < classes, InvalidArgument, "Received a label value of ",
               static_cast<int64_t>(lab[i]), " at index ", i, " which is outside the valid range of [0, ", classes,
               ")");
    }
    Tensor loss = Tensor::empty(dtype, {n});
    Tensor backprop = ctx.forward_input_or_allocate(0, dtype, features.shape());
    dispatch_float(dtype, "SparseSoftmaxCrossEntropyWithLogits", [&]<typename T>() {
      auto X = as_matrix<T>(features, n, classes);
      auto B = as_matrix<T>(backprop, n, classes);
      T* l = loss.data<T>();
      // Block by block rather than row by row: a row has only `classes` (10) logits, too few for
      // Eigen to vectorize exp/max/sum over; a block of rows vectorizes across the whole block.
      parallel_for(n, classes * 8, [&](int64_t b, int64_t e) {
        auto xs = X.middleRows(b, e - b).array();
        auto bs = B.middleRows(b, e - b).array();
        const Eigen::Array<T, Eigen::Dynamic, 1> m = xs.rowwise().maxCoeff();
        Eigen::Array<T, Eigen::Dynamic, 1> target(e - b);
        // Read before bs (possibly the same buffer) overwrites the rows.
        for (int64_t r = b; r < e; ++r) target(r - b) = X(r, lab[r]) - m(r - b);
        bs = (xs.colwise() - m).exp();
        const Eigen::Array<T, Eigen::Dynamic, 1> sums = bs.rowwise().sum();
        for (int64_t r = b; r < e; ++r) l[r] = std::log(sums(r - b)) - target(r - b);
        bs.colwise() /= sums;
        for (int64_t r = b; r < e; ++r) B(r, lab[r]) -= T(1);
      });
    });
    ctx.set_output(0, loss);
    ctx.set_output(1, backprop);
  });
}

// d loss / d logits = grad_loss[:, None] * backprop (TF). TF1 ignores a gradient arriving at
// `backprop`; that would be silently wrong, so it is differentiated as TF2 does: backprop =
// softmax - onehot, whose Jacobian is the softmax one.
std::vector<Output> sparse_xent_grad(GradContext& c) {
  Output result;
  if (c.grad(0)) result = expand_dims(c.grad(0), -1) * c.output(1);
  if (c.grad(1)) {
    const Output gg = c.grad(1);
    const Output sm = nn::softmax(c.input(0));
    const Output extra = (gg - reduce_sum(gg * sm, {-1}, /*keep_dims=*/true)) * sm;
    result = result ? result + extra : extra;
  }
  return {result, Output()};
}

// -- InTopKV2

void in_top_k_shape(InferenceContext& c) {
  const Shape& p = c.input_shape(0);
  const Shape& t = c.input_shape(1);
  const Shape& k = c.input_shape(2);
  if (p.known_rank() && p.rank() != 2) c.fail(str_cat("predictions must be 2-dimensional, got shape ", p));
  if (t.known_rank() && t.rank() != 1) c.fail(str_cat("targets must be 1-dimensional, got shape ", t));
  if (k.known_rank() && k.rank() != 0) c.fail(str_cat("k must be a scalar, got shape ", k));
  c.set_output(0, Shape{merge_dim(p.known_rank() ? p.dim(0) : -1, t.known_rank() ? t.dim(0) : -1, [&] {
    c.fail(str_cat("First dimension of predictions ", p, " must match length of targets ", t));
  })});
}

void in_top_k_kernel(KernelContext& ctx) {
  const Tensor& pred = ctx.input(0);
  const Tensor& targets = ctx.input(1);
  const Tensor& k_t = ctx.input(2);
  FG_CHECK(pred.rank() == 2, InvalidArgument, "predictions must be 2-dimensional, got shape ", pred.shape());
  FG_CHECK(targets.rank() == 1, InvalidArgument, "targets must be 1-dimensional, got shape ", targets.shape());
  FG_CHECK(pred.dim(0) == targets.dim(0), InvalidArgument, "First dimension of predictions ", pred.dim(0),
           " must match length of targets ", targets.dim(0));
  FG_CHECK(k_t.rank() == 0, InvalidArgument, "k must be a scalar, got shape ", k_t.shape());
  const int64_t n = pred.dim(0), classes = pred.dim(1);
  Tensor out = Tensor::empty(DType::kBool, {n});
  dispatch<TypeSet::kIndex>(targets.dtype(), "InTopKV2", [&]<typename L>() {
    const int64_t k = static_cast<int64_t>(k_t.scalar<L>());
    const L* tgt = targets.data<L>();
    const float* p = pred.data<float>();
    bool* o = out.data<bool>();
    parallel_for(n, classes, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const float* row = p + r * classes;
        const int64_t t = tgt[r];
        // TF: an out-of-range target or any non-finite prediction makes the row false; otherwise the
        // target is in the top k when fewer than k classes score strictly higher (ties count as in).
        bool ok = t >= 0 && t < classes && std::isfinite(row[t]);
        int64_t more = 0;
        for (int64_t c = 0; ok && c < classes; ++c) {
          if (!std::isfinite(row[c])) ok = false;
          else if (row[c] > row[t] && ++more >= k) break;
        }
        o[r] = ok && more < k;
      }
    });
  });
  ctx.set_output(0, out);
}

}  // namespace

void register_softmax_ops(OpRegistry& r) {
  r.add("Softmax").input("logits", "T").output("softmax", "T").type_attr("T", kFloatTypes)
      .shape(softmax_shape).kernel_fn(softmax_kernel<false>).gradient(softmax_grad);
  r.add("LogSoftmax").input("logits", "T").output("logsoftmax", "T").type_attr("T", kFloatTypes)
      .shape(softmax_shape).kernel_fn(softmax_kernel<true>).gradient(log_softmax_grad);
  r.add("SparseSoftmaxCrossEntropyWithLogits").input("features", "T").input("labels", "Tlabels")
      .output("loss", "T").output("backprop", "T").attr("Tlabels", DType::kInt64)
      .type_attr("T", kFloatTypes).type_attr("Tlabels", {DType::kInt32, DType::kInt64})
      .shape(sparse_xent_shape).kernel_fn(sparse_xent_kernel).gradient(sparse_xent_grad);
  r.add("InTopKV2").input("predictions", DType::kFloat).input("targets", "T").input("k", "T")
      .output("precision", DType::kBool).attr("T", DType::kInt32).type_attr("T", {DType::kInt32, DType::kInt64})
      .shape(in_top_k_shape).kernel_fn(in_top_k_kernel).not_differentiable("boolean output");
}

}  // namespace fg
