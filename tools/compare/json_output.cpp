#include "json_output.hpp"

#include <nlohmann/json.hpp>

#include <fstream>

namespace snapcache::compare {
namespace {

using nlohmann::json;

const char* status_name(bench::cell_status s) {
  switch (s) {
    case bench::cell_status::ok: return "ok";
    case bench::cell_status::skipped: return "skipped";
    case bench::cell_status::failed: return "failed";
  }
  return "?";
}

template <class Sample>
json measured(const bench::spread& s, const std::vector<Sample>& samples, double Sample::*field) {
  json values = json::array();
  for (const Sample& x : samples) values.push_back(x.*field);
  return {{"median", s.median}, {"min", s.min}, {"max", s.max}, {"values", values}};
}

json seed_json(const bench::seed_result& r) {
  json cells = json::array();
  for (const bench::seed_cell& c : r.cells) {
    json cell = {{"threads", c.threads}, {"variant", c.variant}, {"status", status_name(c.status)},
                 {"note", c.note}, {"repeats", c.samples.size()}};
    if (c.status == bench::cell_status::ok) {
      using S = bench::seed_sample;
      cell["ops_per_s"] = measured(c.ops_per_s, c.samples, &S::ops_per_s);
      cell["scans_per_s"] = measured(c.scans_per_s, c.samples, &S::scans_per_s);
      cell["hit_rate"] = measured(c.hit_rate, c.samples, &S::hit_rate);
      cell["p50_ns"] = measured(c.p50_ns, c.samples, &S::p50_ns);
      cell["p99_ns"] = measured(c.p99_ns, c.samples, &S::p99_ns);
      cell["p999_ns"] = measured(c.p999_ns, c.samples, &S::p999_ns);
      cell["max_ns"] = measured(c.max_ns, c.samples, &S::max_ns);
    }
    cells.push_back(std::move(cell));
  }
  json ratios = json::array();
  for (const bench::seed_ratio& q : r.ratios) {
    ratios.push_back({{"threads", q.threads}, {"throughput", q.throughput}, {"p999", q.p999}});
  }
  return {{"capacity", r.config.capacity}, {"pool_size", r.config.pool_size}, {"scan_every", r.config.scan_every},
          {"read_only", r.config.read_only},
          {"seconds", r.config.seconds},   {"repeats", r.config.repeats},     {"wall_seconds", r.wall_seconds},
          {"cells", cells},                {"ratios", ratios}};
}

json lookup_cost_json(const std::vector<bench::lookup_cost_result>& costs) {
  json out = json::array();
  for (const bench::lookup_cost_result& c : costs) {
    out.push_back({{"variant", c.variant},
                   {"entries", c.entries},
                   {"kind", c.kind},
                   {"ok", c.ok},
                   {"note", c.note},
                   {"batches", c.batches},
                   {"median_ns", c.median_ns},
                   {"min_ns", c.min_ns},
                   {"max_ns", c.max_ns},
                   {"inspections_per_lookup", c.inspections_per_lookup}});
  }
  return out;
}

json grid_json(const bench::grid_result& g) {
  json cells = json::array();
  for (const bench::cell_result& c : g.cells) {
    const std::string workload(bench::workload_name(c.workload));
    json cell = {{"workload", workload}, {"threads", c.threads},        {"variant", c.variant},
                 {"status", status_name(c.status)}, {"note", c.note}, {"repeats", c.samples.size()}};
    if (c.status == bench::cell_status::ok) {
      using S = bench::cell_sample;
      cell["mops"] = measured(c.mops, c.samples, &S::mops);
      if (bench::is_scan_workload(c.workload)) {
        cell["p50_ns"] = measured(c.p50_ns, c.samples, &S::p50_ns);
        cell["p99_ns"] = measured(c.p99_ns, c.samples, &S::p99_ns);
        cell["p999_ns"] = measured(c.p999_ns, c.samples, &S::p999_ns);
        cell["max_window_ns"] = measured(c.max_window_ns, c.samples, &S::max_window_ns);
      }
      if (c.workload == bench::workload_kind::c) {
        cell["scans_per_s"] = measured(c.scans_per_s, c.samples, &S::scans_per_s);
        cell["items_per_s"] = measured(c.items_per_s, c.samples, &S::items_per_s);
        cell["keep_ratio"] = c.keep_ratio ? json(*c.keep_ratio) : json(nullptr);
      }
    }
    cells.push_back(std::move(cell));
  }
  json best = json::array();
  for (const bench::best_peer_result& b : g.comparisons) {
    best.push_back({{"workload", std::string(bench::workload_name(b.workload))},
                    {"threads", b.threads},
                    {"snapcache_mops", b.snapcache_median},
                    {"best_peer", b.best_peer},
                    {"best_peer_mops", b.best_peer_median},
                    {"ratio", b.ratio}});
  }
  return {{"key_range", g.config.key_range}, {"prefill", g.config.prefill}, {"seconds", g.config.seconds},
          {"repeats", g.config.repeats},     {"wall_seconds", g.wall_seconds}, {"cells", cells},
          {"best_peer", best}};
}

json variants_json() {
  json out = json::array();
  for (const std::string& name : bench::cache_variant_names()) {
    out.push_back({{"name", name}, {"kind", "cache"}, {"available", true}, {"note", ""}});
  }
  for (const bench::variant_info& v : bench::list_variants()) {
    out.push_back({{"name", v.name}, {"kind", "map"}, {"available", v.available}, {"note", v.unavailable_reason}});
  }
  return out;
}

}  // namespace

bool write_results_json(const std::string& path, const compare_results& r, std::string* error) {
  json workloads = json::array();
  if (r.opt.seed) workloads.push_back("seed");
  for (bench::workload_kind w : r.opt.map_workloads) workloads.push_back(std::string(bench::workload_name(w)));
  json doc = {
      {"program", "snapcache-compare"},
      {"version", SNAPCACHE_VERSION},
      {"started_utc", r.started_utc},
      {"machine", r.machine},
      {"wall_seconds", r.wall_seconds},
      {"load_average", {{"start", r.load_start}, {"end", r.load_end}}},
      {"config",
       {{"workloads", workloads},
        {"variants", r.opt.variants},
        {"threads", r.opt.threads},
        {"seconds", r.opt.seconds},
        {"repeats", r.opt.repeats},
        {"out", r.opt.out_dir},
        {"capacity", r.opt.capacity}}},
      {"variants", variants_json()},
      {"seed", r.seed ? seed_json(*r.seed) : json(nullptr)},
      {"lookup_cost", lookup_cost_json(r.lookup_costs)},
      {"maps", r.grid ? grid_json(*r.grid) : json(nullptr)},
  };
  std::ofstream f(path);
  if (!f) {
    *error = "cannot open " + path;
    return false;
  }
  f << doc.dump(2) << '\n';
  f.flush();
  if (!f) {
    *error = "write failed: " + path;
    return false;
  }
  return true;
}

}  // namespace snapcache::compare
