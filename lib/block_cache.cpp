#include "snapcache/detail/block_cache.hpp"

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
    list.count = 0;
  }
}

// Frees the calling thread's cached blocks at thread exit.
struct block_cache_owner {
  bool registered = false;
  ~block_cache_owner() {
    tl_block_cache_active = false;
    tl_block_cache_exited = true;
    free_cached_blocks();
  }
};
thread_local block_cache_owner tl_block_cache_owner;
}  // namespace

void activate_block_cache() noexcept {
  if (tl_block_cache_exited) return;  // a late thread_local destructor: stay inactive
  tl_block_cache_owner.registered = true;
  tl_block_cache_active = true;
}

void release_block_cache() noexcept { free_cached_blocks(); }

}  // namespace snapcache::detail
