#include "driver.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>
#include <type_traits>

namespace snapcache::stress {
namespace {

// The suite's variants, for messages.
std::string variant_list(const std::vector<std::string>& variants) {
  std::string list;
  for (const auto& v : variants) list += (list.empty() ? "" : ", ") + v;
  return list;
}

[[noreturn]] void usage(const char* suite, const char* description, const char* error,
                        const std::vector<std::string>& variants = {}) {
  if (error != nullptr) std::fprintf(stderr, "%s: %s\n", suite, error);
  std::FILE* out = error ? stderr : stdout;
  std::fprintf(out,
               "usage: %s [--threads N] [--seconds S] [--seed X]%s\n  %s\n"
               "  --threads N   worker threads (default 4)\n"
               "  --seconds S   time box in seconds (default 2)\n"
               "  --seed X      seed to replay a run (default: from the clock)\n",
               suite, variants.empty() ? "" : " [--variant V]", description);
  if (!variants.empty()) {
    std::fprintf(out, "  --variant V   one of: %s (default %s)\n", variant_list(variants).c_str(),
                 variants.front().c_str());
  }
  std::exit(error ? 2 : 0);
}

template <class T>
T parse_number(const char* suite, const char* description, const char* text) {
  char* end = nullptr;
  errno = 0;
  if constexpr (std::is_floating_point_v<T>) {
    const double value = std::strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(value > 0)) {
      usage(suite, description, "expected a positive number");
    }
    return value;
  } else {
    const unsigned long long value = std::strtoull(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-') {
      usage(suite, description, "expected a non-negative integer");
    }
    return static_cast<T>(value);
  }
}

}  // namespace

options parse_options(int argc, char** argv, const char* suite, const char* description,
                      const std::vector<std::string>& variants) {
  options opts;
  if (!variants.empty()) opts.variant = variants.front();
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") usage(suite, description, nullptr, variants);
    if (i + 1 >= argc) usage(suite, description, ("missing value for " + std::string(arg)).c_str());
    const char* value = argv[++i];
    if (arg == "--threads") {
      opts.threads = parse_number<unsigned>(suite, description, value);
      if (opts.threads < 2) usage(suite, description, "--threads must be at least 2");
    } else if (arg == "--seconds") {
      opts.seconds = parse_number<double>(suite, description, value);
    } else if (arg == "--seed") {
      opts.seed = parse_number<std::uint64_t>(suite, description, value);
    } else if (arg == "--variant" && !variants.empty()) {
      if (std::find(variants.begin(), variants.end(), value) == variants.end()) {
        usage(suite, description, ("--variant must be one of: " + variant_list(variants)).c_str(), variants);
      }
      opts.variant = value;
    } else {
      usage(suite, description, ("unknown option " + std::string(arg)).c_str());
    }
  }
  if (opts.seed == 0) {
    opts.seed = static_cast<std::uint64_t>(
                    std::chrono::steady_clock::now().time_since_epoch().count()) | 1;
  }
  std::printf("%s: threads=%u seconds=%g seed=%llu%s%s\n", suite, opts.threads, opts.seconds,
              static_cast<unsigned long long>(opts.seed), variants.empty() ? "" : " variant=",
              opts.variant.c_str());
  std::fflush(stdout);
  return opts;
}

time_box::time_box(double seconds) noexcept
    : deadline_(std::chrono::steady_clock::now() +
                std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(seconds))),
      seconds_(seconds) {}

bool time_box::running() const noexcept {
  return !stopped_.load(std::memory_order_relaxed) &&  // a flag only: workers publish nothing through it
         std::chrono::steady_clock::now() < deadline_;
}

void time_box::stop() const noexcept {
  stopped_.store(true, std::memory_order_relaxed);  // a flag only, see running()
}

void time_box::run(unsigned workers, const std::function<void(unsigned)>& body,
                   const std::function<std::string()>& status) const {
  std::vector<std::thread> threads;
  threads.reserve(workers);
  std::atomic<unsigned> finished{0};
  for (unsigned i = 0; i < workers; ++i) {
    threads.emplace_back([&body, &finished, i] {
      body(i);
      finished.fetch_add(1, std::memory_order_release);  // pairs with the watchdog's acquire load below
    });
  }
  const bool tty = isatty(STDOUT_FILENO) != 0;
  while (running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(tty ? 250 : 20));
    if (tty) {
      std::printf("\r  %s   ", status().c_str());
      std::fflush(stdout);
    }
  }
  // Liveness: every operation is lock-free, so once the box closes each
  // worker finishes the operation it is in, and the bounded checks after
  // it, and returns. One still running long after is stuck in an endless
  // loop (a chain made circular, say), which would otherwise show only as
  // a test timeout with no message. A run stopped early by a worker that
  // found a violation is failing already, and its report (a minimised
  // history, say) may take long: it is not cut short.
  const auto grace = std::chrono::duration<double>(10 + 2 * seconds_);
  const auto give_up = std::chrono::steady_clock::now() +
                       std::chrono::duration_cast<std::chrono::steady_clock::duration>(grace);
  while (finished.load(std::memory_order_acquire) < workers) {  // pairs with each worker's release add
    const bool failing = stopped_.load(std::memory_order_relaxed);  // a flag only, see running()
    if (!failing && std::chrono::steady_clock::now() > give_up) {
      std::printf("no progress: %u of %u workers still running %.0f s after the time box closed\n",
                  workers - finished.load(std::memory_order_relaxed), workers, grace.count());  // a count for the message only
      std::fflush(stdout);
      std::_Exit(3);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& thread : threads) thread.join();
  if (tty) std::printf("\r  %s   \n", status().c_str());
}

void verdict::check(const std::string& name, bool ok, const std::string& detail) {
  if (ok) {
    ++passed_;
    std::printf("  ok    %s\n", name.c_str());
  } else {
    ++failed_;
    std::printf("  FAIL  %s: %s\n", name.c_str(), detail.c_str());
  }
}

int verdict::finish(const options& opts) const {
  if (failed_ != 0) {
    std::printf("%s: replay with --threads %u --seconds %g --seed %llu%s%s\n", suite_.c_str(),
                opts.threads, opts.seconds, static_cast<unsigned long long>(opts.seed),
                opts.variant.empty() ? "" : " --variant ", opts.variant.c_str());
  }
  std::printf("%zu passed, %zu failed\n", passed_, failed_);
  std::fflush(stdout);
  return failed_ == 0 ? 0 : 1;
}

}  // namespace snapcache::stress
