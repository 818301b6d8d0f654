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
// atomic accesses with the order given (declared here: g++ ships no header
// for them; the entry points are the runtime's, libtsan and compiler-rt).
#if SNAPCACHE_TSAN
#include <atomic>
__extension__ typedef __int128 snapcache_tsan_int128;
__extension__ typedef unsigned __int128 snapcache_tsan_uint128;
using snapcache_tsan_int64 = long long;
extern "C" {
snapcache_tsan_int128 __tsan_atomic128_load(const volatile snapcache_tsan_int128* a, int order);
int __tsan_atomic128_compare_exchange_strong(volatile snapcache_tsan_int128* a, snapcache_tsan_int128* expected,
                                             snapcache_tsan_int128 desired, int order, int failure_order);
snapcache_tsan_int64 __tsan_atomic64_load(const volatile snapcache_tsan_int64* a, int order);
}
// TSan's order numbering is std::memory_order's (relaxed 0 ... seq_cst 5).
inline snapcache_tsan_int128 snapcache_tsan_atomic128_load(const volatile snapcache_tsan_int128* a,
                                                           std::memory_order order) noexcept {
  return __tsan_atomic128_load(a, static_cast<int>(order));
}
inline bool snapcache_tsan_atomic128_compare_exchange(volatile snapcache_tsan_int128* a,
                                                      snapcache_tsan_int128* expected,
                                                      snapcache_tsan_int128 desired,
                                                      std::memory_order order) noexcept {
  // A failed cmpxchg16b is a locked read: on failure, as strong as success
  // for a load (acquire at least).
  const auto failure = order == std::memory_order_seq_cst
                           ? std::memory_order_seq_cst
                           : std::memory_order_acquire;  // a failure reads the winner's CAS: pairs with it
  return __tsan_atomic128_compare_exchange_strong(a, expected, desired, static_cast<int>(order),
                                                  static_cast<int>(failure)) != 0;
}
inline snapcache_tsan_int64 snapcache_tsan_atomic64_load(const volatile snapcache_tsan_int64* a,
                                                         std::memory_order order) noexcept {
  return __tsan_atomic64_load(a, static_cast<int>(order));
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
