// snapcache::hash_map's batched visit: the definition of the member declared
// (and documented) in hash_map.hpp. A lookup of a key not in cache misses
// twice, one miss after the other: the slot line, then the version it points
// to. A batch takes its keys a group at a time through three passes — hash
// and prefetch every home slot; pinned, read each home slot and prefetch
// the version a matching tag points to; then the ordinary lookup, which now
// finds both lines on their way — so a group's misses overlap (Boost's bulk
// visitation and DRAMHiT do the same). The passes before the lookup only
// read and prefetch: correctness is the lookup's.
// Included by hash_map.hpp only, after the class.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>

#include "snapcache/hash_map.hpp"

namespace snapcache {

template <class Key, class T, class Hash, class KeyEqual>
template <std::forward_iterator It, std::sentinel_for<It> End, class F>
auto hash_map<Key, T, Hash, KeyEqual>::visit(It first, End last, F&& f) const -> std::size_t {
  using key_arg = std::iter_value_t<It>;
  static_assert(used_as_is<key_arg>,
                "snapcache::hash_map::visit(first, last, f): the keys must be Keys (or, under the default hash, "
                "strings of the key's character type)");
  // 16 keys: enough misses in flight to cover the latency (a core tracks
  // 10-20 outstanding line fills), few enough that the first prefetched
  // lines are still in L1 when the lookup pass reaches them.
  constexpr std::size_t group = 16;
  std::size_t found = 0;
  while (first != last) {
    It at[group];  // the group's keys, read in place
    std::uint64_t hashes[group];
    std::size_t n = 0;
    for (; n < group && first != last; ++first, ++n) {
      at[n] = first;
      hashes[n] = hash_key(*first);  // may throw: nothing of this group visited yet
      prefetch_slot(hashes[n]);
    }
    const auto g = domain_->pin();
    if (const detail::slot_table* t = current_.load(std::memory_order_seq_cst)) {
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t w = slot(*t, t->home(hashes[i])).load(std::memory_order_seq_cst);
        if (detail::slot_holds_version(w) && detail::slot_tag(w) == detail::slot_tag_of_hash(hashes[i])) {
          __builtin_prefetch(detail::slot_version<version_type>(w));
        }
      }
    }
    for (std::size_t i = 0; i < n; ++i) {
      const key_arg& key = *at[i];
      if (const version_type* v = current_value(hashes[i], key)) {
        f(element(v->key, v->value()));
        ++found;
      }
    }
  }
  return found;
}

}  // namespace snapcache
