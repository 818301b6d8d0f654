// snapshot_bench: what many snapshots over time cost the map (issue 20,
// items 1 and 2; docs/benchmarks.md, "Snapshots over time"). Medians of
// --repeats runs, one thread, printed as a table:
//
//  * overwrite beside one live snapshot, after a burst of --burst (10,000)
//    snapshots opened together and closed, against the same map with no
//    burst: the announcement scan each overwrite makes.
//  * closing a snapshot that kept 1,024 versions (an older one live reads
//    them too), after the burst and without it: one recheck, one scan of
//    the announcements, per kept version.
//  * a sliding window: --window (300) snapshots held, --keys (1,000) keys
//    overwritten between consecutive snapshots, the oldest closed as each
//    new one opens (--closes, 100, timed). Reported: a close per kept
//    version, oldest-first, against closing the newest of the window; and
//    iterating the oldest against the newest, per item.
//
// --writes N overwrites each key N times between snapshots (default 1): with
// N > 1 the version that replaced a kept one is unlinked, and its recheck
// walks the chain (the case design.md leaves open).
//
// Usage: snapshot_bench [--burst N] [--window N] [--keys N] [--closes N] [--writes N] [--repeats N]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <vector>

#include "snapcache/hash_map.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using map_type = snapcache::hash_map<std::uint64_t, std::uint64_t>;

struct options {
  std::size_t burst = 10'000;
  std::size_t window = 300;
  std::uint64_t keys = 1'000;
  std::size_t closes = 100;
  int writes = 1;  // overwrites of each key between consecutive snapshots
  int repeats = 5;
};

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

double median_of(int repeats, const std::function<double()>& run) {
  std::vector<double> v;
  for (int i = 0; i < repeats; ++i) v.push_back(run());
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void burst_of_snapshots(const map_type& m, std::size_t n) {
  std::vector<map_type::snapshot_type> open;
  open.reserve(n);
  for (std::size_t i = 0; i < n; ++i) open.push_back(m.snapshot());
}

// ns per overwrite beside one live snapshot.
double overwrite_ns(std::size_t burst) {
  map_type m;
  constexpr std::uint64_t keys = 1000, writes = 200'000;
  for (std::uint64_t k = 0; k < keys; ++k) m.insert(k, 0);
  if (burst > 0) burst_of_snapshots(m, burst);
  const auto live = m.snapshot();
  const auto start = clock_type::now();
  for (std::uint64_t i = 1; i <= writes; ++i) m.insert_or_assign(i % keys, i);
  return seconds_since(start) * 1e9 / writes;
}

// µs to close a snapshot that kept 1,024 versions, beside an older live
// one that reads them too (so each recheck scans the announcements and
// hands its record on).
double close_us(std::size_t burst) {
  map_type m;
  constexpr std::uint64_t kept = 1024;
  for (std::uint64_t k = 0; k < kept; ++k) m.insert(k, 0);
  if (burst > 0) burst_of_snapshots(m, burst);
  const auto older = m.snapshot();
  auto snap = m.snapshot();
  for (std::uint64_t k = 0; k < kept; ++k) m.insert_or_assign(k, 1);
  const auto start = clock_type::now();
  { const auto closing = std::move(snap); }  // closes here
  return seconds_since(start) * 1e6;
}

struct window_result {
  double oldest_close_ns = 0;   // per kept version, closing the oldest
  double newest_close_ns = 0;   // per kept version, closing the newest
  double oldest_item_ns = 0;    // iterating the oldest, per item
  double newest_item_ns = 0;    // iterating the newest, per item
  double walks_per_close = 0;   // kept versions whose recheck walked its chain, per oldest close
};

double iterate_ns(const map_type::snapshot_type& s) {
  const auto start = clock_type::now();
  std::uint64_t n = 0, sum = 0;
  for (const auto& [k, v] : s) {
    sum += v;
    ++n;
  }
  const double ns = seconds_since(start) * 1e9 / static_cast<double>(std::max<std::uint64_t>(n, 1));
  if (sum == 1) std::puts("");  // keeps the loop
  return ns;
}

window_result sliding_window(const options& o) {
  map_type m;
  for (std::uint64_t k = 0; k < o.keys; ++k) m.insert(k, 0);
  std::deque<map_type::snapshot_type> open;
  std::uint64_t round = 0;
  auto advance = [&] {
    open.push_back(m.snapshot());
    ++round;
    for (int w = 0; w < o.writes; ++w) {
      for (std::uint64_t k = 0; k < o.keys; ++k) m.insert_or_assign(k, round);
    }
  };
  while (open.size() < o.window) advance();
  window_result r;
  r.oldest_item_ns = iterate_ns(open.front());
  r.newest_item_ns = iterate_ns(open.back());
  double closing = 0;
  const std::uint64_t walks_before = m.kept_recheck_walks();
  for (std::size_t i = 0; i < o.closes; ++i) {
    advance();
    const auto start = clock_type::now();
    open.pop_front();  // kept o.keys versions
    closing += seconds_since(start);
  }
  r.oldest_close_ns = closing * 1e9 / static_cast<double>(o.closes * o.keys);
  r.walks_per_close = static_cast<double>(m.kept_recheck_walks() - walks_before) / static_cast<double>(o.closes);
  const auto start = clock_type::now();
  open.pop_back();
  r.newest_close_ns = seconds_since(start) * 1e9 / static_cast<double>(o.keys);
  return r;
}

std::size_t parse(const char* value) { return static_cast<std::size_t>(std::strtoull(value, nullptr, 10)); }

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--burst") == 0) o.burst = parse(argv[i + 1]);
    else if (std::strcmp(argv[i], "--window") == 0) o.window = parse(argv[i + 1]);
    else if (std::strcmp(argv[i], "--keys") == 0) o.keys = parse(argv[i + 1]);
    else if (std::strcmp(argv[i], "--closes") == 0) o.closes = parse(argv[i + 1]);
    else if (std::strcmp(argv[i], "--writes") == 0) o.writes = static_cast<int>(parse(argv[i + 1]));
    else if (std::strcmp(argv[i], "--repeats") == 0) o.repeats = static_cast<int>(parse(argv[i + 1]));
    else {
      std::fprintf(stderr,
                   "usage: snapshot_bench [--burst N] [--window N] [--keys N] [--closes N] [--writes N] [--repeats N]\n");
      return 2;
    }
  }
  if (o.repeats < 1 || o.window < 2 || o.keys < 1 || o.writes < 1) {
    std::fprintf(stderr, "snapshot_bench: --repeats >= 1, --window >= 2, --keys >= 1, --writes >= 1\n");
    return 2;
  }
  std::printf("snapshot_bench: medians of %d runs, 1 thread\n\n", o.repeats);
  std::printf("| measurement | after a burst of %zu | no burst | ratio |\n|---|---|---|---|\n", o.burst);
  const double ow_burst = median_of(o.repeats, [&] { return overwrite_ns(o.burst); });
  const double ow_plain = median_of(o.repeats, [&] { return overwrite_ns(0); });
  std::printf("| overwrite beside one live snapshot | %.0f ns | %.0f ns | %.2f |\n", ow_burst, ow_plain,
              ow_burst / ow_plain);
  const double cl_burst = median_of(o.repeats, [&] { return close_us(o.burst); });
  const double cl_plain = median_of(o.repeats, [&] { return close_us(0); });
  std::printf("| close with 1,024 kept versions | %.1f us | %.1f us | %.2f |\n\n", cl_burst, cl_plain,
              cl_burst / cl_plain);

  std::vector<window_result> runs;
  for (int i = 0; i < o.repeats; ++i) runs.push_back(sliding_window(o));
  auto median = [&](double window_result::*field) {
    std::vector<double> v;
    for (const auto& r : runs) v.push_back(r.*field);
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("sliding window: %zu held, %llu keys overwritten %d time(s) between snapshots, %zu closes\n\n",
              o.window, static_cast<unsigned long long>(o.keys), o.writes, o.closes);
  std::printf("| measurement | oldest | newest | ratio |\n|---|---|---|---|\n");
  const double oc = median(&window_result::oldest_close_ns), nc = median(&window_result::newest_close_ns);
  std::printf("| close, per kept version | %.0f ns | %.0f ns | %.1f |\n", oc, nc, oc / nc);
  const double oi = median(&window_result::oldest_item_ns), ni = median(&window_result::newest_item_ns);
  std::printf("| iterate, per item | %.0f ns | %.0f ns | %.1f |\n", oi, ni, oi / ni);
  std::printf("| rechecks that walked their chain, per close of the oldest | %.0f | | |\n",
              median(&window_result::walks_per_close));
  std::printf("\nclosing %zu snapshots oldest-first: %.2f s (per close %.2f ms)\n", o.closes,
              oc * static_cast<double>(o.keys * o.closes) / 1e9, oc * static_cast<double>(o.keys) / 1e6);
  return 0;
}
