// A one-line progress indicator on stderr, shown only when stderr is a
// terminal: a redirected run (a log file, CI, the meson tests) gets clean
// output with no carriage returns in it.
#pragma once

#include <chrono>
#include <string>

namespace snapcache::compare {

class progress_line {
 public:
  progress_line();
  bool enabled() const noexcept { return enabled_; }
  // Replaces the line with `text` and the time since construction.
  void show(const std::string& text);
  // Ends the line (if one is shown), so later output starts on a fresh one.
  void finish();

 private:
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace snapcache::compare
