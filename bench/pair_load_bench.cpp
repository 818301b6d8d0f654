// What a read of the inline layout's 16-byte slot costs
// (detail/atomic_pair.hpp): the vector load used on Intel and AMD CPUs with
// AVX, the locked cmpxchg16b load used elsewhere, and an 8-byte load of
// today's slot word for reference, by 1 and 2 threads reading one shared
// slot. The locked load writes the line it reads, so two readers contend
// for it where plain loads share it (docs/design.md, "The layout decision").
//
// Usage: pair_load_bench [--benchmark_repetitions=5 --benchmark_report_aggregates_only=true]
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>

#include "snapcache/detail/atomic_pair.hpp"

namespace {

using snapcache::detail::atomic_pair;
using snapcache::detail::word_pair;

alignas(64) std::atomic<std::uint64_t> shared_word{42};
alignas(64) atomic_pair shared_pair(word_pair{42, 43});

void word_load(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(shared_word.load(std::memory_order_seq_cst));
}

void pair_load(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(shared_pair.load(std::memory_order_seq_cst));
  state.SetLabel(snapcache::detail::vector_load_is_atomic() ? "vector load" : "locked load (no atomic vector load)");
}

void pair_load_locked(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(shared_pair.load_locked(std::memory_order_seq_cst));
}

BENCHMARK(word_load)->Threads(1)->Threads(2);
BENCHMARK(pair_load)->Threads(1)->Threads(2);
BENCHMARK(pair_load_locked)->Threads(1)->Threads(2);

}  // namespace

BENCHMARK_MAIN();
