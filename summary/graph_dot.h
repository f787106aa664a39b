// A GraphDef as a Graphviz DOT picture in the manner of TensorBoard's graph view: name scopes are
// nested clusters, data edges solid (labelled with their static shapes), control edges dashed,
// variables and inputs coloured. tools/graph_viz renders it to SVG with `dot`.
//
//   std::string dot = summary::graph_to_dot(g.to_graph_def());
//   std::string top = summary::graph_to_dot(gd, {.max_depth = 1});   // each scope one box
#pragma once
#include <string>

#include "proto/graph.pb.h"

namespace fg::summary {

struct DotOptions {
  // Scopes below this depth are drawn closed, one box each with its op count, as TensorBoard
  // shows a collapsed scope ("gradients" at depth 1); 0 draws every op.
  int max_depth = 0;
  // Label data edges with the static shape from the producer's "_output_shapes" ("?x300").
  bool edge_shapes = true;
  // Graphviz's rankdir: "BT" flows from inputs at the bottom to outputs at the top, as TensorBoard.
  std::string rankdir = "BT";
};

// Inputs naming nodes the GraphDef lacks are drawn as (dashed) missing nodes rather than dropped.
std::string graph_to_dot(const tensorflow::GraphDef& graph_def, const DotOptions& options = {});

}  // namespace fg::summary
