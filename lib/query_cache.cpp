// snapcache::query_cache: the lock-free cache. Concept and contract are in
// the header; this file holds the persistent treaps, the cells, and the
// publish-and-help protocol, with the argument for each step next to it.
//
// Protocol, in one place (each step refers back here as P1..P6, readers R1):
//  P1  All state lives in one hash_map `cells_`: the root cell (key 0) holds
//      an immutable qc_state; bucket cells hold immutable bucket objects.
//      Cell values are never null and never reused: every write installs a
//      freshly allocated object, and an object a helper may compare against
//      stays alive while it may (P6), so a pointer comparison can never
//      confuse an old value with a new one (no ABA).
//  P2  A writer opens a hash_map snapshot, reads the root R there and every
//      bucket it needs, reading each bucket through R's descriptor (R's new
//      value wins, see P4): a consistent view of the state after R.
//  P3  It computes the new state R' privately (txn), then helps: writes every
//      cell of R's descriptor (insert if it was absent, else
//      compare_and_replace old -> new). Then it publishes with
//      compare_and_replace(root, R, R'): the linearization point. If the
//      root is no longer R, someone else published; it starts again at P2.
//  P4  Invariant: while R is the root, every cell named in R's descriptor
//      holds its old or its new value, and every other cell holds the value
//      of the state after R. It holds because (a) cells change only by
//      descriptor writes; (b) R' is published only after its writer wrote
//      all of R's cells (P3), so when R became the root, its predecessor's
//      cells were all written; (c) a late helper of an older descriptor
//      expects an old value that, by P1, no cell holds any more, so its
//      compare_and_replace fails, and its insert fails because the cell
//      exists. So P2's reads give exactly the state after R.
//  P5  After publishing, the writer writes R's descriptor once more; if that
//      runs out of memory it stops quietly: readers apply the descriptor, and
//      the next writer completes it before publishing (P3). So nothing after
//      the publishing CAS can throw, and nothing before it changed anything:
//      the strong exception guarantee.
//  P6  Once every cell of a descriptor is written, its helper retires the
//      old values it names (through EBR, the global domain): they hold the
//      entries the write erased, evicted or replaced. A helper reads them
//      pinned, so a late one still finds them alive, and P1's argument holds
//      (an address cannot be reused while a pinned helper may compare it). A
//      helper that finds them retired has nothing left to write.
//  R1  Readers (lookup, contains, find) take no map snapshot, which would
//      write lines every reader shares. Pinned, they read the root R, then
//      one bucket through R's descriptor, then the root again. The same R
//      both times means R was the root throughout: roots are never
//      reinstalled (P1), and R cannot be freed and its address reused while
//      the reader is pinned (the map retires replaced values through EBR).
//      So by P4 the bucket holds its value in the state after R, at the
//      second root read: the linearization point. A changed root means a
//      writer published in between: the reader starts again (lock-free).
//      Under the pin, the reader uses raw pointers: the versions holding
//      the root and the bucket, and so everything they own, outlive it.
#include "snapcache/query_cache.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <map>
#include <memory>
#include <stdexcept>
#include <utility>

#include "snapcache/detail/striped_counter.hpp"
#include "snapcache/detail/test_hooks.hpp"
#include "snapcache/ebr.hpp"
#include "snapcache/hash.hpp"
#include "snapcache/hash_map.hpp"

namespace snapcache {
namespace detail {

using record_ptr = std::shared_ptr<const entry_record>;
using cell_ptr = std::shared_ptr<const void>;

// An entry as the indexes hold it. seq: compat mode's dict position (for the
// candidate tie order) or, in the heap, the push number; 0 in standard mode.
struct qc_item {
  record_ptr rec;
  std::uint64_t seq = 0;
};

using tptr = std::shared_ptr<const qc_node>;

// A node of a persistent treap: immutable once made; an update copies the
// path from the root to the change and shares everything else, so a state
// that holds the old root still sees the old tree.
struct qc_node {
  qc_node(qc_item v, tptr l, tptr r, std::uint64_t p) noexcept
      : value(std::move(v)),
        left(std::move(l)),
        right(std::move(r)),
        priority(p),
        size(1 + (left ? left->size : 0) + (right ? right->size : 0)) {}
  qc_item value;
  tptr left;
  tptr right;
  std::uint64_t priority;
  std::size_t size;
};

}  // namespace detail

namespace {

using detail::cell_ptr;
using detail::entry_record;
using detail::qc_item;
using detail::qc_node;
using detail::record_ptr;
using detail::tptr;

// ---- persistent treap -------------------------------------------------------
// Keys are unique in every tree (see the orders below), so erase finds
// exactly the item it is given. Expected depth O(log n); recursion depth is
// the depth. Every function may throw std::bad_alloc; the trees it was given
// are unchanged (they are immutable) and partial results are freed.

std::size_t tsize(const tptr& t) noexcept { return t ? t->size : 0; }

// A pseudo-random priority per item, from its record's address and seq.
std::uint64_t priority_of(const qc_item& v) noexcept {
  return detail::mix64(reinterpret_cast<std::uintptr_t>(v.rec.get()) ^ (v.seq * 0x9E3779B97F4A7C15ULL));
}

tptr node(const qc_item& v, tptr l, tptr r, std::uint64_t p) {
  return std::make_shared<const qc_node>(v, std::move(l), std::move(r), p);
}

// (items < key, items >= key)
template <class Less>
std::pair<tptr, tptr> tsplit(const tptr& t, const qc_item& key, const Less& less) {
  if (!t) return {};
  if (less(t->value, key)) {
    auto [l, r] = tsplit(t->right, key, less);
    return {node(t->value, t->left, std::move(l), t->priority), std::move(r)};
  }
  auto [l, r] = tsplit(t->left, key, less);
  return {std::move(l), node(t->value, std::move(r), t->right, t->priority)};
}

// Every item of a precedes every item of b.
tptr tmerge(const tptr& a, const tptr& b) {
  if (!a) return b;
  if (!b) return a;
  if (a->priority > b->priority) return node(a->value, a->left, tmerge(a->right, b), a->priority);
  return node(b->value, tmerge(a, b->left), b->right, b->priority);
}

template <class Less>
tptr tinsert(const tptr& t, const qc_item& v, std::uint64_t p, const Less& less) {
  if (!t || p > t->priority) {
    auto [l, r] = tsplit(t, v, less);
    return node(v, std::move(l), std::move(r), p);
  }
  if (less(v, t->value)) return node(t->value, tinsert(t->left, v, p, less), t->right, t->priority);
  return node(t->value, t->left, tinsert(t->right, v, p, less), t->priority);
}

template <class Less>
tptr tinsert(const tptr& t, const qc_item& v, const Less& less) {
  return tinsert(t, v, priority_of(v), less);
}

// t without the item whose key equals v's (t itself if there is none).
template <class Less>
tptr terase(const tptr& t, const qc_item& v, const Less& less) {
  if (!t) return t;
  if (less(v, t->value)) {
    tptr l = terase(t->left, v, less);
    return l == t->left ? t : node(t->value, std::move(l), t->right, t->priority);
  }
  if (less(t->value, v)) {
    tptr r = terase(t->right, v, less);
    return r == t->right ? t : node(t->value, t->left, std::move(r), t->priority);
  }
  return tmerge(t->left, t->right);
}

const qc_item& tfirst(const tptr& t) noexcept {  // t non-empty
  const qc_node* n = t.get();
  while (n->left) n = n->left.get();
  return n->value;
}

// In-order traversal with an explicit stack of the ancestors still to visit.
class twalk {
 public:
  explicit twalk(const qc_node* root) { descend(root); }
  [[nodiscard]] const qc_node* current() const noexcept { return path_.empty() ? nullptr : path_.back(); }
  void next() {
    const qc_node* n = path_.back();
    path_.pop_back();
    descend(n->right.get());
  }

 private:
  void descend(const qc_node* n) {
    for (; n != nullptr; n = n->left.get()) path_.push_back(n);
  }
  std::vector<const qc_node*> path_;
};

// ---- the orders (all strict and total on the items a tree holds) --------

// Standard eviction order: oldest first. Entries have unique ids: unique keys.
struct age_order {
  bool operator()(const qc_item& a, const qc_item& b) const noexcept {
    return detail::older(a.rec->entry, b.rec->entry);
  }
};

// compat heap order: the original's tuples (submitted_at, id) ascending; the
// push number separates equal tuples, which are indistinguishable to the
// original (it pops equal values), so the pops are the same.
struct heap_order {
  bool operator()(const qc_item& a, const qc_item& b) const noexcept {
    const query_entry& x = a.rec->entry;
    const query_entry& y = b.rec->entry;
    if (x.submitted_at != y.submitted_at) return x.submitted_at < y.submitted_at;
    if (const int c = x.id.compare(y.id); c != 0) return c < 0;
    return a.seq < b.seq;
  }
};

// Candidate order: ids (standard) and dict positions (compat) are unique.
struct completion_order {
  cache_mode mode;
  bool operator()(const qc_item& a, const qc_item& b) const noexcept {
    return detail::candidate_before(a.rec->entry, a.seq, b.rec->entry, b.seq, mode);
  }
};

// ---- cells ----------------------------------------------------------------

// Entries whose id hashes to the bucket, at most one per id.
struct id_bucket {
  std::vector<qc_item> items;
};

// The candidates answering one normal form, in candidate order, and the
// first of them (what an unlimited lookup needs).
struct text_group {
  tptr members;
  qc_item first;
};

// The groups whose normal form hashes to the bucket, at most one per text.
struct text_bucket {
  std::vector<text_group> groups;
};

// One cell write of a descriptor: insert when the cell was absent, else
// compare_and_replace from the value the state's `replaced` lists for it.
struct cell_change {
  std::uint64_t key;
  bool was_absent;
  cell_ptr fresh;
};

constexpr std::uint64_t root_key = 0;
constexpr std::uint64_t id_tag = std::uint64_t{1} << 62;
constexpr std::uint64_t text_tag = std::uint64_t{2} << 62;

}  // namespace

namespace detail {

// The values a descriptor replaces, in the order of its changes (null where
// the cell was absent). Held only until every cell is written, then retired
// (P6): the last entries they hold go with them.
struct replaced_values final : ebr::retirable {
  std::vector<cell_ptr> values;
  static void reclaim(ebr::retirable* r) noexcept { delete static_cast<replaced_values*>(r); }
};

// The root cell's value: the cache at one instant (see P1-P6 above).
struct qc_state {
  qc_state() = default;
  qc_state(const qc_state&) = delete;
  qc_state& operator=(const qc_state&) = delete;
  // Not written in full: never published, or its post-publish help ran out
  // of memory (P5) and no writer came after.
  ~qc_state() { delete replaced.load(std::memory_order_seq_cst); }

  std::size_t capacity = 0;
  std::size_t count = 0;        // entries held
  std::uint64_t next_seq = 1;   // compat: dict positions and heap push numbers
  tptr by_age;                  // standard: every entry, oldest first
  tptr by_completion;           // every candidate, candidate order
  tptr heap;                    // compat: the original's heap, stale items included
  std::vector<cell_change> changes;  // the descriptor, sorted by key
  mutable std::atomic<replaced_values*> replaced{nullptr};  // null once every cell is written (P6)
  // Set once every cell of `changes` is written, so that later writers skip
  // helping. Only a shortcut: helping again is harmless (P4).
  mutable std::atomic<bool> written{false};
};

}  // namespace detail

using detail::qc_state;
using detail::replaced_values;

struct query_cache::impl {
  using map_type = hash_map<std::uint64_t, cell_ptr>;
  using snapshot_type = map_type::snapshot_type;

  impl(std::size_t capacity, cache_mode m)
      : mode(m),
        bucket_mask(std::bit_ceil(std::clamp<std::size_t>(capacity, 64, std::size_t{1} << 18)) - 1),
        id_seed(make_hash_seed()),
        text_seed(make_hash_seed()),
        cells(2 * (bucket_mask + 1)) {
    auto root = std::make_shared<qc_state>();
    root->capacity = capacity;
    cells.insert(root_key, cell_ptr(std::move(root)));
  }

  std::uint64_t id_key(std::string_view id) const noexcept {
    return id_tag | (detail::hash_bytes(id.data(), id.size(), id_seed) & bucket_mask);
  }
  std::uint64_t text_key(std::string_view text) const noexcept {
    return text_tag | (detail::hash_bytes(text.data(), text.size(), text_seed) & bucket_mask);
  }

  static std::shared_ptr<const qc_state> root_at(const snapshot_type& snap) {
    std::optional<cell_ptr> root = snap.find(root_key);  // always present
    return std::static_pointer_cast<const qc_state>(std::move(*root));
  }

  // The change root's descriptor makes to cell `key`, or null.
  static const cell_change* change_of(const qc_state& root, std::uint64_t key) noexcept {
    const auto it = std::lower_bound(root.changes.begin(), root.changes.end(), key,
                                     [](const cell_change& c, std::uint64_t k) { return c.key < k; });
    return it != root.changes.end() && it->key == key ? &*it : nullptr;
  }

  // A cell's value in the state after `root`, read at `snap` (P2, P4).
  static cell_ptr read_cell(const snapshot_type& snap, const qc_state& root, std::uint64_t key) {
    if (const cell_change* c = change_of(root, key)) return c->fresh;
    std::optional<cell_ptr> value = snap.find(key);
    return value ? std::move(*value) : cell_ptr();
  }

  // Writes every cell of a descriptor (P3), then retires the values it
  // replaced (P6). Idempotent; may throw std::bad_alloc, leaving some cells
  // written.
  void help(const qc_state& state) {
    if (state.written.load(std::memory_order_acquire)) return;  // (Q2) acquire: pairs with (Q1)
    const auto g = ebr::domain::global().pin();
    replaced_values* replaced = state.replaced.load(std::memory_order_seq_cst);
    if (replaced == nullptr) return;  // written, and retired (P6)
    for (std::size_t i = 0; i < state.changes.size(); ++i) {
      const cell_change& c = state.changes[i];
      if (c.was_absent) {
        cells.insert(c.key, c.fresh);  // fails harmlessly if already written
      } else {
        cells.compare_and_replace(c.key, replaced->values[i], c.fresh);  // fails harmlessly if already written
      }
    }
    // (Q1) release: every cell write above happens-before a writer that
    // reads true at (Q2) and skips helping.
    state.written.store(true, std::memory_order_release);  // (Q1) pairs with (Q2)
    if (replaced_values* mine = state.replaced.exchange(nullptr, std::memory_order_seq_cst)) {
      g.retire(mine, &replaced_values::reclaim);
    }
  }

  // The current root, raw: valid while the caller stays pinned (R1).
  const qc_state* root_pinned() const {
    const qc_state* root = nullptr;
    cells.visit(root_key, [&](const cell_ptr& p) { root = static_cast<const qc_state*>(p.get()); });
    return root;
  }

  // Calls f(root, bucket) with the root and the bucket of `key` in the
  // state after that root (null: no bucket), pinned, without a snapshot
  // (R1). Returns f's result.
  template <class F>
  auto read_consistent(std::uint64_t key, F&& f) const {
    const auto g = ebr::domain::global().pin();  // the map's domain (R1)
    const qc_state* root = root_pinned();
    for (;;) {
      SNAPCACHE_PERTURB();  // a writer may publish between the two reads
      const void* bucket = nullptr;
      if (const cell_change* c = change_of(*root, key)) {
        bucket = c->fresh.get();
      } else {
        cells.visit(key, [&](const cell_ptr& p) { bucket = p.get(); });
      }
      if (detail::is_planted(detail::planted_bug::cache_read_without_recheck)) return f(*root, bucket);
      const qc_state* again = root_pinned();
      if (again == root) return f(*root, bucket);
      root = again;  // a writer published meanwhile
    }
  }

  template <class F>
  void with_root(F&& f) const {
    cells.visit(root_key, [&](const cell_ptr& p) { f(*static_cast<const qc_state*>(p.get())); });
  }

  const cache_mode mode;
  const std::uint64_t bucket_mask;
  const std::uint64_t id_seed;
  const std::uint64_t text_seed;
  map_type cells;

  // Statistics only: relaxed striped counters (see the header's contract).
  mutable detail::striped_counter lookups, hits, misses, inspections;
  detail::striped_counter inserts, replacements, evictions, drops;
};

namespace {

using impl_type = query_cache::impl;

// One writer's private view and changes: the state after the root it read
// (P2), modified in place; publish() makes the new root with its descriptor.
class txn {
 public:
  txn(const impl_type& cache, const impl_type::snapshot_type& snap, const qc_state& base)
      : capacity(base.capacity),
        count(base.count),
        next_seq(base.next_seq),
        by_age(base.by_age),
        by_completion(base.by_completion),
        heap(base.heap),
        cache_(cache),
        snap_(snap),
        base_(base),
        completion_{cache.mode} {}

  std::size_t capacity;
  std::size_t count;
  std::uint64_t next_seq;
  tptr by_age;
  tptr by_completion;
  tptr heap;
  std::uint64_t inserts = 0, replacements = 0, evictions = 0, drops = 0;
  bool changed = false;

  [[nodiscard]] std::optional<qc_item> find(std::string_view id) {
    const id_work& w = ids(cache_.id_key(id));
    for (const qc_item& item : w.items) {
      if (item.rec->entry.id == id) return item;
    }
    return std::nullopt;
  }

  // Indexes an entry whose id is not held.
  void add(const qc_item item) {
    changed = true;
    id_work& w = ids(cache_.id_key(item.rec->entry.id));
    w.items.push_back(item);
    w.dirty = true;
    if (cache_.mode == cache_mode::standard) by_age = tinsert(by_age, item, age_order{});
    if (!item.rec->candidate) return;
    by_completion = tinsert(by_completion, item, completion_);
    if (!item.rec->match) return;
    text_work& t = texts(cache_.text_key(*item.rec->match));
    auto group = find_group(t, *item.rec->match);
    if (group == t.groups.end()) {
      t.groups.push_back(text_group{});
      group = std::prev(t.groups.end());
    }
    group->members = tinsert(group->members, item, completion_);
    group->first = tfirst(group->members);
    t.dirty = true;
  }

  // Removes an entry that is held, given as find() returned it. By value:
  // the caller's item may live in a tree or bucket this call replaces.
  void remove(const qc_item item) {
    changed = true;
    id_work& w = ids(cache_.id_key(item.rec->entry.id));
    std::erase_if(w.items, [&](const qc_item& i) { return i.rec == item.rec; });
    w.dirty = true;
    if (cache_.mode == cache_mode::standard) by_age = terase(by_age, item, age_order{});
    if (!item.rec->candidate) return;
    by_completion = terase(by_completion, item, completion_);
    if (!item.rec->match) return;
    text_work& t = texts(cache_.text_key(*item.rec->match));
    auto group = find_group(t, *item.rec->match);
    group->members = terase(group->members, item, completion_);
    if (group->members) {
      group->first = tfirst(group->members);
    } else {
      t.groups.erase(group);
    }
    t.dirty = true;
  }

  // The new root: this txn's fields and the descriptor of its dirty cells,
  // sorted by key (all id keys sort before all text keys). Consumes the txn.
  std::shared_ptr<const qc_state> publish() {
    auto next = std::make_shared<qc_state>();
    next->capacity = capacity;
    next->count = count;
    next->next_seq = next_seq;
    next->by_age = by_age;
    next->by_completion = by_completion;
    next->heap = heap;
    auto replaced = std::make_unique<replaced_values>();
    for (auto& [key, w] : ids_) {
      if (!w.dirty) continue;
      next->changes.push_back({key, !w.base, std::make_shared<const id_bucket>(id_bucket{std::move(w.items)})});
      replaced->values.push_back(std::move(w.base));
    }
    for (auto& [key, w] : texts_) {
      if (!w.dirty) continue;
      next->changes.push_back({key, !w.base, std::make_shared<const text_bucket>(text_bucket{std::move(w.groups)})});
      replaced->values.push_back(std::move(w.base));
    }
    next->replaced.store(replaced.release(), std::memory_order_seq_cst);  // published with the state (the root CAS)
    return next;
  }

 private:
  struct id_work {
    cell_ptr base;
    std::vector<qc_item> items;
    bool dirty = false;
  };
  struct text_work {
    cell_ptr base;
    std::vector<text_group> groups;
    bool dirty = false;
  };

  id_work& ids(std::uint64_t key) {
    auto it = ids_.find(key);
    if (it != ids_.end()) return it->second;
    id_work w;
    w.base = impl_type::read_cell(snap_, base_, key);
    if (w.base) w.items = static_cast<const id_bucket*>(w.base.get())->items;
    return ids_.emplace(key, std::move(w)).first->second;
  }

  text_work& texts(std::uint64_t key) {
    auto it = texts_.find(key);
    if (it != texts_.end()) return it->second;
    text_work w;
    w.base = impl_type::read_cell(snap_, base_, key);
    if (w.base) w.groups = static_cast<const text_bucket*>(w.base.get())->groups;
    return texts_.emplace(key, std::move(w)).first->second;
  }

  static std::vector<text_group>::iterator find_group(text_work& t, const std::string& text) {
    return std::find_if(t.groups.begin(), t.groups.end(),
                        [&](const text_group& g) { return *g.first.rec->match == text; });
  }

  const impl_type& cache_;
  const impl_type::snapshot_type& snap_;
  const qc_state& base_;
  completion_order completion_;
  std::map<std::uint64_t, id_work> ids_;
  std::map<std::uint64_t, text_work> texts_;
};

// Runs a write: op(txn&) computes the change on a private view; if it
// changed anything, the result is published (P2, P3, P5). Returns op's
// result. If op throws, nothing was published.
template <class Op>
auto write(impl_type& cache, Op&& op) {
  for (;;) {
    std::shared_ptr<const qc_state> base;
    std::shared_ptr<const qc_state> next;
    std::uint64_t inserts = 0, replacements = 0, evictions = 0, drops = 0;
    std::optional<decltype(op(std::declval<txn&>()))> result;
    {
      const auto snap = cache.cells.snapshot();
      base = impl_type::root_at(snap);
      txn t(cache, snap, *base);
      result.emplace(op(t));
      if (!t.changed) {  // read-only (an absent id, every entry dropped): linearizes at the snapshot
        cache.drops.add(static_cast<std::int64_t>(t.drops));
        return std::move(*result);
      }
      inserts = t.inserts;
      replacements = t.replacements;
      evictions = t.evictions;
      drops = t.drops;
      next = t.publish();
    }
    cache.help(*base);
    if (cache.cells.compare_and_replace(root_key, cell_ptr(base), cell_ptr(next))) {  // the linearization point
      cache.inserts.add(static_cast<std::int64_t>(inserts));
      cache.replacements.add(static_cast<std::int64_t>(replacements));
      cache.evictions.add(static_cast<std::int64_t>(evictions));
      cache.drops.add(static_cast<std::int64_t>(drops));
      try {
        cache.help(*next);
      } catch (const std::bad_alloc&) {
        // Published: readers apply the descriptor; the next writer completes it (P5).
      }
      return std::move(*result);
    }
  }
}

// Standard mode: the entries in order, each as a single insert.
std::vector<insert_result> insert_standard(txn& t, const std::vector<record_ptr>& records) {
  std::vector<insert_result> results;
  results.reserve(records.size());
  for (const record_ptr& r : records) {
    const qc_item item{r, 0};
    if (auto held = t.find(r->entry.id)) {
      t.remove(*held);  // replaced in its slot: no eviction
      t.add(item);
      ++t.replacements;
      results.push_back(insert_result::replaced);
    } else if (t.count < t.capacity) {
      t.add(item);
      ++t.count;
      ++t.inserts;
      results.push_back(insert_result::admitted);
    } else {
      const qc_item oldest = tfirst(t.by_age);  // count >= capacity > 0: not empty
      if (detail::older(oldest.rec->entry, r->entry)) {
        t.remove(oldest);
        ++t.evictions;
        t.add(item);
        ++t.inserts;
        results.push_back(insert_result::admitted);
      } else {
        ++t.drops;
        results.push_back(insert_result::dropped);
      }
    }
  }
  return results;
}

// compat mode: the original's update_cache, step by step (numbers as in
// docs/query-cache.md).
std::vector<insert_result> insert_compat(txn& t, const std::vector<record_ptr>& records) {
  std::vector<insert_result> results(records.size(), insert_result::dropped);
  // 1. Filter against the current entry of the id on the heap's top.
  std::vector<std::size_t> kept;
  kept.reserve(records.size());
  std::optional<qc_item> top_entry;
  if (t.heap) top_entry = t.find(tfirst(t.heap).rec->entry.id);
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (!top_entry || records[i]->entry.submitted_at > top_entry->rec->entry.submitted_at) kept.push_back(i);
  }
  // 2. Pop k = size + remaining - capacity heap items, or fail as the
  // original did (it emptied its heap, then raised IndexError).
  const std::size_t total = t.count + kept.size();
  const std::size_t k = total > t.capacity ? total - t.capacity : 0;
  if (k > tsize(t.heap)) {
    throw std::length_error("query cache (compat): the batch needs more evictions than the heap holds");
  }
  if (k > 0) t.changed = true;
  for (std::size_t i = 0; i < k; ++i) {
    const qc_item top = tfirst(t.heap);
    t.heap = terase(t.heap, top, heap_order{});
    if (auto held = t.find(top.rec->entry.id)) {  // a stale item removes nothing
      t.remove(*held);
      --t.count;
      ++t.evictions;
    }
  }
  // 3. Insert the first `capacity` remaining items in order.
  const std::size_t admitted = std::min(kept.size(), t.capacity);
  for (std::size_t j = 0; j < admitted; ++j) {
    const record_ptr& r = records[kept[j]];
    t.heap = tinsert(t.heap, qc_item{r, t.next_seq++}, heap_order{});
    t.changed = true;
    if (auto held = t.find(r->entry.id)) {
      t.remove(*held);
      t.add(qc_item{r, held->seq});  // an overwrite keeps its dict position
      ++t.replacements;
      results[kept[j]] = insert_result::replaced;
    } else {
      t.add(qc_item{r, t.next_seq++});
      ++t.count;
      ++t.inserts;
      results[kept[j]] = insert_result::admitted;
    }
  }
  t.drops += records.size() - admitted;
  return results;
}

}  // namespace

// ---- query_cache ------------------------------------------------------------

query_cache::query_cache(std::size_t capacity, cache_mode mode) : mode_(mode) {
  detail::check_capacity(capacity);
  impl_ = std::make_unique<impl>(capacity, mode);
}

query_cache::~query_cache() = default;

insert_result query_cache::insert(const query_entry& e) { return insert(std::span<const query_entry>(&e, 1)).front(); }

std::vector<insert_result> query_cache::insert(std::span<const query_entry> batch) {
  // Records (and their normal forms) are made once, outside the retry loop.
  std::vector<record_ptr> records;
  records.reserve(batch.size());
  for (const query_entry& e : batch) records.push_back(entry_record::make(e, mode_));
  return write(*impl_, [&](txn& t) {
    return mode_ == cache_mode::standard ? insert_standard(t, records) : insert_compat(t, records);
  });
}

bool query_cache::erase(std::string_view id) {
  return write(*impl_, [&](txn& t) {
    auto held = t.find(id);
    if (!held) return false;
    t.remove(*held);
    --t.count;
    return true;
  });
}

bool query_cache::contains(std::string_view id) const { return find(id).has_value(); }

std::optional<query_entry> query_cache::find(std::string_view id) const {
  return impl_->read_consistent(impl_->id_key(id), [&](const qc_state&, const void* cell) -> std::optional<query_entry> {
    if (cell == nullptr) return std::nullopt;
    for (const qc_item& item : static_cast<const id_bucket*>(cell)->items) {
      if (item.rec->entry.id == id) return item.rec->entry;
    }
    return std::nullopt;
  });
}

std::optional<cache_hit> query_cache::lookup(std::string_view sql, cache_clock::duration max_age,
                                             std::size_t max_inspections, cache_clock::time_point now) const {
  detail::check_inspections(max_inspections);
  std::optional<cache_hit> hit;
  std::size_t examined = 0;
  if (max_age > cache_clock::duration::zero()) {  // otherwise caching is disabled: a miss, nothing examined
    const std::string key = detail::normal_form(sql, mode_);
    impl_->read_consistent(impl_->text_key(key), [&](const qc_state& state, const void* cell) {
      const qc_state* root = &state;
      const text_group* group = nullptr;
      if (cell != nullptr) {
        for (const text_group& g : static_cast<const text_bucket*>(cell)->groups) {
          if (*g.first.rec->match == key) {
            group = &g;
            break;
          }
        }
      }
      if (group != nullptr) {
        // m is the first match in candidate order: every candidate before it
        // is fresher and not a hit, so the original's walk reaches m after
        // exactly rank(m) non-hits, and m decides the outcome.
        const record_ptr& m = group->first.rec;
        if (now - *m->entry.completed_at > max_age) {
          examined = 1;  // the walk would stop at m or before: too old
        } else if (max_inspections == unlimited) {
          examined = 1;
          hit = detail::make_hit(*m);
        } else {
          for (twalk w(root->by_completion.get()); w.current() != nullptr; w.next()) {
            ++examined;
            if (w.current()->value.rec == m) {
              hit = detail::make_hit(*m);
              break;
            }
            if (examined >= max_inspections) break;
          }
        }
      }
    });
  }
  impl_->inspections.add(static_cast<std::int64_t>(examined));
  (hit ? impl_->hits : impl_->misses).add(1);
  impl_->lookups.add(1);
  return hit;
}

query_cache::candidate_view query_cache::candidates() const {
  const std::optional<cell_ptr> cell = impl_->cells.find(root_key);  // the view's instant
  const auto* root = static_cast<const qc_state*>(cell->get());
  return candidate_view(root->by_completion, tsize(root->by_completion));
}

void query_cache::set_capacity(std::size_t n) {
  detail::check_capacity(n);
  write(*impl_, [&](txn& t) {
    if (t.capacity != n) {
      t.capacity = n;
      t.changed = true;
    }
    if (mode_ == cache_mode::compat) return 0;  // compat evicts at its next batch
    while (t.count > t.capacity) {
      const qc_item oldest = tfirst(t.by_age);
      t.remove(oldest);
      --t.count;
      ++t.evictions;
    }
    return 0;
  });
}

std::size_t query_cache::capacity() const {
  std::size_t n = 0;
  impl_->with_root([&](const qc_state& root) { n = root.capacity; });
  return n;
}

std::size_t query_cache::size() const {
  std::size_t n = 0;
  impl_->with_root([&](const qc_state& root) { n = root.count; });
  return n;
}

cache_stats query_cache::stats() const noexcept {
  const auto read = [](const detail::striped_counter& c) {
    const std::int64_t v = c.sum();
    return v > 0 ? static_cast<std::uint64_t>(v) : 0;
  };
  cache_stats s;
  s.lookups = read(impl_->lookups);
  s.hits = read(impl_->hits);
  s.misses = read(impl_->misses);
  s.inserts = read(impl_->inserts);
  s.replacements = read(impl_->replacements);
  s.evictions = read(impl_->evictions);
  s.drops = read(impl_->drops);
  s.inspections = read(impl_->inspections);
  s.internals = impl_->cells.stats();
  return s;
}

// ---- candidate_view ---------------------------------------------------------

query_cache::candidate_view::iterator::iterator(const detail::qc_node* root) { descend_left(root); }

void query_cache::candidate_view::iterator::descend_left(const detail::qc_node* n) {
  for (; n != nullptr; n = n->left.get()) path_.push_back(n);
}

const query_entry& query_cache::candidate_view::iterator::operator*() const noexcept {
  return path_.back()->value.rec->entry;
}

query_cache::candidate_view::iterator& query_cache::candidate_view::iterator::operator++() {
  const detail::qc_node* n = path_.back();
  path_.pop_back();
  descend_left(n->right.get());
  return *this;
}

}  // namespace snapcache
