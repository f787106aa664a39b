// A LevelDB WritableFile into memory, for tests and fuzzers that build index tables of their own.
#pragma once
#include <leveldb/env.h>

#include <string>

namespace fg::testing {

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

}  // namespace fg::testing
