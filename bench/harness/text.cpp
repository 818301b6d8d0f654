#include "harness/text.hpp"

#include <cstdarg>
#include <cstdio>

namespace snapcache::bench {

std::string format(const char* fmt, ...) {
  char buf[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  return buf;
}

std::string duration_text(double ns) {
  if (ns <= 0) return "-";
  if (ns < 1e3) return format("%.0f ns", ns);
  if (ns < 1e6) return format("%.1f us", ns / 1e3);
  if (ns < 1e9) return format("%.1f ms", ns / 1e6);
  return format("%.2f s", ns / 1e9);
}

std::string rate_text(double per_s) {
  if (per_s >= 1e6) return format("%.2fM", per_s / 1e6);
  if (per_s >= 1e3) return format("%.1fk", per_s / 1e3);
  return format("%.1f", per_s);
}

std::string number(double v) { return format("%.6g", v); }

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace snapcache::bench
