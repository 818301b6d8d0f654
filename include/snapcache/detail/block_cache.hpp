// A per-thread cache of freed small blocks, by size class.
//
// Every write of hash_map allocates a version and, after a grace period,
// frees the one it replaced: a malloc and a free per write. Freed blocks go
// to the freeing thread's cache instead (epoch reclamation runs on the thread
// that retired them, so a writer gets back what it freed), and allocation
// takes from there first. Bounded per class and thread; the rest goes back
// to operator delete, and so does everything a thread holds when it exits.
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
// and a batch that overflows the class goes back to malloc.
template <std::size_t Size>
inline constexpr std::uint32_t block_cache_limit =
    static_cast<std::uint32_t>(Size >= 512 ? 512 : (Size <= 64 ? 4096 : (std::size_t{256} << 10) / Size));

// Trivially destructible, so access is a plain TLS load; the thread-exit
// cleanup lives in lib/block_cache.cpp and is registered on first use.
extern thread_local constinit block_free_list tl_block_cache[block_classes];
extern thread_local constinit bool tl_block_cache_active;  // cleanup registered, thread not exiting
void activate_block_cache() noexcept;                      // registers the cleanup (once per thread)
// Frees every block the calling thread holds (tests that make operator new
// fail use it, so that allocations reach operator new).
void release_block_cache() noexcept;
// Bytes held in every live thread's cache now, all classes (map_stats).
// Takes a lock and reads each thread's 128 counts: a statistic, not a fast path.
[[nodiscard]] std::size_t cached_block_bytes() noexcept;

// The class of a block of exactly `size` bytes; block_classes (no class) for
// sizes the cache does not hold.
[[nodiscard]] constexpr std::size_t block_class_of(std::size_t size) noexcept {
  if (size == 0 || size % block_granule != 0) return block_classes;
  const std::size_t c = size / block_granule - 1;
  return c < block_classes ? c : block_classes;
}

// `Size` bytes, aligned as operator new aligns. May throw std::bad_alloc.
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
  }
  return ::operator new(Size);
}

template <std::size_t Size>
inline void free_block(void* block) noexcept {
  if constexpr (block_class_of(Size) < block_classes) {
    block_free_list& list = tl_block_cache[block_class_of(Size)];
    if (list.count.load(std::memory_order_relaxed) < block_cache_limit<Size>) {  // the owner's own count
      if (!tl_block_cache_active) {
        activate_block_cache();
        if (!tl_block_cache_active) {  // the thread is exiting: nothing may stay here
          ::operator delete(block);
          return;
        }
      }
      *static_cast<void**>(block) = list.head;
      // Everything but the link: LeakSanitizer skips poisoned words, and
      // must still follow the list to see the blocks as reachable.
      SNAPCACHE_POISON(static_cast<char*>(block) + sizeof(void*), Size - sizeof(void*));
      list.head = block;
      list.count.store(list.count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // owner only; read by cached_block_bytes()
      return;
    }
  }
  ::operator delete(block);
}

}  // namespace snapcache::detail
