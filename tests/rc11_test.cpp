// The RC11 explorer of stress/rc11/ on the classic litmus tests, whose
// allowed and forbidden outcomes are textbook (Batty et al., "Mathematizing
// C++ concurrency"; Lahav et al., "Repairing sequential consistency in
// C/C++11"), and on hand-built graphs that break one axiom each. A checker
// that cannot fail is a defect: every forbidden outcome below is also shown
// to be reached once an order it relies on is relaxed.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

#include "execution_graph.hpp"
#include "explorer.hpp"

namespace {

using rc11::outcome;
using rc11::thread_context;
constexpr auto relaxed = std::memory_order_relaxed;
constexpr auto acquire = std::memory_order_acquire;
constexpr auto release = std::memory_order_release;
constexpr auto seq_cst = std::memory_order_seq_cst;

// SB: each thread stores to one location and loads the other.
rc11::exploration store_buffering(std::memory_order store, std::memory_order load) {
  rc11::program p;
  const auto x = p.add_location("x", 0);
  const auto y = p.add_location("y", 0);
  p.add_thread([=](thread_context& c) {
    c.store(x, 1, store);
    c.record("a", c.load(y, load));
  });
  p.add_thread([=](thread_context& c) {
    c.store(y, 1, store);
    c.record("b", c.load(x, load));
  });
  return rc11::explore(p);
}

TEST(rc11_litmus, store_buffering_is_forbidden_only_when_all_four_are_seq_cst) {
  const auto sc = store_buffering(seq_cst, seq_cst);
  EXPECT_FALSE(sc.allows({{"a", 0}, {"b", 0}}));
  EXPECT_TRUE(sc.allows({{"a", 1}, {"b", 0}}));
  EXPECT_TRUE(sc.allows({{"a", 0}, {"b", 1}}));
  EXPECT_TRUE(sc.allows({{"a", 1}, {"b", 1}}));
  EXPECT_EQ(sc.outcomes.size(), 3u);
  EXPECT_TRUE(store_buffering(release, acquire).allows({{"a", 0}, {"b", 0}}));
  EXPECT_TRUE(store_buffering(seq_cst, acquire).allows({{"a", 0}, {"b", 0}}));
  EXPECT_TRUE(store_buffering(release, seq_cst).allows({{"a", 0}, {"b", 0}}));
}

// MP: data, then a flag; the reader reads the flag, then the data.
rc11::exploration message_passing(std::memory_order flag_store, std::memory_order flag_load) {
  rc11::program p;
  const auto data = p.add_location("data", 0);
  const auto flag = p.add_location("flag", 0);
  p.add_thread([=](thread_context& c) {
    c.store(data, 1, relaxed);
    c.store(flag, 1, flag_store);
  });
  p.add_thread([=](thread_context& c) {
    c.record("flag", c.load(flag, flag_load));
    c.record("data", c.load(data, relaxed));
  });
  return rc11::explore(p);
}

TEST(rc11_litmus, message_passing_needs_release_and_acquire) {
  const outcome stale{{"flag", 1}, {"data", 0}};
  EXPECT_FALSE(message_passing(release, acquire).allows(stale));
  EXPECT_FALSE(message_passing(seq_cst, seq_cst).allows(stale));
  EXPECT_TRUE(message_passing(release, acquire).allows({{"flag", 1}, {"data", 1}}));
  EXPECT_TRUE(message_passing(relaxed, acquire).allows(stale));
  EXPECT_TRUE(message_passing(release, relaxed).allows(stale));
}

// Happens-before is transitive: data, then x released; x acquired, then y
// released; y acquired, then data.
rc11::exploration transitive_message_passing(std::memory_order middle_load) {
  rc11::program p;
  const auto data = p.add_location("data", 0);
  const auto x = p.add_location("x", 0);
  const auto y = p.add_location("y", 0);
  p.add_thread([=](thread_context& c) {
    c.store(data, 1, relaxed);
    c.store(x, 1, release);
  });
  p.add_thread([=](thread_context& c) {
    c.record("x", c.load(x, middle_load));
    c.store(y, 1, release);
  });
  p.add_thread([=](thread_context& c) {
    c.record("y", c.load(y, acquire));
    c.record("data", c.load(data, relaxed));
  });
  return rc11::explore(p);
}

TEST(rc11_litmus, happens_before_is_transitive_across_three_threads) {
  const outcome stale{{"x", 1}, {"y", 1}, {"data", 0}};
  EXPECT_FALSE(transitive_message_passing(acquire).allows(stale));
  EXPECT_TRUE(transitive_message_passing(relaxed).allows(stale));
}

// Plain data published by a flag: a race unless the flag is released and
// acquired.
rc11::exploration plain_message_passing(std::memory_order flag_store, std::memory_order flag_load) {
  rc11::program p;
  const auto data = p.add_location("data", 0);
  const auto flag = p.add_location("flag", 0);
  p.add_thread([=](thread_context& c) {
    c.write_nonatomic(data, 1);
    c.store(flag, 1, flag_store);
  });
  p.add_thread([=](thread_context& c) {
    if (c.load(flag, flag_load) == 1) c.record("data", c.read_nonatomic(data));
  });
  return rc11::explore(p);
}

TEST(rc11_litmus, plain_accesses_race_unless_happens_before_orders_them) {
  EXPECT_TRUE(plain_message_passing(release, acquire).violations.empty());
  const auto racy = plain_message_passing(relaxed, acquire);
  ASSERT_EQ(racy.violations.count("data race on data"), 1u);
  EXPECT_NE(racy.violations.at("data race on data").find("Rna data"), std::string::npos);
  EXPECT_EQ(plain_message_passing(release, relaxed).violations.count("data race on data"), 1u);
}

TEST(rc11_litmus, exchange_writes_its_value_and_returns_the_one_it_replaced) {
  rc11::program p;
  const auto x = p.add_location("x", 3);
  p.add_thread([=](thread_context& c) { c.record("a", c.exchange(x, 7, relaxed)); });
  p.add_thread([=](thread_context& c) { c.record("b", c.exchange(x, 9, relaxed)); });
  const auto r = rc11::explore(p);
  EXPECT_EQ(r.outcomes.size(), 2u);
  EXPECT_TRUE(r.allows({{"a", 3}, {"b", 7}}));
  EXPECT_TRUE(r.allows({{"a", 9}, {"b", 3}}));
}

// RC11 forbids po | rf cycles, so load buffering too; C++20 allows it.
TEST(rc11_litmus, load_buffering_is_forbidden_by_rc11_but_not_by_cpp20) {
  rc11::program p;
  const auto x = p.add_location("x", 0);
  const auto y = p.add_location("y", 0);
  p.add_thread([=](thread_context& c) {
    c.record("a", c.load(x, relaxed));
    c.store(y, 1, relaxed);
  });
  p.add_thread([=](thread_context& c) {
    c.record("b", c.load(y, relaxed));
    c.store(x, 1, relaxed);
  });
  const auto r = rc11::explore(p);
  EXPECT_FALSE(r.allows({{"a", 1}, {"b", 1}}));
  EXPECT_EQ(r.outcomes.size(), 3u);
}

TEST(rc11_litmus, two_reads_of_one_location_never_go_back_in_modification_order) {
  rc11::program p;
  const auto x = p.add_location("x", 0);
  p.add_thread([=](thread_context& c) {
    c.store(x, 1, relaxed);
    c.store(x, 2, relaxed);
  });
  p.add_thread([=](thread_context& c) {
    c.record("first", c.load(x, relaxed));
    c.record("second", c.load(x, relaxed));
  });
  const auto r = rc11::explore(p);
  EXPECT_FALSE(r.allows({{"first", 2}, {"second", 1}}));
  EXPECT_FALSE(r.allows({{"first", 1}, {"second", 0}}));
  EXPECT_TRUE(r.allows({{"first", 0}, {"second", 2}}));
  EXPECT_EQ(r.outcomes.size(), 6u);  // first <= second, both in 0..2
}

// IRIW: two writers, two readers reading in opposite orders.
rc11::exploration independent_reads(std::memory_order store, std::memory_order load) {
  rc11::program p;
  const auto x = p.add_location("x", 0);
  const auto y = p.add_location("y", 0);
  p.add_thread([=](thread_context& c) { c.store(x, 1, store); });
  p.add_thread([=](thread_context& c) { c.store(y, 1, store); });
  p.add_thread([=](thread_context& c) {
    c.record("a", c.load(x, load));
    c.record("b", c.load(y, load));
  });
  p.add_thread([=](thread_context& c) {
    c.record("c", c.load(y, load));
    c.record("d", c.load(x, load));
  });
  return rc11::explore(p);
}

TEST(rc11_litmus, independent_reads_agree_on_the_order_of_independent_writes_only_under_seq_cst) {
  const outcome disagree{{"a", 1}, {"b", 0}, {"c", 1}, {"d", 0}};
  EXPECT_FALSE(independent_reads(seq_cst, seq_cst).allows(disagree));
  EXPECT_TRUE(independent_reads(release, acquire).allows(disagree));
  EXPECT_TRUE(independent_reads(seq_cst, acquire).allows(disagree));
}

// The psc term po|≠loc; hb; po|≠loc: a seq_cst store, then a release to
// another thread, whose acquire is followed by a seq_cst load, orders that
// store before that load in psc; with a third thread this closes a cycle.
rc11::exploration seq_cst_through_happens_before(std::memory_order flag_store) {
  rc11::program p;
  const auto x = p.add_location("x", 0);
  const auto y = p.add_location("y", 0);
  const auto z = p.add_location("z", 0);
  p.add_thread([=](thread_context& c) {
    c.store(x, 1, seq_cst);
    c.store(y, 1, flag_store);
  });
  p.add_thread([=](thread_context& c) {
    c.record("a", c.load(y, acquire));
    c.record("b", c.load(z, seq_cst));
  });
  p.add_thread([=](thread_context& c) {
    c.store(z, 1, seq_cst);
    c.record("c", c.load(x, seq_cst));
  });
  return rc11::explore(p);
}

TEST(rc11_litmus, seq_cst_order_follows_happens_before_between_other_locations) {
  const outcome cycle{{"a", 1}, {"b", 0}, {"c", 0}};
  EXPECT_FALSE(seq_cst_through_happens_before(release).allows(cycle));
  EXPECT_TRUE(seq_cst_through_happens_before(relaxed).allows(cycle));
}

// The psc term hb|loc (RWC): a seq_cst store read by another thread's
// seq_cst load is before it in psc through happens-before on one location.
// With that read only acquire, RC11 has no psc edge from the store: the
// outcome is allowed (RC11 is weaker here than SC).
rc11::exploration read_to_write_causality(std::memory_order first_read) {
  rc11::program p;
  const auto x = p.add_location("x", 0);
  const auto y = p.add_location("y", 0);
  p.add_thread([=](thread_context& c) { c.store(x, 1, seq_cst); });
  p.add_thread([=](thread_context& c) {
    c.record("a", c.load(x, first_read));
    c.record("b", c.load(y, seq_cst));
  });
  p.add_thread([=](thread_context& c) {
    c.store(y, 1, seq_cst);
    c.record("c", c.load(x, seq_cst));
  });
  return rc11::explore(p);
}

TEST(rc11_litmus, seq_cst_order_follows_happens_before_on_one_location) {
  const outcome cycle{{"a", 1}, {"b", 0}, {"c", 0}};
  EXPECT_FALSE(read_to_write_causality(seq_cst).allows(cycle));
  EXPECT_TRUE(read_to_write_causality(acquire).allows(cycle));
}

TEST(rc11_litmus, read_modify_writes_never_read_the_same_write) {
  rc11::program p;
  const auto x = p.add_location("x", 0);
  p.add_thread([=](thread_context& c) { c.record("a", c.fetch_add(x, 1, relaxed)); });
  p.add_thread([=](thread_context& c) { c.record("b", c.fetch_add(x, 1, relaxed)); });
  p.add_thread([=](thread_context& c) { c.record("last", c.load(x, relaxed)); });
  const auto r = rc11::explore(p);
  for (const auto& [o, example] : r.outcomes) {
    EXPECT_NE(o.at("a"), o.at("b")) << example;
  }
  EXPECT_TRUE(r.allows({{"a", 0}, {"b", 1}, {"last", 2}}));
  EXPECT_TRUE(r.allows({{"a", 1}, {"b", 0}, {"last", 1}}));
}

TEST(rc11_litmus, compare_exchange_fails_with_the_value_it_read) {
  rc11::program p;
  const auto x = p.add_location("x", 5);
  p.add_thread([=](thread_context& c) {
    rc11::value expected = 4;
    c.record("won", c.compare_exchange(x, expected, 9, seq_cst, seq_cst) ? 1 : 0);
    c.record("expected", expected);
  });
  const auto r = rc11::explore(p);
  EXPECT_EQ(r.outcomes.size(), 1u);
  EXPECT_TRUE(r.allows({{"won", 0}, {"expected", 5}}));
}

// C++20 release sequences: a relaxed read-modify-write continues one (the
// acquire that reads it synchronises with the release store), a later
// relaxed store by the releasing thread does not (P0982).
rc11::exploration release_sequence(bool continue_with_rmw) {
  rc11::program p;
  const auto data = p.add_location("data", 0);
  const auto flag = p.add_location("flag", 0);
  p.add_thread([=](thread_context& c) {
    c.store(data, 1, relaxed);
    c.store(flag, 1, release);
    if (!continue_with_rmw) c.store(flag, 2, relaxed);
  });
  if (continue_with_rmw) {
    p.add_thread([=](thread_context& c) {
      rc11::value expected = 1;
      c.compare_exchange(flag, expected, 2, relaxed, relaxed);
    });
  }
  p.add_thread([=](thread_context& c) {
    c.record("flag", c.load(flag, acquire));
    c.record("data", c.load(data, relaxed));
  });
  return rc11::explore(p);
}

TEST(rc11_litmus, a_read_modify_write_continues_a_release_sequence_a_plain_store_does_not) {
  const outcome stale{{"flag", 2}, {"data", 0}};
  EXPECT_FALSE(release_sequence(true).allows(stale));
  EXPECT_TRUE(release_sequence(true).allows({{"flag", 2}, {"data", 1}}));
  EXPECT_TRUE(release_sequence(false).allows(stale));
}

TEST(rc11_litmus, failed_checks_are_reported_with_an_execution) {
  const auto r = [] {
    rc11::program p;
    const auto x = p.add_location("x", 0);
    p.add_thread([=](thread_context& c) { c.store(x, 1, relaxed); });
    p.add_thread([=](thread_context& c) { c.check(c.load(x, relaxed) == 1, "x was not yet 1"); });
    return rc11::explore(p);
  }();
  ASSERT_EQ(r.violations.count("x was not yet 1"), 1u);
  EXPECT_NE(r.violations.at("x was not yet 1").find("Rrlx x = 0"), std::string::npos)
      << r.violations.at("x was not yet 1");
  EXPECT_EQ(r.executions, 2u);
}

TEST(rc11_explorer, rejects_a_thread_that_spins_without_bound) {
  rc11::program p;
  const auto x = p.add_location("x", 0);
  p.add_thread([=](thread_context& c) {
    while (c.load(x, acquire) == 0) {
    }
  });
  p.add_thread([=](thread_context& c) { c.store(x, 1, release); });
  EXPECT_THROW(rc11::explore(p), std::logic_error);
}

TEST(rc11_explorer, stops_loudly_past_its_graph_limit) {
  rc11::limits tight;
  tight.graphs = 3;
  EXPECT_THROW(
      [&] {
        rc11::program p;
        const auto x = p.add_location("x", 0);
        p.add_thread([=](thread_context& c) { c.store(x, 1, relaxed); });
        p.add_thread([=](thread_context& c) { c.store(x, 2, relaxed); });
        p.add_thread([=](thread_context& c) { c.load(x, relaxed); });
        rc11::explore(p, tight);
      }(),
      std::length_error);
}

// Hand-built graphs, one axiom broken in each.
rc11::event make(rc11::event_kind kind, int thread, int index, int location, std::memory_order order,
                 rc11::value read, rc11::value written, int reads_from) {
  rc11::event e;
  e.kind = kind;
  e.thread = thread;
  e.index = index;
  e.location = location;
  e.order = order;
  e.read_value = read;
  e.written_value = written;
  e.reads_from = reads_from;
  return e;
}

TEST(rc11_graph, two_read_modify_writes_of_one_write_break_atomicity) {
  rc11::execution_graph g({0});
  g.add(make(rc11::event_kind::rmw, 0, 0, 0, relaxed, 0, 1, 0), 1);
  EXPECT_FALSE(g.violated_axiom());
  g.add(make(rc11::event_kind::rmw, 1, 0, 0, relaxed, 0, 1, 0), 2);
  EXPECT_EQ(g.violated_axiom(), "atomicity");
}

TEST(rc11_graph, reading_a_write_overwritten_before_in_program_order_breaks_coherence) {
  rc11::execution_graph g({0});
  const int w = g.add(make(rc11::event_kind::write, 0, 0, 0, relaxed, 0, 1, -1), 1);
  (void)w;
  g.add(make(rc11::event_kind::read, 0, 1, 0, relaxed, 0, 0, 0));  // reads init after its own store
  EXPECT_EQ(g.violated_axiom(), "coherence");
}

TEST(rc11_graph, store_buffering_with_four_seq_cst_accesses_has_a_psc_cycle) {
  rc11::execution_graph g({0, 0});
  g.add(make(rc11::event_kind::write, 0, 0, 0, seq_cst, 0, 1, -1), 1);
  g.add(make(rc11::event_kind::read, 0, 1, 1, seq_cst, 0, 0, 1));
  g.add(make(rc11::event_kind::write, 1, 0, 1, seq_cst, 0, 1, -1), 1);
  g.add(make(rc11::event_kind::read, 1, 1, 0, seq_cst, 0, 0, 0));
  EXPECT_EQ(g.violated_axiom(), "sc (psc cycle)");
}

}  // namespace
