// Training curves as an SVG of flowgraph's own (no plotting package needed): one panel per scalar
// tag, the step on the x axis, one line per run in the same colour in every panel, and a legend.
// tools/plot_events draws event files with it.
//
//   auto runs = summary::load_runs({"/tmp/logs"});
//   std::string svg = summary::plot_scalars_svg(runs, {.tags = {"loss", "accuracy"}});
#pragma once
#include <string>
#include <vector>

#include "summary/event_reader.h"

namespace fg::summary {

struct PlotOptions {
  // The tags to draw, in this order; empty: every scalar tag of any run, sorted.
  std::vector<std::string> tags;
  std::string title;
  int width = 760;         // pixels
  int panel_height = 280;  // pixels per tag
};

// InvalidArgument when no run has any of the tags (nothing to draw). Points that are not finite
// (NaN, inf) are left out, breaking the line there.
std::string plot_scalars_svg(const std::vector<ScalarRun>& runs, const PlotOptions& options = {});

}  // namespace fg::summary
