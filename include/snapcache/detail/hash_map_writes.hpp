// snapcache::hash_map's write protocol: installing a version with one CAS,
// stamping and counting it, settling the version it replaced (unlinked at
// once, or kept for the newest snapshot that reads it), the Harris unlink of
// a version from its chain (handing on the kept record below it), the
// whole-map erase, and the recheck of the versions kept for a snapshot when
// it closes. Definitions of members
// declared (and documented) in hash_map.hpp; the protocol is argued in
// docs/design.md ("Versions and snapshots", "Settling a replaced version").
// Included by hash_map.hpp only, after the class.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "snapcache/hash_map.hpp"

namespace snapcache {

template <class Key, class T, class Hash, class KeyEqual>
template <class K, class Accept>
auto hash_map<Key, T, Hash, KeyEqual>::install(std::uint64_t h, const K& key, fresh_ptr& fresh, Accept&& accept) -> bool {
  prefetch_slot(h);
  auto g = domain_->pin();
  // A write from a thread_local destructor after the thread's own cleanup
  // ran frees the spare record it may have refilled, whatever it returns.
  struct late_spare_drop {
    ~late_spare_drop() {
      if (detail::tl_spare_exited) detail::drop_spare_record_after_exit();
    }
  } const late_spare;
  for (;;) {
    detail::slot_table* t = writable_table(g);
    position p;
    const located where = locate(t, h, key, p);
    if (where == located::migrating) continue;
    if (where == located::full) {
      grow(t, true);
      continue;
    }
    if (p.head != nullptr) stamp(p.head);  // stamps never decrease along a chain
    if (!accept(static_cast<const version_type*>(p.head))) return false;
    if (p.head == nullptr && should_grow(*t, p.probes)) {
      grow(t, false);
      continue;
    }
    // What the commit needs must not be allocated after it; made sure of
    // after accept, which may run user code (that may write to a map).
    g.reserve();
    if (detail::tl_spare_record == nullptr) detail::refill_spare_record();
    return commit(p, h, fresh, g);
  }
}

template <class Key, class T, class Hash, class KeyEqual>
template <class Pred>
auto hash_map<Key, T, Hash, KeyEqual>::erase_matching(Pred& pred) -> std::size_t {
  std::size_t erased = 0;
  const detail::slot_table* walking = nullptr;
  std::size_t next = 0;
  for (;;) {
    const version_type* found = nullptr;
    ebr::held hold;
    auto g = domain_->pin();
    detail::slot_table* t = writable_table(g);  // finishes a migration in flight
    if (t != walking) {
      walking = t;
      next = 0;
    }
    for (; next < t->capacity && found == nullptr; ++next) {
      std::uint64_t w = slot(*t, next).load(std::memory_order_seq_cst);
      if (detail::slot_is_free(w) || (w & detail::slot_dropped) != 0) continue;
      detail::slot_table* at = t;
      resolve(at, w);
      if (!detail::slot_holds_version(w)) continue;
      version_type* v = detail::slot_version<version_type>(w);
      stamp(v);
      if (!v->is_tombstone()) found = v;
    }
    if (found == nullptr) return erased;  // the whole table walked
    hold = g.hold(found);
    if (hold.holding()) g.reset();  // else (every hold slot taken) it stays pinned
    const Key& k = found->key;
    erased += erase_if(k, [&](const T& current) { return pred(k, current); }) ? 1 : 0;
  }
}

template <class Key, class T, class Hash, class KeyEqual>
template <class K, class Decide>
auto hash_map<Key, T, Hash, KeyEqual>::rewrite(const K& key, Decide&& decide) -> bool {
  const std::uint64_t h = hash_key(key);
  const ebr::guard outer = planted_outer_guard();
  fresh_ptr fresh;
  const version_type* head = nullptr;
  const auto still_head = [&](const version_type* now) noexcept { return now == head; };
  for (;;) {
    ebr::held hold;
    prefetch_slot(h);
    auto g = domain_->pin();
    head = current_head(h, key);
    if (head == nullptr || head->is_tombstone()) return false;
    hold = g.hold(head);
    // Held, head outlives the pin: decide unpinned. (With every hold slot
    // taken, by rewrites nested in callables, decide stays pinned.)
    if (hold.holding()) g.reset();
    if (decide(*head, fresh) == decision::keep) return false;  // user code
    if (install(h, key, fresh, still_head)) return true;
    // The head changed (or a write to the key won the CAS): decide again.
  }
}

template <class Key, class T, class Hash, class KeyEqual>
auto hash_map<Key, T, Hash, KeyEqual>::commit(const position& p, std::uint64_t h, fresh_ptr& fresh, const ebr::guard& g) noexcept -> bool {
  version_type* v = fresh.get();
  if constexpr (stores_hash) v->hash.value = h;
  v->older.store(detail::versioned ? p.head : nullptr, std::memory_order_relaxed);  // published by the CAS below
  const std::uint64_t desired = detail::claimed_word(detail::slot_tag_of_hash(h), v);
  std::uint64_t expected = p.word;
  SNAPCACHE_PERTURB();
  SNAPCACHE_PARK(insert_before_link);
  if (is_planted(detail::planted_bug::insert_check_then_act)) {
    slot(*p.table, p.index).store(desired);  // the bug: no CAS
  } else if (!slot(*p.table, p.index).compare_exchange(expected, desired)) {
    return false;
  }
  fresh.release();
  SNAPCACHE_PARK(write_before_stamp);
  stamp(v);
  const bool new_value = !v->is_tombstone();
  if (p.head == nullptr) {
    counters_.add_keys(1, 0);
  } else if (p.head->is_tombstone() != !new_value) {
    counters_.add_keys(new_value ? 1 : -1, new_value ? -1 : 1);
  }
  if constexpr (detail::versioned) {
    if (p.head != nullptr) settle(v, p.head, h, g);
  } else if (p.head != nullptr) {
    retire_version(p.head, nullptr, g);  // replaced outright: no snapshot can read it
  }
  if (!new_value && p.head != nullptr) maybe_clean(*p.table, g);
  return true;
}

template <class Key, class T, class Hash, class KeyEqual>
auto hash_map<Key, T, Hash, KeyEqual>::settle(version_type* fresh, version_type* old, std::uint64_t h, const ebr::guard& g) const noexcept -> void {
  const std::uint64_t from = stamp(old);
  const std::uint64_t to = stamp(fresh);
  if (!reads_nothing(old)) {
    if (detail::snapshot_slot* reader = registry_.newest_reader(from, to, g)) {
      SNAPCACHE_PARK(settle_before_keep);
      mark_kept(old);  // before the record is published: its closer reads the flag
      detail::kept_record* record = detail::take_spare_record();
      record->hash = h;
      record->version = old;
      record->above.store(fresh, std::memory_order_relaxed);  // published by the link's CAS (K3) or attach's release CAS
      record->next = nullptr;
      record->references.store(1, std::memory_order_relaxed);  // published as above
      if (fresh->is_extended()) link_record(fresh, record);
      do {
        if (detail::snapshot_registry::attach(reader, record)) return;
        // That snapshot closed meanwhile: the next newest reader, if any.
      } while ((reader = registry_.newest_reader(from, to, g)) != nullptr);
      // No snapshot reads it after all: settled here, as a recheck would.
      unlink(settle_record(record, nullptr), old, h, g);
      return;
    }
  }
  SNAPCACHE_PERTURB();
  unlink(fresh, old, h, g);
}

template <class Key, class T, class Hash, class KeyEqual>
auto hash_map<Key, T, Hash, KeyEqual>::link_record(version_type* fresh, detail::kept_record* record) noexcept -> void {
  record->references.fetch_add(1, std::memory_order_relaxed);  // no one else holds it yet: published by the link's CAS
  if (!publish_link(fresh, record)) detail::release_record(record);
}

template <class Key, class T, class Hash, class KeyEqual>
auto hash_map<Key, T, Hash, KeyEqual>::publish_link(version_type* at, detail::kept_record* record) noexcept -> bool {
  void* empty = nullptr;
  if (!at->link().compare_exchange_strong(empty, record, std::memory_order_seq_cst)) return false;  // (K3)
  // An unlinker of `at` takes its link after marking it: one that took it
  // before this CAS found none (and flagged the version below, K1), and the
  // reference would be lost in a retired version. A mark seen now: take it
  // back, unless that unlinker already took it (then it is its to drop).
  if (detail::is_marked(at->older.load(std::memory_order_seq_cst))) {
    void* published = record;
    if (at->link().compare_exchange_strong(published, nullptr, std::memory_order_seq_cst)) return false;  // (K3)
  }
  return true;
}

template <class Key, class T, class Hash, class KeyEqual>
auto hash_map<Key, T, Hash, KeyEqual>::settle_record(detail::kept_record* record, version_type* found) noexcept -> version_type* {
  // Null from here on: an unlinker handing the record on fails and lets go.
  auto* above = static_cast<version_type*>(const_cast<void*>(record->above.exchange(nullptr, detail::orders::read_above)));  // (K5)
  // `above` is trusted only without a walk: the kept version's flag was
  // clear after the caller pinned (K2), or the caller made the record
  // itself, pinned, so every version `above` ever named was linked after
  // that pin and is not freed before it ends.
  version_type* neighbour = found != nullptr ? found : above;
  if (neighbour->is_extended()) {
    void* linked = record;
    if (neighbour->link().compare_exchange_strong(linked, nullptr, std::memory_order_seq_cst)) {  // (K3)
      detail::release_record(record);  // the link's reference
    }
  }
  detail::release_record(record);  // the list's reference
  return neighbour;
}

template <class Key, class T, class Hash, class KeyEqual>
auto hash_map<Key, T, Hash, KeyEqual>::reads_nothing(version_type* v) noexcept -> bool {
  return v->is_tombstone() && v->older.load(std::memory_order_seq_cst) == nullptr;
}

template <class Key, class T, class Hash, class KeyEqual>
auto hash_map<Key, T, Hash, KeyEqual>::mark_kept(version_type* v) const noexcept -> void {
  if (v->is_tombstone()) return;
  v->stamp_word.fetch_or(detail::kept_flag, std::memory_order_relaxed);  // a count's flag: read by the unlinker after the unlink CAS
  counters_.add_kept(1);
}

template <class Key, class T, class Hash, class KeyEqual>
auto hash_map<Key, T, Hash, KeyEqual>::unlink(version_type* newer, version_type* old, std::uint64_t h, const ebr::guard& g) const noexcept -> void {
  version_type* below = old->older.load(std::memory_order_seq_cst);
  if (below == nullptr) {
    // Nothing below `old` (and nothing is ever added below a version), so
    // no neighbour's unlink can race with ours: no mark needed.
    version_type* expected = old;
    if (newer->older.compare_exchange_strong(expected, nullptr, std::memory_order_seq_cst)) {
      retire_version(old, newer, g);
      return;
    }
    // `newer` is being unlinked itself, or someone unlinked `old`: below.
  }
  while (!detail::is_marked(below)) {
    if (old->older.compare_exchange_weak(below, detail::with_mark(below), std::memory_order_seq_cst)) {
      below = detail::with_mark(below);
      break;
    }
  }
  SNAPCACHE_PARK(trim_after_mark);
  version_type* expected = old;
  if (newer->older.compare_exchange_strong(expected, detail::strip(below), std::memory_order_seq_cst)) {
    retire_version(old, newer, g);
    return;
  }
  clean_chain(h, old, g);
}

template <class Key, class T, class Hash, class KeyEqual>
auto hash_map<Key, T, Hash, KeyEqual>::retire_version(version_type* v, version_type* newer, const ebr::guard& g) const noexcept -> void {
  // The version below v (frozen now: v is unlinked) may be kept with a
  // record naming v as its `above`: hand the record on to `newer`, v's
  // neighbour now, or else flag the version below (K1), before v can be
  // freed.
  if (version_type* below = detail::strip(v->older.load(std::memory_order_seq_cst))) {
    if (!hand_on_record(v, newer) && !is_planted(detail::planted_bug::recheck_trusts_stale_above)) {
      below->stamp_word.fetch_or(detail::above_unlinked_flag, std::memory_order_seq_cst);  // (K1)
    }
  }
  if ((v->stamp_word.load(std::memory_order_relaxed) & detail::kept_flag) != 0) counters_.add_kept(-1);  // relaxed: the flag's fetch_or reaches the retirer through M3/M4 and the seq_cst mark or unlink
  g.retire_raw(v, &version_type::reclaim, v->bytes());
}

template <class Key, class T, class Hash, class KeyEqual>
auto hash_map<Key, T, Hash, KeyEqual>::hand_on_record(version_type* v, version_type* newer) noexcept -> bool {
  if (!v->is_extended()) return false;
  auto* record = static_cast<detail::kept_record*>(v->link().exchange(nullptr, std::memory_order_seq_cst));  // (K3)
  if (record == nullptr) return false;  // nothing kept below v (or a link lost to a race: flag)
  // This thread holds the link's reference now.
  if (newer == nullptr || !newer->is_extended()) {
    detail::release_record(record);
    return false;
  }
  // Once published in newer's link, that reference is the link's: another
  // unlinker may take it and let go, and the holder its own, before this
  // thread moves `above`. So it holds one of its own until it is done.
  record->references.fetch_add(1, std::memory_order_relaxed);  // the count is above zero: this thread holds one already
  bool handed_on = false;
  // Publish in newer's link first, then move `above`: a holder settling the
  // record meanwhile finds it in newer's link (and takes it) or makes the
  // move fail.
  if (publish_link(newer, record)) {
    const void* expected = v;
    if (is_planted(detail::planted_bug::record_not_handed_on) ||  // the bug: `above` still names v, unflagged
        record->above.compare_exchange_strong(expected, newer, detail::orders::hand_on_above)) {  // (K4)
      handed_on = true;
    } else {
      // Settled meanwhile (or handed on past newer): take the link's
      // reference back unless someone took it from newer's link.
      void* published = record;
      if (newer->link().compare_exchange_strong(published, nullptr, std::memory_order_seq_cst)) {  // (K3)
        detail::release_record(record);
      }
    }
  } else {
    detail::release_record(record);  // the link's, never published
  }
  detail::release_record(record);  // this thread's own
  return handed_on;
}

template <class Key, class T, class Hash, class KeyEqual>
auto hash_map<Key, T, Hash, KeyEqual>::clean_chain(std::uint64_t h, const version_type* target, const ebr::guard& g) const noexcept -> void {
  for (;;) {
    version_type* prev = chain_holding(h, target, nullptr);
    if (prev == nullptr) return;  // gone: whoever removed it cleaned up
    version_type* curr = detail::strip(prev->older.load(std::memory_order_seq_cst));
    bool changed = false;
    while (curr != nullptr) {
      version_type* next = curr->older.load(std::memory_order_seq_cst);
      if (detail::is_marked(next)) {
        // A chain may hold more marked versions than one reservation
        // covers: without memory, they stay linked for a later clean.
        if (!g.try_reserve()) return;
        version_type* expected = curr;
        if (!prev->older.compare_exchange_strong(expected, detail::strip(next), std::memory_order_seq_cst)) {
          changed = true;  // prev changed or is being unlinked itself
          break;
        }
        retire_version(curr, prev, g);
        curr = detail::strip(next);
        continue;
      }
      prev = curr;
      curr = detail::strip(next);
    }
    if (!changed) return;
  }
}

template <class Key, class T, class Hash, class KeyEqual>
auto hash_map<Key, T, Hash, KeyEqual>::chain_holding(std::uint64_t h, const void* target, version_type** above) const noexcept -> version_type* {
  return probe_heads(h, [&](version_type* head) noexcept -> version_type* {
    for (version_type* prev = head; prev != nullptr;) {
      version_type* curr = detail::strip(prev->older.load(std::memory_order_seq_cst));
      if (curr == target) {
        if (above != nullptr) *above = prev;
        return head;
      }
      prev = curr;
    }
    return nullptr;
  });
}

// ---- kept versions: the recheck at a snapshot's close ----

template <class Key, class T, class Hash, class KeyEqual>
auto hash_map<Key, T, Hash, KeyEqual>::recheck(detail::kept_record* list) const noexcept -> void {
  if (detail::kept_record* orphans = orphans_.exchange(nullptr, std::memory_order_acquire)) {  // pairs with orphan()
    list = splice(list, orphans);
  }
  SNAPCACHE_PARK(close_before_recheck);
  // One announcement scan per batch answers its records' "who reads this
  // still" (one per record was O(live snapshots) each); its memory is
  // reused by every batch of this close.
  detail::snapshot_registry::reader_view view;
  while (list != nullptr) {
    auto g = domain_->try_pin();
    if (!g.pinned() || !g.try_reserve()) {
      orphan(list);
      return;
    }
    const bool collected = view.collect(registry_, g);
    recheck_scans_.fetch_add(1, std::memory_order_relaxed);  // statistic only
    list = recheck_batch(list, collected ? &view : nullptr, g);
  }
}

template <class Key, class T, class Hash, class KeyEqual>
auto hash_map<Key, T, Hash, KeyEqual>::recheck_batch(detail::kept_record* list,
                                                    const detail::snapshot_registry::reader_view* view,
                                                    const ebr::guard& g) const noexcept -> detail::kept_record* {
  detail::kept_record* walks[recheck_batch_size];
  std::size_t n = 0;
  for (std::size_t taken = 0; taken < recheck_batch_size && list != nullptr; ++taken) {
    detail::kept_record* record = list;
    // v is alive (only its record's holder, this thread now, unlinks it).
    // If no version directly above it was unlinked since it was kept (K2,
    // after our pin), the record's `above` is still its neighbour and not
    // retired: O(1), settled now. Otherwise the record waits for the walks
    // down the batch's chains, which go together.
    const auto* v = static_cast<const version_type*>(record->version);
    if ((v->stamp_word.load(std::memory_order_seq_cst) & detail::above_unlinked_flag) != 0) {  // (K2)
      walks[n++] = record;
      list = record->next;
      continue;
    }
    if (!g.try_reserve()) return requeue(walks, n, list);
    list = record->next;
    const void* above = record->above.load(detail::orders::read_above);  // (K5) after K2
    recheck_one(record, const_cast<version_type*>(static_cast<const version_type*>(above)), false, view, g);
  }
  if (n == 0) return list;
  version_type* above[recheck_batch_size];
  find_neighbours(walks, n, above);
  // A neighbour found here may be unlinked before its record is settled
  // (by another thread, or by this batch: records of one key meet when
  // orphans join a list); found under this guard, it is not freed, and the
  // unlink CAS then fails and cleans the chain, as for a recheck in O(1).
  for (std::size_t i = 0; i < n; ++i) {
    if (!g.try_reserve()) return requeue(walks + i, n - i, list);
    recheck_walks_.fetch_add(1, std::memory_order_relaxed);  // statistic only
    recheck_one(walks[i], above[i], true, view, g);
  }
  return list;
}

template <class Key, class T, class Hash, class KeyEqual>
auto hash_map<Key, T, Hash, KeyEqual>::find_neighbours(detail::kept_record* const* walks, std::size_t n,
                                                       version_type** above) const noexcept -> void {
  version_type* cursor[recheck_batch_size];  // a walk's current version; null: done
  std::size_t walking = 0;
  for (std::size_t i = 0; i < n; ++i) {
    above[i] = nullptr;
    // The first head on the key's probe path: the key's own, but for a
    // collision of tags.
    cursor[i] = probe_heads(walks[i]->hash, [](version_type* head) noexcept { return head; });
    if (cursor[i] != nullptr) {
      __builtin_prefetch(cursor[i]);
      ++walking;
    }
  }
  // The walks go down together, one step each per round with the next
  // version prefetched: deep chains cost overlapping misses rather than
  // one queue of them (as an old snapshot's iteration does).
  while (walking > 0) {
    for (std::size_t i = 0; i < n; ++i) {
      version_type* prev = cursor[i];
      if (prev == nullptr) continue;
      version_type* curr = detail::strip(prev->older.load(std::memory_order_seq_cst));
      if (curr != nullptr && curr != walks[i]->version) {
        __builtin_prefetch(curr);
        cursor[i] = curr;
        continue;
      }
      if (curr != nullptr) {
        above[i] = prev;
      } else {
        // Not in that chain (another key's, with the same tag): the whole
        // probe path, as chain_holding walks it.
        chain_holding(walks[i]->hash, walks[i]->version, &above[i]);
      }
      cursor[i] = nullptr;
      --walking;
    }
  }
}

template <class Key, class T, class Hash, class KeyEqual>
auto hash_map<Key, T, Hash, KeyEqual>::recheck_one(detail::kept_record* record, version_type* above, bool walked,
                                                  const detail::snapshot_registry::reader_view* view,
                                                  const ebr::guard& g) const noexcept -> void {
  rechecks_.fetch_add(1, std::memory_order_relaxed);  // statistic only
  if (above == nullptr) {
    // Defensive: only a record's holder unlinks a kept version.
    record->above.store(nullptr, std::memory_order_seq_cst);  // no one hands it on from here
    detail::release_record(record);
    return;
  }
  auto* v = const_cast<version_type*>(static_cast<const version_type*>(record->version));
  if (!detail::is_marked(v->older.load(std::memory_order_seq_cst)) && !reads_nothing(v)) {
    const std::uint64_t from = stamp(v);
    const std::uint64_t to = stamp(above);
    // The batch's scan answers if `to` is no later than the clock it read
    // first (a head stamped only now may be later: ask afresh); a reader
    // that closed since fails attach(), and the next is asked afresh.
    auto ask_afresh = [&] {
      recheck_scans_.fetch_add(1, std::memory_order_relaxed);  // statistic only
      return registry_.newest_reader(from, to, g);
    };
    detail::snapshot_slot* reader =
        view != nullptr && to <= view->clock() ? view->newest_reader(from, to) : ask_afresh();
    for (; reader != nullptr; reader = ask_afresh()) {
      if (detail::snapshot_registry::attach(reader, record)) return;
    }
  }
  const std::uint64_t h = record->hash;
  unlink(settle_record(record, walked ? above : nullptr), v, h, g);
}

template <class Key, class T, class Hash, class KeyEqual>
auto hash_map<Key, T, Hash, KeyEqual>::splice(detail::kept_record* a, detail::kept_record* b) noexcept -> detail::kept_record* {
  if (a == nullptr) return b;
  detail::kept_record* tail = a;
  while (tail->next != nullptr) tail = tail->next;
  tail->next = b;
  return a;
}

template <class Key, class T, class Hash, class KeyEqual>
auto hash_map<Key, T, Hash, KeyEqual>::requeue(detail::kept_record* const* records, std::size_t n,
                                               detail::kept_record* list) noexcept -> detail::kept_record* {
  while (n > 0) {
    detail::kept_record* record = records[--n];
    record->next = list;
    list = record;
  }
  return list;
}

template <class Key, class T, class Hash, class KeyEqual>
auto hash_map<Key, T, Hash, KeyEqual>::orphan(detail::kept_record* list) const noexcept -> void {
  detail::kept_record* tail = list;
  while (tail->next != nullptr) tail = tail->next;
  detail::kept_record* head = orphans_.load(std::memory_order_relaxed);  // the CAS validates
  do {
    tail->next = head;
  } while (!orphans_.compare_exchange_weak(head, list, std::memory_order_release,  // pairs with recheck (acquire)
                                           std::memory_order_relaxed));            // retry reads head only
}

}  // namespace snapcache
