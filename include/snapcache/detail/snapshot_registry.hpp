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
// and its size once counted. Slots live as long as the registry.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "snapcache/detail/kept_record.hpp"
#include "snapcache/detail/orders.hpp"
#include "snapcache/detail/slot_table.hpp"
#include "snapcache/detail/test_hooks.hpp"

namespace snapcache::detail {

inline constexpr std::uint64_t no_timestamp = ~std::uint64_t{0};

inline constexpr std::uint64_t size_unknown = ~std::uint64_t{0};

struct alignas(64) snapshot_slot {
  std::atomic<std::uint64_t> timestamp{no_timestamp};  // announced t, or none
  std::atomic<bool> claimed{true};
  snapshot_slot* next = nullptr;  // written once before publication
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
    snapshot_slot* slot = slots_.load(std::memory_order_relaxed);  // destruction is single-threaded
    while (slot != nullptr) delete std::exchange(slot, slot->next);
  }

  // The clock value writers stamp with.
  [[nodiscard]] std::uint64_t now() const noexcept { return clock_.load(orders::stamp_clock); }  // (S9)

  // Takes a snapshot timestamp: announces it in a slot and advances the
  // clock past it. May throw std::bad_alloc (no slot free and none can be
  // made); then nothing is announced.
  std::uint64_t open(snapshot_slot*& out_slot, std::size_t& steps) {
    steps = 0;
    live_.fetch_add(1, orders::count_live);  // (S10) before the clock read: see collect()
    snapshot_slot* slot = nullptr;
    try {
      slot = claim_slot(steps);
    } catch (...) {
      live_.fetch_sub(1, orders::count_live);  // (S10)
      throw;
    }
    // The state of this snapshot, before anyone can see it announced: a
    // writer that reads the announcement (S1) also sees these (S1 releases).
    slot->kept.store(nullptr, std::memory_order_relaxed);     // published by (S1)
    slot->table.store(nullptr, std::memory_order_relaxed);    // published by (S1)
    slot->size.store(size_unknown, std::memory_order_relaxed);  // published by (S1)
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
    // visible; from here on, attach() to this slot fails until it is reused.
    return slot->kept.exchange(closed_list(), std::memory_order_acquire);  // pairs with attach (release)
  }
  void release_slot(snapshot_slot* slot) noexcept {
    slot->claimed.store(false, orders::release_slot);  // (S6) pairs with claim_slot's CAS (S7)
    live_.fetch_sub(1, orders::count_live);  // (S10)
  }

  [[nodiscard]] std::size_t live() const noexcept { return live_.load(orders::read_live); }  // (S11)

  // Snapshots taken since the oldest announced one (0 with none): a
  // statistic, read without stopping anyone.
  [[nodiscard]] std::uint64_t oldest_age() const noexcept {
    const std::uint64_t clock = clock_.load(orders::trim_clock);  // (S4) as a trimmer reads it
    std::uint64_t oldest = no_timestamp;
    for (snapshot_slot* slot = slots_.load(orders::load_slots);  // (S13) pairs with claim_slot's push (S12)
         slot != nullptr; slot = slot->next) {
      const std::uint64_t t = slot->timestamp.load(orders::scan_timestamp);  // (S5)
      if (t < oldest) oldest = t;
    }
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
  // scan misses has t >= the clock read first >= to). O(live snapshots).
  [[nodiscard]] snapshot_slot* newest_reader(std::uint64_t from, std::uint64_t to) const noexcept {
    (void)clock_.load(orders::trim_clock);  // (S4) before the scan
    // A snapshot whose increment of live_ we miss reads the clock after our
    // read above, so its t >= that value: it reads nothing below `to`.
    if (live_.load(orders::read_live) == 0) return nullptr;  // (S11)
    snapshot_slot* best = nullptr;
    std::uint64_t best_t = 0;
    for (snapshot_slot* slot = slots_.load(orders::load_slots);  // (S13) pairs with claim_slot's push (S12)
         slot != nullptr; slot = slot->next) {
      const std::uint64_t t = slot->timestamp.load(orders::scan_timestamp);  // (S5)
      if (t == no_timestamp || t < from || t >= to) continue;
      if (best == nullptr || t > best_t) {
        best = slot;
        best_t = t;
      }
    }
    return best;
  }

  // Adds `record` to the versions kept for the snapshot in `slot`. Fails if
  // that snapshot has closed (the caller looks for another reader). A record
  // may land on a later snapshot that reused the slot: it is then rechecked
  // when that one closes, which only delays freeing the version.
  [[nodiscard]] static bool attach(snapshot_slot* slot, kept_record* record) noexcept {
    kept_record* head = slot->kept.load(std::memory_order_relaxed);  // the CAS validates
    do {
      if (head == closed_list()) return false;
      record->next = head;
    } while (!slot->kept.compare_exchange_weak(head, record, std::memory_order_release,  // pairs with close (acquire)
                                               std::memory_order_relaxed));  // retry reads head only
    return true;
  }

  [[nodiscard]] std::size_t slots() const noexcept {
    std::size_t n = 0;
    for (snapshot_slot* slot = slots_.load(orders::load_slots);  // (S13) pairs with claim_slot's push (S12)
         slot != nullptr; slot = slot->next) {
      ++n;
    }
    return n;
  }

 private:
  snapshot_slot* claim_slot(std::size_t& steps) {
    for (snapshot_slot* slot = slots_.load(orders::load_slots);  // (S13) pairs with the push (S12) below
         slot != nullptr; slot = slot->next) {
      ++steps;
      bool expected = false;
      if (!slot->claimed.load(std::memory_order_relaxed) &&  // pre-check; the CAS decides
          slot->claimed.compare_exchange_strong(expected, true,
                                                orders::claim_slot,           // (S7) pairs with close() (S6)
                                                std::memory_order_relaxed)) {  // failure reads nothing
        return slot;
      }
    }
    auto* slot = new snapshot_slot;
    snapshot_slot* head = slots_.load(std::memory_order_relaxed);  // the CAS validates
    do {
      slot->next = head;
    } while (!slots_.compare_exchange_weak(head, slot,
                                           orders::publish_slot,         // (S12) pairs with the scans (S13)
                                           std::memory_order_relaxed));  // retry reads head only
    return slot;
  }

  alignas(64) std::atomic<std::uint64_t> clock_{1};
  alignas(64) std::atomic<std::size_t> live_{0};
  std::atomic<snapshot_slot*> slots_{nullptr};
};

}  // namespace snapcache::detail
