// V2 checkpoint, structure-aware: the input frames a BundleHeaderProto and (name,
// BundleEntryProto) pairs, which the harness writes as a well-formed LevelDB table (sorted keys,
// right checksums), and the data file's bytes; an entry's flag byte can make its crc32c match its
// bytes. So the fuzzer spends its time on what the entries declare (dtypes, shapes, offsets,
// sizes, shards, slices) instead of on LevelDB's checksums.
//
// Framing (tests/fuzz/fuzz_util.h Reader): chunk header; u8 count; count x (chunk name,
// chunk entry, u8 flags); the rest is the data file.
#include <leveldb/options.h>
#include <leveldb/table_builder.h>
#include <leveldb/env.h>

#include <algorithm>
#include <map>

#include "core/errors.h"
#include "proto/tensor_bundle.pb.h"
#include "tests/fuzz/fuzz_util.h"
#include "ops/internal/leveldb_memory.h"
#include "ops/crc32c.h"
#include "ops/tensor_bundle.h"

using fg::train::internal::StringSink;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fg::fuzz::init();
  static const std::string prefix = fg::fuzz::scratch_dir() + "/entries/model";
  static const bool made = [] {
    fg::fuzz::write_base_checkpoint(prefix);
    return true;
  }();
  (void)made;
  fg::fuzz::Reader in(data, size);
  const std::string header(in.chunk());
  std::map<std::string, std::string> entries;  // sorted, unique: what a table requires
  std::map<std::string, uint8_t> flags;
  const int count = in.u8();
  for (int i = 0; i < count; ++i) {
    std::string name(in.chunk());
    std::string entry(in.chunk());
    const uint8_t f = in.u8();
    if (name.empty()) continue;  // "" is the header's key
    flags[name] = f;
    entries[name] = std::move(entry);
  }
  const std::string_view bytes = in.rest();
  for (auto& [name, entry] : entries) {
    if (!(flags[name] & 1)) continue;
    tensorflow::BundleEntryProto e;
    if (!e.ParseFromString(entry) || e.offset() < 0 || e.size() < 0 ||
        static_cast<uint64_t>(e.offset()) > bytes.size() || static_cast<uint64_t>(e.size()) > bytes.size() - e.offset())
      continue;
    e.set_crc32c(fg::crc32c::mask(fg::crc32c::value(bytes.data() + e.offset(), e.size())));
    entry = e.SerializeAsString();
  }
  StringSink sink;
  {
    leveldb::Options o;
    o.compression = leveldb::kNoCompression;
    leveldb::TableBuilder builder(o, &sink);
    builder.Add("", header);
    for (const auto& [name, entry] : entries) builder.Add(name, entry);
    if (!builder.Finish().ok()) return 0;
  }
  fg::fuzz::write_file(fg::train::index_filename(prefix), sink.data);
  fg::fuzz::write_file(fg::train::data_filename(prefix), bytes);
  try {
    fg::fuzz::read_checkpoint(prefix);
  } catch (const fg::Error&) {
  }
  return 0;
}
