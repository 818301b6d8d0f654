#include "cache/seed_scenario.hpp"

#include <algorithm>
#include <stdexcept>

#include "cache/query_pool.hpp"
#include "cache/seed_loop.hpp"
#include "harness/select.hpp"
#include "snapcache/locked_query_cache.hpp"
#include "snapcache/query_cache.hpp"

namespace snapcache::bench {
namespace {

struct cache_variant {
  std::string_view name;
  seed_sample (*run)(const seed_spec&);
};

const cache_variant registry[] = {
    {"query_cache", &run_seed_cell<query_cache>},
    {"locked_query_cache", &run_seed_cell<locked_query_cache>},
};

const cache_variant* find_cache_variant(std::string_view name) {
  for (const cache_variant& v : registry) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

std::vector<const cache_variant*> resolve(const std::vector<std::string>& names) {
  return select_by_name(std::span<const cache_variant>(registry), names, "cache variant");
}

void summarise_cell(seed_cell& cell) {
  if (cell.status != cell_status::ok) return;
  std::vector<double> ops, scans, hits, p50, p99, p999, max;
  for (const seed_sample& s : cell.samples) {
    ops.push_back(s.ops_per_s);
    scans.push_back(s.scans_per_s);
    hits.push_back(s.hit_rate);
    p50.push_back(s.p50_ns);
    p99.push_back(s.p99_ns);
    p999.push_back(s.p999_ns);
    max.push_back(s.max_ns);
  }
  cell.ops_per_s = summarise(ops);
  cell.scans_per_s = summarise(scans);
  cell.hit_rate = summarise(hits);
  cell.p50_ns = summarise(p50);
  cell.p99_ns = summarise(p99);
  cell.p999_ns = summarise(p999);
  cell.max_ns = summarise(max);
}

void validate(const seed_config& config) {
  if (config.threads.empty()) throw std::invalid_argument("no thread counts");
  if (std::find(config.threads.begin(), config.threads.end(), 0u) != config.threads.end()) {
    throw std::invalid_argument("thread count 0");
  }
  if (config.repeats == 0) throw std::invalid_argument("repeats must be at least 1");
  if (config.capacity == 0) throw std::invalid_argument("capacity must be at least 1");
  if (config.scan_every == 0) throw std::invalid_argument("scan_every must be at least 1");
  if (!(config.seconds > 0)) throw std::invalid_argument("seconds must be positive");
}

}  // namespace

const std::vector<std::string>& cache_variant_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const cache_variant& v : registry) out.emplace_back(v.name);
    return out;
  }();
  return names;
}

bool is_cache_variant(std::string_view name) { return find_cache_variant(name) != nullptr; }

const seed_cell* find_seed_cell(const seed_result& result, unsigned threads, std::string_view variant) {
  for (const seed_cell& c : result.cells) {
    if (c.threads == threads && c.variant == variant) return &c;
  }
  return nullptr;
}

seed_result run_seed_scenario(const seed_config& config, const query_pool& pool, const seed_progress_fn& progress) {
  validate(config);
  const std::vector<const cache_variant*> variants = resolve(config.variants);
  const unsigned most_threads = *std::max_element(config.threads.begin(), config.threads.end());
  if (pool.threads() < most_threads) throw std::invalid_argument("query pool has too few thread rings");

  seed_result result;
  result.config = config;
  for (unsigned t : config.threads) {
    for (const cache_variant* v : variants) {
      seed_cell cell;
      cell.threads = t;
      cell.variant = std::string(v->name);
      result.cells.push_back(std::move(cell));
    }
  }

  const auto start = bench_clock::now();
  const std::size_t count = result.cells.size();
  for (unsigned repeat = 0; repeat < config.repeats; ++repeat) {
    for (std::size_t i = 0; i < count; ++i) {
      seed_cell& cell = result.cells[i];
      if (cell.status == cell_status::ok) {
        seed_spec spec;
        spec.threads = cell.threads;
        spec.seconds = config.seconds;
        spec.repeat = repeat;
        spec.pin = config.pin;
        spec.capacity = config.capacity;
        spec.scan_every = config.scan_every;
        spec.read_only = config.read_only;
        spec.seed = config.seed;
        spec.pool = &pool;
        seed_sample s = find_cache_variant(cell.variant)->run(spec);
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

  for (seed_cell& cell : result.cells) summarise_cell(cell);
  for (unsigned t : config.threads) {
    const seed_cell* mine = find_seed_cell(result, t, "query_cache");
    const seed_cell* locked = find_seed_cell(result, t, "locked_query_cache");
    if (mine == nullptr || locked == nullptr || mine->status != cell_status::ok ||
        locked->status != cell_status::ok) {
      continue;
    }
    seed_ratio r;
    r.threads = t;
    if (locked->ops_per_s.median > 0) r.throughput = mine->ops_per_s.median / locked->ops_per_s.median;
    if (locked->p999_ns.median > 0) r.p999 = mine->p999_ns.median / locked->p999_ns.median;
    result.ratios.push_back(r);
  }
  return result;
}

}  // namespace snapcache::bench
