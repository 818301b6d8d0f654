// The memory orders of the EBR core and of snapshot publication, in one table.
//
// Every order these two protocols depend on is named here, so that the
// ordering ledgers in docs/design.md, the code, the Relacy models
// (stress/relacy/), the RC11 litmus tests (stress/rc11/) and the weakening
// script (tools/weaken-orders.sh) all speak of the same entries. Each constant names the operation it pairs with.
// Orders not listed here are either seq_cst on the protocol path (the map's
// links, heads and stamps) or relaxed statistics and hints, commented where
// they stand.
//
// Weakening. Building with -DSNAPCACHE_WEAKEN_<entry> (say
// -DSNAPCACHE_WEAKEN_E3) turns that one entry into relaxed, the weakest order
// every load, store and read-modify-write accepts, so tools/weaken-orders.sh
// can show that a TSan suite or a model notices. Never in a real build.
//
// Plain C++17 on purpose: the Relacy models include this header too (before
// relacy.hpp, whose macros rename memory_order_*) and translate the values
// with stress/relacy/rl_orders.hpp, so one table drives library and models.
#pragma once

#include <atomic>
#include <string_view>

#if defined(SNAPCACHE_WEAKEN_E1)
#define SNAPCACHE_WEAKENED_ENTRY "E1"
#elif defined(SNAPCACHE_WEAKEN_E2)
#define SNAPCACHE_WEAKENED_ENTRY "E2"
#elif defined(SNAPCACHE_WEAKEN_E3)
#define SNAPCACHE_WEAKENED_ENTRY "E3"
#elif defined(SNAPCACHE_WEAKEN_E4)
#define SNAPCACHE_WEAKENED_ENTRY "E4"
#elif defined(SNAPCACHE_WEAKEN_E5)
#define SNAPCACHE_WEAKENED_ENTRY "E5"
#elif defined(SNAPCACHE_WEAKEN_E6)
#define SNAPCACHE_WEAKENED_ENTRY "E6"
#elif defined(SNAPCACHE_WEAKEN_E7)
#define SNAPCACHE_WEAKENED_ENTRY "E7"
#elif defined(SNAPCACHE_WEAKEN_E8)
#define SNAPCACHE_WEAKENED_ENTRY "E8"
#elif defined(SNAPCACHE_WEAKEN_E9)
#define SNAPCACHE_WEAKENED_ENTRY "E9"
#elif defined(SNAPCACHE_WEAKEN_E10)
#define SNAPCACHE_WEAKENED_ENTRY "E10"
#elif defined(SNAPCACHE_WEAKEN_E11)
#define SNAPCACHE_WEAKENED_ENTRY "E11"
#elif defined(SNAPCACHE_WEAKEN_E12)
#define SNAPCACHE_WEAKENED_ENTRY "E12"
#elif defined(SNAPCACHE_WEAKEN_E13)
#define SNAPCACHE_WEAKENED_ENTRY "E13"
#elif defined(SNAPCACHE_WEAKEN_E14)
#define SNAPCACHE_WEAKENED_ENTRY "E14"
#elif defined(SNAPCACHE_WEAKEN_E15)
#define SNAPCACHE_WEAKENED_ENTRY "E15"
#elif defined(SNAPCACHE_WEAKEN_H1)
#define SNAPCACHE_WEAKENED_ENTRY "H1"
#elif defined(SNAPCACHE_WEAKEN_H2)
#define SNAPCACHE_WEAKENED_ENTRY "H2"
#elif defined(SNAPCACHE_WEAKEN_H3)
#define SNAPCACHE_WEAKENED_ENTRY "H3"
#elif defined(SNAPCACHE_WEAKEN_Q1)
#define SNAPCACHE_WEAKENED_ENTRY "Q1"
#elif defined(SNAPCACHE_WEAKEN_Q2)
#define SNAPCACHE_WEAKENED_ENTRY "Q2"
#elif defined(SNAPCACHE_WEAKEN_K4)
#define SNAPCACHE_WEAKENED_ENTRY "K4"
#elif defined(SNAPCACHE_WEAKEN_K5)
#define SNAPCACHE_WEAKENED_ENTRY "K5"
#elif defined(SNAPCACHE_WEAKEN_S1)
#define SNAPCACHE_WEAKENED_ENTRY "S1"
#elif defined(SNAPCACHE_WEAKEN_S2)
#define SNAPCACHE_WEAKENED_ENTRY "S2"
#elif defined(SNAPCACHE_WEAKEN_S3)
#define SNAPCACHE_WEAKENED_ENTRY "S3"
#elif defined(SNAPCACHE_WEAKEN_S4)
#define SNAPCACHE_WEAKENED_ENTRY "S4"
#elif defined(SNAPCACHE_WEAKEN_S5)
#define SNAPCACHE_WEAKENED_ENTRY "S5"
#elif defined(SNAPCACHE_WEAKEN_S6)
#define SNAPCACHE_WEAKENED_ENTRY "S6"
#elif defined(SNAPCACHE_WEAKEN_S7)
#define SNAPCACHE_WEAKENED_ENTRY "S7"
#elif defined(SNAPCACHE_WEAKEN_S8)
#define SNAPCACHE_WEAKENED_ENTRY "S8"
#elif defined(SNAPCACHE_WEAKEN_S9)
#define SNAPCACHE_WEAKENED_ENTRY "S9"
#elif defined(SNAPCACHE_WEAKEN_S10)
#define SNAPCACHE_WEAKENED_ENTRY "S10"
#elif defined(SNAPCACHE_WEAKEN_S11)
#define SNAPCACHE_WEAKENED_ENTRY "S11"
#elif defined(SNAPCACHE_WEAKEN_S12)
#define SNAPCACHE_WEAKENED_ENTRY "S12"
#elif defined(SNAPCACHE_WEAKEN_S13)
#define SNAPCACHE_WEAKENED_ENTRY "S13"
#else
#define SNAPCACHE_WEAKENED_ENTRY ""
#endif

namespace snapcache::detail::orders {

// The order of table entry `id`: `order`, or relaxed in a build that weakens it.
constexpr std::memory_order entry(std::string_view id, std::memory_order order) noexcept {
  return id == SNAPCACHE_WEAKENED_ENTRY ? std::memory_order_relaxed : order;  // relaxed: weakened builds only
}

// The failure order of a CAS whose success order is `success`: `wanted`, or
// relaxed when `success` is (a failure order may not be stronger; g++ would
// silently make the success seq_cst and undo the weakening).
constexpr std::memory_order failure(std::memory_order wanted, std::memory_order success) noexcept {
  return success == std::memory_order_relaxed ? std::memory_order_relaxed : wanted;  // follows a weakened success
}

// ---- EBR (docs/design.md, "EBR"; lib/ebr.cpp, ebr_record.hpp) -------------

// (E1) pin: a thread announces its epoch. seq_cst: the announcement must be
// ordered before the pinned thread's later loads of protected pointers and
// after the retirer's unlink, in the single total order (store-buffering
// pattern with (E3) and (E4)); as an RMW it is also a release that (E3)
// synchronises with.
inline constexpr std::memory_order pin_announce = entry("E1", std::memory_order_seq_cst);  // (E1) with (E3), (E4)

// (E2) unpin: release, so every read the thread made while pinned
// happens-before the scan (E3) that sees it unpinned.
inline constexpr std::memory_order unpin = entry("E2", std::memory_order_release);  // (E2) pairs with (E3)

// (E3) advance scan: reads each record's announcement; seq_cst to close the
// store-buffering window with (E1); acquire-or-stronger to pair with (E2).
inline constexpr std::memory_order scan_announcement = entry("E3", std::memory_order_seq_cst);  // (E3) with (E1), (E2)

// (E4) epoch read: by pin, retire (which tags the object), advance and
// collect. seq_cst: a retire's read must follow its unlink in the total
// order; collect's read must acquire the advance (E5) that made it safe.
inline constexpr std::memory_order read_epoch = entry("E4", std::memory_order_seq_cst);  // (E4) pairs with (E5)

// (E5) advance: CAS epoch e -> e+1. seq_cst RMW; as a release it carries
// every scan (E3) that justified it to the collector's read (E4). A failed
// advance reads the epoch like (E4); its value is not used.
inline constexpr std::memory_order advance_epoch = entry("E5", std::memory_order_seq_cst);  // (E5) pairs with (E4)
inline constexpr std::memory_order advance_epoch_failure = failure(read_epoch, advance_epoch);  // (E5) failure, as (E4)

// (E6) record hand-over: claim is an acquire CAS pairing with the release
// store (E7) of the previous owner, so an adopter sees the limbo lists the
// exiting thread left behind.
inline constexpr std::memory_order claim_record = entry("E6", std::memory_order_acquire);  // (E6) pairs with (E7)

// (E7) record release at thread exit or after adoption: pairs with claim (E6).
inline constexpr std::memory_order release_record = entry("E7", std::memory_order_release);  // (E7) pairs with (E6)

// (E8) registry publication: a new record is pushed with a seq_cst CAS.
// Release (for the record's fields) is not enough: an advancer's registry
// load must not miss a record whose thread registered and pinned before the
// advancer's two advances; with release/acquire the C++ model lets it (the
// RC11 litmus register_during_advance), with seq_cst on both sides the
// push precedes the pin, which precedes the scan, in the total order.
inline constexpr std::memory_order publish_record = entry("E8", std::memory_order_seq_cst);  // (E8) with (E9), (E1)

// (E9) registry traversal: seq_cst, with (E8); a plain load on x86.
inline constexpr std::memory_order load_registry = entry("E9", std::memory_order_seq_cst);  // (E9) with (E8)

// (E10) a sealed bag (or a partly freed one) is pushed on the domain's
// incoming (returned) stack with a release CAS: its contents, and everything
// its retirer did before retiring them, reach the collector that takes it
// (E11) and frees them.
inline constexpr std::memory_order push_bag = entry("E10", std::memory_order_release);  // (E10) pairs with (E11)

// (E11) a collector takes the whole incoming (returned) stack: acquire,
// pairs with every push (E10) it reads through the release sequence.
inline constexpr std::memory_order take_bags = entry("E11", std::memory_order_acquire);  // (E11) pairs with (E10)

// (E12) the owner parks its open bag on its shelf at unpin: release, so a
// collector that takes it (E13) sees the bag's contents.
inline constexpr std::memory_order park_bag = entry("E12", std::memory_order_release);  // (E12) pairs with (E13)

// (E13) the owner (retaking it) or a collector (taking it off an idle
// thread) exchanges the shelf with null: acquire, pairs with (E12); and
// release, so that synchronize()'s own exchange, which reads the null a
// collector left, sees that collector's in-transit count (RC11 litmus
// transit_counter).
inline constexpr std::memory_order take_shelf = entry("E13", std::memory_order_acq_rel);  // (E13) pairs with (E12)

// (E14) the collector token: a try-lock taken with an acquire exchange and
// given back with a release store, so the queue the token guards passes from
// one collector to the next.
inline constexpr std::memory_order take_token = entry("E14", std::memory_order_acquire);  // (E14) pairs with (E15)

// (E15) giving the token back: pairs with the next take (E14).
inline constexpr std::memory_order give_token = entry("E15", std::memory_order_release);  // (E15) pairs with (E14)

// (H1) guard::hold: the hold is stored while the holder is pinned, with a
// release store. Its first use needs no order (the scan that ends the held
// object's grace period reads the holder's unpin, E2, or a later pin, E1,
// both releases sequenced after this store). But a slot is reused: a holder
// that released X (H2) and holds Y in the same slot must not let a collector
// that reads Y free X under its last uses — a relaxed store would break the
// release sequence of H2 (the RC11 litmus hold_slot_reused finds that race).
inline constexpr std::memory_order publish_hold = entry("H1", std::memory_order_release);  // (H1) pairs with (H3)

// (H2) held::release: release, so the holder's uses happen-before the free
// of a collector whose scan (H3) reads the cleared slot.
inline constexpr std::memory_order release_hold = entry("H2", std::memory_order_release);  // (H2) pairs with (H3)

// (H3) a collector's scan of the holds, after its epoch read showed the grace
// period over: acquire, pairs with (H2) (and sees (H1) through E2-E5-E4).
inline constexpr std::memory_order scan_hold = entry("H3", std::memory_order_acquire);  // (H3) pairs with (H2)

// ---- The query cache's root (docs/design.md, "Query cache"; lib/query_cache.cpp)

// (Q1) a write publishes its state with a compare-exchange of the root. The
// root is a pointer EBR protects: the old state is retired after this CAS,
// so by ebr.hpp's protection rule it is an unlink and must be seq_cst, not
// merely acq_rel (the RC11 litmus cache_root_cycle finds a reader using a
// freed state with acq_rel here and acquire at (Q2)). As a release it also
// publishes everything the writer built.
inline constexpr std::memory_order publish_root = entry("Q1", std::memory_order_seq_cst);  // (Q1) with (Q2), (E1)

// (Q2) readers and writers load the root while pinned: the protected load of
// the protection rule, seq_cst (with Q1 and E1); as an acquire it pairs with
// (Q1)'s release.
inline constexpr std::memory_order load_root = entry("Q2", std::memory_order_seq_cst);  // (Q2) with (Q1), (E1)

// ---- kept records (docs/design.md, "Settling a replaced version";
// detail/hash_map_writes.hpp) ------------------------------------------------
// A kept record's `above` is a pointer EBR protects: the version it names is
// retired by whoever unlinks it, and a recheck dereferences it. (K1) and (K2),
// the above_unlinked flag, and (K3), the link words that pass a record's
// reference between versions, are seq_cst on the map's protocol path.

// (K4) hand-on: an unlinker moves a record's `above` from the version it
// unlinked to that version's newer neighbour, then retires the version: the
// unlink of the protection rule, seq_cst (the RC11 litmus
// kept_record_hand_on finds a recheck reading a freed version with acq_rel).
inline constexpr std::memory_order hand_on_above = entry("K4", std::memory_order_seq_cst);  // (K4) with (K5), (E1)

// (K5) a recheck reads `above` while pinned, after its flag (K2), and takes
// it (an exchange to null) when it settles the record: the protected load.
inline constexpr std::memory_order read_above = entry("K5", std::memory_order_seq_cst);  // (K5) with (K4), (E1)

// ---- Snapshot publication (docs/design.md, "Versions and snapshots" and
// "Trimming"; detail/snapshot_registry.hpp) ----------------------------------
//
// A snapshot announces t (S1), re-reads the clock (S2) and advances it past t
// (S3); a trimmer reads the clock (S4) *before* it scans the announcements
// (S5), so a snapshot it misses has t >= that clock value. Two
// store-buffering pairs carry that argument: [S1; S2] against [S4; S5] and
// [S10; S2] against [S4; S11]; all four sides are seq_cst.

// (S1) announce: a snapshot stores t in its slot before validating (S2).
inline constexpr std::memory_order announce_timestamp = entry("S1", std::memory_order_seq_cst);  // (S1) with (S5)

// (S2) the snapshot's clock reads: the first read of t and the validation
// after (S1). seq_cst: store-buffering with the trimmer's (S4) then (S5).
inline constexpr std::memory_order validate_clock = entry("S2", std::memory_order_seq_cst);  // (S2) with (S3), (S4)

// (S3) the snapshot's advance: CAS clock t -> t+1, its linearization point.
// Every stamp read (S9) and trimmer's read (S4) after it sees a clock > t.
inline constexpr std::memory_order advance_clock = entry("S3", std::memory_order_seq_cst);  // (S3) with (S4), (S9)

// (S4) the trimmer's clock read, before its scan (S5) and live check (S11).
// A weakened (S4) breaks only the store-buffering argument, which Relacy
// cannot show (its seq_cst stores are seen by every later seq_cst load); the
// RC11 litmus tests (stress/rc11/) do, and show acquire is not enough.
inline constexpr std::memory_order trim_clock = entry("S4", std::memory_order_seq_cst);  // (S4) with (S3), (S2)

// (S5) the trimmer's scan of each slot's timestamp: store-buffering with
// (S1); acquire-or-stronger to see, with (S8), the reads of a closed snapshot.
inline constexpr std::memory_order scan_timestamp = entry("S5", std::memory_order_seq_cst);  // (S5) with (S1), (S8)

// (S6) close marks its slot's link (logical deletion), after (S8) and the
// kept list's exchange: a scanner that reads the mark and unlinks and
// retires the slot sees them done (at least release; seq_cst RMW anyway).
// Needed when the closer could not pin (RC11 `closed_slot_free`).
inline constexpr std::memory_order mark_closed = entry("S6", std::memory_order_seq_cst);  // (S6) with (S13)

// (S7) unlink CAS of a closed slot (the link still names it unmarked):
// single-slot unlinks, so a frozen link never skips an open slot. seq_cst:
// EBR's protection rule, as for any guarded pointer (RC11
// `registry_slot_unlink`: acq_rel lets a pinned scan read the freed slot).
inline constexpr std::memory_order unlink_slot = entry("S7", std::memory_order_seq_cst);  // (S7) with (S13)

// (S8) withdraw at close: no_timestamp into the slot. At least release: a
// closed snapshot's unpinned reads of versions happen-before the trimmer's
// scan (S5) that sees it gone, and so before the versions are freed.
inline constexpr std::memory_order withdraw_timestamp = entry("S8", std::memory_order_seq_cst);  // (S8) with (S5)

// (S9) the clock read that stamps a version (snapshot_registry::now()).
// seq_cst: after a snapshot's advance (S3) in the total order, so a version
// installed after a snapshot read its entry gets a stamp > t.
inline constexpr std::memory_order stamp_clock = entry("S9", std::memory_order_seq_cst);  // (S9) pairs with (S3)

// (S10) live-snapshot count: increment before the snapshot's clock read (S2),
// decrement at close. seq_cst for the store-buffering pair with (S4), (S11);
// the decrement is also the release through which a trimmer that skips the
// scan (S11 reads 0) still sees a closed snapshot's reads, as (S8) does.
inline constexpr std::memory_order count_live = entry("S10", std::memory_order_seq_cst);  // (S10) with (S11)

// (S11) the trimmer's live check after (S4): 0 means it may skip the scan.
// Acquire-or-stronger, pairing with the decrements (S10).
inline constexpr std::memory_order read_live = entry("S11", std::memory_order_seq_cst);  // (S11) with (S10)

// (S12) slot list push: publishes a new slot and its `next`
// (release, for (S13)). seq_cst: a trimmer must not miss a slot whose
// announcement it would have to see, so the push is in the total order before
// the owner's (S1) and (S2), against the trimmer's (S4) then (S13). With
// release/acquire a trimmer that read a clock moved by another snapshot could
// read the list head from before the push (found by snapshot_model).
inline constexpr std::memory_order publish_slot = entry("S12", std::memory_order_seq_cst);  // (S12) with (S13)

// (S13) slot list traversal: acquire for (S12)'s `next`; seq_cst
// for the store-buffering argument above.
inline constexpr std::memory_order load_slots = entry("S13", std::memory_order_seq_cst);  // (S13) with (S12)

}  // namespace snapcache::detail::orders
