// The nodes of snapcache::hash_map: one split-ordered lock-free list of
// bucket sentinels and entries; each entry holds a chain of value versions,
// newest first, stamped from the snapshot clock.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <utility>

#include "snapcache/detail/snapshot_registry.hpp"
#include "snapcache/detail/striped_counter.hpp"
#include "snapcache/ebr.hpp"

namespace snapcache::detail {

// Low pointer bit: on list_node::next, "this node is logically deleted";
// on version::next, "this version is logically removed from its chain";
// on entry_node::head, "this entry is dead: no version may be pushed".
inline constexpr std::uintptr_t mark_bit = 1;

template <class P>
[[nodiscard]] P* strip(P* p) noexcept {
  return reinterpret_cast<P*>(reinterpret_cast<std::uintptr_t>(p) & ~mark_bit);
}
template <class P>
[[nodiscard]] bool is_marked(P* p) noexcept {
  return (reinterpret_cast<std::uintptr_t>(p) & mark_bit) != 0;
}
template <class P>
[[nodiscard]] P* with_mark(P* p) noexcept {
  return reinterpret_cast<P*>(reinterpret_cast<std::uintptr_t>(p) | mark_bit);
}

[[nodiscard]] constexpr std::uint64_t reverse_bits(std::uint64_t x) noexcept {
  x = ((x >> 1) & 0x5555555555555555ULL) | ((x & 0x5555555555555555ULL) << 1);
  x = ((x >> 2) & 0x3333333333333333ULL) | ((x & 0x3333333333333333ULL) << 2);
  x = ((x >> 4) & 0x0F0F0F0F0F0F0F0FULL) | ((x & 0x0F0F0F0F0F0F0F0FULL) << 4);
  x = ((x >> 8) & 0x00FF00FF00FF00FFULL) | ((x & 0x00FF00FF00FF00FFULL) << 8);
  x = ((x >> 16) & 0x0000FFFF0000FFFFULL) | ((x & 0x0000FFFF0000FFFFULL) << 16);
  return (x >> 32) | (x << 32);
}

// Split order: entries have the low bit set, bucket sentinels clear, so a
// bucket's sentinel sorts just before the entries that hash into it.
[[nodiscard]] constexpr std::uint64_t entry_order(std::uint64_t hash) noexcept {
  return reverse_bits(hash | (std::uint64_t{1} << 63));
}
[[nodiscard]] constexpr std::uint64_t sentinel_order(std::uint64_t bucket) noexcept {
  return reverse_bits(bucket);
}
[[nodiscard]] constexpr bool is_entry_order(std::uint64_t order) noexcept { return (order & 1) != 0; }

struct list_node {
  explicit list_node(std::uint64_t split_order) noexcept : order(split_order) {}
  std::uint64_t order;  // set before the node is published, then never changed
  std::atomic<list_node*> next{nullptr};
};

template <class T>
struct version final : ebr::retirable {
  version() = default;  // a tombstone
  explicit version(const T& v) : value(v) {}
  explicit version(T&& v) : value(std::move(v)) {}
  version(const T& v, bool inside_entry) : value(v), embedded(inside_entry) {}

  std::atomic<std::uint64_t> stamp{no_timestamp};
  std::atomic<version*> next{nullptr};
  std::optional<T> value;  // empty: a tombstone (the key is absent)
  // The first version lives inside its entry (one allocation, one cache
  // miss less); it is freed with the entry, never on its own.
  const bool embedded = false;

  static void reclaim(ebr::retirable* self) noexcept { delete static_cast<version*>(self); }
};

// Counters a reclaimed entry reports back to its map.
struct map_counters {
  striped_counter entries;
  striped_counter versions;
};

template <class Key, class T>
struct entry_node final : list_node, ebr::retirable {
  static constexpr std::uint8_t on_deferred_list = 1;
  static constexpr std::uint8_t unlinked = 2;

  entry_node(std::uint64_t split_order, const Key& k, const T& value, map_counters* c)
      : list_node(split_order), key(k), head(&first), counters(c), first(value, true) {}

  // Field order: what a search touches (order, next, key) comes first.
  const Key key;
  std::atomic<version<T>*> head;
  std::atomic<std::uint8_t> flags{0};
  entry_node* deferred_next = nullptr;
  map_counters* const counters;
  version<T> first;

  // Frees the node and every version still on its chain (removed versions
  // were retired on their own).
  static void reclaim(ebr::retirable* self) noexcept {
    auto* node = static_cast<entry_node*>(self);
    std::int64_t freed = 0;
    version<T>* v = strip(node->head.load(std::memory_order_relaxed));  // grace period over: no other thread
    while (v != nullptr) {
      version<T>* older = strip(v->next.load(std::memory_order_relaxed));  // grace period over, see above
      if (!v->embedded) delete v;
      ++freed;
      v = older;
    }
    node->counters->versions.add(-freed);
    delete node;
  }
};

}  // namespace snapcache::detail
