// An execution graph of a small concurrent program, and the consistency
// axioms of RC11, the repaired C11 model whose seq_cst semantics C++20
// adopted.
//
// Why: Relacy (stress/relacy/) explores interleavings, so a seq_cst load
// always sees the latest seq_cst store, and TSan does not model store
// buffering at all. Neither can show an execution in which a relaxed load
// reads a value *later* than a following seq_cst load does; the axiomatic
// model can. The explorer (explorer.hpp) builds every graph of a program and
// keeps those this file calls consistent.
//
// The model is RC11 (Lahav, Vafeiadis, Kang, Hur, Dreyer, "Repairing
// sequential consistency in C/C++11", PLDI 2017), which C++20 adopted for
// seq_cst (P0668), with C++20's release sequences (P0982: only
// read-modify-writes continue one). One difference from C++20 on purpose:
// RC11 requires po | rf to be acyclic, which forbids load buffering (a
// relaxed load reading a store that depends on nothing but comes later in
// another thread), an outcome C++20 allows and ARMv8 and POWER can show. So
// a verdict "no violation" holds for the executions without such cycles;
// the protocols checked here order every reads-from edge they rely on with
// release and acquire or stronger, where such a cycle breaks coherence
// anyway. Events are atomic loads, stores and
// read-modify-writes (one event each: it reads and writes), and non-atomic
// reads and writes, whose races (two conflicting accesses of different
// threads, one non-atomic, unordered by happens-before) make a program
// undefined; fences are not modelled (snapcache's protocol paths use none).
// Relations over at most 64 events are rows of bits.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rc11 {

using value = std::uint64_t;

enum class event_kind : std::uint8_t {
  init,   // a location's initial value: before everything, first in its mo
  read,   // a load, or a failed compare-exchange (with its failure order)
  write,  // a store
  rmw,    // a successful compare-exchange, a fetch_add: reads and writes
};

struct event {
  event_kind kind = event_kind::read;
  int thread = -1;  // -1: init
  int index = 0;    // position in its thread
  int location = 0;
  std::memory_order order = std::memory_order_relaxed;  // of an atomic event
  bool atomic = true;  // false: a plain read or write (kind read or write)
  value read_value = 0;     // read and rmw
  value written_value = 0;  // init, write and rmw
  int reads_from = -1;      // read and rmw: the event (graph index) it reads

  bool reads() const noexcept { return kind == event_kind::read || kind == event_kind::rmw; }
  bool writes() const noexcept { return kind != event_kind::read; }
};

class execution_graph {
 public:
  static constexpr int max_events = 64;

  // One init event per location, in location order.
  explicit execution_graph(const std::vector<value>& initial_values);

  const std::vector<event>& events() const noexcept { return events_; }
  // Modification order of a location: init first.
  const std::vector<int>& modification_order(int location) const { return mo_[static_cast<std::size_t>(location)]; }
  int location_count() const noexcept { return static_cast<int>(mo_.size()); }

  // Adds `e` (its reads_from set for reads and rmws) as the next event of
  // its thread. A write or rmw goes into its location's modification order
  // at `mo_position` (1 = right after init). Returns its index.
  int add(const event& e, std::size_t mo_position = 0);

  // Empty if the graph is RC11-consistent, else the axiom it breaks.
  std::optional<std::string> violated_axiom() const;

  // A location on which a consistent graph has a data race, if any.
  std::optional<int> racy_location() const;

  // The events, thread by thread, with what each read and the modification
  // orders: a counterexample a person can read.
  std::string describe(const std::vector<std::string>& location_names) const;

 private:
  struct relations;
  relations derive() const;

  std::vector<event> events_;
  std::vector<std::vector<int>> mo_;
};

}  // namespace rc11
