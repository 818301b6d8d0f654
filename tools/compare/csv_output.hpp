// results.csv: every measurement of a run, one per row, in the map
// harness's long form so one reader handles both:
//   section,workload,threads,variant,metric,median,min,max,n,values,note
// The harness writes its sections first (grid, best_peer: see
// bench/harness/report.hpp); then come
//   seed         workload "seed"; metrics ops_per_s, scans_per_s, hit_rate,
//                p50_ns, p99_ns, p999_ns, max_ns, or status for a skipped or
//                failed cell; values = per-repeat values in repeat order
//   seed_ratio   variant query_cache; metrics throughput_ratio, p999_ratio
//                (query_cache / locked_query_cache medians)
//   lookup_cost  workload = entries, threads 1; metrics hit_ns, miss_ns
//                (median, min, max per lookup; n = batches of 32) and
//                hit_inspections, miss_inspections (per lookup)
#pragma once

#include <string>

#include "results.hpp"

namespace snapcache::compare {

// False, with *error set, if the file cannot be written.
bool write_results_csv(const std::string& path, const compare_results& results, std::string* error);

}  // namespace snapcache::compare
