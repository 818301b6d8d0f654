// The memory orders of the EBR core in one table.
//
// Every order the reclamation protocol depends on is named here, so that the
// ordering ledger in docs/design.md, the code and the weakening script
// (tools/weaken-orders.sh) all speak of the same entries. Each constant says
// which operation it pairs with. Orders not listed here are either seq_cst
// on the protocol path or relaxed statistics, commented where they stand.
#pragma once

#include <atomic>

namespace snapcache::detail::orders {

// (E1) pin: a thread announces its epoch. seq_cst: the announcement must be
// ordered before the pinned thread's later loads of protected pointers and
// after the retirer's unlink, in the single total order (store-buffering
// pattern with (E3) and (E4)); as an RMW it is also a release that (E3)
// synchronises with.
inline constexpr std::memory_order pin_announce = std::memory_order_seq_cst;  // (E1) with (E3), (E4)

// (E2) unpin: release, so every read the thread made while pinned
// happens-before the scan (E3) that sees it unpinned.
inline constexpr std::memory_order unpin = std::memory_order_release;  // (E2) pairs with (E3)

// (E3) advance scan: reads each record's announcement; seq_cst to close the
// store-buffering window with (E1); acquire-or-stronger to pair with (E2).
inline constexpr std::memory_order scan_announcement = std::memory_order_seq_cst;  // (E3) pairs with (E1), (E2)

// (E4) epoch read: by pin, retire (which tags the object), advance and
// collect. seq_cst: a retire's read must follow its unlink in the total
// order; collect's read must acquire the advance (E5) that made it safe.
inline constexpr std::memory_order read_epoch = std::memory_order_seq_cst;  // (E4) pairs with (E5)

// (E5) advance: CAS epoch e -> e+1. seq_cst RMW; as a release it carries
// every scan (E3) that justified it to the collector's read (E4).
inline constexpr std::memory_order advance_epoch = std::memory_order_seq_cst;  // (E5) pairs with (E4)

// (E6) record hand-over: claim is an acquire CAS pairing with the release
// store (E7) of the previous owner, so an adopter sees the limbo lists the
// exiting thread left behind.
inline constexpr std::memory_order claim_record = std::memory_order_acquire;  // (E6) pairs with (E7)

// (E7) record release at thread exit: pairs with claim (E6).
inline constexpr std::memory_order release_record = std::memory_order_release;  // (E7) pairs with (E6)

// (E8) registry publication: a new record is pushed with a release CAS that
// pairs with the acquire load of the registry head (E9).
inline constexpr std::memory_order publish_record = std::memory_order_release;  // (E8) pairs with (E9)

// (E9) registry traversal: pairs with (E8).
inline constexpr std::memory_order load_registry = std::memory_order_acquire;  // (E9) pairs with (E8)

}  // namespace snapcache::detail::orders
