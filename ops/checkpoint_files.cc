#include "ops/checkpoint_files.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "ops/tensor_bundle.h"

namespace fg::train {

namespace fs = std::filesystem;

namespace internal {

// ---- POSIX helpers ------------------------------------------------------------------------

void throw_io(const std::string& what, const std::string& path, int err) {
  const std::string msg = str_cat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT || err == ENOTDIR) throw NotFound(msg);
  throw FailedPrecondition(msg);
}

Fd::Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    reset();
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

void Fd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

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

void rename_or_throw(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) throw_io(str_cat("cannot rename ", from, " to"), to, errno);
}

void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
}

std::string dir_of(const std::string& path) {
  std::string dir = fs::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
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

bool file_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

// ---- temporaries and the directory lock ----------------------------------------------------

DirLock::DirLock(const std::string& dir, Mode mode) {
  fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_ < 0) return;
  while (::flock(fd_, mode == kExclusive ? LOCK_EX : LOCK_SH) != 0 && errno == EINTR) {
  }
}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

namespace {

constexpr std::string_view kTempMark = ".tempstate-";
constexpr size_t kTagSize = 16;
constexpr std::string_view kBackupSuffix = ".old";
constexpr std::string_view kPartSuffix = ".old.part";

// What a directory entry is, if it is one of ours: "<base>.tempstate-<tag><suffix>".
struct TempName {
  enum Kind { kLive, kBackup, kPart };
  std::string base, tag;
  Kind kind;
};

std::optional<TempName> parse_temp_name(const std::string& name) {
  const size_t at = name.rfind(kTempMark);
  if (at == std::string::npos || at == 0) return std::nullopt;
  const std::string_view rest = std::string_view(name).substr(at + kTempMark.size());
  if (rest.size() < kTagSize) return std::nullopt;
  for (char c : rest.substr(0, kTagSize))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  const std::string_view suffix = rest.substr(kTagSize);
  TempName t{name.substr(0, at), std::string(rest.substr(0, kTagSize)), TempName::kLive};
  if (suffix.empty()) t.kind = TempName::kLive;
  else if (suffix == kBackupSuffix) t.kind = TempName::kBackup;
  else if (suffix == kPartSuffix) t.kind = TempName::kPart;
  else return std::nullopt;
  return t;
}

std::vector<std::string> list_names(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    names.push_back(it->path().filename().string());
  return names;
}

// True when nobody holds the flock its writer took on a live temporary: the writer is gone.
bool writer_is_gone(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return false;
  struct stat st;
  const bool gone = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  ::close(fd);
  return gone;
}

std::string join(const std::string& dir, const std::string& name) { return (fs::path(dir) / name).string(); }

constexpr std::string_view kIndexSuffix = ".index";

}  // namespace

std::string new_temp_tag() {
  std::random_device rd;
  const uint64_t r = (uint64_t{rd()} << 32) | rd();
  char buf[kTagSize + 1];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(r));
  return buf;
}

std::string temp_path(const std::string& final_path, const std::string& tag) {
  return str_cat(final_path, kTempMark, tag);
}

std::string backup_path(const std::string& final_path, const std::string& tag) {
  return str_cat(temp_path(final_path, tag), kBackupSuffix);
}

Fd create_locked_temp(const std::string& path) {
  Fd fd = open_or_throw(path, O_WRONLY | O_CREAT | O_EXCL, "cannot create");
  // Fails only where there is no flock; cleaners cannot lock it either and leave it alone.
  (void)::flock(fd.get(), LOCK_EX | LOCK_NB);
  return fd;
}

std::optional<std::string> find_backup_tag(const std::string& prefix) {
  const std::string want = fs::path(index_filename(prefix)).filename().string();
  for (const std::string& name : list_names(dir_of(prefix))) {
    const auto t = parse_temp_name(name);
    if (t && t->kind == TempName::kBackup && t->base == want) return t->tag;
  }
  return std::nullopt;
}

void recover_directory(const std::string& dir) {
  bool changed = false;
  // Backups first: each one is the checkpoint its prefix held before a commit that died.
  for (const std::string& name : list_names(dir)) {
    const auto t = parse_temp_name(name);
    if (!t || t->kind != TempName::kBackup || !t->base.ends_with(kIndexSuffix)) continue;
    const std::string prefix = join(dir, t->base.substr(0, t->base.size() - kIndexSuffix.size()));
    const std::string old_data = backup_path(data_filename(prefix), t->tag);
    // Data first: until the index moves too, the backup index with the data at the prefix is
    // the old pair, which is what a reader picks.
    if (file_exists(old_data)) {
      crash_point(CrashPoint::kRecoverDataRenameBefore);
      rename_or_throw(old_data, data_filename(prefix));
      crash_point(CrashPoint::kRecoverDataRenameAfter);
      crash_point(CrashPoint::kRecoverDataDirFsyncBefore);
      fsync_dir(dir);
      crash_point(CrashPoint::kRecoverDataDirFsyncAfter);
    }
    crash_point(CrashPoint::kRecoverIndexRenameBefore);
    rename_or_throw(join(dir, name), index_filename(prefix));
    crash_point(CrashPoint::kRecoverIndexRenameAfter);
    changed = true;
  }
  // Then what is left: backup data without its index (the commit had got past its unlink), an
  // index copy cut short, and temporaries whose writer is gone.
  for (const std::string& name : list_names(dir)) {
    const auto t = parse_temp_name(name);
    if (!t) continue;
    const std::string path = join(dir, name);
    if (t->kind == TempName::kLive && !writer_is_gone(path)) continue;
    // A leftover that cannot be removed is only litter, not a reason to fail a save.
    crash_point(CrashPoint::kRecoverUnlinkBefore);
    changed = ::unlink(path.c_str()) == 0 || changed;
    crash_point(CrashPoint::kRecoverUnlinkAfter);
  }
  if (changed) {
    crash_point(CrashPoint::kRecoverDirFsyncBefore);
    fsync_dir(dir);
    crash_point(CrashPoint::kRecoverDirFsyncAfter);
  }
}

void try_recover_directory(const std::string& dir) noexcept {
  try {
    DirLock lock(dir, DirLock::kExclusive);
    recover_directory(dir);
  } catch (...) {
  }
}

// ---- fault injection ---------------------------------------------------------------------

namespace {
constexpr const char* kCrashPointNames[] = {
#define FG_NAME_ENTRY(id, name) name,
    FG_CHECKPOINT_CRASH_POINTS(FG_NAME_ENTRY)
#undef FG_NAME_ENTRY
};
static_assert(std::size(kCrashPointNames) == static_cast<size_t>(CrashPoint::kCount));
}  // namespace

const char* crash_point_name(CrashPoint p) { return kCrashPointNames[static_cast<int>(p)]; }

void crash_point_slow(CrashPoint p, const char* spec) {
  std::string_view name(spec);
  long k = 1;
  if (const size_t hash = name.find('#'); hash != std::string_view::npos) {
    const std::string_view count = name.substr(hash + 1);
    std::from_chars(count.data(), count.data() + count.size(), k);
    name = name.substr(0, hash);
  }
  if (name != crash_point_name(p)) return;
  static std::atomic<long> hits[static_cast<int>(CrashPoint::kCount)];
  if (++hits[static_cast<int>(p)] == k) {
    ::kill(::getpid(), SIGKILL);
    for (;;) ::pause();
  }
}

}  // namespace internal

// ---- public: write_file_atomic --------------------------------------------------------------

void write_file_atomic(const std::string& path, std::string_view contents) {
  using namespace internal;
  const std::string dir = dir_of(path);
  const std::string tmp = temp_path(path, new_temp_tag());
  Fd fd;
  {
    DirLock lock(dir, DirLock::kShared);
    fd = create_locked_temp(tmp);
  }
  crash_point(CrashPoint::kFileTempCreated);
  try {
    write_all(fd.get(), contents.data(), contents.size(), tmp);
    crash_point(CrashPoint::kFileWritten);
    crash_point(CrashPoint::kFileFsyncBefore);
    fsync_or_throw(fd.get(), tmp);
    crash_point(CrashPoint::kFileFsyncAfter);
    crash_point(CrashPoint::kFileRenameBefore);
    rename_or_throw(tmp, path);
    crash_point(CrashPoint::kFileRenameAfter);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  crash_point(CrashPoint::kFileDirFsyncBefore);
  fsync_dir(dir);
  crash_point(CrashPoint::kFileDirFsyncAfter);
  // The fd (and its flock) goes only now, after the rename: a locked name is never stale.
}

}  // namespace fg::train
