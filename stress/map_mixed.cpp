// map_mixed: libcds-style insert / erase / find mixes on a small range of
// uint64 keys, so threads collide on the same keys and the same list
// positions all the time.
//
// A third of the keys are *stable*: inserted before the run with a known
// value and never erased. Every find of a stable key must return that value,
// every insert of one must fail, and every snapshot must hold all of them.
// The other keys are mutable: workers insert (or insert_or_assign) and erase
// them at random and count, per key, the calls that succeeded.
//
// The run is cut into slices; between slices every worker waits at a barrier
// and the map is quiescent, so the counts must reconcile exactly: per key,
// successful inserts - successful erases == present now (0 or 1), and
// size() == the number of present keys == the size of a fresh snapshot. A
// lost insert (two inserts linking into one gap) or a double insert of one
// key breaks the reconciliation at the next slice boundary.
//
// Snapshots taken during the run are checked for duplicate keys, for every
// stable key, and for size() == their iteration count.
//
// The quick profile (meson test) runs 4 threads for 3 s with
// SNAPCACHE_PERTURB=20: the map's perturbation points yield at random.
#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "driver.hpp"
#include "snapcache/hash_map.hpp"

namespace {

using map_type = snapcache::hash_map<std::uint64_t, std::uint64_t>;
using clock_type = std::chrono::steady_clock;

constexpr std::uint64_t key_range = 48;  // keys 0..47: every thread hits every key
constexpr double slice_seconds = 0.2;    // work between two quiescent reconciliations

bool is_stable(std::uint64_t key) noexcept { return key % 3 == 0; }
std::uint64_t stable_value(std::uint64_t key) noexcept { return key * 0x9E3779B97F4A7C15ULL + 1; }
// A mutable key's values carry the key in their high half, so a find that
// returns another key's value shows.
std::uint64_t mutable_value(std::uint64_t key, unsigned thread, std::uint64_t seq) noexcept {
  return (key << 32) | (std::uint64_t{thread} << 24) | (seq & 0xFFFFFF);
}

using snapcache::stress::mix;

using snapcache::stress::violation_counter;

// Per-thread counts, aligned so that threads do not share cache lines.
struct alignas(64) thread_counts {
  std::vector<std::uint64_t> inserted = std::vector<std::uint64_t>(key_range, 0);
  std::vector<std::uint64_t> erased = std::vector<std::uint64_t>(key_range, 0);
  std::uint64_t ops = 0, snapshots = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const auto opts = snapcache::stress::parse_options(
      argc, argv, "map_mixed",
      "insert/erase/find mixes on colliding keys; stable keys always found; counts reconcile");
  snapcache::stress::verdict verdict("map_mixed");

  violation_counter stable_find("stable key check failed");
  violation_counter stable_insert("stable insert check failed");
  violation_counter foreign_value("value check failed");
  violation_counter duplicate("duplicate key in snapshot");
  violation_counter snapshot_stable("snapshot stable key check failed");
  violation_counter snapshot_size("snapshot size check failed");
  violation_counter reconcile("counts do not reconcile");
  violation_counter sizes("sizes do not reconcile");
  std::atomic<std::uint64_t> quiescent_checks{0};  // progress line and summary

  {
    map_type map(0, snapcache::seeded_hash<std::uint64_t>{mix(opts.seed) | 1});
    for (std::uint64_t k = 0; k < key_range; ++k) {
      if (is_stable(k)) map.insert(k, stable_value(k));
    }

    const unsigned workers = opts.threads;
    std::vector<thread_counts> counts(workers);
    const snapcache::stress::time_box box(opts.seconds);
    const auto run_end = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                                  std::chrono::duration<double>(opts.seconds));
    // Written by worker 0 while the others wait at the barrier; the barrier
    // orders it before their reads.
    bool go = true;
    clock_type::time_point slice_end =
        clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                std::chrono::duration<double>(slice_seconds));
    std::barrier sync(static_cast<std::ptrdiff_t>(workers));

    // A snapshot: no key twice, every stable key with its value, size() ==
    // iteration count. Returns the keys it held (bitmask over the range).
    auto check_snapshot = [&](const map_type::snapshot_type& snap) {
      std::uint64_t seen = 0;
      std::size_t n = 0;
      for (auto [k, v] : snap) {
        ++n;
        if (k >= key_range) {
          duplicate.report("key " + std::to_string(k) + " was never inserted", box);
          continue;
        }
        if ((seen >> k) & 1) duplicate.report("key " + std::to_string(k) + " seen twice", box);
        seen |= std::uint64_t{1} << k;
        if (is_stable(k) && v != stable_value(k)) {
          snapshot_stable.report("stable key " + std::to_string(k) + " has value " + std::to_string(v), box);
        } else if (!is_stable(k) && (v >> 32) != k) {
          foreign_value.report("snapshot holds key " + std::to_string(k) + " with value " + std::to_string(v), box);
        }
      }
      for (std::uint64_t k = 0; k < key_range; ++k) {
        if (is_stable(k) && ((seen >> k) & 1) == 0)
          snapshot_stable.report("snapshot misses stable key " + std::to_string(k), box);
      }
      if (snap.size() != n)
        snapshot_size.report("size() " + std::to_string(snap.size()) + " but iteration yielded " +
                                 std::to_string(n), box);
      if (!snap.contains(std::uint64_t{0}) || snap.find(std::uint64_t{3}) != stable_value(3))
        snapshot_stable.report("snapshot find/contains misses a stable key", box);
      return seen;
    };

    // Runs at a slice boundary, by worker 0 alone, every worker parked.
    auto reconcile_now = [&] {
      quiescent_checks.fetch_add(1, std::memory_order_relaxed);  // statistic only
      std::size_t present_count = 0;
      std::uint64_t present_mask = 0;
      for (std::uint64_t k = 0; k < key_range; ++k) {
        const auto found = map.find(k);
        if (found) {
          ++present_count;
          present_mask |= std::uint64_t{1} << k;
        }
        if (is_stable(k)) {
          if (found != stable_value(k))
            stable_find.report("at a quiescent point stable key " + std::to_string(k) + " is " +
                                   (found ? std::to_string(*found) : "absent"), box);
          continue;
        }
        std::uint64_t ins = 0, ers = 0;
        for (const auto& c : counts) {
          ins += c.inserted[k];
          ers += c.erased[k];
        }
        const std::uint64_t expected = found ? 1 : 0;
        if (ins - ers != expected || ins < ers) {
          reconcile.report("key " + std::to_string(k) + ": " + std::to_string(ins) +
                               " successful inserts - " + std::to_string(ers) +
                               " successful erases != " + std::to_string(expected) + " (present: " +
                               (found ? "yes" : "no") + ")", box);
        }
      }
      const auto snap = map.snapshot();
      const std::uint64_t snap_mask = check_snapshot(snap);
      if (map.size() != present_count || snap.size() != present_count || snap_mask != present_mask) {
        sizes.report("size() " + std::to_string(map.size()) + ", present keys " +
                         std::to_string(present_count) + ", snapshot size " + std::to_string(snap.size()) +
                         (snap_mask != present_mask ? ", snapshot keys differ from the keys find() sees" : ""),
                     box);
      }
    };

    box.run(
        workers,
        [&](unsigned index) {
          snapcache::stress::rng rng(mix(opts.seed * 1000003 + index));
          thread_counts& mine = counts[index];
          std::uint64_t seq = 0;
          for (;;) {
            sync.arrive_and_wait();  // slice start: `go` and `slice_end` are set
            if (!go) break;
            while (box.running()) {
              if ((mine.ops & 63) == 0 && clock_type::now() >= slice_end) break;
              ++mine.ops;
              const std::uint64_t k = rng.below(key_range);
              const std::uint64_t r = rng.below(100);
              if (r < 30) {
                const std::uint64_t v = is_stable(k) ? 7 : mutable_value(k, index, ++seq);
                if (map.insert(k, v)) {
                  if (is_stable(k)) {
                    stable_insert.report("insert of stable key " + std::to_string(k) + " succeeded", box);
                  } else {
                    ++mine.inserted[k];
                  }
                }
              } else if (r < 36) {
                if (!is_stable(k) && map.insert_or_assign(k, mutable_value(k, index, ++seq)))
                  ++mine.inserted[k];
              } else if (r < 66) {
                if (!is_stable(k) && map.erase(k)) ++mine.erased[k];
              } else if (r < 99) {
                const auto found = map.find(k);
                if (is_stable(k)) {
                  if (found != stable_value(k))
                    stable_find.report("find(" + std::to_string(k) + ") returned " +
                                           (found ? std::to_string(*found) : "absent"), box);
                } else if (found && (*found >> 32) != k) {
                  foreign_value.report("find(" + std::to_string(k) + ") returned " + std::to_string(*found),
                                       box);
                }
              } else {
                ++mine.snapshots;
                check_snapshot(map.snapshot());
              }
            }
            sync.arrive_and_wait();  // slice end: everyone parked
            if (index == 0) {
              reconcile_now();
              go = box.running() && clock_type::now() < run_end;
              slice_end = std::min(run_end, clock_type::now() +
                                                std::chrono::duration_cast<clock_type::duration>(
                                                    std::chrono::duration<double>(slice_seconds)));
            }
          }
        },
        [&] { return "slices reconciled " + std::to_string(quiescent_checks.load(std::memory_order_relaxed)); });

    std::uint64_t ops = 0, snapshots = 0, inserts = 0, erases = 0;
    for (const auto& c : counts) {
      ops += c.ops;
      snapshots += c.snapshots;
      for (std::uint64_t k = 0; k < key_range; ++k) {
        inserts += c.inserted[k];
        erases += c.erased[k];
      }
    }
    verdict.check("every find of a stable key returned its value", stable_find.count() == 0,
                  stable_find.summary());
    verdict.check("no insert of a stable key succeeded", stable_insert.count() == 0, stable_insert.summary());
    verdict.check("every value found belongs to its key", foreign_value.count() == 0, foreign_value.summary());
    verdict.check("no snapshot held a key twice", duplicate.count() == 0, duplicate.summary());
    verdict.check("every snapshot held every stable key with its value", snapshot_stable.count() == 0,
                  snapshot_stable.summary());
    verdict.check("snapshot size() equals its iteration count", snapshot_size.count() == 0,
                  snapshot_size.summary());
    verdict.check("per key, successful inserts - erases == present, at every quiescent point",
                  reconcile.count() == 0, reconcile.summary());
    verdict.check("size() == present keys == snapshot size, at every quiescent point", sizes.count() == 0,
                  sizes.summary());
    verdict.check("work was done", ops > 0 && inserts > 0 && erases > 0 && snapshots > 0 && quiescent_checks.load() > 0,
                  "ops=" + std::to_string(ops) + " inserts=" + std::to_string(inserts) + " erases=" +
                      std::to_string(erases) + " snapshots=" + std::to_string(snapshots));
    std::printf("map_mixed: %llu operations (%llu successful inserts, %llu successful erases), %llu snapshots, "
                "%llu quiescent reconciliations\n",
                static_cast<unsigned long long>(ops), static_cast<unsigned long long>(inserts),
                static_cast<unsigned long long>(erases), static_cast<unsigned long long>(snapshots),
                static_cast<unsigned long long>(quiescent_checks.load()));
  }
  return verdict.finish(opts);
}
