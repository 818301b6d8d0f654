// The 16-byte slot primitive of the inline-value layout
// (detail/atomic_pair.hpp): both words change together, a failed exchange
// reports what was there, and no load pairs words from two writes — the
// last is also the detector of the planted bug pair_read_apart (teeth in
// tests/meson.build). Also the map's two slot kinds (detail/slot_kind.hpp),
// which must give a slot word the same operations.
#include "snapcache/detail/atomic_pair.hpp"
#include "snapcache/detail/slot_kind.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>

namespace {

using snapcache::detail::atomic_pair;
using snapcache::detail::word_pair;

static_assert(sizeof(atomic_pair) == 16 && alignof(atomic_pair) == 16, "one cmpxchg16b operand");

TEST(atomic_pair, a_fresh_pair_loads_what_it_was_made_with) {
  const atomic_pair zero;
  EXPECT_EQ(zero.load(std::memory_order_seq_cst), (word_pair{0, 0}));
  const atomic_pair made(word_pair{7, ~std::uint64_t{0}});
  EXPECT_EQ(made.load(std::memory_order_acquire), (word_pair{7, ~std::uint64_t{0}}));  // one thread: no partner
  EXPECT_EQ(made.load_locked(std::memory_order_acquire), (word_pair{7, ~std::uint64_t{0}}));  // one thread: no partner
}

TEST(atomic_pair, compare_exchange_replaces_both_words_when_both_match) {
  atomic_pair pair(word_pair{1, 2});
  word_pair expected{1, 2};
  ASSERT_TRUE(pair.compare_exchange(expected, word_pair{3, 4}, std::memory_order_seq_cst));
  EXPECT_EQ(expected, (word_pair{1, 2}));  // untouched on success
  EXPECT_EQ(pair.load(std::memory_order_seq_cst), (word_pair{3, 4}));
}

TEST(atomic_pair, a_failed_compare_exchange_reports_what_was_there_and_changes_nothing) {
  atomic_pair pair(word_pair{5, 6});
  for (const word_pair wrong : {word_pair{5, 0}, word_pair{0, 6}, word_pair{6, 5}}) {
    word_pair expected = wrong;
    EXPECT_FALSE(pair.compare_exchange(expected, word_pair{9, 9}, std::memory_order_seq_cst));
    EXPECT_EQ(expected, (word_pair{5, 6}));
    EXPECT_EQ(pair.load(std::memory_order_seq_cst), (word_pair{5, 6}));
    EXPECT_EQ(pair.load_locked(std::memory_order_seq_cst), (word_pair{5, 6}));
  }
}

TEST(atomic_pair, each_pair_of_an_array_is_its_own_unit) {
  atomic_pair pairs[4];
  word_pair expected{0, 0};
  ASSERT_TRUE(pairs[1].compare_exchange(expected, word_pair{11, 12}, std::memory_order_seq_cst));
  EXPECT_EQ(pairs[0].load(std::memory_order_seq_cst), (word_pair{0, 0}));
  EXPECT_EQ(pairs[1].load(std::memory_order_seq_cst), (word_pair{11, 12}));
  EXPECT_EQ(pairs[2].load(std::memory_order_seq_cst), (word_pair{0, 0}));
}

// A writer steps the pair through {n, ~n}; the reader starts once the
// writer is running and makes its loads until it has seen the pair change
// often enough (so the loads overlap writes, however the threads are
// scheduled), checking each is one such state and that n never goes back.
// A load made of two 8-byte reads (planted bug pair_read_apart) pairs n
// with ~m, m != n.
void check_no_torn_loads(bool locked_loads) {
  constexpr std::uint64_t min_loads = 100'000;
  constexpr std::uint64_t min_changes = 1'000;
  atomic_pair pair(word_pair{0, ~std::uint64_t{0}});
  std::atomic<bool> done{false};
  std::atomic<bool> writer_failed{false};
  std::uint64_t torn = 0, backwards = 0, changes = 0;
  std::thread reader([&] {
    const auto writer_alive = [&] { return !writer_failed.load(std::memory_order_relaxed); };  // a flag only
    while (pair.load(std::memory_order_acquire).first == 0 && writer_alive()) {  // pairs with the writer's CAS
    }
    std::uint64_t last = 0;
    for (std::uint64_t i = 0; (i < min_loads || changes < min_changes) && torn == 0 && writer_alive(); ++i) {
      const word_pair seen = locked_loads ? pair.load_locked(std::memory_order_acquire)  // pairs with the writer's CAS
                                          : pair.load(std::memory_order_acquire);        // pairs with the writer's CAS
      if (seen.second != ~seen.first) ++torn;
      if (seen.first < last) ++backwards;
      if (seen.first != last) ++changes;
      last = seen.first;
    }
    done.store(true, std::memory_order_release);  // pairs with the writer's acquire load of done
  });
  std::uint64_t n = 0;
  bool exchanged = true;
  while (exchanged && !done.load(std::memory_order_acquire)) {  // pairs with the reader's release store of done
    word_pair expected{n, ~n};
    exchanged = pair.compare_exchange(expected, word_pair{n + 1, ~(n + 1)}, std::memory_order_seq_cst);
    if (exchanged) ++n;
  }
  if (!exchanged) writer_failed.store(true, std::memory_order_relaxed);  // a flag only: stops the reader
  reader.join();
  EXPECT_TRUE(exchanged) << "the only writer's compare-exchange failed";
  EXPECT_EQ(torn, 0u) << "torn read: a load paired the words of two writes";
  EXPECT_EQ(backwards, 0u);
  EXPECT_GE(changes, min_changes);
  EXPECT_EQ(pair.load(std::memory_order_seq_cst), (word_pair{n, ~n}));
}

TEST(atomic_pair, a_load_never_pairs_words_from_two_writes) { check_no_torn_loads(false); }

TEST(atomic_pair, a_locked_load_never_pairs_words_from_two_writes) { check_no_torn_loads(true); }

// The map's two slot kinds (detail/slot_kind.hpp) give a slot word the same
// operations with the same results: the map's code cannot tell them apart.
template <class Slots>
void check_slot_kind() {
  alignas(64) unsigned char array[4 * Slots::slot_bytes];
  Slots::construct(array, 4);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(Slots::at(array, i).load(std::memory_order_seq_cst), 0u);
  auto slot = Slots::at(array, 1);
  std::uint64_t expected = 0;
  EXPECT_TRUE(slot.compare_exchange(expected, 0x1230));
  EXPECT_EQ(expected, 0u);
  expected = 0x9990;
  EXPECT_FALSE(slot.compare_exchange(expected, 0x4560));
  EXPECT_EQ(expected, 0x1230u) << "a failed exchange reports the word it found";
  EXPECT_EQ(slot.fetch_or(1), 0x1230u) << "fetch_or returns the word before it";
  EXPECT_EQ(slot.load(std::memory_order_seq_cst), 0x1231u);
  slot.store(0x7770);
  EXPECT_EQ(slot.load(std::memory_order_relaxed), 0x7770u);  // single-threaded
  EXPECT_EQ(Slots::at(array, 0).load(std::memory_order_seq_cst), 0u) << "a neighbour changed";
  EXPECT_EQ(Slots::at(array, 2).load(std::memory_order_seq_cst), 0u) << "a neighbour changed";
}

TEST(slot_kinds, word_slots_give_the_slot_word_its_operations) { check_slot_kind<snapcache::detail::word_slots>(); }

#if defined(__x86_64__)
TEST(slot_kinds, pair_slots_give_the_slot_word_the_same_operations) {
  check_slot_kind<snapcache::detail::pair_slots>();
}
#endif

}  // namespace
