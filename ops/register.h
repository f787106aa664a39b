// Registers flowgraph's ops (every op family of ops/) into OpRegistry::global(), once.
//
//   register_ops();                  // before a graph is built or imported by op type alone
//   Graph g;
//   import_graph_def(g, graph_def);
//
// The op builders that can start a graph (placeholder, constant, no_op, group, the random ops
// and variable initializers), Session and train's importers call it themselves, so a program
// calls it only when its first use of a graph is import_graph_def, OpBuilder or
// OpRegistry::global(). Thread-safe; after the first call it returns at once.
#pragma once

namespace fg {

void register_ops();

}  // namespace fg
