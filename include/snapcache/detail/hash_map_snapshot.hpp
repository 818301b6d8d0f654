// snapcache::hash_map's snapshot and its iterator: what a snapshot holds
// (its registry slot, its timestamp), how it reads a key at its instant,
// and how it scans the table in batches. Defined out of the class so that
// hash_map.hpp reads as the API; a nested class still reads the map's
// private parts. Included by hash_map.hpp only, after the class.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <utility>

#include "snapcache/hash_map.hpp"

namespace snapcache {

template <class Key, class T, class Hash, class KeyEqual>
class hash_map<Key, T, Hash, KeyEqual>::snapshot_type {
 public:
  snapshot_type(snapshot_type&& other) noexcept
      : map_(std::exchange(other.map_, nullptr)),
        slot_(std::exchange(other.slot_, nullptr)),
        timestamp_(other.timestamp_),
        steps_(other.steps_) {}
  snapshot_type& operator=(snapshot_type&& other) noexcept {
    if (this != &other) {
      close();
      map_ = std::exchange(other.map_, nullptr);
      slot_ = std::exchange(other.slot_, nullptr);
      timestamp_ = other.timestamp_;
      steps_ = other.steps_;
    }
    return *this;
  }
  snapshot_type(const snapshot_type&) = delete;
  snapshot_type& operator=(const snapshot_type&) = delete;
  ~snapshot_type() { close(); }

  class iterator;
  // The first call finishes a migration in flight, if any, and holds the
  // table it will scan until the snapshot closes. May throw std::bad_alloc
  // (the calling thread's first pin).
  // May throw std::bad_alloc: on the thread's first pin, or when it must
  // size a pending shrink before scanning.
  // A moved-from snapshot is empty.
  [[nodiscard]] iterator begin() const {
    if (map_ == nullptr) return end();
    return iterator(map_, map_->scan_table(*slot_), timestamp_);
  }
  [[nodiscard]] iterator end() const noexcept { return iterator(); }

  // Exact. The first call on a snapshot walks it (O(n): about 49 ms at
  // 1,000,000 entries on the 2-core VM), later calls are O(1) (the count
  // is remembered); safe from several threads at once. A moved-from
  // snapshot has size 0.
  [[nodiscard]] std::size_t size() const {
    if (slot_ == nullptr) return 0;
    std::uint64_t n = slot_->size.load(std::memory_order_relaxed);  // the value is all it carries
    if (n == detail::size_unknown) {
      n = 0;
      for (auto it = begin(); it != end(); ++it) ++n;
      slot_->size.store(n, std::memory_order_relaxed);  // a value only: every thread computes the same
    }
    return static_cast<std::size_t>(n);
  }
  [[nodiscard]] bool empty() const { return size() == 0; }

  template <class K>
    requires std::copy_constructible<T>
  [[nodiscard]] std::optional<T> find(const K& key) const {
    const version_type* v = visible(key);
    return v ? std::optional<T>(v->value()) : std::nullopt;
  }
  template <class K>
  [[nodiscard]] bool contains(const K& key) const {
    return visible(key) != nullptr;
  }
  // Calls f(const element&) with key's element at the snapshot's instant,
  // (stored key, value), in place (move-only values included), and returns
  // true; false if key was absent then. f runs unpinned: the snapshot keeps
  // the value alive.
  template <class K, class F>
  bool visit(const K& key, F&& f) const {
    const version_type* v = visible(key);
    if (v == nullptr) return false;
    std::forward<F>(f)(element(v->key, v->value()));
    return true;
  }
  // The same, calling f(const T&) with the value alone.
  template <class K, class F>
  bool visit_value(const K& key, F&& f) const {
    const version_type* v = visible(key);
    if (v == nullptr) return false;
    std::forward<F>(f)(v->value());
    return true;
  }

  // The clock value the snapshot reads at.
  [[nodiscard]] std::uint64_t timestamp() const noexcept { return timestamp_; }
  // Steps taking it took (slots scanned, announcements made): a test
  // diagnostic for the O(1) claim; independent of the map's size.
  [[nodiscard]] std::size_t steps() const noexcept { return steps_; }

  // Iterates the snapshot's table in slot order, a batch of 64 to 95 keys
  // (whole windows of 32 slots) at a time under one short epoch guard; an
  // old snapshot's walks down deep chains go down a window's chains
  // together, so their misses overlap (the versions a snapshot reads
  // are never unlinked while it lives, so the batch stays valid unpinned).
  // Points at the snapshot's slot, not at the snapshot object: moving the
  // snapshot leaves it valid.
  // operator* returns a reference to a (key, value) pair of references held
  // in the iterator, so `for (auto& [k, v] : snap)` works as it does over
  // a const std::map; the pair is rewritten by the next increment (the
  // key and value it refers to stay valid while the snapshot lives).
  class iterator {
   public:
    using value_type = std::pair<const Key&, const T&>;
    using reference = const value_type&;
    using pointer = const value_type*;
    using difference_type = std::ptrdiff_t;
    using iterator_category = std::input_iterator_tag;  // the pair is stashed: see above

    iterator() noexcept = default;

    reference operator*() const noexcept {
      const version_type* v = batch_[index_];
      current_.emplace(v->key, v->value());
      return *current_;
    }
    pointer operator->() const noexcept { return &**this; }

    iterator& operator++() {
      if (++index_ == count_) fill();
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
      return a.batch_[a.index_] == b.batch_[b.index_];
    }

   private:
    friend class snapshot_type;
    static constexpr std::size_t batch_size = 64;
    static constexpr std::size_t lookahead = 32;  // slots whose versions are prefetched ahead

    iterator(const hash_map* map, detail::slot_table* table, std::uint64_t t)
        : map_(map), table_(table), timestamp_(t) {
      fill();
    }

    // Collects the next batch of visible entries, from position_ on.
    void fill() {
      count_ = 0;
      index_ = 0;
      if (table_ == nullptr || position_ >= table_->capacity) return;
      const auto g = map_->domain_->pin();
      SNAPCACHE_PARK(iterate_while_pinned);
      const std::size_t capacity = table_->capacity;
      while (position_ < capacity && count_ < batch_size) {
        // Read a window of slot words (each yields at most one entry: the
        // batch has room for a whole window past batch_size), prefetch
        // the versions they name, then walk them: the misses overlap
        // instead of queueing.
        const std::size_t end = std::min(capacity, position_ + lookahead);
        std::uint64_t words[lookahead];
        std::size_t n = 0;
        for (std::size_t i = position_; i < end; ++i) {
          const std::uint64_t w = slot(*table_, i).load(std::memory_order_seq_cst);
          words[n++] = w;
          if (detail::slot_holds_version(w)) __builtin_prefetch(detail::slot_version<version_type>(w));
        }
        walk_window(words, n);
        position_ += n;
      }
    }

    // Finds the version each of the n slot words shows the snapshot and
    // appends the visible ones in slot order. A head newer than the
    // snapshot sends its walk down the chain; the walks of the window go
    // down together, one step each per round with the next version
    // prefetched, so an old snapshot's deep chains cost overlapping misses
    // rather than one queue of them.
    SNAPCACHE_ALWAYS_INLINE void walk_window(const std::uint64_t* words, std::size_t n) {
      // Until the first walk starts, entries go straight to the batch;
      // from then on they wait in `found`, to keep slot order.
      const version_type* found[lookahead];
      const version_type* cursor[lookahead];
      std::size_t walking = 0, first_walk = n;
      for (std::size_t i = 0; i < n; ++i) {
        if (walking > 0) {  // only the slots from the first walk on are read back
          found[i] = nullptr;
          cursor[i] = nullptr;
        }
        std::uint64_t w = words[i];
        if ((w & detail::slot_moved) != 0) {
          detail::slot_table* at = table_;
          resolve(at, w);
        }
        if (!detail::slot_holds_version(w)) continue;
        version_type* head = detail::slot_version<version_type>(w);
        const version_type* v = nullptr;
        // One load of the stamp word answers both questions: its stamp
        // (stamped first if it is not yet: rare) and the constant tombstone flag.
        const std::uint64_t word = head->stamp_word.load(std::memory_order_seq_cst);
        const std::uint64_t stamp =
            stamp_value(word) != detail::unstamped ? stamp_value(word) : map_->stamp(head);
        if (is_planted(detail::planted_bug::snapshot_reads_live_value)) {
          v = map_->visible_at(head, timestamp_);
        } else if (stamp <= timestamp_) {
          v = (word & detail::tombstone_flag) != 0 ? nullptr : head;
        } else if (version_type* older = detail::strip(head->older.load(std::memory_order_seq_cst))) {
          __builtin_prefetch(older);
          if (walking++ == 0) first_walk = i;
          found[i] = nullptr;
          cursor[i] = older;
          continue;
        }
        if (v == nullptr) continue;
        if (walking == 0) {
          batch_[count_++] = v;
        } else {
          found[i] = v;
        }
      }
      while (walking > 0) {
        for (std::size_t i = first_walk; i < n; ++i) {
          const version_type* v = cursor[i];
          if (v == nullptr) continue;
          // Below a head: stamped before it was linked under it.
          if (stamp_value(v->stamp_word.load(std::memory_order_seq_cst)) <= timestamp_) {
            found[i] = v->is_tombstone() ? nullptr : v;
            cursor[i] = nullptr;
          } else if ((cursor[i] = detail::strip(v->older.load(std::memory_order_seq_cst))) != nullptr) {
            __builtin_prefetch(cursor[i]);
            continue;
          }
          --walking;
        }
      }
      for (std::size_t i = first_walk; i < n; ++i) {
        if (found[i] != nullptr) batch_[count_++] = found[i];
      }
    }

    const hash_map* map_ = nullptr;
    detail::slot_table* table_ = nullptr;
    std::uint64_t timestamp_ = 0;
    std::size_t position_ = 0;
    const version_type* batch_[batch_size + lookahead];
    std::size_t count_ = 0;
    std::size_t index_ = 0;
    mutable std::optional<value_type> current_;  // what operator* returns a reference to
  };

 private:
  friend class hash_map;
  // The version of key this snapshot reads (it stays valid while the
  // snapshot lives), or null.
  template <class K>
  const version_type* visible(const K& key) const {
    if (map_ == nullptr) return nullptr;  // moved from: empty
    return map_->with_key(key, [&](const auto& k) -> const version_type* {
      const std::uint64_t h = map_->hash_key(k);
      const auto g = map_->domain_->pin();
      version_type* head = map_->head_of(h, k);
      return head ? map_->visible_at(head, timestamp_) : nullptr;
    });
  }

  explicit snapshot_type(const hash_map& map) : map_(&map) {
    timestamp_ = map.registry_.open(slot_, steps_);
  }
  void close() noexcept {
    if (map_ == nullptr) return;
    detail::kept_record* kept = map_->registry_.close(slot_);
    if (detail::slot_table* t = slot_->table.exchange(nullptr, std::memory_order_acq_rel)) {  // pairs with scan_table
      if (!is_planted(detail::planted_bug::scan_without_table_reference)) detail::slot_table::release(t);
    }
    {
      const auto g = map_->domain_->try_pin();  // for the sweep of closed slots (none if it fails)
      map_->registry_.release_slot(slot_, g);
    }
    if (kept != nullptr || map_->orphans_.load(std::memory_order_relaxed) != nullptr) {  // a hint: recheck takes the list
      map_->recheck(kept);
    }
    map_ = nullptr;
  }

  const hash_map* map_ = nullptr;
  detail::snapshot_slot* slot_ = nullptr;
  std::uint64_t timestamp_ = 0;
  std::size_t steps_ = 0;
};

}  // namespace snapcache
