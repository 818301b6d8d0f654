#include "run_info.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "harness/runner.hpp"
#include "harness/text.hpp"

namespace snapcache::compare {

std::array<double, 3> load_average() {
  std::array<double, 3> load{0, 0, 0};
  const char* path = std::getenv("SNAPCACHE_COMPARE_LOADAVG");
  if (std::FILE* f = std::fopen(path != nullptr ? path : "/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load = {0, 0, 0};
    std::fclose(f);
  }
  return load;
}

std::string noise_warning(const std::array<double, 3>& load, unsigned cpus) {
  if (cpus == 0 || load[0] < 0.5 * cpus) return {};
  return bench::format(
      "warning: load average %.2f on %u CPU%s: other work is running, so the figures will be noisy (ratios "
      "within this run still compare variants; rerun on a quiet machine for absolute figures)",
      load[0], cpus, cpus == 1 ? "" : "s");
}

std::string unwritable_reason(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return "cannot create it: " + ec.message();
  const std::filesystem::path probe = std::filesystem::path(dir) / ".snapcache-compare-write-check";
  std::FILE* f = std::fopen(probe.c_str(), "w");
  if (f == nullptr) return std::string("cannot write into it: ") + std::strerror(errno);
  std::fclose(f);
  std::filesystem::remove(probe, ec);
  return {};
}

std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool all_peers_compiled() {
  for (const bench::variant_info& v : bench::list_variants()) {
    if (!v.available) return false;
  }
  return true;
}

}  // namespace snapcache::compare
