#include "core/allocator.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

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
      std::lock_guard<std::mutex> lock(mu_);
      stats_.bytes_in_use -= size;
      throw std::bad_alloc();
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

}  // namespace

void* allocate_buffer(size_t bytes) { return cache().allocate(bytes); }
void deallocate_buffer(void* data, size_t bytes) { cache().deallocate(data, bytes); }
AllocatorStats allocator_stats() { return cache().stats(); }
void release_cached_buffers() { cache().release(0); }
void set_buffer_cache_limit(int64_t bytes) { cache().set_limit(bytes); }

}  // namespace fg
