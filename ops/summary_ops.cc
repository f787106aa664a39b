#include <algorithm>
#include <cctype>
#include <cfloat>
#include <cmath>
#include <unordered_set>

#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/internal/register.h"
#include "ops/summary.h"
#include "proto/summary.pb.h"

namespace fg {

namespace summary {

namespace {

// TF's clean_tag: characters other than letters, digits, '_', '-', '.', '/' become '_', and a
// leading '/' goes.
std::string clean_tag(const std::string& name) {
  std::string out;
  for (char c : name) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '/';
    out += ok ? c : '_';
  }
  while (!out.empty() && out[0] == '/') out.erase(0, 1);
  return out;
}

// As TF's summary_scope: the node's name is the summary's name (with the family before it), in
// the current name scope and uniquified like a scope; the tag is that name (the family prefixed
// again), held by a Const named after the op's tag input inside that scope.
Output build_summary(const char* type, const char* tag_input, const std::string& name, const Output& values,
                     const SummaryOptions& options) {
  FG_CHECK(values, InvalidArgument, type, ": an empty Output for summary '", name, "'");
  Graph& g = *values.graph();
  const std::string family = clean_tag(options.family);
  const std::string base = family.empty() ? clean_tag(name) : family + "/" + clean_tag(name);
  FG_CHECK(!base.empty(), InvalidArgument, type, ": a summary needs a name");
  const std::string full = g.composite_name(base);
  const std::string tag = family.empty() ? full : family + "/" + full;
  Output tags;
  {
    auto scope = g.name_scope(full + "/");
    tags = constant(g, Tensor(tag), tag_input);
  }
  Output out = OpBuilder(g, type, full + "/").input(tags).input(values).build_output();
  for (const auto& key : options.collections) g.add_to_collection(key, out);
  return out;
}

}  // namespace

Output scalar(const std::string& name, const Output& tensor, const SummaryOptions& options) {
  FG_CHECK(!tensor || !tensor.shape().known_rank() || tensor.shape().rank() == 0, InvalidArgument,
           "summary::scalar('", name, "'): the tensor must be a scalar, not ", tensor.shape().to_string());
  return build_summary("ScalarSummary", "tags", name, tensor, options);
}

Output histogram(const std::string& name, const Output& values, const SummaryOptions& options) {
  return build_summary("HistogramSummary", "tag", name, values, options);
}

Output merge(const std::vector<Output>& inputs, const std::string& name) {
  FG_CHECK(!inputs.empty(), InvalidArgument, "summary::merge: no inputs");
  for (const auto& in : inputs) FG_CHECK(in, InvalidArgument, "summary::merge: an empty Output among the inputs");
  // TF's naming: the op sits in a scope of its own, "Merge/MergeSummary" or "<name>/<name>".
  Graph& g = *inputs[0].graph();
  auto scope = g.name_scope(name.empty() ? "Merge" : name);
  return OpBuilder(g, "MergeSummary", name.empty() ? "MergeSummary" : name).input_list(inputs).build_output();
}

Output merge_all(Graph& g, const std::string& key) {
  std::vector<Output> inputs;
  for (const auto& item : g.get_collection(key)) {
    if (const auto* o = std::get_if<Output>(&item)) inputs.push_back(*o);
    else throw InvalidArgument(str_cat("summary::merge_all: collection '", key, "' holds '",
                                       collection_item_name(item), "', which is not a tensor"));
  }
  if (inputs.empty()) return Output();
  return merge(inputs);
}

}  // namespace summary

namespace {

Tensor serialized(const tensorflow::Summary& s) { return Tensor(s.SerializeAsString()); }

void scalar_summary_kernel(KernelContext& ctx) {
  const Tensor& tags = ctx.input(0);
  const Tensor& values = ctx.input(1);
  FG_CHECK(tags.shape() == values.shape(), InvalidArgument, "tags and values not the same shape: ",
           tags.shape().to_string(), " != ", values.shape().to_string());
  tensorflow::Summary s;
  dispatch_numeric(values.dtype(), "ScalarSummary", [&]<typename T>() {
    const T* v = values.data<T>();
    for (int64_t i = 0; i < values.num_elements(); ++i) {
      auto* value = s.add_value();
      value->set_tag(std::string(tags.str(i)));
      value->set_simple_value(static_cast<float>(v[i]));
    }
  });
  ctx.set_output(0, serialized(s));
}

// TF's default histogram bucket limits.
const std::vector<double>& default_bucket_limits() {
  static const std::vector<double> limits = [] {
    std::vector<double> pos;
    for (double v = 1.0e-12; v < 1.0e20; v *= 1.1) pos.push_back(v);
    pos.push_back(DBL_MAX);
    std::vector<double> all;
    for (auto it = pos.rbegin(); it != pos.rend(); ++it) all.push_back(-*it);
    all.push_back(0.0);
    all.insert(all.end(), pos.begin(), pos.end());
    return all;
  }();
  return limits;
}

void histogram_summary_kernel(KernelContext& ctx) {
  const Tensor& tag = ctx.input(0);
  const Tensor& values = ctx.input(1);
  FG_CHECK(tag.shape().rank() == 0, InvalidArgument, "tags must be scalar, got ", tag.shape().to_string());
  const std::string name(tag.str(0));
  const auto& limits = default_bucket_limits();
  std::vector<double> counts(limits.size(), 0.0);
  double mn = limits.back(), mx = -DBL_MAX, num = 0, sum = 0, sum_squares = 0;
  dispatch_numeric(values.dtype(), "HistogramSummary", [&]<typename T>() {
    const T* p = values.data<T>();
    for (int64_t i = 0; i < values.num_elements(); ++i) {
      const double v = static_cast<double>(p[i]);
      if (std::isnan(v)) throw InvalidArgument("Nan in summary histogram for: " + name);
      if (std::isinf(v)) throw InvalidArgument("Infinity in summary histogram for: " + name);
      // The first limit above v bounds its bucket; DBL_MAX itself goes in the last.
      const size_t b = std::upper_bound(limits.begin(), limits.end(), v) - limits.begin();
      counts[std::min(b, limits.size() - 1)] += 1;
      mn = std::min(mn, v);
      mx = std::max(mx, v);
      num += 1;
      sum += v;
      sum_squares += v * v;
    }
  });
  tensorflow::Summary s;
  auto* value = s.add_value();
  value->set_tag(name);
  auto* h = value->mutable_histo();
  h->set_min(mn);
  h->set_max(mx);
  h->set_num(num);
  h->set_sum(sum);
  h->set_sum_squares(sum_squares);
  // Runs of empty buckets are written as one, ending at the run's last limit.
  for (size_t i = 0; i < counts.size();) {
    double end = limits[i], count = counts[i];
    ++i;
    if (count <= 0)
      while (i < counts.size() && counts[i] <= 0) end = limits[i], count = counts[i], ++i;
    h->add_bucket_limit(end);
    h->add_bucket(count);
  }
  ctx.set_output(0, serialized(s));
}

void merge_summary_kernel(KernelContext& ctx) {
  tensorflow::Summary merged;
  std::unordered_set<std::string> tags;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    const Tensor& in = ctx.input(i);
    for (int64_t k = 0; k < in.num_elements(); ++k) {
      tensorflow::Summary s;
      const std::string_view bytes = in.str(k);
      FG_CHECK(s.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())), InvalidArgument,
               "Could not parse one of the summary inputs (input ", i, ")");
      for (const auto& v : s.value()) {
        FG_CHECK(v.tag().empty() || tags.insert(v.tag()).second, InvalidArgument, "Duplicate tag ", v.tag(), " found in summary inputs");
        *merged.add_value() = v;
      }
    }
  }
  ctx.set_output(0, serialized(merged));
}

void scalar_output(InferenceContext& c) { c.set_output(0, Shape::scalar()); }

void scalar_summary_shape(InferenceContext& c) {
  if (c.input_shape(0).known_rank() && c.input_shape(1).known_rank() && !c.input_shape(0).compatible_with(c.input_shape(1)))
    c.fail(str_cat("tags and values not the same shape: ", c.input_shape(0).to_string(), " != ",
                   c.input_shape(1).to_string()));
  c.set_output(0, Shape::scalar());
}

constexpr const char* kWhy = "a summary reports values to TensorBoard; nothing in the model depends on it";

}  // namespace

void register_summary_ops(OpRegistry& r) {
  r.add("ScalarSummary").input("tags", DType::kString).input("values", "T").output("summary", DType::kString)
      .type_attr("T", kNumericTypes).shape(scalar_summary_shape).kernel_fn(scalar_summary_kernel)
      .not_differentiable(kWhy);
  r.add("HistogramSummary").input("tag", DType::kString).input("values", "T").output("summary", DType::kString)
      .type_attr("T", kNumericTypes).attr("T", DType::kFloat).shape(scalar_output).kernel_fn(histogram_summary_kernel)
      .not_differentiable(kWhy);
  r.add("MergeSummary").list_input("inputs", "string", "N").output("summary", DType::kString).attr("N")
      .shape(scalar_output).kernel_fn(merge_summary_kernel).not_differentiable(kWhy);
}

}  // namespace fg
