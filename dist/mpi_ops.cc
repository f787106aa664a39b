// tf.contrib.mpi_collectives' op types (MPIAllreduce, MPISize, MPIRank, MPILocalRank): TF's
// names, inputs, outputs, attrs and dtypes, so that the graphs dist writes load in a TF 1.x built
// with that module.
#include <mpi.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "dist/dist.h"
#include "dist/internal.h"
#include "graph/op_registry.h"
#include "ops/array.h"
#include "ops/math.h"

namespace fg::dist {

namespace {

std::atomic<int64_t> g_allreduce_calls{0};
std::atomic<int64_t> g_allreduce_cpu_ns{0};

int64_t thread_cpu_ns() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec;
}

uint64_t fnv1a(uint64_t h, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

MPI_Datatype mpi_type(DType t) {
  switch (t) {
    case DType::kFloat: return MPI_FLOAT;
    case DType::kInt32: return MPI_INT32_T;
    case DType::kInt64: return MPI_INT64_T;
    default: throw InvalidArgument(str_cat("MPIAllreduce: dtype ", dtype_name(t), " is not supported"));
  }
}

// Sums `count` elements at `data` over the ranks in place, in pieces MPI's int counts can hold.
void sum_in_place(MPI_Comm c, void* data, int64_t count, DType dtype) {
  constexpr int64_t kPiece = int64_t{1} << 30;
  char* p = static_cast<char*>(data);
  for (int64_t done = 0; done < count; done += kPiece) {
    const int n = static_cast<int>(std::min(kPiece, count - done));
    internal::check(MPI_Allreduce(MPI_IN_PLACE, p + done * dtype_size(dtype), n, mpi_type(dtype), MPI_SUM, c),
                    "MPIAllreduce: MPI_Allreduce");
    g_allreduce_calls.fetch_add(1, std::memory_order_relaxed);
  }
}

// Input i summed over the ranks into output i. The kernel of one MPIAllreduce and of a plan's
// group of them (OpDef::group_kernel): tensors under the fusion threshold travel packed together,
// as few MPI_Allreduce calls as the threshold allows; larger ones are reduced in place alone.
void allreduce_kernel(KernelContext& ctx) {
  const MPI_Comm c = internal::comm("MPIAllreduce");
  struct CpuTimer {
    int64_t start = thread_cpu_ns();
    ~CpuTimer() { g_allreduce_cpu_ns.fetch_add(thread_cpu_ns() - start, std::memory_order_relaxed); }
  } cpu_timer;
  const int n = ctx.num_inputs();
  const DType dtype = ctx.input(0).dtype();
  // First agree on what is reduced: a rank that reduced other shapes would read past a buffer or
  // sum unrelated numbers, so a difference is an error on every rank instead.
  const int64_t threshold = internal::fusion_threshold();
  uint64_t h = fnv1a(14695981039346656037ull, &threshold, sizeof threshold);
  int64_t total = 0;
  for (int i = 0; i < n; ++i) {
    FG_CHECK(ctx.input(i).dtype() == dtype, Internal, "MPIAllreduce: a group mixes dtypes");
    const int64_t e[2] = {ctx.input(i).num_elements(), static_cast<int64_t>(dtype)};
    h = fnv1a(h, e, sizeof e);
    total += e[0];
  }
  const int64_t fingerprint = static_cast<int64_t>(h >> 1);
  int64_t agree[6] = {n, total, fingerprint, -int64_t{n}, -total, -fingerprint};
  MPI_Request request;
  internal::check(MPI_Iallreduce(MPI_IN_PLACE, agree, 6, MPI_INT64_T, MPI_MAX, c, &request),
                  "MPIAllreduce: MPI_Iallreduce");
  internal::wait(request, "MPIAllreduce: MPI_Test");
  if (agree[0] != n || -agree[3] != n || agree[1] != total || -agree[4] != total || agree[2] != fingerprint ||
      -agree[5] != fingerprint) {
    int rank = 0;
    MPI_Comm_rank(c, &rank);
    throw InvalidArgument(str_cat(
        "MPIAllreduce: the ranks reduce different tensors (every rank must reduce the same dtypes and shapes in "
        "the same order, with the same FG_FUSION_THRESHOLD): rank ", rank, " has ", n, " tensor(s) of ", total,
        " ", dtype_name(dtype), " elements in all; over the ranks ", -agree[3], " to ", agree[0], " tensor(s) of ",
        -agree[4], " to ", agree[1], " elements"));
  }
  // Each output takes its input's buffer when no one else holds it.
  auto reduce_alone = [&](int i) {
    Tensor out = ctx.forward_input_or_allocate(i, dtype, ctx.input(i).shape());
    if (!out.shares_buffer_with(ctx.input(i))) std::memcpy(out.raw_data(), ctx.input(i).raw_data(), out.num_bytes());
    sum_in_place(c, out.raw_data(), out.num_elements(), dtype);
    ctx.set_output(i, std::move(out));
  };
  auto bytes_of = [&](int i) { return static_cast<int64_t>(ctx.input(i).num_bytes()); };
  auto small = [&](int i) { return bytes_of(i) < threshold; };
  for (int i = 0; i < n; ++i)
    if (!small(i)) reduce_alone(i);
  // The small ones in order, as many per message as the threshold holds.
  for (int i = 0; i < n;) {
    int j = i, count = 0;
    int64_t bytes = 0;
    for (; j < n; ++j) {
      if (!small(j)) continue;
      if (bytes + bytes_of(j) > threshold) break;
      bytes += bytes_of(j);
      ++count;
    }
    if (count == 1) {
      for (int k = i; k < j; ++k)
        if (small(k)) reduce_alone(k);
    } else if (count > 1) {
      Tensor packed = Tensor::empty(dtype, {bytes / static_cast<int64_t>(dtype_size(dtype))});
      char* p = static_cast<char*>(packed.raw_data());
      for (int k = i; k < j; ++k) {
        if (!small(k)) continue;
        std::memcpy(p, ctx.input(k).raw_data(), bytes_of(k));
        p += bytes_of(k);
      }
      sum_in_place(c, packed.raw_data(), packed.num_elements(), dtype);
      p = static_cast<char*>(packed.raw_data());
      for (int k = i; k < j; ++k) {
        if (!small(k)) continue;
        Tensor out = ctx.forward_input_or_allocate(k, dtype, ctx.input(k).shape());
        std::memcpy(out.raw_data(), p, out.num_bytes());
        p += out.num_bytes();
        ctx.set_output(k, std::move(out));
      }
    }
    i = j;
  }
}

void mpi_size_kernel(KernelContext& ctx) { ctx.set_output(0, Tensor(static_cast<int32_t>(size()))); }
void mpi_rank_kernel(KernelContext& ctx) { ctx.set_output(0, Tensor(static_cast<int32_t>(rank()))); }
void mpi_local_rank_kernel(KernelContext& ctx) { ctx.set_output(0, Tensor(static_cast<int32_t>(local_rank()))); }

void scalar_shape(InferenceContext& c) { c.set_output(0, Shape::scalar()); }

// Every rank's loss depends on every rank's input through the sum, so the gradient of each input
// is the sum over the ranks of the gradients arriving at the output: the same allreduce.
std::vector<Output> allreduce_grad(GradContext& c) {
  const Output g = c.grad_or_zeros(0);
  return {OpBuilder(g, "MPIAllreduce", "MPIAllreduce").input(g).build_output()};
}

}  // namespace

int64_t internal::allreduce_calls() { return g_allreduce_calls.load(std::memory_order_relaxed); }
double internal::allreduce_cpu_seconds() { return 1e-9 * static_cast<double>(g_allreduce_cpu_ns.load()); }

void register_mpi_ops(OpRegistry& r) {
  r.add("MPIAllreduce").input("tensor", "T").output("sum", "T")
      .type_attr("T", {DType::kInt32, DType::kInt64, DType::kFloat}).shape(unchanged_shape)
      .kernel_fn(allreduce_kernel).grouped(allreduce_kernel).gradient(allreduce_grad);
  r.add("MPISize").output("size", DType::kInt32).shape(scalar_shape).kernel_fn(mpi_size_kernel)
      .not_differentiable("integer output");
  r.add("MPIRank").output("rank", DType::kInt32).shape(scalar_shape).kernel_fn(mpi_rank_kernel)
      .not_differentiable("integer output");
  r.add("MPILocalRank").output("rank", DType::kInt32).shape(scalar_shape).kernel_fn(mpi_local_rank_kernel)
      .not_differentiable("integer output");
}

Output mpi_size(Graph& g, const std::string& name) {
  return OpBuilder(g, "MPISize", name.empty() ? "MPISize" : name).build_output();
}

Output allreduce(const Output& x, bool average, const std::string& name) {
  FG_CHECK(x, InvalidArgument, "dist::allreduce: no tensor given");
  Output sum = OpBuilder(x, "MPIAllreduce", name.empty() ? "MPIAllreduce" : name).input(x).build_output();
  if (!average) return sum;
  return divide(sum, cast(mpi_size(*x.graph()), x.dtype()));
}

}  // namespace fg::dist
