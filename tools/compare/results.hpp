// Everything one snapcache-compare run produced: what the table, the CSV,
// the JSON and the plots are written from.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "cache/lookup_cost.hpp"
#include "cache/seed_scenario.hpp"
#include "harness/runner.hpp"
#include "options.hpp"

namespace snapcache::compare {

struct compare_results {
  options opt;
  std::string machine;
  std::string started_utc;
  std::array<double, 3> load_start{}, load_end{};
  double wall_seconds = 0;
  std::optional<bench::seed_result> seed;
  std::vector<bench::lookup_cost_result> lookup_costs;
  std::optional<bench::grid_result> grid;
};

}  // namespace snapcache::compare
