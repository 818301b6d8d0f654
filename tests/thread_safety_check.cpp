// Compiled with clang++ -Wthread-safety -Werror -fsyntax-only by the
// release build's tests: every guarded member of the locked maps is only
// touched under its lock.
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "snapcache/locked_map.hpp"

template class snapcache::locked_map<std::uint64_t, std::uint64_t, std::mutex>;
template class snapcache::locked_map<std::uint64_t, std::uint64_t, std::shared_mutex>;
template class snapcache::locked_map<std::string, std::string, std::shared_mutex>;

int main() {
  snapcache::locked_map<std::uint64_t, std::uint64_t, std::shared_mutex> m;
  m.insert(1, 2);
  auto s = m.snapshot();
  return static_cast<int>(s.size() + m.size() + m.find(std::uint64_t{1}).value_or(0) +
                          m.contains(std::uint64_t{3}));
}
