// Facts about the machine and the moment of a run, recorded next to its
// figures: on a shared machine the load average says how far to trust them.
#pragma once

#include <array>
#include <string>

namespace snapcache::compare {

// 1, 5 and 15 minute load averages (/proc/loadavg, or the file named by
// SNAPCACHE_COMPARE_LOADAVG: the program's tests use it); zeros if unreadable.
std::array<double, 3> load_average();
// A warning when the 1-minute load says other work shares the CPUs this run
// may use (at least half a runnable task per CPU), else empty.
std::string noise_warning(const std::array<double, 3>& load, unsigned cpus);
// Why files cannot be written into `dir` (created if missing), or empty if
// they can: checked before a long run, so it does not fail at its end.
std::string unwritable_reason(const std::string& dir);
// "2024-05-01T12:34:56Z".
std::string utc_timestamp();
// Whether this binary was built with every peer library (the harness lists
// unavailable ones otherwise).
bool all_peers_compiled();

}  // namespace snapcache::compare
