// Snapshot publication as RC11 litmus tests: the store-buffering arguments
// of detail/snapshot_registry.hpp checked in the C++20 memory model.
//
// Why these exist: the trimmer's clock read (S4) is needed only because of a
// store-buffering argument, and neither Relacy (stress/relacy/) nor TSan can
// show a relaxed load overtaking a later seq_cst one. The explorer
// (explorer.hpp) enumerates every consistent execution, so it can.
//
// Each scenario mirrors snapshot_registry::open() and collect() operation by
// operation with the orders of the table (detail/orders.hpp), and the map's
// head install and stamping (seq_cst, as in hash_map.hpp). Slots are given,
// not claimed: the slot list and its hand-over (S6, S7, S12, S13) are the
// Relacy model's.
//   trim_after_advance:       snapshot A opens; a trimmer collects.
//   trim_after_other_advance: snapshots A and B open; a trimmer collects. B's
//                             advance can move the clock past A's t before
//                             A's own: the store-buffering shape.
//   stamp_after_advance:      snapshot A opens and reads a key's head; a
//                             writer installs a new head and stamps it.
// Properties: a snapshot the trimmer misses (live count 0, or its slot read
// as anything but its t) has t >= the trimmer's clock; a version A does not
// see is stamped > t.
#pragma once

#include <atomic>
#include <cstddef>
#include <utility>
#include <string>
#include <string_view>
#include <vector>

#include "explorer.hpp"

namespace rc11 {

// The table entries the scenarios use, by their table ids.
struct publication_orders {
  std::memory_order announce_timestamp;  // S1
  std::memory_order validate_clock;      // S2
  std::memory_order advance_clock;       // S3
  std::memory_order trim_clock;          // S4
  std::memory_order scan_timestamp;      // S5
  std::memory_order stamp_clock;         // S9
  std::memory_order count_live;          // S10
  std::memory_order read_live;           // S11

  // As compiled from detail/orders.hpp (a -DSNAPCACHE_WEAKEN_<entry> build
  // has that entry relaxed).
  static publication_orders from_table() noexcept;
  // A copy with table entry `id` (S1, S2, ...) set to `order`. Throws
  // std::invalid_argument for an id the scenarios do not use.
  publication_orders with(std::string_view id, std::memory_order order) const;
  static const std::vector<std::string_view>& entries();
};

struct litmus_result {
  std::string scenario;
  std::size_t executions = 0;
  std::size_t graphs = 0;
  double milliseconds = 0;
  // Each broken property, with an execution that breaks it.
  std::vector<std::pair<std::string, std::string>> violations;
};

std::vector<litmus_result> run_snapshot_litmus(const publication_orders& orders);

}  // namespace rc11
