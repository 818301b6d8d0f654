// The one annotations header: compiler attributes for static thread-safety
// analysis (clang -Wthread-safety) and sanitizer detection. Nothing else in
// snapcache talks to a sanitizer or an analyser directly.
#pragma once

#if defined(__clang__)
#define SNAPCACHE_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define SNAPCACHE_THREAD_ANNOTATION(x)
#endif

#define SNAPCACHE_CAPABILITY(name) SNAPCACHE_THREAD_ANNOTATION(capability(name))
#define SNAPCACHE_GUARDED_BY(m) SNAPCACHE_THREAD_ANNOTATION(guarded_by(m))
#define SNAPCACHE_REQUIRES(...) SNAPCACHE_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define SNAPCACHE_REQUIRES_SHARED(...) SNAPCACHE_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define SNAPCACHE_ACQUIRE(...) SNAPCACHE_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define SNAPCACHE_ACQUIRE_SHARED(...) SNAPCACHE_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define SNAPCACHE_RELEASE(...) SNAPCACHE_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define SNAPCACHE_RELEASE_SHARED(...) SNAPCACHE_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define SNAPCACHE_SCOPED_CAPABILITY SNAPCACHE_THREAD_ANNOTATION(scoped_lockable)
#define SNAPCACHE_NO_THREAD_SAFETY_ANALYSIS SNAPCACHE_THREAD_ANNOTATION(no_thread_safety_analysis)

// Whether this translation unit is built with ThreadSanitizer.
#if defined(__SANITIZE_THREAD__)
#define SNAPCACHE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SNAPCACHE_TSAN 1
#endif
#endif
#ifndef SNAPCACHE_TSAN
#define SNAPCACHE_TSAN 0
#endif

// ThreadSanitizer does not see inline assembly, so under TSan the 16-byte
// slot (detail/atomic_pair.hpp) uses TSan's own atomics, which it models as
// atomic accesses with the orders given. Their header comes with clang;
// g++ ships none (it has them as built-ins in its GNU modes only), so they
// are declared here as g++'s built-ins are, which is the runtime's ABI.
// TSan records a 16-byte atomic as an access to its first 8 bytes only, so
// a plain access to the second word alone would go unreported; nothing
// touches a slot but through atomic_pair.
#if SNAPCACHE_TSAN
#include <atomic>
#if __has_include(<sanitizer/tsan_interface_atomic.h>)
#include <sanitizer/tsan_interface_atomic.h>
using snapcache_tsan_order = __tsan_memory_order;
using snapcache_tsan_int128 = __tsan_atomic128;
using snapcache_tsan_int64 = __tsan_atomic64;
#else
// Exactly the signatures g++ gives these as built-ins in its GNU modes
// (-std=gnu++20), so that this redeclares them there and declares them in
// the strict modes, where g++ has no built-ins.
extern "C" {
__extension__ unsigned __int128 __tsan_atomic128_load(const volatile void* a, int order);
__extension__ bool __tsan_atomic128_compare_exchange_strong(volatile void* a, void* expected,
                                                            unsigned __int128 desired, int order,
                                                            int failure_order);
unsigned long __tsan_atomic64_load(const volatile void* a, int order);
}
using snapcache_tsan_order = int;
__extension__ typedef __int128 snapcache_tsan_int128;
using snapcache_tsan_int64 = long;
#endif
__extension__ typedef unsigned __int128 snapcache_tsan_uint128;

// TSan's order numbering is std::memory_order's (relaxed 0 ... seq_cst 5).
inline snapcache_tsan_order snapcache_tsan_order_of(std::memory_order order) noexcept {
  return static_cast<snapcache_tsan_order>(order);
}
inline snapcache_tsan_int128 snapcache_tsan_atomic128_load(const volatile snapcache_tsan_int128* a,
                                                           std::memory_order order) noexcept {
  return static_cast<snapcache_tsan_int128>(__tsan_atomic128_load(a, snapcache_tsan_order_of(order)));
}
// The failure order follows C++'s rule for a single-order compare-exchange
// (acq_rel fails as acquire, release as relaxed): TSan is told what the
// code asks for, not what cmpxchg16b gives, so a missing acquire shows.
inline bool snapcache_tsan_atomic128_compare_exchange(volatile snapcache_tsan_int128* a,
                                                      snapcache_tsan_int128* expected,
                                                      snapcache_tsan_int128 desired,
                                                      std::memory_order order) noexcept {
  std::memory_order failure = order;
  if (order == std::memory_order_acq_rel) failure = std::memory_order_acquire;  // an order to pass on, no operation
  if (order == std::memory_order_release) failure = std::memory_order_relaxed;  // an order to pass on, no operation
  return __tsan_atomic128_compare_exchange_strong(a, expected, desired, snapcache_tsan_order_of(order),
                                                  snapcache_tsan_order_of(failure));
}
inline snapcache_tsan_int64 snapcache_tsan_atomic64_load(const volatile snapcache_tsan_int64* a,
                                                         std::memory_order order) noexcept {
  return static_cast<snapcache_tsan_int64>(__tsan_atomic64_load(a, snapcache_tsan_order_of(order)));
}
#endif

// AddressSanitizer poisoning of memory snapcache keeps for reuse (the block
// cache): a read of a cached block is reported as use-after-poison, as a
// read of freed memory would be (all but the block's first word, its link in
// the cache, which LeakSanitizer must be able to follow).
#if defined(__SANITIZE_ADDRESS__)
#define SNAPCACHE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SNAPCACHE_ASAN 1
#endif
#endif
#ifndef SNAPCACHE_ASAN
#define SNAPCACHE_ASAN 0
#endif
#if SNAPCACHE_ASAN
#include <sanitizer/asan_interface.h>
#define SNAPCACHE_POISON(address, size) ASAN_POISON_MEMORY_REGION(address, size)
#define SNAPCACHE_UNPOISON(address, size) ASAN_UNPOISON_MEMORY_REGION(address, size)
#else
#define SNAPCACHE_POISON(address, size) ((void)(address), (void)(size))
#define SNAPCACHE_UNPOISON(address, size) ((void)(address), (void)(size))
#endif
