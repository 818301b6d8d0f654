// cache_read_consistency: a query-cache lookup must combine the candidate
// order and the text's bucket of one state, never of two.
//
// Writers insert, alternately, an entry of text A that is the oldest
// candidate (never first in candidate order) and an entry of text B that is
// the newest. So in every state of the cache, B's newest entry is the first
// candidate, and a lookup of B with one inspection must hit, always. A
// reader that took the candidate order of one state and B's bucket of a
// later one (a B entry inserted in between) compares B's new entry with the
// old first candidate and misses. Readers run such lookups throughout and
// count misses; the check is exact (no timing in it).
//
// Every insert publishes a new state and retires the one it replaced, so
// the suite also runs readers against a steady stream of reclamation: a
// reader that does not pin before reading the root (planted bug
// cache_read_without_pin) reads a freed state, which the sanitizers report.
// --variant lock_free (default) or locked.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "driver.hpp"
#include "snapcache/locked_query_cache.hpp"
#include "snapcache/query_cache.hpp"

namespace {

using snapcache::cache_clock;

constexpr const char* text_a = "select a from old_table";
constexpr const char* text_b = "select b from new_table";

snapcache::query_entry make(std::uint64_t writer, std::uint64_t n, cache_clock::time_point base) {
  const bool newest = n % 2 == 1;
  snapcache::query_entry e;
  e.id = "w" + std::to_string(writer) + "-" + std::to_string(n % 16);
  e.query = newest ? text_b : text_a;
  e.state = snapcache::query_state::succeeded;
  e.statement_type = snapcache::statement_kind::dml;
  // B: later with every insert (writers interleave their counts); A: before
  // every B.
  e.submitted_at = newest ? base + std::chrono::microseconds(static_cast<std::int64_t>(n * 64 + writer)) : base;
  e.completed_at = e.submitted_at;
  e.output_location = "s3://r/" + e.id + "/" + std::to_string(n);
  return e;
}

template <class Cache>
int run(const snapcache::stress::options& opts) {
  snapcache::stress::verdict verdict("cache_read_consistency");
  snapcache::stress::violation_counter missed("a one-inspection lookup of the newest text missed");
  const cache_clock::time_point base = cache_clock::now() - std::chrono::hours(1);
  const cache_clock::time_point now = cache_clock::now() + std::chrono::hours(1000);
  Cache cache(64);
  cache.insert(make(0, 1, base));  // B present from the start
  const unsigned writers = opts.threads > 1 ? opts.threads / 2 : 1;
  const unsigned workers = opts.threads > 1 ? opts.threads : 2;
  std::atomic<std::uint64_t> lookups{0}, inserts{0};
  const snapcache::stress::time_box box(opts.seconds);
  box.run(
      workers,
      [&](unsigned t) {
        std::uint64_t mine = 0;
        if (t < writers) {
          for (std::uint64_t n = 2; box.running(); ++n, ++mine) cache.insert(make(t, n, base));
          inserts.fetch_add(mine, std::memory_order_relaxed);  // statistic only
          return;
        }
        for (; box.running(); ++mine) {
          const auto hit = cache.lookup(text_b, std::chrono::hours(100'000), 1, now);
          if (!hit) missed.report("lookup('" + std::string(text_b) + "', 1 inspection) -> miss", box);
        }
        lookups.fetch_add(mine, std::memory_order_relaxed);  // statistic only
      },
      [&] { return "lookups: " + std::to_string(lookups.load(std::memory_order_relaxed)); });  // progress only
  verdict.check("every one-inspection lookup of the newest text hits", missed.count() == 0, missed.summary());
  verdict.check("lookups ran while writers inserted", lookups.load() > 0 && inserts.load() > 0);
  std::printf("cache_read_consistency: %llu lookups, %llu inserts\n", static_cast<unsigned long long>(lookups.load()),
              static_cast<unsigned long long>(inserts.load()));
  return verdict.finish(opts);
}

}  // namespace

int main(int argc, char** argv) {
  const auto opts = snapcache::stress::parse_options(
      argc, argv, "cache_read_consistency",
      "One-inspection lookups of the text that is always newest, while writers insert: every one must hit.",
      {"lock_free", "locked"});
  return opts.variant == "locked" ? run<snapcache::locked_query_cache>(opts) : run<snapcache::query_cache>(opts);
}
