// Event files (summary::FileWriter) read back by an independent reader (tests/event_file_check.h:
// its own crc and wire decoding, TF's field numbers), and by flowgraph's own reader.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>

#include "graph/graph_io.h"
#include "graph/tensor_proto.h"
#include "ops/array.h"
#include "ops/math.h"
#include "proto/graph.pb.h"
#include "proto/summary.pb.h"
#include "summary/event_reader.h"
#include "summary/file_writer.h"
#include "summary/record_io.h"
#include "tests/event_file_check.h"
#include "tests/test_util.h"

namespace fg::summary {
namespace {

namespace fs = std::filesystem;
using testing::slurp;
using testing::spit;
using testing::TempDir;

double now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string host() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

TEST(Summary, IndependentCrcMatchesTheStandardCheckValue) {
  // CRC-32C of "123456789" is 0xE3069283 (RFC 3720's check value).
  EXPECT_EQ(testing::crc32c_bitwise("123456789", 9), 0xE3069283u);
}

TEST(Summary, RecordsAreFramedAsTFRecord) {
  TempDir dir;
  const std::string path = dir / "records";
  const std::vector<std::string> records = {"", "a", std::string(100000, 'x'), std::string("\0\1\2", 3)};
  {
    RecordWriter w(path, RecordWriter::kCreateNew);
    for (const auto& r : records) w.write(r);
    w.close();
  }
  const std::string file = slurp(path);
  size_t pos = 0;
  for (const auto& r : records) {
    ASSERT_LE(pos + 16 + r.size(), file.size());
    size_t p = pos;
    EXPECT_EQ(testing::read_fixed(file, p, 8), r.size());
    EXPECT_EQ(testing::read_fixed(file, p, 4), testing::masked_crc32c(file.data() + pos, 8));
    EXPECT_EQ(file.substr(p, r.size()), r);
    p += r.size();
    EXPECT_EQ(testing::read_fixed(file, p, 4), testing::masked_crc32c(r.data(), r.size()));
    pos = p;
  }
  EXPECT_EQ(pos, file.size());
  // And flowgraph's own reader gives them back.
  RecordReader reader(path);
  std::string got;
  for (const auto& r : records) {
    ASSERT_TRUE(reader.read(&got));
    EXPECT_EQ(got, r);
  }
  EXPECT_FALSE(reader.read(&got));
  EXPECT_FALSE(reader.truncated());
  // kCreateNew never overwrites.
  testing::expect_error([&] { RecordWriter again(path, RecordWriter::kCreateNew); }, Code::kAlreadyExists,
                             {path});
}

TEST(Summary, ReaderStopsAtACutOffRecordAndRejectsABadCrc) {
  TempDir dir;
  const std::string path = dir / "records";
  {
    RecordWriter w(path, RecordWriter::kCreateNew);
    w.write("first record");
    w.write("second record");
  }
  const std::string good = slurp(path);
  const size_t first_size = 16 + std::string("first record").size();
  // Every cut inside the second record leaves the first readable and the file "truncated".
  for (size_t cut = first_size + 1; cut < good.size(); cut += 3) {
    spit(path, good.substr(0, cut));
    RecordReader r(path);
    std::string rec;
    ASSERT_TRUE(r.read(&rec)) << cut;
    EXPECT_EQ(rec, "first record");
    EXPECT_FALSE(r.read(&rec)) << cut;
    EXPECT_TRUE(r.truncated()) << cut;
  }
  // A flipped bit in the length, the data or either crc is DataLoss naming file and offset.
  for (size_t at : {first_size + 0, first_size + 9, first_size + 14, good.size() - 1}) {
    std::string bad = good;
    bad[at] ^= 0x10;
    spit(path, bad);
    RecordReader r(path);
    std::string rec;
    ASSERT_TRUE(r.read(&rec));
    testing::expect_error([&] { r.read(&rec); }, Code::kDataLoss,
                               {path, "offset " + std::to_string(first_size), "checksum"});
  }
  // A huge declared length whose crc checks out is not allocated: the file is too short for it.
  std::string huge(8, '\xff');
  huge[7] = 0x7f;
  const uint32_t c = testing::masked_crc32c(huge.data(), 8);
  for (int i = 0; i < 4; ++i) huge.push_back(static_cast<char>((c >> (8 * i)) & 0xff));
  spit(path, huge + "tail");
  RecordReader r(path);
  std::string rec;
  EXPECT_FALSE(r.read(&rec));
  EXPECT_TRUE(r.truncated());
  testing::expect_error([&] { RecordReader missing(dir / "nope"); }, Code::kNotFound, {"nope"});
}

TEST(Summary, FileWriterWritesTensorFlowsEventFile) {
  TempDir dir;
  Graph g;
  auto x = placeholder(g, f32, {-1, 3}, "x");
  {
    auto scope = g.name_scope("layer");
    reduce_sum(x * 2.0f, {}, "total");
  }
  const double before = now();
  FileWriter writer(dir / "logs", g);
  tensorflow::Summary with_metadata = scalar_value("loss", 0.5);
  with_metadata.mutable_value(0)->mutable_metadata()->mutable_plugin_data()->set_plugin_name("scalars");
  writer.add_summary(with_metadata, 1);
  writer.add_summary(with_metadata.SerializeAsString(), 2);
  tensorflow::Summary two;
  *two.add_value() = scalar_value("accuracy", 0.875).value(0);
  *two.add_value() = scalar_value("loss", 0.25).value(0);
  writer.add_summary(two, 3);
  writer.add_summary(scalar_value("no_step", 7));
  writer.close();
  const double after = now();

  const std::string name = fs::path(writer.path()).filename().string();
  EXPECT_TRUE(std::regex_match(name, std::regex(R"(events\.out\.tfevents\.\d{10}\.)" + host())))
      << name;
  EXPECT_EQ(fs::path(writer.path()).parent_path(), fs::path(dir / "logs"));
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir / "logs")) files.push_back(e.path().string());
  EXPECT_EQ(files, std::vector<std::string>{writer.path()});

  const auto events = testing::read_event_file_independently(writer.path());
  ASSERT_EQ(events.size(), 6u);
  // The first: file_version, wall time in whole seconds (the number in the file name).
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_EQ(events[0].wall_time, std::floor(events[0].wall_time));
  EXPECT_EQ(std::to_string(static_cast<long long>(events[0].wall_time)), name.substr(20, 10));
  EXPECT_GE(events[0].wall_time, std::floor(before));
  // The graph, with the shapes TF's writer adds.
  tensorflow::GraphDef gd;
  ASSERT_TRUE(gd.ParseFromString(events[1].graph_def));
  ASSERT_EQ(gd.node_size(), static_cast<int>(g.num_operations()));
  EXPECT_EQ(gd.node(0).name(), "x");
  EXPECT_TRUE(gd.node(0).attr().count("_output_shapes"));
  bool found = false;
  for (const auto& n : gd.node()) found = found || n.name() == "layer/total";
  EXPECT_TRUE(found);
  // Summaries with their steps and wall times; metadata only on a tag's first value.
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_GE(events[i].wall_time, before - 1);
    EXPECT_LE(events[i].wall_time, after + 1);
    EXPECT_GE(events[i].wall_time, events[i - 1].wall_time);
  }
  ASSERT_TRUE(events[2].has_summary);
  EXPECT_EQ(events[2].step, 1);
  ASSERT_EQ(events[2].values.size(), 1u);
  EXPECT_EQ(events[2].values[0].tag, "loss");
  EXPECT_TRUE(events[2].values[0].has_simple_value);
  EXPECT_EQ(events[2].values[0].simple_value, 0.5f);
  EXPECT_FALSE(events[2].values[0].metadata.empty());
  EXPECT_EQ(events[3].step, 2);
  EXPECT_TRUE(events[3].values[0].metadata.empty());
  EXPECT_EQ(events[4].step, 3);
  ASSERT_EQ(events[4].values.size(), 2u);
  EXPECT_EQ(events[4].values[0].tag, "accuracy");
  EXPECT_EQ(events[4].values[0].simple_value, 0.875f);
  EXPECT_EQ(events[4].values[1].simple_value, 0.25f);
  EXPECT_EQ(events[5].step, 0);
  EXPECT_EQ(events[5].values[0].tag, "no_step");

  // flowgraph's reader agrees.
  bool truncated = true;
  const auto own = read_events(writer.path(), &truncated);
  EXPECT_FALSE(truncated);
  ASSERT_EQ(own.size(), events.size());
  EXPECT_EQ(own[0].file_version(), "brain.Event:2");
  EXPECT_EQ(own[4].summary().value(1).simple_value(), 0.25f);
}

TEST(Summary, FlushMakesEventsVisibleAndClosedWritersRefuse) {
  TempDir dir;
  FileWriter writer(dir.str());
  // The file_version event is on disk as soon as the writer exists.
  EXPECT_EQ(testing::read_event_file_independently(writer.path()).size(), 1u);
  writer.add_summary(scalar_value("a", 1), 1);
  writer.flush();
  EXPECT_EQ(testing::read_event_file_independently(writer.path()).size(), 2u);
  writer.close();
  testing::expect_error([&] { writer.add_summary(scalar_value("a", 2), 2); }, Code::kFailedPrecondition,
                             {"closed", writer.path()});
  testing::expect_error([&] { writer.add_summary(std::string("\xff\xff\xff", 3), 2); },
                             Code::kInvalidArgument, {"not a serialized Summary"});
  // reopen() starts another file (TF's name, made unique within the second).
  const std::string first = writer.path();
  writer.reopen();
  writer.add_summary(scalar_value("a", 3), 3);
  writer.close();
  EXPECT_NE(writer.path(), first);
  EXPECT_EQ(testing::read_event_file_independently(first).size(), 2u);
  const auto second = testing::read_event_file_independently(writer.path());
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[0].file_version, "brain.Event:2");
  EXPECT_EQ(second[1].step, 3);
  EXPECT_EQ(event_files(dir.str()).size(), 2u);
}

TEST(Summary, LoadRunsCollectsScalarsPerRunAndTag) {
  TempDir dir;
  {
    FileWriter a(dir / "logs/run_a");
    FileWriter b(dir / "logs/run_b");
    for (int step = 3; step >= 0; --step) {  // out of order on purpose: points come back sorted
      a.add_summary(scalar_value("loss", 1.0 / (step + 1)), step);
      b.add_summary(scalar_value("loss", 2.0 / (step + 1)), step * 10);
    }
    // A TF 2.x scalar: a float tensor instead of simple_value.
    tensorflow::Summary s;
    auto* v = s.add_value();
    v->set_tag("accuracy");
    *v->mutable_tensor() = tensor_to_proto(Tensor(0.75f));
    a.add_summary(s, 4);
    tensorflow::Summary h;
    auto* hv = h.add_value();
    hv->set_tag("weights");
    hv->mutable_histo()->set_num(3);
    a.add_summary(h, 4);
  }
  const auto runs = load_runs({dir / "logs"});
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].name, "run_a");
  EXPECT_EQ(runs[1].name, "run_b");
  ASSERT_EQ(runs[0].scalars.count("loss"), 1u);
  const auto& loss = runs[0].scalars.at("loss");
  ASSERT_EQ(loss.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(loss[i].step, i);
    EXPECT_FLOAT_EQ(loss[i].value, 1.0 / (i + 1));
  }
  ASSERT_EQ(runs[0].scalars.count("accuracy"), 1u);
  EXPECT_FLOAT_EQ(runs[0].scalars.at("accuracy")[0].value, 0.75);
  EXPECT_EQ(runs[0].scalars.count("weights"), 0u);  // a histogram is not a scalar
  EXPECT_EQ(runs[1].scalars.at("loss").back().step, 30);
  // One run given directly, and several roots.
  const auto one = load_runs({dir / "logs/run_b"});
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].name, "run_b");
  const auto both = load_runs({dir / "logs/run_a", dir / "logs/run_b"});
  ASSERT_EQ(both.size(), 2u);
  testing::expect_error([&] { load_runs({dir / "missing"}); }, Code::kNotFound, {"missing"});
  fs::create_directories(dir / "empty");
  testing::expect_error([&] { load_runs({dir / "empty"}); }, Code::kNotFound, {"no event files"});
}

TEST(Summary, CorruptEventFilesAreDataLoss) {
  TempDir dir;
  std::string path;
  {
    FileWriter w(dir.str());
    w.add_summary(scalar_value("loss", 1), 1);
    path = w.path();
  }
  std::string bytes = slurp(path);
  // A record that is framed right but is not an Event.
  RecordWriter(dir / "events.out.tfevents.garbage", RecordWriter::kCreateNew).write("\xff\xff\xff\xff");
  testing::expect_error([&] { read_events(dir / "events.out.tfevents.garbage"); }, Code::kDataLoss,
                             {"events.out.tfevents.garbage", "not an Event"});
  bytes[bytes.size() - 6] ^= 1;
  spit(path, bytes);
  testing::expect_error([&] { read_events(path); }, Code::kDataLoss, {path, "checksum"});
  // Cut mid-record: the whole records are read, and the run says it was truncated.
  spit(path, bytes.substr(0, bytes.size() - 3));
  fs::remove(dir / "events.out.tfevents.garbage");
  bool truncated = false;
  EXPECT_EQ(read_events(path, &truncated).size(), 1u);
  EXPECT_TRUE(truncated);
  EXPECT_TRUE(load_runs({dir.str()})[0].truncated);
}

}  // namespace
}  // namespace fg::summary
