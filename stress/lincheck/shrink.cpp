// Shrinks a failing history for reports (smallest_failing).
//
// Only two reductions are used, because each keeps "the input is
// linearizable" implying "the result is": dropping a key everywhere
// (linearizability is local, and a snapshot restricted to the kept keys is
// still exact), and dropping an operation that leaves the map unchanged
// (removing it from a legal order leaves every other result legal). So the
// result fails only where the input does. Dropping a write is not sound: the
// read that saw it would fail in its place and hide the real fault.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <functional>
#include <set>
#include <vector>

#include "lincheck/checker.hpp"

namespace snapcache::lincheck {

namespace {

bool fails(const history& h) {
  const bool snapshots = std::any_of(
      h.begin(), h.end(), [](const operation& op) { return op.kind == op_kind::snapshot; });
  const check_result r = snapshots ? check(h) : check_per_key(h);
  return !r.linearizable && !r.cap_hit;  // a cap hit proves nothing
}

bool leaves_map_unchanged(const operation& op) {
  switch (op.kind) {
    case op_kind::find:
    case op_kind::snapshot:
      return true;
    case op_kind::insert:
    case op_kind::erase:
      return !op.ok;
    case op_kind::insert_or_assign:
      return false;
  }
  return false;
}

// Drops as many of `count` units as it can while build(kept) still fails:
// halves of the units first, then smaller runs, then single units until no
// single drop is left that keeps the failure.
std::vector<bool> minimise(std::size_t count,
                           const std::function<history(const std::vector<bool>&)>& build) {
  std::vector<bool> kept(count, true);
  auto try_drop = [&](std::size_t from, std::size_t to) {
    std::vector<bool> trial = kept;
    bool any = false;
    for (std::size_t i = from; i < to; ++i) {
      any = any || trial[i];
      trial[i] = false;
    }
    if (!any || !fails(build(trial))) return false;
    kept = std::move(trial);
    return true;
  };
  for (std::size_t run = std::bit_floor(std::max<std::size_t>(count, 1)) / 2; run > 1; run /= 2)
    for (std::size_t from = 0; from < count; from += run)
      try_drop(from, std::min(from + run, count));
  for (bool dropped = true; dropped;) {
    dropped = false;
    for (std::size_t i = 0; i < count; ++i) dropped = try_drop(i, i + 1) || dropped;
  }
  return kept;
}

history drop_keys(const history& h) {
  std::set<std::uint64_t> key_set;
  for (const operation& op : h) {
    if (op.kind != op_kind::snapshot) key_set.insert(op.key);
    for (const auto& e : op.contents) key_set.insert(e.first);
  }
  const std::vector<std::uint64_t> keys(key_set.begin(), key_set.end());
  auto build = [&](const std::vector<bool>& kept) {
    auto is_kept = [&](std::uint64_t key) {
      return kept[static_cast<std::size_t>(std::lower_bound(keys.begin(), keys.end(), key) -
                                           keys.begin())];
    };
    history out;
    for (const operation& op : h) {
      if (op.kind != op_kind::snapshot && !is_kept(op.key)) continue;
      out.push_back(op);
      std::erase_if(out.back().contents, [&](const auto& e) { return !is_kept(e.first); });
    }
    return out;
  };
  return build(minimise(keys.size(), build));
}

history drop_unchanging_ops(const history& h) {
  std::vector<std::size_t> droppable;
  for (std::size_t i = 0; i < h.size(); ++i)
    if (leaves_map_unchanged(h[i])) droppable.push_back(i);
  auto build = [&](const std::vector<bool>& kept) {
    std::vector<bool> keep(h.size(), true);
    for (std::size_t j = 0; j < droppable.size(); ++j) keep[droppable[j]] = kept[j];
    history out;
    for (std::size_t i = 0; i < h.size(); ++i)
      if (keep[i]) out.push_back(h[i]);
    return out;
  };
  return build(minimise(droppable.size(), build));
}

}  // namespace

history smallest_failing(const history& h) {
  if (!fails(h)) return h;
  history best = h;
  // Each reduction may enable the other; stop when neither shrinks.
  for (std::size_t before = 0; before != best.size();) {
    before = best.size();
    best = drop_unchanging_ops(drop_keys(best));
  }
  return best;
}

}  // namespace snapcache::lincheck
