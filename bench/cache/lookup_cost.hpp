// Lookup cost against cache size: does a lookup get slower as the cache grows?
//
// The problem. The original sorted the whole cache on every lookup and
// walked it newest first, so a lookup for a query that ran long ago cost a
// walk of everything newer. The specification asks for a text index instead
// (unlimited inspections must not cost a scan of the cache); this measures
// whether each cache keeps that promise, in time and in the work it reports.
//
// The mechanism. For each size n, a cache of capacity n is filled with n
// SUCCEEDED entries: a few hot texts (8, or n/2 if fewer) whose entries are
// the *oldest* candidates — last in candidate order, where a walk would find
// them only after every other entry — and n - 8 distinct other texts. Then,
// on one thread, lookups with unlimited inspections are timed in batches of
// 32 (steady_clock around the batch, so the clock costs under 2 ns per
// lookup): "hit" cycles through the hot texts, "miss" asks for a text no
// entry has. Every (cache, size, kind) is filled first and then measured in
// rounds of one batch each, so a slow moment of a shared machine falls on
// all of them alike. Each result is the median, min and max over batches of
// the time per lookup, and the cache's own `inspections` statistic divided
// by the lookups made (1 for an indexed hit, 0 for an indexed miss, about n
// for a walk).
//
// When not to use it. It measures a quiescent cache; lookups while writers
// run are the seed scenario's job.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace snapcache::bench {

struct lookup_cost_result {
  std::string variant;
  std::size_t entries = 0;
  std::string kind;  // "hit" or "miss"
  bool ok = false;
  std::string note;  // what failed
  std::size_t batches = 0;
  double median_ns = 0, min_ns = 0, max_ns = 0;  // per lookup
  double inspections_per_lookup = 0;
};

// variants: cache names (empty: both). budget_seconds: measuring time per
// (variant, size, kind), at least 5 and at most 2001 batches each. Every
// cache is held at once (about 1 KiB per entry). Throws
// std::invalid_argument for an unknown name or a size of 0.
std::vector<lookup_cost_result> measure_lookup_costs(const std::vector<std::string>& variants,
                                                     const std::vector<std::size_t>& sizes = {100, 100'000},
                                                     double budget_seconds = 0.2);

}  // namespace snapcache::bench
