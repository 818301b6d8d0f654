// Relacy model of the EBR protocol: lib/ebr.cpp and detail/ebr_record.hpp.
//
// Each atomic operation below mirrors one in the library and takes its order
// from the same table (detail/orders.hpp), so a -DSNAPCACHE_WEAKEN_<entry>
// build weakens model and library alike. Objects carry an rl::var payload:
// the reclaim writes it and then frees it, so Relacy reports a data race or
// an access to freed memory if an object can be reclaimed while a reader
// can still read it. Every schedule with at most 2 preemptions is explored.
//
//   ebr_protection (E1-E5): a reader pins, loads the protected pointer,
//     reads the object, unpins; a writer pins, swaps the pointer, retires the
//     old object with the epoch tag, unpins, tries to advance twice and
//     collects (frees when the epoch is 2 past the tag); an advancer tries to
//     advance twice, so the collector may see an epoch moved by another
//     thread's scan.
//   ebr_handover (E6-E9): a thread registers (pushes a new record), retires
//     into it and exits (releases the record); an adopter walks the registry,
//     claims released records, frees their garbage and releases them; a
//     registering thread walks the registry and claims a released record or
//     pushes a new one.
//
// Build and run (from the repository root; tools/weaken-orders.sh does so too):
//   g++ -std=c++17 -O1 -fno-sized-deallocation -Iinclude -Istress/relacy
//       stress/relacy/ebr_model.cpp -o /tmp/ebr_model && /tmp/ebr_model
// Add -DSNAPCACHE_WEAKEN_E2 (say) to weaken one entry; -v prints histories.
#include "model_runner.hpp"

namespace {

using snapcache::model::orders::advance_epoch;
using snapcache::model::orders::advance_epoch_failure;
using snapcache::model::orders::claim_record;
using snapcache::model::orders::load_registry;
using snapcache::model::orders::pin_announce;
using snapcache::model::orders::publish_record;
using snapcache::model::orders::read_epoch;
using snapcache::model::orders::release_record;
using snapcache::model::orders::scan_announcement;
using snapcache::model::orders::unpin;
using snapcache::model::rl_order;

constexpr std::uint64_t pinned_bit = 1;  // as detail::pinned_bit
constexpr int live = 1;
constexpr int dead = 0;

// A retirable object; its payload stands for everything a reader reads.
struct object {
  rl::var<int> payload;
};

object* make_object() {
  object* o = new object;
  o->payload($) = live;
  return o;
}

// The reclaim function: the destructor's write, then the free.
void reclaim(object* o) {
  o->payload($) = dead;
  delete o;
}

// ---- E1-E5: pin, unpin, retire, advance, collect -----------------------------

struct ebr_protection : rl::test_suite<ebr_protection, 3> {
  static constexpr unsigned reader = 0, writer = 1, advancer = 2;

  rl::atomic<std::uint64_t> epoch;              // domain_state::epoch
  rl::atomic<std::uint64_t> announcement[3];    // one record per thread, registered
  rl::atomic<object*> shared;                   // a protected pointer

  // The writer's limbo list (one list, one object): owner-only, as in ebr_record.
  object* limbo = nullptr;
  std::uint64_t limbo_epoch = 0;

  void before() {
    epoch($) = 0;
    for (auto& a : announcement) a($) = 0;
    shared($) = make_object();
  }

  void after() {
    if (limbo != nullptr) reclaim(limbo);  // never freed: the grace period did not pass
    reclaim(shared($));
  }

  // detail::enter
  void pin(unsigned self) {
    const std::uint64_t e = epoch.load(rl_order(read_epoch), $);                        // (E4)
    announcement[self].exchange((e << 1) | pinned_bit, rl_order(pin_announce), $);     // (E1)
  }

  // detail::leave
  void unpin_(unsigned self) { announcement[self].store(0, rl_order(unpin), $); }  // (E2)

  // detail::try_advance
  bool try_advance() {
    std::uint64_t e = epoch.load(rl_order(read_epoch), $);  // (E4)
    for (auto& a : announcement) {
      const std::uint64_t announced = a.load(rl_order(scan_announcement), $);  // (E3)
      if ((announced & pinned_bit) != 0 && (announced >> 1) != e) return false;
    }
    return epoch.compare_exchange_strong(e, e + 1, rl_order(advance_epoch), $,  // (E5)
                                         rl_order(advance_epoch_failure), $);
  }

  // detail::collect
  void collect() {
    const std::uint64_t e = epoch.load(rl_order(read_epoch), $);  // (E4)
    if (limbo != nullptr && e >= limbo_epoch + 2) {
      reclaim(limbo);
      limbo = nullptr;
    }
  }

  void thread(unsigned self) {
    if (self == reader) {
      pin(reader);
      object* o = shared.load(rl::mo_seq_cst, $);  // protect(): the protection rule's seq_cst load
      RL_ASSERT(o->payload($) == live);
      unpin_(reader);
    } else if (self == writer) {
      pin(writer);
      object* fresh = make_object();
      object* old = shared.exchange(fresh, rl::mo_seq_cst, $);  // the unlink: seq_cst by the protection rule
      limbo_epoch = epoch.load(rl_order(read_epoch), $);         // retire: (E4) after the unlink
      limbo = old;
      unpin_(writer);
      if (try_advance()) try_advance();  // detail::reclaim_after_unpin
      collect();
    } else {
      try_advance();  // another thread's advance attempts (synchronize(), pins)
      try_advance();
    }
  }
};

// ---- E6-E9: registration, exit, adoption --------------------------------------

struct record {
  rl::atomic<bool> owned;
  rl::var<record*> next;    // written once before publication (E8)
  rl::var<object*> limbo;   // owner-only: handed over by (E7) -> (E6)
};

record* make_record() {
  record* r = new record;
  r->owned($) = true;
  r->next($) = nullptr;
  r->limbo($) = nullptr;
  return r;
}

struct ebr_handover : rl::test_suite<ebr_handover, 3> {
  static constexpr unsigned exiting = 0, adopter = 1, registering = 2;

  rl::atomic<record*> registry;  // domain_state::registry

  void before() { registry($) = nullptr; }

  void after() {
    record* r = registry($);
    while (r != nullptr) {
      record* next = r->next($);
      if (object* o = r->limbo($)) reclaim(o);
      delete r;
      r = next;
    }
  }

  // claim_or_create's push.
  void push(record* r) {
    record* head = registry.load(rl::mo_relaxed, $);  // the CAS validates
    do {
      r->next($) = head;
    } while (!registry.compare_exchange_weak(head, r, rl_order(publish_record), $,  // (E8)
                                             rl::mo_relaxed, $));  // retry reads head only
  }

  // detail::collect on a record whose grace period is over.
  static void collect(record* r) {
    if (object* o = r->limbo($)) {
      reclaim(o);
      r->limbo($) = nullptr;
    }
  }

  // The claim CAS of adopt_and_collect and claim_or_create.
  static bool claim(record* r) {
    bool expected = false;
    if (r->owned.load(rl::mo_relaxed, $)) return false;  // pre-check; the CAS decides
    return r->owned.compare_exchange_strong(expected, true, rl_order(claim_record), $,  // (E6)
                                            rl::mo_relaxed, $);  // failed claim reads nothing
  }

  void thread(unsigned self) {
    if (self == exiting) {
      record* r = make_record();
      push(r);
      r->limbo($) = make_object();                           // retire (its grace period passes at once)
      r->owned.store(false, rl_order(release_record), $);   // thread exit: (E7)
    } else if (self == adopter) {
      // try_advance's walk: adopt_and_collect each released record.
      for (record* r = registry.load(rl_order(load_registry), $); r != nullptr; r = r->next($)) {  // (E9)
        if (claim(r)) {
          collect(r);
          r->owned.store(false, rl_order(release_record), $);  // (E7)
        }
      }
    } else {
      // claim_or_create: take a released record (and collect), or push a new one.
      for (record* r = registry.load(rl_order(load_registry), $); r != nullptr; r = r->next($)) {  // (E9)
        if (claim(r)) {
          collect(r);
          r->owned.store(false, rl_order(release_record), $);  // and exits at once (E7)
          return;
        }
      }
      push(make_record());
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  snapcache::model::runner runner(argc, argv);
  runner.run<ebr_protection>("ebr_protection");
  runner.run<ebr_handover>("ebr_handover");
  return runner.exit_code();
}
