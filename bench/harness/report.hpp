// Printing the comparison harness's results: readable tables and one CSV.
//
// The CSV is long-form, one measurement per row:
//   section,workload,threads,variant,metric,median,min,max,n,values,note
// section is "grid" (metrics mops, p50_ns, p99_ns, p999_ns, max_window_ns,
// scans_per_s, items_per_s, keep_ratio, or status for a skipped or failed
// cell),
// "best_peer" (metrics ratio and best_peer_mops; note names the peer),
// "view_cost" (metric ns, threads empty, workload = entries) or "memory"
// (metrics heap_bytes_per_entry, rss_bytes_per_entry). `values` lists the
// per-repeat values, ';'-separated, in repeat order.
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
void print_memory(std::ostream& out, const std::vector<memory_result>& memory);

// Returns false and sets *error when the file cannot be written. Any of the
// inputs may be empty.
bool write_csv(const std::string& path, const grid_result* grid, const std::vector<view_cost_result>& costs,
               const std::vector<memory_result>& memory, std::string* error = nullptr);

}  // namespace snapcache::bench
