// Readable dumps of operations and histories for failure reports.
#include <string>

#include "lincheck/checker.hpp"

namespace snapcache::lincheck {

namespace {

std::string flag(bool ok) { return ok ? "true" : "false"; }

std::string call(const operation& op) {
  const std::string key = std::to_string(op.key);
  const std::string value = std::to_string(op.value);
  switch (op.kind) {
    case op_kind::insert:
      return "insert(" + key + ", " + value + ") -> " + flag(op.ok);
    case op_kind::insert_or_assign:
      return "insert_or_assign(" + key + ", " + value + ") -> " + flag(op.ok);
    case op_kind::erase:
      return "erase(" + key + ") -> " + flag(op.ok);
    case op_kind::find:
      return "find(" + key + ") -> " + (op.ok ? std::to_string(op.found_value) : "absent");
    case op_kind::snapshot: {
      std::string s = "snapshot() -> {";
      for (std::size_t i = 0; i < op.contents.size(); ++i) {
        if (i != 0) s += ", ";
        s += std::to_string(op.contents[i].first) + ": " + std::to_string(op.contents[i].second);
      }
      return s + "}";
    }
  }
  return "unknown operation";
}

}  // namespace

std::string format(const operation& op) {
  return "t" + std::to_string(op.thread) + " [" + std::to_string(op.invoked) + ", " +
         std::to_string(op.responded) + "] " + call(op);
}

std::string format(const history& h) {
  std::string s;
  for (std::size_t i = 0; i < h.size(); ++i)
    s += "#" + std::to_string(i) + " " + format(h[i]) + "\n";
  return s;
}

}  // namespace snapcache::lincheck
