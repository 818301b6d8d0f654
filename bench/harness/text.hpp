// Text helpers shared by the harness's reports and snapcache-compare:
// printf-style formatting into std::string, the units the tables use, and
// CSV fields.
#pragma once

#include <string>

namespace snapcache::bench {

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// 850 ns, 12.3 us, 4.5 ms, 1.20 s; "-" for 0 or less.
std::string duration_text(double ns);
// 950, 12.3k, 4.56M.
std::string rate_text(double per_s);
// A number for CSV and JSON-like text: six significant digits.
std::string number(double v);
// `s` quoted for CSV when it holds a comma, a quote or a newline.
std::string csv_field(const std::string& s);

}  // namespace snapcache::bench
