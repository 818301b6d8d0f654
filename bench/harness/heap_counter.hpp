// The harness's view of a counting operator new, when the program has one.
//
// The problem. mallinfo2 reports what glibc malloc holds in chunks: it sees
// no allocator but glibc's, and cannot tell the bytes a structure asked for
// from the allocator's rounding. Bytes per entry compared with
// std::unordered_map should be both: what the map asks of operator new, and
// what the allocator hands out for it.
//
// The mechanism. A program that wants these figures links
// bench/counting_new.cpp (map_bench does): it replaces the global operator
// new/delete family and, from a static initializer, fills in
// installed_heap_counter. Everyone else keeps the default, all null ("not
// available"), and memory_cost falls back to mallinfo2. The replacement stays
// out of the harness library: linked there, it would replace operator new in
// every program that links the harness (snapcache-compare among them).
//
// When not to use it. Memory that bypasses operator new (tbb's scalable
// allocator, direct malloc calls) is not counted. The counts are meant for a
// single-threaded process (memory_cost's forked child); they are exact only
// when nothing allocated before start() is freed after it.
#pragma once

#include <cstdint>

namespace snapcache::bench {

struct heap_counter {
  void (*start)() = nullptr;                     // zero the counts, then count
  void (*stop)() = nullptr;                      // stop counting; the counts stay
  std::int64_t (*requested_bytes)() = nullptr;   // live bytes asked of operator new since start
  std::int64_t (*allocator_bytes)() = nullptr;   // live malloc_usable_size of those blocks
  std::uint64_t (*unsized_deletes)() = nullptr;  // deletes without a size since start (see counting_new.cpp)

  [[nodiscard]] bool available() const noexcept {
    return start != nullptr && stop != nullptr && requested_bytes != nullptr && allocator_bytes != nullptr &&
           unsized_deletes != nullptr;
  }
};

// Constant-initialized, so counting_new.cpp's static initializer may fill it
// in whatever the order of dynamic initialization.
inline constinit heap_counter installed_heap_counter{};

}  // namespace snapcache::bench
