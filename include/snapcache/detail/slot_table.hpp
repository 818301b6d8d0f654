// The slot array of snapcache::hash_map: open addressing, linear probing,
// one slot word per slot, stored as the map's slot kind says (slot_kind.hpp:
// an 8-byte atomic, eight to a cache line, in every map a user names).
//
// A slot word is one of:
//   0                         empty
//   tag:16 | pointer:48       claimed: the newest version of one key
//   ... | frozen              a migration froze it: no write may replace it
//   ... | frozen | placing    a migration is copying its pointer
//   tag | j << 4 | moved | frozen  copied: the key lives in slot j of `next`
//   dropped | frozen          a dead key (a lone tombstone) left behind
// `next` is null, the table a migration copies into, or sizing_marker()
// while a shrinking migration counts the slots it must copy.
// Claim once: a key takes the first empty slot on its probe path by CAS and
// keeps it until the next migration; a slot never becomes empty again, so
// every inserter of a key meets the same slot and each key has one slot per
// table. The tag (the hash's low 16 bits; the home slot comes from its high
// bits) lets a probe skip other keys without touching their versions.
//
// A table is freed when its last reference goes: the map holds one while the
// table is current, a table holds one on its successor (so a scan that holds
// an old table can follow `moved` words into every newer one), and each
// snapshot scanning it holds one.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

#include "snapcache/ebr.hpp"
#include "snapcache/hash.hpp"  // make_hash_seed

namespace snapcache::detail {

inline constexpr std::uint64_t slot_frozen = 1;
inline constexpr std::uint64_t slot_placing = 2;
inline constexpr std::uint64_t slot_moved = 4;
inline constexpr std::uint64_t slot_dropped = 8;
inline constexpr std::uint64_t slot_flags = 15;
inline constexpr std::uint64_t slot_pointer_bits = 0x0000'FFFF'FFFF'FFF0ULL;
inline constexpr unsigned slot_tag_shift = 48;

// The tag is the hash's low 16 bits: the home slot uses the high bits.
[[nodiscard]] constexpr std::uint64_t slot_tag_of_hash(std::uint64_t hash) noexcept { return hash & 0xFFFF; }
[[nodiscard]] constexpr std::uint64_t slot_tag(std::uint64_t word) noexcept { return word >> slot_tag_shift; }
// Whether the word names a version (claimed, possibly frozen or being copied).
[[nodiscard]] constexpr bool slot_holds_version(std::uint64_t word) noexcept {
  return (word & (slot_moved | slot_dropped)) == 0 && (word & slot_pointer_bits) != 0;
}
[[nodiscard]] constexpr bool slot_is_free(std::uint64_t word) noexcept { return (word & ~slot_frozen) == 0; }
[[nodiscard]] constexpr std::size_t slot_target(std::uint64_t word) noexcept {
  return static_cast<std::size_t>((word & slot_pointer_bits) >> 4);
}
[[nodiscard]] constexpr std::uint64_t moved_word(std::size_t target) noexcept {
  return (static_cast<std::uint64_t>(target) << 4) | slot_moved | slot_frozen;
}
template <class V>
[[nodiscard]] V* slot_version(std::uint64_t word) noexcept {
  return reinterpret_cast<V*>(static_cast<std::uintptr_t>(word & slot_pointer_bits));
}
template <class V>
[[nodiscard]] std::uint64_t claimed_word(std::uint64_t tag, V* v) noexcept {
  return (tag << slot_tag_shift) | static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(v));
}

// Slot arrays of 2 MiB and more are aligned to 2 MiB and offered to the
// kernel as transparent huge pages: a probe then costs no TLB miss (the slot
// array is read at random). The array is its own allocation, of exactly the
// slots' size, so the alignment costs no rounding up.
inline constexpr std::size_t huge_page_size = std::size_t{2} << 20;
[[nodiscard]] constexpr std::size_t slot_array_alignment(std::size_t bytes) noexcept {
  return bytes >= huge_page_size ? huge_page_size : 64;
}
void advise_huge_pages(void* memory, std::size_t bytes) noexcept;  // lib/slot_table.cpp

struct slot_table;

// The value of `next` while a shrinking migration freezes its source and
// counts what it must copy: a count taken before the freeze can be outrun by
// concurrent inserts, and a table too small for what it receives cannot be
// migrated into. Never dereferenced: one byte, defined in the library (so
// ASan puts a redzone after it and a read through it is reported).
extern unsigned char sizing_marker_byte;  // lib/slot_table.cpp
[[nodiscard]] inline slot_table* sizing_marker() noexcept {
  return reinterpret_cast<slot_table*>(&sizing_marker_byte);
}

struct slot_table final : ebr::retirable {
  static constexpr std::size_t block_size = 256;  // slots copied per migration claim
  static constexpr std::size_t min_capacity = 8;

  std::size_t capacity;  // any size >= min_capacity: keys map to slots by multiply-shift
  std::size_t blocks;
  std::atomic<slot_table*> next{nullptr};  // the table this one migrates into
  std::atomic<std::size_t> refs{1};
  std::atomic<std::size_t> cursor{0};       // next block to claim, while migrating out
  std::atomic<std::size_t> blocks_done{0};  // blocks fully copied out
  // Dead keys (tombstone heads) a migration copied in rather than dropped:
  // they still hold versions a snapshot reads. A cleanup cannot drop them,
  // so the growth policy does not count on it.
  std::atomic<std::size_t> dead_copied{0};
  std::atomic<std::uint8_t>* block_done;    // per block: copied out (counted once)
  // capacity slots of slot_bytes each, of the slot kind the table was
  // created for (slot_kind.hpp); reached through that kind's at().
  void* slot_array = nullptr;
  std::size_t slot_bytes = 0;
  // A random odd multiplier of this table's own: the order of a listing
  // (slot order) of one table says nothing about where keys land in the
  // next one, so keys taken from a listing cannot be fed back to flood a
  // table after a migration (issue 20).
  std::uint64_t salt = 1;

  // The home slot of a hash: the high bits of hash x salt scaled to the
  // capacity (Lemire's multiply-shift), so any capacity works and tables
  // need not double past what the keys need. The tag comes from the hash's
  // low bits (slot_tag_of_hash).
  [[nodiscard]] std::size_t home(std::uint64_t hash) const noexcept { return home_of(hash, salt, capacity); }
  static std::size_t home_of(std::uint64_t hash, std::uint64_t salt, std::size_t capacity) noexcept {
    __extension__ using wide = unsigned __int128;
    return static_cast<std::size_t>((static_cast<wide>(hash * salt) * capacity) >> 64);
  }
  [[nodiscard]] std::size_t after(std::size_t i) const noexcept { return i + 1 == capacity ? 0 : i + 1; }
  // How far slot i is from `home` along the probe path.
  [[nodiscard]] std::size_t distance(std::size_t home_slot, std::size_t i) const noexcept {
    return i >= home_slot ? i - home_slot : i + capacity - home_slot;
  }

  // A table of `capacity` (>= min_capacity) empty slots of kind Slots
  // (slot_kind.hpp), with one reference. May throw std::bad_alloc.
  template <class Slots>
  static slot_table* create(std::size_t capacity);

  // Drops one reference; the last one frees the table and drops its
  // reference on the next table, and so on down the chain.
  static void release(slot_table* table) noexcept;
  // The reclaim function that drops the map's reference on a retired table.
  static void release_retired(ebr::retirable* table) noexcept { release(static_cast<slot_table*>(table)); }

  [[nodiscard]] std::size_t bytes() const noexcept;

  // The table this one migrates into, or null: none started, or a shrink
  // still sizing it (sizing_marker()). `order` is the load's.
  [[nodiscard]] slot_table* successor(std::memory_order order) const noexcept {
    slot_table* const to = next.load(order);
    return to == sizing_marker() ? nullptr : to;
  }

 private:
  slot_table() = default;
  static void destroy(slot_table* table) noexcept;
};

template <class Slots>
slot_table* slot_table::create(std::size_t capacity) {
  const std::size_t blocks = (capacity + block_size - 1) / block_size;
  const std::size_t array_bytes = capacity * Slots::slot_bytes;
  void* array = ::operator new(array_bytes, std::align_val_t{slot_array_alignment(array_bytes)});
  void* header = nullptr;
  try {
    header = ::operator new(sizeof(slot_table) + blocks);
  } catch (...) {
    ::operator delete(array, std::align_val_t{slot_array_alignment(array_bytes)});
    throw;
  }
  advise_huge_pages(array, array_bytes);
  auto* table = ::new (header) slot_table();
  table->capacity = capacity;
  table->blocks = blocks;
  table->salt = make_hash_seed() | 1;
  Slots::construct(array, capacity);
  table->slot_array = array;
  table->slot_bytes = Slots::slot_bytes;
  table->block_done = ::new (static_cast<unsigned char*>(header) + sizeof(slot_table)) std::atomic<std::uint8_t>[blocks];
  for (std::size_t b = 0; b < blocks; ++b) table->block_done[b].store(0, std::memory_order_relaxed);  // before publication
  return table;
}

inline std::size_t slot_table::bytes() const noexcept {
  return sizeof(slot_table) + blocks + capacity * slot_bytes;
}

inline void slot_table::destroy(slot_table* table) noexcept {
  const std::size_t array_bytes = table->capacity * table->slot_bytes;
  void* array = table->slot_array;
  table->~slot_table();
  ::operator delete(array, std::align_val_t{slot_array_alignment(array_bytes)});
  ::operator delete(static_cast<void*>(table));
}

inline void slot_table::release(slot_table* table) noexcept {
  // acq_rel: the last holder sees every other holder's use before it frees
  // (the shared_ptr pattern); the successor link was set by the seq_cst CAS
  // of migration::start, which the acquire half orders before this load.
  while (table != nullptr && table->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {  // see above
    slot_table* next = table->successor(std::memory_order_acquire);  // pairs with migration's CAS into next (seq_cst)
    destroy(table);
    table = next;  // our link's reference on the successor
  }
}

}  // namespace snapcache::detail
