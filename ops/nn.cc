// GCC 12 false positive (GCC PR 105593): with -march=native its AVX-512 headers' _mm512_undefined_*
// self-initialise, which -W(maybe-)uninitialized reports wherever Eigen's vectorised reductions are
// inlined. Must precede the first include of Eigen to cover those headers.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include "ops/nn.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>
#include <vector>

#include "core/allocator.h"
#include "core/eigen.h"
#include "core/gemm.h"
#include "core/parallel.h"
#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/math.h"

namespace fg {

namespace {

template <typename Fn>
decltype(auto) dispatch_index(DType t, const char* who, Fn&& fn) {
  switch (t) {
    case DType::kInt32: return fn.template operator()<int32_t>();
    case DType::kInt64: return fn.template operator()<int64_t>();
    default: throw_bad_dtype(who, t, "int32 or int64");
  }
}

Output relu_grad_op(const Output& gradients, const Output& features) {
  return OpBuilder(gradients, "ReluGrad", "ReluGrad").input(gradients).input(features).build_output();
}

Output bias_add_grad_op(const Output& out_backprop, const std::string& data_format) {
  return OpBuilder(out_backprop, "BiasAddGrad", "BiasAddGrad")
      .input(out_backprop).attr("data_format", data_format).build_output();
}

// The TF gradient ops of the activations: (gradients, outputs or features) -> backprops.
Output activation_grad_op(const char* type, const Output& a, const Output& b) {
  return OpBuilder(a, type, type).input(a).input(b).build_output();
}

Output leaky_relu_grad_op(const Output& gradients, const Output& features, float alpha) {
  return OpBuilder(gradients, "LeakyReluGrad", "LeakyReluGrad").input(gradients).input(features)
      .attr("alpha", alpha).build_output();
}

// TF's math-family ops that tf.nn.moments is built from. They live with their one user here;
// no public builder, so ops/math and ops/array can adopt them without an API change.
Output squared_difference_op(const Output& x, const Output& y, const std::string& name = "") {
  return OpBuilder(x, "SquaredDifference", name).input(x).input(y).build_output();
}

Output squeeze_op(const Output& x, const std::vector<int64_t>& axes, const std::string& name = "") {
  return OpBuilder(x, "Squeeze", name).input(x).attr("squeeze_dims", axes).build_output();
}

}  // namespace

// ---- builders

namespace nn {

Output relu(const Output& features, const std::string& name) {
  return OpBuilder(features, "Relu", name).input(features).build_output();
}

Output elu(const Output& features, const std::string& name) {
  return OpBuilder(features, "Elu", name).input(features).build_output();
}

Output selu(const Output& features, const std::string& name) {
  return OpBuilder(features, "Selu", name).input(features).build_output();
}

Output leaky_relu(const Output& features, float alpha, const std::string& name) {
  return OpBuilder(features, "LeakyRelu", name).input(features).attr("alpha", alpha).build_output();
}

Output leaky_relu(const Output& features, const std::string& name) { return leaky_relu(features, 0.2f, name); }

Output sigmoid(const Output& x, const std::string& name) {
  return OpBuilder(x, "Sigmoid", name).input(x).build_output();
}

Output tanh(const Output& x, const std::string& name) { return OpBuilder(x, "Tanh", name).input(x).build_output(); }

Output softplus(const Output& features, const std::string& name) {
  return OpBuilder(features, "Softplus", name).input(features).build_output();
}

Output relu6(const Output& features, const std::string& name) {
  return OpBuilder(features, "Relu6", name).input(features).build_output();
}

Output bias_add(const Output& value, const Output& bias, const std::string& name) {
  return OpBuilder(value, "BiasAdd", name).input(value).input(bias).attr("data_format", std::string("NHWC"))
      .build_output();
}

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

FusedBatchNormResult fused_batch_norm(const Output& x, const Output& scale, const Output& offset, const Output& mean,
                                      const Output& variance, double epsilon, bool is_training, const std::string& name) {
  FG_CHECK(x && scale && offset, InvalidArgument, "fused_batch_norm: x, scale and offset are required");
  Graph& g = *x.graph();
  Output m = mean, v = variance;
  if (!m || !v) {
    FG_CHECK(is_training, InvalidArgument, "fused_batch_norm '", name,
             "': mean and variance are required when is_training is false");
    // What TF's wrapper feeds for absent statistics; the training kernel never reads them.
    if (!m) m = constant(g, Tensor(x.dtype(), {0}), "Const");
    if (!v) v = constant(g, Tensor(x.dtype(), {0}), "Const");
  }
  // TF's wrapper raises epsilon to cuDNN's minimum on every device, so graphs agree across devices.
  const double eps = std::max(epsilon, 1.001e-5);
  Operation* op = OpBuilder(x, "FusedBatchNorm", name).input(x).input(scale).input(offset).input(m).input(v)
                      .attr("epsilon", static_cast<float>(eps)).attr("data_format", std::string("NHWC"))
                      .attr("is_training", is_training).build();
  return {op->output(0), op->output(1), op->output(2), op};
}

FusedBatchNormResult fused_batch_norm_dynamic(const Output& x, const Output& scale, const Output& offset,
                                              const Output& mean, const Output& variance, const Output& training,
                                              double epsilon, const std::string& name) {
  FG_CHECK(x && scale && offset && mean && variance && training, InvalidArgument,
           "fused_batch_norm_dynamic: x, scale, offset, mean, variance and training are all required");
  Operation* op = OpBuilder(x, "FusedBatchNormDynamic", name).input(x).input(scale).input(offset).input(mean)
                      .input(variance).input(training).attr("epsilon", static_cast<float>(epsilon)).build();
  return {op->output(0), op->output(1), op->output(2), op};
}

std::pair<Output, Output> moments(const Output& x, const std::vector<int64_t>& axes, bool keep_dims,
                                  const std::string& name) {
  FG_CHECK(x, InvalidArgument, "moments: x is a none tensor");
  // reduce_mean's {} means every axis, TF's [] none: refuse rather than pick one silently.
  FG_CHECK(!axes.empty(), InvalidArgument, "moments: axes must not be empty");
  Graph& g = *x.graph();
  auto scope = g.name_scope(name.empty() ? "moments" : name);
  Output mean = reduce_mean(x, axes, /*keep_dims=*/true, "mean");
  // The stop_gradient changes no gradient (d variance / d mean is zero) but saves building that path.
  Output variance = reduce_mean(squared_difference_op(x, stop_gradient(mean)), axes, /*keep_dims=*/true, "variance");
  if (!keep_dims) {
    mean = squeeze_op(mean, axes);
    variance = squeeze_op(variance, axes);
  }
  return {mean, variance};
}

Output batch_normalization(const Output& x, const Output& mean, const Output& variance, const Output& offset,
                           const Output& scale, double variance_epsilon, const std::string& name) {
  FG_CHECK(x && mean && variance, InvalidArgument, "batch_normalization: x, mean and variance are required");
  Graph& g = *x.graph();
  auto scope = g.name_scope(name.empty() ? "batchnorm" : name);
  // Python's `variance + eps` puts the converted constant inside the add's scope: "batchnorm/add/y".
  const std::string add_name = g.unique_name("add", /*mark_as_used=*/false);
  Output eps;
  {
    auto inner = g.name_scope(add_name + "/");
    eps = scalar_constant(g, variance_epsilon, variance.dtype(), "y");
  }
  Output inv = rsqrt(add(variance, eps, add_name + "/"));
  if (scale) inv = inv * scale;
  // Sequenced as TF1 builds them, so the generated names (mul_1, mul_2, sub, add_1) match.
  const Output scaled = x * inv;
  const Output shift = offset ? offset - mean * inv : -(mean * inv);
  return scaled + shift;
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

// ---- kernels, shapes, gradients

namespace {

// Merges two static dims (-1 unknown); `fail` reports a mismatch.
template <typename Fail>
int64_t merge_dim(int64_t a, int64_t b, Fail&& fail) {
  if (a < 0) return b;
  if (b < 0 || a == b) return a;
  fail();
  return a;
}

void check_data_format(const std::string& f) {
  FG_CHECK(f == "NHWC", InvalidArgument, "data_format '", f, "' is not supported on CPU; only NHWC");
}

// -- Element-wise activations and their gradient ops
//
// One kernel template for all of them, over Eigen array expressions so exp, log1p, tanh and the
// logistic use Eigen's vectorized versions. A functor derives from Elementwise (its op type,
// arity, whether integer dtypes are allowed, relative cost per element, input names) and supplies
// apply<T>(segments...), the expression for one contiguous segment of its inputs. A functor
// constructible from the KernelContext reads its attrs there (LeakyRelu's alpha).
//
// Eigen's max/min follow std::max/std::min: a NaN in the left operand survives, which is how
// NaN inputs stay visible in every activation below instead of turning into 0 or 6.

// Arity 1: an activation; 2: a gradient op over two same-shaped inputs named Args[0], Args[1].
template <const char* Type, int Arity, bool Integers, int64_t Cost, const char* const* Args = nullptr>
struct Elementwise {
  static constexpr const char* kType = Type;
  static constexpr int kArity = Arity;
  static constexpr bool kIntegers = Integers;
  static constexpr int64_t kCost = Cost;
  static constexpr const char* const* kArgs = Args;
};

template <class F>
F make_functor(const KernelContext& ctx) {
  if constexpr (std::is_constructible_v<F, const KernelContext&>) return F(ctx);
  else return F{};
}

// An input's buffer for the output when nothing else holds it: activations run in place.
Tensor forward_any_input_or_allocate(KernelContext& ctx, int num_inputs, DType dtype, const Shape& shape) {
  for (int i = 0; i < num_inputs; ++i) {
    const Tensor& in = ctx.input(i);
    if (in.unique() && in.dtype() == dtype && in.num_elements() == shape.num_elements())
      return ctx.forward_input_or_allocate(i, dtype, shape);
  }
  return Tensor::empty(dtype, shape);
}

template <class F>
void elementwise_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if constexpr (F::kArity == 2) {
    const Tensor& x1 = ctx.input(1);
    FG_CHECK(x.shape() == x1.shape(), InvalidArgument, F::kType, ": ", F::kArgs[0], " and ", F::kArgs[1],
             " must have the same shape, got ", x.shape(), " and ", x1.shape());
  }
  const F f = make_functor<F>(ctx);
  auto run = [&]<typename T>() {
    Tensor y = forward_any_input_or_allocate(ctx, F::kArity, x.dtype(), x.shape());
    auto out = as_array<T>(y);
    auto a = as_array<T>(x);
    if constexpr (F::kArity == 1) {
      parallel_for(x.num_elements(), F::kCost, [&](int64_t b, int64_t e) {
        out.segment(b, e - b) = f.template apply<T>(a.segment(b, e - b));
      });
    } else {
      auto a1 = as_array<T>(ctx.input(1));
      parallel_for(x.num_elements(), F::kCost, [&](int64_t b, int64_t e) {
        out.segment(b, e - b) = f.template apply<T>(a.segment(b, e - b), a1.segment(b, e - b));
      });
    }
    ctx.set_output(0, y);
  };
  if constexpr (F::kIntegers) dispatch_numeric(x.dtype(), F::kType, run);
  else dispatch_float(x.dtype(), F::kType, run);
}

// Gradient ops take two tensors of one shape.
void same_shape_pair(InferenceContext& c) {
  c.set_output(0, c.input_shape(0).merge_with(c.input_shape(1), str_cat(c.op().type(), " '", c.op().name(), "'")));
}

// TF's SELU constants (Klambauer et al. 2017), and their product used for x < 0.
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kSeluScaleAlpha = kSeluScale * kSeluAlpha;

constexpr char kRelu[] = "Relu", kReluGrad[] = "ReluGrad", kElu[] = "Elu", kEluGrad[] = "EluGrad", kSelu[] = "Selu",
               kSeluGrad[] = "SeluGrad", kLeakyRelu[] = "LeakyRelu", kLeakyReluGrad[] = "LeakyReluGrad",
               kSigmoid[] = "Sigmoid", kSigmoidGrad[] = "SigmoidGrad", kTanh[] = "Tanh", kTanhGrad[] = "TanhGrad",
               kSoftplus[] = "Softplus", kSoftplusGrad[] = "SoftplusGrad", kRelu6[] = "Relu6",
               kRelu6Grad[] = "Relu6Grad";
constexpr const char* kGradFeatures[] = {"gradients", "features"};
constexpr const char* kGradOutputs[] = {"gradients", "outputs"};
constexpr const char* kYDy[] = {"y", "dy"};

struct ReluF : Elementwise<kRelu, 1, true, 1> {
  template <typename T, class X> static auto apply(const X& x) { return x.max(T(0)); }
};
// TF's gradients * (features > 0), written as a select of g or g * 0 (the same values, NaN * 0
// included) because Eigen 3.4 evaluates a bool-to-float cast one coefficient at a time while the
// compiler vectorizes the select.
struct ReluGradF : Elementwise<kReluGrad, 2, true, 1, kGradFeatures> {
  template <typename T, class G, class X> static auto apply(const G& g, const X& f) {
    return (f > T(0)).select(g, g * T(0));
  }
};

// The x < 0 and x >= 0 branches as a sum, max(x, 0) + (exp(min(x, 0)) - 1), which Eigen vectorizes
// whole. exp - 1 as TF: Eigen's expm1 costs four times as much, and the difference (about an ulp
// of 1, absolute) is only relatively large where the value itself is negligible.
struct EluF : Elementwise<kElu, 1, false, 4> {
  template <typename T, class X> static auto apply(const X& x) { return x.max(T(0)) + (x.min(T(0)).exp() - T(1)); }
};
// TF's EluGrad(gradients, outputs): outputs < 0 ? gradients * (outputs + 1) : gradients.
struct EluGradF : Elementwise<kEluGrad, 2, false, 2, kGradOutputs> {
  template <typename T, class G, class Y> static auto apply(const G& g, const Y& y) { return g * (y.min(T(0)) + T(1)); }
};

struct SeluF : Elementwise<kSelu, 1, false, 4> {
  template <typename T, class X> static auto apply(const X& x) {
    return T(kSeluScale) * x.max(T(0)) + T(kSeluScaleAlpha) * (x.min(T(0)).exp() - T(1));
  }
};
struct SeluGradF : Elementwise<kSeluGrad, 2, false, 2, kGradOutputs> {
  template <typename T, class G, class Y> static auto apply(const G& g, const Y& y) {
    return (y < T(0)).select(g * (y + T(kSeluScaleAlpha)), g * T(kSeluScale));
  }
};

// x > 0 ? x : alpha * x for any alpha (max(x, alpha * x) would be wrong for alpha > 1).
struct LeakyReluF : Elementwise<kLeakyRelu, 1, false, 2> {
  explicit LeakyReluF(const KernelContext& ctx) : alpha(ctx.attr<float>("alpha")) {}
  template <typename T, class X> auto apply(const X& x) const { return x.max(T(0)) + T(alpha) * x.min(T(0)); }
  float alpha;
};
struct LeakyReluGradF : Elementwise<kLeakyReluGrad, 2, false, 2, kGradFeatures> {
  explicit LeakyReluGradF(const KernelContext& ctx) : alpha(ctx.attr<float>("alpha")) {}
  template <typename T, class G, class X> auto apply(const G& g, const X& f) const {
    return (f > T(0)).select(g, g * T(alpha));
  }
  float alpha;
};

struct SigmoidF : Elementwise<kSigmoid, 1, false, 10> {
  template <typename T, class X> static auto apply(const X& x) { return x.logistic(); }
};
// TF's SigmoidGrad(y, dy) = dy * y * (1 - y), y the forward output.
struct SigmoidGradF : Elementwise<kSigmoidGrad, 2, false, 2, kYDy> {
  template <typename T, class Y, class D> static auto apply(const Y& y, const D& dy) { return dy * y * (T(1) - y); }
};

struct TanhF : Elementwise<kTanh, 1, false, 10> {
  template <typename T, class X> static auto apply(const X& x) { return x.tanh(); }
};
struct TanhGradF : Elementwise<kTanhGrad, 2, false, 2, kYDy> {
  template <typename T, class Y, class D> static auto apply(const Y& y, const D& dy) { return dy * (T(1) - y.square()); }
};

// log(1 + e^x) = max(x, 0) + log1p(e^-|x|): e^-|x| <= 1 never overflows, and log1p keeps the tiny
// values for x << 0 that log(1 + e^x) would round to 0.
struct SoftplusF : Elementwise<kSoftplus, 1, false, 20> {
  template <typename T, class X> static auto apply(const X& x) { return x.max(T(0)) + (-x.abs()).exp().log1p(); }
};
// TF: gradients / (1 + exp(-features)), i.e. gradients * sigmoid(features).
struct SoftplusGradF : Elementwise<kSoftplusGrad, 2, false, 10, kGradFeatures> {
  template <typename T, class G, class X> static auto apply(const G& g, const X& f) { return g * f.logistic(); }
};

struct Relu6F : Elementwise<kRelu6, 1, true, 1> {
  template <typename T, class X> static auto apply(const X& x) { return x.max(T(0)).min(T(6)); }
};
// gradients * (0 < features < 6), as a select for the reason given at ReluGradF.
struct Relu6GradF : Elementwise<kRelu6Grad, 2, true, 1, kGradFeatures> {
  template <typename T, class G, class X> static auto apply(const G& g, const X& f) {
    return ((f > T(0)) && (f < T(6))).select(g, g * T(0));
  }
};

// TF differentiates Relu through its output: relu(x) > 0 exactly where x > 0, and the features
// tensor can then be released early.
std::vector<Output> relu_grad(GradContext& c) { return {relu_grad_op(c.grad(0), c.output(0))}; }

std::vector<Output> relu_grad_grad(GradContext& c) {
  return {relu_grad_op(c.grad(0), c.input(1)), zeros_like(c.input(1))};
}

// TF's gradient functions, op for op (nn_grad.py, math_grad.py). Elu, Selu and Relu6 are
// differentiated through their outputs, which decide the branch as well as the inputs do.
std::vector<Output> elu_grad(GradContext& c) { return {activation_grad_op("EluGrad", c.grad(0), c.output(0))}; }
std::vector<Output> selu_grad(GradContext& c) { return {activation_grad_op("SeluGrad", c.grad(0), c.output(0))}; }

// EluGrad / SeluGrad (g, y) are linear in g; for y < 0 their slope in y is g (y + const), else 0.
template <const char* Type>
std::vector<Output> elu_like_grad_grad(GradContext& c) {
  const Output g = c.input(0), y = c.input(1), gg = c.grad(0);
  return {activation_grad_op(Type, gg, y), select(less(y, scalar_like(y, 0)), gg * g, zeros_like(y))};
}

std::vector<Output> leaky_relu_grad(GradContext& c) {
  return {leaky_relu_grad_op(c.grad(0), c.input(0), c.op().attr<float>("alpha"))};
}
std::vector<Output> leaky_relu_grad_grad(GradContext& c) {
  return {leaky_relu_grad_op(c.grad(0), c.input(1), c.op().attr<float>("alpha")), zeros_like(c.input(1))};
}

std::vector<Output> sigmoid_grad(GradContext& c) { return {activation_grad_op("SigmoidGrad", c.output(0), c.grad(0))}; }
// SigmoidGrad(y, dy) = dy y (1 - y): d/dy = dy (1 - 2y), d/d dy = y (1 - y).
std::vector<Output> sigmoid_grad_grad(GradContext& c) {
  const Output y = c.input(0), dy = c.input(1), gg = c.grad(0);
  const Output gb = gg * dy;
  return {gb - 2.0 * gb * y, activation_grad_op("SigmoidGrad", y, gg)};
}

std::vector<Output> tanh_grad(GradContext& c) { return {activation_grad_op("TanhGrad", c.output(0), c.grad(0))}; }
// TanhGrad(y, dy) = dy (1 - y^2): d/dy = -2 dy y, d/d dy = 1 - y^2.
std::vector<Output> tanh_grad_grad(GradContext& c) {
  const Output y = c.input(0), dy = c.input(1), gg = c.grad(0);
  return {gg * -2.0 * dy * y, activation_grad_op("TanhGrad", y, gg)};
}

std::vector<Output> softplus_grad(GradContext& c) {
  return {activation_grad_op("SoftplusGrad", c.grad(0), c.input(0))};
}
// SoftplusGrad(dy, x) = dy sigmoid(x): d/dx = dy sigmoid'(x) = dy / (e^-x + 2 + e^x), which
// underflows cleanly to 0 for large |x| (an infinite denominator).
std::vector<Output> softplus_grad_grad(GradContext& c) {
  const Output dy = c.input(0), x = c.input(1), gg = c.grad(0);
  return {activation_grad_op("SoftplusGrad", gg, x), gg * dy / (exp(-x) + 2.0 + exp(x))};
}

std::vector<Output> relu6_grad(GradContext& c) { return {activation_grad_op("Relu6Grad", c.grad(0), c.output(0))}; }
std::vector<Output> relu6_grad_grad(GradContext& c) {
  return {activation_grad_op("Relu6Grad", c.grad(0), c.input(1)), zeros_like(c.input(1))};
}

// -- BiasAdd

void bias_add_shape(InferenceContext& c) {
  check_data_format(c.attr<std::string>("data_format"));
  const Shape& v = c.input_shape(0);
  const Shape& b = c.input_shape(1);
  if (b.known_rank() && b.rank() != 1) c.fail(str_cat("bias must be 1-D, got shape ", b));
  if (!v.known_rank()) return c.set_output(0, v);
  if (v.rank() < 2) c.fail(str_cat("value must be at least rank 2, got shape ", v));
  Shape out = v;
  if (b.known_rank()) {
    out.set_dim(v.rank() - 1, merge_dim(v.dim(-1), b.dim(0), [&] {
      c.fail(str_cat("Dimensions must be equal, but are ", v.dim(-1), " and ", b.dim(0), " with input shapes: ", v,
                     ", ", b, "."));
    }));
  }
  c.set_output(0, out);
}

// BiasAdd's check of the bias against the value it is added to (also its fusions').
void check_bias(const Tensor& bias, const Shape& value) {
  FG_CHECK(bias.rank() == 1, InvalidArgument, "Biases must be 1D: ", bias.shape());
  FG_CHECK(bias.dim(0) == value.dim(-1), InvalidArgument,
           "Must provide as many biases as the last dimension of the input tensor: ", bias.shape(), " vs. ", value);
}

void bias_add_kernel(KernelContext& ctx) {
  check_data_format(ctx.attr<std::string>("data_format"));
  const Tensor& value = ctx.input(0);
  const Tensor& bias = ctx.input(1);
  FG_CHECK(value.rank() >= 2, InvalidArgument, "Input tensor must be at least 2D: ", value.shape());
  const int64_t cols = value.dim(-1);
  check_bias(bias, value.shape());
  Tensor out = ctx.forward_input_or_allocate(0, value.dtype(), value.shape());
  dispatch_numeric(value.dtype(), "BiasAdd", [&]<typename T>() {
    const T* v = value.data<T>();
    const T* b = bias.data<T>();
    T* o = out.data<T>();
    const int64_t rows = cols == 0 ? 0 : value.num_elements() / cols;
    parallel_for(rows, cols, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* vr = v + r * cols;
        T* orow = o + r * cols;
        for (int64_t c = 0; c < cols; ++c) orow[c] = static_cast<T>(vr[c] + b[c]);
      }
    });
  });
  ctx.set_output(0, out);
}

// ---- dense layers fused, as plan-level fusions (registered with the ops below): forward,
// MatMul -> BiasAdd (-> activation) is one GEMM whose epilogue adds the bias and applies the
// activation; backward, the input gradient's MatMul -> activation gradient is one GEMM whose
// epilogue applies the gradient's formula. Each epilogue runs on the block of the product the
// thread just computed, while it is in that core's cache: one pass over [batch, units] instead of
// two or three, fewer ops to dispatch, no tensor crossing between cores (what made the fusions
// worth 5-15 % per epoch on the 2-core benchmark VM). The arithmetic is the separate ops' (v + b,
// then the same Eigen expression): bit-identical for the piecewise-linear activations and their
// gradients; exp-based ones may differ by an ulp where Eigen takes a row's last few elements
// through the scalar function rather than the vectorized one.

struct NoActivation {
  template <typename T, class X> static auto apply(const X& x) { return x; }
};

// Inputs: a, b (MatMul's), bias; attrs: MatMul's, BiasAdd's and the activation's.
template <class F>
void matmul_bias_add_kernel(KernelContext& ctx) {
  check_data_format(ctx.attr<std::string>("data_format"));
  const Tensor &a = ctx.input(0), &b = ctx.input(1), &bias = ctx.input(2);
  const bool ta = ctx.attr<bool>("transpose_a"), tb = ctx.attr<bool>("transpose_b");
  const auto [m, k, n] = matmul_dims(a, b, ta, tb);
  check_bias(bias, Shape{m, n});
  const F f = make_functor<F>(ctx);
  Tensor out = Tensor::empty(a.dtype(), {m, n});
  dispatch_float(a.dtype(), "MatMul+BiasAdd", [&]<typename T>() {
    auto C = as_matrix<T>(out, m, n);
    auto bias_row = as_array<T>(bias).transpose();
    gemm<T>(ta, tb, m, n, k, T(1), a.data<T>(), a.dim(1), b.data<T>(), b.dim(1), T(0), out.data<T>(), n,
            [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
              auto block = C.block(r0, c0, r1 - r0, c1 - c0).array();
              block.rowwise() += bias_row.segment(c0, c1 - c0);
              if constexpr (!std::is_same_v<F, NoActivation>) block = f.template apply<T>(block);
            });
  });
  ctx.set_output(0, out);
}

// An activation gradient F whose input `kGradInput` (the incoming gradient) is a MatMul's product.
// Inputs: the MatMul's a, b in the gradient's place, the other operand (features or outputs) in its.
template <class F, int kGradInput>
void matmul_activation_grad_kernel(KernelContext& ctx) {
  constexpr int kA = kGradInput, kOther = kGradInput == 0 ? 2 : 0;
  const Tensor &a = ctx.input(kA), &b = ctx.input(kA + 1), &other = ctx.input(kOther);
  const bool ta = ctx.attr<bool>("transpose_a"), tb = ctx.attr<bool>("transpose_b");
  const auto [m, k, n] = matmul_dims(a, b, ta, tb);
  FG_CHECK(other.shape() == Shape({m, n}), InvalidArgument, F::kType, ": ", F::kArgs[0], " and ", F::kArgs[1],
           " must have the same shape, got ", Shape({m, n}), " and ", other.shape());
  const F f = make_functor<F>(ctx);
  Tensor out = Tensor::empty(a.dtype(), {m, n});
  dispatch_float(a.dtype(), F::kType, [&]<typename T>() {
    auto C = as_matrix<T>(out, m, n);
    auto O = as_matrix<T>(other, m, n);
    gemm<T>(ta, tb, m, n, k, T(1), a.data<T>(), a.dim(1), b.data<T>(), b.dim(1), T(0), out.data<T>(), n,
            [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
              auto block = C.block(r0, c0, r1 - r0, c1 - c0).array();
              auto with = O.block(r0, c0, r1 - r0, c1 - c0).array();
              if constexpr (kGradInput == 0) block = f.template apply<T>(block, with);
              else block = f.template apply<T>(with, block);
            });
  });
  ctx.set_output(0, out);
}

// Registers F's fusions with a dense layer's products (see above).
template <class F>
void add_activation_fusion(OpRegistry& r) {
  r.add_fusion({.consumer = F::kType, .producer = "BiasAdd", .input = 0, .kernel = matmul_bias_add_kernel<F>,
                .applies = is_float_matmul, .inner = "MatMul"});
}
template <class F>
void add_activation_grad_fusion(OpRegistry& r) {
  constexpr int grad_input = std::string_view(F::kArgs[0]) == "gradients" ? 0 : 1;  // TanhGrad is (y, dy)
  r.add_fusion({.consumer = F::kType, .producer = "MatMul", .input = grad_input,
                .kernel = matmul_activation_grad_kernel<F, grad_input>, .applies = is_float_matmul});
}

// Column sums: elements per row block (narrow rows), and the width from which threads split the
// columns instead. See column_sums.
inline constexpr int64_t kColumnSumBlock = 8192;
inline constexpr int64_t kWideColumns = 256;

// out[c] = sum over rows of x[r, c], cache-friendly and parallel, and the same bits on every thread
// count: each column's additions happen in an order fixed by the shape alone.
//  - Wide rows: each thread owns a range of columns and streams that segment of every row.
//  - Narrow rows: the rows are cut into blocks whose size depends only on the shape, each block
//    streams its rows into a partial-sum row, and the partials are added in block order (which
//    also keeps float error low for tall inputs).
template <typename T>
void column_sums(const T* x, int64_t rows, int64_t cols, T* out) {
  auto sum_rows = [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1, T* acc) {
    if (c1 <= c0) return;
    std::fill(acc + c0, acc + c1, T(0));
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * cols;
      for (int64_t c = c0; c < c1; ++c) acc[c] = static_cast<T>(acc[c] + xr[c]);
    }
  };
  if (cols >= kWideColumns) {
    parallel_for(cols, rows, [&](int64_t c0, int64_t c1) { sum_rows(0, rows, c0, c1, out); });
    return;
  }
  const int64_t block_rows = std::max<int64_t>(1, kColumnSumBlock / std::max<int64_t>(cols, 1));
  const int64_t blocks = (rows + block_rows - 1) / block_rows;
  if (blocks <= 1) return sum_rows(0, rows, 0, cols, out);
  ScratchArray<T> partial(blocks * cols);
  parallel_for(blocks, block_rows * cols, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      sum_rows(b * block_rows, std::min(rows, (b + 1) * block_rows), 0, cols, partial.data() + b * cols);
  });
  parallel_for(cols, blocks, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      T s = T(0);
      for (int64_t b = 0; b < blocks; ++b) s = static_cast<T>(s + partial[b * cols + c]);
      out[c] = s;
    }
  });
}

void bias_add_grad_shape(InferenceContext& c) {
  check_data_format(c.attr<std::string>("data_format"));
  const Shape& s = c.input_shape(0);
  if (!s.known_rank()) return c.set_output(0, Shape{-1});
  if (s.rank() < 2) c.fail(str_cat("out_backprop must be at least rank 2, got shape ", s));
  c.set_output(0, Shape{s.dim(-1)});
}

void bias_add_grad_kernel(KernelContext& ctx) {
  check_data_format(ctx.attr<std::string>("data_format"));
  const Tensor& g = ctx.input(0);
  FG_CHECK(g.rank() >= 2, InvalidArgument, "Input tensor must be at least 2D: ", g.shape());
  const int64_t cols = g.dim(-1);
  const int64_t rows = cols == 0 ? 0 : g.num_elements() / cols;
  Tensor out = Tensor::empty(g.dtype(), {cols});
  dispatch_numeric(g.dtype(), "BiasAddGrad", [&]<typename T>() { column_sums(g.data<T>(), rows, cols, out.data<T>()); });
  ctx.set_output(0, out);
}

std::vector<Output> bias_add_grad(GradContext& c) {
  return {c.grad(0), bias_add_grad_op(c.grad(0), c.op().attr<std::string>("data_format"))};
}

// d BiasAddGrad / d out_backprop broadcasts the incoming [C] gradient over every row.
std::vector<Output> bias_add_grad_grad(GradContext& c) {
  const Output x = c.input(0);
  return {OpBuilder(x, "BiasAdd", "BiasAdd").input(zeros_like(x)).input(c.grad(0))
              .attr("data_format", c.op().attr<std::string>("data_format")).build_output()};
}

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
  dispatch_index(labels.dtype(), "SparseSoftmaxCrossEntropyWithLogits", [&]<typename L>() {
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
  dispatch_index(targets.dtype(), "InTopKV2", [&]<typename L>() {
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

// -- SquaredDifference (x - y)^2 with NumPy broadcasting, and Squeeze: tf.nn.moments' pieces

void squared_difference_shape(InferenceContext& c) {
  c.set_output(0, broadcast_shapes(c.input_shape(0), c.input_shape(1), str_cat("SquaredDifference '", c.op().name(), "'")));
}

void squared_difference_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& y = ctx.input(1);
  const Shape out_shape = broadcast_shapes(x.shape(), y.shape(), "SquaredDifference");
  const int rank = out_shape.rank();
  // Each operand's element strides over the output dims (0 where it is broadcast), right-aligned.
  auto strides_of = [&](const Shape& s) {
    std::vector<int64_t> st(rank, 0);
    int64_t step = 1;
    for (int k = s.rank() - 1, o = rank - 1; k >= 0; --k, --o) {
      st[o] = s.dim(k) == 1 ? 0 : step;
      step *= s.dim(k);
    }
    return st;
  };
  const std::vector<int64_t> sx = strides_of(x.shape()), sy = strides_of(y.shape());
  const int64_t inner = rank == 0 ? 1 : out_shape.dim(-1);
  const int64_t rows = inner == 0 ? 0 : out_shape.num_elements() / inner;
  const int64_t ix = rank == 0 ? 0 : sx[rank - 1], iy = rank == 0 ? 0 : sy[rank - 1];
  Tensor out = forward_any_input_or_allocate(ctx, 2, x.dtype(), out_shape);
  dispatch_numeric(x.dtype(), "SquaredDifference", [&]<typename T>() {
    const T* px = x.data<T>();
    const T* py = y.data<T>();
    T* po = out.data<T>();
    parallel_for(rows, inner * 2, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        int64_t ox = 0, oy = 0;
        for (int64_t k = rank - 2, rem = r; k >= 0; --k) {
          const int64_t d = out_shape.dim(static_cast<int>(k)), i = rem % d;
          rem /= d;
          ox += i * sx[k];
          oy += i * sy[k];
        }
        T* o = po + r * inner;
        for (int64_t j = 0; j < inner; ++j) {
          const T d = static_cast<T>(px[ox + j * ix] - py[oy + j * iy]);
          o[j] = static_cast<T>(d * d);
        }
      }
    });
  });
  ctx.set_output(0, out);
}

// TF: d/dx = 2 g (x - y), d/dy = -d/dx, each summed down to its operand's shape.
std::vector<Output> squared_difference_grad(GradContext& c) {
  const Output x = c.input(0), y = c.input(1);
  const Output x_grad = (2.0 * c.grad(0)) * (x - y);
  return {sum_to_shape_of(x_grad, x, y), -sum_to_shape_of(x_grad, y, x)};
}

// The squeezed shape; `fail` reports a bad axis. An empty axis list drops every dim of size 1.
template <typename Fail>
Shape squeezed_shape(const Shape& s, const std::vector<int64_t>& axes, Fail&& fail) {
  if (!s.known_rank()) return s;
  const int rank = s.rank();
  std::vector<bool> drop(rank, false);
  for (int64_t a : axes) {
    if (a < -rank || a >= rank) fail(str_cat("Tried to squeeze dim index ", a, " for tensor with ", rank, " dimensions."));
    const int k = static_cast<int>(a < 0 ? a + rank : a);
    if (s.dim(k) >= 0 && s.dim(k) != 1)
      fail(str_cat("Can not squeeze dim[", k, "], expected a dimension of 1, got ", s.dim(k), " (shape ", s, ")"));
    drop[k] = true;
  }
  std::vector<int64_t> dims;
  for (int k = 0; k < rank; ++k) {
    if (axes.empty() && s.dim(k) < 0) return Shape::unknown();  // it may or may not be 1
    if (axes.empty() ? s.dim(k) != 1 : !drop[k]) dims.push_back(s.dim(k));
  }
  return Shape(std::move(dims));
}

void squeeze_shape(InferenceContext& c) {
  c.set_output(0, squeezed_shape(c.input_shape(0), c.attr<std::vector<int64_t>>("squeeze_dims"),
                                 [&](const std::string& m) { c.fail(m); }));
}

void squeeze_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Shape s = squeezed_shape(x.shape(), ctx.attr<std::vector<int64_t>>("squeeze_dims"),
                                 [](const std::string& m) { throw InvalidArgument(m); });
  ctx.set_output(0, x.reshaped(s));
}

std::vector<Output> squeeze_grad(GradContext& c) {
  const Output x = c.input(0);
  if (x.shape().is_fully_defined()) return {reshape(c.grad(0), x.shape().dim_vector())};
  return {reshape(c.grad(0), shape(x))};
}

// -- Batch normalization: FusedBatchNorm (TF's) and FusedBatchNormDynamic (the mode is a run-time
// bool), with their fused gradient ops. x is viewed as [rows, C]: N for [N, C], N*H*W for NHWC.
//
// Statistics are accumulated in double, shifted by the first row, in one pass (accurate for
// |mean| >> std, where E[x^2] - E[x]^2 in float would cancel to noise); one more pass normalizes.
// Gradients take one pass for sum(dy) and sum(dy * (x - mean)), one for dx.

// Channels of a rank-2 or rank-4 channels-last tensor; fails otherwise.
int64_t batch_norm_channels(const Tensor& x, const char* op, const char* what) {
  FG_CHECK(x.rank() == 2 || x.rank() == 4, InvalidArgument, op, ": ", what,
           " must be 2-D [N, C] or 4-D NHWC [N, H, W, C], got shape ", x.shape());
  return x.dim(-1);
}

void check_per_channel(const Tensor& t, int64_t channels, const Shape& x_shape, const char* op, const char* what) {
  FG_CHECK(t.rank() == 1 && t.dim(0) == channels, InvalidArgument, op, ": ", what, " must have shape [", channels,
           "] to match the channels of x ", x_shape, ", got shape ", t.shape());
}

bool training_flag(const Tensor& t, const char* op) {
  FG_CHECK(t.dtype() == DType::kBool && t.rank() == 0, InvalidArgument, op, ": training must be a bool scalar, got ",
           dtype_name(t.dtype()), " ", t.shape());
  return t.scalar<bool>();
}

// Tiles for the per-channel sums: sizes depend on the shape alone (never on the thread count).
// Columns come in chunks of up to kStatChunkCols, a tile holds about kStatTileElems elements, and
// at most kStatMaxRowBlocks row blocks bound the partial sums' memory at 128 doubles per channel.
inline constexpr int64_t kStatChunkCols = 1024;
inline constexpr int64_t kStatTileElems = 16384;
inline constexpr int64_t kStatMaxRowBlocks = 64;

// sum_a[c], sum_b[c] over the rows of a [rows, cols] layout, where row_terms(r, c0, c1, a, b) adds
// row r's terms for columns [c0, c1) into a[c], b[c]. The rows are cut into blocks and the columns
// into chunks; every (block, chunk) tile accumulates into its block's own partial row, and the
// partials are added in block order: the same bits for any number of threads.
template <typename RowTerms>
void channel_sums(int64_t rows, int64_t cols, RowTerms&& row_terms, double* sum_a, double* sum_b) {
  const int64_t chunk = std::max<int64_t>(1, std::min(cols, kStatChunkCols));
  const int64_t chunks = (cols + chunk - 1) / chunk;
  const int64_t block_rows =
      std::max({int64_t{1}, kStatTileElems / chunk, (rows + kStatMaxRowBlocks - 1) / kStatMaxRowBlocks});
  const int64_t blocks = (rows + block_rows - 1) / block_rows;
  ScratchArray<double> partial(2 * blocks * cols, 0.0);
  parallel_for(blocks * chunks, block_rows * chunk * 2, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / chunks, c0 = (t % chunks) * chunk, c1 = std::min(cols, c0 + chunk);
      double* a = partial.data() + 2 * b * cols;
      for (int64_t r = b * block_rows, r1 = std::min(rows, r + block_rows); r < r1; ++r)
        row_terms(r, c0, c1, a, a + cols);
    }
  });
  parallel_for(cols, blocks * 2, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double a = 0, b = 0;
      for (int64_t k = 0; k < blocks; ++k) {
        a += partial[2 * k * cols + c];
        b += partial[(2 * k + 1) * cols + c];
      }
      sum_a[c] = a;
      sum_b[c] = b;
    }
  });
}

// Per-channel mean and biased variance of x [rows, cols].
template <typename T>
void batch_moments(const T* x, int64_t rows, int64_t cols, double* mean, double* var) {
  ScratchArray<double> s1(cols, 0.0), s2(cols, 0.0);
  if (rows > 0) {
    // Shifting by a sample (the first row) keeps the one-pass sums small: no cancellation.
    channel_sums(rows, cols, [&](int64_t r, int64_t c0, int64_t c1, double* __restrict a, double* __restrict b) {
      const T* xr = x + r * cols;
      for (int64_t c = c0; c < c1; ++c) {
        const double d = static_cast<double>(xr[c]) - static_cast<double>(x[c]);
        a[c] += d;
        b[c] += d * d;
      }
    }, s1.data(), s2.data());
  }
  const double n = static_cast<double>(rows);
  for (int64_t c = 0; c < cols; ++c) {
    const double shift = rows > 0 ? static_cast<double>(x[c]) : 0.0, m = s1[c] / n;
    mean[c] = shift + m;
    var[c] = std::max(0.0, s2[c] / n - m * m);
  }
}

// y = (x - mean) * (scale * inv_std) + offset, channels innermost.
template <typename T>
void batch_norm_apply(const T* x, int64_t rows, int64_t cols, const T* m, const T* k, const T* offset, T* y) {
  parallel_for(rows, cols * 3, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * cols;
      T* yr = y + r * cols;
      for (int64_t c = 0; c < cols; ++c) yr[c] = (xr[c] - m[c]) * k[c] + offset[c];
    }
  });
}

template <typename T>
Tensor channel_tensor(const ScratchArray<double>& v) {
  Tensor t = Tensor::empty(dtype_of<T>(), {static_cast<int64_t>(v.size())});
  std::transform(v.begin(), v.end(), t.data<T>(), [](double d) { return static_cast<T>(d); });
  return t;
}

template <typename T>
ScratchArray<double> channel_values(const Tensor& t) {
  const T* p = t.data<T>();
  ScratchArray<double> v(t.num_elements());
  std::copy(p, p + t.num_elements(), v.begin());
  return v;
}

// Normalizes x (input 0) with `mean` and `var` into output 0 (in x's buffer when possible).
template <typename T>
void batch_norm_forward(KernelContext& ctx, const double* mean, const double* var, double epsilon,
                        ScratchArray<double>& inv_std) {
  const Tensor& x = ctx.input(0);
  const int64_t cols = x.dim(-1), rows = cols == 0 ? 0 : x.num_elements() / cols;
  const T* scale = ctx.input(1).data<T>();
  ScratchArray<T> mean_t(cols), mult(cols);
  for (int64_t c = 0; c < cols; ++c) {
    inv_std[c] = 1.0 / std::sqrt(var[c] + epsilon);
    mean_t[c] = static_cast<T>(mean[c]);
    mult[c] = static_cast<T>(static_cast<double>(scale[c]) * inv_std[c]);
  }
  // The statistics are complete before y is written, so y may take x's buffer.
  Tensor y = ctx.forward_input_or_allocate(0, x.dtype(), x.shape());
  batch_norm_apply(x.data<T>(), rows, cols, mean_t.data(), mult.data(), ctx.input(2).data<T>(), y.data<T>());
  ctx.set_output(0, y);
}

// Checks the forward ops' inputs; returns C.
int64_t check_batch_norm_inputs(KernelContext& ctx, const char* op, bool need_statistics) {
  const Tensor& x = ctx.input(0);
  const int64_t channels = batch_norm_channels(x, op, "x");
  check_per_channel(ctx.input(1), channels, x.shape(), op, "scale");
  check_per_channel(ctx.input(2), channels, x.shape(), op, "offset");
  if (need_statistics) {
    check_per_channel(ctx.input(3), channels, x.shape(), op, "mean");
    check_per_channel(ctx.input(4), channels, x.shape(), op, "variance");
  }
  return channels;
}

// TF1's CPU FusedBatchNorm. Training: y from the batch mean and biased variance; batch_variance
// is the unbiased variance (TF's estimate for moving averages); reserve_space_1/2 = mean and
// *biased* variance, what FusedBatchNormGrad normalizes with. Inference: the given mean and
// variance everywhere.
void fused_batch_norm_kernel(KernelContext& ctx) {
  check_data_format(ctx.attr<std::string>("data_format"));
  const bool training = ctx.attr<bool>("is_training");
  const double epsilon = ctx.attr<float>("epsilon");
  const Tensor& x = ctx.input(0);
  const int64_t cols = check_batch_norm_inputs(ctx, "FusedBatchNorm", !training);
  const int64_t rows = cols == 0 ? 0 : x.num_elements() / cols;
  dispatch_float(x.dtype(), "FusedBatchNorm", [&]<typename T>() {
    ScratchArray<double> inv_std(cols);
    if (!training) {
      batch_norm_forward<T>(ctx, channel_values<T>(ctx.input(3)).data(), channel_values<T>(ctx.input(4)).data(), epsilon,
                            inv_std);
      for (int i : {1, 2}) ctx.set_output(i, ctx.input(i + 2));
      for (int i : {3, 4}) ctx.set_output(i, ctx.input(i));
      return;
    }
    ScratchArray<double> mean(cols), var(cols);
    batch_moments(x.data<T>(), rows, cols, mean.data(), var.data());
    // Bessel's correction; TF floors the divisor at 1 so a single row gives its biased variance.
    const double bessel = static_cast<double>(rows) / static_cast<double>(std::max<int64_t>(rows - 1, 1));
    ScratchArray<double> unbiased(cols);
    for (int64_t c = 0; c < cols; ++c) unbiased[c] = var[c] * bessel;
    ctx.set_output(1, channel_tensor<T>(mean));
    ctx.set_output(2, channel_tensor<T>(unbiased));
    ctx.set_output(3, channel_tensor<T>(mean));
    ctx.set_output(4, channel_tensor<T>(var));
    batch_norm_forward<T>(ctx, mean.data(), var.data(), epsilon, inv_std);
  });
}

// Outputs y, used_mean, used_variance, saved_mean, saved_inv_std. When not training the used
// statistics are the mean / variance inputs themselves (same buffers, so bit for bit).
void fused_batch_norm_dynamic_kernel(KernelContext& ctx) {
  const double epsilon = ctx.attr<float>("epsilon");
  const Tensor& x = ctx.input(0);
  const int64_t cols = check_batch_norm_inputs(ctx, "FusedBatchNormDynamic", true);
  const bool training = training_flag(ctx.input(5), "FusedBatchNormDynamic");
  const int64_t rows = cols == 0 ? 0 : x.num_elements() / cols;
  dispatch_float(x.dtype(), "FusedBatchNormDynamic", [&]<typename T>() {
    ScratchArray<double> mean = training ? ScratchArray<double>(cols) : channel_values<T>(ctx.input(3));
    ScratchArray<double> var = training ? ScratchArray<double>(cols) : channel_values<T>(ctx.input(4));
    ScratchArray<double> inv_std(cols);
    if (training) {
      batch_moments(x.data<T>(), rows, cols, mean.data(), var.data());
      ctx.set_output(1, channel_tensor<T>(mean));
      ctx.set_output(2, channel_tensor<T>(var));
    } else {
      ctx.set_output(1, ctx.input(3));
      ctx.set_output(2, ctx.input(4));
    }
    batch_norm_forward<T>(ctx, mean.data(), var.data(), epsilon, inv_std);
    ctx.set_output(3, channel_tensor<T>(mean));
    ctx.set_output(4, channel_tensor<T>(inv_std));
  });
}

// dx, dscale, doffset from dy, x, scale, the mean x was centred on and inv_std = 1/sqrt(var + eps).
// Training (the statistics were x's own):
//   dx = scale inv_std / N (N dy - sum(dy) - xhat sum(dy xhat)),  xhat = (x - mean) inv_std;
// inference (the statistics were constants): dx = dy scale inv_std. In both modes
// dscale = sum(dy xhat), doffset = sum(dy). dx goes into dy's buffer when possible.
template <typename T>
void batch_norm_backward(KernelContext& ctx, const Tensor& mean_t, const double* inv_std, bool training) {
  const Tensor& dy = ctx.input(0);
  const Tensor& x = ctx.input(1);
  const int64_t cols = x.dim(-1), rows = cols == 0 ? 0 : x.num_elements() / cols;
  const T* g = dy.data<T>();
  const T* xp = x.data<T>();
  const T* mean = mean_t.data<T>();
  const T* scale = ctx.input(2).data<T>();
  ScratchArray<double> sum_dy(cols, 0.0), sum_dy_xc(cols, 0.0);
  channel_sums(rows, cols, [&](int64_t r, int64_t c0, int64_t c1, double* __restrict a, double* __restrict b) {
    const T* gr = g + r * cols;
    const T* xr = xp + r * cols;
    for (int64_t c = c0; c < c1; ++c) {
      const double d = static_cast<double>(gr[c]);
      a[c] += d;
      b[c] += d * (static_cast<double>(xr[c]) - static_cast<double>(mean[c]));
    }
  }, sum_dy.data(), sum_dy_xc.data());

  Tensor dscale = Tensor::empty(dtype_of<T>(), {cols});
  Tensor doffset = Tensor::empty(dtype_of<T>(), {cols});
  // Per channel: dx = k (dy - mean(dy) - (x - mean) q), q = inv_std^2 mean(dy (x - mean)).
  ScratchArray<T> k(cols), mean_dy(cols), q(cols);
  const double n = static_cast<double>(std::max<int64_t>(rows, 1));
  for (int64_t c = 0; c < cols; ++c) {
    dscale.data<T>()[c] = static_cast<T>(sum_dy_xc[c] * inv_std[c]);
    doffset.data<T>()[c] = static_cast<T>(sum_dy[c]);
    k[c] = static_cast<T>(static_cast<double>(scale[c]) * inv_std[c]);
    mean_dy[c] = training ? static_cast<T>(sum_dy[c] / n) : T(0);
    q[c] = training ? static_cast<T>(inv_std[c] * inv_std[c] * sum_dy_xc[c] / n) : T(0);
  }
  Tensor dx = ctx.forward_input_or_allocate(0, x.dtype(), x.shape());
  T* o = dx.data<T>();
  parallel_for(rows, cols * 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* gr = g + r * cols;
      const T* xr = xp + r * cols;
      T* orow = o + r * cols;
      if (training) {
        for (int64_t c = 0; c < cols; ++c) orow[c] = k[c] * (gr[c] - mean_dy[c] - (xr[c] - mean[c]) * q[c]);
      } else {
        for (int64_t c = 0; c < cols; ++c) orow[c] = gr[c] * k[c];
      }
    }
  });
  ctx.set_output(0, dx);
  ctx.set_output(1, dscale);
  ctx.set_output(2, doffset);
}

// Checks the gradient ops' inputs (dy, x, scale, two per-channel statistics); returns C.
int64_t check_batch_norm_grad_inputs(KernelContext& ctx, const char* op, const char* stat1, const char* stat2) {
  const Tensor& dy = ctx.input(0);
  const Tensor& x = ctx.input(1);
  const int64_t channels = batch_norm_channels(x, op, "x");
  FG_CHECK(dy.shape() == x.shape(), InvalidArgument, op, ": y_backprop and x must have the same shape, got ",
           dy.shape(), " and ", x.shape());
  check_per_channel(ctx.input(2), channels, x.shape(), op, "scale");
  check_per_channel(ctx.input(3), channels, x.shape(), op, stat1);
  check_per_channel(ctx.input(4), channels, x.shape(), op, stat2);
  return channels;
}

void fused_batch_norm_grad_kernel(KernelContext& ctx) {
  check_data_format(ctx.attr<std::string>("data_format"));
  const double epsilon = ctx.attr<float>("epsilon");
  const bool training = ctx.attr<bool>("is_training");
  const int64_t cols = check_batch_norm_grad_inputs(ctx, "FusedBatchNormGrad", "reserve_space_1", "reserve_space_2");
  dispatch_float(ctx.input(1).dtype(), "FusedBatchNormGrad", [&]<typename T>() {
    const T* var = ctx.input(4).data<T>();
    ScratchArray<double> inv_std(cols);
    for (int64_t c = 0; c < cols; ++c) inv_std[c] = 1.0 / std::sqrt(static_cast<double>(var[c]) + epsilon);
    batch_norm_backward<T>(ctx, ctx.input(3), inv_std.data(), training);
    // TF's CPU kernel leaves these empty; they exist for cuDNN.
    ctx.set_output(3, Tensor(dtype_of<T>(), {0}));
    ctx.set_output(4, Tensor(dtype_of<T>(), {0}));
  });
}

void fused_batch_norm_dynamic_grad_kernel(KernelContext& ctx) {
  const int64_t cols = check_batch_norm_grad_inputs(ctx, "FusedBatchNormDynamicGrad", "saved_mean", "saved_inv_std");
  const bool training = training_flag(ctx.input(5), "FusedBatchNormDynamicGrad");
  dispatch_float(ctx.input(1).dtype(), "FusedBatchNormDynamicGrad", [&]<typename T>() {
    batch_norm_backward<T>(ctx, ctx.input(3), channel_values<T>(ctx.input(4)).data(), training);
  });
}

// Static checks shared by the shape functions: x rank 2 or 4; each listed input a vector of C
// (those marked may_be_empty can also be [0]: FusedBatchNorm's statistics when training).
struct ChannelArg {
  int input;
  const char* name;
  bool may_be_empty = false;
};

int64_t batch_norm_static_channels(InferenceContext& c, int x_input, std::initializer_list<ChannelArg> args) {
  const Shape& x = c.input_shape(x_input);
  if (x.known_rank() && x.rank() != 2 && x.rank() != 4)
    c.fail(str_cat("x must be 2-D [N, C] or 4-D NHWC [N, H, W, C], got shape ", x));
  int64_t channels = x.known_rank() ? x.dim(-1) : -1;
  for (const ChannelArg& a : args) {
    const Shape& s = c.input_shape(a.input);
    if (!s.known_rank()) continue;
    if (s.rank() != 1) c.fail(str_cat(a.name, " must be 1-D [C], got shape ", s));
    if (a.may_be_empty && s.dim(0) == 0) continue;
    channels = merge_dim(channels, s.dim(0), [&] {
      c.fail(str_cat(a.name, " has ", s.dim(0), " elements but x ", x, " has ", channels, " channels"));
    });
  }
  return channels;
}

void check_training_flag_shape(InferenceContext& c, int i) {
  const Shape& s = c.input_shape(i);
  if (s.known_rank() && s.rank() != 0) c.fail(str_cat("training must be a scalar, got shape ", s));
}

void set_channel_outputs(InferenceContext& c, int first, int last, int64_t channels) {
  for (int i = first; i <= last; ++i) c.set_output(i, Shape{channels});
}

void fused_batch_norm_shape(InferenceContext& c) {
  check_data_format(c.attr<std::string>("data_format"));
  const bool empty_ok = c.attr<bool>("is_training");
  const int64_t channels = batch_norm_static_channels(
      c, 0, {{1, "scale"}, {2, "offset"}, {3, "mean", empty_ok}, {4, "variance", empty_ok}});
  Shape y = c.input_shape(0);
  if (y.known_rank()) y.set_dim(y.rank() - 1, channels);
  c.set_output(0, y);
  set_channel_outputs(c, 1, 4, channels);
}

void fused_batch_norm_dynamic_shape(InferenceContext& c) {
  const int64_t channels =
      batch_norm_static_channels(c, 0, {{1, "scale"}, {2, "offset"}, {3, "mean"}, {4, "variance"}});
  check_training_flag_shape(c, 5);
  Shape y = c.input_shape(0);
  if (y.known_rank()) y.set_dim(y.rank() - 1, channels);
  c.set_output(0, y);
  set_channel_outputs(c, 1, 4, channels);
}

// dx's shape: x's merged with y_backprop's, channels merged with the per-channel inputs.
Shape batch_norm_grad_shapes(InferenceContext& c, const char* stat1, const char* stat2, int64_t* channels) {
  Shape x = c.input_shape(1).merge_with(c.input_shape(0), str_cat(c.op().type(), " '", c.op().name(), "'"));
  *channels = batch_norm_static_channels(c, 1, {{2, "scale"}, {3, stat1}, {4, stat2}});
  if (x.known_rank() && x.rank() != 2 && x.rank() != 4)
    c.fail(str_cat("y_backprop must be 2-D [N, C] or 4-D NHWC [N, H, W, C], got shape ", x));
  if (x.known_rank()) x.set_dim(x.rank() - 1, *channels);
  return x;
}

void fused_batch_norm_grad_shape(InferenceContext& c) {
  check_data_format(c.attr<std::string>("data_format"));
  int64_t channels;
  c.set_output(0, batch_norm_grad_shapes(c, "reserve_space_1", "reserve_space_2", &channels));
  set_channel_outputs(c, 1, 2, channels);
  set_channel_outputs(c, 3, 4, 0);
}

void fused_batch_norm_dynamic_grad_shape(InferenceContext& c) {
  int64_t channels;
  c.set_output(0, batch_norm_grad_shapes(c, "saved_mean", "saved_inv_std", &channels));
  check_training_flag_shape(c, 5);
  set_channel_outputs(c, 1, 2, channels);
}

// Gradients reaching the batch statistics outputs, as a dx term: d mean / dx = 1/N and
// d var / dx = 2 (x - mean) / D, D = N (biased) or max(N - 1, 1) (unbiased). TF drops these
// gradients; adding them keeps tf.gradients of anything built on the statistics correct.
Output batch_statistics_grad(const Operation& op, const Output& x, const Output& mean, const Output& g_mean,
                             const Output& g_var, bool unbiased) {
  FG_CHECK(x.shape().known_rank(), Unimplemented, op.type(), " '", op.name(),
           "': differentiating its batch statistics needs x of known rank");
  std::vector<int64_t> rows_axes(x.shape().rank() - 1);
  for (size_t i = 0; i < rows_axes.size(); ++i) rows_axes[i] = static_cast<int64_t>(i);
  const Output ones = ones_like(x);
  const Output n = reduce_sum(ones, rows_axes);  // [C], each entry the row count N
  Output dx;
  if (g_mean) dx = ones * (g_mean / n);
  if (g_var) {
    const Output divisor = unbiased ? maximum(n - 1.0, scalar_like(n, 1)) : n;
    const Output term = (2.0 * g_var / divisor) * (x - mean);
    dx = dx ? dx + term : term;
  }
  return dx;
}

Output add_if(const Output& a, const Output& b) { return !a ? b : !b ? a : a + b; }

// TF's _FusedBatchNormGrad: training normalizes with the batch statistics kept in the reserve
// spaces, inference with the population statistics (the inputs). No gradient for mean/variance.
std::vector<Output> fused_batch_norm_grad(GradContext& c) {
  const Operation& op = c.op();
  const bool training = op.attr<bool>("is_training");
  const Output x = c.input(0), scale = c.input(1);
  Output dx, dscale, doffset;
  if (c.grad(0)) {
    const Output dy = c.grad(0);
    const Output stat1 = training ? c.output(3) : c.input(3), stat2 = training ? c.output(4) : c.input(4);
    Operation* g = OpBuilder(dy, "FusedBatchNormGrad", "FusedBatchNormGrad").input(dy).input(x).input(scale)
                       .input(stat1).input(stat2).attr("epsilon", op.attr<float>("epsilon"))
                       .attr("data_format", op.attr<std::string>("data_format")).attr("is_training", training).build();
    dx = g->output(0);
    dscale = g->output(1);
    doffset = g->output(2);
  }
  // In inference mode the statistics outputs are the mean/variance inputs, which get no gradient.
  if (training && (c.grad(1) || c.grad(2)))
    dx = add_if(dx, batch_statistics_grad(op, x, c.output(3), c.grad(1), c.grad(2), /*unbiased=*/true));
  return {dx, dscale, doffset, Output(), Output()};
}

std::vector<Output> fused_batch_norm_dynamic_grad(GradContext& c) {
  const Operation& op = c.op();
  const Output x = c.input(0), training = c.input(5);
  Output dx, dscale, doffset;
  if (c.grad(0)) {
    const Output dy = c.grad(0);
    Operation* g = OpBuilder(dy, "FusedBatchNormDynamicGrad", "FusedBatchNormDynamicGrad").input(dy).input(x)
                       .input(c.input(1)).input(c.output(3)).input(c.output(4)).input(training).build();
    dx = g->output(0);
    dscale = g->output(1);
    doffset = g->output(2);
  }
  if (c.grad(1) || c.grad(2)) {
    // The statistics depend on x only when training; the flag is known at run time only.
    const Output stats = batch_statistics_grad(op, x, c.output(3), c.grad(1), c.grad(2), /*unbiased=*/false);
    dx = add_if(dx, stats * cast(training, x.dtype()));
  }
  return {dx, dscale, doffset, Output(), Output(), Output()};
}

}  // namespace

void register_nn_ops(OpRegistry& r) {
  auto activation = [&](const char* type, const char* in, const char* out, Kernel k, GradFn grad,
                        const std::vector<DType>& types) -> OpDef& {
    return r.add(type).input(in, "T").output(out, "T").type_attr("T", types).shape(unchanged_shape).kernel_fn(k)
        .gradient(grad);
  };
  auto activation_grad = [&](const char* type, const char* a, const char* b, const char* out, Kernel k, GradFn grad,
                             const std::vector<DType>& types) -> OpDef& {
    return r.add(type).input(a, "T").input(b, "T").output(out, "T").type_attr("T", types).shape(same_shape_pair)
        .kernel_fn(k).gradient(grad);
  };
  activation("Relu", "features", "activations", elementwise_kernel<ReluF>, relu_grad, kNumericTypes);
  activation_grad("ReluGrad", "gradients", "features", "backprops", elementwise_kernel<ReluGradF>, relu_grad_grad,
                  kNumericTypes);
  activation("Elu", "features", "activations", elementwise_kernel<EluF>, elu_grad, kFloatTypes);
  activation_grad("EluGrad", "gradients", "outputs", "backprops", elementwise_kernel<EluGradF>,
                  elu_like_grad_grad<kEluGrad>, kFloatTypes);
  activation("Selu", "features", "activations", elementwise_kernel<SeluF>, selu_grad, kFloatTypes);
  activation_grad("SeluGrad", "gradients", "outputs", "backprops", elementwise_kernel<SeluGradF>,
                  elu_like_grad_grad<kSeluGrad>, kFloatTypes);
  activation("LeakyRelu", "features", "activations", elementwise_kernel<LeakyReluF>, leaky_relu_grad, kFloatTypes)
      .attr("alpha", 0.2f).attr("T", DType::kFloat);
  activation_grad("LeakyReluGrad", "gradients", "features", "backprops", elementwise_kernel<LeakyReluGradF>,
                  leaky_relu_grad_grad, kFloatTypes).attr("alpha", 0.2f).attr("T", DType::kFloat);
  activation("Sigmoid", "x", "y", elementwise_kernel<SigmoidF>, sigmoid_grad, kFloatTypes);
  activation_grad("SigmoidGrad", "y", "dy", "z", elementwise_kernel<SigmoidGradF>, sigmoid_grad_grad, kFloatTypes);
  activation("Tanh", "x", "y", elementwise_kernel<TanhF>, tanh_grad, kFloatTypes);
  activation_grad("TanhGrad", "y", "dy", "z", elementwise_kernel<TanhGradF>, tanh_grad_grad, kFloatTypes);
  activation("Softplus", "features", "activations", elementwise_kernel<SoftplusF>, softplus_grad, kFloatTypes);
  activation_grad("SoftplusGrad", "gradients", "features", "backprops", elementwise_kernel<SoftplusGradF>,
                  softplus_grad_grad, kFloatTypes);
  activation("Relu6", "features", "activations", elementwise_kernel<Relu6F>, relu6_grad, kNumericTypes);
  activation_grad("Relu6Grad", "gradients", "features", "backprops", elementwise_kernel<Relu6GradF>, relu6_grad_grad,
                  kNumericTypes);
  r.add("BiasAdd").input("value", "T").input("bias", "T").output("output", "T")
      .attr("data_format", std::string("NHWC")).type_attr("T", kNumericTypes)
      .shape(bias_add_shape).kernel_fn(bias_add_kernel).gradient(bias_add_grad);
  // A dense layer's MatMul -> BiasAdd (-> activation) runs as one GEMM with the rest in its epilogue,
  // and so does the input gradient's MatMul -> activation gradient.
  r.add_fusion({.consumer = "BiasAdd", .producer = "MatMul", .input = 0,
                .kernel = matmul_bias_add_kernel<NoActivation>, .applies = is_float_matmul});
  add_activation_fusion<ReluF>(r);
  add_activation_fusion<EluF>(r);
  add_activation_fusion<SeluF>(r);
  add_activation_fusion<LeakyReluF>(r);
  add_activation_fusion<SigmoidF>(r);
  add_activation_fusion<TanhF>(r);
  add_activation_fusion<SoftplusF>(r);
  add_activation_fusion<Relu6F>(r);
  add_activation_grad_fusion<ReluGradF>(r);
  add_activation_grad_fusion<EluGradF>(r);
  add_activation_grad_fusion<SeluGradF>(r);
  add_activation_grad_fusion<LeakyReluGradF>(r);
  add_activation_grad_fusion<SigmoidGradF>(r);
  add_activation_grad_fusion<TanhGradF>(r);
  add_activation_grad_fusion<SoftplusGradF>(r);
  add_activation_grad_fusion<Relu6GradF>(r);
  r.add("BiasAddGrad").input("out_backprop", "T").output("output", "T")
      .attr("data_format", std::string("NHWC")).type_attr("T", kNumericTypes)
      .shape(bias_add_grad_shape).kernel_fn(bias_add_grad_kernel).gradient(bias_add_grad_grad);
  r.add("Softmax").input("logits", "T").output("softmax", "T").type_attr("T", kFloatTypes)
      .shape(softmax_shape).kernel_fn(softmax_kernel<false>).gradient(softmax_grad);
  r.add("LogSoftmax").input("logits", "T").output("logsoftmax", "T").type_attr("T", kFloatTypes)
      .shape(softmax_shape).kernel_fn(softmax_kernel<true>).gradient(log_softmax_grad);
  r.add("SparseSoftmaxCrossEntropyWithLogits").input("features", "T").input("labels", "Tlabels")
      .output("loss", "T").output("backprop", "T").attr("Tlabels", DType::kInt64)
      .type_attr("T", kFloatTypes).type_attr("Tlabels", {DType::kInt32, DType::kInt64})
      .shape(sparse_xent_shape).kernel_fn(sparse_xent_kernel).gradient(sparse_xent_grad);
  r.add("SquaredDifference").input("x", "T").input("y", "T").output("z", "T")
      .type_attr("T", {DType::kFloat, DType::kDouble, DType::kInt32, DType::kInt64})
      .shape(squared_difference_shape).kernel_fn(squared_difference_kernel).gradient(squared_difference_grad);
  r.add("Squeeze").input("input", "T").output("output", "T").attr("squeeze_dims", std::vector<int64_t>{})
      .attr_minimum("squeeze_dims", 0)
      .type_attr("T", kAllTypes).shape(squeeze_shape).kernel_fn(squeeze_kernel).gradient(squeeze_grad);

  // TF's FusedBatchNorm takes float only; float64 is allowed here for the numeric gradient checks.
  r.add("FusedBatchNorm").input("x", "T").input("scale", "T").input("offset", "T").input("mean", "T")
      .input("variance", "T").output("y", "T").output("batch_mean", "T").output("batch_variance", "T")
      .output("reserve_space_1", "T").output("reserve_space_2", "T").attr("epsilon", 0.0001f)
      .attr("data_format", std::string("NHWC")).attr("is_training", true).type_attr("T", kFloatTypes)
      .shape(fused_batch_norm_shape).kernel_fn(fused_batch_norm_kernel).gradient(fused_batch_norm_grad);
  r.add("FusedBatchNormGrad").input("y_backprop", "T").input("x", "T").input("scale", "T")
      .input("reserve_space_1", "T").input("reserve_space_2", "T").output("x_backprop", "T")
      .output("scale_backprop", "T").output("offset_backprop", "T").output("reserve_space_3", "T")
      .output("reserve_space_4", "T").attr("epsilon", 0.0001f).attr("data_format", std::string("NHWC"))
      .attr("is_training", true).type_attr("T", kFloatTypes).shape(fused_batch_norm_grad_shape)
      .kernel_fn(fused_batch_norm_grad_kernel);
  r.add("FusedBatchNormDynamic").input("x", "T").input("scale", "T").input("offset", "T").input("mean", "T")
      .input("variance", "T").input("training", DType::kBool).output("y", "T").output("used_mean", "T")
      .output("used_variance", "T").output("saved_mean", "T").output("saved_inv_std", "T")
      .attr("epsilon", 0.001f).type_attr("T", kFloatTypes).shape(fused_batch_norm_dynamic_shape)
      .kernel_fn(fused_batch_norm_dynamic_kernel).gradient(fused_batch_norm_dynamic_grad);
  r.add("FusedBatchNormDynamicGrad").input("y_backprop", "T").input("x", "T").input("scale", "T")
      .input("saved_mean", "T").input("saved_inv_std", "T").input("training", DType::kBool)
      .output("x_backprop", "T").output("scale_backprop", "T").output("offset_backprop", "T")
      .type_attr("T", kFloatTypes).shape(fused_batch_norm_dynamic_grad_shape)
      .kernel_fn(fused_batch_norm_dynamic_grad_kernel);

  r.add("InTopKV2").input("predictions", DType::kFloat).input("targets", "T").input("k", "T")
      .output("precision", DType::kBool).attr("T", DType::kInt32).type_attr("T", {DType::kInt32, DType::kInt64})
      .shape(in_top_k_shape).kernel_fn(in_top_k_kernel).not_differentiable();
}

}  // namespace fg
