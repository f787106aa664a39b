// The seed's cells [21] and [22], "Reusing Models From other Frameworks": setting a layer's
// kernel and bias to weights that came from elsewhere (here the seed's literal arrays).
//
// [21] feeds the initial-value inputs of the variables' initializers ("hidden/kernel/Assign"
// input 1) while running the global initializer; [22] reaches the variables again with
// variable_scope('', default_name='', reuse=True) + get_variable('hidden/kernel') and assigns
// them from placeholders after initializing. Both then evaluate relu([[10, 11]] W + b).
// The seed printed "[[ 61.  83. 105.]]" twice; this prints the same, numpy-style.
// Takes --epochs/--data/--seed like the other examples, but trains nothing and reads no data.
#include <cmath>
#include <cstdio>
#include <string>

#include "examples/example_util.h"
#include "flowgraph.h"

using namespace fg;

namespace {

// numpy's repr of a float32 matrix for the values this program prints: integral values as "61."
// right-aligned to the widest element, anything else with up to 8 significant digits.
std::string numpy_str(const Tensor& t) {
  const auto values = t.to_vector<float>();
  std::vector<std::string> cells;
  size_t width = 0;
  for (float v : values) {
    char buf[64];
    if (std::nearbyint(v) == v && std::fabs(v) < 1e16f) std::snprintf(buf, sizeof buf, "%.0f.", static_cast<double>(v));
    else std::snprintf(buf, sizeof buf, "%.8g", static_cast<double>(v));
    cells.emplace_back(buf);
    width = std::max(width, cells.back().size());
  }
  const int64_t rows = t.rank() == 2 ? t.dim(0) : 1, cols = t.rank() == 2 ? t.dim(1) : t.num_elements();
  std::string out = t.rank() == 2 ? "[" : "";
  for (int64_t r = 0; r < rows; ++r) {
    if (r > 0) out += "\n ";
    out += "[";
    for (int64_t c = 0; c < cols; ++c) {
      const std::string& cell = cells[static_cast<size_t>(r * cols + c)];
      if (c > 0) out += " ";
      out += std::string(width - cell.size(), ' ') + cell;
    }
    out += "]";
  }
  if (t.rank() == 2) out += "]";
  return out;
}

constexpr int64_t n_inputs = 2, n_hidden = 3;
// original_w = [[1., 2., 3.], [4., 5., 6.]], original_b = [7., 8., 9.], and the input [[10., 11.]].
Tensor original_w() { return Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}); }
Tensor original_b() { return Tensor::from_vector<float>({7, 8, 9}, {3}); }
Tensor X_value() { return Tensor::from_vector<float>({10, 11}, {1, 2}); }

// [21]: feed the initializers' inputs.
std::string cell21(const examples::Flags& flags) {
  Graph graph;
  auto X = placeholder(graph, f32, {-1, n_inputs}, "X");
  auto hidden = layers::dense(X, n_hidden, {.activation = nn::relu, .name = "hidden"});

  Operation* assign_kernel = graph.get_operation_by_name("hidden/kernel/Assign");
  Operation* assign_bias = graph.get_operation_by_name("hidden/bias/Assign");
  const Output init_kernel = assign_kernel->input(1);
  const Output init_bias = assign_bias->input(1);

  auto init = global_variables_initializer(graph);
  examples::export_graph(flags, graph, "cell21");
  Session sess(graph);
  sess.run({{init_kernel, original_w()}, {init_bias, original_b()}}, {}, {init});
  return numpy_str(sess.run({{X, X_value()}}, hidden));
}

// [22]: dedicated assign nodes fed from placeholders.
std::string cell22(const examples::Flags& flags) {
  Graph graph;
  auto X = placeholder(graph, f32, {-1, n_inputs}, "X");
  auto hidden = layers::dense(X, n_hidden, {.activation = nn::relu, .name = "hidden"});

  Variable hidden_weights, hidden_bias;
  {
    auto scope = graph.variable_scope("", {.reuse = true, .default_name = ""});
    hidden_weights = get_variable(graph, "hidden/kernel");
    hidden_bias = get_variable(graph, "hidden/bias");
  }
  auto original_weights = placeholder(graph, f32, {n_inputs, n_hidden});
  auto original_bias = placeholder(graph, f32, {n_hidden});
  auto assign_hidden_weights = assign(hidden_weights, original_weights);
  auto assign_hidden_bias = assign(hidden_bias, original_bias);

  auto init = global_variables_initializer(graph);
  examples::export_graph(flags, graph, "cell22");
  Session sess(graph);
  sess.run(init);
  sess.run({{original_weights, original_w()}}, {}, {assign_hidden_weights});
  sess.run({{original_bias, original_b()}}, {}, {assign_hidden_bias});
  return numpy_str(sess.run({{X, X_value()}}, hidden));
}

}  // namespace

int main(int argc, char** argv) {
  const auto flags = examples::parse_flags(argc, argv, 0);  // accepted for uniformity; nothing here trains
  examples::refuse_logdir(flags);
  std::printf("%s\n", cell21(flags).c_str());
  std::printf("%s\n", cell22(flags).c_str());
  return 0;
}
