// Small blocks by size class: a per-thread cache of free blocks over
// 64 KiB slabs.
//
// Every write of hash_map allocates a version and, after a grace period,
// frees the one it replaced. Freed blocks go to the freeing thread's cache
// (epoch reclamation runs on the thread that retired them, so a writer gets
// back what it freed), and allocation takes from there first: a pop. Behind
// the caches, lib/block_cache.cpp carves each class's blocks out of 64 KiB
// slabs, in exact sizes (a 32-byte version takes 32 bytes, where glibc's
// chunk takes 48, and never straddles a cache line): a cache that runs dry
// takes a batch from its class's slabs, and one that overflows gives half
// back, under the class's mutex, so that lock is taken once per batch. A
// slab whose blocks are all free goes back to operator delete unless it is
// its class's one spare. The ASan build of the library has no slabs (each
// block is its own operator new, so LeakSanitizer sees a leaked version);
// the caches and their poisoning are the same in every build.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

#include "snapcache/detail/annotations.hpp"  // SNAPCACHE_POISON: cached blocks are off limits under ASan

namespace snapcache::detail {

struct block_free_list {
  void* head = nullptr;
  // Written by the owning thread only; other threads read it for
  // cached_block_bytes() (relaxed: a statistic; a plain mov either way).
  std::atomic<std::uint32_t> count{0};
};

// One class per exact size: a block serves only requests of the size it was
// allocated with (rounding 24 bytes up to 32 would cost glibc a 48-byte chunk
// instead of a 32-byte one).
inline constexpr std::size_t block_granule = 8;
inline constexpr std::size_t block_classes = 128;  // 8, 16, .. 1024 bytes
// Blocks a thread keeps per class: 256 KiB worth, between 512 and 4096
// blocks. Reclamation frees in batches (ebr::config::batch retired objects,
// each of which may be a bag of tens of blocks, as the query cache's are),
// and a cache that overflows gives half of itself back to the slabs.
[[nodiscard]] constexpr std::uint32_t block_cache_limit_of(std::size_t size) noexcept {
  return static_cast<std::uint32_t>(size >= 512 ? 512 : (size <= 64 ? 4096 : (std::size_t{256} << 10) / size));
}
template <std::size_t Size>
inline constexpr std::uint32_t block_cache_limit = block_cache_limit_of(Size);

// Trivially destructible, so access is a plain TLS load; the thread-exit
// cleanup lives in lib/block_cache.cpp and is registered on first use.
extern thread_local constinit block_free_list tl_block_cache[block_classes];
extern thread_local constinit bool tl_block_cache_active;  // cleanup registered, thread not exiting
void activate_block_cache() noexcept;                      // registers the cleanup (once per thread)
// The slow paths, out of line so that the library alone decides where
// blocks come from (a consumer compiled with other flags shares the same
// blocks): a block of class c (`size` bytes) for a thread whose cache is
// empty, refilling the cache with a batch; may throw std::bad_alloc. And
// `block` plus half of class c's full cache given back to the slabs.
[[nodiscard]] void* refill_block_cache(std::size_t c, std::size_t size);
void spill_block_cache(std::size_t c, std::size_t size, void* block) noexcept;
// Gives every block the calling thread holds back (to the slabs, or to
// operator delete in the ASan build).
void release_block_cache() noexcept;
// For failure-injection tests: while on, each block the calling thread's
// cache cannot serve first allocates and frees `size` bytes with operator
// new (so the n-th allocation of an operation fails as it would without
// slabs) and takes one block, not a batch.
void probe_block_allocations(bool on) noexcept;
// Bytes held in every live thread's cache now, all classes (map_stats).
// Takes a lock and reads each thread's 128 counts: a statistic, not a fast path.
[[nodiscard]] std::size_t cached_block_bytes() noexcept;
// Bytes of slabs allocated now, all classes: blocks in use, in thread caches
// and free in the slabs (0 in the ASan build). Takes each class's lock.
[[nodiscard]] std::size_t slab_bytes() noexcept;

// The class of a block of exactly `size` bytes; block_classes (no class) for
// sizes the cache does not hold.
[[nodiscard]] constexpr std::size_t block_class_of(std::size_t size) noexcept {
  if (size == 0 || size % block_granule != 0) return block_classes;
  const std::size_t c = size / block_granule - 1;
  return c < block_classes ? c : block_classes;
}

// `Size` bytes, aligned for any object of that size (to the largest power
// of two dividing Size, up to 64; operator new's alignment for sizes the
// cache does not hold). May throw std::bad_alloc.
template <std::size_t Size>
[[nodiscard]] inline void* allocate_block() {
  if constexpr (block_class_of(Size) < block_classes) {
    block_free_list& list = tl_block_cache[block_class_of(Size)];
    if (void* block = list.head) {
      SNAPCACHE_UNPOISON(static_cast<char*>(block) + sizeof(void*), Size - sizeof(void*));
      list.head = *static_cast<void**>(block);
      list.count.store(list.count.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);  // owner only; read by cached_block_bytes()
      return block;
    }
    return refill_block_cache(block_class_of(Size), Size);
  } else {
    return ::operator new(Size);
  }
}

template <std::size_t Size>
inline void free_block(void* block) noexcept {
  if constexpr (block_class_of(Size) < block_classes) {
    block_free_list& list = tl_block_cache[block_class_of(Size)];
    if (list.count.load(std::memory_order_relaxed) < block_cache_limit<Size> &&  // the owner's own count
        (tl_block_cache_active || (activate_block_cache(), tl_block_cache_active))) {
      *static_cast<void**>(block) = list.head;
      // Everything but the link: LeakSanitizer skips poisoned words, and
      // must still follow the list to see the blocks as reachable.
      SNAPCACHE_POISON(static_cast<char*>(block) + sizeof(void*), Size - sizeof(void*));
      list.head = block;
      list.count.store(list.count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // owner only; read by cached_block_bytes()
      return;
    }
    // Full, or the thread is exiting (nothing may stay in its cache).
    spill_block_cache(block_class_of(Size), Size, block);
  } else {
    ::operator delete(block);
  }
}

}  // namespace snapcache::detail
