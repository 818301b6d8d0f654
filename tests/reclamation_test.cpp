// Reclamation as a long-running service meets it (issue 19): one test per
// way the old scheme let memory or work run away. Every test counts objects,
// bytes or steps, never time. Threads that must stall do so on a gate that
// the test opens, so each scenario is deterministic.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "snapcache/ebr.hpp"
#include "snapcache/hash_map.hpp"
#include "snapcache/query_cache.hpp"

namespace {

using snapcache::ebr::config;
using snapcache::ebr::domain;

// A one-shot gate: threads wait until the test opens it.
class gate {
 public:
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    changed_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = false;
};

// A value that owns a resource: counts live copies, and weighs `bytes` on
// the heap as far as reclamation is told (snapcache_heap_bytes). A copy may
// be made to stall: it waits on `stall_gate` once `stall_next` is set.
struct resource {
  static inline std::atomic<long> live{0};
  static inline std::atomic<bool> stall_next{false};
  static inline std::atomic<bool> stalled{false};
  static inline gate* stall_gate = nullptr;

  explicit resource(std::size_t n = 0) : bytes(n) { live.fetch_add(1); }
  resource(const resource& other) : bytes(other.bytes) {
    if (stall_next.exchange(false)) {
      stalled = true;
      stall_gate->wait();
    }
    live.fetch_add(1);
  }
  resource& operator=(const resource&) = delete;
  ~resource() { live.fetch_sub(1); }
  friend std::size_t snapcache_heap_bytes(const resource& r) noexcept { return r.bytes; }

  std::size_t bytes;
};

class reclamation : public ::testing::Test {
 protected:
  void SetUp() override {
    resource::live = 0;
    resource::stall_next = false;
    resource::stalled = false;
  }
};

constexpr std::size_t batch = 64;
// The sanitizers run these scenarios 5-20 times slower: smaller sizes there
// (the same shapes; the release build runs the sizes the issue names).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr std::uint64_t scale = 8;
#else
constexpr std::uint64_t scale = 1;
#endif
constexpr config service_config{.batch = batch, .pins_per_step = 128};
// ebr.hpp's bound while pins are short: each thread's open bag, and what was
// sealed since the last step that could advance.
constexpr std::uint64_t bound(std::size_t threads) { return 3 * threads * batch; }

void wait_for(const std::atomic<bool>& flag) {
  while (!flag.load()) std::this_thread::yield();
}

// A thread that runs `work`, then goes idle (blocked on a gate, holding no
// guard) until the object is destroyed. The constructor returns once the
// work is done.
class idle_thread {
 public:
  template <class Work>
  explicit idle_thread(Work work)
      : thread_([this, work] {
          work();
          idle_ = true;
          wake_.wait();
        }) {
    wait_for(idle_);
  }
  ~idle_thread() {
    wake_.open();
    thread_.join();
  }
  idle_thread(const idle_thread&) = delete;
  idle_thread& operator=(const idle_thread&) = delete;

 private:
  gate wake_;
  std::atomic<bool> idle_{false};
  std::thread thread_;
};

// 1. User code that builds a value runs unpinned: a writer stalled inside
// T's copy constructor holds nothing back.
TEST_F(reclamation, a_writer_stalled_in_a_value_copy_does_not_stop_reclamation) {
  domain d(service_config);
  snapcache::hash_map<int, resource> m(d, 0);
  gate release;
  resource::stall_gate = &release;
  const resource model(16);
  resource::stall_next = true;
  std::thread slow([&] { m.insert_or_assign(1, model); });  // stalls in resource's copy
  wait_for(resource::stalled);
  for (int i = 0; i < 20'000; ++i) m.insert_or_assign(2, resource(16));
  EXPECT_LE(d.stats().pending, bound(2)) << "the stalled writer held reclamation back (was 20,001)";
  release.open();
  slow.join();
}

// The same for update's callable, erase_if's predicate and emplace's
// constructor arguments: each runs unpinned.
TEST_F(reclamation, update_callables_and_erase_predicates_run_unpinned) {
  domain d(service_config);
  snapcache::hash_map<int, std::uint64_t> m(d, 0);
  m.insert(1, 1);
  gate release;
  std::atomic<bool> inside{false};
  std::thread updater([&] {
    m.update(1, [&](std::uint64_t v) {
      inside = true;
      release.wait();
      return v + 1;
    });
  });
  wait_for(inside);
  for (std::uint64_t i = 0; i < 20'000; ++i) m.insert_or_assign(2, i);
  EXPECT_LE(d.stats().pending, bound(2)) << "update's callable ran pinned";
  release.open();
  updater.join();
  EXPECT_EQ(m.find(1), std::optional<std::uint64_t>(2)) << "the update did not land after its callable returned";

  gate release2;
  std::atomic<bool> inside2{false};
  std::thread eraser([&] {
    EXPECT_TRUE(m.erase_if(1, [&](std::uint64_t) {
      inside2 = true;
      release2.wait();
      return true;
    }));
  });
  wait_for(inside2);
  for (std::uint64_t i = 0; i < 20'000; ++i) m.insert_or_assign(2, i);
  EXPECT_LE(d.stats().pending, bound(2)) << "erase_if's predicate ran pinned";
  release2.open();
  eraser.join();
  EXPECT_FALSE(m.contains(1));
}

TEST_F(reclamation, a_held_value_survives_its_replacement_until_the_callable_returns) {
  domain d(config{.batch = 1, .pins_per_step = 1});
  snapcache::hash_map<int, resource> m(d, 0);
  m.insert(1, resource(1));
  gate release;
  std::atomic<bool> inside{false};
  std::thread updater([&] {
    m.update(1, [&](const resource& r) {
      inside = true;
      release.wait();
      return resource(r.bytes + 1);  // reads the held version after it was replaced
    });
  });
  wait_for(inside);
  for (int i = 0; i < 1000; ++i) m.insert_or_assign(1, resource(7));  // replaces and retires the held one
  d.synchronize();
  EXPECT_GE(resource::live.load(), 2) << "the held version was freed while its callable ran";
  release.open();
  updater.join();
  EXPECT_EQ(m.find(1)->bytes, 8u) << "update's CAS saw a changed head: it must have decided again";
}

// 2. Nothing is stranded on an idle thread: what it retired is freed by
// other threads' operations, and at once by synchronize() anywhere.
TEST_F(reclamation, garbage_of_an_idle_thread_is_freed_by_other_threads_operations) {
  domain d(service_config);
  snapcache::hash_map<int, resource> big(d, 0);
  snapcache::hash_map<int, int> other(d, 0);
  const idle_thread owner([&] {
    big.insert_or_assign(2, resource(64u << 20));
    big.insert_or_assign(2, resource(1));  // retires 64 MiB: sealed for any thread to free at once
    big.insert_or_assign(1, resource(1));
    big.insert_or_assign(1, resource(1));  // retires a small value: it waits in the thread's bag
  });
  EXPECT_GE(resource::live.load(), 3) << "the small overwritten value was freed before its grace period";
  for (int i = 0; i < 2'000; ++i) other.insert_or_assign(i % 100, i);  // 2,000 operations of another thread
  EXPECT_EQ(resource::live.load(), 2) << "the idle thread's garbage was stranded";
  EXPECT_LT(d.stats().pending_bytes, 1u << 20);
}

TEST_F(reclamation, an_idle_threads_bag_is_freed_within_three_steps_of_a_thread_that_only_reads) {
  domain d(service_config);
  snapcache::hash_map<int, resource> m(d, 0);
  const idle_thread owner([&] {
    m.insert_or_assign(1, resource(1));
    m.insert_or_assign(1, resource(1));  // one small value retired: parked with the thread
  });
  ASSERT_EQ(resource::live.load(), 2);
  std::size_t reads = 0;
  std::thread([&] {
    while (resource::live.load() != 1 && reads < 100 * service_config.pins_per_step) {
      (void)m.contains(1);
      ++reads;
    }
  }).join();
  EXPECT_EQ(resource::live.load(), 1);
  EXPECT_LE(reads, 3 * service_config.pins_per_step) << "ebr.hpp promises 3 x pins_per_step pins";
}

TEST_F(reclamation, synchronize_on_any_thread_frees_an_idle_threads_garbage) {
  domain d(service_config);
  snapcache::hash_map<int, resource> m(d, 0);
  const idle_thread owner([&] {
    m.insert_or_assign(1, resource(64u << 20));
    m.insert_or_assign(1, resource(1));
  });
  std::thread([&] { d.synchronize(); }).join();  // a thread that never used the map
  EXPECT_EQ(resource::live.load(), 1);
  EXPECT_EQ(d.stats().pending, 0u);
}

TEST_F(reclamation, replaced_slot_arrays_of_an_idle_thread_are_freed_by_others) {
  domain d(service_config);
  snapcache::hash_map<int, int> m(d, 0);
  snapcache::hash_map<int, int> other(d, 0);
  const idle_thread owner([&] {
    m.reserve(500'000);
    m.reserve(1'000'000);  // retires the first table's slot array
  });
  for (int i = 0; i < 2'000; ++i) other.insert_or_assign(i % 100, i);
  EXPECT_LT(d.stats().pending_bytes, 1u << 20) << "the idle thread kept its replaced slot arrays";
}

// Bytes count as well as objects: large values are sealed for freeing at
// once, so pending bytes stay bounded while objects stay few.
TEST_F(reclamation, pending_bytes_stay_bounded_with_large_values) {
  domain d(service_config);
  snapcache::hash_map<int, resource> m(d, 0);
  std::uint64_t worst = 0;
  for (int i = 0; i < 2'000; ++i) {
    m.insert_or_assign(i % 4, resource(1u << 20));
    worst = std::max(worst, d.stats().pending_bytes);
  }
  // One thread: its open bag (< batch_bytes plus one value) and what was
  // sealed since its last step (as much again).
  EXPECT_LE(worst, 3 * (service_config.batch_bytes + (1u << 20) + 64));
}

// Bounded work per operation: a large retirement is freed a step at a time.
TEST_F(reclamation, a_large_retirement_is_freed_a_bounded_step_per_pin) {
  domain d(service_config);
  struct parts : snapcache::ebr::retirable {
    std::vector<std::unique_ptr<int>> items;
    static bool free_some(snapcache::ebr::retirable* r, std::size_t& budget) noexcept {
      auto* self = static_cast<parts*>(r);
      while (budget > 0 && !self->items.empty()) {
        self->items.pop_back();
        --budget;
      }
      if (!self->items.empty()) return false;
      delete self;
      return true;
    }
  };
  auto* big = new parts;
  for (int i = 0; i < 100'000; ++i) big->items.push_back(std::make_unique<int>(i));
  // Another thread is pinned when it is retired, so the retirer's own step
  // (which may free up to twice what it retired) cannot free it: later pins
  // of a thread that retired nothing must, a bounded step at a time.
  std::atomic<bool> pinned{false};
  gate unpin;
  std::thread reader([&] {
    const auto g = d.pin();
    pinned = true;
    unpin.wait();
  });
  wait_for(pinned);
  std::thread([&] {
    const auto g = d.pin();
    g.reserve();
    g.retire_in_steps(big, &parts::free_some, {100'000, 100'000 * sizeof(int)});
  }).join();
  unpin.open();
  reader.join();
  std::uint64_t before = d.stats().freed;
  std::uint64_t largest_step = 0;
  int pins = 0;
  while (d.stats().pending != 0 && pins < 1'000'000) {
    { const auto g = d.pin(); }
    ++pins;
    const std::uint64_t now = d.stats().freed;
    largest_step = std::max(largest_step, now - before);
    before = now;
  }
  EXPECT_EQ(d.stats().pending, 0u);
  EXPECT_LE(largest_step, 2 * batch) << "one pin freed more than a step's budget";
  EXPECT_GE(pins, static_cast<int>(100'000 / (2 * batch)));
}

// 3 and 4. The query cache: a retrying writer pins per attempt, a large
// write completes next to single inserts, and no lookup pays for freeing a
// whole state.
snapcache::query_entry entry(std::uint64_t i, std::size_t payload = 0) {
  snapcache::query_entry e;
  e.id = "q" + std::to_string(i);
  e.query = "SELECT " + std::to_string(i);
  e.state = snapcache::query_state::succeeded;
  e.statement_type = snapcache::statement_kind::dml;
  e.submitted_at = snapcache::cache_clock::time_point(std::chrono::seconds(1'000'000 + i));
  e.completed_at = e.submitted_at + std::chrono::seconds(1);
  e.output_location = "s3://bucket/" + e.id;
  if (payload != 0) {
    e.payload = std::make_shared<std::vector<char>>(payload);
    e.payload_bytes = payload;
  }
  return e;
}

TEST_F(reclamation, a_large_batch_completes_next_to_two_single_insert_threads) {
  snapcache::query_cache cache(100'000);
  std::vector<snapcache::query_entry> batch_entries;
  for (std::uint64_t i = 0; i < 20'000 / scale; ++i) batch_entries.push_back(entry(1'000'000 + i));
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> singles{0};
  auto single = [&](std::uint64_t base) {
    for (std::uint64_t i = 0; !done.load(); ++i) {
      cache.insert(entry(base + i % 50'000, 1024));
      singles.fetch_add(1);
    }
  };
  std::thread s1(single, 0), s2(single, 50'000);
  while (singles.load() < 100) std::this_thread::yield();
  const auto results = cache.insert(batch_entries);  // starved forever before helping
  done = true;
  s1.join();
  s2.join();
  ASSERT_EQ(results.size(), batch_entries.size());
  for (const auto& e : batch_entries) EXPECT_TRUE(cache.contains(e.id)) << e.id;
}

TEST_F(reclamation, no_lookup_frees_more_than_a_step_after_a_whole_state_is_retired) {
  auto& g = domain::global();
  g.synchronize();
  snapcache::query_cache cache(300'000);
  std::vector<snapcache::query_entry> fill;
  const std::uint64_t entries = 200'000 / scale;
  for (std::uint64_t i = 0; i < entries; ++i) fill.push_back(entry(i));
  cache.insert(fill);
  // Another thread is pinned when the state goes: nothing can be freed yet.
  std::atomic<bool> pinned{false};
  gate unpin;
  std::thread reader([&] {
    const auto guard = g.pin();
    pinned = true;
    unpin.wait();
  });
  wait_for(pinned);
  cache.set_capacity(1);
  const std::uint64_t retired = g.stats().pending;
  EXPECT_GE(retired, entries) << "the old state's objects are pending";
  unpin.open();
  reader.join();
  // Lookups on a thread that never wrote: each frees at most one step.
  std::thread([&] {
    std::uint64_t before = g.stats().freed;
    std::uint64_t largest = 0;
    long lookups = 0;
    while (g.stats().pending > 2 * bound(3) && lookups < 10'000'000) {
      (void)cache.lookup("SELECT 1", std::chrono::hours(1), snapcache::unlimited, snapcache::cache_clock::now());
      ++lookups;
      const std::uint64_t now = g.stats().freed;
      largest = std::max(largest, now - before);
      before = now;
    }
    EXPECT_LE(g.stats().pending, 2 * bound(3)) << "the retired state was never freed";
    EXPECT_LE(largest, 2 * g.settings().batch) << "one lookup freed more than a step";
    EXPECT_GE(lookups, static_cast<long>(retired / (2 * g.settings().batch)) / 2);
  }).join();
}

TEST_F(reclamation, a_retrying_cache_writer_does_not_hold_reclamation_back) {
  auto& g = domain::global();
  g.synchronize();
  snapcache::query_cache cache(1'000);
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> worst{0};
  std::thread small([&] {
    for (std::uint64_t i = 0; !done.load(); ++i) {
      cache.insert(entry(i % 5'000, 1024));
      const std::uint64_t pending = g.stats().pending_bytes;
      if (pending > worst.load()) worst = pending;
    }
  });
  std::vector<snapcache::query_entry> batch_entries;
  for (std::uint64_t i = 0; i < 2'000; ++i) batch_entries.push_back(entry(10'000 + i, 1024));
  for (int round = 0; round < 5; ++round) cache.insert(batch_entries);
  done = true;
  small.join();
  // Each batch replaces ~1,000 entries: one write's garbage, plus the bound.
  EXPECT_LE(worst.load(), std::uint64_t{16} << 20) << "pending bytes grew with the batch's retries";
}

// 6. Diagnostics are safe beside a writer that migrates.
TEST_F(reclamation, diagnostics_may_run_beside_migrations) {
  snapcache::hash_map<std::uint64_t, std::uint64_t> m;
  std::atomic<bool> done{false};
  std::thread monitor([&] {
    std::size_t calls = 0;
    while (!done.load()) {
      (void)m.longest_chain();
      (void)m.bucket_count();
      ++calls;
    }
    EXPECT_GT(calls, 0u);
  });
  for (int round = 0; round < 20; ++round) {
    for (std::uint64_t k = 0; k < 5'000; ++k) m.insert(k, k);
    for (std::uint64_t k = 0; k < 5'000; ++k) m.erase(k);
  }
  done = true;
  monitor.join();
  EXPECT_GE(m.migrations(), 20u);
}

// 7. Values do not outlive their container unnoticed.
TEST_F(reclamation, values_of_a_destroyed_map_are_freed_by_other_threads_and_by_synchronize) {
  domain d(service_config);
  {
    snapcache::hash_map<int, resource> m(d, 0);
    for (int i = 0; i < 10; ++i) m.insert_or_assign(1, resource(1));  // nine retired
  }
  EXPECT_GT(resource::live.load(), 0) << "retired values wait for a grace period";
  std::thread([&] {
    snapcache::hash_map<int, int> other(d, 0);
    for (int i = 0; i < 2'000; ++i) other.insert_or_assign(i % 10, i);
  }).join();
  EXPECT_EQ(resource::live.load(), 0) << "values outlived their map";

  {
    snapcache::hash_map<int, resource> m(d, 0);
    for (int i = 0; i < 10; ++i) m.insert_or_assign(1, resource(1));
  }
  d.synchronize();
  EXPECT_EQ(resource::live.load(), 0) << "synchronize() left values of a destroyed map";
}

TEST_F(reclamation, payloads_of_a_destroyed_cache_are_freed_by_synchronize) {
  std::weak_ptr<const void> watched;
  {
    snapcache::query_cache cache(10);
    auto e = entry(1, 1 << 20);
    watched = e.payload;
    cache.insert(e);
    e.payload.reset();
    cache.insert(entry(1));  // replaces it: the old record is retired
  }
  domain::global().synchronize();
  EXPECT_TRUE(watched.expired()) << "a payload outlived its cache and synchronize()";
}

}  // namespace
