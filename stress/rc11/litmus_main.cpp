// Runs the RC11 litmus tests of EBR (ebr_litmus.hpp) and snapshot
// publication (snapshot_litmus.hpp) with the orders this build compiled from
// detail/orders.hpp, and prints one line per scenario, as the Relacy models
// do, so tools/weaken-orders.sh reads both:
//   <scenario> [weakened: <entry>]: passed|FAILED (N executions, M graphs, T ms)
// A failure prints the broken property and an execution that breaks it.
// Exit status 1 if any scenario fails.
#include <iostream>

#include "ebr_litmus.hpp"
#include "snapcache/detail/orders.hpp"
#include "snapshot_litmus.hpp"

int main() {
  const auto table = rc11::order_table::compiled();
  auto results = rc11::run_ebr_litmus(table);
  for (auto& r : rc11::run_snapshot_litmus(table)) results.push_back(std::move(r));
  int failures = 0;
  for (const auto& r : results) {
    std::cout << r.scenario << " [weakened: " << SNAPCACHE_WEAKENED_ENTRY << "]: "
              << (r.violations.empty() ? "passed" : "FAILED") << " (" << r.executions << " executions, " << r.graphs
              << " graphs, " << static_cast<long>(r.milliseconds) << " ms)\n";
    if (!r.violations.empty()) {
      ++failures;
      std::cout << "  " << r.violations.front().first << ":\n" << r.violations.front().second;
    }
  }
  return failures == 0 ? 0 : 1;
}
