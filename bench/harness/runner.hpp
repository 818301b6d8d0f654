// The comparison harness's public interface: run a grid of cells over the
// registered map variants and summarise it.
//
// The problem. One run of one configuration on a shared machine says little:
// neighbours, frequency scaling and allocator state move results by tens of
// percent. A comparison needs repeats, spread, and repeats spread over time
// so a slow minute hits every variant alike.
//
// The mechanism. A grid is workloads x thread counts x variants. Repeats are
// interleaved: repeat 1 of every cell, then repeat 2, and so on; each cell
// run builds a fresh map and prefills it (see measure.hpp). Each cell
// reports the median of its repeats and their min-max spread. Workload C
// brings along C-noscan (the same writers, no scanner), and C's keep-ratio is
// median(C writers) / median(C-noscan writers). For every workload and
// thread count, "best peer" is the best median among the other variants that
// ran it (locked ones included) and the ratio is snapcache median / best
// peer median. Snapshot cost (taking the view alone, on a quiescent map),
// scan rate (full scans of a quiescent map, next to iterating
// std::unordered_map) and bytes per entry (after filling and churning, next
// to std::unordered_map) are measured separately.
//
// When not to use it. For micro-costs of single operations (pin, retire) use
// Google Benchmark programs such as ebr_bench; this harness measures
// sustained throughput of whole maps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/workload.hpp"

namespace snapcache::bench {

// A registered variant, as programs see it.
struct variant_info {
  std::string name;
  bool available = false;
  std::string unavailable_reason;
  std::string scan_method;  // empty: no safe concurrent scan (C skipped)
  std::string view_method;  // empty: no snapshot-like view
};
std::vector<variant_info> list_variants();

struct grid_config {
  std::vector<workload_kind> workloads{workload_kind::a, workload_kind::b, workload_kind::a_zipf,
                                       workload_kind::c};
  std::vector<std::string> variants;  // empty: every variant
  std::vector<unsigned> threads{1, 2};
  double seconds = 1.0;               // per cell run
  unsigned repeats = 5;
  bool pin = true;                    // pin threads to allowed CPUs, in order
  std::uint64_t seed = 42;
  std::uint64_t key_range = 1'000'000;
  std::size_t prefill = 500'000;
};

struct spread {
  double median = 0, min = 0, max = 0;
};
spread summarise(std::vector<double> values);

enum class cell_status { ok, skipped, failed };

struct cell_result {
  workload_kind workload = workload_kind::a;
  unsigned threads = 1;
  std::string variant;
  cell_status status = cell_status::ok;
  std::string note;                  // why skipped / failed
  std::vector<cell_sample> samples;  // one per completed repeat, in order
  spread mops;                       // writers' throughput for C and C-noscan
  spread p50_ns, p99_ns, p999_ns;    // C and C-noscan
  spread max_window_ns;              // C and C-noscan: see cell_sample
  spread scans_per_s, items_per_s;   // C
  std::optional<double> keep_ratio;  // C: mops.median / C-noscan mops.median
};

struct best_peer_result {
  workload_kind workload = workload_kind::a;
  unsigned threads = 1;
  double snapcache_median = 0;
  std::string best_peer;  // empty: no peer ran this cell
  double best_peer_median = 0;
  double ratio = 0;       // snapcache / best peer
};

struct grid_result {
  grid_config config;
  std::vector<cell_result> cells;
  std::vector<best_peer_result> comparisons;
  double wall_seconds = 0;
};

// Called after every cell run.
using progress_fn =
    std::function<void(unsigned repeat, std::size_t index, std::size_t count, const cell_result& cell)>;

// Throws std::invalid_argument for an unknown variant name, no threads, a
// thread count of 0, or repeats == 0.
grid_result run_grid(const grid_config& config, const dataset& data, const progress_fn& progress = {});

const cell_result* find_cell(const grid_result& result, workload_kind w, unsigned threads, std::string_view variant);

// Single-threaded check of each available variant's adapter against
// std::unordered_map (results of every operation, then a scan's contents).
struct check_result {
  std::string variant;
  bool ran = false;     // false: variant not compiled
  bool passed = false;
  std::string note;     // what failed, or why it did not run
};
std::vector<check_result> check_variants(const std::vector<std::string>& variants, std::uint64_t seed = 42);

// Time to take a view (snapshot() and the like) alone, at each size.
struct view_cost_result {
  std::string variant;
  std::string method;
  std::size_t entries = 0;
  bool ok = false;
  std::string note;
  std::size_t samples = 0;
  double median_ns = 0, min_ns = 0, max_ns = 0;
};
std::vector<view_cost_result> measure_view_costs(const std::vector<std::string>& variants, const dataset& data,
                                                 const std::vector<std::size_t>& sizes = {1000, 1'000'000},
                                                 double budget_seconds = 0.5);

// Items per second of full scans through each variant's scan() on a
// quiescent map of `entries` keys, one thread and no other threads running;
// "std_unordered_map" (plain iteration, no concurrency) first, as the
// reference. A variant without a scan method gets a row with a note.
struct scan_rate_result {
  std::string variant;
  std::string method;  // the variant's scan_method
  std::size_t entries = 0;
  bool ok = false;
  std::string note;
  std::size_t scans = 0;
  spread items_per_s;
};
std::vector<scan_rate_result> measure_scan_rates(const std::vector<std::string>& variants, const dataset& data,
                                                 std::size_t entries = 1'000'000, double budget_seconds = 2.0);

// Bytes per entry after filling `entries` keys into a map built with that
// capacity hint, overwriting every key twice and erasing and reinserting a
// tenth of them (see memory_cost in measure.hpp); "std_unordered_map" first,
// as the reference. Run before any threads of your own exist (it forks).
struct memory_result {
  std::string variant;
  std::size_t entries = 0;
  bool ok = false;
  std::string note;
  double heap_bytes_per_entry = 0;  // mallinfo2 growth
  double rss_bytes_per_entry = 0;
  bool counted = false;             // the program links a counting operator new
  double requested_bytes_per_entry = 0;
  double allocator_bytes_per_entry = 0;
  std::uint64_t unsized_deletes = 0;
};
std::vector<memory_result> measure_memory(const std::vector<std::string>& variants, const dataset& data,
                                          std::size_t entries = 1'000'000);

}  // namespace snapcache::bench
