// snapcache-compare: the side-by-side comparison, in one program.
//
// It runs the query-cache seed scenario (bench/cache/: query_cache against
// locked_query_cache, lookup cost against cache size) and the map workloads
// of the comparison harness (bench/harness/: snapcache::hash_map against
// the locked maps and every peer library compiled in), then prints the
// tables, writes results.csv and results.json, and has gnuplot draw PNGs.
// Variants a build lacks (a build without peers) are listed as skipped.
// See --help for the flags and the cells of the default run, and
// docs/benchmarks.md for figures and how to read them.
#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "cache/lookup_cost.hpp"
#include "cache/query_pool.hpp"
#include "cache/seed_scenario.hpp"
#include "cache_tables.hpp"
#include "csv_output.hpp"
#include "harness/report.hpp"
#include "harness/runner.hpp"
#include "json_output.hpp"
#include "options.hpp"
#include "plots.hpp"
#include "progress.hpp"
#include "results.hpp"
#include "run_info.hpp"
#include "harness/text.hpp"

namespace {

using namespace snapcache;
using namespace snapcache::compare;
using snapcache::bench::format;

void print_variant_list(std::ostream& out) {
  for (const std::string& name : bench::cache_variant_names()) out << name << ": cache, available\n";
  for (const bench::variant_info& v : bench::list_variants()) {
    out << v.name << ": map, "
        << (v.available ? (v.scan_method.empty() ? "available (no concurrent scan: C skipped)" : "available")
                        : "unavailable, " + v.unavailable_reason)
        << "\n";
  }
}

// The requested variants of one kind; empty when none was requested at all
// (meaning every one), nullopt when variants were requested but none of this kind.
std::optional<std::vector<std::string>> variants_of_kind(const std::vector<std::string>& requested, bool caches) {
  if (requested.empty()) return std::vector<std::string>{};
  std::vector<std::string> out;
  for (const std::string& v : requested) {
    if (bench::is_cache_variant(v) == caches) out.push_back(v);
  }
  if (out.empty()) return std::nullopt;
  return out;
}

bool run_seed(compare_results& r, const std::vector<std::string>& variants, progress_line& progress) {
  const options& opt = r.opt;
  bench::seed_config cfg;
  cfg.variants = variants;
  cfg.threads = opt.threads;
  cfg.seconds = opt.seconds;
  cfg.repeats = opt.repeats;
  cfg.pin = opt.pin;
  cfg.capacity = opt.capacity;
  cfg.read_only = opt.read_only;
  progress.show("seed scenario: building the query pool");
  const bench::query_pool pool(cfg.pool_size, opt.threads.back(), cfg.seed);
  auto show = [&](unsigned repeat, std::size_t i, std::size_t n, const bench::seed_cell& c) {
    progress.show(format("seed scenario: repeat %u/%u, cell %zu/%zu done (%u thread%s, %s)", repeat + 1,
                         opt.repeats, i + 1, n, c.threads, c.threads == 1 ? "" : "s", c.variant.c_str()));
  };
  r.seed = bench::run_seed_scenario(cfg, pool, show);
  if (opt.lookup_cost) {
    progress.show("lookup cost at 100 and 100,000 entries");
    r.lookup_costs = bench::measure_lookup_costs(variants);
  }
  bool ok = true;
  for (const bench::seed_cell& c : r.seed->cells) ok = ok && c.status != bench::cell_status::failed;
  for (const bench::lookup_cost_result& c : r.lookup_costs) ok = ok && c.ok;
  return ok;
}

bool run_maps(compare_results& r, const std::vector<std::string>& variants, progress_line& progress) {
  const options& opt = r.opt;
  bench::grid_config cfg;
  cfg.workloads = opt.map_workloads;
  cfg.variants = variants;
  cfg.threads = opt.threads;
  cfg.seconds = opt.seconds;
  cfg.repeats = opt.repeats;
  cfg.pin = opt.pin;
  progress.show("maps: building the key set");
  const bench::dataset data(cfg.key_range, cfg.prefill, cfg.seed);
  auto show = [&](unsigned repeat, std::size_t i, std::size_t n, const bench::cell_result& c) {
    progress.show(format("maps: repeat %u/%u, cell %zu/%zu done (%s, %u thread%s, %s)", repeat + 1, opt.repeats,
                         i + 1, n, std::string(bench::workload_name(c.workload)).c_str(), c.threads,
                         c.threads == 1 ? "" : "s", c.variant.c_str()));
  };
  r.grid = bench::run_grid(cfg, data, show);
  bool ok = true;
  for (const bench::cell_result& c : r.grid->cells) ok = ok && c.status != bench::cell_status::failed;
  return ok;
}

bool write_outputs(const compare_results& r) {
  const std::string dir = r.opt.out_dir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    std::cerr << "snapcache-compare: cannot create " << dir << ": " << ec.message() << "\n";
    return false;
  }
  std::string error;
  const std::string csv = (std::filesystem::path(dir) / "results.csv").string();
  const std::string json = (std::filesystem::path(dir) / "results.json").string();
  if (!write_results_csv(csv, r, &error) || !write_results_json(json, r, &error)) {
    std::cerr << "snapcache-compare: " << error << "\n";
    return false;
  }
  std::cout << "\nwritten: " << csv << ", " << json << "\n";
  if (r.opt.plots) {
    const plot_outcome plots = draw_plots(dir, r);
    if (plots.drawn) {
      std::cout << "plots:";
      for (const std::string& f : plots.files) std::cout << ' ' << std::filesystem::path(f).filename().string();
      std::cout << " (in " << dir << ")\n";
    } else {
      std::cout << "plots: " << plots.message << "\n";
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const parse_outcome parsed = parse_options(argc, argv);
  if (!parsed.parsed) return parsed.exit_status;
  compare_results r;
  r.opt = *parsed.parsed;
  if (r.opt.list) {
    print_variant_list(std::cout);
    return 0;
  }
  if (const std::string reason = unwritable_reason(r.opt.out_dir); !reason.empty()) {
    std::cerr << "snapcache-compare: --out " << r.opt.out_dir << ": " << reason << " (checked before the run)\n";
    return 2;
  }
  r.machine = bench::machine_description();
  r.started_utc = utc_timestamp();
  r.load_start = load_average();
  const auto start = std::chrono::steady_clock::now();

  std::cout << "snapcache-compare on " << r.machine << "\n"
            << format("load average at start: %.2f %.2f %.2f (1/5/15 min)\n", r.load_start[0], r.load_start[1],
                      r.load_start[2]);
  const auto cpus = static_cast<unsigned>(bench::allowed_cpus().size());
  if (const std::string warning = noise_warning(r.load_start, cpus); !warning.empty()) std::cout << warning << "\n";
  for (const bench::variant_info& v : bench::list_variants()) {
    if (!v.available) std::cout << "skipped variant " << v.name << ": " << v.unavailable_reason << "\n";
  }
  std::cout << std::flush;

  progress_line progress;
  bool ok = true;
  if (r.opt.seed) {
    if (const auto caches = variants_of_kind(r.opt.variants, true)) {
      ok = run_seed(r, *caches, progress) && ok;
    } else {
      std::cout << "seed scenario skipped: none of --variants is a cache\n";
    }
  }
  if (!r.opt.map_workloads.empty()) {
    if (const auto maps = variants_of_kind(r.opt.variants, false)) {
      ok = run_maps(r, *maps, progress) && ok;
    } else {
      std::cout << "map workloads skipped: none of --variants is a map\n";
    }
  }
  progress.finish();
  r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.load_end = load_average();

  if (r.seed) print_seed(std::cout, *r.seed);
  print_lookup_costs(std::cout, r.lookup_costs);
  if (r.grid) {
    std::cout << "\n";
    bench::print_grid(std::cout, *r.grid);
  }
  std::cout << format("\nwall %.1f s; load average at end: %.2f %.2f %.2f (1/5/15 min)\n", r.wall_seconds,
                      r.load_end[0], r.load_end[1], r.load_end[2]);
  // The run itself loads the CPUs it uses: only more than that is noise.
  const unsigned busiest = r.opt.threads.empty() ? 0 : *std::max_element(r.opt.threads.begin(), r.opt.threads.end());
  const std::array<double, 3> others{r.load_end[0] - busiest, 0, 0};
  if (const std::string warning = noise_warning(others, cpus); !warning.empty()) {
    std::cout << warning << " (at the end, beyond this run's own " << busiest << " threads)\n";
  }
  if (!write_outputs(r)) return 1;
  if (!ok) {
    std::cerr << "snapcache-compare: some cells failed (see the tables)\n";
    return 1;
  }
  return 0;
}
