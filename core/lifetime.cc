#include "core/lifetime.h"

#include <mutex>
#include <vector>

namespace fg {

namespace {

// Cells of destroyed Lifetimes, ready for reuse. Never freed (nor is the pool): a watch may read
// a cell at any time, also during static destruction.
struct CellPool {
  std::mutex mu;
  std::vector<Lifetime::Cell*> free;
};

CellPool& pool() {
  static CellPool* p = new CellPool;
  return *p;
}

}  // namespace

Lifetime::Lifetime() {
  CellPool& p = pool();
  {
    std::lock_guard lock(p.mu);
    if (!p.free.empty()) {
      cell_ = p.free.back();
      p.free.pop_back();
    } else {
      cell_ = new Cell;
    }
  }
  generation_ = cell_->generation.load(std::memory_order_relaxed);
}

Lifetime::~Lifetime() {
  cell_->generation.fetch_add(1, std::memory_order_release);
  CellPool& p = pool();
  std::lock_guard lock(p.mu);
  p.free.push_back(cell_);
}

}  // namespace fg
