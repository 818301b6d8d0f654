#include "snapcache/detail/test_hooks.hpp"

#if defined(SNAPCACHE_TEST_HOOKS) && SNAPCACHE_TEST_HOOKS

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>

namespace snapcache::detail {
namespace {

constexpr const char* bug_names[] = {
    "none",
    "free_without_grace_period",
    "snapshot_reads_live_value",
    "insert_check_then_act",
    "locked_cache_unlocked_reads",
    "migration_copy_without_freeze",
    "migration_early_install",
    "migration_drops_visible_key",
    "scan_skips_unfinished_migration",
    "migration_place_without_recheck",
};

// Settings are written once at start-up and read on hot paths; relaxed:
// configuration only, nothing is published through them.
std::atomic<int> planted_value{-1};          // -1: not yet read from the environment
std::atomic<int> perturb_per_mille{-1};

int read_planted_from_env() noexcept {
  const char* name = std::getenv("SNAPCACHE_PLANT");
  return static_cast<int>(name ? planted_bug_from_name(name) : planted_bug::none);
}

int read_perturb_from_env() noexcept {
  const char* value = std::getenv("SNAPCACHE_PERTURB");
  if (value == nullptr) return 0;
  const long parsed = std::strtol(value, nullptr, 10);
  return parsed < 0 ? 0 : (parsed > 1000 ? 1000 : static_cast<int>(parsed));
}

}  // namespace

planted_bug planted_bug_from_name(const char* name) noexcept {
  for (std::size_t i = 0; i < std::size(bug_names); ++i) {
    if (std::strcmp(name, bug_names[i]) == 0) return static_cast<planted_bug>(i);
  }
  return planted_bug::none;
}

void plant(planted_bug bug) noexcept {
  planted_value.store(static_cast<int>(bug), std::memory_order_relaxed);  // configuration only
}

planted_bug planted() noexcept {
  int value = planted_value.load(std::memory_order_relaxed);  // configuration only
  if (value < 0) {
    value = read_planted_from_env();
    planted_value.store(value, std::memory_order_relaxed);  // configuration only
  }
  return static_cast<planted_bug>(value);
}

void set_perturbation(unsigned per_mille) noexcept {
  perturb_per_mille.store(static_cast<int>(per_mille > 1000 ? 1000 : per_mille),
                          std::memory_order_relaxed);  // configuration only
}

void perturb_point() noexcept {
  int chance = perturb_per_mille.load(std::memory_order_relaxed);  // configuration only
  if (chance < 0) {
    chance = read_perturb_from_env();
    perturb_per_mille.store(chance, std::memory_order_relaxed);  // configuration only
  }
  if (chance == 0) return;
  thread_local std::minstd_rand rng{std::random_device{}()};
  if (static_cast<int>(rng() % 1000) < chance) std::this_thread::yield();
}

namespace {
// The armed site, and whether a thread sits parked. Test control flags:
// seq_cst, so the test's view of "parked" is never stale.
std::atomic<int> armed_site{0};
std::atomic<bool> parked_now{false};
std::atomic<bool> release_requested{false};
}  // namespace

void arm_park(park_site site) noexcept {
  release_requested.store(false, std::memory_order_seq_cst);
  armed_site.store(static_cast<int>(site), std::memory_order_seq_cst);
}

bool is_parked() noexcept { return parked_now.load(std::memory_order_seq_cst); }

void release_parked() noexcept {
  armed_site.store(0, std::memory_order_seq_cst);
  release_requested.store(true, std::memory_order_seq_cst);
}

void park_point(park_site site) noexcept {
  int expected = static_cast<int>(site);
  if (armed_site.load(std::memory_order_seq_cst) != expected) return;
  // Only one thread parks: the one that disarms the site.
  if (!armed_site.compare_exchange_strong(expected, 0, std::memory_order_seq_cst)) return;
  parked_now.store(true, std::memory_order_seq_cst);
  while (!release_requested.load(std::memory_order_seq_cst)) std::this_thread::yield();
  parked_now.store(false, std::memory_order_seq_cst);
}

}  // namespace snapcache::detail

#endif
