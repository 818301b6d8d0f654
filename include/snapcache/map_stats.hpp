// snapcache::map_stats — the counters every snapcache map reports from
// stats(), so tests and services can read the lock-free map and its locked
// baseline the same way.
//
// The fields are read without stopping writers: under concurrency they may
// come from slightly different instants. They are statistics, not a way to
// synchronise.
#pragma once

#include <cstddef>

namespace snapcache {

struct map_stats {
  // Keys present in the map.
  std::size_t live_entries = 0;
  // Value versions still allocated: the current value of every key plus
  // older versions that a snapshot or a reader may still see. Never less
  // than live_entries; equal for a map without versions (locked_map).
  std::size_t live_versions = 0;
  // Objects unlinked from the map and retired, but not yet freed. Always 0
  // for a map that frees at once (locked_map).
  std::size_t retired_unfreed = 0;
};

}  // namespace snapcache
