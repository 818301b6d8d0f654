#include "cache/lookup_cost.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string_view>

#include "cache/filled_cache.hpp"
#include "cache/query_pool.hpp"
#include "harness/runner.hpp"    // summarise
#include "harness/workload.hpp"  // bench_clock
#include "snapcache/locked_query_cache.hpp"
#include "snapcache/query_cache.hpp"

namespace snapcache::bench {
namespace {

constexpr std::size_t batch = 32;
constexpr std::size_t max_hot = 8;
constexpr std::size_t min_rounds = 5, max_rounds = 2001;
constexpr auto max_age = std::chrono::hours(1);

struct batch_result {
  double ns_per_lookup = 0;
  std::uint64_t inspections = 0;
  std::size_t hits = 0;
};

// One (variant, size, kind) being measured: a filled cache behind a function
// that times one batch of lookups on it.
struct subject {
  lookup_cost_result result;
  std::function<batch_result()> run_batch;
  std::vector<double> ns;
  std::uint64_t inspections = 0;
  std::size_t hits = 0;
};

template <class Cache>
std::function<batch_result()> batch_runner(std::shared_ptr<Cache> cache, std::vector<std::string> texts) {
  const cache_clock::time_point now = cache_clock::now();
  return [cache = std::move(cache), texts = std::move(texts), now, next = std::size_t{0}]() mutable {
    const std::uint64_t before = cache->stats().inspections;
    std::size_t found = 0;
    const auto t0 = bench_clock::now();
    for (std::size_t i = 0; i < batch; ++i) {
      found += cache->lookup(texts[next++ % texts.size()], max_age, unlimited, now).has_value();
    }
    const auto t1 = bench_clock::now();
    batch_result r;
    r.ns_per_lookup = std::chrono::duration<double, std::nano>(t1 - t0).count() / batch;
    r.inspections = cache->stats().inspections - before;
    r.hits = found;
    return r;
  };
}

template <class Cache>
void add_subjects(std::string_view name, std::size_t n, std::vector<subject>& out) {
  subject hit, miss;
  hit.result.variant = miss.result.variant = std::string(name);
  hit.result.entries = miss.result.entries = n;
  hit.result.kind = "hit";
  miss.result.kind = "miss";
  try {
    const std::shared_ptr<Cache> cache = filled_cache<Cache>(n);
    const std::size_t hot = std::min(max_hot, std::max<std::size_t>(n / 2, 1));
    std::vector<std::string> hot_texts, absent_texts;
    for (std::size_t i = 0; i < hot; ++i) hot_texts.push_back(query_pool::make_text(i));
    for (std::size_t i = 0; i < hot; ++i) absent_texts.push_back(query_pool::make_text(n + 1'000'000 + i));
    hit.run_batch = batch_runner(cache, std::move(hot_texts));
    miss.run_batch = batch_runner(cache, std::move(absent_texts));
  } catch (const std::exception& e) {
    hit.result.note = miss.result.note = e.what();
  }
  out.push_back(std::move(hit));
  out.push_back(std::move(miss));
}

struct cache_entry_point {
  std::string_view name;
  void (*add_subjects)(std::string_view, std::size_t, std::vector<subject>&);
};

const cache_entry_point entry_points[] = {
    {"query_cache", &add_subjects<query_cache>},
    {"locked_query_cache", &add_subjects<locked_query_cache>},
};

}  // namespace

std::vector<lookup_cost_result> measure_lookup_costs(const std::vector<std::string>& variants,
                                                     const std::vector<std::size_t>& sizes, double budget_seconds) {
  for (const std::string& v : variants) {
    bool known = false;
    for (const cache_entry_point& e : entry_points) known = known || e.name == v;
    if (!known) throw std::invalid_argument("unknown cache variant: " + v);
  }
  for (std::size_t n : sizes) {
    if (n == 0) throw std::invalid_argument("lookup cost: size 0");
  }
  std::vector<subject> subjects;
  for (std::size_t n : sizes) {
    for (const cache_entry_point& e : entry_points) {
      if (variants.empty() || std::find(variants.begin(), variants.end(), e.name) != variants.end()) {
        e.add_subjects(e.name, n, subjects);
      }
    }
  }

  // Rounds of one batch per subject: a slow moment of a shared machine hits
  // every subject alike, and the medians compare like with like.
  for (subject& s : subjects) {
    if (s.run_batch) s.run_batch();  // warm the caches and the allocator
  }
  const double budget = budget_seconds * static_cast<double>(subjects.size());
  const auto start = bench_clock::now();
  for (std::size_t round = 0; round < max_rounds; ++round) {
    if (round >= min_rounds && std::chrono::duration<double>(bench_clock::now() - start).count() >= budget) break;
    for (subject& s : subjects) {
      if (!s.run_batch) continue;
      const batch_result b = s.run_batch();
      s.ns.push_back(b.ns_per_lookup);
      s.inspections += b.inspections;
      s.hits += b.hits;
    }
  }

  std::vector<lookup_cost_result> out;
  for (subject& s : subjects) {
    lookup_cost_result r = s.result;
    // A hit subject must hit every time and a miss subject never: anything
    // else means the fill or the lookups went wrong, and the time means nothing.
    const std::size_t expected_hits = r.kind == "hit" ? s.ns.size() * batch : 0;
    if (s.run_batch && s.hits != expected_hits) {
      r.note = "expected " + std::to_string(expected_hits) + " hits, got " + std::to_string(s.hits);
    } else if (s.run_batch && !s.ns.empty()) {
      const spread ns = summarise(s.ns);
      r.ok = true;
      r.batches = s.ns.size();
      r.median_ns = ns.median;
      r.min_ns = ns.min;
      r.max_ns = ns.max;
      r.inspections_per_lookup = static_cast<double>(s.inspections) / static_cast<double>(s.ns.size() * batch);
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace snapcache::bench
