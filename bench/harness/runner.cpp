#include "harness/runner.hpp"
#include "harness/select.hpp"

#include <algorithm>
#include <stdexcept>

#include "harness/registry.hpp"

namespace snapcache::bench {

std::vector<variant_info> list_variants() {
  std::vector<variant_info> out;
  for (const variant& v : all_variants()) {
    out.push_back({std::string(v.name), v.available, std::string(v.unavailable_reason), std::string(v.scan_method),
                   std::string(v.view_method)});
  }
  return out;
}

spread summarise(std::vector<double> values) {
  spread s;
  std::sort(values.begin(), values.end());
  detail::summarise_sorted(values, s.median, s.min, s.max);
  return s;
}

namespace {

std::vector<const variant*> resolve(const std::vector<std::string>& names) {
  return select_by_name(all_variants(), names, "variant");
}

void summarise_cell(cell_result& cell) {
  if (cell.status != cell_status::ok) return;
  std::vector<double> mops, p50, p99, p999, window, scans, items;
  for (const cell_sample& s : cell.samples) {
    mops.push_back(s.mops);
    window.push_back(s.max_window_ns);
    p50.push_back(s.p50_ns);
    p99.push_back(s.p99_ns);
    p999.push_back(s.p999_ns);
    scans.push_back(s.scans_per_s);
    items.push_back(s.items_per_s);
  }
  cell.mops = summarise(mops);
  if (is_scan_workload(cell.workload)) {
    cell.p50_ns = summarise(p50);
    cell.p99_ns = summarise(p99);
    cell.p999_ns = summarise(p999);
    cell.max_window_ns = summarise(window);
  }
  if (cell.workload == workload_kind::c) {
    cell.scans_per_s = summarise(scans);
    cell.items_per_s = summarise(items);
  }
}

}  // namespace

const cell_result* find_cell(const grid_result& result, workload_kind w, unsigned threads, std::string_view variant) {
  for (const cell_result& c : result.cells) {
    if (c.workload == w && c.threads == threads && c.variant == variant) return &c;
  }
  return nullptr;
}

grid_result run_grid(const grid_config& config, const dataset& data, const progress_fn& progress) {
  if (config.threads.empty()) throw std::invalid_argument("no thread counts");
  if (std::find(config.threads.begin(), config.threads.end(), 0u) != config.threads.end()) {
    throw std::invalid_argument("thread count 0");
  }
  if (config.repeats == 0) throw std::invalid_argument("repeats must be at least 1");
  const std::vector<const variant*> variants = resolve(config.variants);

  // C brings its no-scan baseline along.
  std::vector<workload_kind> workloads;
  auto add = [&](workload_kind w) {
    if (std::find(workloads.begin(), workloads.end(), w) == workloads.end()) workloads.push_back(w);
  };
  for (workload_kind w : config.workloads) {
    add(w);
    if (w == workload_kind::c) add(workload_kind::c_noscan);
  }

  grid_result result;
  result.config = config;
  for (workload_kind w : workloads) {
    for (unsigned t : config.threads) {
      for (const variant* v : variants) {
        cell_result cell;
        cell.workload = w;
        cell.threads = t;
        cell.variant = std::string(v->name);
        if (!v->available) {
          cell.status = cell_status::skipped;
          cell.note = std::string(v->unavailable_reason);
        } else if (is_scan_workload(w) && v->scan_method.empty()) {
          cell.status = cell_status::skipped;
          cell.note = "no safe iteration while others write";
        }
        result.cells.push_back(std::move(cell));
      }
    }
  }

  const auto start = bench_clock::now();
  const std::size_t count = result.cells.size();
  for (unsigned repeat = 0; repeat < config.repeats; ++repeat) {
    for (std::size_t i = 0; i < count; ++i) {
      cell_result& cell = result.cells[i];
      if (cell.status == cell_status::ok) {
        const variant* v = find_variant(cell.variant);
        cell_spec spec;
        spec.workload = cell.workload;
        spec.threads = cell.threads;
        spec.seconds = config.seconds;
        spec.repeat = repeat;
        spec.pin = config.pin;
        spec.capacity = static_cast<std::size_t>(data.key_range());
        spec.data = &data;
        cell_sample s = v->run(spec);
        if (s.ok) {
          cell.samples.push_back(std::move(s));
        } else {
          cell.status = cell_status::failed;
          cell.note = s.error.empty() ? "failed" : s.error;
        }
      }
      if (progress) progress(repeat, i, count, cell);
    }
  }
  result.wall_seconds = detail::seconds_between(start, bench_clock::now());

  for (cell_result& cell : result.cells) summarise_cell(cell);
  for (cell_result& cell : result.cells) {
    if (cell.workload != workload_kind::c || cell.status != cell_status::ok) continue;
    const cell_result* base = find_cell(result, workload_kind::c_noscan, cell.threads, cell.variant);
    if (base && base->status == cell_status::ok && base->mops.median > 0) {
      cell.keep_ratio = cell.mops.median / base->mops.median;
    }
  }

  // snapcache against the best other variant, per workload and thread count.
  for (workload_kind w : workloads) {
    for (unsigned t : config.threads) {
      const cell_result* mine = find_cell(result, w, t, std::string_view("snapcache"));
      if (mine == nullptr || mine->status != cell_status::ok) continue;
      best_peer_result b;
      b.workload = w;
      b.threads = t;
      b.snapcache_median = mine->mops.median;
      for (const cell_result& c : result.cells) {
        if (c.workload != w || c.threads != t || c.variant == std::string_view("snapcache")) continue;
        if (c.status != cell_status::ok) continue;
        if (b.best_peer.empty() || c.mops.median > b.best_peer_median) {
          b.best_peer = c.variant;
          b.best_peer_median = c.mops.median;
        }
      }
      if (!b.best_peer.empty() && b.best_peer_median > 0) b.ratio = b.snapcache_median / b.best_peer_median;
      result.comparisons.push_back(b);
    }
  }
  return result;
}

std::vector<check_result> check_variants(const std::vector<std::string>& names, std::uint64_t seed) {
  std::vector<check_result> out;
  for (const variant* v : resolve(names)) {
    check_result c;
    c.variant = std::string(v->name);
    if (!v->available) {
      c.note = std::string(v->unavailable_reason);
    } else {
      c.ran = true;
      c.note = v->check(seed);
      c.passed = c.note.empty();
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<view_cost_result> measure_view_costs(const std::vector<std::string>& names, const dataset& data,
                                                 const std::vector<std::size_t>& sizes, double budget_seconds) {
  std::vector<view_cost_result> out;
  for (const variant* v : resolve(names)) {
    for (std::size_t size : sizes) {
      view_cost_result r;
      r.variant = std::string(v->name);
      r.method = std::string(v->view_method);
      r.entries = std::min<std::size_t>(size, static_cast<std::size_t>(data.key_range()));
      if (!v->available) {
        r.note = std::string(v->unavailable_reason);
      } else if (v->view_cost == nullptr) {
        r.note = "no snapshot or view";
      } else {
        const view_cost_sample s = v->view_cost(r.entries, data, budget_seconds);
        r.ok = s.ok;
        r.note = s.error;
        r.samples = s.samples;
        r.median_ns = s.median_ns;
        r.min_ns = s.min_ns;
        r.max_ns = s.max_ns;
      }
      out.push_back(std::move(r));
    }
  }
  return out;
}

std::vector<scan_rate_result> measure_scan_rates(const std::vector<std::string>& names, const dataset& data,
                                                 std::size_t entries, double budget_seconds) {
  entries = std::min<std::size_t>(entries, static_cast<std::size_t>(data.key_range()));
  std::vector<scan_rate_result> out;
  auto row = [&](std::string_view name, std::string_view method) -> scan_rate_result& {
    scan_rate_result& r = out.emplace_back();
    r.variant = std::string(name);
    r.method = std::string(method);
    r.entries = entries;
    return r;
  };
  auto record = [](scan_rate_result& r, const scan_rate_sample& s) {
    r.ok = s.ok;
    r.note = s.error;
    r.scans = s.scans;
    r.items_per_s = {s.median, s.min, s.max};
  };
  record(row("std_unordered_map", "range-for (no concurrency)"),
         unordered_map_scan_rate(entries, data, budget_seconds));
  for (const variant* v : resolve(names)) {
    scan_rate_result& r = row(v->name, v->scan_method);
    if (!v->available) {
      r.note = std::string(v->unavailable_reason);
    } else if (v->scan_rate == nullptr) {
      r.note = "no scan method";
    } else {
      record(r, v->scan_rate(entries, data, budget_seconds));
    }
  }
  return out;
}

std::vector<memory_result> measure_memory(const std::vector<std::string>& names, const dataset& data,
                                          std::size_t entries) {
  entries = std::min<std::size_t>(entries, static_cast<std::size_t>(data.key_range()));
  std::vector<memory_result> out;
  auto record = [&](std::string name, const memory_sample& s) {
    memory_result r;
    r.variant = std::move(name);
    r.entries = entries;
    r.ok = s.ok;
    r.note = s.error;
    r.heap_bytes_per_entry = s.heap_bytes_per_entry;
    r.rss_bytes_per_entry = s.rss_bytes_per_entry;
    r.counted = s.counted;
    r.requested_bytes_per_entry = s.requested_bytes_per_entry;
    r.allocator_bytes_per_entry = s.allocator_bytes_per_entry;
    r.unsized_deletes = s.unsized_deletes;
    out.push_back(std::move(r));
  };
  record("std_unordered_map", unordered_map_memory(entries, data));
  for (const variant* v : resolve(names)) {
    if (!v->available) {
      memory_result r;
      r.variant = std::string(v->name);
      r.entries = entries;
      r.note = std::string(v->unavailable_reason);
      out.push_back(std::move(r));
      continue;
    }
    record(std::string(v->name), v->memory(entries, data));
  }
  return out;
}

}  // namespace snapcache::bench
