// The query cache's sequential semantics as a Model of search.hpp.
#include "lincheck/cache_checker.hpp"

#include <algorithm>
#include <functional>
#include <span>
#include <utility>

#include "lincheck/search.hpp"
#include "query_cache_model.hpp"

namespace snapcache::lincheck {

namespace {

using detail::mix;

class cache_semantics {
 public:
  using state = testing::query_cache_model;
  using undo = std::optional<state>;  // the state before a change

  explicit cache_semantics(const cache_setup& setup) : setup_(setup), model_(setup.capacity, setup.mode) {}

  // Applies `op` when its result is legal here; returns whether it was.
  bool apply(const cache_op& op, undo& u) {
    switch (op.kind) {
      case cache_op_kind::insert: {
        state before = model_;
        const auto results = model_.insert(std::span<const query_entry>(&op.entry, 1));
        if (!results || results->front() != op.inserted) {
          model_ = std::move(before);
          return false;
        }
        if (!(model_ == before)) u = std::move(before);
        return true;
      }
      case cache_op_kind::erase:
        if (model_.contains(op.id) != op.ok) return false;
        if (op.ok) {
          u = model_;
          model_.erase(op.id);
        }
        return true;
      case cache_op_kind::contains:
        return model_.contains(op.id) == op.ok;
      case cache_op_kind::lookup: {
        const auto id = model_.lookup(op.sql, setup_.max_age, op.max_inspections, setup_.now);
        if (!id || !op.hit) return !id && !op.hit;
        const auto& entries = model_.entries();
        return std::find(entries.begin(), entries.end(), *op.hit) != entries.end() && op.hit->id == *id;
      }
      case cache_op_kind::candidates:
        return model_.candidates() == op.listed;
    }
    return false;
  }

  void revert(const undo& u) {
    if (u) model_ = *u;
  }

  [[nodiscard]] const state& current() const noexcept { return model_; }
  // Independent of the entries' order, so equal states hash alike.
  [[nodiscard]] std::uint64_t hash() const {
    std::uint64_t h = 0;
    for (const query_entry& e : model_.entries())
      h ^= mix(std::hash<std::string>{}(e.id) + 31 * std::hash<std::string>{}(e.output_location));
    return h;
  }
  [[nodiscard]] std::string describe() const {
    std::string s = "the cache {";
    for (const query_entry& e : model_.entries()) s += (s.back() == '{' ? "" : ", ") + e.id + " @ " + e.output_location;
    return s + "}";
  }

 private:
  cache_setup setup_;
  state model_;
};

std::string name(const query_entry& e) { return e.id + " @ " + e.output_location; }

std::string call(const cache_op& op) {
  switch (op.kind) {
    case cache_op_kind::insert: {
      static const char* const results[] = {"admitted", "replaced", "dropped"};
      return "insert(" + name(op.entry) + ") -> " + results[static_cast<int>(op.inserted)];
    }
    case cache_op_kind::erase:
      return "erase(" + op.id + ") -> " + (op.ok ? "true" : "false");
    case cache_op_kind::contains:
      return "contains(" + op.id + ") -> " + (op.ok ? "true" : "false");
    case cache_op_kind::lookup:
      return "lookup('" + op.sql + "'" + (op.max_inspections == unlimited ? "" : ", " + std::to_string(op.max_inspections)) +
             ") -> " + (op.hit ? name(*op.hit) : "miss");
    case cache_op_kind::candidates: {
      std::string s = "candidates() -> [";
      for (std::size_t i = 0; i < op.listed.size(); ++i) s += (i ? ", " : "") + name(op.listed[i]);
      return s + "]";
    }
  }
  return "unknown operation";
}

}  // namespace

check_result check_cache(const cache_history& h, const cache_setup& setup, std::size_t step_cap) {
  for (std::size_t i = 0; i < h.size(); ++i) {
    if (h[i].invoked >= h[i].responded)
      return {false, false, 0, "malformed history: #" + std::to_string(i) + " responded before it was invoked"};
  }
  std::vector<std::size_t> ids(h.size());
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = i;
  return detail::search(h, ids, step_cap, cache_semantics(setup));
}

std::string format(const cache_op& op) {
  return "t" + std::to_string(op.thread) + " [" + std::to_string(op.invoked) + ", " + std::to_string(op.responded) +
         "] " + call(op);
}

std::string format(const cache_history& h) {
  std::string s;
  for (std::size_t i = 0; i < h.size(); ++i) s += "#" + std::to_string(i) + " " + format(h[i]) + "\n";
  return s;
}

}  // namespace snapcache::lincheck
