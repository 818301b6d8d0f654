// EBR slow paths: registration, retirement, epoch advance, collection,
// adoption of exited threads' garbage, and domain teardown.
// The ordering ledger for this file is docs/design.md, section "EBR".
#include "snapcache/ebr.hpp"

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <thread>
#include <vector>

namespace snapcache::ebr {

struct retirable_access {
  static retirable*& next(retirable* object) noexcept { return object->next_retired_; }
  static reclaim_fn& reclaim(retirable* object) noexcept { return object->reclaim_; }
};

}  // namespace snapcache::ebr

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

void recycle_bag(ebr_record& record, retire_bag* bag) noexcept {
  if (record.spare_count >= max_spare_bags) {
    delete bag;
    return;
  }
  bag->count = 0;
  bag->next = record.spare_bags;
  record.spare_bags = bag;
  ++record.spare_count;
}

// Runs the reclaim function of every object in `list` and empties it.
void free_list(ebr_record& record, limbo_list& list) noexcept {
  retirable* object = list.head;
  retire_bag* bag = list.bags;
  const std::size_t count = list.count;
  list = limbo_list{};
  while (object != nullptr) {
    retirable* next = retirable_access::next(object);
    retirable_access::reclaim(object)(object);
    object = next;
  }
  while (bag != nullptr) {
    retire_bag* next = bag->next;
    for (std::size_t i = 0; i < bag->count; ++i) bag->items[i].reclaim(bag->items[i].object);
    recycle_bag(record, bag);
    bag = next;
  }
  record.unreclaimed -= count;
  bump(record.freed, count);
}

void free_spare_bags(ebr_record& record) noexcept {
  while (record.spare_bags != nullptr) delete std::exchange(record.spare_bags, record.spare_bags->next);
  record.spare_count = 0;
}

// Frees the lists of `record` whose grace period is over: the epoch has moved
// two steps past their tag, so every thread pinned when they were retired
// has unpinned since.
void collect(ebr_record& record) noexcept {
  const std::uint64_t epoch = record.domain->epoch.load(orders::read_epoch);  // (E4) pairs with (E5)
  const bool ignore_grace = is_planted(planted_bug::free_without_grace_period);
  for (limbo_list& list : record.limbo) {
    if (list.count != 0 && (ignore_grace || epoch >= list.epoch + 2)) free_list(record, list);
  }
}

// After an attempt to reclaim: wait for one more batch before the next one.
void schedule_next_attempt(ebr_record& record) noexcept {
  record.reclaim_at = record.unreclaimed + record.domain->batch;
}

bool has_garbage(const ebr_record& record) noexcept {
  // A hint only: the claim (E6) is what makes touching the lists safe.
  return record.retired.load(std::memory_order_relaxed) !=  // hint, see above
         record.freed.load(std::memory_order_relaxed);      // hint, see above
}

// Claims an unowned record (an exited thread's) and frees what it can.
void adopt_and_collect(ebr_record& record) noexcept {
  bool expected = false;
  if (!record.owned.compare_exchange_strong(expected, true, orders::claim_record,  // (E6)
                                            std::memory_order_relaxed)) {          // failed claim reads nothing
    return;
  }
  collect(record);
  record.owned.store(false, orders::release_record);  // (E7) pairs with the next claim (E6)
}

// One attempt to move the epoch from e to e+1: succeeds only if every pinned
// record announces e. Also adopts the garbage of exited threads it passes.
bool try_advance(domain_state& domain) noexcept {
  std::uint64_t epoch = domain.epoch.load(orders::read_epoch);  // (E4) before the scan
  for (ebr_record* record = domain.registry.load(orders::load_registry);  // (E9) pairs with (E8)
       record != nullptr; record = record->next) {
    SNAPCACHE_PERTURB();
    const std::uint64_t announced = record->announcement.load(orders::scan_announcement);  // (E3)
    if ((announced & pinned_bit) != 0 && (announced >> 1) != epoch) return false;
    if (!record->owned.load(std::memory_order_relaxed) && has_garbage(*record)) {  // hint; (E6) decides
      adopt_and_collect(*record);
    }
  }
  return domain.epoch.compare_exchange_strong(epoch, epoch + 1, orders::advance_epoch,  // (E5)
                                              orders::advance_epoch_failure);          // as (E4)
}

// Takes a record that an exited thread released, or makes a new one.
ebr_record* claim_or_create(domain_state& domain) {
  for (ebr_record* record = domain.registry.load(orders::load_registry);  // (E9) pairs with (E8)
       record != nullptr; record = record->next) {
    bool expected = false;
    if (!record->owned.load(std::memory_order_relaxed)) {  // pre-check; the CAS (E6) decides
      if (record->owned.compare_exchange_strong(expected, true, orders::claim_record,  // (E6)
                                                std::memory_order_relaxed)) {  // failed claim reads nothing
        record->nesting = 0;
        record->release_at_unpin = false;
        record->pins_until_advance =
            domain.pins_per_advance ? domain.pins_per_advance : static_cast<std::size_t>(-1);
        collect(*record);
        schedule_next_attempt(*record);
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

void release_reference(domain_state* domain) noexcept;

// Set when the calling thread's registrations were released at its exit: a
// thread_local destructor that runs later and pins must not touch them.
thread_local constinit bool tl_registrations_gone = false;

// The calling thread's registrations, released at thread exit.
struct thread_registrations {
  std::vector<std::pair<domain_state*, ebr_record*>> entries;

  ~thread_registrations() {
    for (auto [domain, record] : entries) {
      // A guard must not outlive its thread.
      assert(record->nesting == 0 && "a guard outlived its thread");
      // The thread leaves its garbage in the record: the next thread to
      // register, or any advance attempt, adopts and frees it. It touches
      // nothing else, so a domain destroyed meanwhile is never touched.
      if (domain->alive.load(std::memory_order_acquire)) {  // pairs with ~domain's release
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
// last unpin, its garbage left for adoption like an exited thread's.
ebr_record* register_late(domain_state& domain) {
  ebr_record* record = claim_or_create(domain);  // may throw: nothing changed yet
  domain.references.fetch_add(1, std::memory_order_relaxed);  // the caller already holds one
  record->release_at_unpin = true;
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
  ebr_record* record = claim_or_create(domain);     // may throw: nothing changed yet
  domain.references.fetch_add(1, std::memory_order_relaxed);  // the caller already holds one
  registrations.emplace_back(&domain, record);      // no allocation after reserve
  tl_record_cache = {domain.id, record};
  if (is_global(domain)) tl_global_record = record;
  return record;
}

namespace {

// The limbo list that an object retired now joins.
limbo_list& current_limbo(ebr_record& record) noexcept {
  // (E4): read after the caller's unlink; the tag must not predate it.
  const std::uint64_t epoch = record.domain->epoch.load(orders::read_epoch);
  limbo_list& list = record.limbo[epoch % 3];
  // A list with the same slot but another tag is three or more epochs old:
  // its grace period is long over.
  if (list.count != 0 && list.epoch != epoch) free_list(record, list);
  list.epoch = epoch;
  return list;
}

// `weight`: how many objects the retired one stands for (guard::retire).
void after_retire(ebr_record& record, limbo_list& list, std::size_t weight) noexcept {
  list.count += weight;
  record.unreclaimed += weight;
  bump(record.retired, weight);
  if (record.unreclaimed >= record.reclaim_at) {
    // Pinned: one advance is the most this thread lets happen.
    try_advance(*record.domain);
    collect(record);
    schedule_next_attempt(record);
  }
}

}  // namespace

void retire(ebr_record& record, ebr::retirable* object, ebr::reclaim_fn reclaim, std::size_t weight) noexcept {
  assert(record.nesting > 0 && "retire needs a pinned guard");
  retirable_access::reclaim(object) = reclaim;
  limbo_list& list = current_limbo(record);
  retirable_access::next(object) = list.head;
  list.head = object;
  after_retire(record, list, weight);
}

void retire_raw(ebr_record& record, void* object, ebr::raw_reclaim_fn reclaim) noexcept {
  assert(record.nesting > 0 && "retire needs a pinned guard");
  limbo_list& list = current_limbo(record);
  if (list.bags == nullptr || list.bags->count == retire_bag::capacity) {
    retire_bag* bag = record.spare_bags;
    if (bag != nullptr) {
      record.spare_bags = bag->next;
      --record.spare_count;
    } else {
      // No reserve() before: a broken precondition, unless memory is there.
      bag = new (std::nothrow) retire_bag;
      if (bag == nullptr) {
        std::fputs("snapcache::ebr: retire_raw without reserve() and out of memory\n", stderr);
        std::abort();
      }
    }
    bag->count = 0;
    bag->next = list.bags;
    list.bags = bag;
  }
  list.bags->items[list.bags->count++] = {object, reclaim};
  after_retire(record, list, 1);
}

void add_spare_bag(ebr_record& record) {
  auto* bag = new retire_bag;  // may throw: nothing changed
  bag->next = record.spare_bags;
  record.spare_bags = bag;
  ++record.spare_count;
}

bool try_add_spare_bag(ebr_record& record) noexcept {
  auto* bag = new (std::nothrow) retire_bag;
  if (bag == nullptr) return false;
  bag->next = record.spare_bags;
  record.spare_bags = bag;
  ++record.spare_count;
  return true;
}

void on_pin_advance(ebr_record& record) noexcept {
  domain_state& domain = *record.domain;
  record.pins_until_advance = domain.pins_per_advance;
  try_advance(domain);
  collect(record);
  schedule_next_attempt(record);
}

void release_late_record(ebr_record& record) noexcept {
  domain_state& domain = *record.domain;
  if (try_advance(domain)) try_advance(domain);
  collect(record);
  record.release_at_unpin = false;
  if (tl_record_cache.record == &record) tl_record_cache = {};
  if (tl_global_record == &record) tl_global_record = nullptr;
  record.owned.store(false, orders::release_record);  // (E7) pairs with the next claim (E6)
  release_reference(&domain);
}

void reclaim_after_unpin(ebr_record& record) noexcept {
  // Unpinned, this thread no longer holds the epoch back: two successful
  // advances free everything it retired, unless another thread is pinned.
  if (try_advance(*record.domain)) try_advance(*record.domain);
  collect(record);
  schedule_next_attempt(record);
}

}  // namespace snapcache::detail

namespace snapcache::ebr {

namespace {
void validate(const config& cfg) {
  if (cfg.batch == 0) throw std::invalid_argument("snapcache::ebr::config: batch must be > 0");
}
}  // namespace

domain::domain(config cfg)
    : config_((validate(cfg), cfg)),
      state_(new detail::domain_state(detail::make_domain_id(), cfg.batch, cfg.advance_every)) {}

domain::domain(global_tag) noexcept : config_{}, state_(nullptr), is_global_(true) {
  state_ = ::new (detail::global_state_storage) detail::domain_state(detail::make_domain_id(), config_.batch,
                                                config_.advance_every);
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
  state->alive.store(false, std::memory_order_release);  // pairs with thread exit's acquire
  for (detail::ebr_record* record = state->registry.load(detail::orders::load_registry);  // (E9)
       record != nullptr; record = record->next) {
    assert((record->announcement.load(std::memory_order_relaxed) & detail::pinned_bit) == 0 &&  // debug check only
           "domain destroyed while a thread is pinned in it");
    for (detail::limbo_list& list : record->limbo) {
      if (list.count != 0) detail::free_list(*record, list);
    }
  }
  detail::release_reference(state);
}

void domain::synchronize() {
  detail::domain_state& state = *state_;
  detail::ebr_record* own = detail::tl_record_cache.domain_id == state.id
                                ? detail::tl_record_cache.record
                                : nullptr;
  if (own == nullptr) {
    for (auto [known, record] : detail::tl_registrations.entries) {
      if (known == state_) own = record;
    }
  }
  assert((own == nullptr || own->nesting == 0) && "synchronize() while pinned would wait forever");

  const std::uint64_t start = state.epoch.load(detail::orders::read_epoch);  // (E4)
  while (state.epoch.load(detail::orders::read_epoch) < start + 2) {  // (E4)
    if (!detail::try_advance(state)) std::this_thread::yield();
  }
  if (own != nullptr) detail::collect(*own);
  for (detail::ebr_record* record = state.registry.load(detail::orders::load_registry);  // (E9)
       record != nullptr; record = record->next) {
    detail::adopt_and_collect(*record);
  }
}

domain_stats domain::stats() const noexcept {
  domain_stats result;
  result.epoch = state_->epoch.load(detail::orders::read_epoch);  // (E4)
  for (detail::ebr_record* record = state_->registry.load(detail::orders::load_registry);  // (E9)
       record != nullptr; record = record->next) {
    const std::uint64_t freed = record->freed.load(std::memory_order_acquire);  // pairs with bump()
    const std::uint64_t retired = record->retired.load(std::memory_order_acquire);  // pairs with bump()
    result.freed += freed;
    result.retired += retired;
    ++result.records;
    if ((record->announcement.load(std::memory_order_relaxed) & detail::pinned_bit) != 0) {  // statistic only
      ++result.pinned;
    }
  }
  result.pending = result.retired - result.freed;
  return result;
}

}  // namespace snapcache::ebr
