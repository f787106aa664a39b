// libtorch (PyTorch 1.13 C++) peer of bench/compare_bench.cc and bench/peers/torch_mlp.py: the
// same models, protocol and JSON lines, without the Python interpreter in the loop.
//
//   OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE build-bench/peers/torch_mlp --model plain200 --epochs 3
//   build-bench/peers/torch_mlp --model infer      # single-sample inference, us per call
//
// Built by bench/compare.sh from bench/peers/CMakeLists.txt against Debian's libtorch-dev.
#include <sys/resource.h>
#include <time.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {

std::string mnist_dir() {
  if (const char* d = std::getenv("FG_MNIST_DIR"); d && *d) return d;
  if (const char* d = std::getenv("FG_DATA_DIR"); d && *d) return std::string(d) + "/mnist";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.cache/flowgraph/mnist";
}

uint32_t be32(const unsigned char* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

// The IDX payload after a header of `dims` sizes; exits on a wrong magic number.
std::vector<unsigned char> read_idx(const std::string& path, uint32_t magic, int dims) {
  std::ifstream f(path, std::ios::binary);
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() < size_t(4 + 4 * dims) || be32(bytes.data()) != magic) {
    std::cerr << path << ": missing or not an IDX file\n";
    std::exit(1);
  }
  return {bytes.begin() + 4 + 4 * dims, bytes.end()};
}

// A Linear layer with Glorot-uniform weights and zero biases, as tf.layers.dense.
torch::nn::Linear dense(int64_t in, int64_t out) {
  torch::nn::Linear l(in, out);
  torch::nn::init::xavier_uniform_(l->weight);
  torch::nn::init::zeros_(l->bias);
  return l;
}

torch::nn::Sequential build(const std::string& kind) {
  torch::nn::Sequential m;
  if (kind == "plain") {
    m->push_back(dense(784, 300)); m->push_back(torch::nn::ReLU());
    m->push_back(dense(300, 100)); m->push_back(torch::nn::ReLU());
    m->push_back(dense(100, 10));
  } else if (kind == "train_dnn") {
    int64_t in = 784;
    for (int i = 0; i < 4; ++i, in = 300) {  // the seed passes n_hidden1 = 300 to every layer
      m->push_back(dense(in, 300));
      m->push_back(torch::nn::ReLU());
    }
    m->push_back(dense(300, 10));
  } else {  // batch_norm: TF's momentum 0.9 is PyTorch's 0.1
    auto bn = [](int64_t c) { return torch::nn::BatchNorm1d(torch::nn::BatchNorm1dOptions(c).eps(1e-3).momentum(0.1)); };
    m->push_back(dense(784, 300)); m->push_back(bn(300)); m->push_back(torch::nn::ELU());
    m->push_back(dense(300, 100)); m->push_back(bn(100)); m->push_back(torch::nn::ELU());
    m->push_back(dense(100, 10)); m->push_back(bn(10));
  }
  return m;
}

// Median of `rounds` timings of `calls` calls each, in microseconds per call.
template <typename F>
double us_per_call(F&& f, int calls = 20000, int rounds = 5) {
  std::vector<double> t;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) f();
    t.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / calls);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Single-sample inference, the peer of session_bench's BM_MlpInference and BM_TinyDenseInference.
int infer_main() {
  torch::manual_seed(42);
  torch::NoGradGuard no_grad;
  auto mlp = build("plain");
  mlp->eval();
  auto x = torch::rand({1, 784});
  const double mlp_us = us_per_call([&] { auto y = mlp->forward(x); });
  auto lin = dense(10, 10);
  auto x10 = torch::rand({1, 10});
  const double tiny_us = us_per_call([&] { auto y = torch::relu(lin->forward(x10)); });
  std::printf("{\"framework\": \"libtorch\", \"model\": \"infer\", \"mlp_784_300_100_10_us\": %.3f, "
              "\"relu_dense_1x10_us\": %.3f, \"threads\": %d}\n", mlp_us, tiny_us, torch::get_num_threads());
  return 0;
}

// CPU seconds of every thread of the process (see compare_bench.cc).
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

std::string join(const std::vector<double>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, data = mnist_dir();
  int epochs = 3;
  uint64_t seed = 42;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--model") model = argv[i + 1];
    else if (a == "--epochs") epochs = std::atoi(argv[i + 1]);
    else if (a == "--seed") seed = std::strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--data") data = argv[i + 1];
  }
  std::string kind;
  int64_t batch = 200;
  if (model == "infer") return infer_main();
  if (model == "plain200") kind = "plain";
  else if (model == "plain50") kind = "plain", batch = 50;
  else if (model == "batch_norm" || model == "train_dnn") kind = model;
  else {
    std::cerr << "usage: " << argv[0] << " --model plain200|plain50|batch_norm|train_dnn [--epochs N] [--data DIR]\n";
    return 2;
  }
  torch::manual_seed(seed);

  const auto pixels = read_idx(data + "/train-images-idx3-ubyte", 0x803, 3);
  const auto label_bytes = read_idx(data + "/train-labels-idx1-ubyte", 0x801, 1);
  const int64_t total = int64_t(label_bytes.size()), validation = 5000, n = total - validation;
  auto x_all = torch::from_blob(const_cast<unsigned char*>(pixels.data()), {total, 784}, torch::kUInt8)
                   .to(torch::kFloat32).div_(255.0);
  auto y_all = torch::from_blob(const_cast<unsigned char*>(label_bytes.data()), {total}, torch::kUInt8).to(torch::kInt64);
  auto x_val = x_all.slice(0, 0, validation), y_val = y_all.slice(0, 0, validation);
  auto x_train = x_all.slice(0, validation), y_train = y_all.slice(0, validation);  // row slices: contiguous views

  rusage ru_load{};
  getrusage(RUSAGE_SELF, &ru_load);  // the peak so far: libtorch and the dataset as loaded
  auto net = build(kind);
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.01));
  std::vector<double> times, cpu_times;
  double acc = 0;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    net->train();
    const double c0 = process_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    auto perm = torch::randperm(n, torch::kInt64);
    for (const auto& idx : torch::tensor_split(perm, n / batch)) {  // np.array_split's nearly equal batches
      auto xb = x_train.index_select(0, idx), yb = y_train.index_select(0, idx);
      opt.zero_grad();
      torch::nn::functional::cross_entropy(net->forward(xb), yb).backward();
      opt.step();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    times.push_back(seconds);
    cpu_times.push_back(process_cpu_seconds() - c0);
    net->eval();
    {
      torch::NoGradGuard no_grad;
      acc = net->forward(x_val).argmax(1).eq(y_val).to(torch::kFloat32).mean().item<double>();
    }
    std::printf("{\"framework\": \"libtorch\", \"model\": \"%s\", \"epoch\": %d, \"seconds\": %.6f, "
                "\"cpu_seconds\": %.6f, \"accuracy\": %.6f}\n",
                model.c_str(), epoch, seconds, cpu_times.back(), acc);
    std::fflush(stdout);
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("{\"framework\": \"libtorch\", \"model\": \"%s\", \"summary\": true, \"epoch_seconds\": [%s], "
              "\"epoch_cpu_seconds\": [%s], \"accuracy\": %.6f, \"peak_rss_mb\": %.1f, \"peak_rss_after_load_mb\": %.1f, "
              "\"threads\": %d}\n",
              model.c_str(), join(times).c_str(), join(cpu_times).c_str(), acc, double(ru.ru_maxrss) / 1024.0,
              double(ru_load.ru_maxrss) / 1024.0, torch::get_num_threads());
  return 0;
}
