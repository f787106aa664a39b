// Output files of the tools: written whole (a temporary beside the target, then renamed), and
// rendered by Graphviz's `dot` when a picture format is asked for. Shared by tools/*.cpp.
#pragma once
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/errors.h"
#include "ops/tensor_bundle.h"

extern char** environ;

namespace fg::tools {

// "svg" for "out/graph.svg"; "" without an extension.
inline std::string extension_of(const std::string& path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  return ext.empty() ? "" : ext.substr(1);
}

// Runs `dot -T<format>` on `dot_text` into `out`: the picture appears whole or not at all.
// Without Graphviz installed it is FailedPrecondition saying what to install.
inline void render_with_dot(const std::string& dot_text, const std::string& format, const std::string& out) {
  const std::string tmp_in = out + ".dot-input.tmp", tmp_out = out + ".tmp", tmp_err = out + ".dot-errors.tmp";
  train::write_file_atomic(tmp_in, dot_text);
  std::vector<std::string> args = {"dot", "-T" + format, "-o", tmp_out, tmp_in};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // dot's complaints go to a file, and the first of them into the error.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, tmp_err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid;
  const int err = posix_spawnp(&pid, "dot", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) {
    std::filesystem::remove(tmp_err);
    std::filesystem::remove(tmp_in);
    if (err == ENOENT)
      throw FailedPrecondition("rendering " + format + " needs Graphviz's `dot` (Debian package graphviz); "
                               "an output ending in .dot gets the DOT text instead");
    throw FailedPrecondition(std::string("cannot run dot: ") + std::strerror(err));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::error_code ec;
  std::filesystem::remove(tmp_in, ec);
  std::string complaint;
  {
    std::ifstream f(tmp_err);
    std::getline(f, complaint);
  }
  std::filesystem::remove(tmp_err, ec);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::filesystem::remove(tmp_out, ec);
    throw Internal("dot -T" + format + " failed (exit status " + std::to_string(WEXITSTATUS(status)) + ") on " + out +
                   (complaint.empty() ? "" : ": " + complaint));
  }
  std::filesystem::rename(tmp_out, out, ec);
  if (ec) throw FailedPrecondition("cannot rename " + tmp_out + " to " + out + ": " + ec.message());
}

}  // namespace fg::tools
