#include "train/checkpoint_state.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <filesystem>

#include "core/errors.h"
#include "ops/checkpoint_files.h"
#include "ops/tensor_bundle.h"

namespace fg::train {

namespace fs = std::filesystem;

namespace {

std::string state_path(const std::string& dir) { return (fs::path(dir) / "checkpoint").string(); }

// os.path.relpath(p, start), which is what TF stores when the save directory is relative.
std::string relpath(const std::string& p, const std::string& start) {
  const fs::path a = fs::absolute(p).lexically_normal();
  const fs::path b = fs::absolute(start.empty() ? "." : start).lexically_normal();
  std::string rel = a.lexically_relative(b).string();
  return rel.empty() ? p : rel;
}

class CollectErrors final : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (text.empty()) text = str_cat("line ", line + 1, " column ", column + 1, ": ", message);
  }
  std::string text;
};

}  // namespace

void write_checkpoint_state(const std::string& dir, const std::string& model_checkpoint_path,
                            std::vector<std::string> all_paths) {
  FG_CHECK(!model_checkpoint_path.empty(), InvalidArgument, "write_checkpoint_state(", dir,
           "): empty model_checkpoint_path");
  if (all_paths.empty() || all_paths.back() != model_checkpoint_path) all_paths.push_back(model_checkpoint_path);
  std::string model = model_checkpoint_path;
  if (!fs::path(dir).is_absolute()) {
    if (!fs::path(model).is_absolute()) model = relpath(model, dir);
    for (auto& p : all_paths)
      if (!fs::path(p).is_absolute()) p = relpath(p, dir);
  }
  tensorflow::CheckpointState state;
  state.set_model_checkpoint_path(model);
  for (const auto& p : all_paths) state.add_all_model_checkpoint_paths(p);
  std::string text;
  FG_CHECK(google::protobuf::TextFormat::PrintToString(state, &text), Internal,
           "write_checkpoint_state: cannot format CheckpointState");
  internal::make_parent_dirs(state_path(dir));
  write_file_atomic(state_path(dir), text);
}

std::optional<tensorflow::CheckpointState> read_checkpoint_state(const std::string& dir) {
  const std::string path = state_path(dir);
  std::string text;
  try {
    text = internal::read_whole_file(path, "cannot open checkpoint state");
  } catch (const NotFound&) {
    return std::nullopt;
  }
  tensorflow::CheckpointState state;
  google::protobuf::TextFormat::Parser parser;
  CollectErrors errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &state))
    throw DataLoss(str_cat("checkpoint state file ", path, " is not a CheckpointState: ", errors.text));
  FG_CHECK(!state.model_checkpoint_path().empty(), DataLoss, "checkpoint state file ", path,
           " has no model_checkpoint_path");
  const auto absolutize = [&](const std::string& p) {
    return fs::path(p).is_absolute() ? p : (fs::path(dir) / p).string();
  };
  state.set_model_checkpoint_path(absolutize(state.model_checkpoint_path()));
  for (auto& p : *state.mutable_all_model_checkpoint_paths()) p = absolutize(p);
  return state;
}

std::string latest_checkpoint(const std::string& dir) {
  const auto state = read_checkpoint_state(dir);
  if (!state || !checkpoint_exists(state->model_checkpoint_path())) return "";
  return state->model_checkpoint_path();
}

}  // namespace fg::train
