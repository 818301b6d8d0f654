// A replaced global operator new/delete family that counts live heap bytes
// while counting is on, for map_bench's bytes per entry (see
// harness/heap_counter.hpp, which this file fills in before main).
//
// Linked into map_bench only, never into the harness library: a replaced
// operator new applies to the whole program that links it.
//
// Every form allocates with malloc (aligned_alloc for the align_val_t forms)
// and frees with free, counting or not, so the allocator is glibc's in both
// cases. While counting, two live totals move:
//   requested: + the size asked at new, - the size handed to a sized delete;
//   allocator: +/- malloc_usable_size of the block.
// Off, the only extra cost is one relaxed load per call.
#include <malloc.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <new>

#include "harness/heap_counter.hpp"

namespace {

std::atomic<bool> counting{false};
std::atomic<std::int64_t> requested{0};
std::atomic<std::int64_t> allocated{0};
std::atomic<std::uint64_t> unsized{0};

std::int64_t usable(void* p) noexcept { return static_cast<std::int64_t>(malloc_usable_size(p)); }

void note_new(void* p, std::size_t size) noexcept {
  if (!counting.load(std::memory_order_relaxed)) return;  // flag only: set by the counting thread itself
  requested.fetch_add(static_cast<std::int64_t>(size), std::memory_order_relaxed);  // statistic only
  allocated.fetch_add(usable(p), std::memory_order_relaxed);                        // statistic only
}

// An unsized delete does not know what was asked, so it subtracts the usable
// size: slightly more than was added at new (glibc rounds a request up by up
// to 15 bytes, more for tiny ones), so `requested` reads a little low by that
// much per unsized delete; unsized_deletes says how many there were.
void note_delete(void* p, std::size_t size, bool sized) noexcept {
  if (!counting.load(std::memory_order_relaxed)) return;  // flag only
  const std::int64_t block = usable(p);
  if (sized) {
    requested.fetch_sub(static_cast<std::int64_t>(size), std::memory_order_relaxed);  // statistic only
  } else {
    requested.fetch_sub(block, std::memory_order_relaxed);  // statistic only
    unsized.fetch_add(1, std::memory_order_relaxed);        // statistic only
  }
  allocated.fetch_sub(block, std::memory_order_relaxed);  // statistic only
}

// align == 0: malloc's own alignment.
void* try_allocate(std::size_t size, std::size_t align) noexcept {
  const std::size_t n = size == 0 ? 1 : size;
  if (align == 0) return std::malloc(n);
  if (n > std::numeric_limits<std::size_t>::max() - align) return nullptr;
  // A multiple of align, as C11 asks; libstdc++'s own aligned new rounds the
  // same way, so the allocator figure is what the default would cost.
  return std::aligned_alloc(align, (n + align - 1) / align * align);
}

// The standard loop: on failure call the new handler, or throw without one.
void* allocate(std::size_t size, std::size_t align) {
  for (;;) {
    if (void* p = try_allocate(size, align)) {
      note_new(p, size);
      return p;
    }
    const std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

void* allocate_nothrow(std::size_t size, std::size_t align) noexcept {
  try {
    return allocate(size, align);
  } catch (...) {  // a new handler may throw
    return nullptr;
  }
}

void release(void* p, std::size_t size, bool sized) noexcept {
  if (p == nullptr) return;
  note_delete(p, size, sized);
  std::free(p);
}

std::size_t alignment(std::align_val_t al) noexcept { return static_cast<std::size_t>(al); }

void start() noexcept {
  requested.store(0, std::memory_order_relaxed);  // statistic only
  allocated.store(0, std::memory_order_relaxed);  // statistic only
  unsized.store(0, std::memory_order_relaxed);    // statistic only
  counting.store(true, std::memory_order_relaxed);  // flag only: read by this same thread's allocations
}
void stop() noexcept { counting.store(false, std::memory_order_relaxed); }  // flag only
std::int64_t requested_bytes() noexcept { return requested.load(std::memory_order_relaxed); }  // statistic only
std::int64_t allocator_bytes() noexcept { return allocated.load(std::memory_order_relaxed); }  // statistic only
std::uint64_t unsized_deletes() noexcept { return unsized.load(std::memory_order_relaxed); }   // statistic only

struct installer {
  installer() noexcept {
    snapcache::bench::installed_heap_counter = {&start, &stop, &requested_bytes, &allocator_bytes, &unsized_deletes};
  }
};
[[maybe_unused]] const installer install;

}  // namespace

void* operator new(std::size_t size) { return allocate(size, 0); }
void* operator new[](std::size_t size) { return allocate(size, 0); }
void* operator new(std::size_t size, std::align_val_t al) { return allocate(size, alignment(al)); }
void* operator new[](std::size_t size, std::align_val_t al) { return allocate(size, alignment(al)); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return allocate_nothrow(size, 0); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return allocate_nothrow(size, 0); }
void* operator new(std::size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
  return allocate_nothrow(size, alignment(al));
}
void* operator new[](std::size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
  return allocate_nothrow(size, alignment(al));
}

void operator delete(void* p) noexcept { release(p, 0, false); }
void operator delete[](void* p) noexcept { release(p, 0, false); }
void operator delete(void* p, std::size_t size) noexcept { release(p, size, true); }
void operator delete[](void* p, std::size_t size) noexcept { release(p, size, true); }
void operator delete(void* p, std::align_val_t) noexcept { release(p, 0, false); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p, 0, false); }
void operator delete(void* p, std::size_t size, std::align_val_t) noexcept { release(p, size, true); }
void operator delete[](void* p, std::size_t size, std::align_val_t) noexcept { release(p, size, true); }
void operator delete(void* p, const std::nothrow_t&) noexcept { release(p, 0, false); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p, 0, false); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p, 0, false); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p, 0, false); }
