// A harness without libFuzzer: runs LLVMFuzzerTestOneInput on every file named (directories:
// every file in them, sorted), so the regression corpus replays as an ordinary test in any build.
//
//   fuzz_replay_graph_def tests/fuzz/corpus/graph_def build/fuzz_seeds/graph_def
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "tests/fuzz/fuzz_util.h"

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path p(argv[i]);
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::directory_iterator(p))
        if (e.is_regular_file()) files.push_back(e.path());
    } else if (std::filesystem::exists(p)) {
      files.push_back(p);
    }  // a harness without regressions has no corpus directory

  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    const std::string bytes = fg::fuzz::read_file(f.string());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  std::printf("replayed %zu inputs\n", files.size());
  return files.empty() ? 1 : 0;
}
