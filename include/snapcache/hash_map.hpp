// snapcache::hash_map — a lock-free hash map whose snapshots never invalidate.
//
// The problem. Readers that iterate a concurrent map while others insert and
// erase either crash (iterator invalidation), see a key twice or miss it
// (weakly consistent iteration), or lock out every writer for the length of
// the scan. Services that scan a cache while it is written need a scan that
// is consistent, cheap to start, and never in a writer's way.
//
// The mechanism. An open-addressed array of 8-byte slots (detail/
// slot_table.hpp), each pointing at the newest version of one key; a version
// holds the key, the value, a timestamp and a link to the next older version
// (detail/version.hpp), so a lookup reads one line of slots and one version.
// A key's home slot is the top bits of its hash times the table's own random
// salt, so neither crafted keys nor keys read back from a listing (slot
// order) flood a table.
// Every write allocates a version and installs it with one CAS on the slot;
// erase installs a tombstone. A version is stamped with a snapshot clock
// after it is installed, and whoever meets an unstamped version stamps it
// first (Wei et al., PPoPP 2021). snapshot() announces a timestamp t and
// advances the clock past it: the snapshot reads, per key, the newest
// version stamped <= t. A write unlinks the version it replaced at once
// unless a live snapshot reads it; then the version is kept and rechecked
// when that snapshot closes (detail/kept_record.hpp). The table grows and is
// cleaned of dead keys by a cooperative migration that copies slot pointers,
// never versions (detail/migration.hpp). Memory is reclaimed with epochs
// (snapcache::ebr; the process-wide default domain unless one is given), and
// a snapshot holds no epoch guard between the steps of its iteration.
//
// When not to use it. If you never iterate while writing, a plain hash table
// behind a lock, or a striped one, is smaller and often faster single-
// threaded. Every write allocates a version (and frees one after a grace
// period), 16 bytes larger while a snapshot is live; an erased key keeps its
// slot, with a tombstone, until a migration drops it.
//
// Contract
// * Thread-safety: every member may be called concurrently from any thread,
//   except the destructor. A snapshot may be moved to and used from another
//   thread; its const members may be called from several threads at once.
//   One iterator object must not be used by two threads at once.
// * Progress: insert, insert_or_assign, erase, find, contains, visit, update,
//   compare_and_replace, snapshot() and every snapshot operation are
//   lock-free: no mutex, spin-wait or blocking call; a thread stopped at any
//   step (a migration's included) never stops the others. (The first
//   operation of a thread registers it with the reclamation domain.)
// * Linearizability: every operation, snapshot() included, takes effect at
//   one instant between its call and its return (points in docs/design.md).
// * Snapshots: (a) size() is exact and iterating yields each key present at
//   the snapshot's instant exactly once, with the value it had then; (b) the
//   same contents every time, whatever writers do meanwhile, migrations
//   included; (c) find() and contains() answer for that instant; (d) taking
//   one is O(1); closing one costs O(1) amortised plus, per version kept
//   for it, one scan of the live snapshots' announcements (O(live
//   snapshots)) and O(1) to reach it, whatever the number of newer versions
//   (unlinking a version hands the record below it on to the next; a chain
//   walk only if a version made just before a snapshot started was
//   unlinked above it);
//   iterating or finding in a snapshot walks each key's chain from its head
//   to the version the snapshot reads: O(1 + newer versions of the key);
//   (e) writers never wait for a snapshot and a snapshot never waits for a
//   writer; (f) iterators stay valid when their snapshot object is moved.
// * Memory ordering: an insert or assignment happens-before any find,
//   visit, or snapshot that observes its value.
// * Lifetime: values passed to visit() and references from snapshot
//   iteration stay valid while the visit runs / the snapshot lives. A
//   snapshot must not outlive its map: the destructor checks it and aborts
//   with a message. Value versions linked stay within live keys + one per key
//   per live snapshot that sees the key, whatever the number of snapshots;
//   what reclamation has not freed yet is bounded by the domain (ebr.hpp:
//   3 x threads x batch objects and 3 x threads x batch_bytes bytes, a
//   version weighing its size plus snapcache::heap_bytes of its key and
//   value). An overwritten or erased value is destroyed once no snapshot
//   reads it and a grace period has passed, on whichever thread collects —
//   not in the destructor of the map: the destructor destroys the live
//   values, and values retired earlier are destroyed within a few
//   operations of any thread in the domain, or at once by
//   ebr::domain::synchronize() (the map's domain; the process-wide one by
//   default). A service whose values own resources (connections, files)
//   calls synchronize() at shutdown, after destroying the map. A snapshot
//   that has iterated keeps the slot table it scanned (and every newer one)
//   until it closes.
// * What runs pinned: no user code that builds a value. Key and T copies
//   and moves, emplace's arguments, update's callable, erase_if's and
//   compare_and_replace's comparisons run outside any epoch guard (a write
//   builds its version first, then pins once per attempt to install it; a
//   write that needs the present value holds that one version meanwhile).
//   Pinned, and so holding reclamation back while they run: Hash on stored
//   keys (only where it is recomputed: arithmetic keys), KeyEqual on stored
//   keys, visit()'s and insert_or_visit()'s callables, find()'s copy of the
//   value, and snapcache::heap_bytes on a retired version. A slow one of
//   these delays every thread's reclamation by its duration.
// * Exceptions: if Hash, KeyEqual, a copy of Key or T, or an allocation
//   throws, the operation has no effect (strong guarantee) and leaks
//   nothing. A throwing callable in update() leaves the value unchanged.
//   Migration, closing a snapshot and the destructor call no user code but
//   destructors and, for arithmetic keys under a noexcept Hash (whose hash
//   is recomputed rather than stored), that Hash.
// * Values: moved when given as rvalues (insert, insert_or_assign, emplace,
//   try_emplace build the value once, when the key is found in the state
//   they need); move-only and non-default-constructible T work with every
//   operation but find() (which copies; visit() and snapshots serve them).
// * Whole-map operations: visit_all() sees one instant (a snapshot's);
//   erase_if(pred) and clear() go key by key (each key linearizable, the
//   whole not: a snapshot taken meanwhile may see some keys erased and not
//   others, and keys inserted meanwhile may stay). reserve(n) migrates now.
//   Their exception guarantee is the basic one, per key: if a Key copy (a
//   tombstone's), the predicate or an allocation throws, the call stops and
//   rethrows; the keys it erased before stay erased, the key it was at and
//   every later one stay as they were, the map stays valid and nothing
//   leaks (tested with the 501st Key copy of 1,000 throwing).
// * Heterogeneous lookup: an argument of another type than Key is used as
//   is only within Key's string family (std::string, std::string_view, C
//   strings) under a transparent Hash and KeyEqual; any other argument is
//   converted to Key first (implicitly, as std::unordered_map::find would),
//   so a lookup never misses what compares equal.
// * Moving: a map is movable (not copyable) while no operation runs on it;
//   the moved-from map is empty and usable. Moving or destroying a map with
//   a live snapshot aborts with a message (every build).
// * Statistics: stats() reads counters without stopping anyone; map_stats.hpp
//   gives each field's cost.
//
// Differences from std::unordered_map: no iterators into the live map (use a
// snapshot); find returns a copy (std::optional<T>); no references to values
// outside visit() and snapshots; values are immutable once in the map (a
// write installs a new version); erase/insert never invalidate anything.
#pragma once

#include "snapcache/detail/cxx20.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "snapcache/detail/kept_record.hpp"
#include "snapcache/detail/map_counters.hpp"
#include "snapcache/detail/migration.hpp"
#include "snapcache/detail/porting_forms.hpp"
#include "snapcache/detail/slot_kind.hpp"
#include "snapcache/detail/slot_table.hpp"
#include "snapcache/detail/snapshot_registry.hpp"
#include "snapcache/detail/test_hooks.hpp"
#include "snapcache/detail/version.hpp"
#include "snapcache/ebr.hpp"
#include "snapcache/hash.hpp"
#include "snapcache/map_stats.hpp"

namespace snapcache {

namespace detail {

// Benchmark-only: bench/meson.build builds one map_bench with
// SNAPCACHE_BENCH_UNVERSIONED, where a write replaces its key's version
// outright (no stamp, no chain, no snapshot can be taken), to measure what
// versioning costs the other operations. Never defined in a real build.
#if defined(SNAPCACHE_BENCH_UNVERSIONED)
inline constexpr bool versioned = false;
#else
inline constexpr bool versioned = true;
#endif

// Hashes whose output is already well mixed say so with `is_avalanching`;
// others are mixed once more, since the table indexes by the low bits.
template <class Hash>
concept avalanching_hash = requires { typename Hash::is_avalanching; };

[[nodiscard]] constexpr std::uint64_t post_mix(std::uint64_t h) noexcept {
  h ^= h >> 32;
  h *= 0x9E3779B97F4A7C15ULL;
  return h ^ (h >> 29);
}

// The string family of a character type: basic_string, basic_string_view,
// and C strings (pointers and arrays). Only within it is a lookup argument of
// another type than the key's used as is (see hash_map::with_key).
template <class S>
struct string_family {
  static constexpr bool value = false;
};
template <class C, class Traits, class Alloc>
struct string_family<std::basic_string<C, Traits, Alloc>> {
  static constexpr bool value = true;
  using char_type = C;
};
template <class C, class Traits>
struct string_family<std::basic_string_view<C, Traits>> {
  static constexpr bool value = true;
  using char_type = C;
};
template <class C>
  requires std::is_same_v<C, char> || std::is_same_v<C, wchar_t> || std::is_same_v<C, char8_t> ||
           std::is_same_v<C, char16_t> || std::is_same_v<C, char32_t>
struct string_family<C*> {
  static constexpr bool value = true;
  using char_type = C;
};
template <class C>
struct string_family<const C*> : string_family<C*> {};
template <class C, std::size_t N>
struct string_family<C[N]> : string_family<C*> {};
template <class C, std::size_t N>
struct string_family<const C[N]> : string_family<C*> {};

template <class A, class B>
concept same_string_family = string_family<std::remove_cvref_t<A>>::value &&
                             string_family<std::remove_cvref_t<B>>::value &&
                             std::is_same_v<typename string_family<std::remove_cvref_t<A>>::char_type,
                                            typename string_family<std::remove_cvref_t<B>>::char_type>;

template <class F>
concept transparent_functor = requires { typename F::is_transparent; };

// A character pointer key under the default hash would be hashed by the
// characters it points to but compared by address (std::equal_to<>): a key
// whose characters change is lost, and a null one crashes. hash_map rejects
// that pairing at compile time.
template <class Key, class Hash>
inline constexpr bool character_pointer_key =
    std::is_pointer_v<Key> && string_family<std::remove_cv_t<Key>>::value && std::is_same_v<Hash, seeded_hash<Key>>;

}  // namespace detail

template <class Key, class T, class Hash = seeded_hash<Key>, class KeyEqual = std::equal_to<>>
class hash_map : public detail::porting_forms<hash_map<Key, T, Hash, KeyEqual>, Key, T> {
  using porting = detail::porting_forms<hash_map, Key, T>;
  static_assert(!detail::character_pointer_key<Key, Hash>,
                "snapcache::hash_map: a char* / const char* key would be hashed by its characters but compared by "
                "address; use std::string or std::string_view keys (or give a Hash that hashes the pointer, such as "
                "std::hash<Key>, to key by address)");
  // Keep the full hash in each version when recomputing it could throw or
  // cost (migration calls no user code that may throw): anything but
  // arithmetic keys with a non-throwing hash.
  static constexpr bool stores_hash =
      !((std::is_arithmetic_v<Key> || std::is_enum_v<Key>) && std::is_nothrow_invocable_v<const Hash&, const Key&>);
  using version_type = detail::version<Key, T, stores_hash>;
  using migration = detail::migration<version_type, hash_map>;
  friend migration;

 public:
  using key_type = Key;
  using mapped_type = T;
  using value_type = std::pair<const Key, T>;
  using element = typename porting::element;  // a (key, value) pair of references
  using size_type = std::size_t;
  using hasher = Hash;
  using key_equal = KeyEqual;
  // The same kind of map over other types (with the default hash of K2; a
  // map of pair slots rebinds to one of pair slots).
  template <class K2, class T2>
  using rebind = hash_map<K2, T2, typename detail::rebound_hash<Hash, seeded_hash<K2>>::type>;
  // The Boost- and std-shaped forms (detail/porting_forms.hpp): insert(kv),
  // insert(first, last), insert({...}), count, cvisit(key, f),
  // cvisit(first, last, f), cvisit_while / visit_while(f).
  using porting::insert;

  class snapshot_type;

  // capacity_hint: entries expected, to size the slot table up front.
  // Reclaims through the process-wide ebr domain.
  explicit hash_map(std::size_t capacity_hint = 0, const Hash& hash = Hash(), const KeyEqual& equal = KeyEqual())
      : hash_map(ebr::domain::global(), capacity_hint, hash, equal) {}

  // Reclaims through `domain`, which must outlive the map and every object
  // the map retires into it (destroy the map, then synchronize the domain).
  hash_map(ebr::domain& domain, std::size_t capacity_hint, const Hash& hash = Hash(),
           const KeyEqual& equal = KeyEqual())
      : hash_(hash), equal_(equal), domain_(&domain) {
    if constexpr (seedable_hash<Hash>) {
      if (hash_.seed == 0) hash_.seed = make_hash_seed();
    }
    const std::size_t wanted = capacity_hint + capacity_hint / 3 + 1;  // load <= 3/4 at the hint
    current_.store(detail::slot_table::create<slot_kind>(std::max(wanted, detail::slot_table::min_capacity)),
                   std::memory_order_relaxed);  // before publication
    on_installed(*current_.load(std::memory_order_relaxed));  // before publication
  }

  hash_map(const hash_map&) = delete;
  hash_map& operator=(const hash_map&) = delete;

  // Moves the contents. Precondition: no operation runs on either map, and
  // no snapshot of either is alive (checked in every build: aborts with a
  // message). The moved-from map is empty and usable (it makes a table at its
  // next write). Copies the hash and equality objects, so the moved-from map
  // keeps working ones.
  hash_map(hash_map&& other) noexcept(std::is_nothrow_copy_constructible_v<Hash> &&
                                      std::is_nothrow_copy_constructible_v<KeyEqual>)
      : hash_(other.hash_), equal_(other.equal_), domain_(other.domain_) {
    other.expect_no_snapshot("moved from");
    take(other);
  }
  // Move assignment: the same preconditions. The hash and equality objects
  // are copied before anything is freed, so a copy that throws leaves both
  // maps unchanged.
  hash_map& operator=(hash_map&& other) noexcept(
      std::is_nothrow_copy_constructible_v<Hash> && std::is_nothrow_copy_constructible_v<KeyEqual> &&
      std::is_nothrow_move_assignable_v<Hash> && std::is_nothrow_move_assignable_v<KeyEqual>) {
    if (this != &other) {
      expect_no_snapshot("moved to");
      other.expect_no_snapshot("moved from");
      Hash hash(other.hash_);
      KeyEqual equal(other.equal_);
      free_all();
      hash_ = std::move(hash);
      equal_ = std::move(equal);
      domain_ = other.domain_;
      take(other);
    }
    return *this;
  }

  // Exchanges the contents (tables, counters, clocks, hash and equality
  // objects): the preconditions of a move, for both maps.
  void swap(hash_map& other) {
    if (this == &other) return;
    hash_map held(std::move(other));
    other = std::move(*this);
    *this = std::move(held);
  }
  friend void swap(hash_map& a, hash_map& b) { a.swap(b); }

  // Precondition: no operation runs concurrently. A snapshot still alive
  // would be a use-after-free waiting to happen: checked in every build
  // (aborts with a message).
  ~hash_map() {
    expect_no_snapshot("destroyed");
    free_all();
  }

  // ---- writes ----------------------------------------------------------------
  // A write builds its version unpinned — the copies or moves of Key and T,
  // emplace's constructor, update's callable and erase_if's predicate run
  // outside any epoch guard — then pins once per attempt to install it with
  // one CAS. A write whose new version depends on the present one (update,
  // compare_and_replace, erase, erase_if) first reads that version while
  // pinned and holds it (ebr::guard::hold), so its callable reads it after
  // unpinning; the CAS then installs only if it is still the key's head.
  // An insert builds its value only once it found the key absent, and the
  // built version is reused if the installing CAS has to be retried. So an
  // rvalue value is moved from at most once, and only if the call went on
  // to build a version: if another thread writes the key between that
  // check and the CAS, the call may still return false (insert,
  // try_emplace) after the value was moved into the version it then
  // destroyed.

  // Inserts (key, value) if key is absent. Returns whether it inserted.
  template <class K, class V>
    requires std::constructible_from<Key, K&&> && std::constructible_from<T, V&&>
  bool insert(K&& key, V&& value) {
    return try_emplace(std::forward<K>(key), std::forward<V>(value));
  }

  // Inserts a value built from args if key is absent (and builds nothing if
  // it is present). Returns whether it inserted.
  template <class K, class... Args>
    requires std::constructible_from<Key, K&&> && std::constructible_from<T, Args&&...>
  bool try_emplace(K&& key, Args&&... args) {
    return try_emplace_or_visit(std::forward<K>(key), [](const T&) noexcept {}, std::forward<Args>(args)...);
  }
  // The same as try_emplace: the value is built only when key is absent.
  template <class K, class... Args>
    requires std::constructible_from<Key, K&&> && std::constructible_from<T, Args&&...>
  bool emplace(K&& key, Args&&... args) {
    return try_emplace(std::forward<K>(key), std::forward<Args>(args)...);
  }

  // Inserts or replaces the value. Returns true if key was absent.
  template <class K, class V>
    requires std::constructible_from<Key, K&&> && std::constructible_from<T, V&&>
  bool insert_or_assign(K&& key, V&& value) {
    return with_key_value(std::forward<K>(key), [&](const Key& k) {
      const std::uint64_t h = hash_key(k);
      const ebr::guard outer = planted_outer_guard();
      fresh_ptr fresh(version_type::make(extend_versions(), 0, k, std::forward<V>(value)));  // unpinned: Key's and T's copies
      bool was_absent = false;
      while (!install(h, k, fresh, [&](const version_type* head) noexcept {
        was_absent = head == nullptr || head->is_tombstone();
        return true;
      })) {
      }
      return was_absent;
    });
  }

  // Get or insert, in one linearizable step: inserts (key, value) if key is
  // absent and returns true; otherwise calls f(const T&) with the present
  // value (while it is protected: keep f short) and returns false.
  template <class K, class V, class F>
    requires std::constructible_from<Key, K&&> && std::constructible_from<T, V&&>
  bool insert_or_visit(K&& key, V&& value, F&& f) {
    return try_emplace_or_visit(std::forward<K>(key), std::forward<F>(f), std::forward<V>(value));
  }
  // insert_or_visit with the value built from args only if key is absent.
  // (Boost's concurrent_flat_map takes f last; here it comes before args.)
  // f runs pinned, as visit()'s does; the value is built unpinned.
  template <class K, class F, class... Args>
    requires std::constructible_from<Key, K&&> && std::constructible_from<T, Args&&...>
  bool try_emplace_or_visit(K&& key, F&& f, Args&&... args) {
    return with_key_value(std::forward<K>(key), [&](const Key& k) {
      const std::uint64_t h = hash_key(k);
      const ebr::guard outer = planted_outer_guard();
      bool visited = false;
      const auto visit_present = [&](const version_type* head) {
        if (head == nullptr || head->is_tombstone()) return true;  // absent: install
        std::forward<F>(f)(head->value());  // the present value, read at its stamped head
        visited = true;
        return false;
      };
      {
        prefetch_slot(h);
        const auto g = domain_->pin();
        if (!visit_present(current_head(h, k))) return false;  // present: nothing built
      }
      fresh_ptr fresh(version_type::make(extend_versions(), 0, k, std::forward<Args>(args)...));  // unpinned
      while (!install(h, k, fresh, visit_present)) {
        if (visited) return false;  // fresh is destroyed unpinned, at scope exit
      }
      return true;
    });
  }

  // Removes key. Returns whether it was present.
  template <class K>
  bool erase(const K& key) {
    return erase_if(key, [](const T&) noexcept { return true; });
  }

  // Removes key if its current value satisfies pred (const T&), atomically
  // with respect to other writers of the key. pred may run more than once
  // under contention; it runs unpinned. Returns whether it erased.
  template <class K, class Pred>
  bool erase_if(const K& key, Pred&& pred) {
    return with_key(key, [&](const auto& k) {
      return rewrite(k, [&](const version_type& head, fresh_ptr& fresh) {
        if (!pred(head.value())) return decision::keep;
        if (!fresh) fresh.reset(version_type::make_tombstone(extend_versions(), 0, head.key));  // the same key: reusable
        return decision::write;
      });
    });
  }

  // Erases every entry whose value satisfies pred(const Key&, const T&) at
  // the moment it is examined: the live table is walked slot by slot and
  // each key found goes through erase_if(key, ...) — examined against its
  // current value (pred runs unpinned, on the held version) and erased if
  // that value is still current (not one instant: keys written meanwhile
  // may be examined or not). No snapshot
  // is held, so the erased values are freed as they go and the migrations
  // the erases trigger shrink the table as key-by-key erases would. Returns
  // how many it erased. Basic guarantee, per key (see the contract).
  template <class Pred>
    requires std::is_invocable_r_v<bool, Pred&, const Key&, const T&>
  std::size_t erase_if(Pred pred) {
    return erase_matching(pred);
  }

  // Erases every key, one by one, walking the live table (linearizable per
  // key, not as a whole: a snapshot taken meanwhile may hold some keys and
  // miss others, and keys written meanwhile may stay). O(size); the table
  // shrinks as it empties, as with key-by-key erases. Basic guarantee (see
  // the contract: a throw leaves the keys erased so far erased).
  void clear() {
    auto all = [](const Key&, const T&) noexcept { return true; };
    erase_matching(all);
  }

  // Makes room for n keys without further growth (a migration to a larger
  // table now, if needed; it completes before reserve returns). An erase
  // that finds less than a quarter of the table claimed shrinks it again.
  // May throw std::bad_alloc, and then nothing changed.
  void reserve(std::size_t n) {
    auto g = domain_->pin();
    for (;;) {
      detail::slot_table* t = writable_table(g);
      const std::size_t wanted = n + n / 3 + 1;
      if (t->capacity >= wanted) return;
      migration::start(*t, wanted);
      if (t->next.load(std::memory_order_seq_cst) != nullptr) migration::help(*this, *t, g);
    }
  }

  // ---- reads -------------------------------------------------------------------

  // A copy of key's value (for copyable T; visit() or a snapshot serve
  // move-only values).
  template <class K>
    requires std::copy_constructible<T>
  [[nodiscard]] std::optional<T> find(const K& key) const {
    std::optional<T> value;
    visit_version(key, [&](const version_type& v) { value.emplace(v.value()); });
    return value;
  }

  template <class K>
  [[nodiscard]] bool contains(const K& key) const {
    return visit_version(key, [](const version_type&) noexcept {});
  }

  // Calls f(const element&) with key's element, (stored key, current
  // value), while it is protected; returns whether key was present
  // (Boost's visit and cvisit: `[](const auto& e) { use(e.second); }`).
  // Keep f short: it runs inside an epoch guard. cvisit(key, f) is the same.
  template <class K, class F>
  bool visit(const K& key, F&& f) const {
    return visit_version(key, [&](const version_type& v) { std::forward<F>(f)(element(v.key, v.value())); });
  }

  // The same, calling f(const T&) with the value alone (snapcache 0.1's
  // visit(key, f)).
  template <class K, class F>
  bool visit_value(const K& key, F&& f) const {
    return visit_version(key, [&](const version_type& v) { std::forward<F>(f)(v.value()); });
  }

  // A batched visit: calls f(const element&) for each key of [first, last)
  // that is present, in order, and returns how many were (Boost's bulk visit
  // and cvisit; cvisit(first, last, f) is the same). Equivalent to
  // visit(key, f) per key (each key's value is read at its own instant),
  // but it hashes a group of keys and starts fetching their slots and
  // versions before reading any, so the cache misses of a group overlap
  // instead of following one another (docs/benchmarks.md, "Batched
  // lookups"). Keys must be Keys (or string keys of the key's family under
  // the default hash). f runs pinned, as visit's does: keep it short.
  // Throws what the hash throws, before any key of its group is visited.
  template <std::forward_iterator It, std::sentinel_for<It> End, class F>
  std::size_t visit(It first, End last, F&& f) const;

  // Calls f(const Key&, const T&) for every entry of one instant (a
  // snapshot's); returns how many. f runs outside any epoch guard.
  template <class F>
  std::size_t visit_all(F&& f) const {
    std::size_t n = 0;
    const auto snap = snapshot();
    for (const auto& [k, v] : snap) {
      f(k, v);
      ++n;
    }
    return n;
  }

  // Atomically replaces the value v of key by f(v). Returns false if key is
  // absent. f runs unpinned, may run more than once under contention and
  // must not have side effects beyond computing the new value; if it
  // throws, nothing changes.
  template <class K, class F>
  bool update(const K& key, F&& f) {
    return with_key(key, [&](const auto& k) {
      return rewrite(k, [&](const version_type& head, fresh_ptr& fresh) {
        fresh.reset(version_type::make(extend_versions(), 0, head.key, f(head.value())));  // may throw: nothing changed
        return decision::write;
      });
    });
  }

  // Replaces the value by `desired` if it equals `expected` (T's == runs
  // unpinned).
  template <class K>
  bool compare_and_replace(const K& key, const T& expected, T desired) {
    return with_key(key, [&](const auto& k) {
      return rewrite(k, [&](const version_type& head, fresh_ptr& fresh) {
        if (!(head.value() == expected)) return decision::keep;
        if (!fresh) fresh.reset(version_type::make(extend_versions(), 0, head.key, std::move(desired)));  // the same key: reusable
        return decision::write;
      });
    });
  }

  // Approximate while writers run; exact when quiescent.
  [[nodiscard]] std::size_t size() const noexcept {
    const std::int64_t n = counters_.read().live;
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }

  // A point-in-time view. O(1); may throw std::bad_alloc (registering a
  // snapshot slot), and then nothing changed.
  [[nodiscard]] snapshot_type snapshot() const {
    static_assert(detail::versioned || sizeof(Key) == 0, "snapshots need versions: not in a SNAPCACHE_BENCH_UNVERSIONED build");
    return snapshot_type(*this);
  }

  // Counts and sizes, read without stopping anyone (map_stats.hpp says what
  // each field costs); exact when quiescent.
  [[nodiscard]] map_stats stats() const noexcept {
    const auto c = counters_.read();
    map_stats s;
    s.live_entries = c.live > 0 ? static_cast<std::size_t>(c.live) : 0;
    const std::int64_t versions = c.live + c.kept;
    s.live_versions = versions > 0 ? static_cast<std::size_t>(versions) : 0;
    s.retired_unfreed = static_cast<std::size_t>(domain_->stats().pending);
    s.live_snapshots = registry_.live();
    if (s.live_snapshots > 0) {
      const auto g = domain_->try_pin();  // the scan reads slots that closes retire
      if (g.pinned()) s.oldest_snapshot_age = registry_.oldest_age(g);
    }
    const auto dead = static_cast<std::size_t>(std::max<std::int64_t>(c.dead, 0));
    std::size_t table_bytes = 0;
    {
      const auto g = domain_->try_pin();  // the table is read under a guard; without one, counted as 0
      if (g.pinned()) {
        if (const detail::slot_table* t = current_.load(std::memory_order_seq_cst)) table_bytes = t->bytes();
      }
    }
    s.heap_bytes = (s.live_versions + dead) * version_type::block_size + table_bytes +
                   std::min(s.retired_unfreed, s.live_versions + dead + 64) * version_type::block_size;
    s.cached_block_bytes = detail::cached_block_bytes();
    s.slab_bytes = detail::slab_bytes();
    return s;
  }

  // Diagnostics (safe to call concurrently, each pinned): the longest probe
  // distance from a key's home slot (O(slots)), the slot count, and the
  // snapshot slots linked now (what one announcement scan walks: the live
  // snapshots, plus at most 2 x live + 17 closed ones not yet unlinked).
  // A thread that cannot register with the domain (out of memory) gets 0.
  [[nodiscard]] std::size_t longest_chain() const noexcept {
    const auto g = domain_->try_pin();
    if (!g.pinned()) return 0;
    const detail::slot_table* current = current_.load(std::memory_order_seq_cst);
    if (current == nullptr) return 0;
    const detail::slot_table& t = *current;
    std::size_t longest = 0;
    for (std::size_t i = 0; i < t.capacity; ++i) {
      const std::uint64_t w = slot(t, i).load(std::memory_order_seq_cst);
      if (!detail::slot_holds_version(w)) continue;
      const std::size_t home = t.home(hash_of(detail::slot_version<version_type>(w)));
      longest = std::max(longest, t.distance(home, i) + 1);
    }
    return longest;
  }
  [[nodiscard]] std::size_t bucket_count() const noexcept {
    const auto g = domain_->try_pin();
    if (!g.pinned()) return 0;
    const detail::slot_table* t = current_.load(std::memory_order_seq_cst);
    return t ? t->capacity : 0;
  }
  [[nodiscard]] std::size_t snapshot_slots() const noexcept {
    const auto g = domain_->try_pin();  // the scan reads slots that closes retire
    return g.pinned() ? registry_.slots(g) : 0;
  }
  // Versions linked under key's current head, the head included (0 if the
  // key never had a slot or its slot was dropped).
  template <class K>
  [[nodiscard]] std::size_t chain_length(const K& key) const {
    return with_key(key, [&](const auto& k) {
      const std::uint64_t h = hash_key(k);
      const auto g = domain_->pin();
      std::size_t n = 0;
      for (const version_type* v = head_of(h, k); v != nullptr;
           v = detail::strip(v->older.load(std::memory_order_seq_cst))) {
        ++n;
      }
      return n;
    });
  }
  // Migrations installed since the map was made (growth, cleanup, shrink).
  [[nodiscard]] std::uint64_t migrations() const noexcept {
    return migrations_.load(std::memory_order_relaxed);  // statistic only
  }
  // Kept versions rechecked since the map was made (each close rechecks the
  // versions kept for it): shows that a close costs its own versions only.
  [[nodiscard]] std::uint64_t kept_rechecks() const noexcept {
    return rechecks_.load(std::memory_order_relaxed);  // statistic only
  }
  // Of those, the ones that walked the key's chain from its head to find
  // the version's neighbour (the one that replaced it had been unlinked);
  // the others cost O(1) whatever the number of newer versions.
  [[nodiscard]] std::uint64_t kept_recheck_walks() const noexcept {
    return recheck_walks_.load(std::memory_order_relaxed);  // statistic only
  }
  // Scans of the live snapshots' announcements made by rechecks: one per
  // batch of up to 32 kept versions, plus one for each version whose
  // reader closed meanwhile (or whose neighbour was stamped after the
  // batch's scan). Each scan costs O(live snapshots).
  [[nodiscard]] std::uint64_t kept_recheck_scans() const noexcept {
    return recheck_scans_.load(std::memory_order_relaxed);  // statistic only
  }

 private:
  struct destroyer {
    void operator()(version_type* v) const noexcept { version_type::destroy(v); }
  };
  using fresh_ptr = std::unique_ptr<version_type, destroyer>;
  enum class decision { keep, write };

  // Where a key was found: its slot, the word read there, and its head.
  struct position {
    detail::slot_table* table = nullptr;
    std::size_t index = 0;
    std::uint64_t word = 0;
    version_type* head = nullptr;  // null: absent, `index` is the free slot to claim
    std::size_t probes = 0;
  };
  enum class located { found, absent, migrating, full };

  // ---- keys and hashing --------------------------------------------------------

  // Heterogeneous lookup that cannot silently miss: an argument of another
  // type than Key is used as is only where its hash and comparison provably
  // agree with Key's, the string family of Key's character type under a
  // transparent Hash and KeyEqual; anything else is converted to Key first,
  // implicitly, as std::unordered_map's find(const key_type&) would (so
  // hash_map<double, V>::find(1) finds 1.0, and hash_map<unsigned,
  // V>::find(-1) finds 0xFFFFFFFF), and an argument with no implicit
  // conversion to Key (hash_map<std::vector<int>, V>::find(3)) does not
  // compile.
  template <class K>
  static constexpr bool used_as_is =
      std::is_same_v<std::remove_cvref_t<K>, Key> ||
      (detail::same_string_family<K, Key> && detail::transparent_functor<Hash> && detail::transparent_functor<KeyEqual>);

  template <class K, class F>
  decltype(auto) with_key(const K& key, F&& f) const {
    if constexpr (used_as_is<K>) {
      return std::forward<F>(f)(key);
    } else {
      static_assert(std::is_convertible_v<const K&, Key>,
                    "snapcache::hash_map: a lookup argument must be a Key, convert to one implicitly, or (string "
                    "keys under the default hash) be a string of the key's character type");
      const Key converted = key;
      return std::forward<F>(f)(converted);
    }
  }
  // A Key to store: the argument itself if it is one, else one built from it.
  template <class K, class F>
  decltype(auto) with_key_value(K&& key, F&& f) const {
    if constexpr (std::is_same_v<std::remove_cvref_t<K>, Key>) {
      return std::forward<F>(f)(static_cast<const Key&>(key));
    } else {
      const Key converted(std::forward<K>(key));
      return std::forward<F>(f)(converted);
    }
  }

  template <class K>
  std::uint64_t hash_key(const K& key) const {
    const auto h = static_cast<std::uint64_t>(hash_(key));
    if constexpr (detail::avalanching_hash<Hash>) {
      return h;
    } else {
      return detail::post_mix(h);
    }
  }

 public:
  // The hash of a version's key, without user code that may throw.
  std::uint64_t hash_of(const version_type* v) const noexcept {
    if constexpr (stores_hash) {
      return v->hash.value;
    } else {
      return hash_key(v->key);
    }
  }
  // A dead key whose slot a migration may drop: a stamped tombstone with
  // nothing older (so every snapshot reads "absent" there either way).
  bool droppable(version_type* v) const noexcept {
    if (!v->is_tombstone()) return false;
    stamp(v);
    if (is_planted(detail::planted_bug::migration_drops_visible_key)) return true;
    return v->older.load(std::memory_order_seq_cst) == nullptr;
  }
  void on_dropped() const noexcept { counters_.add_keys(0, -1); }
  std::atomic<detail::slot_table*>& current_table() const noexcept { return current_; }
  void on_migrated() const noexcept {
    migrations_.fetch_add(1, std::memory_order_relaxed);  // statistic only
  }
  void on_installed(const detail::slot_table& t) const noexcept {
    hint_slots_.store(static_cast<const unsigned char*>(t.slot_array), std::memory_order_relaxed);  // a hint only
    hint_capacity_.store(t.capacity, std::memory_order_relaxed);  // a hint only
    hint_salt_.store(t.salt, std::memory_order_relaxed);  // a hint only
  }

 private:
  // ---- stamps ----------------------------------------------------------------

  static std::uint64_t stamp_value(std::uint64_t word) noexcept { return word & detail::unstamped_value_mask; }

  // The version's stamp, stamping it with the clock first if needed.
  std::uint64_t stamp(version_type* v) const noexcept {
    if constexpr (!detail::versioned) return 0;  // nothing reads stamps
    std::uint64_t word = v->stamp_word.load(std::memory_order_seq_cst);
    if (stamp_value(word) != detail::unstamped) return stamp_value(word);
    const std::uint64_t now = registry_.now();  // (S9) read after installation
    const std::uint64_t stamped = (word & ~detail::unstamped_value_mask) | now;
    if (v->stamp_word.compare_exchange_strong(word, stamped, std::memory_order_seq_cst)) return now;
    return stamp_value(word);  // another thread stamped it
  }

  // Whether a version made now gets a link word (version.hpp): only a
  // version made while a snapshot is live can replace one a snapshot keeps,
  // so only those pay its 16 bytes. (One made just before a snapshot starts
  // can still end up above a kept version: its unlink then flags the kept
  // one, and that recheck walks.)
  [[nodiscard]] bool extend_versions() const noexcept {
    if constexpr (!detail::versioned) return false;
    return registry_.live() != 0 && !detail::plain_versions_forced();
  }

  // ---- lookup --------------------------------------------------------------

  // How this map's tables store their slots (detail/slot_kind.hpp), and
  // slot i of table t in that kind: the one way to a slot, migration's too.
  using slot_kind = typename detail::slot_kind_of<Hash>::type;
  static typename slot_kind::ref slot(const detail::slot_table& t, std::size_t i) noexcept {
    return slot_kind::at(t.slot_array, i);
  }

  // Starts fetching the slot line of hash h before the pin, whose barrier
  // would otherwise wait for nothing and then the miss for everything. The
  // table read here is unprotected: a prefetch of a freed address is harmless.
  void prefetch_slot(std::uint64_t h) const noexcept {
#ifndef SNAPCACHE_NO_PREFETCH
    // The hint pair lives in the map, not in the table (which may be freed
    // before we pin); a stale or mismatched pair prefetches a wrong address,
    // which costs nothing and never faults.
    const unsigned char* slots = hint_slots_.load(std::memory_order_relaxed);  // a hint only
    const std::size_t capacity = hint_capacity_.load(std::memory_order_relaxed);  // a hint only
    const std::uint64_t salt = hint_salt_.load(std::memory_order_relaxed);  // a hint only
    __builtin_prefetch(slots + detail::slot_table::home_of(h, salt, capacity) * slot_kind::slot_bytes);
#else
    (void)h;
#endif
  }

  // The slot word a forwarding chain ends in, starting from word w of t:
  // follows `moved` words into newer tables. Leaves t and w at the end.
  static void resolve(detail::slot_table*& t, std::uint64_t& w) noexcept {
    while ((w & detail::slot_moved) != 0) {
      detail::slot_table* next = t->next.load(std::memory_order_seq_cst);
      const std::size_t j = detail::slot_target(w);
      t = next;
      w = slot(*t, j).load(std::memory_order_seq_cst);
    }
  }

  // Walks hash h's probe path in the current table (read-only callers:
  // follows migrations without helping) and calls match(head) with the
  // head of every slot whose tag matches, until it returns non-null; returns
  // that, or null at the path's end. Pinned.
  template <class Match>
  SNAPCACHE_ALWAYS_INLINE version_type* probe_heads(std::uint64_t h, Match&& match) const {
    detail::slot_table* t = current_.load(std::memory_order_seq_cst);
    if (t == nullptr) return nullptr;  // a moved-from map before its next write
    const std::uint64_t tag = detail::slot_tag_of_hash(h);
    std::size_t i = t->home(h);
    for (std::size_t probes = 0; probes < t->capacity; ++probes, i = t->after(i)) {
      std::uint64_t w = slot(*t, i).load(std::memory_order_seq_cst);
      if (detail::slot_is_free(w)) return nullptr;
      if ((w & detail::slot_dropped) != 0 || detail::slot_tag(w) != tag) continue;
      detail::slot_table* at = t;
      resolve(at, w);
      // A moved key that died in a later table: it was this key (absent) or
      // another; either way this probe goes on.
      if (!detail::slot_holds_version(w)) continue;
      if (version_type* found = match(detail::slot_version<version_type>(w))) return found;
    }
    return nullptr;
  }

  // The key's newest version. Pinned.
  template <class K>
  SNAPCACHE_ALWAYS_INLINE version_type* head_of(std::uint64_t h, const K& key) const {
    return probe_heads(h, [&](version_type* head) {
      return equal_(head->key, key) ? head : nullptr;
    });
  }

  // The key's current value version, or null if absent (stamps it first:
  // a read must not see a write that a snapshot taken after it misses).
  template <class K>
  SNAPCACHE_ALWAYS_INLINE const version_type* current_value(std::uint64_t h, const K& key) const {
    version_type* v = head_of(h, key);
    if (v == nullptr) return nullptr;
    stamp(v);
    return v->is_tombstone() ? nullptr : v;
  }

  // Calls f(const version_type&) with key's current value version, pinned;
  // returns whether key was present. The one lookup behind find, contains,
  // visit and visit_value.
  template <class K, class F>
  bool visit_version(const K& key, F&& f) const {
    return with_key(key, [&](const auto& k) {
      const std::uint64_t h = hash_key(k);
      prefetch_slot(h);
      const auto g = domain_->pin();
      const version_type* v = current_value(h, k);
      if (v == nullptr) return false;
      std::forward<F>(f)(*v);
      return true;
    });
  }

  // Finds key in t for a writer. `migrating` if it met a frozen slot.
  template <class K>
  located locate(detail::slot_table* t, std::uint64_t h, const K& key, position& out) const {
    const std::uint64_t tag = detail::slot_tag_of_hash(h);
    std::size_t i = t->home(h);
    for (std::size_t probes = 0; probes < t->capacity; ++probes, i = t->after(i)) {
      const std::uint64_t w = slot(*t, i).load(std::memory_order_seq_cst);
      if ((w & detail::slot_frozen) != 0) return located::migrating;
      if (w == 0) {
        out = {t, i, 0, nullptr, probes};
        return located::absent;
      }
      if (detail::slot_tag(w) != tag) continue;
      version_type* v = detail::slot_version<version_type>(w);
      if (equal_(v->key, key)) {
        out = {t, i, w, v, probes};
        return located::found;
      }
    }
    return located::full;
  }

  // The current table, with any migration out of it finished first (and a
  // first table made for a moved-from map; may throw std::bad_alloc then).
  detail::slot_table* writable_table(const ebr::guard& g) {
    for (;;) {
      detail::slot_table* t = current_.load(std::memory_order_seq_cst);
      if (t == nullptr) {
        detail::slot_table* fresh = detail::slot_table::create<slot_kind>(detail::slot_table::min_capacity);
        if (current_.compare_exchange_strong(t, fresh, std::memory_order_seq_cst)) {
          on_installed(*fresh);
          return fresh;
        }
        detail::slot_table::release(fresh);
        continue;
      }
      if (t->next.load(std::memory_order_seq_cst) == nullptr) return t;
      migration::help(*this, *t, g);
    }
  }

  // ---- writes ----------------------------------------------------------------

  // The key's newest version, stamped (a tombstone if erased), or null. Pinned.
  template <class K>
  const version_type* current_head(std::uint64_t h, const K& key) const {
    version_type* v = head_of(h, key);
    if (v != nullptr) stamp(v);
    return v;
  }

  // A planted bug for the soak suite's teeth: the whole write, user code and
  // every attempt, under one guard (what writers did before they pinned per
  // attempt). An empty guard otherwise.
  ebr::guard planted_outer_guard() const {
    if (is_planted(detail::planted_bug::writer_pinned_across_retries)) return domain_->pin();
    return ebr::guard();
  }

  // One attempt, under one pin, to install `fresh` (built by the caller,
  // unpinned) as key's head. `accept(head)` sees the head found (null:
  // absent) and says whether to install over it; it runs pinned and must be
  // short. Returns whether `fresh` was installed: false if accept declined
  // or another write to the key won the CAS (the caller decides again).
  template <class K, class Accept>
  bool install(std::uint64_t h, const K& key, fresh_ptr& fresh, Accept&& accept);

  // erase_if(pred) and clear(): walks the current table's slots; each live
  // key found is held (so its key outlives the pin) and erased with
  // erase_if(key, pred) against its current value. A migration that
  // installs a new table restarts the walk in it (erased keys are gone from
  // it, or tombstones the walk skips).
  template <class Pred>
  std::size_t erase_matching(Pred& pred);

  // A write whose new version depends on the present one. `decide(head,
  // fresh)` sees the key's live head (it is not called for an absent key)
  // and either keeps the map as it is or makes sure `fresh` holds the version
  // to install. It runs unpinned: the head is held (ebr::guard::hold), and
  // the install succeeds only if it is still the head. Returns whether it
  // wrote.
  template <class K, class Decide>
  bool rewrite(const K& key, Decide&& decide);

  // Installs `fresh` at p by CAS. On success the write has happened: stamps
  // it, counts it and settles the version it replaced. Never throws.
  bool commit(const position& p, std::uint64_t h, fresh_ptr& fresh, const ebr::guard& g) noexcept;

  // Decides the fate of `old`, just replaced by `fresh`: unlinked at once if
  // no live snapshot reads it, else kept and recorded for the newest snapshot
  // that does.
  void settle(version_type* fresh, version_type* old, std::uint64_t h, const ebr::guard& g) const noexcept;

  // A tombstone with nothing older reads the same as no version at all.
  static bool reads_nothing(version_type* v) noexcept;

  void mark_kept(version_type* v) const noexcept;

  // Removes `old` (whose newer neighbour was `newer` when the caller looked)
  // from its chain and retires it; if a neighbour changed meanwhile, cleans
  // the whole chain instead. Exactly one thread retires each version: the
  // one whose unlink CAS succeeds.
  void unlink(version_type* newer, version_type* old, std::uint64_t h, const ebr::guard& g) const noexcept;

  // Retires v, just unlinked from under `newer` (null: no chain), after
  // handing the kept record of the version below it, if any, on to `newer`
  // (or flagging that version, K1).
  void retire_version(version_type* v, version_type* newer, const ebr::guard& g) const noexcept;
  // Moves the record in v's link to newer's link and its `above` from v to
  // newer. False if there was none, or it could not be moved: flag then.
  static bool hand_on_record(version_type* v, version_type* newer) noexcept;
  // Names `record` (of the version fresh replaced) in fresh's link.
  static void link_record(version_type* fresh, detail::kept_record* record) noexcept;
  // Stores `record` in at's empty link, with the reference the caller holds.
  // False (the reference still the caller's) if the link was taken, or at
  // is being unlinked.
  static bool publish_link(version_type* at, detail::kept_record* record) noexcept;
  // Ends a record whose version its holder is about to unlink: no one
  // hands it on from now, the neighbour's link to it is dropped, and the
  // list's reference let go. Returns the neighbour to unlink under: `found`
  // by a walk, or else the record's `above` (see the definition for when
  // that may be trusted).
  static version_type* settle_record(detail::kept_record* record, version_type* found) noexcept;

  // Unlinks every marked version of the chain that holds (or held) `target`.
  // Restarts from the chain's current head whenever a neighbour changed
  // under it (someone else unlinked, or a new head superseded ours).
  void clean_chain(std::uint64_t h, const version_type* target, const ebr::guard& g) const noexcept;

  // The head of the chain that links `target` below it (by address only:
  // `target` may be freed), or null. If `above` is given, it receives the
  // version just above `target`. Follows migrations; no user code.
  version_type* chain_holding(std::uint64_t h, const void* target, version_type** above) const noexcept;

  // ---- growth and cleanup ----------------------------------------------------

  // Whether claiming one more slot of t should first grow or clean it: read
  // often enough to keep the load under 3/4 (every claim in small tables, on
  // a long probe, and every 16th claim of a thread otherwise).
  bool should_grow(const detail::slot_table& t, std::size_t probes) const noexcept {
    static thread_local constinit unsigned claims = 0;
    if (t.capacity > 1024 && probes < 16 && (++claims & 15) != 0) return false;
    const auto c = counters_.read();
    const std::uint64_t claimed = static_cast<std::uint64_t>(std::max<std::int64_t>(c.live, 0)) +
                                  static_cast<std::uint64_t>(std::max<std::int64_t>(c.dead, 0)) + 1;
    return claimed * 4 > t.capacity * 3;
  }

  // Starts (or joins) a migration of t. The new size counts the keys that
  // will be copied: live ones, and dead ones the last migration could not
  // drop (a snapshot still reads their versions): double when those fill
  // more than 3/8 of t (or t is full), the same size when enough dead keys
  // can be dropped (a cleanup), half or less when few slots are claimed at
  // all. So a cleanup never leaves the table as full as it found it, and
  // dead keys held by snapshots make the table grow instead of migrating
  // again and again.
  void grow(detail::slot_table* t, bool full) const {
    const auto c = counters_.read();
    const auto live = static_cast<std::size_t>(std::max<std::int64_t>(c.live, 0));
    const auto dead = static_cast<std::size_t>(std::max<std::int64_t>(c.dead, 0));
    const std::size_t kept_dead = std::min(dead, t->dead_copied.load(std::memory_order_relaxed));  // an estimate
    const std::size_t copied = live + kept_dead;
    std::size_t capacity = t->capacity;
    if (!full && wants_shrink(*t, live, dead)) {
      // The helpers size the new table once the source is frozen (the
      // counts read here can be outrun by inserts).
      migration::start_shrink(*t);
      return;
    }
    if (full || copied * 8 > t->capacity * 3 || dead - kept_dead < t->capacity / 8) {
      capacity = std::max(t->capacity * 2, 2 * copied + 2);
    }
    migration::start(*t, capacity);  // may throw std::bad_alloc: nothing changed
  }

  // Fewer than a quarter of t's slots claimed (live and dead keys): a
  // migration halves it at least.
  static bool wants_shrink(const detail::slot_table& t, std::size_t live, std::size_t dead) noexcept {
    return t.capacity > detail::slot_table::min_capacity && (live + dead) * 4 < t.capacity;
  }

  // After an erase: when droppable dead keys outnumber live ones by a
  // quarter of the table, a cleanup migration drops them; when less than a
  // quarter of the table is claimed, a migration shrinks it. Run to the end
  // here if memory allows; a shrink whose table cannot be allocated stays
  // pending with its source frozen, and the next write sizes it (or throws
  // std::bad_alloc, changing nothing). Checked every 64th erase of a thread
  // in large tables.
  void maybe_clean(detail::slot_table& t, const ebr::guard& g) const noexcept {
    static thread_local constinit unsigned erases = 0;
    if (t.capacity > 1024 && (++erases & 63) != 0) return;
    const auto c = counters_.read();
    const auto kept_dead = static_cast<std::int64_t>(t.dead_copied.load(std::memory_order_relaxed));  // an estimate
    const bool shrink = wants_shrink(t, static_cast<std::size_t>(std::max<std::int64_t>(c.live, 0)),
                                     static_cast<std::size_t>(std::max<std::int64_t>(c.dead, 0)));
    if (!shrink && c.dead - kept_dead <= c.live + static_cast<std::int64_t>(t.capacity / 4)) return;
    try {
      grow(&t, false);
      if (t.next.load(std::memory_order_seq_cst) != nullptr) migration::help(*this, t, g);
    } catch (const std::bad_alloc&) {
      return;  // a shrink left unsized: the next writer sizes it
    }
  }

  // ---- snapshots ---------------------------------------------------------------

  // The newest version of the chain from `head` stamped <= t, or null.
  const version_type* visible_at(version_type* head, std::uint64_t t) const noexcept {
    if (is_planted(detail::planted_bug::snapshot_reads_live_value)) {
      return head->is_tombstone() ? nullptr : head;
    }
    std::uint64_t s = stamp(head);
    for (version_type* v = head;;) {
      if (s <= t) return v->is_tombstone() ? nullptr : v;
      v = detail::strip(v->older.load(std::memory_order_seq_cst));
      if (v == nullptr) return nullptr;
      s = stamp_value(v->stamp_word.load(std::memory_order_seq_cst));  // below the head: stamped
    }
  }

  // The table a snapshot's scans read: the current one, once no migration
  // runs out of it (a key may sit in its successor only), held by the slot.
  detail::slot_table* scan_table(detail::snapshot_slot& slot) const {
    if (detail::slot_table* held = slot.table.load(std::memory_order_acquire)) return held;  // pairs with the CAS below
    auto g = domain_->pin();
    for (;;) {
      detail::slot_table* t = current_.load(std::memory_order_seq_cst);
      if (t == nullptr) return nullptr;  // a moved-from map with no table: nothing to scan
      if (t->next.load(std::memory_order_seq_cst) != nullptr) {
        migration::help(*this, *t, g);
        continue;
      }
      // Pinned, and t was current: the map's reference, dropped only after
      // a grace period, keeps the count above zero.
      if (!is_planted(detail::planted_bug::scan_without_table_reference)) {
        t->refs.fetch_add(1, std::memory_order_relaxed);  // the map's reference protects it; see above
      }
      detail::slot_table* expected = nullptr;
      if (!slot.table.compare_exchange_strong(expected, t, std::memory_order_acq_rel,  // pairs with the load above
                                              std::memory_order_acquire)) {             // takes the winner's table
        if (!is_planted(detail::planted_bug::scan_without_table_reference)) detail::slot_table::release(t);
        return expected;
      }
      return t;
    }
  }

  // Rechecks the versions kept for a snapshot that closed: each is unlinked
  // if no snapshot reads it any more, or handed to the newest one that does.
  // In batches of 32 under one guard, the reservation checked before each
  // record, on any thread; what cannot be done now (no guard, no memory)
  // waits for the next close.
  void recheck(detail::kept_record* list) const noexcept;

  static constexpr std::size_t recheck_batch_size = 32;

  // Takes up to recheck_batch_size records off list and settles each, the
  // reservation checked before each: at once where its neighbour is known
  // (K2), else after the batch's walks, which go down together. Returns
  // the rest of the list, with in front whatever it took and could not
  // reserve for.
  // `view`: the batch's announcement scan, collected under g (null if it
  // could not be: each record then scans for itself).
  detail::kept_record* recheck_batch(detail::kept_record* list, const detail::snapshot_registry::reader_view* view,
                                     const ebr::guard& g) const noexcept;

  // above[i]: the version directly above walks[i]'s version, found down
  // its key's chain as chain_holding finds it (null if no chain holds it:
  // defensive); the n walks go down together. Pinned.
  void find_neighbours(detail::kept_record* const* walks, std::size_t n, version_type** above) const noexcept;

  // Unlinks the record's version below `above` if no snapshot reads it any
  // more, or hands the record to the newest that does (null `above`: lets
  // the record go). `walked`: `above` was found by a walk; else it is the
  // record's own, read after a clear flag (K2).
  void recheck_one(detail::kept_record* record, version_type* above, bool walked,
                   const detail::snapshot_registry::reader_view* view, const ebr::guard& g) const noexcept;

  static detail::kept_record* splice(detail::kept_record* a, detail::kept_record* b) noexcept;

  // Links records[0..n) in front of list, in order: what a batch took and
  // did not settle, back on the list it came from.
  static detail::kept_record* requeue(detail::kept_record* const* records, std::size_t n,
                                      detail::kept_record* list) noexcept;

  void orphan(detail::kept_record* list) const noexcept;

  // ---- teardown ------------------------------------------------------------------

  void expect_no_snapshot(const char* what) const noexcept {
    if (registry_.live() == 0) return;
    std::fprintf(stderr, "snapcache::hash_map %s while a snapshot of it is alive\n", what);
    std::abort();
  }

  // Takes other's contents (both quiescent, no snapshots; this one empty).
  void take(hash_map& other) noexcept {
    current_.store(other.current_.exchange(nullptr, std::memory_order_relaxed),  // single-threaded
                   std::memory_order_relaxed);                                    // single-threaded
    orphans_.store(other.orphans_.exchange(nullptr, std::memory_order_relaxed),  // single-threaded
                   std::memory_order_relaxed);                                    // single-threaded
    counters_.take(other.counters_);
    registry_.continue_clock_of(other.registry_);
    if (const detail::slot_table* t = current_.load(std::memory_order_relaxed)) on_installed(*t);  // single-threaded
    other.hint_slots_.store(nullptr, std::memory_order_relaxed);  // a hint only
    other.hint_capacity_.store(0, std::memory_order_relaxed);     // a hint only
  }

  void free_all() noexcept {
    for (detail::kept_record* r = orphans_.exchange(nullptr, std::memory_order_relaxed); r != nullptr;) {  // single-threaded
      delete std::exchange(r, r->next);
    }
    detail::slot_table* t = current_.exchange(nullptr, std::memory_order_relaxed);  // single-threaded from here
    if (t == nullptr) return;
    detail::slot_table* next = t->successor(std::memory_order_relaxed);  // single-threaded
    for (std::size_t i = 0; i < t->capacity; ++i) {
      const std::uint64_t w = slot(*t, i).load(std::memory_order_relaxed);  // single-threaded
      if (!detail::slot_holds_version(w)) continue;
      version_type* v = detail::slot_version<version_type>(w);
      // An unfinished migration may have placed it already: then the new
      // table owns it.
      if ((w & detail::slot_placing) != 0 && next != nullptr && holds_pointer(*next, v)) continue;
      free_chain(v);
    }
    if (next != nullptr) {
      for (std::size_t i = 0; i < next->capacity; ++i) {
        const std::uint64_t w = slot(*next, i).load(std::memory_order_relaxed);  // single-threaded
        if (detail::slot_holds_version(w)) free_chain(detail::slot_version<version_type>(w));
      }
    }
    detail::slot_table::release(t);
  }

  bool holds_pointer(const detail::slot_table& t, const version_type* v) const noexcept {
    std::size_t i = t.home(hash_of(v));
    for (std::size_t probes = 0; probes < t.capacity; ++probes, i = t.after(i)) {
      const std::uint64_t w = slot(t, i).load(std::memory_order_relaxed);  // single-threaded
      if (w == 0) return false;
      if (detail::slot_holds_version(w) && detail::slot_version<version_type>(w) == v) return true;
    }
    return false;
  }

  static void free_chain(version_type* v) noexcept {
    while (v != nullptr) {
      version_type* older = detail::strip(v->older.load(std::memory_order_relaxed));  // single-threaded
      version_type::destroy(v);
      v = older;
    }
  }

  // ---- state -------------------------------------------------------------------
  Hash hash_;
  KeyEqual equal_;
  ebr::domain* domain_;
  alignas(64) mutable std::atomic<detail::slot_table*> current_{nullptr};
  // Where the current table's slots are, for prefetching before the pin.
  mutable std::atomic<const unsigned char*> hint_slots_{nullptr};
  mutable std::atomic<std::size_t> hint_capacity_{0};
  mutable std::atomic<std::uint64_t> hint_salt_{1};
  mutable std::atomic<detail::kept_record*> orphans_{nullptr};  // kept versions whose recheck could not run
  mutable detail::snapshot_registry registry_;
  mutable detail::map_counters counters_;
  mutable std::atomic<std::uint64_t> rechecks_{0};
  mutable std::atomic<std::uint64_t> recheck_walks_{0};
  mutable std::atomic<std::uint64_t> recheck_scans_{0};
  mutable std::atomic<std::uint64_t> migrations_{0};
};

}  // namespace snapcache

#include "snapcache/detail/hash_map_batch.hpp"
#include "snapcache/detail/hash_map_snapshot.hpp"
#include "snapcache/detail/hash_map_writes.hpp"
