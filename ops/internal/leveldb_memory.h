// Internal to ops/ (and the tests and fuzzers that build index tables of their own): a LevelDB
// table written to and read from memory. A bundle index is small, so it is built and parsed in
// memory; that keeps the temp-file, fsync and rename discipline in our hands instead of LevelDB's Env.
#pragma once
#include <leveldb/env.h>

#include <cstdint>
#include <string>

namespace fg::train::internal {

class StringSink final : public leveldb::WritableFile {
 public:
  leveldb::Status Append(const leveldb::Slice& s) override {
    data.append(s.data(), s.size());
    return {};
  }
  leveldb::Status Close() override { return {}; }
  leveldb::Status Flush() override { return {}; }
  leveldb::Status Sync() override { return {}; }
  std::string data;
};

// Reads from a string the caller keeps alive; a block past its end is Corruption, not a read
// out of bounds.
class StringSource final : public leveldb::RandomAccessFile {
 public:
  explicit StringSource(const std::string& d) : d_(d) {}
  leveldb::Status Read(uint64_t offset, size_t n, leveldb::Slice* result, char*) const override {
    if (offset > d_.size() || n > d_.size() - offset) {
      *result = leveldb::Slice();
      return leveldb::Status::Corruption("block extends past the end of the file");
    }
    *result = leveldb::Slice(d_.data() + offset, n);
    return {};
  }

 private:
  const std::string& d_;
};

}  // namespace fg::train::internal
