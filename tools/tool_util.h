// Files the tools read: GraphDefs in TF's encodings, found by what they hold. Shared by tools/*.cpp.
#pragma once
#include <google/protobuf/text_format.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>

#include "core/errors.h"
#include "proto/graph.pb.h"
#include "proto/meta_graph.pb.h"
#include "proto/saved_model.pb.h"

namespace fg::tools {

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  FG_CHECK(f, NotFound, "cannot open '", path, "'");
  std::string bytes{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  FG_CHECK(!f.bad(), DataLoss, "error reading '", path, "'");
  return bytes;
}

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A GraphDef from a binary or text GraphDef (.pb, .pbtxt), a MetaGraphDef (.meta) or a SavedModel
// (saved_model.pb: its first meta graph). `binary` forces the encoding (TF's --input_binary);
// unset, ".pbtxt"/".txt" files are text and others binary. Anything else is DataLoss naming the file.
inline tensorflow::GraphDef read_graph_def(const std::string& path, std::optional<bool> binary = std::nullopt) {
  const std::string bytes = read_file(path);
  FG_CHECK(!bytes.empty(), DataLoss, "'", path, "' is empty, not a graph");
  const bool text = binary ? !*binary : ends_with(path, ".pbtxt") || ends_with(path, ".txt");
  if (text) {
    tensorflow::GraphDef gd;
    FG_CHECK(google::protobuf::TextFormat::ParseFromString(bytes, &gd), DataLoss, "'", path,
             "' is not a text GraphDef");
    return gd;
  }
  if (ends_with(path, ".meta")) {
    tensorflow::MetaGraphDef meta;
    FG_CHECK(meta.ParseFromString(bytes), DataLoss, "'", path, "' is not a MetaGraphDef");
    return meta.graph_def();
  }
  if (ends_with(path, "saved_model.pb")) {
    tensorflow::SavedModel sm;
    FG_CHECK(sm.ParseFromString(bytes) && sm.meta_graphs_size() > 0, DataLoss, "'", path,
             "' is not a SavedModel with a meta graph");
    return sm.meta_graphs(0).graph_def();
  }
  tensorflow::GraphDef gd;
  FG_CHECK(gd.ParseFromString(bytes), DataLoss, "'", path, "' is not a binary GraphDef (",
           bytes.size(), " bytes; --input_binary=false reads a text one)");
  return gd;
}

// Runs a tool's `run`, turning any error into "<tool>: <message>" on stderr and exit status 1.
template <typename Run>
int main_reporting_errors(const char* tool, int argc, char** argv, Run run) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << tool << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace fg::tools
