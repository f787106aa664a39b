// TF V2 checkpoints: reading TensorFlow's own files, byte-identical writing, corruption and
// crash safety, the `checkpoint` state file, and the inspect_checkpoint listing.
#include "ops/tensor_bundle.h"

#include <gtest/gtest.h>
#include <leveldb/env.h>
#include <leveldb/iterator.h>
#include <leveldb/options.h>
#include <leveldb/table.h>
#include <leveldb/table_builder.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "proto/tensor_bundle.pb.h"
#include "train/checkpoint_listing.h"
#include "train/checkpoint_state.h"
#include "ops/crc32c.h"
#include "ops/internal/leveldb_memory.h"
#include "tests/test_util.h"

namespace fg::train {
namespace {

namespace fs = std::filesystem;

using testing::TempDir;
using testing::expect_error;
using testing::slurp;
using testing::spit;

fs::path fixture_dir() { return testing::fixture_dir("tf1-mnist-mlp"); }
std::string fixture_prefix() { return (fixture_dir() / "my_model_final.ckpt").string(); }


// Copies the fixture's three checkpoint files to dir/name.*.
std::string copy_fixture(const TempDir& dir, const std::string& name = "ckpt") {
  const std::string prefix = dir / name;
  fs::copy_file(index_filename(fixture_prefix()), index_filename(prefix));
  fs::copy_file(data_filename(fixture_prefix()), data_filename(prefix));
  return prefix;
}

// Iterates a LevelDB table file the way a third party (not BundleReader) would.
std::vector<std::pair<std::string, std::string>> table_entries(const std::string& path) {
  leveldb::Env* env = leveldb::Env::Default();
  leveldb::RandomAccessFile* file = nullptr;
  uint64_t size = 0;
  EXPECT_TRUE(env->GetFileSize(path, &size).ok());
  EXPECT_TRUE(env->NewRandomAccessFile(path, &file).ok());
  std::unique_ptr<leveldb::RandomAccessFile> file_owner(file);
  leveldb::Table* table = nullptr;
  const leveldb::Status s = leveldb::Table::Open(leveldb::Options(), file, size, &table);
  EXPECT_TRUE(s.ok()) << s.ToString();
  std::unique_ptr<leveldb::Table> table_owner(table);
  std::vector<std::pair<std::string, std::string>> out;
  if (!table) return out;
  std::unique_ptr<leveldb::Iterator> it(table->NewIterator(leveldb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) out.emplace_back(it->key().ToString(), it->value().ToString());
  EXPECT_TRUE(it->status().ok());
  return out;
}

// The options TF's BundleWriter uses, spelled out independently of tensor_bundle.cc.
std::string build_table(const std::vector<std::pair<std::string, std::string>>& entries) {
  leveldb::Options o;
  o.compression = leveldb::kNoCompression;
  o.block_size = 262144;
  train::internal::StringSink sink;
  leveldb::TableBuilder b(o, &sink);
  for (const auto& [k, v] : entries) b.Add(k, v);
  EXPECT_TRUE(b.Finish().ok());
  return sink.data;
}

// ---- crc32c -----------------------------------------------------------------------------------

TEST(Crc32c, KnownValues) {
  // RFC 3720 B.4 and LevelDB's crc32c_test.
  EXPECT_EQ(crc32c::value("123456789", 9), 0xe3069283u);
  std::string buf(32, '\0');
  EXPECT_EQ(crc32c::value(buf.data(), buf.size()), 0x8a9136aau);
  buf.assign(32, '\xff');
  EXPECT_EQ(crc32c::value(buf.data(), buf.size()), 0x62a8ab43u);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<char>(i);
  EXPECT_EQ(crc32c::value(buf.data(), buf.size()), 0x46dd794eu);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<char>(31 - i);
  EXPECT_EQ(crc32c::value(buf.data(), buf.size()), 0x113fdb5cu);
  EXPECT_EQ(crc32c::value(nullptr, 0), 0u);
}

TEST(Crc32c, ExtendMaskAndBothPathsAgree) {
  std::mt19937 rng(7);
  std::string data(5000, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  for (size_t start : {0, 1, 3, 7}) {
    for (size_t n : {0, 1, 5, 8, 9, 63, 64, 1000, 4993}) {
      const char* p = data.data() + start;
      const uint32_t whole = crc32c::value(p, n);
      EXPECT_EQ(whole, crc32c::extend_table_driven(0, p, n));
      const size_t half = n / 3;
      EXPECT_EQ(whole, crc32c::extend(crc32c::value(p, half), p + half, n - half));
      EXPECT_NE(crc32c::mask(whole), whole);
      EXPECT_EQ(crc32c::unmask(crc32c::mask(whole)), whole);
    }
  }
  // LevelDB's masking formula, written out.
  const uint32_t c = 0x12345678u;
  EXPECT_EQ(crc32c::mask(c), ((c >> 15) | (c << 17)) + 0xa282ead8u);
}

// ---- TensorFlow's own checkpoint --------------------------------------------------------------

const std::vector<std::pair<std::string, Shape>> kFixtureVars = {
    {"dnn/hidden1/bias", {300}},       {"dnn/hidden1/kernel", {784, 300}}, {"dnn/hidden2/bias", {100}},
    {"dnn/hidden2/kernel", {300, 100}}, {"dnn/outputs/bias", {10}},         {"dnn/outputs/kernel", {100, 10}}};

TEST(TensorBundle, ReadsTensorFlowCheckpoint) {
  FG_REQUIRE_FIXTURE("tf1-mnist-mlp");
  BundleReader r(fixture_prefix());
  std::vector<std::string> names;
  for (const auto& [name, shape] : kFixtureVars) names.push_back(name);
  EXPECT_EQ(r.keys(), names);
  int64_t total = 0;
  for (const auto& [name, shape] : kFixtureVars) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(r.contains(name));
    const auto [dtype, s] = r.dtype_and_shape(name);
    EXPECT_EQ(dtype, f32);
    EXPECT_EQ(s, shape);
    const Tensor t = r.read(name);  // crc-checked
    EXPECT_EQ(t.dtype(), f32);
    EXPECT_EQ(t.shape(), shape);
    total += static_cast<int64_t>(t.num_bytes());
    float lo = 1e30f, hi = -1e30f;
    for (float v : t.flat<float>()) {
      ASSERT_TRUE(std::isfinite(v));
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    EXPECT_LT(hi - lo, 10.f);
    if (name.find("kernel") != std::string::npos) {
      EXPECT_GT(hi - lo, 0.01f);  // trained, not zeros
    }
  }
  EXPECT_EQ(total, 1066440);
  EXPECT_FALSE(r.contains("dnn/hidden1/kernel/Adam"));
  expect_error([&] { r.read("nope"); }, Code::kNotFound, {"nope", fixture_prefix()});
  expect_error([&] { r.dtype_and_shape("nope"); }, Code::kNotFound, {"nope"});
}

TEST(TensorBundle, FixtureIndexLayoutIsWhatWeWrite) {
  FG_REQUIRE_FIXTURE("tf1-mnist-mlp");
  const auto entries = table_entries(index_filename(fixture_prefix()));
  ASSERT_EQ(entries.size(), kFixtureVars.size() + 1);
  EXPECT_EQ(entries[0].first, "");
  tensorflow::BundleHeaderProto h;
  ASSERT_TRUE(h.ParseFromString(entries[0].second));
  EXPECT_EQ(h.num_shards(), 1);
  EXPECT_EQ(h.endianness(), tensorflow::BundleHeaderProto::LITTLE);
  EXPECT_EQ(h.version().producer(), 1);
  const std::string data = slurp(data_filename(fixture_prefix()));
  int64_t offset = 0;
  for (size_t i = 1; i < entries.size(); ++i) {
    tensorflow::BundleEntryProto e;
    ASSERT_TRUE(e.ParseFromString(entries[i].second));
    EXPECT_EQ(e.offset(), offset) << entries[i].first;  // back to back in key order
    EXPECT_EQ(e.crc32c(), crc32c::mask(crc32c::value(data.data() + e.offset(), e.size())));
    // Re-serializing the parsed entry reproduces TF's bytes (field order, proto3 defaults).
    EXPECT_EQ(e.SerializeAsString(), entries[i].second);
    offset += e.size();
  }
  EXPECT_EQ(offset, static_cast<int64_t>(data.size()));
  // The raw table rebuilt from its own key/values with TF's options is byte-identical.
  EXPECT_EQ(build_table(entries), slurp(index_filename(fixture_prefix())));
}

TEST(TensorBundle, RewritingFixtureIsByteIdentical) {
  FG_REQUIRE_FIXTURE("tf1-mnist-mlp");
  TempDir dir;
  BundleReader r(fixture_prefix());
  const std::string out = dir / "rewritten.ckpt";
  {
    BundleWriter w(out);
    for (const auto& name : r.keys()) w.add(name, r.read(name));
    w.finish();
  }
  EXPECT_EQ(slurp(index_filename(out)), slurp(index_filename(fixture_prefix())));
  EXPECT_EQ(slurp(data_filename(out)), slurp(data_filename(fixture_prefix())));
}

// ---- round trips of what we write ---------------------------------------------------------

std::vector<std::pair<std::string, Tensor>> sample_tensors() {
  std::vector<std::pair<std::string, Tensor>> v;
  v.emplace_back("zeta/f32", Tensor::from_vector<float>({1.5f, -2.f, 3.25f, 0.f, 1e-30f, 7.f}, {2, 3}));
  v.emplace_back("alpha/f64", Tensor::from_vector<double>({3.141592653589793, -1e300}, {2}));
  v.emplace_back("i32", Tensor::from_vector<int32_t>({1, -2, 2147483647, -2147483647 - 1}, {2, 1, 2}));
  v.emplace_back("i64", Tensor::from_vector<int64_t>({int64_t{1} << 62, -5}, {2}));
  v.emplace_back("u8", Tensor::from_vector<uint8_t>({0, 1, 254, 255}, {4}));
  v.emplace_back("bool", Tensor::from_vector<bool>({true, false, true}, {3}));
  v.emplace_back("scalar/f32", Tensor(0.25f));
  v.emplace_back("scalar/i64", Tensor(int64_t{-7}));
  v.emplace_back("scalar/bool", Tensor(true));
  v.emplace_back("empty/f32", Tensor(f32, {0}));
  v.emplace_back("empty/i32_3x0", Tensor(i32, {3, 0}));
  v.emplace_back("global_step", Tensor(int64_t{1000}));
  return v;
}

TEST(TensorBundle, RoundTripsEveryDtype) {
  TempDir dir;
  const std::string prefix = dir / "sub/dir/model-3";  // the writer creates directories
  const auto tensors = sample_tensors();
  {
    BundleWriter w(prefix);
    for (const auto& [name, t] : tensors) w.add(name, t);
    w.finish();
  }
  BundleReader r(prefix);
  auto keys = r.keys();
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
  EXPECT_EQ(keys.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    SCOPED_TRACE(name);
    const auto [dtype, shape] = r.dtype_and_shape(name);
    EXPECT_EQ(dtype, t.dtype());
    EXPECT_EQ(shape, t.shape());
    EXPECT_TRUE(r.read(name).equals(t));
  }
  // No temporary files are left behind.
  for (const auto& f : fs::recursive_directory_iterator(dir.path()))
    EXPECT_EQ(f.path().string().find("tempstate"), std::string::npos) << f.path();
}

// TF's layout for DT_STRING, spelled out: varint lengths, the masked crc of the lengths taken as
// little-endian uint32s, the bytes; the entry's crc covers all three (lengths again as uint32s).
TEST(TensorBundle, StringTensorsUseTensorFlowsLayout) {
  TempDir dir;
  const std::string prefix = dir / "strings";
  const std::string long_one(300, 'x');  // a two-byte varint
  const Tensor v = Tensor::from_vector<std::string>({"a", "", std::string("n\0l", 3), long_one}, {2, 2});
  {
    BundleWriter w(prefix);
    w.add("names", v);
    w.add("scalar", Tensor("model.ckpt"));
    w.add("none", Tensor(string_dtype, {0}));
    w.finish();
  }
  BundleReader r(prefix);
  EXPECT_TRUE(r.read("names").equals(v));
  EXPECT_EQ(r.read("scalar").scalar<std::string>(), "model.ckpt");
  EXPECT_EQ(r.read("none").shape(), Shape{0});
  EXPECT_EQ(r.dtype_and_shape("names").first, string_dtype);

  const tensorflow::BundleEntryProto& e = r.entry("names");
  const std::string data = slurp(data_filename(prefix));
  std::string lengths = std::string("\x01\x00\x03\xac\x02", 5);
  uint32_t c = 0;
  for (uint32_t len : {1u, 0u, 3u, 300u}) c = crc32c::extend(c, &len, 4);
  const uint32_t length_crc = crc32c::mask(c);
  std::string want = lengths + std::string(reinterpret_cast<const char*>(&length_crc), 4) + "a" +
                     std::string("n\0l", 3) + long_one;
  c = crc32c::extend(crc32c::extend(c, &length_crc, 4), want.data() + 9, want.size() - 9);
  ASSERT_EQ(e.size(), static_cast<int64_t>(want.size()));
  EXPECT_EQ(data.substr(e.offset(), e.size()), want);
  EXPECT_EQ(crc32c::unmask(e.crc32c()), c);
  EXPECT_EQ(r.entry("none").size(), 4);  // only the lengths' crc

  // Corrupt lengths, bytes or crcs are DataLoss naming the tensor.
  const std::string good_data = data;
  const auto corrupt = [&](int64_t at, const std::string& needle) {
    std::string bad = good_data;
    bad[e.offset() + at] ^= 0x10;
    spit(data_filename(prefix), bad);
    expect_error([&] { BundleReader(prefix).read("names"); }, Code::kDataLoss, {"'names'", needle});
  };
  corrupt(0, "lengths");        // a length: the lengths' crc disagrees
  corrupt(6, "lengths");        // the lengths' crc itself
  corrupt(12, "checksum");      // a string's byte
  spit(data_filename(prefix), good_data);
  EXPECT_TRUE(BundleReader(prefix).read("names").equals(v));
}

// A length claiming more bytes than the entry has is refused before anything is allocated for it.
TEST(TensorBundle, StringLengthsBeyondTheEntryAreDataLoss) {
  TempDir dir;
  const std::string prefix = dir / "liar";
  {
    BundleWriter w(prefix);
    w.add("s", Tensor::from_vector<std::string>({"ab", "cd"}));
    w.finish();
  }
  std::string data = slurp(data_filename(prefix));
  data[0] = '\xff';  // a varint continuing into the next length: 2 + 128 * 2 bytes
  spit(data_filename(prefix), data);
  expect_error([&] { BundleReader(prefix).read("s"); }, Code::kDataLoss, {"'s'", "claims"});
}

TEST(TensorBundle, WrittenIndexFollowsTensorFlowsLayout) {
  TempDir dir;
  const std::string prefix = dir / "layout";
  const auto tensors = sample_tensors();
  {
    BundleWriter w(prefix);
    for (const auto& [name, t] : tensors) w.add(name, t);
    w.finish();
  }
  const auto entries = table_entries(index_filename(prefix));
  ASSERT_EQ(entries.size(), tensors.size() + 1);
  ASSERT_EQ(entries[0].first, "");
  tensorflow::BundleHeaderProto h;
  ASSERT_TRUE(h.ParseFromString(entries[0].second));
  EXPECT_EQ(h.num_shards(), 1);
  EXPECT_EQ(h.endianness(), tensorflow::BundleHeaderProto::LITTLE);
  EXPECT_EQ(h.version().producer(), 1);
  EXPECT_EQ(h.version().min_consumer(), 0);
  EXPECT_EQ(entries[0].second, std::string("\x08\x01\x1a\x02\x08\x01", 6));  // TF's exact header bytes

  const std::string data = slurp(data_filename(prefix));
  std::map<std::string, Tensor> by_name(tensors.begin(), tensors.end());
  int64_t covered = 0;
  for (size_t i = 1; i < entries.size(); ++i) {
    const auto& [key, value] = entries[i];
    SCOPED_TRACE(key);
    if (i > 1) {
      EXPECT_LT(entries[i - 1].first, key);
    }
    tensorflow::BundleEntryProto e;
    ASSERT_TRUE(e.ParseFromString(value));
    const Tensor& t = by_name.at(key);
    EXPECT_EQ(static_cast<int>(e.dtype()), static_cast<int>(t.dtype()));
    ASSERT_EQ(e.shape().dim_size(), t.rank());
    for (int d = 0; d < t.rank(); ++d) EXPECT_EQ(e.shape().dim(d).size(), t.dim(d));
    EXPECT_FALSE(e.shape().unknown_rank());
    EXPECT_EQ(e.shard_id(), 0);
    EXPECT_EQ(e.size(), static_cast<int64_t>(t.num_bytes()));
    ASSERT_LE(e.offset() + e.size(), static_cast<int64_t>(data.size()));
    EXPECT_EQ(std::memcmp(data.data() + e.offset(), t.raw_data(), t.num_bytes()), 0);
    const uint32_t crc = crc32c::value(t.raw_data(), t.num_bytes());
    EXPECT_EQ(e.crc32c(), ((crc >> 15) | (crc << 17)) + 0xa282ead8u);
    EXPECT_EQ(e.slices_size(), 0);
    covered += e.size();
  }
  EXPECT_EQ(covered, static_cast<int64_t>(data.size()));
  // Written with TF's table options: rebuilding the table from its contents changes nothing.
  EXPECT_EQ(build_table(entries), slurp(index_filename(prefix)));
}

TEST(TensorBundle, LargeIndexSpansBlocksAndReadsBack) {
  TempDir dir;
  const std::string prefix = dir / "many";
  {
    BundleWriter w(prefix);
    for (int i = 0; i < 5000; ++i)
      w.add(str_cat("layer_", 10000 + i, "/some/fairly/long/variable/name/kernel"), Tensor(static_cast<int32_t>(i)));
    w.finish();
  }
  BundleReader r(prefix);
  ASSERT_EQ(r.keys().size(), 5000u);
  EXPECT_EQ(r.read("layer_14321/some/fairly/long/variable/name/kernel").scalar<int32_t>(), 4321);
  const auto entries = table_entries(index_filename(prefix));
  EXPECT_EQ(build_table(entries), slurp(index_filename(prefix)));
}

TEST(TensorBundle, WriterRejectsMisuse) {
  TempDir dir;
  BundleWriter w(dir / "misuse");
  expect_error([&] { w.add("", Tensor(1.f)); }, Code::kInvalidArgument, {"header"});
  expect_error([&] { w.add("x", Tensor()); }, Code::kInvalidArgument, {"'x'"});
  w.add("x", Tensor(1.f));
  expect_error([&] { w.add("x", Tensor(2.f)); }, Code::kInvalidArgument, {"twice"});
  w.finish();
  expect_error([&] { w.add("y", Tensor(1.f)); }, Code::kFailedPrecondition, {"after finish"});
  expect_error([&] { w.finish(); }, Code::kFailedPrecondition, {"twice"});
  EXPECT_EQ(BundleReader(dir / "misuse").read("x").scalar<float>(), 1.f);
}

TEST(TensorBundle, AbandonedWriterLeavesNothing) {
  TempDir dir;
  {
    BundleWriter w(dir / "abandoned");
    w.add("x", Tensor(f32, {1000}));
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
  EXPECT_FALSE(checkpoint_exists(dir / "abandoned"));
}

TEST(TensorBundle, ConcurrentReads) {
  FG_REQUIRE_FIXTURE("tf1-mnist-mlp");
  BundleReader r(fixture_prefix());
  const Tensor want = r.read("dnn/hidden1/kernel");
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      for (int k = 0; k < 5; ++k)
        if (!r.read("dnn/hidden1/kernel").equals(want)) ++bad;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
}

// ---- corruption -------------------------------------------------------------------------------

TEST(TensorBundleCorruption, MissingFilesAreNotFound) {
  FG_REQUIRE_FIXTURE("tf1-mnist-mlp");
  TempDir dir;
  expect_error([&] { BundleReader r(dir / "nothing"); }, Code::kNotFound, {dir / "nothing.index"});
  const std::string prefix = copy_fixture(dir);
  fs::remove(data_filename(prefix));
  expect_error([&] { BundleReader r(prefix); }, Code::kNotFound, {data_filename(prefix)});
}

TEST(TensorBundleCorruption, FlippedDataByteIsDataLoss) {
  FG_REQUIRE_FIXTURE("tf1-mnist-mlp");
  TempDir dir;
  const std::string prefix = copy_fixture(dir);
  std::string data = slurp(data_filename(prefix));
  data[1200 + 4 * 1000] ^= 0x01;  // inside dnn/hidden1/kernel (offset 1200)
  spit(data_filename(prefix), data);
  BundleReader r(prefix);
  EXPECT_NO_THROW(r.read("dnn/hidden1/bias"));
  expect_error([&] { r.read("dnn/hidden1/kernel"); }, Code::kDataLoss,
               {"dnn/hidden1/kernel", data_filename(prefix), "checksum"});
}

TEST(TensorBundleCorruption, TruncatedDataIsDataLoss) {
  FG_REQUIRE_FIXTURE("tf1-mnist-mlp");
  TempDir dir;
  const std::string prefix = copy_fixture(dir);
  fs::resize_file(data_filename(prefix), 1066440 - 10);
  BundleReader r(prefix);
  EXPECT_NO_THROW(r.read("dnn/hidden2/kernel"));
  expect_error([&] { r.read("dnn/outputs/kernel"); }, Code::kDataLoss,
               {"dnn/outputs/kernel", data_filename(prefix), "truncated"});
}

// Every truncation and every single-byte change of the index: DataLoss naming the file, or a
// reader whose reads succeed or fail cleanly. Never a crash.
TEST(TensorBundleCorruption, GarbledIndexNeverCrashes) {
  FG_REQUIRE_FIXTURE("tf1-mnist-mlp");
  TempDir dir;
  const std::string prefix = copy_fixture(dir);
  const std::string good = slurp(index_filename(fixture_prefix()));
  const auto try_read = [&](const std::string& bytes, bool must_fail) {
    spit(index_filename(prefix), bytes);
    try {
      BundleReader r(prefix);
      EXPECT_FALSE(must_fail);
      for (const auto& k : r.keys()) {
        try {
          r.read(k);
        } catch (const Error&) {
        }
      }
    } catch (const DataLoss& e) {
      EXPECT_NE(std::string(e.what()).find(index_filename(prefix)), std::string::npos) << e.what();
    } catch (const Error& e) {
      // e.g. a flipped endianness or version byte in a crc-valid spot cannot happen (crc), so
      // anything else is a failure of this test's expectations; print it.
      ADD_FAILURE() << "unexpected error kind: " << e.what();
    }
  };
  for (size_t n = 0; n < good.size(); ++n) try_read(good.substr(0, n), true);
  // Fixture layout: data block [0, 224), metaindex block [224, 237), index block [237, 257),
  // footer [257, 305). LevelDB never reads the metaindex block (no filter) nor the footer's
  // padding, so flips there may go unnoticed; flips in the data and index blocks must not.
  ASSERT_EQ(good.size(), 305u);
  for (size_t i = 0; i < good.size(); ++i) {
    for (int bit : {0x01, 0x80, 0xff}) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ bit);
      SCOPED_TRACE(str_cat("byte ", i, " ^ ", bit));
      try_read(bad, i < 224 || (i >= 237 && i < 257));
    }
  }
  std::mt19937 rng(1);
  for (int trial = 0; trial < 200; ++trial) {
    std::string junk(rng() % 600, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    if (trial % 2) junk += good.substr(good.size() - 8);  // with a valid magic number
    try_read(junk, true);
  }
}

// Index files whose blocks are intact (valid crcs) but whose contents lie.
TEST(TensorBundleCorruption, InconsistentEntriesAreDataLoss) {
  TempDir dir;
  const std::string prefix = dir / "lies";
  {
    BundleWriter w(prefix);
    w.add("v", Tensor::from_vector<float>({1, 2, 3, 4}));
    w.finish();
  }
  const auto good = table_entries(index_filename(prefix));
  ASSERT_EQ(good.size(), 2u);
  tensorflow::BundleEntryProto entry;
  ASSERT_TRUE(entry.ParseFromString(good[1].second));
  const auto with_entry = [&](auto mutate) {
    tensorflow::BundleEntryProto e = entry;
    mutate(e);
    return build_table({good[0], {"v", e.SerializeAsString()}});
  };
  const std::string idx = index_filename(prefix);
  const auto expect_loss = [&](const std::string& table, const std::string& needle) {
    spit(idx, table);
    expect_error([&] { BundleReader r(prefix); }, Code::kDataLoss, {idx, needle});
  };
  expect_loss(build_table({{"v", good[1].second}}), "header");
  expect_loss(build_table({good[0], {"v", "\xff\xff\xff"}}), "'v'");
  expect_loss(build_table({{"", "\x08"}}), "header");
  expect_loss(with_entry([](auto& e) { e.set_size(15); }), "size");
  expect_loss(with_entry([](auto& e) { e.set_shard_id(1); }), "shard");
  expect_loss(with_entry([](auto& e) { e.set_offset(-1); }), "offset");
  expect_loss(with_entry([](auto& e) { e.set_dtype(static_cast<tensorflow::DataType>(77)); }), "dtype");
  expect_loss(with_entry([](auto& e) { e.mutable_shape()->mutable_dim(0)->set_size(-4); }), "negative");
  expect_loss(with_entry([](auto& e) { e.mutable_shape()->set_unknown_rank(true); }), "rank");
  expect_loss(with_entry([](auto& e) { e.mutable_shape()->mutable_dim(0)->set_size(int64_t{1} << 62); }), "overflow");

  // Points past the end of the data file: found when read, naming the data file.
  spit(idx, with_entry([](auto& e) { e.set_offset(1000); }));
  expect_error([&] { BundleReader(prefix).read("v"); }, Code::kDataLoss, {data_filename(prefix), "'v'"});
  // Wrong crc.
  spit(idx, with_entry([](auto& e) { e.set_crc32c(e.crc32c() + 1); }));
  expect_error([&] { BundleReader(prefix).read("v"); }, Code::kDataLoss, {"checksum", "'v'"});
  // A dtype flowgraph has no Tensor for lists fine but does not read.
  spit(idx, with_entry([](auto& e) { e.set_dtype(tensorflow::DT_HALF); e.set_size(8); }));
  {
    BundleReader r(prefix);
    EXPECT_EQ(format_checkpoint_listing(prefix), "v (DT_HALF) [4]\n");
    expect_error([&] { r.read("v"); }, Code::kUnimplemented, {"DT_HALF", "'v'"});
  }
  // Strings in an entry too small for their lengths are refused with the index.
  expect_loss(with_entry([](auto& e) { e.set_dtype(tensorflow::DT_STRING); e.set_size(7); }), "cannot hold 4 strings");
  // Big-endian checkpoints are refused rather than misread.
  tensorflow::BundleHeaderProto big;
  ASSERT_TRUE(big.ParseFromString(good[0].second));
  big.set_endianness(tensorflow::BundleHeaderProto::BIG);
  spit(idx, build_table({{"", big.SerializeAsString()}, good[1]}));
  expect_error([&] { BundleReader r(prefix); }, Code::kUnimplemented, {"big-endian"});
}

// ---- crash safety -----------------------------------------------------------------------------

void save_old(const std::string& prefix) {
  BundleWriter w(prefix);
  w.add("w", Tensor::from_vector<float>({1, 2, 3}));
  w.add("step", Tensor(int64_t{1}));
  w.finish();
}
void expect_old(const std::string& prefix) {
  BundleReader r(prefix);
  EXPECT_EQ(r.keys(), (std::vector<std::string>{"step", "w"}));
  EXPECT_TRUE(r.read("w").equals(Tensor::from_vector<float>({1, 2, 3})));
  EXPECT_EQ(r.read("step").scalar<int64_t>(), 1);
}
bool has_temp_files(const fs::path& dir) {
  for (const auto& f : fs::directory_iterator(dir))
    if (f.path().string().find(".tempstate") != std::string::npos) return true;
  return false;
}

// The child dies from SIGXFSZ inside write(2), halfway through the data file.
TEST(TensorBundleCrash, DeathMidWriteKeepsPreviousCheckpoint) {
  TempDir dir;
  const std::string prefix = dir / "model.ckpt";
  save_old(prefix);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_DFL);
    struct rlimit lim = {1 << 20, 1 << 20};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    try {
      BundleWriter w(prefix);
      w.add("w", Tensor(f32, {4 << 20}));  // 16 MB
      w.add("step", Tensor(int64_t{2}));
      w.finish();
    } catch (...) {
    }
    ::_exit(0);  // only reached if the limit did not kill us
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child finished its save; status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGXFSZ);
  EXPECT_TRUE(has_temp_files(dir.path()));  // it really was mid-save
  expect_old(prefix);
  save_old(prefix);  // the next save removes the dead writer's temporaries
  EXPECT_FALSE(has_temp_files(dir.path()));
  expect_old(prefix);
}

// SIGKILL from outside while the child saves: the prefix holds the old or the new checkpoint,
// whole. (saver_test stops a writer at each named step instead of at a random moment.)
TEST(TensorBundleCrash, KillDuringSaveKeepsACompleteCheckpoint) {
  TempDir dir;
  const std::string prefix = dir / "model.ckpt";
  save_old(prefix);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    try {
      BundleWriter w(prefix);
      w.add("w", Tensor(f32, {8 << 20}));  // 32 MB, then more while the parent kills us
      if (::write(fds[1], "x", 1) != 1) ::_exit(2);
      w.add("step", Tensor(int64_t{2}));
      w.add("w2", Tensor(f32, {8 << 20}));
      w.finish();
    } catch (...) {
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  char c;
  ASSERT_EQ(::read(fds[0], &c, 1), 1);
  ::kill(pid, SIGKILL);
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  BundleReader r(prefix);
  if (WIFSIGNALED(status)) {
    expect_old(prefix);
  } else {
    EXPECT_EQ(r.read("step").scalar<int64_t>(), 2);
  }
}

// The next save removes a dead writer's temporaries and nothing else: not a user's files, not
// TF's own temporary spelling, not a live writer's files (its flock says it is alive).
TEST(TensorBundleCrash, NextSaveRemovesOnlyDeadWritersTemporaries) {
  TempDir dir;
  save_old(dir / "model");
  const std::vector<std::string> dead = {
      "model.index.tempstate-0123456789abcdef", "other.data-00000-of-00001.tempstate-fedcba9876543210",
      "checkpoint.tempstate-00000000deadbeef", "model.meta.tempstate-00000000deadbeef",
      "model.data-00000-of-00001.tempstate-1111111111111111.old",  // a backup whose commit got past its index
      "model.index.tempstate-2222222222222222.old.part"};
  const std::vector<std::string> kept = {"notes.txt", "model.index.tempstate12345", "a.tempstate-xyz",
                                         "b.tempstate-0123456789ABCDEF", "c.tempstate-0123456789abcdef.bak",
                                         "d.tempstate-0123456789abcde"};
  for (const auto& name : dead) spit(dir.path() / name, "leftover");
  for (const auto& name : kept) spit(dir.path() / name, "mine");
  BundleWriter live(dir / "other");  // alive, mid-save, in the same directory
  live.add("w", Tensor::from_vector<float>({5}));
  auto live_files = [&] {
    int n = 0;
    for (const auto& f : fs::directory_iterator(dir.path()))
      n += f.path().filename().string().starts_with("other.") && f.path().string().find(".tempstate-") != std::string::npos;
    return n;
  };
  EXPECT_EQ(live_files(), 2);

  save_old(dir / "model");
  for (const auto& name : dead) EXPECT_FALSE(fs::exists(dir.path() / name)) << name;
  for (const auto& name : kept) EXPECT_EQ(slurp(dir.path() / name), "mine") << name;
  EXPECT_EQ(live_files(), 2);
  expect_old(dir / "model");

  live.finish();
  EXPECT_EQ(live_files(), 0);
  EXPECT_TRUE(BundleReader(dir / "other").read("w").equals(Tensor::from_vector<float>({5})));
}

// An abandoned writer removes its own temporaries; a restore of another prefix meanwhile finds
// the directory as it was.
TEST(TensorBundleCrash, WritersOfTwoPrefixesInOneDirectory) {
  TempDir dir;
  save_old(dir / "a");
  {
    BundleWriter w(dir / "b");
    w.add("w", Tensor::from_vector<float>({1}));
    expect_old(dir / "a");
  }
  EXPECT_FALSE(has_temp_files(dir.path()));
  EXPECT_FALSE(checkpoint_exists(dir / "b"));
}

// ---- checkpoint state file --------------------------------------------------------------------

TEST(CheckpointState, WritesTensorFlowsTextFormat) {
  TempDir dir;
  const std::string d = dir.path().string();
  EXPECT_FALSE(read_checkpoint_state(d).has_value());
  EXPECT_EQ(latest_checkpoint(d), "");
  write_checkpoint_state(d, dir / "model-2", {dir / "model-1"});
  EXPECT_EQ(slurp(dir.path() / "checkpoint"),
            str_cat("model_checkpoint_path: \"", dir / "model-2", "\"\n", "all_model_checkpoint_paths: \"",
                    dir / "model-1", "\"\n", "all_model_checkpoint_paths: \"", dir / "model-2", "\"\n"));
  auto state = read_checkpoint_state(d);
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->model_checkpoint_path(), dir / "model-2");
  ASSERT_EQ(state->all_model_checkpoint_paths_size(), 2);
  EXPECT_EQ(state->all_model_checkpoint_paths(0), dir / "model-1");
  EXPECT_EQ(latest_checkpoint(d), "");  // the state names a checkpoint that does not exist
  save_old(dir / "model-2");
  EXPECT_EQ(latest_checkpoint(d), dir / "model-2");
  EXPECT_FALSE(has_temp_files(dir.path()));
}

TEST(CheckpointState, RelativeDirectoryStoresRelativePaths) {
  TempDir dir;
  const std::string rel = fs::relative(dir.path()).string();
  ASSERT_FALSE(fs::path(rel).is_absolute());
  write_checkpoint_state(rel, rel + "/model-7", {});
  EXPECT_EQ(slurp(dir.path() / "checkpoint"),
            "model_checkpoint_path: \"model-7\"\nall_model_checkpoint_paths: \"model-7\"\n");
  save_old(dir / "model-7");
  EXPECT_EQ(fs::path(latest_checkpoint(rel)), fs::path(rel) / "model-7");
}

TEST(CheckpointState, ReadsTensorFlowsFileAndRejectsGarbage) {
  TempDir dir;
  spit(dir.path() / "checkpoint",
       "model_checkpoint_path: \"my_model_final.ckpt\"\nall_model_checkpoint_paths: \"my_model_final.ckpt\"\n");
  auto state = read_checkpoint_state(dir.path().string());
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->model_checkpoint_path(), dir / "my_model_final.ckpt");
  spit(dir.path() / "checkpoint", "model_checkpoint_path: 12 {{");
  expect_error([&] { read_checkpoint_state(dir.path().string()); }, Code::kDataLoss, {dir / "checkpoint"});
  spit(dir.path() / "checkpoint", "");
  expect_error([&] { read_checkpoint_state(dir.path().string()); }, Code::kDataLoss, {"model_checkpoint_path"});
}

TEST(CheckpointFiles, RemoveCheckpointRemovesItsFilesOnly) {
  TempDir dir;
  save_old(dir / "m-1");
  save_old(dir / "m-10");
  spit(dir.path() / "m-1.meta", "meta");
  remove_checkpoint(dir / "m-1");
  EXPECT_FALSE(checkpoint_exists(dir / "m-1"));
  EXPECT_FALSE(fs::exists(data_filename(dir / "m-1")));
  EXPECT_FALSE(fs::exists(dir / "m-1.meta"));
  expect_old(dir / "m-10");
}

TEST(CheckpointFiles, WriteFileAtomicReplaces) {
  TempDir dir;
  write_file_atomic(dir / "f", "one");
  write_file_atomic(dir / "f", "two");
  EXPECT_EQ(slurp(dir.path() / "f"), "two");
  EXPECT_FALSE(has_temp_files(dir.path()));
  expect_error([&] { write_file_atomic(dir / "no/such/dir/f", "x"); }, Code::kNotFound, {"no/such/dir"});
}

// ---- inspect_checkpoint -----------------------------------------------------------------------

const char* kFixtureListing =
    "dnn/hidden1/bias (DT_FLOAT) [300]\n"
    "dnn/hidden1/kernel (DT_FLOAT) [784,300]\n"
    "dnn/hidden2/bias (DT_FLOAT) [100]\n"
    "dnn/hidden2/kernel (DT_FLOAT) [300,100]\n"
    "dnn/outputs/bias (DT_FLOAT) [10]\n"
    "dnn/outputs/kernel (DT_FLOAT) [100,10]\n";

TEST(InspectCheckpoint, ListsLikeTensorFlow) {
  FG_REQUIRE_FIXTURE("tf1-mnist-mlp");
  EXPECT_EQ(format_checkpoint_listing(fixture_prefix()), kFixtureListing);
  const std::string t = format_checkpoint_tensor(fixture_prefix(), "dnn/outputs/bias", 5);
  EXPECT_EQ(t.rfind("tensor_name:  dnn/outputs/bias\n", 0), 0u) << t;
  EXPECT_NE(t.find("DT_FLOAT"), std::string::npos) << t;
  EXPECT_NE(t.find("[10]"), std::string::npos) << t;
  EXPECT_NE(t.find(" ..."), std::string::npos) << t;
  for (const char* stat : {"min: ", "max: ", "mean: ", "std: "}) EXPECT_NE(t.find(stat), std::string::npos) << t;
  TempDir dir;
  save_old(dir / "small");
  EXPECT_EQ(format_checkpoint_listing(dir / "small"), "step (DT_INT64) []\nw (DT_FLOAT) [3]\n");
  const std::string w = format_checkpoint_tensor(dir / "small", "w");
  EXPECT_NE(w.find("min: 1  max: 3  mean: 2  std: 0.816497"), std::string::npos) << w;
  expect_error([&] { format_checkpoint_tensor(dir / "small", "nope"); }, Code::kNotFound, {"nope"});
}

std::pair<int, std::string> run(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(InspectCheckpoint, Tool) {
  FG_REQUIRE_FIXTURE("tf1-mnist-mlp");
  const fs::path tool = fs::path(FG_BINARY_DIR) / "inspect_checkpoint";
  if (!fs::exists(tool)) GTEST_SKIP() << "no " << tool;
  auto [code, out] = run(str_cat("'", tool.string(), "' '", fixture_prefix(), "'"));
  EXPECT_EQ(code, 0);
  EXPECT_EQ(out, kFixtureListing);
  std::tie(code, out) = run(str_cat("'", tool.string(), "' '", fixture_prefix(), "' --tensor dnn/outputs/bias"));
  EXPECT_EQ(code, 0);
  EXPECT_NE(out.find("tensor_name:  dnn/outputs/bias"), std::string::npos) << out;
  std::tie(code, out) = run(str_cat("'", tool.string(), "' /nonexistent/prefix 2>&1"));
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("/nonexistent/prefix.index"), std::string::npos) << out;
}

}  // namespace
}  // namespace fg::train
