// ebr_churn: readers pin and dereference shared objects while writers swap
// them out and retire them. Each object checks its own liveness: it is
// poisoned when freed, so a reader that finds poison (or ASan's / TSan's
// use-after-free report) shows an object freed before its grace period.
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>

#include "driver.hpp"
#include "snapcache/ebr.hpp"

namespace {

using snapcache::ebr::guard;

constexpr std::uint64_t alive_magic = 0xA11CE5A11CE5A11CULL;
constexpr std::uint64_t dead_magic = 0xDEADDEADDEADDEADULL;
constexpr std::size_t slot_count = 16;

std::atomic<std::uint64_t> created{0};
std::atomic<std::uint64_t> destroyed{0};

std::uint64_t checksum(std::uint64_t id) noexcept { return id * 0x9E3779B97F4A7C15ULL + 7; }

struct shared_object : snapcache::ebr::retirable {
  explicit shared_object(std::uint64_t object_id) noexcept
      : magic(alive_magic), id(object_id), check(checksum(object_id)) {
    created.fetch_add(1, std::memory_order_relaxed);  // statistic only
  }
  ~shared_object() {
    magic = dead_magic;  // the poison a reader would find after an early free
    check = 0;
    destroyed.fetch_add(1, std::memory_order_relaxed);  // statistic only
  }
  static void reclaim(snapcache::ebr::retirable* self) noexcept {
    delete static_cast<shared_object*>(self);
  }
  std::uint64_t magic;
  std::uint64_t id;
  std::uint64_t check;
};

}  // namespace

int main(int argc, char** argv) {
  const auto opts = snapcache::stress::parse_options(
      argc, argv, "ebr_churn", "readers dereference objects that writers swap out and retire");
  snapcache::stress::verdict verdict("ebr_churn");
  {
    // Small batches: reclamation runs constantly, so an early free shows fast.
    snapcache::ebr::domain domain(snapcache::ebr::config{.batch = 4, .pins_per_step = 4});
    std::atomic<shared_object*> slots[slot_count];
    for (std::size_t i = 0; i < slot_count; ++i) slots[i].store(new shared_object(i));

    std::atomic<std::uint64_t> reads{0}, swaps{0}, violations{0};
    std::atomic<bool> reported{false};
    const unsigned writers = opts.threads / 2;
    const snapcache::stress::time_box box(opts.seconds);

    box.run(
        opts.threads,
        [&](unsigned index) {
          snapcache::stress::rng rng(opts.seed * 1000003 + index);
          std::uint64_t local_reads = 0, local_swaps = 0;
          std::uint64_t next_id = (static_cast<std::uint64_t>(index) + 1) << 40;
          while (box.running()) {
            const guard g = domain.pin();
            auto& slot = slots[rng.below(slot_count)];
            if (index < writers) {
              auto* fresh = new shared_object(next_id++);
              shared_object* old = slot.exchange(fresh, std::memory_order_seq_cst);
              g.retire(old, &shared_object::reclaim);
              ++local_swaps;
            } else {
              shared_object* object = snapcache::ebr::protect(slot, g);
              for (int look = 0; look < 4; ++look) {
                SNAPCACHE_PERTURB();
                const std::uint64_t magic = object->magic;
                const std::uint64_t id = object->id;
                const std::uint64_t check = object->check;
                if (magic != alive_magic || check != checksum(id)) {
                  violations.fetch_add(1, std::memory_order_relaxed);  // statistic only
                  if (!reported.exchange(true, std::memory_order_relaxed)) {  // first report only
                    std::printf("liveness check failed: object %llu read after it was freed\n",
                                static_cast<unsigned long long>(id));
                  }
                  box.stop();
                  break;
                }
              }
              ++local_reads;
            }
          }
          reads.fetch_add(local_reads, std::memory_order_relaxed);  // statistic only
          swaps.fetch_add(local_swaps, std::memory_order_relaxed);  // statistic only
        },
        [&] {
          return "objects created " + std::to_string(created.load(std::memory_order_relaxed)) +
                 ", freed " + std::to_string(destroyed.load(std::memory_order_relaxed));  // progress only
        });

    verdict.check("readers never saw a freed object", violations.load() == 0,
                  std::to_string(violations.load()) + " reads of poisoned objects");
    verdict.check("work was done", reads.load() > 0 && swaps.load() > 0,
                  "reads=" + std::to_string(reads.load()) + " swaps=" + std::to_string(swaps.load()));
    domain.synchronize();
    const auto stats = domain.stats();
    verdict.check("retired objects reconcile with freed + pending",
                  stats.retired == swaps.load() && stats.freed + stats.pending == stats.retired,
                  "retired=" + std::to_string(stats.retired) + " swaps=" + std::to_string(swaps.load()));
    for (auto& slot : slots) delete slot.load();
    std::printf("ebr_churn: %llu reads, %llu swaps, epoch %llu\n",
                static_cast<unsigned long long>(reads.load()),
                static_cast<unsigned long long>(swaps.load()),
                static_cast<unsigned long long>(stats.epoch));
  }
  verdict.check("every object created was freed exactly once", created.load() == destroyed.load(),
                "created=" + std::to_string(created.load()) +
                    " destroyed=" + std::to_string(destroyed.load()));
  return verdict.finish(opts);
}
