// TF's summary ops (ScalarSummary, HistogramSummary, MergeSummary): their outputs decoded with the
// independent wire reader (tests/event_file_check.h, TF's field numbers), their nodes checked
// against TF's op definitions, and a graph holding them exported, imported and written to an
// event file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <fstream>
#include <limits>

#include "graph/graph_io.h"
#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/math.h"
#include "ops/summary.h"
#include "runtime/session.h"
#include "summary/file_writer.h"
#include "tests/event_file_check.h"
#include "tests/test_util.h"
#include "tests/tf_graph_check.h"
#include "train/meta_graph.h"

namespace fg {
namespace {

using testing::CheckedValue;
using testing::decode_wire;
using testing::expect_invalid_argument;

// Summary by TF's numbers: value 1 (repeated).
std::vector<CheckedValue> decode_summary(const Tensor& t) {
  EXPECT_EQ(t.dtype(), DType::kString);
  EXPECT_EQ(t.shape().rank(), 0);
  std::vector<CheckedValue> values;
  for (const auto& f : decode_wire(std::string(t.str(0)))) {
    EXPECT_EQ(f.number, 1u);
    EXPECT_EQ(f.wire_type, 2);
    values.push_back(testing::decode_value(f.bytes));
  }
  return values;
}

// HistogramProto by TF's numbers: min 1, max 2, num 3, sum 4, sum_squares 5, bucket_limit 6,
// bucket 7 (the repeated doubles packed, as proto3 writes them).
struct CheckedHisto {
  double min = 0, max = 0, num = 0, sum = 0, sum_squares = 0;
  std::vector<double> limits, counts;
};

std::vector<double> packed_doubles(const std::string& bytes) {
  EXPECT_EQ(bytes.size() % 8, 0u);
  std::vector<double> out;
  size_t pos = 0;
  while (pos + 8 <= bytes.size()) out.push_back(testing::as_double(testing::read_fixed(bytes, pos, 8)));
  return out;
}

CheckedHisto decode_histo(const std::string& bytes) {
  CheckedHisto h;
  for (const auto& f : decode_wire(bytes)) {
    const double d = testing::as_double(f.scalar);
    switch (f.number) {
      case 1: h.min = d; break;
      case 2: h.max = d; break;
      case 3: h.num = d; break;
      case 4: h.sum = d; break;
      case 5: h.sum_squares = d; break;
      case 6: EXPECT_EQ(f.wire_type, 2); h.limits = packed_doubles(f.bytes); break;
      case 7: EXPECT_EQ(f.wire_type, 2); h.counts = packed_doubles(f.bytes); break;
      default: ADD_FAILURE() << "HistogramProto field " << f.number;
    }
  }
  return h;
}

// TF's default limits above zero, spelled out independently: 1e-12 growing by 10% while below
// 1e20, then DBL_MAX.
std::vector<double> tf_positive_limits() {
  std::vector<double> l;
  for (double v = 1e-12; v < 1e20; v *= 1.1) l.push_back(v);
  l.push_back(DBL_MAX);
  return l;
}

double pos_last_finite() {
  const auto l = tf_positive_limits();
  return l[l.size() - 2];
}

TEST(SummaryOps, ScalarIsTfsScalarSummaryAndItsTagIsTheNodeName) {
  Graph g;
  auto x = placeholder(g, f32, {}, "x");
  Output s = summary::scalar("loss", x * 2.0f);
  Output s2 = summary::scalar("loss", x);
  Output s3;
  {
    auto scope = g.name_scope("train");
    s3 = summary::scalar("acc uracy", cast(x, i32));  // cleaned like TF's clean_tag
  }
  Output s4 = summary::scalar("lr", x, {.collections = {}, .family = "opt"});
  EXPECT_EQ(s.op()->name(), "loss");
  EXPECT_EQ(s.op()->type(), "ScalarSummary");
  EXPECT_EQ(s.op()->input(0).op()->name(), "loss/tags");
  EXPECT_EQ(s2.op()->name(), "loss_1");
  EXPECT_EQ(s3.op()->name(), "train/acc_uracy");
  EXPECT_EQ(s4.op()->name(), "opt/lr");
  EXPECT_EQ(s.dtype(), DType::kString);
  EXPECT_EQ(s.shape().rank(), 0);
  // In GraphKeys::SUMMARIES unless told otherwise.
  EXPECT_EQ(g.get_collection(GraphKeys::SUMMARIES).size(), 3u);

  Session sess(g);
  auto r = sess.run({{x, Tensor(1.25f)}}, {s, s2, s3, s4});
  auto v = decode_summary(r[0]);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].tag, "loss");
  EXPECT_TRUE(v[0].has_simple_value);
  EXPECT_EQ(v[0].simple_value, 2.5f);
  EXPECT_EQ(decode_summary(r[1])[0].tag, "loss_1");
  EXPECT_EQ(decode_summary(r[2])[0].tag, "train/acc_uracy");
  EXPECT_EQ(decode_summary(r[2])[0].simple_value, 1.0f);
  EXPECT_EQ(decode_summary(r[3])[0].tag, "opt/opt/lr");  // TF prefixes the family again

  testing::expect_graph_is_tf(g.to_graph_def());
  expect_invalid_argument([&] { summary::scalar("v", placeholder(g, f32, {3}, "v")); },
                          {"summary::scalar('v')", "scalar"});
  expect_invalid_argument([&] { summary::scalar("e", Output()); }, {"empty Output", "'e'"});
}

TEST(SummaryOps, ScalarSummaryOfVectorsPairsTagsWithValues) {
  // The op itself takes tags and values of one shape (tf.summary.scalar's is the scalar case).
  Graph g;
  auto tags = constant(g, Tensor::from_vector<std::string>({"a", "b"}), "tags");
  auto values = placeholder(g, f64, {-1}, "values");
  Output s = OpBuilder(g, "ScalarSummary", "pairs").input(tags).input(values).build_output();
  Session sess(g);
  auto v = decode_summary(sess.run({{values, Tensor::from_vector<double>({0.5, -3})}}, s));
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].tag, "a");
  EXPECT_EQ(v[0].simple_value, 0.5f);
  EXPECT_EQ(v[1].tag, "b");
  EXPECT_EQ(v[1].simple_value, -3.0f);
  expect_invalid_argument([&] { sess.run({{values, Tensor::from_vector<double>({1, 2, 3})}}, s); },
                          {"tags and values not the same shape", "[2]", "[3]"});
}

TEST(SummaryOps, HistogramHasTfsDefaultBuckets) {
  Graph g;
  auto x = placeholder(g, f32, {-1}, "x");
  Output h = summary::histogram("weights", x);
  EXPECT_EQ(h.op()->type(), "HistogramSummary");
  EXPECT_EQ(h.op()->input(0).op()->name(), "weights/tag");
  Session sess(g);
  const std::vector<float> xs = {0.0f, 1.0f, 1.0f, -1.0f, 3.5f, 1e-13f, -250.0f};
  auto v = decode_summary(sess.run({{x, Tensor::from_vector<float>(xs)}}, h));
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].tag, "weights");
  EXPECT_FALSE(v[0].has_simple_value);
  const CheckedHisto hist = decode_histo(v[0].histo);
  EXPECT_EQ(hist.min, -250.0);
  EXPECT_EQ(hist.max, 3.5);
  EXPECT_EQ(hist.num, 7.0);
  double sum = 0, sq = 0;
  for (float f : xs) sum += f, sq += double(f) * f;
  EXPECT_DOUBLE_EQ(hist.sum, sum);
  EXPECT_DOUBLE_EQ(hist.sum_squares, sq);

  // Every limit written is one of TF's (or 0 or a negative one), increasing, and the last is
  // DBL_MAX; empty runs collapse into one bucket ending at the run's last limit.
  const auto pos = tf_positive_limits();
  std::vector<double> all;
  for (auto it = pos.rbegin(); it != pos.rend(); ++it) all.push_back(-*it);
  all.push_back(0.0);
  all.insert(all.end(), pos.begin(), pos.end());
  ASSERT_EQ(hist.limits.size(), hist.counts.size());
  ASSERT_FALSE(hist.limits.empty());
  EXPECT_EQ(hist.limits.back(), DBL_MAX);
  double total = 0;
  size_t prev = 0;
  for (size_t i = 0; i < hist.limits.size(); ++i) {
    auto it = std::find(all.begin(), all.end(), hist.limits[i]);
    ASSERT_NE(it, all.end()) << hist.limits[i] << " is not one of TF's limits";
    const size_t k = it - all.begin();
    if (i > 0) EXPECT_GT(k, prev);
    if (hist.counts[i] > 0 && i > 0) EXPECT_EQ(k, prev + 1) << "a full bucket spans one limit";
    if (hist.counts[i] == 0 && i + 1 < hist.limits.size()) EXPECT_GT(hist.counts[i + 1], 0);
    prev = k;
    total += hist.counts[i];
  }
  EXPECT_EQ(total, 7.0);
  // Each value counts in the bucket whose limit is the first above it.
  auto count_at = [&](double limit) {
    for (size_t i = 0; i < hist.limits.size(); ++i)
      if (hist.limits[i] == limit) return hist.counts[i];
    return -1.0;
  };
  auto first_above = [&](double v) { return *std::upper_bound(all.begin(), all.end(), v); };
  EXPECT_EQ(count_at(first_above(1.0)), 2.0);
  EXPECT_GT(first_above(1.0), 1.0);
  EXPECT_LE(first_above(1.0), 1.1);
  EXPECT_EQ(count_at(first_above(0.0)), 2.0);  // 0 and 1e-13 share the bucket up to 1e-12
  EXPECT_EQ(first_above(0.0), 1e-12);
  EXPECT_EQ(count_at(first_above(-1.0)), 1.0);
  EXPECT_LE(first_above(-1.0), -1.0 / 1.1 + 1e-9);
  EXPECT_EQ(count_at(first_above(3.5)), 1.0);
  EXPECT_EQ(count_at(first_above(-250.0)), 1.0);
  EXPECT_EQ(hist.limits.size(), 11u);  // 7 values in 5 buckets, 6 empty runs between and around

  // No values: TF's empty histogram, one empty bucket up to DBL_MAX.
  const CheckedHisto empty = decode_histo(decode_summary(sess.run({{x, Tensor(f32, {0})}}, h))[0].histo);
  EXPECT_EQ(empty.num, 0.0);
  EXPECT_EQ(empty.min, DBL_MAX);
  EXPECT_EQ(empty.max, -DBL_MAX);
  EXPECT_EQ(empty.limits, std::vector<double>{DBL_MAX});
  EXPECT_EQ(empty.counts, std::vector<double>{0.0});

  // Non-finite values are InvalidArgument naming the summary.
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  expect_invalid_argument([&] { sess.run({{x, Tensor::from_vector<float>({1, nan})}}, h); },
                          {"Nan in summary histogram for: weights"});
  expect_invalid_argument([&] { sess.run({{x, Tensor::from_vector<float>({-inf})}}, h); },
                          {"Infinity in summary histogram for: weights"});
}

TEST(SummaryOps, HistogramTakesTfsRealTypesAndDblMax) {
  Graph g;
  auto d = placeholder(g, f64, {-1}, "d");
  auto i = placeholder(g, i64, {-1}, "i");
  Output hd = summary::histogram("d", d);
  Output hi = summary::histogram("i", i);
  EXPECT_EQ(hd.op()->attr<DType>("T"), DType::kDouble);
  Session sess(g);
  auto r = sess.run({{d, Tensor::from_vector<double>({DBL_MAX, -DBL_MAX})}, {i, Tensor::from_vector<int64_t>({5, 5, -2})}},
                    {hd, hi});
  const CheckedHisto a = decode_histo(decode_summary(r[0])[0].histo);
  EXPECT_EQ(a.max, DBL_MAX);
  // -DBL_MAX counts in the bucket up to the largest finite negative limit; the one up to -DBL_MAX
  // stays empty, as in TF.
  ASSERT_GE(a.counts.size(), 3u);
  EXPECT_EQ(a.limits[0], -DBL_MAX);
  EXPECT_EQ(a.counts[0], 0.0);
  EXPECT_EQ(a.limits[1], -pos_last_finite());
  EXPECT_EQ(a.counts[1], 1.0);
  EXPECT_EQ(a.limits.back(), DBL_MAX);
  EXPECT_EQ(a.counts.back(), 1.0);
  const CheckedHisto b = decode_histo(decode_summary(r[1])[0].histo);
  EXPECT_EQ(b.num, 3.0);
  EXPECT_EQ(b.sum, 8.0);
  EXPECT_EQ(b.min, -2.0);
}

TEST(SummaryOps, MergeAndMergeAllCombineTheValues) {
  Graph g;
  auto x = placeholder(g, f32, {-1}, "x");
  Output loss = summary::scalar("loss", reduce_mean(x));
  Output hist = summary::histogram("x", x);
  Output other = summary::scalar("other", reduce_sum(x), {.collections = {"extra"}});
  Output merged = summary::merge_all(g);
  EXPECT_EQ(merged.op()->type(), "MergeSummary");
  EXPECT_EQ(merged.op()->name(), "Merge/MergeSummary");
  EXPECT_EQ(merged.op()->attr<int64_t>("N"), 2);
  Output named = summary::merge({loss, other}, "both");
  EXPECT_EQ(named.op()->name(), "both/both");
  EXPECT_FALSE(summary::merge_all(g, "nothing here"));

  Session sess(g);
  auto r = sess.run({{x, Tensor::from_vector<float>({1, 2, 3, 6})}}, {merged, named});
  auto v = decode_summary(r[0]);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].tag, "loss");
  EXPECT_EQ(v[0].simple_value, 3.0f);
  EXPECT_EQ(v[1].tag, "x_1");  // as in TF: the placeholder holds the name "x"
  EXPECT_EQ(decode_histo(v[1].histo).num, 4.0);
  auto w = decode_summary(r[1]);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[1].tag, "other");
  EXPECT_EQ(w[1].simple_value, 12.0f);

  // As TF: one tag twice is InvalidArgument at run time; bytes that are no Summary too.
  Output twice = summary::merge({loss, loss});
  expect_invalid_argument([&] { sess.run({{x, Tensor::from_vector<float>({1})}}, twice); },
                          {"Duplicate tag loss found in summary inputs"});
  Output junk = summary::merge({constant(g, Tensor("\x0a\xff not a summary"), "junk")});
  expect_invalid_argument([&] { sess.run(junk); }, {"Could not parse one of the summary inputs"});
  expect_invalid_argument([&] { summary::merge({}); }, {"summary::merge", "no inputs"});
  g.add_to_collection("bad", x.op());
  expect_invalid_argument([&] { summary::merge_all(g, "bad"); }, {"merge_all", "'bad'", "not a tensor"});

  testing::expect_graph_is_tf(g.to_graph_def());
}

TEST(SummaryOps, AGraphWithSummariesExportsImportsAndWritesEvents) {
  testing::TempDir dir;
  Graph g;
  auto x = placeholder(g, f32, {-1}, "x");
  {
    auto scope = g.name_scope("train");
    summary::scalar("loss", reduce_mean(x * x));
  }
  summary::histogram("values", x);
  Output merged = summary::merge_all(g);
  const tensorflow::MetaGraphDef meta = train::to_meta_graph_def(g);
  testing::expect_graph_is_tf(meta.graph_def());
  testing::expect_stripped_op_list_is_tf(meta);
  EXPECT_TRUE(meta.collection_def().count("summaries"));

  const Tensor feed = Tensor::from_vector<float>({0.5f, -2.0f, 4.0f});
  Session sess(g);
  const Tensor want = sess.run({{x, feed}}, merged);

  // A GraphDef import runs the same ops to the same bytes.
  Graph g2;
  import_graph_def(g2, g.to_graph_def(), {.prefix = ""});
  Session sess2(g2);
  const Tensor got = sess2.run({{g2.get_tensor_by_name("x:0"), feed}}, g2.get_tensor_by_name("Merge/MergeSummary:0"));
  EXPECT_EQ(got.str(0), want.str(0));

  // A meta-graph import keeps the summaries collection, so merge_all finds them again.
  Graph g3;
  train::import_meta_graph(g3, meta);
  ASSERT_EQ(g3.get_collection(GraphKeys::SUMMARIES).size(), 2u);
  Output merged3 = summary::merge_all(g3);
  Session sess3(g3);
  EXPECT_EQ(sess3.run({{g3.get_tensor_by_name("x:0"), feed}}, merged3).str(0), want.str(0));

  // Written with a FileWriter, read back with the independent reader.
  summary::FileWriter writer(dir / "logs", g);
  writer.add_summary(std::string(want.str(0)), 7);
  writer.close();
  const auto events = testing::read_event_file_independently(writer.path());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_FALSE(events[1].graph_def.empty());
  EXPECT_EQ(events[2].step, 7);
  ASSERT_EQ(events[2].values.size(), 2u);
  EXPECT_EQ(events[2].values[0].tag, "train/loss");
  EXPECT_FLOAT_EQ(events[2].values[0].simple_value, (0.25f + 4.0f + 16.0f) / 3);
  EXPECT_EQ(events[2].values[1].tag, "values");
  EXPECT_EQ(decode_histo(events[2].values[1].histo).num, 3.0);
}

TEST(SummaryOps, TensorFlowsOwnScalarSummaryImportsAndRuns) {
  // TF 1.12 wrote this graph with tf.summary.scalar('log_loss', loss) in scope "train".
  FG_REQUIRE_FIXTURE("tf1-bn-cond");
  const auto dir = testing::fixture_dir("tf1-bn-cond");
  Graph g;
  auto saver = train::import_meta_graph(g, (dir / "mini_project_final.ckpt.meta").string());
  ASSERT_TRUE(saver);
  Operation* op = g.get_operation_by_name("train/log_loss");
  EXPECT_EQ(op->type(), "ScalarSummary");
  EXPECT_EQ(op->attr<DType>("T"), DType::kFloat);
  EXPECT_EQ(op->input(0).op()->name(), "train/log_loss/tags");
  Output merged = summary::merge_all(g);
  ASSERT_TRUE(merged);
  EXPECT_EQ(merged.op()->input(0).op(), op);

  Session sess(g);
  saver->restore(sess, (dir / "mini_project_final.ckpt").string());
  Tensor X(f32, {16, 5828});
  Tensor y(i32, {16});
  std::ifstream fx(dir / "input.f32", std::ios::binary), fy(dir / "labels.i32", std::ios::binary);
  fx.read(reinterpret_cast<char*>(X.data<float>()), X.num_elements() * 4);
  fy.read(reinterpret_cast<char*>(y.data<int32_t>()), y.num_elements() * 4);
  ASSERT_TRUE(fx.good() && fy.good());
  const FeedDict feeds = {{g.get_tensor_by_name("X:0"), X}, {g.get_tensor_by_name("y:0"), y}};
  auto r = sess.run(feeds, {merged, g.get_tensor_by_name("loss/loss:0")});
  auto v = decode_summary(r[0]);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].tag, "train/log_loss");
  EXPECT_EQ(v[0].simple_value, r[1].scalar<float>());
  EXPECT_GT(v[0].simple_value, 0.0f);
}

}  // namespace
}  // namespace fg
