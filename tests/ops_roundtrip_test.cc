// A graph using every op of the shape, indexing, cumulative, nn-loss and TF1 math families exports to a
// GraphDef, imports back, and evaluates to the same values.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <set>

#include "graph/gradients.h"
#include "graph/graph_io.h"
#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/cumulative.h"
#include "ops/indexing.h"
#include "ops/math.h"
#include "ops/nn.h"
#include "ops/nn_losses.h"
#include "ops/shape_ops.h"
#include "runtime/session.h"
#include "tests/test_util.h"

namespace fg {
namespace {

TEST(OpsRoundTrip, EveryNewOpExportsImportsAndEvaluatesEqual) {
  Graph g;
  auto x = placeholder(g, f32, {-1, 4}, "x");
  auto ids = placeholder(g, i32, {-1}, "ids");
  std::vector<Output> fetches;
  {
    auto s = g.name_scope("shape_ops");
    auto t = tile(x, {1, 2});
    auto sn = shape_n({x, t});
    auto st = stack({x, x * 2.0f}, 1);
    auto parts = unstack(st, 1);
    auto c = concat({parts[0], parts[1]}, -1);
    Operation* off = OpBuilder(g, "ConcatOffset", "ConcatOffset").input(constant(g, Tensor(1)))
                         .input_list({sn[0], sn[0]}).build();
    auto tr = transpose(c, {1, 0});
    auto inv = invert_permutation(constant(g, Tensor::from_vector<int32_t>({2, 0, 1})));
    auto p = pad(x, {{1, 0}, {0, 2}});
    auto pg = prevent_gradient(x, "why not");
    fetches.insert(fetches.end(), {t, sn[0], sn[1], size(x), rank(x), range(g, 1, 10, 4), st, parts[1], c,
                                   off->output(1), tr, inv, p, pg});
  }
  {
    auto s = g.name_scope("indexing");
    auto sl = slice(x, {0, 1}, {-1, 2});
    auto ss = strided_slice(x, {Slice{.step = -1}, NewAxis, Slice{1, 4, 2}});
    auto ssg = gradients({reduce_sum(ss * 3.0f)}, {x})[0];  // StridedSliceGrad
    auto ga = gather(x, ids, 1);
    Output v1 = OpBuilder(g, "Gather", "Gather").input(x).input(constant(g, Tensor::from_vector<int32_t>({0, 0})))
                    .build_output();
    auto uss = unsorted_segment_sum(x, constant(g, Tensor::from_vector<int32_t>({1, 0, 1})), constant(g, Tensor(2)));
    auto ds = dynamic_stitch({constant(g, Tensor::from_vector<int32_t>({1, 0})), constant(g, Tensor::from_vector<int32_t>({2}))},
                             {constant(g, Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2})),
                              constant(g, Tensor::from_vector<float>({5, 6}, {1, 2}))});
    auto oh = one_hot(ids, 4, 2.0, -1.0);
    auto [diff, diff_idx] = setdiff1d(ids, constant(g, Tensor::from_vector<int32_t>({3})));
    fetches.insert(fetches.end(), {sl, ss, ssg, ga, v1, uss, ds, oh, diff, diff_idx});
  }
  {
    auto s = g.name_scope("cumulative");
    auto cs = cumsum(x, 1, true);
    auto cp = cumprod(x, 0, false, true);
    auto dprod = gradients({reduce_sum(reduce_prod(x, {1}))}, {x})[0];  // Prod's gradient (Cumprod, ...)
    fetches.insert(fetches.end(), {cs, cp, dprod});
  }
  {
    auto s = g.name_scope("losses");
    auto labels = nn::softmax(x * 0.5f);
    auto xent = nn::softmax_cross_entropy_with_logits_v2(labels, x);
    auto dxent = gradients({reduce_sum(xent)}, {x})[0];
    Output k1 = OpBuilder(g, "InTopK", "InTopK").input(x).input(constant(g, Tensor::from_vector<int32_t>({0, 3, 1})))
                    .attr("k", int64_t{2}).build_output();
    fetches.insert(fetches.end(), {xent, dxent, nn::l2_loss(x), k1});
  }

  {
    auto s = g.name_scope("math");
    auto pos = x * x + 0.5f;
    auto grads = gradients({reduce_sum(sqrt(pos) + rsqrt(pos) + reciprocal(pos))}, {x})[0];  // *Grad ops
    auto fd = floordiv(x, constant(g, Tensor(0.3f)));
    auto fm = floormod(x, constant(g, Tensor::from_vector<float>({0.3f, -0.7f, 1.1f, 0.2f})));
    auto dv = div(ids, constant(g, Tensor(int32_t{2})));
    fetches.insert(fetches.end(), {x + x, grads, fd, fm, dv});
  }

  const tensorflow::GraphDef gd = to_graph_def(g, {.add_shapes = true});
  std::set<std::string> types;
  for (const auto& n : gd.node()) types.insert(n.op());
  for (const char* t : {"Tile", "ShapeN", "Size", "Rank", "Range", "Pack", "Unpack", "ConcatV2", "ConcatOffset",
                        "Transpose", "InvertPermutation", "Pad", "PreventGradient", "Slice", "StridedSlice",
                        "StridedSliceGrad", "Gather", "GatherV2", "UnsortedSegmentSum", "DynamicStitch", "OneHot",
                        "ListDiff", "Cumsum", "Cumprod", "Prod", "SoftmaxCrossEntropyWithLogits", "L2Loss", "InTopK",
                        "Add", "SqrtGrad", "RsqrtGrad", "ReciprocalGrad", "FloorDiv", "FloorMod", "Div"})
    EXPECT_TRUE(types.count(t)) << t << " is not in the graph";

  Graph g2;
  import_graph_def(g2, gd, {.prefix = ""});
  ASSERT_EQ(g2.num_operations(), g.num_operations());
  for (Operation* op : g2.get_operations()) EXPECT_FALSE(op->def().opaque) << op->name() << " imported opaque";
  // The round trip is exact: exporting the import gives the same GraphDef.
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(to_graph_def(g2, {.add_shapes = true}), gd));

  std::vector<Output> fetches2;
  for (const Output& f : fetches) fetches2.push_back(g2.get_tensor_by_name(f.name()));
  const Tensor xv = testing::random_tensor({3, 4}, 7, -1, 1, f32);
  const Tensor iv = Tensor::from_vector<int32_t>({3, 0, 3, 2});
  Session s1(g), s2(g2);
  const auto a = s1.run({{x, xv}, {ids, iv}}, fetches);
  const auto b = s2.run({{g2.get_tensor_by_name("x:0"), xv}, {g2.get_tensor_by_name("ids:0"), iv}}, fetches2);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(a[i].equals(b[i])) << fetches[i].name() << ": " << a[i] << " vs " << b[i];
    EXPECT_EQ(fetches2[i].shape(), fetches[i].shape()) << fetches[i].name();
  }
}

}  // namespace
}  // namespace fg
