// The query cache's statistics and what each counter counts, on a small
// cache with a fixed clock. A service may read stats() at any time without
// stopping anyone, and watch hit_rate() to see whether the cache pays.
#include <snapcache/query_cache.hpp>

#include <cstdio>
#include <string>

using namespace std::chrono_literals;
using snapcache::cache_clock;

namespace {

cache_clock::time_point at(int seconds) { return cache_clock::time_point{} + std::chrono::seconds(seconds); }

// A query submitted at `submitted` that succeeded one second later.
snapcache::query_entry done(const std::string& id, int submitted, const std::string& sql) {
  return {.id = id,
          .query = sql,
          .state = snapcache::query_state::succeeded,
          .statement_type = snapcache::statement_kind::dml,
          .submitted_at = at(submitted),
          .completed_at = at(submitted + 1),
          .output_location = "s3://results/" + id,
          .payload = {}};
}

}  // namespace

int main() {
  snapcache::query_cache cache(3);  // holds the 3 most recently submitted
  cache.insert(done("a", 1, "select 1"));    // inserts 1
  cache.insert(done("b", 2, "select 2"));    // inserts 2
  cache.insert(done("c", 3, "select 3"));    // inserts 3: full
  cache.insert(done("d", 4, "select 4"));    // inserts 4, evictions 1 (a, the oldest)
  cache.insert(done("old", 0, "select 0"));  // drops 1: older than all it holds
  cache.insert(done("b", 5, "SELECT 2"));    // replacements 1: same id, same slot
  // Candidates now, newest completion first: b, d, c.

  const auto now = at(10);
  bool ok = cache.lookup("Select 3;", 1h, snapcache::unlimited, now).has_value();  // hits 1
  // Unlimited lookups use the text index: the hit above examined only c.
  ok = ok && cache.stats().inspections == 1;
  ok = ok && !cache.lookup("select 1", 1h, snapcache::unlimited, now);  // misses 1: a was evicted,
  ok = ok && cache.stats().inspections == 1;                            // nothing to examine
  ok = ok && !cache.lookup("select 3", 1h, 2, now);  // misses 2: gives up after b and d
  ok = ok && cache.stats().inspections == 3;
  ok = ok && !cache.lookup("select 2", 2s, snapcache::unlimited, now);  // misses 3: b is 4 s old

  cache.erase("c");       // erase is not an eviction
  cache.set_capacity(1);  // evictions 2 (d): lowering the capacity evicts at once

  const snapcache::cache_stats s = cache.stats();
  std::printf("lookups %llu, hits %llu, misses %llu, hit rate %.2f, inspections %llu\n"
              "inserts %llu, replacements %llu, evictions %llu, drops %llu\n",
              static_cast<unsigned long long>(s.lookups), static_cast<unsigned long long>(s.hits),
              static_cast<unsigned long long>(s.misses), s.hit_rate(),
              static_cast<unsigned long long>(s.inspections), static_cast<unsigned long long>(s.inserts),
              static_cast<unsigned long long>(s.replacements), static_cast<unsigned long long>(s.evictions),
              static_cast<unsigned long long>(s.drops));
  ok = ok && s.lookups == 4 && s.hits == 1 && s.misses == 3 && s.hit_rate() == 0.25 && s.inserts == 4 &&
       s.replacements == 1 && s.evictions == 2 && s.drops == 1 && cache.size() == 1;
  return ok ? 0 : 1;
}
