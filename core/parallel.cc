#include "core/parallel.h"

#include <omp.h>
#include <pthread.h>
#include <strings.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace fg {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// True on a pool worker, and on a caller while it runs its own blocks: loops nested in a block
// run inline, as they did inside an OpenMP region.
thread_local bool t_in_block = false;

// How long an idle worker spins before it sleeps, from OMP_WAIT_POLICY like libgomp's: passive
// sleeps at once; active spins for a long time; unset spins long enough to bridge the gaps between
// the ops of a training step and between steps (tens of microseconds), not much longer, so an
// idle process does not hold a core, and yields while it spins (see worker_loop).
std::chrono::microseconds idle_spin() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  if (policy && strcasecmp(policy, "passive") == 0) return std::chrono::microseconds(0);
  if (policy && strcasecmp(policy, "active") == 0) return std::chrono::microseconds(100'000);
  return std::chrono::microseconds(300);
}

// Idle spins up to this long yield the CPU between checks; longer ones (the active policy) do not.
constexpr std::chrono::microseconds kYieldingSpin(300);

struct Job {
  void (*block)(void*, int64_t) = nullptr;
  void* ctx = nullptr;
  int64_t blocks = 0;
  int threads = 0;
  std::atomic<int> pending{0};
  std::atomic<int> started{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;

  // Participant t's share of the blocks.
  int64_t first_block(int t) const { return blocks * t / threads; }
  void run_blocks(void (*fn)(void*, int64_t), void* arg, int64_t first, int64_t last) {
    for (int64_t b = first; b < last; ++b) {
      try {
        fn(arg, b);
      } catch (...) {
        if (!failed.exchange(true)) error = std::current_exception();
      }
    }
  }
};

// One cache line per worker: the caller writes the job and bumps `seq`; the worker spinning on
// `seq` sees it after one cache-line transfer. Everything the worker needs to start (its blocks,
// the function and its context) is on that line too, so starting costs one transfer rather than
// a chain of them through the Job.
struct alignas(64) WorkerSlot {
  std::atomic<uint32_t> seq{0};
  std::atomic<bool> sleeping{false};
  Job* job = nullptr;
  void (*block)(void*, int64_t) = nullptr;
  void* ctx = nullptr;
  int64_t first = 0, last = 0;
};

class Pool {
 public:
  explicit Pool(int workers) : slots_(workers), spin_(idle_spin()), spin_without_yielding_(spin_ > kYieldingSpin) {
    for (int i = 0; i < workers; ++i) {
      slots_[i] = std::make_unique<WorkerSlot>();
      // Detached and never joined: the pool lives as long as the process (see pool()).
      std::thread([this, i] { worker_loop(*slots_[i]); }).detach();
    }
  }
  int size() const { return static_cast<int>(slots_.size()) + 1; }

  // One job at a time; a caller that finds the pool busy runs its blocks itself.
  bool try_acquire() { return !busy_.exchange(true, std::memory_order_acquire); }
  void release() { busy_.store(false, std::memory_order_release); }

  void run(Job& job) {
    job.pending.store(job.threads - 1, std::memory_order_relaxed);
    for (int t = 1; t < job.threads; ++t) {
      WorkerSlot& s = *slots_[t - 1];
      s.job = &job;
      s.block = job.block;
      s.ctx = job.ctx;
      s.first = job.first_block(t);
      s.last = job.first_block(t + 1);
      s.seq.fetch_add(1, std::memory_order_seq_cst);
      if (s.sleeping.load(std::memory_order_seq_cst)) s.seq.notify_one();
    }
    job.run_blocks(job.block, job.ctx, 0, job.first_block(1));
    // The workers' shares take as long as ours. A worker that has not even started by the time
    // ours is done was preempted or is waking up, possibly on this very CPU: yield to it rather
    // than spin. One that has started gets a while longer.
    using std::chrono::microseconds;
    const auto start = std::chrono::steady_clock::now();
    bool yielding = false;
    for (int spins = 1; job.pending.load(std::memory_order_acquire) != 0; ++spins) {
      if (yielding) {
        std::this_thread::yield();
        continue;
      }
      cpu_relax();
      if (spins % 64 == 0) {
        const auto waited = std::chrono::steady_clock::now() - start;
        const bool all_started = job.started.load(std::memory_order_relaxed) == job.threads - 1;
        yielding = waited > (all_started ? microseconds(50) : microseconds(5));
      }
    }
  }

 private:
  void worker_loop(WorkerSlot& slot) {
    // Products inside a block run single-threaded: oneDNN and Eigen would otherwise start an
    // OpenMP team of their own from this thread.
    omp_set_num_threads(1);
    t_in_block = true;
    uint32_t seen = 0;
    for (;;) {
      uint32_t s = slot.seq.load(std::memory_order_acquire);
      if (s == seen) {
        const auto start = std::chrono::steady_clock::now();
        for (int spins = 1; (s = slot.seq.load(std::memory_order_acquire)) == seen; ++spins) {
          if (spins % 256 != 0) {
            cpu_relax();
            continue;
          }
          if (std::chrono::steady_clock::now() - start < spin_) {
            // Every few microseconds, let a thread waiting for this CPU run: on a loaded
            // machine that may be the very caller whose next job we wait for. With nothing
            // else runnable, the yield returns at once.
            if (!spin_without_yielding_) std::this_thread::yield();
            continue;
          }
          // Dekker with run(): it bumps seq then reads sleeping; we set sleeping then read seq,
          // so one of us sees the other and no wake-up is lost.
          slot.sleeping.store(true, std::memory_order_seq_cst);
          if (slot.seq.load(std::memory_order_seq_cst) == seen) slot.seq.wait(seen, std::memory_order_seq_cst);
          slot.sleeping.store(false, std::memory_order_relaxed);
        }
      }
      seen = s;
      Job& job = *slot.job;
      job.started.fetch_add(1, std::memory_order_relaxed);
      job.run_blocks(slot.block, slot.ctx, slot.first, slot.last);
      job.pending.fetch_sub(1, std::memory_order_release);
    }
  }

  std::vector<std::unique_ptr<WorkerSlot>> slots_;
  std::atomic<bool> busy_{false};
  const std::chrono::microseconds spin_;
  const bool spin_without_yielding_;  // OMP_WAIT_POLICY=active: the core is the process's
};

std::mutex g_pool_mu;
std::atomic<Pool*> g_pool{nullptr};

// A forked child has none of the parent's workers: it starts a pool of its own if it needs one.
void after_fork_in_child() {
  new (&g_pool_mu) std::mutex();
  g_pool.store(nullptr, std::memory_order_relaxed);
}

// Read once: glibc counts the CPUs by reading /sys on every call.
int hardware_threads() {
  static const int n = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  return n;
}

// One pool per process, as wide as the machine, created on first use and never destroyed, so
// that no static destructor can race a worker that is still spinning.
Pool& pool() {
  Pool* p = g_pool.load(std::memory_order_acquire);
  if (p) return *p;
  std::lock_guard<std::mutex> lock(g_pool_mu);
  p = g_pool.load(std::memory_order_relaxed);
  if (!p) {
    static const bool registered = [] { return pthread_atfork(nullptr, nullptr, after_fork_in_child) == 0; }();
    (void)registered;
    p = new Pool(hardware_threads() - 1);
    g_pool.store(p, std::memory_order_release);
  }
  return *p;
}

}  // namespace

int num_threads() {
  // Inside an OpenMP region of the application's own, its threads already occupy the cores.
  if (t_in_block || omp_in_parallel()) return 1;
  return std::max(1, std::min(omp_get_max_threads(), hardware_threads()));
}

namespace detail {

void run_blocks(int64_t blocks, void (*block)(void*, int64_t), void* ctx) {
  Job job;
  job.block = block;
  job.ctx = ctx;
  job.blocks = blocks;
  // parallel_for has already capped the blocks at num_threads().
  Pool* p = blocks > 1 ? &pool() : nullptr;
  const bool pooled = p && p->try_acquire();
  job.threads = pooled ? static_cast<int>(std::min<int64_t>(blocks, p->size())) : 1;
  const bool outer = !t_in_block;
  t_in_block = true;
  if (pooled) {
    p->run(job);
    p->release();
  } else {
    job.run_blocks(block, ctx, 0, blocks);
  }
  if (outer) t_in_block = false;
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace detail
}  // namespace fg
