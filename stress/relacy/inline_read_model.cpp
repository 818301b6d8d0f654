// Relacy model of how a plain find reads an inline slot (issue 21, item 5;
// docs/design.md, "The layout decision"). inline_slot_model.cpp checks the
// write, seal and collapse protocol with the slot as one atomic word; this
// model asks what that costs a reader when the slot is two 8-byte words.
//
// With full-range keys a 16-byte slot has no spare bit: inline it is
// {key, value}, and a chain is {sentinel, pointer}, so what the second word
// means depends on the first. A reader that loads the two words apart can
// pair a key with a pointer. The model packs the two words into one atomic
// (the first word is the high half) and reads it in three ways:
//   one load:  the whole slot at once (a single-copy-atomic 16-byte load);
//   split:     the first word, then the second from a later load;
//   recheck:   split, then the first word again, retrying if it changed.
// A writer turns an inline value into a chain of two versions (as a write
// beside a live snapshot does), then writes a third value: by collapsing
// the chain back inline (the protocol's quiet write), by collapsing only
// after a grace period, or as a version. Or it erases inline
// ({erased_mark, key}) and re-inserts inline.
// Checks: a find returns a value that was current during it (not a
// pointer, not a key, not a value older than a write that finished before
// it began).
//
// Results, to context bound 20: one load passes in every case. The recheck
// passes without collapse (inline -> chain is one-way, so the first word
// seen twice brackets an inline span) and with a collapse that waits a
// grace period read after the chain's install; it FAILS with an immediate
// collapse (inline, chain, inline again: the key matches twice around a
// pointer), with the grace read before the install, and with an inline
// erase and re-insert (key, mark, key: the key is paired with the erase's
// second word, which is the key itself). The split read fails even
// without collapse. So with the full-range format, whose quiet erase and
// re-insert stay inline, only the single 16-byte load is right.
//
// Build and run (from the repository root):
//   g++ -std=c++17 -O1 -fno-sized-deallocation -Iinclude -Istress/relacy
//       stress/relacy/inline_read_model.cpp -o /tmp/inline_read_model && /tmp/inline_read_model
#include "model_runner.hpp"

namespace {

// Slot halves (the model's words are 32 bits: the high half is the first).
constexpr std::uint32_t key = 7;
constexpr std::uint32_t chain_sentinel = 0xfffffffe;  // first word of a chain: no key is stored inline as it
constexpr std::uint32_t erased_mark = 0xfffffffd;     // first word of an inline erase; the key is the second
constexpr std::uint32_t pointer_base = 100;           // second word of a chain: version index + 100

std::uint64_t slot_word(std::uint32_t first, std::uint32_t second) {
  return (static_cast<std::uint64_t>(first) << 32) | second;
}
std::uint32_t first_of(std::uint64_t w) { return static_cast<std::uint32_t>(w >> 32); }
std::uint32_t second_of(std::uint64_t w) { return static_cast<std::uint32_t>(w); }

enum class read_form { one_load, split, recheck };
// How writes 2 and 3 go. Write 2 makes a chain (a write beside a live
// snapshot), then write 3: collapses it back inline; collapses only after a
// grace period (no reader pinned since before the chain was installed, as
// EBR's epoch two past the install would say, read after the install);
// the same with the grace read *before* the install (planted: too early);
// or writes a version. Or write 2 erases inline ({erased_mark, key}) and
// write 3 re-inserts inline: the first word goes key, mark, key with no
// chain at all.
enum class third_write { collapse, collapse_after_grace, grace_before_install, version, erase_reinsert };

template <read_form Read, third_write Third>
struct inline_read : rl::test_suite<inline_read<Read, Third>, 2> {
  static constexpr unsigned writer = 0, finder = 1;

  rl::atomic<std::uint64_t> slot;
  rl::var<int> version_value[3];  // written before the CAS that publishes it
  rl::atomic<bool> started[2];    // the checks' record of writes 2 and 3
  rl::atomic<bool> finished[2];
  rl::atomic<bool> finder_pinned;  // the finder's EBR pin, reduced to a flag

  void before() {
    slot($) = slot_word(key, 1);  // inline {key, 1}
    for (int i = 0; i < 2; ++i) {
      started[i]($) = false;
      finished[i]($) = false;
    }
    finder_pinned($) = false;
  }

  void write() {
    started[0].store(true, rl::mo_seq_cst, $);
    std::uint64_t expected = slot_word(key, 1);
    if (Third == third_write::erase_reinsert) {
      // Write 2 erases inline, write 3 re-inserts inline: no chain.
      const std::uint64_t erased = slot_word(erased_mark, key);
      RL_ASSERT(slot.compare_exchange_strong(expected, erased, rl::mo_seq_cst, $));
      finished[0].store(true, rl::mo_seq_cst, $);
      started[1].store(true, rl::mo_seq_cst, $);
      expected = erased;
      RL_ASSERT(slot.compare_exchange_strong(expected, slot_word(key, 3), rl::mo_seq_cst, $));
      finished[1].store(true, rl::mo_seq_cst, $);
      return;
    }
    // Write 2 beside a live snapshot: the inline 1 becomes version 0, the
    // new value version 1 above it; the slot names the chain.
    version_value[0]($) = 1;
    version_value[1]($) = 2;
    const bool early_grace = !finder_pinned.load(rl::mo_seq_cst, $);  // the planted variant's read: too early
    const std::uint64_t chain = slot_word(chain_sentinel, pointer_base + 1);
    RL_ASSERT(slot.compare_exchange_strong(expected, chain, rl::mo_seq_cst, $));
    finished[0].store(true, rl::mo_seq_cst, $);
    // Write 3, no snapshot live any more.
    started[1].store(true, rl::mo_seq_cst, $);
    const bool grace_elapsed = !finder_pinned.load(rl::mo_seq_cst, $);  // after the chain's CAS: pairs with the pin
    std::uint64_t desired;
    if (Third == third_write::collapse || (Third == third_write::collapse_after_grace && grace_elapsed) ||
        (Third == third_write::grace_before_install && early_grace)) {
      desired = slot_word(key, 3);
    } else {
      version_value[2]($) = 3;
      desired = slot_word(chain_sentinel, pointer_base + 2);
    }
    expected = chain;
    RL_ASSERT(slot.compare_exchange_strong(expected, desired, rl::mo_seq_cst, $));
    finished[1].store(true, rl::mo_seq_cst, $);
  }

  // What a find of `key` returns from a first word and a second word.
  // (-1: absent, erased inline.)
  int interpret(std::uint32_t first, std::uint32_t second) {
    if (first == key) return static_cast<int>(second);  // inline: the value (or, paired wrongly, a pointer)
    if (first == erased_mark) {
      RL_ASSERT(second == key);  // an erase's second word is its key
      return -1;
    }
    RL_ASSERT(first == chain_sentinel);
    RL_ASSERT(second >= pointer_base && second < pointer_base + 3);  // a value taken as a pointer
    return version_value[second - pointer_base]($);
  }

  int find() {
    for (;;) {
      const std::uint64_t a = slot.load(rl::mo_seq_cst, $);
      if (Read == read_form::one_load) return interpret(first_of(a), second_of(a));
      const std::uint64_t b = slot.load(rl::mo_seq_cst, $);
      if (Read == read_form::split) return interpret(first_of(a), second_of(b));
      const std::uint64_t c = slot.load(rl::mo_seq_cst, $);
      if (first_of(c) == first_of(a)) return interpret(first_of(a), second_of(b));
    }
  }

  void thread(unsigned self) {
    if (self == writer) {
      write();
      return;
    }
    finder_pinned.store(true, rl::mo_seq_cst, $);  // before the slot's loads: pairs with the writer's grace check
    const bool two_done = finished[0].load(rl::mo_seq_cst, $);
    const bool three_done = finished[1].load(rl::mo_seq_cst, $);
    const int found = find();
    finder_pinned.store(false, rl::mo_seq_cst, $);
    const bool two_begun = started[0].load(rl::mo_seq_cst, $);
    const bool three_begun = started[1].load(rl::mo_seq_cst, $);
    // Write 2 leaves 2 (a value) or -1 (absent, erased): either way not 1.
    const int two = Third == third_write::erase_reinsert ? -1 : 2;
    RL_ASSERT(found == 1 || found == two || found == 3);  // a value, never a pointer or a key
    RL_ASSERT(!three_done || found == 3);                 // a write finished before the find is seen
    RL_ASSERT(!two_done || found != 1);
    RL_ASSERT(two_begun || found == 1);                   // a write begun after the find is not
    RL_ASSERT(three_begun || found != 3);
  }
};

}  // namespace

int main(int argc, char** argv) {
  snapcache::model::runner runner(argc, argv);
  // A bound of 20 preemptions, far above what the failures need (3 for the
  // recheck with collapse, 4 for the early grace read).
  constexpr int bound = 20;
  runner.run<inline_read<read_form::one_load, third_write::collapse>>("inline_read_one_load", bound);
  runner.run<inline_read<read_form::one_load, third_write::version>>("inline_read_one_load_no_collapse", bound);
  runner.run<inline_read<read_form::one_load, third_write::erase_reinsert>>("inline_read_one_load_reinsert", bound);
  runner.run<inline_read<read_form::recheck, third_write::version>>("inline_read_recheck_no_collapse", bound);
  runner.run<inline_read<read_form::recheck, third_write::collapse_after_grace>>("inline_read_recheck_grace", bound);
  runner.run_planted<inline_read<read_form::recheck, third_write::collapse>>("inline_read_planted_recheck_collapse",
                                                                             bound);
  runner.run_planted<inline_read<read_form::recheck, third_write::grace_before_install>>(
      "inline_read_planted_grace_before_install", bound);
  runner.run_planted<inline_read<read_form::recheck, third_write::erase_reinsert>>(
      "inline_read_planted_recheck_reinsert", bound);
  runner.run_planted<inline_read<read_form::split, third_write::version>>("inline_read_planted_split", bound);
  return runner.exit_code();
}
