// Every registered op type is either gradient-checked here in float64 (numeric central differences
// against gradients(), broadcasting cases where the op broadcasts) or registered with the reason it
// has no gradient. Element-wise ops get their checks from their descriptions
// (ops/internal/elementwise.h); the others from the table below. A new op without either fails.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "graph/op_registry.h"
#include "graph/gradients.h"
#include "ops/array.h"
#include "ops/control_flow_ops.h"
#include "ops/cumulative.h"
#include "ops/indexing.h"
#include "ops/internal/elementwise.h"
#include "ops/math.h"
#include "ops/nn.h"
#include "ops/nn_losses.h"
#include "ops/numerics.h"
#include "ops/register.h"
#include "ops/shape_ops.h"
#include "tests/test_util.h"

namespace fg {
namespace {

using testing::expect_gradients_match;
using testing::random_tensor;

using Fn = std::function<Output(const std::vector<Output>&)>;
struct Case {
  Fn f;
  std::vector<Tensor> inputs;
  // An op TF defines for float32 only: checked through casts (testing::expect_float32_gradients_match)
  // here, and against a float64 formula in its own test.
  bool float32 = false;
};

Tensor positive(const Shape& s, uint64_t seed) { return random_tensor(s, seed, 0.5, 1.5); }

// Ops other than the element-wise descriptions: how each is checked.
const std::map<std::string, std::vector<Case>>& other_checks() {
  static const std::map<std::string, std::vector<Case>> checks = [] {
    std::map<std::string, std::vector<Case>> m;
    const Tensor x23 = random_tensor({2, 3}, 1), x234 = random_tensor({2, 3, 4}, 2);
    m["Identity"] = {{[](auto& v) { return identity(v[0]); }, {x23}}};
    m["PlaceholderWithDefault"] = {{[](auto& v) { return placeholder_with_default(v[0], v[0].shape()); }, {x23}}};
    m["Reshape"] = {{[](auto& v) { return reshape(v[0], std::vector<int64_t>{3, -1}); }, {x234}}};
    m["ExpandDims"] = {{[](auto& v) { return expand_dims(v[0], 1); }, {x23}}};
    m["Squeeze"] = {{[](auto& v) {
                       return OpBuilder(v[0], "Squeeze", "").input(v[0]).attr("squeeze_dims", std::vector<int64_t>{1})
                           .build_output();
                     },
                     {random_tensor({3, 1, 2}, 3)}}};
    m["Fill"] = {{[](auto& v) { return fill(constant(*v[0].graph(), Tensor::from_vector<int32_t>({2, 3})), v[0]); },
                  {random_tensor({}, 4)}}};
    m["Cast"] = {{[](auto& v) { return cast(v[0], f64) * v[0]; }, {x23}}};
    m["BroadcastTo"] = {{[](auto& v) {
                           return broadcast_to(v[0], constant(*v[0].graph(), Tensor::from_vector<int32_t>({2, 4, 3})));
                         },
                         {random_tensor({4, 1}, 5)}},
                        {[](auto& v) {
                           return broadcast_to(v[0], constant(*v[0].graph(), Tensor::from_vector<int32_t>({2, 4, 3})));
                         },
                         {random_tensor({3}, 6)}}};
    m["Select"] = {{[](auto& v) {
                      return select(constant(*v[0].graph(), Tensor::from_vector<bool>({true, false}, {2})), v[0], v[1]);
                    },
                    {x23, random_tensor({2, 3}, 7)}}};
    m["AddN"] = {{[](auto& v) { return add_n({v[0], v[1], v[0]}); }, {x23, random_tensor({2, 3}, 8)}}};
    for (const char* type : {"Sum", "Mean", "Max", "Min"}) {
      for (const std::vector<int64_t>& axes : std::vector<std::vector<int64_t>>{{}, {1}, {0, 2}}) {
        m[type].push_back({[type, axes](auto& v) {
                             const std::string t = type;
                             return t == "Sum" ? reduce_sum(v[0], axes)
                                    : t == "Mean" ? reduce_mean(v[0], axes)
                                    : t == "Max" ? reduce_max(v[0], axes)
                                                 : reduce_min(v[0], axes);
                           },
                           {x234}});
      }
    }
    m["MatMul"] = {{[](auto& v) { return matmul(v[0], v[1]); }, {x23, random_tensor({3, 4}, 9)}},
                   {[](auto& v) { return matmul(v[0], v[1], {.transpose_a = true, .transpose_b = true}); },
                    {random_tensor({3, 2}, 10), random_tensor({4, 3}, 11)}}};
    m["BiasAdd"] = {{[](auto& v) { return nn::bias_add(v[0], v[1]); }, {x234, random_tensor({4}, 12)}}};
    m["BiasAddGrad"] = {{[](auto& v) { return OpBuilder(v[0], "BiasAddGrad", "").input(v[0]).build_output(); },
                         {x234}}};
    m["Softmax"] = {{[](auto& v) { return nn::softmax(v[0]); }, {x234}}};
    m["LogSoftmax"] = {{[](auto& v) { return nn::log_softmax(v[0]); }, {x234}}};
    m["SparseSoftmaxCrossEntropyWithLogits"] = {
        {[](auto& v) {
           auto labels = constant(*v[0].graph(), Tensor::from_vector<int32_t>({2, 0}));
           auto r = nn::sparse_softmax_cross_entropy_with_logits(labels, v[0]);
           return r * 2.0 + reduce_sum(r.op()->output(1), {1});  // the loss and the backprop output
         },
         {random_tensor({2, 3}, 13)}}};
    const Tensor bn_x = random_tensor({5, 3}, 14, -2, 2), scale = positive({3}, 15), offset = random_tensor({3}, 16);
    // Float32 only, as TF's; BatchNormOps.FusedMatchesThePrimitivePathInFloat64 is the tight check.
    for (bool training : {true, false}) {
      m["FusedBatchNorm"].push_back(
          {[training](auto& v) {
             Graph& g = *v[0].graph();
             Output mean, var;
             if (!training) {
               mean = cast(constant(g, random_tensor({3}, 17)), f32);
               var = cast(constant(g, positive({3}, 18)), f32);
             }
             auto r = nn::fused_batch_norm(v[0], v[1], v[2], mean, var, 0.001, training);
             return r.y + r.batch_mean + r.batch_variance;
           },
           {bn_x, scale, offset},
           /*float32=*/true});
    }
    auto ints = [](const Output& like, std::vector<int32_t> v) {
      return constant(*like.graph(), Tensor::from_vector<int32_t>(v));
    };
    m["Tile"] = {{[](auto& v) { return tile(v[0], std::vector<int64_t>{2, 1, 3}); }, {x234}}};
    m["Pack"] = {{[](auto& v) { return stack({v[0], v[1], v[0]}, 1); }, {x23, random_tensor({2, 3}, 21)}}};
    m["Unpack"] = {{[](auto& v) {
                      auto parts = unstack(v[0], 1);
                      return parts[0] + parts[1] * 2.0 + parts[2] * 3.0;
                    },
                    {x234}}};
    m["ConcatV2"] = {{[](auto& v) { return concat({v[0], v[1]}, 1); }, {x23, random_tensor({2, 5}, 22)}},
                     {[](auto& v) { return concat({v[0], v[1]}, -3); }, {x234, random_tensor({1, 3, 4}, 23)}}};
    m["Transpose"] = {{[](auto& v) { return transpose(v[0], {2, 0, 1}); }, {x234}}};
    m["Pad"] = {{[](auto& v) { return pad(v[0], {{1, 0}, {0, 2}}); }, {x23}}};
    m["Slice"] = {{[](auto& v) { return slice(v[0], {0, 1, 1}, {2, -1, 2}); }, {x234}}};
    m["StridedSlice"] = {{[](auto& v) { return strided_slice(v[0], {Slice{}, 1, Slice{3, 0, -2}}); }, {x234}},
                         {[](auto& v) { return strided_slice(v[0], {NewAxis, Ellipsis, Slice{1, 3}}); }, {x234}}};
    m["StridedSliceGrad"] = {{[ints](auto& v) {
                                return OpBuilder(v[0], "StridedSliceGrad", "")
                                    .input(ints(v[0], {2, 5})).input(ints(v[0], {0, 1})).input(ints(v[0], {2, 5}))
                                    .input(ints(v[0], {1, 2})).input(v[0]).attr("begin_mask", int64_t{0})
                                    .attr("end_mask", int64_t{0}).attr("ellipsis_mask", int64_t{0})
                                    .attr("new_axis_mask", int64_t{0}).attr("shrink_axis_mask", int64_t{0})
                                    .build_output();
                              },
                              {random_tensor({2, 2}, 24)}}};
    m["GatherV2"] = {{[ints](auto& v) { return gather(v[0], ints(v[0], {2, 0, 2}), 1); }, {x234}}};
    m["Gather"] = {{[ints](auto& v) {
                      return OpBuilder(v[0], "Gather", "").input(v[0]).input(ints(v[0], {1, 1, 0})).build_output();
                    },
                    {x23}}};
    m["UnsortedSegmentSum"] = {{[ints](auto& v) {
                                  return unsorted_segment_sum(v[0], ints(v[0], {2, -1, 0, 2}),
                                                              constant(*v[0].graph(), Tensor(int32_t{3})));
                                },
                                {random_tensor({4, 3}, 25)}}};
    // Distinct indices: TF's gradient gathers for every input, also where a later one overwrote it.
    m["DynamicStitch"] = {{[ints](auto& v) {
                             return dynamic_stitch({ints(v[0], {0, 3}), ints(v[0], {2, 1})}, {v[0], v[1]});
                           },
                           {x23, random_tensor({2, 3}, 26)}}};
    for (bool exclusive : {false, true}) {
      for (bool reverse : {false, true}) {
        m["Cumsum"].push_back({[=](auto& v) { return cumsum(v[0], 1, exclusive, reverse); }, {x234}});
        m["Cumprod"].push_back({[=](auto& v) { return cumprod(v[0], -1, exclusive, reverse); }, {x234}});
      }
    }
    Tensor with_zeros = random_tensor({2, 3, 4}, 27);
    with_zeros.flat<double>()[1] = 0;  // one zero in a product, and two in another
    with_zeros.flat<double>()[13] = 0, with_zeros.flat<double>()[17] = 0;
    for (const std::vector<int64_t>& axes : std::vector<std::vector<int64_t>>{{}, {1}, {0, 2}})
      m["Prod"].push_back({[axes](auto& v) { return reduce_prod(v[0], axes); }, {with_zeros}});
    m["SoftmaxCrossEntropyWithLogits"] = {
        {[](auto& v) { return nn::softmax_cross_entropy_with_logits_v2(nn::softmax(v[1]), v[0]); },
         {x23, random_tensor({2, 3}, 28)}}};
    m["L2Loss"] = {{[](auto& v) { return nn::l2_loss(v[0]); }, {x234}}};
    m["CheckNumerics"] = {{[](auto& v) { return check_numerics(v[0] * v[0], "checked"); }, {x23}}};
    // Control flow, with either value of the pred: outside a cond (a bare Switch into a Merge) and
    // inside one, where gradients take TF's cond pattern.
    const Tensor y23 = random_tensor({2, 3}, 29);
    for (bool p : {true, false}) {
      m["Switch"].push_back({[p](auto& v) {
                               auto [f, t] = switch_op(v[0] * v[1], constant(*v[0].graph(), Tensor(p)));
                               return merge({exp(f), t * 3.0}).first;
                             },
                             {x23, y23}});
      m["Merge"].push_back({[p](auto& v) {
                              auto pred = placeholder_with_default(*v[0].graph(), Tensor(p), {}, "pred");
                              return cond(pred, [&] { return v[0] * v[1]; }, [&] { return exp(v[0]); });
                            },
                            {x23, y23}});
    }
    return m;
  }();
  return checks;
}

// Ops whose data input is a variable reference, which check_gradients (placeholders only) cannot
// feed: each is checked numerically, by perturbing the variable, in the test named.
const std::map<std::string, std::string>& checked_through_a_variable() {
  static const std::map<std::string, std::string> m = {
      {"RefSwitch", "RefSwitch.GradientsReachTheVariable (control_flow_test.cc)"},
      {"RefMerge", "RefSwitch.GradientsReachTheVariable (control_flow_test.cc)"},
  };
  return m;
}

// An input drawn from the description's domain for the gradient check.
Tensor draw(const Domain& d, const Shape& shape, uint64_t seed) {
  Tensor t = random_tensor(shape, seed, d.lo, d.hi);
  if (d.away_from_zero)
    for (double& v : t.flat<double>()) v += v < 0 ? -0.1 : 0.1;
  return t;
}

std::vector<Case> cases_of(const Spec& s) {
  const std::string type = s.type;
  const int arity = s.arity();
  const Fn f = [type, arity](const std::vector<Output>& v) {
    OpBuilder b(v[0], type, "");
    for (int i = 0; i < arity; ++i) b.input(v[i]);
    return b.build_output();
  };
  std::vector<std::vector<Shape>> shapes;
  if (arity == 1) shapes = {{Shape{7}}, {Shape{3, 4}}, {Shape{2, 3, 2}}};
  else if (!s.broadcasts) shapes = {{Shape{2, 5}, Shape{2, 5}}, {Shape{7}, Shape{7}}};
  else
    shapes = {{Shape{2, 3}, Shape{2, 3}}, {Shape{2, 3}, Shape{3}}, {Shape{3}, Shape{2, 3}}, {Shape{2, 1}, Shape{1, 3}},
              {Shape{4, 1, 3}, Shape{2, 1}}, {Shape{}, Shape{2, 3}}, {Shape{2, 3}, Shape{}}};
  std::vector<Case> cases;
  uint64_t seed = 100;
  for (const auto& in : shapes) {
    Case c{f, {}};
    for (int i = 0; i < arity; ++i) c.inputs.push_back(draw(s.domains[i], in[i], seed++));
    cases.push_back(c);
  }
  return cases;
}

TEST(GradientCoverage, EveryRegisteredOpIsCheckedOrSaysWhyNot) {
  register_ops();
  std::set<std::string> described;
  for (const Spec& s : elementwise_specs()) described.insert(s.type);
  const OpRegistry& reg = OpRegistry::global();
  for (const std::string& type : reg.types()) {
    const OpDef& def = reg.get(type);
    const bool checked =
        described.count(type) || other_checks().count(type) || checked_through_a_variable().count(type);
    if (type == "PreventGradient") continue;  // its gradient raises by design: tested below
    if (def.grad_fn && !def.no_gradient) {
      EXPECT_TRUE(checked) << type << " has a gradient but no gradient check: add one to other_checks()";
      EXPECT_TRUE(def.no_gradient_reason.empty()) << type << " has a gradient and a reason not to";
    } else {
      EXPECT_FALSE(def.no_gradient_reason.empty())
          << type << " has no gradient and does not say why: register it with .not_differentiable(reason) or "
          << ".without_gradient(reason)";
      EXPECT_FALSE(other_checks().count(type)) << type << " is checked but has no gradient";
      RecordProperty(type, def.no_gradient_reason);
    }
  }
  for (const auto& [type, cases] : other_checks()) EXPECT_NE(reg.find(type), nullptr) << type << " is not registered";
  for (const auto& [type, where] : checked_through_a_variable()) {
    const OpDef* def = reg.find(type);
    ASSERT_NE(def, nullptr) << type << " is not registered";
    EXPECT_TRUE(def->inputs.at(0).is_ref) << type << " takes no reference: check it in other_checks()";
    RecordProperty(type, where);
  }
}

TEST(GradientCoverage, PreventGradientRaisesNamingItsMessage) {
  Graph g;
  auto x = placeholder(g, f64, Shape{2}, "x");
  auto y = prevent_gradient(x * x, "no second derivative here");
  testing::expect_error([&] { gradients({reduce_sum(y)}, {x}); }, Code::kInvalidArgument,
                        {"Gradient explicitly disabled", "no second derivative here", "PreventGradient"});
}

TEST(GradientCoverage, ElementwiseOpsFromTheirDescriptions) {
  register_ops();  // the registry is read before any builder runs
  int checked = 0;
  for (const Spec& s : elementwise_specs()) {
    if (s.not_differentiable) continue;
    for (const Case& c : cases_of(s)) {
      SCOPED_TRACE(str_cat(s.type, " ", c.inputs[0].shape(), c.inputs.size() > 1 ? str_cat(" ", c.inputs[1].shape()) : ""));
      expect_gradients_match(c.f, c.inputs);
    }
    ++checked;
  }
  EXPECT_GE(checked, 30);
}

TEST(GradientCoverage, OtherOps) {
  for (const auto& [type, cases] : other_checks()) {
    for (size_t i = 0; i < cases.size(); ++i) {
      SCOPED_TRACE(str_cat(type, " case ", i));
      if (cases[i].float32) testing::expect_float32_gradients_match(cases[i].f, cases[i].inputs);
      else expect_gradients_match(cases[i].f, cases[i].inputs);
    }
  }
}

}  // namespace
}  // namespace fg
