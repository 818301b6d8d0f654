#include "harness/report.hpp"
#include "harness/text.hpp"

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <fstream>
#include <ostream>
#include <vector>

namespace snapcache::bench {
namespace {


std::string workload_title(workload_kind w) {
  switch (w) {
    case workload_kind::a: return "A: 90% find / 9% insert_or_assign / 1% erase, uniform keys";
    case workload_kind::b: return "B: 50% find / 25% insert / 25% erase, uniform keys";
    case workload_kind::a_zipf: return "A-zipf: A's mix, Zipf keys (theta 0.99)";
    case workload_kind::c: return "C: writers 50% insert / 50% erase, uniform keys, + 1 scanner";
    case workload_kind::c_noscan: return "C-noscan: C's writers alone (baseline for C's keep-ratio)";
  }
  return "?";
}

std::string threads_text(workload_kind w, unsigned t) {
  const std::size_t cpus = allowed_cpus().size();
  std::string s;
  if (is_scan_workload(w)) {
    s = format("%u writer%s", t, t == 1 ? "" : "s");
    if (w == workload_kind::c) s += " + 1 scanner";
  } else {
    s = format("%u thread%s", t, t == 1 ? "" : "s");
  }
  const std::size_t total = t + (w == workload_kind::c ? 1 : 0);
  if (cpus > 0 && total > cpus) s += format("  [oversubscribed: %zu threads on %zu CPUs]", total, cpus);
  return s;
}

const best_peer_result* find_comparison(const grid_result& r, workload_kind w, unsigned t) {
  for (const best_peer_result& b : r.comparisons) {
    if (b.workload == w && b.threads == t) return &b;
  }
  return nullptr;
}


}  // namespace

void print_checks(std::ostream& out, const std::vector<check_result>& checks) {
  for (const check_result& c : checks) {
    if (!c.ran) continue;
    out << format("check %-19s %s\n", c.variant.c_str(), c.passed ? "ok" : ("FAILED: " + c.note).c_str());
  }
}

double timer_overhead_ns() {
  static const double overhead = [] {
    std::vector<double> ns;
    for (int i = 0; i < 1001; ++i) {
      const auto t0 = bench_clock::now();
      const auto t1 = bench_clock::now();
      ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
    }
    return summarise(ns).median;
  }();
  return overhead;
}

std::string machine_description() {
  std::string model = "unknown CPU";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) model = line.substr(line.find_first_not_of(" \t", colon + 1));
      break;
    }
  }
  return format("%s, %zu allowed CPUs, g++ %d.%d", model.c_str(), allowed_cpus().size(), __GNUC__, __GNUC_MINOR__);
}

void print_grid(std::ostream& out, const grid_result& r) {
  const grid_config& cfg = r.config;
  out << format("grid: %.2f s per cell, %u repeats (interleaved), %llu keys in range, %zu prefilled, wall %.0f s\n",
                cfg.seconds, cfg.repeats, static_cast<unsigned long long>(cfg.key_range), cfg.prefill,
                r.wall_seconds);
  out << "values: median over repeats [min - max]; rel = median / snapcache median\n";

  std::vector<workload_kind> order;
  for (const cell_result& c : r.cells) {
    bool seen = false;
    for (workload_kind w : order) seen = seen || w == c.workload;
    if (!seen) order.push_back(c.workload);
  }
  for (workload_kind w : order) {
    for (unsigned t : cfg.threads) {
      out << "\n== " << workload_title(w) << " -- " << threads_text(w, t) << " ==\n";
      const cell_result* mine = find_cell(r, w, t, "snapcache");
      const double base = mine && mine->status == cell_status::ok ? mine->mops.median : 0;
      const bool scan = is_scan_workload(w);
      if (!scan) {
        out << format("  %-19s %8s  %-17s %6s\n", "variant", "Mops/s", "[min - max]", "rel");
      } else {
        out << format("  %-19s %8s  %-17s %6s %5s %9s %9s %9s %9s", "variant", "Mops/s", "[min - max]", "rel", "keep",
                      "p50", "p99", "p99.9", "max");
        if (w == workload_kind::c) out << format(" %8s %9s", "scans/s", "items/s");
        out << "\n";
      }
      for (const cell_result& c : r.cells) {
        if (c.workload != w || c.threads != t) continue;
        if (c.status != cell_status::ok) {
          out << format("  %-19s %s: %s\n", c.variant.c_str(), c.status == cell_status::skipped ? "skipped" : "FAILED",
                        c.note.c_str());
          continue;
        }
        const std::string range = format("[%.2f - %.2f]", c.mops.min, c.mops.max);
        const std::string rel = base > 0 ? format("%.2f", c.mops.median / base) : "-";
        out << format("  %-19s %8.2f  %-17s %6s", c.variant.c_str(), c.mops.median, range.c_str(), rel.c_str());
        if (scan) {
          const std::string keep = c.keep_ratio ? format("%.2f", *c.keep_ratio) : "-";
          out << format(" %5s %9s %9s %9s %9s", keep.c_str(), duration_text(c.p50_ns.median).c_str(),
                        duration_text(c.p99_ns.median).c_str(), duration_text(c.p999_ns.median).c_str(),
                        duration_text(c.max_window_ns.max).c_str());
          if (w == workload_kind::c) {
            out << format(" %8.1f %9s", c.scans_per_s.median, rate_text(c.items_per_s.median).c_str());
          }
        }
        out << "\n";
      }
      if (const best_peer_result* b = find_comparison(r, w, t)) {
        if (b->best_peer.empty()) {
          out << "  -> no peer ran this cell\n";
        } else {
          out << format("  -> snapcache / best peer (%s, %.2f) = %.2f\n", b->best_peer.c_str(), b->best_peer_median,
                        b->ratio);
        }
      }
    }
  }
  bool any_c = false;
  for (const cell_result& c : r.cells) any_c = any_c || c.workload == workload_kind::c;
  if (any_c) {
    out << "\nC: Mops/s and latency are the writers'; keep = C writers / C-noscan writers (medians).\n"
           "   p50/p99/p99.9: medians over repeats of every 8th writer operation timed with steady_clock;\n"
           "   max: the longest window between two clock reads of a writer (one timed operation, or the 7\n"
           "   untimed ones between two timed ones), worst over repeats: no writer stall escapes it.\n"
           "   scans/s counts the unfinished last scan by its share of a full scan; items/s counts every\n"
           "   item visited. Scan methods:\n";
    for (const variant_info& v : list_variants()) {
      if (!v.available) continue;
      out << format("     %-19s %s\n", v.name.c_str(), v.scan_method.empty() ? "(none: C skipped)" : v.scan_method.c_str());
    }
  }
}

void print_view_costs(std::ostream& out, const std::vector<view_cost_result>& costs) {
  if (costs.empty()) return;
  out << "\n== taking a view alone (quiescent map; median [min - max] over n; timer overhead "
      << duration_text(timer_overhead_ns()) << " included) ==\n";
  out << format("  %-19s %-22s %9s %10s  %-27s %5s\n", "variant", "method", "entries", "median", "[min - max]", "n");
  for (const view_cost_result& c : costs) {
    if (!c.ok) {
      out << format("  %-19s %-22s %9zu   %s\n", c.variant.c_str(), c.method.empty() ? "-" : c.method.c_str(), c.entries,
                    c.note.c_str());
      continue;
    }
    const std::string range = "[" + duration_text(c.min_ns) + " - " + duration_text(c.max_ns) + "]";
    out << format("  %-19s %-22s %9zu %10s  %-27s %5zu\n", c.variant.c_str(), c.method.c_str(), c.entries,
                  duration_text(c.median_ns).c_str(), range.c_str(), c.samples);
  }
}

void print_scan_rates(std::ostream& out, const std::vector<scan_rate_result>& rates) {
  if (rates.empty()) return;
  out << format("\n== full scans of a quiescent map (%zu entries; one thread, no other threads running) ==\n",
                rates.front().entries);
  out << "   items/s: median [min - max] over n timed scans, after one untimed; rel = median / std_unordered_map's\n";
  out << format("  %-19s %9s  %-19s %5s %6s  %s\n", "variant", "items/s", "[min - max]", "n", "rel", "scan method");
  double reference = 0;
  for (const scan_rate_result& r : rates) {
    if (r.variant == "std_unordered_map" && r.ok) reference = r.items_per_s.median;
  }
  for (const scan_rate_result& r : rates) {
    const std::string method = r.method.empty() ? "-" : r.method;
    if (!r.ok) {
      out << format("  %-19s %s  (%s)\n", r.variant.c_str(), r.note.c_str(), method.c_str());
      continue;
    }
    const std::string range = "[" + rate_text(r.items_per_s.min) + " - " + rate_text(r.items_per_s.max) + "]";
    const std::string rel = reference > 0 ? format("%.2f", r.items_per_s.median / reference) : "-";
    out << format("  %-19s %9s  %-19s %5zu %6s  %s\n", r.variant.c_str(), rate_text(r.items_per_s.median).c_str(),
                  range.c_str(), r.scans, rel.c_str(), method.c_str());
  }
}

namespace {

// A map whose memory does not come from malloc (tbbmalloc) shows (almost) no
// heap growth but real RSS growth: compare its RSS instead.
bool outside_malloc(const memory_result& m) {
  const double heap = m.counted ? m.requested_bytes_per_entry : m.heap_bytes_per_entry;
  return heap < 1.0 && m.rss_bytes_per_entry >= 8.0;
}

const memory_result* memory_reference(const std::vector<memory_result>& memory) {
  for (const memory_result& m : memory) {
    if (m.variant == "std_unordered_map" && m.ok) return &m;
  }
  return nullptr;
}

std::string ratio_text(double value, double reference) {
  return reference > 0 ? format("%.2fx", value / reference) : "-";
}

// Without a counting operator new: mallinfo2 heap and RSS only.
void print_memory_uncounted(std::ostream& out, const std::vector<memory_result>& memory) {
  out << "   heap = glibc malloc in use (uordblks + hblkhd); misses allocators that bypass malloc (tbbmalloc)\n";
  out << format("  %-19s %8s %8s %14s\n", "variant", "heap", "RSS", "heap vs std");
  const memory_result* ref = memory_reference(memory);
  for (const memory_result& m : memory) {
    if (!m.ok) {
      out << format("  %-19s %s\n", m.variant.c_str(), m.note.c_str());
      continue;
    }
    const bool outside = outside_malloc(m);
    const std::string heap = outside ? "n/a" : format("%.1f", m.heap_bytes_per_entry);
    std::string rel = "-";
    if (ref && outside) {
      rel = ratio_text(m.rss_bytes_per_entry, ref->rss_bytes_per_entry) + " (RSS)";
    } else if (ref) {
      rel = ratio_text(m.heap_bytes_per_entry, ref->heap_bytes_per_entry);
    }
    out << format("  %-19s %8s %8.1f %14s\n", m.variant.c_str(), heap.c_str(), m.rss_bytes_per_entry, rel.c_str());
  }
}

// With the counting operator new: requested and allocator bytes as well.
void print_memory_counted(std::ostream& out, const std::vector<memory_result>& memory) {
  out << "   requested = live bytes asked of operator new; allocator = their malloc_usable_size (both counted by a\n"
         "   replaced operator new); heap = glibc malloc in use (uordblks + hblkhd); RSS = resident set. All are\n"
         "   growth from just before the map was built; none sees memory that bypasses operator new (tbbmalloc).\n"
         "   unsized: deletes without a size while counting; each makes requested read a few bytes low.\n";
  out << format("  %-19s %9s %9s %8s %8s %10s %10s %9s\n", "variant", "requested", "allocator", "heap", "RSS",
                "req/std", "alloc/std", "unsized");
  const memory_result* ref = memory_reference(memory);
  for (const memory_result& m : memory) {
    if (!m.ok) {
      out << format("  %-19s %s\n", m.variant.c_str(), m.note.c_str());
      continue;
    }
    const bool outside = outside_malloc(m);
    const auto bytes = [&](double v) { return outside ? std::string("n/a") : format("%.1f", v); };
    std::string req_rel = "-", alloc_rel = "-";
    if (ref && outside) {
      req_rel = alloc_rel = ratio_text(m.rss_bytes_per_entry, ref->rss_bytes_per_entry) + " RSS";
    } else if (ref) {
      req_rel = ratio_text(m.requested_bytes_per_entry, ref->requested_bytes_per_entry);
      alloc_rel = ratio_text(m.allocator_bytes_per_entry, ref->allocator_bytes_per_entry);
    }
    out << format("  %-19s %9s %9s %8s %8.1f %10s %10s %9llu\n", m.variant.c_str(),
                  bytes(m.requested_bytes_per_entry).c_str(), bytes(m.allocator_bytes_per_entry).c_str(),
                  bytes(m.heap_bytes_per_entry).c_str(), m.rss_bytes_per_entry, req_rel.c_str(), alloc_rel.c_str(),
                  static_cast<unsigned long long>(m.unsized_deletes));
  }
  // The target this table checks: snapcache within 1.5x of std::unordered_map.
  const auto mine = std::find_if(memory.begin(), memory.end(), [](const memory_result& m) {
    return m.variant == "snapcache" && m.ok && m.counted;
  });
  if (ref && mine != memory.end() && !outside_malloc(*mine)) {
    const double req = mine->requested_bytes_per_entry / ref->requested_bytes_per_entry;
    const double alloc = mine->allocator_bytes_per_entry / ref->allocator_bytes_per_entry;
    out << format("   target snapcache <= 1.5x std_unordered_map: requested %.3fx (%s), allocator %.3fx (%s)\n", req,
                  req <= 1.5 ? "met" : "NOT met", alloc, alloc <= 1.5 ? "met" : "NOT met");
  }
}

}  // namespace

void print_memory(std::ostream& out, const std::vector<memory_result>& memory) {
  if (memory.empty()) return;
  out << format(
      "\n== bytes per entry (%zu keys filled into a map built with that capacity hint, every key overwritten\n"
      "   twice, every 10th erased and then reinserted; quiesced where the map defers reclamation) ==\n",
      memory.front().entries);
  bool counted = false;
  for (const memory_result& m : memory) counted = counted || m.counted;
  if (counted) {
    print_memory_counted(out, memory);
  } else {
    print_memory_uncounted(out, memory);
  }
}

bool write_csv(const std::string& path, const grid_result* grid, const std::vector<view_cost_result>& costs,
               const std::vector<memory_result>& memory, std::string* error) {
  return write_csv(path, grid, costs, memory, {}, error);
}

bool write_csv(const std::string& path, const grid_result* grid, const std::vector<view_cost_result>& costs,
               const std::vector<memory_result>& memory, const std::vector<scan_rate_result>& scan_rates,
               std::string* error) {
  std::ofstream f(path);
  if (!f) {
    if (error) *error = "cannot open " + path;
    return false;
  }
  f << "section,workload,threads,variant,metric,median,min,max,n,values,note\n";
  auto row = [&](const std::string& section, const std::string& workload, const std::string& threads,
                 const std::string& variant, const std::string& metric, const std::string& median,
                 const std::string& min, const std::string& max, const std::string& n, const std::string& values,
                 const std::string& note) {
    f << csv_field(section) << ',' << csv_field(workload) << ',' << csv_field(threads) << ',' << csv_field(variant)
      << ',' << csv_field(metric) << ',' << median << ',' << min << ',' << max << ',' << n << ','
      << csv_field(values) << ',' << csv_field(note) << '\n';
  };
  if (grid) {
    for (const cell_result& c : grid->cells) {
      const std::string w(workload_name(c.workload));
      const std::string t = std::to_string(c.threads);
      if (c.status != cell_status::ok) {
        row("grid", w, t, c.variant, "status", "", "", "", "0", "",
            (c.status == cell_status::skipped ? "skipped: " : "failed: ") + c.note);
        continue;
      }
      auto metric = [&](const std::string& name, const spread& s, double cell_sample::*field) {
        std::string values;
        for (const cell_sample& x : c.samples) values += (values.empty() ? "" : ";") + number(x.*field);
        row("grid", w, t, c.variant, name, number(s.median), number(s.min), number(s.max),
            std::to_string(c.samples.size()), values, "");
      };
      metric("mops", c.mops, &cell_sample::mops);
      if (is_scan_workload(c.workload)) {
        metric("p50_ns", c.p50_ns, &cell_sample::p50_ns);
        metric("p99_ns", c.p99_ns, &cell_sample::p99_ns);
        metric("p999_ns", c.p999_ns, &cell_sample::p999_ns);
        metric("max_window_ns", c.max_window_ns, &cell_sample::max_window_ns);
      }
      if (c.workload == workload_kind::c) {
        metric("scans_per_s", c.scans_per_s, &cell_sample::scans_per_s);
        metric("items_per_s", c.items_per_s, &cell_sample::items_per_s);
        if (c.keep_ratio) row("grid", w, t, c.variant, "keep_ratio", number(*c.keep_ratio), "", "", "", "", "");
      }
    }
    for (const best_peer_result& b : grid->comparisons) {
      const std::string w(workload_name(b.workload));
      const std::string t = std::to_string(b.threads);
      if (b.best_peer.empty()) continue;
      row("best_peer", w, t, "snapcache", "ratio", number(b.ratio), "", "", "", "", b.best_peer);
      row("best_peer", w, t, "snapcache", "best_peer_mops", number(b.best_peer_median), "", "", "", "", b.best_peer);
    }
  }
  for (const view_cost_result& c : costs) {
    if (!c.ok) {
      row("view_cost", std::to_string(c.entries), "", c.variant, "ns", "", "", "", "0", "", c.note);
    } else {
      row("view_cost", std::to_string(c.entries), "", c.variant, "ns", number(c.median_ns), number(c.min_ns),
          number(c.max_ns), std::to_string(c.samples), "", c.method);
    }
  }
  for (const scan_rate_result& r : scan_rates) {
    if (!r.ok) {
      row("scan_rate", std::to_string(r.entries), "1", r.variant, "items_per_s", "", "", "", "0", "",
          r.note + (r.method.empty() ? "" : " (" + r.method + ")"));
    } else {
      row("scan_rate", std::to_string(r.entries), "1", r.variant, "items_per_s", number(r.items_per_s.median),
          number(r.items_per_s.min), number(r.items_per_s.max), std::to_string(r.scans), "", r.method);
    }
  }
  for (const memory_result& m : memory) {
    if (!m.ok) {
      row("memory", std::to_string(m.entries), "", m.variant, "heap_bytes_per_entry", "", "", "", "0", "", m.note);
      continue;
    }
    row("memory", std::to_string(m.entries), "", m.variant, "heap_bytes_per_entry", number(m.heap_bytes_per_entry),
        "", "", "1", "", "");
    row("memory", std::to_string(m.entries), "", m.variant, "rss_bytes_per_entry", number(m.rss_bytes_per_entry), "",
        "", "1", "", "");
    if (m.counted) {
      row("memory", std::to_string(m.entries), "", m.variant, "requested_bytes_per_entry",
          number(m.requested_bytes_per_entry), "", "", "1", "", "");
      row("memory", std::to_string(m.entries), "", m.variant, "allocator_bytes_per_entry",
          number(m.allocator_bytes_per_entry), "", "", "1", "", "");
      row("memory", std::to_string(m.entries), "", m.variant, "unsized_deletes",
          std::to_string(m.unsized_deletes), "", "", "1", "", "");
    }
  }
  f.flush();
  if (!f) {
    if (error) *error = "write failed: " + path;
    return false;
  }
  return true;
}

}  // namespace snapcache::bench
