// tf.summary.FileWriter: event files for TensorBoard, in TensorFlow's format.
//
//   summary::FileWriter writer("/tmp/logs/run1", g);     // writes the graph too
//   for (int64_t step = 0; ...; ++step) {
//     auto [s] = sess.run(feeds, {merged});               // a serialized Summary (string tensor)
//     writer.add_summary(s.scalar<std::string>(), step);
//     writer.add_summary(summary::scalar_value("loss", l), step);  // or one made in C++
//   }
//   writer.close();
//
// Each writer creates one file, <logdir>/events.out.tfevents.<seconds>.<hostname>, whose first
// event is {wall_time, file_version: "brain.Event:2"}; every later event carries its wall time
// (seconds since the epoch) and step. Records are buffered and reach the file at flush(),
// close(), or when the buffer fills; a writer killed mid-record leaves a file whose readers
// stop at the last whole record, as TensorBoard's do.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "graph/graph.h"
#include "proto/event.pb.h"
#include "proto/graph.pb.h"
#include "proto/meta_graph.pb.h"
#include "proto/summary.pb.h"

namespace fg::summary {

class RecordWriter;

struct FileWriterOptions {
  // Appended to the file name ("events.out.tfevents.<seconds>.<hostname><suffix>").
  std::string filename_suffix;
};

class FileWriter {
 public:
  // Creates `logdir` if needed. With a graph, writes it as add_graph does.
  explicit FileWriter(const std::string& logdir, const FileWriterOptions& options = {});
  FileWriter(const std::string& logdir, const Graph& graph, const FileWriterOptions& options = {});
  ~FileWriter();  // closes
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  // A serialized Summary (the output of a summary op) or one built in C++. As TF's writer does,
  // a value's metadata is written with the first value of its tag only. Bytes that are not a
  // Summary are InvalidArgument.
  void add_summary(const std::string& summary_bytes, std::optional<int64_t> global_step = std::nullopt);
  void add_summary(const tensorflow::Summary& summary, std::optional<int64_t> global_step = std::nullopt);
  // The graph as TF writes it (GraphDef with "_output_shapes"), for TensorBoard's graph view.
  void add_graph(const Graph& graph, std::optional<int64_t> global_step = std::nullopt);
  void add_graph(const tensorflow::GraphDef& graph_def, std::optional<int64_t> global_step = std::nullopt);
  void add_meta_graph(const tensorflow::MetaGraphDef& meta_graph_def, std::optional<int64_t> global_step = std::nullopt);
  void add_session_log(const tensorflow::SessionLog& log, std::optional<int64_t> global_step = std::nullopt);
  // Any event; its wall_time is set to now when it has none.
  void add_event(tensorflow::Event event);

  void flush();
  // Flushes and syncs the file. Adding to a closed writer is FailedPrecondition; reopen() starts
  // a new file in the same directory.
  void close();
  void reopen();

  const std::string& logdir() const { return logdir_; }
  // The file being written (or last written, once closed).
  const std::string& path() const { return path_; }

 private:
  void open();
  std::string logdir_;
  FileWriterOptions options_;
  std::string path_;
  std::unique_ptr<RecordWriter> writer_;
  std::set<std::string> seen_tags_;
};

// Summary{value: [{tag, simple_value}]}, what tf.summary.scalar's op produces.
tensorflow::Summary scalar_value(const std::string& tag, double value);

// The file name TF gives an event file begun at `seconds` on `hostname`.
std::string event_file_name(int64_t seconds, const std::string& hostname, const std::string& suffix = "");

}  // namespace fg::summary
