// TF1's summary ops (tf.summary.scalar, histogram, merge, merge_all): each outputs a serialized
// Summary proto in a string scalar, which a FileWriter (summary/file_writer.h) writes for
// TensorBoard.
//
//   auto loss_summary = summary::scalar("loss", loss);          // ScalarSummary "loss"
//   summary::histogram("hidden1/weights", kernel);              // HistogramSummary
//   Output merged = summary::merge_all(g);                      // MergeSummary of GraphKeys::SUMMARIES
//   Tensor s = sess.run({{X, xb}, {y, yb}}, merged);
//   writer.add_summary(s.scalar<std::string>(), step);
//
// As in TF, a summary's tag is its node name, name scopes included ("train/loss", "loss_1" for
// the second "loss"); a node named "loss" reads its tag from the Const "loss/tags".
#pragma once
#include <string>
#include <vector>

#include "graph/graph.h"

namespace fg::summary {

struct SummaryOptions {
  // Graph collections the summary is added to.
  std::vector<std::string> collections = {GraphKeys::SUMMARIES};
  // A prefix for the tag and the name scope, as TF's `family` (TensorBoard groups by it).
  std::string family;
};

// ScalarSummary of a scalar real tensor (float, double, int32, int64, uint8): one value of
// that tag. A non-scalar is InvalidArgument when built (or run, when its shape is not static).
Output scalar(const std::string& name, const Output& tensor, const SummaryOptions& options = {});
// HistogramSummary with TF's default buckets (limits growing by 10% from 1e-12 to 1e20, and
// their negatives): count, min, max, sum, sum of squares and the non-empty buckets. A NaN or inf
// among the values is InvalidArgument naming the tag when run.
Output histogram(const std::string& name, const Output& values, const SummaryOptions& options = {});
// MergeSummary: the values of all `inputs` (string tensors of serialized Summaries) in one
// Summary. Two values of one tag are InvalidArgument when run; an input that is not a Summary too.
Output merge(const std::vector<Output>& inputs, const std::string& name = "");
// merge() of the collection `key`; an empty Output when it holds no summary (TF returns None).
Output merge_all(Graph& g, const std::string& key = GraphKeys::SUMMARIES);

}  // namespace fg::summary
