// MPI_Allreduce's time and bandwidth over message sizes, the input of bench/README.md's estimate
// of data-parallel efficiency across machines:
//
//   mpirun -np 2 build/mpi_allreduce_bandwidth [--max-bytes B] [--repeats R]
//
// For float32 sums from 4 bytes to --max-bytes (default 64 MiB), rank 0 prints the median time
// per call over R repeats (with the range), the algorithm bandwidth bytes / time, and the bus
// bandwidth 2 (n - 1) / n * bytes / time: the traffic each rank's link carries in a ring
// allreduce, the figure that compares with a network's speed.
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "dist/dist.h"

int main(int argc, char** argv) {
  fg::dist::init(&argc, &argv);
  int64_t max_bytes = int64_t{64} << 20;
  int repeats = 7;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--max-bytes") max_bytes = std::atoll(argv[i + 1]);
    else if (a == "--repeats") repeats = std::max(1, std::atoi(argv[i + 1]));
  }
  const int rank = fg::dist::rank(), n = fg::dist::size();
  const MPI_Comm comm = MPI_COMM_WORLD;
  if (rank == 0)
    std::printf("MPI_Allreduce (sum, float32) on %d ranks, median of %d repeats\n%12s %12s %22s %10s %10s\n", n,
                repeats, "bytes", "us/call", "range", "algbw GB/s", "busbw GB/s");
  for (int64_t bytes = 4; bytes <= max_bytes; bytes *= 4) {
    const int count = static_cast<int>(bytes / 4);
    std::vector<float> buf(count, 0.0f);  // zeros: the sums stay finite however often they run
    for (int w = 0; w < 3; ++w) MPI_Allreduce(MPI_IN_PLACE, buf.data(), count, MPI_FLOAT, MPI_SUM, comm);
    // Calls per repeat: about 50 ms of them, the same number on every rank.
    double t = MPI_Wtime();
    MPI_Allreduce(MPI_IN_PLACE, buf.data(), count, MPI_FLOAT, MPI_SUM, comm);
    t = MPI_Wtime() - t;
    MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, comm);
    const int iters = static_cast<int>(std::clamp(0.05 / std::max(t, 1e-7), 1.0, 20000.0));
    std::vector<double> per_call;
    for (int r = 0; r < repeats; ++r) {
      MPI_Barrier(comm);
      const double start = MPI_Wtime();
      for (int i = 0; i < iters; ++i) MPI_Allreduce(MPI_IN_PLACE, buf.data(), count, MPI_FLOAT, MPI_SUM, comm);
      double s = (MPI_Wtime() - start) / iters;
      MPI_Allreduce(MPI_IN_PLACE, &s, 1, MPI_DOUBLE, MPI_MAX, comm);
      per_call.push_back(s);
    }
    std::sort(per_call.begin(), per_call.end());
    const double median = per_call[per_call.size() / 2];
    if (rank == 0) {
      char range[64];
      std::snprintf(range, sizeof range, "%.1f-%.1f", per_call.front() * 1e6, per_call.back() * 1e6);
      std::printf("%12lld %12.1f %22s %10.2f %10.2f\n", static_cast<long long>(bytes), median * 1e6, range,
                  bytes / median / 1e9, 2.0 * (n - 1) / n * bytes / median / 1e9);
    }
  }
  return 0;
}
