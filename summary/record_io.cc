#include "summary/record_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/errors.h"
#include "ops/checkpoint_files.h"
#include "ops/crc32c.h"

namespace fg::summary {

namespace {

// Flushing in large writes keeps the number of syscalls low without holding much back.
constexpr size_t kBufferLimit = 1 << 16;

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace

std::string frame_record(std::string_view data) {
  std::string out;
  out.reserve(data.size() + 16);
  put_u64(out, data.size());
  put_u32(out, crc32c::mask(crc32c::value(out.data(), 8)));
  out.append(data);
  put_u32(out, crc32c::mask(crc32c::value(data.data(), data.size())));
  return out;
}

// ---- RecordWriter -------------------------------------------------------------------------

RecordWriter::RecordWriter(const std::string& path, Mode mode) : path_(path) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (mode == kCreateNew ? O_EXCL : O_APPEND);
  fd_ = ::open(path.c_str(), flags, 0666);
  if (fd_ < 0) {
    if (errno == EEXIST) throw AlreadyExists(str_cat("record file ", path, " already exists"));
    train::internal::throw_io("cannot create record file", path, errno);
  }
}

RecordWriter::~RecordWriter() {
  if (fd_ < 0) return;
  try {
    flush();
  } catch (const Error&) {
  }
  ::close(fd_);
}

void RecordWriter::write(std::string_view data) {
  FG_CHECK(fd_ >= 0, FailedPrecondition, "record file ", path_, " is closed");
  buffer_ += frame_record(data);
  if (buffer_.size() >= kBufferLimit) flush();
}

void RecordWriter::flush() {
  FG_CHECK(fd_ >= 0, FailedPrecondition, "record file ", path_, " is closed");
  if (buffer_.empty()) return;
  std::string pending = std::exchange(buffer_, {});
  train::internal::write_all(fd_, pending.data(), pending.size(), path_);
}

void RecordWriter::close() {
  if (fd_ < 0) return;
  const int fd = fd_;
  try {
    flush();
    train::internal::fsync_or_throw(fd, path_);
  } catch (...) {
    ::close(fd);
    fd_ = -1;
    throw;
  }
  fd_ = -1;
  if (::close(fd) != 0) train::internal::throw_io("cannot close", path_, errno);
}

// ---- RecordReader -------------------------------------------------------------------------

RecordReader::RecordReader(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) train::internal::throw_io("cannot open record file", path, errno);
}

RecordReader::~RecordReader() {
  if (fd_ >= 0) ::close(fd_);
}

size_t RecordReader::read_some(char* out, size_t n) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::pread(fd_, out + got, n - got, static_cast<off_t>(offset_ + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw DataLoss(str_cat("cannot read record file ", path_, ": ", std::strerror(errno)));
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

bool RecordReader::read(std::string* data) {
  if (truncated_) return false;
  char header[12];
  const size_t got = read_some(header, sizeof header);
  if (got == 0) return false;
  if (got < sizeof header) {
    truncated_ = true;
    return false;
  }
  const uint64_t length = get_u64(header);
  if (crc32c::unmask(get_u32(header + 8)) != crc32c::value(header, 8))
    throw DataLoss(str_cat("record file ", path_, ": the length of the record at offset ", offset_,
                           " fails its checksum (corrupt file, or not a TFRecord file)"));
  // The length is checked against what the file holds before anything is allocated for it.
  struct stat st;
  if (::fstat(fd_, &st) != 0) train::internal::throw_io("cannot stat", path_, errno);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < offset_ + sizeof header || length > size - offset_ - sizeof header ||
      size - offset_ - sizeof header - length < 4) {
    truncated_ = true;
    return false;
  }
  const uint64_t start = offset_;
  offset_ += sizeof header;
  data->resize(length);
  std::string footer(4, '\0');
  if (read_some(data->data(), length) < length) {
    offset_ = start;
    truncated_ = true;
    return false;
  }
  offset_ += length;
  if (read_some(footer.data(), 4) < 4) {
    offset_ = start;
    truncated_ = true;
    return false;
  }
  if (crc32c::unmask(get_u32(footer.data())) != crc32c::value(data->data(), data->size()))
    throw DataLoss(str_cat("record file ", path_, ": the record at offset ", start, " (", length,
                           " bytes) fails its checksum"));
  offset_ += 4;
  return true;
}

}  // namespace fg::summary
