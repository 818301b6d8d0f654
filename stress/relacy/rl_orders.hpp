// The order table of include/snapcache/detail/orders.hpp, as Relacy orders.
//
// Relacy's relacy.hpp defines macros named memory_order_relaxed ... seq_cst,
// so nothing that spells std::memory_order_* may follow it. This header
// therefore includes the table first, translates its values while the
// standard names still mean themselves, and only then includes Relacy.
// A model includes this header instead of <relacy/relacy.hpp> and writes
// `rl_order(orders::unpin)` where the code it mirrors writes `orders::unpin`;
// a -DSNAPCACHE_WEAKEN_<entry> build weakens library and model alike.
#pragma once

#ifdef RL_RELACY_HPP
#error "include rl_orders.hpp before <relacy/relacy.hpp>"
#endif

#include <cstdint>
#include <cstdio>

#include "snapcache/detail/orders.hpp"

#include <relacy/memory_order.hpp>

namespace snapcache::model {

namespace orders = snapcache::detail::orders;

inline rl::memory_order rl_order(std::memory_order order) {
  switch (order) {
    case std::memory_order_relaxed: return rl::mo_relaxed;  // as the table says
    case std::memory_order_consume: return rl::mo_consume;  // as the table says
    case std::memory_order_acquire: return rl::mo_acquire;  // as the table says
    case std::memory_order_release: return rl::mo_release;  // as the table says
    case std::memory_order_acq_rel: return rl::mo_acq_rel;  // as the table says
    case std::memory_order_seq_cst: return rl::mo_seq_cst;
  }
  return rl::mo_seq_cst;
}

// The entry a -DSNAPCACHE_WEAKEN_<entry> build weakened, or "none".
inline const char* weakened_entry() {
  return *SNAPCACHE_WEAKENED_ENTRY ? SNAPCACHE_WEAKENED_ENTRY : "none";
}

}  // namespace snapcache::model

#include <relacy/relacy.hpp>
