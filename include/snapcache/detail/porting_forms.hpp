// The Boost- and std-shaped forms that hash_map and locked_map share, so
// code written against boost::concurrent_flat_map, folly's or TBB's maps
// ports call by call (docs/porting.md). Each is written in terms of the
// map's own operations, so it has their contract: the same linearization
// point, thread safety and exception guarantee as the call it makes.
//
// Elements are immutable versions, so an element is passed as
// `element` = std::pair<const Key&, const T&> (what a snapshot's iterator
// yields): `[](const auto& e) { e.first; e.second; }` reads it as it would
// read Boost's `const value_type&`; a callable that takes
// `const std::pair<const Key, T>&` by name still compiles, on a copy.
// There is no mutable visit: replace a value with update() or
// compare_and_replace() (docs/porting.md says how).
#pragma once

#include <concepts>
#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <type_traits>
#include <utility>

namespace snapcache::detail {

template <class Map, class Key, class T>
class porting_forms {
 public:
  using value_type = std::pair<const Key, T>;
  using element = std::pair<const Key&, const T&>;
  using size_type = std::size_t;

  // Inserts kv if its key is absent (Boost, std). Returns whether it did.
  bool insert(const value_type& kv) { return self().insert(kv.first, kv.second); }
  bool insert(value_type&& kv) { return self().insert(kv.first, std::move(kv.second)); }
  // Inserts each element of [first, last) whose key is absent, in order
  // (each its own insert: not one instant). Returns how many it inserted.
  template <std::input_iterator It, std::sentinel_for<It> End>
    requires std::convertible_to<std::iter_reference_t<It>, value_type>
  size_type insert(It first, End last) {
    size_type inserted = 0;
    for (; first != last; ++first) {
      const value_type& kv = *first;
      inserted += self().insert(kv.first, kv.second) ? 1 : 0;
    }
    return inserted;
  }
  size_type insert(std::initializer_list<value_type> list) { return insert(list.begin(), list.end()); }

  // 1 if key is present, else 0 (Boost, std).
  template <class K>
  [[nodiscard]] size_type count(const K& key) const {
    return self().contains(key) ? 1 : 0;
  }

  // Boost's cvisit: the map's visit(key, f), which passes the element.
  template <class K, class F>
  bool cvisit(const K& key, F&& f) const {
    return self().visit(key, std::forward<F>(f));
  }

  // Boost's bulk cvisit: the map's visit(first, last, f) (hash_map's
  // overlaps the lookups' cache misses).
  template <std::forward_iterator It, std::sentinel_for<It> End, class F>
  size_type cvisit(It first, End last, F&& f) const {
    return self().visit(first, last, std::forward<F>(f));
  }

  // Calls f(element) for the elements of one instant (a snapshot's) while f
  // returns true; returns false if f stopped it (Boost's cvisit_while). f
  // runs outside any guard or lock.
  template <class F>
    requires std::is_invocable_r_v<bool, F&, const element&>
  bool cvisit_while(F f) const {
    const auto snap = self().snapshot();
    for (const auto& e : snap) {
      if (!f(element(e.first, e.second))) return false;
    }
    return true;
  }
  // The same: elements are immutable, so there is no mutable form.
  template <class F>
    requires std::is_invocable_r_v<bool, F&, const element&>
  bool visit_while(F f) const {
    return cvisit_while(std::move(f));
  }

 private:
  const Map& self() const noexcept { return static_cast<const Map&>(*this); }
  Map& self() noexcept { return static_cast<Map&>(*this); }
};

}  // namespace snapcache::detail
