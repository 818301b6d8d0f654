// Printing the comparison harness's results: readable tables and one CSV.
//
// The CSV is long-form, one measurement per row:
//   section,workload,threads,variant,metric,median,min,max,n,values,note
// section is "grid" (metrics mops, p50_ns, p99_ns, p999_ns, max_window_ns,
// scans_per_s, items_per_s, keep_ratio, or status for a skipped or failed
// cell),
// "best_peer" (metrics ratio and best_peer_mops; note names the peer),
// "view_cost" (metric ns, threads empty, workload = entries), "scan_rate"
// (metric items_per_s, threads 1, workload = entries, n = timed scans, note =
// scan method) or "memory" (workload = entries; metrics heap_bytes_per_entry
// (mallinfo2), rss_bytes_per_entry and, when map_bench's counting operator
// new is linked in, requested_bytes_per_entry, allocator_bytes_per_entry and
// unsized_deletes). `values` lists the per-repeat values, ';'-separated, in
// repeat order.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "harness/runner.hpp"

namespace snapcache::bench {

// CPU model, allowed CPUs, compiler: a line for the top of a report.
std::string machine_description();

// The median time between two consecutive steady_clock reads.
double timer_overhead_ns();

void print_checks(std::ostream& out, const std::vector<check_result>& checks);
void print_grid(std::ostream& out, const grid_result& result);
void print_view_costs(std::ostream& out, const std::vector<view_cost_result>& costs);
void print_scan_rates(std::ostream& out, const std::vector<scan_rate_result>& rates);
void print_memory(std::ostream& out, const std::vector<memory_result>& memory);

// Returns false and sets *error when the file cannot be written. Any of the
// inputs may be empty.
bool write_csv(const std::string& path, const grid_result* grid, const std::vector<view_cost_result>& costs,
               const std::vector<memory_result>& memory, const std::vector<scan_rate_result>& scan_rates,
               std::string* error = nullptr);
// The same without scan rates.
bool write_csv(const std::string& path, const grid_result* grid, const std::vector<view_cost_result>& costs,
               const std::vector<memory_result>& memory, std::string* error = nullptr);

}  // namespace snapcache::bench
