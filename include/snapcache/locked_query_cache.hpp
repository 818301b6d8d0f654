// snapcache::locked_query_cache — the query cache built the way the original
// is: one mutex around a dictionary and a min-heap, reads locked too. Same
// members and answers as query_cache; the rules are in docs/query-cache.md.
//
// The problem. query_cache's claims (readers never wait, answers from one
// instant) need a reference to be checked and measured against. This is it:
// the original's design with the fix it needed — its readers crashed with
// "dictionary changed size during iteration" until every read took the lock
// — plus the text index the specification asks of every cache. It is the
// oracle of the typed test suite and the baseline of the benchmarks.
//
// The mechanism. A std::unordered_map from id to entry and a std::vector
// kept as a binary heap (std::push_heap / std::pop_heap), as in the original,
// plus a std::set of the candidates in candidate order and, per normal form,
// a std::set of the candidates that answer it. One std::mutex guards all of
// it; every member function, readers included, holds it for its whole run.
//  * standard mode: the heap holds (submitted_at, id, generation) with lazy
//    deletion — an item whose id is gone or holds a newer generation is
//    skipped when it reaches the top; the heap is rebuilt when stale items
//    outnumber live ones;
//  * compat mode: the heap holds the original's (submitted_at, id) tuples,
//    stale ones included, and update_cache runs step by step as the original.
//
// When to use it: as a reference, and for caches read rarely by one thread.
// When not: readers and writers at once — a candidates() call copies every
// candidate under the lock, and every writer waits for it.
//
// Contract
// * Thread-safety: every member may be called concurrently from any thread,
//   except the destructor. A candidate_view is an independent value that
//   owns (shares) its entries: it may outlive the cache.
// * Progress: blocking, every operation (stats() excepted: relaxed atomic
//   counters, statistics only).
// * Linearizability: each operation takes effect at one instant while it
//   holds the lock; unlock synchronizes-with the next lock, so a write
//   happens-before every operation that later observes it.
// * Capacity: standard mode never holds more than capacity entries; compat
//   mode holds what the original would (possibly more than capacity).
// * Exceptions: insert, erase and set_capacity have the strong guarantee.
//   insert allocates every node it may need (map, set and text-index nodes,
//   heap room, table buckets) before it changes anything, then links them
//   with operations that cannot throw. compat's std::length_error is decided
//   before any change. lookup never throws for any SQL text.
//
// Differences from query_cache: blocking; candidates() is an O(n) copy;
// everything else — results, statistics (inspections included), orders,
// errors — is the same, which the typed suite checks.
#pragma once

#include "snapcache/detail/cxx20.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "snapcache/detail/annotations.hpp"
#include "snapcache/locked_map.hpp"  // detail::annotated_mutex
#include "snapcache/query_cache.hpp"

namespace snapcache {

class locked_query_cache {
  using record_ptr = std::shared_ptr<const detail::entry_record>;

 public:
  // A copy of the candidates of one instant, newest completion first.
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
      reference operator*() const noexcept { return (*it_)->entry; }
      pointer operator->() const noexcept { return &(*it_)->entry; }
      iterator& operator++() noexcept {
        ++it_;
        return *this;
      }
      iterator operator++(int) noexcept {
        iterator before = *this;
        ++it_;
        return before;
      }
      friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.it_ == b.it_; }

     private:
      friend class candidate_view;
      explicit iterator(std::vector<record_ptr>::const_iterator it) noexcept : it_(it) {}
      std::vector<record_ptr>::const_iterator it_;
    };
    using const_iterator = iterator;

    candidate_view() = default;
    [[nodiscard]] iterator begin() const noexcept { return iterator(entries_.begin()); }
    [[nodiscard]] iterator end() const noexcept { return iterator(entries_.end()); }
    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
    [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }

   private:
    friend class locked_query_cache;
    explicit candidate_view(std::vector<record_ptr> entries) noexcept : entries_(std::move(entries)) {}
    std::vector<record_ptr> entries_;
  };

  // capacity 0 -> std::invalid_argument.
  explicit locked_query_cache(std::size_t capacity, cache_mode mode = cache_mode::standard);
  locked_query_cache(const locked_query_cache&) = delete;
  locked_query_cache& operator=(const locked_query_cache&) = delete;

  insert_result insert(const query_entry& e);
  std::vector<insert_result> insert(std::span<const query_entry> batch);
  bool erase(std::string_view id);
  [[nodiscard]] bool contains(std::string_view id) const noexcept;
  // Calls f(const query_entry&) with the entry with this id, in place,
  // under the shared lock; returns whether one is held.
  template <class F>
  bool visit(std::string_view id, F&& f) const {
    return visit_entry(id, detail::entry_visitor(f));
  }
  [[nodiscard]] std::optional<query_entry> find(std::string_view id) const;
  [[nodiscard]] std::optional<cache_hit> lookup(std::string_view sql, cache_clock::duration max_age,
                                                std::size_t max_inspections, cache_clock::time_point now) const;
  [[nodiscard]] candidate_view candidates() const;
  void set_capacity(std::size_t n);
  [[nodiscard]] std::size_t capacity() const;
  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] cache_stats stats() const noexcept;
  [[nodiscard]] cache_mode mode() const noexcept { return mode_; }

 private:
  bool visit_entry(std::string_view id, detail::entry_visitor f) const;
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  // seq: standard mode, the entry's generation (new on every write, so heap
  // items of older generations are stale); compat mode, its dict position.
  struct slot {
    record_ptr rec;
    std::uint64_t seq = 0;
  };
  struct heap_item {
    cache_clock::time_point submitted_at;
    std::string id;
    std::uint64_t seq = 0;
  };
  struct candidate_key {
    record_ptr rec;
    std::uint64_t seq = 0;
  };
  struct candidate_order {
    cache_mode mode;
    bool operator()(const candidate_key& a, const candidate_key& b) const noexcept {
      return detail::candidate_before(a.rec->entry, a.seq, b.rec->entry, b.seq, mode);
    }
  };
  using candidate_set = std::set<candidate_key, candidate_order>;
  using entry_map = std::unordered_map<std::string, slot, string_hash, std::equal_to<>>;
  using text_map = std::unordered_map<std::string, candidate_set, string_hash, std::equal_to<>>;
  struct prepared;  // the nodes one batch entry may need, allocated up front

  // A reader's lock: the mutex, or nothing when the planted bug
  // locked_cache_unlocked_reads is selected (test-hook builds only), which
  // brings back the original's crash for the stress suites to catch.
  class SNAPCACHE_SCOPED_CAPABILITY read_lock {
   public:
    explicit read_lock(detail::annotated_mutex<std::mutex>& m) SNAPCACHE_ACQUIRE(m) SNAPCACHE_NO_THREAD_SAFETY_ANALYSIS;
    ~read_lock() SNAPCACHE_RELEASE() SNAPCACHE_NO_THREAD_SAFETY_ANALYSIS;
    read_lock(const read_lock&) = delete;
    read_lock& operator=(const read_lock&) = delete;

   private:
    detail::annotated_mutex<std::mutex>& mutex_;
    bool locked_;
  };

  bool heap_before(const heap_item& a, const heap_item& b) const noexcept;
  void heap_push(heap_item item) SNAPCACHE_REQUIRES(mutex_);
  heap_item heap_pop() SNAPCACHE_REQUIRES(mutex_);
  bool is_stale(const heap_item& item) const SNAPCACHE_REQUIRES(mutex_);
  void compact_heap() SNAPCACHE_REQUIRES(mutex_);
  void index(const slot& s, prepared& p) SNAPCACHE_REQUIRES(mutex_);
  void unindex(const slot& s) SNAPCACHE_REQUIRES(mutex_);
  void remove(entry_map::iterator it) SNAPCACHE_REQUIRES(mutex_);
  void evict_oldest_standard() SNAPCACHE_REQUIRES(mutex_);
  std::vector<insert_result> apply_standard(std::vector<prepared>& batch) SNAPCACHE_REQUIRES(mutex_);
  std::vector<insert_result> apply_compat(std::vector<prepared>& batch) SNAPCACHE_REQUIRES(mutex_);

  const cache_mode mode_;
  mutable detail::annotated_mutex<std::mutex> mutex_;
  std::size_t capacity_ SNAPCACHE_GUARDED_BY(mutex_);
  entry_map entries_ SNAPCACHE_GUARDED_BY(mutex_);
  std::vector<heap_item> heap_ SNAPCACHE_GUARDED_BY(mutex_);
  candidate_set candidates_ SNAPCACHE_GUARDED_BY(mutex_);
  text_map by_text_ SNAPCACHE_GUARDED_BY(mutex_);
  std::uint64_t next_seq_ SNAPCACHE_GUARDED_BY(mutex_) = 1;

  // Statistics only: relaxed atomics, no other memory is published through them.
  mutable std::atomic<std::uint64_t> lookups_{0}, hits_{0}, misses_{0}, inspections_{0};
  std::atomic<std::uint64_t> inserts_{0}, replacements_{0}, evictions_{0}, drops_{0};
};

}  // namespace snapcache
