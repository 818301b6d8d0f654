#include "snapshot_litmus.hpp"

#include <chrono>
#include <functional>
#include <stdexcept>

#include "snapcache/detail/orders.hpp"

namespace rc11 {
namespace {

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

litmus_result trim_scenario(const publication_orders& o, const std::vector<std::string>& snapshots,
                            const std::string& scenario) {
  program p;
  const registry r = make_registry(p);
  std::vector<std::pair<std::string, location>> slots;
  for (const auto& name : snapshots) slots.emplace_back(name, p.add_location("slot_" + name, no_timestamp));
  for (const auto& [name, slot] : slots) {
    p.add_thread([r, slot = slot, name = name, o](thread_context& c) { c.record(name + ".t", open(c, r, slot, o)); });
  }
  p.add_thread([r, slots, o](thread_context& c) { collect(c, r, slots, o); });
  const exploration e = explore(p);
  litmus_result out{scenario, e.executions, e.graphs, 0, {}};
  check_trimmer(e, snapshots, out);
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
  litmus_result out{"stamp_after_advance", e.executions, e.graphs, 0, {}};
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

publication_orders publication_orders::from_table() noexcept {
  namespace table = snapcache::detail::orders;
  return {table::announce_timestamp, table::validate_clock, table::advance_clock, table::trim_clock,
          table::scan_timestamp,     table::stamp_clock,    table::count_live,    table::read_live};
}

const std::vector<std::string_view>& publication_orders::entries() {
  static const std::vector<std::string_view> ids{"S1", "S2", "S3", "S4", "S5", "S9", "S10", "S11"};
  return ids;
}

publication_orders publication_orders::with(std::string_view id, std::memory_order order) const {
  publication_orders copy = *this;
  std::memory_order* fields[] = {&copy.announce_timestamp, &copy.validate_clock, &copy.advance_clock,
                                 &copy.trim_clock,         &copy.scan_timestamp, &copy.stamp_clock,
                                 &copy.count_live,         &copy.read_live};
  for (std::size_t i = 0; i < entries().size(); ++i) {
    if (entries()[i] == id) {
      *fields[i] = order;
      return copy;
    }
  }
  throw std::invalid_argument("no table entry " + std::string(id) + " in the snapshot litmus tests");
}

std::vector<litmus_result> run_snapshot_litmus(const publication_orders& orders) {
  const std::vector<std::function<litmus_result()>> scenarios{
      [&] { return trim_scenario(orders, {"A"}, "trim_after_advance"); },
      [&] { return trim_scenario(orders, {"A", "B"}, "trim_after_other_advance"); },
      [&] { return stamp_after_advance(orders); },
  };
  std::vector<litmus_result> results;
  for (const auto& scenario : scenarios) {
    const auto start = std::chrono::steady_clock::now();
    results.push_back(scenario());
    results.back().milliseconds =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  }
  return results;
}

}  // namespace rc11
