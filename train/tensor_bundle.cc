#include "train/tensor_bundle.h"

#include <fcntl.h>
#include <leveldb/env.h>
#include <leveldb/iterator.h>
#include <leveldb/options.h>
#include <leveldb/table.h>
#include <leveldb/table_builder.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <sstream>

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include "graph/tensor_proto.h"
#include "proto/tensor_bundle.pb.h"
#include "train/crc32c.h"

namespace fg::train {

namespace fs = std::filesystem;

namespace {

// TF's kTensorBundleVersion / kTensorBundleMinConsumer.
constexpr int kBundleVersion = 1;
constexpr int kBundleMinConsumer = 0;
// Flush the data file's write buffer once it holds this much; bigger tensors bypass it.
constexpr size_t kWriteBuffer = 4 << 20;

// ---- small POSIX helpers -----------------------------------------------------------------

[[noreturn]] void throw_io(const std::string& what, const std::string& path, int err) {
  const std::string msg = str_cat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT || err == ENOTDIR) throw NotFound(msg);
  throw FailedPrecondition(msg);
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // close() can report a deferred write error, so writers check it.
  void close_checked(const std::string& path) {
    const int fd = std::exchange(fd_, -1);
    if (fd >= 0 && ::close(fd) != 0) throw_io("cannot close", path, errno);
  }

 private:
  int fd_ = -1;
};

Fd open_or_throw(const std::string& path, int flags, const char* what) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0666);
  if (fd < 0) throw_io(what, path, errno);
  return Fd(fd);
}

void write_all(int fd, const void* data, size_t n, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw_io("cannot write", path, errno);
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void fsync_or_throw(int fd, const std::string& path) {
  if (::fsync(fd) != 0) throw_io("cannot fsync", path, errno);
}

// Makes a rename durable; failure is ignored because some filesystems cannot fsync directories.
void fsync_dir_of(const std::string& path) {
  std::string dir = fs::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
}

void rename_or_throw(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) throw_io(str_cat("cannot rename ", from, " to"), to, errno);
}

// TF's spelling of temporary files: "<final name>.tempstate<random>".
std::string temp_name(const std::string& path) {
  std::random_device rd;
  const uint64_t r = (uint64_t{rd()} << 32) | rd();
  return str_cat(path, ".tempstate", r);
}

void make_parent_dirs(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw FailedPrecondition(str_cat("cannot create directory ", parent.string(), ": ", ec.message()));
}

std::string read_whole_file(const std::string& path, const char* what) {
  Fd fd = open_or_throw(path, O_RDONLY, what);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t r = ::read(fd.get(), buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw DataLoss(str_cat("cannot read ", path, ": ", std::strerror(errno)));
    }
    if (r == 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

// ---- LevelDB table over memory ------------------------------------------------------------

// The index is small, so it is built and parsed in memory; that keeps the temp-file, fsync and
// rename discipline in our hands instead of LevelDB's Env.
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

// TF's table options for bundle indexes (tensorflow/core/lib/io/table_options.h with
// compression off, as tensor_bundle.cc sets it). The rest are LevelDB's defaults, which equal
// TF's: restart interval 16, bytewise comparator, no filter.
leveldb::Options index_options() {
  leveldb::Options o;
  o.compression = leveldb::kNoCompression;
  o.block_size = 262144;
  o.block_restart_interval = 16;
  o.paranoid_checks = true;  // reading: verify the index block's crc when opening
  return o;
}

// LevelDB's footer: two BlockHandles (varint64 offset, size) padded to 40 bytes, then the magic.
// Checked here because LevelDB allocates a block's size before checking it against the file.
constexpr size_t kFooterSize = 48;
constexpr uint64_t kTableMagic = 0xdb4775248b80fb57ull;
constexpr size_t kBlockTrailer = 5;

bool decode_varint64(const char*& p, const char* end, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift <= 63 && p < end; shift += 7) {
    const uint64_t byte = static_cast<uint8_t>(*p++);
    *v |= (byte & 0x7f) << shift;
    if (!(byte & 0x80)) return true;
  }
  return false;
}

std::string footer_problem(const std::string& file) {
  if (file.size() < kFooterSize) return str_cat("file has ", file.size(), " bytes, too short for a table");
  const char* footer = file.data() + file.size() - kFooterSize;
  uint64_t magic;
  std::memcpy(&magic, footer + 40, 8);
  if (magic != kTableMagic) return "bad table magic number (not a LevelDB-format table, or truncated)";
  const char* p = footer;
  const uint64_t limit = file.size() - kFooterSize;
  for (const char* which : {"metaindex", "index"}) {
    uint64_t off, size;
    if (!decode_varint64(p, footer + 40, &off) || !decode_varint64(p, footer + 40, &size))
      return str_cat("bad ", which, " block handle in the footer");
    if (off > limit || size > limit - off || size + kBlockTrailer > limit - off)
      return str_cat(which, " block [", off, ", +", size, ") lies outside the file");
  }
  return "";
}

tensorflow::BundleHeaderProto make_header() {
  tensorflow::BundleHeaderProto h;
  h.set_num_shards(1);
  h.set_endianness(tensorflow::BundleHeaderProto::LITTLE);
  h.mutable_version()->set_producer(kBundleVersion);
  if (kBundleMinConsumer != 0) h.mutable_version()->set_min_consumer(kBundleMinConsumer);
  return h;
}

std::string shape_string(const tensorflow::TensorShapeProto& s) {
  std::string out = "[";
  for (int i = 0; i < s.dim_size(); ++i) out += str_cat(i ? "," : "", s.dim(i).size());
  return out + "]";
}

}  // namespace

std::string index_filename(const std::string& prefix) { return prefix + ".index"; }

std::string data_filename(const std::string& prefix, int shard, int num_shards) {
  char buf[48];
  std::snprintf(buf, sizeof buf, ".data-%05d-of-%05d", shard, num_shards);
  return prefix + buf;
}

// ---- writer -----------------------------------------------------------------------------------

struct BundleWriter::Impl {
  std::string prefix;
  std::string data_path, data_tmp;
  Fd data_fd;
  std::string buffer;
  int64_t offset = 0;
  std::map<std::string, tensorflow::BundleEntryProto> entries;
  bool finished = false;
  std::string index_tmp;

  void flush_buffer() {
    write_all(data_fd.get(), buffer.data(), buffer.size(), data_tmp);
    buffer.clear();
  }
  void remove_temps() {
    data_fd.reset();
    if (!data_tmp.empty()) ::unlink(data_tmp.c_str());
    if (!index_tmp.empty()) ::unlink(index_tmp.c_str());
  }
};

BundleWriter::BundleWriter(std::string prefix) : impl_(std::make_unique<Impl>()) {
  FG_CHECK(!prefix.empty(), InvalidArgument, "BundleWriter: empty checkpoint prefix");
  impl_->prefix = std::move(prefix);
  impl_->data_path = data_filename(impl_->prefix);
  make_parent_dirs(impl_->data_path);
  impl_->data_tmp = temp_name(impl_->data_path);
  impl_->data_fd = open_or_throw(impl_->data_tmp, O_WRONLY | O_CREAT | O_EXCL, "cannot create");
}

BundleWriter::~BundleWriter() {
  if (!impl_->finished) impl_->remove_temps();
}

void BundleWriter::add(const std::string& name, const Tensor& t) {
  Impl& w = *impl_;
  FG_CHECK(!w.finished, FailedPrecondition, "BundleWriter(", w.prefix, "): add('", name, "') after finish()");
  FG_CHECK(!name.empty(), InvalidArgument, "BundleWriter(", w.prefix,
           "): tensor name must be non-empty (\"\" is the header's key)");
  FG_CHECK(t.valid(), InvalidArgument, "BundleWriter(", w.prefix, "): tensor '", name, "' is empty (not valid)");
  FG_CHECK(!w.entries.count(name), InvalidArgument, "BundleWriter(", w.prefix, "): tensor '", name,
           "' added twice");

  const size_t n = t.num_bytes();
  tensorflow::BundleEntryProto e;
  e.set_dtype(dtype_to_proto(t.dtype()));
  *e.mutable_shape() = shape_to_proto(t.shape());
  e.set_shard_id(0);
  e.set_offset(w.offset);
  e.set_size(static_cast<int64_t>(n));
  e.set_crc32c(crc32c::mask(crc32c::value(t.raw_data(), n)));

  if (n >= kWriteBuffer) {
    w.flush_buffer();
    write_all(w.data_fd.get(), t.raw_data(), n, w.data_tmp);
  } else {
    w.buffer.append(static_cast<const char*>(t.raw_data()), n);
    if (w.buffer.size() >= kWriteBuffer) w.flush_buffer();
  }
  w.offset += static_cast<int64_t>(n);
  w.entries.emplace(name, std::move(e));
}

void BundleWriter::finish() {
  Impl& w = *impl_;
  FG_CHECK(!w.finished, FailedPrecondition, "BundleWriter(", w.prefix, "): finish() called twice");
  w.flush_buffer();
  fsync_or_throw(w.data_fd.get(), w.data_tmp);
  w.data_fd.close_checked(w.data_tmp);

  StringSink sink;
  {
    leveldb::TableBuilder builder(index_options(), &sink);
    builder.Add("", make_header().SerializeAsString());
    for (const auto& [name, entry] : w.entries) builder.Add(name, entry.SerializeAsString());
    const leveldb::Status s = builder.Finish();
    FG_CHECK(s.ok(), Internal, "BundleWriter(", w.prefix, "): building the index failed: ", s.ToString());
  }

  const std::string index_path = index_filename(w.prefix);
  w.index_tmp = temp_name(index_path);
  {
    Fd fd = open_or_throw(w.index_tmp, O_WRONLY | O_CREAT | O_EXCL, "cannot create");
    write_all(fd.get(), sink.data.data(), sink.data.size(), w.index_tmp);
    fsync_or_throw(fd.get(), w.index_tmp);
    fd.close_checked(w.index_tmp);
  }
  // Both files are durable under temporary names before either replaces anything. The data
  // file goes first so a new index never points into an old data file; if we die between the
  // two renames, the old index meets new data and the crcs report DataLoss, not wrong values.
  rename_or_throw(w.data_tmp, w.data_path);
  w.data_tmp.clear();
  rename_or_throw(w.index_tmp, index_path);
  w.index_tmp.clear();
  fsync_dir_of(index_path);
  w.finished = true;
}

// ---- reader -----------------------------------------------------------------------------------

struct BundleReader::Impl {
  std::string prefix;
  std::string index_path;
  int num_shards = 1;
  std::vector<std::string> data_paths;
  std::vector<Fd> data_fds;
  std::vector<int64_t> data_sizes;
  std::map<std::string, tensorflow::BundleEntryProto> entries;

  [[noreturn]] void corrupt_index(const std::string& detail) const {
    throw DataLoss(str_cat("checkpoint index ", index_path, " is corrupt: ", detail));
  }
  const tensorflow::BundleEntryProto& entry(const std::string& name) const {
    auto it = entries.find(name);
    if (it == entries.end())
      throw NotFound(str_cat("checkpoint ", prefix, " has no tensor named '", name, "'"));
    return it->second;
  }
  void validate_entry(const std::string& name, const tensorflow::BundleEntryProto& e) const;
};

void BundleReader::Impl::validate_entry(const std::string& name, const tensorflow::BundleEntryProto& e) const {
  const auto bad = [&](const std::string& what) { corrupt_index(str_cat("tensor '", name, "': ", what)); };
  if (e.dtype() == tensorflow::DT_INVALID || !tensorflow::DataType_IsValid(e.dtype()))
    bad(str_cat("invalid dtype ", static_cast<int>(e.dtype())));
  if (e.shape().unknown_rank()) bad("shape has unknown rank");
  for (const auto& d : e.shape().dim())
    if (d.size() < 0) bad(str_cat("shape ", shape_string(e.shape()), " has a negative dim"));
  if (e.shard_id() < 0 || e.shard_id() >= num_shards)
    bad(str_cat("shard_id ", e.shard_id(), " not in [0, ", num_shards, ")"));
  if (e.offset() < 0 || e.size() < 0) bad(str_cat("negative offset ", e.offset(), " or size ", e.size()));
  if (e.offset() > std::numeric_limits<int64_t>::max() - e.size()) bad("offset + size overflows");
  if (e.slices_size() > 0) return;  // a partitioned variable's metadata; bytes live in slice entries
  // Raw-layout dtypes must have exactly num_elements * element size bytes.
  const int base = e.dtype() > 100 ? e.dtype() - 100 : e.dtype();
  const size_t elem = dtype_size(static_cast<DType>(base));
  if (elem == 0) return;  // a type flowgraph cannot read; its size is not checkable here
  int64_t n = static_cast<int64_t>(elem);
  for (const auto& d : e.shape().dim())
    if (__builtin_mul_overflow(n, d.size(), &n)) bad(str_cat("shape ", shape_string(e.shape()), " overflows"));
  if (n != e.size())
    bad(str_cat("size ", e.size(), " bytes, but ", proto_dtype_name(e.dtype()), " ", shape_string(e.shape()),
                " needs ", n));
}

BundleReader::BundleReader(std::string prefix) : impl_(std::make_unique<Impl>()) {
  Impl& r = *impl_;
  r.prefix = std::move(prefix);
  r.index_path = index_filename(r.prefix);
  const std::string file = read_whole_file(r.index_path, "cannot open checkpoint index");
  if (const std::string why = footer_problem(file); !why.empty()) r.corrupt_index(why);

  leveldb::Options opts = index_options();
  StringSource source(file);
  leveldb::Table* raw_table = nullptr;
  leveldb::Status s = leveldb::Table::Open(opts, &source, file.size(), &raw_table);
  std::unique_ptr<leveldb::Table> table(raw_table);
  if (!s.ok()) r.corrupt_index(s.ToString());

  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  ro.fill_cache = false;
  std::unique_ptr<leveldb::Iterator> it(table->NewIterator(ro));
  bool have_header = false;
  std::string last_key;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string key = it->key().ToString();
    const leveldb::Slice value = it->value();
    if (!have_header) {
      if (!key.empty()) r.corrupt_index(str_cat("first key is '", key, "', not the header's \"\""));
      tensorflow::BundleHeaderProto h;
      if (!h.ParseFromArray(value.data(), static_cast<int>(value.size())))
        r.corrupt_index("header is not a BundleHeaderProto");
      if (h.num_shards() < 1 || h.num_shards() > 100000)
        r.corrupt_index(str_cat("header has num_shards ", h.num_shards()));
      if (h.endianness() != tensorflow::BundleHeaderProto::LITTLE)
        throw Unimplemented(str_cat("checkpoint ", r.index_path, " is big-endian; only little-endian is supported"));
      if (h.version().min_consumer() > kBundleVersion)
        throw Unimplemented(str_cat("checkpoint ", r.index_path, " needs bundle reader version ",
                                    h.version().min_consumer(), ", this is version ", kBundleVersion));
      for (int bad : h.version().bad_consumers())
        if (bad == kBundleVersion)
          throw Unimplemented(str_cat("checkpoint ", r.index_path, " disallows bundle reader version ", bad));
      r.num_shards = h.num_shards();
      have_header = true;
      continue;
    }
    if (key <= last_key) r.corrupt_index(str_cat("keys out of order: '", key, "' after '", last_key, "'"));
    last_key = key;
    tensorflow::BundleEntryProto e;
    if (!e.ParseFromArray(value.data(), static_cast<int>(value.size())))
      r.corrupt_index(str_cat("tensor '", key, "': entry is not a BundleEntryProto"));
    r.validate_entry(key, e);
    r.entries.emplace(key, std::move(e));
  }
  if (!it->status().ok()) r.corrupt_index(it->status().ToString());
  if (!have_header) r.corrupt_index("no header entry (the table is empty)");

  for (int shard = 0; shard < r.num_shards; ++shard) {
    r.data_paths.push_back(data_filename(r.prefix, shard, r.num_shards));
    r.data_fds.push_back(open_or_throw(r.data_paths.back(), O_RDONLY, "cannot open checkpoint data file"));
    struct stat st;
    if (::fstat(r.data_fds.back().get(), &st) != 0) throw_io("cannot stat", r.data_paths.back(), errno);
    r.data_sizes.push_back(static_cast<int64_t>(st.st_size));
  }
}

BundleReader::~BundleReader() = default;

const std::string& BundleReader::prefix() const { return impl_->prefix; }

bool BundleReader::contains(const std::string& name) const { return impl_->entries.count(name) > 0; }

std::vector<std::string> BundleReader::keys() const {
  std::vector<std::string> out;
  out.reserve(impl_->entries.size());
  for (const auto& kv : impl_->entries) out.push_back(kv.first);
  return out;
}

std::pair<DType, Shape> BundleReader::dtype_and_shape(const std::string& name) const {
  const auto& e = impl_->entry(name);
  const std::string who = str_cat("tensor '", name, "' in checkpoint ", impl_->prefix);
  return {dtype_from_proto(e.dtype(), who), shape_from_proto(e.shape(), who)};
}

Tensor BundleReader::read(const std::string& name) const {
  const Impl& r = *impl_;
  const auto& e = r.entry(name);
  const std::string who = str_cat("tensor '", name, "' in checkpoint ", r.prefix);
  FG_CHECK(e.slices_size() == 0, Unimplemented, who, " is a partitioned variable (",
           e.slices_size(), " slices); reading slices is not supported");
  const DType dtype = dtype_from_proto(e.dtype(), who);
  const Shape shape = shape_from_proto(e.shape(), who);
  const std::string& path = r.data_paths.at(e.shard_id());
  const int64_t file_size = r.data_sizes.at(e.shard_id());
  if (e.offset() + e.size() > file_size)
    throw DataLoss(str_cat("checkpoint data file ", path, " is truncated: tensor '", name, "' needs bytes [",
                           e.offset(), ", ", e.offset() + e.size(), ") but the file has ", file_size));

  Tensor t = Tensor::empty(dtype, shape);
  char* p = static_cast<char*>(t.raw_data());
  size_t left = static_cast<size_t>(e.size());
  off_t off = static_cast<off_t>(e.offset());
  while (left > 0) {
    const ssize_t got = ::pread(r.data_fds.at(e.shard_id()).get(), p, left, off);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0)
      throw DataLoss(str_cat("checkpoint data file ", path, ": reading tensor '", name, "' failed: ",
                             got < 0 ? std::strerror(errno) : "unexpected end of file"));
    p += got;
    off += got;
    left -= static_cast<size_t>(got);
  }
  const uint32_t want = crc32c::unmask(e.crc32c());
  const uint32_t got = crc32c::value(t.raw_data(), t.num_bytes());
  if (want != got)
    throw DataLoss(str_cat("checkpoint data file ", path, ": checksum mismatch for tensor '", name,
                           "' (index says crc32c ", want, ", the bytes give ", got, ")"));
  if (dtype == DType::kBool)
    for (uint8_t b : std::span(static_cast<const uint8_t*>(t.raw_data()), t.num_bytes()))
      FG_CHECK(b <= 1, DataLoss, "checkpoint data file ", path, ": bool tensor '", name, "' holds byte ", int(b));
  return t;
}

// ---- listing ---------------------------------------------------------------------------------

std::string format_checkpoint_listing(const std::string& prefix) {
  BundleReader reader(prefix);
  std::string out;
  // TF's BundleReader::DebugString, which inspect_checkpoint prints; it too skips slice entries.
  for (const auto& [name, e] : reader.impl_->entries) {
    if (e.slices_size() > 0) continue;
    out += str_cat(name, " (", proto_dtype_name(e.dtype()), ") ", shape_string(e.shape()), "\n");
  }
  return out;
}

std::string format_checkpoint_tensor(const std::string& prefix, const std::string& name, int64_t max_values) {
  BundleReader reader(prefix);
  const Tensor t = reader.read(name);
  std::ostringstream os;
  os << "tensor_name:  " << name << "\n";
  os << "dtype: " << proto_dtype_name(static_cast<int>(t.dtype())) << "  shape: " << t.shape() << "\n";
  os << t.to_string(max_values) << "\n";
  const int64_t n = t.num_elements();
  if (n == 0) {
    os << "(no elements)\n";
    return os.str();
  }
  double mn = 0, mx = 0, sum = 0;
  dispatch_all(t.dtype(), "format_checkpoint_tensor", [&]<typename T>() {
    const T* p = t.data<T>();
    mn = mx = static_cast<double>(p[0]);
    for (int64_t i = 0; i < n; ++i) {
      const double v = static_cast<double>(p[i]);
      mn = std::min(mn, v);
      mx = std::max(mx, v);
      sum += v;
    }
  });
  const double mean = sum / static_cast<double>(n);
  double sq = 0;
  dispatch_all(t.dtype(), "format_checkpoint_tensor", [&]<typename T>() {
    const T* p = t.data<T>();
    for (int64_t i = 0; i < n; ++i) {
      const double d = static_cast<double>(p[i]) - mean;
      sq += d * d;
    }
  });
  os << "min: " << mn << "  max: " << mx << "  mean: " << mean
     << "  std: " << std::sqrt(sq / static_cast<double>(n)) << "  (" << n << " elements)\n";
  return os.str();
}

// ---- files ---------------------------------------------------------------------------------

bool checkpoint_exists(const std::string& prefix) {
  struct stat st;
  return ::stat(index_filename(prefix).c_str(), &st) == 0;
}

void remove_checkpoint(const std::string& prefix) {
  ::unlink(index_filename(prefix).c_str());
  ::unlink((prefix + ".meta").c_str());
  const fs::path p(prefix);
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  const std::string data_stem = p.filename().string() + ".data-";
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(dir, ec)) {
    const std::string name = f.path().filename().string();
    // Only finished shards: "<stem>.data-NNNNN-of-NNNNN", nothing with a further suffix.
    if (name.size() == data_stem.size() + 14 && name.compare(0, data_stem.size(), data_stem) == 0 &&
        name.compare(data_stem.size() + 5, 4, "-of-") == 0)
      ::unlink(f.path().c_str());
  }
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  const std::string tmp = temp_name(path);
  try {
    Fd fd = open_or_throw(tmp, O_WRONLY | O_CREAT | O_EXCL, "cannot create");
    write_all(fd.get(), contents.data(), contents.size(), tmp);
    fsync_or_throw(fd.get(), tmp);
    fd.close_checked(tmp);
    rename_or_throw(tmp, path);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  fsync_dir_of(path);
}

namespace {

std::string state_path(const std::string& dir) { return (fs::path(dir) / "checkpoint").string(); }

// os.path.relpath(p, start), which is what TF stores when the save directory is relative.
std::string relpath(const std::string& p, const std::string& start) {
  const fs::path a = fs::absolute(p).lexically_normal();
  const fs::path b = fs::absolute(start.empty() ? "." : start).lexically_normal();
  std::string rel = a.lexically_relative(b).string();
  return rel.empty() ? p : rel;
}

class CollectErrors final : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (text.empty()) text = str_cat("line ", line + 1, " column ", column + 1, ": ", message);
  }
  std::string text;
};

}  // namespace

void write_checkpoint_state(const std::string& dir, const std::string& model_checkpoint_path,
                            std::vector<std::string> all_paths) {
  FG_CHECK(!model_checkpoint_path.empty(), InvalidArgument, "write_checkpoint_state(", dir,
           "): empty model_checkpoint_path");
  if (all_paths.empty() || all_paths.back() != model_checkpoint_path) all_paths.push_back(model_checkpoint_path);
  std::string model = model_checkpoint_path;
  if (!fs::path(dir).is_absolute()) {
    if (!fs::path(model).is_absolute()) model = relpath(model, dir);
    for (auto& p : all_paths)
      if (!fs::path(p).is_absolute()) p = relpath(p, dir);
  }
  tensorflow::CheckpointState state;
  state.set_model_checkpoint_path(model);
  for (const auto& p : all_paths) state.add_all_model_checkpoint_paths(p);
  std::string text;
  FG_CHECK(google::protobuf::TextFormat::PrintToString(state, &text), Internal,
           "write_checkpoint_state: cannot format CheckpointState");
  make_parent_dirs(state_path(dir));
  write_file_atomic(state_path(dir), text);
}

std::optional<tensorflow::CheckpointState> read_checkpoint_state(const std::string& dir) {
  const std::string path = state_path(dir);
  std::string text;
  try {
    text = read_whole_file(path, "cannot open checkpoint state");
  } catch (const NotFound&) {
    return std::nullopt;
  }
  tensorflow::CheckpointState state;
  google::protobuf::TextFormat::Parser parser;
  CollectErrors errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &state))
    throw DataLoss(str_cat("checkpoint state file ", path, " is not a CheckpointState: ", errors.text));
  FG_CHECK(!state.model_checkpoint_path().empty(), DataLoss, "checkpoint state file ", path,
           " has no model_checkpoint_path");
  const auto absolutize = [&](const std::string& p) {
    return fs::path(p).is_absolute() ? p : (fs::path(dir) / p).string();
  };
  state.set_model_checkpoint_path(absolutize(state.model_checkpoint_path()));
  for (auto& p : *state.mutable_all_model_checkpoint_paths()) p = absolutize(p);
  return state;
}

std::string latest_checkpoint(const std::string& dir) {
  const auto state = read_checkpoint_state(dir);
  if (!state || !checkpoint_exists(state->model_checkpoint_path())) return "";
  return state->model_checkpoint_path();
}

}  // namespace fg::train
