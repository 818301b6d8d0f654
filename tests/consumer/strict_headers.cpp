// A consumer translation unit that includes every public header and
// instantiates most of the API, compiled by tests/consumer/meson.build with
// -Wall -Wextra -Wpedantic -Wconversion -Wshadow -Wundef -Werror under g++
// and clang: a service that builds with strict warnings can include
// snapcache without silencing anything.
#include <snapcache/ebr.hpp>
#include <snapcache/hash.hpp>
#include <snapcache/hash_map.hpp>
#include <snapcache/locked_map.hpp>
#include <snapcache/locked_query_cache.hpp>
#include <snapcache/map_stats.hpp>
#include <snapcache/query_cache.hpp>
#include <snapcache/sql.hpp>
#include <snapcache/version.hpp>

#include <cstdint>
#include <iterator>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>

namespace {

template <class Map>
std::size_t exercise(Map& map) {
  using K = typename Map::key_type;
  using V = typename Map::mapped_type;
  std::size_t n = 0;
  map.insert(K{}, V{});
  map.insert_or_assign(K{}, V{});
  map.try_emplace(K{});
  n += map.insert_or_visit(K{}, V{}, [&](const V&) { ++n; }) ? 1 : 0;
  n += map.find(K{}).has_value() ? 1 : 0;
  n += map.contains(K{}) ? 1 : 0;
  map.visit(K{}, [&](const typename Map::element& e) { n += sizeof(e.first); });
  map.visit_value(K{}, [&](const V&) { ++n; });
  map.update(K{}, [](const V& v) { return v; });
  map.compare_and_replace(K{}, V{}, V{});
  map.erase_if(K{}, [](const V&) { return false; });
  n += map.erase_if([](const K&, const V&) { return false; });
  n += map.visit_all([](const K&, const V&) {});
  map.reserve(16);
  n += map.insert(typename Map::value_type(K{}, V{})) ? 1 : 0;
  n += map.insert({{K{}, V{}}});
  n += map.count(K{});
  n += map.cvisit(K{}, [&](const auto& e) { n += sizeof(e.second); }) ? 1 : 0;
  n += map.cvisit_while([](const auto&) { return true; }) ? 1 : 0;
  {
    Map other;
    swap(map, other);
    map.swap(other);
  }
  const auto snap = map.snapshot();
  for (const auto& [k, v] : snap) {
    (void)k;
    (void)v;
    ++n;
  }
  n += snap.size() + (snap.contains(K{}) ? 1 : 0);
  const snapcache::map_stats s = map.stats();
  n += s.live_entries + s.heap_bytes;
  map.erase(K{});
  map.clear();
  return n;
}

}  // namespace

int main() {
  static_assert(SNAPCACHE_VERSION_MAJOR >= 0 && sizeof(SNAPCACHE_VERSION_STRING) > 1);
  std::size_t n = 0;
  {
    snapcache::hash_map<std::uint64_t, std::uint64_t> a;
    snapcache::hash_map<std::string, std::string> b;
    n += exercise(a) + exercise(b);
    n += b.contains(std::string_view("x")) ? 1 : 0;
    const std::uint64_t keys[] = {1, 2, 3};
    n += a.visit(std::begin(keys), std::end(keys), [&](const auto& e) { n += e.first + e.second; });
    const std::string_view names[] = {"x", "y"};
    n += b.visit(std::begin(names), std::end(names), [&](const auto& e) { n += e.first.size() + e.second.size(); });
    snapcache::hash_map<std::uint32_t, std::unique_ptr<int>> moves;
    moves.insert(1u, std::make_unique<int>(1));
    moves.visit_value(1u, [&](const std::unique_ptr<int>& p) { n += static_cast<std::size_t>(*p); });
    snapcache::hash_map<std::uint64_t, std::uint64_t> moved(std::move(a));
    n += moved.size();
  }
  {
    snapcache::locked_map<std::uint64_t, std::uint64_t, std::mutex> a;
    snapcache::locked_map<std::string, std::string, std::shared_mutex> b;
    n += exercise(a) + exercise(b);
  }
  {
    snapcache::ebr::domain domain;
    auto g = domain.pin();
    g.reserve();
    n += g.pinned() ? 1 : 0;
  }
  {
    snapcache::query_cache cache(4);
    snapcache::locked_query_cache locked(4);
    n += cache.size() + locked.size();
    n += snapcache::normalize("select 1").size();
    n += static_cast<std::size_t>(cache.stats().internals.live_snapshots);
  }
  return n > 0 ? 0 : 1;
}
