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
    "migration_drop_ignores_placing",
    "migration_place_without_recheck",
    "scan_without_table_reference",
    "cache_read_without_pin",
    "free_ignoring_holds",
    "writer_pinned_across_retries",
    "closed_slot_freed_at_once",
    "recheck_trusts_stale_above",
    "record_not_handed_on",
    "pair_read_apart",
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

namespace {
std::atomic<bool> plain_versions{false};
}  // namespace

void force_plain_versions(bool on) noexcept {
  plain_versions.store(on, std::memory_order_relaxed);  // configuration only
}

bool plain_versions_forced() noexcept {
  return plain_versions.load(std::memory_order_relaxed);  // configuration only
}

void set_perturbation(unsigned per_mille) noexcept {
  perturb_per_mille.store(static_cast<int>(per_mille > 1000 ? 1000 : per_mille),
                          std::memory_order_relaxed);  // configuration only
}

namespace {
int perturbation_chance() noexcept {
  int chance = perturb_per_mille.load(std::memory_order_relaxed);  // configuration only
  if (chance < 0) {
    chance = read_perturb_from_env();
    perturb_per_mille.store(chance, std::memory_order_relaxed);  // configuration only
  }
  return chance;
}

void maybe_yield(int per_mille) noexcept {
  if (per_mille == 0) return;
  thread_local std::minstd_rand rng{std::random_device{}()};
  if (static_cast<int>(rng() % 1000) < per_mille) std::this_thread::yield();
}
}  // namespace

void perturb_point() noexcept { maybe_yield(perturbation_chance()); }

void perturb_rare_point() noexcept {
  const int chance = perturbation_chance();
  maybe_yield(chance * 10 < 500 ? chance * 10 : 500);
}

namespace {
// Per site: armed (the next thread to arrive parks), parked (a thread sits
// there), released (it may go). Test control flags: seq_cst, so the test's
// view of "parked" is never stale.
constexpr std::size_t site_count = 32;
struct site_state {
  std::atomic<bool> armed{false};
  std::atomic<bool> parked{false};
  std::atomic<bool> released{false};
};
site_state sites[site_count];
std::atomic<int> last_armed{0};

site_state& state_of(park_site site) noexcept { return sites[static_cast<std::size_t>(site) % site_count]; }
}  // namespace

void arm_park(park_site site) noexcept {
  site_state& s = state_of(site);
  s.released.store(false, std::memory_order_seq_cst);
  s.armed.store(true, std::memory_order_seq_cst);
  last_armed.store(static_cast<int>(site), std::memory_order_seq_cst);
}

bool is_parked(park_site site) noexcept { return state_of(site).parked.load(std::memory_order_seq_cst); }

void release_parked(park_site site) noexcept {
  site_state& s = state_of(site);
  s.armed.store(false, std::memory_order_seq_cst);
  s.released.store(true, std::memory_order_seq_cst);
}

bool is_parked() noexcept { return is_parked(static_cast<park_site>(last_armed.load(std::memory_order_seq_cst))); }
void release_parked() noexcept { release_parked(static_cast<park_site>(last_armed.load(std::memory_order_seq_cst))); }

void park_point(park_site site) noexcept {
  site_state& s = state_of(site);
  if (!s.armed.load(std::memory_order_seq_cst)) return;
  // Only one thread parks per arming: the one that disarms the site.
  bool expected = true;
  if (!s.armed.compare_exchange_strong(expected, false, std::memory_order_seq_cst)) return;
  s.parked.store(true, std::memory_order_seq_cst);
  while (!s.released.load(std::memory_order_seq_cst)) std::this_thread::yield();
  s.parked.store(false, std::memory_order_seq_cst);
}

}  // namespace snapcache::detail

#endif
