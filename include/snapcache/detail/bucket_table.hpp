// The bucket directory of a split-ordered list: entry points into the one
// list, never moved. Bucket slots live in segments that are allocated on
// first use and never freed before the table, so growth only adds entry
// points; nothing is copied or migrated.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace snapcache::detail {

template <class Node>
class bucket_table {
 public:
  static constexpr unsigned first_bits = 10;  // segment 0 holds 2^10 buckets
  static constexpr unsigned max_segments = 64 - first_bits;

  bucket_table() = default;
  bucket_table(const bucket_table&) = delete;
  bucket_table& operator=(const bucket_table&) = delete;
  ~bucket_table() {
    for (auto& segment : segments_) delete[] segment.load(std::memory_order_relaxed);  // single-threaded
  }

  // The slot of bucket b, allocating its segment if needed (may throw
  // std::bad_alloc; nothing else changes then).
  std::atomic<Node*>& slot(std::uint64_t b) {
    const unsigned s = segment_of(b);
    std::atomic<Node*>* segment = segments_[s].load(std::memory_order_acquire);  // pairs with the release CAS below
    if (segment == nullptr) {
      auto fresh = std::make_unique<std::atomic<Node*>[]>(segment_size(s));
      if (segments_[s].compare_exchange_strong(segment, fresh.get(),
                                               std::memory_order_acq_rel,     // release: publish; acquire: see the winner's
                                               std::memory_order_acquire)) {  // pairs with the winner's release
        segment = fresh.release();
      }
    }
    return segment[b - segment_base(s)];
  }

  // The slot of bucket b if its segment exists, else nullptr. Never allocates.
  std::atomic<Node*>* find_slot(std::uint64_t b) const noexcept {
    const unsigned s = segment_of(b);
    std::atomic<Node*>* segment = segments_[s].load(std::memory_order_acquire);  // pairs with slot()'s CAS
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

  std::atomic<std::atomic<Node*>*> segments_[max_segments] = {};
};

}  // namespace snapcache::detail
