// snapshot_writers: snapshots taken and iterated while writers run at full
// speed. Half the threads write, the others take snapshots and check them.
//
// Three scenarios share one map:
//  (a) prefix: writer w inserts the keys of a generation in increasing order
//      (writer id in the key's high bits), then erases them in the same
//      order, then starts the next generation. Every instant's contents for
//      w are one generation's interval [a, b), a prefix that grows and then
//      shrinks from the front; the writer's operation count p names the
//      state. A snapshot must hold exactly such an interval, and the p it
//      stands for must lie between w's progress read before the snapshot
//      was taken and just after (the progress marks are seq_cst, so they
//      order with the map's clock).
//  (b) moving token: writer w inserts token i+1, then erases token i. Every
//      snapshot holds one token of w or two adjacent ones, and never one
//      that was erased before the snapshot was taken.
//  (c) snapshots outliving the writes: each checker holds a snapshot for a
//      whole round and iterates it again and again while the writers run and
//      then erase everything; each iteration must equal the first; after the
//      erase its size() (counted only then) must equal that iteration count
//      and its find() must agree with it. The emptied map must be empty.
//
// Every snapshot is also checked for unknown keys, foreign values, duplicate
// keys, size() == iteration count, and find() agreeing with iteration on the
// keys at and next to each writer's interval and token.
//
// The run is cut into rounds: work, then (behind a barrier) the erase, then
// (behind another) the final checks of (c), then the writers re-seed their
// tokens.
//
// The quick profile runs 4 threads for 3 s with SNAPCACHE_PERTURB=20.
#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "driver.hpp"
#include "snapcache/hash_map.hpp"

namespace {

using map_type = snapcache::hash_map<std::uint64_t, std::uint64_t>;
using clock_type = std::chrono::steady_clock;
using contents_type = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

constexpr std::uint64_t generation_length = 48;  // keys per generation of a prefix writer
constexpr std::uint64_t ops_per_generation = 2 * generation_length;
constexpr double round_seconds = 0.2;

// Keys: two tag bits, the writer in bits 48..61, the payload below.
constexpr std::uint64_t prefix_tag = std::uint64_t{1} << 62;
constexpr std::uint64_t token_tag = std::uint64_t{2} << 62;
constexpr std::uint64_t payload_mask = (std::uint64_t{1} << 48) - 1;

std::uint64_t prefix_key(std::uint64_t writer, std::uint64_t generation, std::uint64_t index) noexcept {
  return prefix_tag | (writer << 48) | ((generation & 0xFFFFFFFF) << 16) | index;
}
std::uint64_t token_key(std::uint64_t writer, std::uint64_t token) noexcept {
  return token_tag | (writer << 48) | (token & payload_mask);
}
using snapcache::stress::mix;
// Each key has one value, so a value found under another key shows.
std::uint64_t value_of(std::uint64_t key) noexcept { return mix(key ^ 0x5A5A5A5A5A5A5A5AULL); }

std::string hex(std::uint64_t x) {
  char buffer[24];
  std::snprintf(buffer, sizeof buffer, "%#llx", static_cast<unsigned long long>(x));
  return buffer;
}

using snapcache::stress::violation_counter;

// A writer's published progress: operations done in (a) and its current
// token in (b). seq_cst (the default) throughout: a checker's reads of these
// marks around snapshot() take their places in one order with the map's
// clock, which is what makes the bounds in check_view sound.
struct alignas(64) writer_progress {
  std::atomic<std::uint64_t> prefix_ops{0};
  std::atomic<std::uint64_t> token{0};
};

struct progress_marks {
  std::vector<std::uint64_t> prefix_ops, token;
};

contents_type iterate(const map_type::snapshot_type& snap) {
  contents_type out;
  for (auto [k, v] : snap) out.emplace_back(k, v);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const auto opts = snapcache::stress::parse_options(
      argc, argv, "snapshot_writers",
      "snapshots vs full-speed writers: prefixes, moving tokens, snapshots outliving erases");
  snapcache::stress::verdict verdict("snapshot_writers");

  violation_counter writer_failed("writer check failed");
  violation_counter foreign("value check failed");
  violation_counter duplicate("duplicate key in snapshot");
  violation_counter prefix("prefix check failed");
  violation_counter token("token check failed");
  violation_counter size_check("snapshot size check failed");
  violation_counter find_check("snapshot find check failed");
  violation_counter changed("snapshot changed");
  violation_counter not_empty("erase-all check failed");

  const unsigned writers = std::max(1u, opts.threads / 2);
  const unsigned checkers = opts.threads - writers;
  std::vector<writer_progress> progress(writers);
  std::atomic<std::uint64_t> snapshots{0}, reiterations{0}, rounds{0}, writes{0};
  std::atomic<unsigned> erasers_done{0};

  {
    map_type map(0, snapcache::seeded_hash<std::uint64_t>{mix(opts.seed) | 1});
    const snapcache::stress::time_box box(opts.seconds);
    const auto run_end = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                                  std::chrono::duration<double>(opts.seconds));
    const auto round_length = std::chrono::duration_cast<clock_type::duration>(
        std::chrono::duration<double>(round_seconds));
    // Written by the first checker while every other thread waits at a
    // barrier; the barrier orders it before their reads.
    bool go = true;
    clock_type::time_point round_end = clock_type::now() + round_length;
    std::barrier sync(static_cast<std::ptrdiff_t>(opts.threads));

    auto read_marks = [&] {
      progress_marks m{std::vector<std::uint64_t>(writers), std::vector<std::uint64_t>(writers)};
      for (unsigned w = 0; w < writers; ++w) {
        m.prefix_ops[w] = progress[w].prefix_ops.load();
        m.token[w] = progress[w].token.load();
      }
      return m;
    };

    // Checks one snapshot's contents (iterated once) against the writers'
    // progress read before it was taken (`before`) and just after (`after`).
    auto check_view = [&](const map_type::snapshot_type& snap, const contents_type& contents,
                          const progress_marks& before, const progress_marks& after) {
      std::vector<std::vector<std::uint64_t>> prefix_seen(writers), tokens_seen(writers);
      std::vector<std::uint64_t> keys;
      keys.reserve(contents.size());
      for (const auto& [k, v] : contents) {
        keys.push_back(k);
        const std::uint64_t w = (k >> 48) & 0x3FFF;
        const std::uint64_t tag = k & (std::uint64_t{3} << 62);
        if (v != value_of(k) || w >= writers || (tag != prefix_tag && tag != token_tag)) {
          foreign.report("snapshot holds key " + hex(k) + " with value " + hex(v), box);
          continue;
        }
        if (tag == prefix_tag) {
          prefix_seen[w].push_back(k & payload_mask);
        } else {
          tokens_seen[w].push_back(k & payload_mask);
        }
      }
      std::sort(keys.begin(), keys.end());
      if (std::adjacent_find(keys.begin(), keys.end()) != keys.end())
        duplicate.report("key " + hex(*std::adjacent_find(keys.begin(), keys.end())) + " seen twice", box);

      // Keys whose presence snapshot.find() must report as iteration did.
      std::vector<std::uint64_t> probes;
      for (unsigned w = 0; w < writers; ++w) {
        // (a): one generation's interval [a, b) standing for p in [lo, hi].
        auto& seen = prefix_seen[w];
        std::sort(seen.begin(), seen.end());
        const std::uint64_t lo = before.prefix_ops[w], hi = after.prefix_ops[w] + 1;
        std::string why;
        std::uint64_t p = 0;
        if (seen.empty()) {
          // Empty at the start of every generation: some p = g * 2L in [lo, hi].
          if ((hi / ops_per_generation) * ops_per_generation < lo) why = "no key, but no empty state in range";
          const std::uint64_t g = hi / ops_per_generation;
          probes.push_back(prefix_key(w, g, 0));
          if (g > 0) probes.push_back(prefix_key(w, g - 1, generation_length - 1));
        } else {
          const std::uint64_t g = seen.front() >> 16;
          const std::uint64_t a = seen.front() & 0xFFFF;
          const std::uint64_t b = (seen.back() & 0xFFFF) + 1;
          if ((seen.back() >> 16) != g) {
            why = "keys of two generations";
          } else if (b - a != seen.size() || b > generation_length) {
            why = "not an interval of one generation: " + std::to_string(seen.size()) + " keys in [" +
                  std::to_string(a) + ", " + std::to_string(b) + ")";
          } else if (a != 0 && b != generation_length) {
            why = "interval [" + std::to_string(a) + ", " + std::to_string(b) +
                  ") neither a prefix nor a suffix of the generation";
          } else {
            p = g * ops_per_generation + (a == 0 ? b : generation_length + a);
            if (p < lo || p > hi) why = "the state after operation " + std::to_string(p) + " is not in [" +
                                        std::to_string(lo) + ", " + std::to_string(hi) + "]";
          }
          probes.push_back(prefix_key(w, g, a));
          probes.push_back(prefix_key(w, g, b - 1));
          if (a > 0) probes.push_back(prefix_key(w, g, a - 1));
          if (b < generation_length) probes.push_back(prefix_key(w, g, b));
        }
        if (!why.empty())
          prefix.report("writer " + std::to_string(w) + " (" + std::to_string(seen.size()) + " keys): " + why, box);

        // (b): token i or tokens i, i+1, with i in [before, after + 1].
        auto& tokens = tokens_seen[w];
        std::sort(tokens.begin(), tokens.end());
        const std::uint64_t tlo = before.token[w], thi = after.token[w] + 1;
        if (tokens.empty() || tokens.size() > 2 || (tokens.size() == 2 && tokens[1] != tokens[0] + 1) ||
            tokens[0] < tlo || tokens[0] > thi) {
          std::string held;
          for (std::uint64_t t : tokens) held += " " + std::to_string(t);
          token.report("writer " + std::to_string(w) + " snapshot holds tokens {" + held + " } with the token in [" +
                           std::to_string(tlo) + ", " + std::to_string(thi) + "]",
                       box);
        }
        const std::uint64_t t0 = tokens.empty() ? tlo : tokens[0];
        for (std::uint64_t t = t0 == 0 ? 0 : t0 - 1; t <= t0 + 2; ++t) probes.push_back(token_key(w, t));
      }

      if (snap.size() != contents.size())
        size_check.report("size() " + std::to_string(snap.size()) + " but iteration yielded " +
                              std::to_string(contents.size()),
                          box);
      for (std::uint64_t k : probes) {
        const auto found = snap.find(k);
        const bool held = std::binary_search(keys.begin(), keys.end(), k);
        if (found.has_value() != held || (found && *found != value_of(k)))
          find_check.report("find(" + hex(k) + ") " + (found ? "found " + hex(*found) : std::string("found nothing")) +
                                " but iteration " + (held ? "held it" : "did not hold it"),
                            box);
      }
    };

    // (c): `first` is the snapshot's first iteration; every later one must
    // equal it.
    auto check_same = [&](const map_type::snapshot_type& snap, const contents_type& first, const char* when) {
      reiterations.fetch_add(1, std::memory_order_relaxed);  // statistic only
      const contents_type again = iterate(snap);
      if (again != first) {
        std::size_t i = 0;
        while (i < again.size() && i < first.size() && again[i] == first[i]) ++i;
        changed.report(std::string(when) + ": first iteration yielded " + std::to_string(first.size()) +
                           " entries, this one " + std::to_string(again.size()) + ", first difference at entry " +
                           std::to_string(i),
                       box);
      }
    };

    auto writer_body = [&](unsigned w) {
      writer_progress& mine = progress[w];
      std::uint64_t p = 0, t = 0, local_writes = 0;
      auto must = [&](bool ok, const char* what, std::uint64_t key) {
        ++local_writes;
        if (!ok) writer_failed.report(std::string(what) + " of key " + hex(key) + " returned false", box);
      };
      bool need_token = true;
      for (;;) {
        if (need_token) {
          must(map.insert(token_key(w, t), value_of(token_key(w, t))), "insert of a new token", token_key(w, t));
          mine.token.store(t);
          need_token = false;
        }
        sync.arrive_and_wait();  // round start: `go` and `round_end` are set
        if (!go) break;
        for (std::uint64_t n = 0; box.running(); ++n) {
          if ((n & 15) == 0 && clock_type::now() >= round_end) break;
          // (a) one step of the prefix sequence.
          const std::uint64_t g = p / ops_per_generation, q = p % ops_per_generation;
          if (q < generation_length) {
            const std::uint64_t k = prefix_key(w, g, q);
            must(map.insert(k, value_of(k)), "insert of a new prefix key", k);
          } else {
            const std::uint64_t k = prefix_key(w, g, q - generation_length);
            must(map.erase(k), "erase of a present prefix key", k);
          }
          mine.prefix_ops.store(++p);
          // (b) move the token.
          must(map.insert(token_key(w, t + 1), value_of(token_key(w, t + 1))), "insert of a new token",
               token_key(w, t + 1));
          must(map.erase(token_key(w, t)), "erase of the present token", token_key(w, t));
          mine.token.store(++t);
        }
        sync.arrive_and_wait();  // work done: erase everything
        const std::uint64_t g = p / ops_per_generation, q = p % ops_per_generation;
        const std::uint64_t from = q <= generation_length ? 0 : q - generation_length;
        const std::uint64_t to = q <= generation_length ? q : generation_length;
        for (std::uint64_t i = from; i < to; ++i) must(map.erase(prefix_key(w, g, i)), "erase-all of a prefix key",
                                                       prefix_key(w, g, i));
        must(map.erase(token_key(w, t)), "erase-all of the token", token_key(w, t));
        if (q != 0) p = (g + 1) * ops_per_generation;
        ++t;
        erasers_done.fetch_add(1);
        sync.arrive_and_wait();  // erased: checkers look
        sync.arrive_and_wait();  // checked: publish the restart
        mine.prefix_ops.store(p);
        need_token = true;
      }
      writes.fetch_add(local_writes, std::memory_order_relaxed);  // statistic only
    };

    auto checker_body = [&](unsigned c) {
      std::uint64_t local_snapshots = 0;
      for (;;) {
        sync.arrive_and_wait();  // round start
        if (!go) break;
        // (c) held for the whole round.
        const auto held_before = read_marks();
        std::optional<map_type::snapshot_type> held(map.snapshot());
        const auto held_after = read_marks();
        const contents_type first = iterate(*held);
        ++local_snapshots;
        for (std::uint64_t n = 0; box.running(); ++n) {
          if (clock_type::now() >= round_end) break;
          const auto before = read_marks();
          const auto snap = map.snapshot();
          const auto after = read_marks();
          const contents_type contents = iterate(snap);
          check_view(snap, contents, before, after);
          ++local_snapshots;
          if ((n & 3) == 3) check_same(*held, first, "while writers ran");
        }
        sync.arrive_and_wait();  // work done; writers erase everything
        do {
          check_same(*held, first, "while writers erased everything");
        } while (erasers_done.load() < writers);
        sync.arrive_and_wait();  // erased
        check_same(*held, first, "after writers erased everything");
        // Counted only now: size() must still equal the first iteration.
        if (held->size() != first.size())
          size_check.report("after the erase, size() " + std::to_string(held->size()) +
                                " but the first iteration yielded " + std::to_string(first.size()),
                            box);
        for (const auto& [k, v] : first) {
          const auto found = held->find(k);
          if (found != v)
            find_check.report("after the erase, find(" + hex(k) + ") " +
                                  (found ? "found " + hex(*found) : std::string("found nothing")) +
                                  " but the first iteration held " + hex(v),
                              box);
        }
        // The same snapshot checked as any other, from its first iteration.
        check_view(*held, first, held_before, held_after);
        held.reset();
        if (c == 0) {
          rounds.fetch_add(1, std::memory_order_relaxed);  // statistic only
          const auto fresh = map.snapshot();
          const contents_type left = iterate(fresh);
          if (map.size() != 0 || !left.empty() || fresh.size() != 0 ||
              fresh.contains(token_key(0, progress[0].token.load())))
            not_empty.report("after every key was erased size() is " + std::to_string(map.size()) +
                                 " and a fresh snapshot holds " + std::to_string(left.size()) + " entries",
                             box);
          erasers_done.store(0);
          go = box.running() && clock_type::now() < run_end;
          round_end = std::min(run_end, clock_type::now() + round_length);
        }
        sync.arrive_and_wait();  // checked
      }
      snapshots.fetch_add(local_snapshots, std::memory_order_relaxed);  // statistic only
    };

    box.run(
        opts.threads,
        [&](unsigned index) {
          if (index < writers) {
            writer_body(index);
          } else {
            checker_body(index - writers);
          }
        },
        [&] {
          return "rounds " + std::to_string(rounds.load(std::memory_order_relaxed)) + ", snapshots " +
                 std::to_string(snapshots.load(std::memory_order_relaxed));  // progress only
        });
  }

  verdict.check("every writer's insert of a new key and erase of a present one succeeded",
                writer_failed.count() == 0, writer_failed.summary());
  verdict.check("every snapshot held only known keys with their values", foreign.count() == 0, foreign.summary());
  verdict.check("no snapshot held a key twice", duplicate.count() == 0, duplicate.summary());
  verdict.check("(a) every snapshot held one interval of each writer's sequence, within its progress",
                prefix.count() == 0, prefix.summary());
  verdict.check("(b) every snapshot held one token or two adjacent ones, within the writer's progress",
                token.count() == 0, token.summary());
  verdict.check("snapshot size() equals its iteration count", size_check.count() == 0, size_check.summary());
  verdict.check("snapshot find() agrees with its iteration", find_check.count() == 0, find_check.summary());
  verdict.check("(c) a snapshot iterates the same while writers run and after they erase everything",
                changed.count() == 0, changed.summary());
  verdict.check("the map is empty after every key was erased", not_empty.count() == 0, not_empty.summary());
  verdict.check("work was done", snapshots.load() > 0 && writes.load() > 0 && rounds.load() > 0,
                "snapshots=" + std::to_string(snapshots.load()) + " writes=" + std::to_string(writes.load()) +
                    " rounds=" + std::to_string(rounds.load()));
  std::printf("snapshot_writers: %u writers, %u checkers: %llu writes, %llu snapshots checked, "
              "%llu re-iterations, %llu rounds\n",
              writers, checkers, static_cast<unsigned long long>(writes.load()),
              static_cast<unsigned long long>(snapshots.load()),
              static_cast<unsigned long long>(reiterations.load()),
              static_cast<unsigned long long>(rounds.load()));
  return verdict.finish(opts);
}
