#include "core/allocator.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/errors.h"

namespace fg {

namespace {

constexpr size_t kAlignment = 64;

size_t rounded(size_t bytes) { return bytes == 0 ? kAlignment : (bytes + kAlignment - 1) / kAlignment * kAlignment; }

int64_t initial_limit() {
  const char* env = std::getenv("FG_BUFFER_CACHE_MB");
  if (env && *env) return std::stoll(env) << 20;
  return int64_t{256} << 20;
}

class BufferCache {
 public:
  void* allocate(size_t bytes) {
    const size_t size = rounded(bytes);
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.bytes_in_use += size;
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        stats_.bytes_cached -= size;
        ++stats_.recycled;
        return p;
      }
      ++stats_.system_allocations;
    }
    void* p = std::aligned_alloc(kAlignment, size);
    if (!p) {
      // Cached blocks may be what the system is missing: give them back and try once more.
      release(0);
      p = std::aligned_alloc(kAlignment, size);
    }
    if (!p) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        stats_.bytes_in_use -= size;
      }
      throw ResourceExhausted(str_cat("OOM when allocating a buffer of ", bytes,
                                      " bytes: the system allocator has no memory for it"));
    }
    return p;
  }

  void deallocate(void* p, size_t bytes) {
    const size_t size = rounded(bytes);
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.bytes_in_use -= size;
      if (stats_.bytes_cached + static_cast<int64_t>(size) <= limit_) {
        free_[size].push_back(p);
        stats_.bytes_cached += size;
        return;
      }
    }
    std::free(p);
  }

  AllocatorStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

  void release(int64_t keep_bytes) {
    std::vector<void*> doomed;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [size, blocks] : free_) {
        while (!blocks.empty() && stats_.bytes_cached > keep_bytes) {
          doomed.push_back(blocks.back());
          blocks.pop_back();
          stats_.bytes_cached -= size;
        }
      }
    }
    for (void* p : doomed) std::free(p);
  }

  void set_limit(int64_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      limit_ = bytes;
    }
    release(bytes);
  }

 private:
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  AllocatorStats stats_;
  int64_t limit_ = initial_limit();
};

// Never destroyed: tensors in static storage may outlive every other static.
BufferCache& cache() {
  static BufferCache* c = new BufferCache;
  return *c;
}

// The limit, loaded once per allocation; 0 until the first allocation reads the default.
std::atomic<int64_t> g_max_bytes{0};

int64_t physical_memory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  int64_t bytes = pages > 0 && page > 0 ? int64_t{pages} * page : int64_t{1} << 40;
  // A container's memory limit (cgroup v2), when it is the tighter one.
  std::ifstream cg("/sys/fs/cgroup/memory.max");
  int64_t limit = 0;
  if (cg >> limit && limit > 0 && limit < bytes) bytes = limit;
  return bytes;
}

int64_t default_max_bytes() {
  const char* env = std::getenv("FG_MAX_TENSOR_BYTES");
  if (env && *env) {
    char* end = nullptr;
    const long long v = std::strtoll(env, &end, 10);
    FG_CHECK(*end == '\0' && v > 0, InvalidArgument, "FG_MAX_TENSOR_BYTES='", env,
             "' is not a positive number of bytes");
    return v;
  }
  return physical_memory();
}

[[noreturn]] void over_limit(size_t bytes, int64_t limit) {
  throw ResourceExhausted(str_cat("OOM when allocating a buffer of ", bytes, " bytes: more than the limit of ",
                                  limit, " bytes (max_tensor_bytes: physical memory, or $FG_MAX_TENSOR_BYTES)"));
}

}  // namespace

int64_t max_tensor_bytes() {
  int64_t limit = g_max_bytes.load(std::memory_order_relaxed);
  if (limit == 0) {
    limit = default_max_bytes();
    int64_t expected = 0;
    if (!g_max_bytes.compare_exchange_strong(expected, limit, std::memory_order_relaxed)) limit = expected;
  }
  return limit;
}

void set_max_tensor_bytes(int64_t bytes) {
  FG_CHECK(bytes >= 0, InvalidArgument, "set_max_tensor_bytes: ", bytes, " is negative");
  g_max_bytes.store(bytes == 0 ? default_max_bytes() : bytes, std::memory_order_relaxed);
}

void* allocate_buffer(size_t bytes) {
  const int64_t limit = max_tensor_bytes();
  if (bytes > static_cast<uint64_t>(limit)) over_limit(bytes, limit);
  return cache().allocate(bytes);
}
void deallocate_buffer(void* data, size_t bytes) { cache().deallocate(data, bytes); }
AllocatorStats allocator_stats() { return cache().stats(); }
void release_cached_buffers() { cache().release(0); }
void set_buffer_cache_limit(int64_t bytes) { cache().set_limit(bytes); }

}  // namespace fg
