// The counts of one hash_map: live keys, dead keys (tombstones that still
// hold a slot) and value versions kept for snapshots. Striped over cache
// lines so that writers on different threads do not share one; live and dead
// keys share one word, so an insert or an erase costs one atomic add (an
// overwrite costs none). Reads sum the stripes: approximate while writers
// run, exact when quiescent.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "snapcache/detail/striped_counter.hpp"

namespace snapcache::detail {

class map_counters {
 public:
  static constexpr std::size_t stripes = 8;

  struct totals {
    std::int64_t live = 0;
    std::int64_t dead = 0;
    std::int64_t kept = 0;
  };

  // Adds to the live and dead key counts in one atomic operation: the word
  // is dead * 2^32 + live in two's complement, summed over the stripes before
  // it is split (so one stripe may go negative); exact while the map holds
  // fewer than 2^31 keys.
  void add_keys(std::int64_t live, std::int64_t dead) noexcept {
    const auto delta = static_cast<std::uint64_t>(dead * (std::int64_t{1} << 32) + live);
    cell().keys.fetch_add(delta, std::memory_order_relaxed);  // statistic only
  }
  void add_kept(std::int64_t versions) noexcept {
    cell().kept.fetch_add(versions, std::memory_order_relaxed);  // statistic only
  }

  // Moves every count from `other` here (a map being moved; no operation
  // runs on either).
  void take(map_counters& other) noexcept {
    for (std::size_t i = 0; i < stripes; ++i) {
      stripes_[i].keys.store(other.stripes_[i].keys.exchange(0, std::memory_order_relaxed),  // single-threaded
                             std::memory_order_relaxed);                                      // single-threaded
      stripes_[i].kept.store(other.stripes_[i].kept.exchange(0, std::memory_order_relaxed),  // single-threaded
                             std::memory_order_relaxed);                                      // single-threaded
    }
  }

  [[nodiscard]] totals read() const noexcept {
    std::uint64_t keys = 0;
    totals t;
    for (const stripe& s : stripes_) {
      keys += s.keys.load(std::memory_order_relaxed);  // statistic only
      t.kept += s.kept.load(std::memory_order_relaxed);  // statistic only
    }
    t.live = static_cast<std::int32_t>(static_cast<std::uint32_t>(keys & 0xFFFF'FFFFU));
    t.dead = static_cast<std::int64_t>(keys - static_cast<std::uint64_t>(t.live)) / (std::int64_t{1} << 32);
    return t;
  }

 private:
  struct alignas(64) stripe {
    std::atomic<std::uint64_t> keys{0};
    std::atomic<std::int64_t> kept{0};
  };
  stripe& cell() noexcept { return stripes_[this_thread_stripe() % stripes]; }

  stripe stripes_[stripes];
};

}  // namespace snapcache::detail
