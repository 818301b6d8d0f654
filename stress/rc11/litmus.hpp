// What a litmus test of snapcache's protocols reports, and the table-entry
// orders a test uses, so that a test can run with one entry weakened.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "explorer.hpp"

namespace rc11 {

struct litmus_result {
  std::string scenario;
  std::size_t executions = 0;
  std::size_t graphs = 0;
  double milliseconds = 0;
  // Each broken property, with an execution that breaks it.
  std::vector<std::pair<std::string, std::string>> violations;
};

// Entries of detail/orders.hpp by id ("E1", "S4", ...), as a build compiled
// them (a -DSNAPCACHE_WEAKEN_<entry> build has that entry relaxed).
class order_table {
 public:
  static order_table compiled();
  std::memory_order operator[](std::string_view id) const;
  // A copy with entry `id` set to `order`. Throws std::invalid_argument for
  // an id the table does not have.
  order_table with(std::string_view id, std::memory_order order) const;

 private:
  std::vector<std::pair<std::string_view, std::memory_order>> entries_;
};

// A result with the exploration's counts and its failed checks and races.
litmus_result from_exploration(std::string scenario, const exploration& e);

// Runs each scenario and times it.
std::vector<litmus_result> run_timed(const std::vector<std::function<litmus_result()>>& scenarios);

// The violations of every result, as text; empty if none.
std::string describe_violations(const std::vector<litmus_result>& results);

}  // namespace rc11
