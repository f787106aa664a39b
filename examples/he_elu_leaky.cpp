// The seed's first three cells: He initialization (tf.variance_scaling_initializer(), whose TF1
// defaults are scale 1, fan_in, truncated normal), ELU, and a hand-written leaky ReLU
// (max(alpha z, z), alpha 0.01). Each cell builds one layer in a fresh graph; this prints each
// graph's ops and checks the activations on a small input.
#include <cmath>
#include <cstdio>

#include "examples/example_util.h"
#include "flowgraph.h"

using namespace fg;

namespace {

void list_ops(const Graph& g, const char* title) {
  std::printf("%s\n", title);
  for (Operation* op : g.get_operations()) std::printf("  %-60s %s\n", op->name().c_str(), op->type().c_str());
}

// Runs the layer on a fixed input and prints its statistics.
void describe(Graph& g, const Output& X, const Output& hidden) {
  Session sess(g);
  sess.run(global_variables_initializer(g));
  Tensor x = Tensor::empty(f32, {4, 784});
  for (int64_t i = 0; i < x.num_elements(); ++i) x.data<float>()[i] = float((i * 37) % 255) / 255.0f - 0.5f;
  Tensor h = sess.run({{X, x}}, hidden);
  float mn = 1e30f, mx = -1e30f;
  double sum = 0;
  for (float v : h.flat<float>()) { mn = std::min(mn, v); mx = std::max(mx, v); sum += v; }
  Tensor k = sess.run(g.get_tensor_by_name("hidden1/kernel:0"));
  double sq = 0;
  for (float v : k.flat<float>()) sq += double(v) * v;
  std::printf("  output %s min %.4f max %.4f mean %.4f; kernel std %.5f\n\n", h.shape().to_string().c_str(), mn, mx,
              sum / h.num_elements(), std::sqrt(sq / k.num_elements()));
}

}  // namespace

int main(int argc, char** argv) {
  const auto flags = examples::parse_flags(argc, argv, 0);
  examples::refuse_logdir(flags);
  const int64_t n_inputs = 28 * 28, n_hidden = 100;
  {
    Graph g;
    g.set_random_seed(static_cast<int64_t>(flags.seed));
    auto X = placeholder(g, f32, {-1, n_inputs});
    auto he_init = variance_scaling_initializer();
    auto hidden1 = layers::dense(X, n_hidden, {.activation = nn::relu, .kernel_initializer = he_init, .name = "hidden1"});
    list_ops(g, "He initialization + ReLU:");
    examples::export_graph(flags, g, "he");
    describe(g, X, hidden1);
  }
  {
    Graph g;
    g.set_random_seed(static_cast<int64_t>(flags.seed));
    auto X = placeholder(g, f32, {-1, n_inputs});
    // The seed creates he_init here but does not pass it (the layer keeps Glorot uniform).
    auto he_init = variance_scaling_initializer();
    (void)he_init;
    auto hidden1 = layers::dense(X, n_hidden, {.activation = nn::elu, .name = "hidden1"});
    list_ops(g, "ELU:");
    examples::export_graph(flags, g, "elu");
    describe(g, X, hidden1);
  }
  {
    Graph g;
    g.set_random_seed(static_cast<int64_t>(flags.seed));
    auto leaky_relu = [](const Output& z, float alpha = 0.01f) { return maximum(alpha * z, z); };
    auto X = placeholder(g, f32, {-1, n_inputs});
    auto hidden1 = layers::dense(X, n_hidden, {.activation = leaky_relu, .name = "hidden1"});
    list_ops(g, "leaky ReLU (max(0.01 z, z)):");
    examples::export_graph(flags, g, "leaky_relu");
    describe(g, X, hidden1);
  }
  return 0;
}
