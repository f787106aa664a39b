// TF1's tf.losses: per-example losses reduced with weights, added to the LOSSES collection, with
// TF's node names ("sparse_softmax_cross_entropy_loss/value", "total_loss", ...).
//
//   Graph g;
//   auto logits = placeholder(g, f32, {-1, 10}, "logits");
//   auto y = placeholder(g, i32, {-1}, "y");
//   auto loss = losses::sparse_softmax_cross_entropy(y, logits);  // mean over non-zero weights
//   auto w = placeholder(g, f32, {-1}, "w");
//   auto weighted = losses::sparse_softmax_cross_entropy(y, logits, {.weights = w});
//   auto total = losses::get_total_loss(g);                       // every loss + regularization
#pragma once
#include <string>
#include <variant>
#include <vector>

#include "graph/graph.h"

namespace fg::losses {

// TF's tf.losses.Reduction.
enum class Reduction {
  NONE,                      // the weighted losses, unreduced
  SUM,                       // their sum
  MEAN,                      // the sum divided by the sum of the weights
  SUM_OVER_BATCH_SIZE,       // the sum divided by the number of losses
  SUM_BY_NONZERO_WEIGHTS,    // the sum divided by the number of non-zero weights (TF's default)
  SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS,
};

struct LossOptions {
  // A scalar, or a tensor of the losses' rank whose dims are 1 or the losses' (checked when the
  // static shapes decide it; otherwise a mismatch fails when run).
  std::variant<double, Output> weights = 1.0;
  std::string scope;                                  // "" = the function's own scope name
  std::string loss_collection = GraphKeys::LOSSES;    // "" = add to no collection
  Reduction reduction = Reduction::SUM_BY_NONZERO_WEIGHTS;
  double label_smoothing = 0;                         // softmax_cross_entropy only
  double epsilon = 1e-7;                              // log_loss only
};

Output compute_weighted_loss(const Output& losses, const LossOptions& options = {});
// labels: class ids (int32/int64) of logits' shape minus its last dim.
Output sparse_softmax_cross_entropy(const Output& labels, const Output& logits, const LossOptions& options = {});
// onehot_labels: of logits' shape; label_smoothing moves them towards 1 / num_classes.
Output softmax_cross_entropy(const Output& onehot_labels, const Output& logits, const LossOptions& options = {});
Output mean_squared_error(const Output& labels, const Output& predictions, const LossOptions& options = {});
Output absolute_difference(const Output& labels, const Output& predictions, const LossOptions& options = {});
Output log_loss(const Output& labels, const Output& predictions, const LossOptions& options = {});

void add_loss(const Output& loss, const std::string& loss_collection = GraphKeys::LOSSES);
std::vector<Output> get_losses(Graph& g, const std::string& scope = "",
                               const std::string& loss_collection = GraphKeys::LOSSES);
std::vector<Output> get_regularization_losses(Graph& g, const std::string& scope = "");
// Their AddN, or a Const 0 when there are none.
Output get_regularization_loss(Graph& g, const std::string& scope = "",
                               const std::string& name = "total_regularization_loss");
// AddN of get_losses() (and the regularization losses); InvalidArgument when there are none.
Output get_total_loss(Graph& g, bool add_regularization_losses = true, const std::string& name = "total_loss");

}  // namespace fg::losses
