// Forces plain versions (no link word) for a scope, so a recheck whose
// neighbour was unlinked takes its fallback walk, as after a version made
// just before a snapshot started. Needs the test hooks; where they are
// compiled out, `available` is false and the caller skips.
#pragma once

#include "snapcache/detail/test_hooks.hpp"

namespace snapcache::test {

struct plain_versions {
  static constexpr bool available = snapcache::detail::test_hooks_enabled;
  plain_versions() noexcept { set(true); }
  ~plain_versions() { set(false); }
  plain_versions(const plain_versions&) = delete;
  plain_versions& operator=(const plain_versions&) = delete;

 private:
  static void set(bool on) noexcept { snapcache::detail::force_plain_versions(on); }
};

}  // namespace snapcache::test
