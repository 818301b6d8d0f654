// The small-block allocator under the maps and the query cache
// (detail/block_cache.hpp, lib/block_cache.cpp): per-thread caches over
// 64 KiB slabs. Each case counts blocks, bytes or slabs — never time. The
// slab cases skip themselves in the ASan build of the library, which has no
// slabs (slab_bytes() stays 0 there).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <new>
#include <thread>
#include <vector>

#include "failing_new.hpp"
#include "under_tsan.hpp"
#include "snapcache/detail/block_cache.hpp"
#include "snapcache/ebr.hpp"
#include "snapcache/hash_map.hpp"

namespace {

namespace detail = snapcache::detail;
using map_type = snapcache::hash_map<std::uint64_t, std::uint64_t>;
using version_type = detail::version<std::uint64_t, std::uint64_t, false>;
constexpr std::size_t slab = std::size_t{64} << 10;

// True when the library carves blocks from slabs (not the ASan build).
bool library_has_slabs() {
  void* block = detail::allocate_block<32>();
  const bool slabs = detail::slab_bytes() != 0;
  detail::free_block<32>(block);
  return slabs;
}

// The largest power of two dividing `size`, up to 64: the alignment the
// header promises.
constexpr std::uintptr_t promised_alignment(std::size_t size) { return std::min<std::size_t>(size & (~size + 1), 64); }

template <std::size_t Size>
void expect_blocks_aligned() {
  std::vector<void*> blocks;
  for (int i = 0; i < 3000; ++i) blocks.push_back(detail::allocate_block<Size>());
  for (void* block : blocks) {
    const auto address = reinterpret_cast<std::uintptr_t>(block);
    EXPECT_EQ(address % promised_alignment(Size), 0u) << Size << "-byte block at " << block;
    if (Size <= 64 && 64 % Size == 0) {
      EXPECT_EQ(address / 64, (address + Size - 1) / 64) << Size << "-byte block straddles a cache line";
    }
  }
  for (void* block : blocks) detail::free_block<Size>(block);
}

TEST(block_cache, blocks_are_aligned_to_the_largest_power_of_two_dividing_their_size) {
  expect_blocks_aligned<8>();
  expect_blocks_aligned<24>();
  expect_blocks_aligned<32>();
  expect_blocks_aligned<48>();
  expect_blocks_aligned<64>();
  expect_blocks_aligned<96>();
  expect_blocks_aligned<1024>();
  static_assert(version_type::block_size == 32, "an 8-byte key and value take a 32-byte block");
}

// A map's versions come from slabs in exact sizes; once the map is gone and
// the caches are given back, the slabs go back to operator delete but for
// one spare per block size.
TEST(block_cache, slabs_grow_with_a_fill_and_are_given_back_when_the_blocks_are_free) {
  if (!library_has_slabs()) GTEST_SKIP() << "the ASan build of the library has no slabs";
  auto& d = snapcache::ebr::domain::global();
  d.synchronize();
  detail::release_block_cache();
  const std::size_t before = detail::slab_bytes();
  constexpr std::uint64_t keys = 100'000;
  std::size_t filled = 0;
  {
    map_type m;
    for (std::uint64_t k = 0; k < keys; ++k) m.insert(k, k);
    filled = detail::slab_bytes();
    // 100,000 versions of 32 bytes, 2,046 to a slab: at least 49 slabs
    // (some may be slabs that had free blocks before), and the refill
    // batches add at most one slab's worth.
    EXPECT_GE(filled, keys * 32);
    EXPECT_LE(filled, before + (keys / 2046 + 2) * slab) << "versions take more than their 32 bytes";
    // Overwriting every key replaces every version; after the grace period
    // the old ones are free, their slabs are given back, and the next round
    // reuses what is left: the slabs do not grow round after round.
    for (int round = 0; round < 3; ++round) {
      for (std::uint64_t k = 0; k < keys; ++k) m.insert_or_assign(k, k + round);
      d.synchronize();
      EXPECT_LE(detail::slab_bytes(), filled + 3 * slab) << "round " << round << ": freed slabs were kept";
    }
  }
  d.synchronize();
  detail::release_block_cache();
  EXPECT_LE(detail::slab_bytes(), before + 2 * slab) << "empty slabs were kept";
}

// A cache that reaches its limit gives the older half back to the slabs, so
// one thread's cache never holds more than its limit.
TEST(block_cache, a_full_cache_gives_half_of_itself_back) {
  detail::release_block_cache();
  constexpr std::size_t size = 48;
  constexpr std::uint32_t limit = detail::block_cache_limit<size>;
  const detail::block_free_list& list = detail::tl_block_cache[detail::block_class_of(size)];
  std::vector<void*> blocks;
  for (std::uint32_t i = 0; i <= limit; ++i) blocks.push_back(detail::allocate_block<size>());
  detail::release_block_cache();  // what the last refill left in the cache
  for (std::uint32_t i = 0; i < limit; ++i) detail::free_block<size>(blocks[i]);
  EXPECT_EQ(list.count.load(std::memory_order_relaxed), limit);
  detail::free_block<size>(blocks[limit]);
  EXPECT_EQ(list.count.load(std::memory_order_relaxed), limit / 2);
  detail::release_block_cache();
  EXPECT_EQ(list.count.load(std::memory_order_relaxed), 0u);
}

// A thread_local destructor that runs after the block cache's own (the
// thread is exiting) still allocates and frees, and what it frees goes
// straight back: nothing stays in a cache no one will empty.
std::atomic<std::uint32_t> late_cache_count{~0u};
std::atomic<bool> late_allocations_done{false};
struct late_allocator {
  ~late_allocator() {
    std::vector<void*> blocks;
    for (int i = 0; i < 5000; ++i) blocks.push_back(detail::allocate_block<40>());
    for (void* block : blocks) detail::free_block<40>(block);
    late_cache_count.store(detail::tl_block_cache[detail::block_class_of(40)].count.load(std::memory_order_relaxed),
                           std::memory_order_relaxed);  // read after join()
    late_allocations_done.store(true, std::memory_order_relaxed);  // read after join()
  }
};
thread_local late_allocator tl_late_allocator;

TEST(block_cache, an_exiting_thread_keeps_nothing_in_its_cache) {
  const std::size_t before = detail::slab_bytes();
  std::thread worker([] {
    (void)&tl_late_allocator;  // constructed first, so destroyed after the block cache's owner
    void* block = detail::allocate_block<40>();
    detail::free_block<40>(block);
  });
  worker.join();
  ASSERT_TRUE(late_allocations_done.load(std::memory_order_relaxed));
  EXPECT_EQ(late_cache_count.load(std::memory_order_relaxed), 0u) << "an exiting thread's cache kept blocks";
  EXPECT_LE(detail::slab_bytes(), before + slab) << "an exiting thread's blocks did not reach their slabs";
}

// A refill whose new slab cannot be allocated throws std::bad_alloc and
// changes nothing: the next allocation works.
TEST(block_cache, a_refill_whose_slab_allocation_fails_changes_nothing) {
  if (!library_has_slabs()) GTEST_SKIP() << "the ASan build of the library has no slabs";
  constexpr std::size_t size = 1016;  // a class nothing else uses: it has no slab yet
  detail::release_block_cache();
  const std::size_t slabs_before = detail::slab_bytes();
  const std::size_t cached_before = detail::cached_block_bytes();
  snapcache::test::fail_nth_allocation(0);
  detail::probe_block_allocations(false);  // the slab's own allocation is the one that fails
  EXPECT_THROW((void)detail::allocate_block<size>(), std::bad_alloc);
  snapcache::test::disarm_allocation_failure();
  EXPECT_EQ(detail::slab_bytes(), slabs_before);
  EXPECT_EQ(detail::cached_block_bytes(), cached_before);
  void* block = detail::allocate_block<size>();
  EXPECT_EQ(detail::slab_bytes(), slabs_before + slab);
  detail::free_block<size>(block);
  detail::release_block_cache();
  EXPECT_EQ(detail::slab_bytes(), slabs_before + slab) << "the class's one spare slab was not kept";
}

// A block freed twice makes the cache's list circular. Giving it back stops
// after the cache's count of blocks (a planted double free used to spin
// there forever, holding the class lock) and stops loudly when the slab
// already holds every block (in the ASan build, ASan reports it).
// Death tests fork: not under TSan (see below).
TEST(block_cache_death, a_block_freed_twice_stops_the_process_with_a_message) {
#if defined(SNAPCACHE_TEST_UNDER_TSAN)
  GTEST_SKIP() << "death tests fork; TSan cannot fork a multi-threaded test";
#endif
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        constexpr std::size_t size = 1000;  // a class nothing else uses
        detail::release_block_cache();
        void* block = detail::allocate_block<size>();
        detail::release_block_cache();  // the rest of the refill batch
        detail::free_block<size>(block);
        detail::free_block<size>(block);
        detail::release_block_cache();
      },
      "freed twice|double-free|heap-use-after-free");
}

// fork() while another thread holds a class's lock (it is refilling): the
// child can still allocate. The atfork handlers hold every lock across fork;
// without them about half the children wait forever (here: until their alarm).
// Under ThreadSanitizer a multi-threaded process's child may not use what
// TSan tracks: this runs in the release and dev builds.
#if !defined(SNAPCACHE_TEST_UNDER_TSAN)
TEST(block_cache, a_child_forked_while_another_thread_allocates_can_allocate) {
  // Without slabs every block is ASan's malloc, whose own lock a child
  // forked mid-allocation can inherit held (seen with gcc 12's libasan).
  if (!library_has_slabs()) GTEST_SKIP() << "the ASan build of the library has no slabs";
  std::atomic<bool> stop{false};
  std::thread churner([&] {
    while (!stop.load(std::memory_order_relaxed)) {  // a flag only
      // One batch taken and given back per round: the class's lock is held
      // for about half of the loop.
      void* blocks[64];
      for (void*& block : blocks) block = detail::allocate_block<56>();
      for (void* block : blocks) detail::free_block<56>(block);
      detail::release_block_cache();
    }
  });
  int children_ok = 0;
  constexpr int children = 20;
  for (int i = 0; i < children; ++i) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(2);  // a child waiting on a lock no thread will release dies
      std::vector<void*> blocks;
      for (int j = 0; j < 600; ++j) blocks.push_back(detail::allocate_block<56>());
      for (void* block : blocks) detail::free_block<56>(block);
      detail::release_block_cache();
      _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) ++children_ok;
  }
  stop.store(true, std::memory_order_relaxed);  // a flag only
  churner.join();
  EXPECT_EQ(children_ok, children);
}
#endif

}  // namespace
