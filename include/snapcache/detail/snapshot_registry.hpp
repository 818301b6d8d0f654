// The snapshot clock and the announcements of live snapshots.
//
// Writers stamp versions with the clock; a snapshot takes timestamp t and
// advances the clock past it, so it sees exactly the versions stamped <= t.
// Version trimming must know which timestamps live snapshots still read:
// a snapshot announces t in a slot, then re-reads the clock and retries if
// it moved (announce, then validate); a trimmer reads the clock *before*
// scanning the slots, so any snapshot it misses has t >= that clock value
// (see docs/design.md, "Snapshots").
//
// A slot is also the snapshot's state while it lives, so that iterators can
// point at it and stay valid when the snapshot object moves: the list of
// versions kept for it (detail/kept_record.hpp), the table its scans hold,
// and its size once counted.
//
// The slots form a list that only grows at its head (a Treiber push: taking
// a snapshot is O(1)). Closing a snapshot marks its slot's `next` (a Harris
// logical deletion); whoever scans the list, pinned, unlinks the marked
// slots it passes and retires them to the map's epoch domain, and a close
// sweeps the whole list once the closed slots outnumber twice the live ones
// (+16). So a scan costs O(live snapshots) after any burst, the registry
// gives its memory back, and a close costs O(1) amortised. Single-slot
// unlinks only, pushes only at the head: a traversal that follows a marked
// slot's frozen `next` still reaches every slot after it (design.md,
// "Snapshots").
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "snapcache/detail/kept_record.hpp"
#include "snapcache/detail/orders.hpp"
#include "snapcache/detail/slot_table.hpp"
#include "snapcache/detail/test_hooks.hpp"
#include "snapcache/ebr.hpp"

namespace snapcache::detail {

inline constexpr std::uint64_t no_timestamp = ~std::uint64_t{0};

inline constexpr std::uint64_t size_unknown = ~std::uint64_t{0};

struct alignas(64) snapshot_slot {
  std::atomic<std::uint64_t> timestamp{no_timestamp};  // announced t, or none
  // The next older slot; bit 0 set once the slot's snapshot has closed
  // (then frozen: nothing links after a closed slot).
  std::atomic<std::uintptr_t> next{0};
  // The open snapshot's state (reset by open() before it announces):
  std::atomic<kept_record*> kept{nullptr};      // versions kept for it; closed_list() once closed
  std::atomic<slot_table*> table{nullptr};      // the table its scans read (one reference)
  std::atomic<std::uint64_t> size{size_unknown};  // counted on first size()
};

class snapshot_registry {
 public:
  snapshot_registry() = default;
  snapshot_registry(const snapshot_registry&) = delete;
  snapshot_registry& operator=(const snapshot_registry&) = delete;
  ~snapshot_registry() {
    // Destruction is single-threaded; retired slots belong to the domain.
    auto* slot = reinterpret_cast<snapshot_slot*>(slots_.load(std::memory_order_relaxed));  // single-threaded
    while (slot != nullptr) delete std::exchange(slot, next_of(slot));
  }

  // The clock value writers stamp with.
  [[nodiscard]] std::uint64_t now() const noexcept { return clock_.load(orders::stamp_clock); }  // (S9)

  // Takes a snapshot timestamp: announces it in a fresh slot and advances
  // the clock past it. May throw std::bad_alloc (then nothing is announced).
  // `steps`: announcements made (1 unless the clock moved meanwhile).
  std::uint64_t open(snapshot_slot*& out_slot, std::size_t& steps) {
    steps = 0;
    auto* slot = new snapshot_slot;  // may throw: nothing done yet
    live_.fetch_add(1, orders::count_live);  // (S10) before the clock read: see newest_reader()
    push(slot);
    std::uint64_t t = clock_.load(orders::validate_clock);  // (S2)
    for (;;) {
      ++steps;
      slot->timestamp.store(t, orders::announce_timestamp);  // (S1) announce
      SNAPCACHE_PERTURB();
      SNAPCACHE_PARK(snapshot_announced);
      const std::uint64_t again = clock_.load(orders::validate_clock);  // (S2) validate
      if (again == t) break;
      t = again;
    }
    // Linearization point of the snapshot: the clock moves past t (by this
    // CAS, or by another snapshot's between our validation and it).
    std::uint64_t expected = t;
    clock_.compare_exchange_strong(expected, t + 1, orders::advance_clock);  // (S3)
    out_slot = slot;
    return t;
  }

  // Withdraws the snapshot and returns the versions kept for it (the caller
  // rechecks them); the slot's table reference is the caller's to drop,
  // before release_slot().
  [[nodiscard]] kept_record* close(snapshot_slot* slot) noexcept {
    slot->timestamp.store(no_timestamp, orders::withdraw_timestamp);  // (S8)
    // acquire: pairs with attach()'s release CAS, so the records' fields are
    // visible; from here on, attach() to this slot fails.
    return slot->kept.exchange(closed_list(), std::memory_order_acquire);  // pairs with attach (release)
  }

  // Gives the closed slot up: marks it for unlinking (the caller must not
  // touch it afterwards) and, when closed slots pile up, sweeps them out
  // under `g` (the map's domain; may be empty: then a later scan does it).
  void release_slot(snapshot_slot* slot, const ebr::guard& g) noexcept {
    slot->next.fetch_or(closed_bit, orders::mark_closed);  // (S6) logical deletion
    const std::int64_t closed = closed_.fetch_add(1, std::memory_order_relaxed) + 1;  // a sweep trigger only: exact values are not needed
    live_.fetch_sub(1, orders::count_live);  // (S10)
    if (g.pinned() && closed > 2 * static_cast<std::int64_t>(live()) + 16) {
      (void)for_each_slot(g, [](snapshot_slot*) {});
    }
  }

  [[nodiscard]] std::size_t live() const noexcept { return live_.load(orders::read_live); }  // (S11)

  // Snapshots taken since the oldest announced one (0 with none): a
  // statistic, read without stopping anyone.
  [[nodiscard]] std::uint64_t oldest_age(const ebr::guard& g) const noexcept {
    const std::uint64_t clock = clock_.load(orders::trim_clock);  // (S4) as a trimmer reads it
    std::uint64_t oldest = no_timestamp;
    for_each_announced(g, [&](std::uint64_t t, snapshot_slot*) { oldest = std::min(oldest, t); });
    return oldest == no_timestamp || oldest > clock ? 0 : clock - oldest;
  }

  // A map moved into a fresh one keeps its versions' stamps: the new
  // registry's clock starts where the old one stands. No snapshot of either
  // may be alive (the caller checks).
  void continue_clock_of(const snapshot_registry& other) noexcept {
    clock_.store(other.clock_.load(std::memory_order_relaxed), std::memory_order_relaxed);  // single-threaded: no operation runs
  }

  // The live snapshot with the largest timestamp in [from, to), or null if
  // none reads a version stamped `from` whose next newer version is stamped
  // `to` (the caller read `to` from a stamped version, so any snapshot this
  // scan misses has t >= the clock read first >= to). O(live snapshots):
  // closed slots it passes are unlinked. `g` pins the caller.
  [[nodiscard]] snapshot_slot* newest_reader(std::uint64_t from, std::uint64_t to,
                                             const ebr::guard& g) const noexcept {
    (void)clock_.load(orders::trim_clock);  // (S4) before the scan
    // A snapshot whose increment of live_ we miss reads the clock after our
    // read above, so its t >= that value: it reads nothing below `to`.
    if (live_.load(orders::read_live) == 0) return nullptr;  // (S11)
    snapshot_slot* best = nullptr;
    std::uint64_t best_t = 0;
    for_each_announced(g, [&](std::uint64_t t, snapshot_slot* slot) {
      if (t < from || t >= to) return;
      if (best == nullptr || t > best_t) {
        best = slot;
        best_t = t;
      }
    });
    return best;
  }

  // The announcements of one scan, sorted by timestamp, so that many
  // newest_reader() questions cost one scan and a binary search each (a
  // close's recheck asks one per kept version). Valid for a question whose
  // `to` is at most clock() (the clock this scan read first: a snapshot it
  // missed has t >= clock() >= to) and while the collector stays pinned by
  // the guard it collected under (the slots it names are not freed before);
  // a slot it names may have closed since: attach() fails then, and the
  // caller asks newest_reader() afresh.
  class reader_view {
   public:
    // Scans as newest_reader() does (S4, S11, S5). False if the view could
    // not hold every slot (memory): the caller asks newest_reader() instead.
    [[nodiscard]] bool collect(const snapshot_registry& r, const ebr::guard& g) noexcept {
      entries_.clear();
      clock_ = r.clock_.load(orders::trim_clock);  // (S4) before the scan
      const std::size_t live = r.live_.load(orders::read_live);  // (S11)
      if (live == 0) return true;  // a snapshot counted after (S4) has t >= that clock
      try {
        entries_.reserve(live + 16);  // more may open meanwhile: overflow is checked
      } catch (...) {
        return false;
      }
      bool overflow = false;
      r.for_each_announced(g, [&](std::uint64_t t, snapshot_slot* slot) {
        if (entries_.size() == entries_.capacity()) {
          overflow = true;
          return;
        }
        entries_.push_back({t, slot});
      });
      if (overflow) return false;
      std::sort(entries_.begin(), entries_.end(), [](const entry& a, const entry& b) { return a.t < b.t; });
      return true;
    }
    // The clock read before the scan: the view answers for `to` <= this.
    [[nodiscard]] std::uint64_t clock() const noexcept { return clock_; }
    // As newest_reader(from, to, g), from the collected scan; to <= clock().
    [[nodiscard]] snapshot_slot* newest_reader(std::uint64_t from, std::uint64_t to) const noexcept {
      const auto below = std::lower_bound(entries_.begin(), entries_.end(), to,
                                          [](const entry& e, std::uint64_t bound) { return e.t < bound; });
      if (below == entries_.begin()) return nullptr;
      const entry& newest = *(below - 1);
      return newest.t >= from ? newest.slot : nullptr;
    }

   private:
    struct entry {
      std::uint64_t t;
      snapshot_slot* slot;
    };
    std::vector<entry> entries_;
    std::uint64_t clock_ = 0;
  };

  // Adds `record` to the versions kept for the snapshot in `slot`. Fails if
  // that snapshot has closed (the caller looks for another reader).
  [[nodiscard]] static bool attach(snapshot_slot* slot, kept_record* record) noexcept {
    kept_record* head = slot->kept.load(std::memory_order_relaxed);  // the CAS validates
    do {
      if (head == closed_list()) return false;
      record->next = head;
    } while (!slot->kept.compare_exchange_weak(head, record, std::memory_order_release,  // pairs with close (acquire)
                                               std::memory_order_relaxed));  // retry reads head only
    return true;
  }

  // Slots linked now, open and closed: what a scan walks now (a
  // diagnostic; like any scan, it unlinks the closed ones it passes).
  [[nodiscard]] std::size_t slots(const ebr::guard& g) const noexcept {
    return for_each_slot(g, [](snapshot_slot*) {});
  }

 private:
  static constexpr std::uintptr_t closed_bit = 1;

  static snapshot_slot* next_of(const snapshot_slot* slot) noexcept {
    return reinterpret_cast<snapshot_slot*>(slot->next.load(orders::load_slots) & ~closed_bit);  // (S13)
  }

  void push(snapshot_slot* slot) noexcept {
    std::uintptr_t head = slots_.load(std::memory_order_relaxed);  // the CAS validates
    do {
      slot->next.store(head, std::memory_order_relaxed);  // published by (S12)
    } while (!slots_.compare_exchange_weak(head, reinterpret_cast<std::uintptr_t>(slot),
                                           orders::publish_slot,         // (S12) pairs with the scans (S13)
                                           std::memory_order_relaxed));  // retry reads head only
  }

  // Calls visit(slot) for each open slot, unlinking (and retiring) the
  // closed ones it passes while the guard can retire without allocating;
  // returns the slots it walked. Pinned by `g`: a slot read under it is not
  // freed before it unpins (a closed slot reached through a frozen link was
  // still linked when it froze, after the pin: design.md, "Snapshots").
  template <class Visit>
  std::size_t for_each_slot(const ebr::guard& g, Visit&& visit) const noexcept {
    std::atomic<std::uintptr_t>* link = &slots_;  // the link to curr; null when a neighbour moved
    auto* curr = reinterpret_cast<snapshot_slot*>(slots_.load(orders::load_slots));  // (S13) pairs with push (S12)
    std::size_t walked = 0;
    while (curr != nullptr) {
      ++walked;
      SNAPCACHE_PERTURB();  // a window in which another scan may unlink curr
      const std::uintptr_t next = curr->next.load(orders::load_slots);  // (S13)
      auto* after = reinterpret_cast<snapshot_slot*>(next & ~closed_bit);
      if ((next & closed_bit) == 0) {
        visit(curr);
        link = &curr->next;
      } else if (link != nullptr && g.pinned() && g.try_reserve() && unlink(*link, curr, after)) {
        closed_.fetch_sub(1, std::memory_order_relaxed);  // a sweep trigger only
        if (is_planted(planted_bug::closed_slot_freed_at_once)) {
          reclaim_slot(curr);  // the bug: another scan may still be reading it
        } else {
          g.retire_raw(curr, &reclaim_slot, sizeof(snapshot_slot));
        }
      } else {
        link = nullptr;  // the link moved (or we cannot retire now): skip without unlinking
      }
      curr = after;
    }
    return walked;
  }

  // Calls visit(t, slot) for each open slot whose timestamp is announced
  // (read with S5), as for_each_slot walks them.
  template <class Visit>
  void for_each_announced(const ebr::guard& g, Visit&& visit) const noexcept {
    (void)for_each_slot(g, [&](snapshot_slot* slot) {
      const std::uint64_t t = slot->timestamp.load(orders::scan_timestamp);  // (S5)
      if (t != no_timestamp) visit(t, slot);
    });
  }

  // One unlink CAS: `link`, still naming the closed `curr` unmarked (its
  // owner is open, or it is the list head), now skips it.
  static bool unlink(std::atomic<std::uintptr_t>& link, snapshot_slot* curr, snapshot_slot* after) noexcept {
    std::uintptr_t expected = reinterpret_cast<std::uintptr_t>(curr);
    return link.compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(after),
                                        orders::unlink_slot);  // (S7)
  }

  static void reclaim_slot(void* slot) noexcept { delete static_cast<snapshot_slot*>(slot); }

  alignas(64) std::atomic<std::uint64_t> clock_{1};
  alignas(64) std::atomic<std::size_t> live_{0};
  mutable std::atomic<std::uintptr_t> slots_{0};  // the newest slot (never marked)
  mutable std::atomic<std::int64_t> closed_{0};   // closed slots still linked (about: a trigger)
};

}  // namespace snapcache::detail
