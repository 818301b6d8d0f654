// cache_eviction: every thread inserts, looks up, erases and lists the
// candidates of one small query cache at once, so evictions race with each
// other and with readers all the time.
//
// Every entry a thread inserts is derived from its id and a version number
// (text, state, statement type, times and result location), and the version
// is written into the result location; a reader can therefore tell whether an
// entry it got back is one that was really inserted, whole (not torn between
// two inserts of the same id).
//
// Checked on every candidates() result:
//  * sorted in candidate order (newest completion first; ties by id);
//  * no id twice;
//  * at most capacity + (threads inserting) entries;
//  * every entry a candidate (succeeded, completed, not a utility statement)
//    and consistent with its version.
// Checked on every lookup hit: the entry is consistent, a candidate, and its
// text has the normal form of the text looked up. At quiescence: size() <=
// capacity, hits + misses == lookups == the lookups the threads made, and
// find() agrees with contains() for every id of the pool.
//
// --variant lock_free (default) runs snapcache::query_cache; --variant locked
// runs locked_query_cache, the oracle of the unit tests, and is the subject
// of planted bug 4 (locked_cache_unlocked_reads: its readers iterate without
// the lock, the original service's crash).
//
// The quick profile runs 4 threads for 3 s with SNAPCACHE_PERTURB=20.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cache_entries.hpp"
#include "driver.hpp"
#include "snapcache/locked_query_cache.hpp"
#include "snapcache/query_cache.hpp"
#include "snapcache/sql.hpp"

namespace {

using snapcache::cache_clock;
using snapcache::query_entry;
using snapcache::stress::base;
using snapcache::stress::inconsistency;
using snapcache::stress::is_candidate;
using snapcache::stress::make_entry;
using snapcache::stress::mix;
using snapcache::stress::texts;
using snapcache::stress::violation_counter;

constexpr std::size_t capacity = 12;
constexpr std::uint64_t id_pool = 40;  // more ids than capacity: evictions and replacements
constexpr std::size_t max_inspections = 6;
const auto max_age = std::chrono::hours(1);

// Standard mode's candidate order: newer completion first, then the smaller id.
bool candidate_before(const query_entry& a, const query_entry& b) {
  if (*a.completed_at != *b.completed_at) return *a.completed_at > *b.completed_at;
  return a.id < b.id;
}

struct alignas(64) thread_counts {
  std::uint64_t ops = 0, lookups = 0, listings = 0;
};

template <class Cache>
int run(const snapcache::stress::options& opts) {
  snapcache::stress::verdict verdict("cache_eviction");
  violation_counter unsorted("candidates not sorted");
  violation_counter duplicate("duplicate id in candidates");
  violation_counter oversize("too many candidates");
  violation_counter not_candidate("non-candidate listed");
  violation_counter torn("inconsistent entry");
  violation_counter wrong_hit("wrong lookup hit");

  Cache cache(capacity);
  const unsigned workers = opts.threads;
  std::vector<thread_counts> counts(workers);
  std::vector<std::atomic<std::uint64_t>> next_version(id_pool);
  const snapcache::stress::time_box box(opts.seconds);
  const std::size_t bound = capacity + workers;  // every worker inserts

  auto check_listing = [&](const auto& view) {
    std::set<std::string> ids;
    const query_entry* previous = nullptr;
    std::size_t n = 0;
    for (const query_entry& e : view) {
      ++n;
      if (auto why = inconsistency(e); !why.empty()) torn.report(why, box);
      if (!is_candidate(e)) {
        not_candidate.report(e.id, box);
        continue;
      }
      if (!ids.insert(e.id).second) duplicate.report(e.id, box);
      if (previous != nullptr && candidate_before(e, *previous))
        unsorted.report(previous->id + " listed before " + e.id, box);
      previous = &e;
    }
    if (n > bound || view.size() != n)
      oversize.report(std::to_string(n) + " listed, size() " + std::to_string(view.size()) + ", bound " +
                          std::to_string(bound), box);
  };

  box.run(
      workers,
      [&](unsigned t) {
        snapcache::stress::rng rng(mix(opts.seed + t));
        thread_counts& c = counts[t];
        const cache_clock::time_point now = base() + std::chrono::minutes(2);
        while (box.running()) {
          const std::uint64_t id = rng.below(id_pool);
          const unsigned pick = static_cast<unsigned>(rng.below(100));
          if (pick < 40) {
            // relaxed: only a distinct number per insert is needed, no ordering
            const std::uint64_t version = next_version[id].fetch_add(1, std::memory_order_relaxed);
            cache.insert(make_entry(id, version));
          } else if (pick < 70) {
            const std::string& sql = texts[rng.below(texts.size())];
            const auto hit = cache.lookup(sql, max_age, max_inspections, now);
            ++c.lookups;
            if (hit) {
              if (auto why = inconsistency(hit->entry); !why.empty()) torn.report(why, box);
              if (!is_candidate(hit->entry) || hit->id != hit->entry.id ||
                  hit->output_location != hit->entry.output_location) {
                wrong_hit.report(hit->id + " for '" + sql + "'", box);
              } else if (auto inner = snapcache::ctas_parquet_select(hit->entry.query);
                         snapcache::normalize(inner ? *inner : hit->entry.query) != snapcache::normalize(sql)) {
                wrong_hit.report("'" + hit->entry.query + "' for '" + sql + "'", box);
              }
            }
          } else if (pick < 88) {
            check_listing(cache.candidates());
            ++c.listings;
          } else if (pick < 94) {
            cache.erase("q" + std::to_string(id));
          } else {
            const std::string name = "q" + std::to_string(id);
            if (auto found = cache.find(name)) {
              if (auto why = inconsistency(*found); !why.empty()) torn.report(why, box);
            }
            (void)cache.contains(name);
            (void)cache.size();
          }
          ++c.ops;
        }
      },
      [&] {
        std::uint64_t ops = 0;
        for (const auto& c : counts) ops += c.ops;
        return std::to_string(ops) + " operations";
      });

  // Quiescent: counts reconcile and the final state is well formed.
  std::uint64_t ops = 0, lookups = 0, listings = 0;
  for (const auto& c : counts) {
    ops += c.ops;
    lookups += c.lookups;
    listings += c.listings;
  }
  const snapcache::cache_stats stats = cache.stats();
  check_listing(cache.candidates());
  bool lookup_agrees = true;
  for (std::uint64_t id = 0; id < id_pool; ++id) {
    const std::string name = "q" + std::to_string(id);
    lookup_agrees = lookup_agrees && cache.find(name).has_value() == cache.contains(name);
  }
  std::printf("%llu operations, %llu lookups (%llu hits), %llu listings, %llu evictions\n",
              static_cast<unsigned long long>(ops), static_cast<unsigned long long>(lookups),
              static_cast<unsigned long long>(stats.hits), static_cast<unsigned long long>(listings),
              static_cast<unsigned long long>(stats.evictions));

  for (const violation_counter* v : {&unsorted, &duplicate, &oversize, &not_candidate, &torn, &wrong_hit})
    verdict.check(v->summary(), v->count() == 0);
  verdict.check("size() <= capacity at quiescence", cache.size() <= capacity,
                std::to_string(cache.size()) + " entries");
  verdict.check("hits + misses == lookups == lookups made",
                stats.hits + stats.misses == stats.lookups && stats.lookups == lookups,
                std::to_string(stats.hits) + " + " + std::to_string(stats.misses) + " vs " +
                    std::to_string(stats.lookups) + " vs " + std::to_string(lookups));
  verdict.check("find() agrees with contains() at quiescence", lookup_agrees);
  verdict.check("the run evicted entries", stats.evictions > 0, "no eviction: the scenario is too small");
  return verdict.finish(opts);
}

}  // namespace

int main(int argc, char** argv) {
  const auto opts = snapcache::stress::parse_options(
      argc, argv, "cache_eviction",
      "inserts, lookups, erases and candidate listings racing on a small query cache",
      {"lock_free", "locked"});
  return opts.variant == "locked" ? run<snapcache::locked_query_cache>(opts)
                                  : run<snapcache::query_cache>(opts);
}
