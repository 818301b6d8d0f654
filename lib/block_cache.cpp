#include "snapcache/detail/block_cache.hpp"

#include <mutex>

namespace snapcache::detail {

thread_local constinit block_free_list tl_block_cache[block_classes]{};
thread_local constinit bool tl_block_cache_active = false;

namespace {
thread_local constinit bool tl_block_cache_exited = false;

void free_cached_blocks() noexcept {
  for (std::size_t c = 0; c < block_classes; ++c) {
    block_free_list& list = tl_block_cache[c];
    while (void* block = list.head) {
      SNAPCACHE_UNPOISON(static_cast<char*>(block) + sizeof(void*), (c + 1) * block_granule - sizeof(void*));
      list.head = *static_cast<void**>(block);
      ::operator delete(block);
    }
    list.count.store(0, std::memory_order_relaxed);  // owner only; read by cached_block_bytes()
  }
}

// The threads whose caches are active, for cached_block_bytes(): each links
// its owner object here when it activates its cache and unlinks it at exit,
// before its thread-local counts die.
std::mutex owners_mutex;
struct block_cache_owner;
block_cache_owner* owners = nullptr;

// Frees the calling thread's cached blocks at thread exit.
struct block_cache_owner {
  bool registered = false;
  block_free_list* lists = nullptr;
  block_cache_owner* prev = nullptr;
  block_cache_owner* next = nullptr;

  void link() noexcept {
    const std::lock_guard<std::mutex> lock(owners_mutex);
    lists = tl_block_cache;
    next = owners;
    if (owners != nullptr) owners->prev = this;
    owners = this;
    registered = true;
  }
  ~block_cache_owner() {
    if (registered) {
      const std::lock_guard<std::mutex> lock(owners_mutex);
      (prev != nullptr ? prev->next : owners) = next;
      if (next != nullptr) next->prev = prev;
    }
    tl_block_cache_active = false;
    tl_block_cache_exited = true;
    free_cached_blocks();
  }
};
thread_local block_cache_owner tl_block_cache_owner;
}  // namespace

void activate_block_cache() noexcept {
  if (tl_block_cache_exited) return;  // a late thread_local destructor: stay inactive
  if (!tl_block_cache_owner.registered) tl_block_cache_owner.link();
  tl_block_cache_active = true;
}

void release_block_cache() noexcept { free_cached_blocks(); }

std::size_t cached_block_bytes() noexcept {
  std::size_t bytes = 0;
  const std::lock_guard<std::mutex> lock(owners_mutex);
  for (const block_cache_owner* owner = owners; owner != nullptr; owner = owner->next) {
    for (std::size_t c = 0; c < block_classes; ++c) {
      bytes += owner->lists[c].count.load(std::memory_order_relaxed) * (c + 1) * block_granule;  // a statistic
    }
  }
  return bytes;
}

}  // namespace snapcache::detail
