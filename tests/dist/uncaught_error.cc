// Run by dist_uncaught_error_ends_the_job under mpirun -np 2: rank 1 feeds a tensor of the wrong
// shape and dies of the uncaught InvalidArgument while rank 0 waits in the allreduce. dist::init's
// terminate handler must end the whole job with rank 1's message instead of leaving rank 0 there.
#include <cstdio>

#include "dist/dist.h"
#include "flowgraph.h"

using namespace fg;

int main(int argc, char** argv) {
  dist::init(&argc, &argv);
  Graph g;
  auto x = placeholder(g, f32, {4}, "x");
  auto mean = dist::allreduce(x);
  Session sess(g);
  const Tensor value = dist::rank() == 1 ? Tensor::from_vector<float>({1, 2, 3}) : Tensor::from_vector<float>({1, 2, 3, 4});
  sess.run({{x, value}}, mean);
  std::printf("rank %d: the step returned\n", dist::rank());
  return 0;
}
