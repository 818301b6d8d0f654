// Schedule tests of the migration protocol (detail/migration.hpp): each one
// parks threads at chosen steps (test hooks) and releases them in the order
// that breaks the protocol if one of its synchronisations is missing. They
// are the detectors of the planted bugs whose windows are too narrow for a
// stress run to hit reliably: deterministic, so a planted bug fails them in
// every run (stress/meson.build runs each 20 times with its bug planted).
//
// The maps hash with unseeded_hash (the identity on integers, used unmixed):
// a key's home slot is its top bits scaled to the capacity, so key(k) = k << 61
// lives in slot k of a fresh 8-slot table.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include "snapcache/detail/test_hooks.hpp"
#include "snapcache/ebr.hpp"
#include "snapcache/hash_map.hpp"

#if defined(SNAPCACHE_TEST_HOOKS) && SNAPCACHE_TEST_HOOKS

namespace {

using map_type = snapcache::hash_map<std::uint64_t, std::uint64_t, snapcache::unseeded_hash<std::uint64_t>>;
using snapcache::detail::arm_park;
using snapcache::detail::is_parked;
using snapcache::detail::park_site;
using snapcache::detail::release_parked;

constexpr std::uint64_t key(std::uint64_t k) noexcept { return k << 61; }

void wait_until_parked(park_site site) {
  while (!is_parked(site)) std::this_thread::yield();
}

// Inserts keys 1..6 into a fresh 8-slot map holding key 0: the sixth claim
// crosses 3/4 load and starts a migration, which copies slot 0 first.
void insert_until_migration(map_type& m) {
  for (std::uint64_t k = 1; k <= 6; ++k) m.insert(key(k), key(k));
}

// Freeze: a writer that found key 0 absent (slot 0 empty) before the
// migration started installs into slot 0 after the migration copied it (an
// empty slot: nothing to copy) and the new table took over. The copy froze
// the empty slot, so the insert fails, helps, and lands in the new table.
TEST(migration_schedule, an_insert_racing_a_slot_copy_is_not_lost) {
  map_type m;
  ASSERT_EQ(m.bucket_count(), 8u);
  arm_park(park_site::insert_before_link);
  std::thread writer([&] { EXPECT_TRUE(m.insert(key(0), 200)); });
  wait_until_parked(park_site::insert_before_link);  // slot 0 found empty, not yet claimed
  for (std::uint64_t k = 1; k <= 7; ++k) m.insert(key(k), key(k));  // the seventh claim migrates
  ASSERT_GT(m.migrations(), 0u);
  release_parked(park_site::insert_before_link);
  writer.join();
  EXPECT_EQ(m.find(key(0)), std::optional<std::uint64_t>(200)) << "the insert was lost in the migration";
  EXPECT_EQ(m.size(), 8u);
}

// Placing: a dead key a snapshot still reads is being copied (its copier is
// parked before placing it) when the snapshot closes and makes it
// droppable. Another helper must not drop it: the copier is about to put its
// pointer into the new table.
TEST(migration_schedule, a_dead_key_being_copied_is_not_dropped) {
  map_type m;
  m.insert(key(0), 100);
  auto snap = std::make_unique<map_type::snapshot_type>(m.snapshot());
  m.erase(key(0));  // a tombstone over a version snap reads: not droppable
  arm_park(park_site::migrate_before_place);
  std::thread migrator([&] { insert_until_migration(m); });
  wait_until_parked(park_site::migrate_before_place);
  snap.reset();  // its version is unlinked: the tombstone is droppable now
  std::thread helper([&] { m.insert(key(7), key(7)); });  // helps the migration to its end
  helper.join();
  release_parked(park_site::migrate_before_place);
  migrator.join();
  snapcache::ebr::domain::global().synchronize();  // frees whatever was retired
  EXPECT_FALSE(m.contains(key(0)));
  std::size_t seen = 0;
  for (const auto& [k, v] : m.snapshot()) {
    EXPECT_EQ(k, v);
    ++seen;
  }
  EXPECT_EQ(seen, 7u);
}

// Re-check: a copier parked before placing slot 0 resumes after another
// helper placed it, the migration was installed and a writer put a newer
// head there. It must find the source moved and stop, not claim a second
// slot for key 0 with the stale head.
TEST(migration_schedule, a_late_copy_does_not_give_a_key_a_second_slot) {
  map_type m;
  m.insert(key(0), 100);
  arm_park(park_site::migrate_before_place);
  std::thread migrator([&] { insert_until_migration(m); });
  wait_until_parked(park_site::migrate_before_place);
  std::thread writer([&] { m.insert_or_assign(key(0), 200); });  // helps to the end, then writes
  writer.join();
  release_parked(park_site::migrate_before_place);
  migrator.join();
  std::map<std::uint64_t, std::uint64_t> seen;
  std::size_t iterated = 0;
  for (const auto& [k, v] : m.snapshot()) {
    seen[k] = v;
    ++iterated;
  }
  EXPECT_EQ(iterated, seen.size()) << "a key appeared twice in one snapshot";
  EXPECT_EQ(seen.at(key(0)), 200u);
  EXPECT_EQ(m.find(key(0)), std::optional<std::uint64_t>(200));
}

}  // namespace

#endif
