// The query texts of the seed scenario and each thread's skewed stream of them.
//
// The problem. A query cache is read the way people run queries: a few
// dashboards' queries run all the time, a long tail runs once in a while.
// The benchmark must reproduce that skew without paying for it while it
// measures: drawing a Zipf rank costs a pow(), more than a cache hit.
//
// The mechanism. The pool is `size` distinct SQL texts, text i being the
// i-th most popular. Each thread gets a ring of `ring_size` text indices drawn
// from Zipf(theta 0.99) over the pool before any cell runs, and reads it
// sequentially; a repeat starts at a random place in the ring. Text i is a
// plausible dashboard query (a few columns, a table, a filter) made unique by
// its number, so normalisation and hashing cost what they would in use.
//
// When not to use it. The texts are short (about 100 bytes) and similar; a
// cache holding multi-kilobyte generated SQL spends more in normalisation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace snapcache::bench {

class query_pool {
 public:
  static constexpr double zipf_theta = 0.99;
  static constexpr std::size_t ring_size = std::size_t{1} << 18;  // indices per thread ring

  // Builds `size` texts and `threads` rings (each O(ring_size); zeta is O(size)).
  query_pool(std::size_t size, unsigned threads, std::uint64_t seed);

  std::size_t size() const noexcept { return texts_.size(); }
  const std::string& text(std::size_t i) const noexcept { return texts_[i]; }
  unsigned threads() const noexcept { return static_cast<unsigned>(rings_.size()); }
  // Thread `thread`'s Zipf-distributed text indices (ring_size of them).
  const std::vector<std::uint32_t>& ring(unsigned thread) const noexcept { return rings_[thread]; }

  // Text i of the pool, and texts outside it (i >= size) for callers that
  // need more distinct ones (lookup cost fills caches larger than a pool).
  static std::string make_text(std::size_t i);

 private:
  std::vector<std::string> texts_;
  std::vector<std::vector<std::uint32_t>> rings_;
};

}  // namespace snapcache::bench
