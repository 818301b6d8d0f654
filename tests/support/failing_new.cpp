#include "failing_new.hpp"

#include "snapcache/detail/block_cache.hpp"

#include <cstdlib>

namespace {

// Per thread, so the threads of the test framework are never affected.
thread_local constinit long allocations_until_failure = -1;
thread_local constinit std::size_t allocation_count = 0;
thread_local constinit std::size_t allocated_bytes = 0;

void* allocate(std::size_t size, std::size_t alignment) {
  ++allocation_count;
  allocated_bytes += size;
  if (allocations_until_failure >= 0 && allocations_until_failure-- == 0) throw std::bad_alloc();
  if (size == 0) size = 1;
  void* memory = alignment <= alignof(std::max_align_t)
                     ? std::malloc(size)
                     : std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
  if (memory == nullptr) throw std::bad_alloc();
  return memory;
}

void* allocate_nothrow(std::size_t size, std::size_t alignment) noexcept {
  try {
    return allocate(size, alignment);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

}  // namespace

namespace snapcache::test {

// Armed, the block caches probe operator new for each block they cannot
// serve (rather than taking a batch from a slab), so an operation's block
// allocations are failure points as they would be without slabs.
void fail_nth_allocation(std::size_t n) noexcept {
  snapcache::detail::probe_block_allocations(true);
  allocations_until_failure = static_cast<long>(n);
}
void disarm_allocation_failure() noexcept {
  allocations_until_failure = -1;
  snapcache::detail::probe_block_allocations(false);
}
std::size_t allocations_by_this_thread() noexcept { return allocation_count; }
std::size_t bytes_requested_by_this_thread() noexcept { return allocated_bytes; }

std::size_t sweep_allocation_failures(const std::function<void()>& operation,
                                      const std::function<void(std::size_t)>& check) {
  for (std::size_t n = 0;; ++n) {
    snapcache::detail::release_block_cache();  // every allocation reaches operator new
    fail_nth_allocation(n);
    try {
      operation();
      disarm_allocation_failure();
      return n;
    } catch (const std::bad_alloc&) {
      disarm_allocation_failure();
      check(n);
    }
  }
}

}  // namespace snapcache::test

constexpr std::size_t plain = alignof(std::max_align_t);

void* operator new(std::size_t size) { return allocate(size, plain); }
void* operator new[](std::size_t size) { return allocate(size, plain); }
void* operator new(std::size_t size, std::align_val_t al) { return allocate(size, static_cast<std::size_t>(al)); }
void* operator new[](std::size_t size, std::align_val_t al) { return allocate(size, static_cast<std::size_t>(al)); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return allocate_nothrow(size, plain); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return allocate_nothrow(size, plain); }
void* operator new(std::size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
  return allocate_nothrow(size, static_cast<std::size_t>(al));
}
void* operator new[](std::size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
  return allocate_nothrow(size, static_cast<std::size_t>(al));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
