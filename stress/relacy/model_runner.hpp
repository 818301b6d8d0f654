// Runs Relacy models exhaustively to a context bound (2 unless a model asks
// for more) and prints one line per model: its name, the entry this build
// weakened, the result and the count of executions explored. -v prints
// Relacy's own report (with the failing history) as well. A model includes this header first: it brings in the
// order table and Relacy (rl_orders.hpp) after the standard headers it needs.
#pragma once

#include <chrono>
#include <cstring>
#include <iostream>
#include <streambuf>
#include <string>

#include "rl_orders.hpp"

namespace snapcache::model {

// Relacy replaces operator new and delete while a model runs, so its report
// goes to a fixed buffer that never allocates (the rest is cut).
class fixed_buffer : public std::streambuf {
 public:
  fixed_buffer() { reset(); }
  void reset() { setp(text_, text_ + sizeof text_); }
  std::string str() const { return std::string(pbase(), pptr()); }

 private:
  char text_[1 << 16];
};

struct runner {
  bool verbose = false;
  int failures = 0;

  runner(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) verbose |= std::strcmp(argv[i], "-v") == 0;
  }

  // Runs a model whose checks must hold, to `bound` preemptions.
  template <class Model>
  void run(const char* name, int bound = 2) {
    const bool passed = explore<Model>(name, "passed", "FAILED", false, bound);
    failures += passed ? 0 : 1;
  }

  // Runs a model with a bug planted on purpose: its checks must fail, or
  // they have no teeth. A planted model that passes counts as a failure.
  template <class Model>
  void run_planted(const char* name, int bound = 2) {
    const bool passed = explore<Model>(name, "NOT CAUGHT", "caught", true, bound);
    failures += passed ? 1 : 0;
  }

  int exit_code() const { return failures == 0 ? 0 : 1; }

 private:
  template <class Model>
  bool explore(const char* name, const char* if_passed, const char* if_failed, bool planted, int bound) {
    rl::test_params params;
    params.search_type = rl::sched_bound;  // every schedule with at most `bound` preemptions
    params.context_bound = bound;
    static fixed_buffer buffer;
    buffer.reset();
    std::ostream report(&buffer);
    params.output_stream = &report;
    params.progress_stream = &report;
    const auto start = std::chrono::steady_clock::now();
    const bool passed = rl::simulate<Model>(params);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    std::cout << name << " [weakened: " << weakened_entry() << "]: " << (passed ? if_passed : if_failed) << " ("
              << rl::test_result_str(params.test_result) << ", " << params.stop_iteration << " executions, "
              << ms.count() << " ms)\n";
    // A planted model's failure is expected: its history only on -v.
    if (verbose || (!passed && !planted)) {
      std::string text = buffer.str();
      if (!verbose && text.size() > 4000) text = text.substr(0, 4000) + "\n... (-v for the whole history)\n";
      std::cout << text << '\n';
    }
    return passed;
  }
};

}  // namespace snapcache::model
