// EBR internals: the per-domain state and the per-thread record, shared by
// the inline fast paths in ebr.hpp and the slow paths in lib/ebr.cpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "snapcache/detail/orders.hpp"
#include "snapcache/detail/test_hooks.hpp"

namespace snapcache::ebr {
class retirable;
using reclaim_fn = void (*)(retirable*) noexcept;
// Frees an object retired through guard::retire_raw (no header in the object).
using raw_reclaim_fn = void (*)(void*) noexcept;
}  // namespace snapcache::ebr

namespace snapcache::detail {

struct domain_state;

// A record's announcement word: (epoch << 1) | pinned_bit, or 0 when unpinned.
inline constexpr std::uint64_t pinned_bit = 1;

// Objects retired through retire_raw, which carry no header: their address
// and reclaim function wait in a bag. Bags are recycled through the record's
// spare list, so retiring allocates only when a thread holds more garbage
// than ever before (and reserve() does that allocation up front).
struct retire_bag {
  static constexpr std::size_t capacity = 62;  // 1008 bytes: header + 62 pairs
  struct item {
    void* object;
    ebr::raw_reclaim_fn reclaim;
  };
  retire_bag* next = nullptr;
  std::size_t count = 0;
  item items[capacity];
};

// Objects retired while the epoch was `epoch`, waiting for it to reach epoch + 2:
// intrusive ones in a list through their headers, raw ones in bags (only the
// first bag may be partly full).
struct limbo_list {
  ebr::retirable* head = nullptr;
  retire_bag* bags = nullptr;
  std::uint64_t epoch = 0;
  std::size_t count = 0;
};

// One thread's registration in one domain. Records are never freed before
// their domain: a thread that exits releases its record (with any garbage it
// could not free yet) for the next thread, or a sweeper, to adopt.
struct alignas(64) ebr_record {
  explicit ebr_record(domain_state& owner_domain) noexcept;

  std::atomic<std::uint64_t> announcement{0};
  std::atomic<bool> owned{true};
  domain_state* const domain;
  ebr_record* next = nullptr;  // written once before publication (E8)

  // Touched only by the record's current owner: the registered thread, or a
  // sweeper that claimed the record after its thread exited (E6/E7).
  unsigned nesting = 0;
  // Claimed by a pin from a thread_local destructor that ran after the
  // thread's registrations were released: released again when unpinned.
  bool release_at_unpin = false;
  std::size_t pins_until_advance = 0;
  std::size_t unreclaimed = 0;
  // A retire made while pinned attempts reclamation when `unreclaimed`
  // reaches this: batch after a collection that freed everything, one batch
  // more after an attempt (pinned, this thread holds the epoch back itself,
  // so retrying on every retire would only scan the registry and CAS the
  // epoch for nothing). Unpinning attempts whenever `batch` is reached.
  std::size_t reclaim_at = 0;
  limbo_list limbo[3];
  retire_bag* spare_bags = nullptr;  // empty bags ready for retire_raw
  std::size_t spare_count = 0;

  // Statistics: one writer at a time (the owner), read by stats() at any time.
  std::atomic<std::uint64_t> retired{0};
  std::atomic<std::uint64_t> freed{0};
};

struct domain_state {
  domain_state(std::uint64_t domain_id, std::size_t batch_size, std::size_t advance_every) noexcept
      : id(domain_id), batch(batch_size), pins_per_advance(advance_every) {}

  alignas(64) std::atomic<std::uint64_t> epoch{0};
  alignas(64) std::atomic<ebr_record*> registry{nullptr};
  std::atomic<std::size_t> references{1};  // the domain itself + each registered thread
  std::atomic<bool> alive{true};
  const std::uint64_t id;
  const std::size_t batch;
  const std::size_t pins_per_advance;  // 0: never advance on pin
};

inline ebr_record::ebr_record(domain_state& owner_domain) noexcept
    : domain(&owner_domain),
      pins_until_advance(owner_domain.pins_per_advance ? owner_domain.pins_per_advance
                                                       : static_cast<std::size_t>(-1)),
      reclaim_at(owner_domain.batch) {}

// The calling thread's most recent (domain id, record) pair, and its record in
// the global domain. constinit: plain TLS loads, no initialisation check.
struct record_cache {
  std::uint64_t domain_id = 0;
  ebr_record* record = nullptr;
};
extern thread_local constinit record_cache tl_record_cache;
extern thread_local constinit ebr_record* tl_global_record;

// Slow paths (lib/ebr.cpp).
ebr_record* register_thread(domain_state& domain);  // may throw std::bad_alloc
void retire(ebr_record& record, ebr::retirable* object, ebr::reclaim_fn reclaim, std::size_t weight) noexcept;
void retire_raw(ebr_record& record, void* object, ebr::raw_reclaim_fn reclaim) noexcept;
void add_spare_bag(ebr_record& record);      // may throw std::bad_alloc
bool try_add_spare_bag(ebr_record& record) noexcept;
void on_pin_advance(ebr_record& record) noexcept;
void reclaim_after_unpin(ebr_record& record) noexcept;
void release_late_record(ebr_record& record) noexcept;

inline void enter(ebr_record& record) noexcept {
  if (record.nesting++ != 0) return;
  domain_state& domain = *record.domain;
  const std::uint64_t epoch = domain.epoch.load(orders::read_epoch);
  SNAPCACHE_PERTURB();  // widens the window in which the epoch may move under us
  record.announcement.exchange((epoch << 1) | pinned_bit, orders::pin_announce);
  if (--record.pins_until_advance == 0) on_pin_advance(record);
}

inline void leave(ebr_record& record) noexcept {
  if (--record.nesting != 0) return;
  record.announcement.store(0, orders::unpin);
  if (record.unreclaimed >= record.domain->batch) reclaim_after_unpin(record);
  if (record.release_at_unpin) [[unlikely]] release_late_record(record);
}

}  // namespace snapcache::detail
