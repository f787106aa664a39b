// Draws a graph the way TensorBoard's graph view shows it: name scopes as nested boxes, data edges
// with their shapes, control edges dashed. Writes Graphviz DOT, or renders it with `dot`.
//
//   graph_viz model.ckpt.meta -o graph.svg            # also .png, .pdf; .dot writes the DOT text
//   graph_viz frozen.pb --depth 1 -o top.svg          # scopes below depth 1 drawn closed
//   graph_viz export/1 -o serving.svg                 # a SavedModel directory
//   graph_viz /tmp/logs/run1 -o graph.svg             # the graph a FileWriter wrote
//   graph_viz graph.pbtxt                             # DOT on stdout
#include <filesystem>
#include <iostream>

#include "flowgraph.h"
#include "summary/graph_dot.h"
#include "tools/render.h"
#include "tools/tool_flags.h"
#include "tools/tool_util.h"

using namespace fg;
namespace fs = std::filesystem;

namespace {

// The last graph a FileWriter wrote into an event file or a log directory.
std::optional<tensorflow::GraphDef> graph_from_events(const std::string& path) {
  std::vector<std::string> files;
  if (fs::is_directory(path)) files = summary::event_files(path);
  else if (fs::path(path).filename().string().find("tfevents") != std::string::npos) files = {path};
  std::optional<tensorflow::GraphDef> found;
  for (const auto& f : files)
    for (const auto& e : summary::read_events(f)) {
      if (e.graph_def().empty()) continue;
      tensorflow::GraphDef gd;
      FG_CHECK(gd.ParseFromString(e.graph_def()), DataLoss, "event file ", f, ": its graph_def does not parse");
      found = std::move(gd);
    }
  return found;
}

int run(int argc, char** argv) {
  std::string output;
  long long depth = 0;
  bool input_binary = false, no_shapes = false;
  tools::Flags flags("graph_viz",
                     "Draws a GraphDef (.pb, .pbtxt), a meta graph (.meta), a SavedModel (directory or\n"
                     "saved_model.pb) or the graph in event files, with name scopes as nested clusters.\n"
                     "OUTPUT ending in .dot gets Graphviz DOT; .svg, .png, .pdf are rendered by `dot`;\n"
                     "without -o the DOT goes to stdout.",
                     "INPUT");
  flags.add("o", &output, "output file");
  flags.alias("output", "o");
  flags.add("depth", &depth, "draw scopes below this depth closed, one box each (0: every op)");
  flags.add("input_binary", &input_binary, "INPUT is a binary GraphDef whatever its name (TF's flag)");
  flags.add("no_shapes", &no_shapes, "leave the shapes off the edges");
  const auto positional = flags.parse(argc, argv);
  if (positional.size() != 1) flags.fail("needs exactly one INPUT");
  if (depth < 0) flags.fail("--depth must be 0 or more");
  std::string input = positional[0];

  tensorflow::GraphDef gd;
  if (fs::is_directory(input) && fs::exists(fs::path(input) / "saved_model.pb")) {
    gd = tools::read_graph_def((fs::path(input) / "saved_model.pb").string());
  } else if (auto from_events = graph_from_events(input)) {
    gd = std::move(*from_events);
  } else {
    FG_CHECK(!fs::is_directory(input), NotFound, "no graph in ", input,
             " (neither a SavedModel directory nor event files with a graph)");
    gd = tools::read_graph_def(input, flags.was_set("input_binary") ? std::optional<bool>(input_binary) : std::nullopt);
  }
  const std::string dot =
      summary::graph_to_dot(gd, {.max_depth = static_cast<int>(depth), .edge_shapes = !no_shapes});
  if (output.empty()) {
    std::cout << dot;
    return 0;
  }
  const std::string format = tools::extension_of(output);
  if (format == "dot" || format == "gv") train::write_file_atomic(output, dot);
  else if (format.empty()) flags.fail("-o " + output + ": say the format by the extension (.svg, .png, .pdf, .dot)");
  else tools::render_with_dot(dot, format, output);
  std::cerr << "graph_viz: " << gd.node_size() << " nodes -> " << output << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return fg::tools::main_reporting_errors("graph_viz", argc, argv, run); }
