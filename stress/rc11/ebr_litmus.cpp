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

}  // namespace

std::vector<litmus_result> run_ebr_litmus(const order_table& table) {
  const ebr_orders orders(table);
  return run_timed({
      [&] { return reclaim_after_unlink(orders); },
      [&] { return reclaim_by_advancer(orders); },
  });
}

}  // namespace rc11
