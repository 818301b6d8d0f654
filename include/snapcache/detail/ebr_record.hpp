// EBR internals: the per-domain state, the per-thread record and the bags that
// carry retired objects, shared by the inline fast paths in ebr.hpp and the
// slow paths in lib/ebr.cpp. docs/design.md ("EBR") argues the protocol.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "snapcache/detail/cxx20.hpp"
#include "snapcache/detail/orders.hpp"
#include "snapcache/detail/test_hooks.hpp"

namespace snapcache::ebr {
class retirable;
using reclaim_fn = void (*)(retirable*) noexcept;
// Frees an object retired through guard::retire_raw (no header in the object).
using raw_reclaim_fn = void (*)(void*) noexcept;
// A reclaim that may stop early: frees the object's parts, taking 1 from
// `budget` for each, until budget is 0 (returns false: call again later) or
// nothing is left (frees the object itself too and returns true). Called
// with budget > 0; each call frees at least one part.
using partial_reclaim_fn = bool (*)(retirable*, std::size_t& budget) noexcept;

// What a retired object stands for in reclamation's bounds: how many objects
// its reclaim frees, and how many bytes.
struct weight {
  std::size_t objects = 1;
  std::size_t bytes = 0;
};
}  // namespace snapcache::ebr

namespace snapcache::detail {

struct domain_state;

// A record's announcement word: (epoch << 1) | pinned_bit, or 0 when unpinned.
inline constexpr std::uint64_t pinned_bit = 1;
// A record's shelved_epoch when it parked no bag.
inline constexpr std::uint64_t no_epoch = ~std::uint64_t{0};
// Objects a thread may keep alive past its pin at once (guard::hold).
inline constexpr std::size_t hold_slots = 4;

// Objects retired in one epoch by one thread. A bag is filled by its owner
// (private), parked on the owner's shelf between pins (any collector may take
// it from there), and once sealed — full, heavy, or of an older epoch — it
// belongs to the domain: pushed on `incoming`, queued by a collector, and
// freed a bounded amount at a time by whichever thread collects.
// Raw objects (no header) wait in `items`; intrusive ones in a list through
// their headers. Bags are recycled through the collecting thread's spares.
struct retire_bag {
  static constexpr std::size_t capacity = 60;
  struct item {
    void* object;
    ebr::raw_reclaim_fn reclaim;
  };
  retire_bag* next = nullptr;  // the chain it is pushed or queued in
  std::uint64_t epoch = 0;     // every object in it was retired at this epoch
  std::size_t objects = 0;             // weight still to free
  std::size_t bytes = 0;
  ebr::retirable* intrusive = nullptr;
  std::size_t count = 0;  // raw items
  item items[capacity];
};

// One thread's registration in one domain. Records are never freed before
// their domain: a thread that exits seals its garbage into the domain's queue
// and releases its record for the next thread to claim.
struct alignas(64) ebr_record {
  explicit ebr_record(domain_state& owner_domain) noexcept;

  // The pin's line: the announcement and what the owner touches per pin.
  // The announcement is also the nesting state: non-zero while pinned, and
  // only the owner writes it, so a pin that finds it non-zero is nested.
  std::atomic<std::uint64_t> announcement{0};
  domain_state* const domain;
  // Counts outermost unpins down to the next slow unpin (unpin_slow()): the
  // periodic step, or — forced to 1 — work owed at this pin's unpin: an
  // open bag to park, a step owed by a seal, the release of a late record.
  // One decrement on the unpin path carries every reason to leave it.
  std::size_t pins_until_step = 0;
  std::size_t periodic_left = 0;  // the periodic countdown while forced
  bool unpin_forced = false;
  // Claimed by a pin from a thread_local destructor that ran after the
  // thread's registrations were released: released again when unpinned.
  bool release_at_unpin = false;
  bool owes_step = false;   // sealed a bag during this pin: collect at unpin
  bool in_collection = false;  // a reclaim run by this thread pins: no nested collection
  retire_bag* open = nullptr;  // the owner's bag of this pin (owner only)
  // What this pin retired: its unpin's collection step frees up to twice
  // that (plus the base step), so a thread frees as fast as it retires.
  std::size_t pin_objects = 0;
  std::size_t pin_bytes = 0;

  // Shared with collectors (their own line: written by the owner once per
  // writing pin, by others only when they take a parked bag).
  alignas(64) std::atomic<retire_bag*> shelf{nullptr};
  std::atomic<std::uint64_t> shelf_epoch{no_epoch};  // a hint for collectors: the parked bag's epoch
  std::atomic<const void*> holds[hold_slots] = {};
  std::atomic<bool> owned{true};
  ebr_record* next = nullptr;  // written once before publication (E8)
  // The claiming thread's tag (see lib/ebr.cpp, fork): which thread of a
  // forked child's parent held this record.
  const void* owner_thread = nullptr;
  std::uint64_t shelved_epoch = no_epoch;  // owner only: what it parked
  retire_bag* spare_bags = nullptr;        // owner only: empty bags ready for use
  std::size_t spare_count = 0;

  // Statistics: one writer at a time (the owner), read by stats() at any time.
  alignas(64) std::atomic<std::uint64_t> retired{0};
  std::atomic<std::uint64_t> retired_bytes{0};
  std::atomic<std::uint64_t> freed{0};
  std::atomic<std::uint64_t> freed_bytes{0};
  std::atomic<std::uint64_t> heaviest{0};  // the largest single retirement, in objects
  std::atomic<std::uint64_t> heaviest_bytes{0};
};

struct domain_state {
  domain_state(std::uint64_t domain_id, std::size_t batch_objects, std::size_t bag_bytes, std::size_t pins) noexcept
      : id(domain_id),
        batch(batch_objects),
        batch_bytes(bag_bytes),
        pins_between_steps(pins != 0 ? pins : static_cast<std::size_t>(-1)),
        step_objects(2 * batch_objects),
        step_bytes(2 * bag_bytes) {}

  alignas(64) std::atomic<std::uint64_t> epoch{0};
  alignas(64) std::atomic<ebr_record*> registry{nullptr};
  std::atomic<std::size_t> references{1};  // the domain itself + each registered thread
  std::atomic<bool> alive{true};
  const std::uint64_t id;
  const std::size_t batch;
  const std::size_t batch_bytes;
  const std::size_t pins_between_steps;  // config::pins_per_step, or "never" for 0
  const std::size_t step_objects;  // what one collection step frees at most
  const std::size_t step_bytes;

  // The domain's garbage. Sealed bags are pushed on `incoming` (lock-free,
  // any thread); a collector holding `collecting` (a try-lock: nobody ever
  // waits for it) moves them into the queue, detaches a bounded amount whose
  // grace period is over, and frees it after releasing the token.
  alignas(64) std::atomic<retire_bag*> incoming{nullptr};
  std::atomic<retire_bag*> returned{nullptr};  // past their grace period, partly freed
  std::atomic<bool> collecting{false};
  std::atomic<std::size_t> freeing{0};     // collectors freeing what they detached
  std::atomic<std::size_t> in_transit{0};  // bags taken off a shelf, not pushed yet
  // Frees made by threads with no record in this domain (synchronize()).
  std::atomic<std::uint64_t> orphan_freed{0};
  std::atomic<std::uint64_t> orphan_freed_bytes{0};
  // Owned by the holder of `collecting`: the bags taken so far, oldest first.
  retire_bag* queue_head = nullptr;
  retire_bag* queue_tail = nullptr;

  // The live domains, for the fork() check (lib/ebr.cpp): linked while the
  // domain object lives; set in a child forked while another thread was
  // inside an operation on this domain.
  domain_state* next_live = nullptr;
  bool forked_mid_operation = false;
};

inline ebr_record::ebr_record(domain_state& owner_domain) noexcept
    : domain(&owner_domain),
      pins_until_step(owner_domain.pins_between_steps) {}

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
void retire(ebr_record& record, ebr::retirable* object, ebr::weight w) noexcept;
void retire_raw(ebr_record& record, void* object, ebr::raw_reclaim_fn reclaim, std::size_t bytes) noexcept;
void add_spare_bag(ebr_record& record);  // may throw std::bad_alloc
bool try_add_spare_bag(ebr_record& record) noexcept;
void unpin_slow(ebr_record& record) noexcept;  // leave() when the countdown reached 0
void free_all_ready(domain_state& state, ebr_record* own) noexcept;  // synchronize()'s drain
int take_hold_slot(ebr_record& record, const void* object) noexcept;  // -1: none free

// Whether the calling thread (the record's owner) is pinned.
[[nodiscard]] inline bool is_pinned(const ebr_record& record) noexcept {
  return record.announcement.load(std::memory_order_relaxed) != 0;  // the owner's own word: no pairing, coherence suffices
}

// Pins: reads the epoch and announces it. Returns false, changing nothing,
// for a nested pin: only the outermost guard of a nest unpins.
SNAPCACHE_ALWAYS_INLINE bool enter(ebr_record& record) noexcept {
  if (is_pinned(record)) return false;
  const std::uint64_t epoch = record.domain->epoch.load(orders::read_epoch);
  SNAPCACHE_PERTURB();  // widens the window in which the epoch may move under us
  record.announcement.exchange((epoch << 1) | pinned_bit, orders::pin_announce);
  return true;
}

// Unpins (the outermost guard): a decrement and a store, unless the
// countdown says work is due; unpin_slow() parks the open bag, unpins, and
// collects and advances the epoch unpinned, so this thread holds nothing
// back while reclaim functions (users' destructors) run.
SNAPCACHE_ALWAYS_INLINE void leave(ebr_record& record) noexcept {
  if (--record.pins_until_step == 0) [[unlikely]] {
    unpin_slow(record);
    return;
  }
  record.announcement.store(0, orders::unpin);
}

}  // namespace snapcache::detail
