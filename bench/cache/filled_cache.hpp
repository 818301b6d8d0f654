// A query cache of capacity n holding n SUCCEEDED entries over distinct
// texts: the fill the lookup-cost measurement and the candidates-walk
// benchmark share.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "cache/completed_query.hpp"
#include "cache/query_pool.hpp"

namespace snapcache::bench {

// A cache of capacity n holding n entries; entry i completes i microseconds
// after `base` (ten minutes ago), so the lowest i are the oldest candidates
// and come last in candidate order.
template <class Cache>
std::shared_ptr<Cache> filled_cache(std::size_t n) {
  auto cache = std::make_shared<Cache>(n);
  const cache_clock::time_point base = cache_clock::now() - std::chrono::minutes(10);
  for (std::size_t i = 0; i < n; ++i) {
    const auto at = base + std::chrono::microseconds(static_cast<std::int64_t>(i));
    cache->insert(completed_query("e" + std::to_string(i), query_pool::make_text(i), at));
  }
  if (cache->size() != n) throw std::runtime_error("fill did not hold every entry");
  return cache;
}

}  // namespace snapcache::bench
