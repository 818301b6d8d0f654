#include "ebr_litmus.hpp"

#include "snapcache/detail/orders.hpp"

namespace rc11 {
namespace {

constexpr value pinned_bit = 1;  // detail::pinned_bit
constexpr value no_node = 0, node = 1;
constexpr auto seq_cst = std::memory_order_seq_cst;

struct ebr_orders {
  std::memory_order pin_announce, unpin, scan_announcement, read_epoch, advance_epoch, advance_epoch_failure;

  explicit ebr_orders(const order_table& t)
      : pin_announce(t["E1"]),
        unpin(t["E2"]),
        scan_announcement(t["E3"]),
        read_epoch(t["E4"]),
        advance_epoch(t["E5"]),
        advance_epoch_failure(snapcache::detail::orders::failure(read_epoch, advance_epoch)) {}  // as the table's
};

struct domain {
  location epoch, announcement, head, payload;
};

domain make_domain(program& p) {
  return {p.add_location("epoch", 0), p.add_location("announcement", 0), p.add_location("head", node),
          p.add_location("payload", 1)};
}

// Pins, loads the head as the map does, uses what it found, unpins.
void reader(thread_context& c, const domain& d, const ebr_orders& o) {
  const value e = c.load(d.epoch, o.read_epoch);                          // enter(): (E4)
  c.exchange(d.announcement, (e << 1) | pinned_bit, o.pin_announce);      // (E1)
  if (c.load(d.head, seq_cst) == node) {                                  // the protected load
    c.check(c.read_nonatomic(d.payload) == 1, "the reader read the node after its free");  // the use
  }
  c.store(d.announcement, 0, o.unpin);                                    // leave(): (E2)
}

// try_advance(): e -> e+1 if the one record is unpinned or announces e.
void try_advance(thread_context& c, const domain& d, const ebr_orders& o) {
  const value e = c.load(d.epoch, o.read_epoch);                // (E4) before the scan
  const value announced = c.load(d.announcement, o.scan_announcement);  // (E3)
  if ((announced & pinned_bit) != 0 && (announced >> 1) != e) return;
  value expected = e;
  c.compare_exchange(d.epoch, expected, e + 1, o.advance_epoch, o.advance_epoch_failure);  // (E5)
}

// Unlinks the node and retires it: returns the epoch tag.
value unlink_and_retire(thread_context& c, const domain& d, const ebr_orders& o) {
  value expected = node;
  c.compare_exchange(d.head, expected, no_node, seq_cst, seq_cst);
  return c.load(d.epoch, o.read_epoch);  // retire(): (E4) after the unlink
}

// collect(): frees the node once the epoch is two past its tag.
void collect(thread_context& c, const domain& d, const ebr_orders& o, value tag) {
  if (c.load(d.epoch, o.read_epoch) >= tag + 2) c.write_nonatomic(d.payload, 0);  // (E4); the free
}

litmus_result reclaim_after_unlink(const ebr_orders& o) {
  program p;
  const domain d = make_domain(p);
  p.add_thread([=](thread_context& c) { reader(c, d, o); });
  p.add_thread([=](thread_context& c) {
    const value tag = unlink_and_retire(c, d, o);
    try_advance(c, d, o);
    try_advance(c, d, o);
    collect(c, d, o, tag);
  });
  return from_exploration("reclaim_after_unlink", explore(p));
}

litmus_result reclaim_by_advancer(const ebr_orders& o) {
  program p;
  const domain d = make_domain(p);
  p.add_thread([=](thread_context& c) { reader(c, d, o); });
  p.add_thread([=](thread_context& c) { collect(c, d, o, unlink_and_retire(c, d, o)); });
  p.add_thread([=](thread_context& c) {
    try_advance(c, d, o);
    try_advance(c, d, o);
  });
  return from_exploration("reclaim_by_advancer", explore(p));
}

// A guarded pointer's whole cycle: a reader pins, loads the pointer with
// `load` and reads what it found; a writer replaces it with a CAS of order
// `publish`, retires the old target, advances twice and frees it. The
// target's contents are the plain location `payload`. Instances:
//   cache_root_cycle (lib/query_cache.cpp): the cache's root (Q1, Q2);
//   registry_slot_unlink (detail/snapshot_registry.hpp): a link of the
//     snapshot registry's list skips a closed slot (S7), read by a scan (S13);
//   kept_record_hand_on (detail/hash_map_writes.hpp): a kept record's
//     `above` moves past the version its unlinker retires (K4), read by a
//     recheck (K5).
litmus_result guarded_pointer_cycle(const char* name, const ebr_orders& o, std::memory_order publish,
                                    std::memory_order load) {
  constexpr value old_state = 1, new_state = 2;
  program p;
  const location epoch = p.add_location("epoch", 0);
  const location announcement = p.add_location("announcement", 0);
  const location root = p.add_location("root", old_state);
  const location payload = p.add_location("payload", 1);
  const domain d{epoch, announcement, root, payload};
  p.add_thread([=](thread_context& c) {
    const value e = c.load(epoch, o.read_epoch);                      // enter(): (E4)
    c.exchange(announcement, (e << 1) | pinned_bit, o.pin_announce);  // (E1)
    if (c.load(root, load) == old_state) {                            // the guarded load
      c.check(c.read_nonatomic(payload) == 1, "the reader read the old target after its free");
    }
    c.store(announcement, 0, o.unpin);  // leave(): (E2)
  });
  p.add_thread([=](thread_context& c) {
    value expected = old_state;
    c.compare_exchange(root, expected, new_state, publish,
                       snapcache::detail::orders::failure(load, publish));  // the unlink
    const value tag = c.load(epoch, o.read_epoch);                           // retire(): (E4)
    try_advance(c, d, o);
    try_advance(c, d, o);
    collect(c, d, o, tag);
  });
  return from_exploration(name, explore(p));
}

// The snapshot registry's close and sweep (detail/snapshot_registry.hpp),
// on the path where the closer could not pin (release_slot with an empty
// guard): the closer withdraws its timestamp (S8) and marks its slot
// closed (S6); a scanner, pinned, reads the mark (S13), unlinks the slot
// (S7), retires it, advances twice and frees it. Nothing but the mark
// orders the closer's last write before the free: no data race between
// the withdrawal and the free.
litmus_result closed_slot_free(const ebr_orders& o, const order_table& t) {
  constexpr value open_slot = 0, closed_bit = 1, slot = 1, no_slot = 0, no_timestamp = ~value{0};
  program p;
  const domain d = make_domain(p);
  const location link = p.add_location("link", slot);
  const location slot_next = p.add_location("slot.next", open_slot);
  const location slot_timestamp = p.add_location("slot.timestamp", 5);
  p.add_thread([=](thread_context& c) {
    c.store(slot_timestamp, no_timestamp, t["S8"]);  // close(): (S8)
    c.fetch_add(slot_next, closed_bit, t["S6"]);     // release_slot(): (S6), a fetch_or of the one bit
  });
  p.add_thread([=](thread_context& c) {
    const value e = c.load(d.epoch, o.read_epoch);                      // enter(): (E4)
    c.exchange(d.announcement, (e << 1) | pinned_bit, o.pin_announce);  // (E1)
    if ((c.load(slot_next, t["S13"]) & closed_bit) == 0) {              // for_each_slot(): (S13)
      c.store(d.announcement, 0, o.unpin);
      return;
    }
    value expected = slot;
    if (!c.compare_exchange(link, expected, no_slot, t["S7"],
                            snapcache::detail::orders::failure(t["S13"], t["S7"]))) {  // unlink(): (S7)
      c.store(d.announcement, 0, o.unpin);
      return;
    }
    const value tag = c.load(d.epoch, o.read_epoch);  // retire_raw(): (E4)
    c.store(d.announcement, 0, o.unpin);              // leave(): (E2)
    try_advance(c, d, o);
    try_advance(c, d, o);
    if (c.load(d.epoch, o.read_epoch) >= tag + 2) c.write_nonatomic(slot_timestamp, 0);  // the free
  });
  return from_exploration("closed_slot_free", explore(p));
}

// guard::hold (H1-H3): a reader pins, loads the head, holds the node,
// unpins and uses the node unpinned, then lets it go; a reclaimer unlinks
// the node, retires it, advances twice and frees it unless its scan of the
// hold slot finds it. No re-read after the hold: the grace period's scan
// sees the reader's unpin, which the hold is sequenced before.
litmus_result hold_past_unpin(const ebr_orders& o, const order_table& t) {
  program p;
  const domain d = make_domain(p);
  const location hold = p.add_location("hold", no_node);
  const std::memory_order publish_hold = t["H1"], release_hold = t["H2"], scan_hold = t["H3"];
  p.add_thread([=](thread_context& c) {
    const value e = c.load(d.epoch, o.read_epoch);                      // enter(): (E4)
    c.exchange(d.announcement, (e << 1) | pinned_bit, o.pin_announce);  // (E1)
    if (c.load(d.head, seq_cst) != node) {
      c.store(d.announcement, 0, o.unpin);
      return;
    }
    c.store(hold, node, publish_hold);     // hold(): (H1)
    c.store(d.announcement, 0, o.unpin);   // leave(): (E2)
    c.check(c.read_nonatomic(d.payload) == 1, "the holder read the node after its free");
    c.store(hold, no_node, release_hold);  // held::release(): (H2)
  });
  p.add_thread([=](thread_context& c) {
    const value tag = unlink_and_retire(c, d, o);
    try_advance(c, d, o);
    try_advance(c, d, o);
    if (c.load(d.epoch, o.read_epoch) >= tag + 2 && c.load(hold, scan_hold) != node) {  // (E4), (H3)
      c.write_nonatomic(d.payload, 0);  // the free
    }
  });
  return from_exploration("hold_past_unpin", explore(p));
}

// Slot reuse: the holder releases X (H2) and holds another object Y in the
// same slot (H1). A collector that reads Y frees X.
litmus_result hold_slot_reused(const ebr_orders& o, const order_table& t) {
  program p;
  const domain d = make_domain(p);
  const location hold = p.add_location("hold", no_node);
  const value other = 2;
  const std::memory_order publish_hold = t["H1"], release_hold = t["H2"], scan_hold = t["H3"];
  p.add_thread([=](thread_context& c) {
    const value e = c.load(d.epoch, o.read_epoch);
    c.exchange(d.announcement, (e << 1) | pinned_bit, o.pin_announce);
    if (c.load(d.head, seq_cst) != node) {
      c.store(d.announcement, 0, o.unpin);
      return;
    }
    c.store(hold, node, publish_hold);     // hold X (H1)
    c.store(d.announcement, 0, o.unpin);   // (E2)
    c.check(c.read_nonatomic(d.payload) == 1, "the holder read the node after its free");
    c.store(hold, no_node, release_hold);  // release X (H2)
    c.store(hold, other, publish_hold);    // hold Y in the same slot (H1)
  });
  p.add_thread([=](thread_context& c) {
    const value tag = unlink_and_retire(c, d, o);
    try_advance(c, d, o);
    try_advance(c, d, o);
    if (c.load(d.epoch, o.read_epoch) >= tag + 2 && c.load(hold, scan_hold) == other) {  // reads Y: X not held
      c.write_nonatomic(d.payload, 0);  // the free of X
    }
  });
  return from_exploration("hold_slot_reused", explore(p));
}

// synchronize() step 2 against a collector's take_parked(): the collector
// counts itself in transit, takes the shelf (acquire), pushes, uncounts;
// synchronize takes the shelf (empty), waits for in_transit == 0, takes
// incoming. Must synchronize see the collector's push?
litmus_result transit_counter(std::memory_order take_shelf) {
  program p;
  const location shelf = p.add_location("shelf", 1), in_transit = p.add_location("in_transit", 0),
                 incoming = p.add_location("incoming", 0);
  p.add_thread([=](thread_context& c) {
    c.fetch_add(in_transit, 1, seq_cst);
    if (c.exchange(shelf, 0, take_shelf) == 1) c.store(incoming, 1, std::memory_order_release);
    c.fetch_add(in_transit, static_cast<value>(-1), seq_cst);
  });
  p.add_thread([=](thread_context& c) {
    if (c.exchange(shelf, 0, take_shelf) == 1) return;  // took it itself
    if (c.load(in_transit, seq_cst) != 0) return;       // would wait
    c.check(c.load(incoming, std::memory_order_acquire) == 1, "synchronize missed a bag in transit");
  });
  return from_exploration("transit_counter", explore(p));
}

// A thread registering (pushing its record, E8) while another advances
// twice: the advancer's registry load (E9) may miss the new record.
litmus_result register_during_advance(const ebr_orders& o, std::memory_order publish, std::memory_order load_reg) {
  program p;
  const domain d = make_domain(p);
  const location registry = p.add_location("registry", 0);
  p.add_thread([=](thread_context& c) {
    c.store(registry, 1, publish);                                          // (E8)
    const value e = c.load(d.epoch, o.read_epoch);                          // (E4)
    c.exchange(d.announcement, (e << 1) | pinned_bit, o.pin_announce);      // (E1)
    if (c.load(d.head, seq_cst) == node) {
      c.check(c.read_nonatomic(d.payload) == 1, "the reader read the node after its free");
    }
    c.store(d.announcement, 0, o.unpin);
  });
  p.add_thread([=](thread_context& c) {
    const value tag = unlink_and_retire(c, d, o);
    for (int i = 0; i < 2; ++i) {
      const value e = c.load(d.epoch, o.read_epoch);
      if (c.load(registry, load_reg) == 1) {
        const value announced = c.load(d.announcement, o.scan_announcement);
        if ((announced & pinned_bit) != 0 && (announced >> 1) != e) continue;
      }
      value expected = e;
      c.compare_exchange(d.epoch, expected, e + 1, o.advance_epoch, o.advance_epoch_failure);
    }
    collect(c, d, o, tag);
  });
  return from_exploration("register_during_advance", explore(p));
}

}  // namespace

std::vector<litmus_result> run_ebr_litmus(const order_table& table) {
  const ebr_orders orders(table);
  return run_timed({
      [&] { return reclaim_after_unlink(orders); },
      [&] { return reclaim_by_advancer(orders); },
      [&] { return guarded_pointer_cycle("cache_root_cycle", orders, table["Q1"], table["Q2"]); },
      [&] { return guarded_pointer_cycle("registry_slot_unlink", orders, table["S7"], table["S13"]); },
      [&] { return guarded_pointer_cycle("kept_record_hand_on", orders, table["K4"], table["K5"]); },
      [&] { return closed_slot_free(orders, table); },
      [&] { return hold_past_unpin(orders, table); },
      [&] { return hold_slot_reused(orders, table); },
      [&] { return register_during_advance(orders, table["E8"], table["E9"]); },
      [&] { return transit_counter(table["E13"]); },
  });
}

}  // namespace rc11
