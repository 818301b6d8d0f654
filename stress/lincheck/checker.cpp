// The Wing & Gong search with Lowe's memoisation, over a whole-map model
// (check) or one register per key (check_per_key).
#include "lincheck/checker.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <tuple>
#include <unordered_set>
#include <utility>
#include <vector>

namespace snapcache::lincheck {

namespace {

using entry = std::pair<std::uint64_t, std::uint64_t>;

// splitmix64's finaliser: spreads indices and entries over 64 bits so that
// xor-combining them keeps set hashes apart.
std::uint64_t mix(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

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
struct undo {
  bool changed = false;
  std::uint64_t key = 0;
  std::optional<std::uint64_t> before;
};

// Applies `op` to `m` when its result is legal there; returns whether it was.
template <class Model>
bool apply(Model& m, const operation& op, undo& u) {
  if (op.kind == op_kind::snapshot) return m.matches(op.contents);
  const std::optional<std::uint64_t> now = m.get(op.key);
  const bool present = now.has_value();
  auto set = [&](std::optional<std::uint64_t> value) {
    u = {true, op.key, now};
    m.assign(op.key, value);
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

template <class Model>
void revert(Model& m, const undo& u) {
  if (u.changed) m.assign(u.key, u.before);
}

// A memo entry: which operations are linearized, and the state they leave.
template <class State>
struct cut {
  std::vector<std::uint64_t> linearized;
  State state;
  std::uint64_t hash;
  bool operator==(const cut&) const = default;
};

struct cut_hash {
  template <class State>
  std::size_t operator()(const cut<State>& c) const noexcept {
    return static_cast<std::size_t>(c.hash);
  }
};

constexpr std::size_t none = std::numeric_limits<std::size_t>::max();

// The operations `ids` (indices into h) as a doubly linked list of call and
// return events in time order; linearizing an operation unlinks both of its
// events, and taking it back relinks them (dancing links).
class event_list {
 public:
  explicit event_list(const history& h, const std::vector<std::size_t>& ids)
      : nodes_(2 * ids.size() + 1) {
    // (time, is return, local index): at equal stamps calls come first, so
    // operations that touch at one instant count as overlapping.
    std::vector<std::tuple<std::uint64_t, bool, std::size_t>> events;
    events.reserve(2 * ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      events.emplace_back(h[ids[i]].invoked, false, i);
      events.emplace_back(h[ids[i]].responded, true, i);
    }
    std::sort(events.begin(), events.end());
    std::vector<std::size_t> call_of(ids.size());
    std::size_t prev = 0;
    for (std::size_t n = 1; n <= events.size(); ++n) {
      const auto [time, is_return, local] = events[n - 1];
      nodes_[n] = {local, !is_return, none, prev, none};
      nodes_[prev].next = n;
      if (is_return) {
        nodes_[n].match = call_of[local];
        nodes_[call_of[local]].match = n;
      } else {
        call_of[local] = n;
      }
      prev = n;
    }
  }

  [[nodiscard]] bool empty() const noexcept { return nodes_[0].next == none; }
  [[nodiscard]] std::size_t first() const noexcept { return nodes_[0].next; }
  [[nodiscard]] std::size_t next(std::size_t n) const noexcept { return nodes_[n].next; }
  [[nodiscard]] bool is_call(std::size_t n) const noexcept { return nodes_[n].call; }
  [[nodiscard]] std::size_t local(std::size_t n) const noexcept { return nodes_[n].local; }

  void lift(std::size_t call) noexcept {
    unlink(call);
    unlink(nodes_[call].match);
  }
  void unlift(std::size_t call) noexcept {
    relink(nodes_[call].match);
    relink(call);
  }

 private:
  struct node {
    std::size_t local = 0;
    bool call = false;
    std::size_t match = none, prev = none, next = none;
  };

  void unlink(std::size_t n) noexcept {
    nodes_[nodes_[n].prev].next = nodes_[n].next;
    if (nodes_[n].next != none) nodes_[nodes_[n].next].prev = nodes_[n].prev;
  }
  void relink(std::size_t n) noexcept {
    nodes_[nodes_[n].prev].next = n;
    if (nodes_[n].next != none) nodes_[nodes_[n].next].prev = n;
  }

  std::vector<node> nodes_;  // [0] is the head
};

// Lists `shown` (indices into h), keeping only the last `limit` of them.
std::string list(const history& h, const std::vector<std::size_t>& shown, std::size_t limit) {
  std::string s;
  std::size_t from = 0;
  if (shown.size() > limit) {
    from = shown.size() - limit;
    s += "  (" + std::to_string(from) + " earlier operations)\n";
  }
  for (std::size_t i = from; i < shown.size(); ++i)
    s += "  #" + std::to_string(shown[i]) + " " + format(h[shown[i]]) + "\n";
  return s;
}

// Says where the search got furthest: the longest legal order found, the
// state it leaves, and the operations that could come next.
template <class Model>
std::string explain(const history& h, const std::vector<std::size_t>& ids,
                    const std::vector<std::size_t>& best, Model model, bool cap_hit,
                    std::size_t cap) {
  std::vector<bool> done(ids.size(), false);
  std::vector<std::size_t> order;
  for (std::size_t local : best) {
    undo u;
    apply(model, h[ids[local]], u);
    done[local] = true;
    order.push_back(ids[local]);
  }
  std::uint64_t first_response = std::numeric_limits<std::uint64_t>::max();
  for (std::size_t i = 0; i < ids.size(); ++i)
    if (!done[i]) first_response = std::min(first_response, h[ids[i]].responded);
  std::vector<std::size_t> next;
  for (std::size_t i = 0; i < ids.size(); ++i)
    if (!done[i] && h[ids[i]].invoked <= first_response) next.push_back(ids[i]);

  std::string s;
  if (cap_hit) {
    s = "inconclusive: the step cap of " + std::to_string(cap) +
        " was hit (treat as a failure; shrink the history or raise the cap). ";
  } else {
    s = "not linearizable. ";
  }
  s += "The longest legal order found linearizes " + std::to_string(best.size()) + " of " +
       std::to_string(ids.size()) + " operations:\n" + list(h, order, 20);
  s += "leaving " + model.describe() + ", where ";
  s += cap_hit ? "the operations that may come next are:\n"
               : "none of the operations that may come next is legal:\n";
  return s + list(h, next, 20);
}

template <class Model>
check_result search(const history& h, const std::vector<std::size_t>& ids, std::size_t cap,
                    Model model) {
  using state = typename Model::state;
  const Model initial = model;
  event_list events(h, ids);
  std::vector<std::uint64_t> linearized((ids.size() + 63) / 64, 0);
  std::uint64_t linearized_hash = 0;
  auto flip = [&](std::size_t local) {
    linearized[local / 64] ^= std::uint64_t{1} << (local % 64);
    linearized_hash ^= mix(local);
  };
  std::unordered_set<cut<state>, cut_hash> memo;
  struct frame {
    std::size_t call;
    undo u;
  };
  std::vector<frame> stack;
  std::vector<std::size_t> best;  // the deepest stack seen, as local indices

  check_result r;
  std::size_t n = events.first();
  while (!events.empty()) {
    if (events.is_call(n)) {
      if (r.steps == cap) {
        r.cap_hit = true;
        break;
      }
      ++r.steps;
      const std::size_t local = events.local(n);
      undo u;
      if (apply(model, h[ids[local]], u)) {
        flip(local);
        const std::uint64_t hash = mix(linearized_hash) ^ model.hash();
        if (memo.insert(cut<state>{linearized, model.current(), hash}).second) {
          stack.push_back({n, u});
          events.lift(n);
          if (stack.size() > best.size()) {
            best.clear();
            for (const frame& f : stack) best.push_back(events.local(f.call));
          }
          n = events.first();
          continue;
        }
        flip(local);
        revert(model, u);
      }
      n = events.next(n);
    } else {
      // The earliest pending response belongs to an operation that no
      // linearized prefix here can take: back off the last choice.
      if (stack.empty()) break;
      const frame f = stack.back();
      stack.pop_back();
      flip(events.local(f.call));
      revert(model, f.u);
      events.unlift(f.call);
      n = events.next(f.call);
    }
  }
  r.linearizable = events.empty();
  if (!r.linearizable) r.explanation = explain(h, ids, best, initial, r.cap_hit, cap);
  return r;
}

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
  return search(h, ids, step_cap, map_model{});
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
    check_result r = search(h, ids, step_cap - total.steps, register_model{key});
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
