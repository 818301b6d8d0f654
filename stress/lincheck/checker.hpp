// A linearizability checker for recorded histories (history.hpp).
//
// A history is linearizable when its operations can be put in one sequential
// order that respects real time (A before B whenever A responded before B was
// invoked) and in which every result matches a sequential map. check() looks
// for such an order with the Wing & Gong search: it repeatedly linearizes an
// operation that no other pending operation precedes, if its result is legal
// in the model state, and backtracks when stuck. Lowe's memoisation prunes
// the search: a (set of linearized operations, model state) pair already
// explored is never explored again, which turns the factorial blow-up of
// wide histories into a walk over distinct cuts.
//
// When not to use it: the search is still exponential in the worst case, so
// keep histories short (tens of operations for check(), a few hundred per key
// for check_per_key()) and always pass a step cap. A cap hit proves nothing
// either way; callers must treat it as a failure and say so loudly.
//
// Sequential model: insert(k, v) -> ok iff k was absent, then k = v;
// insert_or_assign(k, v) -> ok iff k was absent, k = v in any case;
// erase(k) -> ok iff k was present, then k is absent; find(k) -> ok iff k is
// present, with found_value its value; snapshot() -> contents equal the map.
#pragma once

#include <cstddef>
#include <string>

#include "lincheck/history.hpp"

namespace snapcache::lincheck {

struct check_result {
  bool linearizable = false;  // false also when the cap was hit or the history is malformed
  bool cap_hit = false;       // the search stopped at step_cap: inconclusive
  std::size_t steps = 0;      // operations tried against the model
  std::string explanation;    // why not, naming operations by their index in the history
};

// Checks `h` against a whole-map model. Each attempt to apply an operation to
// the model is one step.
[[nodiscard]] check_result check(const history& h, std::size_t step_cap = 1'000'000);

// Checks each key's operations on their own against a single-register model;
// linearizability is local (Herlihy & Wing), so for histories without
// snapshots this agrees with check() and is much cheaper. A history with a
// snapshot is rejected as malformed. step_cap bounds the steps of all keys
// together.
[[nodiscard]] check_result check_per_key(const history& h, std::size_t step_cap = 1'000'000);

// A smaller history that still fails, for reports; `h` itself when it does
// not fail (or only hits the cap). It drops only what cannot create a failure
// of its own, so the result's failure implies the input's: whole keys (and
// their entries in snapshots), and operations that leave the map unchanged
// (find, snapshot, insert or erase returning false). Dropping a write could
// turn a correct read into a spurious failure.
[[nodiscard]] history smallest_failing(const history& h);

// One operation, e.g. "t2 [17, 23] insert(4, 9) -> true".
[[nodiscard]] std::string format(const operation& op);
// One operation per line, prefixed by its index ("#5 ").
[[nodiscard]] std::string format(const history& h);

}  // namespace snapcache::lincheck
