// Use-after-destruction detection without ownership: an object holds a Lifetime; whatever refers
// to it without owning it keeps a Lifetime::Watch and asks alive() (one atomic load) before
// touching it. A Graph holds one, so an Output of a destroyed graph is a FailedPrecondition
// instead of a read of freed memory; so does a Session, for its Callables.
//
//   Lifetime life;                       // a member of the watched object
//   Lifetime::Watch w = life.watch();    // trivially copyable, two words
//   w.alive();                           // true until `life` is destroyed, false ever after
//
// Watches read a cell from a process-wide pool that is never freed: a destroyed Lifetime's cell
// moves to its next generation and is handed to a new Lifetime, so a watch that outlives its
// object still reads valid memory and sees a generation that is no longer its own.
#pragma once
#include <atomic>
#include <cstdint>

namespace fg {

class Lifetime {
 public:
  struct Cell {
    std::atomic<uint64_t> generation{0};
  };

  class Watch {
   public:
    Watch() = default;  // watches nothing: alive() is false
    bool alive() const {
      return cell_ && cell_->generation.load(std::memory_order_acquire) == generation_;
    }

   private:
    friend class Lifetime;
    Watch(const Cell* cell, uint64_t generation) : cell_(cell), generation_(generation) {}
    const Cell* cell_ = nullptr;
    uint64_t generation_ = 0;
  };

  Lifetime();
  ~Lifetime();
  Lifetime(const Lifetime&) = delete;
  Lifetime& operator=(const Lifetime&) = delete;

  Watch watch() const { return Watch(cell_, generation_); }

 private:
  Cell* cell_;
  uint64_t generation_;
};

}  // namespace fg
