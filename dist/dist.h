// Data-parallel training on MPI, the way Horovod does it for TF1: every process (rank) runs the
// same graph on its own part of each batch, gradients are averaged over the ranks by allreduce ops
// in the graph, variables start equal by one broadcast from rank 0, and only rank 0 writes files.
// Launched with `mpirun -np N program`; every collective is MPI's own.
//
//   #include "dist/dist.h"
//   #include "flowgraph.h"
//   using namespace fg;
//   int main(int argc, char** argv) {
//     dist::init(&argc, &argv);                             // MPI_Init, registers the ops
//     Graph g;
//     g.set_random_seed(42);
//     auto X = placeholder(g, f32, {-1, 784}, "X");
//     auto y = placeholder(g, i32, {-1}, "y");
//     auto logits = layers::dense(X, 10, {.name = "outputs"});
//     auto loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(y, logits), {}, "loss");
//     dist::DistributedOptimizer opt(train::GradientDescentOptimizer(0.01));
//     Operation* training_op = opt.minimize(loss);          // gradients averaged over the ranks
//     Session sess(g);
//     sess.run(global_variables_initializer(g));
//     dist::broadcast_global_variables(sess);               // every rank starts from rank 0's values
//     auto mnist = data::load_mnist(data::default_mnist_dir());
//     RandomEngine rng(42);                                 // the same seed on every rank
//     for (auto& [xb, yb] : dist::shuffle_batch(mnist.train.images, mnist.train.labels, 200, rng))
//       sess.run({{X, xb}, {y, yb}}, {}, {training_op});    // this rank's 200 / size() rows
//     if (dist::rank() == 0) train::Saver(g).save(sess, "model.ckpt");
//   }                                                       // MPI_Finalize at exit
//
// Every rank must build the same graph and run the same steps in the same order: a collective
// waits for all ranks. A rank that dies of an uncaught exception takes the job down with its
// message (MPI_Abort) instead of leaving the others waiting; a rank that catches an error from a
// step and goes on alone still leaves them waiting. Run steps from one thread at a time.
#pragma once
#include <string>
#include <vector>

#include "core/random.h"
#include "data/mnist.h"
#include "dist/optimizer.h"
#include "graph/op_registry.h"
#include "runtime/session.h"

namespace fg::dist {

// Initializes MPI (unless the program already did) and registers the ops (register_ops below).
// Call once, first thing in main, on every rank; later calls do nothing. MPI is finalized at exit,
// or by finalize().
// Installs a terminate handler that turns an uncaught exception into MPI_Abort with its message.
void init(int* argc = nullptr, char*** argv = nullptr);
bool initialized();
void finalize();

int rank();        // this process in the job, 0 .. size() - 1
int size();        // processes in the job
int local_rank();  // this process among those on its machine (which core or device to use)
int local_size();

// Ends every rank of the job now with `message` on stderr (MPI_Abort).
[[noreturn]] void abort(const std::string& message, int exit_code = 1);

// Fills the process-wide registry with flowgraph's ops (fg::register_ops()) and then the MPI ops,
// once; init() calls it, and so may a program that imports a dist graph before init(). Call it
// before other threads build graphs: the registry is read without a lock once filled.
void register_ops();
// Registers MPIAllreduce, MPISize, MPIRank, MPILocalRank (tf.contrib.mpi_collectives' op types,
// with TF's names, args, attrs and dtypes) into `r`.
void register_mpi_ops(OpRegistry& r);

// tf.contrib.mpi_collectives.allreduce: the sum of `x` over all ranks (an MPIAllreduce node),
// divided by the number of ranks when `average`. Its gradient is the allreduce of the incoming
// gradient (the sum over ranks of each rank's loss depends on every rank's input). `x` is int32,
// int64 or float32 (TF's MPIAllreduce; others are InvalidArgument). All ranks must
// reduce tensors of the same dtype and element count in the same order; a mismatch is an
// InvalidArgument on every rank. The Session runs all the MPIAllreduce ops of a step that do not
// feed one another as one step, packing the tensors below FG_FUSION_THRESHOLD bytes (default
// 64 MiB; 0 turns packing off) into one buffer and one MPI_Allreduce (Horovod's tensor fusion).
Output allreduce(const Output& x, bool average = true, const std::string& name = "");
// MPISize as a scalar int32 tensor (what `average` divides by, so a saved graph fits any job size).
Output mpi_size(Graph& g, const std::string& name = "");

// Horovod's broadcast_global_variables: sets every global variable on every rank to root's value,
// in one MPI_Bcast of all of them packed together. Root's variables must be initialized; the
// others' need not be. All ranks must have the same variables (names, dtypes, shapes): a
// difference is an InvalidArgument on every rank, not a hang.
void broadcast_global_variables(Session& sess, int root = 0);
void broadcast_variables(Session& sess, const std::vector<Variable>& vars, int root = 0);

// This rank's part of each batch of a shuffled epoch (data::shuffle_batch with the shard
// {rank(), size()}): seeded the same on every rank, the ranks' parts of one step make up exactly
// the batch of `global_batch_size` rows one process would take, and every rank gets the same
// number of steps.
data::ShuffleBatch shuffle_batch(Tensor x, Tensor y, int64_t global_batch_size, RandomEngine& rng);

}  // namespace fg::dist
