// The `checkpoint` file of a directory: which checkpoint is the latest, and which ones the
// saver still keeps (TF's checkpoint_management: update/get_checkpoint_state, latest_checkpoint).
//
//   train::write_checkpoint_state("/tmp/ckpt", "/tmp/ckpt/model-100", {"/tmp/ckpt/model-50"});
//   std::optional<tensorflow::CheckpointState> s = train::read_checkpoint_state("/tmp/ckpt");
//   std::string latest = train::latest_checkpoint("/tmp/ckpt");   // "/tmp/ckpt/model-100"
//
// The file is TF's text format and is replaced atomically (temporary file, fsync, rename,
// directory fsync), so a reader sees the old or the new state, never a mix.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "proto/checkpoint_state.pb.h"

namespace fg::train {

// As TF does, paths are stored relative to `dir` when `dir` is relative; model_checkpoint_path
// is appended to all_paths if missing.
void write_checkpoint_state(const std::string& dir, const std::string& model_checkpoint_path,
                            std::vector<std::string> all_paths);
// nullopt if there is no `checkpoint` file; relative paths come back joined with `dir`.
// A malformed file is DataLoss (TF logs a warning and returns None, hiding the damage).
std::optional<tensorflow::CheckpointState> read_checkpoint_state(const std::string& dir);
// The state's model_checkpoint_path if that checkpoint exists, else "".
std::string latest_checkpoint(const std::string& dir);

}  // namespace fg::train
