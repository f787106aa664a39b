// TensorFlow's V2 checkpoint files: `prefix.index` (a LevelDB table: "" -> BundleHeaderProto,
// tensor name -> BundleEntryProto) and `prefix.data-00000-of-00001` (raw bytes back to back).
//
//   train::BundleWriter w("/tmp/ckpt/model-100");
//   w.add("dnn/hidden1/kernel", kernel);
//   w.finish();                          // nothing appears at the prefix before this
//
//   train::BundleReader r("/tmp/ckpt/model-100");
//   for (const auto& name : r.keys()) auto [dtype, shape] = r.dtype_and_shape(name);
//   Tensor k = r.read("dnn/hidden1/kernel");
//
//   train::write_checkpoint_state("/tmp/ckpt", "/tmp/ckpt/model-100", {"/tmp/ckpt/model-100"});
//   train::latest_checkpoint("/tmp/ckpt") == "/tmp/ckpt/model-100";
//
// Files are written under a temporary name, fsynced and renamed, so a crash mid-save leaves
// the previous checkpoint readable. Readers never trust the bytes: a missing file is
// NotFound, anything malformed or failing its crc is DataLoss naming the file (and tensor).
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "proto/checkpoint_state.pb.h"

namespace fg::train {

std::string index_filename(const std::string& prefix);
std::string data_filename(const std::string& prefix, int shard = 0, int num_shards = 1);

class BundleWriter {
 public:
  explicit BundleWriter(std::string prefix);
  // Without finish(), the temporary files are removed and the prefix is left as it was.
  ~BundleWriter();
  BundleWriter(const BundleWriter&) = delete;
  BundleWriter& operator=(const BundleWriter&) = delete;

  // Names are unique and non-empty ("" is the header's key); any order.
  void add(const std::string& name, const Tensor& t);
  void finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class BundleReader {
 public:
  explicit BundleReader(std::string prefix);
  ~BundleReader();
  BundleReader(const BundleReader&) = delete;
  BundleReader& operator=(const BundleReader&) = delete;

  const std::string& prefix() const;
  bool contains(const std::string& name) const;
  std::vector<std::string> keys() const;  // sorted, like the index
  // Unimplemented for dtypes flowgraph has no Tensor for (DT_STRING, ...).
  std::pair<DType, Shape> dtype_and_shape(const std::string& name) const;
  // Verifies the crc. Safe to call from several threads.
  Tensor read(const std::string& name) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  friend std::string format_checkpoint_listing(const std::string& prefix);
};

// TF's inspect_checkpoint listing, one "name (DT_FLOAT) [784,300]" line per tensor.
std::string format_checkpoint_listing(const std::string& prefix);
// "tensor_name:  <name>", its dtype and shape, up to max_values values, min/max/mean/std.
std::string format_checkpoint_tensor(const std::string& prefix, const std::string& name,
                                     int64_t max_values = 20);

// True when `prefix.index` exists (what TF's checkpoint_exists checks for V2).
bool checkpoint_exists(const std::string& prefix);
// Removes prefix.index, prefix.data-*-of-* and prefix.meta if present, like TF's Saver does
// for checkpoints past max_to_keep.
void remove_checkpoint(const std::string& prefix);

// Writes `path` via a temporary file, fsync and rename: readers see the old or new contents.
void write_file_atomic(const std::string& path, std::string_view contents);

// The `checkpoint` file of `dir` (text format). As TF does, paths are stored relative to
// `dir` when `dir` is relative; model_checkpoint_path is appended to all_paths if missing.
void write_checkpoint_state(const std::string& dir, const std::string& model_checkpoint_path,
                            std::vector<std::string> all_paths);
// nullopt if there is no `checkpoint` file; relative paths come back joined with `dir`.
// A malformed file is DataLoss (TF logs a warning and returns None, hiding the damage).
std::optional<tensorflow::CheckpointState> read_checkpoint_state(const std::string& dir);
// The state's model_checkpoint_path if that checkpoint exists, else "".
std::string latest_checkpoint(const std::string& dir);

}  // namespace fg::train
