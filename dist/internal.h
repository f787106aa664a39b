// The dist layer's MPI state, shared by its own files (not installed, not for users).
#pragma once
#include <mpi.h>

#include <cstdint>

namespace fg::dist::internal {

// flowgraph's own duplicate of MPI_COMM_WORLD (a program's own MPI traffic cannot interleave with
// it), with MPI_ERRORS_RETURN; FailedPrecondition naming `who` before init() or after finalize().
MPI_Comm comm(const char* who);
// Largest tensor, in bytes, packed with others into one allreduce (FG_FUSION_THRESHOLD); tests
// and benchmarks set it to see both ways.
int64_t fusion_threshold();
void set_fusion_threshold(int64_t bytes);
// MPI_Allreduce calls that carried tensors (not the agreement on what to reduce), since start,
// and the CPU time the calling threads spent in MPIAllreduce kernels (waiting included).
int64_t allreduce_calls();
double allreduce_cpu_seconds();
// Throws Internal naming `what` and MPI's message when `rc` is not MPI_SUCCESS.
void check(int rc, const char* what);
// Completes `request` the way flowgraph's pool waits for work: MPI_Test in a loop for 300 us, then
// with a nap between tests. MPI's own wait spins, and a rank spinning for a slower one takes CPU
// that, on a loaded machine, the slower rank itself needs (their share is their session's).
void wait(MPI_Request& request, const char* what);

}  // namespace fg::dist::internal
