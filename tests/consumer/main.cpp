// A user's program built against the installed package: y = relu(x W + b), one GD step. Given a
// directory, it also leaves there what the installed tools read (scripts/test_install.sh runs
// them): a checkpoint with its meta graph, and event files with the graph and the loss.
#include <flowgraph/flowgraph.h>

#include <cmath>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  using namespace fg;
  Graph g;
  auto x = placeholder(g, f32, {-1, 2}, "x");
  auto w = variable(constant(g, Tensor::from_vector<float>({1, -1, 2, 0.5f}, {2, 2})), {.name = "w"});
  auto y = nn::relu(matmul(x, w));
  auto loss = reduce_sum(y);
  auto step = train::GradientDescentOptimizer(0.5).minimize(loss);
  Session sess(g);
  sess.run(global_variables_initializer(g));
  const Tensor xv = Tensor::from_vector<float>({1, 1}, {1, 2});
  const float before = sess.run({{x, xv}}, loss).scalar<float>();
  sess.run({{x, xv}}, {}, {step});
  const float after = sess.run({{x, xv}}, loss).scalar<float>();
  // relu([1,1] W) = [3, 0]: loss 3; the step moves column 0 by -0.5 per input: loss 2.
  if (std::abs(before - 3.0f) > 1e-6f || std::abs(after - 2.0f) > 1e-6f) {
    std::cerr << "consumer: expected loss 3 then 2, got " << before << " then " << after << "\n";
    return 1;
  }
  if (argc > 1) {
    const std::string dir = argv[1];
    identity(y, "y");
    train::Saver(g).save(sess, dir + "/model.ckpt");
    summary::FileWriter writer(dir + "/logs", g);
    writer.add_summary(summary::scalar_value("loss", before), 0);
    writer.add_summary(summary::scalar_value("loss", after), 1);
    writer.close();
  }
  std::cout << "consumer: installed flowgraph works (loss " << before << " -> " << after << ")\n";
  return 0;
}
