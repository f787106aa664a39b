// A data-parallel user's program built against the installed package (flowgraph::dist), run on
// two ranks: rank r's variable starts at r, the broadcast makes it rank 0's, and one step of
// DistributedOptimizer applies the gradient averaged over the ranks.
#include <flowgraph/dist/dist.h>
#include <flowgraph/flowgraph.h>

#include <cmath>
#include <iostream>

int main(int argc, char** argv) {
  using namespace fg;
  dist::init(&argc, &argv);
  const int rank = dist::rank(), size = dist::size();
  Graph g;
  auto x = placeholder(g, f32, {1}, "x");
  auto w = variable(constant(g, Tensor::from_vector<float>({float(rank)})), {.name = "w"});
  auto loss = reduce_sum(w * x);  // d loss / d w = x: rank r feeds r + 1
  auto step = dist::DistributedOptimizer(train::GradientDescentOptimizer(1.0)).minimize(loss);
  Session sess(g);
  sess.run(global_variables_initializer(g));
  dist::broadcast_global_variables(sess);
  const float start = sess.variable_value(w.op).data<float>()[0];
  sess.run({{x, Tensor::from_vector<float>({float(rank + 1)})}}, {}, {step});
  const float after = sess.variable_value(w.op).data<float>()[0];
  // From rank 0's 0, minus the mean of 1 .. size.
  const float expected = -(size + 1) / 2.0f;
  if (start != 0.0f || std::abs(after - expected) > 1e-6f) {
    std::cerr << "consumer_dist rank " << rank << ": expected w 0 then " << expected << ", got " << start << " then "
              << after << "\n";
    return 1;
  }
  if (rank == 0) std::cout << "consumer_dist: installed flowgraph::dist works on " << size << " ranks\n";
  return 0;
}
