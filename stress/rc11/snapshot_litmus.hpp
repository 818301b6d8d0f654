// Snapshot publication as RC11 litmus tests: the store-buffering arguments
// of detail/snapshot_registry.hpp checked in RC11 (execution_graph.hpp).
//
// Why these exist: the trimmer's clock read (S4) is needed only because of a
// store-buffering argument, and neither Relacy (stress/relacy/) nor TSan can
// show a relaxed load overtaking a later seq_cst one. The explorer
// (explorer.hpp) enumerates every RC11-consistent execution, so it can.
//
// Each scenario mirrors snapshot_registry::open() and collect() operation by
// operation with the orders of the table (detail/orders.hpp), and the map's
// head install and stamping (seq_cst, as in hash_map.hpp). Slots are given,
// not pushed, and no snapshot reads versions: the slot list's push and
// traversal (S12, S13) and the release roles of the withdrawal and the live
// count's decrement (S8, S10: a closed snapshot's reads before the free) are
// the Relacy model's; its marks and unlinks (S6, S7) are ebr_litmus.cpp's
// `closed_slot_free` and `registry_slot_unlink` (guarded pointers).
//   trim_after_advance:       snapshot A opens; a trimmer collects.
//   trim_after_other_advance: snapshots A and B open; a trimmer collects. B's
//                             advance can move the clock past A's t before
//                             A's own: the store-buffering shape.
//   trim_after_closed_advance: A opens; B opens and closes; a trimmer
//                             collects. B's close can bring the live count
//                             back to 0 after B's advance moved the clock
//                             past A's t: the store-buffering pair of the
//                             live count (S10, S2 against S4, S11).
//   stamp_after_advance:      snapshot A opens and reads a key's head; a
//                             writer installs a new head and stamps it.
// Properties: an open snapshot the trimmer misses (live count 0, or its slot read
// as anything but its t) has t >= the trimmer's clock; a version A does not
// see is stamped > t.
#pragma once

#include <vector>

#include "litmus.hpp"

namespace rc11 {

// Runs the three scenarios with the table's S entries as given.
std::vector<litmus_result> run_snapshot_litmus(const order_table& orders);

}  // namespace rc11
