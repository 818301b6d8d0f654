#include "cache/query_pool.hpp"

#include <stdexcept>

#include "harness/workload.hpp"  // zipf_generator, rng, stream_seed

namespace snapcache::bench {

namespace {

constexpr const char* tables[] = {"sales.orders", "sales.refunds", "web.sessions", "web.page_views",
                                  "ops.deployments", "ops.alerts", "finance.ledger", "hr.headcount"};
constexpr const char* columns[] = {"region, sum(amount)", "count(*)", "user_id, max(ts)",
                                   "day, avg(latency_ms)", "status, count(distinct id)"};

}  // namespace

std::string query_pool::make_text(std::size_t i) {
  // The number varies the filter, so every text has its own normal form; the
  // table and columns vary with it so texts do not share long prefixes.
  std::string sql = "SELECT ";
  sql += columns[i % std::size(columns)];
  sql += " FROM ";
  sql += tables[(i / std::size(columns)) % std::size(tables)];
  sql += " WHERE day >= DATE '2024-01-01' AND shard = ";
  sql += std::to_string(i);
  sql += " GROUP BY 1 ORDER BY 1";
  return sql;
}

query_pool::query_pool(std::size_t size, unsigned threads, std::uint64_t seed) {
  if (size == 0 || size > 0xffffffffULL) throw std::invalid_argument("query pool size out of range");
  texts_.reserve(size);
  for (std::size_t i = 0; i < size; ++i) texts_.push_back(make_text(i));
  const zipf_generator zipf(size, zipf_theta);
  rings_.resize(threads);
  for (unsigned t = 0; t < threads; ++t) {
    rng r(stream_seed(seed ^ 0x706f6f6cULL, 0, t));
    auto& ring = rings_[t];
    ring.resize(ring_size);
    for (auto& index : ring) {
      const double u = static_cast<double>(r.next() >> 11) * 0x1.0p-53;
      index = static_cast<std::uint32_t>(zipf.rank(u));  // rank 0 = text 0, the most popular
    }
  }
}

}  // namespace snapcache::bench
