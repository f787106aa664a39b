// Neural-network ops, TF1's tf.nn: activations, bias, softmax, losses, top-k, batch normalization.
//
//   auto h = nn::relu(nn::bias_add(matmul(X, W), b));
//   auto h2 = layers::dense(h, 100, {.activation = nn::elu});
//   auto [mean, variance] = nn::moments(x, {0});
//   auto bn = nn::fused_batch_norm(x, gamma, beta, Output(), Output());      // training: batch statistics
//   auto xent = nn::sparse_softmax_cross_entropy_with_logits(y, logits);   // labels, logits
//   auto correct = nn::in_top_k(logits, y, 1);
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "graph/graph.h"

namespace fg::nn {

Output relu(const Output& features, const std::string& name = "");
// Activations, TF1's tf.nn spellings and op types (Elu, Selu, LeakyRelu, Sigmoid, Tanh, Softplus, Relu6,
// Softsign).
// Each fits `Output (*)(const Output&, const std::string&)`, so `{.activation = nn::elu}` works.
Output elu(const Output& features, const std::string& name = "");
// scale * elu(x) with TF's alpha = 1.6732632423543772848170429916717, scale = 1.0507009873554804934193349852946.
Output selu(const Output& features, const std::string& name = "");
// x for x > 0, alpha * x otherwise (any alpha: not max(x, alpha * x)).
Output leaky_relu(const Output& features, float alpha = 0.2f, const std::string& name = "");
// TF1's default alpha = 0.2, shaped like the other activations so `nn::leaky_relu` converts to that
// function pointer type (the call `leaky_relu(x)` picks the overload above).
Output leaky_relu(const Output& features, const std::string& name);
Output sigmoid(const Output& x, const std::string& name = "");
Output tanh(const Output& x, const std::string& name = "");
// log(1 + exp(x)), accurate for every x: no overflow far right, no rounding to 0 far left.
Output softplus(const Output& features, const std::string& name = "");
Output relu6(const Output& features, const std::string& name = "");
// x / (1 + |x|).
Output softsign(const Output& features, const std::string& name = "");
Output bias_add(const Output& value, const Output& bias, const std::string& name = "");
Output softmax(const Output& logits, const std::string& name = "");
Output log_softmax(const Output& logits, const std::string& name = "");
// Per-example loss (shape [batch]); labels int32/int64 in [0, classes), else InvalidArgument.
Output sparse_softmax_cross_entropy_with_logits(const Output& labels, const Output& logits,
                                                const std::string& name = "");

// ---- batch normalization

// FusedBatchNorm's outputs. `op` gives access to the rest (the reserve spaces).
struct FusedBatchNormResult {
  Output y, batch_mean, batch_variance;
  Operation* op = nullptr;
};

// TF's FusedBatchNorm over the last (channel) axis of float32 x, rank 2 ([N, C]) or 4 (NHWC);
// scale, offset, mean, variance are [C]. Training: normalizes with the batch mean and biased variance and
// returns batch_variance *unbiased* (x N/(N-1)), as TF does; mean and variance may be none then.
// Inference: normalizes with mean and variance and returns them. Like TF's wrapper, epsilon is
// raised to at least 1.001e-5. Gradients flow to x, scale and offset (none to mean/variance);
// unlike TF, gradients reaching batch_mean / batch_variance in training are not dropped.
FusedBatchNormResult fused_batch_norm(const Output& x, const Output& scale, const Output& offset, const Output& mean,
                                      const Output& variance, double epsilon = 0.001, bool is_training = true,
                                      const std::string& name = "FusedBatchNorm");
// tf.nn.moments: mean and (biased) variance over `axes`, built from primitives as TF1 does
// ("moments/mean", "moments/StopGradient", "moments/SquaredDifference", "moments/variance", and
// "moments/Squeeze", "moments/Squeeze_1" unless keep_dims). axes must not be empty.
std::pair<Output, Output> moments(const Output& x, const std::vector<int64_t>& axes, bool keep_dims = false,
                                  const std::string& name = "moments");
// tf.nn.batch_normalization: inv = rsqrt(variance + eps) * scale; x * inv + (offset - mean * inv),
// named as TF1 ("batchnorm/add", "batchnorm/Rsqrt", "batchnorm/mul", ...). offset and scale may be
// none Outputs (the term is left out).
Output batch_normalization(const Output& x, const Output& mean, const Output& variance, const Output& offset,
                           const Output& scale, double variance_epsilon, const std::string& name = "batchnorm");

// True where the target's logit is among the k largest (ties counted as TF does): fewer than k
// classes score strictly higher. An out-of-range target or a non-finite prediction gives false.
// predictions float32 [batch, classes], targets int32/int64 [batch]; k becomes a Const of the
// targets' dtype ("in_top_k/InTopKV2/k").
Output in_top_k(const Output& predictions, const Output& targets, int64_t k, const std::string& name = "");
// The same with k a scalar tensor of the targets' dtype.
Output in_top_k(const Output& predictions, const Output& targets, const Output& k, const std::string& name = "");

}  // namespace fg::nn
