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
// A save commits atomically, also over an existing prefix: a process killed at any point of
// it leaves the prefix restorable, holding exactly the old or exactly the new tensors, and
// the next save or restore in the directory removes what the killed one left behind. Readers
// never trust the bytes: a missing file is NotFound, anything malformed or failing its crc is
// DataLoss naming the file (and tensor). The `checkpoint` state file is in
// train/checkpoint_state.h, the inspect_checkpoint listing in train/checkpoint_listing.h.
// This lives in ops/ because SaveV2, RestoreV2 and MergeV2Checkpoints (ops/io_ops.h) read and
// write checkpoints too; the namespace is the API's, tf.train's.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "proto/tensor_bundle.pb.h"

namespace fg::train {

std::string index_filename(const std::string& prefix);
std::string data_filename(const std::string& prefix, int shard = 0, int num_shards = 1);

class BundleWriter {
 public:
  // Also removes the leftovers of killed saves in the prefix's directory.
  explicit BundleWriter(std::string prefix);
  // Without finish(), the temporary files are removed and the prefix is left as it was.
  ~BundleWriter();
  BundleWriter(const BundleWriter&) = delete;
  BundleWriter& operator=(const BundleWriter&) = delete;

  // Names are unique and non-empty ("" is the header's key); any order.
  void add(const std::string& name, const Tensor& t);
  // Durable (files and directory fsynced) when it returns.
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
  int num_shards() const;  // data files: prefix.data-0000k-of-<num_shards>
  bool contains(const std::string& name) const;
  std::vector<std::string> keys() const;  // sorted, like the index
  // The index entry as stored (dtype as TF's enum, also for dtypes flowgraph cannot hold).
  const tensorflow::BundleEntryProto& entry(const std::string& name) const;
  // Unimplemented for dtypes flowgraph has no Tensor for (DT_HALF, ...).
  std::pair<DType, Shape> dtype_and_shape(const std::string& name) const;
  // Verifies the crc. Safe to call from several threads.
  Tensor read(const std::string& name) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// TF's MergeBundles, behind MergeV2Checkpoints: the checkpoints at `prefixes` (each of any number
// of shards) become one at `destination`, whose data files are theirs renamed (shards numbered
// in order) and whose index lists every tensor; the inputs' index files are then removed
// (`destination` may be one of them). A tensor in two inputs is InvalidArgument, and nothing is
// renamed then. The index goes through a temporary, fsync and rename after the data files are in
// place, as TF writes it (not the backup protocol of BundleWriter's commit).
void merge_bundles(const std::vector<std::string>& prefixes, const std::string& destination);

// True when `prefix.index` exists (what TF's checkpoint_exists checks for V2).
bool checkpoint_exists(const std::string& prefix);
// Removes prefix.index, prefix.data-*-of-* and prefix.meta if present, like TF's Saver does
// for checkpoints past max_to_keep.
void remove_checkpoint(const std::string& prefix);

// Writes `path` via a temporary file, fsync, rename and a directory fsync: readers see the old
// or the new contents, and a killed writer's temporary is removed by the next save or restore.
void write_file_atomic(const std::string& path, std::string_view contents);

}  // namespace fg::train
