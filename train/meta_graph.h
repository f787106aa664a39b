// TF1 meta-graphs (`.meta` files): a GraphDef plus the saver and the collections.
//
//   train::export_meta_graph(g, "/tmp/model.meta");          // Saver::save also writes one
//   Graph g2;
//   std::optional<train::Saver> saver = train::import_meta_graph(g2, "/tmp/model.meta");
//   Session sess(g2);
//   saver->restore(sess, "/tmp/model");
//   Output acc = g2.get_tensor_by_name("eval/Mean:0");
//   auto kernels = g2.get_variables(GraphKeys::TRAINABLE_VARIABLES, "dnn/hidden1");
//
// Collections travel as TF stores them: tensors and ops by name (node_list, "op:0" vs "op"),
// variables as serialized VariableDefs (bytes_list), strings as bytes_list, int64 and float
// values as int64_list / float_list. Files TensorFlow 1.x wrote import the same way.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "proto/meta_graph.pb.h"
#include "train/saver.h"

namespace fg::train {

struct ExportMetaGraphOptions {
  std::optional<tensorflow::SaverDef> saver_def;
  // Collections to write; empty: all of them.
  std::vector<std::string> collection_list;
  bool clear_devices = false;
};

// Collections whose items TF stores as VariableDef protos.
bool is_variable_collection(const std::string& key);
// TF's GraphKeys.COND_CONTEXT: the graph's cond branches (graph/control_flow.h) as CondContextDef
// protos, written from Graph::cond_contexts() and read back into them (so gradients through an
// imported cond know its branches, as TF's import_meta_graph restores them).
extern const std::string kCondContextKey;

// A collection mixing kinds a CollectionDef cannot hold together (variables with ops, numbers
// with names) is InvalidArgument naming the key.
tensorflow::MetaGraphDef to_meta_graph_def(const Graph& g, const ExportMetaGraphOptions& options = {});
// Written atomically (temporary file + rename). Returns what it wrote.
tensorflow::MetaGraphDef export_meta_graph(const Graph& g, const std::string& path,
                                           const ExportMetaGraphOptions& options = {});

struct ImportMetaGraphOptions {
  // Names go under this scope (uniquified like a name scope; "name/" is used exactly).
  std::string import_scope;
  bool clear_devices = false;
};

// Imports the graph, rebuilds its collections (Variables from VariableDefs), and returns a
// Saver over its SaverDef, or nullopt when it has none. An unreadable file is NotFound; a
// truncated or garbage one DataLoss naming the file.
std::optional<Saver> import_meta_graph(Graph& g, const std::string& path, const ImportMetaGraphOptions& options = {});
std::optional<Saver> import_meta_graph(Graph& g, const tensorflow::MetaGraphDef& meta_graph,
                                       const ImportMetaGraphOptions& options = {});
// Reads and parses a .meta file (the errors above).
tensorflow::MetaGraphDef read_meta_graph_file(const std::string& path);

}  // namespace fg::train
