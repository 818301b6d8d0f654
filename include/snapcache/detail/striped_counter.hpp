// A counter split over cache lines, so that threads adding to it do not
// contend on one line. Reads sum the stripes: approximate while writers run,
// exact when quiescent.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace snapcache::detail {

std::size_t this_thread_stripe() noexcept;  // stable per thread

class striped_counter {
 public:
  static constexpr std::size_t stripes = 16;

  void add(std::int64_t delta) noexcept {
    // relaxed: a statistic; no other memory is published through it.
    cells_[this_thread_stripe() % stripes].value.fetch_add(delta, std::memory_order_relaxed);  // statistic only
  }
  [[nodiscard]] std::int64_t sum() const noexcept {
    std::int64_t total = 0;
    for (const auto& c : cells_) total += c.value.load(std::memory_order_relaxed);  // statistic only
    return total;
  }

 private:
  struct alignas(64) cell {
    std::atomic<std::int64_t> value{0};
  };
  cell cells_[stripes];
};

}  // namespace snapcache::detail
