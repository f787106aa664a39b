// Kills a process that saves over one checkpoint prefix again and again with SIGKILL at random
// moments, then restores the prefix; prints how many restores gave one whole save's values.
// (The deterministic version, a kill at each named step, is SaverCrash.* in tests/saver_test.)
//
//   checkpoint_kill_loop [--kills 100] [--max-delay-ms MS] [--seed 1] [--dir DIR]
//
// The delay before each kill is uniform in [0, MS]; by default MS spans three of the child's
// steps (new values, save) as timed at start, so kills land in every phase of a save.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <thread>

#include "flowgraph.h"

namespace fs = std::filesystem;
using namespace fg;

namespace {

int usage() {
  std::cerr << "usage: checkpoint_kill_loop [--kills N] [--max-delay-ms MS] [--seed S] [--dir DIR]\n";
  return 2;
}

Tensor filled(const Shape& shape, float v) {
  Tensor t(f32, shape);
  for (float& x : t.flat<float>()) x = v;
  return t;
}

struct Model {
  Graph g;
  Variable big, w, step;
  std::unique_ptr<train::Saver> saver;
  Model() {
    big = get_variable(g, "big", {.shape = Shape{4 << 20}});  // 16 MB (its initializer is a small RandomUniform)
    w = get_variable(g, "w", {.shape = Shape{300, 100}});
    step = variable(constant(g, Tensor(int64_t{0})), {.name = "step", .trainable = false});
    saver = std::make_unique<train::Saver>(g);
  }
  void set(Session& s, int64_t v) const {
    s.set_variable_value(big.op, filled({4 << 20}, static_cast<float>(v)));
    s.set_variable_value(w.op, filled({300, 100}, static_cast<float>(v)));
    s.set_variable_value(step.op, Tensor(v));
  }
  // The version all three hold, or -1 if they disagree.
  int64_t version(Session& s) const {
    const int64_t v = s.variable_value(step.op).scalar<int64_t>();
    for (const Operation* op : {big.op, w.op})
      for (float x : s.variable_value(op).flat<float>())
        if (x != static_cast<float>(v)) return -1;
    return v;
  }
};

int count_named(const fs::path& dir, const std::string& needle) {
  int n = 0;
  for (const auto& f : fs::directory_iterator(dir)) n += f.path().filename().string().find(needle) != std::string::npos;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  int kills = 100, max_delay_ms = 0;
  unsigned seed = 1;
  std::string dir_arg;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return usage();
    if (a == "--kills") kills = std::atoi(argv[++i]);
    else if (a == "--max-delay-ms") max_delay_ms = std::atoi(argv[++i]);
    else if (a == "--seed") seed = static_cast<unsigned>(std::atoi(argv[++i]));
    else if (a == "--dir") dir_arg = argv[++i];
    else return usage();
  }
  const fs::path dir = dir_arg.empty() ? fs::temp_directory_path() / str_cat("fg_kill_loop_", ::getpid()) : fs::path(dir_arg);
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string prefix = (dir / "model.ckpt").string();

  Model m;
  Session sess(m.g);
  int64_t version = 1;
  const auto t0 = std::chrono::steady_clock::now();
  m.set(sess, version);
  m.saver->save(sess, prefix);
  const double save_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (max_delay_ms <= 0) max_delay_ms = std::max(1, static_cast<int>(3 * save_ms));
  std::cout << "one step of the child (new values, save) takes " << save_ms << " ms; kills at random in [0, "
            << max_delay_ms << "] ms\n";

  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> delay_us(0, max_delay_ms * 1000);
  int good = 0, mid_commit = 0, with_temporaries = 0, finished_first = 0, advanced = 0;
  for (int i = 0; i < kills; ++i) {
    const int64_t first = version + 1;
    int ready[2];
    if (::pipe(ready) != 0) {
      std::perror("pipe");
      return 1;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("fork");
      return 1;
    }
    if (pid == 0) {
      // Save new versions over the same prefix until killed; the clock starts once it runs.
      ::close(ready[0]);
      if (::write(ready[1], "r", 1) != 1) ::_exit(4);
      try {
        for (int64_t v = first;; ++v) {
          m.set(sess, v);
          m.saver->save(sess, prefix);
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child: %s\n", e.what());
      }
      ::_exit(3);
    }
    ::close(ready[1]);
    char c;
    if (::read(ready[0], &c, 1) != 1) std::cerr << "kill " << i << ": the child did not start\n";
    ::close(ready[0]);
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFSIGNALED(status)) ++finished_first;  // the child failed on its own: counted as bad below

    mid_commit += count_named(dir, ".old") > 0;
    with_temporaries += count_named(dir, ".tempstate") > 0;
    try {
      Session fresh(m.g);
      m.saver->restore(fresh, prefix);
      const int64_t v = m.version(fresh);
      if (v >= version && WIFSIGNALED(status) && count_named(dir, ".tempstate") == 0) {
        ++good;
        advanced += v > version;
        version = v;
      } else {
        std::cerr << "kill " << i << ": restored version " << v << " (last good " << version << ")\n";
      }
    } catch (const std::exception& e) {
      std::cerr << "kill " << i << ": restore failed: " << e.what() << "\n";
    }
  }
  m.set(sess, version + 1);
  m.saver->save(sess, prefix);
  const int leftovers = count_named(dir, ".tempstate");
  std::cout << "kills: " << kills << "  good restores: " << good << "\n"
            << "  restores that found a newer save: " << advanced << " (last version " << version << ")\n"
            << "  kills that left a commit's backup: " << mid_commit << ", that left temporaries: " << with_temporaries
            << ", children that exited by themselves: " << finished_first << "\n"
            << "  temporaries after the last save: " << leftovers << "\n";
  fs::remove_all(dir);
  return good == kills && leftovers == 0 ? 0 : 1;
}
