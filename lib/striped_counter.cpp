#include "snapcache/detail/striped_counter.hpp"

namespace snapcache::detail {

std::size_t this_thread_stripe() noexcept {
  static std::atomic<std::size_t> next{0};
  // Assigned once per thread; uniqueness is all that matters: relaxed.
  thread_local const std::size_t stripe = next.fetch_add(1, std::memory_order_relaxed);  // uniqueness only
  return stripe;
}

}  // namespace snapcache::detail
