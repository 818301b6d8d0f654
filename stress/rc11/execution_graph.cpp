#include "execution_graph.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace rc11 {
namespace {

// A relation over the graph's events: row i holds the events i relates to.
using relation = std::vector<std::uint64_t>;

std::uint64_t bit(int i) { return std::uint64_t{1} << i; }

relation compose(const relation& a, const relation& b) {
  relation out(a.size(), 0);
  for (std::size_t i = 0; i < a.size(); ++i) {
    for (std::size_t j = 0; j < a.size(); ++j) {
      if ((a[i] & bit(static_cast<int>(j))) != 0) out[i] |= b[j];
    }
  }
  return out;
}

relation unite(relation a, const relation& b) {
  for (std::size_t i = 0; i < a.size(); ++i) a[i] |= b[i];
  return a;
}

relation transitive_closure(relation r) {  // Warshall
  for (std::size_t k = 0; k < r.size(); ++k) {
    for (std::size_t i = 0; i < r.size(); ++i) {
      if ((r[i] & bit(static_cast<int>(k))) != 0) r[i] |= r[k];
    }
  }
  return r;
}

bool irreflexive(const relation& r) {
  for (std::size_t i = 0; i < r.size(); ++i) {
    if ((r[i] & bit(static_cast<int>(i))) != 0) return false;
  }
  return true;
}

bool is_release(std::memory_order o) {
  return o == std::memory_order_release || o == std::memory_order_acq_rel || o == std::memory_order_seq_cst;
}

bool is_acquire(std::memory_order o) {
  return o == std::memory_order_acquire || o == std::memory_order_consume || o == std::memory_order_acq_rel ||
         o == std::memory_order_seq_cst;
}

const char* order_name(std::memory_order o) {
  switch (o) {
    case std::memory_order_relaxed: return "rlx";
    case std::memory_order_consume: return "con";
    case std::memory_order_acquire: return "acq";
    case std::memory_order_release: return "rel";
    case std::memory_order_acq_rel: return "acq_rel";
    case std::memory_order_seq_cst: return "sc";
  }
  return "?";
}

}  // namespace

execution_graph::execution_graph(const std::vector<value>& initial_values) {
  for (std::size_t loc = 0; loc < initial_values.size(); ++loc) {
    event e;
    e.kind = event_kind::init;
    e.location = static_cast<int>(loc);
    e.written_value = initial_values[loc];
    events_.push_back(e);
    mo_.push_back({static_cast<int>(loc)});
  }
}

int execution_graph::add(const event& e, std::size_t mo_position) {
  if (events_.size() >= max_events) throw std::length_error("rc11: more than 64 events in one execution");
  const int id = static_cast<int>(events_.size());
  events_.push_back(e);
  if (e.writes()) {
    auto& order = mo_[static_cast<std::size_t>(e.location)];
    if (mo_position < 1 || mo_position > order.size()) throw std::out_of_range("rc11: modification-order position");
    order.insert(order.begin() + static_cast<std::ptrdiff_t>(mo_position), id);
  }
  return id;
}

// The relations every check needs, derived from events, reads-from and
// modification order.
struct execution_graph::relations {
  relation po, rf, mo, rb, same_location, hb;
  std::uint64_t seq_cst = 0;
};

execution_graph::relations execution_graph::derive() const {
  const std::size_t n = events_.size();
  relations r{relation(n, 0), relation(n, 0), relation(n, 0), relation(n, 0), relation(n, 0), relation(n, 0), 0};
  for (std::size_t i = 0; i < n; ++i) {
    const event& a = events_[i];
    if (a.kind != event_kind::init && a.atomic && a.order == std::memory_order_seq_cst) r.seq_cst |= bit(static_cast<int>(i));
    for (std::size_t j = 0; j < n; ++j) {
      const event& b = events_[j];
      if (a.location == b.location) r.same_location[i] |= bit(static_cast<int>(j));
      // po: program order; the init events come before every other event.
      const bool before = a.kind == event_kind::init ? b.kind != event_kind::init
                                                     : a.thread == b.thread && a.index < b.index;
      if (before) r.po[i] |= bit(static_cast<int>(j));
    }
    if (a.reads()) r.rf[static_cast<std::size_t>(a.reads_from)] |= bit(static_cast<int>(i));
  }
  for (const auto& order : mo_) {
    for (std::size_t p = 0; p < order.size(); ++p) {
      for (std::size_t q = p + 1; q < order.size(); ++q) r.mo[static_cast<std::size_t>(order[p])] |= bit(order[q]);
    }
  }
  // rb (from-read): a read is before every write mo-after the one it read.
  for (std::size_t i = 0; i < n; ++i) {
    if (events_[i].reads()) r.rb[i] = r.mo[static_cast<std::size_t>(events_[i].reads_from)] & ~bit(static_cast<int>(i));
  }
  // sw: a release write, through the read-modify-writes that continue its
  // release sequence (C++20), read by an acquire read.
  relation sw(n, 0);
  for (std::size_t w = 0; w < n; ++w) {
    const event& head = events_[w];
    if (!head.writes() || head.kind == event_kind::init || !head.atomic || !is_release(head.order)) continue;
    std::uint64_t sequence = bit(static_cast<int>(w));
    for (bool grew = true; grew;) {
      grew = false;
      for (std::size_t u = 0; u < n; ++u) {
        if (events_[u].kind == event_kind::rmw && (sequence & bit(events_[u].reads_from)) != 0 &&
            (sequence & bit(static_cast<int>(u))) == 0) {
          sequence |= bit(static_cast<int>(u));
          grew = true;
        }
      }
    }
    for (std::size_t x = 0; x < n; ++x) {
      const event& reader = events_[x];
      if (reader.reads() && reader.atomic && is_acquire(reader.order) && (sequence & bit(reader.reads_from)) != 0) {
        sw[w] |= bit(static_cast<int>(x));
      }
    }
  }
  r.hb = transitive_closure(unite(r.po, sw));
  return r;
}

std::optional<std::string> execution_graph::violated_axiom() const {
  const std::size_t n = events_.size();
  const relations r = derive();

  // Atomicity: a read-modify-write reads its immediate mo-predecessor.
  for (std::size_t i = 0; i < n; ++i) {
    if (events_[i].kind != event_kind::rmw) continue;
    const auto& order = mo_[static_cast<std::size_t>(events_[i].location)];
    const auto at = std::find(order.begin(), order.end(), static_cast<int>(i));
    if (at == order.begin() || *(at - 1) != events_[i].reads_from) return "atomicity";
  }

  // No thin air: po | rf acyclic (the explorer builds graphs in such an
  // order; checked so that a hand-built graph is judged whole).
  if (!irreflexive(transitive_closure(unite(r.po, r.rf)))) return "no-thin-air";

  // Coherence: hb ; eco? irreflexive, eco = (rf | mo | rb)+.
  if (!irreflexive(r.hb)) return "coherence (hb cycle)";
  const relation eco = transitive_closure(unite(unite(r.rf, r.mo), r.rb));
  if (!irreflexive(compose(r.hb, eco))) return "coherence";

  // SC: psc = [SC]; scb; [SC] acyclic, where
  // scb = po | po|≠loc; hb; po|≠loc | hb|loc | mo | rb.
  relation po_other_location(n, 0), hb_same_location(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    po_other_location[i] = r.po[i] & ~r.same_location[i];
    hb_same_location[i] = r.hb[i] & r.same_location[i];
  }
  const relation scb = unite(unite(r.po, compose(compose(po_other_location, r.hb), po_other_location)),
                             unite(hb_same_location, unite(r.mo, r.rb)));
  relation psc(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    if ((r.seq_cst & bit(static_cast<int>(i))) != 0) psc[i] = scb[i] & r.seq_cst;
  }
  if (!irreflexive(transitive_closure(psc))) return "sc (psc cycle)";
  return std::nullopt;
}

std::optional<int> execution_graph::racy_location() const {
  const relations r = derive();
  for (std::size_t i = 0; i < events_.size(); ++i) {
    for (std::size_t j = i + 1; j < events_.size(); ++j) {
      const event& a = events_[i];
      const event& b = events_[j];
      if (a.kind == event_kind::init || b.kind == event_kind::init || a.location != b.location ||
          a.thread == b.thread || (a.atomic && b.atomic) || (!a.writes() && !b.writes())) {
        continue;
      }
      const bool ordered = (r.hb[i] & bit(static_cast<int>(j))) != 0 || (r.hb[j] & bit(static_cast<int>(i))) != 0;
      if (!ordered) return a.location;
    }
  }
  return std::nullopt;
}

std::string execution_graph::describe(const std::vector<std::string>& location_names) const {
  auto name = [&](int id) {
    const event& e = events_[static_cast<std::size_t>(id)];
    if (e.kind == event_kind::init) return "init(" + location_names[static_cast<std::size_t>(e.location)] + ")";
    return "T" + std::to_string(e.thread) + "." + std::to_string(e.index);
  };
  std::vector<int> ids(events_.size());
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int>(i);
  std::stable_sort(ids.begin(), ids.end(), [&](int a, int b) {
    const event& x = events_[static_cast<std::size_t>(a)];
    const event& y = events_[static_cast<std::size_t>(b)];
    return x.thread != y.thread ? x.thread < y.thread : x.index < y.index;
  });
  std::ostringstream out;
  for (int id : ids) {
    const event& e = events_[static_cast<std::size_t>(id)];
    if (e.kind == event_kind::init) continue;
    const std::string& loc = location_names[static_cast<std::size_t>(e.location)];
    out << "  " << name(id) << ' ';
    switch (e.kind) {
      case event_kind::read: out << "R" << (e.atomic ? order_name(e.order) : "na") << ' ' << loc << " = " << e.read_value; break;
      case event_kind::write: out << "W" << (e.atomic ? order_name(e.order) : "na") << ' ' << loc << " := " << e.written_value; break;
      case event_kind::rmw:
        out << "U" << order_name(e.order) << ' ' << loc << ' ' << e.read_value << " -> " << e.written_value;
        break;
      case event_kind::init: break;
    }
    if (e.reads()) out << "  (reads " << name(e.reads_from) << ')';
    out << '\n';
  }
  for (std::size_t loc = 0; loc < mo_.size(); ++loc) {
    out << "  mo(" << location_names[loc] << "):";
    for (int id : mo_[loc]) out << ' ' << name(id);
    out << '\n';
  }
  return out.str();
}

}  // namespace rc11
