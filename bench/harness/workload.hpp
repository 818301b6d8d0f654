// Workloads for the map comparison harness: what the threads of one cell do.
//
// The problem. A comparison between concurrent maps is only as honest as its
// workload: every map must see the same keys, the same operation mix and the
// same amount of work per operation outside the map (random numbers, clock
// reads), and that outside work must be small next to a map operation.
//
// The mechanism. Keys are uint64 in [0, key_range); a fresh map is prefilled
// with a fixed random half of that range, in random order. Each thread draws
// its operations from its own splitmix64 stream: one 64-bit draw per
// operation gives both the key (upper 32 bits, scaled to the range) and the
// operation (lower 32 bits against cumulative thresholds). Zipf-skewed keys
// are precomputed per thread (a ring of ranks mapped through a fixed
// permutation, so the hot keys are scattered over the range) and read
// sequentially; no pow() runs while a cell is measured. Writer latency in
// workload C is sampled with std::chrono::steady_clock on every 8th
// operation into a log-linear histogram (about 3% resolution).
//
// Workloads (percentages of operations):
//   A       90 find / 9 insert_or_assign / 1 erase, uniform keys
//   B       50 find / 25 insert / 25 erase, uniform keys
//   A-zipf  A's mix, Zipf keys (theta 0.99)
//   C       one scanner thread takes a snapshot (or the map's own way to
//           iterate) and walks all of it, again and again, while N writer
//           threads run 50 insert / 50 erase on uniform keys
//   C-noscan  C's writers alone: the baseline for C's keep-ratio
// For C and C-noscan the cell's thread count is the number of writers; C
// adds the scanner on top.
//
// When not to use it. These are synthetic mixes over small fixed-size keys;
// they say nothing about large values, string keys or allocation-heavy use.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace snapcache::bench {

enum class workload_kind { a, b, a_zipf, c, c_noscan };

// "A", "B", "A-zipf", "C", "C-noscan".
std::string_view workload_name(workload_kind w) noexcept;
// Accepts the names above, case-insensitively, and "a_zipf"/"azipf"/"zipf".
std::optional<workload_kind> parse_workload(std::string_view name) noexcept;
// C: one scanner plus writers; C-noscan: writers only.
inline bool is_scan_workload(workload_kind w) noexcept {
  return w == workload_kind::c || w == workload_kind::c_noscan;
}

// Operation mix in percent; sums to 100.
struct op_mix {
  unsigned find = 0;
  unsigned insert = 0;
  unsigned insert_or_assign = 0;
  unsigned erase = 0;
};
op_mix mix_of(workload_kind w) noexcept;

// Cumulative thresholds over a uniform 32-bit draw.
struct op_thresholds {
  std::uint32_t find;              // draw < find: find
  std::uint32_t insert;            // draw < insert: insert
  std::uint32_t insert_or_assign;  // draw < insert_or_assign: insert_or_assign; else erase
  static op_thresholds of(const op_mix& m) noexcept;
};

// splitmix64: tiny state, good enough to pick keys and operations.
class rng {
 public:
  explicit rng(std::uint64_t seed) noexcept : state_(seed) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

// Maps the upper 32 bits of a draw onto [0, range) (range < 2^32).
inline std::uint64_t scale_key(std::uint64_t draw, std::uint64_t range) noexcept {
  return ((draw >> 32) * range) >> 32;
}

// The value stored with a key at prefill (any function of the key will do).
inline std::uint64_t value_of(std::uint64_t key) noexcept { return key ^ 0x5bd1e9955bd1e995ULL; }

// Mixes seed, repeat and thread index into a stream seed.
std::uint64_t stream_seed(std::uint64_t seed, unsigned repeat, unsigned thread) noexcept;

// Zipf(theta) ranks over [0, n): Gray et al.'s generator (as in YCSB);
// zeta(n) is computed once in the constructor (O(n)).
class zipf_generator {
 public:
  zipf_generator(std::uint64_t n, double theta);
  // u uniform in [0, 1).
  std::uint64_t rank(double u) const noexcept;

 private:
  std::uint64_t n_;
  double theta_, alpha_, zetan_, eta_, half_pow_theta_;
};

// The keys and key streams every cell of a grid shares. Thread-safe:
// zipf_keys() builds each thread's ring on first use under a mutex.
class dataset {
 public:
  static constexpr double zipf_theta = 0.99;
  static constexpr std::size_t zipf_ring = std::size_t{1} << 19;  // keys per thread ring

  dataset(std::uint64_t key_range, std::size_t prefill, std::uint64_t seed);

  std::uint64_t key_range() const noexcept { return key_range_; }
  std::uint64_t seed() const noexcept { return seed_; }
  // Every key of [0, key_range) once, in a fixed random order; the first
  // prefill_count() are the keys a cell's map starts with.
  const std::vector<std::uint64_t>& permutation() const noexcept { return permutation_; }
  std::size_t prefill_count() const noexcept { return prefill_; }
  // Zipf keys for thread `thread` (zipf_ring of them, read as a ring).
  const std::vector<std::uint64_t>& zipf_keys(unsigned thread) const;

 private:
  std::uint64_t key_range_;
  std::size_t prefill_;
  std::uint64_t seed_;
  std::vector<std::uint64_t> permutation_;
  mutable std::mutex zipf_mutex_;
  mutable std::unique_ptr<zipf_generator> zipf_;
  mutable std::vector<std::unique_ptr<std::vector<std::uint64_t>>> zipf_keys_;
};

// Log-linear latency histogram in nanoseconds: exact below 32 ns, then 32
// sub-buckets per power of two (relative error under 3.2%). Not thread-safe:
// one per thread, merged afterwards.
class latency_histogram {
 public:
  static constexpr unsigned sub_bits = 5;
  static constexpr unsigned max_bits = 44;  // about 4.9 hours
  static constexpr std::size_t bucket_count = (max_bits - sub_bits + 1) << sub_bits;

  latency_histogram() : counts_(bucket_count, 0) {}
  void add(std::uint64_t ns) noexcept { ++counts_[index_of(ns)]; ++total_; }
  void merge(const latency_histogram& other) noexcept;
  std::uint64_t total() const noexcept { return total_; }
  // The value (bucket midpoint, ns) at quantile q in [0, 1]; 0 when empty.
  double quantile(double q) const noexcept;

 private:
  static std::size_t index_of(std::uint64_t ns) noexcept;
  static std::uint64_t lower_bound_of(std::size_t index) noexcept;
  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
};

// What one run of one cell is asked to do.
struct cell_spec {
  workload_kind workload = workload_kind::a;
  unsigned threads = 1;        // workers; for C and C-noscan, writers
  double seconds = 1.0;        // measured duration
  unsigned repeat = 0;         // seeds the threads' streams
  bool pin = true;             // pin threads to the allowed CPUs, in order
  std::size_t capacity = 0;    // capacity hint given to every map
  const dataset* data = nullptr;
};

// What one run of one cell measured.
struct cell_sample {
  bool ok = false;
  std::string error;            // when !ok
  double seconds = 0;           // mean measured time per worker
  std::uint64_t ops = 0;        // map operations by the workers (writers in C)
  double mops = 0;              // sum over workers of ops / own elapsed, in millions per second
  // C and C-noscan only: sampled writer latency (ns) and its quantiles.
  std::uint64_t latency_samples = 0;
  double p50_ns = 0, p99_ns = 0, p999_ns = 0;
  // The longest window between two clock reads of one writer: a timed
  // operation or the 7 untimed ones between two timed ones. An upper bound
  // on the worst single operation, and no stall escapes it.
  double max_window_ns = 0;
  // C only: the scanner.
  std::uint64_t scans = 0;      // complete scans
  std::uint64_t items = 0;      // items visited (the unfinished last scan included)
  // scans_per_s counts the unfinished last scan by the share of a full scan
  // it visited, so a scan longer than the cell does not read as 0.
  double scans_per_s = 0, items_per_s = 0;
  std::uint64_t sink = 0;       // keeps results observable
};

using bench_clock = std::chrono::steady_clock;

// The CPUs this process may run on (sched_getaffinity), in order.
const std::vector<int>& allowed_cpus();
// Pins the calling thread to allowed_cpus()[index % size]; false if it failed.
bool pin_current_thread(unsigned index) noexcept;

}  // namespace snapcache::bench
