#include "litmus.hpp"

#include <chrono>
#include <stdexcept>

#include "snapcache/detail/orders.hpp"

namespace rc11 {

order_table order_table::compiled() {
  namespace t = snapcache::detail::orders;
  order_table table;
  table.entries_ = {
      {"E1", t::pin_announce},        {"E2", t::unpin},           {"E3", t::scan_announcement},
      {"E4", t::read_epoch},          {"E5", t::advance_epoch},   {"E6", t::claim_record},
      {"E7", t::release_record},      {"E8", t::publish_record},  {"E9", t::load_registry},
      {"S1", t::announce_timestamp},  {"S2", t::validate_clock},  {"S3", t::advance_clock},
      {"S4", t::trim_clock},          {"S5", t::scan_timestamp},  {"S6", t::mark_closed},
      {"S7", t::unlink_slot},        {"S8", t::withdraw_timestamp}, {"S9", t::stamp_clock},
      {"S10", t::count_live},         {"S11", t::read_live},      {"S12", t::publish_slot},
      {"S13", t::load_slots},
      {"E10", t::push_bag},           {"E11", t::take_bags},      {"E12", t::park_bag},
      {"E13", t::take_shelf},         {"E14", t::take_token},     {"E15", t::give_token},
      {"H1", t::publish_hold},        {"H2", t::release_hold},    {"H3", t::scan_hold},
      {"Q1", t::publish_root},        {"Q2", t::load_root},
      {"K4", t::hand_on_above},       {"K5", t::read_above},
  };
  return table;
}

std::memory_order order_table::operator[](std::string_view id) const {
  for (const auto& [entry, order] : entries_) {
    if (entry == id) return order;
  }
  throw std::invalid_argument("no entry " + std::string(id) + " in the order table");
}

order_table order_table::with(std::string_view id, std::memory_order order) const {
  order_table copy = *this;
  for (auto& [entry, current] : copy.entries_) {
    if (entry == id) {
      current = order;
      return copy;
    }
  }
  throw std::invalid_argument("no entry " + std::string(id) + " in the order table");
}

litmus_result from_exploration(std::string scenario, const exploration& e) {
  litmus_result r{std::move(scenario), e.executions, e.graphs, 0, {}};
  for (const auto& violation : e.violations) r.violations.push_back(violation);
  return r;
}

std::vector<litmus_result> run_timed(const std::vector<std::function<litmus_result()>>& scenarios) {
  std::vector<litmus_result> results;
  for (const auto& scenario : scenarios) {
    const auto start = std::chrono::steady_clock::now();
    results.push_back(scenario());
    results.back().milliseconds =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  }
  return results;
}

std::string describe_violations(const std::vector<litmus_result>& results) {
  std::string text;
  for (const auto& r : results) {
    for (const auto& [what, example] : r.violations) text += r.scenario + ": " + what + "\n" + example;
  }
  return text;
}

}  // namespace rc11
