// Linearizability of query cache histories: each recorded operation on one
// cache (insert, erase, contains, lookup, candidates) and its result, checked
// as a whole against the sequential model of the specification
// (tests/support/query_cache_model.hpp) with the search of search.hpp.
//
// The cache is one object, not a map of independent keys: evictions tie every
// id to every other, so there is no per-key split. Keep histories small (a few
// ids, a capacity of two or three, tens of operations) and pass a step cap; a
// cap hit proves nothing and must fail loudly, as with check().
//
// Sequential model: the model's standard (or compat) rules, lookup with the
// history's max_age and now and unlimited inspections; a lookup's hit must be
// the model's answer, whole (the entry as inserted); candidates() must equal
// the model's list, in order.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lincheck/checker.hpp"
#include "snapcache/query_cache.hpp"

namespace snapcache::lincheck {

enum class cache_op_kind { insert, erase, contains, lookup, candidates };

struct cache_op {
  unsigned thread = 0;
  cache_op_kind kind = cache_op_kind::contains;
  query_entry entry;  // insert: the entry inserted
  std::string id;     // erase, contains
  std::string sql;    // lookup
  std::size_t max_inspections = unlimited;  // lookup
  // Results.
  insert_result inserted = insert_result::dropped;  // insert
  bool ok = false;                                  // erase, contains
  std::optional<query_entry> hit;                   // lookup
  std::vector<query_entry> listed;                  // candidates, in order
  std::uint64_t invoked = 0;
  std::uint64_t responded = 0;
};

using cache_history = std::vector<cache_op>;

// The cache all operations ran on, and the lookup arguments they used.
struct cache_setup {
  std::size_t capacity = 2;
  cache_mode mode = cache_mode::standard;
  cache_clock::duration max_age = std::chrono::hours(1);
  cache_clock::time_point now{};
};

// Checks `h`, which started on an empty cache made by `setup`.
[[nodiscard]] check_result check_cache(const cache_history& h, const cache_setup& setup,
                                       std::size_t step_cap = 1'000'000);

// One operation, e.g. "t1 [4, 9] insert(q2 @ s3://r/q2/7) -> admitted".
[[nodiscard]] std::string format(const cache_op& op);
[[nodiscard]] std::string format(const cache_history& h);

}  // namespace snapcache::lincheck
