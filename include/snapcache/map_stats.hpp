// snapcache::map_stats — the counters every snapcache map reports from
// stats(), so tests and services can read the lock-free map and its locked
// baseline the same way.
//
// The fields are read without stopping writers: under concurrency they may
// come from slightly different instants. They are statistics, not a way to
// synchronise.
#pragma once

#include "snapcache/detail/cxx20.hpp"

#include <cstddef>
#include <cstdint>

namespace snapcache {

// What each field costs to read is given with it (hash_map; locked_map
// reads everything under its lock in O(1)).
struct map_stats {
  // Keys present in the map. (Sums 8 striped counters.)
  std::size_t live_entries = 0;
  // Value versions still allocated: the current value of every key plus
  // older versions that a snapshot or a reader may still see. Never less
  // than live_entries; equal for a map without versions (locked_map).
  // (The same counters.)
  std::size_t live_versions = 0;
  // Objects retired into the map's reclamation domain and not yet freed:
  // the count a service alarms on (it grows without bound only while some
  // thread stays pinned). With the process-wide default domain it includes
  // other maps' garbage. Always 0 for a map that frees at once (locked_map).
  // (Reads one word per thread registered in the domain.)
  std::size_t retired_unfreed = 0;
  // Snapshots alive now. (One load.)
  std::size_t live_snapshots = 0;
  // How many snapshots were taken since the oldest live one (its age in
  // snapshot-clock ticks); 0 with none alive. A long-held snapshot keeps the
  // versions it reads: a growing age with growing live_versions says so.
  // (Reads the announcement of each snapshot slot ever used.)
  std::uint64_t oldest_snapshot_age = 0;
  // Heap bytes the map holds, approximately: versions and dead keys at their
  // allocation size, the current slot array, and its share of what
  // reclamation has not freed yet (counted at a version's size). (From the
  // fields above.) Not counted, so a real footprint can be well above it:
  //  * slot tables older than the current one that a snapshot which has
  //    iterated still holds (each a full slot array, until it closes);
  //  * the records kept for snapshots (40 bytes per kept version) and the
  //    snapshot slots;
  //  * the link word of versions made while a snapshot was live (48-byte
  //    blocks for 8-byte keys and values, counted at the plain 32);
  //  * what keys and values own on the heap (strings' buffers, ...): the
  //    domain's pending_bytes counts it for retired versions only;
  //  * the allocator's own holdings: versions are counted at their block
  //    size (a multiple of 16 bytes, from 64 KiB slabs), but the slabs'
  //    free blocks and the per-thread block caches are not (slab_bytes and
  //    cached_block_bytes below; in the ASan build, glibc's rounding);
  //  * retired tables and versions beyond the estimate above (their exact
  //    bytes are in ebr::domain_stats::pending_bytes, shared by every user
  //    of the domain).
  std::size_t heap_bytes = 0;
  // Bytes held in the per-thread block caches of every live thread: freed
  // versions and records kept for reuse (up to 256 KiB per size class and
  // thread, given back when the thread exits). Process-wide, shared by every
  // map and cache, and not part of heap_bytes. (Takes a lock; reads 128
  // counts per thread.)
  std::size_t cached_block_bytes = 0;
  // Bytes of the 64 KiB slabs that small blocks (versions, kept records,
  // the query cache's nodes) are carved from: blocks in use, in thread
  // caches, and free for reuse. A slab whose blocks are all free is given
  // back to operator delete, except one per block size. Process-wide, like
  // cached_block_bytes; 0 in an ASan build of the library, which allocates
  // each block on its own. (Takes 128 locks.)
  std::size_t slab_bytes = 0;
};

}  // namespace snapcache
