// Relacy model of snapshot publication and version trimming:
// detail/snapshot_registry.hpp and the stamping and trimming of
// hash_map.hpp (docs/design.md, "Versions and snapshots", "Trimming").
//
// Each registry operation below mirrors one in snapshot_registry.hpp and
// takes its order from the same table (detail/orders.hpp, S1-S13), so a
// -DSNAPCACHE_WEAKEN_<entry> build weakens model and library alike. The
// map's own accesses to heads, links and stamps are seq_cst, as in
// hash_map.hpp. Every schedule with at most 2 preemptions is explored.
//
// One key, whose chain starts as v1 (stamped 1, clock 1). Three threads:
//   reader:  opens snapshot A (t), reads the version visible at t and its
//            value, reads it again, closes A. It holds no epoch guard, as a
//            snapshot iterator between batches does.
//   writer:  opens and closes snapshot B (so the clock can move past t by
//            another thread's advance), then installs v2 over v1 and stamps
//            it with the clock read after installation.
//   trimmer: reads the clock c, then the announcements (collect()), then
//            applies the trimming rule to v1: removed only if the head v2 is
//            stamped <= c and no announced t has v1.stamp <= t < v2.stamp.
//            Removal unlinks v1 and frees it at once (the EBR grace period
//            does not protect a snapshot that holds no guard).
// Checks:
//   * a version a snapshot reads is never removed while it is announced:
//     Relacy reports a data race or an access to freed memory on its value;
//   * stamping: A reads the same version both times (every stamp taken
//     after A's advance is > t), and stamps never decrease along the chain;
//   * every snapshot pushes a fresh slot and marks it closed (S6) at close;
//     the unlinking and retiring of closed slots (S7, under an epoch guard)
//     is not modelled: the unit tests and the TSan/ASan builds cover it.
//
// Build and run (from the repository root; tools/weaken-orders.sh does so too):
//   g++ -std=c++17 -O1 -fno-sized-deallocation -Iinclude -Istress/relacy
//       stress/relacy/snapshot_model.cpp -o /tmp/snapshot_model && /tmp/snapshot_model
// Add -DSNAPCACHE_WEAKEN_S1 (say) to weaken one entry; -v prints histories.
#include "model_runner.hpp"

namespace {

using snapcache::model::orders::advance_clock;
using snapcache::model::orders::announce_timestamp;
using snapcache::model::orders::count_live;
using snapcache::model::orders::load_slots;
using snapcache::model::orders::mark_closed;
using snapcache::model::orders::publish_slot;
using snapcache::model::orders::read_live;
using snapcache::model::orders::scan_timestamp;
using snapcache::model::orders::stamp_clock;
using snapcache::model::orders::trim_clock;
using snapcache::model::orders::validate_clock;
using snapcache::model::orders::withdraw_timestamp;
using snapcache::model::rl_order;

constexpr std::uint64_t no_timestamp = ~std::uint64_t{0};
constexpr int live = 1;
constexpr int dead = 0;

struct slot {
  rl::atomic<std::uint64_t> timestamp;
  rl::atomic<bool> closed;  // the library's mark bit on `next`
  rl::var<slot*> next;      // written once before publication (S12)
};

struct version {
  rl::atomic<std::uint64_t> stamp;
  rl::atomic<version*> next;
  rl::var<int> value;  // what a snapshot reads
};

version* make_version(std::uint64_t stamp, version* next) {
  version* v = new version;
  v->stamp($) = stamp;
  v->next($) = next;
  v->value($) = live;
  return v;
}

struct snapshot_publication : rl::test_suite<snapshot_publication, 3> {
  static constexpr unsigned reader = 0, writer = 1, trimmer = 2;

  // snapshot_registry
  rl::atomic<std::uint64_t> clock;
  rl::atomic<unsigned> live_count;
  rl::atomic<slot*> slots;
  // the key's chain
  rl::atomic<version*> head;

  void before() {
    clock($) = 1;
    live_count($) = 0;
    slots($) = nullptr;
    head($) = make_version(1, nullptr);
  }

  void after() {
    version* v = head($);
    while (v != nullptr) {
      version* next = v->next($);
      delete v;
      v = next;
    }
    slot* s = slots($);
    while (s != nullptr) {
      slot* next = s->next($);
      delete s;
      s = next;
    }
  }

  // ---- snapshot_registry ----

  std::uint64_t now() { return clock.load(rl_order(stamp_clock), $); }  // (S9)

  slot* make_slot() {
    slot* s = new slot;
    s->timestamp($) = no_timestamp;
    s->closed($) = false;
    slot* first = slots.load(rl::mo_relaxed, $);  // the CAS validates
    do {
      s->next($) = first;
    } while (!slots.compare_exchange_weak(first, s, rl_order(publish_slot), $,  // (S12)
                                          rl::mo_relaxed, $));  // retry reads head only
    return s;
  }

  std::uint64_t open(slot*& out) {
    live_count.fetch_add(1, rl_order(count_live), $);  // (S10)
    slot* s = make_slot();
    std::uint64_t t = clock.load(rl_order(validate_clock), $);  // (S2)
    for (;;) {
      s->timestamp.store(t, rl_order(announce_timestamp), $);            // (S1)
      const std::uint64_t again = clock.load(rl_order(validate_clock), $);  // (S2)
      if (again == t) break;
      t = again;
    }
    std::uint64_t expected = t;
    clock.compare_exchange_strong(expected, t + 1, rl_order(advance_clock), $);  // (S3)
    out = s;
    return t;
  }

  void close(slot* s) {
    s->timestamp.store(no_timestamp, rl_order(withdraw_timestamp), $);  // (S8)
    s->closed.store(true, rl_order(mark_closed), $);  // (S6)
    live_count.fetch_sub(1, rl_order(count_live), $);    // (S10)
  }

  // collect(): the clock first, then the announcements. Returns whether some
  // announced t has stamp <= t < newer (reads_between).
  struct seen_t {
    std::uint64_t clock = 0;
    std::uint64_t values[2] = {};
    unsigned count = 0;
    bool reads_between(std::uint64_t stamp, std::uint64_t newer) const {
      for (unsigned i = 0; i < count; ++i) {
        if (stamp <= values[i] && values[i] < newer) return true;
      }
      return false;
    }
  };

  seen_t collect() {
    seen_t seen;
    seen.clock = clock.load(rl_order(trim_clock), $);  // (S4)
    if (live_count.load(rl_order(read_live), $) == 0) return seen;  // (S11)
    for (slot* s = slots.load(rl_order(load_slots), $); s != nullptr; s = s->next($)) {  // (S13)
      const std::uint64_t t = s->timestamp.load(rl_order(scan_timestamp), $);  // (S5)
      if (t != no_timestamp && seen.count < 2) seen.values[seen.count++] = t;
    }
    return seen;
  }

  // ---- hash_map: stamping, reading at t, trimming (all seq_cst) ----

  std::uint64_t stamp(version* v) {
    std::uint64_t s = v->stamp.load(rl::mo_seq_cst, $);
    if (s != no_timestamp) return s;
    const std::uint64_t n = now();
    if (v->stamp.compare_exchange_strong(s, n, rl::mo_seq_cst, $)) return n;
    return s;
  }

  version* visible_at(std::uint64_t t) {
    version* v = head.load(rl::mo_seq_cst, $);
    while (v != nullptr) {
      if (stamp(v) <= t) return v;
      v = v->next.load(rl::mo_seq_cst, $);
    }
    return nullptr;
  }

  void trim() {
    const seen_t seen = collect();
    version* prev = head.load(rl::mo_seq_cst, $);
    const std::uint64_t newer = stamp(prev);
    version* curr = prev->next.load(rl::mo_seq_cst, $);
    if (curr == nullptr) return;
    const std::uint64_t s = curr->stamp.load(rl::mo_seq_cst, $);  // below the head: stamped
    RL_ASSERT(s <= newer);  // stamps never decrease along a chain
    const bool below_clock = newer <= seen.clock;
    if (!below_clock || seen.reads_between(s, newer)) return;  // needed
    version* expected = curr;
    if (prev->next.compare_exchange_strong(expected, nullptr, rl::mo_seq_cst, $)) {
      curr->value($) = dead;  // retire and reclaim: nothing else holds it back
      delete curr;
    }
  }

  void thread(unsigned self) {
    if (self == reader) {
      slot* s = nullptr;
      const std::uint64_t t = open(s);
      version* first = visible_at(t);
      RL_ASSERT(first != nullptr && first->value($) == live);
      version* again = visible_at(t);
      RL_ASSERT(again == first);  // every stamp taken after the advance is > t
      RL_ASSERT(again->value($) == live);
      close(s);
    } else if (self == writer) {
      slot* s = nullptr;
      open(s);
      close(s);
      version* old = head.load(rl::mo_seq_cst, $);
      stamp(old);  // a writer stamps the head before pushing over it
      version* fresh = make_version(no_timestamp, old);
      version* expected = old;
      const bool installed = head.compare_exchange_strong(expected, fresh, rl::mo_seq_cst, $);
      RL_ASSERT(installed);  // the only writer
      stamp(fresh);
    } else {
      trim();
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  snapcache::model::runner runner(argc, argv);
  runner.run<snapshot_publication>("snapshot_publication");
  return runner.exit_code();
}
