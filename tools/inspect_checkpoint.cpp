// Lists or prints the tensors of a TF V2 checkpoint, like TF's inspect_checkpoint.
//
//   inspect_checkpoint /tmp/model.ckpt                      # "name (DT_FLOAT) [784,300]" lines
//   inspect_checkpoint /tmp/model.ckpt --tensor dnn/hidden1/bias [--max N]
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

#include "train/checkpoint_listing.h"

namespace {

int usage() {
  std::cerr << "usage: inspect_checkpoint PREFIX [--tensor NAME] [--max N]\n"
               "  PREFIX is the checkpoint prefix (the .index file without its extension)\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string prefix, tensor;
  long long max_values = 20;
  bool want_tensor = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--tensor" && i + 1 < argc) {
      tensor = argv[++i];
      want_tensor = true;
    } else if (arg.rfind("--tensor=", 0) == 0) {
      tensor = arg.substr(9);
      want_tensor = true;
    } else if (arg == "--max" && i + 1 < argc) {
      max_values = std::atoll(argv[++i]);
    } else if (arg == "-h" || arg == "--help") {
      usage();
      return 0;
    } else if (!arg.empty() && arg[0] != '-' && prefix.empty()) {
      prefix = arg;
    } else {
      return usage();
    }
  }
  if (prefix.empty()) return usage();
  // Shell completion offers the file names, so accept those in place of the prefix.
  for (const std::string suffix : {".index", ".data-00000-of-00001"})
    if (prefix.size() > suffix.size() && prefix.compare(prefix.size() - suffix.size(), suffix.size(), suffix) == 0)
      prefix.resize(prefix.size() - suffix.size());

  try {
    if (want_tensor)
      std::cout << fg::train::format_checkpoint_tensor(prefix, tensor, max_values);
    else
      std::cout << fg::train::format_checkpoint_listing(prefix);
  } catch (const std::exception& e) {
    std::cerr << "inspect_checkpoint: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
