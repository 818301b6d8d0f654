// Relacy model of the inline-value layout that docs/design.md weighs for
// issue 21, item 5 ("The layout decision"): the newest value of a key kept
// in its slot, stamped there, and materialised as a version only when a
// snapshot may read what replaces it. Nothing in the library runs this yet:
// the model checks the protocol before any code is written.
//
// A slot is one atomic word (the library's would be 16 bytes, value and
// stamp-or-pointer, written with one 16-byte CAS; one word is the same
// location to the memory model). It holds either
//   inline (value, stamp): the key's newest value and its stamp, or
//   a pointer to a version chain, as today's slots do, optionally *sealed*.
// The protocol:
//   writer: announces the slot it writes (seq_cst), reads the clock c, then
//     the live-snapshot count. None live: one CAS of the slot from what it
//     read to inline (new value, c), over an inline value or over a chain of
//     one stamped, unsealed version ("collapse"). Otherwise, or if the CAS
//     fails: today's write, a version over the chain, an inline value being
//     materialised as the version below it first; stamped lazily (S9).
//   snapshot(): counts itself live (S10), reads and advances the clock (S2,
//     S3), then *helps*: for every writer whose announcement it sees, it
//     seals the announced slot, materialising an inline value into a
//     version, so that no inline CAS read before its count can land after
//     it returns.
//   reader at t: an inline value is visible (its stamp is <= t, shown
//     below), a chain is walked as today.
// Why it holds: a writer's announcement precedes its count read, a
// snapshot's count precedes its announcement scan (store buffering, all
// seq_cst), so a writer that saw no snapshot is seen by the snapshot's help.
// Its CAS then either landed before the seal (its stamp c was read before
// the snapshot's count, so c <= t: visible, and before any read of the
// snapshot) or fails on the seal and writes a version instead.
//
// Threads: two writers (values 2 and 3) and one snapshot that opens, helps,
// reads its key twice and closes. Checks: the two reads agree; an inline
// value read at t has its stamp <= t; a write that finished before the
// snapshot opened is seen (the initial value 1 is not read), and a write that
// had not started when the snapshot opened is not.
// Inline writes stamp the clock they read, and again 0 (the design's claim
// that an inline value needs no stamp).
// Planted variants (each must FAIL, so the checks have teeth): the snapshot
// does not help; it helps inline slots but does not seal chains (a collapse
// lands after it); the writer reads the count before announcing.
//
// Build and run (from the repository root):
//   g++ -std=c++17 -O1 -fno-sized-deallocation -Iinclude -Istress/relacy
//       stress/relacy/inline_slot_model.cpp -o /tmp/inline_slot_model && /tmp/inline_slot_model
#include "model_runner.hpp"

namespace {

using snapcache::model::orders::advance_clock;
using snapcache::model::orders::count_live;
using snapcache::model::orders::stamp_clock;
using snapcache::model::orders::validate_clock;
using snapcache::model::rl_order;

constexpr std::uint64_t unstamped = ~std::uint64_t{0};

struct version {
  rl::atomic<std::uint64_t> stamp;
  rl::atomic<version*> older;
  rl::var<int> value;
};

// Slot words. Inline: value << 32 | stamp << 2 (low bits 00). Chain: the
// version's address | 1, plus 2 when sealed (versions are 8-byte aligned).
constexpr std::uint64_t chain_bit = 1;
constexpr std::uint64_t seal_bit = 2;

bool is_chain(std::uint64_t w) { return (w & chain_bit) != 0; }
bool is_sealed(std::uint64_t w) { return (w & seal_bit) != 0; }
version* chain_of(std::uint64_t w) { return reinterpret_cast<version*>(w & ~(chain_bit | seal_bit)); }
std::uint64_t chain_word(version* v) { return reinterpret_cast<std::uint64_t>(v) | chain_bit; }
std::uint64_t inline_word(int value, std::uint64_t stamp) {
  return (static_cast<std::uint64_t>(value) << 32) | (stamp << 2);
}
int inline_value(std::uint64_t w) { return static_cast<int>(w >> 32); }
std::uint64_t inline_stamp(std::uint64_t w) { return (w & 0xffffffffu) >> 2; }

enum class plant { none, no_help, no_chain_seal, count_before_announce };
enum class start { inline_value, one_version };
// What an inline write stamps its value with: the clock it read, or 0 (the
// design's claim: every snapshot that will read an inline value counted
// itself after the write began, so the value is visible to each anyway).
enum class inline_stamps { clock_read, zero };

template <plant Plant, start Start, inline_stamps Stamps = inline_stamps::clock_read>
struct inline_slot : rl::test_suite<inline_slot<Plant, Start>, 3> {
  static constexpr unsigned writer_a = 0, writer_b = 1, snapshot = 2;
  static constexpr int initial = 1;

  rl::atomic<std::uint64_t> clock;
  rl::atomic<unsigned> live_count;
  rl::atomic<std::uint64_t> slot;
  rl::atomic<int> announced[2];  // 1 while writer i may CAS the slot inline
  rl::atomic<bool> started[2];   // the checks' record of each write's span
  rl::atomic<bool> finished[2];

  // Versions are never freed while the model runs (reclamation is EBR's,
  // checked by ebr_model): every one made is listed here and freed after.
  version* made[8] = {};
  rl::atomic<unsigned> made_count;

  version* make_version(int value, std::uint64_t stamp, version* older) {
    version* v = new version;
    v->stamp($) = stamp;
    v->older($) = older;
    v->value($) = value;
    made[made_count.fetch_add(1, rl::mo_relaxed, $)] = v;  // bookkeeping of the model, not the protocol
    return v;
  }

  void before() {
    clock($) = 1;
    live_count($) = 0;
    made_count($) = 0;
    for (int i = 0; i < 2; ++i) {
      announced[i]($) = 0;
      started[i]($) = false;
      finished[i]($) = false;
    }
    slot($) = Start == start::inline_value ? inline_word(initial, 1) : chain_word(make_version(initial, 1, nullptr));
  }

  void after() {
    const unsigned n = made_count($);
    for (unsigned i = 0; i < n; ++i) delete made[i];
  }

  // Lazy stamping, as hash_map's stamp() (S9).
  std::uint64_t stamp(version* v) {
    std::uint64_t s = v->stamp.load(rl::mo_seq_cst, $);
    if (s != unstamped) return s;
    const std::uint64_t now = clock.load(rl_order(stamp_clock), $);  // (S9)
    if (v->stamp.compare_exchange_strong(s, now, rl::mo_seq_cst, $)) return now;
    return s;
  }

  // An inline word as the version a chain would hold.
  version* materialise(std::uint64_t w) { return make_version(inline_value(w), inline_stamp(w), nullptr); }

  // Whether a write seeing `w` may replace it inline: an inline value, or an
  // unsealed chain of one version (stamped here if need be).
  bool may_collapse(std::uint64_t w) {
    if (!is_chain(w)) return true;
    if (is_sealed(w)) return false;
    version* v = chain_of(w);
    stamp(v);
    return v->older.load(rl::mo_seq_cst, $) == nullptr;
  }

  void write(unsigned self, int value) {
    started[self].store(true, rl::mo_seq_cst, $);
    for (;;) {
      const std::uint64_t seen = slot.load(rl::mo_seq_cst, $);
      const bool collapsible = may_collapse(seen);  // stamps a lone version before c is read
      bool quiet;
      std::uint64_t c;
      if (Plant == plant::count_before_announce) {
        quiet = live_count.load(rl::mo_seq_cst, $) == 0;
        announced[self].store(1, rl::mo_seq_cst, $);
        c = clock.load(rl::mo_seq_cst, $);
      } else {
        announced[self].store(1, rl::mo_seq_cst, $);    // before the count: pairs with the snapshot's help scan
        c = clock.load(rl::mo_seq_cst, $);              // before the count: c <= t of any snapshot counted after
        quiet = live_count.load(rl::mo_seq_cst, $) == 0;  // pairs with open's count (S10)
      }
      if (quiet && collapsible) {
        RL_ASSERT(!is_chain(seen) || chain_of(seen)->stamp.load(rl::mo_seq_cst, $) <= c);  // stamps only grow
        const std::uint64_t stamp_of_value = Stamps == inline_stamps::zero ? 0 : c;
        std::uint64_t expected = seen;
        const bool done =
            slot.compare_exchange_strong(expected, inline_word(value, stamp_of_value), rl::mo_seq_cst, $);
        announced[self].store(0, rl::mo_seq_cst, $);
        if (done) break;
        continue;
      }
      announced[self].store(0, rl::mo_seq_cst, $);
      // Today's write: a version over the chain (an inline value first
      // becomes the version below), stamped after it is installed.
      version* below = is_chain(seen) ? chain_of(seen) : materialise(seen);
      version* fresh = make_version(value, unstamped, below);
      std::uint64_t expected = seen;
      if (slot.compare_exchange_strong(expected, chain_word(fresh), rl::mo_seq_cst, $)) {
        stamp(fresh);
        break;
      }
    }
    finished[self].store(true, rl::mo_seq_cst, $);
  }

  // Seals the slot against inline CASes read before this snapshot counted.
  void seal() {
    for (;;) {
      const std::uint64_t seen = slot.load(rl::mo_seq_cst, $);
      std::uint64_t sealed;
      if (is_chain(seen)) {
        if (is_sealed(seen) || Plant == plant::no_chain_seal) return;
        sealed = seen | seal_bit;
      } else {
        sealed = chain_word(materialise(seen)) | seal_bit;
      }
      std::uint64_t expected = seen;
      if (slot.compare_exchange_strong(expected, sealed, rl::mo_seq_cst, $)) return;
    }
  }

  std::uint64_t open() {
    live_count.fetch_add(1, rl_order(count_live), $);                 // (S10)
    std::uint64_t t = clock.load(rl_order(validate_clock), $);         // (S2)
    clock.compare_exchange_strong(t, t + 1, rl_order(advance_clock), $);  // (S3); a failure means another advanced it
    if (Plant != plant::no_help) {
      for (auto& a : announced) {
        if (a.load(rl::mo_seq_cst, $) != 0) seal();  // pairs with the writer's announcement
      }
    }
    return t;
  }

  int read_at(std::uint64_t t) {
    const std::uint64_t w = slot.load(rl::mo_seq_cst, $);
    if (!is_chain(w)) {
      RL_ASSERT(inline_stamp(w) <= t);  // inline values are always visible to a live snapshot
      return inline_value(w);
    }
    std::uint64_t newer = unstamped;
    for (version* v = chain_of(w); v != nullptr; v = v->older.load(rl::mo_seq_cst, $)) {
      const std::uint64_t s = stamp(v);
      RL_ASSERT(s <= newer);  // stamps never decrease down a chain, materialised ones included
      if (s <= t) return v->value($);
      newer = s;
    }
    RL_ASSERT(false);  // the key existed before every snapshot
    return 0;
  }

  void thread(unsigned self) {
    if (self == snapshot) {
      const bool a_finished = finished[writer_a].load(rl::mo_seq_cst, $);
      const bool b_finished = finished[writer_b].load(rl::mo_seq_cst, $);
      const std::uint64_t t = open();
      const bool a_started = started[writer_a].load(rl::mo_seq_cst, $);
      const bool b_started = started[writer_b].load(rl::mo_seq_cst, $);
      const int first = read_at(t);
      const int again = read_at(t);
      RL_ASSERT(first == again);                          // a snapshot never changes
      RL_ASSERT(!(a_finished || b_finished) || first != initial);  // a finished write is seen
      RL_ASSERT(a_started || first != 2);                 // a write begun after open is not
      RL_ASSERT(b_started || first != 3);
      RL_ASSERT(!(a_finished && !b_started) || first == 2);  // the last finished write is seen
      RL_ASSERT(!(b_finished && !a_started) || first == 3);
      live_count.fetch_sub(1, rl_order(count_live), $);  // (S10)
    } else {
      write(self, self == writer_a ? 2 : 3);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  snapcache::model::runner runner(argc, argv);
  runner.run<inline_slot<plant::none, start::inline_value>>("inline_slot");
  runner.run<inline_slot<plant::none, start::one_version>>("inline_slot_collapse");
  runner.run<inline_slot<plant::none, start::inline_value, inline_stamps::zero>>("inline_slot_zero_stamps");
  runner.run<inline_slot<plant::none, start::one_version, inline_stamps::zero>>("inline_slot_collapse_zero_stamps");
  runner.run_planted<inline_slot<plant::no_help, start::inline_value>>("inline_slot_planted_no_help");
  runner.run_planted<inline_slot<plant::no_chain_seal, start::one_version>>("inline_slot_planted_no_chain_seal");
  runner.run_planted<inline_slot<plant::count_before_announce, start::inline_value>>(
      "inline_slot_planted_count_before_announce");
  return runner.exit_code();
}
