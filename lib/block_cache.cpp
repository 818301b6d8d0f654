#include "snapcache/detail/block_cache.hpp"

#include <pthread.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace snapcache::detail {

thread_local constinit block_free_list tl_block_cache[block_classes]{};
thread_local constinit bool tl_block_cache_active = false;

namespace {
thread_local constinit bool tl_block_cache_exited = false;
thread_local constinit bool tl_probe_allocations = false;

[[nodiscard]] constexpr std::size_t size_of_class(std::size_t c) noexcept { return (c + 1) * block_granule; }

// Blocks a cache takes from the slabs at once: 8 KiB worth, 4 to 64 blocks.
// Enough that the class lock is taken once per many allocations, few enough
// that a thread that allocates a little does not hold much.
[[nodiscard]] constexpr std::uint32_t refill_batch(std::size_t size) noexcept {
  return static_cast<std::uint32_t>(std::clamp<std::size_t>((std::size_t{8} << 10) / size, 4, 64));
}

#if SNAPCACHE_ASAN

// No slabs: each block is its own operator new, aligned as a slab's block
// would be (to the largest power of two dividing its size, up to 64).
[[nodiscard]] constexpr std::size_t block_alignment(std::size_t size) noexcept {
  return std::min<std::size_t>(size & (~size + 1), 64);
}
[[nodiscard]] void* new_block(std::size_t size) {
  if (block_alignment(size) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__) return ::operator new(size);
  return ::operator new(size, std::align_val_t{block_alignment(size)});
}
void delete_block(void* block, std::size_t size) noexcept {
  if (block_alignment(size) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__) return ::operator delete(block);
  ::operator delete(block, std::align_val_t{block_alignment(size)});
}

#else

// A slab: 64 KiB aligned to its size, so a block finds its slab by masking
// its address. The header takes the first 64 bytes (a multiple of them for
// blocks over 64 bytes); the blocks follow back to back, so a block is
// aligned to the largest power of two dividing its size (up to 64). Every
// field is guarded by its class's mutex.
inline constexpr std::size_t slab_size = std::size_t{64} << 10;

struct slab {
  void* free_head = nullptr;  // the free blocks, linked through their first word
  std::uint32_t free_count = 0;
  std::uint32_t capacity = 0;
  slab* prev = nullptr;  // in its class's list of slabs with a free block
  slab* next = nullptr;
};
static_assert(sizeof(slab) <= 64);

[[nodiscard]] slab* slab_of(void* block) noexcept {
  return reinterpret_cast<slab*>(reinterpret_cast<std::uintptr_t>(block) & ~(slab_size - 1));
}

// A class's slabs. Slabs with no free block are linked nowhere: their
// blocks are in use or in thread caches, and come back one by one.
struct slab_class {
  std::mutex mutex;
  slab* with_free = nullptr;       // slabs with a free block, most recently freed into first
  std::size_t empty_slabs = 0;     // of those, how many are wholly free (at most one stays)
  std::size_t slabs = 0;           // allocated
};
constinit slab_class slab_classes[block_classes];

void link_front(slab_class& sc, slab* s) noexcept {
  s->prev = nullptr;
  s->next = sc.with_free;
  if (sc.with_free != nullptr) sc.with_free->prev = s;
  sc.with_free = s;
}

void unlink(slab_class& sc, slab* s) noexcept {
  (s->prev != nullptr ? s->prev->next : sc.with_free) = s->next;
  if (s->next != nullptr) s->next->prev = s->prev;
  s->prev = s->next = nullptr;
}

// A new slab of `size`-byte blocks, all free, linked first. May throw
// std::bad_alloc (and then nothing changed).
void grow(slab_class& sc, std::size_t size) {
  void* memory = ::operator new(slab_size, std::align_val_t{slab_size});
  slab* s = ::new (memory) slab;
  const std::size_t first = (sizeof(slab) + size - 1) / size * size;  // a whole number of blocks: 64 for sizes up to 64
  char* const base = static_cast<char*>(memory);
  s->capacity = static_cast<std::uint32_t>((slab_size - first) / size);
  // Linked in address order, so a fresh slab hands out consecutive blocks.
  void** link = &s->free_head;
  for (std::size_t at = first; at + size <= slab_size; at += size) {
    *link = base + at;
    link = static_cast<void**>(static_cast<void*>(base + at));
  }
  *link = nullptr;
  s->free_count = s->capacity;
  link_front(sc, s);
  ++sc.slabs;
  ++sc.empty_slabs;
}

// Takes one free block from sc's slabs (there is one).
[[nodiscard]] void* take(slab_class& sc) noexcept {
  slab* s = sc.with_free;
  void* block = s->free_head;
  s->free_head = *static_cast<void**>(block);
  if (s->free_count-- == s->capacity) --sc.empty_slabs;
  if (s->free_count == 0) unlink(sc, s);
  return block;
}

// Gives `block` back to its slab. A slab that becomes wholly free is
// released unless it is its class's one empty slab (the spare that keeps a
// thread allocating and freeing around a slab boundary from paying an
// operator new each time).
void give(slab_class& sc, void* block) noexcept {
  slab* s = slab_of(block);
  if (s->free_count == s->capacity) {
    // Every block of this slab is free already: `block` was freed twice (or
    // is not a block). Going on would hand it out twice; stop loudly.
    std::fprintf(stderr, "snapcache: a %zu-byte block at %p was freed twice\n",
                 size_of_class(static_cast<std::size_t>(&sc - slab_classes)), block);
    std::abort();
  }
  *static_cast<void**>(block) = s->free_head;
  s->free_head = block;
  if (s->free_count++ == 0) link_front(sc, s);
  if (s->free_count != s->capacity) return;
  if (sc.empty_slabs == 0) {
    ++sc.empty_slabs;
    return;
  }
  unlink(sc, s);
  --sc.slabs;
  s->~slab();
  ::operator delete(static_cast<void*>(s), std::align_val_t{slab_size});
}

#endif  // !SNAPCACHE_ASAN

// Gives every block of list (class c) back: list.count of them, so that a
// list a double free made circular cannot keep this loop (and the class
// lock) forever; give() then reports the double free.
void give_back(std::size_t c, block_free_list& list) noexcept {
  void* block = list.head;
  std::uint32_t left = list.count.load(std::memory_order_relaxed);  // the owner's own count
  if (block == nullptr) return;
  const std::size_t size = size_of_class(c);
#if !SNAPCACHE_ASAN
  slab_class& sc = slab_classes[c];
  const std::lock_guard<std::mutex> lock(sc.mutex);
#endif
  for (; block != nullptr && left > 0; --left) {
    SNAPCACHE_UNPOISON(static_cast<char*>(block) + sizeof(void*), size - sizeof(void*));
    void* next = *static_cast<void**>(block);
#if SNAPCACHE_ASAN
    delete_block(block, size);
#else
    give(sc, block);
#endif
    block = next;
  }
  list.head = nullptr;
  list.count.store(0, std::memory_order_relaxed);  // owner only; read by cached_block_bytes()
}

void free_cached_blocks() noexcept {
  for (std::size_t c = 0; c < block_classes; ++c) give_back(c, tl_block_cache[c]);
}

// The threads whose caches are active, for cached_block_bytes(): each links
// its owner object here when it activates its cache and unlinks it at exit,
// before its thread-local counts die.
std::mutex owners_mutex;
struct block_cache_owner;
block_cache_owner* owners = nullptr;

// Gives the calling thread's cached blocks back at thread exit.
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

// fork(): another thread may hold a class's mutex at the fork, and the child
// would wait for it forever. As malloc does, the handlers hold every lock
// across fork(), so the child's copy of each structure is whole and its
// locks free. In the child, only the forking thread's cache has an owner;
// the other threads' caches are gone with them (their blocks stay allocated
// in their slabs: bounded, and the parent's memory anyway).
void lock_all_for_fork() noexcept {
  owners_mutex.lock();
#if !SNAPCACHE_ASAN
  for (slab_class& sc : slab_classes) sc.mutex.lock();
#endif
}
void unlock_all_after_fork() noexcept {
#if !SNAPCACHE_ASAN
  for (slab_class& sc : slab_classes) sc.mutex.unlock();
#endif
  owners_mutex.unlock();
}
void after_fork_in_child() noexcept {
  owners = nullptr;
  if (tl_block_cache_owner.registered) {
    tl_block_cache_owner.prev = tl_block_cache_owner.next = nullptr;
    owners = &tl_block_cache_owner;
  }
  unlock_all_after_fork();
}

void activate_block_cache() noexcept {
  if (tl_block_cache_exited) return;  // a late thread_local destructor: stay inactive
  if (!tl_block_cache_owner.registered) {
    static const int registered = pthread_atfork(lock_all_for_fork, unlock_all_after_fork, after_fork_in_child);
    (void)registered;  // 0, or ENOMEM: then a fork may inherit a held lock, as without the handlers
    tl_block_cache_owner.link();
  }
  tl_block_cache_active = true;
}

void* refill_block_cache(std::size_t c, std::size_t size) {
#if !SNAPCACHE_ASAN  // there, the block's own operator new is the failure point
  if (tl_probe_allocations) ::operator delete(::operator new(size));  // may throw: the injected failure
#endif
  if (!tl_block_cache_active) activate_block_cache();
  // One block only when probing, or when the thread is exiting (its cache
  // could never give a batch back).
  const std::uint32_t batch = tl_probe_allocations || !tl_block_cache_active ? 1 : refill_batch(size);
#if SNAPCACHE_ASAN
  (void)c;
  (void)batch;
  return new_block(size);
#else
  slab_class& sc = slab_classes[c];
  block_free_list& list = tl_block_cache[c];
  const std::lock_guard<std::mutex> lock(sc.mutex);
  if (sc.with_free == nullptr) grow(sc, size);  // may throw: nothing taken yet
  void* const block = take(sc);
  std::uint32_t cached = 0;
  for (; cached + 1 < batch && sc.with_free != nullptr; ++cached) {
    void* more = take(sc);
    *static_cast<void**>(more) = list.head;
    SNAPCACHE_POISON(static_cast<char*>(more) + sizeof(void*), size - sizeof(void*));
    list.head = more;
  }
  const std::uint32_t count = list.count.load(std::memory_order_relaxed);  // the owner's own count
  list.count.store(count + cached, std::memory_order_relaxed);  // owner only; read by cached_block_bytes()
  return block;
#endif
}

void spill_block_cache(std::size_t c, std::size_t size, void* block) noexcept {
  block_free_list& list = tl_block_cache[c];
  // Keep the newest half (the blocks most likely still in cache lines); the
  // older half goes back with `block`.
  const std::uint32_t count = list.count.load(std::memory_order_relaxed);  // the owner's own count
  const std::uint32_t keep = std::min(tl_block_cache_active ? block_cache_limit_of(size) / 2 : 0, count);
  // Cut the list after `keep` blocks: the link that names the first spilled one.
  void** cut = &list.head;
  for (std::uint32_t i = 0; i < keep; ++i) cut = static_cast<void**>(*cut);
  block_free_list spilled;
  *static_cast<void**>(block) = *cut;
  spilled.head = block;
  spilled.count.store(count - keep + 1, std::memory_order_relaxed);  // a local list
  *cut = nullptr;
  list.count.store(keep, std::memory_order_relaxed);  // owner only; read by cached_block_bytes()
  give_back(c, spilled);
}

void release_block_cache() noexcept { free_cached_blocks(); }

void probe_block_allocations(bool on) noexcept { tl_probe_allocations = on; }

std::size_t cached_block_bytes() noexcept {
  std::size_t bytes = 0;
  const std::lock_guard<std::mutex> lock(owners_mutex);
  for (const block_cache_owner* owner = owners; owner != nullptr; owner = owner->next) {
    for (std::size_t c = 0; c < block_classes; ++c) {
      bytes += owner->lists[c].count.load(std::memory_order_relaxed) * size_of_class(c);  // a statistic
    }
  }
  return bytes;
}

std::size_t slab_bytes() noexcept {
  std::size_t bytes = 0;
#if !SNAPCACHE_ASAN
  for (slab_class& sc : slab_classes) {
    const std::lock_guard<std::mutex> lock(sc.mutex);
    bytes += sc.slabs * slab_size;
  }
#endif
  return bytes;
}

}  // namespace snapcache::detail
