// Dense-label softmax cross entropy and L2 loss, TF1's tf.nn spellings; and the InTopK op of
// TF's first version (k an attr), which graphs written before InTopKV2 hold.
//
//   Graph g;
//   auto logits = placeholder(g, f32, {-1, 10}, "logits");
//   auto onehot = placeholder(g, f32, {-1, 10}, "labels");
//   auto xent = nn::softmax_cross_entropy_with_logits_v2(onehot, logits);  // [batch]
//   auto loss = reduce_mean(xent);
//   auto w = placeholder(g, f32, {784, 10}, "w");
//   auto reg = 0.01f * nn::l2_loss(w);                                      // sum(w^2) / 2
#pragma once
#include <string>

#include "graph/graph.h"

namespace fg::nn {

// tf.nn.softmax_cross_entropy_with_logits_v2: per-example loss (the input shape without `axis`);
// gradients flow to logits and labels. Built as TF1 builds it: the inputs flattened to
// [batch, classes] around one SoftmaxCrossEntropyWithLogits op (its scope's name).
Output softmax_cross_entropy_with_logits_v2(const Output& labels, const Output& logits, int64_t axis = -1,
                                            const std::string& name = "");
// tf.nn.softmax_cross_entropy_with_logits (v1): the same with labels behind a StopGradient
// (scope "softmax_cross_entropy_with_logits_sg").
Output softmax_cross_entropy_with_logits(const Output& labels, const Output& logits, int64_t axis = -1,
                                         const std::string& name = "");
// sum(t^2) / 2 (L2Loss).
Output l2_loss(const Output& t, const std::string& name = "");

}  // namespace fg::nn

namespace fg {
}  // namespace fg
