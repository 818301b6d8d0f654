// The inline-slot prototype (inline_slot_table.hpp) in the slot format the
// library needs for full-range keys (docs/design.md, "The layout
// decision"): a 16-byte slot with no spare bit, its first word saying what
// the second is, read with one 16-byte load (detail/atomic_pair.hpp), as
// stress/relacy/inline_read_model.cpp requires. Benchmark-only, like its
// sibling: a fixed table, no snapshots, x86-64 only.
//
// Slot states (first word, second word):
//   empty     {empty_mark, 0}
//   inline    {key, value}          any key but the three marks
//   erased    {erased_mark, key}    the key keeps its slot (claim once)
//   chain     {chain_mark, tag|pointer}  the library's; never made here
// The three keys equal to a mark live in chains in the library; this
// prototype, which has none, refuses them.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <new>
#include <stdexcept>

#include "snapcache/detail/atomic_pair.hpp"

namespace snapcache::bench::prototype {

class full_range_slot_table {
 public:
  using u64 = std::uint64_t;
  using pair = snapcache::detail::word_pair;

  explicit full_range_slot_table(std::size_t capacity_hint)
      : mask_(std::bit_ceil(capacity_hint * 2 < 16 ? std::size_t{16} : capacity_hint * 2) - 1),
        slots_(new snapcache::detail::atomic_pair[mask_ + 1]) {
    for (std::size_t i = 0; i <= mask_; ++i) {
      pair expected{0, 0};
      slots_[i].compare_exchange(expected, pair{empty_mark, 0}, std::memory_order_relaxed);  // before publication
    }
  }
  ~full_range_slot_table() { delete[] slots_; }
  full_range_slot_table(const full_range_slot_table&) = delete;
  full_range_slot_table& operator=(const full_range_slot_table&) = delete;

  bool find(u64 k, u64& v) const noexcept {
    if (is_mark(k)) return false;  // the library: a chain walk
    for (std::size_t i = home(k);; i = (i + 1) & mask_) {
      const pair p = slots_[i].load(std::memory_order_acquire);  // pairs with the slot's CAS
      if (p.first == k) {
        v = p.second;
        return true;
      }
      if (p.first == empty_mark || (p.first == erased_mark && p.second == k)) return false;
    }
  }

  // Returns true if k was absent. assign: overwrite a present value.
  bool write(u64 k, u64 v, bool assign) {
    if (is_mark(k)) throw std::invalid_argument("full_range_slot_table: the three mark keys need chains");
    for (std::size_t i = home(k), n = 0; n <= mask_; i = (i + 1) & mask_, ++n) {
      snapcache::detail::atomic_pair& s = slots_[i];
      pair seen = s.load(std::memory_order_acquire);  // pairs with the slot's CAS
      if (!belongs_to(seen, k)) continue;
      announce(s);
      for (;;) {
        const bool absent = seen.first != k;
        if (!absent && !assign) break;
        if (s.compare_exchange(seen, pair{k, v}, std::memory_order_seq_cst)) {
          withdraw();
          return absent;
        }
        if (!belongs_to(seen, k)) break;  // another key claimed the slot: probe on
      }
      withdraw();
      if (seen.first == k) return false;  // present, and not to be assigned
    }
    throw std::length_error("full_range_slot_table: full (the prototype does not grow)");
  }

  bool erase(u64 k) {
    if (is_mark(k)) return false;
    for (std::size_t i = home(k);; i = (i + 1) & mask_) {
      snapcache::detail::atomic_pair& s = slots_[i];
      pair seen = s.load(std::memory_order_acquire);  // pairs with the slot's CAS
      if (seen.first == empty_mark) return false;
      if (!belongs_to(seen, k)) continue;
      announce(s);
      bool erased_now = false;
      while (seen.first == k) {
        if (s.compare_exchange(seen, pair{erased_mark, k}, std::memory_order_seq_cst)) {
          erased_now = true;
          break;
        }
      }
      withdraw();
      return erased_now;
    }
  }

 private:
  static constexpr u64 empty_mark = ~u64{0};
  static constexpr u64 erased_mark = ~u64{0} - 1;
  static constexpr u64 chain_mark = ~u64{0} - 2;

  static bool is_mark(u64 k) noexcept { return k >= chain_mark; }
  // Whether slot contents `p` are k's slot or a free one k may claim.
  static bool belongs_to(const pair& p, u64 k) noexcept {
    return p.first == k || p.first == empty_mark || (p.first == erased_mark && p.second == k);
  }

  std::size_t home(u64 k) const noexcept {
    return static_cast<std::size_t>((k * 0x9e3779b97f4a7c15ull) >> 20) & mask_;
  }

  // The protocol's quiet path, as in inline_slot_table.hpp.
  void announce(snapcache::detail::atomic_pair& s) noexcept {
    announcement_.exchange(reinterpret_cast<std::uintptr_t>(&s), std::memory_order_seq_cst);
    (void)clock_.load(std::memory_order_seq_cst);
    if (live_.load(std::memory_order_seq_cst) != 0) std::abort();  // the prototype has no snapshots
  }
  static void withdraw() noexcept {
    announcement_.store(0, std::memory_order_release);  // read by a sealing snapshot (none here)
  }

  std::size_t mask_;
  snapcache::detail::atomic_pair* slots_;
  std::atomic<u64> clock_{1};
  std::atomic<unsigned> live_{0};
  static inline thread_local std::atomic<std::uintptr_t> announcement_{0};
};

}  // namespace snapcache::bench::prototype
