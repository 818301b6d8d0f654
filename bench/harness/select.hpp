// Picking registry entries by name: shared by the map harness and the query
// cache's seed scenario, whose registries differ only in their entry type.
#pragma once

#include <algorithm>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace snapcache::bench {

// The entries of `registry` named in `names`, in the order named, each once;
// every entry when `names` is empty. Throws std::invalid_argument
// ("unknown <what>: <name>") for a name no entry has.
template <class Entry>
std::vector<const Entry*> select_by_name(std::span<const Entry> registry, const std::vector<std::string>& names,
                                         std::string_view what) {
  std::vector<const Entry*> out;
  if (names.empty()) {
    for (const Entry& e : registry) out.push_back(&e);
    return out;
  }
  for (const std::string& name : names) {
    const auto it = std::find_if(registry.begin(), registry.end(), [&](const Entry& e) { return e.name == name; });
    if (it == registry.end()) throw std::invalid_argument("unknown " + std::string(what) + ": " + name);
    if (std::find(out.begin(), out.end(), &*it) == out.end()) out.push_back(&*it);
  }
  return out;
}

}  // namespace snapcache::bench
