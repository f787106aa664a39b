// Internal to the checkpoint code (ops/tensor_bundle.cc, train/; flowgraph.h does not include it):
// how checkpoint files reach the disk.
//
//   internal::DirLock lock(dir, internal::DirLock::kExclusive);
//   internal::recover_directory(dir);      // undo what killed saves left behind
//   internal::crash_point(internal::CrashPoint::kDataRenameBefore);
//
// Every temporary file is "<final name>.tempstate-<16 hex digits>" (TF writes
// "<final name>.tempstate<digits>", which is left alone). Its writer holds an flock on it
// for as long as it lives, so a temporary that can be locked belongs to a dead writer.
// Saving over an existing prefix P keeps the old pair as a backup while the new one moves in:
// "P.index.tempstate-T.old" (a copy of the old index) and "P.data-00000-of-00001.tempstate-T.old"
// (the old data, moved aside). While that backup index exists it, not P, is the checkpoint;
// the unlink of it is the commit. Backups exist only inside a commit, which holds the
// directory's exclusive lock, so whoever holds that lock and sees one knows its writer died.
// Where the filesystem has no flock (some network filesystems), one writer per directory is
// assumed, as TF does: backups are still rolled back, temporaries are never judged stale.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace fg::train::internal {

// ---- POSIX helpers ------------------------------------------------------------------------

[[noreturn]] void throw_io(const std::string& what, const std::string& path, int err);

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept;
  Fd& operator=(Fd&& o) noexcept;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset();

 private:
  int fd_ = -1;
};

Fd open_or_throw(const std::string& path, int flags, const char* what);
void write_all(int fd, const void* data, size_t n, const std::string& path);
void fsync_or_throw(int fd, const std::string& path);
void rename_or_throw(const std::string& from, const std::string& to);
// Makes renames and unlinks in `dir` durable; ignored where directories cannot be fsynced.
void fsync_dir(const std::string& dir);
// The directory a path is in ("." for a bare name).
std::string dir_of(const std::string& path);
void make_parent_dirs(const std::string& path);
std::string read_whole_file(const std::string& path, const char* what);
bool file_exists(const std::string& path);

// ---- temporaries and the directory lock ----------------------------------------------------

// An flock on the directory, exclusive to create temporaries, recover and commit, shared to
// pick the files a reader opens. A no-op where the filesystem has no flock.
class DirLock {
 public:
  enum Mode { kShared, kExclusive };
  DirLock(const std::string& dir, Mode mode);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

std::string new_temp_tag();  // 16 random hex digits
std::string temp_path(const std::string& final_path, const std::string& tag);
std::string backup_path(const std::string& final_path, const std::string& tag);
// Creates `path` (which must not exist) and flocks it for this writer's lifetime; call while
// holding the directory's lock, so that no cleaner sees it unlocked.
Fd create_locked_temp(const std::string& path);

// The tag of the backup pair of `prefix` a killed commit left, if any (read under a lock).
std::optional<std::string> find_backup_tag(const std::string& prefix);

// With the directory's exclusive lock held: rolls every backup pair back into place (the old
// checkpoint wins over a commit that never finished) and removes the temporaries of dead
// writers. Files not named like flowgraph's temporaries are never touched.
void recover_directory(const std::string& dir);

// Best effort, for restores: takes the lock, recovers, and swallows errors (a read-only
// directory still restores, through the backup that find_backup_tag finds).
void try_recover_directory(const std::string& dir) noexcept;

// ---- fault injection ---------------------------------------------------------------------

// Each step of a save and of a recovery. FG_CHECKPOINT_CRASH_AT=<name>[#k] raises SIGKILL the
// k-th time (default 1) the step is reached, so tests can stop a writer at a named point.
#define FG_CHECKPOINT_CRASH_POINTS(X)                                           \
  X(kTempsCreated, "bundle.temps_created")                                      \
  X(kDataWritten, "bundle.data_written")                                        \
  X(kDataFsyncBefore, "bundle.data_fsync.before")                               \
  X(kDataFsyncAfter, "bundle.data_fsync.after")                                 \
  X(kIndexWritten, "bundle.index_written")                                      \
  X(kIndexFsyncBefore, "bundle.index_fsync.before")                             \
  X(kIndexFsyncAfter, "bundle.index_fsync.after")                               \
  X(kTempsDirFsyncBefore, "bundle.temps_dir_fsync.before")                      \
  X(kTempsDirFsyncAfter, "bundle.temps_dir_fsync.after")                        \
  X(kBackupCopyWritten, "bundle.backup_index_copy_written")                     \
  X(kBackupCopyFsyncBefore, "bundle.backup_index_copy_fsync.before")            \
  X(kBackupCopyFsyncAfter, "bundle.backup_index_copy_fsync.after")              \
  X(kBackupIndexRenameBefore, "bundle.backup_index_rename.before")              \
  X(kBackupIndexRenameAfter, "bundle.backup_index_rename.after")                \
  X(kBackupIndexDirFsyncBefore, "bundle.backup_index_dir_fsync.before")         \
  X(kBackupIndexDirFsyncAfter, "bundle.backup_index_dir_fsync.after")           \
  X(kBackupDataRenameBefore, "bundle.backup_data_rename.before")                \
  X(kBackupDataRenameAfter, "bundle.backup_data_rename.after")                  \
  X(kBackupDataDirFsyncBefore, "bundle.backup_data_dir_fsync.before")           \
  X(kBackupDataDirFsyncAfter, "bundle.backup_data_dir_fsync.after")             \
  X(kDataRenameBefore, "bundle.data_rename.before")                             \
  X(kDataRenameAfter, "bundle.data_rename.after")                               \
  X(kIndexRenameBefore, "bundle.index_rename.before")                           \
  X(kIndexRenameAfter, "bundle.index_rename.after")                             \
  X(kCommitDirFsyncBefore, "bundle.commit_dir_fsync.before")                    \
  X(kCommitDirFsyncAfter, "bundle.commit_dir_fsync.after")                      \
  X(kBackupIndexUnlinkBefore, "bundle.backup_index_unlink.before")              \
  X(kBackupIndexUnlinkAfter, "bundle.backup_index_unlink.after")                \
  X(kBackupDataUnlinkBefore, "bundle.backup_data_unlink.before")                \
  X(kBackupDataUnlinkAfter, "bundle.backup_data_unlink.after")                  \
  X(kFinalDirFsyncBefore, "bundle.final_dir_fsync.before")                      \
  X(kFinalDirFsyncAfter, "bundle.final_dir_fsync.after")                        \
  X(kFileTempCreated, "file.temp_created")                                      \
  X(kFileWritten, "file.written")                                               \
  X(kFileFsyncBefore, "file.fsync.before")                                      \
  X(kFileFsyncAfter, "file.fsync.after")                                        \
  X(kFileRenameBefore, "file.rename.before")                                    \
  X(kFileRenameAfter, "file.rename.after")                                      \
  X(kFileDirFsyncBefore, "file.dir_fsync.before")                               \
  X(kFileDirFsyncAfter, "file.dir_fsync.after")                                 \
  X(kRecoverDataRenameBefore, "recover.data_rename.before")                     \
  X(kRecoverDataRenameAfter, "recover.data_rename.after")                       \
  X(kRecoverDataDirFsyncBefore, "recover.data_dir_fsync.before")                \
  X(kRecoverDataDirFsyncAfter, "recover.data_dir_fsync.after")                  \
  X(kRecoverIndexRenameBefore, "recover.index_rename.before")                   \
  X(kRecoverIndexRenameAfter, "recover.index_rename.after")                     \
  X(kRecoverUnlinkBefore, "recover.unlink.before")                              \
  X(kRecoverUnlinkAfter, "recover.unlink.after")                                \
  X(kRecoverDirFsyncBefore, "recover.dir_fsync.before")                         \
  X(kRecoverDirFsyncAfter, "recover.dir_fsync.after")

enum class CrashPoint : int {
#define FG_ENUM_ENTRY(id, name) id,
  FG_CHECKPOINT_CRASH_POINTS(FG_ENUM_ENTRY)
#undef FG_ENUM_ENTRY
  kCount
};

const char* crash_point_name(CrashPoint p);

void crash_point_slow(CrashPoint p, const char* spec);
// One getenv when the variable is unset: nothing next to the fsyncs around it.
inline void crash_point(CrashPoint p) {
  if (const char* spec = std::getenv("FG_CHECKPOINT_CRASH_AT")) [[unlikely]]
    crash_point_slow(p, spec);
}

}  // namespace fg::train::internal
