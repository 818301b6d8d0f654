// The conformance suite for snapcache's maps: one typed suite that runs every
// map — the locked baselines now, the lock-free hash_map as it lands — through
// the same cases, for integer and string keys and values. A case names the
// behaviour it checks; every map in the list must pass every case.
//
// Besides the operations themselves it checks the contract the maps share:
// snapshots are point-in-time and unaffected by later writes; every key and
// value the map constructs is destroyed exactly once (live counters return to
// zero); and a throwing hash, a throwing copy or a failing allocation leaves
// the map unchanged (the strong guarantee) and leaks nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "failing_new.hpp"
#include "snapcache/hash_map.hpp"
#include "snapcache/locked_map.hpp"

namespace {

// The maps under test. Every type needs: a default constructor, the
// operations of locked_map (see locked_map.hpp), key_type, mapped_type,
// snapshot_type and `template <class K2, class T2> using rebind`. To add a
// map, add one line `, snapcache::hash_map<K, V>` before the marker.
#if defined(__x86_64__)
using pair_slot_map = snapcache::hash_map<std::uint64_t, std::uint64_t,
                                          snapcache::detail::pair_slots_hash<snapcache::seeded_hash<std::uint64_t>>>;
// The cases that rebind (move-only values, counted objects, throwing hashes
// and copies) must test a map of pair slots too.
static_assert(std::is_same_v<pair_slot_map::rebind<std::string, int>::hasher,
                             snapcache::detail::pair_slots_hash<snapcache::seeded_hash<std::string>>>);
#endif
using map_types = ::testing::Types<
    snapcache::locked_map<std::uint64_t, std::uint64_t, std::mutex>,
    snapcache::locked_map<std::uint64_t, std::uint64_t, std::shared_mutex>,
    snapcache::locked_map<std::string, std::string, std::mutex>,
    snapcache::locked_map<std::string, std::string, std::shared_mutex>,
    snapcache::hash_map<std::uint64_t, std::uint64_t>,
#if defined(__x86_64__)
    // The inline layout's 16-byte slots (detail/slot_kind.hpp, stage 2).
    pair_slot_map,
#endif
    snapcache::hash_map<std::string, std::string>
    /* SNAPCACHE_EXTRA_MAP_TYPES */>;

template <class Map>
inline constexpr bool is_locked_map = false;
template <class Key, class T, class Mutex, class Hash, class KeyEqual>
inline constexpr bool is_locked_map<snapcache::locked_map<Key, T, Mutex, Hash, KeyEqual>> = true;

// ---------------------------------------------------------------------------
// Counted keys and values, with fault injection.

// What the test injects: a hash or a copy that throws.
struct injected_failure : std::exception {
  const char* what() const noexcept override { return "injected failure"; }
};

// Constructions and destructions of one type.
struct lifetime_counter {
  std::atomic<long> constructed{0};
  std::atomic<long> destroyed{0};
  std::atomic<long> destroyed_twice{0};

  long live() const { return constructed.load() - destroyed.load(); }
  void reset() {
    constructed = 0;
    destroyed = 0;
    destroyed_twice = 0;
  }
};

lifetime_counter key_lifetimes;
lifetime_counter value_lifetimes;

// Objects a map retired are freed after a grace period of its reclamation
// domain, which may come after the map itself is gone (the lock-free map
// shares the process-wide domain). Lifetime checks wait for it first.
void wait_for_reclamation() { snapcache::ebr::domain::global().synchronize(); }

constexpr std::uint64_t no_key = ~std::uint64_t{0};
// The counted_key id whose hash throws; no_key: none.
std::atomic<std::uint64_t> throwing_hash_id{no_key};
// Copies of a counted_value (construction or assignment) that succeed before
// one throws; negative: none throws.
std::atomic<long> copies_until_throw{-1};

// Marks a live object, so that a second destruction is seen.
constexpr std::uint32_t alive_mark = 0x11fe11fe;

class counted_key {
 public:
  explicit counted_key(std::uint64_t id) : id_(id) { ++key_lifetimes.constructed; }
  counted_key(const counted_key& other) : id_(other.id_) { ++key_lifetimes.constructed; }
  counted_key(counted_key&& other) noexcept : id_(other.id_) { ++key_lifetimes.constructed; }
  counted_key& operator=(const counted_key& other) {
    id_ = other.id_;
    return *this;
  }
  counted_key& operator=(counted_key&& other) noexcept {
    id_ = other.id_;
    return *this;
  }
  ~counted_key() {
    if (alive_ != alive_mark) ++key_lifetimes.destroyed_twice;
    alive_ = 0;
    ++key_lifetimes.destroyed;
  }

  std::uint64_t id() const { return id_; }
  friend bool operator==(const counted_key& a, const counted_key& b) { return a.id_ == b.id_; }
  friend std::strong_ordering operator<=>(const counted_key& a, const counted_key& b) { return a.id_ <=> b.id_; }
  friend std::ostream& operator<<(std::ostream& out, const counted_key& k) { return out << "key#" << k.id_; }

 private:
  std::uint64_t id_;
  std::uint32_t alive_ = alive_mark;
};

class counted_value {
 public:
  explicit counted_value(std::uint64_t payload) : payload_(payload) { ++value_lifetimes.constructed; }
  counted_value(const counted_value& other) : payload_(other.payload_) {
    count_down_to_throw();
    ++value_lifetimes.constructed;
  }
  counted_value(counted_value&& other) noexcept : payload_(other.payload_) { ++value_lifetimes.constructed; }
  counted_value& operator=(const counted_value& other) {
    count_down_to_throw();
    payload_ = other.payload_;
    return *this;
  }
  counted_value& operator=(counted_value&& other) noexcept {
    payload_ = other.payload_;
    return *this;
  }
  ~counted_value() {
    if (alive_ != alive_mark) ++value_lifetimes.destroyed_twice;
    alive_ = 0;
    ++value_lifetimes.destroyed;
  }

  std::uint64_t payload() const { return payload_; }
  friend bool operator==(const counted_value& a, const counted_value& b) { return a.payload_ == b.payload_; }
  friend std::ostream& operator<<(std::ostream& out, const counted_value& v) { return out << "value#" << v.payload_; }

 private:
  static void count_down_to_throw() {
    long left = copies_until_throw.load();
    if (left < 0) return;
    copies_until_throw = left - 1;
    if (left == 0) throw injected_failure{};
  }

  std::uint64_t payload_;
  std::uint32_t alive_ = alive_mark;
};

}  // namespace

template <>
struct std::hash<counted_key> {
  std::size_t operator()(const counted_key& key) const {
    if (key.id() == throwing_hash_id.load()) throw injected_failure{};
    return std::hash<std::uint64_t>{}(key.id());
  }
};

namespace {

// Arms a fault for the lifetime of the object.
class [[nodiscard]] throwing_hash_for {
 public:
  explicit throwing_hash_for(std::uint64_t id) { throwing_hash_id = id; }
  ~throwing_hash_for() { throwing_hash_id = no_key; }
  throwing_hash_for(const throwing_hash_for&) = delete;
  throwing_hash_for& operator=(const throwing_hash_for&) = delete;
};

// Runs `operation` with copy n of a counted_value throwing, for n = 0, 1, 2,
// ... until it completes; calls check(n) after each injected_failure.
// Returns the number of failing runs.
template <class Operation, class Check>
std::size_t sweep_copy_failures(Operation operation, Check check) {
  for (std::size_t n = 0;; ++n) {
    copies_until_throw = static_cast<long>(n);
    try {
      operation();
      copies_until_throw = -1;
      return n;
    } catch (const injected_failure&) {
      copies_until_throw = -1;
      check(n);
    }
  }
}

// ---------------------------------------------------------------------------
// Keys and values from integers: distinct integers give distinct keys, and
// make_value<T>(i) != make_value<T>(j) for i != j.

// Long enough to live on the heap (past the small-string buffer), so that
// allocation failures reach the copies of keys and values too.
std::string padded(std::string_view prefix, std::uint64_t i) {
  std::string digits = std::to_string(i);
  std::string s(prefix);
  s.append(20 - digits.size(), '0');
  s += digits;
  return s;
}

template <class Key>
Key make_key(std::uint64_t i) {
  if constexpr (std::is_same_v<Key, std::uint64_t>) {
    return i;
  } else if constexpr (std::is_same_v<Key, std::string>) {
    return padded("key/", i);
  } else if constexpr (std::is_same_v<Key, counted_key>) {
    return counted_key(i);
  } else {
    static_assert(sizeof(Key) == 0, "add this key type to make_key");
  }
}

template <class T>
T make_value(std::uint64_t i) {
  constexpr std::uint64_t offset = 1'000'000'000'000;  // values differ from keys
  if constexpr (std::is_same_v<T, std::uint64_t>) {
    return offset + i;
  } else if constexpr (std::is_same_v<T, std::string>) {
    return padded("value/", i);
  } else if constexpr (std::is_same_v<T, counted_value>) {
    return counted_value(offset + i);
  } else {
    static_assert(sizeof(T) == 0, "add this value type to make_value");
  }
}

// A value made from v and different from it; applying it k times in any
// order gives the same result (so concurrent updates can be checked).
template <class T>
T bumped(const T& v) {
  if constexpr (std::is_same_v<T, std::uint64_t>) {
    return v + 1;
  } else if constexpr (std::is_same_v<T, std::string>) {
    return v + "+";
  } else if constexpr (std::is_same_v<T, counted_value>) {
    return counted_value(v.payload() + 1);
  } else {
    static_assert(sizeof(T) == 0, "add this value type to bumped");
  }
}

// ---------------------------------------------------------------------------
// Contents, as an ordered model that gtest can compare and print.

template <class Map>
using model_of = std::map<typename Map::key_type, typename Map::mapped_type>;

template <class Map>
model_of<Map> snapshot_contents(const typename Map::snapshot_type& snap) {
  model_of<Map> model;
  std::size_t iterated = 0;
  for (const auto& [key, value] : snap) {
    ++iterated;
    EXPECT_TRUE(model.emplace(key, value).second) << "the snapshot holds key " << ::testing::PrintToString(key)
                                                   << " twice";
  }
  EXPECT_EQ(iterated, snap.size()) << "size() disagrees with iteration";
  return model;
}

template <class Map>
model_of<Map> contents(const Map& map) {
  return snapshot_contents<Map>(map.snapshot());
}

// Inserts keys [first, first + count) with their make_value values.
template <class Map>
void fill(Map& map, model_of<Map>& model, std::uint64_t first, std::uint64_t count) {
  using K = typename Map::key_type;
  using V = typename Map::mapped_type;
  for (std::uint64_t i = first; i < first + count; ++i) {
    ASSERT_TRUE(map.insert(make_key<K>(i), make_value<V>(i)));
    model.emplace(make_key<K>(i), make_value<V>(i));
  }
}

// Sweeps allocation failures over operation(); after each failure the map
// must hold what it held before. Returns the number of failing runs.
template <class Map, class Operation>
std::size_t sweep_allocation_failures_unchanged(const Map& map, Operation operation) {
  const model_of<Map> before = contents(map);
  // The lock-free map recycles its blocks per thread: empty that cache, so
  // every allocation of the operation reaches operator new (and can fail).
  const auto uncached = [&] {
    snapcache::detail::release_block_cache();
    operation();
  };
  return snapcache::test::sweep_allocation_failures(uncached, [&](std::size_t n) {
    EXPECT_EQ(contents(map), before) << "the map changed when allocation " << n << " failed";
  });
}

template <class Map>
class map_conformance : public ::testing::Test {
 protected:
  void SetUp() override {
    key_lifetimes.reset();
    value_lifetimes.reset();
  }
  void TearDown() override {
    snapcache::test::disarm_allocation_failure();
    throwing_hash_id = no_key;
    copies_until_throw = -1;
    wait_for_reclamation();
    EXPECT_EQ(key_lifetimes.live(), 0) << "a counted_key leaked";
    EXPECT_EQ(value_lifetimes.live(), 0) << "a counted_value leaked";
    EXPECT_EQ(key_lifetimes.destroyed_twice.load(), 0);
    EXPECT_EQ(value_lifetimes.destroyed_twice.load(), 0);
  }
};

TYPED_TEST_SUITE(map_conformance, map_types);

// ---------------------------------------------------------------------------
// Operations.

TYPED_TEST(map_conformance, a_new_map_is_empty) {
  using K = typename TypeParam::key_type;
  TypeParam map;
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.size(), 0u);
  EXPECT_FALSE(map.contains(make_key<K>(1)));
  EXPECT_FALSE(map.find(make_key<K>(1)).has_value());
  auto snap = map.snapshot();
  EXPECT_EQ(snap.size(), 0u);
  EXPECT_TRUE(snap.begin() == snap.end());
}

TYPED_TEST(map_conformance, insert_adds_an_absent_key_and_reports_true) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  EXPECT_TRUE(map.insert(make_key<K>(1), make_value<V>(1)));
  EXPECT_EQ(map.find(make_key<K>(1)), make_value<V>(1));
  EXPECT_EQ(map.size(), 1u);
}

TYPED_TEST(map_conformance, insert_of_a_present_key_reports_false_and_keeps_the_old_value) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  ASSERT_TRUE(map.insert(make_key<K>(1), make_value<V>(1)));
  EXPECT_FALSE(map.insert(make_key<K>(1), make_value<V>(2)));
  EXPECT_EQ(map.find(make_key<K>(1)), make_value<V>(1));
  EXPECT_EQ(map.size(), 1u);
}

TYPED_TEST(map_conformance, insert_or_assign_reports_whether_it_inserted) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  EXPECT_TRUE(map.insert_or_assign(make_key<K>(1), make_value<V>(1)));
  EXPECT_EQ(map.find(make_key<K>(1)), make_value<V>(1));
  EXPECT_FALSE(map.insert_or_assign(make_key<K>(1), make_value<V>(2)));
  EXPECT_EQ(map.find(make_key<K>(1)), make_value<V>(2));
  EXPECT_EQ(map.size(), 1u);
}

TYPED_TEST(map_conformance, erase_of_a_present_key_removes_it_and_reports_true) {
  using K = typename TypeParam::key_type;
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, 3);
  EXPECT_TRUE(map.erase(make_key<K>(1)));
  model.erase(make_key<K>(1));
  EXPECT_FALSE(map.contains(make_key<K>(1)));
  EXPECT_EQ(map.size(), 2u);
  EXPECT_EQ(contents(map), model);
}

TYPED_TEST(map_conformance, erase_of_an_absent_key_reports_false_and_changes_nothing) {
  using K = typename TypeParam::key_type;
  TypeParam map;
  EXPECT_FALSE(map.erase(make_key<K>(7))) << "erase on an empty map";
  model_of<TypeParam> model;
  fill(map, model, 0, 3);
  EXPECT_FALSE(map.erase(make_key<K>(7)));
  EXPECT_TRUE(map.erase(make_key<K>(1)));
  EXPECT_FALSE(map.erase(make_key<K>(1))) << "a second erase of the same key";
  model.erase(make_key<K>(1));
  EXPECT_EQ(contents(map), model);
}

TYPED_TEST(map_conformance, an_erased_key_can_be_inserted_again) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  ASSERT_TRUE(map.insert(make_key<K>(1), make_value<V>(1)));
  ASSERT_TRUE(map.erase(make_key<K>(1)));
  EXPECT_TRUE(map.insert(make_key<K>(1), make_value<V>(2)));
  EXPECT_EQ(map.find(make_key<K>(1)), make_value<V>(2));
  EXPECT_EQ(map.size(), 1u);
}

TYPED_TEST(map_conformance, find_and_contains_see_present_keys_only) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  for (std::uint64_t i = 0; i < 20; i += 2) ASSERT_TRUE(map.insert(make_key<K>(i), make_value<V>(i)));
  for (std::uint64_t i = 0; i < 20; ++i) {
    const bool present = i % 2 == 0;
    EXPECT_EQ(map.contains(make_key<K>(i)), present) << "key " << i;
    const std::optional<V> found = map.find(make_key<K>(i));
    if (present) {
      EXPECT_EQ(found, make_value<V>(i)) << "key " << i;
    } else {
      EXPECT_FALSE(found.has_value()) << "key " << i;
    }
  }
}

TYPED_TEST(map_conformance, string_keys_are_found_by_string_view_and_c_string) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  if constexpr (std::is_same_v<K, std::string>) {
    TypeParam map;
    ASSERT_TRUE(map.insert(make_key<K>(1), make_value<V>(1)));
    const std::string present = make_key<K>(1);
    const std::string absent = make_key<K>(2);
    const std::string_view present_view = present;
    const std::string_view absent_view = absent;

    EXPECT_TRUE(map.contains(present_view));
    EXPECT_FALSE(map.contains(absent_view));
    EXPECT_TRUE(map.contains(present.c_str()));
    EXPECT_EQ(map.find(present_view), make_value<V>(1));
    EXPECT_FALSE(map.find(absent_view).has_value());
    std::optional<V> visited;
    EXPECT_TRUE(map.visit_value(present_view, [&](const V& v) { visited = v; }));
    EXPECT_EQ(visited, make_value<V>(1));
    EXPECT_FALSE(map.visit_value(absent_view, [&](const V&) { ADD_FAILURE() << "visited an absent key"; }));
    const K* stored = nullptr;  // the element names the stored key, not a converted copy of the view
    EXPECT_TRUE(map.visit(present_view, [&](const auto& e) { stored = &e.first; }));
    ASSERT_NE(stored, nullptr);
    EXPECT_EQ(*stored, present);
    EXPECT_FALSE(map.visit(absent_view, [&](const auto&) { ADD_FAILURE() << "visited an absent key"; }));

    auto snap = map.snapshot();
    EXPECT_TRUE(snap.contains(present_view));
    EXPECT_FALSE(snap.contains(absent_view));
    EXPECT_EQ(snap.find(present_view), make_value<V>(1));
    EXPECT_FALSE(snap.find(absent_view).has_value());

    // String literals (char arrays) work everywhere a key is looked up.
    ASSERT_TRUE(map.insert(K("pears"), make_value<V>(7)));
    EXPECT_TRUE(map.contains("pears"));
    EXPECT_EQ(map.find("pears"), make_value<V>(7));
    EXPECT_TRUE(map.snapshot().contains("pears"));
    EXPECT_TRUE(map.erase("pears"));
    EXPECT_FALSE(map.contains("pears"));
  } else {
    GTEST_SKIP() << "heterogeneous lookup is checked for string keys";
  }
}

TYPED_TEST(map_conformance, string_view_keys_erase_update_and_compare_and_replace) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  if constexpr (std::is_same_v<K, std::string>) {
    TypeParam map;
    model_of<TypeParam> model;
    fill(map, model, 0, 3);
    const std::string k0 = make_key<K>(0);
    const std::string k1 = make_key<K>(1);
    const std::string k2 = make_key<K>(2);
    const std::string absent = make_key<K>(9);

    EXPECT_TRUE(map.update(std::string_view(k0), [](const V& v) { return bumped(v); }));
    EXPECT_FALSE(map.update(std::string_view(absent), [](const V& v) { return bumped(v); }));
    EXPECT_TRUE(map.compare_and_replace(std::string_view(k1), make_value<V>(1), make_value<V>(11)));
    EXPECT_FALSE(map.compare_and_replace(std::string_view(k1), make_value<V>(1), make_value<V>(12)));
    EXPECT_TRUE(map.erase(std::string_view(k2)));
    EXPECT_FALSE(map.erase(std::string_view(absent)));

    model.insert_or_assign(k0, bumped(make_value<V>(0)));
    model.insert_or_assign(k1, make_value<V>(11));
    model.erase(k2);
    EXPECT_EQ(contents(map), model);
  } else {
    GTEST_SKIP() << "heterogeneous lookup is checked for string keys";
  }
}

TYPED_TEST(map_conformance, string_view_contains_builds_no_key) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  if constexpr (std::is_same_v<K, std::string>) {
    TypeParam map;
    ASSERT_TRUE(map.insert(make_key<K>(1), make_value<V>(1)));
    const std::string present = make_key<K>(1);
    const std::string absent = make_key<K>(2);
    ASSERT_TRUE(map.contains(std::string_view(present)));  // warm up: a first use may register the thread

    const std::size_t before = snapcache::test::allocations_by_this_thread();
    const bool found_present = map.contains(std::string_view(present));
    const bool found_absent = map.contains(std::string_view(absent));
    const std::size_t allocations = snapcache::test::allocations_by_this_thread() - before;

    EXPECT_TRUE(found_present);
    EXPECT_FALSE(found_absent);
    EXPECT_EQ(allocations, 0u) << "contains(string_view) built a std::string";
  } else {
    GTEST_SKIP() << "heterogeneous lookup is checked for string keys";
  }
}

TYPED_TEST(map_conformance, visit_calls_f_on_the_current_element_only_when_present) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  ASSERT_TRUE(map.insert(make_key<K>(1), make_value<V>(1)));
  int calls = 0;
  std::optional<std::pair<K, V>> seen;
  EXPECT_TRUE(map.visit(make_key<K>(1), [&](const typename TypeParam::element& e) {
    ++calls;
    seen.emplace(e.first, e.second);
  }));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, std::pair(make_key<K>(1), make_value<V>(1)));

  ASSERT_FALSE(map.insert_or_assign(make_key<K>(1), make_value<V>(2)));
  EXPECT_TRUE(map.visit(make_key<K>(1), [&](const auto& e) { seen.emplace(e.first, e.second); }));
  EXPECT_EQ(seen, std::pair(make_key<K>(1), make_value<V>(2))) << "visit saw a stale value";

  EXPECT_FALSE(map.visit(make_key<K>(2), [&](const auto&) { ++calls; }));
  EXPECT_EQ(calls, 1) << "visit called f for an absent key";
}

TYPED_TEST(map_conformance, visit_value_calls_f_on_the_current_value_only_when_present) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  ASSERT_TRUE(map.insert(make_key<K>(1), make_value<V>(1)));
  int calls = 0;
  std::optional<V> seen;
  EXPECT_TRUE(map.visit_value(make_key<K>(1), [&](const V& v) {
    ++calls;
    seen = v;
  }));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, make_value<V>(1));

  ASSERT_FALSE(map.insert_or_assign(make_key<K>(1), make_value<V>(2)));
  EXPECT_TRUE(map.visit_value(make_key<K>(1), [&](const V& v) { seen = v; }));
  EXPECT_EQ(seen, make_value<V>(2)) << "visit_value saw a stale value";

  EXPECT_FALSE(map.visit_value(make_key<K>(2), [&](const V&) { ++calls; }));
  EXPECT_EQ(calls, 1) << "visit_value called f for an absent key";
}

TYPED_TEST(map_conformance, update_replaces_the_value_by_f_of_the_old_value) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  ASSERT_TRUE(map.insert(make_key<K>(1), make_value<V>(1)));
  std::optional<V> seen;
  int calls = 0;
  EXPECT_TRUE(map.update(make_key<K>(1), [&](const V& old) {
    ++calls;
    seen = old;
    return bumped(old);
  }));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, make_value<V>(1));
  EXPECT_EQ(map.find(make_key<K>(1)), bumped(make_value<V>(1)));
  EXPECT_EQ(map.size(), 1u);
}

TYPED_TEST(map_conformance, update_of_an_absent_key_reports_false_without_calling_f) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  ASSERT_TRUE(map.insert(make_key<K>(1), make_value<V>(1)));
  int calls = 0;
  EXPECT_FALSE(map.update(make_key<K>(2), [&](const V& old) {
    ++calls;
    return bumped(old);
  }));
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(map.contains(make_key<K>(2))) << "update inserted an absent key";
  EXPECT_EQ(map.size(), 1u);
}

TYPED_TEST(map_conformance, update_whose_f_throws_leaves_the_value_unchanged) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, 3);
  EXPECT_THROW(map.update(make_key<K>(1), [](const V&) -> V { throw injected_failure{}; }), injected_failure);
  EXPECT_EQ(contents(map), model);
  EXPECT_TRUE(map.update(make_key<K>(1), [](const V& v) { return bumped(v); })) << "the map is still usable";
  EXPECT_EQ(map.find(make_key<K>(1)), bumped(make_value<V>(1)));
}

TYPED_TEST(map_conformance, compare_and_replace_replaces_only_a_matching_value) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  ASSERT_TRUE(map.insert(make_key<K>(1), make_value<V>(1)));

  EXPECT_FALSE(map.compare_and_replace(make_key<K>(1), make_value<V>(9), make_value<V>(2)));
  EXPECT_EQ(map.find(make_key<K>(1)), make_value<V>(1)) << "replaced a value that did not match";

  EXPECT_TRUE(map.compare_and_replace(make_key<K>(1), make_value<V>(1), make_value<V>(2)));
  EXPECT_EQ(map.find(make_key<K>(1)), make_value<V>(2));

  EXPECT_FALSE(map.compare_and_replace(make_key<K>(1), make_value<V>(1), make_value<V>(3)))
      << "the old value matched after it was replaced";
  EXPECT_FALSE(map.compare_and_replace(make_key<K>(5), make_value<V>(5), make_value<V>(6)));
  EXPECT_FALSE(map.contains(make_key<K>(5))) << "compare_and_replace inserted an absent key";
  EXPECT_EQ(map.size(), 1u);
}

TYPED_TEST(map_conformance, size_and_empty_follow_inserts_and_erases) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  for (std::uint64_t i = 0; i < 10; ++i) {
    ASSERT_TRUE(map.insert(make_key<K>(i), make_value<V>(i)));
    EXPECT_EQ(map.size(), i + 1);
    EXPECT_FALSE(map.empty());
  }
  ASSERT_FALSE(map.insert(make_key<K>(3), make_value<V>(3)));
  ASSERT_FALSE(map.insert_or_assign(make_key<K>(3), make_value<V>(4)));
  EXPECT_EQ(map.size(), 10u) << "a failed insert or an assignment changed the size";
  for (std::uint64_t i = 0; i < 10; ++i) {
    ASSERT_TRUE(map.erase(make_key<K>(i)));
    EXPECT_EQ(map.size(), 9 - i);
  }
  EXPECT_TRUE(map.empty());
}

TYPED_TEST(map_conformance, stats_count_the_live_entries) {
  using K = typename TypeParam::key_type;
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, 50);
  ASSERT_TRUE(map.erase(make_key<K>(7)));
  const snapcache::map_stats stats = map.stats();
  EXPECT_EQ(stats.live_entries, 49u);
  EXPECT_GE(stats.live_versions, stats.live_entries);
  if constexpr (is_locked_map<TypeParam>) {
    EXPECT_EQ(stats.live_versions, stats.live_entries);
    EXPECT_EQ(stats.retired_unfreed, 0u);
  }
}

TYPED_TEST(map_conformance, ten_thousand_keys_round_trip) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  constexpr std::uint64_t count = 10'000;
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, count);
  EXPECT_EQ(map.size(), count);
  for (std::uint64_t i = 0; i < count; ++i) {
    ASSERT_EQ(map.find(make_key<K>(i)), make_value<V>(i)) << "key " << i;
  }
  EXPECT_EQ(contents(map), model);
  for (std::uint64_t i = 0; i < count; i += 2) {
    ASSERT_TRUE(map.erase(make_key<K>(i))) << "key " << i;
    model.erase(make_key<K>(i));
  }
  for (std::uint64_t i = 1; i < count; i += 4) {
    ASSERT_FALSE(map.insert_or_assign(make_key<K>(i), make_value<V>(i + count))) << "key " << i;
    model.insert_or_assign(make_key<K>(i), make_value<V>(i + count));
  }
  EXPECT_EQ(map.size(), count / 2);
  EXPECT_EQ(contents(map), model);
  for (std::uint64_t i = 1; i < count; i += 2) ASSERT_TRUE(map.erase(make_key<K>(i))) << "key " << i;
  EXPECT_TRUE(map.empty());
}

// ---------------------------------------------------------------------------
// Snapshots.

TYPED_TEST(map_conformance, a_snapshot_holds_exactly_the_contents_at_the_time) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, 100);
  for (std::uint64_t i = 0; i < 100; i += 3) {
    ASSERT_TRUE(map.erase(make_key<K>(i)));
    model.erase(make_key<K>(i));
  }
  ASSERT_FALSE(map.insert_or_assign(make_key<K>(1), make_value<V>(1000)));
  model.insert_or_assign(make_key<K>(1), make_value<V>(1000));

  auto snap = map.snapshot();
  EXPECT_EQ(snap.size(), model.size());
  EXPECT_EQ(snapshot_contents<TypeParam>(snap), model);
}

TYPED_TEST(map_conformance, a_snapshot_is_unchanged_by_later_inserts) {
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, 20);
  auto snap = map.snapshot();
  model_of<TypeParam> ignored;
  fill(map, ignored, 20, 1000);  // enough to make a table grow
  EXPECT_EQ(snap.size(), 20u);
  EXPECT_EQ(snapshot_contents<TypeParam>(snap), model);
  EXPECT_EQ(map.size(), 1020u);
}

TYPED_TEST(map_conformance, a_snapshot_is_unchanged_when_every_key_is_erased_later) {
  using K = typename TypeParam::key_type;
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, 100);
  auto snap = map.snapshot();
  for (std::uint64_t i = 0; i < 100; ++i) ASSERT_TRUE(map.erase(make_key<K>(i)));
  ASSERT_TRUE(map.empty());
  EXPECT_EQ(snap.size(), 100u);
  EXPECT_EQ(snapshot_contents<TypeParam>(snap), model);
}

TYPED_TEST(map_conformance, a_snapshot_is_unchanged_by_later_assignments) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, 30);
  auto snap = map.snapshot();
  for (std::uint64_t i = 0; i < 30; i += 3) {
    ASSERT_FALSE(map.insert_or_assign(make_key<K>(i), make_value<V>(i + 100)));
    ASSERT_TRUE(map.update(make_key<K>(i + 1), [](const V& v) { return bumped(v); }));
    ASSERT_TRUE(map.compare_and_replace(make_key<K>(i + 2), make_value<V>(i + 2), make_value<V>(i + 200)));
  }
  EXPECT_EQ(snapshot_contents<TypeParam>(snap), model);
  EXPECT_NE(contents(map), model) << "the writes did not happen";
}

TYPED_TEST(map_conformance, snapshot_find_contains_and_size_answer_from_the_snapshot) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, 10);
  auto snap = map.snapshot();
  ASSERT_TRUE(map.erase(make_key<K>(2)));
  ASSERT_TRUE(map.insert(make_key<K>(50), make_value<V>(50)));
  ASSERT_FALSE(map.insert_or_assign(make_key<K>(3), make_value<V>(33)));

  EXPECT_EQ(snap.size(), 10u);
  EXPECT_TRUE(snap.contains(make_key<K>(2))) << "a key erased after the snapshot";
  EXPECT_EQ(snap.find(make_key<K>(2)), make_value<V>(2));
  EXPECT_FALSE(snap.contains(make_key<K>(50))) << "a key inserted after the snapshot";
  EXPECT_FALSE(snap.find(make_key<K>(50)).has_value());
  EXPECT_EQ(snap.find(make_key<K>(3)), make_value<V>(3)) << "a value assigned after the snapshot";
  EXPECT_FALSE(snap.contains(make_key<K>(99)));
}

TYPED_TEST(map_conformance, a_moved_snapshot_keeps_its_contents) {
  using K = typename TypeParam::key_type;
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, 10);
  auto first = map.snapshot();
  auto moved = std::move(first);
  EXPECT_EQ(moved.size(), 10u);
  EXPECT_EQ(snapshot_contents<TypeParam>(moved), model);

  ASSERT_TRUE(map.erase(make_key<K>(0)));
  auto assigned = map.snapshot();
  EXPECT_EQ(assigned.size(), 9u);
  assigned = std::move(moved);
  EXPECT_EQ(assigned.size(), 10u);
  EXPECT_EQ(snapshot_contents<TypeParam>(assigned), model);
  EXPECT_TRUE(assigned.contains(make_key<K>(0)));
}

TYPED_TEST(map_conformance, iterating_a_snapshot_twice_gives_identical_results) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, 200);
  auto snap = map.snapshot();
  auto read = [&] {
    std::vector<std::pair<K, V>> entries;
    for (const auto& [key, value] : snap) entries.emplace_back(key, value);
    return entries;
  };
  const auto once = read();
  ASSERT_TRUE(map.erase(make_key<K>(5)));
  const auto twice = read();
  EXPECT_EQ(once.size(), 200u);
  EXPECT_EQ(once, twice);
}

// ---------------------------------------------------------------------------
// Concurrency: small, fast checks of atomicity; the stress programs go
// further.

TYPED_TEST(map_conformance, concurrent_inserts_of_disjoint_keys_all_land) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  constexpr std::uint64_t threads = 4;
  constexpr std::uint64_t per_thread = 500;
  TypeParam map;
  std::atomic<std::uint64_t> failed_inserts{0};
  {
    std::latch start(threads);
    std::vector<std::jthread> workers;
    for (std::uint64_t t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        start.arrive_and_wait();
        for (std::uint64_t i = t * per_thread; i < (t + 1) * per_thread; ++i) {
          if (!map.insert(make_key<K>(i), make_value<V>(i))) ++failed_inserts;
        }
      });
    }
  }
  EXPECT_EQ(failed_inserts.load(), 0u);
  EXPECT_EQ(map.size(), threads * per_thread);
  for (std::uint64_t i = 0; i < threads * per_thread; ++i) {
    ASSERT_EQ(map.find(make_key<K>(i)), make_value<V>(i)) << "key " << i;
  }
}

TYPED_TEST(map_conformance, concurrent_inserts_of_one_key_succeed_exactly_once) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  constexpr std::uint64_t threads = 4;
  constexpr std::uint64_t rounds = 200;
  TypeParam map;
  std::atomic<std::uint64_t> inserted{0};
  {
    std::latch start(threads);
    std::vector<std::jthread> workers;
    for (std::uint64_t t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        start.arrive_and_wait();
        for (std::uint64_t r = 0; r < rounds; ++r) {
          if (map.insert(make_key<K>(r), make_value<V>(t))) ++inserted;
        }
      });
    }
  }
  EXPECT_EQ(inserted.load(), rounds) << "each key must be inserted by exactly one thread";
  EXPECT_EQ(map.size(), rounds);
}

TYPED_TEST(map_conformance, concurrent_updates_of_one_key_are_atomic) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  constexpr int threads = 4;
  constexpr int per_thread = 300;
  TypeParam map;
  ASSERT_TRUE(map.insert(make_key<K>(1), make_value<V>(1)));
  {
    std::latch start(threads);
    std::vector<std::jthread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        start.arrive_and_wait();
        for (int i = 0; i < per_thread; ++i) map.update(make_key<K>(1), [](const V& v) { return bumped(v); });
      });
    }
  }
  V expected = make_value<V>(1);
  for (int i = 0; i < threads * per_thread; ++i) expected = bumped(expected);
  EXPECT_EQ(map.find(make_key<K>(1)), expected) << "an update was lost";
}

TYPED_TEST(map_conformance, a_snapshot_taken_during_inserts_sees_a_prefix_of_them) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  constexpr std::uint64_t count = 2000;
  constexpr int max_snapshots = 100;
  TypeParam map;
  std::atomic<bool> done{false};
  std::jthread writer([&] {
    for (std::uint64_t i = 0; i < count; ++i) map.insert(make_key<K>(i), make_value<V>(i));
    done = true;
  });
  for (int taken = 0; taken < max_snapshots; ++taken) {
    const bool finished = done.load();
    auto snap = map.snapshot();
    const std::uint64_t n = snap.size();
    // Keys were inserted in order by one writer: a point-in-time snapshot
    // holds exactly keys [0, n).
    bool prefix = n >= count || !snap.contains(make_key<K>(n));
    for (std::uint64_t i = 0; i < n && prefix; ++i) prefix = snap.find(make_key<K>(i)) == make_value<V>(i);
    ASSERT_TRUE(prefix) << "a snapshot of " << n << " entries is not a prefix of the inserts";
    if (finished) {
      EXPECT_EQ(n, count) << "a snapshot taken after the writer finished missed inserts";
      break;
    }
  }
}

// ---------------------------------------------------------------------------
// Values moved, not copied; the operations beyond the basic ones.

// A value that can only be moved.
using move_only = std::unique_ptr<std::uint64_t>;

// A value without a default constructor.
struct no_default {
  explicit no_default(std::uint64_t v) : value(v) {}
  std::uint64_t value;
  friend bool operator==(const no_default& a, const no_default& b) { return a.value == b.value; }
};

TYPED_TEST(map_conformance, move_only_values_work_with_every_operation_that_needs_no_copy) {
  using map_type = typename TypeParam::template rebind<std::uint64_t, move_only>;
  map_type map;
  EXPECT_TRUE(map.insert(1, std::make_unique<std::uint64_t>(10)));
  EXPECT_TRUE(map.try_emplace(2, new std::uint64_t(20)));
  EXPECT_TRUE(map.emplace(3, std::make_unique<std::uint64_t>(30)));
  EXPECT_FALSE(map.insert_or_assign(3, std::make_unique<std::uint64_t>(31)));
  EXPECT_TRUE(map.update(1, [](const move_only& v) { return std::make_unique<std::uint64_t>(*v + 1); }));
  std::uint64_t seen = 0;
  EXPECT_TRUE(map.visit(std::uint64_t{1}, [&](const auto& e) { seen = *e.second; }));
  EXPECT_EQ(seen, 11u);
  EXPECT_TRUE(map.visit_value(std::uint64_t{1}, [&](const move_only& v) { seen = *v + 1; }));
  EXPECT_EQ(seen, 12u);
  EXPECT_FALSE(map.insert_or_visit(2, std::make_unique<std::uint64_t>(99), [&](const move_only& v) { seen = *v; }));
  EXPECT_EQ(seen, 20u);
  EXPECT_TRUE(map.erase_if(std::uint64_t{2}, [](const move_only& v) { return *v == 20; }));
  std::uint64_t sum = 0;
  EXPECT_EQ(map.visit_all([&](std::uint64_t, const move_only& v) { sum += *v; }), 2u);
  EXPECT_EQ(sum, 11u + 31u);
  EXPECT_EQ(map.erase_if([](std::uint64_t, const move_only& v) { return *v > 20; }), 1u);
  EXPECT_EQ(map.size(), 1u);
  map.clear();
  EXPECT_TRUE(map.empty());
}

// Issue 20: locked_map's snapshot() did not compile for move-only values.
// Both maps' snapshots now hold them (shared, never copied) and read them
// in place: visit(key, f), contains, and iteration with `auto&`.
TYPED_TEST(map_conformance, snapshots_of_move_only_values_read_them_in_place) {
  using map_type = typename TypeParam::template rebind<std::uint64_t, move_only>;
  map_type map;
  for (std::uint64_t k = 0; k < 10; ++k) map.insert(k, std::make_unique<std::uint64_t>(k * 10));
  auto snap = map.snapshot();
  EXPECT_FALSE(map.insert_or_assign(std::uint64_t{3}, std::make_unique<std::uint64_t>(999)));
  EXPECT_TRUE(map.erase(std::uint64_t{4}));
  std::uint64_t seen = 0;
  EXPECT_TRUE(snap.visit(std::uint64_t{3}, [&](const auto& e) { seen = *e.second + e.first; }));
  EXPECT_EQ(seen, 33u);
  EXPECT_TRUE(snap.visit_value(std::uint64_t{3}, [&](const move_only& v) { seen = *v; }));
  EXPECT_EQ(seen, 30u);
  EXPECT_TRUE(snap.contains(std::uint64_t{4}));
  EXPECT_FALSE(snap.visit(std::uint64_t{10}, [](const auto&) { ADD_FAILURE(); }));
  EXPECT_FALSE(snap.visit_value(std::uint64_t{10}, [](const move_only&) { ADD_FAILURE(); }));
  std::uint64_t sum = 0, n = 0;
  for (auto& [k, v] : snap) {
    EXPECT_EQ(*v, k * 10);
    sum += *v;
    ++n;
  }
  EXPECT_EQ(n, 10u);
  EXPECT_EQ(sum, 450u);
  EXPECT_EQ(snap.size(), 10u);
  EXPECT_TRUE(map.visit(std::uint64_t{3}, [&](const auto& e) { seen = *e.second; }));
  EXPECT_EQ(seen, 999u);
}

TYPED_TEST(map_conformance, values_without_a_default_constructor_work) {
  using map_type = typename TypeParam::template rebind<std::uint64_t, no_default>;
  map_type map;
  EXPECT_TRUE(map.insert(1, no_default(10)));
  EXPECT_TRUE(map.try_emplace(2, std::uint64_t{20}));
  EXPECT_FALSE(map.insert_or_assign(2, no_default(21)));
  EXPECT_TRUE(map.compare_and_replace(std::uint64_t{1}, no_default(10), no_default(11)));
  EXPECT_EQ(map.find(std::uint64_t{1}), no_default(11));
  EXPECT_EQ(map.find(std::uint64_t{2}), no_default(21));
}

TYPED_TEST(map_conformance, an_rvalue_value_is_moved_in_and_try_emplace_builds_nothing_when_present) {
  using counted_map = typename TypeParam::template rebind<counted_key, counted_value>;
  {
    counted_map map;
    counted_value v = make_value<counted_value>(1);
    copies_until_throw = 1'000'000;  // counts copies down: the difference is the copies made
    EXPECT_TRUE(map.insert(make_key<counted_key>(1), std::move(v)));
    EXPECT_FALSE(map.insert_or_assign(make_key<counted_key>(1), make_value<counted_value>(2)));
    EXPECT_EQ(copies_until_throw.load(), 1'000'000) << "a value given as an rvalue was copied";
    const long before = value_lifetimes.constructed.load();
    EXPECT_FALSE(map.try_emplace(make_key<counted_key>(1), std::uint64_t{3}));
    EXPECT_EQ(value_lifetimes.constructed.load(), before) << "try_emplace built a value for a present key";
    EXPECT_TRUE(map.try_emplace(make_key<counted_key>(2), std::uint64_t{4}));
    copies_until_throw = -1;
    EXPECT_EQ(map.find(make_key<counted_key>(2)), counted_value(4));
  }
  wait_for_reclamation();
}

TYPED_TEST(map_conformance, insert_or_visit_inserts_when_absent_and_visits_when_present) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  int visits = 0;
  V seen = make_value<V>(0);
  EXPECT_TRUE(map.insert_or_visit(make_key<K>(1), make_value<V>(1), [&](const V&) { ++visits; }));
  EXPECT_EQ(visits, 0);
  EXPECT_FALSE(map.insert_or_visit(make_key<K>(1), make_value<V>(2), [&](const V& v) { ++visits, seen = v; }));
  EXPECT_EQ(visits, 1);
  EXPECT_EQ(seen, make_value<V>(1));
  EXPECT_EQ(map.find(make_key<K>(1)), make_value<V>(1)) << "insert_or_visit replaced a present value";
  EXPECT_FALSE(map.try_emplace_or_visit(make_key<K>(1), [&](const V&) { ++visits; }, make_value<V>(3)));
  EXPECT_TRUE(map.try_emplace_or_visit(make_key<K>(2), [&](const V&) { ++visits; }, make_value<V>(4)));
  EXPECT_EQ(visits, 2);
  EXPECT_EQ(map.find(make_key<K>(2)), make_value<V>(4));
}

TYPED_TEST(map_conformance, concurrent_get_or_insert_inserts_each_key_once_and_visits_the_winner) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  constexpr std::uint64_t threads = 4;
  constexpr std::uint64_t keys = 200;
  TypeParam map;
  std::atomic<std::uint64_t> inserted{0}, wrong{0};
  {
    std::latch start(threads);
    std::vector<std::jthread> workers;
    for (std::uint64_t t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        start.arrive_and_wait();
        for (std::uint64_t k = 0; k < keys; ++k) {
          const V mine = make_value<V>(k * threads + t);
          const bool won = map.insert_or_visit(make_key<K>(k), mine, [&](const V& present) {
            bool any = false;  // the present value is some thread's value for this key
            for (std::uint64_t u = 0; u < threads; ++u) any = any || present == make_value<V>(k * threads + u);
            if (!any) ++wrong;
          });
          if (won) ++inserted;
        }
      });
    }
  }
  EXPECT_EQ(inserted.load(), keys);
  EXPECT_EQ(wrong.load(), 0u);
}

TYPED_TEST(map_conformance, erase_if_erases_only_values_that_satisfy_the_predicate) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, 100);
  EXPECT_FALSE(map.erase_if(make_key<K>(5), [](const V& v) { return v == make_value<V>(6); }));
  EXPECT_TRUE(map.erase_if(make_key<K>(5), [](const V& v) { return v == make_value<V>(5); }));
  EXPECT_FALSE(map.erase_if(make_key<K>(5), [](const V&) { return true; })) << "absent now";
  model.erase(make_key<K>(5));
  // The whole map: every key below 50 (keys and values are made from i).
  std::vector<K> low;
  for (std::uint64_t i = 0; i < 50; ++i) low.push_back(make_key<K>(i));
  const std::size_t erased = map.erase_if([&](const K& k, const V&) {
    return std::find(low.begin(), low.end(), k) != low.end();
  });
  EXPECT_EQ(erased, 49u);
  for (std::uint64_t i = 0; i < 50; ++i) model.erase(make_key<K>(i));
  EXPECT_EQ(contents(map), model);
}

TYPED_TEST(map_conformance, visit_all_visits_every_entry_of_one_instant_once) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, 300);
  model_of<TypeParam> seen;
  EXPECT_EQ(map.visit_all([&](const K& k, const V& v) { EXPECT_TRUE(seen.emplace(k, v).second); }), 300u);
  EXPECT_EQ(seen, model);
}

TYPED_TEST(map_conformance, clear_empties_the_map_and_it_stays_usable) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, 500);
  map.clear();
  EXPECT_TRUE(map.empty());
  EXPECT_FALSE(map.contains(make_key<K>(7)));
  EXPECT_TRUE(map.insert(make_key<K>(7), make_value<V>(7)));
  EXPECT_EQ(map.size(), 1u);
}

TYPED_TEST(map_conformance, reserve_keeps_the_contents_and_later_inserts_land) {
  using K = typename TypeParam::key_type;
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, 10);
  map.reserve(5000);
  EXPECT_EQ(contents(map), model);
  fill(map, model, 10, 4990);
  EXPECT_EQ(map.size(), 5000u);
  EXPECT_TRUE(map.contains(make_key<K>(4999)));
}

TYPED_TEST(map_conformance, a_moved_map_keeps_its_contents_and_the_moved_from_map_is_empty_and_usable) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, 200);
  TypeParam moved(std::move(map));
  EXPECT_EQ(contents(moved), model);
  EXPECT_TRUE(map.empty());                               // NOLINT(bugprone-use-after-move): specified
  EXPECT_FALSE(map.contains(make_key<K>(1)));             // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(map.insert(make_key<K>(1), make_value<V>(1)));  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(map.size(), 1u);
  map = std::move(moved);
  EXPECT_EQ(contents(map), model);
  EXPECT_TRUE(moved.empty());  // NOLINT(bugprone-use-after-move)
  auto snap = map.snapshot();
  EXPECT_EQ(snap.size(), 200u);
}

TYPED_TEST(map_conformance, lookups_by_another_type_find_what_compares_equal) {
  {
    typename TypeParam::template rebind<double, int> doubles;
    ASSERT_TRUE(doubles.insert(1.0, 7));
    EXPECT_EQ(doubles.find(1), std::optional<int>(7)) << "find(1) missed 1.0";
    EXPECT_TRUE(doubles.contains(1));
    EXPECT_TRUE(doubles.erase(1));
  }
  {
    typename TypeParam::template rebind<unsigned, int> unsigneds;
    ASSERT_TRUE(unsigneds.insert(0xFFFFFFFFu, 7));
    EXPECT_EQ(unsigneds.find(-1), std::optional<int>(7)) << "find(-1) missed 0xFFFFFFFF";
    EXPECT_TRUE(unsigneds.visit_value(-1, [](int v) { EXPECT_EQ(v, 7); }));
    EXPECT_TRUE(unsigneds.visit(-1, [](const auto& e) { EXPECT_EQ(e.first, 0xFFFFFFFFu); }));
  }
}

// Strings of every character type are found by their views, their C
// strings and their literals (hashed as their characters, not as pointers).
TYPED_TEST(map_conformance, wide_strings_are_found_by_view_pointer_and_literal) {
  {
    typename TypeParam::template rebind<std::wstring, int> wide;
    ASSERT_TRUE(wide.insert(std::wstring(L"ab"), 1));
    const wchar_t* pointer = L"ab";
    EXPECT_TRUE(wide.contains(pointer)) << "a const wchar_t* missed its string";
    EXPECT_TRUE(wide.contains(L"ab"));
    EXPECT_TRUE(wide.contains(std::wstring_view(L"ab")));
    EXPECT_FALSE(wide.contains(L"abc"));
    EXPECT_EQ(wide.find(pointer), std::optional<int>(1));
    EXPECT_TRUE(wide.erase(L"ab"));
    EXPECT_TRUE(wide.empty());
  }
  {
    typename TypeParam::template rebind<std::u8string, int> u8;
    ASSERT_TRUE(u8.insert(std::u8string(u8"snap"), 2));
    const char8_t* pointer = u8"snap";
    EXPECT_TRUE(u8.contains(pointer));
    EXPECT_TRUE(u8.contains(u8"snap"));
  }
  {
    typename TypeParam::template rebind<std::u32string, int> u32;
    ASSERT_TRUE(u32.insert(std::u32string(U"cache"), 3));
    const char32_t* pointer = U"cache";
    EXPECT_TRUE(u32.contains(pointer));
    EXPECT_TRUE(u32.contains(std::u32string_view(U"cache")));
  }
}

TYPED_TEST(map_conformance, one_const_snapshot_is_read_by_two_threads_at_once) {
  using K = typename TypeParam::key_type;
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, 1000);
  const auto snap = map.snapshot();
  std::atomic<std::size_t> sizes{0};
  {
    std::vector<std::jthread> readers;
    for (int t = 0; t < 2; ++t) {
      readers.emplace_back([&] {
        sizes += snap.size();
        EXPECT_TRUE(snap.contains(make_key<K>(3)));
      });
    }
  }
  EXPECT_EQ(sizes.load(), 2000u);
}

// ---------------------------------------------------------------------------
// Object lifetimes and exception safety, over counted keys and values.

TYPED_TEST(map_conformance, every_key_and_value_constructed_is_destroyed_exactly_once) {
  using counted_map = typename TypeParam::template rebind<counted_key, counted_value>;
  {
    counted_map map;
    model_of<counted_map> model;
    fill(map, model, 0, 100);
    EXPECT_FALSE(map.insert(make_key<counted_key>(3), make_value<counted_value>(3)));
    EXPECT_FALSE(map.insert_or_assign(make_key<counted_key>(4), make_value<counted_value>(44)));
    auto early = map.snapshot();
    for (std::uint64_t i = 0; i < 100; i += 2) ASSERT_TRUE(map.erase(make_key<counted_key>(i)));
    EXPECT_TRUE(map.update(make_key<counted_key>(5), [](const counted_value& v) { return bumped(v); }));
    EXPECT_TRUE(map.compare_and_replace(make_key<counted_key>(7), make_value<counted_value>(7),
                                        make_value<counted_value>(77)));
    EXPECT_EQ(map.find(make_key<counted_key>(9)), make_value<counted_value>(9));
    EXPECT_TRUE(map.visit(make_key<counted_key>(9), [](const auto&) {}));
    EXPECT_TRUE(map.visit_value(make_key<counted_key>(9), [](const counted_value&) {}));
    auto late = map.snapshot();
    auto moved = std::move(early);
    late = map.snapshot();
    EXPECT_EQ(moved.size(), 100u);
    EXPECT_EQ(late.size(), 50u);
    EXPECT_GT(key_lifetimes.live(), 0);
    EXPECT_GT(value_lifetimes.live(), 0);
    model.clear();
  }
  EXPECT_GT(key_lifetimes.constructed.load(), 0);
  EXPECT_GT(value_lifetimes.constructed.load(), 0);
  wait_for_reclamation();
  EXPECT_EQ(key_lifetimes.live(), 0) << "keys leaked or were destroyed twice";
  EXPECT_EQ(value_lifetimes.live(), 0) << "values leaked or were destroyed twice";
  EXPECT_EQ(key_lifetimes.destroyed_twice.load(), 0);
  EXPECT_EQ(value_lifetimes.destroyed_twice.load(), 0);
}

TYPED_TEST(map_conformance, a_throwing_hash_leaves_the_map_unchanged_and_leaks_nothing) {
  using counted_map = typename TypeParam::template rebind<counted_key, counted_value>;
  using V = counted_value;
  const auto key = [](std::uint64_t i) { return make_key<counted_key>(i); };
  const auto value = [](std::uint64_t i) { return make_value<counted_value>(i); };
  {
    counted_map map;
    model_of<counted_map> model;
    fill(map, model, 0, 20);
    // The poisoned key absent, then present.
    for (const std::uint64_t poisoned : {std::uint64_t{100}, std::uint64_t{7}}) {
      const bool present = map.contains(key(poisoned));
      const counted_key k = key(poisoned);
      const counted_value v = value(poisoned);
      {
        throwing_hash_for fault(poisoned);
        EXPECT_THROW(map.insert(k, v), injected_failure);
        EXPECT_THROW(map.insert_or_assign(k, value(1)), injected_failure);
        EXPECT_THROW(map.erase(k), injected_failure);
        EXPECT_THROW((void)map.find(k), injected_failure);
        EXPECT_THROW((void)map.contains(k), injected_failure);
        EXPECT_THROW(map.visit(k, [](const auto&) {}), injected_failure);
        EXPECT_THROW(map.visit_value(k, [](const V&) {}), injected_failure);
        EXPECT_THROW(map.update(k, [](const V& old) { return bumped(old); }), injected_failure);
        EXPECT_THROW(map.compare_and_replace(k, v, value(1)), injected_failure);
      }
      EXPECT_EQ(contents(map), model) << "poisoned key " << poisoned << (present ? " (present)" : " (absent)");
    }
    EXPECT_TRUE(map.insert(key(100), value(100))) << "the map is still usable";
    EXPECT_TRUE(map.erase(key(7)));
  }
  wait_for_reclamation();
  EXPECT_EQ(key_lifetimes.live(), 0);
  EXPECT_EQ(value_lifetimes.live(), 0);
}

TYPED_TEST(map_conformance, a_throwing_value_copy_leaves_the_map_unchanged_and_leaks_nothing) {
  using counted_map = typename TypeParam::template rebind<counted_key, counted_value>;
  using V = counted_value;
  const auto key = [](std::uint64_t i) { return make_key<counted_key>(i); };
  const auto value = [](std::uint64_t i) { return make_value<counted_value>(i); };
  {
    counted_map map;
    model_of<counted_map> model;
    fill(map, model, 0, 20);
    const counted_key absent = key(100);
    const counted_key present = key(5);
    const counted_value v = value(1000);
    std::size_t failures = 0;
    const auto sweep = [&](const char* operation, const auto& run) {
      const model_of<counted_map> before = contents(map);
      failures += sweep_copy_failures(run, [&](std::size_t n) {
        EXPECT_EQ(contents(map), before) << operation << " changed the map when copy " << n << " threw";
      });
    };

    sweep("find", [&] { (void)map.find(present); });
    sweep("snapshot", [&] { (void)map.snapshot(); });
    sweep("update", [&] { map.update(present, [](const V& old) { return V(old.payload() + 1); }); });
    sweep("update copying the old value", [&] { map.update(present, [](const V& old) { return V(old); }); });
    sweep("compare_and_replace", [&] { map.compare_and_replace(present, value(6), v); });
    sweep("insert_or_assign of a present key", [&] { map.insert_or_assign(present, value(7)); });
    sweep("insert_or_assign of an absent key", [&] { map.insert_or_assign(absent, value(8)); });
    sweep("insert", [&] { map.insert(key(101), v); });
    // Rvalues are moved, not copied: find, the copying update, the argument
    // of compare_and_replace and insert of an lvalue copy.
    EXPECT_GE(failures, 4u) << "copies were never made, so nothing was injected";
    model.insert_or_assign(present, value(7));
    model.emplace(absent, value(8));
    model.emplace(key(101), v);
    EXPECT_EQ(contents(map), model) << "the operations did not complete once copies succeeded";
  }
  wait_for_reclamation();
  EXPECT_EQ(key_lifetimes.live(), 0);
  EXPECT_EQ(value_lifetimes.live(), 0);
}

TYPED_TEST(map_conformance, allocation_failures_leak_no_keys_or_values) {
  using counted_map = typename TypeParam::template rebind<counted_key, counted_value>;
  {
    counted_map map;
    model_of<counted_map> model;
    fill(map, model, 0, 20);
    const counted_key k = make_key<counted_key>(50);
    const counted_value v = make_value<counted_value>(50);
    EXPECT_GT(sweep_allocation_failures_unchanged(map, [&] { map.insert(k, v); }), 0u);
    sweep_allocation_failures_unchanged(map, [&] { map.insert_or_assign(make_key<counted_key>(51), v); });
    sweep_allocation_failures_unchanged(map, [&] { (void)map.snapshot(); });
    sweep_allocation_failures_unchanged(map, [&] { map.erase(k); });
    EXPECT_EQ(map.size(), 21u);
  }
  wait_for_reclamation();
  EXPECT_EQ(key_lifetimes.live(), 0);
  EXPECT_EQ(value_lifetimes.live(), 0);
}

// ---------------------------------------------------------------------------
// Allocation failure: every operation either completes or leaves the map as
// it was.

TYPED_TEST(map_conformance, allocation_failure_in_insert_leaves_the_map_unchanged) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, 20);
  const K k = make_key<K>(100);
  const V v = make_value<V>(100);
  bool inserted = false;
  const std::size_t failures = sweep_allocation_failures_unchanged(map, [&] { inserted = map.insert(k, v); });
  EXPECT_GT(failures, 0u) << "insert allocated nothing";
  EXPECT_TRUE(inserted);
  model.emplace(k, v);
  EXPECT_EQ(contents(map), model);
}

TYPED_TEST(map_conformance, allocation_failure_in_insert_or_assign_leaves_the_map_unchanged) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, 20);
  const K absent = make_key<K>(100);
  const K present = make_key<K>(5);
  const V v = make_value<V>(100);
  bool inserted = false;
  sweep_allocation_failures_unchanged(map, [&] { inserted = map.insert_or_assign(absent, v); });
  EXPECT_TRUE(inserted);
  sweep_allocation_failures_unchanged(map, [&] { inserted = map.insert_or_assign(present, v); });
  EXPECT_FALSE(inserted);
  model.insert_or_assign(absent, v);
  model.insert_or_assign(present, v);
  EXPECT_EQ(contents(map), model);
}

TYPED_TEST(map_conformance, allocation_failure_in_erase_leaves_the_map_unchanged) {
  using K = typename TypeParam::key_type;
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, 20);
  const K k = make_key<K>(5);
  bool erased = false;
  sweep_allocation_failures_unchanged(map, [&] { erased = map.erase(k); });
  EXPECT_TRUE(erased);
  model.erase(k);
  EXPECT_EQ(contents(map), model);
}

TYPED_TEST(map_conformance, allocation_failure_in_update_leaves_the_map_unchanged) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, 20);
  const K k = make_key<K>(5);
  bool updated = false;
  sweep_allocation_failures_unchanged(map,
                                      [&] { updated = map.update(k, [](const V& old) { return bumped(old); }); });
  EXPECT_TRUE(updated);
  model.insert_or_assign(k, bumped(model.at(k)));
  EXPECT_EQ(contents(map), model);
}

TYPED_TEST(map_conformance, allocation_failure_in_compare_and_replace_leaves_the_map_unchanged) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, 20);
  const K k = make_key<K>(5);
  const V expected = make_value<V>(5);
  const V desired = make_value<V>(500);
  bool replaced = false;
  sweep_allocation_failures_unchanged(map, [&] { replaced = map.compare_and_replace(k, expected, desired); });
  EXPECT_TRUE(replaced);
  model.insert_or_assign(k, desired);
  EXPECT_EQ(contents(map), model);
}

TYPED_TEST(map_conformance, allocation_failure_in_snapshot_leaves_the_map_unchanged) {
  TypeParam map;
  model_of<TypeParam> model;
  fill(map, model, 0, 20);
  std::optional<typename TypeParam::snapshot_type> snap;
  sweep_allocation_failures_unchanged(map, [&] { snap.emplace(map.snapshot()); });
  ASSERT_TRUE(snap.has_value());
  EXPECT_EQ(snapshot_contents<TypeParam>(*snap), model);
}

}  // namespace

// ---------------------------------------------------------------------------
// The Boost- and std-shaped forms (detail/porting_forms.hpp, docs/porting.md).

TYPED_TEST(map_conformance, boost_shaped_inserts_take_pairs_ranges_and_lists) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  using value_type = typename TypeParam::value_type;
  static_assert(std::is_same_v<value_type, std::pair<const K, V>>);
  TypeParam map;
  EXPECT_TRUE(map.insert(value_type(make_key<K>(1), make_value<V>(1))));
  const value_type kv(make_key<K>(2), make_value<V>(2));
  EXPECT_TRUE(map.insert(kv));
  EXPECT_FALSE(map.insert({make_key<K>(1), make_value<V>(9)})) << "a present key keeps its value";
  const std::vector<value_type> more = {{make_key<K>(3), make_value<V>(3)}, {make_key<K>(1), make_value<V>(8)},
                                        {make_key<K>(4), make_value<V>(4)}};
  EXPECT_EQ(map.insert(more.begin(), more.end()), 2u);
  EXPECT_EQ(map.insert({{make_key<K>(5), make_value<V>(5)}, {make_key<K>(2), make_value<V>(7)}}), 1u);
  EXPECT_EQ(map.size(), 5u);
  for (int k = 1; k <= 5; ++k) EXPECT_EQ(map.find(make_key<K>(k)), make_value<V>(k));
}

TYPED_TEST(map_conformance, count_is_one_for_a_present_key_and_zero_otherwise) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  map.insert(make_key<K>(1), make_value<V>(1));
  EXPECT_EQ(map.count(make_key<K>(1)), 1u);
  EXPECT_EQ(map.count(make_key<K>(2)), 0u);
}

TYPED_TEST(map_conformance, cvisit_passes_the_element_as_a_pair) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  map.insert(make_key<K>(1), make_value<V>(10));
  std::vector<std::pair<K, V>> seen;
  EXPECT_TRUE(map.cvisit(make_key<K>(1), [&](const auto& e) { seen.emplace_back(e.first, e.second); }));
  EXPECT_FALSE(map.cvisit(make_key<K>(2), [&](const auto&) { ADD_FAILURE() << "visited an absent key"; }));
  // A callable written for Boost's const value_type& still compiles (on a copy).
  EXPECT_TRUE(map.cvisit(make_key<K>(1), [&](const std::pair<const K, V>& e) { seen.emplace_back(e.first, e.second); }));
  const std::vector<std::pair<K, V>> expected = {{make_key<K>(1), make_value<V>(10)}, {make_key<K>(1), make_value<V>(10)}};
  EXPECT_EQ(seen, expected);
}

TYPED_TEST(map_conformance, bulk_visit_and_cvisit_visit_the_present_keys_in_order) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  for (int k = 0; k < 40; k += 2) map.insert(make_key<K>(k), make_value<V>(k));
  std::vector<K> keys;
  for (int k = 39; k >= 0; --k) keys.push_back(make_key<K>(k));
  std::vector<std::pair<K, V>> seen;
  EXPECT_EQ(map.cvisit(keys.begin(), keys.end(), [&](const auto& e) { seen.emplace_back(e.first, e.second); }), 20u);
  std::vector<std::pair<K, V>> expected;
  for (int k = 38; k >= 0; k -= 2) expected.emplace_back(make_key<K>(k), make_value<V>(k));
  EXPECT_EQ(seen, expected);
  seen.clear();  // visit(first, last, f) is the same call
  EXPECT_EQ(map.visit(keys.begin(), keys.end(), [&](const auto& e) { seen.emplace_back(e.first, e.second); }), 20u);
  EXPECT_EQ(seen, expected);
}

TYPED_TEST(map_conformance, cvisit_while_stops_when_the_callable_says_so) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam map;
  for (int k = 0; k < 10; ++k) map.insert(make_key<K>(k), make_value<V>(k));
  std::size_t calls = 0;
  EXPECT_FALSE(map.cvisit_while([&](const auto&) { return ++calls < 3; }));
  EXPECT_EQ(calls, 3u);
  std::set<K> all;
  EXPECT_TRUE(map.visit_while([&](const auto& e) {
    all.insert(e.first);
    return true;
  }));
  EXPECT_EQ(all.size(), 10u);
}

TYPED_TEST(map_conformance, swap_exchanges_the_contents) {
  using K = typename TypeParam::key_type;
  using V = typename TypeParam::mapped_type;
  TypeParam a, b;
  a.insert(make_key<K>(1), make_value<V>(1));
  b.insert(make_key<K>(2), make_value<V>(2));
  b.insert(make_key<K>(3), make_value<V>(3));
  swap(a, b);
  EXPECT_EQ(a.size(), 2u);
  EXPECT_EQ(b.size(), 1u);
  EXPECT_TRUE(a.contains(make_key<K>(3)));
  EXPECT_TRUE(b.contains(make_key<K>(1)));
  a.swap(a);
  EXPECT_EQ(a.size(), 2u);
  a.insert(make_key<K>(4), make_value<V>(4));  // both stay usable
  b.erase(make_key<K>(1));
  EXPECT_EQ(a.size(), 3u);
  EXPECT_TRUE(b.empty());
}
