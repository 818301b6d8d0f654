#include <atomic>
#include <chrono>
#include <random>

#include "snapcache/hash.hpp"

namespace snapcache {

std::uint64_t make_hash_seed() noexcept {
  // Seeds need to be unpredictable and distinct, not ordered: relaxed.
  static std::atomic<std::uint64_t> counter{0};
  static const std::uint64_t boot = [] {
    try {
      std::random_device device;
      return (static_cast<std::uint64_t>(device()) << 32) ^ device();
    } catch (...) {
      return static_cast<std::uint64_t>(
          std::chrono::high_resolution_clock::now().time_since_epoch().count());
    }
  }();
  const auto now = static_cast<std::uint64_t>(
      std::chrono::steady_clock::now().time_since_epoch().count());
  return detail::mix64(boot ^ detail::mix64(now + counter.fetch_add(1, std::memory_order_relaxed)));  // uniqueness only
}

}  // namespace snapcache
