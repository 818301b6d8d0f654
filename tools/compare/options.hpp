// snapcache-compare's command line: what to run, parsed and checked.
//
// The problem. A benchmark run that takes minutes must not start with a
// typo in it, and scripts calling it need to tell a bad command line from a
// failed run. So every value is checked before anything runs, and a bad
// command line exits with status 2 (help: 0; a run that failed: 1).
//
// The mechanism. CLI11 parses the flags; validators reject thread counts of
// 0, non-positive seconds, repeats of 0, unknown workloads and unknown
// variants, each with a message naming the flag and the value.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "harness/workload.hpp"  // workload_kind

namespace snapcache::compare {

struct options {
  bool seed = true;                                    // run the query-cache seed scenario
  std::vector<bench::workload_kind> map_workloads{bench::workload_kind::c};
  std::vector<std::string> variants;                   // empty: every variant
  std::vector<unsigned> threads{1, 2};
  double seconds = 0.2;
  unsigned repeats = 3;
  std::string out_dir = "compare-out";
  std::size_t capacity = 10'000;                       // seed scenario's cache
  bool read_only = false;                              // seed scenario without inserts
  bool lookup_cost = true;
  bool plots = true;
  bool pin = true;
  bool list = false;
};

// The parsed options, or the exit status to leave with (0 after --help, 2
// after a bad command line; the message is already printed).
struct parse_outcome {
  std::optional<options> parsed;
  int exit_status = 0;
};
parse_outcome parse_options(int argc, char** argv);

}  // namespace snapcache::compare
