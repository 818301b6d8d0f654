#include "csv_output.hpp"

#include <fstream>

#include "harness/report.hpp"  // write_csv
#include "harness/text.hpp"

namespace snapcache::compare {

using bench::csv_field;
using bench::number;

namespace {

class csv_rows {
 public:
  explicit csv_rows(std::ofstream& f) : f_(f) {}
  void row(const std::string& section, const std::string& workload, const std::string& threads,
           const std::string& variant, const std::string& metric, const std::string& median, const std::string& min,
           const std::string& max, const std::string& n, const std::string& values, const std::string& note) {
    f_ << csv_field(section) << ',' << csv_field(workload) << ',' << csv_field(threads) << ',' << csv_field(variant)
       << ',' << csv_field(metric) << ',' << median << ',' << min << ',' << max << ',' << n << ','
       << csv_field(values) << ',' << csv_field(note) << '\n';
  }

 private:
  std::ofstream& f_;
};

void seed_rows(csv_rows& csv, const bench::seed_result& r) {
  for (const bench::seed_cell& c : r.cells) {
    const std::string t = std::to_string(c.threads);
    if (c.status != bench::cell_status::ok) {
      csv.row("seed", "seed", t, c.variant, "status", "", "", "", "0", "",
              (c.status == bench::cell_status::skipped ? "skipped: " : "failed: ") + c.note);
      continue;
    }
    auto metric = [&](const char* name, const bench::spread& s, double bench::seed_sample::*field) {
      std::string values;
      for (const bench::seed_sample& x : c.samples) values += (values.empty() ? "" : ";") + number(x.*field);
      csv.row("seed", "seed", t, c.variant, name, number(s.median), number(s.min), number(s.max),
              std::to_string(c.samples.size()), values, "");
    };
    metric("ops_per_s", c.ops_per_s, &bench::seed_sample::ops_per_s);
    metric("scans_per_s", c.scans_per_s, &bench::seed_sample::scans_per_s);
    metric("hit_rate", c.hit_rate, &bench::seed_sample::hit_rate);
    metric("p50_ns", c.p50_ns, &bench::seed_sample::p50_ns);
    metric("p99_ns", c.p99_ns, &bench::seed_sample::p99_ns);
    metric("p999_ns", c.p999_ns, &bench::seed_sample::p999_ns);
    metric("max_ns", c.max_ns, &bench::seed_sample::max_ns);
  }
  for (const bench::seed_ratio& q : r.ratios) {
    const std::string t = std::to_string(q.threads);
    const std::string note = "query_cache / locked_query_cache";
    csv.row("seed_ratio", "seed", t, "query_cache", "throughput_ratio", number(q.throughput), "", "", "", "", note);
    csv.row("seed_ratio", "seed", t, "query_cache", "p999_ratio", number(q.p999), "", "", "", "", note);
  }
}

void lookup_cost_rows(csv_rows& csv, const std::vector<bench::lookup_cost_result>& costs) {
  for (const bench::lookup_cost_result& c : costs) {
    const std::string n = std::to_string(c.entries);
    if (!c.ok) {
      csv.row("lookup_cost", n, "1", c.variant, c.kind + "_ns", "", "", "", "0", "", "failed: " + c.note);
      continue;
    }
    csv.row("lookup_cost", n, "1", c.variant, c.kind + "_ns", number(c.median_ns), number(c.min_ns),
            number(c.max_ns), std::to_string(c.batches), "", "");
    csv.row("lookup_cost", n, "1", c.variant, c.kind + "_inspections", number(c.inspections_per_lookup), "", "", "",
            "", "");
  }
}

}  // namespace

bool write_results_csv(const std::string& path, const compare_results& r, std::string* error) {
  // The harness writes the header and its own sections; ours are appended.
  if (!bench::write_csv(path, r.grid ? &*r.grid : nullptr, {}, {}, error)) return false;
  std::ofstream f(path, std::ios::app);
  if (!f) {
    *error = "cannot append to " + path;
    return false;
  }
  csv_rows csv(f);
  if (r.seed) seed_rows(csv, *r.seed);
  lookup_cost_rows(csv, r.lookup_costs);
  f.flush();
  if (!f) {
    *error = "write failed: " + path;
    return false;
  }
  return true;
}

}  // namespace snapcache::compare
