#include "harness/workload.hpp"

#include <sched.h>
#include <pthread.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cmath>
#include <numeric>

namespace snapcache::bench {

std::string_view workload_name(workload_kind w) noexcept {
  switch (w) {
    case workload_kind::a: return "A";
    case workload_kind::b: return "B";
    case workload_kind::a_zipf: return "A-zipf";
    case workload_kind::c: return "C";
    case workload_kind::c_noscan: return "C-noscan";
  }
  return "?";
}

std::optional<workload_kind> parse_workload(std::string_view name) noexcept {
  std::string lower;
  for (char ch : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (lower == "a") return workload_kind::a;
  if (lower == "b") return workload_kind::b;
  if (lower == "a-zipf" || lower == "a_zipf" || lower == "azipf" || lower == "zipf") return workload_kind::a_zipf;
  if (lower == "c") return workload_kind::c;
  if (lower == "c-noscan" || lower == "c_noscan") return workload_kind::c_noscan;
  return std::nullopt;
}

op_mix mix_of(workload_kind w) noexcept {
  switch (w) {
    case workload_kind::a:
    case workload_kind::a_zipf: return {.find = 90, .insert = 0, .insert_or_assign = 9, .erase = 1};
    case workload_kind::b: return {.find = 50, .insert = 25, .insert_or_assign = 0, .erase = 25};
    case workload_kind::c:
    case workload_kind::c_noscan: return {.find = 0, .insert = 50, .insert_or_assign = 0, .erase = 50};
  }
  return {};
}

op_thresholds op_thresholds::of(const op_mix& m) noexcept {
  // A percentage p maps to p * 2^32 / 100 draws; 100% saturates at 2^32 - 1
  // (then the last draw value goes to the next operation: 1 in 4 billion).
  auto at = [](unsigned percent) {
    const std::uint64_t v = (std::uint64_t{percent} << 32) / 100;
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(v, 0xffffffffULL));
  };
  return {at(m.find), at(m.find + m.insert), at(m.find + m.insert + m.insert_or_assign)};
}

std::uint64_t stream_seed(std::uint64_t seed, unsigned repeat, unsigned thread) noexcept {
  rng r(seed ^ (std::uint64_t{repeat} << 32) ^ (std::uint64_t{thread} * 0x9e3779b97f4a7c15ULL));
  r.next();
  return r.next();
}

// ---- zipf -------------------------------------------------------------------

zipf_generator::zipf_generator(std::uint64_t n, double theta) : n_(n), theta_(theta) {
  double zetan = 0;
  for (std::uint64_t i = 1; i <= n; ++i) zetan += 1.0 / std::pow(static_cast<double>(i), theta);
  const double zeta2 = 1.0 + 1.0 / std::pow(2.0, theta);
  zetan_ = zetan;
  alpha_ = 1.0 / (1.0 - theta);
  eta_ = (1.0 - std::pow(2.0 / static_cast<double>(n), 1.0 - theta)) / (1.0 - zeta2 / zetan);
  half_pow_theta_ = std::pow(0.5, theta);
}

std::uint64_t zipf_generator::rank(double u) const noexcept {
  const double uz = u * zetan_;
  if (uz < 1.0) return 0;
  if (uz < 1.0 + half_pow_theta_) return 1;
  const auto r = static_cast<std::uint64_t>(static_cast<double>(n_) * std::pow(eta_ * u - eta_ + 1.0, alpha_));
  return std::min(r, n_ - 1);
}

// ---- dataset ----------------------------------------------------------------

dataset::dataset(std::uint64_t key_range, std::size_t prefill, std::uint64_t seed)
    : key_range_(key_range), prefill_(std::min<std::size_t>(prefill, key_range)), seed_(seed) {
  permutation_.resize(key_range);
  for (std::uint64_t k = 0; k < key_range; ++k) permutation_[k] = k;
  rng r(seed);
  for (std::uint64_t i = key_range; i > 1; --i) {  // Fisher-Yates
    const std::uint64_t j = scale_key(r.next(), i);
    std::swap(permutation_[i - 1], permutation_[j]);
  }
}

const std::vector<std::uint64_t>& dataset::zipf_keys(unsigned thread) const {
  std::lock_guard lock(zipf_mutex_);
  if (!zipf_) zipf_ = std::make_unique<zipf_generator>(key_range_, zipf_theta);
  if (zipf_keys_.size() <= thread) zipf_keys_.resize(thread + 1);
  auto& slot = zipf_keys_[thread];
  if (!slot) {
    auto keys = std::make_unique<std::vector<std::uint64_t>>(zipf_ring);
    rng r(stream_seed(seed_ ^ 0x7a697066ULL, 0, thread));
    // Rank 0 is the hottest. rank -> (rank * a + b) mod n, a coprime to n, is
    // a bijection that scatters the hot ranks over the range independently of
    // which keys the prefill chose (so hot keys are present or absent at
    // random, like the others).
    std::uint64_t a = 0x9e3779b97f4a7c15ULL % key_range_ | 1;
    while (std::gcd(a, key_range_) != 1) a += 2;
    const std::uint64_t b = seed_ % key_range_;
    for (auto& key : *keys) {
      const double u = static_cast<double>(r.next() >> 11) * 0x1.0p-53;
      key = (zipf_->rank(u) * a + b) % key_range_;  // < 2^64: ranks and a are below 2^32
    }
    slot = std::move(keys);
  }
  return *slot;
}

// ---- latency histogram -------------------------------------------------------

std::size_t latency_histogram::index_of(std::uint64_t ns) noexcept {
  constexpr std::uint64_t sub = std::uint64_t{1} << sub_bits;
  if (ns < sub) return static_cast<std::size_t>(ns);
  const unsigned msb = static_cast<unsigned>(std::bit_width(ns)) - 1;  // >= sub_bits
  if (msb >= max_bits) return bucket_count - 1;
  const unsigned shift = msb - sub_bits;
  const std::size_t group = msb - sub_bits + 1;
  return (group << sub_bits) + static_cast<std::size_t>((ns >> shift) & (sub - 1));
}

std::uint64_t latency_histogram::lower_bound_of(std::size_t index) noexcept {
  constexpr std::uint64_t sub = std::uint64_t{1} << sub_bits;
  const std::size_t group = index >> sub_bits;
  const std::uint64_t offset = index & (sub - 1);
  if (group == 0) return offset;
  const unsigned shift = static_cast<unsigned>(group - 1);
  return (sub + offset) << shift;
}

void latency_histogram::merge(const latency_histogram& other) noexcept {
  for (std::size_t i = 0; i < bucket_count; ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
}

double latency_histogram::quantile(double q) const noexcept {
  if (total_ == 0) return 0;
  const auto rank = static_cast<std::uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(total_)));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += counts_[i];
    if (seen >= std::max<std::uint64_t>(rank, 1)) {
      const double lo = static_cast<double>(lower_bound_of(i));
      const double hi = i + 1 < bucket_count ? static_cast<double>(lower_bound_of(i + 1)) : lo;
      return (lo + hi) / 2;
    }
  }
  return static_cast<double>(lower_bound_of(bucket_count - 1));
}

// ---- CPUs ---------------------------------------------------------------------

const std::vector<int>& allowed_cpus() {
  static const std::vector<int> cpus = [] {
    std::vector<int> out;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
      for (int c = 0; c < CPU_SETSIZE; ++c) {
        if (CPU_ISSET(c, &set)) out.push_back(c);
      }
    }
    return out;
  }();
  return cpus;
}

bool pin_current_thread(unsigned index) noexcept {
  const auto& cpus = allowed_cpus();
  if (cpus.empty()) return false;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpus[index % cpus.size()], &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

}  // namespace snapcache::bench
