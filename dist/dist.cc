#include "dist/dist.h"

#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

#include "dist/internal.h"
#include "graph/op_registry.h"
#include "ops/register.h"
#include "ops/state.h"

namespace fg::dist {

namespace {

struct State {
  bool initialized = false;
  bool finalized = false;
  bool owns_mpi = false;  // false when the program called MPI_Init itself: it finalizes too
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0, size = 1, local_rank = 0, local_size = 1;
  int64_t fusion_threshold = int64_t{64} << 20;  // Horovod's default fusion buffer
};

State& state() {
  static State s;
  return s;
}

std::mutex& init_mutex() {
  static std::mutex mu;
  return mu;
}

bool mpi_alive() {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  return init && !fin;
}

// An uncaught exception on one rank would leave the others waiting in their next collective:
// print it with the rank and end the whole job.
[[noreturn]] void on_terminate() {
  std::string what = "terminate called without an active exception";
  if (std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      what = ex.what();
    } catch (...) {
      what = "unknown exception";
    }
  }
  dist::abort("uncaught exception: " + what, 1);
}

void finalize_at_exit() {
  if (state().owns_mpi) finalize();
}

uint64_t fnv1a(uint64_t h, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

bool fixed_size(DType t) {
  return t == f32 || t == f64 || t == i32 || t == i64 || t == u8 || t == boolean;
}

}  // namespace

namespace internal {

MPI_Comm comm(const char* who) {
  const State& s = state();
  FG_CHECK(s.initialized && !s.finalized, FailedPrecondition, who,
           s.finalized ? ": MPI has been finalized" : ": MPI is not initialized; call dist::init() first");
  return s.comm;
}

int64_t fusion_threshold() { return state().fusion_threshold; }
void set_fusion_threshold(int64_t bytes) { state().fusion_threshold = bytes; }

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw Internal(str_cat(what, " failed: ", std::string(msg, len)));
}

void wait(MPI_Request& request, const char* what) {
  using clock = std::chrono::steady_clock;
  const auto spin_until = clock::now() + std::chrono::microseconds(300);
  for (;;) {
    int done = 0;
    check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), what);
    if (done) return;
    if (clock::now() > spin_until) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

}  // namespace internal

void init(int* argc, char*** argv) {
  std::lock_guard lock(init_mutex());
  State& s = state();
  if (s.initialized) return;
  FG_CHECK(!s.finalized, FailedPrecondition, "dist::init: MPI has been finalized and cannot start again");
  int already = 0;
  MPI_Initialized(&already);
  if (!already) {
    // Steps may run on any thread, one at a time; kernels' worker threads never call MPI.
    int provided = 0;
    internal::check(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
    s.owns_mpi = true;
  }
  internal::check(MPI_Comm_dup(MPI_COMM_WORLD, &s.comm), "MPI_Comm_dup");
  MPI_Comm_set_errhandler(s.comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(s.comm, &s.rank);
  MPI_Comm_size(s.comm, &s.size);
  MPI_Comm local;
  internal::check(MPI_Comm_split_type(s.comm, MPI_COMM_TYPE_SHARED, s.rank, MPI_INFO_NULL, &local),
                  "MPI_Comm_split_type");
  MPI_Comm_rank(local, &s.local_rank);
  MPI_Comm_size(local, &s.local_size);
  MPI_Comm_free(&local);
  if (const char* t = std::getenv("FG_FUSION_THRESHOLD")) {
    char* end = nullptr;
    const long long v = std::strtoll(t, &end, 10);
    FG_CHECK(end != t && *end == '\0' && v >= 0, InvalidArgument,
             "FG_FUSION_THRESHOLD must be a number of bytes (0: no fusion), got '", t, "'");
    s.fusion_threshold = v;
  }
  register_ops();
  std::set_terminate(on_terminate);
  s.initialized = true;
  static std::once_flag at_exit;
  std::call_once(at_exit, [] { std::atexit(finalize_at_exit); });
}

void register_ops() {
  fg::register_ops();
  static std::once_flag once;
  std::call_once(once, [] { register_mpi_ops(OpRegistry::global()); });
}

bool initialized() { return state().initialized && !state().finalized; }

void finalize() {
  std::lock_guard lock(init_mutex());
  State& s = state();
  if (!s.initialized || s.finalized) return;
  if (mpi_alive()) {
    MPI_Comm_free(&s.comm);
    if (s.owns_mpi) MPI_Finalize();
  }
  s.finalized = true;
}

int rank() {
  internal::comm("dist::rank");
  return state().rank;
}
int size() {
  internal::comm("dist::size");
  return state().size;
}
int local_rank() {
  internal::comm("dist::local_rank");
  return state().local_rank;
}
int local_size() {
  internal::comm("dist::local_size");
  return state().local_size;
}

void abort(const std::string& message, int exit_code) {
  const State& s = state();
  std::fprintf(stderr, "[rank %d of %d] %s\n", s.rank, s.size, message.c_str());
  std::fflush(stderr);
  if (mpi_alive()) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

data::ShuffleBatch shuffle_batch(Tensor x, Tensor y, int64_t global_batch_size, RandomEngine& rng) {
  return data::shuffle_batch(std::move(x), std::move(y), global_batch_size, rng, {rank(), size()});
}

void broadcast_global_variables(Session& sess, int root) {
  broadcast_variables(sess, global_variables(sess.graph()), root);
}

void broadcast_variables(Session& sess, const std::vector<Variable>& vars, int root) {
  static const char* kWho = "broadcast_global_variables";
  const MPI_Comm c = internal::comm(kWho);
  const State& s = state();
  FG_CHECK(root >= 0 && root < s.size, InvalidArgument, kWho, ": root ", root, " is not a rank of this job (size ",
           s.size, ")");
  // What every rank has: a fingerprint of the names, dtypes and static shapes.
  uint64_t sig = 14695981039346656037ull;
  for (const Variable& v : vars) {
    const std::string desc = str_cat(v.name(), ':', static_cast<int>(v.dtype()), ':', v.shape().to_string(), ';');
    sig = fnv1a(sig, desc.data(), desc.size());
  }
  // Root's header: status, the variable a failure names, count, fingerprint, then each value's
  // rank and dims (the layout of the packed buffer).
  enum Status : int64_t { kOk = 0, kUninitialized = 1, kUnsupportedDtype = 2 };
  std::vector<int64_t> header = {kOk, -1, static_cast<int64_t>(vars.size()), static_cast<int64_t>(sig >> 1)};
  std::vector<Tensor> values;
  if (s.rank == root) {
    values.reserve(vars.size());
    for (size_t i = 0; i < vars.size() && header[0] == kOk; ++i) {
      if (!fixed_size(vars[i].dtype())) {
        header[0] = kUnsupportedDtype;
        header[1] = static_cast<int64_t>(i);
      } else if (!sess.is_initialized(vars[i].op)) {
        header[0] = kUninitialized;
        header[1] = static_cast<int64_t>(i);
      } else {
        values.push_back(sess.variable_value(vars[i].op));
        header.push_back(values.back().rank());
        for (int64_t d : values.back().shape().dims()) header.push_back(d);
      }
    }
  }
  int64_t header_len = static_cast<int64_t>(header.size());
  internal::check(MPI_Bcast(&header_len, 1, MPI_INT64_T, root, c), "MPI_Bcast");
  header.resize(header_len);
  internal::check(MPI_Bcast(header.data(), static_cast<int>(header_len), MPI_INT64_T, root, c), "MPI_Bcast");
  const bool same = header[2] == static_cast<int64_t>(vars.size()) && header[3] == static_cast<int64_t>(sig >> 1);
  int all_same = same ? 1 : 0;
  internal::check(MPI_Allreduce(MPI_IN_PLACE, &all_same, 1, MPI_INT, MPI_MIN, c), "MPI_Allreduce");
  if (!all_same)
    throw InvalidArgument(str_cat(kWho, ": the ranks have different global variables (names, dtypes or shapes); "
                                  "every rank must build the same graph. Rank ", s.rank, " has ", vars.size(),
                                  " variables, ", same ? "the same as" : "unlike", " root rank ", root));
  if (header[0] == kUninitialized)
    throw FailedPrecondition(str_cat(kWho, ": variable '", vars[header[1]].name(), "' is not initialized on root rank ",
                                     root, "; run the initializer first"));
  if (header[0] == kUnsupportedDtype)
    throw Unimplemented(str_cat(kWho, ": variable '", vars[header[1]].name(), "' has dtype ",
                                dtype_name(vars[header[1]].dtype()), ", which cannot be broadcast"));
  // The layout, then one broadcast of everything.
  std::vector<Shape> shapes(vars.size());
  std::vector<size_t> offsets(vars.size() + 1, 0);
  size_t pos = 4;
  for (size_t i = 0; i < vars.size(); ++i) {
    const int64_t r = header[pos++];
    shapes[i] = Shape(std::span<const int64_t>(header.data() + pos, r));
    pos += r;
    offsets[i + 1] = offsets[i] + static_cast<size_t>(shapes[i].num_elements()) * dtype_size(vars[i].dtype());
  }
  Tensor packed = Tensor::empty(u8, {static_cast<int64_t>(offsets.back())});
  char* bytes = static_cast<char*>(packed.raw_data());
  if (s.rank == root)
    for (size_t i = 0; i < vars.size(); ++i) std::memcpy(bytes + offsets[i], values[i].raw_data(), values[i].num_bytes());
  constexpr size_t kPiece = size_t{1} << 30;  // MPI counts are int
  for (size_t done = 0; done < offsets.back(); done += kPiece) {
    const int n = static_cast<int>(std::min(kPiece, offsets.back() - done));
    internal::check(MPI_Bcast(bytes + done, n, MPI_BYTE, root, c), "MPI_Bcast");
  }
  if (s.rank == root) return;
  for (size_t i = 0; i < vars.size(); ++i) {
    Tensor t = Tensor::empty(vars[i].dtype(), shapes[i]);
    std::memcpy(t.raw_data(), bytes + offsets[i], offsets[i + 1] - offsets[i]);
    sess.set_variable_value(vars[i].op, t);
  }
}

}  // namespace fg::dist
