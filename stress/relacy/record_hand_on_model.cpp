// Relacy model of a kept record's hand-on (detail/hash_map_writes.hpp:
// retire_version, hand_on_record, publish_link, settle_record, recheck_one;
// docs/design.md, "Settling a replaced version").
//
// The chain H -> N -> X -> V: H a head never unlinked here, N and X
// extended versions no snapshot reads, V a kept version whose record R
// names X as its `above` and sits in X's link (two references: the
// snapshot's list and X's link). Three threads:
//   U1 unlinks X from under N (Harris: mark X, CAS N past it, else clean the
//      chain), then retire_version(X): hands R on to X's newer neighbour or
//      flags V (K1);
//   U2 unlinks N from under H the same way;
//   the holder rechecks R as a closing snapshot does: reads V's flag (K2),
//      then `above` (K5) and uses it, or walks from H; settles R (exchange
//      `above` to null, drop the neighbour's link, let go of the list's
//      reference) and unlinks V.
// A second scenario (`keep`) models the record's making: the chain
// H -> X -> V with X just written over V; its writer makes the record,
// links it in X and attaches it to the snapshot's list (or settles it
// itself when the snapshot closed first), while another thread unlinks X
// and the snapshot closes and rechecks whatever it finds on its list.
// Reclamation is abstracted to the protection rule: the holder pins before
// it reads anything; a version retired while the holder has not pinned yet
// (the retirer's seq_cst read of the pin, after its retire) is freed. The
// holder dereferences only versions that are not freed. Checks: that, the
// record freed exactly once with no access after (Relacy's leak check:
// every reference is let go in every execution; and the model's own flag,
// since Relacy does not check atomics of deleted objects), every
// version retired once, and at the end no link names the record and the
// chain is H alone.
// Planted variants (each must FAIL): an unlink takes and drops the record
// without moving `above` or flagging (record_not_handed_on); `above` moved
// before the record is published in the neighbour's link (a settle between
// the two leaves it published in a version after it is freed); no take-back
// when the publisher sees its target marked; the hand-on without a
// reference of its own (once published, the link's reference may be taken
// and let go, and the record freed, before the hand-on moves `above`).
//
// Build and run (from the repository root):
//   g++ -std=c++17 -O1 -fno-sized-deallocation -Iinclude -Istress/relacy
//       stress/relacy/record_hand_on_model.cpp -o /tmp/record_hand_on_model && /tmp/record_hand_on_model
#include "model_runner.hpp"

namespace {

using snapcache::model::orders::hand_on_above;
using snapcache::model::orders::read_above;
using snapcache::model::rl_order;

struct record;

struct version {
  rl::atomic<std::uintptr_t> older;  // a version's address, low bit: marked
  rl::atomic<record*> link;          // extended versions only (H, N, X)
  rl::atomic<bool> flagged;          // above_unlinked (K1)
  rl::atomic<int> retires;
  rl::atomic<bool> freed;
};

struct record {
  rl::atomic<version*> above;
  rl::atomic<int> references;
};

version* strip(std::uintptr_t w) { return reinterpret_cast<version*>(w & ~std::uintptr_t{1}); }
bool marked(std::uintptr_t w) { return (w & 1) != 0; }
std::uintptr_t word(version* v) { return reinterpret_cast<std::uintptr_t>(v); }

enum class plant { none, not_handed_on, above_before_publish, no_take_back, no_own_reference };
// unlinks: the record exists, in X's link; two unlinks race its recheck.
// keep: the chain is H -> X -> V, X just written over V while a snapshot
//   reads V; its writer makes the record, links it in X (link_record) and
//   attaches it to the snapshot's list, or settles it itself if the
//   snapshot closed first; an unlink of X (overwritten again, read by no
//   one) and the snapshot's close race it.
enum class scenario { unlinks, keep };

template <plant Plant, scenario Scenario = scenario::unlinks>
struct hand_on : rl::test_suite<hand_on<Plant, Scenario>, 3> {
  static constexpr unsigned u1 = 0, u2 = 1, holder = 2;
  version h, n, x, v;
  record* r = nullptr;
  rl::atomic<record*> list;  // the snapshot's kept list (keep)
  record closed_sentinel;
  rl::atomic<bool> holder_pinned;
  // Relacy does not check accesses to the atomics of a deleted object: the
  // model marks the record freed and checks before each access (touch()).
  rl::atomic<bool> record_freed;

  void before() {
    h.older($) = word(Scenario == scenario::unlinks ? &n : &x);
    n.older($) = word(&x);
    x.older($) = word(&v);
    v.older($) = 0;
    for (version* each : {&h, &n, &x, &v}) {
      each->link($) = nullptr;
      each->flagged($) = false;
      each->retires($) = 0;
      each->freed($) = false;
    }
    list($) = nullptr;
    if (Scenario == scenario::unlinks) {
      r = new record;
      r->above($) = &x;
      r->references($) = 2;  // the list's and X's link
      x.link($) = r;
    }
    holder_pinned($) = false;
    record_freed($) = false;
  }

  void after() {
    RL_ASSERT(strip(h.older.load(rl::mo_relaxed, $)) == nullptr);  // N, X and V all unlinked
    for (version* each : {&h, &n, &x, &v}) RL_ASSERT(each->link.load(rl::mo_relaxed, $) == nullptr);
    RL_ASSERT(n.retires.load(rl::mo_relaxed, $) == (Scenario == scenario::unlinks ? 1 : 0));
    RL_ASSERT(x.retires.load(rl::mo_relaxed, $) == 1 && v.retires.load(rl::mo_relaxed, $) == 1);
  }

  static bool extended(const version* at, const hand_on* self) { return at != &self->v; }

  void touch() { RL_ASSERT(!record_freed.load(rl::mo_seq_cst, $)); }

  void release(record* rec) {
    touch();
    // acq_rel: the last release reads every other holder's writes before freeing
    if (rec->references.fetch_sub(1, rl::mo_acq_rel, $) == 1) {
      record_freed.store(true, rl::mo_seq_cst, $);  // the model's record of the free
      delete rec;
    }
  }

  // What the holder may dereference: a version not freed (see above).
  void use(version* at) { RL_ASSERT(!at->freed.load(rl::mo_seq_cst, $)); }

  bool publish_link(version* at, record* rec) {
    record* empty = nullptr;
    if (!at->link.compare_exchange_strong(empty, rec, rl::mo_seq_cst, $)) return false;  // (K3)
    if (Plant != plant::no_take_back && marked(at->older.load(rl::mo_seq_cst, $))) {
      record* published = rec;
      if (at->link.compare_exchange_strong(published, nullptr, rl::mo_seq_cst, $)) return false;  // (K3)
    }
    return true;
  }

  bool hand_on_record(version* gone, version* newer) {
    if (!extended(gone, this)) return false;
    record* rec = gone->link.exchange(nullptr, rl::mo_seq_cst, $);  // (K3)
    if (rec == nullptr) return false;
    if (!extended(newer, this)) {
      release(rec);
      return false;
    }
    if (Plant != plant::no_own_reference) {
      touch();
      rec->references.fetch_add(1, rl::mo_relaxed, $);  // this thread's own: the count is above zero
    }
    bool handed_on = false;
    if (Plant == plant::above_before_publish) {
      version* expected = gone;
      touch();
      handed_on = rec->above.compare_exchange_strong(expected, newer, rl_order(hand_on_above), $);
      if (!handed_on || !publish_link(newer, rec)) release(rec);
    } else if (publish_link(newer, rec)) {
      version* expected = gone;
      touch();
      if (Plant == plant::not_handed_on ||
          rec->above.compare_exchange_strong(expected, newer, rl_order(hand_on_above), $)) {  // (K4)
        handed_on = true;
      } else {
        record* published = rec;
        if (newer->link.compare_exchange_strong(published, nullptr, rl::mo_seq_cst, $)) release(rec);  // (K3)
      }
    } else {
      release(rec);
    }
    if (Plant != plant::no_own_reference) release(rec);
    return handed_on;
  }

  void retire_version(version* gone, version* newer) {
    if (version* below = strip(gone->older.load(rl::mo_seq_cst, $))) {
      if (!hand_on_record(gone, newer) && Plant != plant::not_handed_on) {
        below->flagged.store(true, rl::mo_seq_cst, $);  // (K1)
      }
    }
    gone->retires.fetch_add(1, rl::mo_relaxed, $);  // the model's count
    // Freed unless the holder had pinned (the protection rule, abstracted).
    if (!holder_pinned.load(rl::mo_seq_cst, $)) gone->freed.store(true, rl::mo_seq_cst, $);
  }

  // Unlinks every marked version below H (clean_chain).
  void clean_chain() {
    for (bool changed = true; changed;) {
      changed = false;
      version* prev = &h;
      version* curr = strip(prev->older.load(rl::mo_seq_cst, $));
      while (curr != nullptr) {
        const std::uintptr_t next = curr->older.load(rl::mo_seq_cst, $);
        if (marked(next)) {
          std::uintptr_t expected = word(curr);
          if (!prev->older.compare_exchange_strong(expected, word(strip(next)), rl::mo_seq_cst, $)) {
            changed = true;
            break;
          }
          retire_version(curr, prev);
          curr = strip(next);
          continue;
        }
        prev = curr;
        curr = strip(next);
      }
    }
  }

  // unlink(newer, gone) as the library's: mark, CAS past, or clean.
  void unlink(version* newer, version* gone) {
    std::uintptr_t below = gone->older.load(rl::mo_seq_cst, $);
    if (below == 0) {
      std::uintptr_t expected = word(gone);
      if (newer->older.compare_exchange_strong(expected, 0, rl::mo_seq_cst, $)) {
        retire_version(gone, newer);
        return;
      }
    }
    while (!marked(below)) {
      if (gone->older.compare_exchange_weak(below, below | 1, rl::mo_seq_cst, $)) {
        below |= 1;
        break;
      }
    }
    std::uintptr_t expected = word(gone);
    if (newer->older.compare_exchange_strong(expected, word(strip(below)), rl::mo_seq_cst, $)) {
      retire_version(gone, newer);
      return;
    }
    clean_chain();
  }

  // The holder's recheck of a record, whose version no snapshot reads any
  // more.
  void recheck(record* r) {
    version* found = nullptr;
    if (!v.flagged.load(rl::mo_seq_cst, $)) {  // (K2)
      touch();
      version* a = r->above.load(rl_order(read_above), $);  // (K5)
      use(a);  // stamp(above)
    } else {
      // The walk: V's newer neighbour from H down.
      for (version* prev = &h;;) {
        version* curr = strip(prev->older.load(rl::mo_seq_cst, $));
        RL_ASSERT(curr != nullptr);  // V is linked until its holder unlinks it
        if (curr == &v) {
          found = prev;
          break;
        }
        prev = curr;
      }
    }
    // settle_record
    touch();
    version* above = r->above.exchange(nullptr, rl_order(read_above), $);  // (K5)
    version* neighbour = found != nullptr ? found : above;
    use(neighbour);
    if (extended(neighbour, this)) {
      record* linked = r;
      if (neighbour->link.compare_exchange_strong(linked, nullptr, rl::mo_seq_cst, $)) release(r);  // (K3)
    }
    release(r);  // the list's
    unlink(neighbour, &v);
  }

  // settle() keeping V under X: the record, its link in X, its attach
  // (or, the snapshot closed, its settling here).
  void keep() {
    auto* made = new record;
    made->above($) = &x;
    made->references($) = 1;  // the list's
    // link_record
    made->references.fetch_add(1, rl::mo_relaxed, $);  // no one else holds it yet
    if (!publish_link(&x, made)) release(made);
    // attach
    record* head = list.load(rl::mo_relaxed, $);
    while (head != &closed_sentinel) {
      if (list.compare_exchange_weak(head, made, rl::mo_release, $)) return;
    }
    // settle_record(made, nullptr): the maker trusts `above` (its own pin)
    touch();
    version* above = made->above.exchange(nullptr, rl_order(read_above), $);  // (K5)
    record* linked = made;
    if (above->link.compare_exchange_strong(linked, nullptr, rl::mo_seq_cst, $)) release(made);  // (K3)
    release(made);  // the list's
    unlink(above, &v);
  }

  void thread(unsigned self) {
    if (Scenario == scenario::unlinks) {
      if (self == u1) {
        unlink(&n, &x);
      } else if (self == u2) {
        unlink(&h, &n);
      } else {
        holder_pinned.store(true, rl::mo_seq_cst, $);  // pin (E1)
        recheck(r);
      }
    } else if (self == u1) {
      keep();
    } else if (self == u2) {
      unlink(&h, &x);
    } else {
      holder_pinned.store(true, rl::mo_seq_cst, $);  // pin (E1)
      record* kept = list.exchange(&closed_sentinel, rl::mo_acquire, $);  // close (M4)
      if (kept != nullptr) recheck(kept);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  snapcache::model::runner runner(argc, argv);
  runner.run<hand_on<plant::none>>("record_hand_on");
  runner.run<hand_on<plant::none, scenario::keep>>("record_hand_on_keep");
  runner.run_planted<hand_on<plant::not_handed_on>>("record_hand_on_planted_not_handed_on");
  runner.run_planted<hand_on<plant::above_before_publish>>("record_hand_on_planted_above_before_publish");
  runner.run_planted<hand_on<plant::no_take_back>>("record_hand_on_planted_no_take_back");
  runner.run_planted<hand_on<plant::no_take_back, scenario::keep>>("record_hand_on_keep_planted_no_take_back");
  runner.run_planted<hand_on<plant::no_own_reference>>("record_hand_on_planted_no_own_reference");
  return runner.exit_code();
}
