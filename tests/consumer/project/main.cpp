// A program outside snapcache that uses it as a user would: installed
// headers and the compiled library only (normalize and query_cache live in
// it). Returns non-zero if a result is wrong, so each way of building it
// (tools/consumer-check.sh) is also checked to run.
#include <snapcache/hash_map.hpp>
#include <snapcache/query_cache.hpp>
#include <snapcache/sql.hpp>

#include <chrono>
#include <cstdio>

int main() {
  snapcache::hash_map<int, int> squares;
  for (int i = 0; i < 100; ++i) squares.insert(i, i * i);
  const auto snap = squares.snapshot();
  squares.erase(0);  // after the snapshot: it must not see these
  squares.insert(100, 1);
  int seen = 0;
  for (const auto& [key, value] : snap) {
    if (value != key * key) return 1;
    ++seen;
  }
  if (seen != 100 || squares.size() != 100 || snap.contains(100)) return 2;

  if (snapcache::normalize("(SELECT *\n FROM T);") != "select * from t") return 3;

  const auto now = snapcache::cache_clock::now();
  snapcache::query_cache cache(8);
  cache.insert({.id = "q1",
                .query = "SELECT 1",
                .state = snapcache::query_state::succeeded,
                .statement_type = snapcache::statement_kind::dml,
                .submitted_at = now,
                .completed_at = now,
                .output_location = "s3://results/q1",
                .payload = {}});
  const auto hit = cache.lookup("select 1;", std::chrono::hours(1), snapcache::unlimited, now);
  if (!hit || hit->id != "q1" || cache.stats().hits != 1) return 4;

  std::puts("consumer: ok");
  return 0;
}
