// The entry the seed scenario inserts after a miss: the query it just "ran".
//
// Kept in one place so the scenario and the lookup-cost measurement build
// identical entries (same string sizes, same candidate status), and so both
// caches are handed exactly the same work.
#pragma once

#include <string>
#include <utility>

#include "snapcache/query_cache.hpp"

namespace snapcache::bench {

// A SUCCEEDED DML query (a candidate) submitted and completed at `at`.
inline query_entry completed_query(std::string id, const std::string& text, cache_clock::time_point at) {
  query_entry e;
  e.output_location = "s3://query-results/" + id + ".csv";
  e.id = std::move(id);
  e.query = text;
  e.state = query_state::succeeded;
  e.statement_type = statement_kind::dml;
  e.submitted_at = at;
  e.completed_at = at;
  return e;
}

}  // namespace snapcache::bench
