// A global operator new that can be told to fail: the n-th allocation made
// by the calling thread from now on throws std::bad_alloc (once). Linked
// into every test binary through test_support.
#pragma once

#include <cstddef>
#include <functional>
#include <new>

namespace snapcache::test {

// Arms the calling thread: its allocation number `n` (0 = the next one)
// throws std::bad_alloc; later ones succeed again.
void fail_nth_allocation(std::size_t n) noexcept;
void disarm_allocation_failure() noexcept;
// Allocations made by the calling thread since the process started.
std::size_t allocations_by_this_thread() noexcept;
// Bytes those allocations asked for (not what the allocator rounded them to).
std::size_t bytes_requested_by_this_thread() noexcept;

// Runs `operation` with allocation n failing, for n = 0, 1, 2, ... until it
// completes without throwing; after each std::bad_alloc runs `check(n)`,
// which asserts that the failed operation changed nothing. Returns the
// number of failing runs.
std::size_t sweep_allocation_failures(const std::function<void()>& operation,
                                      const std::function<void(std::size_t)>& check);

}  // namespace snapcache::test
