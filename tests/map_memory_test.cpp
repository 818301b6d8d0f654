// Memory and lifetime promises of snapcache::hash_map: what a version costs,
// when it is freed, what a snapshot keeps alive and what closing one costs.
// Each case counts versions, objects, bytes or steps — never time. The
// first six are the regression tests of the defects the map-v2 issue found
// in the split-ordered-list map (numbered as there).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "failing_new.hpp"
#include "plain_versions.hpp"
#include "under_tsan.hpp"
#include "snapcache/detail/block_cache.hpp"
#include "snapcache/ebr.hpp"
#include "snapcache/hash_map.hpp"

namespace {

using snapcache::ebr::config;
using snapcache::ebr::domain;
using map_type = snapcache::hash_map<std::uint64_t, std::uint64_t>;

static_assert(sizeof(snapcache::detail::version<std::uint64_t, std::uint64_t, false>) == 32,
              "an 8-byte key and value cost a 32-byte version");

// A value that counts its live instances and owns a payload.
struct payload {
  static inline std::atomic<long> live{0};
  explicit payload(std::size_t bytes = 0) : data(bytes, 'x') { ++live; }
  payload(const payload& other) : data(other.data) { ++live; }
  payload(payload&& other) noexcept : data(std::move(other.data)) { ++live; }
  payload& operator=(const payload&) = default;
  ~payload() { --live; }
  std::vector<char> data;
};

// Defect 1: garbage was parked for snapshots that never came.
TEST(map_memory, a_map_that_never_takes_snapshots_keeps_no_garbage) {
  domain d(config{.batch = 64, .pins_per_step = 64});
  payload::live = 0;
  {
    snapcache::hash_map<std::uint64_t, payload> m(d, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 50000; ++i) {
          const std::uint64_t key = static_cast<std::uint64_t>(i + t) % 8;
          if (i % 2 == 0) {
            m.insert_or_assign(key, payload(16));
          } else {
            m.erase(key);
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    for (std::uint64_t key = 0; key < 8; ++key) m.erase(key);
    EXPECT_EQ(m.stats().live_entries, 0u);
    EXPECT_EQ(m.stats().live_versions, 0u) << "versions stayed linked with no snapshot to read them";
    d.synchronize();
    EXPECT_EQ(d.stats().pending, 0u);
    EXPECT_EQ(payload::live.load(), 0) << "values outlived their grace period";
  }
}

// Defect 2: past 16 live snapshots every version newer than the oldest was
// kept, and writes walked the whole history.
class bound_for_snapshots : public ::testing::TestWithParam<int> {};

TEST_P(bound_for_snapshots, live_versions_stay_within_the_bound_and_chains_stay_short) {
  const int snapshots = GetParam();
  map_type m;
  constexpr std::uint64_t keys = 4;
  for (std::uint64_t k = 0; k < keys; ++k) m.insert(k, 0);
  std::vector<map_type::snapshot_type> held;
  std::uint64_t writes = 0;
  // Snapshots spread over the writes, so each reads its own versions.
  for (int s = 0; s < snapshots; ++s) {
    for (std::uint64_t k = 0; k < keys; ++k) m.insert_or_assign(k, ++writes);
    held.push_back(m.snapshot());
  }
  for (int i = 0; i < 100000; ++i) m.insert_or_assign(static_cast<std::uint64_t>(i) % keys, ++writes);
  const std::size_t bound = (1 + static_cast<std::size_t>(snapshots)) * keys;
  EXPECT_LE(m.stats().live_versions, bound);
  for (std::uint64_t k = 0; k < keys; ++k) {
    EXPECT_LE(m.chain_length(k), 1u + static_cast<std::size_t>(snapshots)) << "key " << k;
  }
  // Every snapshot still reads its instant.
  for (int s = 0; s < snapshots; ++s) {
    for (std::uint64_t k = 0; k < keys; ++k) {
      ASSERT_EQ(held[static_cast<std::size_t>(s)].find(k), std::optional<std::uint64_t>(keys * s + k + 1));
    }
  }
  held.clear();
  EXPECT_EQ(m.stats().live_versions, keys) << "closing the snapshots did not release their versions";
  for (std::uint64_t k = 0; k < keys; ++k) EXPECT_EQ(m.chain_length(k), 1u);
}

INSTANTIATE_TEST_SUITE_P(held, bound_for_snapshots, ::testing::Values(1, 16, 17, 100));

// Defect 3: a key's first value lived inside its entry until the entry died.
TEST(map_memory, overwritten_and_erased_values_are_destroyed_after_the_grace_period) {
  domain d(config{.batch = 64, .pins_per_step = 64});
  snapcache::hash_map<std::uint64_t, std::shared_ptr<payload>> m(d, 0);
  auto first = std::make_shared<payload>(std::size_t{1} << 20);  // 1 MiB
  auto second = std::make_shared<payload>(16);
  std::weak_ptr<payload> first_seen = first, second_seen = second;
  m.insert(1, first);
  first.reset();  // the map holds the only reference now
  m.insert_or_assign(1, second);
  second.reset();
  d.synchronize();
  EXPECT_TRUE(first_seen.expired()) << "the overwritten first value is still alive";
  m.erase(std::uint64_t{1});
  d.synchronize();
  EXPECT_TRUE(second_seen.expired()) << "the erased value is still alive";

  // A snapshot keeps what it reads, and only until it closes.
  auto third = std::make_shared<payload>(16);
  std::weak_ptr<payload> third_seen = third;
  m.insert(2, third);
  third.reset();
  {
    auto snap = m.snapshot();
    m.insert_or_assign(2, std::make_shared<payload>(16));
    d.synchronize();
    EXPECT_FALSE(third_seen.expired()) << "a value a live snapshot reads was freed";
    EXPECT_EQ(snap.find(std::uint64_t{2}).value().get(), third_seen.lock().get());
  }
  d.synchronize();
  EXPECT_TRUE(third_seen.expired()) << "the snapshot closed, yet the value it read lives on";
}

// Defect 4: every close re-trimmed every entry parked for any snapshot.
TEST(map_memory, closing_a_short_snapshot_rechecks_only_the_versions_kept_for_it) {
  domain d(config{.batch = 64, .pins_per_step = 64});
  snapcache::hash_map<std::uint64_t, std::uint64_t> m(d, 0);
  constexpr std::uint64_t keys = 200000;
  for (std::uint64_t k = 0; k < keys; ++k) m.insert(k, 0);
  auto long_lived = m.snapshot();
  for (std::uint64_t k = 0; k < keys; ++k) m.insert_or_assign(k, 1);  // each keeps a version for it
  const std::uint64_t before = m.kept_rechecks();
  for (int i = 0; i < 1000; ++i) {
    auto short_lived = m.snapshot();
  }
  EXPECT_EQ(m.kept_rechecks(), before) << "short snapshots rechecked versions kept for another";

  // A short snapshot with writes of its own rechecks those, once each.
  {
    auto short_lived = m.snapshot();
    for (std::uint64_t k = 0; k < 1000; ++k) m.insert_or_assign(k, 2);
  }
  EXPECT_EQ(m.kept_rechecks(), before + 1000);
  EXPECT_EQ(long_lived.find(std::uint64_t{5}), std::optional<std::uint64_t>(0));

  // Closing the long one frees its 200,000 versions, a bounded batch per
  // guard: what is pending afterwards stays within the domain's bound.
  const std::uint64_t retired_before = d.stats().retired;
  { auto closing = std::move(long_lived); }
  EXPECT_GE(d.stats().retired - retired_before, keys);
  EXPECT_LE(d.stats().pending, 2 * 64u) << "one guard retired an unbounded batch";
  EXPECT_EQ(m.stats().live_versions, keys);
}

// Defect 5: iterators pointed at their snapshot object.
TEST(map_memory, iterators_stay_valid_when_their_snapshot_moves) {
  map_type m;
  for (std::uint64_t k = 0; k < 1000; ++k) m.insert(k, k);
  std::vector<map_type::snapshot_type> snapshots;
  snapshots.push_back(m.snapshot());
  auto it = snapshots[0].begin();
  const auto end = snapshots[0].end();
  for (int i = 0; i < 100; ++i) snapshots.push_back(m.snapshot());  // reallocates: the first one moves
  for (std::uint64_t k = 0; k < 1000; ++k) m.erase(k);
  std::size_t seen = 0;
  for (; it != end; ++it) {
    const auto [key, value] = *it;
    EXPECT_EQ(key, value);
    ++seen;
  }
  EXPECT_EQ(seen, 1000u);
  const auto returned = [&] { return m.snapshot(); }();
  EXPECT_EQ(returned.size(), 0u);
}

// Defect 6: closing on a thread new to the map registered it from noexcept.
TEST(map_memory, a_snapshot_closed_on_a_new_thread_without_memory_does_not_terminate) {
  map_type m;
  for (std::uint64_t k = 0; k < 100; ++k) m.insert(k, k);
  auto snap = m.snapshot();
  for (std::uint64_t k = 0; k < 100; ++k) m.insert_or_assign(k, k + 1);  // kept for snap
  EXPECT_EQ(m.stats().live_versions, 200u);
  std::thread([&] {
    map_type::snapshot_type moved = std::move(snap);
    snapcache::test::fail_nth_allocation(0);
    {
      map_type::snapshot_type closing = std::move(moved);
    }  // registration fails: the rechecks wait for the next close
    snapcache::test::disarm_allocation_failure();
  }).join();
  { auto next = m.snapshot(); }  // picks the waiting rechecks up
  EXPECT_EQ(m.stats().live_versions, 100u);
}

// A close rechecks its records in batches of 32, the reservation checked
// before each; records that walk wait for the batch's walks. Whichever
// allocation fails (reservations part way through a batch included: with
// every retirement sealing a bag, they allocate), the records taken and not
// settled go back on the list for the next close: none is lost, and none is
// counted or settled twice.
TEST(map_memory, a_close_out_of_memory_part_way_through_a_batch_leaves_the_rest_to_the_next) {
  constexpr std::uint64_t keys = 40;  // more than one batch
  // Plain versions (when the hooks allow it): half the records walk. With
  // link words, none does, and the half whose records were handed on
  // settle at once.
  for (const bool linked : {false, true}) {
    if (!linked && !snapcache::test::plain_versions::available) continue;
    std::optional<snapcache::test::plain_versions> plain;
    if (!linked) plain.emplace();
    for (std::size_t n = 0; n < 100; ++n) {
      domain d(config{.batch = 1, .pins_per_step = 1});
      map_type m(d, 0);
      for (std::uint64_t k = 0; k < keys; ++k) m.insert(k, k);
      auto snap = m.snapshot();
      for (std::uint64_t k = 0; k < keys; ++k) {
        m.insert_or_assign(k, k + 100);                     // k kept for snap
        if (k % 2 == 0) m.insert_or_assign(k, k + 200);  // k + 100 unlinked: handed on, or k's recheck walks
      }
      snapcache::test::fail_nth_allocation(n);
      { const auto closing = std::move(snap); }
      snapcache::test::disarm_allocation_failure();
      { const auto next = m.snapshot(); }  // rechecks what waited
      EXPECT_EQ(m.kept_rechecks(), keys) << "allocation " << n << " failed";
      EXPECT_EQ(m.kept_recheck_walks(), linked ? 0 : keys / 2) << "allocation " << n << " failed";
      for (std::uint64_t k = 0; k < keys; ++k) {
        ASSERT_EQ(m.chain_length(k), 1u) << "key " << k << ", allocation " << n << " failed";
      }
    }
  }
}

TEST(map_memory, a_one_entry_map_costs_less_than_4_kib_of_heap) {
  { map_type warm; warm.insert(1, 1); }  // this thread's registration, spare record and bags
  const std::size_t before = snapcache::test::bytes_requested_by_this_thread();
  {
    map_type m;
    m.insert(1, 1);
    EXPECT_LE(snapcache::test::bytes_requested_by_this_thread() - before, 4096u);
  }
}

TEST(map_memory, a_thread_that_used_many_maps_holds_one_registration) {
  { map_type warm; warm.insert(1, 1); }
  const std::size_t records = snapcache::ebr::domain::global().stats().records;
  const std::size_t allocations = snapcache::test::allocations_by_this_thread();
  for (int i = 0; i < 1000; ++i) {
    map_type m;
    m.insert(1, 1);
    (void)m.find(std::uint64_t{1});
  }
  EXPECT_EQ(snapcache::ebr::domain::global().stats().records, records);
  // Per map: its table and one version; nothing per (thread, map) pair grows.
  EXPECT_LE(snapcache::test::allocations_by_this_thread() - allocations, 1000u * 3);
}

TEST(map_memory, dead_keys_are_dropped_by_cleanup_migrations) {
  map_type m;
  for (std::uint64_t k = 0; k < 1000000; ++k) {
    m.insert(k, k);
    m.erase(k);
  }
  EXPECT_TRUE(m.empty());
  EXPECT_LE(m.bucket_count(), 4096u) << "dead keys piled up instead of being dropped";
  EXPECT_EQ(m.stats().live_versions, 0u);
}

TEST(map_memory, a_map_that_is_filled_and_emptied_shrinks_back) {
  map_type m;
  for (std::uint64_t k = 0; k < 100000; ++k) m.insert(k, k);
  const std::size_t full = m.bucket_count();
  for (std::uint64_t k = 0; k < 100000; ++k) m.erase(k);
  EXPECT_TRUE(m.empty());
  EXPECT_LE(m.bucket_count(), 1024u) << "grown to " << full << " slots and never shrunk";
  // Small tables too: 600 keys in a 1,024-slot table, all erased.
  map_type small(600);
  for (std::uint64_t k = 0; k < 600; ++k) small.insert(k, k);
  for (std::uint64_t k = 0; k < 600; ++k) small.erase(k);
  EXPECT_LE(small.bucket_count(), 64u);
  for (std::uint64_t k = 0; k < 600; ++k) ASSERT_TRUE(small.insert(k, k + 1));  // and it grows again
  EXPECT_EQ(small.size(), 600u);
  EXPECT_EQ(small.find(599), std::optional<std::uint64_t>(600));
}

// A shrink sizes its table after freezing the source; if that allocation
// fails inside an erase (which swallows it: the erase already happened),
// the map is left with an unsized shrink. Destroying it then, or writing to
// it (the write sizes the shrink), must work: swept over every allocation
// of an emptying run, ASan checks the destructor reads no marker as a table.
TEST(map_memory, a_shrink_whose_table_cannot_be_allocated_leaves_a_usable_map) {
  constexpr std::uint64_t keys = 200;
  std::size_t swallowed = 0;
  for (std::size_t n = 0;; ++n) {
    bool consumed = false;
    for (const bool destroy_at_once : {true, false}) {
      auto m = std::make_unique<map_type>();
      for (std::uint64_t k = 0; k < keys; ++k) m->insert(k, k);
      const std::size_t start = snapcache::test::allocations_by_this_thread();
      snapcache::test::fail_nth_allocation(n);
      std::uint64_t erased = 0;
      consumed = false;
      while (erased < keys && !consumed) {
        try {
          m->erase(erased);
          ++erased;
          consumed = snapcache::test::allocations_by_this_thread() > start + n;
          swallowed += consumed ? 1 : 0;
        } catch (const std::bad_alloc&) {
          consumed = true;  // the erase changed nothing
        }
      }
      snapcache::test::disarm_allocation_failure();
      if (destroy_at_once) continue;  // destroyed as left
      ASSERT_EQ(m->size(), keys - erased) << "allocation " << n;
      for (std::uint64_t k = erased; k < keys; ++k) ASSERT_EQ(m->find(k), std::optional<std::uint64_t>(k));
      ASSERT_TRUE(m->insert(keys, keys));  // a write sizes a pending shrink first
      ASSERT_EQ(m->size(), keys - erased + 1);
    }
    if (!consumed) break;  // the whole run made fewer than n + 1 allocations
  }
  EXPECT_GT(swallowed, 0u) << "no failing allocation was absorbed by an erase";
}

// The per-thread block cache hands a freed block only to a request of its
// own size: two maps whose versions differ by 8 bytes, written by one thread,
// must not share blocks (ASan reports the overflow if they do).
TEST(map_memory, freed_versions_go_only_to_versions_of_their_own_size) {
  namespace detail = snapcache::detail;
  void* small_block = detail::allocate_block<24>();
  detail::free_block<24>(small_block);
  void* large_block = detail::allocate_block<32>();
  EXPECT_NE(large_block, small_block) << "a 24-byte block served a 32-byte request";
  EXPECT_EQ(detail::allocate_block<24>(), small_block) << "the cache did not keep the freed block";
  detail::free_block<32>(large_block);
  detail::free_block<24>(small_block);

  snapcache::hash_map<std::uint32_t, std::uint32_t> narrow;
  snapcache::hash_map<std::uint64_t, std::uint64_t> wide;
  for (std::uint32_t round = 0; round < 20; ++round) {
    for (std::uint32_t k = 0; k < 200; ++k) narrow.insert_or_assign(k, round);
    domain::global().synchronize();  // the replaced narrow versions reach this thread's cache
    for (std::uint64_t k = 0; k < 200; ++k) wide.insert_or_assign(k, ~std::uint64_t{0});
  }
  for (std::uint64_t k = 0; k < 200; ++k) ASSERT_EQ(wide.find(k), std::optional<std::uint64_t>(~std::uint64_t{0}));
  for (std::uint32_t k = 0; k < 200; ++k) ASSERT_EQ(narrow.find(k), std::optional<std::uint32_t>(19));
}

// Move assignment copies the hash before freeing anything: a hash whose copy
// throws leaves both maps as they were.
namespace {
// A key whose copies can be made to throw after a count: the tombstones
// clear() makes copy their key.
struct countdown_key {
  static inline int copies_left = -1;  // -1: never throw
  explicit countdown_key(std::uint64_t v) : value(v) {}
  countdown_key(const countdown_key& other) : value(other.value) {
    if (copies_left == 0) throw std::runtime_error("key copy failed");
    if (copies_left > 0) --copies_left;
  }
  countdown_key& operator=(const countdown_key&) = delete;
  bool operator==(const countdown_key& other) const noexcept { return value == other.value; }
  std::uint64_t value;
};
struct countdown_key_hash {
  std::size_t operator()(const countdown_key& k) const noexcept { return std::hash<std::uint64_t>{}(k.value); }
};

// Issue 20: clear() states the basic guarantee, per key; this is it.
TEST(map_exceptions, clear_that_throws_midway_leaves_the_keys_it_erased_erased_and_the_rest_intact) {
  snapcache::hash_map<countdown_key, std::uint64_t, countdown_key_hash> m;
  for (std::uint64_t k = 0; k < 1000; ++k) m.insert(countdown_key(k), k);
  countdown_key::copies_left = 500;  // the 501st copy throws
  EXPECT_THROW(m.clear(), std::runtime_error);
  countdown_key::copies_left = -1;
  std::size_t held = 0;
  for (std::uint64_t k = 0; k < 1000; ++k) {
    if (const auto v = m.find(countdown_key(k))) {
      EXPECT_EQ(*v, k) << "a key clear() did not reach changed its value";
      ++held;
    }
  }
  EXPECT_EQ(held, 500u) << "the 500 keys erased before the throw stay erased; the other 500 stay";
  EXPECT_EQ(m.size(), 500u);
  m.clear();  // the map is still usable
  EXPECT_EQ(m.size(), 0u);
  m.insert(countdown_key(7), 7);
  EXPECT_EQ(m.find(countdown_key(7)), std::optional<std::uint64_t>(7));
}

struct throwing_copy_hash {
  static inline bool throw_on_copy = false;
  std::string name = "a hash with state";
  throwing_copy_hash() = default;
  throwing_copy_hash(const throwing_copy_hash& other) : name(other.name) {
    if (throw_on_copy) throw std::runtime_error("hash copy failed");
  }
  throwing_copy_hash& operator=(const throwing_copy_hash&) = default;
  throwing_copy_hash(throwing_copy_hash&&) noexcept = default;
  throwing_copy_hash& operator=(throwing_copy_hash&&) noexcept = default;
  std::size_t operator()(std::uint64_t k) const noexcept { return std::hash<std::uint64_t>{}(k); }
};
}  // namespace

TEST(map_memory, a_move_assignment_whose_hash_copy_throws_changes_neither_map) {
  using hashed_map = snapcache::hash_map<std::uint64_t, std::uint64_t, throwing_copy_hash>;
  static_assert(!std::is_nothrow_move_assignable_v<hashed_map>);
  hashed_map target;
  hashed_map source;
  for (std::uint64_t k = 0; k < 100; ++k) {
    target.insert(k, k);
    source.insert(k + 1000, k);
  }
  throwing_copy_hash::throw_on_copy = true;
  EXPECT_THROW(target = std::move(source), std::runtime_error);
  throwing_copy_hash::throw_on_copy = false;
  EXPECT_EQ(target.size(), 100u);
  EXPECT_EQ(source.size(), 100u);  // NOLINT(bugprone-use-after-move): the move failed
  EXPECT_EQ(target.find(5), std::optional<std::uint64_t>(5));
  EXPECT_EQ(source.find(1005), std::optional<std::uint64_t>(5));  // NOLINT(bugprone-use-after-move)
  target = std::move(source);
  EXPECT_EQ(target.find(1005), std::optional<std::uint64_t>(5));
  EXPECT_FALSE(target.contains(5));
}

// User code run by a write (here erase_if's predicate) may itself write to
// another map and use up the thread's spare record; the outer write, which
// then keeps a version for a snapshot too, must get a record of its own.
TEST(map_memory, a_write_inside_a_predicate_leaves_the_outer_write_its_record) {
  map_type outer;
  map_type inner;
  for (std::uint64_t k = 0; k < 8; ++k) {
    outer.insert(k, k);
    inner.insert(k, k);
  }
  const auto outer_snap = outer.snapshot();
  const auto inner_snap = inner.snapshot();
  for (std::uint64_t k = 0; k < 8; ++k) {
    EXPECT_TRUE(outer.erase_if(k, [&](std::uint64_t) {
      inner.insert_or_assign(k, k + 100);  // keeps inner's old version for inner_snap
      return true;
    }));
  }
  EXPECT_TRUE(outer.empty());
  EXPECT_EQ(outer_snap.size(), 8u);
  EXPECT_EQ(inner_snap.find(3), std::optional<std::uint64_t>(3));
  EXPECT_EQ(inner.find(3), std::optional<std::uint64_t>(103));
}

TEST(map_memory, growth_and_cleanup_keep_every_key_and_every_snapshot_exact) {
  map_type m;
  std::vector<map_type::snapshot_type> snaps;
  std::vector<std::size_t> sizes;
  for (std::uint64_t k = 0; k < 100000; ++k) {
    m.insert(k, k);
    if (k % 20000 == 0) {
      snaps.push_back(m.snapshot());
      sizes.push_back(k + 1);
    }
  }
  for (std::uint64_t k = 0; k < 90000; ++k) m.erase(k);  // cleanup migrations
  for (std::uint64_t k = 100000; k < 150000; ++k) m.insert(k, k);  // growth again
  for (std::size_t i = 0; i < snaps.size(); ++i) {
    std::size_t n = 0;
    for (const auto& [k, v] : snaps[i]) {
      EXPECT_EQ(k, v);
      EXPECT_LT(k, sizes[i]);
      ++n;
    }
    EXPECT_EQ(n, sizes[i]);
  }
  EXPECT_EQ(m.size(), 60000u);
  for (std::uint64_t k = 90000; k < 150000; ++k) ASSERT_EQ(m.find(k), std::optional<std::uint64_t>(k));
}

}  // namespace

namespace {

// A map destroyed while a snapshot of it lives would leave the snapshot
// dangling: every build stops at once with a message instead.
#if !defined(SNAPCACHE_TEST_UNDER_TSAN)
TEST(map_lifetime, destroying_a_map_with_a_live_snapshot_fails_fast_with_a_message) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto* m = new map_type;
        m->insert(1, 1);
        static auto snap = m->snapshot();
        delete m;
      },
      "destroyed while a snapshot of it is alive");
}
#endif

// A thread_local destructor that runs after snapcache's own per-thread
// cleanup (it was constructed before the thread first used a map) still
// writes to a map: the write lands and what it retires is freed.
map_type* late_map = nullptr;
struct late_writer {
  std::uint64_t key = 0;
  ~late_writer() {
    if (late_map != nullptr) {
      late_map->insert_or_assign(key, 2);  // replaces a version: retires one
      late_map->erase(key + 1);
    }
  }
};
thread_local late_writer tl_late_writer;

TEST(map_lifetime, a_late_thread_local_destructor_can_still_write_and_what_it_retires_is_freed) {
  map_type m;
  late_map = &m;
  std::thread([&] {
    tl_late_writer.key = 10;  // constructed before this thread's first pin
    m.insert(10, 1);
    m.insert(11, 1);
  }).join();
  late_map = nullptr;
  EXPECT_EQ(m.find(std::uint64_t{10}), std::optional<std::uint64_t>(2)) << "the late write did not land";
  EXPECT_FALSE(m.contains(std::uint64_t{11}));
  snapcache::ebr::domain::global().synchronize();
  EXPECT_EQ(m.stats().live_versions, 1u);
}

TEST(map_stats, report_snapshots_their_age_heap_bytes_and_pending_reclamation) {
  domain d(config{.batch = 64, .pins_per_step = 64});
  snapcache::hash_map<std::uint64_t, std::uint64_t> m(d, 0);
  for (std::uint64_t k = 0; k < 1000; ++k) m.insert(k, k);
  auto s0 = m.stats();
  EXPECT_EQ(s0.live_snapshots, 0u);
  EXPECT_EQ(s0.oldest_snapshot_age, 0u);
  EXPECT_GE(s0.heap_bytes, 1000u * 32);
  EXPECT_LE(s0.heap_bytes, 1000u * 32 * 3);
  auto old = m.snapshot();
  for (int i = 0; i < 5; ++i) auto newer = m.snapshot();
  const auto s1 = m.stats();
  EXPECT_EQ(s1.live_snapshots, 1u);
  EXPECT_EQ(s1.oldest_snapshot_age, 6u) << "five snapshots taken since the oldest (and its own advance)";
  for (std::uint64_t k = 0; k < 1000; ++k) m.insert_or_assign(k, k + 1);  // each keeps a version for `old`
  EXPECT_GE(m.stats().heap_bytes, s0.heap_bytes + 1000 * 32);
  {
    // A reader pinned meanwhile: what the close retires cannot be freed yet.
    std::atomic<int> phase{0};
    std::thread reader([&] {
      const auto g = d.pin();
      phase = 1;
      while (phase.load() != 2) std::this_thread::yield();
    });
    while (phase.load() != 1) std::this_thread::yield();
    { auto closing = std::move(old); }
    const auto after_close = m.stats();
    EXPECT_EQ(after_close.live_snapshots, 0u);
    EXPECT_GE(after_close.retired_unfreed, 1000u) << "the versions kept for the closed snapshot";
    phase = 2;
    reader.join();
  }
  d.synchronize();
  EXPECT_EQ(m.stats().retired_unfreed, 0u);
}

}  // namespace

namespace {

// Issue 20: clear() and erase_if(pred) iterated a snapshot of their own, so
// every value they erased was kept for it and the cleanup migrations they
// triggered could drop nothing: after clear() of 1,000,000 keys the empty map
// held 2,097,152 slots, and refilled it doubled. A map emptied by clear()
// must shrink like one emptied key by key.
TEST(map_memory, a_map_emptied_by_clear_shrinks_like_one_emptied_key_by_key) {
#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  const std::uint64_t n = 1'000'000;
#else
  const std::uint64_t n = 100'000;
#endif
  snapcache::hash_map<std::uint64_t, std::uint64_t> cleared, erased, fresh;
  for (std::uint64_t k = 0; k < n; ++k) {
    cleared.insert(k, k);
    erased.insert(k, k);
  }
  cleared.clear();
  for (std::uint64_t k = 0; k < n; ++k) erased.erase(k);
  EXPECT_EQ(cleared.size(), 0u);
  for (std::uint64_t i = 0; i < 10'000; ++i) {  // insert/erase pairs
    cleared.insert(n + i, i);
    cleared.erase(n + i);
    erased.insert(n + i, i);
    erased.erase(n + i);
  }
  EXPECT_LE(cleared.bucket_count(), 2 * erased.bucket_count() + 64)
      << "clear() left " << cleared.bucket_count() << " slots, key by key " << erased.bucket_count();
  for (std::uint64_t k = 0; k < n; ++k) {
    cleared.insert(k, k);
    fresh.insert(k, k);
  }
  EXPECT_LE(cleared.bucket_count(), fresh.bucket_count()) << "refilled after clear() it outgrew a fresh map";
  EXPECT_EQ(cleared.erase_if([](std::uint64_t k, std::uint64_t) { return k % 2 == 0; }), n / 2);
  EXPECT_EQ(cleared.size(), n / 2);
  for (std::uint64_t k = 1; k < n; k += 2) cleared.erase(k);
  for (std::uint64_t i = 0; i < 10'000; ++i) {
    cleared.insert(n + i, i);
    cleared.erase(n + i);
  }
  EXPECT_LE(cleared.bucket_count(), 2 * erased.bucket_count() + 64) << "erase_if kept the full table";
}

}  // namespace

// The per-thread block caches hold freed versions for reuse; stats() shows
// every live thread's, and a thread's goes away with it.
TEST(map_memory, cached_block_bytes_counts_every_threads_cache_and_drops_at_thread_exit) {
  snapcache::detail::release_block_cache();
  const std::size_t before = map_type().stats().cached_block_bytes;
  constexpr std::uint64_t keys = 1'000;
  std::atomic<bool> filled{false}, release{false};
  std::thread worker([&] {
    domain d(config{.batch = 1, .pins_per_step = 1});
    {
      map_type m(d, 0);
      for (std::uint64_t k = 0; k < keys; ++k) m.insert(k, k);
      for (std::uint64_t k = 0; k < keys; ++k) m.erase(k);
      d.synchronize();  // frees on this thread: into its cache
    }
    d.synchronize();
    filled.store(true, std::memory_order_release);  // pairs with the main thread's acquire
    while (!release.load(std::memory_order_acquire)) std::this_thread::yield();  // pairs with the store below
  });
  while (!filled.load(std::memory_order_acquire)) std::this_thread::yield();  // pairs with the worker's release
  const std::size_t during = map_type().stats().cached_block_bytes;
  release.store(true, std::memory_order_release);  // pairs with the worker's acquire
  worker.join();
  const std::size_t after = map_type().stats().cached_block_bytes;
  // Every block the worker allocated went back to its cache when freed (its
  // limit is 4,096 blocks), and 1,000 versions of 32 bytes were live at once.
  EXPECT_GE(during, before + keys * 32) << "the worker's cache is not seen";
  EXPECT_LE(after, before) << "an exited thread's cache is still counted";
}
