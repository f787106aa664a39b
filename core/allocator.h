// Where tensor buffers come from: 64-byte-aligned blocks, recycled by exact size. A tensor takes
// one block for its shared_ptr control block and its data (core/tensor.h's Buffer), so making one
// costs a single cache lookup and no malloc.
//
//   Tensor t = Tensor::empty(f32, {200, 300});   // first time: aligned_alloc; later: a recycled block
//   AllocatorStats s = allocator_stats();        // s.system_allocations stops growing once a
//                                                // training loop has run a step or two
//
// A cached Session plan allocates the same sizes every step and frees each at its last reader,
// so after the first step every buffer it needs is waiting in the cache: a step makes no calls
// to the system allocator and touches no fresh pages (tests/allocator_test.cc proves it with
// these counters). Freed blocks are kept up to a cap (256 MiB, or $FG_BUFFER_CACHE_MB; 0 turns
// recycling off), beyond which they go back to the system. Safe to use from several threads.
//
// Requests are bounded: a block larger than max_tensor_bytes() (physical memory unless
// $FG_MAX_TENSOR_BYTES or set_max_tensor_bytes says otherwise) is ResourceExhausted, and so is a
// request the system cannot satisfy, so a crafted shape in a file or a feed never reaches the
// system allocator as an unbounded request (which overcommit would grant and the OOM killer end).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace fg {

struct AllocatorStats {
  int64_t system_allocations = 0;  // blocks obtained from aligned_alloc, ever
  int64_t recycled = 0;            // allocations served from the cache, ever
  int64_t bytes_cached = 0;        // freed bytes held for reuse now
  int64_t bytes_in_use = 0;        // bytes of live buffers now
};

// A block of at least `bytes` (64-byte aligned); never null: ResourceExhausted ("OOM when
// allocating ...") when `bytes` exceeds max_tensor_bytes() or the system has no memory for it.
void* allocate_buffer(size_t bytes);

// The largest block allocate_buffer hands out. The default is the machine's physical memory (or
// the cgroup's limit when lower), overridden by $FG_MAX_TENSOR_BYTES (a byte count) at start-up.
int64_t max_tensor_bytes();
// Sets that limit (bytes > 0) for the whole process; 0 restores the default.
void set_max_tensor_bytes(int64_t bytes);
// Returns a block from allocate_buffer(bytes) (same `bytes`).
void deallocate_buffer(void* data, size_t bytes);

AllocatorStats allocator_stats();
// Frees every cached block (e.g. after evaluating on a large batch whose sizes won't recur).
void release_cached_buffers();
// Caps the cache (bytes); 0 disables recycling.
void set_buffer_cache_limit(int64_t bytes);

// A kernel's working array for one call (per-channel sums, partial rows), in a block from the same
// cache: after the first step of a plan it costs a cache lookup, not a malloc.
//
//   ScratchArray<double> sums(cols, 0.0);
//   sums[c] += x;
template <typename T>
class ScratchArray {
  static_assert(std::is_trivially_copyable_v<T>, "ScratchArray holds trivially copyable values");

 public:
  explicit ScratchArray(size_t n) : n_(n), p_(static_cast<T*>(allocate_buffer(bytes_for(n)))) {}
  ScratchArray(size_t n, T value) : ScratchArray(n) { std::fill(p_, p_ + n, value); }
  ScratchArray(ScratchArray&& o) noexcept : n_(o.n_), p_(std::exchange(o.p_, nullptr)) {}
  ScratchArray(const ScratchArray&) = delete;
  ScratchArray& operator=(const ScratchArray&) = delete;
  ScratchArray& operator=(ScratchArray&&) = delete;
  ~ScratchArray() {
    if (p_) deallocate_buffer(p_, n_ * sizeof(T));
  }

  size_t size() const { return n_; }
  T* data() { return p_; }
  const T* data() const { return p_; }
  T& operator[](size_t i) { return p_[i]; }
  const T& operator[](size_t i) const { return p_[i]; }
  T* begin() { return p_; }
  T* end() { return p_ + n_; }
  const T* begin() const { return p_; }
  const T* end() const { return p_ + n_; }

 private:
  static size_t bytes_for(size_t n) {
    size_t bytes;
    return __builtin_mul_overflow(n, sizeof(T), &bytes) ? SIZE_MAX : bytes;  // SIZE_MAX: over the limit
  }
  size_t n_;
  T* p_;
};

}  // namespace fg
