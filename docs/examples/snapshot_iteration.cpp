// Iterating a hash_map snapshot while writers change the map. The snapshot
// is the map at the instant it was taken: every pass over it yields the same
// keys with the same values, each once, whatever the writers do meanwhile;
// and neither side waits for the other.
#include <snapcache/hash_map.hpp>

#include <atomic>
#include <cstdio>
#include <optional>
#include <thread>
#include <vector>

int main() {
  constexpr int keys = 1000;
  snapcache::hash_map<int, int> map;
  for (int k = 0; k < keys; ++k) map.insert(k, k);

  const auto snap = map.snapshot();  // value == key for keys 0..999
  std::atomic<int> writers_left{2};

  // One writer overwrites old keys and adds new ones; the other erases keys
  // and puts some back.
  auto overwrite_and_add = [&] {
    for (int i = 0; i < 20000; ++i) {
      map.insert_or_assign(i % keys, -i);
      map.insert(keys + i, i);
    }
    --writers_left;
  };
  auto erase_and_reinsert = [&] {
    for (int i = 0; i < 20000; ++i) {
      map.erase((i * 7) % keys);
      if (i % 3 == 0) map.insert((i * 7) % keys, i);
    }
    --writers_left;
  };

  // Checks one pass: exactly the keys 0..999, each once, with value == key.
  auto pass_is_unchanged = [&] {
    std::vector<bool> seen(keys, false);
    int count = 0;
    for (const auto& [key, value] : snap) {
      if (key < 0 || key >= keys || seen[key] || value != key) return false;
      seen[key] = true;
      ++count;
    }
    return count == keys;
  };

  int passes = 0;
  bool ok = true;
  {
    std::jthread a(overwrite_and_add);
    std::jthread b(erase_and_reinsert);
    do {  // iterate, concurrently with both writers, until they are done
      ok = pass_is_unchanged() && ok;
      ++passes;
    } while (writers_left > 0);
  }

  // The map has moved on; the snapshot has not. find() answers for its
  // instant too.
  ok = ok && pass_is_unchanged() && snap.size() == keys && snap.find(keys) == std::nullopt;
  ok = ok && map.find(keys + 19999) == 19999;
  std::printf("%d passes over a snapshot of %zu keys while the map grew to %zu: %s\n", passes,
              snap.size(), map.size(), ok ? "unchanged" : "CHANGED");
  return ok ? 0 : 1;
}
