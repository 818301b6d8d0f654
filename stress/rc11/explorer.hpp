// Every RC11-consistent execution of a small program, and what each thread
// observed in it.
//
// A program is a few locations with initial values and a few threads, each a
// deterministic function of the values its atomic operations return. The
// explorer grows execution graphs (execution_graph.hpp) one event at a time:
// it replays a thread against the values its events already read to learn
// its next operation, then tries every write that operation may read from
// and every place in modification order its write may take, keeping only
// consistent graphs. Threads are extended in every order, so every
// RC11-consistent execution is reached (RC11 requires po | rf acyclic: add
// the events in a topological order of it); graphs already seen are skipped.
// Exhaustive, so meant for litmus-sized programs: a few threads of a few
// operations, at most 64 events.
//
// Thread functions must be deterministic, must not catch exceptions that
// thread_context throws, and must bound their loops (an execution of more
// than `limits::events_per_thread` events of one thread is an error).
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "execution_graph.hpp"

namespace rc11 {

struct location {
  int id = 0;
};

// What a thread function sees: atomic operations on the program's
// locations, and `record`/`check` for the outcome.
class thread_context {
 public:
  value load(location at, std::memory_order order);
  void store(location at, value v, std::memory_order order);
  // Strong compare-exchange: on failure `expected` takes the value read.
  bool compare_exchange(location at, value& expected, value desired, std::memory_order success,
                        std::memory_order failure);
  value fetch_add(location at, value delta, std::memory_order order);
  value fetch_sub(location at, value delta, std::memory_order order) { return fetch_add(at, value{0} - delta, order); }
  value exchange(location at, value v, std::memory_order order);
  // Plain (non-atomic) accesses: a race on one is a violation.
  value read_nonatomic(location at);
  void write_nonatomic(location at, value v);

  // A named register of the outcome (names are program-wide).
  void record(const std::string& name, value v);
  // A thread-local assertion; a failure in a consistent execution is a
  // violation.
  void check(bool ok, const std::string& what);

  // Internal: the explorer replays a thread through these.
  struct operation;
  struct replay;
  explicit thread_context(replay& r) : replay_(&r) {}

 private:
  value perform(const operation& op, bool& succeeded);
  replay* replay_;
};

class program {
 public:
  location add_location(std::string name, value initial);
  void add_thread(std::function<void(thread_context&)> body);

  const std::vector<std::string>& location_names() const noexcept { return names_; }
  const std::vector<value>& initial_values() const noexcept { return initial_; }
  const std::vector<std::function<void(thread_context&)>>& threads() const noexcept { return threads_; }

 private:
  std::vector<std::string> names_;
  std::vector<value> initial_;
  std::vector<std::function<void(thread_context&)>> threads_;
};

using outcome = std::map<std::string, value>;

struct limits {
  std::size_t events_per_thread = 24;
  std::size_t graphs = 5'000'000;  // partial graphs visited: beyond, explore() throws
};

struct exploration {
  std::size_t executions = 0;  // consistent complete executions
  std::size_t graphs = 0;      // consistent partial graphs visited
  // Each outcome reached, with one execution that reaches it.
  std::map<outcome, std::string> outcomes;
  // Failed checks and data races ("data race on <location>"), each with
  // one execution that shows it.
  std::map<std::string, std::string> violations;

  bool allows(const outcome& o) const { return outcomes.count(o) != 0; }
};

// Throws std::logic_error for a nondeterministic or unbounded thread and
// std::length_error past `limits::graphs`.
exploration explore(const program& p, const limits& bounds = {});

}  // namespace rc11
