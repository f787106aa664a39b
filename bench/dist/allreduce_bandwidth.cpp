// MPI_Allreduce's time and bandwidth over message sizes, the input of bench/README.md's estimate
// of data-parallel efficiency across machines:
//
//   mpirun -np 2 build/mpi_allreduce_bandwidth [--max-bytes B] [--seconds S]
//
// For float32 sums from 4 bytes to --max-bytes (default 64 MiB), every call is timed on its own
// (after a barrier, the slowest rank's time) for about S seconds per size (default 0.3). Rank 0
// prints the fastest call, the 10th percentile and the median: on a machine other jobs share, a
// call during which a rank was descheduled takes a time slice longer, so the low percentiles are
// the transfer itself and the median is what the load made of it. Bandwidths are from the 10th
// percentile: bytes / time, and the bus bandwidth 2 (n - 1) / n * bytes / time (the traffic each
// rank's link carries in a ring allreduce, the figure that compares with a network's speed).
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "dist/dist.h"
#include "flowgraph.h"

int main(int argc, char** argv) {
  fg::dist::init(&argc, &argv);
  int64_t max_bytes = int64_t{64} << 20;
  double seconds = 0.3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--max-bytes") max_bytes = std::atoll(argv[i + 1]);
    else if (a == "--seconds") seconds = std::atof(argv[i + 1]);
  }
  const int rank = fg::dist::rank(), n = fg::dist::size();
  const MPI_Comm comm = MPI_COMM_WORLD;
  if (rank == 0)
    std::printf("MPI_Allreduce (sum, float32) on %d ranks, each call timed alone\n%12s %7s %11s %11s %11s %10s %10s\n", n,
                "bytes", "calls", "min us", "p10 us", "median us", "algbw GB/s", "busbw GB/s");
  for (int64_t bytes = 4; bytes <= max_bytes; bytes *= 4) {
    const int count = static_cast<int>(bytes / 4);
    std::vector<float> buf(count, 0.0f);  // zeros: the sums stay finite however often they run
    for (int w = 0; w < 3; ++w) MPI_Allreduce(MPI_IN_PLACE, buf.data(), count, MPI_FLOAT, MPI_SUM, comm);
    // How many calls: about `seconds` of them, the same number on every rank.
    double t = MPI_Wtime();
    MPI_Allreduce(MPI_IN_PLACE, buf.data(), count, MPI_FLOAT, MPI_SUM, comm);
    t = MPI_Wtime() - t;
    MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MIN, comm);
    const int calls = static_cast<int>(std::clamp(seconds / std::max(t, 1e-7), 5.0, 2000.0));
    std::vector<double> times(calls);
    for (int i = 0; i < calls; ++i) {
      MPI_Barrier(comm);
      const double start = MPI_Wtime();
      MPI_Allreduce(MPI_IN_PLACE, buf.data(), count, MPI_FLOAT, MPI_SUM, comm);
      times[i] = MPI_Wtime() - start;
    }
    MPI_Allreduce(MPI_IN_PLACE, times.data(), calls, MPI_DOUBLE, MPI_MAX, comm);
    std::sort(times.begin(), times.end());
    const double p10 = times[calls / 10], median = times[calls / 2];
    if (rank == 0)
      std::printf("%12lld %7d %11.1f %11.1f %11.1f %10.2f %10.2f\n", static_cast<long long>(bytes), calls,
                  times.front() * 1e6, p10 * 1e6, median * 1e6, bytes / p10 / 1e9, 2.0 * (n - 1) / n * bytes / p10 / 1e9);
  }
  return 0;
}
