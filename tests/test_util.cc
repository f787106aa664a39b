#include "tests/test_util.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <new>

#include "core/random.h"
#include "graph/gradients.h"
#include "ops/array.h"
#include "ops/math.h"
#include "runtime/session.h"

namespace fg::testing {

Tensor random_tensor(const Shape& shape, uint64_t seed, double lo, double hi, DType dtype) {
  PhiloxRandom gen(seed, 17);
  Tensor t = Tensor::empty(dtype, shape);
  dispatch_float(dtype, "random_tensor", [&]<typename T>() {
    for (T& v : t.flat<T>()) v = static_cast<T>(lo + (hi - lo) * uint32_to_unit_float(gen()[0]));
  });
  return t;
}

std::vector<double> as_doubles(const Tensor& t) {
  return dispatch_float(t.dtype(), "as_doubles", [&]<typename T>() {
    const auto v = t.flat<T>();
    return std::vector<double>(v.begin(), v.end());
  });
}

Tensor float_tensor(DType dtype, const Shape& shape, const std::vector<double>& values) {
  return dispatch_float(dtype, "float_tensor", [&]<typename T>() {
    return Tensor::from_vector(std::vector<T>(values.begin(), values.end()), shape);
  });
}

GradCheckResult check_gradients(const std::function<Output(const std::vector<Output>&)>& f,
                                const std::vector<Tensor>& xs, double delta) {
  Graph g;
  std::vector<Output> ph;
  for (size_t i = 0; i < xs.size(); ++i) ph.push_back(placeholder(g, f64, xs[i].shape(), str_cat("x", i)));
  Output y = f(ph);
  EXPECT_EQ(y.dtype(), f64) << "gradient checks run in float64";
  // Random weights make every output element's gradient path matter.
  Output w = placeholder(g, f64, Shape::unknown(), "w");
  Output loss = reduce_sum(y * w);
  std::vector<Output> grads = gradients({loss}, ph);
  Session sess(g);
  FeedDict feeds;
  for (size_t i = 0; i < xs.size(); ++i) feeds.push_back({ph[i], xs[i]});
  const Tensor y_val = sess.run(feeds, y);
  feeds.push_back({w, random_tensor(y_val.shape(), 99, 0.5, 1.5)});

  std::vector<Output> fetch;
  for (size_t i = 0; i < grads.size(); ++i) {
    EXPECT_TRUE(static_cast<bool>(grads[i])) << "no gradient for input " << i;
    if (grads[i]) fetch.push_back(grads[i]);
  }
  if (fetch.size() != grads.size()) return {1e9, 1e9};
  std::vector<Tensor> symbolic = sess.run(feeds, fetch);

  GradCheckResult r;
  for (size_t i = 0; i < xs.size(); ++i) {
    EXPECT_EQ(symbolic[i].shape(), xs[i].shape()) << "gradient " << i << " has the wrong shape";
    Tensor x = xs[i].clone();
    feeds[i].second = x;
    for (int64_t k = 0; k < x.num_elements(); ++k) {
      double* p = x.data<double>() + k;
      const double orig = *p;
      *p = orig + delta;
      const double up = sess.run(feeds, loss).scalar<double>();
      *p = orig - delta;
      const double down = sess.run(feeds, loss).scalar<double>();
      *p = orig;
      const double numeric = (up - down) / (2 * delta);
      const double err = std::abs(numeric - symbolic[i].data<double>()[k]);
      r.max_abs_error = std::max(r.max_abs_error, err);
      r.max_rel_error = std::max(r.max_rel_error, err / std::max(1.0, std::abs(numeric)));
    }
    feeds[i].second = xs[i];
  }
  return r;
}

void expect_gradients_match(const std::function<Output(const std::vector<Output>&)>& f,
                            const std::vector<Tensor>& xs, double tol) {
  const GradCheckResult r = check_gradients(f, xs);
  EXPECT_LE(r.max_rel_error, tol) << "max abs error " << r.max_abs_error;
}

void expect_float32_gradients_match(const std::function<Output(const std::vector<Output>&)>& f,
                                    const std::vector<Tensor>& xs, double tol) {
  const GradCheckResult r = check_gradients(
      [&](const std::vector<Output>& in) {
        std::vector<Output> in32;
        for (const Output& x : in) in32.push_back(cast(x, f32));
        const Output y = f(in32);
        EXPECT_EQ(y.dtype(), f32) << "a float32 gradient check of a float64 result";
        return cast(y, f64);
      },
      xs, 1e-3);
  EXPECT_LE(r.max_rel_error, tol) << "max abs error " << r.max_abs_error;
}

Tensor eval(const Output& y, const std::vector<std::pair<Output, Tensor>>& feeds) {
  Session sess(*y.graph());
  return sess.run(feeds, y);
}

std::string mnist_dir() {
  std::vector<std::string> candidates;
  if (const char* d = std::getenv("FG_MNIST_DIR")) candidates.push_back(d);
  if (const char* d = std::getenv("FG_DATA_DIR")) candidates.push_back(std::string(d) + "/mnist");
  if (const char* h = std::getenv("HOME")) candidates.push_back(std::string(h) + "/.cache/flowgraph/mnist");
  for (const auto& c : candidates)
    if (std::filesystem::exists(c + "/train-images-idx3-ubyte")) return c;
  return "";
}

bool run_test_in_child(const std::string& env, const std::string& test_name) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string cmd = env + " '" + self + "' --gtest_filter='" + test_name + "' > /dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

CommandResult run_built_program(const std::string& name, const std::string& args) {
  return run_command(str_cat("'", FG_BINARY_DIR, "/", name, "' ", args));
}

// ---- files

std::filesystem::path fixture_dir(const std::string& name) {
  if (const char* env = std::getenv("FG_FIXTURES")) return std::filesystem::path(env) / name;
  return std::filesystem::path(FG_SOURCE_DIR) / ".." / "shared" / "fixtures" / name;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void spit(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TempDir::TempDir() {
  static int counter = 0;  // several per test
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? str_cat(info->test_suite_name(), ".", info->name()) : "x";
  for (char& c : name)
    if (c == '/') c = '_';  // parameterized tests' names
  path_ = std::filesystem::temp_directory_path() / str_cat("fg_", name, "_", ::getpid(), "_", counter++);
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string require_mnist() {
  const std::string dir = mnist_dir();
  if (dir.empty() && std::getenv("FG_REQUIRE_MNIST")) ADD_FAILURE() << "MNIST is required but not installed";
  return dir;
}

// ---- example programs

ExampleRun run_example(const std::string& name, const std::string& args) {
  const std::string cmd = "OMP_NUM_THREADS=1 " + std::string(FG_BINARY_DIR) + "/" + name + " " + args + " 2>&1";
  ExampleRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) r.output += buf;
  return parse_example_output(std::move(r.output), WEXITSTATUS(pclose(p)));
}

ExampleRun parse_example_output(std::string output, int exit_code) {
  ExampleRun r;
  r.output = std::move(output);
  r.exit_code = exit_code;
  // A program's own epochs; a pretraining phase's lines ("Epoch: N [19] Validation ...") do not match.
  r.accuracies = numbers_after(r.output, R"(Epoch: \d+ (?:Validation (?:set )?)?[Aa]ccuracy: ([0-9.]+))");
  return r;
}

std::vector<double> numbers_after(const std::string& output, const std::string& pattern) {
  std::vector<double> values;
  const std::regex re(pattern);
  for (std::sregex_iterator it(output.begin(), output.end(), re), end; it != end; ++it)
    values.push_back(std::stod((*it)[1]));
  return values;
}

}  // namespace fg::testing

// The test binary's global operator new and delete (every non-aligned form, so that each pairs
// with its own): malloc and free, counted per thread. Not under ThreadSanitizer, whose runtime
// defines them itself (two definitions do not link).
#if defined(__SANITIZE_THREAD__)
#define FG_TEST_COUNTS_NEW 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FG_TEST_COUNTS_NEW 0
#endif
#endif
#ifndef FG_TEST_COUNTS_NEW
#define FG_TEST_COUNTS_NEW 1
#endif

namespace {
thread_local int64_t t_heap_allocations = 0;
}  // namespace

int64_t fg::testing::heap_allocations_on_this_thread() { return t_heap_allocations; }
bool fg::testing::counts_heap_allocations() { return FG_TEST_COUNTS_NEW; }

#if FG_TEST_COUNTS_NEW

void* operator new(std::size_t size) {
  ++t_heap_allocations;
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return ::operator new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  ++t_heap_allocations;
  return std::malloc(size ? size : 1);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept { return ::operator new(size, tag); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#endif  // FG_TEST_COUNTS_NEW
