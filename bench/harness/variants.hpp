// The maps the harness compares, behind one small adapter interface, and the
// registry that names them.
//
// The problem. Each concurrent map spells insert-or-assign, lookup, erase and
// iteration differently, needs its own per-thread rituals (libcds attaches
// threads to its hazard pointer domain) and offers a different kind of scan
// while others write. The measuring loops must see one interface, and a
// build without a peer library must still build and say what it skipped.
//
// The mechanism. An adapter is a class with
//   static constexpr std::string_view name;
//   static constexpr std::string_view scan_method;  // empty: no safe concurrent scan
//   explicit adapter(std::size_t capacity_hint);
//   static void thread_attach(); static void thread_detach();  // idempotent
//   bool insert(u64 key, u64 value);            // true if inserted
//   bool insert_or_assign(u64 key, u64 value);  // true if inserted
//   bool erase(u64 key);                        // true if erased
//   bool find(u64 key, u64& value);             // true if found
//   template <class F> bool scan(F&& f);        // f(key, value) -> false stops;
//                                               // true if the scan completed
//   auto take_view();                           // optional: a snapshot or
//                                               // equivalent, for view_cost
//   static void quiesce();                      // optional: free what waits for
//                                               // deferred reclamation, for memory_cost
// measure.hpp's templates are instantiated once per adapter in variants.cpp,
// and the registry (registry.hpp: all_variants) holds plain function
// pointers to them, so nothing is type-erased inside a measured loop. Every peer's adapter is
// compiled only under its own macro: SNAPCACHE_BENCH_CUCKOO (libcuckoo),
// SNAPCACHE_BENCH_TBB (oneTBB), SNAPCACHE_BENCH_CDS (libcds, link -lcds, build
// with -mcx16), SNAPCACHE_BENCH_XENIUM (xenium), SNAPCACHE_BENCH_PARLAY
// (parlayhash, vendored under bench/third_party); the registry still lists an
// uncompiled variant, as unavailable, with the macro it needs.
//
// Configuration choices, made in each peer's favour where its documentation
// offers a choice: every map gets the same capacity hint (the key range);
// libcds maps use empty item counters (no shared size counter); Feldman's head
// array has 2^16 slots; xenium's map, which cannot grow, gets 2^19 buckets
// (at most about 2 entries per bucket over a 1M key range). Peer maps keep
// their default hash functions. Values that a peer updates in place while
// others read them (libcds Michael, xenium) are accessed through
// std::atomic_ref, so the comparison carries no data race.
//
// Include this header only from the harness's .cpp files: it pulls in the
// peers' headers. Programs use runner.hpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string_view>
#include <unordered_map>

#include "harness/measure.hpp"
#include "harness/registry.hpp"
#include "harness/workload.hpp"
#include "snapcache/ebr.hpp"
#include "snapcache/hash_map.hpp"
#include "snapcache/locked_map.hpp"

#if SNAPCACHE_BENCH_CUCKOO
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <libcuckoo/cuckoohash_map.hh>
#pragma GCC diagnostic pop
#endif

#if SNAPCACHE_BENCH_TBB
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wshadow"
#include <oneapi/tbb/concurrent_hash_map.h>
#pragma GCC diagnostic pop
#endif

#if SNAPCACHE_BENCH_CDS
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wdeprecated-copy"
#pragma GCC diagnostic ignored "-Wclass-memaccess"
#include <cds/container/feldman_hashmap_hp.h>
#include <cds/container/michael_kvlist_hp.h>
#include <cds/container/michael_map.h>
#include <cds/gc/hp.h>
#include <cds/init.h>
#pragma GCC diagnostic pop
#endif

#if SNAPCACHE_BENCH_PARLAY
#include <parlay_hash/unordered_map.h>  // vendored: bench/third_party/parlayhash (a system include: not our warnings)
#endif

#if SNAPCACHE_BENCH_XENIUM
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <xenium/harris_michael_hash_map.hpp>
#include <xenium/reclamation/generic_epoch_based.hpp>
#pragma GCC diagnostic pop
#endif

namespace snapcache::bench {

using u64 = std::uint64_t;

// The adapters' find(k, v) for maps whose lookup returns an optional copy.
inline bool take_found(const std::optional<u64>& found, u64& v) {
  if (!found) return false;
  v = *found;
  return true;
}

// ---- snapcache ------------------------------------------------------------------

// Map: hash_map<u64, u64> with some Hash (the inline-layout benchmark also
// runs one whose slots are pair_slots).
template <class Map>
class basic_snapcache_adapter {
 public:
  static constexpr std::string_view name = "snapcache";
#if SNAPCACHE_BENCH_UNVERSIONED
  // map_bench_unversioned: the versioning tax (no stamps, chains or snapshots).
  static constexpr std::string_view scan_method = "";
#else
  static constexpr std::string_view scan_method = "snapshot() (O(1), point-in-time), then range-for";
  static constexpr std::string_view view_method = "snapshot()";
#endif

  explicit basic_snapcache_adapter(std::size_t capacity) : map_(capacity) {}
  static void thread_attach() {}
  static void thread_detach() {}
  // Replaced versions wait for a grace period in the process-wide epoch
  // domain (at most threads x batch of them): free them before memory_cost
  // measures, so its figure is the structure, not transient garbage.
  static void quiesce() { snapcache::ebr::domain::global().synchronize(); }

  bool insert(u64 k, u64 v) { return map_.insert(k, v); }
  bool insert_or_assign(u64 k, u64 v) { return map_.insert_or_assign(k, v); }
  bool erase(u64 k) { return map_.erase(k); }
  bool find(u64 k, u64& v) { return take_found(map_.find(k), v); }
#if !SNAPCACHE_BENCH_UNVERSIONED
  template <class F>
  bool scan(F&& f) {
    const auto snap = map_.snapshot();
    for (auto [k, v] : snap) {
      if (!f(k, v)) return false;
    }
    return true;
  }
  auto take_view() { return map_.snapshot(); }
#else
  template <class F>
  bool scan(F&&) {
    return false;  // unreachable: scan_method is empty
  }
#endif

 private:
  Map map_;
};
using snapcache_adapter = basic_snapcache_adapter<snapcache::hash_map<u64, u64>>;

// ---- snapcache::locked_map ----------------------------------------------------------

template <class Mutex>
class locked_adapter {
 public:
  static constexpr std::string_view name =
      std::is_same_v<Mutex, std::shared_mutex> ? "locked_shared" : "locked_mutex";
  static constexpr std::string_view scan_method = "snapshot() (O(n) copy under the lock), then range-for";
  static constexpr std::string_view view_method = "snapshot() (copy)";

  explicit locked_adapter(std::size_t capacity) : map_(capacity) {}
  static void thread_attach() {}
  static void thread_detach() {}

  bool insert(u64 k, u64 v) { return map_.insert(k, v); }
  bool insert_or_assign(u64 k, u64 v) { return map_.insert_or_assign(k, v); }
  bool erase(u64 k) { return map_.erase(k); }
  bool find(u64 k, u64& v) { return take_found(map_.find(k), v); }
  template <class F>
  bool scan(F&& f) {
    const auto snap = map_.snapshot();
    for (const auto& [k, v] : snap) {
      if (!f(k, v)) return false;
    }
    return true;
  }
  auto take_view() { return map_.snapshot(); }

 private:
  snapcache::locked_map<u64, u64, Mutex> map_;
};

// ---- the unsynchronised reference (memory and scan rate only) -----------------------------

class unordered_map_adapter {
 public:
  static constexpr std::string_view name = "std_unordered_map";
  static constexpr std::string_view scan_method = "range-for (no concurrency)";
  explicit unordered_map_adapter(std::size_t capacity) { map_.reserve(capacity); }
  static void thread_attach() {}
  static void thread_detach() {}
  bool insert(u64 k, u64 v) { return map_.try_emplace(k, v).second; }
  bool insert_or_assign(u64 k, u64 v) { return map_.insert_or_assign(k, v).second; }
  bool erase(u64 k) { return map_.erase(k) == 1; }
  template <class F>
  bool scan(F&& f) {
    for (const auto& [k, v] : map_) {
      if (!f(k, v)) return false;
    }
    return true;
  }

 private:
  std::unordered_map<u64, u64> map_;
};

// ---- libcuckoo ----------------------------------------------------------------------

#if SNAPCACHE_BENCH_CUCKOO
class cuckoo_adapter {
 public:
  static constexpr std::string_view name = "libcuckoo";
  static constexpr std::string_view scan_method = "lock_table() (stops every writer), then range-for";
  static constexpr std::string_view view_method = "lock_table()";

  explicit cuckoo_adapter(std::size_t capacity) : map_(capacity) {}
  static void thread_attach() {}
  static void thread_detach() {}

  bool insert(u64 k, u64 v) { return map_.insert(k, v); }
  bool insert_or_assign(u64 k, u64 v) { return map_.insert_or_assign(k, v); }
  bool erase(u64 k) { return map_.erase(k); }
  bool find(u64 k, u64& v) { return map_.find(k, v); }
  template <class F>
  bool scan(F&& f) {
    auto table = map_.lock_table();
    for (const auto& [k, v] : table) {
      if (!f(k, v)) return false;
    }
    return true;
  }
  auto take_view() { return map_.lock_table(); }

 private:
  libcuckoo::cuckoohash_map<u64, u64> map_;
};
#endif

// ---- parlayhash -----------------------------------------------------------------------

#if SNAPCACHE_BENCH_PARLAY
// parlayhash (cmuparlay, MIT; vendored): buckets read under a sequence lock,
// its own epoch reclamation. Its for_each visits every bucket under one
// epoch while writers run: weakly consistent (no instant, unlike a
// snapshot), but safe, so it is the scan compared. Keys and values are
// trivially copyable: the "direct" layout, entries inline in the buckets.
class parlay_adapter {
 public:
  static constexpr std::string_view name = "parlayhash";
  static constexpr std::string_view scan_method = "for_each (weakly consistent: no instant; writers keep running)";

  explicit parlay_adapter(std::size_t capacity) : map_(static_cast<long>(capacity)) {}
  static void thread_attach() {}
  static void thread_detach() {}

  bool insert(u64 k, u64 v) { return !map_.Insert(k, v).has_value(); }
  bool insert_or_assign(u64 k, u64 v) {
    return !map_.Upsert(k, [v](const std::optional<u64>&) { return v; }).has_value();
  }
  bool erase(u64 k) { return map_.Remove(k).has_value(); }
  bool find(u64 k, u64& v) { return take_found(map_.Find(k), v); }
  template <class F>
  bool scan(F&& f) {
    bool going = true;  // for_each cannot stop: the rest is skipped
    map_.m.for_each([&](const auto& entry) {
      if (going) going = f(entry.get_entry().first, entry.get_entry().second);
    });
    return going;
  }

 private:
  parlay::parlay_unordered_map<u64, u64> map_;
};
#endif

// ---- oneTBB ---------------------------------------------------------------------------

#if SNAPCACHE_BENCH_TBB
// tbb::concurrent_hash_map may not be iterated while others write: no scan.
class tbb_adapter {
 public:
  static constexpr std::string_view name = "tbb_chm";
  static constexpr std::string_view scan_method = "";
  using map_type = tbb::concurrent_hash_map<u64, u64>;

  explicit tbb_adapter(std::size_t capacity) : map_(capacity) {}
  static void thread_attach() {}
  static void thread_detach() {}

  bool insert(u64 k, u64 v) { return map_.insert(map_type::value_type(k, v)); }
  bool insert_or_assign(u64 k, u64 v) {
    map_type::accessor a;
    const bool inserted = map_.insert(a, k);
    a->second = v;
    return inserted;
  }
  bool erase(u64 k) { return map_.erase(k); }
  bool find(u64 k, u64& v) {
    map_type::const_accessor a;
    if (!map_.find(a, k)) return false;
    v = a->second;
    return true;
  }
  template <class F>
  bool scan(F&&) {
    return false;
  }

 private:
  map_type map_;
};
#endif

// ---- libcds -----------------------------------------------------------------------------

#if SNAPCACHE_BENCH_CDS
namespace cds_support {

// cds::Initialize() and the hazard pointer singleton, made on first use and
// torn down at exit (after every map is gone: maps live inside cells).
class runtime {
 public:
  static runtime& get() {
    static runtime instance;
    return instance;
  }
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;
  ~runtime() {
    if (cds::threading::Manager::isThreadAttached()) cds::threading::Manager::detachThread();
    hp_.reset();
    cds::Terminate();
  }

 private:
  runtime() {
    cds::Initialize();
    hp_ = std::make_unique<cds::gc::HP>();
  }
  std::unique_ptr<cds::gc::HP> hp_;
};

inline void attach() {
  runtime::get();
  if (!cds::threading::Manager::isThreadAttached()) cds::threading::Manager::attachThread();
}
inline void detach() {
  if (cds::threading::Manager::isThreadAttached()) cds::threading::Manager::detachThread();
}

struct michael_list_traits : cds::container::michael_list::traits {
  using less = std::less<u64>;
};
using michael_list = cds::container::MichaelKVList<cds::gc::HP, u64, u64, michael_list_traits>;
struct michael_map_traits : cds::container::michael_map::traits {
  using hash = std::hash<u64>;
  using item_counter = cds::atomicity::empty_item_counter;
};
using michael_map = cds::container::MichaelHashMap<cds::gc::HP, michael_list, michael_map_traits>;

struct feldman_traits : cds::container::feldman_hashmap::traits {
  using item_counter = cds::atomicity::empty_item_counter;
};
using feldman_map = cds::container::FeldmanHashMap<cds::gc::HP, u64, u64, feldman_traits>;

}  // namespace cds_support

// Michael's map over MichaelKVList: iteration is "debug only", so no scan.
class cds_michael_adapter {
 public:
  static constexpr std::string_view name = "libcds_michael_hp";
  static constexpr std::string_view scan_method = "";

  explicit cds_michael_adapter(std::size_t capacity) : map_(capacity, 1) {}
  static void thread_attach() { cds_support::attach(); }
  static void thread_detach() { cds_support::detach(); }

  bool insert(u64 k, u64 v) { return map_.insert(k, v); }
  bool insert_or_assign(u64 k, u64 v) {
    // update() hands out the node in place while finds read it.
    return map_.update(k, [v](bool, auto& item) { std::atomic_ref<u64>(item.second).store(v, std::memory_order_relaxed); })  // value only; the list publishes nodes
        .second;
  }
  bool erase(u64 k) { return map_.erase(k); }
  bool find(u64 k, u64& v) {
    return map_.find(k, [&v](auto& item) { v = std::atomic_ref<u64>(item.second).load(std::memory_order_relaxed); });  // value only
  }
  template <class F>
  bool scan(F&&) {
    return false;
  }

 private:
  cds_support::michael_map map_;
};

// FeldmanHashMap: thread-safe iterators, weakly consistent (a key may be seen
// twice or missed while writers run).
class cds_feldman_adapter {
 public:
  static constexpr std::string_view name = "libcds_feldman_hp";
  static constexpr std::string_view scan_method = "iterator (weakly consistent: may miss or repeat keys)";

  explicit cds_feldman_adapter(std::size_t) : map_(16, 4) {}
  static void thread_attach() { cds_support::attach(); }
  static void thread_detach() { cds_support::detach(); }

  bool insert(u64 k, u64 v) { return map_.insert(k, v); }
  bool insert_or_assign(u64 k, u64 v) {
    // update() replaces the node: readers never see a value change in place.
    return map_.update(k, [v](auto& item, auto*) { item.second = v; }).second;
  }
  bool erase(u64 k) { return map_.erase(k); }
  bool find(u64 k, u64& v) {
    return map_.find(k, [&v](auto& item) { v = item.second; });
  }
  template <class F>
  bool scan(F&& f) {
    for (auto it = map_.cbegin(), end = map_.cend(); it != end; ++it) {
      if (!f(it->first, it->second)) return false;
    }
    return true;
  }

 private:
  cds_support::feldman_map map_;
};
#endif

// ---- xenium -------------------------------------------------------------------------------

#if SNAPCACHE_BENCH_XENIUM
// harris_michael_hash_map over generic_epoch_based<>: iterators stay valid
// while others insert and erase (weakly consistent); the epoch the scanning
// thread holds delays reclamation for the length of a scan.
class xenium_adapter {
 public:
  static constexpr std::string_view name = "xenium_hm";
  static constexpr std::string_view scan_method = "iterator (weakly consistent; holds an epoch for the scan)";
  static constexpr std::size_t buckets = std::size_t{1} << 19;
  using map_type =
      xenium::harris_michael_hash_map<u64, u64,
                                      xenium::policy::reclaimer<xenium::reclamation::generic_epoch_based<>>,
                                      xenium::policy::buckets<buckets>>;

  explicit xenium_adapter(std::size_t) : map_(std::make_unique<map_type>()) {}
  static void thread_attach() {}
  static void thread_detach() {}

  bool insert(u64 k, u64 v) { return map_->emplace(k, v); }
  bool insert_or_assign(u64 k, u64 v) {
    auto [it, inserted] = map_->get_or_emplace(k, v);
    if (!inserted) std::atomic_ref<u64>(it->second).store(v, std::memory_order_relaxed);  // value only
    return inserted;
  }
  bool erase(u64 k) { return map_->erase(k); }
  bool find(u64 k, u64& v) {
    auto it = map_->find(k);
    if (it == map_->end()) return false;
    v = std::atomic_ref<u64>(it->second).load(std::memory_order_relaxed);  // value only
    return true;
  }
  template <class F>
  bool scan(F&& f) {
    for (auto it = map_->begin(), end = map_->end(); it != end; ++it) {
      if (!f(it->first, std::atomic_ref<u64>(it->second).load(std::memory_order_relaxed))) return false;  // value only
    }
    return true;
  }

 private:
  std::unique_ptr<map_type> map_;  // the bucket array is 4 MiB
};
#endif

}  // namespace snapcache::bench
