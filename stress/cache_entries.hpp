// Query entries for the cache suites (cache_eviction, cache_linearizability):
// every field follows from an id number and a version number, so a reader can
// tell whether an entry it got back is one some insert made, whole.
#pragma once

#include <charconv>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "driver.hpp"
#include "snapcache/query_cache.hpp"

namespace snapcache::stress {

// Texts with shared normal forms ("select 1" and "SELECT 1;"), DML that is
// never a candidate's match (INSERT) and a CTAS-Parquet wrapper.
inline const std::vector<std::string> texts = {
    "select 1",
    "SELECT 1;",
    "select 2 from t where a = 'x y'",
    "SELECT  2 FROM t WHERE a = 'x y'",
    "insert into t select 3",
    "CREATE TABLE c WITH (format = 'PARQUET') AS SELECT 4",
    "select 4",
    "select /* comment */ 5",
};

inline cache_clock::time_point base() { return cache_clock::time_point{} + std::chrono::hours(24 * 365 * 30); }

// The entry of `id` at `version`: every field follows from the two, and the
// version is readable back from output_location.
inline query_entry make_entry(std::uint64_t id, std::uint64_t version) {
  const std::uint64_t h = mix(id * 1'000'003 + version);
  query_entry e;
  e.id = "q" + std::to_string(id);
  e.query = texts[h % texts.size()];
  const unsigned state_pick = static_cast<unsigned>((h >> 8) % 8);
  e.state = state_pick < 6 ? query_state::succeeded : state_pick == 6 ? query_state::failed : query_state::running;
  e.statement_type = e.query.starts_with("CREATE") ? statement_kind::ddl
                     : ((h >> 16) % 16 == 0)       ? statement_kind::utility
                                                   : statement_kind::dml;
  // Submission times collide often (ties in the eviction order); completion
  // follows submission, also with ties (the candidate order's tie rule).
  e.submitted_at = base() + std::chrono::seconds((h >> 24) % 64);
  if (e.state != query_state::running) e.completed_at = e.submitted_at + std::chrono::seconds((h >> 32) % 8);
  e.output_location = "s3://results/" + e.id + "/" + std::to_string(version);
  return e;
}

// Why `e` is not an entry some insert made, whole; empty when it is.
inline std::string inconsistency(const query_entry& e) {
  const auto number = [](std::string_view text, std::uint64_t& out) {
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
    return error == std::errc{} && end == text.data() + text.size();
  };
  const auto slash = e.output_location.rfind('/');
  std::uint64_t id = 0, version = 0;
  if (!e.id.starts_with('q') || slash == std::string::npos || !number(std::string_view(e.id).substr(1), id) ||
      !number(std::string_view(e.output_location).substr(slash + 1), version)) {
    return "unknown entry '" + e.id + "' at '" + e.output_location + "'";
  }
  if (!(e == make_entry(id, version))) return "entry " + e.id + " is not version " + std::to_string(version) + " whole";
  return {};
}

inline bool is_candidate(const query_entry& e) {
  return e.state == query_state::succeeded && e.statement_type != statement_kind::utility && e.completed_at;
}

}  // namespace snapcache::stress
