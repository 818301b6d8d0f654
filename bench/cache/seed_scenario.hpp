// The seed scenario: the query cache used the way the code it replaces was,
// by many threads at once, measured for the lock-free cache and the locked one.
//
// The problem. The cache exists because a locked dictionary made every reader
// wait for the slowest scan. Whether query_cache fixes that shows only when
// lookups, inserts and scans run together; a micro-benchmark of one lookup
// says nothing about waiting.
//
// The mechanism. Each of T threads loops:
//   1. look up a text drawn from the pool (query_pool: Zipf, theta 0.99,
//      precomputed per thread), max_age one hour, unlimited inspections;
//   2. on a miss, insert the query it would have run: a fresh id, that text,
//      SUCCEEDED, submitted and completed now (not in the read-only variant,
//      which measures how lookups and scans alone scale with threads);
//   3. every scan_every-th iteration, take candidates() and walk all of it
//      (the original's "list the successful queries").
// One iteration is one op. Every 8th lookup is timed with steady_clock into
// the harness's latency_histogram (only the lookup call: the insert and scan
// are not in the timed region). Time for entries comes from system_clock,
// read once per 64 iterations (plus a nanosecond per iteration so entries of
// one block differ), so all threads share one clock at almost no cost.
// Each cell run builds a fresh cache of `capacity` and prefills it with one
// entry for each of the `capacity` most popular texts, older than anything
// the run inserts. Pool 100,000 texts, capacity 10,000 (the defaults): the
// cache holds a tenth of the texts, and at steady state about 70% of lookups
// hit (eviction goes by age, not use, so even the hottest text ages out once
// per 10,000 misses); every miss inserts and evicts the oldest entry, so
// writes and scans run all the time, and a candidates() walk of 10,000
// entries every 64 iterations is most of the work. Repeats are interleaved
// (repeat 1 of every cell, then repeat 2, ...) as in the map harness; each
// cell reports medians and min-max spread, and each thread count the ratio
// query_cache / locked_query_cache of throughput and of p99.9 lookup latency.
//
// When not to use it. The mix (mostly hits, a scan per 64 lookups) is one
// point; a cache that is scanned rarely or written heavily behaves
// differently, and both caches here run in standard mode only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/runner.hpp"  // spread, summarise, cell_status

namespace snapcache::bench {

class query_pool;

// The caches the scenario knows, in order: "query_cache", "locked_query_cache".
const std::vector<std::string>& cache_variant_names();
bool is_cache_variant(std::string_view name);

struct seed_config {
  std::vector<std::string> variants;  // empty: both caches
  std::vector<unsigned> threads{1, 2};
  double seconds = 1.0;               // per cell run
  unsigned repeats = 5;
  bool pin = true;                    // pin threads to the allowed CPUs, in order
  std::size_t capacity = 10'000;
  std::size_t pool_size = 100'000;    // distinct query texts
  unsigned scan_every = 64;           // candidates() once per this many iterations
  bool read_only = false;             // no insert on a miss: lookups and scans only
  std::uint64_t seed = 42;
};

// What one run of one cell measured.
struct seed_sample {
  bool ok = false;
  std::string error;
  double seconds = 0;              // mean measured time per thread
  std::uint64_t iterations = 0;    // ops
  std::uint64_t hits = 0, inserts = 0, scans = 0, scanned = 0;
  double ops_per_s = 0;            // sum over threads of iterations / own elapsed
  double scans_per_s = 0;          // sum over threads of scans / own elapsed
  double hit_rate = 0;
  std::uint64_t latency_samples = 0;
  double p50_ns = 0, p99_ns = 0, p999_ns = 0, max_ns = 0;  // sampled lookups
  std::size_t final_size = 0;      // entries held when the cell stopped
  std::uint64_t writes = 0;        // writes published while measuring (admitted + replaced)
  std::uint64_t retries = 0;       // writes computed again: another writer published first
  std::uint64_t sink = 0;
};

struct seed_cell {
  unsigned threads = 1;
  std::string variant;
  cell_status status = cell_status::ok;
  std::string note;
  std::vector<seed_sample> samples;  // one per completed repeat, in order
  spread ops_per_s, scans_per_s, hit_rate, p50_ns, p99_ns, p999_ns, max_ns;
};

// query_cache against locked_query_cache at one thread count (medians).
struct seed_ratio {
  unsigned threads = 1;
  double throughput = 0;  // query_cache ops/s / locked ops/s
  double p999 = 0;        // query_cache p99.9 / locked p99.9 (smaller is better)
};

struct seed_result {
  seed_config config;
  std::vector<seed_cell> cells;
  std::vector<seed_ratio> ratios;  // only where both caches ran
  double wall_seconds = 0;
};

using seed_progress_fn =
    std::function<void(unsigned repeat, std::size_t index, std::size_t count, const seed_cell& cell)>;

// `pool` must have rings for the largest thread count. Throws
// std::invalid_argument for an unknown variant, no thread counts, a thread
// count of 0, repeats == 0, capacity == 0 or scan_every == 0.
seed_result run_seed_scenario(const seed_config& config, const query_pool& pool,
                              const seed_progress_fn& progress = {});

const seed_cell* find_seed_cell(const seed_result& result, unsigned threads, std::string_view variant);

}  // namespace snapcache::bench
