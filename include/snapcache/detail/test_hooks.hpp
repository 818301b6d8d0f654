// Test-only hooks compiled into the sanitizer builds (meson -Dtest_hooks=true).
//
// Two kinds:
//  * perturbation: SNAPCACHE_PERTURB() marks a race window; when enabled at
//    run time it yields at random, so rare interleavings become common;
//  * planted bugs: each removes exactly one synchronisation, selected at run
//    time, so the stress suites can prove they catch it (no build per bug).
// Without SNAPCACHE_TEST_HOOKS everything here folds to nothing.
#pragma once

#include <cstdint>

namespace snapcache::detail {

enum class planted_bug : std::uint8_t {
  none,
  free_without_grace_period,   // EBR frees on retire's next collect, ignoring pinned readers
  snapshot_reads_live_value,   // a snapshot skips its version check and reads the newest value
  insert_check_then_act,       // a write checks the slot, then installs its version with a plain store, not a CAS
  locked_cache_unlocked_reads, // the original bug: locked cache readers iterate without the lock
  // Migration (each removes one synchronisation of detail/migration.hpp):
  migration_copy_without_freeze,  // a slot is copied from a plain read, then overwritten as moved
  migration_early_install,        // the new table is installed before every block is copied
  migration_drops_visible_key,    // a tombstoned key is dropped although it holds older versions
  migration_drop_ignores_placing, // a dead key is dropped although a copy of it is being placed
  migration_place_without_recheck,// a copy claims a free slot without re-reading the source slot
  scan_without_table_reference,   // a snapshot scans its table without holding a reference on it
  cache_read_without_pin,         // a query-cache reader reads the root's state without pinning (R1)
  free_ignoring_holds,            // EBR frees an object a thread holds past its pin (guard::hold)
  writer_pinned_across_retries,   // a write keeps one pin through all its attempts (and user code)
  closed_slot_freed_at_once,      // a scan frees the closed snapshot slot it unlinks, with no grace period
  recheck_trusts_stale_above,     // an unlink does not flag the version below (K1): a recheck uses a freed neighbour
  record_not_handed_on,           // an unlink takes the kept record below and drops it without moving its `above` (K4) or flagging
  pair_read_apart,                // a 16-byte slot is loaded as two 8-byte words (atomic_pair.hpp)
};

// Places where a progress test can park a thread indefinitely, to show the
// other threads still complete (lock-freedom).
enum class park_site : std::uint8_t {
  none,
  insert_before_link,     // a write's version built, not yet installed (before the slot CAS)
  write_before_stamp,     // version installed, not yet stamped
  trim_after_mark,        // a replaced version marked for unlinking, not yet unlinked
  settle_before_keep,     // a replaced version a snapshot reads, its record not yet attached
  snapshot_announced,     // timestamp announced, clock not yet advanced
  iterate_while_pinned,   // snapshot iteration, inside its epoch guard
  migrate_while_sizing,   // a shrink freezing and counting its source, its table not yet made
  migrate_after_freeze,   // a source slot frozen, not yet copied
  migrate_before_place,   // a source slot marked as being placed, the head not yet placed
  migrate_after_place,    // a head placed in the new table, its source slot not yet marked moved
  migrate_before_install, // every block copied, the new table not yet installed
  close_before_recheck,   // a closed snapshot's kept versions not yet rechecked
  cache_write_before_publish, // a query-cache write computed and sealed, its root not yet published
};

#if defined(SNAPCACHE_TEST_HOOKS) && SNAPCACHE_TEST_HOOKS
inline constexpr bool test_hooks_enabled = true;

// The next thread to reach `site` parks there until release_parked(site).
// Several sites may be armed at once (a schedule test parks two threads at
// two steps and releases them in the order it wants).
void arm_park(park_site site) noexcept;
// Whether a thread is parked at `site` now.
bool is_parked(park_site site) noexcept;
void release_parked(park_site site) noexcept;
// The same, for whichever site was armed last (one parked thread at a time).
bool is_parked() noexcept;
void release_parked() noexcept;
void park_point(park_site site) noexcept;

// Selects the planted bug for the whole process; also read from the
// environment variable SNAPCACHE_PLANT (its name without the enum prefix)
// on first use.
void plant(planted_bug bug) noexcept;
planted_bug planted() noexcept;
[[nodiscard]] inline bool is_planted(planted_bug bug) noexcept { return planted() == bug; }

// Makes every version plain (no link word, version.hpp), as one made just
// before a snapshot started is: rechecks whose neighbour was unlinked then
// take the fallback walk, which tests can reach this way.
void force_plain_versions(bool on) noexcept;
bool plain_versions_forced() noexcept;

// Perturbation: probability (per mille) that a marked point yields; also read
// from SNAPCACHE_PERTURB on first use. 0 disables.
void set_perturbation(unsigned per_mille) noexcept;
void perturb_point() noexcept;
// A point in a window that rare events open (a migration copying a slot, a
// write between reading its slot and installing): yields ten times as often
// (at most half the time), so the windows are as likely to be hit as the
// common ones.
void perturb_rare_point() noexcept;

// Parses a planted bug name ("free_without_grace_period"); none if unknown.
planted_bug planted_bug_from_name(const char* name) noexcept;
#else
inline constexpr bool test_hooks_enabled = false;
[[nodiscard]] constexpr bool is_planted(planted_bug) noexcept { return false; }
[[nodiscard]] constexpr bool plain_versions_forced() noexcept { return false; }
inline void force_plain_versions(bool) noexcept {}
inline void perturb_point() noexcept {}
inline void perturb_rare_point() noexcept {}
inline void park_point(park_site) noexcept {}
#endif

}  // namespace snapcache::detail

#define SNAPCACHE_PERTURB() ::snapcache::detail::perturb_point()
#define SNAPCACHE_PERTURB_RARE() ::snapcache::detail::perturb_rare_point()
#define SNAPCACHE_PARK(site) ::snapcache::detail::park_point(::snapcache::detail::park_site::site)
