// snapcache::locked_map — a hash map behind one lock, with the interface of
// the lock-free snapcache::hash_map.
//
// The problem. Claims about a lock-free map need something to be measured
// against and checked against. locked_map is that something: the oracle in
// tests (run the same operations on both maps and compare) and the baseline
// in benchmarks (what the lock-free map has to beat).
//
// The mechanism. A std::unordered_map and one mutex. Every operation takes
// the mutex for its whole duration. With std::shared_mutex (or any Mutex
// with lock_shared()) the read-only operations — find, contains, visit,
// size, empty, stats, snapshot — take it shared and run in parallel with
// each other; writers take it exclusive. Values are never handed out by
// reference: find copies the value out, visit calls a function on it while
// the lock is held, and snapshot() copies the whole table.
//
// When to use it. Low contention; small maps; code that needs a concurrent
// map whose behaviour is obvious; and as the reference the lock-free map is
// tested and benchmarked against. When not to: many threads writing at once
// (they queue on one mutex); long visit functions (they block every writer);
// large maps snapshotted often (each snapshot is an O(n) copy made under the
// lock, and writers wait for all of it — the lock-free map's snapshots do
// not stop writers).
//
// Contract
// * Thread-safety: every member may be called from any thread concurrently,
//   except the destructor. A snapshot_type is an independent value: it may be
//   used from any thread and may outlive the map; like any std container, one
//   snapshot object is not to be moved or assigned while another thread reads
//   it.
// * Memory ordering: each operation is linearizable; it takes effect at one
//   instant while the lock is held. Since an unlock synchronizes with the next
//   lock of the same mutex, everything a thread did before a write returned
//   happens-before every operation that later observes that write (and
//   before the copy that find() returns or visit() sees is made).
// * Progress: blocking, for every operation. A thread that stops while
//   holding the lock (a visit or update function that blocks) stops everyone.
// * Snapshots: snapshot() is an O(n) copy of the table made under the lock
//   (shared, with a shared mutex). A snapshot
//   (a) holds exactly the entries present at one instant between the call
//       and its return: no torn entries, no key twice, nothing missing;
//   (b) never sees a write made after that instant, and is unchanged by any
//       later insert, erase or assignment;
//   (c) iterates its entries in an unspecified order that is the same every
//       time it is iterated;
//   (d) owns its copy: it keeps nothing of the map alive and may outlive it.
//       Copyable values are copied; move-only values (std::unique_ptr, a
//       connection) are shared with the map through a shared pointer to an
//       immutable value, which writers replace rather than modify, so the
//       snapshot keeps the values it holds alive (and the last holder,
//       map or snapshot, destroys them).
//   (e) iterates (const Key&, const T&) pairs, and serves find (copyable T),
//       contains and visit(key, f), as hash_map's snapshot does.
// * Exceptions: the strong guarantee, inherited from std::unordered_map's
//   single-element operations. If the hash, the key comparison, a copy of a
//   key or value, an update function or an allocation throws, the exception
//   propagates and the map is unchanged. Assignments to an existing value
//   (insert_or_assign, update, compare_and_replace) build the new value first
//   and move-assign it into place, so T's move assignment must not throw for
//   the guarantee to hold (it holds for std types and for T whose copy
//   assignment is nothrow). Absence is reported as false or std::nullopt,
//   never by an exception.
// * Heterogeneous lookup: every member taking `const K&` accepts K = Key; a
//   K that converts to std::basic_string_view when Key is a std::basic_string
//   hashed and compared by the std defaults (so std::string_view and string
//   literals look up std::string keys without building one); any K when Hash
//   and KeyEqual are both transparent (declare is_transparent) and accept it;
//   otherwise any K from which a Key can be constructed (one temporary Key
//   per call).
// * Callbacks: the functions given to visit and update run under the lock;
//   they must not call back into the same map (that deadlocks).
//
// Differences from std::unordered_map: no iterators or references into the
// map (use visit, find or a snapshot); insert and insert_or_assign take one
// key and value and report only whether they inserted; movable, not
// copyable (moves must not race with operations); each node also stores its hash code
// (so a rehash never calls a throwing hash, and string lookups compare hash
// codes before characters).
#pragma once

#include "snapcache/detail/cxx20.hpp"

#include <concepts>
#include <cstddef>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "snapcache/detail/annotations.hpp"
#include "snapcache/detail/block_cache.hpp"
#include "snapcache/detail/porting_forms.hpp"
#include "snapcache/map_stats.hpp"

namespace snapcache {

namespace detail {

template <class M>
concept shared_lockable = requires(M& m) {
  m.lock_shared();
  m.unlock_shared();
};

// A Mutex as a capability for clang's -Wthread-safety (libstdc++'s mutexes
// carry no annotations). Shared locking falls back to exclusive locking when
// Mutex has no lock_shared().
template <class Mutex>
class SNAPCACHE_CAPABILITY("mutex") annotated_mutex {
 public:
  void lock() SNAPCACHE_ACQUIRE() { mutex_.lock(); }
  void unlock() SNAPCACHE_RELEASE() { mutex_.unlock(); }
  void lock_shared() SNAPCACHE_ACQUIRE_SHARED() {
    if constexpr (shared_lockable<Mutex>) {
      mutex_.lock_shared();
    } else {
      mutex_.lock();
    }
  }
  void unlock_shared() SNAPCACHE_RELEASE_SHARED() {
    if constexpr (shared_lockable<Mutex>) {
      mutex_.unlock_shared();
    } else {
      mutex_.unlock();
    }
  }

 private:
  Mutex mutex_;
};

// Scoped exclusive lock on an annotated_mutex.
template <class Mutex>
class SNAPCACHE_SCOPED_CAPABILITY writer_lock {
 public:
  explicit writer_lock(annotated_mutex<Mutex>& mutex) SNAPCACHE_ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
  ~writer_lock() SNAPCACHE_RELEASE() { mutex_.unlock(); }
  writer_lock(const writer_lock&) = delete;
  writer_lock& operator=(const writer_lock&) = delete;

 private:
  annotated_mutex<Mutex>& mutex_;
};

// Scoped shared lock on an annotated_mutex (exclusive for a Mutex without
// lock_shared()).
template <class Mutex>
class SNAPCACHE_SCOPED_CAPABILITY reader_lock {
 public:
  explicit reader_lock(annotated_mutex<Mutex>& mutex) SNAPCACHE_ACQUIRE_SHARED(mutex) : mutex_(mutex) {
    mutex_.lock_shared();
  }
  ~reader_lock() SNAPCACHE_RELEASE() { mutex_.unlock_shared(); }
  reader_lock(const reader_lock&) = delete;
  reader_lock& operator=(const reader_lock&) = delete;

 private:
  annotated_mutex<Mutex>& mutex_;
};

template <class T>
struct std_string_traits {
  static constexpr bool is_string = false;
  using view = void;
};
template <class Char, class Alloc>
struct std_string_traits<std::basic_string<Char, std::char_traits<Char>, Alloc>> {
  static constexpr bool is_string = true;
  using view = std::basic_string_view<Char>;
};

template <class T>
concept transparent = requires { typename T::is_transparent; };

// Key is a std::basic_string hashed and compared by the std defaults: lookups
// by anything that converts to its string_view need not build a Key.
template <class Key, class Hash, class KeyEqual>
inline constexpr bool std_string_key =
    std_string_traits<Key>::is_string && std::is_same_v<Hash, std::hash<Key>> &&
    (std::is_same_v<KeyEqual, std::equal_to<Key>> || std::is_same_v<KeyEqual, std::equal_to<>>);

template <class Key, class Hash, class KeyEqual, class K>
concept string_view_lookup =
    std_string_key<Key, Hash, KeyEqual> && std::is_convertible_v<const K&, typename std_string_traits<Key>::view>;

template <class Key, class Hash, class KeyEqual, class K>
concept transparent_lookup = transparent<Hash> && transparent<KeyEqual> &&
                             std::is_invocable_r_v<std::size_t, const Hash&, const K&> &&
                             std::is_invocable_r_v<bool, const KeyEqual&, const K&, const Key&> &&
                             std::is_invocable_r_v<bool, const KeyEqual&, const Key&, const K&>;

// K is looked up without building a Key.
template <class Key, class Hash, class KeyEqual, class K>
concept heterogeneous_key = !std::is_same_v<K, Key> && (string_view_lookup<Key, Hash, KeyEqual, K> ||
                                                        transparent_lookup<Key, Hash, KeyEqual, K>);

// What the `const K&` members accept (see "Heterogeneous lookup" above).
template <class Key, class Hash, class KeyEqual, class K>
concept lookup_key = std::is_same_v<K, Key> || heterogeneous_key<Key, Hash, KeyEqual, K> ||
                     std::constructible_from<Key, const K&>;

// The table's hash: Hash, made transparent for the heterogeneous keys.
// Deliberately not noexcept: libstdc++ then caches every node's hash code, so
// a rehash never calls the hash (a hash that throws during a rehash would
// leave the table unspecified) and string lookups compare hash codes first.
template <class Key, class Hash, class KeyEqual>
struct lookup_hash {
  using is_transparent = void;
  using string_view_type = typename std_string_traits<Key>::view;

  std::size_t operator()(const Key& key) const {
    if constexpr (std_string_key<Key, Hash, KeyEqual>) {
      return std::hash<string_view_type>{}(string_view_type(key));
    } else {
      return hash(key);
    }
  }
  template <class K>
    requires heterogeneous_key<Key, Hash, KeyEqual, K>
  std::size_t operator()(const K& key) const {
    if constexpr (string_view_lookup<Key, Hash, KeyEqual, K>) {
      return std::hash<string_view_type>{}(string_view_type(key));
    } else {
      return hash(key);
    }
  }

  [[no_unique_address]] Hash hash;
};

// The table's key comparison: KeyEqual, made transparent likewise.
template <class Key, class Hash, class KeyEqual>
struct lookup_equal {
  using is_transparent = void;
  using string_view_type = typename std_string_traits<Key>::view;

  bool operator()(const Key& a, const Key& b) const { return equal(a, b); }
  template <class K>
    requires heterogeneous_key<Key, Hash, KeyEqual, K>
  bool operator()(const K& a, const Key& b) const {
    if constexpr (string_view_lookup<Key, Hash, KeyEqual, K>) {
      return string_view_type(a) == string_view_type(b);
    } else {
      return equal(a, b);
    }
  }
  template <class K>
    requires heterogeneous_key<Key, Hash, KeyEqual, K>
  bool operator()(const Key& a, const K& b) const {
    return (*this)(b, a);
  }

  [[no_unique_address]] KeyEqual equal;
};

// table.find(key) for any lookup_key K: heterogeneous where supported,
// through one temporary Key otherwise.
template <class Key, class Hash, class KeyEqual, class Table, class K>
auto find_entry(Table& table, const K& key) {
  if constexpr (std::is_same_v<K, Key> || heterogeneous_key<Key, Hash, KeyEqual, K>) {
    return table.find(key);
  } else {
    return table.find(Key(key));
  }
}

// What locked_map stores per key: the value itself when T is copyable (a
// snapshot copies it), else a shared pointer to an immutable T, so that a
// snapshot shares the move-only values it holds instead of copying them
// (writers replace the pointer; the value never changes in place).
template <class T, bool Shared = !std::is_copy_constructible_v<T>>
class locked_value {
 public:
  template <class... Args>
  explicit locked_value(std::in_place_t, Args&&... args) : value_(std::forward<Args>(args)...) {}
  [[nodiscard]] const T& get() const noexcept { return value_; }
  void assign(T&& next) { value_ = std::move(next); }

 private:
  T value_;
};
template <class T>
class locked_value<T, true> {
 public:
  template <class... Args>
  explicit locked_value(std::in_place_t, Args&&... args)
      : value_(std::make_shared<const T>(std::forward<Args>(args)...)) {}
  [[nodiscard]] const T& get() const noexcept { return *value_; }
  // Builds the new value's block first: if that throws, nothing changed.
  void assign(T&& next) { value_ = std::make_shared<const T>(std::move(next)); }

 private:
  std::shared_ptr<const T> value_;
};

}  // namespace detail

template <class Key, class T, class Mutex = std::mutex, class Hash = std::hash<Key>,
          class KeyEqual = std::equal_to<Key>>
class locked_map : public detail::porting_forms<locked_map<Key, T, Mutex, Hash, KeyEqual>, Key, T> {
  using porting = detail::porting_forms<locked_map, Key, T>;
  using table_type = std::unordered_map<Key, detail::locked_value<T>, detail::lookup_hash<Key, Hash, KeyEqual>,
                                        detail::lookup_equal<Key, Hash, KeyEqual>>;

  template <class K>
  static constexpr bool lookup_key = detail::lookup_key<Key, Hash, KeyEqual, K>;

 public:
  using key_type = Key;
  using mapped_type = T;
  using value_type = std::pair<const Key, T>;
  using element = typename porting::element;  // a (key, value) pair of references
  using size_type = std::size_t;
  using hasher = Hash;
  using key_equal = KeyEqual;
  using mutex_type = Mutex;
  // The Boost- and std-shaped forms (detail/porting_forms.hpp): insert(kv),
  // insert(first, last), insert({...}), count, cvisit(key, f),
  // cvisit(first, last, f), cvisit_while / visit_while(f).
  using porting::insert;
  // The same kind of map for other key and value types (std::hash and
  // std::equal_to for them). hash_map provides the same alias.
  template <class K2, class T2>
  using rebind = locked_map<K2, T2, Mutex>;

  class snapshot_type;

  locked_map() : locked_map(0) {}
  // Sized for about `capacity_hint` entries (it grows past them as needed).
  explicit locked_map(std::size_t capacity_hint, const Hash& hash = Hash(), const KeyEqual& equal = KeyEqual())
      : table_(capacity_hint, detail::lookup_hash<Key, Hash, KeyEqual>{hash},
               detail::lookup_equal<Key, Hash, KeyEqual>{equal}) {}
  locked_map(const locked_map&) = delete;
  locked_map& operator=(const locked_map&) = delete;
  // Movable while no operation runs on either map; the moved-from map is
  // empty and usable (each map keeps its own mutex).
  locked_map(locked_map&& other) noexcept(std::is_nothrow_move_constructible_v<table_type>)
      SNAPCACHE_NO_THREAD_SAFETY_ANALYSIS : table_(std::move(other.table_)) {
    other.table_.clear();
  }
  locked_map& operator=(locked_map&& other) noexcept(std::is_nothrow_move_assignable_v<table_type>)
      SNAPCACHE_NO_THREAD_SAFETY_ANALYSIS {
    if (this != &other) {
      table_ = std::move(other.table_);
      other.table_.clear();
    }
    return *this;
  }
  // Exchanges the contents; the same precondition as a move.
  void swap(locked_map& other) noexcept SNAPCACHE_NO_THREAD_SAFETY_ANALYSIS { table_.swap(other.table_); }
  friend void swap(locked_map& a, locked_map& b) noexcept { a.swap(b); }

  // Adds (key, value) if key is absent. Returns true if it was added; a
  // present key keeps its value (and an rvalue value is not moved from).
  template <class K, class V>
    requires std::constructible_from<Key, K&&> && std::constructible_from<T, V&&>
  bool insert(K&& key, V&& value) {
    return try_emplace(std::forward<K>(key), std::forward<V>(value));
  }

  // Adds a value built from args if key is absent; builds nothing otherwise.
  template <class K, class... Args>
    requires std::constructible_from<Key, K&&> && std::constructible_from<T, Args&&...>
  bool try_emplace(K&& key, Args&&... args) {
    detail::writer_lock<Mutex> lock(mutex_);
    return table_.try_emplace(Key(std::forward<K>(key)), std::in_place, std::forward<Args>(args)...).second;
  }
  template <class K, class... Args>
    requires std::constructible_from<Key, K&&> && std::constructible_from<T, Args&&...>
  bool emplace(K&& key, Args&&... args) {
    return try_emplace(std::forward<K>(key), std::forward<Args>(args)...);
  }

  // Adds (key, value), or assigns value to a present key. Returns true if it
  // inserted, false if it assigned.
  template <class K, class V>
    requires std::constructible_from<Key, K&&> && std::constructible_from<T, V&&>
  bool insert_or_assign(K&& key, V&& value) {
    detail::writer_lock<Mutex> lock(mutex_);
    Key k(std::forward<K>(key));
    auto entry = table_.find(k);
    if (entry == table_.end()) {
      table_.try_emplace(std::move(k), std::in_place, std::forward<V>(value));
      return true;
    }
    T next(std::forward<V>(value));  // built first: an assignment that throws changes nothing
    entry->second.assign(std::move(next));
    return false;
  }

  // Adds (key, value) if key is absent and returns true; otherwise calls
  // f(const T&) on the present value, under the lock, and returns false.
  template <class K, class V, class F>
    requires std::constructible_from<Key, K&&> && std::constructible_from<T, V&&>
  bool insert_or_visit(K&& key, V&& value, F&& f) {
    return try_emplace_or_visit(std::forward<K>(key), std::forward<F>(f), std::forward<V>(value));
  }
  template <class K, class F, class... Args>
    requires std::constructible_from<Key, K&&> && std::constructible_from<T, Args&&...>
  bool try_emplace_or_visit(K&& key, F&& f, Args&&... args) {
    detail::writer_lock<Mutex> lock(mutex_);
    auto [entry, inserted] = table_.try_emplace(Key(std::forward<K>(key)), std::in_place, std::forward<Args>(args)...);
    if (!inserted) std::invoke(std::forward<F>(f), entry->second.get());
    return inserted;
  }

  // Removes key if its value satisfies pred(const T&). Returns whether it
  // erased.
  template <class K, class Pred>
    requires lookup_key<K>
  bool erase_if(const K& key, Pred&& pred) {
    detail::writer_lock<Mutex> lock(mutex_);
    auto entry = detail::find_entry<Key, Hash, KeyEqual>(table_, key);
    if (entry == table_.end() || !std::invoke(pred, entry->second.get())) return false;
    table_.erase(entry);
    return true;
  }

  // Erases every entry whose value satisfies pred(const Key&, const T&), all
  // under one hold of the lock (so, here, at one instant). Returns how many.
  template <class Pred>
    requires std::is_invocable_r_v<bool, Pred&, const Key&, const T&>
  std::size_t erase_if(Pred pred) {
    detail::writer_lock<Mutex> lock(mutex_);
    return std::erase_if(table_, [&](const auto& entry) { return pred(entry.first, entry.second.get()); });
  }

  // Calls f(const Key&, const T&) for every entry, under the lock (shared
  // with a shared mutex): one instant. Returns how many.
  template <class F>
  std::size_t visit_all(F&& f) const {
    detail::reader_lock<Mutex> lock(mutex_);
    for (const auto& [k, v] : table_) f(k, v.get());
    return table_.size();
  }

  // Erases every key, at one instant.
  void clear() {
    detail::writer_lock<Mutex> lock(mutex_);
    table_.clear();
  }

  // Makes room for n entries without a rehash.
  void reserve(std::size_t n) {
    detail::writer_lock<Mutex> lock(mutex_);
    table_.reserve(n);
  }

  // Removes key. Returns whether it was present.
  template <class K>
    requires lookup_key<K>
  bool erase(const K& key) {
    detail::writer_lock<Mutex> lock(mutex_);
    auto entry = detail::find_entry<Key, Hash, KeyEqual>(table_, key);
    if (entry == table_.end()) return false;
    table_.erase(entry);
    return true;
  }

  // A copy of key's value, or std::nullopt if absent (copyable T only:
  // visit() serves the others).
  template <class K>
    requires lookup_key<K> && std::copy_constructible<T>
  [[nodiscard]] std::optional<T> find(const K& key) const {
    detail::reader_lock<Mutex> lock(mutex_);
    auto entry = detail::find_entry<Key, Hash, KeyEqual>(table_, key);
    if (entry == table_.end()) return std::nullopt;
    return entry->second.get();
  }

  template <class K>
    requires lookup_key<K>
  [[nodiscard]] bool contains(const K& key) const {
    detail::reader_lock<Mutex> lock(mutex_);
    return detail::find_entry<Key, Hash, KeyEqual>(table_, key) != table_.end();
  }

  // Calls f(const element&) on key's element, (stored key, value), under
  // the lock, if key is present. Returns whether it was present (f is not
  // called otherwise). cvisit(key, f) is the same.
  template <class K, class F>
    requires lookup_key<K> && std::invocable<F, const element&>
  bool visit(const K& key, F&& f) const {
    detail::reader_lock<Mutex> lock(mutex_);
    auto entry = detail::find_entry<Key, Hash, KeyEqual>(table_, key);
    if (entry == table_.end()) return false;
    std::invoke(std::forward<F>(f), element(entry->first, entry->second.get()));
    return true;
  }

  // The same, calling f(const T&) with the value alone.
  template <class K, class F>
    requires lookup_key<K> && std::invocable<F, const T&>
  bool visit_value(const K& key, F&& f) const {
    detail::reader_lock<Mutex> lock(mutex_);
    auto entry = detail::find_entry<Key, Hash, KeyEqual>(table_, key);
    if (entry == table_.end()) return false;
    std::invoke(std::forward<F>(f), entry->second.get());
    return true;
  }

  // visit(key, f) for each key of [first, last), in order, each under its
  // own lock; returns how many were present (hash_map's batched form has
  // the same contract). cvisit(first, last, f) is the same.
  template <std::forward_iterator It, std::sentinel_for<It> End, class F>
  std::size_t visit(It first, End last, F&& f) const {
    std::size_t found = 0;
    for (; first != last; ++first) found += visit(*first, f) ? 1 : 0;
    return found;
  }

  // Atomically replaces key's value v by f(v) (f returns a T). Returns false,
  // without calling f, if key is absent. If f throws, the value is unchanged.
  template <class K, class F>
    requires lookup_key<K> && std::is_invocable_r_v<T, F, const T&>
  bool update(const K& key, F&& f) {
    detail::writer_lock<Mutex> lock(mutex_);
    auto entry = detail::find_entry<Key, Hash, KeyEqual>(table_, key);
    if (entry == table_.end()) return false;
    T next = std::invoke(std::forward<F>(f), entry->second.get());
    entry->second.assign(std::move(next));
    return true;
  }

  // Replaces key's value by desired if it equals expected (T's operator==).
  // Returns whether it replaced; false if absent or different.
  template <class K>
    requires lookup_key<K>
  bool compare_and_replace(const K& key, const T& expected, T desired) {
    detail::writer_lock<Mutex> lock(mutex_);
    auto entry = detail::find_entry<Key, Hash, KeyEqual>(table_, key);
    if (entry == table_.end() || !(entry->second.get() == expected)) return false;
    entry->second.assign(std::move(desired));
    return true;
  }

  [[nodiscard]] std::size_t size() const {
    detail::reader_lock<Mutex> lock(mutex_);
    return table_.size();
  }

  [[nodiscard]] bool empty() const {
    detail::reader_lock<Mutex> lock(mutex_);
    return table_.empty();
  }

  // A copy of the whole map, taken under the lock (see "Snapshots" above).
  [[nodiscard]] snapshot_type snapshot() const {
    detail::reader_lock<Mutex> lock(mutex_);
    return snapshot_type(table_);
  }

  [[nodiscard]] map_stats stats() const {
    detail::reader_lock<Mutex> lock(mutex_);
    map_stats s;
    s.live_entries = table_.size();
    s.live_versions = table_.size();
    // A node holds the pair and a link (and, here, the cached hash code).
    s.heap_bytes = table_.size() * (sizeof(typename table_type::value_type) + 2 * sizeof(void*)) +
                   table_.bucket_count() * sizeof(void*);
    s.cached_block_bytes = detail::cached_block_bytes();  // process-wide: other maps' and caches'
    s.slab_bytes = detail::slab_bytes();
    return s;
  }

 private:
  mutable detail::annotated_mutex<Mutex> mutex_;
  table_type table_ SNAPCACHE_GUARDED_BY(mutex_);
};

// The contents of a locked_map at one instant. Move-only (like hash_map's);
// iterates (const Key&, const T&) pairs as hash_map's snapshot does, so
// `for (auto& [k, v] : snap)` works. Copyable values are copied into it;
// move-only ones are shared with the map (see detail::locked_value).
template <class Key, class T, class Mutex, class Hash, class KeyEqual>
class locked_map<Key, T, Mutex, Hash, KeyEqual>::snapshot_type {
 public:
  using key_type = Key;
  using mapped_type = T;

  // operator* returns a reference to a (key, value) pair of references held
  // in the iterator, rewritten by the next increment (as in hash_map).
  class iterator {
   public:
    using value_type = std::pair<const Key&, const T&>;
    using reference = const value_type&;
    using pointer = const value_type*;
    using difference_type = std::ptrdiff_t;
    using iterator_category = std::input_iterator_tag;  // the pair is stashed

    iterator() = default;
    iterator(const iterator& other) : entry_(other.entry_) {}
    iterator& operator=(const iterator& other) {
      entry_ = other.entry_;
      current_.reset();
      return *this;
    }

    reference operator*() const {
      current_.emplace(entry_->first, entry_->second.get());
      return *current_;
    }
    pointer operator->() const { return &**this; }
    iterator& operator++() {
      ++entry_;
      return *this;
    }
    iterator operator++(int) {
      iterator before = *this;
      ++entry_;
      return before;
    }
    friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.entry_ == b.entry_; }

   private:
    friend class snapshot_type;
    explicit iterator(typename table_type::const_iterator entry) : entry_(entry) {}

    typename table_type::const_iterator entry_{};
    mutable std::optional<value_type> current_;
  };
  using const_iterator = iterator;
  using value_type = typename iterator::value_type;

  snapshot_type(snapshot_type&&) = default;
  snapshot_type& operator=(snapshot_type&&) = default;
  snapshot_type(const snapshot_type&) = delete;
  snapshot_type& operator=(const snapshot_type&) = delete;
  ~snapshot_type() = default;

  [[nodiscard]] iterator begin() const noexcept { return iterator(table_.begin()); }
  [[nodiscard]] iterator end() const noexcept { return iterator(table_.end()); }
  [[nodiscard]] std::size_t size() const noexcept { return table_.size(); }
  [[nodiscard]] bool empty() const noexcept { return table_.empty(); }

  // A copy of key's value then (copyable T only: visit() serves the others).
  template <class K>
    requires lookup_key<K> && std::copy_constructible<T>
  [[nodiscard]] std::optional<T> find(const K& key) const {
    auto entry = detail::find_entry<Key, Hash, KeyEqual>(table_, key);
    if (entry == table_.end()) return std::nullopt;
    return entry->second.get();
  }

  template <class K>
    requires lookup_key<K>
  [[nodiscard]] bool contains(const K& key) const {
    return detail::find_entry<Key, Hash, KeyEqual>(table_, key) != table_.end();
  }

  // Calls f(const element&) with key's element then, (stored key, value),
  // in place, and returns true; false if key was absent then.
  template <class K, class F>
    requires lookup_key<K> && std::invocable<F, const element&>
  bool visit(const K& key, F&& f) const {
    auto entry = detail::find_entry<Key, Hash, KeyEqual>(table_, key);
    if (entry == table_.end()) return false;
    std::invoke(std::forward<F>(f), element(entry->first, entry->second.get()));
    return true;
  }
  // The same, calling f(const T&) with the value alone.
  template <class K, class F>
    requires lookup_key<K> && std::invocable<F, const T&>
  bool visit_value(const K& key, F&& f) const {
    auto entry = detail::find_entry<Key, Hash, KeyEqual>(table_, key);
    if (entry == table_.end()) return false;
    std::invoke(std::forward<F>(f), entry->second.get());
    return true;
  }

 private:
  friend class locked_map;
  explicit snapshot_type(const table_type& table) : table_(table) {}

  table_type table_;
};

}  // namespace snapcache
