#include "summary/file_writer.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "core/errors.h"
#include "graph/graph_io.h"
#include "summary/record_io.h"

namespace fg::summary {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

}  // namespace

std::string event_file_name(int64_t seconds, const std::string& host, const std::string& suffix) {
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "%010lld", static_cast<long long>(seconds));
  return str_cat("events.out.tfevents.", stamp, ".", host, suffix);
}

tensorflow::Summary scalar_value(const std::string& tag, double value) {
  tensorflow::Summary s;
  auto* v = s.add_value();
  v->set_tag(tag);
  v->set_simple_value(static_cast<float>(value));
  return s;
}

FileWriter::FileWriter(const std::string& logdir, const FileWriterOptions& options)
    : logdir_(logdir), options_(options) {
  open();
}

FileWriter::FileWriter(const std::string& logdir, const Graph& graph, const FileWriterOptions& options)
    : FileWriter(logdir, options) {
  add_graph(graph);
}

FileWriter::~FileWriter() = default;  // the RecordWriter flushes and closes its file

void FileWriter::open() {
  std::error_code ec;
  std::filesystem::create_directories(logdir_, ec);
  if (ec) throw FailedPrecondition(str_cat("FileWriter: cannot create log directory ", logdir_, ": ", ec.message()));
  const int64_t seconds = static_cast<int64_t>(now_seconds());
  const std::string base = (std::filesystem::path(logdir_) / event_file_name(seconds, hostname(), options_.filename_suffix)).string();
  // Two writers started in the same second in one directory would share TF's name; the second
  // gets ".1", ".2", ... rather than truncate the first one's file.
  for (int attempt = 0;; ++attempt) {
    const std::string candidate = attempt == 0 ? base : str_cat(base, ".", attempt);
    try {
      writer_ = std::make_unique<RecordWriter>(candidate, RecordWriter::kCreateNew);
      path_ = candidate;
      break;
    } catch (const AlreadyExists&) {
      if (attempt >= 1000) throw;
    }
  }
  seen_tags_.clear();
  tensorflow::Event first;
  first.set_wall_time(static_cast<double>(seconds));
  first.set_file_version("brain.Event:2");
  writer_->write(first.SerializeAsString());
  writer_->flush();
}

void FileWriter::add_event(tensorflow::Event event) {
  FG_CHECK(writer_, FailedPrecondition, "FileWriter: ", path_, " is closed (reopen() starts a new file)");
  if (event.wall_time() == 0) event.set_wall_time(now_seconds());
  writer_->write(event.SerializeAsString());
}

void FileWriter::add_summary(const tensorflow::Summary& summary, std::optional<int64_t> global_step) {
  tensorflow::Event event;
  *event.mutable_summary() = summary;
  for (auto& v : *event.mutable_summary()->mutable_value()) {
    if (!v.has_metadata()) continue;
    if (!seen_tags_.insert(v.tag()).second) v.clear_metadata();
  }
  if (global_step) event.set_step(*global_step);
  add_event(std::move(event));
}

void FileWriter::add_summary(const std::string& summary_bytes, std::optional<int64_t> global_step) {
  tensorflow::Summary summary;
  FG_CHECK(summary.ParseFromString(summary_bytes), InvalidArgument, "FileWriter::add_summary: ",
           summary_bytes.size(), " bytes that are not a serialized Summary");
  add_summary(summary, global_step);
}

void FileWriter::add_graph(const Graph& graph, std::optional<int64_t> global_step) {
  add_graph(to_graph_def(graph, {.add_shapes = true}), global_step);
}

void FileWriter::add_graph(const tensorflow::GraphDef& graph_def, std::optional<int64_t> global_step) {
  tensorflow::Event event;
  event.set_graph_def(graph_def.SerializeAsString());
  if (global_step) event.set_step(*global_step);
  add_event(std::move(event));
}

void FileWriter::add_meta_graph(const tensorflow::MetaGraphDef& meta_graph_def, std::optional<int64_t> global_step) {
  tensorflow::Event event;
  event.set_meta_graph_def(meta_graph_def.SerializeAsString());
  if (global_step) event.set_step(*global_step);
  add_event(std::move(event));
}

void FileWriter::add_session_log(const tensorflow::SessionLog& log, std::optional<int64_t> global_step) {
  tensorflow::Event event;
  *event.mutable_session_log() = log;
  if (global_step) event.set_step(*global_step);
  add_event(std::move(event));
}

void FileWriter::flush() {
  if (writer_) writer_->flush();
}

void FileWriter::close() {
  if (!writer_) return;
  std::unique_ptr<RecordWriter> w = std::move(writer_);
  w->close();
}

void FileWriter::reopen() {
  if (!writer_) open();
}

}  // namespace fg::summary
