// map_linearizability: records short concurrent histories, each on a fresh
// map, and checks them for linearizability (stress/lincheck).
//
// Two kinds of histories:
//  * small: every thread runs 8 operations on 4 keys -- insert,
//    insert_or_assign, erase, find and snapshot -- and the whole history is
//    checked with check() against the whole-map model, unsplit, so each
//    snapshot must equal the map at one instant inside its call;
//  * large: every thread runs 200 operations on 16 keys, no snapshots,
//    checked key by key with check_per_key().
// About a sixth of the time goes to large histories.
//
// The worker threads are started once and reused. They work in batches of
// histories of one kind: a batch opens and closes at a barrier, and inside it
// the threads meet at a third barrier before each history, so that they start
// it together. Each history runs on a fresh, empty map, built by one thread
// just before that meeting. After a batch every thread checks its share of
// the histories, in parallel.
//
// A snapshot's contents are recorded from its iteration inside the call;
// afterwards, outside the recorded interval, the snapshot's find() must agree
// with them for every key (it answers for the snapshot's instant, whenever it
// is asked).
//
// A violation prints "not linearizable", the seed, the history's number and
// the smallest failing history (lincheck::smallest_failing). A check that
// hits its step cap proves nothing and fails loudly ("step cap hit").
//
// The quick profile runs 4 threads for 3 s with SNAPCACHE_PERTURB=20.
#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "driver.hpp"
#include "lincheck/checker.hpp"
#include "lincheck/history.hpp"
#include "snapcache/detail/test_hooks.hpp"
#include "snapcache/hash_map.hpp"

namespace {

using map_type = snapcache::hash_map<std::uint64_t, std::uint64_t>;
using clock_type = std::chrono::steady_clock;
namespace lincheck = snapcache::lincheck;

struct history_kind {
  const char* name;
  unsigned ops_per_thread;
  std::uint64_t keys;
  bool snapshots;            // small: checked whole with check(); large: check_per_key()
  unsigned per_thread;       // histories per thread in one batch
  std::size_t step_cap;
};

constexpr history_kind small_kind{"small", 8, 4, true, 4, 200'000};
constexpr history_kind large_kind{"large", 200, 16, false, 1, 2'000'000};
constexpr double large_share = 1.0 / 6;  // of the run's time

using snapcache::stress::mix;

using snapcache::stress::violation_counter;

// One history in the making: its map and its recorder.
struct history_slot {
  std::uint64_t number = 0;  // in the run, for reports
  std::optional<map_type> map;
  std::optional<lincheck::recorder> rec;
};

// Totals per kind, added to by the checking threads.
struct kind_totals {
  std::atomic<std::uint64_t> checked{0}, ops{0}, steps{0}, overlapping{0};
};

// Operations that overlap an operation of another thread: how concurrent the
// histories really were. A thread's operations are sequential, so per other
// thread a binary search finds the only candidate: its first operation that
// responded after this one was invoked.
std::uint64_t count_overlapping(const lincheck::history& h, unsigned threads) {
  std::vector<std::vector<const lincheck::operation*>> by_thread(threads);
  for (const auto& op : h) by_thread[op.thread].push_back(&op);  // h is ordered by invocation
  std::uint64_t n = 0;
  for (const auto& op : h) {
    for (unsigned t = 0; t < threads; ++t) {
      if (t == op.thread) continue;
      const auto& ops = by_thread[t];
      auto it = std::partition_point(ops.begin(), ops.end(),
                                     [&](const lincheck::operation* o) { return o->responded <= op.invoked; });
      if (it != ops.end() && (*it)->invoked < op.responded) {
        ++n;
        break;
      }
    }
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  const auto opts = snapcache::stress::parse_options(
      argc, argv, "map_linearizability",
      "records short histories on fresh maps and checks them for linearizability");
  snapcache::stress::verdict verdict("map_linearizability");

  violation_counter small_failed("not linearizable");
  violation_counter large_failed("not linearizable");
  violation_counter cap_hit("step cap hit");
  violation_counter find_disagrees("snapshot find check failed");
  kind_totals small_totals, large_totals;
  double small_time = 0, large_time = 0;

  {
    const unsigned workers = opts.threads;
    const snapcache::stress::time_box box(opts.seconds);
    const auto run_end = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                                  std::chrono::duration<double>(opts.seconds));
    std::vector<history_slot> slots(workers * std::max(small_kind.per_thread, large_kind.per_thread));

    // Set by the opening barrier's completion, which runs while every worker
    // waits; the barrier orders it before their reads.
    const history_kind* kind = &large_kind;
    unsigned batch_size = 0;
    std::uint64_t histories_started = 0;
    bool go = true;
    clock_type::time_point batch_start = clock_type::now();
    bool first_batch = true;
    auto open_batch = [&]() noexcept {
      const auto now = clock_type::now();
      if (!first_batch) (kind->snapshots ? small_time : large_time) += std::chrono::duration<double>(now - batch_start).count();
      first_batch = false;
      batch_start = now;
      go = box.running() && now < run_end;
      // Small first (they pinpoint a bug soonest), then large as soon as it
      // is owed its share, so every run checks both kinds.
      kind = small_time > 0 && large_time <= large_share * (small_time + large_time) ? &large_kind : &small_kind;
      batch_size = workers * kind->per_thread;
      for (unsigned j = 0; j < batch_size; ++j) slots[j].number = ++histories_started;
    };
    std::barrier open_sync(static_cast<std::ptrdiff_t>(workers), open_batch);
    std::barrier close_sync(static_cast<std::ptrdiff_t>(workers));
    std::barrier meet_sync(static_cast<std::ptrdiff_t>(workers));

    // Runs one recorded operation on history `s` as thread `thread`.
    auto run_operation = [&](history_slot& s, unsigned thread, snapcache::stress::rng& rng, std::uint64_t& seq) {
      map_type& map = *s.map;
      lincheck::operation op;
      op.key = rng.below(kind->keys);
      op.value = (std::uint64_t{thread} + 1) << 32 | ++seq;  // unique: the checker can tell writes apart
      const std::uint64_t r = rng.below(100);
      if (kind->snapshots && r < 10) {
        op.kind = lincheck::op_kind::snapshot;
      } else if (r < 40) {
        op.kind = lincheck::op_kind::insert;
      } else if (r < 50) {
        op.kind = lincheck::op_kind::insert_or_assign;
      } else if (r < 75) {
        op.kind = lincheck::op_kind::erase;
      } else {
        op.kind = lincheck::op_kind::find;
      }
      if (op.kind != lincheck::op_kind::snapshot) {
        s.rec->record(thread, std::move(op), [&](lincheck::operation& o) {
          switch (o.kind) {
            case lincheck::op_kind::insert: o.ok = map.insert(o.key, o.value); break;
            case lincheck::op_kind::insert_or_assign: o.ok = map.insert_or_assign(o.key, o.value); break;
            case lincheck::op_kind::erase: o.ok = map.erase(o.key); break;
            case lincheck::op_kind::find: {
              const auto found = map.find(o.key);
              o.ok = found.has_value();
              o.found_value = found.value_or(0);
              break;
            }
            case lincheck::op_kind::snapshot: break;
          }
        });
        return;
      }
      std::optional<map_type::snapshot_type> snap;
      std::vector<std::pair<std::uint64_t, std::uint64_t>> contents;
      s.rec->record(thread, std::move(op), [&](lincheck::operation& o) {
        snap.emplace(map.snapshot());
        for (auto [k, v] : *snap) o.contents.emplace_back(k, v);
        std::sort(o.contents.begin(), o.contents.end());
        contents = o.contents;
      });
      // Outside the recorded call: find() answers for the snapshot's instant.
      for (std::uint64_t k = 0; k < kind->keys; ++k) {
        SNAPCACHE_PERTURB();
        const auto found = snap->find(k);
        auto it = std::lower_bound(contents.begin(), contents.end(), std::pair<std::uint64_t, std::uint64_t>{k, 0});
        const bool held = it != contents.end() && it->first == k;
        if (found.has_value() != held || (found && *found != it->second)) {
          find_disagrees.report("history " + std::to_string(s.number) + ", seed " + std::to_string(opts.seed) +
                                    ": key " + std::to_string(k) + ": find() " +
                                    (found ? "found " + std::to_string(*found) : std::string("found nothing")) +
                                    ", iteration " +
                                    (held ? "held " + std::to_string(it->second) : std::string("did not hold it")),
                                box);
        }
      }
    };

    auto check_history = [&](history_slot& s) {
      const lincheck::history h = s.rec->merge();
      const bool small = kind->snapshots;
      kind_totals& totals = small ? small_totals : large_totals;
      const auto result = small ? lincheck::check(h, kind->step_cap) : lincheck::check_per_key(h, kind->step_cap);
      totals.checked.fetch_add(1, std::memory_order_relaxed);  // statistic only
      totals.ops.fetch_add(h.size(), std::memory_order_relaxed);  // statistic only
      totals.steps.fetch_add(result.steps, std::memory_order_relaxed);  // statistic only
      totals.overlapping.fetch_add(count_overlapping(h, workers), std::memory_order_relaxed);  // statistic only
      const std::string which = std::string(kind->name) + " history " + std::to_string(s.number) + ", seed " +
                                std::to_string(opts.seed);
      if (result.cap_hit) {
        cap_hit.report(which + ": the check hit its cap of " + std::to_string(kind->step_cap) +
                           " steps, which proves nothing:\n" + lincheck::format(h),
                       box);
      } else if (!result.linearizable) {
        box.stop();  // a failure, before the minimising (which may take long): the watchdog waits for it
        const lincheck::history smallest = lincheck::smallest_failing(h);
        const auto again = small ? lincheck::check(smallest, kind->step_cap)
                                 : lincheck::check_per_key(smallest, kind->step_cap);
        (small ? small_failed : large_failed)
            .report(which + "; smallest failing history (" + std::to_string(smallest.size()) + " of " +
                        std::to_string(h.size()) + " operations):\n" + lincheck::format(smallest) +
                        (again.linearizable ? result.explanation : again.explanation),
                    box);
      }
    };

    box.run(
        workers,
        [&](unsigned index) {
          std::uint64_t seq = 0;
          for (;;) {
            open_sync.arrive_and_wait();  // kind, batch_size, go set
            if (!go) break;
            for (unsigned j = 0; j < batch_size; ++j) {
              history_slot& s = slots[j];
              if (j % workers == index) {  // this thread's share: it builds the map and checks later
                s.map.emplace(0, snapcache::seeded_hash<std::uint64_t>{mix(opts.seed ^ mix(s.number)) | 1});
                s.rec.emplace(workers, kind->ops_per_thread);
              }
              meet_sync.arrive_and_wait();  // start together; publishes the map and recorder
              snapcache::stress::rng rng(mix(opts.seed * 1000003 + index) ^ mix(s.number));
              for (unsigned i = 0; i < kind->ops_per_thread; ++i) run_operation(s, index, rng, seq);
            }
            close_sync.arrive_and_wait();  // every history of the batch recorded
            for (unsigned j = index; j < batch_size; j += workers) {
              check_history(slots[j]);
              slots[j].map.reset();
              slots[j].rec.reset();
            }
          }
        },
        [&] {
          return "histories checked: " + std::to_string(small_totals.checked.load(std::memory_order_relaxed)) +
                 " small, " + std::to_string(large_totals.checked.load(std::memory_order_relaxed)) +
                 " large";  // progress only
        });
  }

  verdict.check("every small history (whole-map model, snapshots included) is linearizable",
                small_failed.count() == 0, small_failed.summary());
  verdict.check("every large history (per key) is linearizable", large_failed.count() == 0, large_failed.summary());
  verdict.check("no check hit its step cap", cap_hit.count() == 0, cap_hit.summary());
  verdict.check("every snapshot's find() agrees with its iteration", find_disagrees.count() == 0,
                find_disagrees.summary());
  // A violation stops the run early, maybe before both kinds were checked.
  const bool stopped_early = small_failed.count() + large_failed.count() + cap_hit.count() + find_disagrees.count() > 0;
  verdict.check("histories of both kinds were checked (unless a violation stopped the run)",
                stopped_early || (small_totals.checked.load() > 0 && large_totals.checked.load() > 0),
                "small=" + std::to_string(small_totals.checked.load()) +
                    " large=" + std::to_string(large_totals.checked.load()));
  auto describe = [&](const history_kind& k, const kind_totals& t, double seconds) {
    const double ops = static_cast<double>(t.ops.load());
    std::printf("map_linearizability: %llu %s histories checked (%u threads x %u ops on %llu keys%s), "
                "%.0f%% of operations overlapping another thread's, %.2f checker steps per operation, %.2fs\n",
                static_cast<unsigned long long>(t.checked.load()), k.name, opts.threads, k.ops_per_thread,
                static_cast<unsigned long long>(k.keys), k.snapshots ? ", with snapshots" : "",
                ops > 0 ? 100.0 * static_cast<double>(t.overlapping.load()) / ops : 0.0,
                ops > 0 ? static_cast<double>(t.steps.load()) / ops : 0.0, seconds);
  };
  describe(small_kind, small_totals, small_time);
  describe(large_kind, large_totals, large_time);
  return verdict.finish(opts);
}
