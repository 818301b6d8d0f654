// The inline-slot layout's ceiling (issue 21, item 5; docs/design.md, "The
// layout decision"): workloads A, B and A-zipf at 1 and 2 threads over
// snapcache, snapcache with the inline layout's 16-byte slots and every key
// still in a chain (stage 2: what the wider slot costs before it pays),
// parlayhash and the two prototypes of bench/prototype/ (the
// layout with the protocol's quiet path, no snapshots, no growth: keys
// below 2^62 with two 8-byte loads per read, and the full-range slot format
// with one 16-byte load), cells
// interleaved, medians of the repeats, ratios within the run.
//
// Not built by default: ninja -C build/release bench/inline_prototype_bench
// Usage: inline_prototype_bench [--seconds S] [--repeats N]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "harness/runner.hpp"
#include "harness/variants.hpp"
#include "prototype/full_range_slot_table.hpp"
#include "prototype/inline_slot_table.hpp"

namespace snapcache::bench {
namespace {

template <class Table, const char* Name>
class prototype_adapter {
 public:
  static constexpr std::string_view name = Name;
  static constexpr std::string_view scan_method = "";
  explicit prototype_adapter(std::size_t capacity) : table_(capacity) {}
  static void thread_attach() {}
  static void thread_detach() {}
  bool insert(u64 k, u64 v) { return table_.write(k, v, false); }
  bool insert_or_assign(u64 k, u64 v) { return table_.write(k, v, true); }
  bool erase(u64 k) { return table_.erase(k); }
  bool find(u64 k, u64& v) { return table_.find(k, v); }
  template <class F>
  bool scan(F&&) {
    return false;
  }

 private:
  Table table_;
};

constexpr char inline_name[] = "inline_prototype";
constexpr char full_range_name[] = "full_range_prototype";
using inline_adapter = prototype_adapter<prototype::inline_slot_table, inline_name>;
using full_range_adapter = prototype_adapter<prototype::full_range_slot_table, full_range_name>;

using pair_slots_adapter = basic_snapcache_adapter<
    snapcache::hash_map<u64, u64, snapcache::detail::pair_slots_hash<snapcache::seeded_hash<u64>>>>;

using runner_fn = cell_sample (*)(const cell_spec&);
struct contender {
  const char* name;
  runner_fn run;
  std::string (*check)(std::uint64_t);
};

}  // namespace
}  // namespace snapcache::bench

int main(int argc, char** argv) {
  using namespace snapcache::bench;
  double seconds = 1.0;
  unsigned repeats = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
    else if (std::strcmp(argv[i], "--repeats") == 0) repeats = static_cast<unsigned>(std::atoi(argv[i + 1]));
    else {
      std::fprintf(stderr, "usage: inline_prototype_bench [--seconds S] [--repeats N]\n");
      return 2;
    }
  }
  const contender contenders[] = {
      {"snapcache", &run_cell<snapcache_adapter>, &check_adapter<snapcache_adapter>},
      {"snapcache_pair_slots", &run_cell<pair_slots_adapter>, &check_adapter<pair_slots_adapter>},
#if SNAPCACHE_BENCH_PARLAY
      {"parlayhash", &run_cell<parlay_adapter>, &check_adapter<parlay_adapter>},
#endif
      {"inline_prototype", &run_cell<inline_adapter>, &check_adapter<inline_adapter>},
      {"full_range_prototype", &run_cell<full_range_adapter>, &check_adapter<full_range_adapter>},
  };
  for (const contender& c : contenders) {
    const std::string failure = c.check(42);
    if (!failure.empty()) {
      std::fprintf(stderr, "%s fails the adapter check: %s\n", c.name, failure.c_str());
      return 1;
    }
  }
  const dataset data(1'000'000, 500'000, 42);
  const workload_kind workloads[] = {workload_kind::a, workload_kind::b, workload_kind::a_zipf};
  const char* names[] = {"A", "B", "A-zipf"};
  std::printf("workload,threads,variant,median_mops,samples,ratio_to_parlayhash,ratio_to_snapcache\n");
  for (int w = 0; w < 3; ++w) {
    for (unsigned threads : {1u, 2u}) {
      std::vector<std::vector<double>> mops(std::size(contenders));
      for (unsigned r = 0; r < repeats; ++r) {
        for (std::size_t c = 0; c < std::size(contenders); ++c) {
          cell_spec spec;
          spec.workload = workloads[w];
          spec.threads = threads;
          spec.seconds = seconds;
          spec.repeat = r;
          spec.capacity = data.key_range();
          spec.data = &data;
          const cell_sample s = contenders[c].run(spec);
          if (!s.ok) {
            std::fprintf(stderr, "%s failed: %s\n", contenders[c].name, s.error.c_str());
            return 1;
          }
          mops[c].push_back(s.mops);
        }
      }
      const double snap = summarise(mops[0]).median;
      double parlay = 0;
      for (std::size_t c = 0; c < std::size(contenders); ++c) {
        if (std::strcmp(contenders[c].name, "parlayhash") == 0) parlay = summarise(mops[c]).median;
      }
      for (std::size_t c = 0; c < std::size(contenders); ++c) {
        std::string samples;
        for (double m : mops[c]) samples += (samples.empty() ? "" : ";") + std::to_string(m);
        const double mine = summarise(mops[c]).median;
        std::printf("%s,%u,%s,%.3f,%s,%.3f,%.3f\n", names[w], threads, contenders[c].name, mine, samples.c_str(),
                    parlay > 0 ? mine / parlay : 0.0, mine / snap);
      }
      std::fflush(stdout);
    }
  }
  return 0;
}
