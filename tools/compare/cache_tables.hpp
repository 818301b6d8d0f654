// The terminal tables of the query-cache measurements: the seed scenario
// (throughput, ratio to the best other cache, lookup latency percentiles,
// candidates() per second) and lookup cost against cache size. The map
// workloads print with the harness's own print_grid.
#pragma once

#include <iosfwd>
#include <vector>

#include "cache/lookup_cost.hpp"
#include "cache/seed_scenario.hpp"

namespace snapcache::compare {

void print_seed(std::ostream& out, const bench::seed_result& result);
void print_lookup_costs(std::ostream& out, const std::vector<bench::lookup_cost_result>& costs);

}  // namespace snapcache::compare
