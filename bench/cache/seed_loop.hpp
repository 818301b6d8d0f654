// The seed scenario's measuring loop, written once as a template over the
// cache type (query_cache and locked_query_cache have the same members).
//
// The problem. Both caches must be driven by the same code with nothing
// between the loop and the cache: no virtual call, no per-operation random
// draw, no pow(), no shared counter that would serialise the threads.
//
// The mechanism. run_seed_cell<Cache> builds a fresh cache, prefills it on
// the calling thread, starts the cell's threads behind the harness's start
// gate, lets them run for the cell's duration and stops them with a flag
// they check every 64 iterations (see seed_scenario.hpp for what one
// iteration does). Each thread times its own run; throughput is the sum over
// threads of iterations / own elapsed time, as in the map harness.
//
// When not to use it. Directly: seed_scenario.hpp runs cells by name,
// interleaves repeats and summarises them.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cache/completed_query.hpp"
#include "cache/query_pool.hpp"
#include "harness/measure.hpp"  // detail::start_gate, detail::seconds_between
#include "harness/workload.hpp"  // latency_histogram, rng, stream_seed, pin_current_thread
#include "snapcache/query_cache.hpp"

namespace snapcache::bench {

// What one run of one seed cell is asked to do.
struct seed_spec {
  unsigned threads = 1;
  double seconds = 1.0;
  unsigned repeat = 0;
  bool pin = true;
  std::size_t capacity = 10'000;
  unsigned scan_every = 64;
  bool read_only = false;
  std::uint64_t seed = 42;
  const query_pool* pool = nullptr;
};

namespace seed_detail {

inline constexpr auto max_age = std::chrono::hours(1);  // nothing the run inserts expires

struct thread_result {
  std::uint64_t iterations = 0, hits = 0, inserts = 0, scans = 0, scanned = 0, sink = 0;
  double seconds = 0;
  std::int64_t max_ns = 0;
  latency_histogram latency;
  std::string error;
};

template <class Cache>
void seed_loop(Cache& cache, const query_pool& pool, const std::uint32_t* ring, std::size_t ring_pos,
               const seed_spec& spec, unsigned thread, const std::atomic<bool>& stop, thread_result& out) {
  constexpr std::size_t ring_mask = query_pool::ring_size - 1;
  const std::string id_prefix = "t" + std::to_string(thread) + "r" + std::to_string(spec.repeat) + "-";
  std::uint64_t iterations = 0, hits = 0, inserts = 0, scans = 0, scanned = 0, sink = 0;
  std::int64_t max_ns = 0;
  latency_histogram latency;  // local: out sits next to other threads' results
  unsigned until_scan = spec.scan_every;
  do {
    const cache_clock::time_point block_now = cache_clock::now();
    for (int i = 0; i < 64; ++i) {
      const cache_clock::time_point now = block_now + std::chrono::nanoseconds(i);
      const std::string& text = pool.text(ring[ring_pos++ & ring_mask]);
      std::optional<cache_hit> hit;
      if ((i & 7) == 0) {
        const auto t0 = bench_clock::now();
        hit = cache.lookup(text, max_age, unlimited, now);
        const auto t1 = bench_clock::now();
        const std::int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
        latency.add(static_cast<std::uint64_t>(ns));
        max_ns = std::max(max_ns, ns);
      } else {
        hit = cache.lookup(text, max_age, unlimited, now);
      }
      if (hit) {
        ++hits;
        sink += hit->id.size();
      } else if (!spec.read_only) {
        cache.insert(completed_query(id_prefix + std::to_string(inserts), text, now));
        ++inserts;
      }
      if (--until_scan == 0) {
        until_scan = spec.scan_every;
        const auto view = cache.candidates();
        for (const query_entry& e : view) {
          sink += e.id.size();
          ++scanned;
        }
        ++scans;
      }
    }
    iterations += 64;
  } while (!stop.load(std::memory_order_relaxed));  // flag only: no data rides on it
  out.iterations = iterations;
  out.hits = hits;
  out.inserts = inserts;
  out.scans = scans;
  out.scanned = scanned;
  out.sink = sink;
  out.max_ns = max_ns;
  out.latency = std::move(latency);
}

template <class Cache>
void seed_thread_main(Cache& cache, const seed_spec& spec, unsigned index, detail::start_gate& gate,
                      thread_result& out) {
  if (spec.pin) pin_current_thread(index);
  bool announced = false;
  try {
    const query_pool& pool = *spec.pool;
    rng r(stream_seed(spec.seed, spec.repeat, index));
    const std::uint32_t* ring = pool.ring(index).data();
    const auto ring_pos = static_cast<std::size_t>(r.next() % query_pool::ring_size);  // each repeat starts elsewhere
    gate.ready.fetch_add(1, std::memory_order_acq_rel);  // pairs with the main thread's wait
    announced = true;
    while (!gate.go.load(std::memory_order_acquire)) std::this_thread::yield();  // pairs with release in drive
    const auto t0 = bench_clock::now();
    seed_loop(cache, pool, ring, ring_pos, spec, index, gate.stop, out);
    out.seconds = detail::seconds_between(t0, bench_clock::now());
  } catch (const std::exception& e) {
    out.error = e.what();
    if (!announced) gate.ready.fetch_add(1, std::memory_order_acq_rel);  // never leave the main thread waiting
  }
}

// One entry for each of the `capacity` most popular texts, a microsecond
// apart and all older than anything the run inserts, so the run starts from
// a full cache that answers the hot texts.
template <class Cache>
void prefill(Cache& cache, const seed_spec& spec) {
  const query_pool& pool = *spec.pool;
  const cache_clock::time_point start = cache_clock::now();
  const std::size_t n = spec.capacity;
  for (std::size_t i = 0; i < n; ++i) {
    const auto at = start - std::chrono::microseconds(static_cast<std::int64_t>(n - i));
    cache.insert(completed_query("p" + std::to_string(i), pool.text(i % pool.size()), at));
  }
}

template <class Cache>
seed_sample drive(Cache& cache, const seed_spec& spec) {
  detail::start_gate gate;
  std::vector<thread_result> results(spec.threads);
  std::vector<std::thread> threads;
  threads.reserve(spec.threads);
  for (unsigned i = 0; i < spec.threads; ++i) {
    threads.emplace_back([&, i] { seed_thread_main(cache, spec, i, gate, results[i]); });
  }
  while (gate.ready.load(std::memory_order_acquire) < spec.threads) std::this_thread::yield();  // pairs with fetch_add
  const cache_stats before = cache.stats();  // the prefill's writes are not the run's
  gate.go.store(true, std::memory_order_release);  // pairs with the threads' acquire
  std::this_thread::sleep_for(std::chrono::duration<double>(spec.seconds));
  gate.stop.store(true, std::memory_order_relaxed);  // flag only; join publishes the results
  for (auto& t : threads) t.join();
  const cache_stats after = cache.stats();

  seed_sample s;
  s.writes = (after.inserts + after.replacements) - (before.inserts + before.replacements);
  s.retries = after.retries - before.retries;
  latency_histogram merged;
  double seconds_sum = 0;
  std::uint64_t lookups = 0;
  for (const thread_result& t : results) {
    if (!t.error.empty()) {
      s.error = t.error;
      return s;
    }
    s.iterations += t.iterations;
    s.hits += t.hits;
    s.inserts += t.inserts;
    s.scans += t.scans;
    s.scanned += t.scanned;
    s.sink += t.sink;
    lookups += t.iterations;
    if (t.seconds > 0) {
      s.ops_per_s += static_cast<double>(t.iterations) / t.seconds;
      s.scans_per_s += static_cast<double>(t.scans) / t.seconds;
    }
    seconds_sum += t.seconds;
    merged.merge(t.latency);
    s.max_ns = std::max(s.max_ns, static_cast<double>(t.max_ns));
  }
  s.seconds = seconds_sum / spec.threads;
  s.hit_rate = lookups > 0 ? static_cast<double>(s.hits) / static_cast<double>(lookups) : 0;
  s.latency_samples = merged.total();
  s.p50_ns = merged.quantile(0.50);
  s.p99_ns = merged.quantile(0.99);
  s.p999_ns = merged.quantile(0.999);
  s.final_size = cache.size();
  s.ok = true;
  return s;
}

}  // namespace seed_detail

// One run of one cell: a fresh cache, prefilled, driven for spec.seconds.
template <class Cache>
seed_sample run_seed_cell(const seed_spec& spec) {
  try {
    auto cache = std::make_unique<Cache>(spec.capacity);
    seed_detail::prefill(*cache, spec);
    return seed_detail::drive(*cache, spec);
  } catch (const std::exception& e) {
    seed_sample out;
    out.error = e.what();
    return out;
  }
}

}  // namespace snapcache::bench
