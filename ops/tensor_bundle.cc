#include "ops/tensor_bundle.h"

#include <fcntl.h>
#include <leveldb/env.h>
#include <leveldb/iterator.h>
#include <leveldb/options.h>
#include <leveldb/table.h>
#include <leveldb/table_builder.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <span>

#include "graph/tensor_proto.h"
#include "proto/tensor_bundle.pb.h"
#include "ops/checkpoint_files.h"
#include "ops/crc32c.h"
#include "ops/internal/leveldb_memory.h"

namespace fg::train {

namespace fs = std::filesystem;
using namespace internal;

namespace {

// TF's kTensorBundleVersion / kTensorBundleMinConsumer.
constexpr int kBundleVersion = 1;
constexpr int kBundleMinConsumer = 0;
// Flush the data file's write buffer once it holds this much; bigger tensors bypass it.
constexpr size_t kWriteBuffer = 4 << 20;

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

bool decode_varint32(const char*& p, const char* end, uint32_t* v) {
  uint64_t v64;
  if (!decode_varint64(p, end, &v64) || v64 > UINT32_MAX) return false;
  *v = static_cast<uint32_t>(v64);
  return true;
}

// Checks a block handle's bytes and its trailer's compression type (TF's bundles are never
// compressed, and LevelDB allocates a compressed block's claimed size before decoding it).
std::string block_problem(const std::string& file, uint64_t limit, uint64_t off, uint64_t size, const char* which) {
  if (off > limit || size > limit - off || kBlockTrailer > limit - off - size)
    return str_cat(which, " block [", off, ", +", size, ") lies outside the file");
  if (file[off + size] != 0) return str_cat(which, " block is compressed (type ", int(file[off + size]), ")");
  return "";
}

// LevelDB reads a block by allocating the size its handle claims before it looks at the file,
// so every handle is checked against the file first: the footer's two, and the data-block
// handles the index block holds (entries: varint32 shared, non-shared and value lengths, the
// key's bytes, a value of varint64 offset and size; then the restart array and its count).
std::string table_problem(const std::string& file) {
  if (file.size() < kFooterSize) return str_cat("file has ", file.size(), " bytes, too short for a table");
  const char* footer = file.data() + file.size() - kFooterSize;
  uint64_t magic;
  std::memcpy(&magic, footer + 40, 8);
  if (magic != kTableMagic) return "bad table magic number (not a LevelDB-format table, or truncated)";
  const char* p = footer;
  const uint64_t limit = file.size() - kFooterSize;
  uint64_t index_off = 0, index_size = 0;
  for (const char* which : {"metaindex", "index"}) {
    uint64_t off, size;
    if (!decode_varint64(p, footer + 40, &off) || !decode_varint64(p, footer + 40, &size))
      return str_cat("bad ", which, " block handle in the footer");
    if (std::string why = block_problem(file, limit, off, size, which); !why.empty()) return why;
    index_off = off;
    index_size = size;
  }
  const char* block = file.data() + index_off;
  if (index_size < 4) return "index block is too short";
  uint32_t restarts;
  std::memcpy(&restarts, block + index_size - 4, 4);
  if (restarts > (index_size - 4) / 4) return "index block's restart count exceeds the block";
  const char* q = block;
  const char* entries_end = block + index_size - 4 - 4 * uint64_t{restarts};
  while (q < entries_end) {
    uint32_t shared, non_shared, value_len;
    if (!decode_varint32(q, entries_end, &shared) || !decode_varint32(q, entries_end, &non_shared) ||
        !decode_varint32(q, entries_end, &value_len) || non_shared > uint64_t(entries_end - q) ||
        value_len > uint64_t(entries_end - q) - non_shared)
      return "index block has a malformed entry";
    q += non_shared;
    const char* value = q;
    q += value_len;
    uint64_t off, size;
    if (!decode_varint64(value, q, &off) || !decode_varint64(value, q, &size))
      return "index block has a malformed data block handle";
    if (std::string why = block_problem(file, limit, off, size, "data"); !why.empty()) return why;
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

// TF's layout of a string tensor in the data file: each element's length as a varint, the masked
// crc of the lengths (each as a little-endian uint32, or uint64 past 4 GiB), then the bytes. The
// entry's crc covers those lengths, the length crc and the bytes.
void put_varint64(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

uint32_t extend_with_length(uint32_t crc, uint64_t len) {
  if (len <= UINT32_MAX) {
    const uint32_t l32 = static_cast<uint32_t>(len);
    return crc32c::extend(crc, &l32, sizeof l32);
  }
  return crc32c::extend(crc, &len, sizeof len);
}

std::string encode_strings(const Tensor& t, uint32_t* crc) {
  std::string out;
  uint32_t c = 0;
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    const uint64_t len = t.str(i).size();
    put_varint64(out, len);
    c = extend_with_length(c, len);
  }
  const uint32_t length_crc = crc32c::mask(c);
  out.append(reinterpret_cast<const char*>(&length_crc), sizeof length_crc);
  c = crc32c::extend(c, &length_crc, sizeof length_crc);
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    out.append(t.str(i));
    c = crc32c::extend(c, t.str(i).data(), t.str(i).size());
  }
  *crc = c;
  return out;
}

// The inverse of encode_strings over an entry's bytes; `fail` throws DataLoss.
template <typename Fail>
Tensor decode_strings(const std::string& bytes, const Shape& shape, uint32_t want_crc, Fail&& fail) {
  const int64_t n = shape.num_elements();
  const char* p = bytes.data();
  const char* end = p + bytes.size();
  std::vector<uint64_t> lens;
  lens.reserve(static_cast<size_t>(n));  // n <= bytes.size(), checked with the index
  uint32_t c = 0;
  uint64_t chars = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint64_t len;
    if (!decode_varint64(p, end, &len)) fail(str_cat("the length of string ", i, " is malformed"));
    if (len > static_cast<uint64_t>(end - p)) fail(str_cat("string ", i, " claims ", len, " bytes"));
    lens.push_back(len);
    chars += len;
    c = extend_with_length(c, len);
  }
  uint32_t length_crc;
  if (end - p < static_cast<std::ptrdiff_t>(sizeof length_crc)) fail("the lengths' checksum is missing");
  std::memcpy(&length_crc, p, sizeof length_crc);
  p += sizeof length_crc;
  if (crc32c::unmask(length_crc) != c) fail("checksum mismatch for the string lengths");
  c = crc32c::extend(c, &length_crc, sizeof length_crc);
  if (chars != static_cast<uint64_t>(end - p))
    fail(str_cat("the string lengths add up to ", chars, " bytes but the entry holds ", end - p));
  c = crc32c::extend(c, p, static_cast<size_t>(end - p));
  if (c != want_crc) fail(str_cat("checksum mismatch (index says crc32c ", want_crc, ", the bytes give ", c, ")"));
  StringTensorWriter w(shape, static_cast<int64_t>(chars));
  for (uint64_t len : lens) {
    w.append(std::string_view(p, len));
    p += len;
  }
  return std::move(w).finish();
}

}  // namespace

std::string index_filename(const std::string& prefix) { return prefix + ".index"; }

std::string data_filename(const std::string& prefix, int shard, int num_shards) {
  char buf[48];
  std::snprintf(buf, sizeof buf, ".data-%05d-of-%05d", shard, num_shards);
  return prefix + buf;
}

// ---- writer -----------------------------------------------------------------------------------

// Saving over an existing prefix is a two-file swap that rename(2) cannot do atomically, so the
// old pair is kept as a backup (see checkpoint_files.h) until the new pair is in place and
// durable; unlinking the backup index is the commit. Readers never have to judge from
// checksums which pair is whole: while a backup exists it is the checkpoint, and afterwards
// the pair at the prefix is. (Keeping the old pair until the `checkpoint` file names the new
// one would not help here: the new pair must end up under the same names.)
struct BundleWriter::Impl {
  std::string prefix, dir, tag;
  std::string data_path, data_tmp, index_tmp;
  Fd data_fd, index_fd;  // held open (and flocked) until the temporaries are renamed
  std::string buffer;
  int64_t offset = 0;
  std::map<std::string, tensorflow::BundleEntryProto> entries;
  bool finished = false;

  void write_data(const void* p, size_t n) {
    if (n == 0) return;
    write_all(data_fd.get(), p, n, data_tmp);
    crash_point(CrashPoint::kDataWritten);
  }
  void flush_buffer() {
    write_data(buffer.data(), buffer.size());
    buffer.clear();
  }
  void commit();
  ~Impl() {
    // Unlinked before their fds (and flocks) go, so no cleaner ever sees them unlocked.
    if (!data_tmp.empty()) ::unlink(data_tmp.c_str());
    if (!index_tmp.empty()) ::unlink(index_tmp.c_str());
  }
};

namespace {

// A filesystem step with the crash points on either side of it.
template <typename Fn>
void step(CrashPoint before, CrashPoint after, Fn&& fn) {
  crash_point(before);
  fn();
  crash_point(after);
}

}  // namespace

void BundleWriter::Impl::commit() {
  const std::string index_path = index_filename(prefix);
  const std::string old_index = backup_path(index_path, tag), old_data = backup_path(data_path, tag);
  DirLock lock(dir, DirLock::kExclusive);
  // A dead commit's backup of this prefix is rolled back first, so a prefix never has two.
  recover_directory(dir);
  step(CrashPoint::kTempsDirFsyncBefore, CrashPoint::kTempsDirFsyncAfter, [&] { fsync_dir(dir); });
  const bool replacing = file_exists(index_path);
  try {
    if (replacing) {
      // The old index is copied (it is small) so that the prefix always has an index.
      const std::string part = temp_path(index_path, tag) + ".old.part";
      {
        Fd fd = open_or_throw(part, O_WRONLY | O_CREAT | O_EXCL, "cannot create");
        const std::string bytes = read_whole_file(index_path, "cannot open checkpoint index");
        write_all(fd.get(), bytes.data(), bytes.size(), part);
        crash_point(CrashPoint::kBackupCopyWritten);
        step(CrashPoint::kBackupCopyFsyncBefore, CrashPoint::kBackupCopyFsyncAfter,
             [&] { fsync_or_throw(fd.get(), part); });
      }
      step(CrashPoint::kBackupIndexRenameBefore, CrashPoint::kBackupIndexRenameAfter,
           [&] { rename_or_throw(part, old_index); });
      step(CrashPoint::kBackupIndexDirFsyncBefore, CrashPoint::kBackupIndexDirFsyncAfter, [&] { fsync_dir(dir); });
      if (file_exists(data_path)) {
        step(CrashPoint::kBackupDataRenameBefore, CrashPoint::kBackupDataRenameAfter,
             [&] { rename_or_throw(data_path, old_data); });
        step(CrashPoint::kBackupDataDirFsyncBefore, CrashPoint::kBackupDataDirFsyncAfter, [&] { fsync_dir(dir); });
      }
    }
    step(CrashPoint::kDataRenameBefore, CrashPoint::kDataRenameAfter, [&] { rename_or_throw(data_tmp, data_path); });
    data_tmp.clear();
    step(CrashPoint::kIndexRenameBefore, CrashPoint::kIndexRenameAfter,
         [&] { rename_or_throw(index_tmp, index_path); });
    index_tmp.clear();
    step(CrashPoint::kCommitDirFsyncBefore, CrashPoint::kCommitDirFsyncAfter, [&] { fsync_dir(dir); });
    if (replacing) {
      step(CrashPoint::kBackupIndexUnlinkBefore, CrashPoint::kBackupIndexUnlinkAfter, [&] {
        if (::unlink(old_index.c_str()) != 0) throw_io("cannot remove", old_index, errno);
      });
    }
  } catch (...) {
    // Put the old checkpoint back; our own temporaries are still locked, the destructor
    // removes them.
    try {
      recover_directory(dir);
    } catch (...) {
    }
    throw;
  }
  if (replacing) {
    // Committed. A leftover old data file is harmless: recovery removes it.
    step(CrashPoint::kBackupDataUnlinkBefore, CrashPoint::kBackupDataUnlinkAfter,
         [&] { ::unlink(old_data.c_str()); });
    step(CrashPoint::kFinalDirFsyncBefore, CrashPoint::kFinalDirFsyncAfter, [&] { fsync_dir(dir); });
  }
}

BundleWriter::BundleWriter(std::string prefix) : impl_(std::make_unique<Impl>()) {
  FG_CHECK(!prefix.empty(), InvalidArgument, "BundleWriter: empty checkpoint prefix");
  Impl& w = *impl_;
  w.prefix = std::move(prefix);
  w.dir = dir_of(w.prefix);
  w.tag = new_temp_tag();
  w.data_path = data_filename(w.prefix);
  make_parent_dirs(w.data_path);
  const std::string data_tmp = temp_path(w.data_path, w.tag), index_tmp = temp_path(index_filename(w.prefix), w.tag);
  {
    DirLock lock(w.dir, DirLock::kExclusive);
    try {
      recover_directory(w.dir);  // the commit retries what fails here
    } catch (const Error&) {
    }
    w.data_fd = create_locked_temp(data_tmp);
    w.data_tmp = data_tmp;
    w.index_fd = create_locked_temp(index_tmp);  // on failure ~Impl removes data_tmp
    w.index_tmp = index_tmp;
  }
  crash_point(CrashPoint::kTempsCreated);
}

// Without finish(), Impl's destructor removes the temporaries.
BundleWriter::~BundleWriter() = default;

void BundleWriter::add(const std::string& name, const Tensor& t) {
  Impl& w = *impl_;
  FG_CHECK(!w.finished, FailedPrecondition, "BundleWriter(", w.prefix, "): add('", name, "') after finish()");
  FG_CHECK(!name.empty(), InvalidArgument, "BundleWriter(", w.prefix,
           "): tensor name must be non-empty (\"\" is the header's key)");
  FG_CHECK(t.valid(), InvalidArgument, "BundleWriter(", w.prefix, "): tensor '", name, "' is empty (not valid)");
  FG_CHECK(!w.entries.count(name), InvalidArgument, "BundleWriter(", w.prefix, "): tensor '", name,
           "' added twice");

  std::string strings;
  uint32_t crc = 0;
  if (t.dtype() == DType::kString) strings = encode_strings(t, &crc);
  const void* bytes = t.dtype() == DType::kString ? strings.data() : t.raw_data();
  const size_t n = t.dtype() == DType::kString ? strings.size() : t.num_bytes();
  if (t.dtype() != DType::kString) crc = crc32c::value(bytes, n);
  tensorflow::BundleEntryProto e;
  e.set_dtype(dtype_to_proto(t.dtype()));
  *e.mutable_shape() = shape_to_proto(t.shape());
  e.set_shard_id(0);
  e.set_offset(w.offset);
  e.set_size(static_cast<int64_t>(n));
  e.set_crc32c(crc32c::mask(crc));

  if (n >= kWriteBuffer) {
    w.flush_buffer();
    w.write_data(bytes, n);
  } else {
    w.buffer.append(static_cast<const char*>(bytes), n);
    if (w.buffer.size() >= kWriteBuffer) w.flush_buffer();
  }
  w.offset += static_cast<int64_t>(n);
  w.entries.emplace(name, std::move(e));
}

void BundleWriter::finish() {
  Impl& w = *impl_;
  FG_CHECK(!w.finished, FailedPrecondition, "BundleWriter(", w.prefix, "): finish() called twice");
  w.flush_buffer();
  step(CrashPoint::kDataFsyncBefore, CrashPoint::kDataFsyncAfter, [&] { fsync_or_throw(w.data_fd.get(), w.data_tmp); });

  StringSink sink;
  {
    leveldb::TableBuilder builder(index_options(), &sink);
    builder.Add("", make_header().SerializeAsString());
    for (const auto& [name, entry] : w.entries) builder.Add(name, entry.SerializeAsString());
    const leveldb::Status s = builder.Finish();
    FG_CHECK(s.ok(), Internal, "BundleWriter(", w.prefix, "): building the index failed: ", s.ToString());
  }
  write_all(w.index_fd.get(), sink.data.data(), sink.data.size(), w.index_tmp);
  crash_point(CrashPoint::kIndexWritten);
  step(CrashPoint::kIndexFsyncBefore, CrashPoint::kIndexFsyncAfter, [&] { fsync_or_throw(w.index_fd.get(), w.index_tmp); });

  w.commit();
  w.finished = true;
  w.data_fd.reset();
  w.index_fd.reset();
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
  const int base = e.dtype() > 100 ? e.dtype() - 100 : e.dtype();
  int64_t elements = 1;
  for (const auto& d : e.shape().dim())
    if (__builtin_mul_overflow(elements, d.size(), &elements)) bad(str_cat("shape ", shape_string(e.shape()), " overflows"));
  // A string takes at least its length's byte, and the lengths' crc follows them.
  if (base == tensorflow::DT_STRING && (elements > e.size() || e.size() - elements < 4))
    bad(str_cat("size ", e.size(), " bytes cannot hold ", elements, " strings"));
  // Raw-layout dtypes must have exactly num_elements * element size bytes.
  const size_t elem = dtype_size(static_cast<DType>(base));
  if (elem == 0) return;  // strings, or a type flowgraph cannot read
  int64_t n = static_cast<int64_t>(elem);
  if (__builtin_mul_overflow(n, elements, &n)) bad(str_cat("shape ", shape_string(e.shape()), " overflows"));
  if (n != e.size())
    bad(str_cat("size ", e.size(), " bytes, but ", proto_dtype_name(e.dtype()), " ", shape_string(e.shape()),
                " needs ", n));
}

BundleReader::BundleReader(std::string prefix) : impl_(std::make_unique<Impl>()) {
  Impl& r = *impl_;
  r.prefix = std::move(prefix);
  // Under the shared lock no commit is halfway; a backup found now is the checkpoint a killed
  // commit was replacing, and it is read instead of the prefix's pair (see checkpoint_files.h).
  DirLock lock(dir_of(r.prefix), DirLock::kShared);
  const std::optional<std::string> backup = find_backup_tag(r.prefix);
  r.index_path = backup ? backup_path(index_filename(r.prefix), *backup) : index_filename(r.prefix);
  const std::string file = read_whole_file(r.index_path, "cannot open checkpoint index");
  if (const std::string why = table_problem(file); !why.empty()) r.corrupt_index(why);

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
    std::string path = data_filename(r.prefix, shard, r.num_shards);
    if (backup && file_exists(backup_path(path, *backup))) path = backup_path(path, *backup);
    r.data_paths.push_back(std::move(path));
    r.data_fds.push_back(open_or_throw(r.data_paths.back(), O_RDONLY, "cannot open checkpoint data file"));
    struct stat st;
    if (::fstat(r.data_fds.back().get(), &st) != 0) throw_io("cannot stat", r.data_paths.back(), errno);
    r.data_sizes.push_back(static_cast<int64_t>(st.st_size));
  }
}

BundleReader::~BundleReader() = default;

const std::string& BundleReader::prefix() const { return impl_->prefix; }

int BundleReader::num_shards() const { return impl_->num_shards; }

bool BundleReader::contains(const std::string& name) const { return impl_->entries.count(name) > 0; }

std::vector<std::string> BundleReader::keys() const {
  std::vector<std::string> out;
  out.reserve(impl_->entries.size());
  for (const auto& kv : impl_->entries) out.push_back(kv.first);
  return out;
}

const tensorflow::BundleEntryProto& BundleReader::entry(const std::string& name) const { return impl_->entry(name); }

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

  const auto read_into = [&](char* p) {
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
  };
  const uint32_t want = crc32c::unmask(e.crc32c());
  if (dtype == DType::kString) {
    // The entry's bytes are in the file (checked above), so holding them is bounded by it.
    std::string bytes(static_cast<size_t>(e.size()), '\0');
    read_into(bytes.data());
    return decode_strings(bytes, shape, want, [&](const std::string& what) {
      throw DataLoss(str_cat("checkpoint data file ", path, ": string tensor '", name, "': ", what));
    });
  }
  Tensor t = Tensor::empty(dtype, shape);
  read_into(static_cast<char*>(t.raw_data()));
  const uint32_t got = crc32c::value(t.raw_data(), t.num_bytes());
  if (want != got)
    throw DataLoss(str_cat("checkpoint data file ", path, ": checksum mismatch for tensor '", name,
                           "' (index says crc32c ", want, ", the bytes give ", got, ")"));
  if (dtype == DType::kBool)
    for (uint8_t b : std::span(static_cast<const uint8_t*>(t.raw_data()), t.num_bytes()))
      FG_CHECK(b <= 1, DataLoss, "checkpoint data file ", path, ": bool tensor '", name, "' holds byte ", int(b));
  return t;
}

// ---- merging ---------------------------------------------------------------------------------

void merge_bundles(const std::vector<std::string>& prefixes, const std::string& destination) {
  FG_CHECK(!prefixes.empty(), InvalidArgument, "MergeV2Checkpoints: no checkpoint prefixes to merge");
  FG_CHECK(!destination.empty(), InvalidArgument, "MergeV2Checkpoints: empty destination prefix");
  std::map<std::string, tensorflow::BundleEntryProto> entries;
  std::vector<std::pair<std::string, int>> shards;  // data file, its shard id in the merged checkpoint
  int total = 0;
  for (const std::string& prefix : prefixes) {
    try_recover_directory(dir_of(prefix));  // a killed save's backup goes back into place first
    const BundleReader r(prefix);
    for (const std::string& key : r.keys()) {
      tensorflow::BundleEntryProto e = r.entry(key);
      e.set_shard_id(e.shard_id() + total);
      FG_CHECK(entries.emplace(key, std::move(e)).second, InvalidArgument, "MergeV2Checkpoints: tensor '", key,
               "' is in more than one of the checkpoints merged into ", destination, " (again in ", prefix, ")");
    }
    for (int k = 0; k < r.num_shards(); ++k) shards.emplace_back(data_filename(prefix, k, r.num_shards()), total + k);
    FG_CHECK(r.num_shards() <= 100000 - total, InvalidArgument, "MergeV2Checkpoints: more than 100000 shards");
    total += r.num_shards();
  }
  make_parent_dirs(index_filename(destination));
  for (const auto& [from, shard] : shards) {
    const std::string to = data_filename(destination, shard, total);
    if (from != to) rename_or_throw(from, to);
  }
  fsync_dir(dir_of(destination));

  StringSink sink;
  {
    tensorflow::BundleHeaderProto header = make_header();
    header.set_num_shards(total);
    leveldb::TableBuilder builder(index_options(), &sink);
    builder.Add("", header.SerializeAsString());
    for (const auto& [name, entry] : entries) builder.Add(name, entry.SerializeAsString());
    const leveldb::Status s = builder.Finish();
    FG_CHECK(s.ok(), Internal, "MergeV2Checkpoints: building the index of ", destination, " failed: ", s.ToString());
  }
  write_file_atomic(index_filename(destination), sink.data);
  for (const std::string& prefix : prefixes)
    if (prefix != destination) ::unlink(index_filename(prefix).c_str());  // best effort, as TF
}

// ---- files ---------------------------------------------------------------------------------

bool checkpoint_exists(const std::string& prefix) {
  struct stat st;
  return ::stat(index_filename(prefix).c_str(), &st) == 0;
}

void remove_checkpoint(const std::string& prefix) {
  const std::string dir = dir_of(prefix);
  DirLock lock(dir, DirLock::kExclusive);
  // A killed commit's backup would otherwise bring the prefix back at the next recovery.
  try {
    recover_directory(dir);
  } catch (const Error&) {
  }
  ::unlink(index_filename(prefix).c_str());
  ::unlink((prefix + ".meta").c_str());
  const std::string data_stem = fs::path(prefix).filename().string() + ".data-";
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(dir, ec)) {
    const std::string name = f.path().filename().string();
    // Only finished shards: "<stem>.data-NNNNN-of-NNNNN", nothing with a further suffix.
    if (name.size() == data_stem.size() + 14 && name.compare(0, data_stem.size(), data_stem) == 0 &&
        name.compare(data_stem.size() + 5, 4, "-of-") == 0)
      ::unlink(f.path().c_str());
  }
}

}  // namespace fg::train
