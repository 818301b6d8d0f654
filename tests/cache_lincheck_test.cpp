// Unit tests for the query cache's linearizability checker
// (stress/lincheck/cache_checker), on hand-made histories that are and are
// not linearizable.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lincheck/cache_checker.hpp"

namespace {

using namespace snapcache::lincheck;
using snapcache::cache_clock;
using snapcache::insert_result;
using snapcache::query_entry;
using snapcache::query_state;
using snapcache::statement_kind;

cache_clock::time_point at_second(int s) { return cache_clock::time_point{} + std::chrono::hours(1000) + std::chrono::seconds(s); }

cache_setup setup_of(std::size_t capacity) {
  cache_setup s;
  s.capacity = capacity;
  s.now = at_second(100);
  return s;
}

// A successful SELECT submitted at `submitted`, completed a second later.
query_entry done(std::string id, int submitted, std::string sql = "select 1", std::string version = "1") {
  query_entry e;
  e.id = std::move(id);
  e.query = std::move(sql);
  e.state = query_state::succeeded;
  e.statement_type = statement_kind::dml;
  e.submitted_at = at_second(submitted);
  e.completed_at = at_second(submitted + 1);
  e.output_location = "s3://r/" + e.id + "/" + version;
  return e;
}

cache_op span(std::uint64_t invoked, std::uint64_t responded, unsigned thread = 0) {
  cache_op op;
  op.thread = thread;
  op.invoked = invoked;
  op.responded = responded;
  return op;
}
cache_op insert(cache_op op, query_entry e, insert_result r) {
  op.kind = cache_op_kind::insert;
  op.entry = std::move(e);
  op.inserted = r;
  return op;
}
cache_op contains(cache_op op, std::string id, bool present) {
  op.kind = cache_op_kind::contains;
  op.id = std::move(id);
  op.ok = present;
  return op;
}
cache_op erase(cache_op op, std::string id, bool present) {
  op = contains(std::move(op), std::move(id), present);
  op.kind = cache_op_kind::erase;
  return op;
}
cache_op lookup(cache_op op, std::string sql, std::optional<query_entry> hit) {
  op.kind = cache_op_kind::lookup;
  op.sql = std::move(sql);
  op.hit = std::move(hit);
  return op;
}
cache_op candidates(cache_op op, std::vector<query_entry> listed) {
  op.kind = cache_op_kind::candidates;
  op.listed = std::move(listed);
  return op;
}

TEST(cache_lincheck, a_sequential_history_that_follows_the_rules_is_linearizable) {
  const cache_history h = {
      insert(span(1, 2), done("a", 1), insert_result::admitted),
      insert(span(3, 4), done("b", 2), insert_result::admitted),
      insert(span(5, 6), done("c", 3), insert_result::admitted),  // evicts a, the oldest
      contains(span(7, 8), "a", false),
      candidates(span(9, 10), {done("c", 3), done("b", 2)}),
      lookup(span(11, 12), "SELECT 1;", done("c", 3)),
  };
  const auto r = check_cache(h, setup_of(2));
  EXPECT_TRUE(r.linearizable) << r.explanation;
}

TEST(cache_lincheck, a_listing_larger_than_the_capacity_is_not_linearizable) {
  const cache_history h = {
      insert(span(1, 2), done("a", 1), insert_result::admitted),
      insert(span(3, 4), done("b", 2), insert_result::admitted),
      insert(span(5, 6), done("c", 3), insert_result::admitted),
      candidates(span(7, 8), {done("c", 3), done("b", 2), done("a", 1)}),
  };
  const auto r = check_cache(h, setup_of(2));
  EXPECT_FALSE(r.linearizable);
  EXPECT_FALSE(r.cap_hit);
  EXPECT_NE(r.explanation.find("candidates()"), std::string::npos) << r.explanation;
}

TEST(cache_lincheck, an_evicted_entry_seen_after_its_eviction_is_not_linearizable) {
  const cache_history h = {
      insert(span(1, 2), done("a", 1), insert_result::admitted),
      insert(span(3, 4), done("b", 2), insert_result::admitted),  // capacity 1: evicts a
      contains(span(5, 6), "a", true),
  };
  EXPECT_FALSE(check_cache(h, setup_of(1)).linearizable);
}

TEST(cache_lincheck, a_hit_overlapping_its_insert_is_linearizable_one_before_it_is_not) {
  const cache_history overlapping = {
      insert(span(1, 4, 0), done("a", 1), insert_result::admitted),
      lookup(span(2, 3, 1), "select 1", done("a", 1)),
  };
  EXPECT_TRUE(check_cache(overlapping, setup_of(2)).linearizable);
  const cache_history too_early = {
      lookup(span(1, 2, 1), "select 1", done("a", 1)),
      insert(span(3, 4, 0), done("a", 1), insert_result::admitted),
  };
  EXPECT_FALSE(check_cache(too_early, setup_of(2)).linearizable);
}

TEST(cache_lincheck, a_hit_on_a_version_never_inserted_is_not_linearizable) {
  const cache_history h = {
      insert(span(1, 2), done("a", 1, "select 1", "1"), insert_result::admitted),
      insert(span(3, 4), done("a", 1, "select 1", "2"), insert_result::replaced),
      lookup(span(5, 6), "select 1", done("a", 1, "select 1", "1")),  // replaced before the lookup began
  };
  EXPECT_FALSE(check_cache(h, setup_of(2)).linearizable);
}

TEST(cache_lincheck, the_wrong_insert_result_is_not_linearizable) {
  const cache_history h = {
      insert(span(1, 2), done("a", 5), insert_result::admitted),
      insert(span(3, 4), done("b", 1), insert_result::admitted),  // older than a, cache full: dropped
  };
  EXPECT_FALSE(check_cache(h, setup_of(1)).linearizable);
  const cache_history right = {
      insert(span(1, 2), done("a", 5), insert_result::admitted),
      insert(span(3, 4), done("b", 1), insert_result::dropped),
  };
  EXPECT_TRUE(check_cache(right, setup_of(1)).linearizable);
}

TEST(cache_lincheck, concurrent_erases_of_one_entry_succeed_once) {
  const cache_history once = {
      insert(span(1, 2), done("a", 1), insert_result::admitted),
      erase(span(3, 6, 0), "a", true),
      erase(span(4, 5, 1), "a", false),
  };
  EXPECT_TRUE(check_cache(once, setup_of(2)).linearizable);
  cache_history twice = once;
  twice[2].ok = true;
  EXPECT_FALSE(check_cache(twice, setup_of(2)).linearizable);
}

TEST(cache_lincheck, malformed_and_capped_checks_fail_with_a_reason) {
  const cache_history backwards = {contains(span(5, 5), "a", false)};
  const auto malformed = check_cache(backwards, setup_of(1));
  EXPECT_FALSE(malformed.linearizable);
  EXPECT_NE(malformed.explanation.find("malformed"), std::string::npos);

  cache_history wide;
  for (unsigned t = 0; t < 6; ++t) wide.push_back(contains(span(1, 100, t), "a", false));
  wide.push_back(contains(span(101, 102), "a", true));  // never legal: the search explores, then fails
  const auto capped = check_cache(wide, setup_of(1), 3);
  EXPECT_FALSE(capped.linearizable);
  EXPECT_TRUE(capped.cap_hit);
}

TEST(cache_lincheck, format_names_each_call_and_result) {
  const cache_history h = {insert(span(1, 2, 3), done("a", 1), insert_result::admitted),
                           lookup(span(3, 4), "select 1", std::nullopt)};
  EXPECT_EQ(format(h[0]), "t3 [1, 2] insert(a @ s3://r/a/1) -> admitted");
  EXPECT_EQ(format(h[1]), "t0 [3, 4] lookup('select 1') -> miss");
}

}  // namespace
