// The bucket directory of a split-ordered list: entry points into the one
// list, never moved. Each bucket *is* its sentinel node, stored inline in a
// segment, so reaching a bucket's first entry costs one cache line less than
// a pointer to a separately allocated sentinel. Segments are allocated on
// first use and never freed before the table: growth only adds entry points;
// nothing is copied or migrated.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace snapcache::detail {

template <class Node>
struct bucket {
  enum : std::uint8_t { empty, linking, ready };
  Node sentinel{0};
  std::atomic<std::uint8_t> state{empty};
};

template <class Node>
class bucket_table {
 public:
  using bucket_type = bucket<Node>;
  static constexpr unsigned first_bits = 10;  // segment 0 holds 2^10 buckets
  static constexpr unsigned max_segments = 64 - first_bits;

  // `order_of(b)` gives the sentinel order of bucket b.
  explicit bucket_table(std::uint64_t (*order_of)(std::uint64_t)) noexcept : order_of_(order_of) {}
  bucket_table(const bucket_table&) = delete;
  bucket_table& operator=(const bucket_table&) = delete;
  ~bucket_table() {
    for (auto& segment : segments_) delete[] segment.load(std::memory_order_relaxed);  // single-threaded
  }

  // Bucket b, allocating its segment if needed (may throw std::bad_alloc;
  // nothing else changes then).
  bucket_type& at(std::uint64_t b) {
    const unsigned s = segment_of(b);
    bucket_type* segment = segments_[s].load(std::memory_order_acquire);  // pairs with the release CAS below
    if (segment == nullptr) {
      const std::uint64_t base = segment_base(s);
      const std::size_t size = segment_size(s);
      std::unique_ptr<bucket_type[]> fresh(new bucket_type[size]);
      for (std::size_t i = 0; i < size; ++i) fresh[i].sentinel.order = order_of_(base + i);
      if (segments_[s].compare_exchange_strong(segment, fresh.get(),
                                               std::memory_order_acq_rel,     // release: publish orders
                                               std::memory_order_acquire)) {  // pairs with the winner's release
        segment = fresh.release();
      }
    }
    return segment[b - segment_base(s)];
  }

  // Bucket b if its segment exists, else nullptr. Never allocates.
  bucket_type* find(std::uint64_t b) const noexcept {
    const unsigned s = segment_of(b);
    bucket_type* segment = segments_[s].load(std::memory_order_acquire);  // pairs with at()'s CAS
    return segment ? &segment[b - segment_base(s)] : nullptr;
  }

 private:
  static unsigned segment_of(std::uint64_t b) noexcept {
    return b < (std::uint64_t{1} << first_bits) ? 0 : std::bit_width(b) - first_bits;
  }
  static std::uint64_t segment_base(unsigned s) noexcept {
    return s == 0 ? 0 : std::uint64_t{1} << (s + first_bits - 1);
  }
  static std::size_t segment_size(unsigned s) noexcept {
    return s == 0 ? std::size_t{1} << first_bits : std::size_t{1} << (s + first_bits - 1);
  }

  std::uint64_t (*order_of_)(std::uint64_t);
  std::atomic<bucket_type*> segments_[max_segments] = {};
};

}  // namespace snapcache::detail
