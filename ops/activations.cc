// Activations (tf.nn's relu, elu, selu, leaky_relu, sigmoid, tanh, softplus, relu6, softsign) and their TF
// gradient ops, one description each; every activation also fuses into a dense layer's GEMM.
//
// Eigen's max/min follow std::max/std::min: a NaN in the left operand survives, which is how NaN
// inputs stay visible in every activation below instead of turning into 0 or 6.
#include "ops/array.h"
#include "ops/internal/dense_fusion.h"
#include "ops/internal/register.h"
#include "ops/math.h"
#include "ops/nn.h"

namespace fg {

namespace {

// Gradient-check domains: values on both sides of a kink at 0, and anything.
constexpr Domain kKink{-3, 3, true};
constexpr Domain kAny{-2, 2};

// TF differentiates Relu through its output: relu(x) > 0 exactly where x > 0, and the features
// tensor can then be released early. Elu, Selu and Relu6 likewise: their outputs decide the branch
// as well as the inputs do.

// TF's gradients * (features > 0), written as a select of g or g * 0 (the same values, NaN * 0
// included) because Eigen evaluates a bool-to-float cast one coefficient at a time while the
// compiler vectorizes the select.
struct ReluGrad {
  static constexpr Spec spec{.type = "ReluGrad", .inputs = {"gradients", "features"}, .output = "backprops",
                             .types = TypeSet::kNumeric, .domains = {kAny, kKink}, .incoming = 0};
  template <typename T, class G, class X> static auto apply(const G& g, const X& f) {
    return (f > T(0)).select(g, g * T(0));
  }
  static std::vector<Output> gradient(GradContext& c) {
    return {build<ReluGrad>(c.grad(0), c.input(1)), zeros_like(c.input(1))};
  }
};
struct Relu {
  static constexpr Spec spec{.type = "Relu", .inputs = {"features"}, .output = "activations",
                             .types = TypeSet::kNumeric, .domains = {kKink}};
  template <typename T, class X> static auto apply(const X& x) { return x.max(T(0)); }
  using Grad = ReluGrad;
  static std::vector<Output> gradient(GradContext& c) { return {build<Grad>(c.grad(0), c.output(0))}; }
};

// EluGrad / SeluGrad (g, y) are linear in g; for y < 0 their slope in y is g (y + const), else 0.
template <class G>
std::vector<Output> elu_like_grad_grad(GradContext& c) {
  const Output g = c.input(0), y = c.input(1), gg = c.grad(0);
  return {build<G>(gg, y), select(less(y, scalar_like(y, 0)), gg * g, zeros_like(y))};
}

// TF's EluGrad(gradients, outputs): outputs < 0 ? gradients * (outputs + 1) : gradients.
struct EluGrad {
  static constexpr Spec spec{.type = "EluGrad", .inputs = {"gradients", "outputs"}, .output = "backprops",
                             .types = TypeSet::kFloat, .cost = 2, .domains = {kAny, Domain{-0.9, 2, true}},
                             .incoming = 0};
  template <typename T, class G, class Y> static auto apply(const G& g, const Y& y) {
    return g * (y.min(T(0)) + T(1));
  }
  static std::vector<Output> gradient(GradContext& c) { return elu_like_grad_grad<EluGrad>(c); }
};
// The x < 0 and x >= 0 branches as a sum, max(x, 0) + (exp(min(x, 0)) - 1), which Eigen vectorizes
// whole. exp - 1 as TF: Eigen's expm1 is much slower, and the difference (about an ulp of 1,
// absolute) is only relatively large where the value itself is negligible.
struct Elu {
  static constexpr Spec spec{.type = "Elu", .inputs = {"features"}, .output = "activations",
                             .types = TypeSet::kFloat, .cost = 4, .domains = {kKink}};
  template <typename T, class X> static auto apply(const X& x) { return x.max(T(0)) + (x.min(T(0)).exp() - T(1)); }
  using Grad = EluGrad;
  static std::vector<Output> gradient(GradContext& c) { return {build<Grad>(c.grad(0), c.output(0))}; }
};

// TF's SELU constants (Klambauer et al. 2017), and their product used for x < 0.
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kSeluScaleAlpha = kSeluScale * kSeluAlpha;

struct SeluGrad {
  static constexpr Spec spec{.type = "SeluGrad", .inputs = {"gradients", "outputs"}, .output = "backprops",
                             .types = TypeSet::kFloat, .cost = 2, .domains = {kAny, Domain{-0.9, 2, true}},
                             .incoming = 0};
  template <typename T, class G, class Y> static auto apply(const G& g, const Y& y) {
    return (y < T(0)).select(g * (y + T(kSeluScaleAlpha)), g * T(kSeluScale));
  }
  static std::vector<Output> gradient(GradContext& c) { return elu_like_grad_grad<SeluGrad>(c); }
};
struct Selu {
  static constexpr Spec spec{.type = "Selu", .inputs = {"features"}, .output = "activations",
                             .types = TypeSet::kFloat, .cost = 4, .domains = {kKink}};
  template <typename T, class X> static auto apply(const X& x) {
    return T(kSeluScale) * x.max(T(0)) + T(kSeluScaleAlpha) * (x.min(T(0)).exp() - T(1));
  }
  using Grad = SeluGrad;
  static std::vector<Output> gradient(GradContext& c) { return {build<Grad>(c.grad(0), c.output(0))}; }
};

// LeakyRelu and its gradient carry TF's float attr alpha.
struct WithAlpha {
  explicit WithAlpha(const KernelContext& ctx) : alpha(ctx.attr<float>("alpha")) {}
  static void declare(OpDef& d) { d.attr("alpha", 0.2f).attr("T", DType::kFloat); }
  float alpha;
};
Output leaky_relu_grad(const Output& gradients, const Output& features, float alpha);

struct LeakyReluGrad : WithAlpha {
  static constexpr Spec spec{.type = "LeakyReluGrad", .inputs = {"gradients", "features"}, .output = "backprops",
                             .types = TypeSet::kFloat, .cost = 2, .domains = {kAny, kKink}, .incoming = 0};
  using WithAlpha::WithAlpha;
  template <typename T, class G, class X> auto apply(const G& g, const X& f) const {
    return (f > T(0)).select(g, g * T(alpha));
  }
  static std::vector<Output> gradient(GradContext& c) {
    return {leaky_relu_grad(c.grad(0), c.input(1), c.op().attr<float>("alpha")), zeros_like(c.input(1))};
  }
};
// x > 0 ? x : alpha * x for any alpha (max(x, alpha * x) would be wrong for alpha > 1).
struct LeakyRelu : WithAlpha {
  static constexpr Spec spec{.type = "LeakyRelu", .inputs = {"features"}, .output = "activations",
                             .types = TypeSet::kFloat, .cost = 2, .domains = {kKink}};
  using WithAlpha::WithAlpha;
  template <typename T, class X> auto apply(const X& x) const { return x.max(T(0)) + T(alpha) * x.min(T(0)); }
  using Grad = LeakyReluGrad;
  static std::vector<Output> gradient(GradContext& c) {
    return {leaky_relu_grad(c.grad(0), c.input(0), c.op().attr<float>("alpha"))};
  }
};

Output leaky_relu_grad(const Output& gradients, const Output& features, float alpha) {
  return op_builder<LeakyReluGrad>({gradients, features}, "").attr("alpha", alpha).build_output();
}

// TF's SigmoidGrad(y, dy) = dy * y * (1 - y), y the forward output.
struct SigmoidGrad {
  static constexpr Spec spec{.type = "SigmoidGrad", .inputs = {"y", "dy"}, .output = "z", .types = TypeSet::kFloat,
                             .cost = 2, .domains = {Domain{0.05, 0.95}, kAny}, .incoming = 1};
  template <typename T, class Y, class D> static auto apply(const Y& y, const D& dy) { return dy * y * (T(1) - y); }
  // d/dy = dy (1 - 2y), d/d dy = y (1 - y).
  static std::vector<Output> gradient(GradContext& c) {
    const Output y = c.input(0), dy = c.input(1), gg = c.grad(0);
    const Output gb = gg * dy;
    return {gb - 2.0 * gb * y, build<SigmoidGrad>(y, gg)};
  }
};
struct Sigmoid {
  static constexpr Spec spec{.type = "Sigmoid", .inputs = {"x"}, .output = "y", .types = TypeSet::kFloat,
                             .cost = 10, .domains = {Domain{-4, 4}}};
  template <typename T, class X> static auto apply(const X& x) { return x.logistic(); }
  using Grad = SigmoidGrad;
  static std::vector<Output> gradient(GradContext& c) { return {build<Grad>(c.output(0), c.grad(0))}; }
};

// TanhGrad(y, dy) = dy (1 - y^2).
struct TanhGrad {
  static constexpr Spec spec{.type = "TanhGrad", .inputs = {"y", "dy"}, .output = "z", .types = TypeSet::kFloat,
                             .cost = 2, .domains = {Domain{-0.95, 0.95}, kAny}, .incoming = 1};
  template <typename T, class Y, class D> static auto apply(const Y& y, const D& dy) { return dy * (T(1) - y.square()); }
  // d/dy = -2 dy y, d/d dy = 1 - y^2.
  static std::vector<Output> gradient(GradContext& c) {
    const Output y = c.input(0), dy = c.input(1), gg = c.grad(0);
    return {gg * -2.0 * dy * y, build<TanhGrad>(y, gg)};
  }
};
struct Tanh {
  static constexpr Spec spec{.type = "Tanh", .inputs = {"x"}, .output = "y", .types = TypeSet::kFloat, .cost = 10,
                             .domains = {Domain{-3, 3}}};
  template <typename T, class X> static auto apply(const X& x) { return x.tanh(); }
  using Grad = TanhGrad;
  static std::vector<Output> gradient(GradContext& c) { return {build<Grad>(c.output(0), c.grad(0))}; }
};

// TF: gradients / (1 + exp(-features)), i.e. gradients * sigmoid(features).
struct SoftplusGrad {
  static constexpr Spec spec{.type = "SoftplusGrad", .inputs = {"gradients", "features"}, .output = "backprops",
                             .types = TypeSet::kFloat, .cost = 10, .domains = {kAny, Domain{-4, 4}}, .incoming = 0};
  template <typename T, class G, class X> static auto apply(const G& g, const X& f) { return g * f.logistic(); }
  // d/dx of dy sigmoid(x) = dy / (e^-x + 2 + e^x), which underflows cleanly to 0 for large |x|.
  static std::vector<Output> gradient(GradContext& c) {
    const Output dy = c.input(0), x = c.input(1), gg = c.grad(0);
    return {build<SoftplusGrad>(gg, x), gg * dy / (exp(-x) + 2.0 + exp(x))};
  }
};
// log(1 + e^x) = max(x, 0) + log1p(e^-|x|): e^-|x| <= 1 never overflows, and log1p keeps the tiny
// values for x << 0 that log(1 + e^x) would round to 0.
struct Softplus {
  static constexpr Spec spec{.type = "Softplus", .inputs = {"features"}, .output = "activations",
                             .types = TypeSet::kFloat, .cost = 20, .domains = {Domain{-4, 4}}};
  template <typename T, class X> static auto apply(const X& x) { return x.max(T(0)) + (-x.abs()).exp().log1p(); }
  using Grad = SoftplusGrad;
  static std::vector<Output> gradient(GradContext& c) { return {build<Grad>(c.grad(0), c.input(0))}; }
};

// gradients * (0 < features < 6), as a select for the reason given at ReluGrad.
struct Relu6Grad {
  static constexpr Spec spec{.type = "Relu6Grad", .inputs = {"gradients", "features"}, .output = "backprops",
                             .types = TypeSet::kNumeric, .domains = {kAny, kKink}, .incoming = 0};
  template <typename T, class G, class X> static auto apply(const G& g, const X& f) {
    return ((f > T(0)) && (f < T(6))).select(g, g * T(0));
  }
  static std::vector<Output> gradient(GradContext& c) {
    return {build<Relu6Grad>(c.grad(0), c.input(1)), zeros_like(c.input(1))};
  }
};
struct Relu6 {
  static constexpr Spec spec{.type = "Relu6", .inputs = {"features"}, .output = "activations",
                             .types = TypeSet::kNumeric, .domains = {kKink}};
  template <typename T, class X> static auto apply(const X& x) { return x.max(T(0)).min(T(6)); }
  using Grad = Relu6Grad;
  static std::vector<Output> gradient(GradContext& c) { return {build<Grad>(c.grad(0), c.output(0))}; }
};

// TF's SoftsignGrad(gradients, features) = gradients / (1 + |features|)^2.
struct SoftsignGrad {
  static constexpr Spec spec{.type = "SoftsignGrad", .inputs = {"gradients", "features"}, .output = "backprops",
                             .types = TypeSet::kFloat, .cost = 4, .domains = {kAny, kKink}, .incoming = 0};
  template <typename T, class G, class X> static auto apply(const G& g, const X& f) {
    return g / (f.abs() + T(1)).square();
  }
  // d/dg = SoftsignGrad(gg, f); d/df = -2 g gg sign(f) / (1 + |f|)^3.
  static std::vector<Output> gradient(GradContext& c) {
    const Output g = c.input(0), f = c.input(1), gg = c.grad(0);
    return {build<SoftsignGrad>(gg, f), -2.0 * build<SoftsignGrad>(gg * g, f) * sign(f) / (abs(f) + 1.0)};
  }
};
// TF's softsign(x) = x / (1 + |x|).
struct Softsign {
  static constexpr Spec spec{.type = "Softsign", .inputs = {"features"}, .output = "activations",
                             .types = TypeSet::kFloat, .cost = 4, .domains = {kKink}};
  template <typename T, class X> static auto apply(const X& x) { return x / (x.abs() + T(1)); }
  using Grad = SoftsignGrad;
  static std::vector<Output> gradient(GradContext& c) { return {build<Grad>(c.grad(0), c.input(0))}; }
};

}  // namespace

namespace nn {

Output relu(const Output& features, const std::string& name) { return build<Relu>(features, name); }
Output elu(const Output& features, const std::string& name) { return build<Elu>(features, name); }
Output selu(const Output& features, const std::string& name) { return build<Selu>(features, name); }
Output leaky_relu(const Output& features, float alpha, const std::string& name) {
  return op_builder<LeakyRelu>({features}, name).attr("alpha", alpha).build_output();
}
Output leaky_relu(const Output& features, const std::string& name) { return leaky_relu(features, 0.2f, name); }
Output sigmoid(const Output& x, const std::string& name) { return build<Sigmoid>(x, name); }
Output tanh(const Output& x, const std::string& name) { return build<Tanh>(x, name); }
Output softplus(const Output& features, const std::string& name) { return build<Softplus>(features, name); }
Output relu6(const Output& features, const std::string& name) { return build<Relu6>(features, name); }
Output softsign(const Output& features, const std::string& name) { return build<Softsign>(features, name); }

}  // namespace nn

void register_activation_ops(OpRegistry& r) {
  register_activations<Relu, Elu, Selu, LeakyRelu, Sigmoid, Tanh, Softplus, Relu6, Softsign>(r);
}

}  // namespace fg
