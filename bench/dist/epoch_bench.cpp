// Epoch time of the seed's batch-norm model (GD 0.01, global batch 200) in one process or
// data-parallel, and the allreduce's share of a step (Session::set_profiling):
//
//   OMP_NUM_THREADS=1 mpirun -np 2 --bind-to core build/dist_epoch_bench --epochs 3
//   OMP_NUM_THREADS=2 build/dist_epoch_bench --plain --epochs 3
//   OMP_NUM_THREADS=1 build/dist_epoch_bench --plain --epochs 3
//
// --plain builds the single-process graph (no MPI ops); otherwise DistributedOptimizer's. Rank 0
// prints each epoch's seconds, then times one more epoch op by op.
#include <time.h>

#include <cstdio>
#include <cstring>

#include "core/parallel.h"
#include "dist/dist.h"
#include "flowgraph.h"
#include "dist/internal.h"
#include "examples/example_util.h"

using namespace fg;

int main(int argc, char** argv) {
  dist::init(&argc, &argv);
  bool plain = false;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--plain") == 0) plain = true;
    else args.push_back(argv[i]);
  }
  const auto flags = examples::parse_flags(static_cast<int>(args.size()), args.data(), 3, " [--plain]");
  const bool root = dist::rank() == 0;
  FG_CHECK(!plain || dist::size() == 1, InvalidArgument, "--plain runs in one process");
  const auto mnist = examples::load_mnist_or_exit(flags);

  Graph g;
  g.set_random_seed(static_cast<int64_t>(flags.seed));
  auto X = placeholder(g, f32, {-1, 784}, "X");
  auto training = placeholder_with_default(g, Tensor(false), {}, "training");
  auto bn = [&](const Output& x) { return layers::batch_normalization(x, {.training = training, .momentum = 0.9}); };
  auto bn1_act = nn::elu(bn(layers::dense(X, 300, {.name = "hidden1"})));
  auto bn2_act = nn::elu(bn(layers::dense(bn1_act, 100, {.name = "hidden2"})));
  auto logits = bn(layers::dense(bn2_act, 10, {.name = "outputs"}));
  auto y = placeholder(g, i32, Shape::unknown(), "y");
  auto loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(y, logits), {}, "loss");
  auto update_ops = g.get_collection(GraphKeys::UPDATE_OPS);
  train::GradientDescentOptimizer sgd(0.01);
  Operation* training_op = plain ? sgd.minimize(loss) : dist::DistributedOptimizer(sgd).minimize(loss);
  int64_t grad_bytes = 0;
  for (const Variable& v : trainable_variables(g)) grad_bytes += v.shape().num_elements() * 4;

  Session sess(g);
  sess.run(global_variables_initializer(g));
  if (!plain) dist::broadcast_global_variables(sess);
  auto step = sess.make_callable({training, X, y}, {}, {training_op, update_ops});
  const Tensor on(true);
  const int64_t batch = flags.batch_size > 0 ? flags.batch_size : 200;
  RandomEngine rng(flags.seed);
  const data::Shard shard{dist::rank(), dist::size()};
  // CPU seconds this process used (all its threads): on a loaded machine the wall time shows the
  // share the process got, the CPU time the work it did.
  auto cpu_seconds = [] {
    timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
  };
  double cpu = 0, cpu_allreduce = 0;
  auto epoch = [&] {
    examples::Stopwatch watch;
    const double cpu_start = cpu_seconds(), cpu_allreduce_start = dist::internal::allreduce_cpu_seconds();
    int64_t steps = 0;
    for (auto& [xb, yb] : data::shuffle_batch(mnist.train.images, mnist.train.labels, batch, rng, shard)) {
      step({on, xb, yb});
      ++steps;
    }
    cpu = cpu_seconds() - cpu_start;
    cpu_allreduce = dist::internal::allreduce_cpu_seconds() - cpu_allreduce_start;
    return std::pair{watch.seconds(), steps};
  };
  if (root)
    std::printf("%s, %d rank(s), %d thread(s) each, global batch %lld, %lld gradient bytes per step\n",
                plain ? "one process" : "data-parallel", dist::size(), num_threads(),
                static_cast<long long>(batch), static_cast<long long>(grad_bytes));
  for (int e = 0; e < flags.epochs; ++e) {
    const auto [seconds, steps] = epoch();
    if (root)
      std::printf("epoch %d: %.2f s (%.2f ms per step), CPU %.2f s of which %.2f s in MPIAllreduce\n", e, seconds,
                  1e3 * seconds / steps, cpu, cpu_allreduce);
  }
  sess.set_profiling(true);
  const auto [seconds, steps] = epoch();
  sess.set_profiling(false);
  double all_us = 0, allreduce_us = 0;
  for (const auto& p : sess.profile()) {
    all_us += p.total_us;
    if (p.type == "MPIAllreduce") allreduce_us += p.total_us;
  }
  if (root) {
    std::printf("profiled epoch: %.2f s; ops %.2f ms per step, MPIAllreduce %.3f ms per step (%.1f%% of the step)\n",
                seconds, all_us / 1e3 / steps, allreduce_us / 1e3 / steps, 100 * allreduce_us / 1e6 / seconds);
    int shown = 0;
    for (const auto& p : sess.profile()) {
      if (shown++ == 6) break;
      std::printf("  %-60s %-28s %8.3f ms per step\n", p.name.c_str(), p.type.c_str(), p.total_us / 1e3 / steps);
    }
  }
  return 0;
}
