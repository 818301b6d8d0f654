// snapcache::hash_map — a lock-free hash map whose snapshots never invalidate.
//
// The problem. Readers that iterate a concurrent map while others insert and
// erase either crash (iterator invalidation), see a key twice or miss it
// (weakly consistent iteration), or lock out every writer for the length of
// the scan. Services that scan a cache while it is written need a scan that
// is consistent, cheap to start, and never in a writer's way.
//
// The mechanism. One split-ordered lock-free list (Shalev & Shavit) holds
// every entry; buckets are entry points into it that are added as the map
// grows, so no entry ever moves. Each entry holds a chain of value versions,
// newest first (erase pushes a tombstone). A version is stamped with a
// global clock after it is installed; whoever meets an unstamped version
// stamps it first (Wei et al., PPoPP 2021). snapshot() announces a timestamp
// t and advances the clock past it: the snapshot reads, for each entry, the
// newest version stamped <= t. Writers trim each chain they touch down to
// the versions some live snapshot can still read, so a snapshot keeps alive
// only what it can see; memory is reclaimed with epochs (snapcache::ebr), but
// a snapshot holds no epoch guard between the steps of its iteration.
//
// When not to use it. If you never iterate while writing, a plain hash table
// behind a lock, or a striped one, is smaller and often faster single-
// threaded. Each entry costs a list node and at least one version.
//
// Contract
// * Thread-safety: every member may be called concurrently from any thread,
//   except the destructor. A snapshot may be moved to and used from another
//   thread; one snapshot (or iterator) object must not be used by two
//   threads at once.
// * Progress: insert, insert_or_assign, erase, find, contains, visit, update,
//   compare_and_replace, snapshot() and every snapshot operation are
//   lock-free: no mutex, spin-wait or blocking call. (The first operation of
//   a thread on a map registers it with the map's reclamation domain.)
// * Linearizability: every operation, snapshot() included, takes effect at
//   one instant between its call and its return (points in docs/design.md).
// * Snapshots: (a) size() is exact and iterating yields each key present at
//   the snapshot's instant exactly once, with the value it had then; (b) the
//   same contents every time, whatever writers do meanwhile; (c) find() and
//   contains() answer for that instant; (d) taking one is O(1); (e) writers
//   never wait for a snapshot and a snapshot never waits for a writer.
// * Memory ordering: an insert or assignment happens-before any find,
//   visit, or snapshot that observes its value.
// * Lifetime: values passed to visit() and references from snapshot
//   iteration stay valid while the visit runs / the snapshot lives. A
//   snapshot must not outlive its map (checked by an assertion in debug
//   builds). Live versions stay within (1 + live snapshots) x live keys,
//   plus what reclamation has not freed yet (threads x batch).
// * Exceptions: if Hash, KeyEqual, a copy of Key or T, or an allocation
//   throws, the operation has no effect (strong guarantee) and leaks
//   nothing. A throwing callable in update() leaves the value unchanged.
//
// Differences from std::unordered_map: no iterators into the live map (use a
// snapshot); find returns a copy (std::optional<T>); no references to values
// outside visit(); erase/insert never invalidate anything.
#pragma once

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "snapcache/detail/bucket_table.hpp"
#include "snapcache/detail/map_node.hpp"
#include "snapcache/detail/snapshot_registry.hpp"
#include "snapcache/detail/test_hooks.hpp"
#include "snapcache/ebr.hpp"
#include "snapcache/hash.hpp"
#include "snapcache/map_stats.hpp"

namespace snapcache {

template <class Key, class T, class Hash = seeded_hash<Key>, class KeyEqual = std::equal_to<>>
class hash_map {
  using list_node = detail::list_node;
  using entry = detail::entry_node<Key, T>;
  using version = detail::version<T>;
  using bucket = detail::bucket<list_node>;

 public:
  using key_type = Key;
  using mapped_type = T;
  using hasher = Hash;
  using key_equal = KeyEqual;
  template <class K2, class T2>
  using rebind = hash_map<K2, T2>;

  class snapshot_type;

  // capacity_hint: entries expected, to size the bucket directory up front.
  explicit hash_map(std::size_t capacity_hint = 0, const Hash& hash = Hash(),
                    const KeyEqual& equal = KeyEqual())
      : hash_(hash), equal_(equal) {
    if constexpr (seedable_hash<Hash>) {
      if (hash_.seed == 0) hash_.seed = make_hash_seed();
    }
    const std::size_t wanted = std::max<std::size_t>(capacity_hint / max_load, 2);
    bucket_count_.store(std::bit_ceil(wanted), std::memory_order_relaxed);  // before publication
    auto& first = buckets_.at(0);
    first.state.store(bucket::ready, std::memory_order_relaxed);  // before publication
    head_ = &first.sentinel;
  }

  hash_map(const hash_map&) = delete;
  hash_map& operator=(const hash_map&) = delete;

  // Precondition: no operation runs concurrently and no snapshot is alive.
  ~hash_map() {
    assert(registry_.live() == 0 && "a snapshot outlived its hash_map");
    // Unlinked entries still parked on the deferred list are ours to free;
    // the linked ones are freed with the list below.
    for (entry* e = deferred_.load(std::memory_order_relaxed); e != nullptr;) {  // single-threaded from here
      entry* next = e->deferred_next;
      if ((e->flags.load(std::memory_order_relaxed) & entry::unlinked) != 0) entry::reclaim(e);  // single-threaded
      e = next;
    }
    list_node* node = head_->next.load(std::memory_order_relaxed);  // single-threaded
    while (node != nullptr) {
      list_node* next = detail::strip(node->next.load(std::memory_order_relaxed));  // single-threaded
      // Sentinels live in the bucket table, which frees them.
      if (detail::is_entry_order(node->order)) entry::reclaim(static_cast<entry*>(node));
      node = next;
    }
  }

  // Inserts (key, value) if key is absent. Returns whether it inserted.
  bool insert(const Key& key, const T& value) { return write(key, value, write_mode::if_absent); }

  // Inserts or replaces the value. Returns true if key was absent.
  bool insert_or_assign(const Key& key, const T& value) { return write(key, value, write_mode::always); }

  // Removes key. Returns whether it was present.
  template <class K>
  bool erase(const K& key) {
    const std::uint64_t h = hash_(key);
    const auto g = domain_.pin();
    list_node* start = bucket_for(h);
    std::unique_ptr<version> tombstone;
    for (;;) {
      position pos;
      entry* node = search(start, detail::entry_order(h), key, pos, g);
      if (node == nullptr) return false;
      version* head = node->head.load(std::memory_order_seq_cst);
      if (detail::is_marked(head)) {
        help_remove(node);
        continue;
      }
      stamp(head);
      if (!head->value) return false;
      if (!tombstone) tombstone = std::make_unique<version>();
      SNAPCACHE_PERTURB();
      SNAPCACHE_PARK(erase_before_push);
      if (push(node, head, tombstone.get())) {
        SNAPCACHE_PARK(write_before_stamp);
        stamp(tombstone.release());
        counters_.versions.add(1);
        counters_.entries.add(-1);
        maintain(node, g);
        return true;
      }
    }
  }

  template <class K>
  [[nodiscard]] std::optional<T> find(const K& key) const {
    const std::uint64_t h = hash_(key);
    const auto g = domain_.pin();
    const version* v = current(lookup(h, key, g));
    return v ? std::optional<T>(*v->value) : std::nullopt;
  }

  template <class K>
  [[nodiscard]] bool contains(const K& key) const {
    const std::uint64_t h = hash_(key);
    const auto g = domain_.pin();
    return current(lookup(h, key, g)) != nullptr;
  }

  // Calls f(const T&) with the current value while it is protected; returns
  // whether key was present. Keep f short: it runs inside an epoch guard.
  template <class K, class F>
  bool visit(const K& key, F&& f) const {
    const std::uint64_t h = hash_(key);
    const auto g = domain_.pin();
    const version* v = current(lookup(h, key, g));
    if (v == nullptr) return false;
    std::forward<F>(f)(*v->value);
    return true;
  }

  // Atomically replaces the value v of key by f(v). Returns false if key is
  // absent. f may run more than once under contention and must not have
  // side effects beyond computing the new value; if it throws, nothing
  // changes.
  template <class K, class F>
  bool update(const K& key, F&& f) {
    return replace_if(key, [&](const T& old) -> std::optional<T> { return std::optional<T>(f(old)); });
  }

  // Replaces the value by `desired` if it equals `expected`.
  template <class K>
  bool compare_and_replace(const K& key, const T& expected, const T& desired) {
    return replace_if(key, [&](const T& old) -> std::optional<T> {
      return old == expected ? std::optional<T>(desired) : std::nullopt;
    });
  }

  // Approximate while writers run; exact when quiescent.
  [[nodiscard]] std::size_t size() const noexcept {
    const std::int64_t n = counters_.entries.sum();
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }

  // A point-in-time view. O(1); may throw std::bad_alloc (registering a
  // snapshot slot), and then nothing changed.
  [[nodiscard]] snapshot_type snapshot() const { return snapshot_type(*this); }

  [[nodiscard]] map_stats stats() const noexcept {
    map_stats s;
    s.live_entries = size();
    const std::int64_t versions = counters_.versions.sum();
    s.live_versions = versions > 0 ? static_cast<std::size_t>(versions) : 0;
    s.retired_unfreed = static_cast<std::size_t>(domain_.stats().pending);
    return s;
  }

  // Diagnostics, for tests: the longest run of entries behind one bucket
  // sentinel, and the bucket count. Walks the whole list: quiescent use only.
  [[nodiscard]] std::size_t longest_chain() const noexcept {
    std::size_t longest = 0, run = 0;
    for (list_node* n = head_->next.load(std::memory_order_seq_cst); n != nullptr;
         n = detail::strip(n->next.load(std::memory_order_seq_cst))) {
      run = detail::is_entry_order(n->order) ? run + 1 : 0;
      longest = std::max(longest, run);
    }
    return longest;
  }
  [[nodiscard]] std::size_t bucket_count() const noexcept {
    return bucket_count_.load(std::memory_order_relaxed);  // statistic only
  }
  // Snapshot slots ever registered: bounded by the peak of live snapshots.
  [[nodiscard]] std::size_t snapshot_slots() const noexcept { return registry_.slots(); }

 private:
  static constexpr std::size_t max_load = 2;   // entries per bucket before growth
  static constexpr std::size_t long_walk = 8;  // entries walked that prompt a growth check

  enum class write_mode { if_absent, always };

  struct position {
    list_node* prev = nullptr;
    list_node* curr = nullptr;
  };

  // ---- list ---------------------------------------------------------------

  // Unlinks `curr` (whose next is marked) from after `prev`. The thread whose
  // CAS succeeds owns the unlinked node.
  bool snip(list_node* prev, list_node* curr, list_node* succ, const ebr::guard& g) const noexcept {
    list_node* expected = curr;
    if (!prev->next.compare_exchange_strong(expected, detail::strip(succ), std::memory_order_seq_cst)) {
      return false;
    }
    on_unlinked(static_cast<entry*>(curr), g);  // only entries are ever marked
    return true;
  }

  // Finds the entry for `key` after `start`, snipping deleted nodes on the
  // way; fills `pos` with the insert position (before the first node ordered
  // after `order`).
  template <class K>
  entry* search(list_node* start, std::uint64_t order, const K& key, position& pos,
                const ebr::guard& g, std::size_t* walked = nullptr) const {
  retry:
    list_node* prev = start;
    list_node* curr = prev->next.load(std::memory_order_seq_cst);
    std::size_t steps = 0;
    while (curr != nullptr) {
      SNAPCACHE_PERTURB();
      list_node* succ = curr->next.load(std::memory_order_seq_cst);
      if (detail::is_marked(succ)) {
        if (!snip(prev, curr, succ, g)) goto retry;
        curr = detail::strip(succ);
        continue;
      }
      if (curr->order > order) break;
      if (curr->order == order && equal_(static_cast<entry*>(curr)->key, key)) {
        pos = {prev, curr};
        if (walked) *walked = steps;
        return static_cast<entry*>(curr);
      }
      prev = curr;
      curr = succ;
      ++steps;
    }
    pos = {prev, curr};
    if (walked) *walked = steps;
    return nullptr;
  }

  // Links `sentinel` into the list after `parent`. Only the thread that
  // claimed the bucket calls this, so the sentinel is linked once.
  void link_sentinel(list_node* parent, list_node* sentinel) const noexcept {
    const auto g = domain_.pin();
  retry:
    list_node* prev = parent;
    list_node* curr = prev->next.load(std::memory_order_seq_cst);
    while (curr != nullptr) {
      list_node* succ = curr->next.load(std::memory_order_seq_cst);
      if (detail::is_marked(succ)) {
        if (!snip(prev, curr, succ, g)) goto retry;
        curr = detail::strip(succ);
        continue;
      }
      if (curr->order > sentinel->order) break;
      prev = curr;
      curr = succ;
    }
    sentinel->next.store(curr, std::memory_order_relaxed);  // published by the CAS below
    list_node* expected = curr;
    if (!prev->next.compare_exchange_strong(expected, sentinel, std::memory_order_seq_cst)) goto retry;
  }

  static std::uint64_t parent_of(std::uint64_t b) noexcept {
    return b & ~(std::uint64_t{1} << (std::bit_width(b) - 1));
  }

  // An entry point for bucket b: its own sentinel, linked first if needed
  // (parents too), or, while another thread is linking it, the nearest
  // ready parent (always a valid entry point: it precedes b's entries). May
  // throw std::bad_alloc (a new segment); the map's contents never change.
  list_node* initialised_bucket(std::uint64_t b) const {
    bucket& own = buckets_.at(b);
    std::uint8_t state = own.state.load(std::memory_order_acquire);  // pairs with the release store below
    if (state == bucket::ready) return &own.sentinel;
    list_node* parent = initialised_bucket(parent_of(b));
    if (state == bucket::empty &&
        own.state.compare_exchange_strong(state, bucket::linking, std::memory_order_relaxed)) {  // a claim only
      link_sentinel(parent, &own.sentinel);
      own.state.store(bucket::ready, std::memory_order_release);  // pairs with the acquire loads
      return &own.sentinel;
    }
    return parent;
  }

  std::uint64_t bucket_index(std::uint64_t h) const noexcept {
    // Any bucket count ever published gives a valid entry point: relaxed.
    return h & (bucket_count_.load(std::memory_order_relaxed) - 1);  // any value is a valid entry point
  }

  // Entry point for writers: initialises the bucket if needed.
  list_node* bucket_for(std::uint64_t h) const { return initialised_bucket(bucket_index(h)); }

  // Entry point for readers: never allocates; falls back to the nearest
  // ready parent bucket (bucket 0 always is).
  list_node* existing_bucket(std::uint64_t h) const noexcept {
    std::uint64_t b = bucket_index(h);
    for (;;) {
      if (bucket* own = buckets_.find(b)) {
        if (own->state.load(std::memory_order_acquire) == bucket::ready) return &own->sentinel;  // pairs with release
      }
      b = parent_of(b);
    }
  }

  template <class K>
  entry* lookup(std::uint64_t h, const K& key, const ebr::guard& g) const {
    position pos;
    return search(existing_bucket(h), detail::entry_order(h), key, pos, g);
  }

  void maybe_grow(std::size_t walked) {
    thread_local std::uint32_t inserts = 0;
    if (walked < long_walk && (++inserts & 255) != 0) return;
    std::size_t buckets = bucket_count_.load(std::memory_order_relaxed);  // CAS validates
    if (size() > buckets * max_load && buckets < (std::size_t{1} << 62)) {
      bucket_count_.compare_exchange_strong(buckets, buckets * 2, std::memory_order_relaxed);  // a hint, see bucket_index
    }
  }

  // ---- versions -----------------------------------------------------------

  // The version's stamp; stamps it first if it has none (helping its
  // writer): an update takes effect at the clock read that stamps it.
  std::uint64_t stamp(version* v) const noexcept {
    std::uint64_t s = v->stamp.load(std::memory_order_seq_cst);
    if (s != detail::no_timestamp) return s;
    const std::uint64_t now = registry_.now();
    SNAPCACHE_PERTURB();
    if (v->stamp.compare_exchange_strong(s, now, std::memory_order_seq_cst)) return now;
    return s;
  }

  // The current value version of a live entry, or null (absent or erased).
  const version* current(entry* node) const noexcept {
    if (node == nullptr) return nullptr;
    version* head = node->head.load(std::memory_order_seq_cst);
    if (detail::is_marked(head)) return nullptr;  // dead: erased
    stamp(head);
    return head->value ? head : nullptr;
  }

  // The version a snapshot at t reads, or null.
  const version* visible_at(entry* node, std::uint64_t t) const noexcept {
    version* v = detail::strip(node->head.load(std::memory_order_seq_cst));
    if (detail::is_planted(detail::planted_bug::snapshot_reads_live_value)) {
      return v->value ? v : nullptr;
    }
    while (v != nullptr) {
      if (stamp(v) <= t) return v->value ? v : nullptr;
      v = detail::strip(v->next.load(std::memory_order_seq_cst));
    }
    return nullptr;
  }

  // Installs `fresh` over `head` (already stamped, so stamps never go
  // backwards along a chain).
  bool push(entry* node, version* head, version* fresh) const noexcept {
    fresh->next.store(head, std::memory_order_relaxed);  // published by the CAS below
    version* expected = head;
    return node->head.compare_exchange_strong(expected, fresh, std::memory_order_seq_cst);
  }

  bool write(const Key& key, const T& value, write_mode mode) {
    const std::uint64_t h = hash_(key);
    const std::uint64_t order = detail::entry_order(h);
    const auto g = domain_.pin();
    list_node* start = bucket_for(h);
    std::unique_ptr<version> fresh;
    std::unique_ptr<entry> node_owner;
    for (;;) {
      position pos;
      std::size_t walked = 0;
      entry* node = search(start, order, key, pos, g, &walked);
      if (node != nullptr) {
        version* head = node->head.load(std::memory_order_seq_cst);
        if (detail::is_marked(head)) {
          help_remove(node);
          continue;
        }
        stamp(head);
        const bool was_absent = !head->value;
        if (!was_absent && mode == write_mode::if_absent) return false;
        if (!fresh) fresh = std::make_unique<version>(value);
        SNAPCACHE_PERTURB();
        if (!push(node, head, fresh.get())) continue;
        SNAPCACHE_PARK(write_before_stamp);
        stamp(fresh.release());
        counters_.versions.add(1);
        if (was_absent) counters_.entries.add(1);
        maintain(node, g);
        return was_absent;
      }
      if (!node_owner) node_owner = std::make_unique<entry>(order, key, value, &counters_);
      node_owner->next.store(pos.curr, std::memory_order_relaxed);  // published by the CAS below
      SNAPCACHE_PERTURB();
      SNAPCACHE_PARK(insert_before_link);
      if (detail::is_planted(detail::planted_bug::insert_check_then_act)) {
        pos.prev->next.store(node_owner.get(), std::memory_order_seq_cst);  // the bug: no CAS
      } else {
        list_node* expected = pos.curr;
        if (!pos.prev->next.compare_exchange_strong(expected, node_owner.get(), std::memory_order_seq_cst)) {
          continue;
        }
      }
      entry* linked = node_owner.release();
      SNAPCACHE_PARK(write_before_stamp);
      stamp(&linked->first);
      counters_.versions.add(1);
      counters_.entries.add(1);
      maybe_grow(walked);
      return true;
    }
  }

  template <class K, class F>
  bool replace_if(const K& key, F&& next_value) {
    const std::uint64_t h = hash_(key);
    const auto g = domain_.pin();
    for (;;) {
      entry* node = lookup(h, key, g);
      if (node == nullptr) return false;
      version* head = node->head.load(std::memory_order_seq_cst);
      if (detail::is_marked(head)) return false;  // dead: erased
      stamp(head);
      if (!head->value) return false;
      std::optional<T> desired = next_value(*head->value);  // may throw: nothing changed
      if (!desired) return false;
      auto fresh = std::make_unique<version>(std::move(*desired));
      if (!push(node, head, fresh.get())) continue;
      stamp(fresh.release());
      counters_.versions.add(1);
      maintain(node, g);
      return true;
    }
  }

  // ---- version trimming and entry removal ----------------------------------

  void retire_version(version* v, const ebr::guard& g) const noexcept {
    counters_.versions.add(-1);
    if (!v->embedded) g.retire(v, &version::reclaim);  // an embedded one goes with its entry
  }

  // Removes from node's chain every version no live snapshot can read: keeps
  // the head, every version newer than the clock read before the scan of
  // announcements plus the newest one at or below it, and each version some
  // announced snapshot reads. Best effort: gives up on contention (another
  // trimmer is at work). Returns whether it kept versions for snapshots.
  bool trim(entry* node, const ebr::guard& g) const noexcept {
    detail::announced_timestamps seen;
    registry_.collect(seen);
    version* prev = detail::strip(node->head.load(std::memory_order_seq_cst));
    std::uint64_t newer = stamp(prev);
    bool below_clock = newer <= seen.clock;
    bool kept_for_snapshots = false;
    version* curr = detail::strip(prev->next.load(std::memory_order_seq_cst));
    while (curr != nullptr) {
      version* succ = curr->next.load(std::memory_order_seq_cst);
      if (detail::is_marked(succ)) {  // logically removed: unlink it
        version* expected = curr;
        if (!prev->next.compare_exchange_strong(expected, detail::strip(succ), std::memory_order_seq_cst)) {
          return true;  // contention; leave it for later
        }
        retire_version(curr, g);
        curr = detail::strip(succ);
        continue;
      }
      const std::uint64_t s = curr->stamp.load(std::memory_order_seq_cst);  // below the head: stamped
      bool needed;
      if (!below_clock) {
        needed = true;
        below_clock = s <= seen.clock;
      } else {
        needed = seen.reads_between(s, newer);
        kept_for_snapshots |= needed;
      }
      if (needed) {
        prev = curr;
        newer = s;
        curr = detail::strip(succ);
      } else {
        SNAPCACHE_PERTURB();
        if (curr->next.compare_exchange_strong(succ, detail::with_mark(succ), std::memory_order_seq_cst)) {
          SNAPCACHE_PARK(trim_after_mark);
        }
        // Marked now (by us or another trimmer): the loop unlinks it.
      }
    }
    return kept_for_snapshots;
  }

  // After a write to node: trim its chain; if it holds only a tombstone no
  // snapshot needs, remove it; if it still holds versions for snapshots,
  // park it on the deferred list for when they close.
  void maintain(entry* node, const ebr::guard& g) const noexcept {
    const bool kept = trim(node, g);
    version* head = node->head.load(std::memory_order_seq_cst);
    if (detail::is_marked(head)) return;  // already dead: being removed
    if (!kept && !head->value && head->next.load(std::memory_order_seq_cst) == nullptr) {
      version* expected = head;
      if (node->head.compare_exchange_strong(expected, detail::with_mark(head), std::memory_order_seq_cst)) {
        SNAPCACHE_PARK(remove_after_dead);
        help_remove(node);
        return;
      }
    }
    if (kept || !head->value) defer(node);
  }

  // Deletes a dead entry from the list: marks its next pointer, then snips it
  // (any thread that meets it helps).
  void help_remove(entry* node) const noexcept {
    list_node* succ = node->next.load(std::memory_order_seq_cst);
    while (!detail::is_marked(succ)) {
      if (node->next.compare_exchange_weak(succ, detail::with_mark(succ), std::memory_order_seq_cst)) break;
    }
    // Snip it (and any other deleted node) by walking its bucket by address:
    // no user code (KeyEqual) runs here.
    const auto g = domain_.pin();
  retry:
    list_node* prev = existing_bucket_for_order(node->order);
    list_node* curr = prev->next.load(std::memory_order_seq_cst);
    while (curr != nullptr && curr->order <= node->order) {
      list_node* next = curr->next.load(std::memory_order_seq_cst);
      if (detail::is_marked(next)) {
        if (!snip(prev, curr, next, g)) goto retry;
        if (curr == node) return;
        curr = detail::strip(next);
        continue;
      }
      prev = curr;
      curr = next;
    }
  }

  list_node* existing_bucket_for_order(std::uint64_t order) const noexcept {
    return existing_bucket(detail::reverse_bits(order) & ~(std::uint64_t{1} << 63));
  }

  // The thread whose snip unlinked an entry retires it, unless the entry is
  // parked on the deferred list: then the deferred list's processor does.
  void on_unlinked(entry* node, const ebr::guard& g) const noexcept {
    const std::uint8_t before = node->flags.fetch_or(entry::unlinked, std::memory_order_acq_rel);  // pairs with defer/process
    if ((before & entry::on_deferred_list) == 0) g.retire(node, &entry::reclaim);
  }

  void defer(entry* node) const noexcept {
    const std::uint8_t before = node->flags.fetch_or(entry::on_deferred_list, std::memory_order_acq_rel);  // pairs with on_unlinked
    if ((before & (entry::on_deferred_list | entry::unlinked)) != 0) return;
    entry* head = deferred_.load(std::memory_order_relaxed);  // the CAS validates
    do {
      node->deferred_next = head;
    } while (!deferred_.compare_exchange_weak(head, node, std::memory_order_release,  // pairs with process_deferred
                                              std::memory_order_relaxed));            // retry reads head only
  }

  // Called when a snapshot closes: entries that kept versions for snapshots
  // are trimmed again, removed if only a tombstone is left, or parked again.
  void process_deferred() const noexcept {
    entry* list = deferred_.exchange(nullptr, std::memory_order_acquire);  // pairs with defer's release
    if (list == nullptr) return;
    const auto g = domain_.pin();
    while (list != nullptr) {
      entry* node = list;
      list = node->deferred_next;
      const std::uint8_t before = node->flags.fetch_and(
          static_cast<std::uint8_t>(~entry::on_deferred_list), std::memory_order_acq_rel);  // pairs with on_unlinked
      if ((before & entry::unlinked) != 0) {
        g.retire(node, &entry::reclaim);
      } else {
        maintain(node, g);
      }
    }
  }

  // ---- state --------------------------------------------------------------
  Hash hash_;
  KeyEqual equal_;
  mutable detail::map_counters counters_;
  mutable detail::snapshot_registry registry_;
  mutable detail::bucket_table<list_node> buckets_{&detail::sentinel_order};
  alignas(64) std::atomic<std::size_t> bucket_count_{2};
  list_node* head_ = nullptr;  // bucket 0's sentinel: the list's head
  mutable std::atomic<entry*> deferred_{nullptr};
  // Declared last, destroyed first: frees what is still retired while the
  // counters those objects report to are alive.
  mutable ebr::domain domain_{ebr::config{.batch = 64, .advance_every = 64}};

 public:
  class snapshot_type {
   public:
    snapshot_type(snapshot_type&& other) noexcept
        : map_(std::exchange(other.map_, nullptr)),
          slot_(std::exchange(other.slot_, nullptr)),
          timestamp_(other.timestamp_),
          steps_(other.steps_),
          size_(other.size_) {}
    snapshot_type& operator=(snapshot_type&& other) noexcept {
      if (this != &other) {
        close();
        map_ = std::exchange(other.map_, nullptr);
        slot_ = std::exchange(other.slot_, nullptr);
        timestamp_ = other.timestamp_;
        steps_ = other.steps_;
        size_ = other.size_;
      }
      return *this;
    }
    snapshot_type(const snapshot_type&) = delete;
    snapshot_type& operator=(const snapshot_type&) = delete;
    ~snapshot_type() { close(); }

    class iterator;
    [[nodiscard]] iterator begin() const { return iterator(this, map_->head_); }
    [[nodiscard]] iterator end() const noexcept { return iterator(); }

    // Exact: counted on first call (O(n)), then remembered.
    [[nodiscard]] std::size_t size() const {
      if (!size_) {
        std::size_t n = 0;
        for (auto it = begin(); it != end(); ++it) ++n;
        size_ = n;
      }
      return *size_;
    }
    [[nodiscard]] bool empty() const { return size() == 0; }

    template <class K>
    [[nodiscard]] std::optional<T> find(const K& key) const {
      const std::uint64_t h = map_->hash_(key);
      const auto g = map_->domain_.pin();
      entry* node = map_->lookup(h, key, g);
      const version* v = node ? map_->visible_at(node, timestamp_) : nullptr;
      return v ? std::optional<T>(*v->value) : std::nullopt;
    }
    template <class K>
    [[nodiscard]] bool contains(const K& key) const {
      const std::uint64_t h = map_->hash_(key);
      const auto g = map_->domain_.pin();
      entry* node = map_->lookup(h, key, g);
      return node != nullptr && map_->visible_at(node, timestamp_) != nullptr;
    }

    // The clock value the snapshot reads at.
    [[nodiscard]] std::uint64_t timestamp() const noexcept { return timestamp_; }
    // Steps taking it took (slots scanned, announcements made): a test
    // diagnostic for the O(1) claim; independent of the map's size.
    [[nodiscard]] std::size_t steps() const noexcept { return steps_; }

    // Iterates the snapshot. Entries the snapshot sees cannot be removed
    // while it lives, so the iterator keeps plain pointers to them and pins
    // an epoch guard only while it walks to fetch the next batch.
    class iterator {
     public:
      using value_type = std::pair<const Key&, const T&>;
      using reference = value_type;
      using difference_type = std::ptrdiff_t;
      using iterator_category = std::forward_iterator_tag;

      iterator() noexcept = default;

      reference operator*() const noexcept {
        const item& it = batch_[index_];
        return {it.node->key, *it.v->value};
      }
      struct arrow_proxy {
        value_type pair;
        const value_type* operator->() const noexcept { return &pair; }
      };
      arrow_proxy operator->() const noexcept { return {**this}; }

      iterator& operator++() {
        if (++index_ == count_) fill(batch_[count_ - 1].node);
        return *this;
      }
      iterator operator++(int) {
        iterator before = *this;
        ++*this;
        return before;
      }
      friend bool operator==(const iterator& a, const iterator& b) noexcept {
        const bool a_end = a.count_ == 0, b_end = b.count_ == 0;
        if (a_end || b_end) return a_end == b_end;
        return a.batch_[a.index_].node == b.batch_[b.index_].node;
      }

     private:
      friend class snapshot_type;
      static constexpr std::size_t batch_size = 32;
      struct item {
        const entry* node;
        const version* v;
      };

      iterator(const snapshot_type* snap, const list_node* from) : snap_(snap) { fill(from); }

      // Collects the next batch of visible entries after `from`, which is a
      // sentinel or an entry this snapshot sees (so it is still linked).
      void fill(const list_node* from) {
        const hash_map& map = *snap_->map_;
        const auto g = map.domain_.pin();
        count_ = 0;
        index_ = 0;
        SNAPCACHE_PARK(iterate_while_pinned);
        for (list_node* n = detail::strip(from->next.load(std::memory_order_seq_cst)); n != nullptr;
             n = detail::strip(n->next.load(std::memory_order_seq_cst))) {
          if (!detail::is_entry_order(n->order)) continue;
          auto* node = static_cast<entry*>(n);
          if (const version* v = map.visible_at(node, snap_->timestamp_)) {
            batch_[count_++] = {node, v};
            if (count_ == batch_size) return;
          }
        }
      }

      const snapshot_type* snap_ = nullptr;
      item batch_[batch_size];
      std::size_t count_ = 0;
      std::size_t index_ = 0;
    };

   private:
    friend class hash_map;
    explicit snapshot_type(const hash_map& map) : map_(&map) {
      timestamp_ = map.registry_.open(slot_, steps_);
    }
    void close() noexcept {
      if (map_ == nullptr) return;
      map_->registry_.close(slot_);
      map_->process_deferred();
      map_ = nullptr;
    }

    const hash_map* map_ = nullptr;
    detail::snapshot_slot* slot_ = nullptr;
    std::uint64_t timestamp_ = 0;
    std::size_t steps_ = 0;
    mutable std::optional<std::size_t> size_;
  };
};

}  // namespace snapcache
