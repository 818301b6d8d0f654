// snapcache::locked_query_cache: one mutex, a dict and a heap (see the
// header). The strong exception guarantee comes from a two-phase insert:
// prepare() allocates, outside the lock, every node an entry may need; under
// the lock the tables and the heap get their room reserved (may throw,
// changes nothing observable), and apply_*() then only links prepared nodes,
// erases, and moves heap items — none of which can throw.
#include "snapcache/locked_query_cache.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "snapcache/detail/test_hooks.hpp"

namespace snapcache {

struct locked_query_cache::prepared {
  record_ptr rec;
  entry_map::node_type entry;           // id -> slot (the seq is set when linked)
  candidate_set::node_type candidate;   // candidates only
  candidate_set::node_type text_member; // candidates with a match text only
  text_map::node_type text_group;       // match text -> empty set, used if the text is new
  heap_item item;
};

namespace {

constexpr auto relaxed = std::memory_order_relaxed;  // statistics only

// Room for `extra` more elements without a rehash, growing geometrically.
// (reserve(size() + extra) on every insert would rehash to a new, smaller
// bucket count each time: O(n) per insert.) libstdc++ rehashes an insert
// when the element count reaches bucket_count * max_load_factor; one
// element of margin keeps us clear of the rounding.
template <class Table>
void make_room(Table& table, std::size_t extra) {
  const std::size_t wanted = table.size() + extra + 1;
  if (static_cast<double>(wanted) >= static_cast<double>(table.bucket_count()) * table.max_load_factor()) {
    table.reserve(std::max(wanted, 2 * table.size()));
  }
}

template <class T>
void make_room(std::vector<T>& v, std::size_t extra) {
  if (v.capacity() - v.size() < extra) v.reserve(std::max(v.size() + extra, 2 * v.capacity()));
}

}  // namespace

locked_query_cache::read_lock::read_lock(detail::annotated_mutex<std::mutex>& m)
    : mutex_(m), locked_(!detail::is_planted(detail::planted_bug::locked_cache_unlocked_reads)) {
  if (locked_) mutex_.lock();
}

locked_query_cache::read_lock::~read_lock() {
  if (locked_) mutex_.unlock();
}

locked_query_cache::locked_query_cache(std::size_t capacity, cache_mode mode)
    : mode_(mode), capacity_((detail::check_capacity(capacity), capacity)), candidates_(candidate_order{mode}) {}

// ---- the heap ----------------------------------------------------------------

// Whether a leaves the heap before b: standard, the older entry (ties: the
// greater id); compat, the original's tuple order (submitted_at, id).
bool locked_query_cache::heap_before(const heap_item& a, const heap_item& b) const noexcept {
  if (a.submitted_at != b.submitted_at) return a.submitted_at < b.submitted_at;
  return mode_ == cache_mode::standard ? a.id > b.id : a.id < b.id;
}

// Room is reserved before any change, so neither allocates.
void locked_query_cache::heap_push(heap_item item) {
  heap_.push_back(std::move(item));
  std::push_heap(heap_.begin(), heap_.end(),
                 [this](const heap_item& a, const heap_item& b) { return heap_before(b, a); });
}

locked_query_cache::heap_item locked_query_cache::heap_pop() {
  std::pop_heap(heap_.begin(), heap_.end(),
                [this](const heap_item& a, const heap_item& b) { return heap_before(b, a); });
  heap_item top = std::move(heap_.back());
  heap_.pop_back();
  return top;
}

// standard mode: an item whose id is gone or was rewritten since.
bool locked_query_cache::is_stale(const heap_item& item) const {
  const auto it = entries_.find(item.id);
  return it == entries_.end() || it->second.seq != item.seq;
}

// standard mode: rebuilds the heap from the live entries when stale items
// outnumber them. Allocates (may throw) but changes no outcome.
void locked_query_cache::compact_heap() {
  if (heap_.size() <= 2 * entries_.size() + 64) return;
  std::vector<heap_item> fresh;
  fresh.reserve(entries_.size());
  for (const auto& [id, s] : entries_) fresh.push_back(heap_item{s.rec->entry.submitted_at, id, s.seq});
  std::make_heap(fresh.begin(), fresh.end(),
                 [this](const heap_item& a, const heap_item& b) { return heap_before(b, a); });
  heap_.swap(fresh);
}

// ---- indexes -----------------------------------------------------------------

void locked_query_cache::index(const slot& s, prepared& p) {
  if (!s.rec->candidate) return;
  p.candidate.value().seq = s.seq;
  candidates_.insert(std::move(p.candidate));
  if (!s.rec->match) return;
  auto group = by_text_.find(*s.rec->match);
  if (group == by_text_.end()) group = by_text_.insert(std::move(p.text_group)).position;
  p.text_member.value().seq = s.seq;
  group->second.insert(std::move(p.text_member));
}

void locked_query_cache::unindex(const slot& s) {
  if (!s.rec->candidate) return;
  const candidate_key key{s.rec, s.seq};
  candidates_.erase(key);
  if (!s.rec->match) return;
  const auto group = by_text_.find(*s.rec->match);
  group->second.erase(key);
  if (group->second.empty()) by_text_.erase(group);
}

void locked_query_cache::remove(entry_map::iterator it) {
  unindex(it->second);
  entries_.erase(it);
}

void locked_query_cache::evict_oldest_standard() {
  while (is_stale(heap_.front())) heap_pop();
  const heap_item oldest = heap_pop();
  remove(entries_.find(oldest.id));
  evictions_.fetch_add(1, relaxed);
}

// ---- insert --------------------------------------------------------------------

std::vector<insert_result> locked_query_cache::apply_standard(std::vector<prepared>& batch) {
  std::vector<insert_result> results(batch.size(), insert_result::dropped);
  std::uint64_t admitted = 0, replaced = 0, dropped = 0;
  // No allocation from here on.
  for (std::size_t i = 0; i < batch.size(); ++i) {
    prepared& p = batch[i];
    const auto held = entries_.find(p.rec->entry.id);
    if (held != entries_.end()) {
      unindex(held->second);
      held->second = slot{p.rec, next_seq_++};  // a new generation: its old heap item is stale
      index(held->second, p);
      p.item.seq = held->second.seq;
      heap_push(std::move(p.item));
      results[i] = insert_result::replaced;
      ++replaced;
      continue;
    }
    if (entries_.size() >= capacity_) {
      while (is_stale(heap_.front())) heap_pop();
      const auto oldest = entries_.find(heap_.front().id);
      if (!detail::older(oldest->second.rec->entry, p.rec->entry)) {
        ++dropped;
        continue;
      }
      evict_oldest_standard();
    }
    p.entry.mapped() = slot{p.rec, next_seq_++};
    const auto linked = entries_.insert(std::move(p.entry)).position;
    index(linked->second, p);
    p.item.seq = linked->second.seq;
    heap_push(std::move(p.item));
    results[i] = insert_result::admitted;
    ++admitted;
  }
  inserts_.fetch_add(admitted, relaxed);
  replacements_.fetch_add(replaced, relaxed);
  drops_.fetch_add(dropped, relaxed);
  return results;
}

// The original's update_cache, step by step (numbers as in docs/query-cache.md).
std::vector<insert_result> locked_query_cache::apply_compat(std::vector<prepared>& batch) {
  std::vector<insert_result> results(batch.size(), insert_result::dropped);
  std::vector<std::size_t> kept;
  kept.reserve(batch.size());
  // 1. Filter against the current entry of the id on the heap's top.
  const auto top = heap_.empty() ? entries_.end() : entries_.find(heap_.front().id);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (top == entries_.end() || batch[i].rec->entry.submitted_at > top->second.rec->entry.submitted_at) {
      kept.push_back(i);
    }
  }
  // 2. Pop k items, or fail as the original did, before changing anything.
  const std::size_t total = entries_.size() + kept.size();
  const std::size_t k = total > capacity_ ? total - capacity_ : 0;
  if (k > heap_.size()) {
    throw std::length_error("query cache (compat): the batch needs more evictions than the heap holds");
  }
  // No allocation from here on.
  for (std::size_t i = 0; i < k; ++i) {
    const heap_item item = heap_pop();
    const auto held = entries_.find(item.id);
    if (held != entries_.end()) {  // a stale item removes nothing
      remove(held);
      evictions_.fetch_add(1, relaxed);
    }
  }
  // 3. Insert the first `capacity` remaining items in order.
  const std::size_t admitted_count = std::min(kept.size(), capacity_);
  std::uint64_t admitted = 0, replaced = 0;
  for (std::size_t j = 0; j < admitted_count; ++j) {
    prepared& p = batch[kept[j]];
    heap_push(std::move(p.item));
    const auto held = entries_.find(p.rec->entry.id);
    if (held != entries_.end()) {
      unindex(held->second);
      held->second.rec = p.rec;  // overwritten in place: keeps its dict position
      index(held->second, p);
      results[kept[j]] = insert_result::replaced;
      ++replaced;
    } else {
      p.entry.mapped() = slot{p.rec, next_seq_++};
      const auto linked = entries_.insert(std::move(p.entry)).position;
      index(linked->second, p);
      results[kept[j]] = insert_result::admitted;
      ++admitted;
    }
  }
  inserts_.fetch_add(admitted, relaxed);
  replacements_.fetch_add(replaced, relaxed);
  drops_.fetch_add(batch.size() - admitted_count, relaxed);
  return results;
}

insert_result locked_query_cache::insert(const query_entry& e) {
  return insert(std::span<const query_entry>(&e, 1)).front();
}

std::vector<insert_result> locked_query_cache::insert(std::span<const query_entry> batch) {
  // Phase 1, unlocked: every allocation an entry may need.
  std::vector<prepared> nodes;
  nodes.reserve(batch.size());
  for (const query_entry& e : batch) {
    prepared p;
    p.rec = detail::entry_record::make(e, mode_);
    {
      entry_map scratch;
      scratch.emplace(e.id, slot{p.rec, 0});
      p.entry = scratch.extract(scratch.begin());
    }
    if (p.rec->candidate) {
      const auto node = [&] {
        candidate_set scratch(candidate_order{mode_});
        scratch.insert(candidate_key{p.rec, 0});
        return scratch.extract(scratch.begin());
      };
      p.candidate = node();
      if (p.rec->match) {
        p.text_member = node();
        text_map groups;
        groups.emplace(*p.rec->match, candidate_set(candidate_order{mode_}));
        p.text_group = groups.extract(groups.begin());
      }
    }
    p.item = heap_item{e.submitted_at, e.id, 0};
    nodes.push_back(std::move(p));
  }
  // Phase 2, locked: reserve room (may throw, changes nothing), then apply.
  detail::writer_lock<std::mutex> lock(mutex_);
  make_room(entries_, nodes.size());
  make_room(by_text_, nodes.size());
  if (mode_ == cache_mode::standard) compact_heap();
  make_room(heap_, nodes.size());
  return mode_ == cache_mode::standard ? apply_standard(nodes) : apply_compat(nodes);
}

// ---- the other members -----------------------------------------------------------

bool locked_query_cache::erase(std::string_view id) {
  detail::writer_lock<std::mutex> lock(mutex_);
  const auto held = entries_.find(id);
  if (held == entries_.end()) return false;
  remove(held);  // compat: its heap items stay, stale, as after an overwrite
  return true;
}

bool locked_query_cache::contains(std::string_view id) const noexcept {
  read_lock lock(mutex_);
  return entries_.find(id) != entries_.end();
}

bool locked_query_cache::visit_entry(std::string_view id, detail::entry_visitor f) const {
  read_lock lock(mutex_);
  const auto held = entries_.find(id);
  if (held == entries_.end()) return false;
  f(held->second.rec->entry);
  return true;
}

std::optional<query_entry> locked_query_cache::find(std::string_view id) const {
  std::optional<query_entry> copy;
  visit(id, [&](const query_entry& e) { copy.emplace(e); });
  return copy;
}

std::optional<cache_hit> locked_query_cache::lookup(std::string_view sql, cache_clock::duration max_age,
                                                    std::size_t max_inspections,
                                                    cache_clock::time_point now) const {
  detail::check_inspections(max_inspections);
  std::optional<cache_hit> hit;
  std::size_t examined = 0;
  if (max_age > cache_clock::duration::zero()) {  // otherwise caching is disabled: nothing examined
    const std::string key = detail::normal_form(sql, mode_);
    read_lock lock(mutex_);
    const auto group = by_text_.find(key);
    SNAPCACHE_PERTURB();  // a writer may run here if the lock is not held (planted bug 4)
    if (group != by_text_.end()) {
      // The first match in candidate order decides (see query_cache.cpp).
      const record_ptr& m = group->second.begin()->rec;
      if (detail::older_than(*m->entry.completed_at, now, max_age)) {
        examined = 1;
      } else if (max_inspections == unlimited) {
        examined = 1;
        hit = detail::make_hit(*m);
      } else {
        for (const candidate_key& c : candidates_) {
          SNAPCACHE_PERTURB();  // as above: mid-walk
          ++examined;
          if (c.rec == m) {
            hit = detail::make_hit(*m);
            break;
          }
          if (examined >= max_inspections) break;
        }
      }
    }
  }
  inspections_.fetch_add(examined, relaxed);
  (hit ? hits_ : misses_).fetch_add(1, relaxed);
  lookups_.fetch_add(1, relaxed);
  return hit;
}

locked_query_cache::candidate_view locked_query_cache::candidates() const {
  read_lock lock(mutex_);
  std::vector<record_ptr> copy;
  copy.reserve(candidates_.size());
  for (const candidate_key& c : candidates_) {
    SNAPCACHE_PERTURB();  // a writer may rebalance the set here if the lock is not held (planted bug 4)
    copy.push_back(c.rec);
  }
  return candidate_view(std::move(copy));
}

void locked_query_cache::set_capacity(std::size_t n) {
  detail::check_capacity(n);
  detail::writer_lock<std::mutex> lock(mutex_);
  capacity_ = n;
  if (mode_ == cache_mode::compat) return;  // compat evicts at its next batch
  while (entries_.size() > capacity_) evict_oldest_standard();
}

std::size_t locked_query_cache::capacity() const {
  read_lock lock(mutex_);
  return capacity_;
}

std::size_t locked_query_cache::size() const {
  read_lock lock(mutex_);
  return entries_.size();
}

cache_stats locked_query_cache::stats() const noexcept {
  cache_stats s;
  s.lookups = lookups_.load(relaxed);
  s.hits = hits_.load(relaxed);
  s.misses = misses_.load(relaxed);
  s.inserts = inserts_.load(relaxed);
  s.replacements = replacements_.load(relaxed);
  s.evictions = evictions_.load(relaxed);
  s.drops = drops_.load(relaxed);
  s.inspections = inspections_.load(relaxed);
  return s;
}

}  // namespace snapcache
