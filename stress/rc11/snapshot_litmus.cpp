#include "snapshot_litmus.hpp"

namespace rc11 {
namespace {

// The table entries the scenarios use, looked up once.
struct publication_orders {
  std::memory_order announce_timestamp, validate_clock, advance_clock, trim_clock, scan_timestamp,
      withdraw_timestamp, stamp_clock, count_live, read_live;

  explicit publication_orders(const order_table& t)
      : announce_timestamp(t["S1"]), validate_clock(t["S2"]), advance_clock(t["S3"]), trim_clock(t["S4"]),
        scan_timestamp(t["S5"]), withdraw_timestamp(t["S8"]), stamp_clock(t["S9"]), count_live(t["S10"]),
        read_live(t["S11"]) {}
};

constexpr value no_timestamp = ~value{0};  // detail::no_timestamp
constexpr value old_head = 0, new_head = 1;

// std::atomic's single-order compare_exchange: the failure order it implies.
constexpr std::memory_order implied_failure(std::memory_order o) {
  return o == std::memory_order_acq_rel   ? std::memory_order_acquire
         : o == std::memory_order_release ? std::memory_order_relaxed
                                          : o;
}

struct registry {
  location clock, live;
};

registry make_registry(program& p) {
  return {p.add_location("clock", 1), p.add_location("live", 0)};
}

// snapshot_registry::open(), with its slot already claimed.
value open(thread_context& c, const registry& r, location slot, const publication_orders& o) {
  c.fetch_add(r.live, 1, o.count_live);           // (S10)
  value t = c.load(r.clock, o.validate_clock);    // (S2)
  for (;;) {                                      // ends: each retry reads a later clock
    c.store(slot, t, o.announce_timestamp);       // (S1)
    const value again = c.load(r.clock, o.validate_clock);  // (S2)
    if (again == t) break;
    t = again;
  }
  value expected = t;
  c.compare_exchange(r.clock, expected, t + 1, o.advance_clock, implied_failure(o.advance_clock));  // (S3)
  return t;
}

// snapshot_registry::close(); the slot's mark (S6) and unlink (S7) are not modelled.
void close(thread_context& c, const registry& r, location slot, const publication_orders& o) {
  c.store(slot, no_timestamp, o.withdraw_timestamp);  // (S8)
  c.fetch_sub(r.live, 1, o.count_live);                // (S10)
}

// snapshot_registry::collect(): records the clock and what it saw in each slot.
void collect(thread_context& c, const registry& r, const std::vector<std::pair<std::string, location>>& slots,
             const publication_orders& o) {
  c.record("trim.clock", c.load(r.clock, o.trim_clock));  // (S4)
  const bool any = c.load(r.live, o.read_live) != 0;     // (S11)
  for (const auto& [name, slot] : slots) {
    c.record("trim.saw_" + name, any ? c.load(slot, o.scan_timestamp) : no_timestamp);  // (S5)
  }
}

// A snapshot the trimmer missed must have t >= the trimmer's clock.
void check_trimmer(const exploration& e, const std::vector<std::string>& snapshots, litmus_result& out) {
  for (const auto& [seen, example] : e.outcomes) {
    for (const auto& name : snapshots) {
      const value t = seen.at(name + ".t");
      const bool missed = seen.at("trim.saw_" + name) != t;
      if (missed && t < seen.at("trim.clock")) {
        out.violations.emplace_back("the trimmer missed snapshot " + name + " although its t " + std::to_string(t) +
                                        " < the trimmer's clock " + std::to_string(seen.at("trim.clock")),
                                    example);
      }
    }
  }
}

// Snapshots `open` stay open, `closed` open and close; a trimmer collects.
// Only the open ones must be seen.
litmus_result trim_scenario(const publication_orders& o, const std::vector<std::string>& open_snapshots,
                            const std::vector<std::string>& closed_snapshots, const std::string& scenario) {
  program p;
  const registry r = make_registry(p);
  std::vector<std::pair<std::string, location>> slots;
  for (const auto& name : open_snapshots) slots.emplace_back(name, p.add_location("slot_" + name, no_timestamp));
  for (const auto& name : closed_snapshots) slots.emplace_back(name, p.add_location("slot_" + name, no_timestamp));
  for (std::size_t i = 0; i < slots.size(); ++i) {
    const bool closes = i >= open_snapshots.size();
    p.add_thread([r, slot = slots[i].second, name = slots[i].first, closes, o](thread_context& c) {
      c.record(name + ".t", open(c, r, slot, o));
      if (closes) close(c, r, slot, o);
    });
  }
  p.add_thread([r, slots, o](thread_context& c) { collect(c, r, slots, o); });
  const exploration e = explore(p);
  litmus_result out = from_exploration(scenario, e);
  check_trimmer(e, open_snapshots, out);
  return out;
}

litmus_result stamp_after_advance(const publication_orders& o) {
  program p;
  const registry r = make_registry(p);
  const location slot = p.add_location("slot_A", no_timestamp);
  const location head = p.add_location("head", old_head);
  p.add_thread([=](thread_context& c) {
    c.record("A.t", open(c, r, slot, o));
    c.record("A.head", c.load(head, std::memory_order_seq_cst));  // visible_at(): seq_cst, as in hash_map.hpp
  });
  p.add_thread([=](thread_context& c) {
    value expected = old_head;
    c.compare_exchange(head, expected, new_head, std::memory_order_seq_cst, std::memory_order_seq_cst);
    c.record("stamp", c.load(r.clock, o.stamp_clock));  // (S9) snapshot_registry::now()
  });
  const exploration e = explore(p);
  litmus_result out = from_exploration("stamp_after_advance", e);
  for (const auto& [seen, example] : e.outcomes) {
    if (seen.at("A.head") == old_head && seen.at("stamp") <= seen.at("A.t")) {
      out.violations.emplace_back("snapshot A missed the new head although it is stamped " +
                                      std::to_string(seen.at("stamp")) + " <= its t " + std::to_string(seen.at("A.t")),
                                  example);
    }
  }
  return out;
}

}  // namespace

std::vector<litmus_result> run_snapshot_litmus(const order_table& table) {
  const publication_orders orders(table);
  return run_timed({
      [&] { return trim_scenario(orders, {"A"}, {}, "trim_after_advance"); },
      [&] { return trim_scenario(orders, {"A", "B"}, {}, "trim_after_other_advance"); },
      [&] { return trim_scenario(orders, {"A"}, {"B"}, "trim_after_closed_advance"); },
      [&] { return stamp_after_advance(orders); },
  });
}

}  // namespace rc11
