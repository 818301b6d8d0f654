// The record of a concurrent run on a map of uint64 keys to uint64 values, and
// the recorder that writes it.
//
// A stress suite wraps each map call in recorder::record, which stamps the
// invocation and the response from one global counter and keeps the results;
// after the workers join, merge() gives the history that the checker
// (checker.hpp) tests for linearizability. Operation A precedes B in real time
// when A.responded < B.invoked; otherwise they overlap and may linearize in
// either order.
//
// The counter is shared by every thread, so recording serialises the workers
// a little: it is a testing aid, not for benchmarks. An operation that throws
// is not recorded; a suite whose operations may throw must not record them
// through record().
#pragma once

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstdint>
#include <utility>
#include <vector>

namespace snapcache::lincheck {

enum class op_kind { insert, insert_or_assign, erase, find, snapshot };

// One completed operation: its arguments, its results and its interval.
struct operation {
  unsigned thread = 0;
  op_kind kind = op_kind::find;
  std::uint64_t key = 0;    // unused by snapshot
  std::uint64_t value = 0;  // the argument of insert and insert_or_assign
  // insert, insert_or_assign: the key was absent; erase: it was present;
  // find: it was found (then found_value holds its value).
  bool ok = false;
  std::uint64_t found_value = 0;
  // snapshot: the whole map, sorted by key.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> contents;
  // Stamps from one counter; invoked < responded.
  std::uint64_t invoked = 0;
  std::uint64_t responded = 0;
};

using history = std::vector<operation>;

// Records operations of type Op (any struct with thread, invoked and
// responded members) from a fixed number of threads, each into its own
// buffer. Thread-safety: record(t, ...) may run concurrently for distinct t;
// one thread index must be used by one thread at a time. merge() must follow
// the joins of the recording threads.
template <class Op>
class basic_recorder {
 public:
  explicit basic_recorder(unsigned threads, std::size_t reserve_per_thread = 0) : buffers_(threads) {
    for (auto& b : buffers_) b.ops.reserve(reserve_per_thread);
  }

  // Runs `call(op)` as thread `thread`'s next operation. `call` performs the
  // operation described by `op` and fills its results (ok, found_value,
  // contents); the stamps bracket it.
  template <class Call>
  void record(unsigned thread, Op op, Call&& call) {
    assert(thread < buffers_.size() && "thread index out of range");
    op.thread = thread;
    op.invoked = tick();
    std::forward<Call>(call)(op);
    op.responded = tick();
    buffers_[thread].ops.push_back(std::move(op));
  }

  // Every recorded operation, ordered by invocation.
  [[nodiscard]] std::vector<Op> merge() const {
    std::vector<Op> h;
    for (const auto& b : buffers_) h.insert(h.end(), b.ops.begin(), b.ops.end());
    std::sort(h.begin(), h.end(),
              [](const Op& a, const Op& b) { return a.invoked < b.invoked; });
    return h;
  }

 private:
  // seq_cst: each stamp is a full barrier on the target and takes its place in
  // the single total order of seq_cst operations, so the map's own accesses
  // cannot move out of the interval between the stamps around them.
  std::uint64_t tick() noexcept { return clock_.fetch_add(1, std::memory_order_seq_cst); }

  // Aligned so that one thread's appends do not share a cache line with
  // another's.
  struct alignas(64) buffer {
    std::vector<Op> ops;
  };

  std::vector<buffer> buffers_;
  alignas(64) std::atomic<std::uint64_t> clock_{1};  // 0 is never a stamp: unrecorded
};

using recorder = basic_recorder<operation>;

}  // namespace snapcache::lincheck
