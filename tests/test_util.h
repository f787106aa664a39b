// Shared helpers for the test suite: numeric gradient checks and small tensor builders.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "core/tensor.h"
#include "graph/graph.h"

namespace fg::testing {

// Deterministic values in [lo, hi) for a tensor of `shape`.
Tensor random_tensor(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0, DType dtype = f64);

// A float32/float64 tensor's values as double, and a float32/float64 tensor of `shape` holding
// `values` (rounded to float32 for f32): for tests written once for both dtypes.
std::vector<double> as_doubles(const Tensor& t);
Tensor float_tensor(DType dtype, const Shape& shape, const std::vector<double>& values);

struct GradCheckResult {
  double max_abs_error = 0;  // |symbolic - numeric|, worst element over all inputs
  double max_rel_error = 0;  // the same divided by max(1, |numeric|)
};

// Checks d sum(w * f(xs)) / d xs (w: fixed random weights) symbolically (gradients()) against
// central differences, in float64. `f` receives one float64 placeholder per value in `xs`.
GradCheckResult check_gradients(const std::function<Output(const std::vector<Output>&)>& f,
                                const std::vector<Tensor>& xs, double delta = 1e-6);

// ASSERT-style helper: fails the test when the relative error exceeds `tol`.
void expect_gradients_match(const std::function<Output(const std::vector<Output>&)>& f,
                            const std::vector<Tensor>& xs, double tol = 1e-6);

// The same for ops TF defines in float32 only (FusedBatchNorm): `f` receives the float64
// placeholders cast to float32 and its result is cast back; float32 needs a larger step (1e-3)
// and a looser tolerance, so pair this with a tight comparison against a float64 formula.
void expect_float32_gradients_match(const std::function<Output(const std::vector<Output>&)>& f,
                                    const std::vector<Tensor>& xs, double tol = 2e-3);


// Runs `y` in a fresh session with the given feeds and returns the value.
Tensor eval(const Output& y, const std::vector<std::pair<Output, Tensor>>& feeds = {});

// Path to real MNIST, or "" (and the caller skips) when it is not installed.
std::string mnist_dir();

// Runs one test of this binary in a child process with `env` ("NAME=value ...") set, for settings
// read once at start-up from the environment; true when the child's test passed.
bool run_test_in_child(const std::string& env, const std::string& test_name);

// Calls of the global operator new made on this thread so far (the test binary replaces it to
// count them): heap allocations other than tensor buffers, which come from core/allocator.h.
int64_t heap_allocations_on_this_thread();
// False where a sanitizer's runtime owns operator new (TSan): the counts stay 0 there, and the
// tests that need them skip.
bool counts_heap_allocations();

// Runs a shell command, stdout and stderr together; exit_code is -1 when it did not exit normally.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult run_command(const std::string& command);
// A program built beside the tests (FG_BINARY_DIR/name) with `args`.
CommandResult run_built_program(const std::string& name, const std::string& args);

// Runs fn() and expects an fg::Error of `code` whose message contains every one of `needles`.
template <typename Fn>
void expect_error(Fn&& fn, Code code, const std::vector<std::string>& needles) {
  try {
    fn();
    ADD_FAILURE() << "expected an fg::Error with code " << static_cast<int>(code);
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.code()), static_cast<int>(code)) << e.what();
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what() << "\n  lacks: " << n;
  }
}
template <typename Fn>
void expect_invalid_argument(Fn&& fn, const std::vector<std::string>& needles) {
  expect_error(std::forward<Fn>(fn), Code::kInvalidArgument, needles);
}

// ---- files

// The TensorFlow fixture `name`: $FG_FIXTURES/<name>, else ../shared/fixtures/<name> beside the
// source tree.
std::filesystem::path fixture_dir(const std::string& name);
// Skips the current test when fixture `name` is not there.
#define FG_REQUIRE_FIXTURE(name)                                                                   \
  do {                                                                                             \
    if (!std::filesystem::exists(::fg::testing::fixture_dir(name)))                                \
      GTEST_SKIP() << "no fixture at " << ::fg::testing::fixture_dir(name);                        \
  } while (0)

// A whole file's bytes ("" when it cannot be read), and a file written with exactly `bytes`.
std::string slurp(const std::filesystem::path& p);
void spit(const std::filesystem::path& p, const std::string& bytes);

// A fresh empty directory named after the running test, removed with everything in it when the
// object goes.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// mnist_dir(), and a test failure when it is missing but FG_REQUIRE_MNIST is set (as in CI).
std::string require_mnist();

// ---- example programs

struct ExampleRun {
  int exit_code = -1;
  std::vector<double> accuracies;  // "Epoch: N Validation set accuracy: A" lines, in order
  std::string output;              // stdout and stderr
};
// Runs build/<name> with `args`, single-threaded: with two threads on a shared 2-core machine
// (and ctest running tests side by side) epoch times swing with other processes' load.
ExampleRun run_example(const std::string& name, const std::string& args);
// An ExampleRun from a program's saved output.
ExampleRun parse_example_output(std::string output, int exit_code);
// The first capture group of every match of `pattern` in `output`, as numbers.
std::vector<double> numbers_after(const std::string& output, const std::string& pattern);

}  // namespace fg::testing
