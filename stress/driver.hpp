// The shared driver of the stress suites: command-line options, the time
// box, a progress line on terminals, and the closing verdict.
//
// Every suite takes --threads N, --seconds S, --seed X (printed, so a failing
// run can be replayed), runs its scenario, checks named invariants and ends
// with the line "N passed, N failed"; the exit status is non-zero when any
// invariant failed.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace snapcache::stress {

struct options {
  unsigned threads = 4;
  double seconds = 2.0;
  std::uint64_t seed = 0;  // 0 on the command line: pick one from the clock
  std::string variant;     // which structure, for suites that run several (--variant)
};

// Parses argv; prints usage and exits with status 2 on bad input. `variants`
// lists the names --variant accepts, the first being the default; a suite
// without variants passes none and rejects the flag.
options parse_options(int argc, char** argv, const char* suite, const char* description,
                      const std::vector<std::string>& variants = {});

// A deadline that workers poll, with a progress line while it runs.
class time_box {
 public:
  explicit time_box(double seconds) noexcept;
  [[nodiscard]] bool running() const noexcept;
  // Runs `workers` threads of `body(index)` until the deadline, printing
  // progress (`status()`) on a terminal; joins them. A worker still running
  // 10 s + twice the box after the deadline is stuck: prints "no progress"
  // and ends the process with status 3 (a lock-free operation must end),
  // unless a worker stopped the box early (a violation being reported).
  void run(unsigned workers, const std::function<void(unsigned)>& body,
           const std::function<std::string()>& status) const;
  // Stops early: a worker found a violation (the watchdog then waits for
  // its report however long it takes).
  void stop() const noexcept;

 private:
  std::chrono::steady_clock::time_point deadline_;
  double seconds_;
  mutable std::atomic<bool> stopped_{false};
};

// Collects the verdict of each named invariant.
class verdict {
 public:
  explicit verdict(std::string suite) : suite_(std::move(suite)) {}
  // Records one invariant: `ok`, or a failure described by `detail`.
  void check(const std::string& name, bool ok, const std::string& detail = {});
  // Prints "N passed, N failed" and returns the process exit status.
  [[nodiscard]] int finish(const options& opts) const;

 private:
  std::string suite_;
  std::size_t passed_ = 0;
  std::size_t failed_ = 0;
};

// A small, fast, seedable generator for workers (splitmix64).
class rng {
 public:
  explicit rng(std::uint64_t seed) noexcept : state_(seed) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t bound) noexcept { return next() % bound; }

 private:
  std::uint64_t state_;
};

// The splitmix64 finaliser: derives well-spread values from keys and seeds.
inline std::uint64_t mix(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Counts one kind of violation and prints its first occurrence.
class violation_counter {
 public:
  explicit violation_counter(const char* message) : message_(message) {}
  void report(const std::string& detail, const time_box& box) {
    count_.fetch_add(1, std::memory_order_relaxed);  // statistic only
    if (!reported_.exchange(true, std::memory_order_relaxed)) {  // first report only
      std::printf("%s: %s\n", message_, detail.c_str());
      std::fflush(stdout);
    }
    box.stop();
  }
  [[nodiscard]] std::uint64_t count() const noexcept { return count_.load(); }
  [[nodiscard]] std::string summary() const {
    return std::string(message_) + " (" + std::to_string(count()) + " times)";
  }

 private:
  const char* message_;
  std::atomic<std::uint64_t> count_{0};
  std::atomic<bool> reported_{false};
};

}  // namespace snapcache::stress
