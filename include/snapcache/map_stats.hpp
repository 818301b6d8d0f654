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
  // allocation size, slot arrays, and its share of what reclamation has not
  // freed yet (counted at a version's size). (From the fields above.)
  std::size_t heap_bytes = 0;
};

}  // namespace snapcache
