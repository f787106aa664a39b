// TFRecord files, the framing of TensorFlow's event files (and of tf.data's TFRecordDataset):
// each record is its length (uint64, little-endian), the masked CRC-32C of those 8 bytes, the
// data, and the masked CRC-32C of the data (both uint32, little-endian).
//
//   summary::RecordWriter w("/tmp/run/records", summary::RecordWriter::kCreateNew);
//   w.write(event.SerializeAsString());
//   w.flush();                                   // on disk (in the page cache) now
//   summary::RecordReader r("/tmp/run/records");
//   for (std::string rec; r.read(&rec);) use(rec);
//   if (r.truncated()) warn("the writer was cut off mid-record");
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace fg::summary {

// One framed record, as it goes into the file.
std::string frame_record(std::string_view data);

class RecordWriter {
 public:
  enum Mode { kCreateNew, kAppend };
  // kCreateNew fails (AlreadyExists) rather than overwrite an existing file.
  RecordWriter(const std::string& path, Mode mode);
  ~RecordWriter();  // flushes; errors are lost there, so call close() to see them
  RecordWriter(const RecordWriter&) = delete;
  RecordWriter& operator=(const RecordWriter&) = delete;

  // Buffered; whole records reach the file, in order, at flush() or when the buffer fills.
  void write(std::string_view data);
  void flush();
  // Flushes and fsyncs; the writer takes no more records.
  void close();
  bool closed() const { return fd_ < 0; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::string buffer_;
};

class RecordReader {
 public:
  // NotFound when the file cannot be opened.
  explicit RecordReader(const std::string& path);
  ~RecordReader();
  RecordReader(const RecordReader&) = delete;
  RecordReader& operator=(const RecordReader&) = delete;

  // The next record's data; false at the end of the file. A record cut off by the end of the
  // file (its writer still at work, or killed) ends the file too, and truncated() says so. A
  // record whose length or data fails its crc is DataLoss naming the file and the offset.
  bool read(std::string* data);
  bool truncated() const { return truncated_; }
  // Where the next record starts.
  uint64_t offset() const { return offset_; }

 private:
  // Reads up to n bytes at the current position; fewer only at the end of the file.
  size_t read_some(char* out, size_t n);
  std::string path_;
  int fd_ = -1;
  uint64_t offset_ = 0;
  bool truncated_ = false;
};

}  // namespace fg::summary
