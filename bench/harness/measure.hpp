// The measuring loops of the comparison harness, written once as templates
// over a map adapter (see variants.hpp for the adapter interface).
//
// The problem. Every map must be driven by the same code, with no virtual
// call or type erasure between the loop and the map: a per-operation
// indirection costs the fastest maps the most and flattens differences.
//
// The mechanism. run_cell<Adapter> builds a fresh map, prefills it on the
// calling thread, starts the cell's threads, releases them together, lets
// them run for the cell's duration and stops them with a flag they check
// every 64 operations. Each thread times its own run; throughput is the sum
// over threads of operations / own elapsed time. view_cost<Adapter> times the
// taking of a snapshot (or the variant's equivalent view) alone,
// scan_rate<Adapter> times full scans of a quiescent map, and
// memory_cost<Adapter> measures the heap a map holds after filling and
// churning it, in a forked child so the parent's free lists do not hide the
// growth.
//
// When not to use it. Directly: use runner.hpp, which runs grids of cells
// through the type-erased registry and summarises repeats.
#pragma once

#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "harness/heap_counter.hpp"
#include "harness/workload.hpp"

namespace snapcache::bench {

// The time of taking one view (snapshot, locked table...) alone.
struct view_cost_sample {
  bool ok = false;
  std::string error;
  std::size_t entries = 0;
  std::size_t samples = 0;
  double median_ns = 0, min_ns = 0, max_ns = 0;
};

// Items per second of full scans through the adapter's scan(), one thread,
// on a quiescent map.
struct scan_rate_sample {
  bool ok = false;
  std::string error;
  std::size_t entries = 0;
  std::size_t scans = 0;                 // timed scans
  double median = 0, min = 0, max = 0;  // items per second, over the timed scans
  std::uint64_t sink = 0;               // keys and values read, so no scan is optimised away
};

// What a map built with capacity hint `entries` holds after memory_cost's
// fill and churn, per entry, as growth since just before it was built.
struct memory_sample {
  bool ok = false;
  std::string error;
  std::size_t entries = 0;
  double heap_bytes_per_entry = 0;  // mallinfo2: uordblks + hblkhd (glibc malloc only)
  double rss_bytes_per_entry = 0;   // /proc/self/statm resident set
  bool counted = false;             // a counting operator new was linked in (heap_counter.hpp)
  double requested_bytes_per_entry = 0;  // live bytes asked of operator new (when counted)
  double allocator_bytes_per_entry = 0;  // their malloc_usable_size (when counted)
  std::uint64_t unsized_deletes = 0;     // each makes requested read a few bytes low
};

// An adapter may offer take_view(): the variant's way to obtain something
// iterable that writers cannot change under it.
template <class Adapter>
concept has_view = requires(Adapter& a) { a.take_view(); };

// An adapter may offer static quiesce(): lets memory held for deferred
// reclamation go back before memory_cost measures.
template <class Adapter>
concept has_quiesce = requires { Adapter::quiesce(); };

namespace detail {

inline double seconds_between(bench_clock::time_point a, bench_clock::time_point b) noexcept {
  return std::chrono::duration<double>(b - a).count();
}

struct start_gate {
  std::atomic<unsigned> ready{0};
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
};

struct worker_result {
  std::uint64_t ops = 0;
  double seconds = 0;
  std::uint64_t sink = 0;
  std::uint64_t scans = 0;
  std::uint64_t items = 0;
  std::unique_ptr<latency_histogram> latency;  // writers of C and C-noscan
  double max_window_ns = 0;                    // writers of C and C-noscan
  double full_scans = 0;                       // scanner: complete + the share of the unfinished one
  std::string error;
};

// A, B, A-zipf: every operation drawn from the mix; Zipf keys come from the
// thread's precomputed ring.
template <class Adapter, bool Zipf>
void mixed_loop(Adapter& map, const op_thresholds th, rng r, const std::uint64_t* ring, std::size_t ring_pos,
                std::uint64_t range, const std::atomic<bool>& stop, worker_result& out) {
  constexpr std::size_t ring_mask = dataset::zipf_ring - 1;
  std::uint64_t ops = 0, sink = 0;
  do {
    for (int i = 0; i < 64; ++i) {
      const std::uint64_t draw = r.next();
      std::uint64_t key;
      if constexpr (Zipf) {
        key = ring[ring_pos++ & ring_mask];
      } else {
        key = scale_key(draw, range);
      }
      const auto sel = static_cast<std::uint32_t>(draw);
      if (sel < th.find) {
        std::uint64_t v;
        if (map.find(key, v)) sink += v;
      } else if (sel < th.insert) {
        sink += map.insert(key, draw);
      } else if (sel < th.insert_or_assign) {
        sink += map.insert_or_assign(key, draw);
      } else {
        sink += map.erase(key);
      }
    }
    ops += 64;
  } while (!stop.load(std::memory_order_relaxed));  // flag only: no data rides on it
  out.ops = ops;
  out.sink = sink;
}

// C and C-noscan writers: insert/erase on uniform keys; every 8th operation
// is timed.
template <class Adapter>
void writer_loop(Adapter& map, const op_thresholds th, rng r, std::uint64_t range, const std::atomic<bool>& stop,
                 worker_result& out) {
  out.latency = std::make_unique<latency_histogram>();
  latency_histogram& hist = *out.latency;
  std::uint64_t ops = 0, sink = 0;
  auto op = [&](std::uint64_t draw) {
    const std::uint64_t key = scale_key(draw, range);
    return static_cast<std::uint32_t>(draw) < th.insert ? map.insert(key, draw) : map.erase(key);
  };
  // The same two clock reads also bound every unsampled operation: the gap
  // from one sample's end to the next sample's start spans the 7 operations
  // between them, so a stall anywhere shows in max_window_ns.
  std::int64_t max_window = 0;
  auto last = bench_clock::now();
  do {
    for (int i = 0; i < 64; ++i) {
      const std::uint64_t draw = r.next();
      if ((i & 7) == 0) {
        const auto t0 = bench_clock::now();
        sink += op(draw);
        const auto t1 = bench_clock::now();
        const std::int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
        const std::int64_t gap = std::chrono::duration_cast<std::chrono::nanoseconds>(t0 - last).count();
        hist.add(static_cast<std::uint64_t>(ns));
        max_window = std::max({max_window, ns, gap});
        last = t1;
      } else {
        sink += op(draw);
      }
    }
    ops += 64;
  } while (!stop.load(std::memory_order_relaxed));  // flag only
  out.ops = ops;
  out.sink = sink;
  out.max_window_ns = static_cast<double>(max_window);
}

// C's scanner: full scans, one after another; the scan in progress when the
// cell stops gives up and counts by the share of a full scan it visited.
template <class Adapter>
void scanner_loop(Adapter& map, std::size_t reference_size, const std::atomic<bool>& stop, worker_result& out) {
  std::uint64_t scans = 0, items = 0, sink = 0, complete_items = 0, partial = 0;
  do {
    std::uint64_t n = 0;
    const bool complete = map.scan([&](std::uint64_t k, std::uint64_t v) {
      sink += k ^ v;
      return (++n & 4095) != 0 || !stop.load(std::memory_order_relaxed);  // flag only
    });
    items += n;
    if (complete) {
      ++scans;
      complete_items += n;
    } else {
      partial = n;
    }
  } while (!stop.load(std::memory_order_relaxed));  // flag only
  out.scans = scans;
  out.items = items;
  out.sink = sink;
  // The unfinished scan counts by its share of a full one: the mean size of
  // the complete scans, or the prefill size (C keeps the map near it) if none.
  const double full = scans > 0 ? static_cast<double>(complete_items) / static_cast<double>(scans)
                                 : static_cast<double>(reference_size);
  out.full_scans = static_cast<double>(scans) + (full > 0 ? std::min(1.0, static_cast<double>(partial) / full) : 0.0);
}

template <class Adapter>
void worker_main(Adapter& map, const cell_spec& spec, unsigned index, bool scanner, start_gate& gate,
                 worker_result& out) {
  if (spec.pin) pin_current_thread(index);
  Adapter::thread_attach();
  bool announced = false;
  try {
    const dataset& data = *spec.data;
    const op_thresholds th = op_thresholds::of(mix_of(spec.workload));
    rng r(stream_seed(data.seed(), spec.repeat, index));
    const std::uint64_t* ring = nullptr;
    std::size_t ring_pos = 0;
    if (spec.workload == workload_kind::a_zipf) {
      ring = data.zipf_keys(index).data();
      ring_pos = static_cast<std::size_t>(r.next() % dataset::zipf_ring);  // each repeat starts elsewhere
    }
    gate.ready.fetch_add(1, std::memory_order_acq_rel);  // pairs with the main thread's wait
    announced = true;
    while (!gate.go.load(std::memory_order_acquire)) std::this_thread::yield();  // pairs with release in run_cell
    const auto t0 = bench_clock::now();
    if (scanner) {
      scanner_loop(map, data.prefill_count(), gate.stop, out);
    } else if (is_scan_workload(spec.workload)) {
      writer_loop(map, th, r, data.key_range(), gate.stop, out);
    } else if (spec.workload == workload_kind::a_zipf) {
      mixed_loop<Adapter, true>(map, th, r, ring, ring_pos, data.key_range(), gate.stop, out);
    } else {
      mixed_loop<Adapter, false>(map, th, r, nullptr, 0, data.key_range(), gate.stop, out);
    }
    out.seconds = seconds_between(t0, bench_clock::now());
  } catch (const std::exception& e) {
    out.error = e.what();
    if (!announced) gate.ready.fetch_add(1, std::memory_order_acq_rel);  // never leave the main thread waiting
  }
  Adapter::thread_detach();
}

template <class Adapter>
cell_sample drive(Adapter& map, const cell_spec& spec) {
  const bool with_scanner = spec.workload == workload_kind::c;
  const unsigned writers = spec.threads;
  const unsigned total = writers + (with_scanner ? 1 : 0);
  start_gate gate;
  std::vector<worker_result> results(total);
  std::vector<std::thread> threads;
  threads.reserve(total);
  for (unsigned i = 0; i < total; ++i) {
    const bool scanner = with_scanner && i == writers;
    threads.emplace_back([&, i, scanner] { worker_main(map, spec, i, scanner, gate, results[i]); });
  }
  while (gate.ready.load(std::memory_order_acquire) < total) std::this_thread::yield();  // pairs with workers' fetch_add
  gate.go.store(true, std::memory_order_release);  // pairs with the workers' acquire
  std::this_thread::sleep_for(std::chrono::duration<double>(spec.seconds));
  gate.stop.store(true, std::memory_order_relaxed);  // flag only; join publishes the results
  for (auto& t : threads) t.join();

  cell_sample s;
  latency_histogram merged;
  double seconds_sum = 0;
  for (unsigned i = 0; i < total; ++i) {
    const worker_result& w = results[i];
    if (!w.error.empty()) {
      s.error = w.error;
      return s;
    }
    s.sink += w.sink;
    if (with_scanner && i == writers) {
      s.scans = w.scans;
      s.items = w.items;
      s.scans_per_s = w.seconds > 0 ? w.full_scans / w.seconds : 0;
      s.items_per_s = w.seconds > 0 ? static_cast<double>(w.items) / w.seconds : 0;
      continue;
    }
    s.ops += w.ops;
    s.mops += w.seconds > 0 ? static_cast<double>(w.ops) / w.seconds / 1e6 : 0;
    seconds_sum += w.seconds;
    if (w.latency) merged.merge(*w.latency);
    s.max_window_ns = std::max(s.max_window_ns, w.max_window_ns);
  }
  s.seconds = seconds_sum / writers;
  if (merged.total() > 0) {
    s.latency_samples = merged.total();
    s.p50_ns = merged.quantile(0.50);
    s.p99_ns = merged.quantile(0.99);
    s.p999_ns = merged.quantile(0.999);
  }
  s.ok = true;
  return s;
}

// Fills `map` with the first `n` keys of the dataset's permutation.
template <class Adapter>
void fill(Adapter& map, const dataset& data, std::size_t n) {
  const auto& perm = data.permutation();
  n = std::min(n, perm.size());
  for (std::size_t i = 0; i < n; ++i) map.insert(perm[i], value_of(perm[i]));
}

// The churn memory_cost measures after, on the first `n` keys that fill()
// inserted: every key overwritten twice with new values, then every 10th key
// (in fill order) erased, and only then those keys inserted again, so that
// for a while the map holds nine tenths of them.
template <class Adapter>
void churn(Adapter& map, const dataset& data, std::size_t n) {
  const auto& perm = data.permutation();
  n = std::min(n, perm.size());
  for (std::uint64_t round = 1; round <= 2; ++round) {
    for (std::size_t i = 0; i < n; ++i) map.insert_or_assign(perm[i], value_of(perm[i]) + round);
  }
  for (std::size_t i = 0; i < n; i += 10) map.erase(perm[i]);
  for (std::size_t i = 0; i < n; i += 10) map.insert(perm[i], value_of(perm[i]) + 3);
}

// One full scan: the number of items it visited, or -1 if it stopped early.
template <class Adapter>
std::int64_t count_scan(Adapter& map, std::uint64_t& sink) {
  std::int64_t n = 0;
  const bool complete = map.scan([&](std::uint64_t k, std::uint64_t v) {
    sink += k ^ v;
    ++n;
    return true;
  });
  return complete ? n : -1;
}

// Statistics of a sorted sample.
inline void summarise_sorted(const std::vector<double>& v, double& median, double& lo, double& hi) {
  if (v.empty()) return;
  lo = v.front();
  hi = v.back();
  const std::size_t n = v.size();
  median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

inline std::size_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  const int got = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return got == 2 ? resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE)) : 0;
}

inline std::size_t heap_in_use() {
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

}  // namespace detail

// One run of one cell: a fresh map, prefilled, driven for spec.seconds.
template <class Adapter>
cell_sample run_cell(const cell_spec& spec) {
  cell_sample out;
  Adapter::thread_attach();
  try {
    auto map = std::make_unique<Adapter>(spec.capacity);
    detail::fill(*map, *spec.data, spec.data->prefill_count());
    out = detail::drive(*map, spec);
  } catch (const std::exception& e) {
    out = cell_sample{};
    out.error = e.what();
  }
  Adapter::thread_detach();
  return out;
}

// A single-threaded check of the adapter against std::unordered_map: random
// operations over a small key range, every result compared, then a scan
// (where the variant has one) compared with the oracle's contents. Returns
// an empty string when everything agreed, else what differed.
template <class Adapter>
std::string check_adapter(std::uint64_t seed) {
  std::string failure;
  Adapter::thread_attach();
  try {
    auto map = std::make_unique<Adapter>(std::size_t{4096});
    std::unordered_map<std::uint64_t, std::uint64_t> oracle;
    rng r(seed);
    auto fail = [&](const char* what, std::uint64_t key) {
      if (failure.empty()) failure = std::string(what) + " disagrees for key " + std::to_string(key);
    };
    for (int i = 0; i < 40000 && failure.empty(); ++i) {
      const std::uint64_t draw = r.next();
      const std::uint64_t key = scale_key(draw, 2000);
      const std::uint64_t value = draw >> 8;
      switch (draw & 3) {
        case 0: {
          std::uint64_t v = 0;
          const bool found = map->find(key, v);
          const auto it = oracle.find(key);
          if (found != (it != oracle.end()) || (found && v != it->second)) fail("find", key);
          break;
        }
        case 1:
          if (map->insert(key, value) != oracle.try_emplace(key, value).second) fail("insert", key);
          break;
        case 2:
          if (map->insert_or_assign(key, value) != oracle.insert_or_assign(key, value).second) {
            fail("insert_or_assign", key);
          }
          break;
        default:
          if (map->erase(key) != (oracle.erase(key) == 1)) fail("erase", key);
          break;
      }
    }
    if (failure.empty() && !Adapter::scan_method.empty()) {
      std::unordered_map<std::uint64_t, std::uint64_t> seen;
      const bool complete = map->scan([&](std::uint64_t k, std::uint64_t v) {
        if (!seen.emplace(k, v).second) fail("scan (key twice)", k);
        return true;
      });
      if (!complete) failure = "scan did not complete";
      if (failure.empty() && seen != oracle) failure = "scan contents differ from the oracle";
    }
  } catch (const std::exception& e) {
    failure = e.what();
  }
  Adapter::thread_detach();
  return failure;
}

// Times take_view() alone on a quiescent map of `entries` keys: at least 5
// and at most 1001 samples, stopping after `budget_seconds` once past 5.
template <class Adapter>
view_cost_sample view_cost(std::size_t entries, const dataset& data, double budget_seconds) {
  view_cost_sample out;
  out.entries = entries;
  if constexpr (has_view<Adapter>) {
    Adapter::thread_attach();
    try {
      auto map = std::make_unique<Adapter>(entries);
      detail::fill(*map, data, entries);
      { auto warm = map->take_view(); }
      std::vector<double> ns;
      const auto start = bench_clock::now();
      while (ns.size() < 1001 &&
             (ns.size() < 5 || detail::seconds_between(start, bench_clock::now()) < budget_seconds)) {
        const auto t0 = bench_clock::now();
        auto view = map->take_view();
        const auto t1 = bench_clock::now();
        ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
      }  // the view is destroyed outside the timed region
      std::sort(ns.begin(), ns.end());
      detail::summarise_sorted(ns, out.median_ns, out.min_ns, out.max_ns);
      out.samples = ns.size();
      out.ok = true;
    } catch (const std::exception& e) {
      out.error = e.what();
    }
    Adapter::thread_detach();
  } else {
    (void)data;
    (void)budget_seconds;
    out.error = "no snapshot or view";
  }
  return out;
}

// Items per second of full scans through scan() on a quiescent map of
// `entries` keys (fill()'s), one thread: one untimed warm-up scan, then at
// least 5 and at most 1001 timed ones, stopping after `budget_seconds` once
// past 5. A scan that stops early or misses or repeats an item fails the
// measurement.
template <class Adapter>
scan_rate_sample scan_rate(std::size_t entries, const dataset& data, double budget_seconds) {
  scan_rate_sample out;
  out.entries = entries;
  if constexpr (Adapter::scan_method.empty()) {
    (void)data;
    (void)budget_seconds;
    out.error = "no scan method";
  } else {
    Adapter::thread_attach();
    try {
      auto map = std::make_unique<Adapter>(entries);
      detail::fill(*map, data, entries);
      const auto expected = static_cast<std::int64_t>(std::min(entries, data.permutation().size()));
      detail::count_scan(*map, out.sink);
      std::vector<double> rates;
      const auto start = bench_clock::now();
      while (out.error.empty() && rates.size() < 1001 &&
             (rates.size() < 5 || detail::seconds_between(start, bench_clock::now()) < budget_seconds)) {
        const auto t0 = bench_clock::now();
        const std::int64_t n = detail::count_scan(*map, out.sink);
        const auto t1 = bench_clock::now();
        if (n != expected) {
          out.error = n < 0 ? "a scan stopped early"
                            : "a scan visited " + std::to_string(n) + " of " + std::to_string(expected) + " items";
        }
        rates.push_back(static_cast<double>(n) / detail::seconds_between(t0, t1));
      }
      std::sort(rates.begin(), rates.end());
      detail::summarise_sorted(rates, out.median, out.min, out.max);
      out.scans = rates.size();
      out.ok = out.error.empty();
    } catch (const std::exception& e) {
      out.error = e.what();
    }
    Adapter::thread_detach();
  }
  return out;
}

// What a map holds per entry after this sequence, measured in a forked child:
// build it with capacity hint `entries`, fill `entries` keys, churn them
// (detail::churn: every key overwritten twice, a tenth erased and
// reinserted), call Adapter::quiesce() where there is one, then measure
// growth since just before the build. Maps with deferred reclamation hold
// replaced versions until a grace period passes; what is pending is bounded
// (threads x batch for snapcache's epoch domain) and is not the structure's
// size, so quiesce() lets it go back and the figure excludes it. With a
// counting operator new linked in (heap_counter.hpp), counting starts just
// before the build. Call it before starting threads of your own (fork copies
// only the calling thread).
template <class Adapter>
memory_sample memory_cost(std::size_t entries, const dataset& data) {
  memory_sample out;
  out.entries = entries;
  struct report {
    double heap = 0, rss = 0, requested = 0, allocated = 0;
    std::uint64_t unsized_deletes = 0;
    int counted = 0;
    int ok = 0;
  };
  auto measure = [&]() -> report {
    report r;
    const heap_counter counter = installed_heap_counter;
    const double per_entry = 1.0 / static_cast<double>(entries);
    Adapter::thread_attach();
    const std::size_t heap0 = detail::heap_in_use(), rss0 = detail::resident_bytes();
    if (counter.available()) counter.start();
    auto* map = new Adapter(entries);  // never freed: the child exits
    detail::fill(*map, data, entries);
    detail::churn(*map, data, entries);
    if constexpr (has_quiesce<Adapter>) Adapter::quiesce();
    if (counter.available()) {
      counter.stop();
      r.requested = static_cast<double>(counter.requested_bytes()) * per_entry;
      r.allocated = static_cast<double>(counter.allocator_bytes()) * per_entry;
      r.unsized_deletes = counter.unsized_deletes();
      r.counted = 1;
    }
    const std::size_t heap1 = detail::heap_in_use(), rss1 = detail::resident_bytes();
    r.heap = (static_cast<double>(heap1) - static_cast<double>(heap0)) * per_entry;
    r.rss = (static_cast<double>(rss1) - static_cast<double>(rss0)) * per_entry;
    r.ok = 1;
    return r;
  };
  int fds[2];
  if (pipe(fds) != 0) {
    out.error = "pipe failed";
    return out;
  }
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    out.error = "fork failed";
    return out;
  }
  if (pid == 0) {
    close(fds[0]);
    report r;
    try {
      r = measure();
    } catch (...) {
      r.ok = 0;
    }
    const ssize_t wrote = write(fds[1], &r, sizeof r);
    _exit(wrote == static_cast<ssize_t>(sizeof r) ? 0 : 1);
  }
  close(fds[1]);
  report r;
  const ssize_t got = read(fds[0], &r, sizeof r);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (got != static_cast<ssize_t>(sizeof r) || !r.ok) {
    out.error = "measuring child failed";
    return out;
  }
  out.heap_bytes_per_entry = r.heap;
  out.rss_bytes_per_entry = r.rss;
  out.counted = r.counted != 0;
  out.requested_bytes_per_entry = r.requested;
  out.allocator_bytes_per_entry = r.allocated;
  out.unsized_deletes = r.unsized_deletes;
  out.ok = true;
  return out;
}

}  // namespace snapcache::bench
