// Kept records: the to-do list of versions kept alive for snapshots.
//
// When a write supersedes a version that some live snapshot still reads, the
// version stays in its chain and a record of it is attached to the snapshot
// with the largest timestamp that reads it. When that snapshot closes, it
// rechecks each of its records: the version is unlinked and retired if no
// snapshot reads it any more, or the record moves to the next reader. So a
// close costs the versions kept for it (each charged to the write that made
// it), never a scan of the map, and nothing waits for a close that never
// comes: versions no snapshot reads are unlinked by the write itself.
//
// A record names its version by address only; the version may have been
// unlinked and freed by a writer meanwhile, so the address is compared with
// the chain's versions and never dereferenced unless found there.
//
// The record's `above` follows the kept version's newer neighbour: whoever
// unlinks that neighbour hands the record on to the next one, reaching it
// through the neighbour's `link` word (an extended version's, version.hpp),
// so a recheck finds the neighbour in O(1) however often the key was
// overwritten. References: the list that holds the record, and the link
// word that names it (or the thread that took it from there to hand it on);
// the last to let go frees it. Only holders of a reference dereference it.
#pragma once

#include "snapcache/detail/block_cache.hpp"

#include <atomic>
#include <cstdint>

namespace snapcache::detail {

struct kept_record {
  std::uint64_t hash;  // of the version's key: where its chain lives
  const void* version;
  // The kept version's newer neighbour when the record was made or last
  // handed on; not retired before a recheck that read the kept version's
  // above_unlinked flag clear pinned (version.hpp; design.md, "Settling a
  // replaced version"). Null once the record's holder settled it (before
  // unlinking the version): no one hands it on from then.
  std::atomic<const void*> above;
  kept_record* next;
  std::atomic<std::uint32_t> references;

  // From the block caches and their slabs, as versions are: a writer keeps
  // and a recheck frees records at the rate it writes.
  static void* operator new(std::size_t size) {
    (void)size;  // always sizeof(kept_record): nothing derives from it
    return allocate_block<sizeof(kept_record)>();
  }
  static void operator delete(void* record) noexcept { free_block<sizeof(kept_record)>(record); }
};

// A list head meaning "this snapshot has closed: attach elsewhere".
[[nodiscard]] inline kept_record* closed_list() noexcept {
  static kept_record sentinel{0, nullptr, nullptr, nullptr, 0};
  return &sentinel;
}

// Each thread keeps one spare record, allocated before a write commits, so
// that keeping a version after the commit never allocates.
extern thread_local constinit kept_record* tl_spare_record;
// Allocates the calling thread's spare. May throw std::bad_alloc.
void refill_spare_record();
// Takes the spare (the caller made sure there is one).
[[nodiscard]] inline kept_record* take_spare_record() noexcept {
  kept_record* r = tl_spare_record;
  tl_spare_record = nullptr;
  return r;
}
// Hands a record no longer needed back as the calling thread's spare, or
// frees it if the thread has one (or is exiting).
void give_back_record(kept_record* record) noexcept;
// Drops one reference; the last frees the record (give_back_record).
inline void release_record(kept_record* record) noexcept {
  // The last release reads every other holder's writes before it frees.
  if (record->references.fetch_sub(1, std::memory_order_acq_rel) == 1) give_back_record(record);  // acq_rel: pairs with the other holders' releases (M15)
}
// Frees the spare of a thread whose thread-exit cleanup already ran (a late
// thread_local destructor using a map), so it does not leak.
void drop_spare_record_after_exit() noexcept;
extern thread_local constinit bool tl_spare_exited;

}  // namespace snapcache::detail
