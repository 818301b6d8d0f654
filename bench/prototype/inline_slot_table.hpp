// A benchmark-only prototype of the inline-slot layout (docs/design.md, "The
// layout decision"; issue 21, item 5), to measure its ceiling before any of
// it enters the library. NOT a map to use: uint64 keys below 2^62 and
// values only, a fixed table (no migration: the capacity hint must bound
// the keys), no snapshots, x86-64 only.
//
// What it keeps of the protocol that stress/relacy/inline_slot_model.cpp
// checks is exactly what runs while no snapshot is live, the case the
// benchmark workloads measure: a slot is 16 bytes, {key word, value},
// changed by one cmpxchg16b; a write announces its slot with an exchange
// (seq_cst), reads the snapshot clock and the live-snapshot count, then
// CASes. A value written inline while no snapshot lives needs no stamp
// (every snapshot that will ever see it is counted after the write began,
// so its t is later: the model's inline stamps could all be 0). What it
// leaves out, each a cost the real layout adds only when a snapshot is
// live or the table grows: sealing and chains, versions materialised for
// live snapshots, migration (copying inline values), and full-range keys
// (the top two key bits are the prototype's flags; a library slot needs a
// flag byte or a wider slot).
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>

namespace snapcache::bench::prototype {

class inline_slot_table {
 public:
  using u64 = std::uint64_t;

  explicit inline_slot_table(std::size_t capacity_hint)
      : mask_(std::bit_ceil(capacity_hint * 2 < 16 ? std::size_t{16} : capacity_hint * 2) - 1),
        slots_(new (std::align_val_t{64}) slot[mask_ + 1]) {}
  ~inline_slot_table() { ::operator delete[](slots_, std::align_val_t{64}); }
  inline_slot_table(const inline_slot_table&) = delete;
  inline_slot_table& operator=(const inline_slot_table&) = delete;

  bool find(u64 k, u64& v) const noexcept {
    for (std::size_t i = home(k);; i = (i + 1) & mask_) {
      const u64 word = slots_[i].key.load(std::memory_order_acquire);  // pairs with the claiming cmpxchg16b
      if (word == empty) return false;
      if ((word & key_bits) != k) continue;
      if ((word & erased) != 0) return false;
      // The value word alone is linearizable here: an erase leaves it as it
      // was, so a value read after the key word is current at one of the two reads.
      v = slots_[i].value.load(std::memory_order_acquire);  // pairs with the writing cmpxchg16b
      return true;
    }
  }

  // Returns true if k was absent. assign: overwrite a present value.
  bool write(u64 k, u64 v, bool assign) {
    if (k > key_bits) throw std::invalid_argument("inline_slot_table: keys below 2^62 only");
    for (std::size_t i = home(k), n = 0; n <= mask_; i = (i + 1) & mask_, ++n) {
      slot& s = slots_[i];
      u64 word = s.key.load(std::memory_order_acquire);  // pairs with the claiming cmpxchg16b
      if (word != empty && (word & key_bits) != k) continue;
      announce(s);
      u64 old = s.value.load(std::memory_order_relaxed);  // the CAS validates
      for (;;) {
        const bool absent = word == empty || (word & erased) != 0;
        if (!absent && !assign) break;
        if (cas16(s, word, old, k, v)) {
          withdraw();
          return absent;
        }
        if (word != empty && (word & key_bits) != k) break;  // another key claimed the slot: probe on
      }
      withdraw();
      if (word != empty && (word & key_bits) == k) return false;  // present, and not to be assigned
    }
    throw std::length_error("inline_slot_table: full (the prototype does not grow)");
  }

  bool erase(u64 k) {
    slot* s = lookup(k);
    if (s == nullptr) return false;
    announce(*s);
    u64 word = s->key.load(std::memory_order_acquire);  // the CAS validates
    u64 old = s->value.load(std::memory_order_relaxed);  // the CAS validates
    bool erased_now = false;
    while ((word & erased) == 0 && word != empty) {
      if (cas16(*s, word, old, k | erased, old)) {
        erased_now = true;
        break;
      }
    }
    withdraw();
    return erased_now;
  }

 private:
  struct alignas(16) slot {
    std::atomic<u64> key{empty};
    std::atomic<u64> value{0};
  };
  static constexpr u64 empty = ~u64{0};
  static constexpr u64 erased = u64{1} << 62;
  static constexpr u64 key_bits = erased - 1;

  std::size_t home(u64 k) const noexcept {
    return static_cast<std::size_t>((k * 0x9e3779b97f4a7c15ull) >> 20) & mask_;
  }

  slot* lookup(u64 k) const noexcept {
    for (std::size_t i = home(k);; i = (i + 1) & mask_) {
      const u64 word = slots_[i].key.load(std::memory_order_acquire);  // pairs with the claiming cmpxchg16b
      if (word == empty) return nullptr;
      if ((word & key_bits) == k) return &slots_[i];
    }
  }

  // The protocol's quiet path: announce (seq_cst, an xchg as an EBR pin),
  // read the clock, then the live count (seq_cst loads: plain moves on x86).
  // No snapshot is ever live here; the reads are kept for their cost.
  void announce(slot& s) noexcept {
    announcement_.exchange(reinterpret_cast<std::uintptr_t>(&s), std::memory_order_seq_cst);
    (void)clock_.load(std::memory_order_seq_cst);  // an atomic load is not elided: its cost stays
    if (live_.load(std::memory_order_seq_cst) != 0) std::abort();  // the prototype has no snapshots
  }
  static void withdraw() noexcept {
    announcement_.store(0, std::memory_order_release);  // read by a sealing snapshot (none here)
  }

  // cmpxchg16b on {key, value}: on failure, word and old hold what was there.
  static bool cas16(slot& s, u64& word, u64& old, u64 new_word, u64 new_value) noexcept {
    bool done;
    asm volatile("lock cmpxchg16b %1"
                 : "=@ccz"(done), "+m"(s), "+a"(word), "+d"(old)
                 : "b"(new_word), "c"(new_value)
                 : "memory");
    return done;
  }

  std::size_t mask_;
  slot* slots_;
  std::atomic<u64> clock_{1};
  std::atomic<unsigned> live_{0};
  static inline thread_local std::atomic<std::uintptr_t> announcement_{0};
};

}  // namespace snapcache::bench::prototype
