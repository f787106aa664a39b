#include "core/parallel.h"

#include <gtest/gtest.h>
#include <omp.h>
#include <sched.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/errors.h"
#include "test_util.h"

namespace fg {
namespace {

TEST(ParallelFor, CoversEveryIndexOnce) {
  for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{1} << 20}) {
    std::vector<std::atomic<int>> hits(n);
    parallel_for(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1, std::memory_order_relaxed);
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
  }
}

// A kernel's error inside a parallel block reaches the caller as itself (an exception leaving an
// pool's worker thread would otherwise terminate the process).
TEST(ParallelFor, ExceptionInAParallelBlockReachesTheCaller) {
  const int64_t n = kParallelThreshold * 4;  // above the threshold: runs on the pool
  for (int64_t bad : {int64_t{0}, n - 1}) {  // in the first block, and in the last
    try {
      parallel_for(n, 1, [&](int64_t b, int64_t e) {
        if (bad >= b && bad < e) throw InvalidArgument("element " + std::to_string(bad) + " is bad");
      });
      FAIL() << "expected InvalidArgument";
    } catch (const InvalidArgument& e) {
      EXPECT_EQ(std::string(e.what()), "element " + std::to_string(bad) + " is bad");
    }
  }
}

// Sums 0..n-1 in parallel blocks; records which threads ran blocks.
int64_t parallel_sum(int64_t n, std::vector<std::thread::id>* ran_on = nullptr) {
  std::atomic<int64_t> total{0};
  std::mutex mu;
  parallel_for(n, kParallelThreshold, [&](int64_t b, int64_t e) {
    int64_t s = 0;
    for (int64_t i = b; i < e; ++i) s += i;
    total.fetch_add(s);
    if (ran_on) {
      std::lock_guard<std::mutex> lock(mu);
      ran_on->push_back(std::this_thread::get_id());
    }
  });
  return total.load();
}

TEST(ParallelFor, BigLoopsUseASecondThreadAndTheCallersThread) {
  if (num_threads() < 2) GTEST_SKIP() << "one thread";
  std::vector<std::thread::id> ran_on;
  EXPECT_EQ(parallel_sum(1000, &ran_on), 999 * 1000 / 2);
  ASSERT_EQ(ran_on.size(), 2u);
  EXPECT_NE(ran_on[0], ran_on[1]);
  EXPECT_TRUE(ran_on[0] == std::this_thread::get_id() || ran_on[1] == std::this_thread::get_id());
}

TEST(ParallelFor, OneOpenMpThreadRunsInline) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  EXPECT_EQ(num_threads(), 1);
  std::vector<std::thread::id> ran_on;
  EXPECT_EQ(parallel_sum(1000, &ran_on), 999 * 1000 / 2);
  omp_set_num_threads(saved);
  ASSERT_EQ(ran_on.size(), 1u);
  EXPECT_EQ(ran_on[0], std::this_thread::get_id());
}

// An application's own OpenMP threads already occupy the cores: loops they call run inline.
TEST(ParallelFor, InsideAnOpenMpRegionLoopsRunInline) {
  std::atomic<int> wrong{0}, callers{0};
#pragma omp parallel num_threads(2)
  {
    callers.fetch_add(1);
    if (num_threads() != 1) wrong.fetch_add(1);
    std::vector<std::thread::id> ran_on;
    if (parallel_sum(1000, &ran_on) != 999 * 1000 / 2 || ran_on.size() != 1 ||
        ran_on[0] != std::this_thread::get_id())
      wrong.fetch_add(1);
  }
  EXPECT_GE(callers.load(), 1);
  EXPECT_EQ(wrong.load(), 0);
}

TEST(ParallelFor, NestedLoopsRunInlineInTheirBlock) {
  std::atomic<int> nested_threads{0}, inner_blocks{0};
  parallel_for(4, kParallelThreshold, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      nested_threads.fetch_add(num_threads());
      const auto outer = std::this_thread::get_id();
      parallel_for(100, kParallelThreshold, [&](int64_t, int64_t) {
        inner_blocks.fetch_add(1);
        EXPECT_EQ(std::this_thread::get_id(), outer);
      });
    }
  });
  EXPECT_EQ(nested_threads.load(), 4);  // num_threads() is 1 inside every block
  EXPECT_EQ(inner_blocks.load(), 4);    // each nested loop ran as one inline block
}

// Several threads submitting at once (concurrent Session::run calls): one gets the pool, the
// others run their blocks themselves; every sum is right.
TEST(ParallelFor, ConcurrentCallersAllComplete) {
  std::vector<std::thread> callers;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const int64_t n = 100 + t * 7 + i % 13;
        if (parallel_sum(n) != n * (n - 1) / 2) wrong.fetch_add(1);
      }
    });
  for (auto& c : callers) c.join();
  EXPECT_EQ(wrong.load(), 0);
}

// With OMP_WAIT_POLICY=passive the worker sleeps between jobs; each job must wake it (no lost
// wake-up), however the job and the worker's falling asleep interleave.
TEST(ParallelFor, SleepingWorkerIsWoken) {
  if (const char* p = std::getenv("OMP_WAIT_POLICY"); p && std::string(p) == "passive") {
    for (int i = 0; i < 3000; ++i) {
      if (i % 100 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
      ASSERT_EQ(parallel_sum(64 + i % 5), (64 + i % 5) * (63 + i % 5) / 2);
    }
    return;
  }
  EXPECT_TRUE(testing::run_test_in_child("OMP_WAIT_POLICY=passive", "ParallelFor.SleepingWorkerIsWoken"));
}

// After a job the worker spins for a while, then sleeps: CPU time the process burns while the
// caller sleeps 60 ms shows which. Spinning 300 us by default and not at all with
// OMP_WAIT_POLICY=passive; with active it spins through the whole 60 ms. Each policy is read when
// the pool starts, so each runs in a child process.
TEST(ParallelFor, IdleWorkerFollowsTheWaitPolicy) {
  if (const char* expect = std::getenv("FG_TEST_IDLE_WORKER")) {
    if (num_threads() < 2) GTEST_SKIP() << "one thread";
    ASSERT_EQ(parallel_sum(1000), 999 * 1000 / 2);
    auto cpu_ms = [] {
      timespec ts{};
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
      return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
    };
    const double before = cpu_ms();
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    const double spent = cpu_ms() - before;
    if (std::string(expect) == "spins") EXPECT_GT(spent, 5.0) << "the worker slept although the policy is active";
    else EXPECT_LT(spent, 5.0) << "the idle worker held a core for " << spent << " ms";
    return;
  }
  EXPECT_TRUE(testing::run_test_in_child("FG_TEST_IDLE_WORKER=sleeps", "ParallelFor.IdleWorkerFollowsTheWaitPolicy"));
  EXPECT_TRUE(testing::run_test_in_child("FG_TEST_IDLE_WORKER=sleeps OMP_WAIT_POLICY=passive",
                                         "ParallelFor.IdleWorkerFollowsTheWaitPolicy"));
  EXPECT_TRUE(testing::run_test_in_child("FG_TEST_IDLE_WORKER=spins OMP_WAIT_POLICY=active",
                                         "ParallelFor.IdleWorkerFollowsTheWaitPolicy"));
}

// On a loaded machine the worker may share a CPU with its caller (here: both pinned to one CPU,
// with OMP_NUM_THREADS=2 asking for two threads). A worker that spun there for its whole idle
// spell would hold the CPU its caller needs for 300 us after every job; it yields between its
// checks instead, so a job costs a few scheduler switches.
TEST(ParallelFor, WorkerSharingTheCallersCpuGivesItBack) {
  if (std::getenv("FG_TEST_ONE_CPU")) {
    cpu_set_t mask;
    ASSERT_EQ(sched_getaffinity(0, sizeof mask, &mask), 0);
    int cpu = 0;
    while (!CPU_ISSET(cpu, &mask)) ++cpu;
    CPU_ZERO(&mask);
    CPU_SET(cpu, &mask);
    ASSERT_EQ(sched_setaffinity(0, sizeof mask, &mask), 0);  // before the pool's worker starts
    if (num_threads() < 2) GTEST_SKIP() << "one thread";
    std::vector<double> us;
    for (int job = 0; job < 200; ++job) {
      const auto start = std::chrono::steady_clock::now();
      ASSERT_EQ(parallel_sum(1000), 999 * 1000 / 2);
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(us.begin(), us.end());
    EXPECT_LT(us[us.size() / 2], 150.0) << "median job on a shared CPU, us";
    return;
  }
  EXPECT_TRUE(testing::run_test_in_child("FG_TEST_ONE_CPU=1 OMP_NUM_THREADS=2",
                                         "ParallelFor.WorkerSharingTheCallersCpuGivesItBack"));
}

// A forked child has none of its parent's threads: its loops still complete, on a pool of its own.
TEST(ParallelFor, ForkedChildGetsAPoolOfItsOwn) {
  ASSERT_EQ(parallel_sum(1000), 999 * 1000 / 2);  // the parent's pool exists
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::vector<std::thread::id> ran_on;
    const bool ok = parallel_sum(1000, &ran_on) == 999 * 1000 / 2 && parallel_sum(77) == 77 * 76 / 2;
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child hung or crashed";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ParallelFor, ExceptionOnTheWorkerLeavesThePoolUsable) {
  if (num_threads() < 2) GTEST_SKIP() << "one thread";
  for (int round = 0; round < 3; ++round) {
    EXPECT_THROW(parallel_for(2, kParallelThreshold,
                              [&](int64_t b, int64_t) {
                                if (b == 1) throw OutOfRange("block 1");
                              }),
                 OutOfRange);
    EXPECT_EQ(parallel_sum(500), 499 * 500 / 2);
  }
}

}  // namespace
}  // namespace fg
