// cache_micro_bench: two single-thread costs of the query caches that the
// seed scenario mixes with everything else (the query-cache v2 issue names
// targets for both):
//  * walking candidates(): a view of 10,000 entries, taken and walked in
//    full, in entries per second (target: 20 M/s);
//  * a fresh cache: create one of capacity 100, insert one entry, destroy
//    it: what the fuzzer and the linearizability suite pay per run;
//  * the steady write: a full cache of capacity n admits a new entry (the
//    newest) and evicts its oldest, as every miss of the seed scenario does
//    at --capacity 1000. Entries are made before timing starts, so this is
//    the write path alone, without the entry's construction.
// Both caches side by side, in one run.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cache/completed_query.hpp"
#include "cache/filled_cache.hpp"
#include "cache/query_pool.hpp"
#include "snapcache/locked_query_cache.hpp"
#include "snapcache/query_cache.hpp"

namespace {

using snapcache::bench::completed_query;
using snapcache::bench::query_pool;

template <class Cache>
void candidates_walk(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto cache = snapcache::bench::filled_cache<Cache>(n);
  std::size_t sink = 0;
  for (auto _ : state) {
    const auto view = cache->candidates();
    for (const snapcache::query_entry& e : view) sink += e.id.size();
  }
  benchmark::DoNotOptimize(sink);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(n));
}
BENCHMARK(candidates_walk<snapcache::query_cache>)->Arg(10'000);
BENCHMARK(candidates_walk<snapcache::locked_query_cache>)->Arg(10'000);

template <class Cache>
void create_insert_one_destroy(benchmark::State& state) {
  const auto now = snapcache::cache_clock::now();
  const std::string text = query_pool::make_text(1);
  for (auto _ : state) {
    Cache cache(100);
    cache.insert(completed_query("q", text, now));
    Cache* kept = &cache;
    benchmark::DoNotOptimize(kept);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(create_insert_one_destroy<snapcache::query_cache>);
BENCHMARK(create_insert_one_destroy<snapcache::locked_query_cache>);

template <class Cache>
void insert_evicting_oldest(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto cache = snapcache::bench::filled_cache<Cache>(n);
  constexpr std::size_t batch = 4096;  // entries made outside the timed region
  std::vector<snapcache::query_entry> entries;
  entries.reserve(batch);
  const auto base = snapcache::cache_clock::now();
  std::int64_t made = 0;
  for (auto _ : state) {
    if (entries.empty()) {
      state.PauseTiming();
      for (std::size_t i = 0; i < batch; ++i, ++made) {
        const auto at = base + std::chrono::microseconds(made);
        entries.push_back(completed_query("w" + std::to_string(made), query_pool::make_text(n + static_cast<std::size_t>(made)), at));
      }
      std::reverse(entries.begin(), entries.end());  // pop_back hands them out oldest first
      state.ResumeTiming();
    }
    cache->insert(entries.back());
    entries.pop_back();
  }
  if (cache->size() != n) state.SkipWithError("the cache did not stay full");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(insert_evicting_oldest<snapcache::query_cache>)->Arg(1'000)->Arg(10'000);
BENCHMARK(insert_evicting_oldest<snapcache::locked_query_cache>)->Arg(1'000)->Arg(10'000);

}  // namespace

BENCHMARK_MAIN();
