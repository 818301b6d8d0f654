// How a slot table stores its slots: the slot kind. Every slot access of the
// map and of its migration goes through one, so the 16-byte slots of the
// inline layout (docs/design.md, "The layout decision", stage 1) can replace
// today's 8-byte ones behind one switch. Both kinds hold today's slot word
// (slot_table.hpp) and give it the same operations, all seq_cst but the
// single-threaded loads of teardown:
//  * word_slots: one std::atomic<std::uint64_t> per slot (the layout of
//    every map);
//  * pair_slots: one 16-byte atomic_pair per slot, {chain_mark, word}: the
//    inline layout's slot with every key in a chain (stage 2), x86-64 only.
//    Chosen only through pair_slots_hash, by the benchmark and the tests
//    that measure and check it: no map a user names has it yet.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <new>

#include "snapcache/detail/atomic_pair.hpp"

namespace snapcache::detail {

class word_slots {
 public:
  static constexpr std::size_t slot_bytes = sizeof(std::atomic<std::uint64_t>);

  // Makes `capacity` empty slots in `array` (not yet published).
  static void construct(void* array, std::size_t capacity) noexcept {
    auto* slots = ::new (array) std::atomic<std::uint64_t>[capacity];
    for (std::size_t i = 0; i < capacity; ++i) slots[i].store(0, std::memory_order_relaxed);  // before publication
  }

  class ref {
   public:
    explicit ref(void* slot) noexcept : word_(static_cast<std::atomic<std::uint64_t>*>(slot)) {}
    // `order`: seq_cst, or relaxed where the caller is the only thread.
    [[nodiscard]] std::uint64_t load(std::memory_order order) const noexcept { return word_->load(order); }
    bool compare_exchange(std::uint64_t& expected, std::uint64_t desired) noexcept {
      return word_->compare_exchange_strong(expected, desired, std::memory_order_seq_cst);
    }
    std::uint64_t fetch_or(std::uint64_t bits) noexcept { return word_->fetch_or(bits, std::memory_order_seq_cst); }
    // Planted bugs only (a write that must have been a CAS).
    void store(std::uint64_t desired) noexcept { word_->store(desired, std::memory_order_seq_cst); }

   private:
    std::atomic<std::uint64_t>* word_;
  };

  [[nodiscard]] static ref at(void* array, std::size_t i) noexcept {
    return ref(static_cast<std::atomic<std::uint64_t>*>(array) + i);
  }
};

#if defined(__x86_64__)
class pair_slots {
 public:
  // The first word of every slot while every key lives in a chain. Empty
  // slots are {chain_mark, 0}: the second word alone says what the slot is.
  static constexpr std::uint64_t chain_mark = 0;
  static constexpr std::size_t slot_bytes = sizeof(atomic_pair);

  static void construct(void* array, std::size_t capacity) noexcept {
    ::new (array) atomic_pair[capacity];  // each {0, 0}: {chain_mark, empty}
  }

  class ref {
   public:
    explicit ref(void* slot) noexcept : pair_(static_cast<atomic_pair*>(slot)) {}
    // One 16-byte load (atomic_pair.hpp): the word as it was at one instant.
    [[nodiscard]] std::uint64_t load(std::memory_order order) const noexcept { return pair_->load(order).second; }
    bool compare_exchange(std::uint64_t& expected, std::uint64_t desired) noexcept {
      word_pair seen{chain_mark, expected};
      if (pair_->compare_exchange(seen, {chain_mark, desired}, std::memory_order_seq_cst)) return true;
      // Every slot is a chain here; a first word that is not would leave
      // `expected` as it was and spin fetch_or and store forever.
      assert(seen.first == chain_mark);
      expected = seen.second;
      return false;
    }
    // A CAS loop: cmpxchg16b has no fetch_or. Lock-free, as the migration
    // that calls it must be: each failed try means another write landed.
    std::uint64_t fetch_or(std::uint64_t bits) noexcept {
      std::uint64_t seen = load(std::memory_order_seq_cst);
      while (!compare_exchange(seen, seen | bits)) {
      }
      return seen;
    }
    void store(std::uint64_t desired) noexcept {
      std::uint64_t seen = load(std::memory_order_seq_cst);
      while (!compare_exchange(seen, desired)) {
      }
    }

   private:
    atomic_pair* pair_;
  };

  [[nodiscard]] static ref at(void* array, std::size_t i) noexcept { return ref(static_cast<atomic_pair*>(array) + i); }
};
#endif

// The slot kind of hash_map<Key, T, Hash, ...>: word_slots, unless Hash
// names another as `snapcache_slot_kind` (pair_slots_hash below). A
// property of the map's type, so maps of both kinds can live in one program.
template <class Hash>
struct slot_kind_of {
  using type = word_slots;
};
template <class Hash>
  requires requires { typename Hash::snapcache_slot_kind; }
struct slot_kind_of<Hash> {
  using type = typename Hash::snapcache_slot_kind;
};

#if defined(__x86_64__)
// Tests and benchmarks: Hash, for a map whose slots are pair_slots.
template <class Hash>
struct pair_slots_hash : Hash {
  using snapcache_slot_kind = pair_slots;
};
#endif

// The Hash of hash_map::rebind: Default, kept in a pair_slots_hash where the
// map's own was one.
template <class Hash, class Default>
struct rebound_hash {
  using type = Default;
};
#if defined(__x86_64__)
template <class H, class Default>
struct rebound_hash<pair_slots_hash<H>, Default> {
  using type = pair_slots_hash<Default>;
};
#endif

}  // namespace snapcache::detail
