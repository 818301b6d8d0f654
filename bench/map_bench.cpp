// map_bench: snapcache::hash_map against locked_map and the peer maps that
// were compiled in, on workloads A, B, A-zipf and C (see
// harness/workload.hpp), plus the cost of taking a snapshot, the rate of
// full scans of a quiescent map and bytes per entry after churn (counted by
// the replaced operator new in counting_new.cpp). Prints readable tables;
// --csv writes every number.
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "harness/report.hpp"
#include "harness/runner.hpp"

namespace {

using namespace snapcache::bench;

void usage(std::ostream& out) {
  out << "usage: map_bench [options]\n"
         "  --seconds S        measured seconds per cell run (default 1)\n"
         "  --repeats R        interleaved repeats per cell (default 5)\n"
         "  --threads LIST     thread counts, e.g. 1,2 (default 1,2; for C: writers, plus 1 scanner)\n"
         "  --workloads LIST   of A,B,A-zipf,C,C-noscan (default A,B,A-zipf,C; C brings C-noscan)\n"
         "  --variants LIST    variant names (default: all; see --list)\n"
         "  --csv PATH         also write every measurement as CSV\n"
         "  --seed N           key streams and prefill (default 42)\n"
         "  --no-pin           do not pin threads to CPUs\n"
         "  --no-view-cost     skip the snapshot-cost measurement\n"
         "  --no-scan-rate     skip the quiescent full-scan measurement\n"
         "  --scan-entries N   map size for the scan rate (default 1000000; at most the key range)\n"
         "  --no-memory        skip the bytes-per-entry measurement\n"
         "  --memory-entries N map size for bytes per entry (default 1000000; at most the key range)\n"
         "  --no-grid          skip the throughput grid\n"
         "  --quiet            no progress on stderr\n"
         "  --list             list variants and exit\n";
}

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const auto comma = s.find(',');
    const std::string_view part = s.substr(0, comma);
    if (!part.empty()) out.emplace_back(part);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

template <class T>
T parse_number(std::string_view flag, std::string_view text) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    throw std::invalid_argument(std::string(flag) + ": not a number: " + std::string(text));
  }
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  grid_config cfg;
  std::string csv;
  bool view_costs = true, scan_rates = true, memory = true, grid = true, quiet = false;
  std::size_t memory_entries = 1'000'000, scan_entries = 1'000'000;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string_view arg = argv[i];
      auto value = [&]() -> std::string_view {
        if (i + 1 >= argc) throw std::invalid_argument(std::string(arg) + " needs a value");
        return argv[++i];
      };
      if (arg == "--seconds") {
        cfg.seconds = parse_number<double>(arg, value());
        if (!(cfg.seconds > 0)) throw std::invalid_argument("--seconds must be positive");
      } else if (arg == "--repeats") {
        cfg.repeats = parse_number<unsigned>(arg, value());
      } else if (arg == "--threads") {
        cfg.threads.clear();
        for (const std::string& t : split(value())) cfg.threads.push_back(parse_number<unsigned>(arg, t));
      } else if (arg == "--workloads") {
        cfg.workloads.clear();
        for (const std::string& w : split(value())) {
          const auto kind = parse_workload(w);
          if (!kind) throw std::invalid_argument("unknown workload: " + w);
          cfg.workloads.push_back(*kind);
        }
      } else if (arg == "--variants") {
        cfg.variants = split(value());
      } else if (arg == "--csv") {
        csv = value();
      } else if (arg == "--seed") {
        cfg.seed = parse_number<std::uint64_t>(arg, value());
      } else if (arg == "--no-pin") {
        cfg.pin = false;
      } else if (arg == "--no-view-cost") {
        view_costs = false;
      } else if (arg == "--no-scan-rate") {
        scan_rates = false;
      } else if (arg == "--scan-entries") {
        scan_entries = parse_number<std::size_t>(arg, value());
        if (scan_entries == 0) throw std::invalid_argument("--scan-entries must be at least 1");
      } else if (arg == "--no-memory") {
        memory = false;
      } else if (arg == "--memory-entries") {
        memory_entries = parse_number<std::size_t>(arg, value());
        if (memory_entries == 0) throw std::invalid_argument("--memory-entries must be at least 1");
      } else if (arg == "--no-grid") {
        grid = false;
      } else if (arg == "--quiet") {
        quiet = true;
      } else if (arg == "--list") {
        for (const variant_info& v : list_variants()) {
          std::cout << v.name << ": "
                    << (v.available ? (v.scan_method.empty() ? "available (no concurrent scan)" : "available")
                                    : "unavailable, " + v.unavailable_reason)
                    << "\n";
        }
        return 0;
      } else if (arg == "--help" || arg == "-h") {
        usage(std::cout);
        return 0;
      } else {
        throw std::invalid_argument("unknown option: " + std::string(arg));
      }
    }
    for (const std::string& name : cfg.variants) {
      bool known = false;
      for (const variant_info& v : list_variants()) known = known || v.name == name;
      if (!known) throw std::invalid_argument("unknown variant: " + name + " (see --list)");
    }
    if (cfg.repeats == 0) throw std::invalid_argument("--repeats must be at least 1");
    for (unsigned t : cfg.threads) {
      if (t == 0) throw std::invalid_argument("--threads: 0 is not a thread count");
    }
    if (cfg.threads.empty()) throw std::invalid_argument("--threads: empty list");
  } catch (const std::exception& e) {
    std::cerr << "map_bench: " << e.what() << "\n";
    usage(std::cerr);
    return 2;
  }

  std::cout << "map_bench on " << machine_description() << "\n";
  for (const variant_info& v : list_variants()) {
    if (!v.available) std::cout << "skipped variant " << v.name << ": " << v.unavailable_reason << "\n";
  }
  const dataset data(cfg.key_range, cfg.prefill, cfg.seed);

  // Adapters are checked against std::unordered_map first; one that fails is
  // left out of every measurement.
  int status = 0;
  const std::vector<check_result> checks = check_variants(cfg.variants, cfg.seed);
  print_checks(std::cout, checks);
  std::vector<std::string> chosen;
  for (const check_result& c : checks) {
    if (c.ran && !c.passed) {
      status = 1;
    } else {
      chosen.push_back(c.variant);
    }
  }
  cfg.variants = chosen;

  // Memory first: it forks, and the fewer the parent's allocations the
  // cleaner the children's measurements.
  std::vector<memory_result> mem;
  if (memory) {
    if (!quiet) std::cerr << "measuring bytes per entry...\n";
    mem = measure_memory(cfg.variants, data, memory_entries);
  }
  std::vector<view_cost_result> costs;
  if (view_costs) {
    if (!quiet) std::cerr << "measuring snapshot cost...\n";
    costs = measure_view_costs(cfg.variants, data);
  }
  // Before the grid: no thread of ours is running while the scans are timed.
  std::vector<scan_rate_result> scans;
  if (scan_rates) {
    if (!quiet) std::cerr << "measuring scan rate...\n";
    scans = measure_scan_rates(cfg.variants, data, scan_entries);
  }
  grid_result result;
  if (grid) {
    progress_fn progress;
    if (!quiet) {
      progress = [&](unsigned repeat, std::size_t index, std::size_t count, const cell_result& cell) {
        std::fprintf(stderr, "\rrepeat %u/%u  cell %zu/%zu  %-8s t%u %-19s", repeat + 1, cfg.repeats, index + 1, count,
                     std::string(workload_name(cell.workload)).c_str(), cell.threads, cell.variant.c_str());
        if (index + 1 == count && repeat + 1 == cfg.repeats) std::fprintf(stderr, "\n");
      };
    }
    result = run_grid(cfg, data, progress);
    print_grid(std::cout, result);
  }
  print_view_costs(std::cout, costs);
  print_scan_rates(std::cout, scans);
  print_memory(std::cout, mem);

  if (!csv.empty()) {
    std::string error;
    if (!write_csv(csv, grid ? &result : nullptr, costs, mem, scans, &error)) {
      std::cerr << "map_bench: " << error << "\n";
      return 1;
    }
    std::cout << "\nCSV written to " << csv << "\n";
  }
  return status;
}
