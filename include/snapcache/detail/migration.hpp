// Migration: moving a hash_map's keys into a new slot table (growth, and
// cleanup when dead keys pile up), without locks and without moving any
// version.
//
// The protocol (docs/design.md, "Migration", argues each step):
//  1. Start: allocate the new table and CAS it into `from.next`. Only the
//     current table migrates, and only once it is complete, so at most one
//     migration runs at a time. A shrink cannot size its table ahead: the
//     counters it would read can be outrun by inserts before the freeze. It
//     CASes sizing_marker() into `from.next` instead; helpers then freeze
//     every slot of `from` (no key can claim one afterwards), count the
//     claimed ones and CAS a table fitting them in place of the marker.
//  2. Copy, in blocks of 256 slots claimed from a cursor, then a sweep over
//     blocks nobody finished (a helper may be parked in one). Copying slot i:
//       freeze   fetch_or(frozen): no writer can replace its head any more;
//       drop     a lone tombstone (a dead key no snapshot can read) becomes
//                `dropped` and its version is retired; else
//       placing  CAS the placing bit in, so no one drops it any more;
//       place    put the *pointer* into the new table: first slot on its
//                probe path that holds it, or a free one claimed by CAS
//                after re-reading the source (a copy that finds the source
//                already moved stops: the key's new slot may have a newer
//                head by then);
//       moved    CAS the source to `moved | target index | tag`.
//     Every step is idempotent, so any number of helpers may copy a slot.
//  3. Install: when every block is done, CAS the map's current table from
//     `from` to `from.next` and retire `from` (it holds its successor).
// Writers that meet a migration help it to the end, then write in the new
// table; readers never help: a frozen slot still holds the current head, a
// moved one names the slot that does. Nothing here calls user code (hashes
// come from the version or a non-throwing hash), and everything is noexcept
// but start() and help(), which may throw std::bad_alloc when allocating the
// new table (help() only when it sizes a shrink's).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "snapcache/detail/slot_table.hpp"
#include "snapcache/detail/test_hooks.hpp"
#include "snapcache/ebr.hpp"

namespace snapcache::detail {

// What migration needs from its map. `Map` provides:
//   std::uint64_t hash_of(const Version*) const noexcept;
//   bool droppable(Version*) const noexcept;   // a lone, stamped tombstone
//   void on_dropped() const noexcept;           // counts
//   std::atomic<slot_table*>& current_table() const noexcept;
//   void on_installed(const slot_table&) const noexcept;  // a new current table
//   void on_migrated() const noexcept;                    // counts
//   using slot_kind = ...;  // how its tables store slots (slot_kind.hpp)
//   static slot_kind::ref slot(const slot_table&, std::size_t);  // slot i
template <class Version, class Map>
class migration {
  using slots = typename Map::slot_kind;
  using slot_ref = typename slots::ref;

 public:
  static constexpr std::size_t not_placed = ~std::size_t{0};

  // Starts migrating `from` (the current table) into a new table of
  // `capacity` slots, unless a migration out of it already started. May
  // throw std::bad_alloc; then nothing changed.
  static void start(slot_table& from, std::size_t capacity) {
    if (from.next.load(std::memory_order_seq_cst) != nullptr) return;
    slot_table* to = slot_table::create<slots>(capacity);
    slot_table* expected = nullptr;
    if (!from.next.compare_exchange_strong(expected, to, std::memory_order_seq_cst)) slot_table::release(to);
  }

  // Starts shrinking `from` (the current table) into a table sized by the
  // helpers, unless a migration out of it already started.
  static void start_shrink(slot_table& from) noexcept {
    slot_table* expected = nullptr;
    from.next.compare_exchange_strong(expected, sizing_marker(), std::memory_order_seq_cst);
  }

  // Helps the migration out of `from` until it is installed. `from.next`
  // must be set. Throws std::bad_alloc only if it must size a shrink's
  // table and cannot allocate it; the migration stays pending then.
  static void help(const Map& map, slot_table& from, const ebr::guard& g) {
    slot_table& to = target(from);
    for (;;) {
      // relaxed: a claim ticket only; the slots carry their own ordering.
      const std::size_t b = from.cursor.fetch_add(1, std::memory_order_relaxed);  // claim only
      if (b >= from.blocks) break;
      copy_block(map, from, to, b, g);
    }
    if (!is_planted(planted_bug::migration_early_install)) {
      // Blocks claimed by threads that are slow or parked: copy them too.
      for (std::size_t b = 0; b < from.blocks && from.blocks_done.load(std::memory_order_seq_cst) < from.blocks;
           ++b) {
        if (from.block_done[b].load(std::memory_order_seq_cst) == 0) copy_block(map, from, to, b, g);
      }
    }
    install(map, from, to, g);
  }

  // Copies slot i of `from` into `to` (or drops its dead key); idempotent.
  static void copy_slot(const Map& map, slot_table& from, slot_table& to, std::size_t i, const ebr::guard& g) noexcept {
    slot_ref source = Map::slot(from, i);
    std::uint64_t w;
    if (is_planted(planted_bug::migration_copy_without_freeze)) {
      w = source.load(std::memory_order_seq_cst) | slot_frozen;  // the bug: a writer may still replace it
    } else {
      w = source.fetch_or(slot_frozen) | slot_frozen;
    }
    SNAPCACHE_PARK(migrate_after_freeze);
    SNAPCACHE_PERTURB_RARE();
    for (;;) {
      if (slot_is_free(w) || (w & (slot_moved | slot_dropped)) != 0) return;
      auto* v = slot_version<Version>(w);
      const bool drop_anyway = is_planted(planted_bug::migration_drop_ignores_placing);
      if ((w & slot_placing) == 0 || drop_anyway) {
        if (map.droppable(v) && g.try_reserve()) {
          if (source.compare_exchange(w, slot_dropped | slot_frozen)) {
            g.retire_raw(v, &Version::reclaim, v->bytes());
            map.on_dropped();
            return;
          }
          continue;  // w reloaded
        }
        if ((w & slot_placing) == 0) {
          if (!source.compare_exchange(w, w | slot_placing)) continue;
          w |= slot_placing;
        }
      }
      SNAPCACHE_PARK(migrate_before_place);
      SNAPCACHE_PERTURB_RARE();
      const std::size_t j = place(map, source, w, to, v);
      SNAPCACHE_PARK(migrate_after_place);
      SNAPCACHE_PERTURB_RARE();
      if (j == not_placed) {
        w = source.load(std::memory_order_seq_cst);  // moved by another helper
        if ((w & slot_moved) == 0) broken("a target table migrates before its source is copied");
        continue;
      }
      const std::uint64_t moved = moved_word(j) | (slot_tag(w) << slot_tag_shift);
      if (is_planted(planted_bug::migration_copy_without_freeze)) {
        source.store(moved);  // the bug: overwrites a concurrent write
        return;
      }
      if (source.compare_exchange(w, moved)) return;
      // w reloaded: another helper marked it moved (the loop returns).
    }
  }

 private:
  // The table the migration out of `from` copies into: sizes a shrink's
  // first. Every slot is frozen before counting, so no key claims a slot of
  // `from` after the count; each helper counts on its own (a parked one
  // stops nobody) and the first table CASed in wins.
  static slot_table& target(slot_table& from) {
    slot_table* to = from.next.load(std::memory_order_seq_cst);
    if (to != sizing_marker()) return *to;
    std::size_t claimed = 0;
    for (std::size_t i = 0; i < from.capacity; ++i) {
      const std::uint64_t w = Map::slot(from, i).fetch_or(slot_frozen);
      if (!slot_is_free(w)) ++claimed;
      if (i == 0) SNAPCACHE_PARK(migrate_while_sizing);
    }
    // Load at most 1/2, whatever copies drop.
    slot_table* fresh = slot_table::create<slots>(std::max(2 * claimed + 2, slot_table::min_capacity));  // may throw std::bad_alloc: still sizing
    if (from.next.compare_exchange_strong(to, fresh, std::memory_order_seq_cst)) return *fresh;
    slot_table::release(fresh);
    return *to;  // another helper's table
  }

  // Puts pointer v (from source slot word w) into `to`: the index of the
  // slot holding it, or not_placed if the source was marked moved first.
  static std::size_t place(const Map& map, const slot_ref& source, std::uint64_t w, slot_table& to,
                           Version* v) noexcept {
    const std::uint64_t tag = slot_tag(w);
    std::size_t i = to.home(map.hash_of(v));
    for (std::size_t probes = 0; probes < to.capacity; ++probes, i = to.after(i)) {
      slot_ref slot = Map::slot(to, i);
      std::uint64_t word = slot.load(std::memory_order_seq_cst);
      for (;;) {
        if (slot_holds_version(word) && slot_version<Version>(word) == v) return i;
        // `to` migrates out only after every source slot moved: a late copy.
        if ((word & slot_frozen) != 0) return not_placed;
        if (word != 0) break;  // another key's slot
        // A free slot. If the source is already moved, the key may have a
        // newer head in its slot of `to` by now: claiming a second slot would
        // give the key two.
        SNAPCACHE_PERTURB_RARE();
        if (!is_planted(planted_bug::migration_place_without_recheck) &&
            (source.load(std::memory_order_seq_cst) & slot_moved) != 0) {
          return not_placed;
        }
        if (slot.compare_exchange(word, claimed_word(tag, v))) {
          if (v->is_tombstone()) to.dead_copied.fetch_add(1, std::memory_order_relaxed);  // a policy estimate only
          return i;
        }
        // word reloaded: look at this slot again
      }
    }
    if ((source.load(std::memory_order_seq_cst) & slot_moved) != 0) return not_placed;
    broken("a migration target table is full");
  }

  // An invariant of the protocol does not hold (a planted bug, or memory
  // corruption): stop at once rather than spin or lose keys silently.
  [[noreturn]] static void broken(const char* what) noexcept {
    std::fprintf(stderr, "snapcache: migration invariant broken: %s\n", what);
    std::abort();
  }

  static void copy_block(const Map& map, slot_table& from, slot_table& to, std::size_t b, const ebr::guard& g) noexcept {
    const std::size_t end = (b + 1) * slot_table::block_size < from.capacity ? (b + 1) * slot_table::block_size
                                                                              : from.capacity;
    for (std::size_t i = b * slot_table::block_size; i < end; ++i) copy_slot(map, from, to, i, g);
    if (from.block_done[b].exchange(1, std::memory_order_seq_cst) == 0) {
      from.blocks_done.fetch_add(1, std::memory_order_seq_cst);
    }
  }

  static void install(const Map& map, slot_table& from, slot_table& to, const ebr::guard& g) noexcept {
    SNAPCACHE_PARK(migrate_before_install);
    SNAPCACHE_PERTURB_RARE();
    slot_table* expected = &from;
    if (map.current_table().compare_exchange_strong(expected, &to, std::memory_order_seq_cst)) {
      // The map's reference moves to the new table; the old one goes once
      // no pinned reader is in it (and no scan holds it).
      to.refs.fetch_add(1, std::memory_order_relaxed);  // `from` holds one already: no race to zero
      map.on_installed(to);
      map.on_migrated();
      (void)g.try_reserve();  // without memory, retire allocates its bag or stops loudly
      g.retire(&from, &slot_table::release_retired, ebr::weight{1, from.bytes()});
    }
  }
};

}  // namespace snapcache::detail
