// Facts about the machine and the moment of a run, recorded next to its
// figures: on a shared machine the load average says how far to trust them.
#pragma once

#include <array>
#include <string>

namespace snapcache::compare {

// 1, 5 and 15 minute load averages (/proc/loadavg); zeros if unreadable.
std::array<double, 3> load_average();
// "2024-05-01T12:34:56Z".
std::string utc_timestamp();
// Whether this binary was built with every peer library (the harness lists
// unavailable ones otherwise).
bool all_peers_compiled();

}  // namespace snapcache::compare
