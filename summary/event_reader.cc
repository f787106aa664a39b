#include "summary/event_reader.h"

#include <algorithm>
#include <filesystem>

#include "core/errors.h"
#include "graph/tensor_proto.h"
#include "summary/record_io.h"

namespace fg::summary {

namespace fs = std::filesystem;

std::vector<tensorflow::Event> read_events(const std::string& path, bool* truncated) {
  RecordReader reader(path);
  std::vector<tensorflow::Event> events;
  for (std::string record; reader.read(&record);) {
    tensorflow::Event e;
    FG_CHECK(e.ParseFromString(record), DataLoss, "event file ", path, ": the record ending at offset ",
             reader.offset(), " is not an Event");
    events.push_back(std::move(e));
  }
  if (truncated) *truncated = reader.truncated();
  return events;
}

std::vector<std::string> event_files(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().find("tfevents") == std::string::npos) continue;
    std::error_code ec2;
    if (it->is_regular_file(ec2)) files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

bool scalar_of(const tensorflow::Summary::Value& value, double* out) {
  if (value.value_case() == tensorflow::Summary::Value::kSimpleValue) {
    *out = value.simple_value();
    return true;
  }
  if (value.value_case() != tensorflow::Summary::Value::kTensor) return false;
  const auto& t = value.tensor();
  if (t.dtype() != tensorflow::DT_FLOAT && t.dtype() != tensorflow::DT_DOUBLE) return false;
  try {
    const Tensor v = tensor_from_proto(t, "summary value '" + value.tag() + "'");
    if (v.num_elements() != 1) return false;
    *out = v.dtype() == f32 ? static_cast<double>(v.data<float>()[0]) : v.data<double>()[0];
    return true;
  } catch (const Error&) {
    return false;
  }
}

namespace {

ScalarRun load_run(const std::string& name, const std::string& dir, const std::vector<std::string>& files) {
  ScalarRun run;
  run.name = name;
  run.dir = dir;
  for (const std::string& file : files) {
    bool truncated = false;
    for (const auto& e : read_events(file, &truncated)) {
      if (!e.has_summary()) continue;
      for (const auto& v : e.summary().value()) {
        double x;
        if (scalar_of(v, &x)) run.scalars[v.tag()].push_back({e.step(), e.wall_time(), x});
      }
    }
    run.truncated = run.truncated || truncated;
  }
  for (auto& [tag, points] : run.scalars)
    std::stable_sort(points.begin(), points.end(),
                     [](const ScalarPoint& a, const ScalarPoint& b) { return a.step < b.step; });
  return run;
}

}  // namespace

std::vector<ScalarRun> load_runs(const std::vector<std::string>& roots) {
  std::vector<ScalarRun> runs;
  for (const std::string& root : roots) {
    std::error_code ec;
    const auto status = fs::status(root, ec);
    if (ec || !fs::exists(status)) throw NotFound(str_cat("no such log directory or event file: ", root));
    // A run is named by its directory below the root; the root's own files by the root's name.
    // With several roots the root's name goes in front, so that runs stay apart.
    fs::path root_name = fs::path(root).lexically_normal().filename();
    if (root_name.empty()) root_name = fs::path(root).lexically_normal().parent_path().filename();
    if (root_name.empty() || root_name == ".") root_name = fs::absolute(root, ec).lexically_normal().filename();
    if (fs::is_regular_file(status)) {
      runs.push_back(load_run(root_name.string(), fs::path(root).parent_path().string(), {root}));
      continue;
    }
    std::vector<std::string> dirs{root};
    for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code ec2;
      if (it->is_directory(ec2)) dirs.push_back(it->path().string());
    }
    std::sort(dirs.begin() + 1, dirs.end());
    const size_t before = runs.size();
    for (const std::string& dir : dirs) {
      const auto files = event_files(dir);
      if (files.empty()) continue;
      std::error_code ec2;
      const fs::path rel = fs::relative(dir, root, ec2);
      std::string name;
      if (ec2 || rel.empty() || rel == ".") name = root_name.string();
      else name = roots.size() > 1 ? (root_name / rel).string() : rel.string();
      runs.push_back(load_run(name, dir, files));
    }
    if (runs.size() == before) throw NotFound(str_cat("no event files (events.out.tfevents.*) under ", root));
  }
  return runs;
}

}  // namespace fg::summary
