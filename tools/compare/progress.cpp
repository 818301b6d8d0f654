#include "progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace snapcache::compare {

progress_line::progress_line() : enabled_(isatty(STDERR_FILENO) == 1), start_(std::chrono::steady_clock::now()) {}

void progress_line::show(const std::string& text) {
  if (!enabled_) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  // \033[K clears what a longer previous line left behind.
  std::fprintf(stderr, "\r[%4.0fs] %s\033[K", elapsed, text.c_str());
  std::fflush(stderr);
  shown_ = true;
}

void progress_line::finish() {
  if (!enabled_ || !shown_) return;
  std::fprintf(stderr, "\n");
  shown_ = false;
}

}  // namespace snapcache::compare
