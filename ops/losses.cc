#include "ops/losses.h"

#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/indexing.h"
#include "ops/math.h"
#include "ops/nn.h"
#include "ops/nn_losses.h"
#include "ops/internal/kernel_util.h"

namespace fg::losses {

namespace {

// math_ops.to_float as TF 1.12: a float32 tensor is returned as is; anything else is cast in a
// "ToFloat" scope (a C++ number becomes the Const "ToFloat/x").
Output to_float(Graph& g, const std::variant<double, Output>& x) {
  if (const Output* t = std::get_if<Output>(&x); t && t->dtype() == DType::kFloat) return *t;
  const std::string full = g.composite_name("ToFloat");
  auto scope = g.name_scope(full + "/");
  if (const double* v = std::get_if<double>(&x)) return scalar_constant(g, *v, DType::kFloat, "x");
  return cast(std::get<Output>(x), DType::kFloat, full + "/");
}

Output to_float(const Output& x) { return to_float(*x.graph(), std::variant<double, Output>(x)); }

Output squeeze_last(const Output& x) {
  return OpBuilder(x, "Squeeze", "Squeeze").input(x).attr("squeeze_dims", std::vector<int64_t>{-1}).build_output();
}

// weights_broadcast_ops.assert_broadcastable, static form: checks what the static shapes decide
// and returns TF's NoOp for the dependency; nullptr when only a run could tell.
Operation* assert_broadcastable(Graph& g, const std::variant<double, Output>& weights, const Output& values) {
  auto scope = g.name_scope("assert_broadcastable");
  Output w;
  {
    auto ws = g.name_scope("weights");
    const std::string here = g.current_name_scope();
    if (const double* v = std::get_if<double>(&weights)) w = scalar_constant(g, *v, DType::kFloat, here);
    else w = std::get<Output>(weights);
    detail::shape_or_constant(w, DType::kInt32, "shape");
    detail::rank_or_constant(w, "rank");
  }
  {
    auto vs = g.name_scope("values");
    detail::shape_or_constant(values, DType::kInt32, "shape");
    detail::rank_or_constant(values, "rank");
  }
  const Shape& ws = w.shape();
  const Shape& vs = values.shape();
  if (!ws.known_rank() || !vs.known_rank()) return nullptr;
  if (ws.rank() == 0) return no_op(g, "static_scalar_check_success");
  FG_CHECK(ws.rank() == vs.rank(), InvalidArgument, "weights can not be broadcast to values. values.rank=", vs.rank(),
           ". weights.rank=", ws.rank(), ". values.shape=", vs, ". weights.shape=", ws, ".");
  if (!ws.is_fully_defined() || !vs.is_fully_defined()) return nullptr;
  for (int i = 0; i < vs.rank(); ++i)
    FG_CHECK(ws.dim(i) == 1 || ws.dim(i) == vs.dim(i), InvalidArgument,
             "weights can not be broadcast to values. Mismatch at dim ", i, ". values.shape=", vs,
             " weights.shape=", ws);
  return no_op(g, "static_dims_check_success");
}

// where(den > 0, num / where(den == 0, 1, den), 0), named "value".
Output safe_div(const Output& num, const Output& den, const std::string& name = "value") {
  Graph& g = *num.graph();
  const Output zero = scalar_constant(g, 0, den.dtype(), "Greater/y");
  const Output positive = greater(den, zero);
  const Output is_zero = equal(den, scalar_constant(g, 0, den.dtype(), "Equal/y"));
  const Output safe_den = select(is_zero, ones_like(den), den);
  return select(positive, divide(num, safe_den, "div"), zeros_like(num), name);
}

Output safe_mean(const Output& losses, const Output& num_present) { return safe_div(reduce_sum(losses), num_present); }

Output num_elements(const Output& losses) {
  Graph& g = *losses.graph();
  const std::string full = g.composite_name("num_elements");
  Output n;
  {
    auto scope = g.name_scope(full + "/");
    n = detail::size_or_constant(losses, DType::kInt32, full + "/");
  }
  return cast(n, losses.dtype());
}

// weights_broadcast_ops.broadcast_weights: weights * ones_like(values), named "broadcast_weights".
Output broadcast_weights(const Output& weights, const Output& values) {
  Graph& g = *values.graph();
  const std::string full = g.composite_name("broadcast_weights");
  auto scope = g.name_scope(full + "/");
  if (weights.shape().is_fully_defined() && values.shape().is_fully_defined() &&
      weights.shape() == values.shape())
    return weights;
  Operation* check = assert_broadcastable(g, weights, values);
  auto deps = g.control_dependencies(check ? std::vector<Operation*>{check} : std::vector<Operation*>{});
  return multiply(weights, ones_like(values), full + "/");
}

Output num_present(const Output& losses, const Output& weights) {
  Graph& g = *losses.graph();
  const std::string full = g.composite_name("num_present");
  auto scope = g.name_scope(full + "/");
  const Output w = to_float(weights);
  const Output is_zero = equal(w, scalar_constant(g, 0, DType::kFloat, "Equal/y"));
  Output present = select(is_zero, zeros_like(w), ones_like(w));
  present = broadcast_weights(present, losses);
  return reduce_sum(present, {}, false, full + "/");
}

std::vector<Output> collection_outputs(Graph& g, const std::string& key, const std::string& scope) {
  std::vector<Output> r;
  for (const CollectionItem& item : g.get_collection(key, scope)) {
    if (const Output* o = std::get_if<Output>(&item)) r.push_back(*o);
    else if (const Variable* v = std::get_if<Variable>(&item)) r.push_back(v->value());
    else throw InvalidArgument(str_cat("collection '", key, "' holds ", collection_item_name(item), ", not a tensor"));
  }
  return r;
}

Output add_n_named(const std::vector<Output>& xs, const std::string& name) {
  // TF's add_n of a single tensor is identity(x, name).
  if (xs.size() == 1) return identity(xs[0], name);
  return add_n(xs, name);
}

void check_compatible(const Output& a, const Output& b, const char* who) {
  FG_CHECK(a.shape().compatible_with(b.shape()), InvalidArgument, who, ": shapes ", a.shape(), " and ", b.shape(),
           " are incompatible");
}

// The weights as a tensor when they must be one before compute_weighted_loss (TF converts them in
// _remove_squeezable_dimensions).
std::variant<double, Output> as_tensor(Graph& g, const std::variant<double, Output>& w) {
  if (const double* v = std::get_if<double>(&w)) return scalar_constant(g, *v, DType::kFloat, "Const");
  return w;
}

}  // namespace

Output compute_weighted_loss(const Output& losses, const LossOptions& o) {
  FG_CHECK(losses, InvalidArgument, "compute_weighted_loss: losses is a none tensor");
  if (const Output* w = std::get_if<Output>(&o.weights))
    FG_CHECK(*w, InvalidArgument, "compute_weighted_loss: weights is a none tensor");
  Graph& g = *losses.graph();
  auto scope = g.name_scope(o.scope.empty() ? "weighted_loss" : o.scope);
  Operation* check = assert_broadcastable(g, o.weights, losses);
  auto deps = g.control_dependencies(check ? std::vector<Operation*>{check} : std::vector<Operation*>{});
  const DType input_dtype = losses.dtype();
  const Output l = to_float(losses);
  const Output w = to_float(g, o.weights);
  const Output weighted = multiply(l, w);
  Output loss;
  if (o.reduction == Reduction::NONE) {
    loss = weighted;
  } else {
    loss = reduce_sum(weighted);
    if (o.reduction == Reduction::MEAN) loss = safe_mean(loss, reduce_sum(ones_like(l) * w));
    else if (o.reduction == Reduction::SUM_BY_NONZERO_WEIGHTS) loss = safe_mean(loss, num_present(l, w));
    else if (o.reduction == Reduction::SUM_OVER_BATCH_SIZE) loss = safe_mean(loss, num_elements(l));
  }
  if (loss.dtype() != input_dtype) loss = cast(loss, input_dtype);
  add_loss(loss, o.loss_collection);
  return loss;
}

// What every tf.losses function starts with: both inputs given, its name scope ("scope" or its
// default), and the options with that scope for compute_weighted_loss.
struct LossScope {
  LossScope(const Output& a, const char* a_name, const Output& b, const char* b_name, const char* default_scope,
            const LossOptions& o)
      : g(graph_of(a, a_name, b, b_name)), scope(g.name_scope(o.scope.empty() ? default_scope : o.scope)), inner(o) {
    inner.scope = g.current_name_scope();
  }
  static Graph& graph_of(const Output& a, const char* a_name, const Output& b, const char* b_name) {
    FG_CHECK(a, InvalidArgument, a_name, " must not be None.");
    FG_CHECK(b, InvalidArgument, b_name, " must not be None.");
    return *b.graph();
  }
  Graph& g;
  ScopeGuard scope;
  LossOptions inner;
};

Output sparse_softmax_cross_entropy(const Output& labels, const Output& logits, const LossOptions& o) {
  LossScope ls(labels, "labels", logits, "logits", "sparse_softmax_cross_entropy_loss", o);
  Graph& g = ls.g;
  LossOptions& inner = ls.inner;
  Output lab = labels, lg = logits;
  {
    // confusion_matrix.remove_squeezable_dimensions with expected_rank_diff 1 (static ranks only).
    auto s = g.name_scope("remove_squeezable_dimensions");
    if (lab.shape().known_rank() && lg.shape().known_rank()) {
      const int diff = lg.shape().rank() - lab.shape().rank();
      if (diff == 2) lg = squeeze_last(lg);
      else if (diff == 0) lab = squeeze_last(lab);
    }
  }
  inner.weights = as_tensor(g, o.weights);
  const Output& w = std::get<Output>(inner.weights);
  if (lab.shape().known_rank() && w.shape().known_rank() && w.shape().rank() - lab.shape().rank() == 1)
    inner.weights = squeeze_last(w);
  const Output losses = nn::sparse_softmax_cross_entropy_with_logits(lab, lg, "xentropy");
  return compute_weighted_loss(losses, inner);
}

Output softmax_cross_entropy(const Output& onehot_labels, const Output& logits, const LossOptions& o) {
  LossScope ls(onehot_labels, "onehot_labels", logits, "logits", "softmax_cross_entropy_loss", o);
  LossOptions& inner = ls.inner;
  Output labels = onehot_labels.dtype() == logits.dtype() ? onehot_labels : cast(onehot_labels, logits.dtype());
  check_compatible(logits, labels, "softmax_cross_entropy");
  if (o.label_smoothing > 0) {
    const Output num_classes = cast(strided_slice(detail::shape_or_constant(labels), {1}), logits.dtype());
    labels = labels * (1.0 - o.label_smoothing) + o.label_smoothing / num_classes;
  }
  labels = stop_gradient(labels, "labels_stop_gradient");
  const Output losses = nn::softmax_cross_entropy_with_logits_v2(labels, logits, -1, "xentropy");
  return compute_weighted_loss(losses, inner);
}

Output mean_squared_error(const Output& labels, const Output& predictions, const LossOptions& o) {
  LossScope ls(labels, "labels", predictions, "predictions", "mean_squared_error", o);
  LossOptions& inner = ls.inner;
  const Output p = to_float(predictions), l = to_float(labels);
  check_compatible(p, l, "mean_squared_error");
  const Output losses = OpBuilder(p, "SquaredDifference", "SquaredDifference").input(p).input(l).build_output();
  return compute_weighted_loss(losses, inner);
}

Output absolute_difference(const Output& labels, const Output& predictions, const LossOptions& o) {
  LossScope ls(labels, "labels", predictions, "predictions", "absolute_difference", o);
  LossOptions& inner = ls.inner;
  const Output p = to_float(predictions), l = to_float(labels);
  check_compatible(p, l, "absolute_difference");
  return compute_weighted_loss(abs(subtract(p, l)), inner);
}

Output log_loss(const Output& labels, const Output& predictions, const LossOptions& o) {
  LossScope ls(labels, "labels", predictions, "predictions", "log_loss", o);
  LossOptions& inner = ls.inner;
  const Output p = to_float(predictions), l = to_float(labels);
  check_compatible(p, l, "log_loss");
  const Output losses = -multiply(l, log(p + o.epsilon)) - multiply(1.0f - l, log(1.0f - p + o.epsilon));
  return compute_weighted_loss(losses, inner);
}

void add_loss(const Output& loss, const std::string& loss_collection) {
  FG_CHECK(loss, InvalidArgument, "add_loss: loss is a none tensor");
  if (!loss_collection.empty()) loss.graph()->add_to_collection(loss_collection, loss);
}

std::vector<Output> get_losses(Graph& g, const std::string& scope, const std::string& loss_collection) {
  return collection_outputs(g, loss_collection, scope);
}

std::vector<Output> get_regularization_losses(Graph& g, const std::string& scope) {
  return collection_outputs(g, GraphKeys::REGULARIZATION_LOSSES, scope);
}

Output get_regularization_loss(Graph& g, const std::string& scope, const std::string& name) {
  const std::vector<Output> losses = get_regularization_losses(g, scope);
  if (losses.empty()) return scalar_constant(g, 0.0, DType::kFloat, "Const");
  return add_n_named(losses, name);
}

Output get_total_loss(Graph& g, bool add_regularization_losses, const std::string& name) {
  std::vector<Output> losses = get_losses(g);
  if (add_regularization_losses)
    for (const Output& r : get_regularization_losses(g)) losses.push_back(r);
  FG_CHECK(!losses.empty(), InvalidArgument,
           "get_total_loss: no losses in the LOSSES or REGULARIZATION_LOSSES collections");
  return add_n_named(losses, name);
}

}  // namespace fg::losses
