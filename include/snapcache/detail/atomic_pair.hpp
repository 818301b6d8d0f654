// Two 64-bit words loaded and compared-and-swapped as one 16-byte unit: the
// slot of the inline-value layout (docs/design.md, "The layout decision").
//
// Why not std::atomic<__int128>: g++ sends it to libatomic, whose load is a
// cmpxchg16b (a write: every reader takes the line exclusive) or, without
// -mcx16, a lock. Why one load and not two 8-byte loads: with full-range keys
// a slot's second word means what its first says (a value beside a key, a
// pointer beside the chain sentinel), so a reader must see both from one
// instant (stress/relacy/inline_read_model.cpp catches the split read).
//
// How, on x86-64 (the only target for now: atomic_pair_supported):
//  * compare_exchange: `lock cmpxchg16b`, a full barrier;
//  * load: an aligned `movdqa`, which Intel's SDM (vol. 3A, 9.1.1, since
//    2021) guarantees to be single-copy atomic on processors that enumerate
//    AVX, and AMD documents the same for its own; on any other CPU, a
//    `lock cmpxchg16b` that writes back what it read. Either is at least a seq_cst load on x86-64, whose loads are
//    never reordered with older loads, and whose only writers here are
//    locked instructions.
//  * under ThreadSanitizer, TSan's own 128-bit atomics
//    (detail/annotations.hpp), so the TSan build judges what is an atomic
//    access exactly as the plain build runs it.
#pragma once

#include <atomic>
#include <cstdint>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "snapcache/detail/annotations.hpp"
#include "snapcache/detail/test_hooks.hpp"

namespace snapcache::detail {

#if defined(__x86_64__)
inline constexpr bool atomic_pair_supported = true;
#else
inline constexpr bool atomic_pair_supported = false;
#endif

struct word_pair {
  std::uint64_t first = 0;
  std::uint64_t second = 0;
  friend bool operator==(const word_pair&, const word_pair&) = default;
};

// Whether an aligned 16-byte vector load is single-copy atomic here: an
// Intel or AMD CPU that enumerates AVX (the vendors whose manuals say so;
// GCC's libatomic, QEMU and Rust's portable-atomic trust the same two).
// Asked once per process; after that, a guard check.
inline bool vector_load_is_atomic() noexcept {
#if defined(__x86_64__)
  static const bool atomic = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid(0, &eax, &ebx, &ecx, &edx) == 0) return false;
    const bool intel = ebx == signature_INTEL_ebx && ecx == signature_INTEL_ecx && edx == signature_INTEL_edx;
    const bool amd = ebx == signature_AMD_ebx && ecx == signature_AMD_ecx && edx == signature_AMD_edx;
    __builtin_cpu_init();
    return (intel || amd) && __builtin_cpu_supports("avx") != 0;
  }();
  return atomic;
#else
  return false;
#endif
}

class atomic_pair {
 public:
  constexpr atomic_pair() noexcept = default;
  // Not an atomic store: for a pair no other thread can see yet.
  constexpr explicit atomic_pair(word_pair initial) noexcept : words_{initial.first, initial.second} {}
  atomic_pair(const atomic_pair&) = delete;
  atomic_pair& operator=(const atomic_pair&) = delete;

  // Both words as they were at one instant. `order`: any load order; the
  // hardware gives seq_cst (above), TSan is told `order`.
  [[nodiscard]] word_pair load(std::memory_order order) const noexcept;

  // Replaces both words with `desired` if both equal `expected`; otherwise
  // stores what was there into `expected`. Always seq_cst on the hardware.
  bool compare_exchange(word_pair& expected, word_pair desired, std::memory_order order) noexcept;

  // load() where vector loads are not atomic: a locked compare-exchange that
  // writes back what it read. Correct everywhere, but a write: readers of
  // one pair contend for its line. Public so tests reach it on any CPU.
  [[nodiscard]] word_pair load_locked(std::memory_order order) const noexcept;

 private:
  struct alignas(16) raw {
    std::uint64_t first;
    std::uint64_t second;
  };
  mutable raw words_{0, 0};  // mutable: the cmpxchg16b fallback of load() writes back what it read

#if SNAPCACHE_TSAN
  [[nodiscard]] volatile snapcache_tsan_int128* as_tsan() const noexcept {
    return reinterpret_cast<volatile snapcache_tsan_int128*>(&words_);
  }
#endif
  // Test hook (planted bug pair_read_apart): the two words read by two
  // 8-byte loads with a perturbation point between them, the read the
  // layout must not use.
  [[nodiscard]] word_pair load_apart(std::memory_order order) const noexcept;
  static bool cmpxchg16b(raw& target, word_pair& expected, word_pair desired) noexcept;
};

#if SNAPCACHE_TSAN
// The pair as TSan's 128-bit integer: the first word is the low half (the
// lower address, on this little-endian target).
inline snapcache_tsan_int128 to_tsan(word_pair p) noexcept {
  return static_cast<snapcache_tsan_int128>((static_cast<snapcache_tsan_uint128>(p.second) << 64) | p.first);
}
inline word_pair from_tsan(snapcache_tsan_int128 v) noexcept {
  return {static_cast<std::uint64_t>(v), static_cast<std::uint64_t>(static_cast<snapcache_tsan_uint128>(v) >> 64)};
}

inline word_pair atomic_pair::load(std::memory_order order) const noexcept {
  if (is_planted(planted_bug::pair_read_apart)) return load_apart(order);
  return from_tsan(snapcache_tsan_atomic128_load(as_tsan(), order));
}

inline word_pair atomic_pair::load_locked(std::memory_order order) const noexcept { return load(order); }

inline bool atomic_pair::compare_exchange(word_pair& expected, word_pair desired,
                                          std::memory_order order) noexcept {
  snapcache_tsan_int128 seen = to_tsan(expected);
  const bool done = snapcache_tsan_atomic128_compare_exchange(as_tsan(), &seen, to_tsan(desired), order);
  if (!done) expected = from_tsan(seen);
  return done;
}

inline word_pair atomic_pair::load_apart(std::memory_order order) const noexcept {
  // TSan's 128-bit atomics and these 8-byte ones are all atomic accesses to
  // it; the suite's torn-read check, not a race report, must catch this.
  const auto* words = reinterpret_cast<volatile snapcache_tsan_int64*>(as_tsan());
  const auto first = static_cast<std::uint64_t>(snapcache_tsan_atomic64_load(words, order));
  SNAPCACHE_PERTURB();
  const auto second = static_cast<std::uint64_t>(snapcache_tsan_atomic64_load(words + 1, order));
  return {first, second};
}
#elif defined(__x86_64__)
inline bool atomic_pair::cmpxchg16b(raw& target, word_pair& expected, word_pair desired) noexcept {
  bool done;
  asm volatile("lock cmpxchg16b %1"
               : "=@ccz"(done), "+m"(target), "+a"(expected.first), "+d"(expected.second)
               : "b"(desired.first), "c"(desired.second)
               : "memory");
  return done;
}

inline word_pair atomic_pair::load(std::memory_order order) const noexcept {
  if (is_planted(planted_bug::pair_read_apart)) return load_apart(order);  // constexpr false without hooks
  if (vector_load_is_atomic()) {
    using two_words = long long __attribute__((vector_size(16)));
    two_words v;
#if defined(__AVX__)
    asm volatile("vmovdqa %1, %0" : "=x"(v) : "m"(words_) : "memory");  // VEX form: no SSE/AVX transition
#else
    asm volatile("movdqa %1, %0" : "=x"(v) : "m"(words_) : "memory");
#endif
    return {static_cast<std::uint64_t>(v[0]), static_cast<std::uint64_t>(v[1])};
  }
  return load_locked(order);
}

inline word_pair atomic_pair::load_locked(std::memory_order) const noexcept {
  word_pair seen{0, 0};
  cmpxchg16b(words_, seen, seen);  // writes {0, 0} over {0, 0} only: the value never changes
  return seen;
}

inline bool atomic_pair::compare_exchange(word_pair& expected, word_pair desired, std::memory_order) noexcept {
  return cmpxchg16b(words_, expected, desired);
}

inline word_pair atomic_pair::load_apart(std::memory_order) const noexcept {
  std::uint64_t first, second;
  asm volatile("movq %1, %0" : "=r"(first) : "m"(words_.first) : "memory");
  // Two loads of one line are rarely torn by the hardware; the real hazard
  // is code between them (the layout's reader interprets the first word).
  // A perturbation point stands for that code.
  SNAPCACHE_PERTURB();
  asm volatile("movq %1, %0" : "=r"(second) : "m"(words_.second) : "memory");
  return {first, second};
}
#endif

}  // namespace snapcache::detail
