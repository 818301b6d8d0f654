// reclamation_bench: what reclamation costs the operations that pay for it
// (docs/benchmarks.md, "Reclamation"). Three measurements, medians of
// --repeats runs, printed as a table:
//
//  * worst lookup after a large retirement: a query cache holding --entries
//    entries (default 1,000,000) is cut to capacity 1 while another thread is
//    pinned, so nothing can be freed at once; then the writing thread and a
//    thread that never wrote look up until the old state is freed. Reported:
//    the slowest single lookup on either thread (target: under 1 ms), the
//    objects retired, and how many lookups the freeing was spread over.
//  * large writes next to single inserters: a batch of --batch entries
//    (default 20,000) and a capacity cut, each alone and then next to two
//    threads inserting single entries with 1 KiB payloads as fast as they
//    can. Reported: completion time alone and beside them, their ratio, and
//    the writer's lost races (retries) and how often others applied it.
//
// Usage: reclamation_bench [--entries N] [--batch N] [--repeats N]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "snapcache/ebr.hpp"
#include "snapcache/query_cache.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using snapcache::query_entry;

query_entry make_entry(std::uint64_t i, std::size_t payload = 0) {
  query_entry e;
  e.id = "q" + std::to_string(i);
  e.query = "SELECT * FROM events WHERE id = " + std::to_string(i);
  e.state = snapcache::query_state::succeeded;
  e.statement_type = snapcache::statement_kind::dml;
  e.submitted_at = snapcache::cache_clock::time_point(std::chrono::seconds(1'000'000'000 + i));
  e.completed_at = e.submitted_at + std::chrono::seconds(1);
  e.output_location = "s3://query-results/" + e.id + ".csv";
  if (payload != 0) {
    e.payload = std::make_shared<const std::vector<char>>(payload);
    e.payload_bytes = payload;
  }
  return e;
}

// The median over runs of one figure of a run (a member, or a function of the run).
template <class Run, class Figure>
double median_of(const std::vector<Run>& runs, Figure figure) {
  std::vector<double> v;
  for (const Run& run : runs) v.push_back(std::invoke(figure, run));
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double micros(clock_type::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

struct lookup_run {
  double worst_us = 0;
  double worst_writer_us = 0;
  double p999_us = 0;
  double over_1ms = 0;
  double retired = 0;
  double lookups = 0;
  double before_worst_us = 0;  // the slowest lookup before the retirement, for scale
  double before_p999_us = 0;
};

struct latencies {
  double worst_us = 0, p999_us = 0;
  long count = 0, over_1ms = 0;
};

// `n` lookups (or, if n == 0, lookups until nothing much is pending).
latencies timed_lookups(const snapcache::query_cache& cache, long n) {
  auto& domain = snapcache::ebr::domain::global();
  std::vector<double> us;
  us.reserve(n == 0 ? 100'000 : static_cast<std::size_t>(n));
  for (long i = 0; n == 0 ? domain.stats().pending > 4096 : i < n; ++i) {
    const auto start = clock_type::now();
    (void)cache.lookup("SELECT * FROM events WHERE id = 7", std::chrono::hours(24), snapcache::unlimited,
                       snapcache::cache_clock::time_point(std::chrono::seconds(1'000'000'000)));
    us.push_back(micros(clock_type::now() - start));
  }
  latencies l;
  l.count = static_cast<long>(us.size());
  if (us.empty()) return l;
  std::sort(us.begin(), us.end());
  l.worst_us = us.back();
  l.p999_us = us[std::min(us.size() - 1, us.size() * 999 / 1000)];
  l.over_1ms = static_cast<long>(us.end() - std::upper_bound(us.begin(), us.end(), 1000.0));
  return l;
}

lookup_run worst_lookup(std::size_t entries) {
  auto& domain = snapcache::ebr::domain::global();
  lookup_run run;
  auto cache = std::make_unique<snapcache::query_cache>(entries);
  {
    std::vector<query_entry> fill;
    fill.reserve(entries);
    for (std::uint64_t i = 0; i < entries; ++i) fill.push_back(make_entry(i));
    cache->insert(fill);
  }
  domain.synchronize();
  const latencies before = timed_lookups(*cache, 20'000);
  run.before_worst_us = before.worst_us;
  run.before_p999_us = before.p999_us;
  std::atomic<int> phase{0};
  std::thread pinned([&] {
    const auto g = domain.pin();
    phase = 1;
    while (phase.load() != 2) std::this_thread::yield();
  });
  while (phase.load() != 1) std::this_thread::yield();
  const std::uint64_t pending_before = domain.stats().pending;
  cache->set_capacity(1);
  run.retired = static_cast<double>(domain.stats().pending - pending_before);
  phase = 2;
  pinned.join();
  const latencies writer = timed_lookups(*cache, 1'000);  // the thread that retired it
  latencies other;
  std::thread fresh([&] { other = timed_lookups(*cache, 0); });  // one that never wrote
  fresh.join();
  run.worst_writer_us = writer.worst_us;
  run.lookups = static_cast<double>(other.count);
  run.worst_us = std::max(other.worst_us, writer.worst_us);
  run.p999_us = other.p999_us;
  run.over_1ms = static_cast<double>(other.over_1ms + writer.over_1ms);
  cache.reset();
  domain.synchronize();
  return run;
}

struct write_run {
  double alone_ms = 0, beside_ms = 0, retries = 0, helps = 0;
};

template <class Write>
write_run large_write(std::size_t preload, const Write& write) {
  write_run run;
  for (int beside = 0; beside < 2; ++beside) {
    snapcache::query_cache cache(std::max<std::size_t>(preload, 1) * 2);
    {
      std::vector<query_entry> fill;
      for (std::uint64_t i = 0; i < preload; ++i) fill.push_back(make_entry(i));
      if (!fill.empty()) cache.insert(fill);
    }
    std::atomic<bool> done{false};
    std::vector<std::thread> inserters;
    if (beside == 1) {
      for (std::uint64_t t = 0; t < 2; ++t) {
        inserters.emplace_back([&, t] {
          for (std::uint64_t i = 0; !done.load(std::memory_order_relaxed); ++i) {  // a flag, nothing published
            cache.insert(make_entry(10'000'000 + t * 5'000'000 + i % 100'000, 1024));
          }
        });
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const auto before = cache.stats();
    const auto start = clock_type::now();
    write(cache);
    const double ms = micros(clock_type::now() - start) / 1000.0;
    const auto after = cache.stats();
    done = true;
    for (auto& t : inserters) t.join();
    if (beside == 0) {
      run.alone_ms = ms;
    } else {
      run.beside_ms = ms;
      // The inserters retry too; the writer's own lost races are bounded by
      // the announcement (announce_after) plus the rounds until it applies.
      run.retries = static_cast<double>(after.retries - before.retries);
      run.helps = static_cast<double>(after.helps - before.helps);
    }
  }
  snapcache::ebr::domain::global().synchronize();
  return run;
}

long flag(int argc, char** argv, const char* name, long fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::atol(argv[i + 1]);
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const auto entries = static_cast<std::size_t>(flag(argc, argv, "--entries", 1'000'000));
  const auto batch = static_cast<std::size_t>(flag(argc, argv, "--batch", 20'000));
  const int repeats = static_cast<int>(flag(argc, argv, "--repeats", 3));

  std::vector<lookup_run> runs;
  for (int r = 0; r < repeats; ++r) runs.push_back(worst_lookup(entries));
  std::printf("worst lookup after set_capacity(1) on %zu entries, another thread pinned (median of %d)\n", entries,
              repeats);
  std::printf("  slowest lookup, any thread        %10.1f us   (target < 1000 us)\n",
              median_of(runs, &lookup_run::worst_us));
  std::printf("  slowest lookup, the writing thread %9.1f us\n", median_of(runs, &lookup_run::worst_writer_us));
  std::printf("  p99.9 of the lookups while freeing %9.1f us\n", median_of(runs, &lookup_run::p999_us));
  std::printf("  lookups over 1 ms while freeing  %10.0f\n", median_of(runs, &lookup_run::over_1ms));
  std::printf("  slowest / p99.9 of 20,000 lookups before %.1f / %.1f us\n",
              median_of(runs, &lookup_run::before_worst_us), median_of(runs, &lookup_run::before_p999_us));
  std::printf("  objects retired by the cut        %10.0f\n", median_of(runs, &lookup_run::retired));
  std::printf("  lookups the freeing was spread over %8.0f\n", median_of(runs, &lookup_run::lookups));

  std::vector<query_entry> batch_entries;
  for (std::uint64_t i = 0; i < batch; ++i) batch_entries.push_back(make_entry(50'000'000 + i));
  struct named_write {
    const char* name;
    std::vector<write_run> runs;
  } writes[2] = {{"batch insert", {}}, {"set_capacity cut", {}}};
  for (int r = 0; r < repeats; ++r) {
    writes[0].runs.push_back(large_write(0, [&](snapcache::query_cache& c) { c.insert(batch_entries); }));
    writes[1].runs.push_back(large_write(batch, [&](snapcache::query_cache& c) { c.set_capacity(batch / 20); }));
  }
  std::printf("\nlarge writes of %zu entries: alone and next to two single-insert threads (median of %d)\n", batch,
              repeats);
  std::printf("  %-18s %10s %12s %7s %9s %7s\n", "write", "alone ms", "beside ms", "ratio", "retries*", "helps");
  for (const auto& w : writes) {
    std::printf("  %-18s %10.1f %12.1f %7.2f %9.0f %7.0f\n", w.name, median_of(w.runs, &write_run::alone_ms),
                median_of(w.runs, &write_run::beside_ms),
                median_of(w.runs, [](const write_run& run) { return run.beside_ms / run.alone_ms; }),
                median_of(w.runs, &write_run::retries), median_of(w.runs, &write_run::helps));
  }
  return 0;
}
