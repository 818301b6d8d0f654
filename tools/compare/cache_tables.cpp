#include "cache_tables.hpp"

#include <ostream>
#include <string>

#include "harness/text.hpp"

namespace snapcache::compare {

using bench::format;
using bench::duration_text;
using bench::rate_text;
namespace {

// The best median throughput among the other caches that ran this thread count.
double best_other(const bench::seed_result& r, const bench::seed_cell& cell, std::string* name) {
  double best = 0;
  for (const bench::seed_cell& c : r.cells) {
    if (c.threads != cell.threads || c.variant == cell.variant || c.status != bench::cell_status::ok) continue;
    if (c.ops_per_s.median > best) {
      best = c.ops_per_s.median;
      *name = c.variant;
    }
  }
  return best;
}

}  // namespace

void print_seed(std::ostream& out, const bench::seed_result& r) {
  const bench::seed_config& cfg = r.config;
  out << format(
      "\n== Query cache seed scenario: lookup a Zipf(0.99) text of %zu, %s, candidates() every %u;"
      " capacity %zu ==\n",
      cfg.pool_size, cfg.read_only ? "read-only (no insert on a miss)" : "insert on a miss", cfg.scan_every,
      cfg.capacity);
  out << format("%.2f s per cell, %u repeats (interleaved), wall %.0f s. ops = iterations;"
                " values: median [min - max];\n",
                cfg.seconds, cfg.repeats, r.wall_seconds);
  out << "vs best = median / best other cache's median; latency: every 8th lookup timed (steady_clock)\n";
  for (unsigned t : cfg.threads) {
    out << format("\n-- %u thread%s --\n", t, t == 1 ? "" : "s");
    out << format("  %-19s %8s  %-17s %7s %5s %9s %9s %9s %9s %9s\n", "variant", "ops/s", "[min - max]", "vs best",
                  "hit%", "p50", "p99", "p99.9", "max", "scans/s");
    for (const bench::seed_cell& c : r.cells) {
      if (c.threads != t) continue;
      if (c.status != bench::cell_status::ok) {
        out << format("  %-19s %s: %s\n", c.variant.c_str(),
                      c.status == bench::cell_status::skipped ? "skipped" : "FAILED", c.note.c_str());
        continue;
      }
      std::string other;
      const double best = best_other(r, c, &other);
      const std::string range = "[" + rate_text(c.ops_per_s.min) + " - " + rate_text(c.ops_per_s.max) + "]";
      const std::string vs = best > 0 ? format("%.2f", c.ops_per_s.median / best) : "-";
      out << format("  %-19s %8s  %-17s %7s %5.1f %9s %9s %9s %9s %9s\n", c.variant.c_str(),
                    rate_text(c.ops_per_s.median).c_str(), range.c_str(), vs.c_str(), 100 * c.hit_rate.median,
                    duration_text(c.p50_ns.median).c_str(), duration_text(c.p99_ns.median).c_str(),
                    duration_text(c.p999_ns.median).c_str(), duration_text(c.max_ns.max).c_str(),
                    rate_text(c.scans_per_s.median).c_str());
    }
    for (const bench::seed_cell& c : r.cells) {
      if (c.threads != t || c.status != bench::cell_status::ok || c.variant != "query_cache") continue;
      std::uint64_t writes = 0, retries = 0;
      for (const bench::seed_sample& s : c.samples) {
        writes += s.writes;
        retries += s.retries;
      }
      if (writes > 0) {
        out << format("  query_cache writes retried (another writer published first): %.2f%% of %llu\n",
                      100.0 * static_cast<double>(retries) / static_cast<double>(writes),
                      static_cast<unsigned long long>(writes));
      }
    }
    for (const bench::seed_ratio& q : r.ratios) {
      if (q.threads != t) continue;
      out << format("  -> query_cache / locked_query_cache: throughput %.2fx (target >= 3 at 2 threads), "
                    "p99.9 lookup %.3fx (target <= 0.1)\n",
                    q.throughput, q.p999);
    }
  }
  out << "  max: the slowest sampled lookup, worst over repeats. scans/s: candidates() taken and walked.\n";
}

void print_lookup_costs(std::ostream& out, const std::vector<bench::lookup_cost_result>& costs) {
  if (costs.empty()) return;
  out << "\n== Lookup cost vs cache size (1 thread, quiescent, unlimited inspections) ==\n"
         "hit: a hot text whose entry is the oldest candidate; miss: a text no entry has.\n"
         "time per lookup: median [min - max] over batches of 32; inspections: the cache's statistic per lookup\n";
  out << format("  %-19s %8s %-5s %9s  %-21s %12s\n", "variant", "entries", "kind", "median", "[min - max]",
                "inspections");
  for (const bench::lookup_cost_result& c : costs) {
    if (!c.ok) {
      out << format("  %-19s %8zu %-5s FAILED: %s\n", c.variant.c_str(), c.entries, c.kind.c_str(), c.note.c_str());
      continue;
    }
    const std::string range = "[" + duration_text(c.min_ns) + " - " + duration_text(c.max_ns) + "]";
    out << format("  %-19s %8zu %-5s %9s  %-21s %12.2f\n", c.variant.c_str(), c.entries, c.kind.c_str(),
                  duration_text(c.median_ns).c_str(), range.c_str(), c.inspections_per_lookup);
  }
  // Growth from the smallest to the largest size, per variant and kind.
  for (const bench::lookup_cost_result& small : costs) {
    if (!small.ok) continue;
    const bench::lookup_cost_result* large = nullptr;
    for (const bench::lookup_cost_result& c : costs) {
      if (c.ok && c.variant == small.variant && c.kind == small.kind && c.entries > small.entries &&
          (large == nullptr || c.entries > large->entries)) {
        large = &c;
      }
    }
    bool smallest = true;
    for (const bench::lookup_cost_result& c : costs) {
      smallest = smallest && !(c.ok && c.variant == small.variant && c.kind == small.kind && c.entries < small.entries);
    }
    if (large == nullptr || !smallest || small.median_ns <= 0) continue;
    out << format("  -> %s %s: %zu entries / %zu entries = %.2fx time\n", small.variant.c_str(), small.kind.c_str(),
                  large->entries, small.entries, large->median_ns / small.median_ns);
  }
}

}  // namespace snapcache::compare
