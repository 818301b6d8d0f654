// The registry: measure.hpp's templates instantiated once per adapter.
#include "harness/variants.hpp"

#include <array>

namespace snapcache::bench {
namespace {

template <class A>
constexpr std::string_view view_method_of() {
  if constexpr (requires { A::view_method; }) {
    return A::view_method;
  } else {
    return {};
  }
}

template <class A>
constexpr variant entry() {
  variant v;
  v.name = A::name;
  v.available = true;
  v.scan_method = A::scan_method;
  v.view_method = view_method_of<A>();
  v.run = &run_cell<A>;
  v.view_cost = has_view<A> ? &view_cost<A> : nullptr;
  if constexpr (!A::scan_method.empty()) v.scan_rate = &scan_rate<A>;
  v.memory = &memory_cost<A>;
  v.check = &check_adapter<A>;
  return v;
}

constexpr variant missing(std::string_view name, std::string_view reason) {
  variant v;
  v.name = name;
  v.unavailable_reason = reason;
  return v;
}

const std::array<variant, 9> registry = {
    entry<snapcache_adapter>(),
    entry<locked_adapter<std::mutex>>(),
    entry<locked_adapter<std::shared_mutex>>(),
#if SNAPCACHE_BENCH_CUCKOO
    entry<cuckoo_adapter>(),
#else
    missing("libcuckoo", "built without SNAPCACHE_BENCH_CUCKOO"),
#endif
#if SNAPCACHE_BENCH_PARLAY
    entry<parlay_adapter>(),
#else
    missing("parlayhash", "built without SNAPCACHE_BENCH_PARLAY"),
#endif
#if SNAPCACHE_BENCH_TBB
    entry<tbb_adapter>(),
#else
    missing("tbb_chm", "built without SNAPCACHE_BENCH_TBB"),
#endif
#if SNAPCACHE_BENCH_CDS
    entry<cds_michael_adapter>(),
    entry<cds_feldman_adapter>(),
#else
    missing("libcds_michael_hp", "built without SNAPCACHE_BENCH_CDS"),
    missing("libcds_feldman_hp", "built without SNAPCACHE_BENCH_CDS"),
#endif
#if SNAPCACHE_BENCH_XENIUM
    entry<xenium_adapter>(),
#else
    missing("xenium_hm", "built without SNAPCACHE_BENCH_XENIUM"),
#endif
};

}  // namespace

std::span<const variant> all_variants() { return registry; }

const variant* find_variant(std::string_view name) {
  for (const variant& v : registry) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

memory_sample unordered_map_memory(std::size_t entries, const dataset& data) {
  return memory_cost<unordered_map_adapter>(entries, data);
}

scan_rate_sample unordered_map_scan_rate(std::size_t entries, const dataset& data, double budget_seconds) {
  return scan_rate<unordered_map_adapter>(entries, data, budget_seconds);
}

}  // namespace snapcache::bench
