// results.json: the whole run as one document, for scripts and notebooks.
//
// Shape (every time in ns, every rate per second unless named mops):
//   program, version, started_utc, machine, wall_seconds,
//   load_average {start: [1, 5, 15 min], end: [...]},
//   config {workloads, variants, threads, seconds, repeats, out, capacity},
//   variants [{name, kind: "cache"|"map", available, note}],
//   seed {capacity, pool_size, scan_every, cells: [{threads, variant, status,
//         note, repeats, ops_per_s, scans_per_s, hit_rate, p50_ns, p99_ns,
//         p999_ns, max_ns}], ratios: [{threads, throughput, p999}]} | null,
//   lookup_cost [{variant, entries, kind, ok, note, batches, median_ns,
//         min_ns, max_ns, inspections_per_lookup}],
//   maps {key_range, prefill, cells: [{workload, threads, variant, status,
//         note, repeats, mops, p50_ns, p99_ns, p999_ns, max_window_ns,
//         scans_per_s, items_per_s, keep_ratio}], best_peer: [{workload,
//         threads, snapcache_mops, best_peer, best_peer_mops, ratio}]} | null
// A measured quantity is {median, min, max, values: [per repeat]}; a cell
// that was skipped or failed has status "skipped"/"failed" and a note.
#pragma once

#include <string>

#include "results.hpp"

namespace snapcache::compare {

// False, with *error set, if the file cannot be written.
bool write_results_json(const std::string& path, const compare_results& results, std::string* error);

}  // namespace snapcache::compare
