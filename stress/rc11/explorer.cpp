#include "explorer.hpp"

#include <optional>
#include <stdexcept>
#include <unordered_set>

namespace rc11 {

struct thread_context::operation {
  enum class type : std::uint8_t { load, store, compare_exchange, fetch_add, exchange, plain_read, plain_write };
  type kind = type::load;
  int location = 0;
  std::memory_order order = std::memory_order_seq_cst;
  std::memory_order failure_order = std::memory_order_seq_cst;
  value operand = 0;  // store: the value; compare_exchange: expected; fetch_add: delta
  value desired = 0;  // compare_exchange
};

// One run of a thread function against the events it already has.
struct thread_context::replay {
  std::vector<event> done;  // the thread's events, in program order
  std::size_t cursor = 0;
  std::size_t event_limit = 0;
  std::optional<operation> next;  // the operation after `done`, if any
  outcome registers;
  std::vector<std::string> failed_checks;
};

namespace {

// Ends a replay at the thread's first operation that has no event yet.
struct stop_replay {};

bool matches(const thread_context::operation& op, const event& e) {
  using type = thread_context::operation::type;
  if (op.location != e.location) return false;
  switch (op.kind) {
    case type::load: return e.kind == event_kind::read && e.atomic;
    case type::store: return e.kind == event_kind::write && e.atomic && e.written_value == op.operand;
    case type::plain_read: return e.kind == event_kind::read && !e.atomic;
    case type::plain_write: return e.kind == event_kind::write && !e.atomic && e.written_value == op.operand;
    case type::compare_exchange: return e.kind == event_kind::rmw || e.kind == event_kind::read;
    case type::fetch_add: return e.kind == event_kind::rmw;
    case type::exchange: return e.kind == event_kind::rmw && e.written_value == op.operand;
  }
  return false;
}

}  // namespace

value thread_context::perform(const operation& op, bool& succeeded) {
  replay& r = *replay_;
  if (r.cursor < r.done.size()) {
    const event& e = r.done[r.cursor++];
    if (!matches(op, e)) throw std::logic_error("rc11: a thread did not repeat its operations (nondeterministic?)");
    succeeded = e.kind == event_kind::rmw;
    return e.read_value;
  }
  if (r.done.size() >= r.event_limit) {
    throw std::logic_error("rc11: a thread exceeded " + std::to_string(r.event_limit) + " events: bound its loops");
  }
  r.next = op;
  throw stop_replay{};
}

value thread_context::load(location at, std::memory_order order) {
  bool unused = false;
  return perform({operation::type::load, at.id, order, order, 0, 0}, unused);
}

void thread_context::store(location at, value v, std::memory_order order) {
  bool unused = false;
  perform({operation::type::store, at.id, order, order, v, 0}, unused);
}

bool thread_context::compare_exchange(location at, value& expected, value desired, std::memory_order success,
                                      std::memory_order failure) {
  bool succeeded = false;
  const value seen = perform({operation::type::compare_exchange, at.id, success, failure, expected, desired}, succeeded);
  if (!succeeded) expected = seen;
  return succeeded;
}

value thread_context::fetch_add(location at, value delta, std::memory_order order) {
  bool unused = false;
  return perform({operation::type::fetch_add, at.id, order, order, delta, 0}, unused);
}

value thread_context::exchange(location at, value v, std::memory_order order) {
  bool unused = false;
  return perform({operation::type::exchange, at.id, order, order, v, 0}, unused);
}

value thread_context::read_nonatomic(location at) {
  bool unused = false;
  return perform({operation::type::plain_read, at.id, std::memory_order_relaxed, std::memory_order_relaxed, 0, 0},
                 unused);
}

void thread_context::write_nonatomic(location at, value v) {
  bool unused = false;
  perform({operation::type::plain_write, at.id, std::memory_order_relaxed, std::memory_order_relaxed, v, 0}, unused);
}

void thread_context::record(const std::string& name, value v) { replay_->registers[name] = v; }

void thread_context::check(bool ok, const std::string& what) {
  if (!ok) replay_->failed_checks.push_back(what);
}

location program::add_location(std::string name, value initial) {
  names_.push_back(std::move(name));
  initial_.push_back(initial);
  return location{static_cast<int>(names_.size() - 1)};
}

void program::add_thread(std::function<void(thread_context&)> body) { threads_.push_back(std::move(body)); }

namespace {

class explorer {
 public:
  explorer(const program& p, const limits& bounds) : program_(p), limits_(bounds) {}

  exploration run() {
    visit(execution_graph(program_.initial_values()));
    return std::move(result_);
  }

 private:
  using operation = thread_context::operation;

  thread_context::replay replay_thread(const execution_graph& g, int thread) const {
    thread_context::replay r;
    r.event_limit = limits_.events_per_thread;
    for (const event& e : g.events()) {
      if (e.thread == thread) r.done.push_back(e);
    }
    thread_context context(r);
    try {
      program_.threads()[static_cast<std::size_t>(thread)](context);
    } catch (const stop_replay&) {
      return r;
    }
    if (r.cursor != r.done.size()) throw std::logic_error("rc11: a thread ended early on replay (nondeterministic?)");
    return r;
  }

  // Graph indices are addition order, which differs between paths to the
  // same graph: name events by (thread, index) instead. A graph has at most
  // 64 events, so index < 64; names, init events and separators take
  // disjoint ranges of char32_t.
  std::string canonical_key(const execution_graph& g) const {
    constexpr char32_t init_base = 0x100000, write_mark = 0x10FFF0, thread_end = 0x10FFF1, location_end = 0x10FFF2;
    auto name = [&](int id) {
      const event& e = g.events()[static_cast<std::size_t>(id)];
      return e.kind == event_kind::init ? init_base + static_cast<char32_t>(e.location)
                                        : static_cast<char32_t>(e.thread * execution_graph::max_events + e.index + 1);
    };
    std::u32string key;
    for (int t = 0; t < static_cast<int>(program_.threads().size()); ++t) {
      for (std::size_t i = 0; i < g.events().size(); ++i) {  // addition order is program order within a thread
        const event& e = g.events()[i];
        if (e.thread != t) continue;
        key += e.reads() ? name(e.reads_from) : write_mark;
      }
      key += thread_end;
    }
    for (int loc = 0; loc < g.location_count(); ++loc) {
      for (int id : g.modification_order(loc)) key += name(id);
      key += location_end;
    }
    return std::string(reinterpret_cast<const char*>(key.data()), key.size() * sizeof(char32_t));
  }

  void try_extension(const execution_graph& g, const event& e, std::size_t mo_position) {
    execution_graph next = g;
    next.add(e, mo_position);
    if (!next.violated_axiom()) visit(next);
  }

  void extend(const execution_graph& g, int thread, std::size_t index, const operation& op) {
    event e;
    e.thread = thread;
    e.index = static_cast<int>(index);
    e.location = op.location;
    e.order = op.order;
    e.atomic = op.kind != operation::type::plain_read && op.kind != operation::type::plain_write;
    const auto& mo = g.modification_order(op.location);
    if (op.kind == operation::type::store || op.kind == operation::type::plain_write) {
      e.kind = event_kind::write;
      e.written_value = op.operand;
      for (std::size_t position = 1; position <= mo.size(); ++position) try_extension(g, e, position);
      return;
    }
    for (std::size_t position = 0; position < mo.size(); ++position) {  // every write it may read
      const int source = mo[position];
      const value seen = g.events()[static_cast<std::size_t>(source)].written_value;
      e.reads_from = source;
      e.read_value = seen;
      switch (op.kind) {
        case operation::type::load:
        case operation::type::plain_read:
          e.kind = event_kind::read;
          try_extension(g, e, 0);
          break;
        case operation::type::fetch_add:
        case operation::type::exchange:
          e.kind = event_kind::rmw;
          e.written_value = op.kind == operation::type::exchange ? op.operand : seen + op.operand;
          try_extension(g, e, position + 1);  // atomicity: right after what it read
          break;
        case operation::type::compare_exchange:
          if (seen == op.operand) {
            e.kind = event_kind::rmw;
            e.order = op.order;
            e.written_value = op.desired;
            try_extension(g, e, position + 1);
          } else {
            e.kind = event_kind::read;
            e.order = op.failure_order;
            try_extension(g, e, 0);
          }
          break;
        case operation::type::store:
        case operation::type::plain_write: break;
      }
    }
  }

  void visit(const execution_graph& g) {
    if (!seen_.insert(canonical_key(g)).second) return;
    if (++result_.graphs > limits_.graphs) {
      throw std::length_error("rc11: more than " + std::to_string(limits_.graphs) + " graphs; shrink the program");
    }
    const int threads = static_cast<int>(program_.threads().size());
    bool finished = true;
    std::vector<thread_context::replay> ends;
    for (int t = 0; t < threads; ++t) {
      thread_context::replay r = replay_thread(g, t);
      if (r.next) {
        finished = false;
        extend(g, t, r.done.size(), *r.next);
      } else {
        ends.push_back(std::move(r));
      }
    }
    if (finished) record_execution(g, ends);
  }

  void record_execution(const execution_graph& g, const std::vector<thread_context::replay>& ends) {
    ++result_.executions;
    outcome o;
    std::vector<std::string> failed;
    for (const auto& r : ends) {
      for (const auto& [name, v] : r.registers) {
        if (!o.emplace(name, v).second) throw std::logic_error("rc11: register " + name + " recorded by two threads");
      }
      failed.insert(failed.end(), r.failed_checks.begin(), r.failed_checks.end());
    }
    if (result_.outcomes.count(o) == 0) result_.outcomes.emplace(o, g.describe(program_.location_names()));
    if (const auto racy = g.racy_location()) {
      failed.push_back("data race on " + program_.location_names()[static_cast<std::size_t>(*racy)]);
    }
    for (const auto& what : failed) {
      if (result_.violations.count(what) == 0) result_.violations.emplace(what, g.describe(program_.location_names()));
    }
  }

  const program& program_;
  const limits& limits_;
  std::unordered_set<std::string> seen_;
  exploration result_;
};

}  // namespace

exploration explore(const program& p, const limits& bounds) { return explorer(p, bounds).run(); }

}  // namespace rc11
