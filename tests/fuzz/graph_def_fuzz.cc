// GraphDef import: a GraphDef's bytes -> import_graph_def -> to_graph_def -> import again, then
// every output of the imported graph fetched once (unfed placeholders and carried ops fail as
// errors; kernels see whatever shapes and attrs the file gave them).
#include "core/errors.h"
#include "graph/graph_io.h"
#include "proto/graph.pb.h"
#include "runtime/session.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fg::fuzz::init();
  tensorflow::GraphDef gd;
  if (!gd.ParseFromArray(data, static_cast<int>(size))) return 0;
  fg::Graph g;
  try {
    fg::import_graph_def(g, gd);
  } catch (const fg::Error&) {
    return 0;
  }
  try {
    fg::Graph again;
    fg::import_graph_def(again, g.to_graph_def());
  } catch (const fg::Error& e) {
    fg::fuzz::fail("the imported graph must export as a GraphDef it imports", e);
  }
  fg::Session sess(g);
  for (fg::Operation* op : g.get_operations()) {
    for (int i = 0; i < op->num_outputs(); ++i) {
      try {
        sess.run({}, {op->output(i)});
      } catch (const fg::Error&) {
      }
    }
  }
  return 0;
}
