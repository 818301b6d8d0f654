// EBR slow paths: registration, retirement into bags, sealing and parking
// bags, epoch advance, bounded collection steps, holds, synchronize() and
// domain teardown. The ordering ledger for this file is docs/design.md,
// section "EBR".
#include "snapcache/ebr.hpp"

#include <pthread.h>

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <stdexcept>
#include <thread>
#include <vector>

namespace snapcache::detail {

using ebr::retirable;
using ebr::retirable_access;

thread_local constinit record_cache tl_record_cache{};
thread_local constinit ebr_record* tl_global_record = nullptr;

namespace {

// Domain ids are unique for the life of the process, so a cached id can never
// match a later domain built at a destroyed one's address. 0 is "no domain".
std::atomic<std::uint64_t> next_domain_id{1};

// The default domain's state lives here, so its address is a constant that
// any thread may compare against without synchronisation.
alignas(domain_state) unsigned char global_state_storage[sizeof(domain_state)];

bool is_global(const domain_state& domain) noexcept {
  return static_cast<const void*>(&domain) == static_cast<const void*>(global_state_storage);
}

std::uint64_t make_domain_id() noexcept {
  return next_domain_id.fetch_add(1, std::memory_order_relaxed);  // uniqueness only
}

// Statistic counters have one writer at a time (the record's owner; ownership
// moves through (E6)/(E7)), so an increment is a load and a store. release:
// pairs with the acquire loads in domain::stats(), which read freed before
// retired so that freed <= retired.
void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + by,  // single writer, see above
                std::memory_order_release);                    // pairs with stats() acquire
}

// A thread keeps at most this many empty bags; more are freed.
constexpr std::size_t max_spare_bags = 4;

void push_spare(ebr_record& record, retire_bag* bag) noexcept {
  bag->next = record.spare_bags;
  record.spare_bags = bag;
  ++record.spare_count;
}

void recycle_bag(ebr_record* record, retire_bag* bag) noexcept {
  if (record == nullptr || record->spare_count >= max_spare_bags) {
    delete bag;
    return;
  }
  push_spare(*record, bag);
}

void free_spare_bags(ebr_record& record) noexcept {
  while (record.spare_bags != nullptr) delete std::exchange(record.spare_bags, record.spare_bags->next);
  record.spare_count = 0;
}

// ---- the domain's stacks (E10, E11) -----------------------------------------

void push_bag(std::atomic<retire_bag*>& stack, retire_bag* bag) noexcept {
  retire_bag* head = stack.load(std::memory_order_relaxed);  // the CAS below validates
  do {
    bag->next = head;
  } while (!stack.compare_exchange_weak(head, bag, orders::push_bag,  // (E10) pairs with (E11)
                                        std::memory_order_relaxed));   // retry reads head only
}

// Hands a bag to the domain: from here any collector may free it.
void seal(domain_state& domain, retire_bag* bag) noexcept {
  push_bag(domain.incoming, bag);
}

// ---- the owner's bag ------------------------------------------------------------

retire_bag* fresh_bag(ebr_record& record, std::uint64_t epoch) noexcept {
  retire_bag* bag = record.spare_bags;
  if (bag != nullptr) {
    record.spare_bags = bag->next;
    --record.spare_count;
  } else {
    // No reserve() before: a broken precondition, unless memory is there.
    bag = new (std::nothrow) retire_bag;
    if (bag == nullptr) {
      std::fputs("snapcache::ebr: retire without reserve() and out of memory\n", stderr);
      std::abort();
    }
  }
  bag->next = nullptr;
  bag->epoch = epoch;
  bag->objects = 0;
  bag->bytes = 0;
  bag->intrusive = nullptr;
  bag->count = 0;
  return bag;
}

// Makes this pin's unpin take the slow path (unpin_slow), keeping the
// periodic countdown aside.
void force_slow_unpin(ebr_record& record) noexcept {
  if (record.unpin_forced) return;
  record.unpin_forced = true;
  record.periodic_left = record.pins_until_step;
  record.pins_until_step = 1;
}

// A sealed bag is owed a collection step at this pin's unpin.
void owe_step(ebr_record& record) noexcept {
  record.owes_step = true;
  force_slow_unpin(record);
}

// The bag an object retired now joins: the open one if it is of this epoch;
// else the bag parked at the last unpin, if it is of this epoch and still on
// the shelf; else a fresh one. A bag of an older epoch is sealed: every bag
// holds objects of one epoch, so its grace period is one number.
retire_bag& open_bag(ebr_record& record) noexcept {
  // (E4): read after the caller's unlink; the tag must not predate it.
  const std::uint64_t epoch = record.domain->epoch.load(orders::read_epoch);
  force_slow_unpin(record);  // the bag returned is open: parked at the unpin
  if (record.open != nullptr) {
    if (record.open->epoch == epoch) return *record.open;
    seal(*record.domain, std::exchange(record.open, nullptr));
    owe_step(record);
  } else if (record.shelved_epoch == epoch) {
    record.shelved_epoch = no_epoch;
    // A collector may have taken it meanwhile: then a fresh bag.
    record.open = record.shelf.exchange(nullptr, orders::take_shelf);  // (E13) pairs with (E12)
    if (record.open != nullptr) return *record.open;
  }
  record.open = fresh_bag(record, epoch);
  return *record.open;
}

// Seals the open bag once it is full or heavy.
void after_retire(ebr_record& record, retire_bag& bag, ebr::weight w) noexcept {
  bag.objects += w.objects;
  bag.bytes += w.bytes;
  bump(record.retired, w.objects);
  if (w.bytes != 0) bump(record.retired_bytes, w.bytes);
  record.pin_objects += w.objects;
  record.pin_bytes += w.bytes;
  if (w.objects > record.heaviest.load(std::memory_order_relaxed)) {  // owner's own counter
    record.heaviest.store(w.objects, std::memory_order_relaxed);  // statistic only
  }
  if (w.bytes > record.heaviest_bytes.load(std::memory_order_relaxed)) {  // owner's own counter
    record.heaviest_bytes.store(w.bytes, std::memory_order_relaxed);  // statistic only
  }
  const domain_state& domain = *record.domain;
  if (bag.objects >= domain.batch || bag.bytes >= domain.batch_bytes || bag.count == retire_bag::capacity) {
    seal(*record.domain, std::exchange(record.open, nullptr));
    owe_step(record);
  }
}

// At unpin: parks the open bag on the shelf, where a collector may take it
// if this thread goes idle. A bag still parked there from an older epoch
// (the thread did not take it back) is sealed on the way.
void park_open_bag(ebr_record& record) noexcept {
  retire_bag* bag = std::exchange(record.open, nullptr);
  const std::uint64_t epoch = bag->epoch;  // read before parking: from then on a collector may free it
  record.shelf_epoch.store(epoch, std::memory_order_relaxed);  // a hint; the bag's own epoch decides
  domain_state& domain = *record.domain;
  retire_bag* empty = nullptr;
  // The common case: the shelf is empty (the owner took its bag back, or a
  // collector took it). No bag leaves a shelf here, so none is in transit.
  if (!record.shelf.compare_exchange_strong(empty, bag, orders::park_bag,  // (E12) pairs with (E13)
                                            std::memory_order_relaxed)) {  // failure: handled below, under the bracket
    // An older bag is still parked: it goes to the queue. synchronize()
    // waits for bags between a shelf and the queue.
    domain.in_transit.fetch_add(1, std::memory_order_seq_cst);  // see above
    retire_bag* older = record.shelf.exchange(bag, std::memory_order_acq_rel);  // (E12) release; acquire: (E13) for `older`
    if (older != nullptr) seal(domain, older);
    domain.in_transit.fetch_sub(1, std::memory_order_seq_cst);  // see fetch_add
  }
  record.shelved_epoch = epoch;
}

// Takes a record's parked bag and seals it (an idle thread's garbage).
void take_parked(domain_state& domain, ebr_record& record) noexcept {
  domain.in_transit.fetch_add(1, std::memory_order_seq_cst);  // synchronize() waits for bags in hand
  if (retire_bag* bag = record.shelf.exchange(nullptr, orders::take_shelf)) seal(domain, bag);  // (E13)
  domain.in_transit.fetch_sub(1, std::memory_order_seq_cst);  // see fetch_add
}

// ---- fork() ----------------------------------------------------------------------
//
// A child process has only the thread that forked. A record another thread
// held pinned at the fork stays pinned in the child forever, and a
// collector token it held stays taken: the epoch never moves and nothing is
// freed again. The child cannot repair that (the other threads' half-done
// steps are lost with them), so it fails loudly at its first collection or
// registration instead of growing without bound. A fork while no other
// thread is inside an operation is fine: idle threads' records are
// unpinned, and their parked bags are taken by the child's collections.

// Every live domain, linked through next_live; the atfork handlers hold the
// mutex across fork(), so the child sees the list whole.
std::mutex live_domains_mutex;
domain_state* live_domains = nullptr;

// A per-thread address: which thread claimed a record (owner_thread).
thread_local constinit char tl_thread_tag = 0;

void before_fork() noexcept { live_domains_mutex.lock(); }
void after_fork_in_parent() noexcept { live_domains_mutex.unlock(); }
void after_fork_in_child() noexcept {
  for (domain_state* domain = live_domains; domain != nullptr; domain = domain->next_live) {
    bool busy = domain->collecting.load(std::memory_order_relaxed) ||  // single-threaded now
                domain->in_transit.load(std::memory_order_relaxed) != 0 ||  // single-threaded now
                domain->freeing.load(std::memory_order_relaxed) != 0;  // single-threaded now
    for (ebr_record* record = domain->registry.load(std::memory_order_relaxed);  // single-threaded now
         record != nullptr && !busy; record = record->next) {
      busy = record->announcement.load(std::memory_order_relaxed) != 0 &&  // single-threaded now
             record->owner_thread != &tl_thread_tag;
    }
    domain->forked_mid_operation = busy;
  }
  live_domains_mutex.unlock();
}

void link_live_domain(domain_state& domain) {
  static const int registered = pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
  (void)registered;  // 0, or ENOMEM: then forks go unchecked, as before
  const std::lock_guard<std::mutex> lock(live_domains_mutex);
  domain.next_live = live_domains;
  live_domains = &domain;
}

void unlink_live_domain(domain_state& domain) noexcept {
  const std::lock_guard<std::mutex> lock(live_domains_mutex);
  for (domain_state** at = &live_domains; *at != nullptr; at = &(*at)->next_live) {
    if (*at == &domain) {
      *at = domain.next_live;
      return;
    }
  }
}

void expect_no_fork_mid_operation(const domain_state& domain) noexcept {
  if (!domain.forked_mid_operation) [[likely]] return;
  std::fputs(
      "snapcache: this process was forked while another thread of its parent was inside an operation on an "
      "ebr domain (a map or cache call, a guard); in the child that thread's pin never ends and nothing could "
      "be freed again. Aborting. Fork only while no other thread uses snapcache, or exec() at once.\n",
      stderr);
  std::abort();
}

// ---- advancing and collecting -----------------------------------------------------

// One attempt to move the epoch from e to e+1: succeeds only if every pinned
// record announces e.
bool try_advance(domain_state& domain) noexcept {
  expect_no_fork_mid_operation(domain);
  std::uint64_t epoch = domain.epoch.load(orders::read_epoch);  // (E4) before the scan
  for (ebr_record* record = domain.registry.load(orders::load_registry);  // (E9) pairs with (E8)
       record != nullptr; record = record->next) {
    SNAPCACHE_PERTURB();
    const std::uint64_t announced = record->announcement.load(orders::scan_announcement);  // (E3)
    if ((announced & pinned_bit) != 0 && (announced >> 1) != epoch) return false;
  }
  return domain.epoch.compare_exchange_strong(epoch, epoch + 1, orders::advance_epoch,  // (E5)
                                              orders::advance_epoch_failure);          // as (E4)
}

// Takes the bags parked by threads that have not retired for two epochs
// (idle, blocked or gone): their garbage must not wait for them. O(threads).
void take_idle_shelves(domain_state& domain) noexcept {
  const std::uint64_t epoch = domain.epoch.load(orders::read_epoch);  // (E4)
  for (ebr_record* record = domain.registry.load(orders::load_registry);  // (E9)
       record != nullptr; record = record->next) {
    if (record->shelf.load(std::memory_order_relaxed) == nullptr) continue;  // a hint; the exchange decides
    const std::uint64_t parked = record->shelf_epoch.load(std::memory_order_relaxed);  // a hint, see above
    if (parked == no_epoch || parked + 2 <= epoch) take_parked(domain, *record);
  }
}

// The objects threads hold past their pins (guard::hold), read once per
// collection step. Null entries are skipped by the caller.
struct hold_set {
  static constexpr std::size_t inline_capacity = 64;
  const void* items[inline_capacity];
  std::size_t count = 0;
  bool overflow = false;  // more holds than fit: ask the registry per object
  domain_state* domain = nullptr;

  void gather(domain_state& d) noexcept {
    domain = &d;
    for (ebr_record* record = d.registry.load(orders::load_registry);  // (E9)
         record != nullptr; record = record->next) {
      for (const auto& slot : record->holds) {
        const void* held = slot.load(orders::scan_hold);  // (H3) with (H1), (H2)
        if (held == nullptr) continue;
        if (count == inline_capacity) {
          overflow = true;
          return;
        }
        items[count++] = held;
      }
    }
  }
  [[nodiscard]] bool contains(const void* object) const noexcept {
    if (overflow) {
      for (ebr_record* record = domain->registry.load(orders::load_registry);  // (E9)
           record != nullptr; record = record->next) {
        for (const auto& slot : record->holds) {
          if (slot.load(orders::scan_hold) == object) return true;  // (H3)
        }
      }
      return false;
    }
    return std::find(items, items + count, object) != items + count;
  }
  [[nodiscard]] bool empty() const noexcept { return count == 0 && !overflow; }
};

struct freed_count {
  std::uint64_t objects = 0;
  std::uint64_t bytes = 0;
};

enum class bag_left { nothing, more_work, held_only };

// Frees what `bag` holds, within `budget` objects (an intrusive object that
// is not freed in steps goes whole); objects a thread holds stay. What is
// left stays in the bag: what the budget did not reach, or held objects.
bag_left free_bag(retire_bag& bag, std::size_t& budget, const hold_set& holds, freed_count& freed) noexcept {
  const bool planted_hold_ignored = is_planted(planted_bug::free_ignoring_holds);
  // Intrusive objects: each its own reclaim, partial ones a budget at a time.
  retirable** link = &bag.intrusive;
  while (*link != nullptr && budget > 0) {
    retirable* object = *link;
    if (!holds.empty() && !planted_hold_ignored && holds.contains(object)) {
      link = &retirable_access::next(object);
      continue;
    }
    retirable* next = retirable_access::next(object);
    std::size_t& objects = retirable_access::objects(object);
    if (ebr::partial_reclaim_fn partial = retirable_access::partial(object)) {
      // Its weight is an estimate of its parts: count what each call frees
      // against it (capped), and the rest when it is done.
      const std::size_t bytes = retirable_access::bytes(object);
      const std::size_t left = objects;
      const std::size_t before = budget;
      const bool finished = partial(object, budget);  // may free object
      const std::size_t done = finished ? left : std::min(left - (left > 1 ? 1 : 0), before - budget);
      freed.objects += done;
      bag.objects -= std::min(bag.objects, done);
      if (!finished) {
        objects = left - done;  // object still alive (at least 1 left): more next step
        break;
      }
      freed.bytes += bytes;
      bag.bytes -= std::min(bag.bytes, bytes);
    } else {
      const std::size_t n = objects;
      const std::size_t bytes = retirable_access::bytes(object);
      retirable_access::reclaim(object)(object);
      budget -= std::min(budget, n);
      freed.objects += n;
      freed.bytes += bytes;
      bag.objects -= std::min(bag.objects, n);
      bag.bytes -= std::min(bag.bytes, bytes);
    }
    *link = next;
  }
  if (*link != nullptr) return bag_left::more_work;  // out of budget among the intrusive ones
  // Raw objects, within the budget; what stays (held, or past the budget)
  // is packed at the front.
  std::size_t kept = 0;
  std::size_t raw_freed = 0;
  bool out_of_budget = false;
  for (std::size_t i = 0; i < bag.count; ++i) {
    const retire_bag::item it = bag.items[i];
    if (budget == 0) {
      out_of_budget = true;
      bag.items[kept++] = it;
    } else if (!holds.empty() && !planted_hold_ignored && holds.contains(it.object)) {
      bag.items[kept++] = it;
    } else {
      it.reclaim(it.object);
      ++raw_freed;
      --budget;
    }
  }
  bag.count = kept;
  freed.objects += raw_freed;
  bag.objects -= std::min(bag.objects, raw_freed);
  if (bag.intrusive == nullptr && kept == 0) {
    freed.bytes += bag.bytes;  // raw bytes are counted per bag
    return bag_left::nothing;
  }
  return out_of_budget ? bag_left::more_work : bag_left::held_only;
}

void count_frees(domain_state& domain, ebr_record* self, const freed_count& freed) noexcept {
  if (freed.objects == 0 && freed.bytes == 0) return;
  if (self != nullptr) {
    bump(self->freed_bytes, freed.bytes);  // before freed: stats() reads freed first
    bump(self->freed, freed.objects);
  } else {
    domain.orphan_freed_bytes.fetch_add(freed.bytes, std::memory_order_release);  // pairs with stats() acquire
    domain.orphan_freed.fetch_add(freed.objects, std::memory_order_release);      // pairs with stats() acquire
  }
}

// ---- the queue (owned by the token holder) ------------------------------------------
// Bags in the order they were pushed, so roughly by epoch: each is freeable
// once the epoch is two past its own tag, and only the front is checked (a
// bag behind a younger one waits for it: at most one grace period more).
// Bags handed back partly freed (`returned`) go in front: freeable now.

retire_bag* queue_pop(domain_state& domain) noexcept {
  retire_bag* bag = domain.queue_head;
  domain.queue_head = bag->next;
  if (domain.queue_head == nullptr) domain.queue_tail = nullptr;
  bag->next = nullptr;
  return bag;
}

bool queue_front_ready(const domain_state& domain, std::uint64_t epoch) noexcept {
  return domain.queue_head != nullptr &&
         (domain.queue_head->epoch + 2 <= epoch || is_planted(planted_bug::free_without_grace_period));
}

// Moves what was pushed since the last step into the queue. Token held.
// O(bags pushed since): each bag is moved once.
void take_pushed(domain_state& domain) noexcept {
  if (retire_bag* back = domain.returned.exchange(nullptr, orders::take_bags)) {  // (E11) pairs with (E10)
    retire_bag* last = back;
    while (last->next != nullptr) last = last->next;
    last->next = domain.queue_head;
    domain.queue_head = back;
    if (domain.queue_tail == nullptr) domain.queue_tail = last;
  }
  // The stack holds the newest first: reversed, then appended to the queue.
  retire_bag* fresh = domain.incoming.exchange(nullptr, orders::take_bags);  // (E11) pairs with (E10)
  if (fresh == nullptr) return;
  retire_bag* const last = fresh;  // the newest: last once reversed
  retire_bag* oldest_first = nullptr;
  while (fresh != nullptr) {
    retire_bag* next = fresh->next;
    fresh->next = oldest_first;
    oldest_first = fresh;
    fresh = next;
  }
  if (domain.queue_tail == nullptr) {
    domain.queue_head = oldest_first;
  } else {
    domain.queue_tail->next = oldest_first;
  }
  domain.queue_tail = last;
}

// One bounded collection step: queues what was pushed, tries `advances`
// epoch advances (so that what it just queued may become freeable at once),
// detaches freeable bags worth at most the step's budget (at least one bag),
// gives the token back, then frees them (users' destructors run with no
// token held). Returns whether freeable garbage is left over. `self`: the
// caller's record here, or null.
enum class step_result { done, backlog, busy };

// Up to `n` advances; stops at the first that fails.
void advance_up_to(domain_state& domain, int n) noexcept {
  for (int i = 0; i < n && try_advance(domain); ++i) {
  }
}

// Frees a detached list (linked through `next`) within `budget` objects and
// counts what it freed. What is left goes back: bags the budget did not
// reach, and partial reclaims, on `returned` (any thread goes on with them
// at its next step); bags of held objects on `incoming`, retagged with
// `epoch`, to be looked at again after another grace period. Returns
// whether anything went back on `returned`.
bool free_detached(domain_state& domain, ebr_record* self, retire_bag* detached, std::size_t budget,
                   std::uint64_t epoch) noexcept {
  hold_set holds;
  holds.gather(domain);
  freed_count freed;
  bool left_over = false;
  while (detached != nullptr) {
    retire_bag* bag = std::exchange(detached, detached->next);
    bag->next = nullptr;
    const bag_left left = budget == 0 ? bag_left::more_work : free_bag(*bag, budget, holds, freed);
    switch (left) {
      case bag_left::nothing:
        recycle_bag(self, bag);
        break;
      case bag_left::more_work:
        push_bag(domain.returned, bag);
        left_over = true;
        break;
      case bag_left::held_only:
        bag->epoch = epoch;
        seal(domain, bag);
        break;
    }
  }
  count_frees(domain, self, freed);
  return left_over;
}

step_result collect_step(domain_state& domain, ebr_record* self, int advances, std::size_t extra_objects = 0,
                         std::size_t extra_bytes = 0) noexcept {
  if (domain.collecting.exchange(true, orders::take_token)) {  // (E14): someone else collects
    advance_up_to(domain, advances);
    return step_result::busy;
  }
  take_pushed(domain);
  advance_up_to(domain, advances);
  const std::uint64_t epoch = domain.epoch.load(orders::read_epoch);  // (E4) pairs with (E5)
  retire_bag* detached = nullptr;  // in queue order: a partly freed bag first, with the whole budget
  retire_bag** detached_tail = &detached;
  std::size_t objects = 0;
  std::size_t bytes = 0;
  const std::size_t budget_objects = domain.step_objects + extra_objects;
  const std::size_t budget_bytes = domain.step_bytes + extra_bytes;
  while (queue_front_ready(domain, epoch) && objects < budget_objects && bytes < budget_bytes) {
    retire_bag* bag = queue_pop(domain);
    objects += bag->objects;
    bytes += bag->bytes;
    *detached_tail = bag;
    detached_tail = &bag->next;
  }
  const bool backlog = queue_front_ready(domain, epoch);
  if (detached != nullptr) domain.freeing.fetch_add(1, std::memory_order_seq_cst);  // synchronize() waits for it
  domain.collecting.store(false, orders::give_token);  // (E15) pairs with (E14)
  if (detached == nullptr) return backlog ? step_result::backlog : step_result::done;

  const bool left_over = free_detached(domain, self, detached, budget_objects, epoch);
  domain.freeing.fetch_sub(1, std::memory_order_seq_cst);  // see fetch_add
  return backlog || left_over ? step_result::backlog : step_result::done;
}

// Collects, with the token, when a thread's steps are due: the base step,
// plus twice what the pin that just ended retired.
void run_step(ebr_record& record, int advances) noexcept {
  if (record.in_collection) return;  // a reclaim function pinned: no nested collection
  record.in_collection = true;
  domain_state& domain = *record.domain;
  take_idle_shelves(domain);
  const step_result r = collect_step(domain, &record, advances, 2 * record.pin_objects, 2 * record.pin_bytes);
  if (r == step_result::busy) {
    // Another thread holds the token: what this thread owes is not dropped;
    // it collects at its next unpin instead (pin_objects carries the debt).
    record.pins_until_step = 1;
  } else {
    record.pin_objects = 0;
    record.pin_bytes = 0;
    // Freeable garbage left over: collect at every unpin until it is gone.
    record.pins_until_step = r == step_result::backlog ? 1 : domain.pins_between_steps;
  }
  record.in_collection = false;
}

void release_reference(domain_state* domain) noexcept;

// Set when the calling thread's registrations were released at its exit: a
// thread_local destructor that runs later and pins must not touch them.
thread_local constinit bool tl_registrations_gone = false;

// Hands everything a record holds to the domain: its open and parked bags.
void seal_all(ebr_record& record) noexcept {
  if (record.open != nullptr) seal(*record.domain, std::exchange(record.open, nullptr));
  take_parked(*record.domain, record);
  record.shelved_epoch = no_epoch;
}

// The calling thread's registrations, released at thread exit.
struct thread_registrations {
  std::vector<std::pair<domain_state*, ebr_record*>> entries;

  ~thread_registrations() {
    for (auto [domain, record] : entries) {
      // A guard must not outlive its thread.
      assert(!is_pinned(*record) && "a guard outlived its thread");
      // The thread's garbage goes to the domain's queue (any thread frees
      // it) and the record to the next thread that registers. A domain
      // destroyed meanwhile is never touched but for its reference count.
      if (domain->alive.load(std::memory_order_acquire)) {  // pairs with ~domain's release
        seal_all(*record);
        free_spare_bags(*record);
        record->owned.store(false, orders::release_record);  // (E7) pairs with (E6)
      }
      release_reference(domain);
    }
    tl_record_cache = {};
    tl_global_record = nullptr;
    tl_registrations_gone = true;
  }
};

thread_local thread_registrations tl_registrations;

// Takes a record that an exited thread released, or makes a new one.
ebr_record* claim_or_create(domain_state& domain) {
  for (ebr_record* record = domain.registry.load(orders::load_registry);  // (E9) pairs with (E8)
       record != nullptr; record = record->next) {
    bool expected = false;
    if (!record->owned.load(std::memory_order_relaxed)) {  // pre-check; the CAS (E6) decides
      if (record->owned.compare_exchange_strong(expected, true, orders::claim_record,  // (E6)
                                                std::memory_order_relaxed)) {  // failed claim reads nothing
        record->release_at_unpin = false;
        record->owes_step = false;
        record->in_collection = false;
        record->pin_objects = 0;
        record->pin_bytes = 0;
        record->pins_until_step = domain.pins_between_steps;
        record->unpin_forced = false;
        return record;
      }
    }
  }
  auto* record = new ebr_record(domain);  // the only allocation of registration
  ebr_record* head = domain.registry.load(std::memory_order_relaxed);  // CAS below validates
  do {
    record->next = head;
  } while (!domain.registry.compare_exchange_weak(head, record, orders::publish_record,  // (E8)
                                                  std::memory_order_relaxed));  // retry reads head only
  return record;
}

void free_bag_now(retire_bag* bag) noexcept {
  // Teardown: no reader is left, so holds do not matter and nothing is
  // counted (the domain is going away).
  hold_set none;
  std::size_t budget = static_cast<std::size_t>(-1);
  freed_count ignored;
  free_bag(*bag, budget, none, ignored);
  delete bag;
}

void free_chain_now(retire_bag* bag) noexcept {
  while (bag != nullptr) free_bag_now(std::exchange(bag, bag->next));
}

// Frees every bag the domain holds. No thread may be pinned or retiring.
void free_everything(domain_state& domain) noexcept {
  for (ebr_record* record = domain.registry.load(orders::load_registry);  // (E9)
       record != nullptr; record = record->next) {
    if (record->open != nullptr) free_bag_now(std::exchange(record->open, nullptr));
    if (retire_bag* bag = record->shelf.exchange(nullptr, orders::take_shelf)) free_bag_now(bag);  // (E13)
  }
  free_chain_now(domain.incoming.exchange(nullptr, orders::take_bags));  // (E11)
  free_chain_now(domain.returned.exchange(nullptr, orders::take_bags));  // (E11)
  while (domain.queue_head != nullptr) free_bag_now(queue_pop(domain));
}

void free_domain(domain_state* domain) noexcept {
  ebr_record* record = domain->registry.load(orders::load_registry);  // (E9)
  while (record != nullptr) {
    ebr_record* next = record->next;
    free_spare_bags(*record);
    delete record;
    record = next;
  }
  delete domain;
}

void release_reference(domain_state* domain) noexcept {
  // acq_rel: the last holder must see every other holder's writes before it
  // frees the records (the shared_ptr pattern).
  if (domain->references.fetch_sub(1, std::memory_order_acq_rel) == 1) free_domain(domain);  // see above
}

}  // namespace

// A pin from a thread_local destructor that runs after the thread's own
// registrations were released: it claims a record for as long as it stays
// pinned (nested pins reuse it through the caches) and releases it at its
// last unpin, its garbage sealed into the domain's queue.
ebr_record* register_late(domain_state& domain) {
  expect_no_fork_mid_operation(domain);
  ebr_record* record = claim_or_create(domain);  // may throw: nothing changed yet
  record->owner_thread = &tl_thread_tag;
  domain.references.fetch_add(1, std::memory_order_relaxed);  // the caller already holds one
  record->release_at_unpin = true;
  force_slow_unpin(*record);  // released by unpin_slow() at its last unpin
  tl_record_cache = {domain.id, record};
  if (is_global(domain)) tl_global_record = record;
  return record;
}

ebr_record* register_thread(domain_state& domain) {
  if (tl_registrations_gone) return register_late(domain);
  auto& registrations = tl_registrations.entries;
  for (auto [known, record] : registrations) {
    if (known == &domain) {
      tl_record_cache = {domain.id, record};
      return record;
    }
  }
  // Forget domains destroyed since (their state stays allocated only while
  // a thread holds a reference), so a thread that outlives many short-lived
  // domains keeps neither their memory nor a longer list to scan.
  std::erase_if(registrations, [](const std::pair<domain_state*, ebr_record*>& known) {
    if (known.first->alive.load(std::memory_order_acquire)) return false;  // pairs with ~domain's release
    release_reference(known.first);
    return true;
  });
  if (registrations.size() == registrations.capacity()) {
    registrations.reserve(2 * registrations.size() + 4);  // may throw: nothing changed yet
  }
  expect_no_fork_mid_operation(domain);
  ebr_record* record = claim_or_create(domain);     // may throw: nothing changed yet
  record->owner_thread = &tl_thread_tag;
  domain.references.fetch_add(1, std::memory_order_relaxed);  // the caller already holds one
  registrations.emplace_back(&domain, record);      // no allocation after reserve
  tl_record_cache = {domain.id, record};
  if (is_global(domain)) tl_global_record = record;
  return record;
}

void retire(ebr_record& record, ebr::retirable* object, ebr::weight w) noexcept {
  assert(is_pinned(record) && "retire needs a pinned guard");
  retire_bag& bag = open_bag(record);
  retirable_access::next(object) = bag.intrusive;
  bag.intrusive = object;
  after_retire(record, bag, w);
}

void retire_raw(ebr_record& record, void* object, ebr::raw_reclaim_fn reclaim, std::size_t bytes) noexcept {
  assert(is_pinned(record) && "retire needs a pinned guard");
  retire_bag& bag = open_bag(record);
  bag.items[bag.count++] = {object, reclaim};
  after_retire(record, bag, {1, bytes});
}

void add_spare_bag(ebr_record& record) {
  push_spare(record, new retire_bag);  // may throw: nothing changed
}

bool try_add_spare_bag(ebr_record& record) noexcept {
  auto* bag = new (std::nothrow) retire_bag;
  if (bag == nullptr) return false;
  push_spare(record, bag);
  return true;
}

int take_hold_slot(ebr_record& record, const void* object) noexcept {
  for (std::size_t i = 0; i < hold_slots; ++i) {
    // Only the owner writes a non-null value, so a null read here is ours.
    if (record.holds[i].load(std::memory_order_relaxed) == nullptr) {  // owner's own slot: no race
      record.holds[i].store(object, orders::publish_hold);  // (H1) with (H3)
      return static_cast<int>(i);
    }
  }
  return -1;
}


// synchronize()'s drain: with the token (waited for), the whole queue; every
// bag two epochs old is freed without a budget (partial reclaims finished),
// held objects and younger bags go back on `incoming`.
void free_all_ready(domain_state& state, ebr_record* own) noexcept {
  while (state.collecting.exchange(true, orders::take_token)) std::this_thread::yield();  // (E14)
  take_pushed(state);
  const std::uint64_t now = state.epoch.load(orders::read_epoch);  // (E4) pairs with (E5)
  retire_bag* ready = nullptr;
  while (state.queue_head != nullptr) {
    retire_bag* bag = queue_pop(state);
    if (bag->epoch + 2 > now) {
      seal(state, bag);  // younger: not this call's to wait for
    } else {
      bag->next = ready;
      ready = bag;
    }
  }
  state.freeing.fetch_add(1, std::memory_order_seq_cst);  // as a collector's
  state.collecting.store(false, orders::give_token);      // (E15)
  free_detached(state, own, ready, static_cast<std::size_t>(-1), now);  // no bound here
  state.freeing.fetch_sub(1, std::memory_order_seq_cst);  // see fetch_add
}

void unpin_slow(ebr_record& record) noexcept {
  // The open bag is parked before the unpin: a synchronize() that sees this
  // thread unpinned (E2, read by its scan E3) then finds the bag on the shelf.
  if (record.open != nullptr) park_open_bag(record);
  record.announcement.store(0, orders::unpin);  // (E2)
  bool periodic_due = true;  // the countdown ran out, or a busy step is retried
  if (record.unpin_forced) {
    record.unpin_forced = false;
    periodic_due = --record.periodic_left == 0;
    record.pins_until_step = record.periodic_left;
  }
  // A late record about to be released pays what it retired, too. (Not every
  // unpin with a debt: after a busy step, that retries once per unpin with
  // one advance, the periodic step's way, instead of two advances per unpin.)
  if (record.owes_step || (record.release_at_unpin && record.pin_objects >= record.domain->batch)) {
    // Unpinned, this thread no longer holds the epoch back: two successful
    // advances make what it sealed freeable, unless another thread is pinned.
    record.owes_step = false;
    run_step(record, 2);
  } else if (periodic_due) {
    run_step(record, 1);
  }
  // run_step() sets the countdown again, unless it did not run (a reclaim
  // function's own pin, inside this thread's collection): slow at the next unpin.
  if (record.pins_until_step == 0) record.pins_until_step = 1;
  if (record.release_at_unpin) [[unlikely]] {
    domain_state& domain = *record.domain;
    seal_all(record);
    free_spare_bags(record);
    record.release_at_unpin = false;
    if (tl_record_cache.record == &record) tl_record_cache = {};
    if (tl_global_record == &record) tl_global_record = nullptr;
    record.owned.store(false, orders::release_record);  // (E7) pairs with the next claim (E6)
    release_reference(&domain);
  }
}

}  // namespace snapcache::detail

namespace snapcache::ebr {

namespace {
void validate(const config& cfg) {
  if (cfg.batch == 0) throw std::invalid_argument("snapcache::ebr::config: batch must be > 0");
  if (cfg.batch_bytes == 0) throw std::invalid_argument("snapcache::ebr::config: batch_bytes must be > 0");
}

detail::domain_state* make_state(void* where, const config& cfg) {
  const std::uint64_t id = detail::make_domain_id();
  detail::domain_state* state =
      where == nullptr ? new detail::domain_state(id, cfg.batch, cfg.batch_bytes, cfg.pins_per_step)
                       : ::new (where) detail::domain_state(id, cfg.batch, cfg.batch_bytes, cfg.pins_per_step);
  detail::link_live_domain(*state);
  return state;
}
}  // namespace

domain::domain(config cfg)
    : config_((validate(cfg), cfg)), state_(make_state(nullptr, cfg)) {}

domain::domain(global_tag) noexcept : config_{}, state_(nullptr), is_global_(true) {
  state_ = make_state(detail::global_state_storage, config_);
}

domain& domain::global() noexcept {
  // Never destroyed: threads may still exit (and release records) after
  // static destruction has begun.
  alignas(domain) static unsigned char storage[sizeof(domain)];
  static domain* const instance = ::new (storage) domain(global_tag{});
  return *instance;
}

domain::~domain() {
  detail::domain_state* state = state_;
  detail::unlink_live_domain(*state);
  state->alive.store(false, std::memory_order_release);  // pairs with thread exit's acquire
  for (detail::ebr_record* record = state->registry.load(detail::orders::load_registry);  // (E9)
       record != nullptr; record = record->next) {
    assert((record->announcement.load(std::memory_order_relaxed) & detail::pinned_bit) == 0 &&  // debug check only
           "domain destroyed while a thread is pinned in it");
  }
  detail::free_everything(*state);
  detail::release_reference(state);
}

void domain::synchronize() {
  detail::domain_state& state = *state_;
  detail::ebr_record* own = known_record();
  if (own == nullptr && !detail::tl_registrations_gone) {  // after thread-exit cleanup the list is gone
    for (auto [known, record] : detail::tl_registrations.entries) {
      if (known == state_) own = record;
    }
  }
  assert((own == nullptr || !is_pinned(*own)) && "synchronize() while pinned would wait forever");

  // 1. A grace period: every thread pinned at the call has unpinned since,
  // so every bag holding an object retired before the call is parked on a
  // shelf, in someone's hands on its way to `incoming`, or sealed.
  const std::uint64_t start = state.epoch.load(detail::orders::read_epoch);  // (E4)
  while (state.epoch.load(detail::orders::read_epoch) < start + 2) {  // (E4)
    if (!detail::try_advance(state)) std::this_thread::yield();
  }
  // 2. Every parked bag, and every bag in hands, into the queue.
  for (detail::ebr_record* record = state.registry.load(detail::orders::load_registry);  // (E9)
       record != nullptr; record = record->next) {
    detail::take_parked(state, *record);
  }
  while (state.in_transit.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();  // pairs with the decrements
  // 3. Everything queued whose grace period is over, freed here; then what
  // other collectors had detached, which they free or, out of budget, hand
  // back on `returned` before they finish: then round again.
  do {
    detail::free_all_ready(state, own);
    while (state.freeing.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();  // pairs with their decrements
  } while (state.returned.load(std::memory_order_seq_cst) != nullptr);  // pushed before those decrements
}

domain_stats domain::stats() const noexcept {
  domain_stats result;
  result.epoch = state_->epoch.load(detail::orders::read_epoch);  // (E4)
  result.freed = state_->orphan_freed.load(std::memory_order_acquire);  // pairs with count_frees
  result.freed_bytes = state_->orphan_freed_bytes.load(std::memory_order_acquire);  // pairs with count_frees
  // Every freed counter before any retired one: a free read here follows its
  // retire, whichever threads did them, so freed <= retired.
  for (detail::ebr_record* record = state_->registry.load(detail::orders::load_registry);  // (E9)
       record != nullptr; record = record->next) {
    result.freed += record->freed.load(std::memory_order_acquire);              // pairs with bump()
    result.freed_bytes += record->freed_bytes.load(std::memory_order_acquire);  // pairs with bump()
  }
  for (detail::ebr_record* record = state_->registry.load(detail::orders::load_registry);  // (E9)
       record != nullptr; record = record->next) {
    result.retired += record->retired.load(std::memory_order_acquire);              // pairs with bump()
    result.retired_bytes += record->retired_bytes.load(std::memory_order_acquire);  // pairs with bump()
    result.heaviest = std::max<std::uint64_t>(result.heaviest, record->heaviest.load(std::memory_order_relaxed));  // statistic only
    result.heaviest_bytes =
        std::max<std::uint64_t>(result.heaviest_bytes, record->heaviest_bytes.load(std::memory_order_relaxed));  // statistic only
    ++result.records;
    if ((record->announcement.load(std::memory_order_relaxed) & detail::pinned_bit) != 0) {  // statistic only
      ++result.pinned;
    }
  }
  result.pending = result.retired - result.freed;
  result.pending_bytes = result.retired_bytes - result.freed_bytes;
  return result;
}

}  // namespace snapcache::ebr
