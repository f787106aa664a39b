// Checkpoint and file-name ops, TF1's: the SaveV2 / RestoreV2 / MergeV2Checkpoints nodes a
// tf.train.Saver puts in its graph, ShardedFilename / ShardedFilespec, and StringJoin
// (tf.string_join). They read and write V2 checkpoints through ops/tensor_bundle.h, so a save
// run by the graph is as crash-safe as train::Saver's.
//
//   Graph g;
//   auto v = constant(g, Tensor::from_vector<float>({1, 2}), "v");
//   auto prefix = placeholder(g, string_dtype, {}, "prefix");
//   auto names = constant(g, Tensor::from_vector<std::string>({"v"}), "names");
//   auto slices = constant(g, Tensor::from_vector<std::string>({""}), "slices");  // whole tensors
//   Operation* save = save_v2(prefix, names, slices, {v});
//   std::vector<Output> restored = restore_v2(prefix, names, slices, {f32});
//   auto part = sharded_filename(string_join({prefix, constant(g, Tensor("_temp/part"))}),
//                                constant(g, Tensor(0)), constant(g, Tensor(1)));  // <prefix>_temp/part-00000-of-00001
#pragma once
#include <string>
#include <vector>

#include "graph/graph.h"

namespace fg {

// Writes `tensors` under `tensor_names` ([N] strings) to the V2 checkpoint at `prefix` (a string
// scalar). Each of `shape_and_slices` ([N]) must be "": flowgraph saves whole tensors only.
Operation* save_v2(const Output& prefix, const Output& tensor_names, const Output& shape_and_slices,
                   const std::vector<Output>& tensors, const std::string& name = "");
// The tensors `tensor_names` of the checkpoint at `prefix`, which must have these dtypes.
std::vector<Output> restore_v2(const Output& prefix, const Output& tensor_names, const Output& shape_and_slices,
                               const std::vector<DType>& dtypes, const std::string& name = "");
// Merges the checkpoints `checkpoint_prefixes` ([N] strings) into one at `destination_prefix`
// (train::merge_bundles); with delete_old_dirs, then removes each input's directory when it is
// empty and not the destination's.
Operation* merge_v2_checkpoints(const Output& checkpoint_prefixes, const Output& destination_prefix,
                                bool delete_old_dirs = true, const std::string& name = "");
// "<basename>-<shard:05d>-of-<num_shards:05d>", from a string and two int32 scalars.
Output sharded_filename(const Output& basename, const Output& shard, const Output& num_shards,
                        const std::string& name = "");
// "<basename>-?????-of-<num_shards:05d>": the glob of every shard.
Output sharded_filespec(const Output& basename, const Output& num_shards, const std::string& name = "");
// Element-wise concatenation of string tensors (scalars broadcast), `separator` between them.
Output string_join(const std::vector<Output>& inputs, const std::string& separator = "", const std::string& name = "");

}  // namespace fg
