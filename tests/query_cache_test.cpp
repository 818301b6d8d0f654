// The conformance suite of the query caches: one typed suite that runs the
// lock-free snapcache::query_cache and the locked baseline through the same
// cases, in standard and compat mode. A case names the behaviour it checks
// (the semantics page, /work/shared/query-cache-semantics.md, is the
// specification); every cache in the list must pass every case.
//
// Besides single behaviours it checks: random operation sequences against a
// brute-force model of the specification (the original's code, literally, for
// compat); the strong exception guarantee under a failing operator new; that
// lookup work does not grow with the cache; and the concurrent contract
// (sorted, duplicate-free, bounded candidate views; exact quiescent state).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <latch>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "failing_new.hpp"
#include "query_cache_model.hpp"
#include "snapcache/detail/small_vector.hpp"
#include "snapcache/ebr.hpp"
#include "snapcache/locked_query_cache.hpp"
#include "snapcache/query_cache.hpp"
#include "snapcache/sql.hpp"

namespace {

using namespace std::chrono_literals;
using snapcache::cache_clock;
using snapcache::cache_mode;
using snapcache::insert_result;
using snapcache::query_entry;
using snapcache::query_state;
using snapcache::result_kind;
using snapcache::statement_kind;
using snapcache::unlimited;

constexpr cache_mode standard = cache_mode::standard;
constexpr cache_mode compat = cache_mode::compat;

// ---------------------------------------------------------------------------
// Entries and inspection helpers.

const cache_clock::time_point epoch = cache_clock::time_point{} + std::chrono::hours(24 * 365 * 50);

cache_clock::time_point at(std::int64_t seconds) { return epoch + std::chrono::seconds(seconds); }

// A running query: never a candidate.
query_entry running(std::string id, std::int64_t submitted, std::string sql = "select 1") {
  return query_entry{.id = std::move(id),
                     .query = std::move(sql),
                     .state = query_state::running,
                     .statement_type = statement_kind::dml,
                     .submitted_at = at(submitted),
                     .completed_at = std::nullopt,
                     .output_location = {},
                     .payload = {}};
}

// A query that SUCCEEDED: a candidate for DDL and DML.
query_entry done(std::string id, std::int64_t submitted, std::int64_t completed, std::string sql = "select 1",
                 statement_kind type = statement_kind::dml) {
  query_entry e = running(std::move(id), submitted, std::move(sql));
  e.state = query_state::succeeded;
  e.statement_type = type;
  e.completed_at = at(completed);
  e.output_location = "s3://results/" + e.id;
  return e;
}

template <class Cache>
std::vector<std::string> candidate_ids(const Cache& cache) {
  std::vector<std::string> ids;
  for (const query_entry& e : cache.candidates()) ids.push_back(e.id);
  return ids;
}

// The cache holds exactly `ids` (of those in `universe`, plus nothing else).
template <class Cache>
void expect_holds(const Cache& cache, std::set<std::string> ids, const std::vector<std::string>& universe) {
  EXPECT_EQ(cache.size(), ids.size());
  for (const std::string& id : universe) EXPECT_EQ(cache.contains(id), ids.count(id) == 1) << "id " << id;
}

template <class Cache>
std::vector<insert_result> insert_batch(Cache& cache, const std::vector<query_entry>& batch) {
  return cache.insert(std::span<const query_entry>(batch));
}

// Everything observable about a cache except its lookups.
struct fingerprint {
  std::size_t size = 0;
  std::size_t capacity = 0;
  std::vector<query_entry> candidates;
  std::vector<std::optional<query_entry>> found;
  std::uint64_t inserts = 0, replacements = 0, evictions = 0, drops = 0;
  bool operator==(const fingerprint&) const = default;
};

template <class Cache>
fingerprint take_fingerprint(const Cache& cache, const std::vector<std::string>& universe) {
  fingerprint f;
  f.size = cache.size();
  f.capacity = cache.capacity();
  for (const query_entry& e : cache.candidates()) f.candidates.push_back(e);
  for (const std::string& id : universe) f.found.push_back(cache.find(id));
  const auto s = cache.stats();
  f.inserts = s.inserts;
  f.replacements = s.replacements;
  f.evictions = s.evictions;
  f.drops = s.drops;
  return f;
}

// The candidate order of the mode, on consecutive entries of a view.
bool in_candidate_order(const query_entry& a, const query_entry& b) {
  if (*a.completed_at != *b.completed_at) return *a.completed_at > *b.completed_at;
  return a.id < b.id;
}

// The reference: tests/support/query_cache_model.hpp. Its compat inserts
// report the original's failure as nullopt; the caches throw.
std::vector<insert_result> model_insert(snapcache::testing::query_cache_model& m, const std::vector<query_entry>& batch) {
  auto results = m.insert(batch);
  if (!results) throw std::length_error("heappop from an empty heap");
  return *results;
}

// ---------------------------------------------------------------------------
// The suite.

template <class Cache>
class query_cache_conformance : public ::testing::Test {};

using cache_types = ::testing::Types<snapcache::query_cache, snapcache::locked_query_cache>;
TYPED_TEST_SUITE(query_cache_conformance, cache_types);

// ---- construction and capacity ---------------------------------------------

TYPED_TEST(query_cache_conformance, a_new_cache_is_empty_and_reports_its_capacity_and_mode) {
  for (const cache_mode mode : {standard, compat}) {
    TypeParam cache(7, mode);
    EXPECT_EQ(cache.size(), 0u);
    EXPECT_EQ(cache.capacity(), 7u);
    EXPECT_EQ(cache.mode(), mode);
    EXPECT_TRUE(cache.candidates().empty());
    EXPECT_FALSE(cache.contains("a"));
    EXPECT_EQ(cache.stats().lookups, 0u);
    EXPECT_EQ(cache.stats().hit_rate(), 0.0);
  }
}

TYPED_TEST(query_cache_conformance, zero_capacity_is_rejected_at_construction_and_by_set_capacity) {
  EXPECT_THROW(TypeParam(0), std::invalid_argument);
  EXPECT_THROW(TypeParam(0, compat), std::invalid_argument);
  TypeParam cache(3);
  cache.insert(done("a", 1, 2));
  EXPECT_THROW(cache.set_capacity(0), std::invalid_argument);
  EXPECT_EQ(cache.capacity(), 3u);
  EXPECT_EQ(cache.size(), 1u);
}

TYPED_TEST(query_cache_conformance, a_cache_below_capacity_admits_every_new_id_old_ones_included) {
  TypeParam cache(3);
  EXPECT_EQ(cache.insert(done("b", 5, 6)), insert_result::admitted);
  EXPECT_EQ(cache.insert(done("a", 1, 2)), insert_result::admitted);
  EXPECT_EQ(cache.insert(running("c", 3)), insert_result::admitted);
  expect_holds(cache, {"a", "b", "c"}, {"a", "b", "c"});
}

TYPED_TEST(query_cache_conformance, a_full_cache_evicts_the_oldest_entry_for_a_newer_one) {
  TypeParam cache(2);
  cache.insert(done("a", 1, 2));
  cache.insert(done("b", 5, 6));
  EXPECT_EQ(cache.insert(done("c", 3, 4)), insert_result::admitted);
  expect_holds(cache, {"b", "c"}, {"a", "b", "c"});
  EXPECT_EQ(cache.stats().evictions, 1u);
}

TYPED_TEST(query_cache_conformance, a_full_cache_drops_an_entry_older_than_every_entry_it_holds) {
  TypeParam cache(2);
  cache.insert(done("a", 3, 4));
  cache.insert(done("b", 5, 6));
  EXPECT_EQ(cache.insert(done("c", 1, 9)), insert_result::dropped);
  expect_holds(cache, {"a", "b"}, {"a", "b", "c"});
  EXPECT_EQ(cache.stats().drops, 1u);
  EXPECT_EQ(candidate_ids(cache), (std::vector<std::string>{"b", "a"}));
}

TYPED_TEST(query_cache_conformance, at_equal_submission_times_the_greater_id_counts_as_older) {
  TypeParam cache(2);
  cache.insert(running("m", 3));
  cache.insert(running("z", 9));
  // "n" ties with "m" and is the greater id: older than "m", so dropped.
  EXPECT_EQ(cache.insert(running("n", 3)), insert_result::dropped);
  // "a" ties with "m" and is the smaller id: newer, so "m" goes.
  EXPECT_EQ(cache.insert(running("a", 3)), insert_result::admitted);
  expect_holds(cache, {"a", "z"}, {"a", "m", "n", "z"});
}

TYPED_TEST(query_cache_conformance, equal_submission_times_evict_the_greatest_id_first) {
  TypeParam cache(2);
  cache.insert(running("x", 1));
  cache.insert(running("y", 1));
  EXPECT_EQ(cache.insert(running("z", 2)), insert_result::admitted);
  expect_holds(cache, {"x", "z"}, {"x", "y", "z"});
  EXPECT_EQ(cache.insert(running("w", 3)), insert_result::admitted);
  expect_holds(cache, {"z", "w"}, {"w", "x", "y", "z"});
}

TYPED_TEST(query_cache_conformance, inserting_a_held_id_replaces_it_in_place_and_evicts_nothing) {
  TypeParam cache(2);
  cache.insert(running("a", 1));
  cache.insert(running("b", 2));
  EXPECT_EQ(cache.insert(done("a", 1, 5)), insert_result::replaced);
  expect_holds(cache, {"a", "b"}, {"a", "b"});
  EXPECT_EQ(cache.find("a")->state, query_state::succeeded);
  EXPECT_EQ(candidate_ids(cache), (std::vector<std::string>{"a"}));
  const auto s = cache.stats();
  EXPECT_EQ(s.replacements, 1u);
  EXPECT_EQ(s.evictions, 0u);
  EXPECT_EQ(s.inserts, 2u);
}

TYPED_TEST(query_cache_conformance, a_replacement_never_duplicates_its_id) {
  TypeParam cache(4);
  for (int i = 0; i < 5; ++i) cache.insert(done("a", i, 10 + i));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(candidate_ids(cache), (std::vector<std::string>{"a"}));
  EXPECT_EQ(cache.find("a")->completed_at, at(14));
}

TYPED_TEST(query_cache_conformance, a_replacement_takes_the_new_submission_time_for_eviction) {
  TypeParam cache(2);
  cache.insert(running("a", 1));
  cache.insert(running("b", 2));
  EXPECT_EQ(cache.insert(running("a", 10)), insert_result::replaced);
  EXPECT_EQ(cache.insert(running("c", 5)), insert_result::admitted);
  expect_holds(cache, {"a", "c"}, {"a", "b", "c"});
}

TYPED_TEST(query_cache_conformance, lowering_the_capacity_evicts_the_oldest_entries_at_once) {
  TypeParam cache(4);
  for (const char* id : {"a", "b", "c", "d"}) cache.insert(running(id, id[0] - 'a'));
  cache.set_capacity(2);
  EXPECT_EQ(cache.capacity(), 2u);
  expect_holds(cache, {"c", "d"}, {"a", "b", "c", "d"});
  EXPECT_EQ(cache.stats().evictions, 2u);
  cache.set_capacity(3);  // raising admits more, evicts nothing
  EXPECT_EQ(cache.insert(running("e", -5)), insert_result::admitted);
  expect_holds(cache, {"c", "d", "e"}, {"a", "b", "c", "d", "e"});
}

TYPED_TEST(query_cache_conformance, erase_removes_an_entry_and_reports_whether_it_was_held) {
  for (const cache_mode mode : {standard, compat}) {
    TypeParam cache(3, mode);
    cache.insert(done("a", 1, 2));
    cache.insert(done("b", 3, 4));
    EXPECT_TRUE(cache.erase("a"));
    EXPECT_FALSE(cache.erase("a"));
    EXPECT_FALSE(cache.erase("never"));
    expect_holds(cache, {"b"}, {"a", "b"});
    EXPECT_EQ(candidate_ids(cache), (std::vector<std::string>{"b"}));
    EXPECT_FALSE(cache.lookup("select 1", 1h, unlimited, at(4))->id == "a");
    EXPECT_EQ(cache.insert(done("a", 1, 9)), insert_result::admitted);  // an erased id can come back
    EXPECT_EQ(candidate_ids(cache), (std::vector<std::string>{"a", "b"}));
  }
}

// Issue 20: contains() copied the entry (490 µs with an 8 MiB query) and
// could throw std::bad_alloc.
TYPED_TEST(query_cache_conformance, contains_and_visit_read_the_entry_in_place_without_allocating) {
  TypeParam cache(10);
  query_entry big = done("big", 1, 2, "select 1 /*" + std::string(8u << 20, 'x') + "*/");
  cache.insert(big);
  (void)cache.contains("big");  // first use: registration and caches warm
  const std::size_t before = snapcache::test::allocations_by_this_thread();
  EXPECT_TRUE(cache.contains("big"));
  EXPECT_FALSE(cache.contains("absent"));
  std::size_t seen = 0;
  const std::string* address = nullptr;
  EXPECT_TRUE(cache.visit("big", [&](const query_entry& e) {
    seen = e.query.size();
    address = &e.query;
  }));
  EXPECT_FALSE(cache.visit("absent", [&](const query_entry&) { ADD_FAILURE() << "visited an absent id"; }));
  EXPECT_EQ(snapcache::test::allocations_by_this_thread(), before) << "contains() or visit() allocated";
  EXPECT_EQ(seen, big.query.size());
  EXPECT_NE(address, nullptr);
  static_assert(noexcept(cache.contains("big")), "contains() must not throw");
}

TYPED_TEST(query_cache_conformance, find_returns_a_copy_of_the_held_entry_with_its_payload) {
  TypeParam cache(2);
  query_entry e = done("a", 1, 2, "SELECT x FROM t");
  e.payload = std::make_shared<const int>(42);
  cache.insert(e);
  const auto found = cache.find("a");
  ASSERT_TRUE(found);
  EXPECT_EQ(*found, e);
  EXPECT_EQ(*std::static_pointer_cast<const int>(found->payload), 42);
  EXPECT_FALSE(cache.find("b"));
}

// ---- candidates ---------------------------------------------------------------

TYPED_TEST(query_cache_conformance, candidates_are_succeeded_ddl_or_dml_entries_with_a_completion_time) {
  for (const cache_mode mode : {standard, compat}) {
    TypeParam cache(10, mode);
    // Rising submission times: compat drops a batch item not newer than the
    // entry on its heap's top.
    query_entry failed = done("failed", 1, 2);
    failed.state = query_state::failed;
    query_entry cancelled = done("cancelled", 2, 2);
    cancelled.state = query_state::cancelled;
    query_entry queued = running("queued", 3);
    queued.state = query_state::queued;
    query_entry no_time = done("no_time", 4, 2);
    no_time.completed_at.reset();  // SUCCEEDED without a completion time: never a candidate
    cache.insert(failed);
    cache.insert(cancelled);
    cache.insert(queued);
    cache.insert(no_time);
    cache.insert(running("running", 5));
    cache.insert(done("utility", 6, 5, "SHOW TABLES", statement_kind::utility));
    cache.insert(done("ddl", 7, 4, "DROP TABLE t", statement_kind::ddl));
    cache.insert(done("dml", 8, 3));
    EXPECT_EQ(cache.size(), 8u);
    EXPECT_EQ(candidate_ids(cache), (std::vector<std::string>{"ddl", "dml"}));
    EXPECT_EQ(cache.lookup("select 1", 1h, unlimited, at(3))->id, "dml");
  }
}

TYPED_TEST(query_cache_conformance, candidates_are_ordered_newest_completion_first_with_ties_by_id) {
  TypeParam cache(10);
  cache.insert(done("c", 1, 5));
  cache.insert(done("d", 2, 7));
  cache.insert(done("a", 3, 5));
  cache.insert(done("b", 4, 7));
  EXPECT_EQ(candidate_ids(cache), (std::vector<std::string>{"b", "d", "a", "c"}));
}

TYPED_TEST(query_cache_conformance, completion_times_compare_at_full_precision) {
  for (const cache_mode mode : {standard, compat}) {
    TypeParam cache(10, mode);
    query_entry a = done("a", 1, 5);
    query_entry b = done("b", 2, 5);
    query_entry c = done("c", 3, 5);
    b.completed_at = *b.completed_at + 1ns;
    c.completed_at = *c.completed_at + 1us;
    cache.insert(a);
    cache.insert(b);
    cache.insert(c);
    EXPECT_EQ(candidate_ids(cache), (std::vector<std::string>{"c", "b", "a"}));
  }
}

TYPED_TEST(query_cache_conformance, a_candidates_view_is_unchanged_by_later_writes) {
  TypeParam cache(3);
  cache.insert(done("a", 1, 3));
  cache.insert(done("b", 2, 4));
  const auto view = cache.candidates();
  std::vector<query_entry> before(view.begin(), view.end());
  cache.insert(done("c", 5, 9));
  cache.insert(done("d", 6, 10));  // evicts a
  cache.insert(running("b", 7));   // replaces b: no longer a candidate
  cache.erase("c");
  std::vector<query_entry> after(view.begin(), view.end());
  EXPECT_EQ(before, after);
  EXPECT_EQ(view.size(), 2u);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].id, "b");
  EXPECT_EQ(after[1].id, "a");
  EXPECT_EQ(candidate_ids(cache), (std::vector<std::string>{"d"}));
}

TYPED_TEST(query_cache_conformance, a_candidates_view_outlives_its_cache) {
  std::optional<typename TypeParam::candidate_view> view;
  {
    TypeParam cache(3);
    cache.insert(done("a", 1, 3, std::string(100, 'x')));
    view.emplace(cache.candidates());
  }
  ASSERT_EQ(view->size(), 1u);
  EXPECT_EQ(view->begin()->query, std::string(100, 'x'));
}

// ---- lookup ---------------------------------------------------------------------

TYPED_TEST(query_cache_conformance, lookup_hits_a_select_run_earlier_and_reports_csv) {
  TypeParam cache(10);
  cache.insert(done("q", 1, 2, "SELECT * FROM db.t WHERE x = 'A'"));
  const auto hit = cache.lookup("  select *\n from DB.T where X = 'A';", 1h, unlimited, at(3));
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->id, "q");
  EXPECT_EQ(hit->kind, result_kind::csv);
  EXPECT_EQ(hit->output_location, "s3://results/q");
  EXPECT_EQ(hit->entry, *cache.find("q"));
  EXPECT_FALSE(cache.lookup("select * from db.t where x = 'a'", 1h, unlimited, at(3)));
}

TYPED_TEST(query_cache_conformance, lookup_returns_the_newest_matching_execution) {
  TypeParam cache(10);
  cache.insert(done("old", 1, 5, "select 1"));
  cache.insert(done("new", 2, 9, "SELECT 1"));
  cache.insert(done("other", 3, 12, "select 2"));
  EXPECT_EQ(cache.lookup("select 1", 1h, unlimited, at(20))->id, "new");
  EXPECT_EQ(cache.lookup("select 1", 1h, 2, at(20))->id, "new");
  cache.insert(done("amid", 4, 9, "select 1"));  // ties with "new" at 9: the smaller id comes first
  EXPECT_EQ(cache.lookup("select 1", 1h, unlimited, at(20))->id, "amid");
}

TYPED_TEST(query_cache_conformance, lookup_never_answers_with_an_insert) {
  TypeParam cache(10);
  cache.insert(done("i1", 1, 2, "INSERT INTO t SELECT 1"));
  cache.insert(done("i2", 1, 3, "  /* load */ insert into u select 2"));
  EXPECT_FALSE(cache.lookup("INSERT INTO t SELECT 1", 1h, unlimited, at(4)));
  EXPECT_FALSE(cache.lookup("insert into u select 2", 1h, unlimited, at(4)));
  EXPECT_EQ(cache.candidates().size(), 2u);  // still candidates: they count in the walk
}

// Issue 20: standard mode served writes from the cache (a repeated DELETE
// did not run again). Only statements that read are served; compat keeps
// the original's rule (everything but INSERT).
TYPED_TEST(query_cache_conformance, standard_mode_serves_only_statements_that_read) {
  const std::vector<std::string> writes = {"DELETE FROM t WHERE a = 1", "UPDATE t SET a = 2",
                                           "MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE"};
  TypeParam standard_cache(10);
  TypeParam compat_cache(10, compat);
  std::int64_t n = 0;
  for (const std::string& sql : writes) {
    standard_cache.insert(done("w" + std::to_string(n), 1 + n, 2 + n, sql));
    compat_cache.insert(done("w" + std::to_string(n), 1 + n, 2 + n, sql));  // newer each: compat's filter keeps it
    ++n;
  }
  for (const std::string& sql : writes) {
    EXPECT_FALSE(standard_cache.lookup(sql, 1h, unlimited, at(10))) << "standard mode served a write: " << sql;
    EXPECT_TRUE(compat_cache.lookup(sql, 1h, unlimited, at(10))) << "compat keeps the original's rule: " << sql;
  }
  standard_cache.insert(done("r", 1, 9, "(SELECT a FROM t)"));
  EXPECT_TRUE(standard_cache.lookup("select a from t", 1h, unlimited, at(10)));
}

TYPED_TEST(query_cache_conformance, a_ctas_if_not_exists_answers_nothing_in_standard_mode) {
  TypeParam cache(10);
  cache.insert(done("c", 1, 2, "CREATE TABLE IF NOT EXISTS t WITH (format = 'PARQUET') AS SELECT 1",
                    statement_kind::ddl));
  EXPECT_FALSE(cache.lookup("SELECT 1", 1h, unlimited, at(10))) << "the table may have existed: nothing written";
}

TYPED_TEST(query_cache_conformance, vertical_tab_and_form_feed_are_not_whitespace_in_standard_mode) {
  TypeParam cache(10);
  cache.insert(done("q", 1, 2, "select 1 from t"));
  EXPECT_FALSE(cache.lookup("select\v1 from t", 1h, unlimited, at(10))) << "an invalid query got a valid one's result";
  EXPECT_FALSE(cache.lookup("select\f1 from t", 1h, unlimited, at(10)));
  EXPECT_TRUE(cache.lookup("select\t1\r\nfrom t", 1h, unlimited, at(10)));
}

TYPED_TEST(query_cache_conformance, lookup_hits_a_parquet_ctas_by_its_inner_select) {
  for (const cache_mode mode : {standard, compat}) {
    TypeParam cache(10, mode);
    cache.insert(done("ctas", 1, 2,
                      "CREATE TABLE tmp.x WITH (external_location = 's3://b/x', format = 'PARQUET') AS SELECT a FROM t",
                      statement_kind::ddl));
    const auto hit = cache.lookup("SELECT a FROM t", 1h, unlimited, at(3));
    ASSERT_TRUE(hit) << (mode == standard ? "standard" : "compat");
    EXPECT_EQ(hit->id, "ctas");
    EXPECT_EQ(hit->kind, result_kind::parquet);
  }
}

TYPED_TEST(query_cache_conformance, a_ddl_that_is_not_a_parquet_ctas_never_hits) {
  for (const cache_mode mode : {standard, compat}) {
    TypeParam cache(10, mode);
    cache.insert(done("orc", 1, 2, "CREATE TABLE x WITH (format = 'ORC') AS SELECT a FROM t", statement_kind::ddl));
    cache.insert(done("drop", 1, 3, "DROP TABLE t", statement_kind::ddl));
    EXPECT_FALSE(cache.lookup("SELECT a FROM t", 1h, unlimited, at(4)));
    EXPECT_FALSE(cache.lookup("DROP TABLE t", 1h, unlimited, at(4)));
  }
}

TYPED_TEST(query_cache_conformance, a_non_positive_max_age_disables_caching_and_examines_nothing) {
  TypeParam cache(10);
  cache.insert(done("q", 1, 2));
  EXPECT_FALSE(cache.lookup("select 1", 0s, unlimited, at(2)));
  EXPECT_FALSE(cache.lookup("select 1", -5s, 3, at(2)));
  const auto s = cache.stats();
  EXPECT_EQ(s.lookups, 2u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.inspections, 0u);
}

TYPED_TEST(query_cache_conformance, lookup_misses_when_the_newest_match_completed_more_than_max_age_ago) {
  TypeParam cache(10);
  cache.insert(done("q", 1, 100));
  EXPECT_TRUE(cache.lookup("select 1", 60s, unlimited, at(160)));   // exactly max_age: still fresh
  EXPECT_FALSE(cache.lookup("select 1", 59s, unlimited, at(160)));  // one second more: too old
  EXPECT_FALSE(cache.lookup("select 1", 59s, 5, at(160)));
  EXPECT_TRUE(cache.lookup("select 1", 1s, unlimited, at(50)));  // completed "in the future": fresh
}

// Issue 20: ages were computed as `now - completed_at` in 64-bit
// nanoseconds, so a completion more than 292 years before `now`
// (time_point::min() as "unknown", or 1700) overflowed into a hit.
TYPED_TEST(query_cache_conformance, ancient_and_far_future_completions_are_aged_without_overflow) {
  using clock = cache_clock;
  const auto year_1700 = clock::time_point{} - std::chrono::hours(24 * 365 * 270);
  for (const cache_mode mode : {standard, compat}) {
    TypeParam cache(10, mode);
    query_entry ancient = done("ancient", 1, 2, "select 1");
    ancient.submitted_at = clock::time_point::min();
    ancient.completed_at = clock::time_point::min();
    cache.insert(ancient);
    EXPECT_FALSE(cache.lookup("select 1", std::chrono::hours(1), unlimited, at(100))) << "time_point::min()";
    EXPECT_FALSE(cache.lookup("select 1", std::chrono::hours(1), 3, at(100)));
    EXPECT_FALSE(cache.lookup("select 1", std::chrono::hours(1), unlimited, clock::time_point::max()));
    EXPECT_TRUE(cache.lookup("select 1", std::chrono::hours(1), unlimited, clock::time_point::min()))
        << "completed at now: age 0";

    query_entry old = done("old", 3, 4, "select 2");
    old.completed_at = year_1700;
    cache.insert(old);
    EXPECT_FALSE(cache.lookup("select 2", std::chrono::hours(24 * 365), unlimited, at(100))) << "1700";
    query_entry older_but_covered = done("covered", 7, 8, "select 4");
    older_but_covered.completed_at = at(100) - std::chrono::hours(24 * 365 * 220);  // 1800
    cache.insert(older_but_covered);
    EXPECT_TRUE(cache.lookup("select 4", std::chrono::hours(24 * 365 * 250), unlimited, at(100)))
        << "250 years of max_age cover 220";

    query_entry future = done("future", 5, 6, "select 3");
    future.completed_at = clock::time_point::max();
    cache.insert(future);
    EXPECT_TRUE(cache.lookup("select 3", std::chrono::hours(1), unlimited, at(100)))
        << "a completion after now has no age";
    EXPECT_TRUE(cache.lookup("select 3", std::chrono::hours(1), unlimited, clock::time_point::min()));
  }
}

TYPED_TEST(query_cache_conformance, lookup_examines_at_most_max_inspections_candidates) {
  TypeParam cache(20);
  cache.insert(done("match", 1, 10, "select target"));
  for (int i = 0; i < 5; ++i) cache.insert(done("n" + std::to_string(i), 2, 20 + i, "select " + std::to_string(i)));
  // Candidate order: n4 n3 n2 n1 n0 match.
  auto inspections = [&] { return cache.stats().inspections; };
  auto before = inspections();
  EXPECT_FALSE(cache.lookup("select target", 1h, 5, at(30)));
  EXPECT_EQ(inspections() - before, 5u);
  before = inspections();
  EXPECT_EQ(cache.lookup("select target", 1h, 6, at(30))->id, "match");
  EXPECT_EQ(inspections() - before, 6u);
  before = inspections();
  EXPECT_EQ(cache.lookup("select target", 1h, unlimited, at(30))->id, "match");
  EXPECT_EQ(inspections() - before, 1u) << "an unlimited lookup must use the text index, not walk";
  before = inspections();
  EXPECT_EQ(cache.lookup("select 4", 1h, 1, at(30))->id, "n4");
  EXPECT_EQ(inspections() - before, 1u);
  before = inspections();
  EXPECT_FALSE(cache.lookup("select nothing", 1h, 3, at(30)));
  EXPECT_EQ(inspections() - before, 0u) << "no candidate has that text: nothing to examine";
}

TYPED_TEST(query_cache_conformance, max_inspections_of_zero_is_rejected) {
  TypeParam cache(10);
  cache.insert(done("q", 1, 2));
  EXPECT_THROW((void)cache.lookup("select 1", 1h, 0, at(3)), std::invalid_argument);
  EXPECT_THROW((void)cache.lookup("select 1", 0s, 0, at(3)), std::invalid_argument);
  EXPECT_EQ(cache.stats().lookups, 0u);
}

TYPED_TEST(query_cache_conformance, lookup_matches_exactly_the_texts_with_equal_normal_forms) {
  TypeParam cache(10);
  cache.insert(done("lit", 1, 2, "select 'A B' from t"));
  cache.insert(done("cmt", 1, 3, "-- daily\nSELECT /* all */ * FROM t;"));
  EXPECT_FALSE(cache.lookup("select 'ab' from t", 1h, unlimited, at(4)));
  EXPECT_FALSE(cache.lookup("select 'a b' from t", 1h, unlimited, at(4)));
  EXPECT_EQ(cache.lookup("SELECT 'A B' FROM T", 1h, unlimited, at(4))->id, "lit");
  EXPECT_EQ(cache.lookup("((select * from t))", 1h, unlimited, at(4))->id, "cmt");
}

TYPED_TEST(query_cache_conformance, empty_and_malformed_sql_never_throw_from_lookup) {
  for (const cache_mode mode : {standard, compat}) {
    TypeParam cache(10, mode);
    cache.insert(done("open", 1, 2, "select 'unterminated"));
    cache.insert(done("bytes", 1, 3, "\xff\xfe select"));
    cache.insert(done("ctas", 1, 4, "CREATE TABLE (((", statement_kind::ddl));
    const std::vector<std::string> texts = {"", " ", ";", "()", "/*", "--", "'", "\"", "select 'unterminated",
                                            "\xff\xfe select", std::string(1 << 16, '('), std::string(3, '\0')};
    for (const std::string& sql : texts) {
      EXPECT_NO_THROW((void)cache.lookup(sql, 1h, unlimited, at(5)));
      EXPECT_NO_THROW((void)cache.lookup(sql, 1h, 2, at(5)));
    }
    EXPECT_EQ(cache.lookup("select 'unterminated", 1h, unlimited, at(5))->id, "open");  // equals only itself
    EXPECT_FALSE(cache.lookup("SELECT 'unterminated", 1h, unlimited, at(5)) && mode == standard);
  }
}

TYPED_TEST(query_cache_conformance, statistics_count_every_outcome) {
  TypeParam cache(2);
  cache.insert(done("a", 1, 2, "select a"));
  cache.insert(done("b", 3, 4, "select b"));
  cache.insert(done("b", 3, 5, "select b"));  // replaced
  cache.insert(done("c", 5, 6, "select c"));  // evicts a
  cache.insert(done("z", 0, 6, "select z"));  // dropped
  (void)cache.lookup("select b", 1h, unlimited, at(7));
  (void)cache.lookup("select a", 1h, unlimited, at(7));
  (void)cache.lookup("select c", 1h, unlimited, at(7));
  (void)cache.lookup("select c", 0s, unlimited, at(7));
  const auto s = cache.stats();
  EXPECT_EQ(s.inserts, 3u);
  EXPECT_EQ(s.replacements, 1u);
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.drops, 1u);
  EXPECT_EQ(s.lookups, 4u);
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.hits + s.misses, s.lookups);
  EXPECT_EQ(s.inspections, 2u);
  EXPECT_DOUBLE_EQ(s.hit_rate(), 0.5);
}

TYPED_TEST(query_cache_conformance, lookup_work_is_the_same_at_100_and_100000_entries) {
  constexpr int large = 100000;
  TypeParam cache(large);
  const auto fill = [&](int from, int to) {
    std::vector<query_entry> batch;
    for (int i = from; i < to; ++i) {
      batch.push_back(done("q" + std::to_string(i), i, i + 1, "SELECT " + std::to_string(i) + " FROM t"));
      if (batch.size() == 5000 || i + 1 == to) {
        insert_batch(cache, batch);
        batch.clear();
      }
    }
  };
  // Inspections of: the newest entry, the oldest entry, and a text nobody ran.
  const auto work = [&](int newest) {
    std::vector<std::uint64_t> delta;
    const std::vector<std::string> texts = {"select " + std::to_string(newest) + " from t", "select 0 from t",
                                            "select nothing"};
    for (const std::string& sql : texts) {
      const auto before = cache.stats().inspections;
      const auto hit = cache.lookup(sql, std::chrono::hours(1000), unlimited, at(large + 10));
      EXPECT_EQ(hit.has_value(), sql != "select nothing") << sql;
      delta.push_back(cache.stats().inspections - before);
    }
    return delta;
  };
  fill(0, 100);
  const auto small = work(99);
  fill(100, large);
  ASSERT_EQ(cache.size(), static_cast<std::size_t>(large));
  EXPECT_EQ(work(large - 1), small);
  EXPECT_EQ(small, (std::vector<std::uint64_t>{1, 1, 0}));
}

// ---- compat mode: the original's quirks, batch by batch -----------------------

TYPED_TEST(query_cache_conformance, compat_follows_the_specification_examples) {
  TypeParam cache(2, compat);
  insert_batch(cache, {running("a", 1), running("b", 5)});
  auto results = insert_batch(cache, {running("c", 2), running("d", 3)});
  EXPECT_EQ(results, (std::vector<insert_result>{insert_result::admitted, insert_result::admitted}));
  expect_holds(cache, {"c", "d"}, {"a", "b", "c", "d"});

  TypeParam other(2, compat);
  insert_batch(other, {running("a", 1), running("b", 5)});
  EXPECT_EQ(insert_batch(other, {running("e", 1)}), (std::vector<insert_result>{insert_result::dropped}));
  expect_holds(other, {"a", "b"}, {"a", "b", "e"});
}

TYPED_TEST(query_cache_conformance, compat_filters_against_the_heap_tops_current_entry_even_below_capacity) {
  TypeParam cache(10, compat);
  cache.insert(running("a", 1));
  EXPECT_EQ(cache.insert(running("a", 8)), insert_result::replaced);  // heap: (1, a), (8, a)
  // The top is (1, a), but a's current entry was submitted at 8: a batch
  // item not newer than 8 is dropped though the cache has room.
  EXPECT_EQ(cache.insert(running("b", 5)), insert_result::dropped);
  EXPECT_EQ(cache.insert(running("c", 9)), insert_result::admitted);
  expect_holds(cache, {"a", "c"}, {"a", "b", "c"});
  // Standard mode has no such filter.
  TypeParam plain(10, standard);
  plain.insert(running("a", 1));
  plain.insert(running("a", 8));
  EXPECT_EQ(plain.insert(running("b", 5)), insert_result::admitted);
}

TYPED_TEST(query_cache_conformance, compat_filters_nothing_when_the_heap_tops_id_is_gone) {
  TypeParam cache(10, compat);
  insert_batch(cache, {running("a", 5), running("b", 6)});
  cache.erase("a");  // the heap keeps (5, a), stale
  EXPECT_EQ(cache.insert(running("c", 1)), insert_result::admitted);
  expect_holds(cache, {"b", "c"}, {"a", "b", "c"});
}

TYPED_TEST(query_cache_conformance, compat_a_pop_that_removes_nothing_leaves_more_than_capacity) {
  TypeParam cache(2, compat);
  const std::vector<std::string> ids = {"a", "b", "c", "d", "e"};
  cache.insert(running("a", 1));
  cache.insert(running("a", 2));  // overwrite: heap (1, a), (2, a)
  cache.insert(running("b", 3));  // k = 0
  expect_holds(cache, {"a", "b"}, ids);
  cache.insert(running("c", 4));  // k = 1: pops (1, a), removing a
  expect_holds(cache, {"b", "c"}, ids);
  EXPECT_EQ(cache.insert(running("d", 5)), insert_result::admitted);  // k = 1: pops (2, a): nothing
  expect_holds(cache, {"b", "c", "d"}, ids);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.capacity(), 2u);
  cache.insert(running("e", 6));  // k = 3 + 1 - 2 = 2: pops b and c
  expect_holds(cache, {"d", "e"}, ids);
  EXPECT_EQ(cache.stats().evictions, 3u);
}

TYPED_TEST(query_cache_conformance, compat_a_stale_heap_item_evicts_its_id_inserted_again) {
  TypeParam cache(2, compat);
  const std::vector<std::string> ids = {"a", "b", "c", "d"};
  cache.insert(running("a", 1));
  cache.insert(running("a", 2));  // heap (1, a), (2, a)
  cache.insert(running("b", 3));
  cache.insert(running("c", 4));  // pops (1, a): a gone; heap (2, a), (3, b), (4, c)
  expect_holds(cache, {"b", "c"}, ids);
  cache.set_capacity(3);
  EXPECT_EQ(cache.insert(running("a", 7)), insert_result::admitted);  // k = 0
  expect_holds(cache, {"a", "b", "c"}, ids);
  // k = 1 pops the stale (2, a), which evicts the newer a@7, not b@3.
  EXPECT_EQ(cache.insert(running("d", 8)), insert_result::admitted);
  expect_holds(cache, {"b", "c", "d"}, ids);
}

TYPED_TEST(query_cache_conformance, compat_updating_a_held_id_in_a_full_cache_evicts_the_oldest) {
  TypeParam cache(2, compat);
  insert_batch(cache, {running("a", 1), running("b", 2)});
  EXPECT_EQ(cache.insert(running("b", 3)), insert_result::replaced);  // k = 2 + 1 - 2 = 1: pops a
  expect_holds(cache, {"b"}, {"a", "b"});
}

TYPED_TEST(query_cache_conformance, compat_a_batch_longer_than_capacity_keeps_only_its_first_items) {
  TypeParam cache(2, compat);
  cache.insert(running("a", 1));
  cache.insert(running("a", 2));
  cache.insert(running("a", 3));  // three heap items, one entry
  const auto results = insert_batch(cache, {running("b", 4), running("c", 5), running("d", 6)});
  EXPECT_EQ(results,
            (std::vector<insert_result>{insert_result::admitted, insert_result::admitted, insert_result::dropped}));
  expect_holds(cache, {"b", "c"}, {"a", "b", "c", "d"});
}

TYPED_TEST(query_cache_conformance, compat_a_batch_the_original_fails_on_throws_length_error_and_changes_nothing) {
  TypeParam empty(2, compat);
  EXPECT_THROW(insert_batch(empty, {running("a", 1), running("b", 2), running("c", 3)}), std::length_error);
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_EQ(empty.stats().drops, 0u);

  TypeParam cache(2, compat);
  insert_batch(cache, {running("a", 1), running("b", 5)});
  const std::vector<std::string> ids = {"a", "b", "c", "d", "e"};
  const fingerprint before = take_fingerprint(cache, ids);
  EXPECT_THROW(insert_batch(cache, {running("c", 6), running("d", 7), running("e", 8)}), std::length_error);
  EXPECT_EQ(take_fingerprint(cache, ids), before);
  // The heap is intact too: the specification's example still works.
  insert_batch(cache, {running("c", 2), running("d", 3)});
  expect_holds(cache, {"c", "d"}, ids);
}

TYPED_TEST(query_cache_conformance, compat_lowering_the_capacity_evicts_nothing_until_the_next_batch) {
  TypeParam cache(3, compat);
  insert_batch(cache, {running("a", 1), running("b", 2), running("c", 3)});
  cache.set_capacity(1);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(insert_batch(cache, {}), std::vector<insert_result>{});  // an empty batch still pops k = 2
  expect_holds(cache, {"c"}, {"a", "b", "c"});
}

TYPED_TEST(query_cache_conformance, compat_candidates_tie_in_the_order_ids_entered_the_cache) {
  TypeParam cache(3, compat);
  insert_batch(cache, {done("b", 1, 5), done("a", 2, 5), done("c", 3, 5)});
  EXPECT_EQ(candidate_ids(cache), (std::vector<std::string>{"b", "a", "c"}));
  cache.insert(done("a", 4, 5));  // an overwrite keeps its place (and pops b: k = 1)
  EXPECT_EQ(candidate_ids(cache), (std::vector<std::string>{"a", "c"}));
  cache.set_capacity(4);
  cache.insert(done("b", 5, 5));  // the evicted id returns: it goes last
  EXPECT_EQ(candidate_ids(cache), (std::vector<std::string>{"a", "c", "b"}));
  EXPECT_EQ(cache.lookup("select 1", 1h, unlimited, at(6))->id, "a");

  TypeParam plain(3, standard);
  insert_batch(plain, {done("b", 1, 5), done("a", 2, 5), done("c", 3, 5)});
  EXPECT_EQ(candidate_ids(plain), (std::vector<std::string>{"a", "b", "c"}));
}

TYPED_TEST(query_cache_conformance, compat_tests_the_insert_and_create_table_prefixes_case_sensitively) {
  const std::vector<query_entry> entries = {
      done("lower_insert", 1, 2, "insert into t select 1"),
      done("lower_ctas", 1, 3, "create table x with (format = 'parquet') as select 2", statement_kind::ddl),
      done("spaced_ctas", 1, 4, " CREATE TABLE y WITH (format = 'PARQUET') AS SELECT 3", statement_kind::ddl),
  };
  TypeParam old_rules(10, compat);
  TypeParam new_rules(10, standard);
  insert_batch(old_rules, entries);
  insert_batch(new_rules, entries);
  EXPECT_EQ(old_rules.lookup("insert into t select 1", 1h, unlimited, at(5))->id, "lower_insert");
  EXPECT_FALSE(new_rules.lookup("insert into t select 1", 1h, unlimited, at(5)));
  EXPECT_FALSE(old_rules.lookup("select 2", 1h, unlimited, at(5)));
  EXPECT_EQ(new_rules.lookup("select 2", 1h, unlimited, at(5))->id, "lower_ctas");
  EXPECT_FALSE(old_rules.lookup("select 3", 1h, unlimited, at(5)));
  EXPECT_EQ(new_rules.lookup("select 3", 1h, unlimited, at(5))->id, "spaced_ctas");
}

TYPED_TEST(query_cache_conformance, compat_ctas_unwrapping_keeps_the_originals_quirks) {
  const std::string head = "CREATE TABLE x WITH (format = 'PARQUET') AS ";
  const std::vector<query_entry> entries = {
      done("paren", 1, 2, head + "(SELECT * FROM t)", statement_kind::ddl),
      done("data", 1, 3, head + "SELECT 1 WITH DATA", statement_kind::ddl),
      done("selection", 1, 4, head + "selection_table", statement_kind::ddl),
  };
  TypeParam old_rules(10, compat);
  TypeParam new_rules(10, standard);
  insert_batch(old_rules, entries);
  insert_batch(new_rules, entries);
  // `AS (SELECT ...)` keeps its `)`: never a hit under the original.
  EXPECT_FALSE(old_rules.lookup("SELECT * FROM t", 1h, unlimited, at(5)));
  EXPECT_EQ(new_rules.lookup("SELECT * FROM t", 1h, unlimited, at(5))->id, "paren");
  // A trailing WITH DATA stays in the original's SELECT.
  EXPECT_FALSE(old_rules.lookup("SELECT 1", 1h, unlimited, at(5)));
  EXPECT_EQ(old_rules.lookup("SELECT 1 WITH DATA", 1h, unlimited, at(5))->id, "data");
  EXPECT_EQ(new_rules.lookup("SELECT 1", 1h, unlimited, at(5))->id, "data");
  // No word boundary: `as selection_table` unwraps to "selection_table".
  const auto quirk = old_rules.lookup("selection_table", 1h, unlimited, at(5));
  ASSERT_TRUE(quirk);
  EXPECT_EQ(quirk->id, "selection");
  EXPECT_EQ(quirk->kind, result_kind::parquet);
  EXPECT_FALSE(new_rules.lookup("selection_table", 1h, unlimited, at(5)));
}

TYPED_TEST(query_cache_conformance, compat_normaliser_keeps_the_known_false_hit) {
  TypeParam old_rules(10, compat);
  TypeParam new_rules(10, standard);
  old_rules.insert(done("q", 1, 2, "select 'A B'"));
  new_rules.insert(done("q", 1, 2, "select 'A B'"));
  EXPECT_EQ(old_rules.lookup("select 'ab'", 1h, unlimited, at(3))->id, "q");
  EXPECT_FALSE(new_rules.lookup("select 'ab'", 1h, unlimited, at(3)));
}

// ---- batches, models, failures ----------------------------------------------

TYPED_TEST(query_cache_conformance, a_standard_batch_equals_the_same_single_inserts) {
  std::mt19937 rng(7);
  std::vector<query_entry> batch;
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    const std::string id = "id" + std::to_string(rng() % 25);
    batch.push_back(done(id, rng() % 30, 30 + rng() % 30, "select " + std::to_string(rng() % 5)));
    ids.push_back(id);
  }
  TypeParam batched(8);
  TypeParam single(8);
  const auto results = insert_batch(batched, batch);
  std::vector<insert_result> one_by_one;
  for (const query_entry& e : batch) one_by_one.push_back(single.insert(e));
  EXPECT_EQ(results, one_by_one);
  EXPECT_EQ(take_fingerprint(batched, ids), take_fingerprint(single, ids));
}

TYPED_TEST(query_cache_conformance, random_operation_sequences_match_a_model_of_the_specification) {
  const std::vector<std::string> texts = {
      "select 1", "SELECT 1;", "(select 1)", "select 2", "insert into t select 1", "INSERT INTO t SELECT 1",
      "select 'A B'", "select 'ab'", "CREATE TABLE x WITH (format = 'PARQUET') AS SELECT 1",
      "CREATE TABLE y WITH (format='parquet') AS (select 2)", "create table z with (format = 'parquet') as select 1",
      "DROP TABLE t", "", "select 'open",
  };
  const std::vector<std::string> lookups = {"select 1", "select 2", "select 'ab'", "select 'A B'",
                                            "insert into t select 1", "", "select 'open", "(select 2)"};
  for (const cache_mode mode : {standard, compat}) {
    for (unsigned seed = 1; seed <= 12; ++seed) {
      SCOPED_TRACE(testing::Message() << (mode == standard ? "standard" : "compat") << " seed " << seed);
      std::mt19937 rng(seed);
      const auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
      const std::size_t capacity = 1 + pick(5);
      TypeParam cache(capacity, mode);
      snapcache::testing::query_cache_model reference(capacity, mode);
      std::vector<std::string> ids;
      for (int i = 0; i < 8; ++i) ids.push_back("q" + std::to_string(i));
      const auto random_entry = [&] {
        query_entry e = done(ids[pick(ids.size())], static_cast<std::int64_t>(pick(12)),
                             static_cast<std::int64_t>(10 + pick(10)), texts[pick(texts.size())],
                             pick(4) == 0 ? statement_kind::ddl : statement_kind::dml);
        if (pick(5) == 0) e.state = query_state::running;
        if (pick(8) == 0) e.completed_at.reset();
        if (pick(8) == 0) e.statement_type = statement_kind::utility;
        return e;
      };
      std::uint64_t hits = 0, lookups_done = 0;
      for (int step = 0; step < 300; ++step) {
        const std::size_t op = pick(10);
        if (op < 5) {
          std::vector<query_entry> batch(pick(4));
          for (auto& e : batch) e = random_entry();
          std::vector<insert_result> expected, got;
          bool model_threw = false, cache_threw = false;
          try {
            expected = model_insert(reference, batch);
          } catch (const std::length_error&) {
            model_threw = true;
          }
          try {
            got = insert_batch(cache, batch);
          } catch (const std::length_error&) {
            cache_threw = true;
          }
          ASSERT_EQ(cache_threw, model_threw) << "step " << step;
          if (!model_threw) {
            ASSERT_EQ(got, expected) << "step " << step;
          }
        } else if (op < 6) {
          const std::string& id = ids[pick(ids.size())];
          ASSERT_EQ(cache.erase(id), reference.erase(id)) << "step " << step;
        } else if (op < 7) {
          const std::size_t n = 1 + pick(5);
          cache.set_capacity(n);
          reference.set_capacity(n);
        } else {
          const std::string& sql = lookups[pick(lookups.size())];
          const auto max_age = std::chrono::seconds(static_cast<long>(pick(12)) - 1);
          const std::size_t k = pick(4) == 0 ? unlimited : 1 + pick(4);
          const auto now = at(static_cast<std::int64_t>(10 + pick(15)));
          const auto expected = reference.lookup(sql, max_age, k, now);
          const auto got = cache.lookup(sql, max_age, k, now);
          ++lookups_done;
          hits += got ? 1 : 0;
          ASSERT_EQ(got.has_value(), expected.has_value()) << "step " << step << " sql " << sql;
          if (got) {
            ASSERT_EQ(got->id, *expected) << "step " << step;
          }
        }
        ASSERT_EQ(cache.size(), reference.size()) << "step " << step;
        std::vector<query_entry> listed;
        for (const query_entry& e : cache.candidates()) listed.push_back(e);
        ASSERT_EQ(listed, reference.candidates()) << "step " << step;
        for (const std::string& id : ids) ASSERT_EQ(cache.contains(id), reference.contains(id)) << "step " << step;
      }
      const auto s = cache.stats();
      EXPECT_EQ(s.lookups, lookups_done);
      EXPECT_EQ(s.hits, hits);
      EXPECT_EQ(s.hits + s.misses, s.lookups);
    }
  }
}

// Runs `operation` on a copy-constructed setup with the n-th allocation
// failing, for every n, and checks the cache unchanged after each failure;
// then checks the successful run against a cache the operation ran on
// without failures.
template <class Cache>
void expect_strong_guarantee(cache_mode mode, std::size_t capacity, const std::vector<query_entry>& setup,
                             const std::function<void(Cache&)>& operation, const std::vector<std::string>& ids,
                             bool must_allocate = true) {
  Cache cache(capacity, mode);
  for (const query_entry& e : setup) cache.insert(e);
  Cache expected(capacity, mode);
  for (const query_entry& e : setup) expected.insert(e);
  operation(expected);
  const fingerprint before = take_fingerprint(cache, ids);
  const std::size_t failures = snapcache::test::sweep_allocation_failures(
      [&] { operation(cache); },
      [&](std::size_t n) { ASSERT_EQ(take_fingerprint(cache, ids), before) << "allocation " << n << " failed"; });
  if (must_allocate) {
    EXPECT_GT(failures, 0u);
  }
  EXPECT_EQ(take_fingerprint(cache, ids), take_fingerprint(expected, ids));
}

TYPED_TEST(query_cache_conformance, insert_leaves_the_cache_unchanged_when_an_allocation_fails) {
  const std::vector<std::string> ids = {"a", "b", "c", "d", "e"};
  const std::vector<query_entry> setup = {
      done("a", 1, 2, "SELECT a FROM t"),
      done("b", 2, 3, "CREATE TABLE x WITH (format = 'PARQUET') AS SELECT b FROM t", statement_kind::ddl),
      running("c", 3, "select c"),
  };
  using op = std::function<void(TypeParam&)>;
  for (const cache_mode mode : {standard, compat}) {
    SCOPED_TRACE(mode == standard ? "standard" : "compat");
    // Admission with an eviction (compat: k = 1).
    expect_strong_guarantee<TypeParam>(mode, 3, setup, op([](TypeParam& c) { c.insert(done("d", 9, 10, "select d")); }),
                                       ids);
    // Replacement of a candidate with another text.
    expect_strong_guarantee<TypeParam>(mode, 3, setup,
                                       op([](TypeParam& c) { c.insert(done("a", 1, 11, "select other")); }), ids);
    // A batch mixing admissions, a replacement and a drop.
    expect_strong_guarantee<TypeParam>(
        mode, 4, setup,
        op([](TypeParam& c) {
          const std::vector<query_entry> batch = {done("d", 8, 9, "select d"), done("b", 9, 12, "select b"),
                                                  done("e", 0, 1, "select e")};
          c.insert(std::span<const query_entry>(batch));
        }),
        ids);
    // erase and set_capacity (the locked cache's need no allocation at all).
    expect_strong_guarantee<TypeParam>(mode, 3, setup, op([](TypeParam& c) { c.erase("b"); }), ids, false);
    expect_strong_guarantee<TypeParam>(mode, 3, setup, op([](TypeParam& c) { c.set_capacity(1); }), ids, false);
  }
}

// ---- concurrency ------------------------------------------------------------------

TYPED_TEST(query_cache_conformance, concurrent_writers_readers_and_listings_keep_every_invariant) {
  constexpr std::size_t capacity = 48;
  constexpr int inserters = 2;
  constexpr int per_thread = 1500;
  TypeParam cache(capacity);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> lookups_made{0};
  std::atomic<int> bad_views{0};
  std::atomic<int> bad_hits{0};
  std::latch start(inserters + 3);

  std::vector<std::thread> threads;
  for (int t = 0; t < inserters; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < per_thread; ++i) {
        // Own ids, plus a few shared ones that replacements and erasures race on.
        const std::string id = i % 10 == 0 ? "shared" + std::to_string(i % 30) : "t" + std::to_string(t) + "-" +
                                                                                       std::to_string(i);
        cache.insert(done(id, i, i + 1, "select " + std::to_string(i % 20)));
      }
    });
  }
  threads.emplace_back([&] {  // eraser
    start.arrive_and_wait();
    for (int i = 0; !stop.load(); ++i) {
      cache.erase("shared" + std::to_string(i % 30));
      cache.erase("t0-" + std::to_string(i % per_thread));
    }
  });
  threads.emplace_back([&] {  // lookups
    start.arrive_and_wait();
    for (int i = 0; !stop.load(); ++i) {
      const std::string sql = "SELECT " + std::to_string(i % 20);
      const auto hit = cache.lookup(sql, std::chrono::hours(1), i % 2 == 0 ? unlimited : 5, at(per_thread));
      lookups_made.fetch_add(1);
      if (hit && snapcache::normalize(hit->entry.query) != snapcache::normalize(sql)) bad_hits.fetch_add(1);
    }
  });
  threads.emplace_back([&] {  // listings
    start.arrive_and_wait();
    while (!stop.load()) {
      const auto view = cache.candidates();
      std::set<std::string> seen;
      const query_entry* previous = nullptr;
      std::size_t n = 0;
      for (const query_entry& e : view) {
        ++n;
        if (!seen.insert(e.id).second) bad_views.fetch_add(1);
        if (previous != nullptr && !in_candidate_order(*previous, e)) bad_views.fetch_add(1);
        previous = &e;
      }
      if (n != view.size() || n > capacity + inserters) bad_views.fetch_add(1);
    }
  });
  for (int t = 0; t < inserters; ++t) threads[t].join();
  stop.store(true);
  for (std::size_t t = inserters; t < threads.size(); ++t) threads[t].join();

  EXPECT_EQ(bad_views.load(), 0);
  EXPECT_EQ(bad_hits.load(), 0);
  EXPECT_LE(cache.size(), capacity);
  const auto s = cache.stats();
  EXPECT_EQ(s.lookups, lookups_made.load());
  EXPECT_EQ(s.hits + s.misses, s.lookups);
  EXPECT_EQ(s.inserts + s.replacements + s.drops, static_cast<std::uint64_t>(inserters * per_thread));
}

TYPED_TEST(query_cache_conformance, concurrent_inserts_leave_exactly_the_newest_capacity_entries) {
  constexpr std::size_t capacity = 40;
  constexpr int inserters = 3;
  constexpr int per_thread = 800;
  TypeParam cache(capacity);
  std::latch start(inserters);
  std::vector<std::thread> threads;
  std::vector<query_entry> all;
  for (int t = 0; t < inserters; ++t) {
    for (int i = 0; i < per_thread; ++i) {
      // Interleaved submission times, with ties across threads.
      all.push_back(running("t" + std::to_string(t) + "-" + std::to_string(i), (i * 7919 + t * 13) % 1000));
    }
  }
  for (int t = 0; t < inserters; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < per_thread; ++i) cache.insert(all[static_cast<std::size_t>(t * per_thread + i)]);
    });
  }
  for (auto& thread : threads) thread.join();
  std::sort(all.begin(), all.end(), [](const query_entry& a, const query_entry& b) {
    if (a.submitted_at != b.submitted_at) return a.submitted_at > b.submitted_at;
    return a.id < b.id;  // newest first; ties: the smaller id is newer
  });
  ASSERT_EQ(cache.size(), capacity);
  for (std::size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(cache.contains(all[i].id), i < capacity) << all[i].id << " at rank " << i;
  }
  const auto s = cache.stats();
  EXPECT_EQ(s.inserts - s.evictions, capacity);
  EXPECT_EQ(s.inserts + s.drops, static_cast<std::uint64_t>(inserters * per_thread));
}

// The lock-free cache's statistics describe its structure: the entries held,
// approximate heap bytes, and what reclamation has not freed yet.
TEST(query_cache_stats, report_the_structure) {
  snapcache::query_cache cache(16);
  snapcache::ebr::domain::global().synchronize();  // nothing pending from earlier tests
  const auto empty = cache.stats().internals;
  for (int i = 0; i < 10; ++i) cache.insert(running("q" + std::to_string(i), i));
  const auto filled = cache.stats().internals;
  EXPECT_EQ(empty.live_entries, 0u);
  EXPECT_EQ(filled.live_entries, 10u);
  EXPECT_EQ(filled.live_versions, 10u);
  EXPECT_GT(filled.heap_bytes, empty.heap_bytes);
  EXPECT_EQ(filled.live_snapshots, 0u) << "the cache takes no snapshots";
  // Each write retired the state it replaced; ten pins cannot advance the
  // epoch twice, so none is freed yet. A grace period frees them all.
  EXPECT_EQ(empty.retired_unfreed, 0u);
  EXPECT_GE(filled.retired_unfreed, 10u);
  snapcache::ebr::domain::global().synchronize();
  EXPECT_EQ(cache.stats().internals.retired_unfreed, 0u);
  EXPECT_EQ(snapcache::locked_query_cache(16).stats().internals.heap_bytes, 0u);
}

}  // namespace

namespace {

// A payload that counts its own destruction.
std::atomic<int> payloads_alive{0};
struct counted_payload {
  counted_payload() { payloads_alive.fetch_add(1, std::memory_order_relaxed); }
  counted_payload(const counted_payload&) = delete;
  counted_payload& operator=(const counted_payload&) = delete;
  ~counted_payload() { payloads_alive.fetch_sub(1, std::memory_order_relaxed); }
};

query_entry with_payload(query_entry e) {
  e.payload = std::make_shared<const counted_payload>();
  return e;
}

}  // namespace

// Erased, evicted and replaced entries are freed, payloads included, once no
// view holds them and the grace period has passed; a view keeps its own.
TYPED_TEST(query_cache_conformance, erased_evicted_and_replaced_payloads_are_freed_after_the_grace_period) {
  ASSERT_EQ(payloads_alive.load(), 0);
  {
    TypeParam cache(100);
    for (int i = 0; i < 1000; ++i) {  // 900 evictions
      cache.insert(with_payload(done("q" + std::to_string(i), i, i + 1, "select " + std::to_string(i % 7))));
    }
    std::optional view = cache.candidates();  // holds the 100 entries of this instant
    for (int i = 900; i < 950; ++i) {      // 50 replacements
      cache.insert(with_payload(done("q" + std::to_string(i), i, i + 2, "select 1")));
    }
    for (int i = 950; i < 1000; ++i) EXPECT_TRUE(cache.erase("q" + std::to_string(i)));  // 50 erases
    snapcache::ebr::domain::global().synchronize();
    EXPECT_EQ(view->size(), 100u);
    EXPECT_EQ(cache.size(), 50u);
    EXPECT_EQ(payloads_alive.load(), 150) << "the cache's 50 entries and the view's 100 should be alive";
    view.reset();
    snapcache::ebr::domain::global().synchronize();
    EXPECT_EQ(payloads_alive.load(), 50) << "entries no view can see are still alive";
  }
  snapcache::ebr::domain::global().synchronize();
  EXPECT_EQ(payloads_alive.load(), 0) << "a destroyed cache left payloads alive";
}

#if defined(SNAPCACHE_TEST_HOOKS) && SNAPCACHE_TEST_HOOKS
// A writer parked after computing and sealing its state, before publishing
// it (stalled forever, as far as the others know): every other thread still
// reads and writes (lock-freedom: nobody waits for the parked writer). Once
// released, it finds the root changed, computes its write again from the
// new root, and the write lands; `retries` counts that one retry.
TEST(query_cache_progress, a_writer_parked_before_publishing_stops_no_one) {
  using snapcache::detail::park_site;
  snapcache::query_cache cache(8);
  cache.insert(done("first", 1, 2, "select first"));
  snapcache::detail::arm_park(park_site::cache_write_before_publish);
  std::thread parked([&] { cache.insert(done("late", 1000, 1001, "select late")); });
  while (!snapcache::detail::is_parked(park_site::cache_write_before_publish)) std::this_thread::yield();

  for (int i = 0; i < 100; ++i) {
    const std::string id = "other" + std::to_string(i);
    EXPECT_EQ(cache.insert(done(id, 10 + i, 11 + i, "select " + id)), insert_result::admitted);
    EXPECT_TRUE(cache.contains(id));
    EXPECT_TRUE(cache.lookup("select " + id, std::chrono::hours(1), unlimited, at(200)).has_value());
  }
  EXPECT_TRUE(cache.erase("other99"));
  cache.set_capacity(6);
  EXPECT_EQ(cache.size(), 6u);
  EXPECT_EQ(cache.candidates().size(), 6u);
  EXPECT_FALSE(cache.contains("late")) << "the parked write was published before its release";
  EXPECT_EQ(cache.stats().retries, 0u);

  snapcache::detail::release_parked(park_site::cache_write_before_publish);
  parked.join();
  EXPECT_EQ(cache.stats().retries, 1u);
  EXPECT_TRUE(cache.contains("late"));  // the newest entry: admitted, evicting the oldest
  EXPECT_EQ(cache.size(), 6u);
  EXPECT_EQ(cache.candidates().begin()->id, "late");
}
#endif

namespace {

// The buckets' container (detail/small_vector.hpp): two elements inline, the
// rest on the heap; counted elements show every copy is destroyed once.
struct tracked {
  static inline int alive = 0;
  std::shared_ptr<int> value;
  explicit tracked(int v) : value(std::make_shared<int>(v)) { ++alive; }
  tracked(const tracked& o) noexcept : value(o.value) { ++alive; }
  tracked(tracked&& o) noexcept : value(std::move(o.value)) { ++alive; }
  tracked& operator=(tracked&& o) noexcept {
    value = std::move(o.value);
    return *this;
  }
  ~tracked() { --alive; }
};

std::vector<int> values_of(const snapcache::detail::small_vector<tracked, 2>& v) {
  std::vector<int> out;
  for (const tracked& t : v) out.push_back(*t.value);
  return out;
}

TEST(small_vector, grows_past_its_inline_elements_and_copies_erases_in_order) {
  {
    snapcache::detail::small_vector<tracked, 2> v;
    EXPECT_TRUE(v.empty());
    for (int i = 0; i < 7; ++i) v.push_back(tracked(i));  // inline, then 4 and 8 on the heap
    EXPECT_EQ(values_of(v), (std::vector<int>{0, 1, 2, 3, 4, 5, 6}));
    EXPECT_EQ(tracked::alive, 7);
    const snapcache::detail::small_vector<tracked, 2> copy(v);
    EXPECT_EQ(values_of(copy), values_of(v));
    EXPECT_EQ(tracked::alive, 14);
    v.erase_if([](const tracked& t) { return *t.value % 2 == 1; });
    EXPECT_EQ(values_of(v), (std::vector<int>{0, 2, 4, 6}));
    v.erase(v.begin() + 1);
    EXPECT_EQ(values_of(v), (std::vector<int>{0, 4, 6}));
    EXPECT_EQ(tracked::alive, 10);
    EXPECT_EQ(values_of(copy), (std::vector<int>{0, 1, 2, 3, 4, 5, 6})) << "the copy shares nothing";

    snapcache::detail::small_vector<tracked, 2> small;
    small.push_back(tracked(9));
    const snapcache::detail::small_vector<tracked, 2> small_copy(small);  // stays inline
    small.erase(small.begin());
    EXPECT_TRUE(small.empty());
    EXPECT_EQ(values_of(small_copy), (std::vector<int>{9}));
  }
  EXPECT_EQ(tracked::alive, 0);
}

// Growing past the inline elements allocates; if that fails the vector is
// unchanged. So is a copy that fails.
TEST(small_vector, a_failed_growth_or_copy_changes_nothing) {
  snapcache::detail::small_vector<tracked, 2> v;
  v.push_back(tracked(1));
  v.push_back(tracked(2));
  const std::size_t failures = snapcache::test::sweep_allocation_failures(
      [&] { v.push_back(tracked(3)); },
      [&](std::size_t) { ASSERT_EQ(values_of(v), (std::vector<int>{1, 2})); });
  EXPECT_GT(failures, 0u);
  EXPECT_EQ(values_of(v), (std::vector<int>{1, 2, 3}));
  std::optional<snapcache::detail::small_vector<tracked, 2>> copy;
  snapcache::test::sweep_allocation_failures([&] { copy.emplace(v); },
                                             [&](std::size_t) { ASSERT_FALSE(copy.has_value()); });
  EXPECT_EQ(values_of(*copy), (std::vector<int>{1, 2, 3}));
}

}  // namespace

namespace {

// Issue 20: compat's heap items owned the whole record, payload included, so
// a compat cache that never held more than one entry kept 40,000 payloads
// after 20,000 RUNNING -> SUCCEEDED replacements. Heap items now hold what
// the original's hold: (submitted_at, id).
TYPED_TEST(query_cache_conformance, compat_replacements_do_not_keep_replaced_payloads_alive) {
  ASSERT_EQ(payloads_alive.load(), 0);
  {
    TypeParam cache(100, compat);
    for (std::int64_t i = 0; i < 2'000; ++i) {
      cache.insert(with_payload(running("q", 2 * i)));
      cache.insert(with_payload(done("q", 2 * i + 1, 2 * i + 2)));
    }
    EXPECT_EQ(cache.size(), 1u);
    snapcache::ebr::domain::global().synchronize();
    EXPECT_EQ(payloads_alive.load(), 1) << "replaced entries' payloads are kept by stale heap items";
    EXPECT_TRUE(cache.erase("q"));
    snapcache::ebr::domain::global().synchronize();
    EXPECT_EQ(payloads_alive.load(), 0) << "an erased entry's payload is kept by its heap items";
  }
  EXPECT_EQ(payloads_alive.load(), 0);
}

}  // namespace
