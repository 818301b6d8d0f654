// The rules both query caches share: which entries are candidates, what text
// a candidate answers, the eviction and candidate orders, argument checks.
// query_cache (lock-free) and locked_query_cache differ only in how they
// store entries and synchronise; everything that decides a hit is here.
#include <stdexcept>
#include <type_traits>

#include "snapcache/hash.hpp"
#include "snapcache/query_cache.hpp"
#include "snapcache/sql.hpp"

namespace snapcache::detail {

namespace {

// candidate, match and kind of a record whose entry is set.
void derive(entry_record& r, cache_mode mode) {
  entry_record* record = &r;
  const query_entry& e = record->entry;
  const bool ddl = e.statement_type == statement_kind::ddl;
  const bool dml = e.statement_type == statement_kind::dml;
  // A SUCCEEDED entry without a completion time is never a candidate, in
  // either mode (the original raised KeyError when sorting it).
  record->candidate = e.state == query_state::succeeded && (ddl || dml) && e.completed_at.has_value();
  if (!record->candidate) return;
  if (mode == cache_mode::standard) {
    if (ddl) {
      if (auto inner = ctas_parquet_select(e.query)) {
        record->match = normalize(*inner);
        record->kind = result_kind::parquet;
      }
    } else if (is_read_query(e.query)) {  // a write must run again: never served
      record->match = normalize(e.query);
      record->kind = result_kind::csv;
    }
  } else {
    // The original's gates: raw text, case-sensitive, no skipping.
    if (ddl) {
      if (is_create_table_compat(e.query)) {
        if (auto inner = ctas_parquet_select_compat(e.query)) {
          record->match = normalize_compat(*inner);
          record->kind = result_kind::parquet;
        }
      }
    } else if (!is_insert_compat(e.query)) {
      record->match = normalize_compat(e.query);
      record->kind = result_kind::csv;
    }
  }
}

}  // namespace

std::shared_ptr<const entry_record> entry_record::make(const query_entry& e, cache_mode mode,
                                                      const hash_seeds* seeds) {
  auto record = std::make_shared<entry_record>();
  record->entry = e;
  derive(*record, mode);
  if (seeds != nullptr) {
    record->id_hash = hash_bytes(e.id.data(), e.id.size(), seeds->id);
    if (record->match) record->match_hash = hash_bytes(record->match->data(), record->match->size(), seeds->text);
  }
  return record;
}

std::string normal_form(std::string_view sql, cache_mode mode) {
  return mode == cache_mode::standard ? normalize(sql) : normalize_compat(sql);
}

bool older(const query_entry& a, const query_entry& b) noexcept {
  if (a.submitted_at != b.submitted_at) return a.submitted_at < b.submitted_at;
  return a.id > b.id;  // ties: the greater id counts as older
}

bool candidate_before(const query_entry& a, std::uint64_t a_seq, const query_entry& b, std::uint64_t b_seq,
                      cache_mode mode) noexcept {
  // Candidates always have a completion time; min() only keeps this total.
  const auto a_done = a.completed_at.value_or(cache_clock::time_point::min());
  const auto b_done = b.completed_at.value_or(cache_clock::time_point::min());
  if (a_done != b_done) return a_done > b_done;  // newest completion first
  if (mode == cache_mode::standard) return a.id < b.id;
  return a_seq < b_seq;  // compat: the order the ids entered the cache
}

bool older_than(cache_clock::time_point completed, cache_clock::time_point now,
                cache_clock::duration max_age) noexcept {
  if (completed >= now) return false;  // no age yet (or a clock skew): not too old
  // now > completed: their difference is positive and fits in the unsigned
  // type, whatever the two values (the signed one overflows past 292 years).
  using urep = std::make_unsigned_t<cache_clock::rep>;
  const urep age = static_cast<urep>(now.time_since_epoch().count()) -
                   static_cast<urep>(completed.time_since_epoch().count());
  return age > static_cast<urep>(max_age.count());
}

cache_hit make_hit(const entry_record& m) {
  return cache_hit{.id = m.entry.id, .kind = m.kind, .output_location = m.entry.output_location, .entry = m.entry};
}

void check_capacity(std::size_t capacity) {
  if (capacity == 0) throw std::invalid_argument("query cache: capacity must be positive");
}

void check_inspections(std::size_t max_inspections) {
  if (max_inspections == 0) {
    throw std::invalid_argument("query cache: max_inspections must be positive or snapcache::unlimited");
  }
}

}  // namespace snapcache::detail
