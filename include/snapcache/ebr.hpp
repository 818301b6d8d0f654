// snapcache::ebr — epoch-based reclamation.
//
// The problem. In a lock-free structure a thread may unlink a node while
// other threads are still reading it. Freeing it at once is a use-after-free;
// never freeing it is a leak. Something must tell when no reader can still
// hold a reference — and, in a long-running service, free it promptly, on
// whichever thread is running, a bounded amount at a time.
//
// The mechanism. A thread *pins* itself before it reads shared pointers and
// unpins when done; a pin announces the global epoch the thread saw. An
// unlinked object is *retired* into the thread's open bag, which holds
// objects of one epoch. The global epoch advances from e to e+1 only when
// every pinned thread has announced e, so once it reaches a bag's epoch + 2,
// every thread that could have seen its objects has unpinned since. A bag is
// *sealed* — handed to the domain — when it holds `batch` objects or
// `batch_bytes` bytes, or when the epoch moves; between pins it is parked
// where other threads can take it, so a thread that goes idle strands
// nothing. Sealed bags wait in the domain's queue and any thread frees them,
// a bounded collection step at a time: the thread that sealed one, at its
// unpin, and every thread every `pins_per_step` unpins (every unpin while freeable
// garbage is left over). Collection runs unpinned, so reclaim functions
// (users' destructors) hold nothing back. Threads register on their first
// pin in a domain and unregister at thread exit; no init ritual.
//
// When not to use it. EBR cannot free anything while one thread stays pinned:
// a thread that blocks, sleeps or runs a long scan inside a guard stops all
// reclamation in its domain, and memory grows without bound. Keep guards
// short (snapcache's containers run no user code that builds values while
// pinned, and its snapshots hold no guard between steps), and watch
// `domain_stats::pending` and `pending_bytes` in a service to alarm on a
// stalled thread.
//
// Contract
// * Thread-safety: every member of domain may be called from any thread
//   concurrently, except the destructor. A guard belongs to the thread that
//   created it: it must be destroyed (or moved-from) on that thread, before
//   that thread exits. So does a `held`.
// * Progress: pin, unpin (guard destruction) and retire are lock-free: no
//   call waits for another thread. The collection a pin or unpin may run is
//   skipped, not waited for, when another thread is collecting (a try-lock
//   held for pointer moves only). synchronize() blocks until a grace period
//   has passed.
// * Protection rule (memory ordering): if a thread loads a pointer with a
//   seq_cst load while pinned, and the writer made it unreachable with a
//   seq_cst store or read-modify-write before retiring it through a guard,
//   the object is not reclaimed before that reader's guard is destroyed (or
//   its hold, see guard::hold, is released). protect() below performs such
//   a load. Everything the retiring thread did before retire() happens-before
//   the object's reclaim function runs, on whichever thread runs it.
// * Lifetime: a guard keeps alive every object retired (by any thread) after
//   the guard was created; the outermost guard of a nest decides.
// * Memory bound: while pins are short (no thread stays pinned while others
//   retire more than `batch` objects), a domain's pending objects stay at most
//   3 x threads x batch, plus twice the heaviest single retirement (a query-
//   cache write that drops many objects), and its pending bytes at most
//   3 x threads x batch_bytes plus twice the heaviest one in bytes (retire
//   calls count what they free: a large value by its size). Each thread's
//   open bag holds less than one batch; a thread that seals a bag collects up
//   to twice what it retired (plus one step) at its unpin, so garbage is
//   freed as fast as it is made once its grace period is over. A thread
//   preempted or stalled while pinned holds everything back meanwhile.
//   domain_stats reports pending objects and bytes and the heaviest
//   retirement, so a service can check the bound.
// * Work bound: one collection step frees at most 2 x batch objects and
//   2 x batch_bytes bytes (a single object larger than that alone), plus
//   twice what the calling thread retired since its last step: a lookup,
//   which retires nothing, never pays for freeing someone else's large
//   retirement in one go — retire_in_steps() splits one.
// * Nothing stranded: what a thread retires is freed within a bounded number
//   of other threads' pins (3 x pins_per_step pins of one thread that only
//   reads, fewer if it writes) even if it never runs again, and at once by
//   synchronize() from any thread. A thread that exits hands its garbage to
//   the domain.
// * Exceptions: the first pin of a thread in a domain registers the thread
//   and may throw std::bad_alloc (nothing is registered then, and a later pin
//   may try again); later pins do not allocate. Guard destruction and the
//   intrusive and raw retire() are noexcept; they allocate nothing after a
//   reserve(). The generic retire() and defer() allocate a holder and may
//   throw std::bad_alloc before taking ownership (the caller still owns the
//   object). Reclaim functions and deleters must not throw, pin or retire.
// * Thread exit: a thread_local destructor that runs after snapcache's own
//   per-thread cleanup may still pin and retire: the pin claims a record for
//   as long as it lasts and releases it (its garbage sealed) at its last
//   unpin.
// * fork(): a child may go on using a domain if no other thread of the
//   parent was inside an operation on it (pinned, collecting) at the fork:
//   idle threads' records are unpinned and their parked garbage is taken by
//   the child's collections. If one was, its pin would never end in the
//   child and nothing could be freed again: the child's first collection or
//   registration in that domain prints why and aborts (pthread_atfork checks
//   every live domain). exec() at once is always fine.
// * Signals: no function here is async-signal-safe (a handler that pins
//   while the interrupted code is inside a pin or a collection on the same
//   thread corrupts the thread's record); do not call snapcache from a
//   signal handler.
//
// Differences from crossbeam-epoch (whose sealed bags and global queue this
// follows): one scheme, tuned by `config`; bags weigh bytes as well as
// objects; a thread's partly filled bag is parked where others can take it
// (crossbeam keeps it until the bag is full or the thread calls flush);
// collection is budgeted per step and runs unpinned; holds keep single
// objects past a guard; pinning can throw only on registration; no Atomic<T>
// wrapper type (protect() takes std::atomic).
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

// Tuning knobs. Tests set batch = 1 and pins_per_step = 1 to force
// reclamation on every retire.
struct config {
  // A thread's bag of retired objects is sealed and handed to the domain
  // (where any thread may free it) once it holds this many objects, or
  // batch_bytes bytes, or when the epoch moves. > 0 each.
  std::size_t batch = 64;
  std::size_t batch_bytes = std::size_t{1} << 20;
  // Every `pins_per_step` outermost pins a thread, once unpinned, tries to
  // advance the epoch and runs one collection step (0 disables this; a
  // thread that seals a bag still collects at its unpin). While freeable
  // garbage is left over, a thread collects at every unpin until it is gone.
  std::size_t pins_per_step = 128;
  // One collection step frees at most 2 x batch objects and 2 x batch_bytes
  // bytes (at least one bag; a single object larger than that is freed
  // alone; objects retired in steps, retire_in_steps, are split to fit).
};

// A statistic snapshot; each field is read without stopping anyone, so under
// concurrency the fields may come from slightly different instants, but
// freed <= retired always holds and pending = retired - freed.
struct domain_stats {
  std::uint64_t epoch = 0;
  std::uint64_t retired = 0;        // objects ever retired (and defer() calls), each at its weight
  std::uint64_t freed = 0;          // the weight of the objects whose reclaim function ran
  std::uint64_t pending = 0;        // retired, not yet freed
  std::uint64_t retired_bytes = 0;  // the same in bytes, as the retirers counted them
  std::uint64_t freed_bytes = 0;
  std::uint64_t pending_bytes = 0;
  // The largest single retirement seen (a query-cache write that dropped
  // many objects, a large value), in objects and in bytes: the memory bound
  // allows for it (see "Memory bound" above).
  std::uint64_t heaviest = 0;
  std::uint64_t heaviest_bytes = 0;
  std::size_t records = 0;  // registry size: bounded by peak live threads
  std::size_t pinned = 0;   // records pinned at the time of reading
};

// Base of objects retired through the intrusive path: the header reclamation
// links them by, and their reclaim function and weight.
class retirable {
 public:
  retirable() noexcept = default;
  retirable(const retirable&) noexcept {}
  retirable& operator=(const retirable&) noexcept { return *this; }

 private:
  friend struct retirable_access;
  retirable* next_retired_ = nullptr;
  reclaim_fn reclaim_ = nullptr;
  partial_reclaim_fn partial_ = nullptr;
  std::size_t objects_ = 0;
  std::size_t bytes_ = 0;
};

// The header's fields, for the library's own reclamation code.
struct retirable_access {
  static retirable*& next(retirable* object) noexcept { return object->next_retired_; }
  static reclaim_fn& reclaim(retirable* object) noexcept { return object->reclaim_; }
  static partial_reclaim_fn& partial(retirable* object) noexcept { return object->partial_; }
  static std::size_t& objects(retirable* object) noexcept { return object->objects_; }
  static std::size_t& bytes(retirable* object) noexcept { return object->bytes_; }
};

// Keeps one object alive after its guard is gone: see guard::hold(). Belongs
// to the thread that made it; release it (or destroy it) on that thread.
class [[nodiscard]] held {
 public:
  held() noexcept = default;
  held(held&& other) noexcept : slot_(std::exchange(other.slot_, nullptr)) {}
  held& operator=(held&& other) noexcept {
    if (this != &other) {
      release();
      slot_ = std::exchange(other.slot_, nullptr);
    }
    return *this;
  }
  held(const held&) = delete;
  held& operator=(const held&) = delete;
  ~held() { release(); }

  // Lets the object go: from here it may be freed once its grace period is over.
  void release() noexcept {
    if (slot_ != nullptr) std::exchange(slot_, nullptr)->store(nullptr, detail::orders::release_hold);
  }
  [[nodiscard]] bool holding() const noexcept { return slot_ != nullptr; }

 private:
  friend class guard;
  explicit held(std::atomic<const void*>* slot) noexcept : slot_(slot) {}
  std::atomic<const void*>* slot_ = nullptr;
};

class domain;

// Proof that the calling thread is pinned in a domain. Move-only; guards nest
// (a thread may hold several; the outermost one's lifetime counts).
class [[nodiscard]] guard {
 public:
  guard() noexcept = default;
  guard(guard&& other) noexcept
      : record_(std::exchange(other.record_, nullptr)), outermost_(std::exchange(other.outermost_, false)) {}
  guard& operator=(guard&& other) noexcept {
    if (this != &other) {
      reset();
      record_ = std::exchange(other.record_, nullptr);
      outermost_ = std::exchange(other.outermost_, false);
    }
    return *this;
  }
  guard(const guard&) = delete;
  guard& operator=(const guard&) = delete;
  SNAPCACHE_ALWAYS_INLINE ~guard() { reset(); }

  // Unpins now (idempotent); the guard becomes empty.
  SNAPCACHE_ALWAYS_INLINE void reset() noexcept {
    detail::ebr_record* record = std::exchange(record_, nullptr);
    if (std::exchange(outermost_, false)) detail::leave(*record);
  }
  [[nodiscard]] bool pinned() const noexcept { return record_ != nullptr; }

  // Intrusive retire: `object` is already unreachable for new readers;
  // `reclaim(object)` runs once every guard that could see it is gone, on
  // whichever thread collects. `w` is what it stands for in the bounds (a bag
  // of n objects freed by one reclaim call counts n; a large value counts its
  // bytes). Never allocates after a reserve(); without one it may allocate a
  // bag with std::nothrow and terminates if that fails.
  void retire(retirable* object, reclaim_fn reclaim, weight w = {}) const noexcept {
    retire_intrusive(object, reclaim, nullptr, w);
  }
  // The same for an object whose parts can be freed a few at a time: each
  // collection step calls `reclaim(object, budget)` with what is left of its
  // budget, so no single call pays for freeing all w.objects parts.
  void retire_in_steps(retirable* object, partial_reclaim_fn reclaim, weight w) const noexcept {
    retire_intrusive(object, nullptr, reclaim, w);
  }

  // Makes sure the calling thread can retire at least min(60, batch)
  // objects through this guard without allocating (fewer when each weighs
  // batch_bytes or more: every such retire seals its bag): call it before the
  // step that commits a change whose garbage is then retired, so that a
  // failing allocation throws while nothing has changed yet. Two spare bags:
  // a run of retires fills at most the open bag and two more (a bag is sealed
  // when full, heavy, or when the epoch moves, and the epoch moves at most
  // once while a guard is pinned). Cheap when the spares are there (the
  // common case: bags are recycled). May throw std::bad_alloc.
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
  // guard that could see it is gone. `bytes`: its size in the byte bound.
  // Never allocates after a reserve() with fewer than 60 retires since;
  // without one it allocates with std::nothrow and terminates if that fails
  // (a broken precondition).
  void retire_raw(void* object, raw_reclaim_fn reclaim, std::size_t bytes = 0) const noexcept {
    assert(record_ != nullptr && "retire through an empty guard");
    detail::retire_raw(*record_, object, reclaim, bytes);
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
    reserve();  // may throw: nothing deferred yet
    auto* held_fn = new holder_type(std::forward<Fn>(fn));
    retire(held_fn, &holder_type::run_and_delete);
  }

  // Keeps `object`, read under this guard (by the protection rule), from
  // being reclaimed after the guard is gone, until the returned `held` is
  // released: one object kept for code that must use it unpinned (user code
  // that may run long) while reclamation goes on for everything else. No
  // re-validation is needed: the grace period that ends before the object
  // could be freed includes this guard's unpin, which publishes the hold.
  // `object` must be the very pointer the object is (or will be) retired
  // with: the retirable* of the intrusive retire, the void* of retire_raw
  // (for a class with a retirable base at an offset, convert first). A
  // thread holds at most detail::hold_slots objects at once; beyond that
  // hold() returns an empty `held` and the caller must stay pinned instead.
  [[nodiscard]] held hold(const void* object) const noexcept {
    assert(record_ != nullptr && "hold through an empty guard");
    const int slot = detail::take_hold_slot(*record_, object);
    return slot < 0 ? held() : held(&record_->holds[slot]);
  }

 private:
  friend class domain;
  friend guard pin();
  static constexpr std::size_t reserved_bags = 2;  // see reserve()
  guard(detail::ebr_record* record, bool outermost) noexcept : record_(record), outermost_(outermost) {}

  // The two intrusive retires: one of `reclaim` and `partial` is set.
  void retire_intrusive(retirable* object, reclaim_fn reclaim, partial_reclaim_fn partial, weight w) const noexcept {
    assert(record_ != nullptr && "retire through an empty guard");
    assert(w.objects > 0 && "a retired object weighs at least 1");
    retirable_access::reclaim(object) = reclaim;
    retirable_access::partial(object) = partial;
    retirable_access::objects(object) = w.objects;
    retirable_access::bytes(object) = w.bytes;
    detail::retire(*record_, object, w);
  }

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
  bool outermost_ = false;  // this guard's unpin ends the thread's pin (not nested)
};

// An independent reclamation domain: its own epoch, registry and garbage.
// Most code uses the process-wide default through ebr::pin().
class domain {
 public:
  // Throws std::invalid_argument if batch or batch_bytes is 0;
  // std::bad_alloc on allocation failure.
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
  [[nodiscard]] SNAPCACHE_ALWAYS_INLINE guard pin() {
    detail::ebr_record* record = known_record();
    if (record == nullptr) record = detail::register_thread(*state_);
    return guard(record, detail::enter(*record));
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
    return guard(record, detail::enter(*record));
  }

  // Frees everything retired (by any thread, live, idle or exited) before
  // the call that no guard or hold protects: blocks until a grace period
  // has passed, takes every thread's parked garbage, and frees it and the
  // domain's queue here, without a work bound. Call it at shutdown, after
  // destroying containers whose values own resources (connections, files),
  // to close them now. Precondition: the calling thread is not pinned in
  // this domain (it would wait for itself). Never on a hot path.
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
[[nodiscard]] SNAPCACHE_ALWAYS_INLINE guard pin() {
  detail::ebr_record* record = detail::tl_global_record;
  if (record == nullptr) record = detail::register_thread(*domain::global().state_);
  return guard(record, detail::enter(*record));
}

// Loads a pointer that a guard protects (see the protection rule above).
template <class T>
[[nodiscard]] T* protect(const std::atomic<T*>& source, const guard& pinned) noexcept {
  assert(pinned.pinned() && "protect() needs a pinned guard");
  (void)pinned;
  return source.load(std::memory_order_seq_cst);
}

}  // namespace snapcache::ebr
