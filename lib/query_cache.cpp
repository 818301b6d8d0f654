// snapcache::query_cache: the lock-free cache. Concept and contract are in
// the header; this file holds the indexes, the write transaction and the
// publish protocol, with the argument for each step next to it.
//
// Protocol, in one place (each step refers back here as P1..P5, readers R1):
//  P1  The cache at one instant is one immutable qc_state, reached through
//      the atomic pointer `root`. A state and every index object it reaches
//      (the nodes of the eviction order, of compat's heap and of each text's
//      group; the nodes and buckets of the id and text indexes) are never
//      changed once published. None of them owns another: each is owned by
//      the states that reach it, and freed through EBR (P4). The one
//      exception is the candidate order, whose nodes a candidate_view keeps
//      after every pin has ended (it may outlive the cache): those are
//      reference-counted, and a state holds one reference to its root.
//  P2  A writer pins the global EBR domain (once per attempt: between
//      attempts it holds nothing back), reads the root R and computes the
//      new state R' in a txn: it copies what it changes (path copying) and
//      shares everything else with R. What it allocates is its own ("fresh")
//      until it publishes, so a second change to the same node or bucket
//      edits the copy in place instead of copying again. Every object of R
//      that R' no longer reaches is listed ("dropped"); a fresh object that
//      the txn stops reaching is freed at once (nobody else ever saw it).
//  P3  It publishes with compare_exchange(root, R, R'): the linearization
//      point. If the root is no longer R another writer published: the txn
//      frees every fresh object and the writer starts again from the new
//      root (lock-free: a retry means someone else's write succeeded).
//  P4  After publishing, R and the objects R' dropped are retired as one
//      bag through the writer's guard, freed in steps (retire_in_steps: one
//      object, or one candidate-order node whose last reference a freed
//      object held, per unit of a step's budget). No state after R reaches them (roots
//      are only replaced by states built from them), and every thread that
//      could still read them was pinned before the retirement, so EBR frees
//      them only after every such reader has unpinned. Each object is
//      dropped by exactly one published txn, so it is freed once; at any
//      time an object is either reached by the current root or in one bag.
//  P5  Everything a write allocates, the bag and its list included, is
//      allocated before the compare_exchange; after it nothing allocates or
//      throws (the intrusive retire is noexcept). So a write that throws
//      (std::bad_alloc, compat's std::length_error) changed nothing: the
//      strong exception guarantee.
//  R1  Readers (lookup, contains, find, candidates, size, capacity) pin the
//      global domain, load the root once and read only from that state: it
//      is immutable and, by P4, cannot be freed while they stay pinned. The
//      load of the root is their linearization point. They write nothing
//      but the pin (and the per-thread striped statistics).
//  H1  Helping: a write that lost `announce_after` races (a standard batch or
//      capacity change) publishes a state whose `pending` names it; a txn
//      built on a state with a pending write applies it first (its results
//      go into the new state, `applied_results`), then its own change. No
//      state drops a pending write, so it is applied exactly once, at the
//      first publication after its announcement, and every writer that sees
//      it pending helps. Its announcer returns the results it finds in a
//      root whose `applied_id` is its id, then marks it claimed; no write is
//      announced until the last one's results are claimed. An announcer that
//      cannot apply it (std::bad_alloc) withdraws it by publishing a state
//      that marks it applied without results, unless a helper applied it.
//  Orders: (Q1) the publishing compare_exchange and (Q2) every load of the
//  root are seq_cst: the root is a pointer EBR protects, and the protection
//  rule needs seq_cst on both sides (detail/orders.hpp). As release and
//  acquire they also make everything a writer built — records, nodes,
//  buckets, the cleared fresh marks — happen-before any use of the state.
#include "snapcache/query_cache.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <memory>
#include <stdexcept>
#include <thread>
#include <utility>

#include "snapcache/detail/block_cache.hpp"
#include "snapcache/detail/small_vector.hpp"
#include "snapcache/detail/striped_counter.hpp"
#include "snapcache/detail/test_hooks.hpp"
#include "snapcache/ebr.hpp"
#include "snapcache/hash.hpp"
#include "snapcache/heap_bytes.hpp"

namespace snapcache {
namespace detail {

using record_ptr = std::shared_ptr<const entry_record>;

// An entry as the counted indexes hold it (the candidate order, compat's
// heap, the id buckets): owning. seq: compat mode's dict position (for the
// candidate tie order) or, in the heap, the push number; 0 in standard mode.
struct qc_item {
  record_ptr rec;
  std::uint64_t seq = 0;
};

using tptr = node_ref;

// A node of the candidate order: a persistent treap with counted links
// (P1: views hold it past every pin). Immutable once shared; an update copies
// the path from the root to the change and shares everything else. Counted
// intrusively, so that freeing a tree is a loop that can stop anywhere
// (release() and the bounded dismantling of retired states, P4).
struct qc_node {
  qc_node(qc_item v, tptr l, tptr r, std::uint64_t p) noexcept
      : value(std::move(v)),
        left(std::move(l)),
        right(std::move(r)),
        priority(p),
        size(1 + (left ? left->size : 0) + (right ? right->size : 0)) {}
  static void* operator new(std::size_t) { return allocate_block<sizeof(qc_node)>(); }
  static void operator delete(void* p) noexcept { free_block<sizeof(qc_node)>(p); }

  qc_item value;
  tptr left;
  tptr right;
  std::uint64_t priority;
  std::size_t size;
  // References: the parents, states and views that hold it. acq_rel on the
  // decrement (as shared_ptr): the last holder sees every other's writes.
  mutable std::atomic<std::uint32_t> refs{1};
  mutable const qc_node* next_dead = nullptr;  // a stack of nodes whose count reached 0
};

void retain(const qc_node* node) noexcept {
  node->refs.fetch_add(1, std::memory_order_relaxed);  // the caller holds one already: no race to zero
}

// Drops one reference; if it was the last, pushes the node on `dead`.
void release_into(const qc_node* node, const qc_node*& dead) noexcept {
  if (node != nullptr && node->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {  // see refs
    node->next_dead = dead;
    dead = node;
  }
}

// Frees the top node of `dead` (its children pushed there if it held their
// last references). O(1).
void free_one_dead(const qc_node*& dead) noexcept {
  auto* node = const_cast<qc_node*>(dead);  // count 0: nobody else reaches it
  dead = node->next_dead;
  release_into(node->left.detach(), dead);
  release_into(node->right.detach(), dead);
  delete node;
}

void release(const qc_node* node) noexcept {
  const qc_node* dead = nullptr;
  release_into(node, dead);
  while (dead != nullptr) free_one_dead(dead);
}

}  // namespace detail

namespace {

using detail::entry_record;
using detail::qc_item;
using detail::qc_node;
using detail::record_ptr;
using detail::tptr;

// An entry as the EBR-owned orders hold it: the eviction order and the text
// groups. Not owning: every state that reaches such an item also reaches the
// entry's id bucket, which owns the record (P1), and the bucket is freed no
// earlier than the item's node.
struct raw_item {
  const entry_record* rec = nullptr;
  std::uint64_t seq = 0;
};

raw_item raw(const qc_item& i) noexcept { return {i.rec.get(), i.seq}; }
const entry_record* record_of(const qc_item& i) noexcept { return i.rec.get(); }
const entry_record* record_of(const raw_item& i) noexcept { return i.rec; }

// An item of compat's heap: what the original's heap holds, (submitted_at,
// id), and the push number. No record: a stale item must not keep a replaced
// or erased entry (its payload) alive.
struct heap_item {
  cache_clock::time_point submitted_at;
  std::string id;
  std::uint64_t seq = 0;  // push number
};

// A pseudo-random treap priority per item, from its record's address and seq.
template <class Item>
std::uint64_t priority_of(const Item& v) noexcept {
  return detail::mix64(reinterpret_cast<std::uintptr_t>(record_of(v)) ^ (v.seq * 0x9E3779B97F4A7C15ULL));
}
// A heap item's: its push number (unique per cache).
inline std::uint64_t priority_of(const heap_item& v) noexcept { return detail::mix64(v.seq * 0x9E3779B97F4A7C15ULL); }

// ---- the orders (all strict and total on the items a tree holds) --------

// Standard eviction order: oldest first. Entries have unique ids: unique keys.
struct age_order {
  template <class Item>
  bool operator()(const Item& a, const Item& b) const noexcept {
    return detail::older(a.rec->entry, b.rec->entry);
  }
};

// compat heap order: the original's tuples (submitted_at, id) ascending; the
// push number separates equal tuples, which are indistinguishable to the
// original (it pops equal values), so the pops are the same.
struct heap_order {
  bool operator()(const heap_item& a, const heap_item& b) const noexcept {
    if (a.submitted_at != b.submitted_at) return a.submitted_at < b.submitted_at;
    if (const int c = a.id.compare(b.id); c != 0) return c < 0;
    return a.seq < b.seq;
  }
};

// Candidate order: ids (standard) and dict positions (compat) are unique.
struct completion_order {
  cache_mode mode;
  template <class A, class B>  // owning or raw items, in either position
  bool operator()(const A& a, const B& b) const noexcept {
    return detail::candidate_before(a.rec->entry, a.seq, b.rec->entry, b.seq, mode);
  }
};

// ---- the candidate order: a persistent treap with counted links ----------
// Keys are unique in every tree, so erase finds exactly the item it is given.
// Expected depth O(log n); recursion depth is the depth. Every function may
// throw std::bad_alloc; the trees it was given are unchanged (immutable) and
// partial results are freed.

std::size_t tsize(const tptr& t) noexcept { return t ? t->size : 0; }

// Single objects come from the thread's block cache (detail/block_cache.hpp):
// a write makes tens of nodes, and reclamation, which runs on the thread
// that retired them, hands the blocks back to the writer that freed them.
template <class T>
struct block_allocator {
  using value_type = T;
  block_allocator() = default;
  template <class U>
  explicit block_allocator(const block_allocator<U>&) noexcept {}
  // One or two objects (a node; a bucket's items, which are rarely more)
  // and the write's object lists (reserved at list_capacity) from the block
  // cache; other sizes from operator new.
  T* allocate(std::size_t n) {
    if (n == 1) return static_cast<T*>(detail::allocate_block<sizeof(T)>());
    if (n == 2) return static_cast<T*>(detail::allocate_block<2 * sizeof(T)>());
    if (n == list_capacity) return static_cast<T*>(detail::allocate_block<list_capacity * sizeof(T)>());
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n == 1) return detail::free_block<sizeof(T)>(p);
    if (n == 2) return detail::free_block<2 * sizeof(T)>(p);
    if (n == list_capacity) return detail::free_block<list_capacity * sizeof(T)>(p);
    std::allocator<T>().deallocate(p, n);
  }
  static constexpr std::size_t list_capacity = 512 / sizeof(void*);  // the largest block: 64 pointers
  template <class U>
  friend bool operator==(const block_allocator&, const block_allocator<U>&) noexcept {
    return true;
  }
};

tptr node(const qc_item& v, tptr l, tptr r, std::uint64_t p) {
  return tptr::adopt(new qc_node(v, std::move(l), std::move(r), p));
}

// The treap's algorithms, once, over an ownership policy: the counted
// candidate order (nodes shared by reference counts, every change a copy)
// and the EBR-owned trees below (nodes the write's arena made are changed
// in place, others copied and dropped). A Policy provides
//   link                     a tree: tptr, or a raw enode*
//   make(v, l, r, priority)  a new node
//   rebuild(t, l, r)         t's item and priority over children l and r
//   drop(t)                  t left the tree (erase)
// Keys are unique in every tree, so erase finds exactly the item it is
// given; a subtree that erase leaves unchanged is returned as it was.
template <class Policy>
struct treap {
  using link = typename Policy::link;
  // Raw links by value (no reload after each in-place change), counted
  // ones by reference (no count traffic).
  using in = std::conditional_t<std::is_pointer_v<link>, link, const link&>;
  Policy policy;

  // (items < key, items >= key)
  template <class Key, class Less>
  std::pair<link, link> split(in t, const Key& key, const Less& less) {
    if (!t) return {};
    if (less(t->value, key)) {
      auto [l, r] = split(t->right, key, less);
      return {policy.rebuild(t, t->left, std::move(l)), std::move(r)};
    }
    auto [l, r] = split(t->left, key, less);
    return {std::move(l), policy.rebuild(t, std::move(r), t->right)};
  }

  // Every item of a precedes every item of b.
  link merge(in a, in b) {
    if (!a) return b;
    if (!b) return a;
    if (a->priority > b->priority) return policy.rebuild(a, a->left, merge(a->right, b));
    return policy.rebuild(b, merge(a, b->left), b->right);
  }

  template <class Item, class Less>
  link insert(in t, const Item& v, std::uint64_t priority, const Less& less) {
    if (!t || priority > t->priority) {
      auto [l, r] = split(t, v, less);
      return policy.make(v, std::move(l), std::move(r), priority);
    }
    if (less(v, t->value)) return policy.rebuild(t, insert(t->left, v, priority, less), t->right);
    return policy.rebuild(t, t->left, insert(t->right, v, priority, less));
  }

  // t without the item whose key equals v's (t itself if there is none).
  template <class Key, class Less>
  link erase(in t, const Key& v, const Less& less) {
    if (!t) return t;
    if (less(v, t->value)) {
      link l = erase(t->left, v, less);
      return l == t->left ? t : policy.rebuild(t, std::move(l), t->right);
    }
    if (less(t->value, v)) {
      link r = erase(t->right, v, less);
      return r == t->right ? t : policy.rebuild(t, t->left, std::move(r));
    }
    link merged = merge(t->left, t->right);
    policy.drop(t);
    return merged;
  }
};

// The candidate order: every change copies the path (nodes are shared).
struct counted_policy {
  using link = tptr;
  static tptr make(const qc_item& v, tptr l, tptr r, std::uint64_t priority) { return node(v, std::move(l), std::move(r), priority); }
  static tptr rebuild(const tptr& t, tptr l, tptr r) { return node(t->value, std::move(l), std::move(r), t->priority); }
  static void drop(const tptr&) noexcept {}  // its references go with the last holder
};

template <class Less>
tptr tinsert(const tptr& t, const qc_item& v, std::uint64_t p, const Less& less) {
  return treap<counted_policy>{}.insert(t, v, p, less);
}

template <class Key, class Less>
tptr terase(const tptr& t, const Key& v, const Less& less) {
  return treap<counted_policy>{}.erase(t, v, less);
}

// ---- EBR-owned objects (P1) ------------------------------------------------

// Base of every object a state reaches except the candidate order's nodes.
// Destroying one never destroys another: links between them are raw.
struct qc_obj {
  qc_obj() = default;
  qc_obj(const qc_obj&) = delete;
  qc_obj& operator=(const qc_obj&) = delete;
  virtual ~qc_obj() = default;
  // Before a retired object is deleted (P4): the candidate-order references
  // it holds are dropped into `dead` instead of freed in its destructor, so
  // that freeing a large tree is split across reclamation steps.
  virtual void drop_counted(const qc_node*& dead) noexcept { (void)dead; }
  // Its heap size, for reclamation's byte bound.
  [[nodiscard]] virtual std::size_t footprint() const noexcept = 0;
  // Made by a txn that has not published it, so that txn may change it: a
  // txn reaches only published objects and its own (P2). Cleared before the
  // publishing compare_exchange.
  bool fresh = false;
  std::uint32_t fresh_index = 0;  // its place in its txn's list of fresh objects
};

// The allocation of each kind of qc_obj: the thread's block cache, as for
// the candidate order's nodes.
template <class T>
struct from_block_cache {
  static void* operator new(std::size_t) { return detail::allocate_block<sizeof(T)>(); }
  static void operator delete(void* p) noexcept { detail::free_block<sizeof(T)>(p); }
};

// A node of an EBR-owned persistent treap (the eviction order, compat's heap,
// a text group). No size: nothing asks these trees for their rank.
template <class Item>
struct enode final : qc_obj, from_block_cache<enode<Item>> {
  enode(Item v, enode* l, enode* r, std::uint64_t p) noexcept : value(std::move(v)), left(l), right(r), priority(p) {}
  // Copies the item: may throw for compat's heap items (their id).
  enode(const enode& from) noexcept(std::is_nothrow_copy_constructible_v<Item>)
      : enode(from.value, from.left, from.right, from.priority) {}
  [[nodiscard]] std::size_t footprint() const noexcept override { return sizeof(enode); }
  Item value;
  enode* left;
  enode* right;
  std::uint64_t priority;
};

// A node of a radix index: 32 children, each a node of the next level or, at
// the last level, a bucket; null where nothing hashes below.
constexpr unsigned radix_bits = 5;  // 272-byte nodes: the block cache holds them
constexpr std::uint64_t radix_mask = (std::uint64_t{1} << radix_bits) - 1;
struct rnode final : qc_obj, from_block_cache<rnode> {
  rnode() noexcept { std::fill(std::begin(child), std::end(child), nullptr); }
  rnode(const rnode& from) noexcept : qc_obj() { std::copy(std::begin(from.child), std::end(from.child), child); }
  [[nodiscard]] std::size_t footprint() const noexcept override { return sizeof(rnode); }
  qc_obj* child[std::size_t{1} << radix_bits];
};

// Entries whose id hashes to the bucket, at most one per id. Owns its
// records (P1).
struct id_bucket final : qc_obj, from_block_cache<id_bucket> {
  id_bucket() = default;
  id_bucket(const id_bucket& from) : qc_obj(), items(from.items) {}
  [[nodiscard]] std::size_t footprint() const noexcept override {
    return sizeof(id_bucket) + (items.size() > 2 ? items.size() * sizeof(qc_item) : 0);
  }
  detail::small_vector<qc_item, 2> items;  // inline: a bucket is one line to read, one block to copy
};

// The candidates answering one normal form, in candidate order, and the
// first of them (what an unlimited lookup needs).
struct text_group {
  enode<raw_item>* members = nullptr;
  raw_item first;
};

// The groups whose normal form hashes to the bucket, at most one per text.
struct text_bucket final : qc_obj, from_block_cache<text_bucket> {
  text_bucket() = default;
  text_bucket(const text_bucket& from) : qc_obj(), groups(from.groups) {}
  [[nodiscard]] std::size_t footprint() const noexcept override {
    return sizeof(text_bucket) + (groups.size() > 2 ? groups.size() * sizeof(text_group) : 0);
  }
  detail::small_vector<text_group, 2> groups;  // inline, as id_bucket's items
};

// The entry with this id in an id bucket (null bucket: none), or null.
const qc_item* find_in(const id_bucket* b, std::string_view id) noexcept {
  if (b == nullptr) return nullptr;
  for (const qc_item& item : b->items) {
    if (item.rec->entry.id == id) return &item;
  }
  return nullptr;
}

// The group of this normal form in a text bucket, or its end.
template <class Bucket>  // text_bucket, const or not
auto find_group(Bucket& b, std::string_view text) noexcept -> decltype(b.groups.begin()) {
  return std::find_if(b.groups.begin(), b.groups.end(),
                      [&](const text_group& g) { return *g.first.rec->match == text; });
}

// The top level of a radix index, held inside the state: a read has one
// dependent load fewer, and a write copies it with the state instead of
// allocating a node. Its children are those of an rnode.
struct radix_top {
  qc_obj* child[std::size_t{1} << radix_bits] = {};
};

// The bucket of `key` in an index of `depth` levels (the top included), or null.
const qc_obj* bucket_at(const radix_top& top, std::uint64_t key, unsigned depth) noexcept {
  const qc_obj* at = top.child[(key >> (radix_bits * (depth - 1))) & radix_mask];
  for (unsigned level = depth - 1; level-- > 0;) {
    if (at == nullptr) return nullptr;
    at = static_cast<const rnode*>(at)->child[(key >> (radix_bits * level)) & radix_mask];
  }
  return at;
}

class txn;

// A write that other writers complete if it keeps losing the race to
// publish (a batch, a capacity change: docs/design.md, "Helping"). Its
// announcer owns it and frees it through EBR once it is resolved.
struct helped_write : ebr::retirable {
  explicit helped_write(std::uint64_t write_id) noexcept : id(write_id) {}
  helped_write(const helped_write&) = delete;
  helped_write& operator=(const helped_write&) = delete;
  virtual ~helped_write() = default;
  // Applies the write to a txn; may throw std::bad_alloc (nothing published).
  virtual std::vector<insert_result> apply(txn& t) const = 0;
  // How many results it returns (room its announcer reserves up front).
  [[nodiscard]] virtual std::size_t result_count() const noexcept { return 0; }
  // Its inputs, as parts for reclamation: it may hold the last references
  // to many records, freed a budget at a time (retire_in_steps).
  [[nodiscard]] virtual std::size_t parts() const noexcept { return 0; }
  virtual void shed(std::size_t& budget) noexcept { (void)budget; }
  static bool reclaim_some(ebr::retirable* r, std::size_t& budget) noexcept {
    auto* w = static_cast<helped_write*>(r);
    w->shed(budget);
    if (w->parts() != 0) return false;
    delete w;
    return true;
  }
  const std::uint64_t id;
};

// The results of the last helped write a state applied, kept for its
// announcer (EBR-owned like the indexes, P1).
struct results_obj final : qc_obj {
  [[nodiscard]] std::size_t footprint() const noexcept override {
    return sizeof(results_obj) + results.capacity() * sizeof(insert_result);
  }
  std::vector<insert_result> results;
};

}  // namespace

namespace detail {

// The cache at one instant (P1).
struct qc_state final : qc_obj, from_block_cache<qc_state> {
  [[nodiscard]] std::size_t footprint() const noexcept override { return sizeof(qc_state); }
  void drop_counted(const qc_node*& dead) noexcept override { release_into(by_completion.detach(), dead); }
  std::size_t capacity = 0;
  std::size_t count = 0;        // entries held
  std::uint64_t next_seq = 1;   // compat: dict positions and heap push numbers
  std::size_t heap_size = 0;    // compat: items in the heap, stale ones included
  enode<raw_item>* by_age = nullptr;  // standard: every entry, oldest first
  enode<heap_item>* heap = nullptr;   // compat: the original's heap, stale items included
  tptr by_completion;                 // every candidate, candidate order (counted, P1)
  radix_top ids;                      // id index: id hash -> id_bucket
  radix_top texts;                    // text index: normal-form hash -> text_bucket
  // Helping (docs/design.md): a write announced for every writer to apply
  // before its own, and the last such write applied and its results (null:
  // withdrawn by its announcer).
  const helped_write* pending = nullptr;
  std::uint64_t applied_id = 0;
  results_obj* applied_results = nullptr;
};

}  // namespace detail

using detail::qc_state;

// Every kind a write makes often is small enough for the block cache.
static_assert(detail::block_class_of(sizeof(enode<raw_item>)) < detail::block_classes);
static_assert(detail::block_class_of(sizeof(enode<heap_item>)) < detail::block_classes);
static_assert(detail::block_class_of(sizeof(rnode)) < detail::block_classes);
static_assert(detail::block_class_of(sizeof(id_bucket)) < detail::block_classes);
static_assert(detail::block_class_of(sizeof(text_bucket)) < detail::block_classes);
static_assert(detail::block_class_of(sizeof(qc_state)) < detail::block_classes);

namespace {

// What a published write made unreachable: the old root and the objects its
// txn dropped, retired together (P4).
// Freed in steps (ebr::guard::retire_in_steps): one object or one
// candidate-order node per unit of budget, so that freeing a whole state
// (set_capacity(1) on a million entries) is spread over many operations.
struct garbage final : ebr::retirable, from_block_cache<garbage> {
  std::vector<qc_obj*, block_allocator<qc_obj*>> objects;
  const qc_node* dead = nullptr;  // candidate-order nodes whose last reference the bag dropped
  std::size_t bytes = 0;          // the objects' footprints, for the byte bound
  static bool reclaim_some(ebr::retirable* r, std::size_t& budget) noexcept {
    auto* bag = static_cast<garbage*>(r);
    while (bag->dead != nullptr || !bag->objects.empty()) {
      if (budget == 0) return false;
      --budget;
      if (bag->dead != nullptr) {
        free_one_dead(bag->dead);
        continue;
      }
      qc_obj* o = bag->objects.back();
      bag->objects.pop_back();
      o->drop_counted(bag->dead);
      delete o;
    }
    delete bag;
    return true;
  }
};

// Frees an EBR-owned treap (only from a state nobody else can reach).
template <class Item>
void free_tree(enode<Item>* t) noexcept {
  while (t != nullptr) {
    free_tree(t->left);
    enode<Item>* right = t->right;
    delete t;
    t = right;
  }
}

// Frees a radix index and its buckets, each bucket through `free_bucket`.
template <class FreeBucket>
void free_index(qc_obj* at, unsigned levels, const FreeBucket& free_bucket) noexcept {
  if (at == nullptr) return;
  if (levels == 0) {
    free_bucket(at);
    return;
  }
  auto* n = static_cast<rnode*>(at);
  for (qc_obj* c : n->child) free_index(c, levels - 1, free_bucket);
  delete n;
}

}  // namespace

struct query_cache::impl {
  impl(std::size_t capacity, cache_mode m)
      : mode(m),
        bucket_mask(std::bit_ceil(std::clamp<std::size_t>(capacity, 64, std::size_t{1} << 18)) - 1),
        depth(static_cast<unsigned>((std::bit_width(bucket_mask) + radix_bits - 1) / radix_bits)),
        id_seed(make_hash_seed()),
        text_seed(make_hash_seed()) {
    auto* first = new qc_state;
    first->capacity = capacity;
    root.store(first, std::memory_order_relaxed);  // relaxed: construction; the cache is published by its owner
  }

  // Only the owner destroys the cache, with no operation running; what
  // earlier writes retired is in EBR bags, disjoint from this (P4).
  ~impl() {
    qc_state* s = root.load(std::memory_order_relaxed);  // relaxed: no operation runs concurrently with the destructor
    free_tree(s->by_age);
    free_tree(s->heap);
    delete s->applied_results;
    for (qc_obj* c : s->ids.child) free_index(c, depth - 1, [](qc_obj* b) { delete b; });
    for (qc_obj* c : s->texts.child) {
      free_index(c, depth - 1, [](qc_obj* b) {
        for (const text_group& g : static_cast<text_bucket*>(b)->groups) free_tree(g.members);
        delete b;
      });
    }
    delete s;
  }

  std::uint64_t id_key(std::string_view id) const noexcept {
    return detail::hash_bytes(id.data(), id.size(), id_seed) & bucket_mask;
  }
  std::uint64_t text_key(std::string_view text) const noexcept {
    return detail::hash_bytes(text.data(), text.size(), text_seed) & bucket_mask;
  }
  // The same keys from the hashes a record carries (made with these seeds).
  std::uint64_t id_key(const entry_record& r) const noexcept { return r.id_hash & bucket_mask; }
  std::uint64_t text_key(const entry_record& r) const noexcept { return r.match_hash & bucket_mask; }

  // A record of `e` for this cache: its rules, and its keys hashed once.
  detail::record_ptr make_record(const query_entry& e) const {
    const entry_record::hash_seeds seeds{id_seed, text_seed};
    return entry_record::make(e, mode, &seeds);
  }

  // Calls f(state) with the current state, pinned (R1). Returns f's result.
  template <class F>
  auto read(F&& f) const {
    ebr::guard g;
    if (!detail::is_planted(detail::planted_bug::cache_read_without_pin)) g = ebr::domain::global().pin();
    const qc_state* s = root.load(detail::orders::load_root);  // (Q2): the protection rule, with (Q1)
    SNAPCACHE_PERTURB();  // a writer may publish and retire s here
    return f(*s);
  }

  const cache_mode mode;
  const std::uint64_t bucket_mask;
  const unsigned depth;  // levels of each radix index
  const std::uint64_t id_seed;
  const std::uint64_t text_seed;
  std::atomic<qc_state*> root;

  // Statistics only: relaxed striped counters (see the header's contract).
  // (lookups is hits + misses: one counter less per lookup. A write adds
  // only the counts it changed: each add is a read-modify-write.)
  mutable detail::striped_counter hits, misses, inspections;
  detail::striped_counter inserts, replacements, evictions, drops, retries, helps;

  // Helping (docs/design.md): ids of announced writes, and the last one
  // whose announcer took its results (none may be announced before that).
  std::atomic<std::uint64_t> next_helped_id{1};
  std::atomic<std::uint64_t> claimed{0};
};

namespace {

using impl_type = query_cache::impl;

// The objects one txn made (fresh) and the published ones it stopped
// reaching (dropped), P2. Frees what it made unless told it was published.
class arena {
 public:
  arena() = default;
  arena(const arena&) = delete;
  arena& operator=(const arena&) = delete;
  ~arena() {
    for (qc_obj* o : fresh_) delete o;
  }

  template <class T, class... Args>
  T* make(Args&&... args) {
    // Room first: once the object exists, recording it must not fail.
    if (fresh_.size() == fresh_.capacity()) fresh_.reserve(std::max(first_capacity, 2 * fresh_.capacity()));
    T* o = new T(std::forward<Args>(args)...);
    o->fresh = true;
    o->fresh_index = static_cast<std::uint32_t>(fresh_.size());
    fresh_.push_back(o);
    return o;
  }

  [[nodiscard]] static bool owns(const qc_obj* o) noexcept { return o->fresh; }

  // `o` is no longer reached by the txn's state: freed now if fresh,
  // listed for retirement if published.
  void drop(qc_obj* o) {
    if (!owns(o)) {
      if (dropped_.capacity() == 0) dropped_.reserve(first_capacity);  // one block for a typical write
      dropped_.push_back(o);
      return;
    }
    qc_obj* last = fresh_.back();
    fresh_[o->fresh_index] = last;
    last->fresh_index = o->fresh_index;
    fresh_.pop_back();
    delete o;
  }

  // `o`, published, is no longer reached by the txn's state.
  void drop_published(qc_obj* o) {
    if (dropped_.capacity() == 0) dropped_.reserve(first_capacity);
    dropped_.push_back(o);
  }

  // A copy of `o` that the txn may change: `o` itself if fresh.
  template <class T>
  T* writable(T* o) {
    if (owns(o)) return o;
    T* copy = make<T>(*o);
    drop(o);
    return copy;
  }

  // Before publishing (P2, P5): every fresh object becomes immutable, and the
  // bag of what publishing will make unreachable (`base` and the dropped
  // objects) is made. May throw std::bad_alloc; publishes nothing.
  std::unique_ptr<garbage> seal(qc_state* base) {
    auto bag = std::make_unique<garbage>();
    dropped_.push_back(base);
    for (const qc_obj* o : dropped_) bag->bytes += o->footprint();
    bag->objects = std::move(dropped_);
    for (qc_obj* o : fresh_) o->fresh = false;
    return bag;
  }

  // The state was published: what the arena made now belongs to it.
  void published() noexcept { fresh_.clear(); }

 private:
  using object_list = std::vector<qc_obj*, block_allocator<qc_obj*>>;
  static constexpr std::size_t first_capacity = block_allocator<qc_obj*>::list_capacity;  // one block
  object_list fresh_;
  object_list dropped_;
};

// ---- EBR-owned persistent treaps -------------------------------------------
// The same treap<> as the candidate order, over raw links: a node the arena
// made is changed in place, any other is copied and dropped (P2).

template <class Item>
using eptr = enode<Item>*;

// `t` with these children: t itself if fresh, else a copy (arena::writable).
template <class Item>
eptr<Item> with_children(arena& a, eptr<Item> t, eptr<Item> l, eptr<Item> r) {
  t = a.writable(t);
  t->left = l;
  t->right = r;
  return t;
}

// The EBR-owned trees' policy: the arena's own nodes change in place.
template <class Item>
struct arena_policy {
  using link = eptr<Item>;
  arena& a;
  eptr<Item> make(const Item& v, eptr<Item> l, eptr<Item> r, std::uint64_t priority) {
    return a.make<enode<Item>>(v, l, r, priority);
  }
  eptr<Item> rebuild(eptr<Item> t, eptr<Item> l, eptr<Item> r) { return with_children(a, t, l, r); }
  void drop(eptr<Item> t) { a.drop(t); }
};

template <class Item, class Less>
eptr<Item> einsert(arena& a, eptr<Item> t, const Item& v, const Less& less) {
  return treap<arena_policy<Item>>{{a}}.insert(t, v, priority_of(v), less);
}

template <class Item, class Key, class Less>
eptr<Item> eerase(arena& a, eptr<Item> t, const Key& v, const Less& less) {
  return treap<arena_policy<Item>>{{a}}.erase(t, v, less);
}

template <class Item>
const Item& efirst(const enode<Item>* t) noexcept {  // t non-empty
  while (t->left != nullptr) t = t->left;
  return t->value;
}

// What freeing a record gives back, approximately: the record, its strings
// and the payload as its owner counted it.
std::size_t record_bytes(const entry_record& r) noexcept {
  const query_entry& e = r.entry;
  return sizeof(entry_record) + 16 /* control block */ + heap_bytes(e.id) + heap_bytes(e.query) +
         heap_bytes(e.output_location) + (r.match ? heap_bytes(*r.match) : 0) + e.payload_bytes;
}

// One writer's private state (P2): starts as the root it read, modified in
// place; seal() makes the new root.
class txn {
 public:
  txn(const impl_type& cache, const qc_state& base)
      : capacity(base.capacity),
        count(base.count),
        next_seq(base.next_seq),
        heap_size(base.heap_size),
        by_age(base.by_age),
        heap(base.heap),
        by_completion(base.by_completion),
        pending(base.pending),
        applied_id(base.applied_id),
        applied_results(base.applied_results),
        cache_(cache),
        base_(base),
        ids_(base.ids),
        texts_(base.texts),
        completion_{cache.mode} {}

  std::size_t capacity;
  std::size_t count;
  std::uint64_t next_seq;
  std::size_t heap_size;
  eptr<raw_item> by_age;
  eptr<heap_item> heap;
  tptr by_completion;
  const helped_write* pending;
  std::uint64_t applied_id;
  results_obj* applied_results;
  std::uint64_t inserts = 0, replacements = 0, evictions = 0, drops = 0;
  std::size_t removed_bytes = 0;  // the records this txn removed: what their freeing gives back
  bool changed = false;
  arena objects;

  [[nodiscard]] std::optional<qc_item> find(std::string_view id) const { return find(id, cache_.id_key(id)); }
  // `key`: id's bucket, cache_.id_key(id).
  [[nodiscard]] std::optional<qc_item> find(std::string_view id, std::uint64_t key) const {
    const qc_item* item = find_in(static_cast<const id_bucket*>(bucket_at(ids_, key, cache_.depth)), id);
    return item != nullptr ? std::optional<qc_item>(*item) : std::nullopt;
  }

  // Indexes an entry whose id is not held.
  void add(const qc_item& item) {
    changed = true;
    writable_bucket<id_bucket>(ids_, cache_.id_key(*item.rec))->items.push_back(item);
    if (cache_.mode == cache_mode::standard) by_age = einsert(objects, by_age, raw(item), age_order{});
    if (!item.rec->candidate) return;
    by_completion = tinsert(by_completion, item, priority_of(item), completion_);
    if (!item.rec->match) return;
    text_bucket* t = writable_bucket<text_bucket>(texts_, cache_.text_key(*item.rec));
    auto group = find_group(*t, *item.rec->match);
    if (group == t->groups.end()) {
      t->groups.push_back(text_group{});
      group = std::prev(t->groups.end());
    }
    group->members = einsert(objects, group->members, raw(item), completion_);
    group->first = efirst(group->members);
  }

  // Removes an entry that is held (its record and seq, as find() or an
  // order holds it). By value: the item may live in a bucket or node this
  // call changes or frees. The record stays alive: the base state's id
  // bucket owns it, or, if this write added it, the write's own records.
  void remove(const raw_item item) {
    changed = true;
    removed_bytes += record_bytes(*item.rec);
    writable_bucket<id_bucket>(ids_, cache_.id_key(*item.rec))->items.erase_if(
        [&](const qc_item& i) { return i.rec.get() == item.rec; });
    if (cache_.mode == cache_mode::standard) by_age = eerase(objects, by_age, item, age_order{});
    if (!item.rec->candidate) return;
    by_completion = terase(by_completion, item, completion_);
    if (!item.rec->match) return;
    text_bucket* t = writable_bucket<text_bucket>(texts_, cache_.text_key(*item.rec));
    auto group = find_group(*t, *item.rec->match);
    group->members = eerase(objects, group->members, item, completion_);
    if (group->members != nullptr) {
      group->first = efirst(group->members);
    } else {
      t->groups.erase(group);
    }
  }

  [[nodiscard]] std::uint64_t id_key(const entry_record& r) const noexcept { return cache_.id_key(r); }

  // compat's heap.
  void heap_push(const heap_item& item) {
    heap = einsert(objects, heap, item, heap_order{});
    ++heap_size;
  }
  heap_item heap_pop() {  // heap not empty
    heap_item top = efirst(heap);
    heap = eerase(objects, heap, top, heap_order{});
    --heap_size;
    return top;
  }

  // The new root and the bag of what it makes unreachable (P2, P5). The
  // state is fresh: freed with the arena unless published.
  std::pair<qc_state*, std::unique_ptr<garbage>> seal() {
    auto* next = objects.make<qc_state>();
    next->capacity = capacity;
    next->count = count;
    next->next_seq = next_seq;
    next->heap_size = heap_size;
    next->by_age = by_age;
    next->heap = heap;
    next->by_completion = std::move(by_completion);  // the txn ends here
    next->ids = ids_;
    next->texts = texts_;
    next->pending = pending;
    next->applied_id = applied_id;
    next->applied_results = applied_results;
    auto bag = objects.seal(const_cast<qc_state*>(&base_));  // the base is retired, never written
    return {next, std::move(bag)};
  }

 private:
  // The bucket of `key` in the index whose top (the txn's own copy) is
  // `top`, writable: every node on its path and the bucket itself are made
  // fresh (copied if published).
  template <class Bucket>
  Bucket* writable_bucket(radix_top& top, std::uint64_t key) {
    const unsigned depth = cache_.depth;
    qc_obj** slot = &top.child[(key >> (radix_bits * (depth - 1))) & radix_mask];
    for (unsigned level = depth - 1; level-- > 0;) {
      auto* n = static_cast<rnode*>(*slot);
      n = n == nullptr ? objects.make<rnode>() : objects.writable(n);
      *slot = n;
      slot = &n->child[(key >> (radix_bits * level)) & radix_mask];
    }
    auto* b = static_cast<Bucket*>(*slot);
    b = b == nullptr ? objects.make<Bucket>() : objects.writable(b);
    *slot = b;
    return b;
  }

  const impl_type& cache_;
  const qc_state& base_;
  radix_top ids_;
  radix_top texts_;
  completion_order completion_;
};

// Applies the write a state announced (helping, docs/design.md): its results
// go into the new state for its announcer. May throw std::bad_alloc.
// Marks the pending write resolved in t: applied with `results`, or, with
// null, withdrawn by its announcer. The base's results go with the base.
void resolve_pending(txn& t, results_obj* results) {
  if (t.applied_results != nullptr) t.objects.drop_published(t.applied_results);
  t.applied_results = results;
  t.applied_id = t.pending->id;
  t.pending = nullptr;
  t.changed = true;
}

void apply_pending(txn& t) {
  auto results = t.pending->apply(t);
  results_obj* r = t.objects.make<results_obj>();
  r->results = std::move(results);
  resolve_pending(t, r);
}

// A write that lost this many races announces itself for others to help.
constexpr unsigned announce_after = 2;

// Publishes t's state over `base` (P3-P5); returns whether it won the race.
// On success the old state and what t dropped are retired in steps.
bool publish(impl_type& cache, const ebr::guard& g, qc_state*& base, txn& t) {
  auto [next, bag] = t.seal();
  g.reserve();  // the retire below must not allocate; may throw: nothing published
  SNAPCACHE_PARK(cache_write_before_publish);
  // The linearization point. seq_cst, both ways: the root is a pointer that
  // EBR protects, and ebr.hpp's protection rule needs a seq_cst unlink (this
  // CAS) against the reader's seq_cst load (Q2); acquire/release is not
  // enough under the C++ model (the RC11 litmus cache_root_cycle shows the
  // reader using a freed state).
  if (!cache.root.compare_exchange_strong(base, next, detail::orders::publish_root,  // (Q1)
                                         detail::orders::failure(detail::orders::load_root, detail::orders::publish_root))) {  // as (Q2)
    return false;
  }
  t.objects.published();
  const ebr::weight w{bag->objects.size(), bag->bytes + t.removed_bytes};
  g.retire_in_steps(bag.release(), &garbage::reclaim_some, w);  // P4; noexcept, allocates nothing
  if (t.inserts != 0) cache.inserts.add(static_cast<std::int64_t>(t.inserts));
  if (t.replacements != 0) cache.replacements.add(static_cast<std::int64_t>(t.replacements));
  if (t.evictions != 0) cache.evictions.add(static_cast<std::int64_t>(t.evictions));
  if (t.drops != 0) cache.drops.add(static_cast<std::int64_t>(t.drops));
  return true;
}

// Copies the results a helped write left in `r` (null: none) into `out`,
// whose room was reserved when the write was announced: no allocation, so
// nothing can fail once the write has happened.
template <class Result>
void take_results(const results_obj* r, Result& out) noexcept {
  if constexpr (std::is_same_v<Result, std::vector<insert_result>>) {
    if (r != nullptr) out.assign(r->results.begin(), r->results.end());  // within the reserved capacity
  } else {
    (void)r;
    (void)out;
  }
}

// The announcer of a helped write is done with it: others may announce again.
void claim(impl_type& cache, const ebr::guard& g, std::unique_ptr<helped_write>& mine) noexcept {
  cache.claimed.store(mine->id, std::memory_order_release);  // pairs with the announcers' acquire
  const ebr::weight w{mine->parts() + 1, 0};
  (void)g.try_reserve();  // publish() reserved; without memory, retire allocates or stops loudly
  g.retire_in_steps(mine.release(), &helped_write::reclaim_some, w);  // pinned writers may still apply it
}

enum class withdrawal { taken_back, applied };

// An announcer whose own application of its write failed (std::bad_alloc)
// takes the announcement back, so that nobody applies it later, unless a
// helper applied it already (then the write happened: the caller reads its
// results from the root). Called unpinned, so that the retries below let
// reclamation free memory.
withdrawal withdraw(impl_type& cache, std::unique_ptr<helped_write>& mine) {
  for (;;) {
    try {
      const auto g = ebr::domain::global().pin();
      qc_state* base = cache.root.load(detail::orders::load_root);  // (Q2)
      if (base->applied_id == mine->id) return withdrawal::applied;  // results in the root; not claimed here
      txn t(cache, *base);  // t.pending == mine
      resolve_pending(t, nullptr);
      if (publish(cache, g, base, t)) {
        claim(cache, g, mine);
        return withdrawal::taken_back;
      }
    } catch (const std::bad_alloc&) {
      // Out of memory even for taking it back: the announcement must not
      // stay ownerless, so try again once others have freed something.
      std::this_thread::yield();
    }
  }
}

// Runs a write: op(txn&) computes the change on a private state; if it
// changed anything, the result is published (P2-P5). Returns op's result.
// If op throws, nothing was published. Each attempt pins once (a retrying
// writer never holds reclamation back). `make_helped(cache)` makes the
// announcement of a write that others may complete (null for one that must
// not be helped); a write announces itself after `announce_after` lost
// races, and from then on every writer applies it before its own write
// (docs/design.md, "Helping"). Helped writes return
// std::vector<insert_result>.
template <class Op, class MakeHelped>
auto write(impl_type& cache, Op&& op, MakeHelped&& make_helped) {
  using result_type = decltype(op(std::declval<txn&>()));
  const ebr::guard outer = detail::is_planted(detail::planted_bug::writer_pinned_across_retries)
                               ? ebr::domain::global().pin()  // the planted bug: one pin for every attempt
                               : ebr::guard();
  std::unique_ptr<helped_write> mine;  // announced: every later state holds it pending or applied
  result_type announced_results{};     // room reserved at the announcement
  for (unsigned lost = 0;; ++lost) {
    if (mine != nullptr) {
      // Announced: applied by whichever writer published next, or now by us.
      bool own_apply_failed = false;
      {
        const auto g = ebr::domain::global().pin();
        qc_state* base = cache.root.load(detail::orders::load_root);  // (Q2)
        if (base->applied_id == mine->id) {
          take_results(base->applied_results, announced_results);
          claim(cache, g, mine);
          return announced_results;
        }
        try {
          txn t(cache, *base);  // t.pending == mine
          apply_pending(t);
          if (publish(cache, g, base, t)) {
            take_results(t.applied_results, announced_results);
            claim(cache, g, mine);
            return announced_results;
          }
          cache.retries.add(1);
        } catch (const std::bad_alloc&) {
          own_apply_failed = true;
        }
      }
      // Unpinned: a failed application withdraws the announcement, or finds
      // that a helper applied it (the next round returns its results).
      if (own_apply_failed && withdraw(cache, mine) == withdrawal::taken_back) throw std::bad_alloc();
      continue;
    }
    const auto g = ebr::domain::global().pin();
    qc_state* base = cache.root.load(detail::orders::load_root);  // (Q2): with (Q1), the protection rule
    txn t(cache, *base);
    if (t.pending != nullptr) {
      cache.helps.add(1);
      apply_pending(t);  // another writer's announced write goes first; may throw: nothing changed
    } else if (lost >= announce_after && base->pending == nullptr &&
               (base->applied_id == 0 ||
                cache.claimed.load(std::memory_order_acquire) >= base->applied_id)) {  // pairs with claim()
      if (auto w = make_helped(cache); w != nullptr) {
        if constexpr (std::is_same_v<result_type, std::vector<insert_result>>) {
          announced_results.reserve(w->result_count());  // may throw: nothing announced yet
        }
        t.pending = w.get();
        t.changed = true;
        if (publish(cache, g, base, t)) mine = std::move(w);
        if (mine == nullptr) cache.retries.add(1);
        continue;  // announced: from here on every writer applies it first
      }
    }
    auto result = op(t);
    if (!t.changed) {  // read-only (an absent id, every entry dropped): linearizes at the root load
      if (t.drops != 0) cache.drops.add(static_cast<std::int64_t>(t.drops));
      return result;
    }
    if (publish(cache, g, base, t)) return result;
    // Another writer published: the txn's destructor frees everything it
    // made (P3), and the next attempt pins again.
    cache.retries.add(1);
  }
}

template <class Op>
auto write(impl_type& cache, Op&& op) {
  return write(cache, std::forward<Op>(op), [](const impl_type&) { return std::unique_ptr<helped_write>(); });
}

// Standard mode: the entries in order, each as a single insert.
// Standard mode, one entry: the rules of docs/query-cache.md.
insert_result insert_standard(txn& t, const record_ptr& r) {
  const qc_item item{r, 0};
  if (auto held = t.find(r->entry.id, t.id_key(*r))) {
    t.remove(raw(*held));  // replaced in its slot: no eviction
    t.add(item);
    ++t.replacements;
    return insert_result::replaced;
  }
  if (t.count < t.capacity) {
    t.add(item);
    ++t.count;
    ++t.inserts;
    return insert_result::admitted;
  }
  const raw_item oldest = efirst(t.by_age);  // count >= capacity > 0: not empty
  if (!detail::older(oldest.rec->entry, r->entry)) {
    ++t.drops;
    return insert_result::dropped;
  }
  t.remove(oldest);
  ++t.evictions;
  t.add(item);
  ++t.inserts;
  return insert_result::admitted;
}

// Standard mode, a batch: the entries in order, each as a single insert.
std::vector<insert_result> insert_standard(txn& t, const std::vector<record_ptr>& records) {
  std::vector<insert_result> results;
  results.reserve(records.size());
  for (const record_ptr& r : records) results.push_back(insert_standard(t, r));
  return results;
}

// Standard mode's helped writes: a batch and a capacity change that lost
// `announce_after` races, applied by any writer (they own their inputs: the
// announcer may return before the last pinned helper is done with them).
struct helped_batch final : helped_write {
  helped_batch(std::uint64_t write_id, std::vector<record_ptr> batch) noexcept
      : helped_write(write_id), records(std::move(batch)) {}
  std::vector<insert_result> apply(txn& t) const override { return insert_standard(t, records); }
  [[nodiscard]] std::size_t result_count() const noexcept override { return records.size(); }
  [[nodiscard]] std::size_t parts() const noexcept override { return records.size(); }
  void shed(std::size_t& budget) noexcept override {
    for (; budget > 0 && !records.empty(); --budget) records.pop_back();
  }
  std::vector<record_ptr> records;  // not changed until it is retired
};

std::vector<insert_result> set_capacity_standard(txn& t, std::size_t n) {
  if (t.capacity != n) {
    t.capacity = n;
    t.changed = true;
  }
  while (t.count > t.capacity) {
    t.remove(efirst(t.by_age));
    --t.count;
    ++t.evictions;
  }
  return {};
}

struct helped_capacity final : helped_write {
  helped_capacity(std::uint64_t write_id, std::size_t n) noexcept : helped_write(write_id), capacity(n) {}
  std::vector<insert_result> apply(txn& t) const override { return set_capacity_standard(t, capacity); }
  const std::size_t capacity;
};

std::uint64_t next_helped_id(impl_type& cache) noexcept {
  return cache.next_helped_id.fetch_add(1, std::memory_order_relaxed);  // uniqueness only
}

// compat mode: the original's update_cache, step by step (numbers as in
// docs/query-cache.md).
std::vector<insert_result> insert_compat(txn& t, const std::vector<record_ptr>& records) {
  std::vector<insert_result> results(records.size(), insert_result::dropped);
  // 1. Filter against the current entry of the id on the heap's top.
  std::vector<std::size_t> kept;
  kept.reserve(records.size());
  std::optional<qc_item> top_entry;
  if (t.heap != nullptr) top_entry = t.find(efirst(t.heap).id);
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (!top_entry || records[i]->entry.submitted_at > top_entry->rec->entry.submitted_at) kept.push_back(i);
  }
  // 2. Pop k = size + remaining - capacity heap items, or fail as the
  // original did (it emptied its heap, then raised IndexError).
  const std::size_t total = t.count + kept.size();
  const std::size_t k = total > t.capacity ? total - t.capacity : 0;
  if (k > t.heap_size) {
    throw std::length_error("query cache (compat): the batch needs more evictions than the heap holds");
  }
  if (k > 0) t.changed = true;
  for (std::size_t i = 0; i < k; ++i) {
    const heap_item top = t.heap_pop();
    if (auto held = t.find(top.id)) {  // a stale item removes nothing
      t.remove(raw(*held));
      --t.count;
      ++t.evictions;
    }
  }
  // 3. Insert the first `capacity` remaining items in order.
  const std::size_t admitted = std::min(kept.size(), t.capacity);
  for (std::size_t j = 0; j < admitted; ++j) {
    const record_ptr& r = records[kept[j]];
    t.heap_push(heap_item{r->entry.submitted_at, r->entry.id, t.next_seq++});
    t.changed = true;
    if (auto held = t.find(r->entry.id)) {
      t.remove(raw(*held));
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

// Heap bytes a state reaches, approximately: per entry its record, id-bucket
// item, eviction-order node, and for a candidate its candidate-order node and
// group node, plus the radix nodes a full index of this many buckets has.
// Strings and payloads are not counted. (O(1): from the counts.)
std::size_t approximate_bytes(const qc_state& s, std::uint64_t buckets) noexcept {
  const std::size_t per_entry = sizeof(entry_record) + sizeof(qc_item) + sizeof(enode<raw_item>) +
                                sizeof(qc_node) + 16 /* shared_ptr control block */ + sizeof(enode<raw_item>);
  const std::size_t used_buckets = std::min<std::size_t>(s.count, buckets);
  const std::size_t per_bucket = sizeof(id_bucket) + sizeof(text_bucket) + 2 * sizeof(rnode) / 64;
  return sizeof(qc_state) + s.count * per_entry + used_buckets * per_bucket + s.heap_size * sizeof(enode<heap_item>);
}

}  // namespace

// ---- query_cache ------------------------------------------------------------

query_cache::query_cache(std::size_t capacity, cache_mode mode) : mode_(mode) {
  detail::check_capacity(capacity);
  impl_ = std::make_unique<impl>(capacity, mode);
}

query_cache::~query_cache() = default;

insert_result query_cache::insert(const query_entry& e) {
  if (mode_ == cache_mode::compat) return insert(std::span<const query_entry>(&e, 1)).front();
  // Standard mode's single insert, without the batch's vectors.
  const record_ptr record = impl_->make_record(e);  // once, outside the retry loop
  return write(*impl_, [&](txn& t) { return insert_standard(t, record); });
}

std::vector<insert_result> query_cache::insert(std::span<const query_entry> batch) {
  // Records (and their normal forms) are made once, outside the retry loop.
  std::vector<record_ptr> records;
  records.reserve(batch.size());
  for (const query_entry& e : batch) records.push_back(impl_->make_record(e));
  if (mode_ == cache_mode::compat) return write(*impl_, [&](txn& t) { return insert_compat(t, records); });
  return write(
      *impl_, [&](txn& t) { return insert_standard(t, records); },
      [&](impl_type& cache) -> std::unique_ptr<helped_write> {
        return std::make_unique<helped_batch>(next_helped_id(cache), records);
      });
}

bool query_cache::erase(std::string_view id) {
  return write(*impl_, [&](txn& t) {
    auto held = t.find(id);
    if (!held) return false;
    t.remove(raw(*held));
    --t.count;
    return true;
  });
}

// The record with this id in state s, or null.
const entry_record* held_record(const impl_type& cache, const qc_state& s, std::string_view id) noexcept {
  const qc_item* item = find_in(static_cast<const id_bucket*>(bucket_at(s.ids, cache.id_key(id), cache.depth)), id);
  return item != nullptr ? item->rec.get() : nullptr;
}

bool query_cache::contains(std::string_view id) const noexcept {
  // R1 without throwing: a thread that cannot register with EBR (out of
  // memory) reads nothing, and the answer is "not held".
  const auto g = ebr::domain::global().try_pin();
  if (!g.pinned()) return false;
  const qc_state* s = impl_->root.load(detail::orders::load_root);  // (Q2)
  return held_record(*impl_, *s, id) != nullptr;
}

bool query_cache::visit_entry(std::string_view id, detail::entry_visitor f) const {
  return impl_->read([&](const qc_state& s) {
    const entry_record* r = held_record(*impl_, s, id);
    if (r == nullptr) return false;
    f(r->entry);
    return true;
  });
}

std::optional<query_entry> query_cache::find(std::string_view id) const {
  std::optional<query_entry> copy;
  visit(id, [&](const query_entry& e) { copy.emplace(e); });
  return copy;
}

std::optional<cache_hit> query_cache::lookup(std::string_view sql, cache_clock::duration max_age,
                                             std::size_t max_inspections, cache_clock::time_point now) const {
  detail::check_inspections(max_inspections);
  std::optional<cache_hit> hit;
  std::size_t examined = 0;
  if (max_age > cache_clock::duration::zero()) {  // otherwise caching is disabled: a miss, nothing examined
    const std::string key = detail::normal_form(sql, mode_);
    impl_->read([&](const qc_state& s) {
      const auto* bucket = static_cast<const text_bucket*>(bucket_at(s.texts, impl_->text_key(key), impl_->depth));
      if (bucket == nullptr) return;
      const text_group* group = find_group(*bucket, key);
      if (group == bucket->groups.end()) return;
      // m is the first match in candidate order: every candidate before it
      // is fresher and not a hit, so the original's walk reaches m after
      // exactly rank(m) non-hits, and m decides the outcome.
      const entry_record* m = group->first.rec;
      if (detail::older_than(*m->entry.completed_at, now, max_age)) {
        examined = 1;  // the walk would stop at m or before: too old
      } else if (max_inspections == unlimited) {
        examined = 1;
        hit = detail::make_hit(*m);
      } else {
        for (candidate_view::iterator it(s.by_completion.get()), end; it != end; ++it) {
          ++examined;
          if (&*it == &m->entry) {
            hit = detail::make_hit(*m);
            break;
          }
          if (examined >= max_inspections) break;
        }
      }
    });
  }
  if (examined != 0) impl_->inspections.add(static_cast<std::int64_t>(examined));
  (hit ? impl_->hits : impl_->misses).add(1);
  return hit;
}

query_cache::candidate_view query_cache::candidates() const {
  return impl_->read([](const qc_state& s) { return candidate_view(s.by_completion, tsize(s.by_completion)); });
}

void query_cache::set_capacity(std::size_t n) {
  detail::check_capacity(n);
  if (mode_ == cache_mode::compat) {  // compat evicts at its next batch
    write(*impl_, [&](txn& t) {
      if (t.capacity != n) {
        t.capacity = n;
        t.changed = true;
      }
      return 0;
    });
    return;
  }
  write(
      *impl_, [&](txn& t) { return set_capacity_standard(t, n); },
      [&](impl_type& cache) -> std::unique_ptr<helped_write> {
        return std::make_unique<helped_capacity>(next_helped_id(cache), n);
      });
}

std::size_t query_cache::capacity() const {
  return impl_->read([](const qc_state& s) { return s.capacity; });
}

std::size_t query_cache::size() const {
  return impl_->read([](const qc_state& s) { return s.count; });
}

cache_stats query_cache::stats() const noexcept {
  const auto read = [](const detail::striped_counter& c) {
    const std::int64_t v = c.sum();
    return v > 0 ? static_cast<std::uint64_t>(v) : 0;
  };
  cache_stats s;
  s.hits = read(impl_->hits);
  s.misses = read(impl_->misses);
  s.lookups = s.hits + s.misses;
  s.inserts = read(impl_->inserts);
  s.replacements = read(impl_->replacements);
  s.evictions = read(impl_->evictions);
  s.drops = read(impl_->drops);
  s.inspections = read(impl_->inspections);
  s.retries = read(impl_->retries);
  s.helps = read(impl_->helps);
  if (const auto g = ebr::domain::global().try_pin(); g.pinned()) {  // R1, without throwing
    const qc_state* root = impl_->root.load(detail::orders::load_root);  // (Q2)
    s.internals.live_entries = root->count;
    s.internals.live_versions = root->count;
    s.internals.heap_bytes = approximate_bytes(*root, impl_->bucket_mask + 1);
  }
  s.internals.retired_unfreed = static_cast<std::size_t>(ebr::domain::global().stats().pending);
  return s;
}

// ---- candidate_view ---------------------------------------------------------

query_cache::candidate_view::iterator::iterator(const detail::qc_node* root) { descend_left(root); }

void query_cache::candidate_view::iterator::descend_left(const detail::qc_node* n) {
  for (; n != nullptr; n = n->left.get()) {
    // Each node pushed here is visited later, its entry read and its right
    // subtree entered: fetch both now, so the walk does not wait on them.
    __builtin_prefetch(n->value.rec.get());
    __builtin_prefetch(n->right.get());
    path_.push_back(n);
  }
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
