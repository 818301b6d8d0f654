// The registry of map variants: names, what each can do, and type-erased
// entry points into measure.hpp's loops instantiated for each adapter.
//
// Kept apart from variants.hpp so that code which only runs variants by
// name (runner.cpp) does not include the peers' headers; variants.cpp, the
// one file that does, defines the registry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "harness/measure.hpp"
#include "harness/workload.hpp"

namespace snapcache::bench {

struct variant {
  std::string_view name;
  bool available = false;
  std::string_view unavailable_reason;  // when !available
  std::string_view scan_method;         // empty: no safe concurrent scan, C is skipped
  std::string_view view_method;         // empty: no snapshot-like view
  cell_sample (*run)(const cell_spec&) = nullptr;
  view_cost_sample (*view_cost)(std::size_t entries, const dataset&, double budget_seconds) = nullptr;
  scan_rate_sample (*scan_rate)(std::size_t entries, const dataset&, double budget_seconds) = nullptr;  // null: no scan
  memory_sample (*memory)(std::size_t entries, const dataset&) = nullptr;
  std::string (*check)(std::uint64_t seed) = nullptr;  // empty string: passed
};

// Every variant, in a fixed order ("snapcache" first), compiled or not.
std::span<const variant> all_variants();
const variant* find_variant(std::string_view name);
// std::unordered_map<u64, u64> (no synchronisation), filled and churned the
// same way: the reference for bytes per entry.
memory_sample unordered_map_memory(std::size_t entries, const dataset& data);
// Plain iteration of std::unordered_map<u64, u64> (no concurrency), filled
// the same way: the reference for scan rates.
scan_rate_sample unordered_map_scan_rate(std::size_t entries, const dataset& data, double budget_seconds);

}  // namespace snapcache::bench
