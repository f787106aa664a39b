// Meta-graph import: a MetaGraphDef file's bytes -> import_meta_graph (graph, collections, the
// SaverDef) -> export -> import again.
#include "core/errors.h"
#include "graph/graph.h"
#include "train/meta_graph.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fg::fuzz::init();
  const std::string path = fg::fuzz::scratch_dir() + "/model.meta";
  fg::fuzz::write_file(path, std::string_view(reinterpret_cast<const char*>(data), size));
  fg::Graph g;
  try {
    fg::train::import_meta_graph(g, path);
  } catch (const fg::Error&) {
    return 0;
  }
  try {
    fg::Graph again;
    fg::train::import_meta_graph(again, fg::train::to_meta_graph_def(g));
  } catch (const fg::Error& e) {
    fg::fuzz::fail("the imported graph must export as a meta-graph it imports", e);
  }
  return 0;
}
