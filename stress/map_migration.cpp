// map_migration: writers swing a small map's population up and down so that
// it migrates all the time (growth, cleanup of dead keys, shrinking) while
// checkers take, hold and re-iterate snapshots.
//
// Each writer owns its keys (writer id in bits 48..61, a generation in bits
// 16..47, an index below). A generation inserts its L keys in order (value
// v1), overwrites them in order (v2), then erases them in order; the next
// generation uses fresh keys, so every erased key stays behind as a dead key
// until a migration drops it. The writer counts its operations (seq_cst), so
// the state after p operations is known in closed form.
//
// Detectors:
//  * read-back: after each write the writer reads its key back (find must
//    return what it wrote, or nothing after an erase), and again before its
//    next write of the key: a write lost in a migration (at once, or after
//    the read-back), or a key missing from the new table, shows;
//  * writer check: an insert of a fresh key and an erase of a present one
//    return true, an overwrite reports the key present;
//  * snapshot state: a snapshot holds, for each writer, exactly the state
//    after some p between the writer's count read before snapshot() and the
//    one read after; no key twice; size() equals the iteration count;
//  * snapshot changed: checkers hold their last snapshots across many
//    migrations and iterate them again: the contents must not change.
//
// The quick profile runs 4 threads for 3 s with SNAPCACHE_PERTURB=20.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "driver.hpp"
#include "snapcache/hash_map.hpp"

namespace {

// --variant: the map's slot kind (detail/slot_kind.hpp): every map's
// 8-byte words, or the 16-byte pairs of the inline layout's stage 2.
using word_slot_map = snapcache::hash_map<std::uint64_t, std::uint64_t>;
#if defined(__x86_64__)
using pair_slot_map =
    snapcache::hash_map<std::uint64_t, std::uint64_t,
                        snapcache::detail::pair_slots_hash<snapcache::seeded_hash<std::uint64_t>>>;
#endif
using contents_type = std::vector<std::pair<std::uint64_t, std::uint64_t>>;
using snapcache::stress::mix;
using snapcache::stress::violation_counter;

constexpr std::uint64_t keys_per_generation = 8;  // L: small, so the table migrates every few dozen writes
constexpr std::uint64_t ops_per_generation = 3 * keys_per_generation;
constexpr std::size_t held_snapshots = 4;

std::uint64_t key_of(std::uint64_t writer, std::uint64_t generation, std::uint64_t index) noexcept {
  return (writer << 48) | ((generation & 0xFFFFFFFF) << 16) | index;
}
std::uint64_t first_value(std::uint64_t key) noexcept { return mix(key) | 1; }
std::uint64_t second_value(std::uint64_t key) noexcept { return mix(key) & ~std::uint64_t{1}; }

std::string hex(std::uint64_t x) {
  char buffer[24];
  std::snprintf(buffer, sizeof buffer, "%#llx", static_cast<unsigned long long>(x));
  return buffer;
}

// The value key `index` of the generation of operation p holds after p
// operations of its writer (0: absent).
std::uint64_t expected_value(std::uint64_t writer, std::uint64_t p, std::uint64_t generation, std::uint64_t index) {
  const std::uint64_t L = keys_per_generation;
  if (p / ops_per_generation != generation) {
    return 0;  // other generations are empty (the start of p's, or all erased)
  }
  const std::uint64_t r = p % ops_per_generation;
  const std::uint64_t key = key_of(writer, generation, index);
  if (r <= L) return index < r ? first_value(key) : 0;
  if (r <= 2 * L) return index < r - L ? second_value(key) : first_value(key);
  return index >= r - 2 * L ? second_value(key) : 0;
}

// Whether `seen` (one writer's keys in a snapshot) is the state after some
// p in [lo, hi]; if so, sets p.
bool matches_some_state(std::uint64_t writer, const contents_type& seen, std::uint64_t lo, std::uint64_t hi,
                        std::uint64_t& p) {
  for (p = lo; p <= hi; ++p) {
    const std::uint64_t generation = p / ops_per_generation;
    bool ok = true;
    std::size_t present = 0;
    for (std::uint64_t i = 0; i < keys_per_generation && ok; ++i) present += expected_value(writer, p, generation, i) != 0;
    ok = present == seen.size();
    for (const auto& [k, v] : seen) {
      if (!ok) break;
      const std::uint64_t g = (k >> 16) & 0xFFFFFFFF, i = k & 0xFFFF;
      ok = g == (generation & 0xFFFFFFFF) && i < keys_per_generation && expected_value(writer, p, generation, i) == v;
    }
    if (ok) return true;
  }
  return false;
}

template <class Snapshot>
contents_type iterate(const Snapshot& snap) {
  contents_type out;
  for (auto [k, v] : snap) out.emplace_back(k, v);
  std::sort(out.begin(), out.end());
  return out;
}

struct alignas(64) writer_progress {
  std::atomic<std::uint64_t> ops{0};  // seq_cst: ordered with the map's clock
};

}  // namespace

int main(int argc, char** argv) {
  const auto opts = snapcache::stress::parse_options(
      argc, argv, "map_migration",
      "populations swinging through growth, cleanup and shrink migrations under held snapshots",
      {"word-slots", "pair-slots"});
  snapcache::stress::verdict verdict("map_migration");

  violation_counter writer_failed("writer check failed");
  violation_counter read_back("read-back check failed");
  violation_counter duplicate("duplicate key in snapshot");
  violation_counter state("snapshot state check failed");
  violation_counter size_check("snapshot size check failed");
  violation_counter changed("snapshot changed");

  const unsigned writers = std::max(1u, opts.threads / 2);
  const unsigned checkers = std::max(1u, opts.threads - writers);
  std::vector<writer_progress> progress(writers);
  std::atomic<std::uint64_t> writes{0}, snapshots{0}, reiterations{0};
  std::atomic<std::size_t> largest_table{0};
  std::atomic<std::uint64_t> migrations{0};

  const auto exercise = [&]<class map_type>(std::type_identity<map_type>) {
    map_type map(0, typename map_type::hasher{{mix(opts.seed) | 1}});
    const snapcache::stress::time_box box(opts.seconds);

    auto writer = [&](unsigned w) {
      std::uint64_t local = 0;
      for (std::uint64_t g = 0; box.running(); ++g) {
        for (std::uint64_t phase = 0; phase < 3 && box.running(); ++phase) {
          for (std::uint64_t i = 0; i < keys_per_generation; ++i) {
            const std::uint64_t key = key_of(w, g, i);
            // What the previous phase left: a write lost after its read-back
            // (a migration that copied the slot before it) shows here.
            const std::uint64_t was = phase == 0 ? 0 : phase == 1 ? first_value(key) : second_value(key);
            if (const std::optional<std::uint64_t> before = map.find(key); before.value_or(0) != was) {
              read_back.report("key " + hex(key) + " read " + (before ? hex(*before) : std::string("absent")) +
                                   " before phase " + std::to_string(phase) + ", expected " +
                                   (was ? hex(was) : std::string("absent")),
                               box);
            }
            std::uint64_t want = 0;
            if (phase == 0) {
              want = first_value(key);
              if (!map.insert(key, want)) writer_failed.report("insert of fresh key " + hex(key) + " returned false", box);
            } else if (phase == 1) {
              want = second_value(key);
              if (map.insert_or_assign(key, want)) writer_failed.report("overwrite of key " + hex(key) + " found it absent", box);
            } else if (!map.erase(key)) {
              writer_failed.report("erase of present key " + hex(key) + " returned false", box);
            }
            progress[w].ops.fetch_add(1);
            const std::optional<std::uint64_t> got = map.find(key);
            if (got.value_or(0) != want) {
              read_back.report("key " + hex(key) + " read back " + (got ? hex(*got) : std::string("absent")) +
                                   " after writing " + (want ? hex(want) : std::string("an erase")),
                               box);
            }
            ++local;
          }
        }
        std::size_t slots = map.bucket_count(), seen = largest_table.load();
        while (slots > seen && !largest_table.compare_exchange_weak(seen, slots)) {
        }
      }
      writes.fetch_add(local);
    };

    auto checker = [&](unsigned) {
      std::deque<std::pair<typename map_type::snapshot_type, contents_type>> held;
      std::uint64_t local = 0, again = 0;
      std::vector<std::uint64_t> before(writers), after(writers);
      while (box.running()) {
        for (unsigned w = 0; w < writers; ++w) before[w] = progress[w].ops.load();
        auto snap = map.snapshot();
        for (unsigned w = 0; w < writers; ++w) after[w] = progress[w].ops.load();
        contents_type contents = iterate(snap);
        ++local;
        if (std::adjacent_find(contents.begin(), contents.end(),
                               [](const auto& a, const auto& b) { return a.first == b.first; }) != contents.end()) {
          duplicate.report("a snapshot of " + std::to_string(contents.size()) + " keys holds a key twice", box);
        }
        if (snap.size() != contents.size()) {
          size_check.report("size() " + std::to_string(snap.size()) + " but " + std::to_string(contents.size()) +
                                " keys iterated",
                            box);
        }
        std::vector<contents_type> by_writer(writers);
        for (const auto& kv : contents) {
          const std::uint64_t w = kv.first >> 48;
          if (w < writers) by_writer[w].push_back(kv);
        }
        for (unsigned w = 0; w < writers; ++w) {
          std::uint64_t p = 0;
          // after + 1: a write may have taken effect before its writer counted it.
          if (!matches_some_state(w, by_writer[w], before[w], after[w] + 1, p)) {
            state.report("writer " + std::to_string(w) + ": " + std::to_string(by_writer[w].size()) +
                             " keys match no state after operations " + std::to_string(before[w]) + ".." +
                             std::to_string(after[w] + 1),
                         box);
          }
        }
        held.emplace_back(std::move(snap), std::move(contents));
        if (held.size() > held_snapshots) held.pop_front();
        // The held snapshots have lived through the migrations since: the
        // oldest, and in turn each of the others, must iterate as at first.
        for (const std::size_t i : {std::size_t{0}, 1 + local % (held.size() - 1 + (held.size() == 1))}) {
          if (i >= held.size()) continue;
          if (held[i].second != iterate(held[i].first)) changed.report("a held snapshot iterated differently", box);
          ++again;
        }
      }
      snapshots.fetch_add(local);
      reiterations.fetch_add(again);
    };

    box.run(
        writers + checkers, [&](unsigned i) { i < writers ? writer(i) : checker(i - writers); },
        [&] { return std::to_string(writes.load()) + " writes, " + std::to_string(snapshots.load()) + " snapshots"; });
    migrations.store(map.migrations());
  };
  if (opts.variant == "pair-slots") {
#if defined(__x86_64__)
    exercise(std::type_identity<pair_slot_map>{});
#else
    std::fprintf(stderr, "map_migration: pair slots need x86-64\n");
    return 2;
#endif
  } else {
    exercise(std::type_identity<word_slot_map>{});
  }

  verdict.check("every insert of a fresh key, overwrite and erase of a present key reported as it should",
                writer_failed.count() == 0, writer_failed.summary());
  verdict.check("every write read back as written", read_back.count() == 0, read_back.summary());
  verdict.check("no snapshot held a key twice", duplicate.count() == 0, duplicate.summary());
  verdict.check("every snapshot held, per writer, a state within its progress", state.count() == 0, state.summary());
  verdict.check("every snapshot's size() equalled its iteration", size_check.count() == 0, size_check.summary());
  verdict.check("held snapshots iterated the same across migrations", changed.count() == 0, changed.summary());
  verdict.check("work was done", writes.load() > 0 && snapshots.load() > 0);
  std::printf("map_migration: %llu writes, %llu snapshots, %llu re-iterations, %llu migrations, largest table %zu slots\n",
              static_cast<unsigned long long>(writes.load()), static_cast<unsigned long long>(snapshots.load()),
              static_cast<unsigned long long>(reiterations.load()), static_cast<unsigned long long>(migrations.load()),
              largest_table.load());
  return verdict.finish(opts);
}
