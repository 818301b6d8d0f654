// cache_linearizability: records short concurrent histories, each on a fresh
// query cache of capacity 2 over 4 ids, and checks each one as a whole
// against the sequential model of the specification (lincheck/cache_checker).
//
// Every thread runs 8 operations per history: insert (entries from
// cache_entries.hpp, a fresh version each time), erase, contains, lookup
// (unlimited, or one inspection: that walk reads the candidate order and the
// text's bucket together) and candidates(). With two slots and four ids,
// nearly every insert evicts, replaces or is dropped, so the histories
// exercise the eviction rules under contention, not just a map.
//
// The worker threads are started once; before each history they meet at a
// barrier whose completion (one thread, the others waiting) checks the
// previous history and builds the next cache, so every history starts with
// all threads released together.
//
// --variant lock_free (default) checks snapcache::query_cache; --variant
// locked checks locked_query_cache. A violation prints "not linearizable",
// the seed, the history's number, the history and where the search got
// furthest; a check that hits its step cap fails loudly ("step cap hit").
#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>

#include "cache_entries.hpp"
#include "driver.hpp"
#include "lincheck/cache_checker.hpp"
#include "lincheck/history.hpp"
#include "snapcache/locked_query_cache.hpp"
#include "snapcache/query_cache.hpp"

namespace {

namespace lincheck = snapcache::lincheck;
using snapcache::stress::mix;
using snapcache::stress::violation_counter;

constexpr unsigned ops_per_thread = 8;
constexpr std::uint64_t ids = 4;
constexpr std::size_t step_cap = 200'000;

template <class Cache>
int run(const snapcache::stress::options& opts) {
  snapcache::stress::verdict verdict("cache_linearizability");
  violation_counter failed("not linearizable");
  violation_counter cap_hit("step cap hit");

  lincheck::cache_setup setup;
  setup.capacity = 2;
  setup.now = snapcache::stress::base() + std::chrono::minutes(2);

  const unsigned workers = opts.threads;
  const snapcache::stress::time_box box(opts.seconds);
  std::optional<Cache> cache;
  std::optional<lincheck::basic_recorder<lincheck::cache_op>> rec;
  std::uint64_t number = 0, checked = 0, operations = 0, steps = 0;
  std::atomic<std::uint64_t> progress{0};  // histories checked, for the progress line
  bool go = true;

  // Runs while every worker waits at the barrier: checks the history just
  // recorded, then sets up the next one.
  auto between_histories = [&]() noexcept {
    if (rec) {
      const lincheck::cache_history h = rec->merge();
      const auto result = lincheck::check_cache(h, setup, step_cap);
      ++checked;
      progress.store(checked, std::memory_order_relaxed);  // progress line only
      operations += h.size();
      steps += result.steps;
      const std::string which = "history " + std::to_string(number) + ", seed " + std::to_string(opts.seed);
      if (result.cap_hit) {
        cap_hit.report(which + ": the check hit its cap of " + std::to_string(step_cap) +
                           " steps, which proves nothing:\n" + lincheck::format(h),
                       box);
      } else if (!result.linearizable) {
        failed.report(which + ":\n" + lincheck::format(h) + result.explanation, box);
      }
    }
    go = box.running();
    ++number;
    cache.emplace(setup.capacity, setup.mode);
    rec.emplace(workers, ops_per_thread);
  };
  std::barrier meet(static_cast<std::ptrdiff_t>(workers), between_histories);

  box.run(
      workers,
      [&](unsigned t) {
        std::uint64_t seq = 0;
        for (;;) {
          meet.arrive_and_wait();  // the next cache and recorder are ready (or the run is over)
          if (!go) break;
          snapcache::stress::rng rng(mix(opts.seed * 1'000'003 + t) ^ mix(number));
          for (unsigned i = 0; i < ops_per_thread; ++i) {
            lincheck::cache_op op;
            const std::uint64_t id = rng.below(ids);
            const unsigned pick = static_cast<unsigned>(rng.below(100));
            if (pick < 40) {
              op.kind = lincheck::cache_op_kind::insert;
              op.entry = snapcache::stress::make_entry(id, (std::uint64_t{t} << 32) | ++seq);
            } else if (pick < 55) {
              op.kind = lincheck::cache_op_kind::erase;
            } else if (pick < 65) {
              op.kind = lincheck::cache_op_kind::contains;
            } else if (pick < 85) {
              op.kind = lincheck::cache_op_kind::lookup;
              op.sql = snapcache::stress::texts[rng.below(snapcache::stress::texts.size())];
              if (rng.below(2) == 0) op.max_inspections = 1;
            } else {
              op.kind = lincheck::cache_op_kind::candidates;
            }
            op.id = "q" + std::to_string(id);
            rec->record(t, std::move(op), [&](lincheck::cache_op& o) {
              switch (o.kind) {
                case lincheck::cache_op_kind::insert: o.inserted = cache->insert(o.entry); break;
                case lincheck::cache_op_kind::erase: o.ok = cache->erase(o.id); break;
                case lincheck::cache_op_kind::contains: o.ok = cache->contains(o.id); break;
                case lincheck::cache_op_kind::lookup: {
                  auto hit = cache->lookup(o.sql, setup.max_age, o.max_inspections, setup.now);
                  if (hit) o.hit = std::move(hit->entry);
                  break;
                }
                case lincheck::cache_op_kind::candidates:
                  for (const auto& e : cache->candidates()) o.listed.push_back(e);
                  break;
              }
            });
          }
        }
      },
      [&] { return "histories checked: " + std::to_string(progress.load(std::memory_order_relaxed)); });  // progress only

  verdict.check("every cache history (whole-cache model) is linearizable", failed.count() == 0, failed.summary());
  verdict.check("no check hit its step cap", cap_hit.count() == 0, cap_hit.summary());
  verdict.check("histories were checked", checked > 0 || failed.count() + cap_hit.count() > 0);
  std::printf("cache_linearizability: %llu histories checked (%u threads x %u ops on %llu ids, capacity %zu), "
              "%.2f checker steps per operation\n",
              static_cast<unsigned long long>(checked), workers, ops_per_thread,
              static_cast<unsigned long long>(ids), setup.capacity,
              operations > 0 ? static_cast<double>(steps) / static_cast<double>(operations) : 0.0);
  return verdict.finish(opts);
}

}  // namespace

int main(int argc, char** argv) {
  const auto opts = snapcache::stress::parse_options(
      argc, argv, "cache_linearizability",
      "records short histories on fresh query caches and checks each against the specification's model",
      {"lock_free", "locked"});
  return opts.variant == "locked" ? run<snapcache::locked_query_cache>(opts)
                                  : run<snapcache::query_cache>(opts);
}
