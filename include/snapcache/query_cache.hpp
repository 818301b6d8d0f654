// snapcache::query_cache — a bounded cache of query executions whose readers
// never wait for writers and never see a half-made change.
//
// What it does (entries, eviction in standard and compat mode, candidates,
// lookup, normal forms, the concurrency contract) is specified in
// docs/query-cache.md; this header documents the members and the mechanism.
//
// The problem. The cache this replaces (a Python data library's local cache
// of Athena query metadata) is a dict of entries plus a min-heap of
// (submitted_at, id) for eviction. Readers walked the dict to list the
// successful queries, newest completion first, while another thread's update
// inserted and evicted; Python stopped them with "dictionary changed size
// during iteration". The fix was one lock taken by every read as well as
// every write: correct, but a slow scan now stops every writer and every
// other reader, and each lookup sorts the whole cache under the lock.
//
// The mechanism. The whole cache is one immutable *state*, reached through
// one atomic root pointer: capacity, size, two persistent (path-copying,
// shared-structure) treaps — every entry by age (the eviction order; compat
// mode: the original's heap) and every candidate by completion (the
// candidates() order) — and two copy-on-write radix indexes of buckets: id
// -> entry, and normal form -> the candidates with that text, in candidate
// order. A writer pins the EBR domain (once per attempt), reads the root,
// builds the new state privately (copying only the paths it changes) and
// publishes it with one compare_exchange of the root — its linearization
// point; the objects the old state had and the new one lacks are retired
// through EBR together, and freed a bounded step at a time by later
// operations of any thread. A reader pins, loads the root once and reads
// that state: nothing to validate, nothing to count, no shared line written
// (docs/design.md).
//
// Helping. A large write (a standard-mode batch, a capacity change) that
// loses the race to publish twice announces itself in the state it
// publishes next; from then on every writer applies it (then its own write)
// before publishing, so it completes within one more round however many
// single inserts run beside it. Its results wait in the state for it.
//
// Lookups use the text index: the first candidate (in candidate order) whose
// text matches decides the original's whole walk — every candidate before it
// completed no earlier and is not a hit — so an unlimited lookup examines
// that one candidate, and a lookup limited to k walks the candidate treap
// only to check that fewer than k candidates come before it.
//
// compat mode runs the original's update_cache inside one such write: its
// heap is a persistent treap of (submitted_at, id, push number), stale items
// included, popped and pushed in O(log h) with no copy of the heap; the
// filter against the top's current entry, k, the pops and the slice happen
// as in the original, and a batch the original would fail on throws
// std::length_error before anything is published.
//
// When not to use it. Every write publishes through the one root pointer
// (one writer succeeds per round, the others recompute from the new root)
// and allocates O(log n) nodes: write throughput does not grow with
// threads. That suits a metadata cache (writes are rare: one per query
// run); a cache written by many threads at high rates wants a sharded,
// approximate design instead. The bucket count is fixed at construction
// from the capacity (the next power of two, at least 64, at most 2^18):
// raising the capacity far past it makes buckets longer (still correct,
// slower lookups).
//
// Contract
// * Thread-safety: every member may be called concurrently from any thread,
//   except the destructor. A candidate_view may be used from any thread and
//   may outlive the cache; one view object must not be moved while another
//   thread iterates it.
// * Progress: lookup, contains, find, candidates, size, capacity and stats
//   are wait-free apart from the EBR pin (lock-free): they load the root
//   once and make a bounded number of reads; stats is wait-free. insert,
//   erase and set_capacity are lock-free: a writer retries only when another
//   writer published in the meantime, and pins once per attempt, so a
//   retrying writer never holds reclamation back. A standard-mode batch or
//   capacity change completes within a bounded number of other writers'
//   publications (helping, above); compat batches are not helped and may
//   starve beside a stream of writes. No mutex, no spin-wait, no blocking
//   call anywhere (but an announced write that runs out of memory retries
//   taking its announcement back until memory is there).
// * Linearizability: every operation takes effect at one instant. A write at
//   the compare_exchange of the root; a read, and a write that changes
//   nothing, at its load of the root. A failing write (std::length_error in
//   compat, or std::invalid_argument) changes nothing.
// * Memory ordering: the publishing compare_exchange (Q1) and every load of
//   the root (Q2) are seq_cst — EBR's protection rule for a pointer it
//   protects (acq_rel and acquire let a reader use a freed state under the
//   C++ model; the RC11 litmus cache_root_cycle shows it) — so everything a
//   writer did before publishing its root — building the records, copying
//   the payload pointer — happens-before any reader that sees that root.
//   The statistics are relaxed striped counters (statistics only): each
//   field is exact at quiescence, and hits + misses == lookups then.
// * Reclamation: evicted, replaced and erased entries (their strings and
//   payloads) are destroyed after a grace period, a bounded step at a time,
//   on whichever threads run operations — not in the cache's destructor,
//   which destroys only the current entries. A service whose payloads own
//   resources calls ebr::domain::global().synchronize() at shutdown, after
//   destroying the cache, to destroy the rest at once. Set payload_bytes so
//   that reclamation's byte bound counts large payloads.
// * Capacity (standard mode): a root never holds more than capacity entries,
//   so any view shows at most capacity (the bound capacity + threads
//   inserting allowed by the specification is met with no excess); at every
//   instant the cache holds exactly what the sequential rules give for the
//   writes linearized so far.
// * Snapshots: a candidate_view is the candidate treap of one root:
//   (a) it holds exactly the candidates of the cache at one instant,
//       newest completion first, each once; (b) it never changes, whatever
//       writers do; (c) taking it is O(1) (it shares the cache's nodes),
//       iterating it is O(1) amortised per entry; (d) it keeps its entries
//       alive and may outlive the cache.
// * Cost: lookup with unlimited inspections reads one text bucket and
//   examines at most one candidate, whatever the size; with a limit of k it
//   examines at most k candidates (an in-order walk of the candidate treap,
//   O(log n + k)). The inspections statistic counts exactly these
//   candidates (0 when no candidate has the text). insert, erase and each
//   eviction are O(log n) expected (treaps and radix paths) plus O(bucket
//   length); candidates() is O(1).
// * Exceptions: insert (single or batch), erase and set_capacity have the
//   strong guarantee: all allocation happens before the publishing
//   compare_exchange, so if anything throws (std::bad_alloc, the compat
//   std::length_error) the cache is as before; after it nothing allocates.
//   A write may also throw std::bad_alloc while applying another writer's
//   announced write, with the same guarantee.
//   lookup never throws for any SQL text; it may throw std::bad_alloc.
//   A capacity of 0 and max_inspections of 0 throw std::invalid_argument.
//
// Differences from the original (standard mode; compat mode reproduces it):
//  * eviction is exact — the cache holds the capacity newest entries by
//    submitted_at (ties: the greater id is older) — instead of the batch
//    heap with its stale items; a replacement (same id) never evicts;
//  * lowering the capacity evicts at once;
//  * matching uses snapcache::normalize (comments, quotes, case) and
//    snapcache::ctas_parquet_select; INSERT is recognised in any case after
//    leading whitespace and comments;
//  * ties in completion time order by id, not by insertion order;
//  * a SUCCEEDED entry without completed_at is not a candidate (the original
//    raised KeyError); max_inspections 0 is an error (the original used 1);
//  * lookups use a text index instead of sorting the cache on every call.
// compat mode differs from the original only where the original failed or
// had no operation: a batch that would raise IndexError after emptying the
// heap throws std::length_error and changes nothing; a SUCCEEDED entry
// without completed_at is skipped instead of raising KeyError; erase()
// (which the original lacks) leaves the entry's heap items behind, stale,
// as an overwrite does; only ASCII letters are lower-cased.
#pragma once

#include "snapcache/detail/cxx20.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "snapcache/map_stats.hpp"
#include "snapcache/sql.hpp"  // normalize, normalize_compat, ctas_parquet_select(_compat)

namespace snapcache {

using cache_clock = std::chrono::system_clock;  // time comes in as arguments: tests are deterministic
inline constexpr std::size_t unlimited = static_cast<std::size_t>(-1);

enum class query_state { queued, running, succeeded, failed, cancelled };
enum class statement_kind { ddl, dml, utility };
enum class result_kind { parquet, csv };
enum class insert_result { admitted, replaced, dropped };
enum class cache_mode { standard, compat };  // compat = the original's rules (docs/query-cache.md)

// One query execution. The payload is the user's: shared, immutable, never
// looked at by the cache (cast it back with std::static_pointer_cast).
struct query_entry {
  std::string id;
  std::string query;
  query_state state = query_state::queued;
  statement_kind statement_type = statement_kind::dml;
  cache_clock::time_point submitted_at{};
  std::optional<cache_clock::time_point> completed_at;
  std::string output_location;
  std::shared_ptr<const void> payload;
  // The payload's size as the caller counts it (0: uncounted). Reclamation
  // counts an evicted or replaced entry's strings and this toward its byte
  // bound (ebr.hpp), so large payloads are freed as promptly as their size asks.
  std::size_t payload_bytes = 0;

  friend bool operator==(const query_entry&, const query_entry&) = default;
};

struct cache_hit {
  std::string id;
  result_kind kind;
  std::string output_location;
  query_entry entry;
};

// Monotonic counters, readable at any time without stopping anyone. Each
// field is exact at quiescence; while operations run they may come from
// slightly different instants.
struct cache_stats {
  std::uint64_t lookups = 0;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t inserts = 0;       // entries admitted under a new id
  std::uint64_t replacements = 0;  // entries that replaced one with the same id
  std::uint64_t evictions = 0;     // entries removed to make room (not erase())
  std::uint64_t drops = 0;         // entries not admitted
  std::uint64_t inspections = 0;   // candidates examined by lookups (work done)
  // Writes computed again because another writer published first (query_cache:
  // the cost of its one publication point; locked_query_cache: always 0).
  std::uint64_t retries = 0;
  // Announced writes (a batch or capacity change that lost the race to
  // publish twice) that another writer applied before its own (query_cache
  // only: its helping, docs/design.md).
  std::uint64_t helps = 0;
  // The structure's own statistics, in the maps' terms. query_cache:
  // live_entries and live_versions are the entries held; heap_bytes
  // approximates the current state's records, nodes and buckets at their
  // allocation size (strings and payloads not counted; O(1), from the
  // counts); retired_unfreed is what the process-wide EBR domain has not
  // freed yet, the count a service alarms on (it includes other users of
  // that domain); live_snapshots and oldest_snapshot_age are 0 (the cache
  // takes no snapshots). locked_query_cache: zeros (it frees at once).
  map_stats internals;

  [[nodiscard]] double hit_rate() const noexcept {
    return lookups == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(lookups);
  }
};

namespace detail {

// An entry as both caches hold it: the entry and what lookups need of it,
// computed once at insert. Immutable once made, shared by every index.
struct entry_record {
  query_entry entry;
  bool candidate = false;            // SUCCEEDED, DDL or DML, completed_at set
  std::optional<std::string> match;  // the normal form a lookup must equal to hit (candidates only)
  result_kind kind = result_kind::csv;
  // The lock-free cache's hashes of entry.id and of match (0 without one)
  // under its seeds, made once with the record so that its writes never
  // hash them again; 0 in the locked cache's records.
  std::uint64_t id_hash = 0;
  std::uint64_t match_hash = 0;

  struct hash_seeds {
    std::uint64_t id;
    std::uint64_t text;
  };
  // Derives candidate, match and kind under the mode's rules, and the hashes
  // when given seeds. May throw std::bad_alloc.
  static std::shared_ptr<const entry_record> make(const query_entry& e, cache_mode mode,
                                                  const hash_seeds* seeds = nullptr);
};

// The lookup key of `sql` under the mode's normaliser.
std::string normal_form(std::string_view sql, cache_mode mode);

// Orders shared by both caches. "older": the eviction order of standard mode
// (submitted_at, then the greater id is older). "before": the candidate
// order — newest completion first, ties by id (standard) or by the order the
// id entered the cache (compat: seq ascending).
bool older(const query_entry& a, const query_entry& b) noexcept;
bool candidate_before(const query_entry& a, std::uint64_t a_seq, const query_entry& b, std::uint64_t b_seq,
                      cache_mode mode) noexcept;

// A hit on `m` as lookup reports it.
cache_hit make_hit(const entry_record& m);

// Whether an entry completed at `completed` is older than `max_age` (> 0) at
// `now`: now - completed > max_age, computed without overflow (a completion
// centuries before `now`, time_point::min() included, is too old; one after
// `now` is not).
bool older_than(cache_clock::time_point completed, cache_clock::time_point now,
                cache_clock::duration max_age) noexcept;

// Throws std::invalid_argument for 0.
void check_capacity(std::size_t capacity);
void check_inspections(std::size_t max_inspections);

struct qc_node;  // a node of the lock-free cache's persistent treaps

// A non-owning reference to a callable taking const query_entry& (the
// visitor of visit(); it lives for the call only).
class entry_visitor {
 public:
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, entry_visitor>)
  entry_visitor(F& f) noexcept  // NOLINT(google-explicit-constructor): a reference wrapper
      : object_(static_cast<const void*>(std::addressof(f))),
        call_([](const void* object, const query_entry& e) {
          (*static_cast<F*>(const_cast<void*>(object)))(e);
        }) {}
  void operator()(const query_entry& e) const { call_(object_, e); }

 private:
  const void* object_;
  void (*call_)(const void*, const query_entry&);
};

// Reference counting of the candidate order's nodes (lib/query_cache.cpp).
// release() frees what it held the last reference to, iteratively.
void retain(const qc_node* node) noexcept;
void release(const qc_node* node) noexcept;

// A counted reference to a candidate-order node (what a candidate_view holds).
class node_ref {
 public:
  node_ref() noexcept = default;
  // Adopts a reference the caller already counted.
  static node_ref adopt(const qc_node* node) noexcept {
    node_ref r;
    r.node_ = node;
    return r;
  }
  node_ref(const node_ref& other) noexcept : node_(other.node_) {
    if (node_ != nullptr) retain(node_);
  }
  node_ref(node_ref&& other) noexcept : node_(std::exchange(other.node_, nullptr)) {}
  node_ref& operator=(node_ref other) noexcept {
    std::swap(node_, other.node_);
    return *this;
  }
  ~node_ref() {
    if (node_ != nullptr) release(node_);
  }
  [[nodiscard]] const qc_node* get() const noexcept { return node_; }
  const qc_node* operator->() const noexcept { return node_; }
  explicit operator bool() const noexcept { return node_ != nullptr; }
  // Gives up the reference without releasing it.
  [[nodiscard]] const qc_node* detach() noexcept { return std::exchange(node_, nullptr); }
  friend bool operator==(const node_ref& a, const node_ref& b) noexcept { return a.node_ == b.node_; }

 private:
  const qc_node* node_ = nullptr;
};

}  // namespace detail

class query_cache {
 public:
  // The candidates of one instant, newest completion first: a range of
  // const query_entry&. See "Snapshots" above.
  class candidate_view {
   public:
    class iterator {
     public:
      using value_type = query_entry;
      using reference = const query_entry&;
      using pointer = const query_entry*;
      using difference_type = std::ptrdiff_t;
      using iterator_category = std::forward_iterator_tag;

      iterator() = default;
      reference operator*() const noexcept;
      pointer operator->() const noexcept { return &**this; }
      iterator& operator++();
      iterator operator++(int) {
        iterator before = *this;
        ++*this;
        return before;
      }
      friend bool operator==(const iterator& a, const iterator& b) noexcept {
        if (a.path_.empty() || b.path_.empty()) return a.path_.empty() == b.path_.empty();
        return a.path_.back() == b.path_.back();
      }

     private:
      friend class candidate_view;
      friend class query_cache;  // a limited lookup walks the candidate order with it
      explicit iterator(const detail::qc_node* root);
      void descend_left(const detail::qc_node* node);
      std::vector<const detail::qc_node*> path_;  // ancestors still to visit; back() is current
    };
    using const_iterator = iterator;

    candidate_view() = default;
    [[nodiscard]] iterator begin() const { return iterator(root_.get()); }
    [[nodiscard]] iterator end() const noexcept { return iterator(); }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

   private:
    friend class query_cache;
    candidate_view(detail::node_ref root, std::size_t size) noexcept : root_(std::move(root)), size_(size) {}
    detail::node_ref root_;
    std::size_t size_ = 0;
  };

  // capacity 0 -> std::invalid_argument.
  explicit query_cache(std::size_t capacity, cache_mode mode = cache_mode::standard);
  ~query_cache();
  query_cache(const query_cache&) = delete;
  query_cache& operator=(const query_cache&) = delete;

  // Admits, replaces or drops `e` (the rules: docs/query-cache.md).
  insert_result insert(const query_entry& e);
  // One batch = one update of the original, applied atomically: standard
  // mode applies the entries in order as single inserts; compat mode runs the
  // original's update and throws std::length_error, changing nothing, where
  // the original would fail.
  std::vector<insert_result> insert(std::span<const query_entry> batch);
  // Removes the entry; returns whether it was present. (compat: the heap
  // keeps its item, as after an overwrite.)
  bool erase(std::string_view id);
  // Whether an entry with this id is held; reads it in place (no copy,
  // no allocation: never throws).
  [[nodiscard]] bool contains(std::string_view id) const noexcept;
  // Calls f(const query_entry&) with the entry with this id, in place, and
  // returns true; false if none is held. f runs while the state is
  // protected (pinned): keep it short, and do not let the reference escape.
  template <class F>
  bool visit(std::string_view id, F&& f) const {
    return visit_entry(id, detail::entry_visitor(f));
  }
  // A copy of the entry with this id.
  [[nodiscard]] std::optional<query_entry> find(std::string_view id) const;
  // max_age <= 0: a miss, nothing examined. max_inspections: a positive
  // count or `unlimited` (0 -> std::invalid_argument).
  [[nodiscard]] std::optional<cache_hit> lookup(std::string_view sql, cache_clock::duration max_age,
                                                std::size_t max_inspections, cache_clock::time_point now) const;
  [[nodiscard]] candidate_view candidates() const;
  // 0 -> std::invalid_argument. Standard mode evicts the oldest entries at
  // once down to n; compat mode evicts nothing until the next batch.
  void set_capacity(std::size_t n);
  [[nodiscard]] std::size_t capacity() const;
  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] cache_stats stats() const noexcept;
  [[nodiscard]] cache_mode mode() const noexcept { return mode_; }

  struct impl;  // the implementation (lib/query_cache.cpp); opaque to users

 private:
  bool visit_entry(std::string_view id, detail::entry_visitor f) const;
  cache_mode mode_;
  std::unique_ptr<impl> impl_;
};

}  // namespace snapcache
