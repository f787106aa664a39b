// TensorFlow's freeze_graph: a graph's variables become Const nodes holding a checkpoint's
// values, and the graph is pruned to what the output nodes need; the result is a binary
// GraphDef that runs without a checkpoint (here or in TF) and gives the same outputs.
//
//   freeze_graph --input_meta_graph=model.ckpt.meta --input_checkpoint=model.ckpt \
//                --output_node_names=dnn/outputs/BiasAdd --output_graph=frozen.pb
//   freeze_graph --input_saved_model_dir=export/1 --output_node_names=... --output_graph=...
//   freeze_graph --input_graph=graph.pbtxt --input_checkpoint=model.ckpt ...   # text GraphDef
//   freeze_graph --input_graph=graph.pb --input_binary ...                      # binary GraphDef
#include <iostream>

#include "flowgraph.h"
#include "graph/op_registry.h"
#include "tools/tool_flags.h"
#include "tools/tool_util.h"
#include "train/graph_util.h"

using namespace fg;

namespace {

// Without a saver, every variable of the graph that the checkpoint holds is restored by its
// name, as TF's freeze_graph does with a Saver over the checkpoint's variables.
void restore_by_name(Session& sess, const std::string& prefix) {
  train::BundleReader reader(prefix);
  for (Operation* op : sess.graph().get_operations()) {
    if (!op->def().holds_variable || !reader.contains(op->name())) continue;
    Tensor value = reader.read(op->name());
    FG_CHECK(value.dtype() == op->output_dtype(0) && op->output_shape(0).compatible_with(value.shape()),
             InvalidArgument, "checkpoint ", prefix, " holds '", op->name(), "' as ", dtype_name(value.dtype()),
             value.shape().to_string(), ", the graph has ", dtype_name(op->output_dtype(0)),
             op->output_shape(0).to_string());
    sess.set_variable_value(op, value);
  }
}

int run(int argc, char** argv) {
  std::string input_graph, input_saver, input_checkpoint, output_node_names, output_graph, restore_op_name,
      filename_tensor_name, initializer_nodes, whitelist, blacklist, input_meta_graph, input_saved_model_dir,
      saved_model_tags = "serve";
  bool input_binary = false, clear_devices = true;
  long long checkpoint_version = 2;
  tools::Flags flags("freeze_graph",
                     "Replaces a graph's variables by constants holding a checkpoint's values, keeps what the\n"
                     "output nodes need, and writes a binary GraphDef (TensorFlow's freeze_graph, same flags).");
  flags.add("input_graph", &input_graph, "GraphDef file (text unless --input_binary, or .pb)");
  flags.add("input_saver", &input_saver, "SaverDef file naming the graph's restore ops (optional)");
  flags.add("input_binary", &input_binary, "--input_graph is a binary GraphDef");
  flags.add("input_checkpoint", &input_checkpoint, "checkpoint prefix holding the variables' values");
  flags.add("output_node_names", &output_node_names, "comma-separated nodes the frozen graph computes");
  flags.add("output_graph", &output_graph, "where the binary frozen GraphDef goes");
  flags.add("restore_op_name", &restore_op_name, "deprecated in TF, unused");
  flags.add("filename_tensor_name", &filename_tensor_name, "deprecated in TF, unused");
  flags.add("clear_devices", &clear_devices, "drop device placements (default true)");
  flags.add("initializer_nodes", &initializer_nodes, "comma-separated nodes to run after restoring");
  flags.add("variable_names_whitelist", &whitelist, "freeze only these variables (comma-separated)");
  flags.add("variable_names_blacklist", &blacklist, "leave these variables as variables");
  flags.add("input_meta_graph", &input_meta_graph, "MetaGraphDef (.meta) in place of --input_graph");
  flags.add("input_saved_model_dir", &input_saved_model_dir, "SavedModel directory in place of both");
  flags.add("saved_model_tags", &saved_model_tags, "tags of the SavedModel's meta graph (default serve)");
  flags.add("checkpoint_version", &checkpoint_version, "2 (V2 checkpoints; V1 is not supported)");
  if (!flags.parse(argc, argv).empty()) flags.fail("takes no positional arguments");

  const auto outputs = tools::split_list(output_node_names);
  if (outputs.empty()) flags.fail("You need to supply the name of a node to --output_node_names.");
  if (output_graph.empty()) flags.fail("--output_graph is required");
  if (checkpoint_version != 2) throw Unimplemented("--checkpoint_version=1: only V2 checkpoints are supported");
  const int inputs = int(!input_graph.empty()) + int(!input_meta_graph.empty()) + int(!input_saved_model_dir.empty());
  if (inputs != 1) flags.fail("give exactly one of --input_graph, --input_meta_graph, --input_saved_model_dir");
  if (input_saved_model_dir.empty() && input_checkpoint.empty()) flags.fail("--input_checkpoint is required");
  if (!input_checkpoint.empty() && !train::checkpoint_exists(input_checkpoint))
    throw NotFound("Input checkpoint '" + input_checkpoint + "' doesn't exist!");

  register_ops();
  Graph g;
  Session sess(g);
  std::optional<train::Saver> saver;
  if (!input_saved_model_dir.empty()) {
    // The SavedModel's own variables, unless a checkpoint is given too.
    const auto tags = tools::split_list(saved_model_tags);
    saved_model::load(sess, std::set<std::string>(tags.begin(), tags.end()), input_saved_model_dir);
  } else if (!input_meta_graph.empty()) {
    saver = train::import_meta_graph(g, input_meta_graph, {.clear_devices = clear_devices});
  } else {
    tensorflow::GraphDef gd = tools::read_graph_def(
        input_graph, flags.was_set("input_binary") ? std::optional<bool>(input_binary) : std::nullopt);
    if (clear_devices)
      for (auto& n : *gd.mutable_node()) n.clear_device();
    import_graph_def(g, gd, {.prefix = ""});
  }
  if (!input_saver.empty()) {
    tensorflow::SaverDef saver_def;
    const std::string bytes = tools::read_file(input_saver);
    FG_CHECK(saver_def.ParseFromString(bytes) ||
                 google::protobuf::TextFormat::ParseFromString(bytes, &saver_def),
             DataLoss, "'", input_saver, "' is not a SaverDef");
    saver = train::Saver::from_saver_def(g, saver_def);
  }
  if (!input_checkpoint.empty()) {
    if (saver) saver->restore(sess, input_checkpoint);
    else restore_by_name(sess, input_checkpoint);
  }
  if (const auto init = tools::split_list(initializer_nodes); !init.empty()) {
    std::vector<Operation*> ops;
    for (const auto& name : init) ops.push_back(g.get_operation_by_name(name));
    sess.run(Targets(ops));
  }

  train::ConvertVariablesOptions options;
  if (!whitelist.empty()) {
    const auto names = tools::split_list(whitelist);
    options.variable_names_whitelist = std::set<std::string>(names.begin(), names.end());
  }
  for (const auto& name : tools::split_list(blacklist)) options.variable_names_blacklist.insert(name);
  const tensorflow::GraphDef frozen = train::convert_variables_to_constants(sess, to_graph_def(g), outputs, options);
  train::write_file_atomic(output_graph, serialize_deterministic(frozen));
  std::cout << frozen.node_size() << " ops in the final graph.\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return fg::tools::main_reporting_errors("freeze_graph", argc, argv, run); }
