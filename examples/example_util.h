// Shared by the seed's example programs: flags (--epochs N --data DIR --seed S), MNIST loading
// with a clear hint when it is missing, the seed's per-epoch line and a progress bar.
#pragma once
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "data/mnist.h"
#include "runtime/session.h"

namespace fg::examples {

struct Flags {
  int epochs = 20;
  std::string data_dir = data::default_mnist_dir();
  uint64_t seed = 42;
  int64_t batch_size = 0;  // 0: the program's own default
  bool feed_training = false;
};

inline Flags parse_flags(int argc, char** argv, int default_epochs, const char* usage_extra = "") {
  Flags f;
  f.epochs = default_epochs;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    try {
      if (a == "--epochs") f.epochs = std::stoi(value());
      else if (a == "--data") f.data_dir = value();
      else if (a == "--seed") f.seed = std::stoull(value());
      else if (a == "--batch-size") f.batch_size = std::stoll(value());
      else if (a == "--feed-training") f.feed_training = true;
      else {
        std::cerr << "usage: " << argv[0] << " [--epochs N] [--data DIR] [--seed S] [--batch-size B]" << usage_extra
                  << "\n";
        std::exit(a == "--help" || a == "-h" ? 0 : 2);
      }
    } catch (const std::logic_error&) {
      std::cerr << a << ": not a number\n";
      std::exit(2);
    }
  }
  return f;
}

inline data::Mnist load_mnist_or_exit(const Flags& f) {
  try {
    return data::load_mnist(f.data_dir);
  } catch (const Error& e) {
    std::cerr << e.what() << "\nInstall MNIST with scripts/get_mnist.sh (or pass --data DIR).\n";
    std::exit(1);
  }
}

// A progress bar on stderr while an epoch runs, only when stderr is a terminal.
class Progress {
 public:
  Progress(int epoch, int64_t total) : epoch_(epoch), total_(total), tty_(isatty(STDERR_FILENO)) {}
  void update(int64_t done) {
    if (!tty_ || (done % 8 != 0 && done != total_)) return;
    const int width = 30, filled = static_cast<int>(width * done / std::max<int64_t>(total_, 1));
    std::fprintf(stderr, "\r  epoch %d [%s%s] %lld/%lld", epoch_, std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), static_cast<long long>(done), static_cast<long long>(total_));
    std::fflush(stderr);
  }
  ~Progress() {
    if (tty_) std::fprintf(stderr, "\r%60s\r", "");
  }

 private:
  int epoch_;
  int64_t total_;
  bool tty_;
};

class Stopwatch {
 public:
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// The seed's training loop: each epoch shuffles, runs `step(X_batch, y_batch)` per batch with a
// progress bar, then prints "Epoch: N <label>: accuracy" on the validation set.
template <typename Step>
std::vector<float> run_epochs(const Flags& f, const data::Mnist& mnist, int64_t batch_size, Session& sess,
                              const Output& X, const Output& y, const Output& accuracy, Step&& step,
                              const char* label = "Validation Accuracy") {
  RandomEngine rng(f.seed);
  std::vector<float> accuracies;
  double total_seconds = 0;
  for (int epoch = 0; epoch < f.epochs; ++epoch) {
    Stopwatch watch;
    auto batches = data::shuffle_batch(mnist.train.images, mnist.train.labels, batch_size, rng);
    Progress progress(epoch, batches.num_batches());
    int64_t done = 0;
    for (auto& [X_batch, y_batch] : batches) {
      step(X_batch, y_batch);
      progress.update(++done);
    }
    const double seconds = watch.seconds();
    total_seconds += seconds;
    const float acc = sess.run({{X, mnist.validation.images}, {y, mnist.validation.labels}}, accuracy).scalar<float>();
    accuracies.push_back(acc);
    std::printf("Epoch: %d %s: %.4f  (%.2f s)\n", epoch, label, acc, seconds);
    std::fflush(stdout);
  }
  if (f.epochs > 0) std::printf("mean epoch time: %.2f s\n", total_seconds / f.epochs);
  return accuracies;
}

}  // namespace fg::examples
