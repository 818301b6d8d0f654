// Unit tests for the stress suites' linearizability checker
// (stress/lincheck), on hand-made and generated histories.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "lincheck/checker.hpp"
#include "lincheck/history.hpp"

namespace {

using namespace snapcache::lincheck;
using contents_t = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

// Builders: the interval first, then the call and its result.
operation at(std::uint64_t invoked, std::uint64_t responded, unsigned thread = 0) {
  operation op;
  op.thread = thread;
  op.invoked = invoked;
  op.responded = responded;
  return op;
}
operation insert(operation op, std::uint64_t key, std::uint64_t value, bool ok) {
  op.kind = op_kind::insert;
  op.key = key;
  op.value = value;
  op.ok = ok;
  return op;
}
operation assign(operation op, std::uint64_t key, std::uint64_t value, bool ok) {
  op = insert(op, key, value, ok);
  op.kind = op_kind::insert_or_assign;
  return op;
}
operation erase(operation op, std::uint64_t key, bool ok) {
  op.kind = op_kind::erase;
  op.key = key;
  op.ok = ok;
  return op;
}
operation find(operation op, std::uint64_t key, std::optional<std::uint64_t> found) {
  op.kind = op_kind::find;
  op.key = key;
  op.ok = found.has_value();
  op.found_value = found.value_or(0);
  return op;
}
operation snapshot(operation op, contents_t contents) {
  op.kind = op_kind::snapshot;
  op.contents = std::move(contents);
  return op;
}

bool has_snapshot(const history& h) {
  return std::any_of(h.begin(), h.end(),
                     [](const operation& op) { return op.kind == op_kind::snapshot; });
}

// --- Hand-made histories, each checked whole and (without snapshots) per key.

struct named_history {
  const char* name;
  history h;
  bool linearizable;
};

std::vector<named_history> hand_made() {
  return {
      {"empty_history_is_linearizable", {}, true},
      {"legal_sequential_history_is_linearizable",
       {insert(at(1, 2), 1, 10, true), insert(at(3, 4), 1, 20, false), find(at(5, 6), 1, 10),
        assign(at(7, 8), 1, 30, false), find(at(9, 10), 1, 30), erase(at(11, 12), 1, true),
        erase(at(13, 14), 1, false), find(at(15, 16), 1, {}), assign(at(17, 18), 2, 5, true),
        snapshot(at(19, 20), {{2, 5}})},
       true},
      {"sequential_find_of_an_overwritten_value_is_rejected",
       {insert(at(1, 2), 1, 10, true), assign(at(3, 4), 1, 20, false), find(at(5, 6), 1, 10)},
       false},
      {"sequential_insert_or_assign_claiming_absence_of_a_present_key_is_rejected",
       {insert(at(1, 2), 1, 10, true), assign(at(3, 4), 1, 20, true)},
       false},
      {"overlapping_ops_linearize_in_their_only_legal_order",
       // find(absent) must go before the insert and erase after it, though the
       // insert is invoked first.
       {insert(at(1, 10, 0), 1, 7, true), erase(at(2, 12, 1), 1, true), find(at(3, 4, 2), 1, {}),
        find(at(5, 11, 3), 1, 7)},
       true},
      {"reads_that_disagree_on_the_order_of_an_insert_are_rejected",
       // B sees the insert and C, after B, does not.
       {insert(at(1, 10, 0), 1, 7, true), find(at(2, 4, 1), 1, 7), find(at(5, 8, 2), 1, {})},
       false},
      {"find_of_a_value_inserted_after_it_returned_is_rejected",
       {find(at(1, 2, 0), 1, 7), insert(at(3, 4, 1), 1, 7, true)},
       false},
      {"concurrent_inserts_of_an_absent_key_cannot_both_succeed",
       {insert(at(1, 5, 0), 1, 1, true), insert(at(2, 6, 1), 1, 2, true)},
       false},
      {"concurrent_inserts_where_one_fails_are_linearizable",
       {insert(at(1, 5, 0), 1, 1, false), insert(at(2, 6, 1), 1, 2, true), find(at(7, 8, 0), 1, 2)},
       true},
      {"erase_of_a_key_never_inserted_cannot_succeed",
       {insert(at(1, 2), 1, 1, true), erase(at(3, 4), 2, true)},
       false},
      {"snapshot_missing_an_insert_completed_before_it_started_is_rejected",
       {insert(at(1, 2, 0), 1, 1, true), snapshot(at(3, 5, 1), {})},
       false},
      {"snapshot_containing_an_insert_started_after_it_returned_is_rejected",
       {snapshot(at(1, 2, 0), {{1, 1}}), insert(at(3, 5, 1), 1, 1, true)},
       false},
      {"snapshot_overlapping_an_insert_may_see_it",
       {insert(at(1, 5, 0), 1, 1, true), snapshot(at(2, 6, 1), {{1, 1}}),
        snapshot(at(3, 7, 2), {})},
       true},
      {"snapshot_seeing_a_later_insert_but_not_an_earlier_one_is_rejected",
       // Each key alone is fine; only the whole map shows the torn snapshot.
       {insert(at(1, 3, 0), 1, 1, true), insert(at(4, 5, 0), 2, 2, true),
        snapshot(at(2, 6, 1), {{2, 2}})},
       false},
      {"operations_touching_at_one_stamp_count_as_overlapping",
       {find(at(1, 3, 0), 1, 7), insert(at(3, 4, 1), 1, 7, true)},
       true},
  };
}

class hand_made_history : public ::testing::TestWithParam<named_history> {};

TEST_P(hand_made_history, gets_the_expected_verdict) {
  const named_history& c = GetParam();
  const check_result whole = check(c.h);
  EXPECT_EQ(whole.linearizable, c.linearizable) << whole.explanation << format(c.h);
  EXPECT_FALSE(whole.cap_hit);
  EXPECT_EQ(whole.explanation.empty(), c.linearizable) << whole.explanation;
  if (!has_snapshot(c.h)) {
    const check_result per_key = check_per_key(c.h);
    EXPECT_EQ(per_key.linearizable, c.linearizable) << per_key.explanation;
    EXPECT_FALSE(per_key.cap_hit);
  }
}

INSTANTIATE_TEST_SUITE_P(lincheck, hand_made_history, ::testing::ValuesIn(hand_made()),
                         [](const auto& info) { return std::string(info.param.name); });

// --- Generated histories: a real sequential run, smeared into intervals.

struct shape {
  unsigned threads;
  unsigned ops_per_thread;
  std::uint64_t keys;
  bool snapshots;
  std::uint64_t gap = 3;     // most time between a thread's operations
  std::uint64_t length = 6;  // most time from invocation to linearization point
};

// Each operation takes effect at a point strictly inside its interval, in the
// order of those points, so the history is linearizable by construction.
history generate(const shape& s, std::mt19937_64& rng) {
  struct pending {
    std::uint64_t point;
    std::size_t index;
  };
  auto below = [&](std::uint64_t n) { return rng() % n; };
  history h;
  std::vector<pending> points;
  for (unsigned t = 0; t < s.threads; ++t) {
    std::uint64_t clock = 0;
    for (unsigned i = 0; i < s.ops_per_thread; ++i) {
      operation op = at(0, 0, t);
      op.invoked = clock + 1 + below(s.gap);
      const std::uint64_t point = op.invoked + 1 + below(s.length);
      op.responded = point + 1 + below(s.length);
      clock = op.responded;
      const auto pick = below(s.snapshots ? 10 : 9);
      op.kind = pick < 3   ? op_kind::insert
                : pick < 5 ? op_kind::insert_or_assign
                : pick < 7 ? op_kind::erase
                : pick < 9 ? op_kind::find
                           : op_kind::snapshot;
      op.key = below(s.keys);
      op.value = below(100);
      points.push_back({point, h.size()});
      h.push_back(op);
    }
  }
  std::sort(points.begin(), points.end(),
            [](const pending& a, const pending& b) { return a.point < b.point; });
  std::map<std::uint64_t, std::uint64_t> map;
  for (const pending& p : points) {
    operation& op = h[p.index];
    const bool present = map.contains(op.key);
    switch (op.kind) {
      case op_kind::insert:
        op.ok = !present;
        if (!present) map[op.key] = op.value;
        break;
      case op_kind::insert_or_assign:
        op.ok = !present;
        map[op.key] = op.value;
        break;
      case op_kind::erase:
        op.ok = present;
        map.erase(op.key);
        break;
      case op_kind::find:
        op.ok = present;
        op.found_value = present ? map[op.key] : 0;
        break;
      case op_kind::snapshot:
        op.contents.assign(map.begin(), map.end());
        break;
    }
  }
  return h;
}

// Flips one result, which usually (not always) breaks linearizability.
void corrupt(history& h, std::mt19937_64& rng) {
  operation& op = h[rng() % h.size()];
  if (op.kind == op_kind::find && op.ok && rng() % 2 == 0) {
    op.found_value += 1;
  } else if (op.kind == op_kind::snapshot) {
    op.contents.emplace_back(1000, 1);  // a key no operation writes
  } else {
    op.ok = !op.ok;
  }
}

TEST(lincheck, generated_histories_are_linearizable) {
  std::mt19937_64 rng(1);
  for (int round = 0; round < 200; ++round) {
    const history h = generate({3, 6, 3, true}, rng);
    const check_result r = check(h);
    ASSERT_TRUE(r.linearizable) << r.explanation << format(h);
  }
}

TEST(lincheck, per_key_check_agrees_with_whole_map_check_without_snapshots) {
  std::mt19937_64 rng(2);
  int rejected = 0;
  for (int round = 0; round < 300; ++round) {
    history h = generate({3, 6, 3, false}, rng);
    if (round % 2 == 1) corrupt(h, rng);
    const check_result whole = check(h);
    const check_result per_key = check_per_key(h);
    ASSERT_EQ(whole.linearizable, per_key.linearizable)
        << whole.explanation << per_key.explanation << format(h);
    if (round % 2 == 0) {
      ASSERT_TRUE(whole.linearizable) << whole.explanation;
    }
    rejected += whole.linearizable ? 0 : 1;
  }
  EXPECT_GT(rejected, 50) << "corruption hardly ever broke a history: the test lost its teeth";
}

TEST(lincheck, per_key_check_rejects_snapshots) {
  const check_result r = check_per_key({snapshot(at(1, 2), {})});
  EXPECT_FALSE(r.linearizable);
  EXPECT_FALSE(r.cap_hit);
  EXPECT_NE(r.explanation.find("snapshot"), std::string::npos) << r.explanation;
}

TEST(lincheck, malformed_histories_are_rejected_with_a_reason) {
  for (const history& h :
       {history{find(at(5, 5), 1, {})}, history{snapshot(at(1, 2), {{2, 1}, {1, 1}})}}) {
    const check_result r = check(h);
    EXPECT_FALSE(r.linearizable);
    EXPECT_NE(r.explanation.find("malformed"), std::string::npos) << r.explanation;
  }
}

TEST(lincheck, explanation_names_the_operation_that_cannot_be_linearized) {
  const history h = {insert(at(1, 2), 1, 1, true), erase(at(3, 4), 2, true)};
  const check_result r = check(h);
  ASSERT_FALSE(r.linearizable);
  EXPECT_NE(r.explanation.find("#1 t0 [3, 4] erase(2) -> true"), std::string::npos)
      << r.explanation;
  EXPECT_NE(r.explanation.find("the map {1: 1}"), std::string::npos) << r.explanation;
}

TEST(lincheck, cap_hit_is_reported_as_an_inconclusive_failure) {
  std::mt19937_64 rng(3);
  const history h = generate({3, 8, 4, true}, rng);
  ASSERT_TRUE(check(h).linearizable);
  for (const check_result& r : {check(h, 3), check_per_key(generate({3, 8, 4, false}, rng), 3)}) {
    EXPECT_FALSE(r.linearizable);
    EXPECT_TRUE(r.cap_hit);
    EXPECT_EQ(r.steps, 3u);
    EXPECT_NE(r.explanation.find("step cap"), std::string::npos) << r.explanation;
  }
}

TEST(lincheck, memoisation_keeps_a_wide_linearizable_history_under_the_cap) {
  // 8 threads, each with 6 operations on 3 keys; every operation overlaps
  // those of the other threads in its round and the next.
  std::mt19937_64 rng(4);
  for (int round = 0; round < 10; ++round) {
    const history h = generate({8, 6, 3, true, 1, 20}, rng);
    const check_result r = check(h, 200'000);
    ASSERT_TRUE(r.linearizable) << r.explanation << format(h);
    EXPECT_LT(r.steps, 100'000u);
  }
}

TEST(lincheck, memoisation_settles_wide_non_linearizable_histories_under_the_cap) {
  // Refuting a history means exhausting every order; without the memo most
  // of these run into the cap.
  std::mt19937_64 rng(8);
  int rejected = 0;
  for (int round = 0; round < 10; ++round) {
    history h = generate({8, 6, 3, true, 1, 20}, rng);
    corrupt(h, rng);
    const check_result r = check(h, 200'000);
    EXPECT_FALSE(r.cap_hit) << r.explanation;
    rejected += r.linearizable ? 0 : 1;
  }
  EXPECT_GT(rejected, 5);
}

TEST(lincheck, long_per_key_histories_check_quickly) {
  std::mt19937_64 rng(5);
  const history h = generate({4, 200, 4, false}, rng);
  const check_result r = check_per_key(h);
  ASSERT_TRUE(r.linearizable) << r.explanation;
  EXPECT_LT(r.steps, 100'000u);
  const check_result whole = check(h);  // more than 64 operations in one search
  ASSERT_TRUE(whole.linearizable) << whole.explanation;
  EXPECT_LT(whole.steps, 100'000u);
}

TEST(lincheck, smallest_failing_still_fails_and_is_no_longer) {
  std::mt19937_64 rng(6);
  int shrunk = 0;
  for (int round = 0; round < 40; ++round) {
    history h = generate({3, 8, 4, round % 2 == 0}, rng);
    corrupt(h, rng);
    if (check(h).linearizable) continue;
    const history s = smallest_failing(h);
    EXPECT_LE(s.size(), h.size());
    const check_result r = check(s);
    EXPECT_FALSE(r.linearizable) << format(s);
    EXPECT_FALSE(r.cap_hit);
    shrunk += s.size() < h.size() ? 1 : 0;
  }
  EXPECT_GT(shrunk, 10);
}

TEST(lincheck, smallest_failing_keeps_the_writes_a_read_depends_on) {
  // The fault is the second insert. Dropping the first insert instead would
  // leave a find of a value nobody wrote: a failure, but a misleading one.
  const history h = {insert(at(1, 2), 1, 5, true), find(at(3, 4), 1, 5),
                     insert(at(5, 6), 1, 6, true), find(at(7, 8), 2, {})};
  const history s = smallest_failing(h);
  ASSERT_EQ(s.size(), 2u) << format(s);
  EXPECT_EQ(format(s[0]), format(h[0]));
  EXPECT_EQ(format(s[1]), format(h[2]));
}

TEST(lincheck, smallest_failing_drops_keys_from_snapshots) {
  const history h = {insert(at(1, 2, 0), 1, 1, true), insert(at(3, 4, 0), 2, 2, true),
                     snapshot(at(5, 6, 1), {{1, 1}}), find(at(7, 8, 1), 1, 1)};
  const history s = smallest_failing(h);
  ASSERT_EQ(s.size(), 2u) << format(s);
  EXPECT_EQ(format(s[0]), format(h[1]));
  EXPECT_EQ(format(s[1]), "t1 [5, 6] snapshot() -> {}");
}

TEST(lincheck, smallest_failing_returns_a_linearizable_history_unchanged) {
  std::mt19937_64 rng(7);
  const history h = generate({3, 5, 2, true}, rng);
  EXPECT_EQ(format(smallest_failing(h)), format(h));
}

TEST(lincheck, format_prints_one_line_per_operation) {
  const history h = {assign(at(1, 2, 3), 4, 9, true), find(at(3, 4), 4, {}),
                     snapshot(at(5, 6), {{4, 9}, {5, 1}})};
  EXPECT_EQ(format(h),
            "#0 t3 [1, 2] insert_or_assign(4, 9) -> true\n"
            "#1 t0 [3, 4] find(4) -> absent\n"
            "#2 t0 [5, 6] snapshot() -> {4: 9, 5: 1}\n");
}

// --- The recorder, end to end on a map that is linearizable by its lock.

class locked_map {
 public:
  void run(operation& op) {
    std::lock_guard lock(mutex_);
    const bool present = map_.contains(op.key);
    switch (op.kind) {
      case op_kind::insert:
        op.ok = map_.emplace(op.key, op.value).second;
        break;
      case op_kind::insert_or_assign:
        op.ok = map_.insert_or_assign(op.key, op.value).second;
        break;
      case op_kind::erase:
        op.ok = map_.erase(op.key) == 1;
        break;
      case op_kind::find:
        op.ok = present;
        op.found_value = present ? map_.at(op.key) : 0;
        break;
      case op_kind::snapshot:
        op.contents.assign(map_.begin(), map_.end());
        break;
    }
  }

 private:
  std::mutex mutex_;
  std::map<std::uint64_t, std::uint64_t> map_;
};

history record_run(unsigned threads, unsigned ops, std::uint64_t keys, bool snapshots) {
  locked_map map;
  recorder rec(threads, ops);
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      for (unsigned i = 0; i < ops; ++i) {
        operation op;
        op.kind = static_cast<op_kind>(rng() % (snapshots ? 5 : 4));
        op.key = rng() % keys;
        op.value = rng() % 100;
        rec.record(t, std::move(op), [&](operation& o) { map.run(o); });
      }
    });
  }
  for (auto& w : workers) w.join();
  return rec.merge();
}

TEST(lincheck, recorder_stamps_and_merges_the_operations_of_every_thread) {
  const history h = record_run(4, 100, 4, false);
  ASSERT_EQ(h.size(), 400u);
  std::vector<std::uint64_t> stamps;
  std::vector<std::uint64_t> last_response(4, 0);
  for (std::size_t i = 0; i < h.size(); ++i) {
    const operation& op = h[i];
    EXPECT_LT(op.invoked, op.responded);
    if (i > 0) {
      EXPECT_LT(h[i - 1].invoked, op.invoked) << "merge is not ordered by invocation";
    }
    ASSERT_LT(op.thread, 4u);
    EXPECT_LT(last_response[op.thread], op.invoked) << "a thread's operations overlap";
    last_response[op.thread] = op.responded;
    stamps.push_back(op.invoked);
    stamps.push_back(op.responded);
  }
  std::sort(stamps.begin(), stamps.end());
  EXPECT_EQ(std::adjacent_find(stamps.begin(), stamps.end()), stamps.end()) << "a stamp repeats";
  const check_result r = check_per_key(h);
  EXPECT_TRUE(r.linearizable) << r.explanation;
}

TEST(lincheck, recorded_run_with_snapshots_is_linearizable) {
  const history h = record_run(3, 8, 4, true);
  ASSERT_EQ(h.size(), 24u);
  const check_result r = check(h);
  EXPECT_TRUE(r.linearizable) << r.explanation << format(h);
}

}  // namespace
