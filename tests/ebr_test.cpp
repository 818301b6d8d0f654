// Unit tests for snapcache::ebr.
#include "snapcache/ebr.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <csignal>
#include <functional>
#include <latch>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "failing_new.hpp"
#include "under_tsan.hpp"

namespace {

using snapcache::ebr::config;
using snapcache::ebr::domain;
using snapcache::ebr::guard;
using snapcache::ebr::retirable;

// Counts live objects and how often each was reclaimed.
struct counted : retirable {
  static inline std::atomic<int> live{0};
  static inline std::atomic<int> reclaimed{0};
  counted() { live.fetch_add(1, std::memory_order_relaxed); }  // test counter only
  ~counted() { live.fetch_sub(1, std::memory_order_relaxed); }  // test counter only
  static void reclaim(retirable* self) noexcept {
    reclaimed.fetch_add(1, std::memory_order_relaxed);  // test counter only
    delete static_cast<counted*>(self);
  }
  static void reset() {
    live = 0;
    reclaimed = 0;
  }
};

constexpr config eager{.batch = 1, .pins_per_step = 1};

class ebr_test : public ::testing::Test {
 protected:
  void SetUp() override { counted::reset(); }
  void TearDown() override { EXPECT_EQ(counted::live.load(), 0) << "an object leaked"; }
};

TEST_F(ebr_test, guards_nest_and_only_the_outermost_unpins) {
  domain d(eager);
  {
    guard outer = d.pin();
    {
      guard inner = d.pin();
      EXPECT_EQ(d.stats().pinned, 1u);
    }
    EXPECT_EQ(d.stats().pinned, 1u) << "the inner guard unpinned the thread";
  }
  EXPECT_EQ(d.stats().pinned, 0u);
}

// The unpin's fast path is one decrement and a store; a retire must force
// the slow one (which parks the open bag) even when it happens in a nested
// guard and the periodic countdown is far from zero.
TEST_F(ebr_test, a_retire_in_a_nested_guard_is_parked_at_the_outermost_unpin) {
  domain d(config{.batch = 64, .pins_per_step = 1000});
  {
    guard outer = d.pin();
    {
      guard inner = d.pin();
      inner.retire(new counted, &counted::reclaim);
    }
    EXPECT_EQ(d.stats().pinned, 1u);
  }
  EXPECT_EQ(d.stats().pinned, 0u);
  d.synchronize();  // frees what is parked on the shelves, not what a thread keeps open
  EXPECT_EQ(counted::reclaimed.load(), 1) << "the open bag was not parked at the unpin";
  // The periodic countdown survives the forced slow unpin: later pins that
  // retire nothing take the fast path and leave nothing behind.
  for (int i = 0; i < 10; ++i) {
    guard g = d.pin();
  }
  EXPECT_EQ(d.stats().pinned, 0u);
}

TEST_F(ebr_test, moved_from_guard_does_not_unpin) {
  domain d(eager);
  guard a = d.pin();
  guard b = std::move(a);
  EXPECT_FALSE(a.pinned());
  EXPECT_TRUE(b.pinned());
  EXPECT_EQ(d.stats().pinned, 1u);
  b.reset();
  EXPECT_EQ(d.stats().pinned, 0u);
}

TEST_F(ebr_test, retire_frees_exactly_once_after_the_guard_is_gone) {
  domain d(eager);
  {
    guard g = d.pin();
    for (int i = 0; i < 100; ++i) g.retire(new counted, &counted::reclaim);
    EXPECT_EQ(counted::reclaimed.load(), 0) << "freed while its retiring thread was pinned";
  }
  d.synchronize();
  EXPECT_EQ(counted::reclaimed.load(), 100);
  EXPECT_EQ(counted::live.load(), 0);
}

TEST_F(ebr_test, retire_waits_for_every_pinned_thread) {
  domain d(eager);
  std::atomic<int> phase{0};
  std::thread reader([&] {
    guard g = d.pin();
    phase.store(1);
    while (phase.load() != 2) std::this_thread::yield();
  });
  while (phase.load() != 1) std::this_thread::yield();
  {
    guard g = d.pin();
    g.retire(new counted, &counted::reclaim);
  }
  // Advance attempts from this thread (pins with pins_per_step = 1).
  for (int i = 0; i < 100; ++i) guard g = d.pin();
  EXPECT_EQ(counted::reclaimed.load(), 0) << "freed while another thread was pinned";
  phase.store(2);
  reader.join();
  d.synchronize();
  EXPECT_EQ(counted::reclaimed.load(), 1);
}

TEST_F(ebr_test, object_retired_after_a_pin_outlives_that_pin_only) {
  domain d(eager);
  std::atomic<int> phase{0};
  std::thread reader([&] {
    {
      guard g = d.pin();
      phase.store(1);
      while (phase.load() != 2) std::this_thread::yield();
    }
    phase.store(3);
    while (phase.load() != 4) std::this_thread::yield();
  });
  while (phase.load() != 1) std::this_thread::yield();
  {
    guard g = d.pin();
    g.retire(new counted, &counted::reclaim);
  }
  EXPECT_EQ(counted::reclaimed.load(), 0);
  phase.store(2);
  while (phase.load() != 3) std::this_thread::yield();
  // The reader is alive but unpinned: nothing holds the object any more.
  d.synchronize();
  EXPECT_EQ(counted::reclaimed.load(), 1);
  phase.store(4);
  reader.join();
}

TEST_F(ebr_test, thread_exit_with_pending_garbage_is_adopted_and_freed) {
  domain d(config{.batch = 1000, .pins_per_step = 0});
  std::thread retirer([&] {
    guard g = d.pin();
    for (int i = 0; i < 10; ++i) g.retire(new counted, &counted::reclaim);
  });
  retirer.join();
  EXPECT_EQ(d.stats().pending, 10u) << "the exited thread's garbage was lost or freed early";
  d.synchronize();  // adopts the exited thread's record
  EXPECT_EQ(counted::reclaimed.load(), 10);
  EXPECT_EQ(d.stats().pending, 0u);
}

TEST_F(ebr_test, next_thread_to_register_adopts_the_record_of_an_exited_one) {
  domain d(config{.batch = 1000, .pins_per_step = 0});
  std::thread([&] {
    guard g = d.pin();
    g.retire(new counted, &counted::reclaim);
  }).join();
  std::thread([&] { guard g = d.pin(); }).join();
  EXPECT_EQ(d.stats().records, 1u) << "the record was not reused";
  d.synchronize();
  EXPECT_EQ(counted::reclaimed.load(), 1);
}

TEST_F(ebr_test, registry_stays_bounded_after_1000_short_lived_threads) {
  domain d(eager);
  for (int i = 0; i < 1000; ++i) {
    std::thread([&] {
      guard g = d.pin();
      g.retire(new counted, &counted::reclaim);
    }).join();
  }
  EXPECT_LE(d.stats().records, 2u);
  d.synchronize();
  EXPECT_EQ(counted::reclaimed.load(), 1000);
}

TEST_F(ebr_test, registry_bounded_by_peak_concurrent_threads) {
  domain d(eager);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) threads.emplace_back([&] { guard g = d.pin(); });
    for (auto& t : threads) t.join();
  }
  EXPECT_LE(d.stats().records, 4u);
}

TEST_F(ebr_test, user_domain_destroyed_before_its_threads_exit) {
  auto d = std::make_unique<domain>(config{.batch = 1000, .pins_per_step = 0});
  std::atomic<int> phase{0};
  std::thread worker([&] {
    {
      guard g = d->pin();
      g.retire(new counted, &counted::reclaim);
    }
    phase.store(1);
    while (phase.load() != 2) std::this_thread::yield();
    // Exits after the domain is gone: must not touch its freed memory (ASan).
  });
  while (phase.load() != 1) std::this_thread::yield();
  d.reset();
  EXPECT_EQ(counted::reclaimed.load(), 1) << "destroying the domain must free what is pending";
  phase.store(2);
  worker.join();
}

TEST_F(ebr_test, destroying_a_domain_frees_everything_pending) {
  {
    domain d(config{.batch = 1000, .pins_per_step = 0});
    guard g = d.pin();
    for (int i = 0; i < 50; ++i) g.retire(new counted, &counted::reclaim);
    g.reset();
  }
  EXPECT_EQ(counted::reclaimed.load(), 50);
}

TEST_F(ebr_test, first_pin_under_failing_operator_new_throws_and_recovers) {
  domain d(eager);
  std::thread([&] {
    const std::size_t failures = snapcache::test::sweep_allocation_failures(
        [&] { guard g = d.pin(); },
        [&](std::size_t) {
          EXPECT_EQ(d.stats().pinned, 0u);
          EXPECT_EQ(d.stats().records, 0u) << "a failed registration left a record";
        });
    EXPECT_GE(failures, 1u) << "registration did not allocate: the sweep tested nothing";
    // Registered now: later pins never allocate.
    const std::size_t before = snapcache::test::allocations_by_this_thread();
    for (int i = 0; i < 100; ++i) guard g = d.pin();
    EXPECT_EQ(snapcache::test::allocations_by_this_thread(), before);
  }).join();
}

TEST_F(ebr_test, default_domain_first_pin_under_failing_operator_new_throws_and_recovers) {
  std::thread([&] {
    snapcache::test::sweep_allocation_failures([&] { guard g = snapcache::ebr::pin(); },
                                               [&](std::size_t) {});
    guard g = snapcache::ebr::pin();
    EXPECT_TRUE(g.pinned());
  }).join();
}

TEST_F(ebr_test, defer_under_failing_operator_new_takes_no_ownership) {
  domain d(eager);
  auto* object = new counted;
  {
    guard g = d.pin();
    snapcache::test::sweep_allocation_failures(
        [&] { g.retire(object); },
        [&](std::size_t) { EXPECT_EQ(d.stats().retired, 0u); });
  }
  d.synchronize();
  EXPECT_EQ(counted::live.load(), 0);
}

// Objects without a header, for retire_raw.
struct plain_object {
  static inline std::atomic<int> live{0};
  plain_object() { live.fetch_add(1, std::memory_order_relaxed); }   // test counter only
  ~plain_object() { live.fetch_sub(1, std::memory_order_relaxed); }  // test counter only
  static void reclaim(void* self) noexcept { delete static_cast<plain_object*>(self); }
};

TEST_F(ebr_test, raw_retire_frees_after_the_grace_period_only) {
  domain d(config{.batch = 1000, .pins_per_step = 0});
  plain_object::live = 0;
  {
    guard g = d.pin();
    g.reserve();
    for (int i = 0; i < 200; ++i) {
      if (i % 50 == 0) g.reserve();
      g.retire_raw(new plain_object, &plain_object::reclaim);
    }
    guard other = d.pin();  // nested: still pinned
    EXPECT_EQ(plain_object::live.load(), 200);
    EXPECT_EQ(d.stats().pending, 200u);
  }
  d.synchronize();
  EXPECT_EQ(plain_object::live.load(), 0);
  EXPECT_EQ(d.stats().pending, 0u);
}

TEST_F(ebr_test, raw_retire_after_reserve_never_allocates_and_bags_are_recycled) {
  domain d(config{.batch = 16, .pins_per_step = 0});
  plain_object::live = 0;
  std::thread([&] {
    // Warm up: registration and the first bags.
    for (int round = 0; round < 4; ++round) {
      guard g = d.pin();
      g.reserve();
      for (int i = 0; i < 40; ++i) g.retire_raw(new plain_object, &plain_object::reclaim);
    }
    // Steady state: each round reserves, then retires 40 objects (allocated
    // before counting); bags come back from collection, so no round allocates.
    std::size_t bag_allocations = 0;
    for (int round = 0; round < 100; ++round) {
      std::vector<plain_object*> objects;
      objects.reserve(40);
      for (int i = 0; i < 40; ++i) objects.push_back(new plain_object);
      guard g = d.pin();
      const std::size_t before = snapcache::test::allocations_by_this_thread();
      g.reserve();
      for (plain_object* object : objects) g.retire_raw(object, &plain_object::reclaim);
      bag_allocations += snapcache::test::allocations_by_this_thread() - before;
    }
    EXPECT_LE(bag_allocations, 4u) << "bags are not recycled";
  }).join();
  d.synchronize();
  EXPECT_EQ(plain_object::live.load(), 0);
}

TEST_F(ebr_test, reserve_under_failing_operator_new_throws_and_changes_nothing) {
  domain d(config{.batch = 1000, .pins_per_step = 0});
  std::thread([&] {
    guard g = d.pin();
    // Use up any spare bag the registration left.
    for (int i = 0; i < 200; ++i) {
      g.reserve();
      g.retire_raw(new plain_object, &plain_object::reclaim);
    }
    std::size_t failures = 0;
    for (int i = 0; i < 300; ++i) {
      snapcache::test::fail_nth_allocation(0);
      try {
        g.reserve();
      } catch (const std::bad_alloc&) {
        ++failures;
      }
      snapcache::test::disarm_allocation_failure();
      g.reserve();
      g.retire_raw(new plain_object, &plain_object::reclaim);
    }
    EXPECT_GT(failures, 0u) << "reserve() never allocated: the failure path was not tested";
    EXPECT_FALSE(g.try_reserve() == false);
  }).join();
  d.synchronize();
  EXPECT_EQ(plain_object::live.load(), 0);
}

TEST_F(ebr_test, defer_runs_the_callable_once_after_the_grace_period) {
  domain d(eager);
  int runs = 0;
  {
    guard g = d.pin();
    g.defer([&runs]() noexcept { ++runs; });
    EXPECT_EQ(runs, 0);
  }
  d.synchronize();
  EXPECT_EQ(runs, 1);
}

TEST_F(ebr_test, generic_retire_uses_the_deleter) {
  domain d(eager);
  int deleted = 0;
  auto deleter = [&deleted](int* p) noexcept {
    ++deleted;
    delete p;
  };
  {
    guard g = d.pin();
    g.retire(new int(7), deleter);
  }
  d.synchronize();
  EXPECT_EQ(deleted, 1);
}

TEST_F(ebr_test, statistics_move_as_documented) {
  domain d(config{.batch = 1000, .pins_per_step = 0});
  const auto before = d.stats();
  EXPECT_EQ(before.retired, 0u);
  EXPECT_EQ(before.records, 0u);
  {
    guard g = d.pin();
    for (int i = 0; i < 5; ++i) g.retire(new counted, &counted::reclaim);
    const auto during = d.stats();
    EXPECT_EQ(during.retired, 5u);
    EXPECT_EQ(during.freed, 0u);
    EXPECT_EQ(during.pending, 5u);
    EXPECT_EQ(during.pinned, 1u);
    EXPECT_EQ(during.records, 1u);
  }
  d.synchronize();
  const auto after = d.stats();
  EXPECT_GE(after.epoch, before.epoch + 2);
  EXPECT_EQ(after.retired, 5u);
  EXPECT_EQ(after.freed, 5u);
  EXPECT_EQ(after.pending, 0u);
  EXPECT_EQ(after.pinned, 0u);
}

// The bound of ebr.hpp: each thread's open bag (< batch), and what was
// sealed since the last step that could advance (< 2 x threads x batch).
TEST_F(ebr_test, pending_stays_within_three_times_threads_times_batch_while_threads_progress) {
  constexpr std::size_t batch = 8;
  constexpr int threads = 2;
  domain d(config{.batch = batch, .pins_per_step = 0});
  std::barrier step(threads);
  std::atomic<std::uint64_t> worst{0};
  auto work = [&] {
    for (int i = 0; i < 2000; ++i) {
      {
        guard g = d.pin();
        g.retire(new counted, &counted::reclaim);
      }
      // Threads take turns, so every advance attempt finds the other unpinned.
      step.arrive_and_wait();
      const std::uint64_t pending = d.stats().pending;
      std::uint64_t seen = worst.load();
      while (pending > seen && !worst.compare_exchange_weak(seen, pending)) {
      }
      step.arrive_and_wait();
    }
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  EXPECT_LE(worst.load(), 3 * threads * batch);
  EXPECT_GT(worst.load(), 0u);
  d.synchronize();
}

TEST_F(ebr_test, invalid_config_throws_invalid_argument) {
  EXPECT_THROW(domain(config{.batch = 0, .pins_per_step = 1}), std::invalid_argument);
}

TEST_F(ebr_test, protect_loads_the_current_pointer) {
  int value = 5;
  std::atomic<int*> source{&value};
  guard g = snapcache::ebr::pin();
  EXPECT_EQ(snapcache::ebr::protect(source, g), &value);
}

}  // namespace

namespace {

// An object retired with a weight stands for that many (a bag freed by one
// reclaim call): it counts that much in the statistics and toward `batch`,
// so a bag of 64 makes the unpin reclaim where 64 single objects would.
TEST_F(ebr_test, a_weighted_retire_counts_its_weight) {
  domain d(config{.batch = 64, .pins_per_step = 0});
  std::thread([&] {
    {
      guard g = d.pin();
      g.retire(new counted, &counted::reclaim, {10, 0});
    }
    EXPECT_EQ(d.stats().retired, 10u);
    EXPECT_EQ(d.stats().pending, 10u);
    EXPECT_EQ(counted::reclaimed.load(), 0) << "10 < batch: nothing reclaimed yet";
    {
      guard g = d.pin();
      g.retire(new counted, &counted::reclaim, {54, 0});  // 64 now: the unpin reclaims
    }
    EXPECT_EQ(counted::reclaimed.load(), 2);
    EXPECT_EQ(d.stats().freed, 64u);
    EXPECT_EQ(d.stats().pending, 0u);
  }).join();
  EXPECT_EQ(counted::live.load(), 0);
}

TEST_F(ebr_test, captureless_noexcept_lambda_takes_the_intrusive_path) {
  domain d(eager);
  std::thread([&] {
    {
      guard warm = d.pin();
      warm.reserve();  // the intrusive path allocates nothing after a reserve
    }
    const std::size_t before = snapcache::test::allocations_by_this_thread();
    auto* object = new counted;
    {
      guard g = d.pin();
      g.retire(object, [](retirable* r) noexcept { counted::reclaim(r); });
    }
    EXPECT_EQ(snapcache::test::allocations_by_this_thread(), before + 1) << "retire allocated";
  }).join();
  d.synchronize();
  EXPECT_EQ(counted::reclaimed.load(), 1);
}

}  // namespace

namespace {

TEST_F(ebr_test, a_thread_forgets_domains_destroyed_since_it_used_them) {
  std::thread([] {
    for (int i = 0; i < 2000; ++i) {
      domain d(eager);
      guard g = d.pin();
    }
    // Registering in a fresh domain after 2,000 dead ones allocates no more
    // than the first registrations did: dead entries were dropped.
    const std::size_t before = snapcache::test::allocations_by_this_thread();
    {
      domain d(eager);
      guard g = d.pin();
    }
    EXPECT_LE(snapcache::test::allocations_by_this_thread() - before, 2u);  // the domain and its record
  }).join();
}

}  // namespace

namespace {

// A thread_local destructor that runs after the thread's EBR registrations
// were released (it was constructed before the thread's first pin) pins and
// retires: the pin works and the retired object is freed later.
snapcache::ebr::domain* late_domain = nullptr;
std::atomic<bool> late_pinned{false};
struct late_retirer {
  bool armed = false;
  ~late_retirer() {
    if (!armed || late_domain == nullptr) return;
    guard outer = late_domain->pin();
    {
      guard inner = late_domain->pin();  // nested: the same record
      inner.retire(new counted, &counted::reclaim);
    }
    late_pinned = outer.pinned();
  }
};
thread_local late_retirer tl_late_retirer;

TEST_F(ebr_test, a_thread_local_destructor_after_thread_exit_cleanup_can_pin_and_retire) {
  domain d(config{.batch = 64, .pins_per_step = 0});
  late_domain = &d;
  std::thread([&] {
    tl_late_retirer.armed = true;  // constructed before the first pin below
    guard g = d.pin();
    g.retire(new counted, &counted::reclaim);
  }).join();
  late_domain = nullptr;
  EXPECT_TRUE(late_pinned.load());
  d.synchronize();
  EXPECT_EQ(counted::live.load(), 0) << "what the late destructor retired was not freed";
  EXPECT_EQ(d.stats().pinned, 0u);
}

}  // namespace

// ---- fork() ----------------------------------------------------------------
// Under ThreadSanitizer a multi-threaded process's child may not use what
// TSan tracks; these run in the release and ASan builds.
#if !defined(SNAPCACHE_TEST_UNDER_TSAN)

// Runs child() in a forked child (its stderr into a pipe) and returns the
// raw wait status and what it wrote to stderr.
std::pair<int, std::string> in_child(const std::function<int()>& child) {
  int err[2];
  if (pipe(err) != 0) return {-1, "pipe failed"};
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(err[1], 2);
    close(err[0]);
    _exit(child());
  }
  close(err[1]);
  std::string text;
  char buf[512];
  for (ssize_t n; (n = read(err[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
  close(err[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {status, text};
}

TEST_F(ebr_test, a_fork_while_another_thread_is_pinned_fails_loudly_in_the_child) {
  domain d(eager);
  std::latch pinned(1), forked(1);
  std::thread holder([&] {
    guard g = d.pin();
    pinned.count_down();
    forked.wait();
  });
  pinned.wait();
  const auto [status, text] = in_child([&] {
    for (int i = 0; i < 8; ++i) {
      guard g = d.pin();  // eager: every unpin collects, and so checks
      g.retire(new counted, &counted::reclaim);
    }
    return 0;  // not reached
  });
  forked.count_down();
  holder.join();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) << "the child went on; status " << status;
  EXPECT_NE(text.find("forked while another thread"), std::string::npos) << text;
}

TEST_F(ebr_test, a_fork_while_other_threads_are_idle_reclaims_in_the_child) {
  domain d(eager);
  std::latch idle(1), forked(1);
  std::thread other([&] {
    {
      guard g = d.pin();  // registered, then unpinned: idle at the fork
      g.retire(new counted, &counted::reclaim);
    }
    idle.count_down();
    forked.wait();
  });
  idle.wait();
  const auto [status, text] = in_child([&] {
    const int before = counted::reclaimed.load();
    for (int i = 0; i < 10; ++i) {
      guard g = d.pin();
      g.retire(new counted, &counted::reclaim);
    }
    d.synchronize();
    return counted::reclaimed.load() - before >= 10 ? 0 : 1;
  });
  forked.count_down();
  other.join();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status << ": " << text;
}

#endif
