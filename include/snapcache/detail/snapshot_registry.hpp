// The snapshot clock and the announcements of live snapshots.
//
// Writers stamp versions with the clock; a snapshot takes timestamp t and
// advances the clock past t, so it sees exactly the versions stamped <= t.
// Version trimming must know which timestamps live snapshots still read:
// a snapshot announces t in a slot, then re-reads the clock and retries if
// it moved (announce, then validate); a trimmer reads the clock *before*
// scanning the slots, so any snapshot it misses has t >= that clock value
// (see docs/design.md, "Snapshots").
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "snapcache/detail/orders.hpp"
#include "snapcache/detail/test_hooks.hpp"

namespace snapcache::detail {

inline constexpr std::uint64_t no_timestamp = ~std::uint64_t{0};

struct alignas(64) snapshot_slot {
  std::atomic<std::uint64_t> timestamp{no_timestamp};  // announced t, or none
  std::atomic<bool> claimed{true};
  snapshot_slot* next = nullptr;  // written once before publication
};

// Live snapshot timestamps seen by one trimmer: at most `capacity`; when
// there are more, `overflow` is set and `oldest` is the smallest of all.
struct announced_timestamps {
  static constexpr std::size_t capacity = 16;
  std::uint64_t clock = 0;  // read before the scan
  std::uint64_t values[capacity];
  std::size_t count = 0;
  bool overflow = false;
  std::uint64_t oldest = no_timestamp;

  // Is there a snapshot that reads a version stamped `stamp` whose next
  // newer version is stamped `newer`: some t with stamp <= t < newer?
  [[nodiscard]] bool reads_between(std::uint64_t stamp, std::uint64_t newer) const noexcept {
    if (overflow) return newer > oldest;  // conservative: keep everything above the oldest
    for (std::size_t i = 0; i < count; ++i) {
      if (stamp <= values[i] && values[i] < newer) return true;
    }
    return false;
  }
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

  void close(snapshot_slot* slot) noexcept {
    slot->timestamp.store(no_timestamp, orders::withdraw_timestamp);  // (S8)
    slot->claimed.store(false, orders::release_slot);  // (S6) pairs with claim_slot's CAS (S7)
    live_.fetch_sub(1, orders::count_live);  // (S10)
  }

  [[nodiscard]] std::size_t live() const noexcept { return live_.load(orders::read_live); }  // (S11)

  // What a trimmer needs: the clock first, then every announcement.
  void collect(announced_timestamps& out) const noexcept {
    out.clock = clock_.load(orders::trim_clock);  // (S4) before the scan
    out.count = 0;
    out.overflow = false;
    out.oldest = no_timestamp;
    // A snapshot whose increment of live_ we miss reads the clock after our
    // read above, so its t >= out.clock: the trimmer keeps that range anyway.
    if (live_.load(orders::read_live) == 0) return;  // (S11)
    for (snapshot_slot* slot = slots_.load(orders::load_slots);  // (S13) pairs with claim_slot's push (S12)
         slot != nullptr; slot = slot->next) {
      const std::uint64_t t = slot->timestamp.load(orders::scan_timestamp);  // (S5)
      if (t == no_timestamp) continue;
      if (t < out.oldest) out.oldest = t;
      if (out.count < announced_timestamps::capacity) {
        out.values[out.count++] = t;
      } else {
        out.overflow = true;
      }
    }
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
