// ebr_bench: the cost of pin+unpin and of retire in snapcache::ebr, next to
// liburcu's read-side critical section and call_rcu, at 1 and 2 threads.
#include <benchmark/benchmark.h>

#include "snapcache/ebr.hpp"

#if SNAPCACHE_BENCH_URCU
#define _LGPL_SOURCE 1  // inline read-side fast paths, as liburcu users build them
#include <urcu/urcu-memb.h>
#endif

namespace {

struct node : snapcache::ebr::retirable {
  std::uint64_t payload[2] = {};
  static void reclaim(snapcache::ebr::retirable* self) noexcept { delete static_cast<node*>(self); }
};

void snapcache_pin_unpin(benchmark::State& state) {
  { auto warm = snapcache::ebr::pin(); }  // registration is not what we measure
  for (auto _ : state) {
    auto g = snapcache::ebr::pin();
    benchmark::DoNotOptimize(g);
  }
}
BENCHMARK(snapcache_pin_unpin)->Threads(1)->Threads(2)->UseRealTime();

void snapcache_nested_pin(benchmark::State& state) {
  auto outer = snapcache::ebr::pin();
  for (auto _ : state) {
    auto g = snapcache::ebr::pin();
    benchmark::DoNotOptimize(g);
  }
}
BENCHMARK(snapcache_nested_pin)->Threads(1)->UseRealTime();

void snapcache_user_domain_pin_unpin(benchmark::State& state) {
  static snapcache::ebr::domain domain;
  { auto warm = domain.pin(); }
  for (auto _ : state) {
    auto g = domain.pin();
    benchmark::DoNotOptimize(g);
  }
}
BENCHMARK(snapcache_user_domain_pin_unpin)->Threads(1)->Threads(2)->UseRealTime();

// pin, retire one freshly allocated object, unpin: includes the allocation
// and the amortised cost of freeing it.
void snapcache_retire(benchmark::State& state) {
  for (auto _ : state) {
    auto g = snapcache::ebr::pin();
    g.retire(new node, &node::reclaim);
  }
}
BENCHMARK(snapcache_retire)->Threads(1)->Threads(2)->UseRealTime();

#if SNAPCACHE_BENCH_URCU
struct urcu_node {
  rcu_head head;
  std::uint64_t payload[2] = {};
};

void urcu_free(rcu_head* head) { delete caa_container_of(head, urcu_node, head); }

void urcu_read_lock_unlock(benchmark::State& state) {
  urcu_memb_register_thread();
  for (auto _ : state) {
    urcu_memb_read_lock();
    benchmark::ClobberMemory();
    urcu_memb_read_unlock();
  }
  urcu_memb_unregister_thread();
}
BENCHMARK(urcu_read_lock_unlock)->Threads(1)->Threads(2)->UseRealTime();

void urcu_call_rcu(benchmark::State& state) {
  urcu_memb_register_thread();
  for (auto _ : state) {
    urcu_memb_read_lock();
    auto* n = new urcu_node;
    urcu_memb_read_unlock();
    urcu_memb_call_rcu(&n->head, urcu_free);
  }
  urcu_memb_barrier();
  urcu_memb_unregister_thread();
}
BENCHMARK(urcu_call_rcu)->Threads(1)->Threads(2)->UseRealTime();
#endif

}  // namespace

BENCHMARK_MAIN();
