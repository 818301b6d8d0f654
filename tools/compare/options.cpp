#include "options.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <iostream>

#include "cache/seed_scenario.hpp"  // cache_variant_names
#include "harness/runner.hpp"       // list_variants

namespace snapcache::compare {
namespace {

constexpr const char* description =
    "snapcache-compare: snapcache next to its locked baselines and the peer libraries.\n"
    "Runs the query-cache seed scenario (query_cache vs locked_query_cache) and the map\n"
    "workloads A, B, A-zipf and C (snapcache::hash_map vs locked maps and peers), with\n"
    "interleaved repeats, and writes a table, results.csv, results.json and PNG plots.";

constexpr const char* footer =
    "Default run (no flags; under 90 s on a 2-core machine): the seed scenario and workload C\n"
    "(its no-scan baseline C-noscan comes along) at 1 and 2 threads, 3 interleaved repeats of\n"
    "0.2 s per cell, plus lookup cost at 100 and 100,000 entries. Seed scenario: each thread\n"
    "looks up a Zipf-skewed (theta 0.99) text of 100,000, inserts it on a miss and walks\n"
    "candidates() every 64 iterations; cache capacity 10,000. Maps: 500,000 keys prefilled in a\n"
    "1,000,000 range. For C the thread count is the number of writers, plus one scanner.\n"
    "Exit status: 0 done, 1 a cell failed or an output could not be written, 2 bad command line.";

bool is_seed_name(const std::string& w) {
  std::string lower;
  for (char c : w) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "seed";
}

// Accepts only digits (no sign, no fraction) spelling a value in [low, high].
CLI::Validator whole_number_in(const std::string& what, unsigned long low, unsigned long high) {
  return CLI::Validator(
      [=](std::string& s) -> std::string {
        const bool digits = !s.empty() && s.size() < 10 && s.find_first_not_of("0123456789") == std::string::npos;
        if (digits && std::stoul(s) >= low && std::stoul(s) <= high) return {};
        return what + " must be a whole number from " + std::to_string(low) + " to " + std::to_string(high) +
               ", got '" + s + "'";
      },
      "", what);
}

std::vector<std::string> every_variant_name() {
  std::vector<std::string> names = bench::cache_variant_names();
  for (const bench::variant_info& v : bench::list_variants()) names.push_back(v.name);
  return names;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

parse_outcome parse_options(int argc, char** argv) {
  options opt;
  std::vector<std::string> workloads{"seed", "C"};
  bool no_lookup_cost = false, no_plots = false, no_pin = false;

  CLI::App app(description, "snapcache-compare");
  app.footer(footer);
  app.get_formatter()->column_width(24);

  app.add_option("--workloads", workloads, "Comma list of seed, A, B, A-zipf, C, C-noscan (default seed,C)")
      ->delimiter(',')
      ->check(CLI::Validator(
          [](std::string& w) -> std::string {
            if (is_seed_name(w) || bench::parse_workload(w)) return {};
            return "unknown workload '" + w + "' (seed, A, B, A-zipf, C, C-noscan)";
          },
          "", "workload"))
      ->type_name("LIST");
  const std::vector<std::string> known = every_variant_name();
  app.add_option("--variants", opt.variants,
                 "Comma list of variants (default: all; see --list). Cache variants run the seed scenario, "
                 "map variants the map workloads")
      ->delimiter(',')
      ->check(CLI::Validator(
          [known](std::string& v) -> std::string {
            if (std::find(known.begin(), known.end(), v) != known.end()) return {};
            return "unknown variant '" + v + "' (known: " + joined(known) + ")";
          },
          "", "variant"))
      ->type_name("LIST");
  app.add_option("--threads", opt.threads, "Comma list of thread counts, each >= 1 (default 1,2)")
      ->delimiter(',')
      ->check(whole_number_in("thread count", 1, 1024))
      ->type_name("LIST");
  app.add_option("--seconds", opt.seconds, "Measured seconds per cell run, > 0 (default 0.2)")
      ->check(CLI::Validator(
          [](std::string& s) -> std::string {
            double v = 0;
            if (CLI::detail::lexical_cast(s, v) && v > 0 && v <= 3600) return {};
            return "seconds must be in (0, 3600], got '" + s + "'";
          },
          "", "seconds"))
      ->type_name("S");
  app.add_option("--repeats", opt.repeats, "Interleaved repeats per cell, >= 1 (default 3)")
      ->check(whole_number_in("repeats", 1, 1000))
      ->type_name("R");
  app.add_option("--out", opt.out_dir, "Directory for results.csv, results.json and plots (default compare-out)")
      ->type_name("DIR");
  app.add_option("--capacity", opt.capacity, "Seed scenario cache capacity (default 10000)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10'000'000}).description(""))
      ->type_name("N");
  app.add_flag("--read-only", opt.read_only, "Seed scenario without inserts on a miss (lookups and scans only)");
  app.add_flag("--no-lookup-cost", no_lookup_cost, "Skip lookup cost at 100 vs 100,000 entries");
  app.add_flag("--no-plots", no_plots, "Do not run gnuplot");
  app.add_flag("--no-pin", no_pin, "Do not pin threads to CPUs");
  app.add_flag("--list", opt.list, "List the variants (and which this build has) and exit");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return {std::nullopt, 0};
  } catch (const CLI::ParseError& e) {
    std::cerr << "snapcache-compare: " << e.what() << "\nsee snapcache-compare --help\n";
    return {std::nullopt, 2};
  }

  opt.seed = false;
  opt.map_workloads.clear();
  for (const std::string& w : workloads) {
    if (is_seed_name(w)) {
      opt.seed = true;
    } else if (auto kind = bench::parse_workload(w)) {
      if (std::find(opt.map_workloads.begin(), opt.map_workloads.end(), *kind) == opt.map_workloads.end()) {
        opt.map_workloads.push_back(*kind);
      }
    }
  }
  if (!opt.seed && opt.map_workloads.empty()) {
    std::cerr << "snapcache-compare: --workloads: no workload given\nsee snapcache-compare --help\n";
    return {std::nullopt, 2};
  }
  std::sort(opt.threads.begin(), opt.threads.end());
  opt.threads.erase(std::unique(opt.threads.begin(), opt.threads.end()), opt.threads.end());
  if (opt.threads.empty() || opt.repeats == 0 || opt.out_dir.empty()) {
    std::cerr << "snapcache-compare: --threads and --out need a value\nsee snapcache-compare --help\n";
    return {std::nullopt, 2};
  }
  opt.lookup_cost = !no_lookup_cost;
  opt.plots = !no_plots;
  opt.pin = !no_pin;
  return {std::move(opt), 0};
}

}  // namespace snapcache::compare
