// A query cache inside a service: worker threads answer requests for SQL
// queries, serving a recent result from the cache when there is one and
// otherwise "running" the query and caching its result. No worker ever
// waits for another: lookups and inserts are lock-free.
#include <snapcache/query_cache.hpp>

#include <atomic>
#include <cstdio>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// What clients send: the same few queries, written differently. The cache
// matches them by their normal form (comments, case, spacing, `;` ignored).
const char* const requests[] = {
    "SELECT * FROM sales", "select *\n  from SALES;", "select count(*) from users",
    "/* daily */ SELECT COUNT(*) FROM users", "select 'A B' from t", "(select 'A B' from t)",
};

// Stands in for the database: returns where the query's result was written.
std::string run_query(const std::string& id) { return "s3://results/" + id; }

}  // namespace

int main() {
  snapcache::query_cache cache(64);  // the 64 most recently submitted queries
  constexpr int workers = 4;
  constexpr int per_worker = 500;
  std::atomic<int> runs{0};
  std::atomic<int> wrong{0};

  auto serve = [&](int worker) {
    for (int i = 0; i < per_worker; ++i) {
      const std::string sql = requests[(worker + i) % std::size(requests)];
      const auto now = snapcache::cache_clock::now();
      if (auto hit = cache.lookup(sql, 1h, snapcache::unlimited, now)) {
        // A hit is a result of the same query (by normal form), complete.
        const bool same = snapcache::normalize(hit->entry.query) == snapcache::normalize(sql);
        if (!same || hit->output_location != run_query(hit->id)) ++wrong;
        continue;
      }
      // A miss: run the query and cache it. Two workers may miss the same
      // query at once and both run it; the cache keeps both, and lookups
      // serve the one that completed last.
      const std::string id = "w" + std::to_string(worker) + "-" + std::to_string(i);
      ++runs;
      cache.insert({.id = id,
                    .query = sql,
                    .state = snapcache::query_state::succeeded,
                    .statement_type = snapcache::statement_kind::dml,
                    .submitted_at = now,
                    .completed_at = snapcache::cache_clock::now(),
                    .output_location = run_query(id),
                    .payload = {}});
    }
  };
  {
    std::vector<std::jthread> pool;
    for (int w = 0; w < workers; ++w) pool.emplace_back(serve, w);
  }  // joins

  // At quiescence the statistics are exact.
  const snapcache::cache_stats s = cache.stats();
  std::printf("%llu lookups, %llu hits, %d queries run, hit rate %.2f\n",
              static_cast<unsigned long long>(s.lookups), static_cast<unsigned long long>(s.hits),
              runs.load(), s.hit_rate());
  const bool ok = wrong == 0 && s.lookups == workers * per_worker && s.hits + s.misses == s.lookups &&
                  s.misses == static_cast<unsigned>(runs) && s.inserts + s.drops == s.misses && s.hits > 0;
  return ok ? 0 : 1;
}
