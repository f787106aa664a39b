#include "core/allocator.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <string>

#include "flowgraph.h"
#include "test_util.h"

namespace fg {
namespace {

// Restores the default cap whatever a test does.
struct CacheLimitGuard {
  ~CacheLimitGuard() { set_buffer_cache_limit(int64_t{256} << 20); }
};

TEST(Allocator, FreedBuffersAreRecycledBySize) {
  CacheLimitGuard guard;
  release_cached_buffers();
  const AllocatorStats before = allocator_stats();
  void* first = nullptr;
  {
    Tensor t = Tensor::empty(f32, {123, 7});
    first = t.raw_data();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % 64, 0u);
  }
  EXPECT_GE(allocator_stats().bytes_cached, 123 * 7 * 4);
  Tensor again = Tensor::empty(f32, {7, 123});  // same byte size: the same block comes back
  EXPECT_EQ(again.raw_data(), first);
  const AllocatorStats after = allocator_stats();
  EXPECT_EQ(after.system_allocations, before.system_allocations + 1);
  EXPECT_EQ(after.recycled, before.recycled + 1);
  Tensor zeros(f32, {123, 7});  // a recycled block is still zero-filled when asked for zeros
  EXPECT_EQ(after.system_allocations + 1, allocator_stats().system_allocations);
  for (float v : zeros.flat<float>()) ASSERT_EQ(v, 0.0f);
}

// A tensor's control block shares its block with the data: creating, copying and dropping one
// calls no operator new once its block size is cached.
TEST(Allocator, ATensorIsOneBlockWithNothingOnTheHeapBesideIt) {
  if (!testing::counts_heap_allocations()) GTEST_SKIP() << "operator new is the sanitizer runtime's in this build";
  { Tensor warm = Tensor::empty(f32, {10, 10}); }
  const int64_t before = testing::heap_allocations_on_this_thread();
  const int64_t system_before = allocator_stats().system_allocations;
  {
    Tensor t = Tensor::empty(f32, {10, 10});
    Tensor copy = t;
    EXPECT_TRUE(copy.shares_buffer_with(t));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u);
    t.flat<float>()[99] = 1.0f;  // the last element is the block's own (ASan builds check it)
  }
  EXPECT_EQ(testing::heap_allocations_on_this_thread(), before);
  EXPECT_EQ(allocator_stats().system_allocations, system_before);
}

TEST(Allocator, CapAndReleaseReturnMemoryToTheSystem) {
  CacheLimitGuard guard;
  { Tensor t = Tensor::empty(f32, {1000}); }
  EXPECT_GT(allocator_stats().bytes_cached, 0);
  release_cached_buffers();
  EXPECT_EQ(allocator_stats().bytes_cached, 0);
  set_buffer_cache_limit(0);  // recycling off: every free goes back
  const int64_t before = allocator_stats().system_allocations;
  { Tensor t = Tensor::empty(f32, {1000}); }
  { Tensor t = Tensor::empty(f32, {1000}); }
  EXPECT_EQ(allocator_stats().system_allocations, before + 2);
  EXPECT_EQ(allocator_stats().bytes_cached, 0);
}

// $FG_BUFFER_CACHE_MB is read once, at start-up: 0 turns recycling off (checked in a child process).
TEST(Allocator, EnvironmentCanTurnRecyclingOff) {
  if (const char* env = std::getenv("FG_BUFFER_CACHE_MB"); env && std::string(env) == "0") {
    const int64_t before = allocator_stats().system_allocations;
    { Tensor t = Tensor::empty(f32, {1000}); }
    { Tensor t = Tensor::empty(f32, {1000}); }
    EXPECT_EQ(allocator_stats().system_allocations, before + 2);
    EXPECT_EQ(allocator_stats().bytes_cached, 0);
    return;
  }
  EXPECT_TRUE(testing::run_test_in_child("FG_BUFFER_CACHE_MB=0", "Allocator.EnvironmentCanTurnRecyclingOff"));
}

// The counting-allocator proof of issue 6: once a training step has run, further steps (batch
// gathered from the dataset, forward, backward, update, moving averages) make no system allocation
// of tensor buffers and no heap allocation at all.
void expect_steady_state_allocation_free(bool batch_norm) {
  if (!testing::counts_heap_allocations()) GTEST_SKIP() << "operator new is the sanitizer runtime's in this build";
  Graph g;
  g.set_random_seed(42);
  auto X = placeholder(g, f32, {-1, 784}, "X");
  auto y = placeholder(g, i32, {-1}, "y");
  auto training = placeholder_with_default(g, Tensor(false), {}, "training");
  Output h = X;
  for (int units : {300, 100}) {
    h = layers::dense(h, units, {.activation = batch_norm ? layers::Activation{} : layers::Activation{nn::relu}});
    if (batch_norm) h = nn::elu(layers::batch_normalization(h, {.training = training, .momentum = 0.9}));
  }
  auto logits = layers::dense(h, 10);
  auto loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(y, logits));
  Operation* train_op = train::GradientDescentOptimizer(0.01).minimize(loss);
  Session sess(g);
  sess.run(global_variables_initializer(g));
  Tensor images = testing::random_tensor({1000, 784}, 1, 0.0, 1.0, f32);
  Tensor labels = Tensor::empty(i32, {1000});
  for (int64_t i = 0; i < 1000; ++i) labels.flat<int32_t>()[i] = static_cast<int32_t>(i % 10);
  RandomEngine rng(3);
  auto step = sess.make_callable({X, y, training}, {loss}, {train_op, g.get_collection(GraphKeys::UPDATE_OPS)});
  std::array<Tensor, 3> feeds{Tensor(), Tensor(), Tensor(true)};
  std::vector<Tensor> fetched;
  int64_t steps = 0, heap_in_steps = 0;  // operator new calls while gathering a batch and running a step
  auto epoch = [&] {
    data::ShuffleBatch batches = data::shuffle_batch(images, labels, 200, rng);
    int64_t before = testing::heap_allocations_on_this_thread();
    for (auto& [xb, yb] : batches) {
      feeds[0] = xb;
      feeds[1] = yb;
      step(feeds, fetched);
      ASSERT_EQ(fetched.size(), 1u);
      heap_in_steps += testing::heap_allocations_on_this_thread() - before;
      ++steps;
      before = testing::heap_allocations_on_this_thread();
    }
  };
  epoch();  // warm-up: the plan's buffers are allocated once
  const AllocatorStats warm = allocator_stats();
  steps = heap_in_steps = 0;
  for (int i = 0; i < 3; ++i) epoch();
  const AllocatorStats after = allocator_stats();
  // Nothing in the kernels, the Session or the batch gathering, with feeds and fetches the loop keeps.
  EXPECT_EQ(heap_in_steps, 0) << "heap allocations in " << steps << " steps";
  EXPECT_EQ(after.system_allocations, warm.system_allocations) << "a steady-state step allocated";
  EXPECT_GT(after.recycled, warm.recycled + 3 * 5 * 10) << "the steps should be recycling buffers";
}

TEST(Allocator, TrainingStepsAllocateNothing) { expect_steady_state_allocation_free(false); }

// Single-sample inference on a cached plan allocates nothing on the heap when the caller keeps
// the feeds and fetches (buffers are recycled, tensors allocate no control block, the run's own
// vectors are kept per thread); the by-value form allocates just its two vectors.
TEST(Allocator, CachedInferenceCallAllocatesNothingWithKeptVectors) {
  if (!testing::counts_heap_allocations()) GTEST_SKIP() << "operator new is the sanitizer runtime's in this build";
  Graph g;
  g.set_random_seed(42);
  auto X = placeholder(g, f32, {-1, 784}, "X");
  Output h = X;
  for (int units : {300, 100}) h = layers::dense(h, units, {.activation = nn::relu});
  auto logits = layers::dense(h, 10);
  Session sess(g);
  sess.run(global_variables_initializer(g));
  auto infer = sess.make_callable({X}, {logits});
  const std::vector<Tensor> feeds{testing::random_tensor({1, 784}, 1, 0.0, 1.0, f32)};
  for (int i = 0; i < 3; ++i) infer(feeds);
  const AllocatorStats warm = allocator_stats();
  const int64_t before = testing::heap_allocations_on_this_thread();
  constexpr int kCalls = 100;
  for (int i = 0; i < kCalls; ++i) infer(feeds);
  EXPECT_EQ(testing::heap_allocations_on_this_thread() - before, 2 * kCalls) << "heap allocations beyond the API's";
  EXPECT_EQ(allocator_stats().system_allocations, warm.system_allocations);
  // Kept vectors: `fetched` holds the last logits while the next call makes new ones, so the
  // second call may take one more block of that size.
  std::vector<Tensor> fetched;
  for (int i = 0; i < 2; ++i) infer(feeds, fetched);
  const AllocatorStats kept_warm = allocator_stats();
  const int64_t kept_before = testing::heap_allocations_on_this_thread();
  for (int i = 0; i < kCalls; ++i) infer(feeds, fetched);
  EXPECT_EQ(testing::heap_allocations_on_this_thread() - kept_before, 0) << "heap allocations with kept vectors";
  EXPECT_EQ(allocator_stats().system_allocations, kept_warm.system_allocations);
  EXPECT_TRUE(fetched[0].equals(infer(feeds)[0]));
}
TEST(Allocator, BatchNormTrainingStepsAllocateNothing) { expect_steady_state_allocation_free(true); }

}  // namespace
}  // namespace fg
