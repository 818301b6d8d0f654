// snapcache::ebr — epoch-based reclamation.
//
// The problem. In a lock-free structure a thread may unlink a node while
// other threads are still reading it. Freeing it at once is a use-after-free;
// never freeing it is a leak. Something must tell when no reader can still
// hold a reference.
//
// The mechanism. A thread *pins* itself before it reads shared pointers and
// unpins when done; a pin announces the global epoch the thread saw. An
// unlinked object is *retired*: tagged with the epoch current at retirement
// and kept in the retiring thread's limbo list. The global epoch advances from
// e to e+1 only when every pinned thread has announced e, so once it reaches
// the tag + 2, every thread that could have seen the object has unpinned since
// and the object is freed. Threads register on their first pin in a domain and
// unregister at thread exit; no init ritual.
//
// When not to use it. EBR cannot free anything while one thread stays pinned:
// a thread that blocks, sleeps or runs a long scan inside a guard stops all
// reclamation in its domain, and memory grows without bound. Keep guards
// short (snapcache's own snapshots never hold one for their lifetime), and
// watch `domain_stats::pending` in a service to alarm on a stalled thread.
//
// Contract
// * Thread-safety: every member of domain may be called from any thread
//   concurrently, except the destructor. A guard belongs to the thread that
//   created it: it must be destroyed (or moved-from) on that thread, before
//   that thread exits.
// * Progress: pin, unpin (guard destruction) and retire are lock-free, and
//   wait-free when they do not attempt to advance the epoch (an attempt scans
//   the registry once, in O(threads)); synchronize() blocks until a grace
//   period has passed.
// * Protection rule (memory ordering): if a thread loads a pointer with a
//   seq_cst load while pinned, and the writer made it unreachable with a
//   seq_cst store or read-modify-write before retiring it through a guard,
//   the object is not reclaimed before that reader's guard is destroyed.
//   protect() below performs such a load. Everything the retiring thread did
//   before retire() happens-before the object's reclaim function runs.
// * Lifetime: a guard keeps alive every object retired (by any thread) after
//   the guard was created; the outermost guard of a nest decides.
// * Exceptions: the first pin of a thread in a domain registers the thread
//   and may throw std::bad_alloc (nothing is registered then, and a later pin
//   may try again); later pins do not allocate. Guard destruction and the
//   intrusive retire() are noexcept and never allocate. The generic retire()
//   and defer() allocate a small holder and may throw std::bad_alloc before
//   taking ownership (the caller still owns the object). Reclaim functions
//   and deleters must not throw, pin or retire.
// * Memory bound: while every thread's pins are short (each unpins between
//   two advance attempts, and no single pin retires more than `batch`
//   objects), each thread holds fewer than `batch` unreclaimed objects, so a
//   domain holds at most threads x batch. Garbage of exited threads is
//   adopted by the next registering thread or by any thread's advance
//   attempt, and freed there.
// * Thread exit: a thread_local destructor that runs after snapcache's own
//   per-thread cleanup may still pin and retire: the pin claims a record for
//   as long as it lasts and releases it (its garbage adopted by others) at
//   its last unpin.
// * fork(): unsupported. A child process must not use a domain that any
//   thread of its parent had pinned or retired into.
//
// Differences from crossbeam-epoch: one scheme, tuned by `config`; pinning
// can throw only on registration; no Atomic<T> wrapper type (protect()
// takes std::atomic).
#pragma once

#include "snapcache/detail/cxx20.hpp"

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "snapcache/detail/ebr_record.hpp"

namespace snapcache::ebr {

// Tuning knobs. Tests set batch = 1 and advance_every = 1 to force
// reclamation on every retire.
struct config {
  // A thread tries to advance the epoch and free its garbage whenever it holds
  // this many unreclaimed objects (at retire, and again when it unpins). > 0.
  std::size_t batch = 64;
  // A thread also tries to advance and collect every `advance_every` pins;
  // 0 disables this.
  std::size_t advance_every = 128;
};

// A statistic snapshot; each field is read without stopping anyone, so under
// concurrency the fields may come from slightly different instants, but
// freed <= retired always holds and pending = retired - freed.
struct domain_stats {
  std::uint64_t epoch = 0;
  std::uint64_t retired = 0;  // objects ever retired (and defer() calls), each at its weight
  std::uint64_t freed = 0;    // the weight of the objects whose reclaim function ran
  std::uint64_t pending = 0;  // retired, not yet freed
  std::size_t records = 0;    // registry size: bounded by peak live threads
  std::size_t pinned = 0;     // records pinned at the time of reading
};

// Base of objects retired through the intrusive, allocation-free path.
class retirable {
 public:
  retirable() noexcept = default;
  retirable(const retirable&) noexcept {}
  retirable& operator=(const retirable&) noexcept { return *this; }

 private:
  friend struct retirable_access;
  retirable* next_retired_ = nullptr;
  reclaim_fn reclaim_ = nullptr;
};

class domain;

// Proof that the calling thread is pinned in a domain. Move-only; guards nest
// (a thread may hold several; the outermost one's lifetime counts).
class [[nodiscard]] guard {
 public:
  guard() noexcept = default;
  guard(guard&& other) noexcept : record_(std::exchange(other.record_, nullptr)) {}
  guard& operator=(guard&& other) noexcept {
    if (this != &other) {
      reset();
      record_ = std::exchange(other.record_, nullptr);
    }
    return *this;
  }
  guard(const guard&) = delete;
  guard& operator=(const guard&) = delete;
  ~guard() { reset(); }

  // Unpins now (idempotent); the guard becomes empty.
  void reset() noexcept {
    if (record_ != nullptr) detail::leave(*std::exchange(record_, nullptr));
  }
  [[nodiscard]] bool pinned() const noexcept { return record_ != nullptr; }

  // Intrusive retire: `object` is already unreachable for new readers;
  // `reclaim(object)` runs once every guard that could see it is gone.
  // Never allocates.
  void retire(retirable* object, reclaim_fn reclaim) const noexcept {
    assert(record_ != nullptr && "retire through an empty guard");
    detail::retire(*record_, object, reclaim, 1);
  }
  // The same for an object that stands for `weight` > 0 objects (a bag of
  // them, freed by one reclaim call): it counts that much toward `batch` and
  // in the statistics, so a thread that retires large bags reclaims as often
  // as one that retires their contents one by one, in small pauses.
  void retire(retirable* object, reclaim_fn reclaim, std::size_t weight) const noexcept {
    assert(record_ != nullptr && "retire through an empty guard");
    assert(weight > 0 && "a retired object weighs at least 1");
    detail::retire(*record_, object, reclaim, weight);
  }

  // Makes sure the calling thread can retire_raw() at least
  // retire_bag::capacity (62) objects through this guard without allocating:
  // call it before the step that commits a change whose garbage is then
  // retired, so that a failing allocation throws while nothing has changed
  // yet. Two spare bags: while a guard is pinned the epoch advances at most
  // once, so its retires go to at most two limbo lists, each of which may
  // need a fresh bag. Cheap when the spares are there (the common case: bags
  // are recycled). May throw std::bad_alloc.
  void reserve() const {
    assert(record_ != nullptr && "reserve through an empty guard");
    while (record_->spare_count < reserved_bags) detail::add_spare_bag(*record_);
  }
  // reserve() that reports failure instead of throwing.
  [[nodiscard]] bool try_reserve() const noexcept {
    assert(record_ != nullptr && "reserve through an empty guard");
    while (record_->spare_count < reserved_bags) {
      if (!detail::try_add_spare_bag(*record_)) return false;
    }
    return true;
  }

  // Retires an object without a header: `reclaim(object)` runs once every
  // guard that could see it is gone. Never allocates after a reserve() with
  // fewer than 62 raw retires since; without one it allocates with
  // std::nothrow and terminates if that fails (a broken precondition).
  void retire_raw(void* object, raw_reclaim_fn reclaim) const noexcept {
    assert(record_ != nullptr && "retire through an empty guard");
    detail::retire_raw(*record_, object, reclaim);
  }

  // Retires any heap object; `deleter(ptr)` runs after the grace period.
  // Allocates a holder: may throw std::bad_alloc, and then `ptr` was not
  // retired (the caller still owns it).
  template <class T, class Deleter = std::default_delete<T>>
    requires(!std::is_convertible_v<Deleter, reclaim_fn>)  // those take the intrusive path
  void retire(T* ptr, Deleter deleter = Deleter{}) const {
    static_assert(std::is_invocable_v<Deleter&, T*>, "the deleter must accept T*");
    defer([ptr, deleter = std::move(deleter)]() mutable noexcept { deleter(ptr); });
  }

  // Runs `fn()` once every guard alive now is gone. Same exception rule as
  // retire(ptr): if it throws, nothing was deferred.
  template <class Fn>
  void defer(Fn&& fn) const {
    using holder_type = holder<std::decay_t<Fn>>;
    static_assert(std::is_nothrow_invocable_v<std::decay_t<Fn>&>, "deferred calls must not throw");
    assert(record_ != nullptr && "defer through an empty guard");
    auto* held = new holder_type(std::forward<Fn>(fn));
    detail::retire(*record_, held, &holder_type::run_and_delete, 1);
  }

 private:
  friend class domain;
  friend guard pin();
  static constexpr std::size_t reserved_bags = 2;  // see reserve()
  explicit guard(detail::ebr_record* record) noexcept : record_(record) {}

  template <class Fn>
  struct holder final : retirable {
    explicit holder(Fn&& f) : fn(std::move(f)) {}
    explicit holder(const Fn& f) : fn(f) {}
    static void run_and_delete(retirable* self) noexcept {
      auto* me = static_cast<holder*>(self);
      me->fn();
      delete me;
    }
    Fn fn;
  };

  detail::ebr_record* record_ = nullptr;
};

// An independent reclamation domain: its own epoch, registry and garbage.
// Most code uses the process-wide default through ebr::pin().
class domain {
 public:
  // Throws std::invalid_argument if cfg.batch == 0, std::bad_alloc on
  // allocation failure.
  domain() : domain(config{}) {}
  explicit domain(config cfg);
  // Frees every object still pending. Precondition: no thread is pinned in
  // this domain or retiring into it; threads that used it may still be
  // alive, and exit later safely.
  ~domain();
  domain(const domain&) = delete;
  domain& operator=(const domain&) = delete;

  // The process-wide default domain (never destroyed).
  static domain& global() noexcept;

  // Pins the calling thread. Registers it first if this is its first pin
  // in this domain (may throw std::bad_alloc then).
  [[nodiscard]] guard pin() {
    detail::ebr_record* record = known_record();
    if (record == nullptr) record = detail::register_thread(*state_);
    detail::enter(*record);
    return guard(record);
  }

  // pin() for paths that must not throw (a destructor, a noexcept close):
  // returns an empty guard if the thread is not registered and registering
  // it fails.
  [[nodiscard]] guard try_pin() noexcept {
    detail::ebr_record* record = known_record();
    if (record == nullptr) {
      try {
        record = detail::register_thread(*state_);
      } catch (const std::bad_alloc&) {
        return guard();
      }
    }
    detail::enter(*record);
    return guard(record);
  }

  // Blocks until a grace period has passed for everything retired before the
  // call, then frees the calling thread's garbage and every exited thread's.
  // Garbage of other live threads is freed at their next collection.
  // Precondition: the calling thread is not pinned in this domain (it would
  // wait for itself). For tests and shutdown; never on a hot path.
  void synchronize();

  [[nodiscard]] domain_stats stats() const noexcept;
  [[nodiscard]] const config& settings() const noexcept { return config_; }

 private:
  friend guard pin();
  struct global_tag {};
  explicit domain(global_tag) noexcept;

  // The calling thread's record here, or null if it has none yet.
  [[nodiscard]] detail::ebr_record* known_record() const noexcept {
    if (is_global_) return detail::tl_global_record;
    return detail::tl_record_cache.domain_id == state_->id ? detail::tl_record_cache.record : nullptr;
  }

  config config_;
  detail::domain_state* state_;
  bool is_global_ = false;
};

// Pins the calling thread in the default domain.
[[nodiscard]] inline guard pin() {
  detail::ebr_record* record = detail::tl_global_record;
  if (record == nullptr) record = detail::register_thread(*domain::global().state_);
  detail::enter(*record);
  return guard(record);
}

// Loads a pointer that a guard protects (see the protection rule above).
template <class T>
[[nodiscard]] T* protect(const std::atomic<T*>& source, const guard& pinned) noexcept {
  assert(pinned.pinned() && "protect() needs a pinned guard");
  (void)pinned;
  return source.load(std::memory_order_seq_cst);
}

}  // namespace snapcache::ebr
