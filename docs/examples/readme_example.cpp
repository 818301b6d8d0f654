// The README's example: a snapshot is the map at one instant and stays so
// while writers go on. Built and run as a test, so the README cannot rot.
#include <snapcache/hash_map.hpp>

#include <cstdio>
#include <string>

int main() {
  snapcache::hash_map<int, std::string> orders;  // order id -> status
  orders.insert(1, "paid");
  orders.insert(2, "paid");

  auto snap = orders.snapshot();          // O(1); iterate it from any thread
  orders.insert_or_assign(1, "shipped");  // writers never wait for the snapshot,
  orders.erase(2);                        // and the snapshot never sees them

  int paid = 0;
  for (const auto& [id, status] : snap) paid += status == "paid";  // both, still
  std::printf("snapshot: %d paid orders; map now: %zu order\n", paid, orders.size());
  return paid == 2 && orders.size() == 1 ? 0 : 1;
}
