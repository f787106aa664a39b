// Draws the scalar curves of event files (what TensorBoard's scalars dashboard shows) as an SVG:
// one panel per tag, the step on the x axis, one line per run.
//
//   plot_events /tmp/logs -o curves.svg                   # every run under /tmp/logs
//   plot_events logs/bn logs/plain --tags loss,accuracy -o compare.svg
#include <iostream>

#include "flowgraph.h"
#include "summary/plot.h"
#include "tools/tool_util.h"
#include "tools/tool_flags.h"

using namespace fg;

namespace {

int run(int argc, char** argv) {
  std::string output, tags, title;
  long long width = 760, panel_height = 280;
  tools::Flags flags("plot_events",
                     "Draws the scalar summaries of event files (events.out.tfevents.*) as an SVG: one\n"
                     "panel per tag, one line per run. Each LOGDIR is searched for runs: the directory\n"
                     "itself and every directory below it that holds event files (or give event files).",
                     "LOGDIR...");
  flags.add("o", &output, "the SVG to write");
  flags.alias("output", "o");
  flags.add("tags", &tags, "comma-separated tags to draw, in this order (default: all)");
  flags.add("title", &title, "a title above the panels");
  flags.add("width", &width, "width in pixels (default 760)");
  flags.add("panel_height", &panel_height, "height of each panel in pixels (default 280)");
  const auto roots = flags.parse(argc, argv);
  if (roots.empty()) flags.fail("needs at least one LOGDIR");
  if (output.empty()) flags.fail("-o OUTPUT.svg is required");
  if (width < 300 || width > 20000 || panel_height < 120 || panel_height > 20000)
    flags.fail("--width must be within 300-20000 and --panel_height within 120-20000");

  const auto runs = summary::load_runs(roots);
  for (const auto& r : runs)
    if (r.truncated)
      std::cerr << "plot_events: " << r.dir << ": an event file ends mid-record (still being written?); "
                << "its whole records are drawn\n";
  const std::string svg = summary::plot_scalars_svg(
      runs, {.tags = tools::split_list(tags), .title = title, .width = static_cast<int>(width),
             .panel_height = static_cast<int>(panel_height)});
  train::write_file_atomic(output, svg);
  std::cerr << "plot_events: " << runs.size() << (runs.size() == 1 ? " run" : " runs") << " -> " << output << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return fg::tools::main_reporting_errors("plot_events", argc, argv, run); }
