// The Wing & Gong search with Lowe's memoisation, generic over the history's
// operations and the sequential model they are checked against: the map
// checker (checker.hpp) and the query cache's checker (cache_checker.hpp)
// both run it.
//
// The problem it solves is stated in checker.hpp. A Model is a value with
//   using state = ...;   // what the memo stores (equality comparable)
//   using undo = ...;    // what apply() needs to take an operation back
//   bool apply(const Op&, undo&);  // legal here? then apply it (else no change)
//   void revert(const undo&);
//   const state& current() const; std::uint64_t hash() const;
//   std::string describe() const;  // for explanations
// and an Op has `invoked` and `responded` stamps and a `format(op)` overload
// found by argument-dependent lookup.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <unordered_set>
#include <utility>
#include <vector>

#include "lincheck/checker.hpp"

namespace snapcache::lincheck::detail {

// splitmix64's finaliser: spreads indices and entries over 64 bits so that
// xor-combining them keeps set hashes apart.
inline std::uint64_t mix(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
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
  template <class History>
  explicit event_list(const History& h, const std::vector<std::size_t>& ids)
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
template <class History>
std::string list(const History& h, const std::vector<std::size_t>& shown, std::size_t limit) {
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
template <class History, class Model>
std::string explain(const History& h, const std::vector<std::size_t>& ids,
                    const std::vector<std::size_t>& best, Model model, bool cap_hit,
                    std::size_t cap) {
  std::vector<bool> done(ids.size(), false);
  std::vector<std::size_t> order;
  for (std::size_t local : best) {
    typename Model::undo u;
    model.apply(h[ids[local]], u);
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

template <class History, class Model>
check_result search(const History& h, const std::vector<std::size_t>& ids, std::size_t cap,
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
    typename Model::undo u;
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
      typename Model::undo u;
      if (model.apply(h[ids[local]], u)) {
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
        model.revert(u);
      }
      n = events.next(n);
    } else {
      // The earliest pending response belongs to an operation that no
      // linearized prefix here can take: back off the last choice.
      if (stack.empty()) break;
      const frame f = stack.back();
      stack.pop_back();
      flip(events.local(f.call));
      model.revert(f.u);
      events.unlift(f.call);
      n = events.next(f.call);
    }
  }
  r.linearizable = events.empty();
  if (!r.linearizable) r.explanation = explain(h, ids, best, initial, r.cap_hit, cap);
  return r;
}

}  // namespace snapcache::lincheck::detail
