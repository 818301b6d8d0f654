// A version of one key: the unit hash_map allocates per write.
//
// Entries are their own versions: a slot of the table points at the newest
// version of its key, and each version links to the next older one. A write
// allocates a version (key, value, stamp) and installs it over the old head;
// an erase installs a tombstone (a version without a value). Versions never
// change after publication except for three atomic words:
//   * the stamp word: the stamp, set once from "unstamped" to the snapshot clock read after
//     installation (lazy stamping, Wei et al. PPoPP 2021: whoever meets an
//     unstamped version stamps it first);
//   * `older`, which only ever skips versions that no snapshot can read
//     (trimming), and whose low bit marks this version as being unlinked
//     (Harris: a marked version's `older` is frozen, so two unlinks of
//     neighbours cannot lose one another);
//   * in an *extended* version only (one made while a snapshot was live),
//     `link`: the kept record of the version directly below it, so that
//     whoever unlinks this one can hand the record its new neighbour
//     (hash_map_writes.hpp, retire_version).
// No reclamation header: versions are retired with ebr::guard::retire_raw.
// 32 bytes for 8-byte keys and values; 48 extended.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "snapcache/detail/block_cache.hpp"
#include "snapcache/heap_bytes.hpp"

namespace snapcache::detail {

// The low pointer bit of `older`: this version is logically unlinked.
inline constexpr std::uintptr_t unlink_mark = 1;

template <class P>
[[nodiscard]] P* strip(P* p) noexcept {
  return reinterpret_cast<P*>(reinterpret_cast<std::uintptr_t>(p) & ~unlink_mark);
}
template <class P>
[[nodiscard]] bool is_marked(P* p) noexcept {
  return (reinterpret_cast<std::uintptr_t>(p) & unlink_mark) != 0;
}
template <class P>
[[nodiscard]] P* with_mark(P* p) noexcept {
  return reinterpret_cast<P*>(reinterpret_cast<std::uintptr_t>(p) | unlink_mark);
}

// The 64-bit hash, kept in the version when recomputing it could throw or
// cost (so migration never calls user code); empty otherwise.
template <bool Stored>
struct stored_hash {
  explicit stored_hash(std::uint64_t) noexcept {}
};
template <>
struct stored_hash<true> {
  explicit stored_hash(std::uint64_t h) noexcept : value(h) {}
  std::uint64_t value;
};

// Stamp words: the top bit says "tombstone" (fixed at construction), the
// next one "kept for a snapshot and counted so" (set once, before the
// version's kept record is published), the next "a version directly above
// this one was unlinked without handing its record on" (set before that
// version is retired: the kept record's `above` may name freed memory from
// then on), the next "extended: has a `link` word" (fixed at construction),
// the rest is the stamp, `unstamped` until the version is stamped.
inline constexpr std::uint64_t tombstone_flag = std::uint64_t{1} << 63;
inline constexpr std::uint64_t kept_flag = std::uint64_t{1} << 62;
inline constexpr std::uint64_t above_unlinked_flag = std::uint64_t{1} << 61;
inline constexpr std::uint64_t extended_flag = std::uint64_t{1} << 60;
inline constexpr std::uint64_t unstamped_value_mask = extended_flag - 1;
inline constexpr std::uint64_t unstamped = unstamped_value_mask;

template <class Key, class T, bool StoresHash>
struct version {
  using self = version;

  std::atomic<std::uint64_t> stamp_word;
  std::atomic<version*> older;
  [[no_unique_address]] stored_hash<StoresHash> hash;
  const Key key;

  [[nodiscard]] bool is_tombstone() const noexcept {
    // The flag never changes after construction: any order reads it right.
    return (stamp_word.load(std::memory_order_relaxed) & tombstone_flag) != 0;  // constant bit, see above
  }
  [[nodiscard]] bool is_extended() const noexcept {
    return (stamp_word.load(std::memory_order_relaxed) & extended_flag) != 0;  // constant bit, see above
  }
  // The `link` word of an extended version (null: no record below).
  [[nodiscard]] std::atomic<void*>& link() const noexcept {
    auto* self_bytes = reinterpret_cast<unsigned char*>(const_cast<version*>(this));
    return *std::launder(reinterpret_cast<std::atomic<void*>*>(self_bytes + link_offset));
  }
  // The block a version takes: blocks of a multiple of 16 bytes are 16-byte
  // aligned (block_cache.hpp), which the slots' flag bits need.
  static constexpr std::size_t block_size = (sizeof(version) + 15) / 16 * 16;
  // An extended version's link word follows the version in its block.
  static constexpr std::size_t link_offset =
      (sizeof(version) + alignof(std::atomic<void*>) - 1) / alignof(std::atomic<void*>) * alignof(std::atomic<void*>);
  static constexpr std::size_t extended_block_size = (link_offset + sizeof(std::atomic<void*>) + 15) / 16 * 16;

  [[nodiscard]] const T& value() const noexcept { return *std::launder(reinterpret_cast<const T*>(storage_)); }

  // A version of `key` holding T(args...), unstamped; extended (with a link
  // word) if asked. May throw (allocation, Key's copy, T's constructor);
  // nothing leaks then.
  template <class K, class... Args>
  [[nodiscard]] static version* make(bool extended, std::uint64_t h, K&& k, Args&&... args) {
    void* memory = allocate(extended);
    version* v = nullptr;
    try {
      v = ::new (memory) version(h, std::forward<K>(k), false, extended);
    } catch (...) {
      free_memory(memory, extended);
      throw;
    }
    try {
      ::new (static_cast<void*>(v->storage_)) T(std::forward<Args>(args)...);
    } catch (...) {
      v->~version();
      free_memory(memory, extended);
      throw;
    }
    return v;
  }

  // A tombstone of `key`. May throw (allocation, Key's copy).
  template <class K>
  [[nodiscard]] static version* make_tombstone(bool extended, std::uint64_t h, K&& k) {
    void* memory = allocate(extended);
    try {
      return ::new (memory) version(h, std::forward<K>(k), true, extended);
    } catch (...) {
      free_memory(memory, extended);
      throw;
    }
  }

  // Destroys and frees: for versions no thread can reach any more.
  static void destroy(version* v) noexcept {
    const bool extended = v->is_extended();
    if (!v->is_tombstone()) std::launder(reinterpret_cast<T*>(v->storage_))->~T();
    v->~version();
    free_memory(v, extended);
  }
  // The reclaim function handed to ebr::guard::retire_raw.
  static void reclaim(void* v) noexcept { destroy(static_cast<version*>(v)); }
  // What freeing it gives back: the version and what its key and value own
  // on the heap (snapcache::heap_bytes), for reclamation's byte bound.
  [[nodiscard]] std::size_t bytes() const noexcept {
    return (is_extended() ? extended_block_size : block_size) + snapcache::heap_bytes(key) +
           (is_tombstone() ? 0 : snapcache::heap_bytes(value()));
  }

 private:
  template <class K>
  version(std::uint64_t h, K&& k, bool tombstone, bool extended)
      : stamp_word((tombstone ? tombstone_flag : 0) | (extended ? extended_flag : 0) | unstamped),
        older(nullptr),
        hash(h),
        key(std::forward<K>(k)) {
    if (extended) ::new (static_cast<void*>(&link())) std::atomic<void*>(nullptr);
  }
  ~version() = default;

  // Slots keep 48 address bits and use the 4 low ones as flags: a version
  // must be 16-byte aligned below 2^48 (x86-64 and AArch64 user space unless
  // a program maps memory above 2^47 with explicit hints).
  static void* allocate(bool extended) {
    static_assert(alignof(version) <= 16, "versions rely on 16-byte aligned blocks");
    void* memory = extended ? allocate_block<extended_block_size>() : allocate_block<block_size>();
    const auto address = reinterpret_cast<std::uintptr_t>(memory);
    if ((address & 15) != 0 || (address >> 48) != 0) {
      free_memory(memory, extended);
      throw std::bad_alloc();
    }
    return memory;
  }
  static void free_memory(void* memory, bool extended) noexcept {
    if (extended) {
      free_block<extended_block_size>(memory);
    } else {
      free_block<block_size>(memory);
    }
  }

  alignas(T) unsigned char storage_[sizeof(T)];
};

}  // namespace snapcache::detail
