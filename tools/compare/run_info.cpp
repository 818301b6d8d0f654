#include "run_info.hpp"

#include <cstdio>
#include <ctime>

#include "harness/runner.hpp"

namespace snapcache::compare {

std::array<double, 3> load_average() {
  std::array<double, 3> load{0, 0, 0};
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load = {0, 0, 0};
    std::fclose(f);
  }
  return load;
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
