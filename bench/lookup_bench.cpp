// lookup_bench: the batched visit against single-key lookups (issue 21,
// item 4; docs/benchmarks.md, "Batched lookups"). One thread; a map of
// --keys (1,000,000) uint64 keys, looked up in a random order --lookups
// (4,000,000) times, every key present, first one visit(key, f) per key,
// then visit(first, last, f) over the same sequence. --repeats (5) runs,
// interleaved; medians and the ratio of the medians are printed.
//
// Usage: lookup_bench [--keys N] [--lookups N] [--repeats N]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "snapcache/hash_map.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using map_type = snapcache::hash_map<std::uint64_t, std::uint64_t>;

struct options {
  std::size_t keys = 1'000'000;
  std::size_t lookups = 4'000'000;
  std::size_t repeats = 5;
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::size_t value = std::strtoull(argv[i + 1], nullptr, 10);
    if (std::strcmp(argv[i], "--keys") == 0) {
      o.keys = value;
    } else if (std::strcmp(argv[i], "--lookups") == 0) {
      o.lookups = value;
    } else if (std::strcmp(argv[i], "--repeats") == 0) {
      o.repeats = value;
    } else {
      std::fprintf(stderr, "usage: lookup_bench [--keys N] [--lookups N] [--repeats N]\n");
      std::exit(2);
    }
  }
  if (o.keys == 0 || o.lookups == 0 || o.repeats == 0) {
    std::fprintf(stderr, "lookup_bench: --keys, --lookups and --repeats must be positive\n");
    std::exit(2);
  }
  return o;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Nanoseconds per lookup; `sum` keeps the reads.
template <class Lookups>
double timed(Lookups&& run, std::uint64_t& sum, std::size_t lookups) {
  const auto start = clock_type::now();
  sum += run();
  return std::chrono::duration<double, std::nano>(clock_type::now() - start).count() / static_cast<double>(lookups);
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  map_type m(o.keys);
  std::mt19937_64 random(42);
  std::vector<std::uint64_t> stored(o.keys);
  for (auto& k : stored) {
    k = random();
    m.insert(k, k ^ 1);
  }
  std::vector<std::uint64_t> order(o.lookups);
  for (auto& k : order) k = stored[random() % o.keys];

  std::uint64_t sum = 0;
  std::vector<double> single, batched;
  for (std::size_t r = 0; r < o.repeats; ++r) {
    single.push_back(timed(
        [&] {
          std::uint64_t s = 0;
          for (const std::uint64_t k : order) m.visit(k, [&](const auto& e) { s += e.second; });
          return s;
        },
        sum, o.lookups));
    batched.push_back(timed(
        [&] {
          std::uint64_t s = 0;
          m.visit(order.begin(), order.end(), [&](const auto& e) { s += e.second; });
          return s;
        },
        sum, o.lookups));
  }
  std::printf("lookup_bench: %zu keys, %zu lookups (all hits, random order), one thread; medians of %zu\n", o.keys,
              o.lookups, o.repeats);
  std::printf("  visit(key, f) per key          %7.1f ns/lookup\n", median(single));
  std::printf("  visit(first, last, f) batched  %7.1f ns/lookup\n", median(batched));
  std::printf("  batched speed-up               %7.2fx (target >= 1.5x at 1,000,000 keys)\n",
              median(single) / median(batched));
  if (sum == 1) std::puts("");  // keeps the reads
}
