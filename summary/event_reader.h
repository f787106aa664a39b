// Reading event files back: every Event of a file, and the scalar series of runs (what
// TensorBoard's scalars dashboard shows, and what tools/plot_events draws).
//
//   for (const auto& e : summary::read_events(writer.path())) if (e.has_summary()) ...
//   auto runs = summary::load_runs({"/tmp/logs"});   // one run per directory with event files
//   for (auto& [tag, points] : runs[0].scalars) ...  // "loss" -> {step, wall_time, value}...
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "proto/event.pb.h"

namespace fg::summary {

// Every event of the file, in order. A last record cut off mid-write ends the list (and sets
// *truncated); a record failing its crc, or one that is not an Event, is DataLoss naming the file.
std::vector<tensorflow::Event> read_events(const std::string& path, bool* truncated = nullptr);

// The event files directly in `dir` (names containing "tfevents"), sorted by name, which is
// the order they were begun in.
std::vector<std::string> event_files(const std::string& dir);

struct ScalarPoint {
  int64_t step = 0;
  double wall_time = 0;
  double value = 0;
};

struct ScalarRun {
  std::string name;  // the directory, relative to the root it was found under ("." for the root)
  std::string dir;
  std::map<std::string, std::vector<ScalarPoint>> scalars;  // by tag, in step order
  bool truncated = false;                                    // some file ended mid-record
};

// The scalars of a value: simple_value (TF 1.x) or a one-element float/double tensor (TF 2.x's
// scalars plugin). False for any other kind of value.
bool scalar_of(const tensorflow::Summary::Value& value, double* out);

// The runs under each root: the root itself and every directory below it that holds event
// files. A root that is an event file is a run of its own. NotFound for a root that does not
// exist; a root without any event file is NotFound too, saying so.
std::vector<ScalarRun> load_runs(const std::vector<std::string>& roots);

}  // namespace fg::summary
