// Shared by the seed's example programs: flags (--epochs N --data DIR --seed S), MNIST loading
// with a clear hint when it is missing, the seed's per-epoch line and a progress bar.
#pragma once
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "data/mnist.h"
#include "layers/core.h"
#include "ops/array.h"
#include "ops/math.h"
#include "ops/nn.h"
#include "runtime/session.h"
#include "train/optimizer.h"
#include "train/meta_graph.h"
#include "train/saver.h"

namespace fg::examples {

struct Flags {
  int epochs = 20;
  std::string data_dir = data::default_mnist_dir();
  uint64_t seed = 42;
  int64_t batch_size = 0;  // 0: the program's own default
  bool feed_training = false;
  std::string export_meta;  // write the model's graph there as a .meta (tests read it)
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
      else if (a == "--export-meta") f.export_meta = value();
      else {
        std::cerr << "usage: " << argv[0] << " [--epochs N] [--data DIR] [--seed S] [--batch-size B]"
                  << " [--export-meta PATH]" << usage_extra << "\n";
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

// With --export-meta PATH, writes `g` as a MetaGraphDef to PATH, or, for a program with several
// graphs, to PATH with "-<part>" inserted before its extension.
inline void export_graph(const Flags& f, const Graph& g, const std::string& part = "") {
  if (f.export_meta.empty()) return;
  std::filesystem::path path = f.export_meta;
  if (!part.empty()) path.replace_filename(path.stem().string() + "-" + part + path.extension().string());
  train::export_meta_graph(g, path.string());
}

// A progress bar on stderr while an epoch runs, only when stderr is a terminal. clear() (or the
// destructor) erases it, so that the epoch's line starts on a clean line.
class Progress {
 public:
  Progress(int epoch, int64_t total) : epoch_(epoch), total_(total), tty_(isatty(STDERR_FILENO)) {}
  void update(int64_t done) {
    if (!tty_ || (done % 8 != 0 && done != total_)) return;
    const int width = 30, filled = static_cast<int>(width * done / std::max<int64_t>(total_, 1));
    const int n = std::fprintf(stderr, "\r  epoch %d [%s%s] %lld/%lld", epoch_, std::string(filled, '#').c_str(),
                               std::string(width - filled, '.').c_str(), static_cast<long long>(done),
                               static_cast<long long>(total_));
    shown_ = std::max(shown_, n - 1);
    std::fflush(stderr);
  }
  void clear() {
    if (shown_ > 0) std::fprintf(stderr, "\r%*s\r", shown_, "");
    std::fflush(stderr);
    shown_ = 0;
  }
  ~Progress() { clear(); }

 private:
  int epoch_;
  int64_t total_;
  bool tty_;
  int shown_ = 0;  // width of the bar on screen
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
// progress bar, then prints "Epoch: N <label>: accuracy" on the validation set. X_batch is float32
// even though mnist.train.images is uint8: shuffle_batch scales each batch / 255 as it gathers it.
// A data-parallel process passes its shard (its part of each batch) and reports on one process
// only (`report` false elsewhere: no validation run, no output, no exported graph).
template <typename Step>
std::vector<float> run_epochs(const Flags& f, const data::Mnist& mnist, int64_t batch_size, Session& sess,
                              const Output& X, const Output& y, const Output& accuracy, Step&& step,
                              const char* label = "Validation Accuracy", data::Shard shard = {},
                              bool report = true) {
  if (report) export_graph(f, *X.graph());
  RandomEngine rng(f.seed);
  std::vector<float> accuracies;
  double total_seconds = 0;
  for (int epoch = 0; epoch < f.epochs; ++epoch) {
    Stopwatch watch;
    auto batches = data::shuffle_batch(mnist.train.images, mnist.train.labels, batch_size, rng, shard);
    std::optional<Progress> progress;
    if (report) progress.emplace(epoch, batches.num_batches());
    int64_t done = 0;
    for (auto& [X_batch, y_batch] : batches) {
      step(X_batch, y_batch);
      if (progress) progress->update(++done);
    }
    progress.reset();  // clears the bar before the epoch line
    const double seconds = watch.seconds();
    total_seconds += seconds;
    if (!report) continue;
    const float acc = sess.run({{X, mnist.validation.images}, {y, mnist.validation.labels}}, accuracy).scalar<float>();
    accuracies.push_back(acc);
    std::printf("Epoch: %d %s: %.4f  (%.2f s)\n", epoch, label, acc, seconds);
    std::fflush(stdout);
  }
  if (report && f.epochs > 0) std::printf("mean epoch time: %.2f s\n", total_seconds / f.epochs);
  return accuracies;
}

// ---- Shared by the "Reusing Pretrained Layers" programs (reuse_layers, freeze_layers,
// stop_gradient, cache_frozen): each restores hidden1-3 from the model the seed's cell [19]
// trained, so each can train that model itself (standalone) or take its checkpoint.

// Removes "--name VALUE" from `args` and returns VALUE (nullopt when absent). Run before
// parse_flags, which rejects flags it does not know.
inline std::optional<std::string> take_flag(std::vector<char*>& args, const std::string& name) {
  for (size_t i = 1; i < args.size(); ++i) {
    if (name != args[i]) continue;
    if (i + 1 >= args.size()) {
      std::cerr << name << " needs a value\n";
      std::exit(2);
    }
    std::string value = args[i + 1];
    args.erase(args.begin() + static_cast<std::ptrdiff_t>(i), args.begin() + static_cast<std::ptrdiff_t>(i) + 2);
    return value;
  }
  return std::nullopt;
}

// Where a program writes its checkpoints: `dir` when given (created if needed), else a fresh
// directory under $TMPDIR. Either way the files stay after exit, where the program said it saved
// them.
class CheckpointDir {
 public:
  explicit CheckpointDir(const std::optional<std::string>& dir, const std::string& program = "flowgraph") {
    std::error_code ec;
    if (dir) {
      path_ = *dir;
      std::filesystem::create_directories(path_, ec);
    } else {
      std::string tmpl = (std::filesystem::temp_directory_path(ec) / (program + "-XXXXXX")).string();
      if (!ec && mkdtemp(tmpl.data()) == nullptr) ec = std::error_code(errno, std::generic_category());
      path_ = tmpl;
      if (!ec) std::printf("checkpoints go to %s (--dir DIR to choose)\n", path_.c_str());
    }
    if (ec) {
      std::cerr << "cannot create checkpoint directory " << path_ << ": " << ec.message() << "\n";
      std::exit(1);
    }
  }
  CheckpointDir(const CheckpointDir&) = delete;
  CheckpointDir& operator=(const CheckpointDir&) = delete;
  std::string operator/(const std::string& file) const { return path_ + "/" + file; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct ReuseFlags {
  Flags flags;
  int pretrain_epochs = 20;               // cell [19]'s n_epochs
  std::optional<std::string> pretrained;  // a cell-[19] checkpoint prefix: skips the pretraining
  std::optional<std::string> dir;         // where checkpoints go; default a new directory in $TMPDIR
};

inline ReuseFlags parse_reuse_flags(int argc, char** argv, int default_epochs, const std::string& usage_extra = "") {
  std::vector<char*> args(argv, argv + argc);
  ReuseFlags r;
  const auto pretrain_epochs = take_flag(args, "--pretrain-epochs");
  r.pretrained = take_flag(args, "--pretrained");
  r.dir = take_flag(args, "--dir");
  r.flags = parse_flags(static_cast<int>(args.size()), args.data(), default_epochs,
                        (" [--pretrain-epochs N] [--pretrained PREFIX] [--dir DIR]" + usage_extra).c_str());
  if (pretrain_epochs) {
    try {
      r.pretrain_epochs = std::stoi(*pretrain_epochs);
    } catch (const std::logic_error&) {
      std::cerr << "--pretrain-epochs: not a number\n";
      std::exit(2);
    }
  }
  return r;
}

// The seed's cell [19] graph (also train_dnn's): five ReLU layers, GD 0.01. Bug kept: the loop
// over (300, 100, 50, 20) passes n_hidden1 to every layer, so all four hidden layers have 300
// units; the later cells depend on it (they restore these shapes).
struct Cell19 {
  Output X, y, training, accuracy;
  Operation* training_op = nullptr;
};

inline Cell19 build_cell19(Graph& g) {
  const int64_t n_inputs = 28 * 28, n_hidden1 = 300, n_outputs = 10;
  Cell19 m;
  m.X = placeholder(g, f32, {-1, n_inputs}, "X");
  m.y = placeholder(g, i32, {-1}, "y");
  m.training = placeholder_with_default(g, Tensor(false), Shape::unknown());  // fed, never read
  Output logits;
  {
    auto scope = g.name_scope("dnn");
    Output layer = m.X;
    int i = 0;
    for (int64_t n_hidden : {300, 100, 50, 20}) {
      (void)n_hidden;  // the seed's bug: every layer gets n_hidden1 units
      ++i;
      Output hidden = layers::dense(layer, n_hidden1, {.name = "hidden" + std::to_string(i)});
      layer = nn::relu(hidden, "relu" + std::to_string(i));
    }
    logits = layers::dense(layer, n_outputs, {.name = "outputs"});
  }
  Output loss;
  {
    auto scope = g.name_scope("loss");
    loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(m.y, logits), {}, "loss");
  }
  {
    auto scope = g.name_scope("train");
    m.training_op = train::GradientDescentOptimizer(0.01).minimize(loss);
  }
  {
    auto scope = g.name_scope("eval");
    m.accuracy = reduce_mean(cast(nn::in_top_k(logits, m.y, 1), f32), {}, "accuracy");
  }
  return m;
}

// Cell [19]'s training in a graph of its own: init, `epochs` epochs, saver.save(sess, model_path).
// Its lines read "Epoch: N [19] Validation set accuracy: ..." so they are told apart from the
// program's own cell. Returns the checkpoint prefix.
inline std::string pretrain_cell19(const Flags& f, const data::Mnist& mnist, int epochs, const std::string& model_path) {
  Graph g;
  g.set_random_seed(static_cast<int64_t>(f.seed));
  const Cell19 m = build_cell19(g);
  auto init = global_variables_initializer(g);
  train::Saver saver(g);
  Session sess(g);
  sess.run(init);
  std::printf("[19] training the lower layers for %d epochs\n", epochs);
  Flags pf = f;
  pf.epochs = epochs;
  auto step = sess.make_callable({m.X, m.y, m.training}, {}, {m.training_op});
  const Tensor on(true);
  run_epochs(pf, mnist, f.batch_size > 0 ? f.batch_size : 200, sess, m.X, m.y, m.accuracy,
             [&](const Tensor& xb, const Tensor& yb) { step({xb, yb, on}); }, "[19] Validation set accuracy");
  const std::string path = saver.save(sess, model_path);
  std::printf("[19] saved %s\n", path.c_str());
  return path;
}

// The model_path the reuse cells restore from: --pretrained, or a [19] model trained now.
inline std::string cell19_checkpoint(const ReuseFlags& r, const data::Mnist& mnist, const CheckpointDir& dir) {
  if (r.pretrained) return *r.pretrained;
  return pretrain_cell19(r.flags, mnist, r.pretrain_epochs, dir / "my_model.ckpt");
}

// The reuse cells' restore, with tf.train.Saver's log line. A wrong --pretrained is reported on
// stderr and returns false, so the caller can exit with an error code.
inline bool restore_pretrained(Session& sess, train::Saver& reuse_saver, const std::string& model_path) {
  std::printf("INFO: Restoring parameters from %s\n", model_path.c_str());
  try {
    reuse_saver.restore(sess, model_path);
    return true;
  } catch (const Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return false;
  }
}

// The reuse cells' last line: saver.save(sess, "./my_model_new.ckpt"), in `dir`.
inline void save_new_model(Session& sess, train::Saver& saver, const CheckpointDir& dir) {
  const std::string path = saver.save(sess, dir / "my_model_new.ckpt");
  std::printf("saved %s\n", path.c_str());
}

}  // namespace fg::examples
