// A brute-force sequential model of the query cache specification
// (docs/query-cache.md), the reference that the typed unit
// tests, the fuzz target and the cache's linearizability check compare both
// caches against.
//
// Standard mode: the rules as written. Compat mode: the original's
// update_cache and lookup loop, line by line (a list as the dict, a vector as
// the heap). Everything is linear scans over a few entries: clarity over
// speed. A model is a plain value: copyable and comparable, so a
// linearizability search can save, compare and hash its states.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "snapcache/query_cache.hpp"
#include "snapcache/sql.hpp"

namespace snapcache::testing {

class query_cache_model {
 public:
  query_cache_model(std::size_t capacity, cache_mode mode) : capacity_(capacity), mode_(mode) {}

  // nullopt: compat mode, where the original would have failed
  // ("heappop from an empty heap"); nothing changed.
  std::optional<std::vector<insert_result>> insert(std::span<const query_entry> batch) {
    if (mode_ == cache_mode::standard) return insert_standard(batch);
    return insert_compat(batch);
  }

  bool erase(const std::string& id) {
    auto it = find(id);
    if (it == dict_.end()) return false;
    dict_.erase(it);
    return true;
  }

  void set_capacity(std::size_t n) {
    capacity_ = n;
    if (mode_ == cache_mode::compat) return;
    while (dict_.size() > capacity_) dict_.erase(oldest());
  }

  [[nodiscard]] std::size_t size() const { return dict_.size(); }
  [[nodiscard]] bool contains(const std::string& id) const {
    return std::any_of(dict_.begin(), dict_.end(), [&](const query_entry& e) { return e.id == id; });
  }
  // Every entry, in the order the ids entered the cache.
  [[nodiscard]] const std::vector<query_entry>& entries() const noexcept { return dict_; }

  [[nodiscard]] std::vector<query_entry> candidates() const {
    std::vector<query_entry> list;
    for (const query_entry& e : dict_) {
      if (e.state == query_state::succeeded &&
          (e.statement_type == statement_kind::ddl || e.statement_type == statement_kind::dml) && e.completed_at) {
        list.push_back(e);
      }
    }
    // Stable: compat's ties keep dict order; standard's ties order by id.
    std::stable_sort(list.begin(), list.end(), [&](const query_entry& a, const query_entry& b) {
      if (*a.completed_at != *b.completed_at) return *a.completed_at > *b.completed_at;
      return mode_ == cache_mode::standard && a.id < b.id;
    });
    return list;
  }

  // The original's walk, literally: returns the id of the hit.
  [[nodiscard]] std::optional<std::string> lookup(const std::string& sql, cache_clock::duration max_age,
                                                  std::size_t max_inspections, cache_clock::time_point now) const {
    if (max_age <= cache_clock::duration::zero()) return std::nullopt;
    const bool standard = mode_ == cache_mode::standard;
    const std::string key = standard ? normalize(sql) : normalize_compat(sql);
    std::size_t inspected = 0;
    for (const query_entry& c : candidates()) {
      // Ages exactly, in 128 bits (a completion centuries ago is too old).
      __extension__ using wide = __int128;
      if (wide{now.time_since_epoch().count()} - wide{c.completed_at->time_since_epoch().count()} >
          wide{max_age.count()}) {
        return std::nullopt;
      }
      if (const auto text = match(c); text && *text == key) return c.id;
      ++inspected;
      if (inspected >= max_inspections) return std::nullopt;
    }
    return std::nullopt;
  }

  friend bool operator==(const query_cache_model&, const query_cache_model&) = default;

 private:
  std::optional<std::string> match(const query_entry& c) const {
    if (mode_ == cache_mode::standard) {
      if (c.statement_type == statement_kind::ddl) {
        if (auto inner = ctas_parquet_select(c.query)) return normalize(*inner);
        return std::nullopt;
      }
      if (!is_read_query(c.query)) return std::nullopt;  // writes run again: never served
      return normalize(c.query);
    }
    if (c.statement_type == statement_kind::ddl) {
      if (!c.query.starts_with("CREATE TABLE")) return std::nullopt;
      if (auto inner = ctas_parquet_select_compat(c.query)) return normalize_compat(*inner);
      return std::nullopt;
    }
    if (c.query.starts_with("INSERT")) return std::nullopt;
    return normalize_compat(c.query);
  }

  std::vector<query_entry>::iterator find(const std::string& id) {
    return std::find_if(dict_.begin(), dict_.end(), [&](const query_entry& e) { return e.id == id; });
  }

  // Standard mode's eviction order: the earliest submission, ties the greater id.
  static bool older(const query_entry& a, const query_entry& b) {
    if (a.submitted_at != b.submitted_at) return a.submitted_at < b.submitted_at;
    return a.id > b.id;
  }
  std::vector<query_entry>::iterator oldest() { return std::min_element(dict_.begin(), dict_.end(), older); }

  std::vector<insert_result> insert_standard(std::span<const query_entry> batch) {
    std::vector<insert_result> out;
    for (const query_entry& e : batch) {
      if (auto it = find(e.id); it != dict_.end()) {
        *it = e;
        out.push_back(insert_result::replaced);
      } else if (dict_.size() < capacity_) {
        dict_.push_back(e);
        out.push_back(insert_result::admitted);
      } else if (auto victim = oldest(); older(*victim, e)) {
        dict_.erase(victim);
        dict_.push_back(e);
        out.push_back(insert_result::admitted);
      } else {
        out.push_back(insert_result::dropped);
      }
    }
    return out;
  }

  std::optional<std::vector<insert_result>> insert_compat(std::span<const query_entry> batch) {
    // if self._pqueue: oldest_item = self._cache.get(self._pqueue[0][1]); if oldest_item: items = filter(...)
    std::vector<std::size_t> items;
    for (std::size_t i = 0; i < batch.size(); ++i) items.push_back(i);
    if (!heap_.empty()) {
      const auto top = *std::min_element(heap_.begin(), heap_.end());
      if (auto it = find(top.second); it != dict_.end()) {
        std::erase_if(items, [&](std::size_t i) { return !(batch[i].submitted_at > it->submitted_at); });
      }
    }
    // cache_oversize = len(self._cache) + len(items) - self._max_cache_size
    const long long oversize =
        static_cast<long long>(dict_.size() + items.size()) - static_cast<long long>(capacity_);
    if (oversize > static_cast<long long>(heap_.size())) return std::nullopt;
    for (long long i = 0; i < oversize; ++i) {
      const auto top = std::min_element(heap_.begin(), heap_.end());
      const std::string id = top->second;
      heap_.erase(top);
      if (auto it = find(id); it != dict_.end()) dict_.erase(it);
    }
    // for item in items[: self._max_cache_size]: heappush(...); self._cache[id] = item
    std::vector<insert_result> out(batch.size(), insert_result::dropped);
    for (std::size_t j = 0; j < items.size() && j < capacity_; ++j) {
      const query_entry& e = batch[items[j]];
      heap_.emplace_back(e.submitted_at, e.id);
      if (auto it = find(e.id); it != dict_.end()) {
        *it = e;
        out[items[j]] = insert_result::replaced;
      } else {
        dict_.push_back(e);
        out[items[j]] = insert_result::admitted;
      }
    }
    return out;
  }

  std::size_t capacity_;
  cache_mode mode_;
  std::vector<query_entry> dict_;                                      // insertion order
  std::vector<std::pair<cache_clock::time_point, std::string>> heap_;  // a multiset: pops take the min
};

}  // namespace snapcache::testing
