// The map's sequential models for the Wing & Gong / Lowe search (search.hpp):
// the whole map (check) or one register per key (check_per_key).
#include "lincheck/checker.hpp"
#include "lincheck/search.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace snapcache::lincheck {

namespace {

using entry = std::pair<std::uint64_t, std::uint64_t>;

using detail::mix;

// The whole map as a vector sorted by key: the shape of snapshot contents,
// and cheap to copy into the memo. Its hash is kept up to date on each change.
class map_model {
 public:
  using state = std::vector<entry>;

  [[nodiscard]] std::optional<std::uint64_t> get(std::uint64_t key) const {
    auto it = lower(key);
    if (it == entries_.end() || it->first != key) return std::nullopt;
    return it->second;
  }
  void assign(std::uint64_t key, std::optional<std::uint64_t> value) {
    auto it = lower(key);
    if (it != entries_.end() && it->first == key) {
      hash_ ^= mix(mix(key) + it->second);
      if (value) {
        it->second = *value;
      } else {
        entries_.erase(it);
      }
    } else if (value) {
      entries_.insert(it, {key, *value});
    }
    if (value) hash_ ^= mix(mix(key) + *value);
  }
  [[nodiscard]] bool matches(const std::vector<entry>& contents) const {
    return contents == entries_;
  }
  [[nodiscard]] const state& current() const noexcept { return entries_; }
  [[nodiscard]] std::uint64_t hash() const noexcept { return hash_; }
  [[nodiscard]] std::string describe() const {
    std::string s = "the map {";
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      if (i != 0) s += ", ";
      s += std::to_string(entries_[i].first) + ": " + std::to_string(entries_[i].second);
    }
    return s + "}";
  }

 private:
  [[nodiscard]] state::iterator lower(std::uint64_t key) {
    return std::lower_bound(entries_.begin(), entries_.end(), key,
                            [](const entry& e, std::uint64_t k) { return e.first < k; });
  }
  [[nodiscard]] state::const_iterator lower(std::uint64_t key) const {
    return std::lower_bound(entries_.begin(), entries_.end(), key,
                            [](const entry& e, std::uint64_t k) { return e.first < k; });
  }

  state entries_;
  std::uint64_t hash_ = 0;
};

// One key of the map; its operations never mention another key.
class register_model {
 public:
  using state = std::optional<std::uint64_t>;

  explicit register_model(std::uint64_t key) noexcept : key_(key) {}
  [[nodiscard]] state get(std::uint64_t) const noexcept { return value_; }
  void assign(std::uint64_t, state value) noexcept { value_ = value; }
  // check_per_key() rejects snapshots before a register sees one.
  [[nodiscard]] bool matches(const std::vector<entry>&) const noexcept { return false; }
  [[nodiscard]] const state& current() const noexcept { return value_; }
  [[nodiscard]] std::uint64_t hash() const noexcept { return value_ ? mix(*value_) : 0; }
  [[nodiscard]] std::string describe() const {
    return "key " + std::to_string(key_) + (value_ ? " = " + std::to_string(*value_) : " absent");
  }

 private:
  std::uint64_t key_;
  state value_;
};

// What to restore when an operation is taken back.
struct map_undo {
  bool changed = false;
  std::uint64_t key = 0;
  std::optional<std::uint64_t> before;
};

// The map's sequential semantics over a storage model (the whole map, or one
// key's register): the Model interface of search.hpp.
template <class Storage>
class map_semantics : public Storage {
 public:
  using Storage::Storage;
  using undo = map_undo;

  // Applies `op` when its result is legal here; returns whether it was.
  bool apply(const operation& op, undo& u) {
    if (op.kind == op_kind::snapshot) return this->matches(op.contents);
    const std::optional<std::uint64_t> now = this->get(op.key);
    const bool present = now.has_value();
    auto set = [&](std::optional<std::uint64_t> value) {
      u = {true, op.key, now};
      this->assign(op.key, value);
    };
    switch (op.kind) {
      case op_kind::find:
        return op.ok == present && (!present || *now == op.found_value);
      case op_kind::insert:
        if (op.ok == present) return false;
        if (!present) set(op.value);
        return true;
      case op_kind::insert_or_assign:
        if (op.ok == present) return false;
        set(op.value);
        return true;
      case op_kind::erase:
        if (op.ok != present) return false;
        if (present) set(std::nullopt);
        return true;
      case op_kind::snapshot:
        break;
    }
    return false;
  }

  void revert(const undo& u) {
    if (u.changed) this->assign(u.key, u.before);
  }
};

check_result malformed(std::string why) { return {false, false, 0, "malformed history: " + why}; }

// Why `h` breaks the history contract, if it does.
std::optional<std::string> contract_breach(const history& h) {
  for (std::size_t i = 0; i < h.size(); ++i) {
    const operation& op = h[i];
    if (op.invoked >= op.responded)
      return "#" + std::to_string(i) + " responded at " + std::to_string(op.responded) +
             ", not after its invocation at " + std::to_string(op.invoked);
    for (std::size_t j = 1; j < op.contents.size(); ++j)
      if (op.contents[j - 1].first >= op.contents[j].first)
        return "#" + std::to_string(i) + " snapshot contents are not strictly sorted by key";
  }
  return std::nullopt;
}

}  // namespace

check_result check(const history& h, std::size_t step_cap) {
  if (auto why = contract_breach(h)) return malformed(*why);
  std::vector<std::size_t> ids(h.size());
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = i;
  return detail::search(h, ids, step_cap, map_semantics<map_model>{});
}

check_result check_per_key(const history& h, std::size_t step_cap) {
  if (auto why = contract_breach(h)) return malformed(*why);
  std::map<std::uint64_t, std::vector<std::size_t>> by_key;
  for (std::size_t i = 0; i < h.size(); ++i) {
    if (h[i].kind == op_kind::snapshot)
      return malformed("#" + std::to_string(i) +
                       " is a snapshot, which spans keys: use check() instead");
    by_key[h[i].key].push_back(i);
  }
  check_result total{true, false, 0, {}};
  for (const auto& [key, ids] : by_key) {
    check_result r = detail::search(h, ids, step_cap - total.steps, map_semantics<register_model>{key});
    total.steps += r.steps;
    if (!r.linearizable) {
      r.steps = total.steps;
      r.explanation = "key " + std::to_string(key) + ": " + r.explanation;
      return r;
    }
  }
  return total;
}

}  // namespace snapcache::lincheck
