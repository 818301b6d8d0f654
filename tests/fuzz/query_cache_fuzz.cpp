// libFuzzer target: random operation sequences on both query caches, checked
// step by step against a small sequential model of the specification.
//
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Itests/support \
//     tests/fuzz/query_cache_fuzz.cpp lib/*.cpp -o /tmp/query_cache_fuzz
//   /tmp/query_cache_fuzz -max_total_time=30 tests/fuzz/corpus/query_cache
//
// The input is a program: a header byte (capacity; its high bit selects
// compat mode, the original's rules, otherwise standard mode), then
// operations — batch insert, erase, set_capacity, lookup — whose arguments
// come from small pools (so ids, texts and times collide) or, for SQL text,
// straight from the input. After every operation both caches must agree with
// the model: results, thrown exceptions, size, the candidate list (entries
// and order), contains() for every id of the pool; at the end, the
// statistics must add up.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "snapcache/ebr.hpp"
#include "snapcache/locked_query_cache.hpp"
#include "snapcache/query_cache.hpp"
#include "snapcache/sql.hpp"
#include "query_cache_model.hpp"

namespace {

using snapcache::cache_clock;
using snapcache::cache_mode;
using snapcache::insert_result;
using snapcache::query_entry;
using snapcache::query_state;
using snapcache::statement_kind;

void check(bool ok) {
  if (!ok) std::abort();
}

cache_clock::time_point at(int seconds) { return cache_clock::time_point{} + std::chrono::seconds(1'000'000 + seconds); }

using model = snapcache::testing::query_cache_model;

const std::vector<std::string> texts = {
    "select 1",
    "SELECT 1;",
    "(select 1)",
    "select 2",
    "insert into t select 1",
    "INSERT INTO t SELECT 1",
    "select 'A B'",
    "select 'ab'",
    "CREATE TABLE x WITH (format = 'PARQUET') AS SELECT 1",
    "CREATE TABLE y WITH (format='parquet') AS (select 2)",
    "create table z with (format = 'parquet') as select 1",
    "DROP TABLE t",
    "",
    "select 'open",
};

template <class Cache>
void expect_like_model(const Cache& cache, const model& m, const std::vector<std::string>& ids) {
  check(cache.size() == m.size());
  std::vector<query_entry> listed;
  for (const query_entry& e : cache.candidates()) listed.push_back(e);
  check(listed == m.candidates());
  for (const std::string& id : ids) check(cache.contains(id) == m.contains(id));
}

template <class Cache>
std::optional<std::vector<insert_result>> insert_into(Cache& cache, const std::vector<query_entry>& batch) {
  try {
    return cache.insert(std::span<const query_entry>(batch));
  } catch (const std::length_error&) {
    return std::nullopt;
  }
}

}  // namespace

static void run_program(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const std::uint8_t header = in.ConsumeIntegral<std::uint8_t>();
  const cache_mode mode = (header & 0x80) != 0 ? cache_mode::compat : cache_mode::standard;
  const std::size_t capacity = 1 + header % 6;
  snapcache::query_cache lock_free(capacity, mode);
  snapcache::locked_query_cache locked(capacity, mode);
  model m(capacity, mode);
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i) ids.push_back("q" + std::to_string(i));
  std::uint64_t lookups = 0, hits = 0;

  for (int step = 0; step < 64 && in.remaining_bytes() > 0; ++step) {
    switch (in.ConsumeIntegralInRange<int>(0, 9)) {
      case 0: case 1: case 2: case 3: case 4: {  // insert a batch
        std::vector<query_entry> batch(in.ConsumeIntegralInRange<std::size_t>(0, 3));
        for (query_entry& e : batch) {
          e.id = ids[in.ConsumeIntegralInRange<std::size_t>(0, ids.size() - 1)];
          const std::size_t t = in.ConsumeIntegralInRange<std::size_t>(0, texts.size());
          e.query = t < texts.size() ? texts[t] : in.ConsumeRandomLengthString(64);
          e.state = static_cast<query_state>(in.ConsumeIntegralInRange<int>(0, 4));
          e.statement_type = static_cast<statement_kind>(in.ConsumeIntegralInRange<int>(0, 2));
          e.submitted_at = at(in.ConsumeIntegralInRange<int>(0, 15));
          if (in.ConsumeBool()) e.completed_at = at(in.ConsumeIntegralInRange<int>(0, 15));
          e.output_location = "s3://out/" + e.id;
        }
        const auto expected = m.insert(batch);
        check(insert_into(lock_free, batch) == expected);
        check(insert_into(locked, batch) == expected);
        break;
      }
      case 5: {  // erase
        const std::string& id = ids[in.ConsumeIntegralInRange<std::size_t>(0, ids.size() - 1)];
        const bool expected = m.erase(id);
        check(lock_free.erase(id) == expected);
        check(locked.erase(id) == expected);
        break;
      }
      case 6: {  // set_capacity
        const std::size_t n = in.ConsumeIntegralInRange<std::size_t>(1, 6);
        m.set_capacity(n);
        lock_free.set_capacity(n);
        locked.set_capacity(n);
        check(lock_free.capacity() == n && locked.capacity() == n);
        break;
      }
      default: {  // lookup
        const std::size_t t = in.ConsumeIntegralInRange<std::size_t>(0, texts.size());
        const std::string sql = t < texts.size() ? texts[t] : in.ConsumeRandomLengthString(64);
        const auto max_age = std::chrono::seconds(in.ConsumeIntegralInRange<int>(-2, 16));
        const int limit = in.ConsumeIntegralInRange<int>(0, 5);
        const std::size_t k = limit == 0 ? snapcache::unlimited : static_cast<std::size_t>(limit);
        const auto now = at(in.ConsumeIntegralInRange<int>(0, 30));
        const auto expected = m.lookup(sql, max_age, k, now);
        const auto a = lock_free.lookup(sql, max_age, k, now);
        const auto b = locked.lookup(sql, max_age, k, now);
        check(a.has_value() == expected.has_value() && b.has_value() == expected.has_value());
        if (expected) check(a->id == *expected && b->id == *expected && a->entry == b->entry);
        ++lookups;
        hits += expected ? 1 : 0;
        break;
      }
    }
    expect_like_model(lock_free, m, ids);
    expect_like_model(locked, m, ids);
  }
  const auto s = lock_free.stats();
  const auto r = locked.stats();
  check(s.lookups == lookups && s.hits == hits && s.hits + s.misses == s.lookups);
  check(s.lookups == r.lookups && s.hits == r.hits && s.inspections == r.inspections);
  check(s.inserts == r.inserts && s.replacements == r.replacements && s.evictions == r.evictions &&
        s.drops == r.drops);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  run_program(data, size);
  // What the caches retired is freed now, not during a later input: libFuzzer
  // then sees as many frees as mallocs and skips its leak scan (which cost
  // nine tenths of the run time), and a real leak still shows.
  snapcache::ebr::domain::global().synchronize();
  return 0;
}
