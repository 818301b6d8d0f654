// EBR protection as RC11 litmus tests: a node unlinked and retired is freed
// only after every reader that could still hold it has unpinned, in every
// execution RC11 allows (not only in every interleaving, which is what the
// Relacy model ebr_model explores).
//
// Each scenario mirrors detail/ebr_record.hpp's enter()/leave() and
// lib/ebr.cpp's retire(), try_advance() and collect() operation by
// operation, with the orders of the table (E1-E5), and the map's unlink and
// protected load (seq_cst, as in hash_map.hpp). The node's contents are a
// plain (non-atomic) location: the reader's use and the reclaimer's free
// must be ordered by happens-before, else the explorer reports a data race,
// and the use must not read the freed value.
// One reader record; the retirer's own pin is left out (it only holds
// advances back); record registration and hand-over (E6-E9) are the Relacy
// model's.
//   reclaim_after_unlink:   a reader pins, loads the head, uses the node,
//                           unpins; a reclaimer unlinks the node, retires
//                           it, tries to advance twice and collects.
//   reclaim_by_advancer:    as above, but a third thread makes the advances:
//                           the collector learns of them only through the
//                           epoch (E4 against E5).
//   cache_root_cycle, registry_slot_unlink: the same cycle for a guarded
//                           pointer whose publish and load orders are table
//                           entries (Q1/Q2; S7/S13).
//   closed_slot_free:       a closer that could not pin withdraws and marks
//                           its registry slot (S8, S6); a pinned scan unlinks
//                           (S7) and frees it: the mark alone orders them.
//   hold_past_unpin, hold_slot_reused, register_during_advance,
//   transit_counter:        guard::hold, registration, synchronize().
#pragma once

#include <vector>

#include "litmus.hpp"

namespace rc11 {

std::vector<litmus_result> run_ebr_litmus(const order_table& orders);

}  // namespace rc11
