// A concurrent workload for the sanitizer consumer check
// (tools/consumer-check.sh, stage (e)): writers insert and erase, a reader
// looks keys up, a scanner iterates snapshots, and two threads share a
// query cache, for about half a second. Built with -fsanitize=thread and
// the library compiled in with the same flags, it must run without a
// single report (TSAN_OPTIONS makes any report fail the run). Returns
// non-zero if a snapshot is inconsistent.
#include <snapcache/hash_map.hpp>
#include <snapcache/query_cache.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

int main() {
  snapcache::hash_map<std::uint64_t, std::uint64_t> map;
  snapcache::query_cache cache(64);
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (std::uint64_t w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      for (std::uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {  // a flag only
        const std::uint64_t key = (i * 7 + w) % 512;
        if (i % 3 == 0) {
          map.erase(key);
        } else {
          map.insert_or_assign(key, key * 2);
        }
      }
    });
  }
  threads.emplace_back([&] {
    while (!stop.load(std::memory_order_relaxed)) {  // a flag only
      for (std::uint64_t key = 0; key < 512; ++key) {
        if (auto v = map.find(key); v && *v != key * 2) wrong.fetch_add(1, std::memory_order_relaxed);  // a count
      }
    }
  });
  threads.emplace_back([&] {
    while (!stop.load(std::memory_order_relaxed)) {  // a flag only
      const auto snap = map.snapshot();
      for (const auto& [k, v] : snap) {
        if (v != k * 2) wrong.fetch_add(1, std::memory_order_relaxed);  // a count
      }
    }
  });
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {  // a flag only
        const auto now = snapcache::cache_clock::now();
        const std::string id = "q" + std::to_string(t) + "-" + std::to_string(i % 200);
        cache.insert({.id = id,
                      .query = "SELECT " + std::to_string(i % 50),
                      .state = snapcache::query_state::succeeded,
                      .statement_type = snapcache::statement_kind::dml,
                      .submitted_at = now,
                      .completed_at = now,
                      .output_location = "s3://results/" + id,
                      .payload = {}});
        (void)cache.lookup("select " + std::to_string(i % 50), std::chrono::hours(1), snapcache::unlimited, now);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop.store(true, std::memory_order_relaxed);  // a flag only
  for (auto& t : threads) t.join();
  if (wrong.load() != 0) {
    std::printf("concurrent consumer: %d inconsistent reads\n", wrong.load());
    return 1;
  }
  std::puts("concurrent consumer: ok");
  return 0;
}
