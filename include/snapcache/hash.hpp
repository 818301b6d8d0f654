// snapcache::seeded_hash — the maps' default hash: keyed by a per-map seed,
// so keys crafted to collide under an unseeded hash (hash flooding) do not
// collide under a map's seed, which an attacker does not know. (A listing of
// a map shows the order of its keys' hashes under that seed: the map also
// multiplies each hash by a random salt of each slot table's own before
// placing it, so keys taken from a listing land apart in the next table.)
//
// Integers are mixed with the seed by a bijective 64-bit finaliser; strings
// (anything convertible to std::basic_string_view of char, wchar_t, char8_t,
// char16_t or char32_t: strings, views, C strings, literals) are hashed over
// their bytes with
// the seed folded into every block; other keys mix std::hash with the seed
// (which cannot separate keys whose std::hash values are equal: give such
// types a seeded hash of their own). Transparent: a string, its view and
// its C string hash alike, for heterogeneous lookup.
#pragma once

#include "snapcache/detail/cxx20.hpp"

#include <bit>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string_view>
#include <type_traits>
#include <utility>

namespace snapcache {

namespace detail {

// A strong 64-bit finaliser (splitmix64 / Stafford's mix13): bijective, so
// distinct inputs never collide before the bucket mask is applied.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

inline std::uint64_t hash_bytes(const char* data, std::size_t size, std::uint64_t seed) noexcept {
  std::uint64_t h = mix64(seed ^ (size * 0x9E3779B97F4A7C15ULL));
  while (size >= 8) {
    std::uint64_t block;
    std::memcpy(&block, data, 8);
    h = mix64(h ^ block ^ seed) + 0x9E3779B97F4A7C15ULL;
    data += 8;
    size -= 8;
  }
  std::uint64_t tail = 0;
  std::memcpy(&tail, data, size);
  return mix64(h ^ tail ^ (seed >> 1));
}

// The character type whose std::basic_string_view a K converts to (void for
// non-strings; char wins for a type that converts to several).
template <class K>
consteval auto string_char_of() {
  if constexpr (std::is_integral_v<K> || std::is_enum_v<K>) {
    return std::type_identity<void>{};
  } else if constexpr (std::is_convertible_v<const K&, std::basic_string_view<char>>) {
    return std::type_identity<char>{};
  } else if constexpr (std::is_convertible_v<const K&, std::basic_string_view<wchar_t>>) {
    return std::type_identity<wchar_t>{};
  } else if constexpr (std::is_convertible_v<const K&, std::basic_string_view<char8_t>>) {
    return std::type_identity<char8_t>{};
  } else if constexpr (std::is_convertible_v<const K&, std::basic_string_view<char16_t>>) {
    return std::type_identity<char16_t>{};
  } else if constexpr (std::is_convertible_v<const K&, std::basic_string_view<char32_t>>) {
    return std::type_identity<char32_t>{};
  } else {
    return std::type_identity<void>{};
  }
}
template <class K>
using string_char_t = typename decltype(string_char_of<K>())::type;
template <class K>
concept string_like = !std::is_void_v<string_char_t<K>>;

// Whether hashing a K cannot throw. Asked without naming std::hash<K> for
// keys hashed as bytes: std::hash of a string literal's type (char[N]) does
// not exist, and heterogeneous lookup must accept "literals".
template <class K>
consteval bool hashes_without_throwing() {
  if constexpr (std::is_integral_v<K> || std::is_enum_v<K>) {
    return true;
  } else if constexpr (string_like<K>) {
    return std::is_nothrow_convertible_v<const K&, std::basic_string_view<string_char_t<K>>>;
  } else {
    return noexcept(std::hash<K>{}(std::declval<const K&>()));
  }
}

}  // namespace detail

template <class Key>
struct seeded_hash {
  using is_transparent = void;
  // Every output bit depends on every input bit: maps use the value as is.
  using is_avalanching = void;

  std::uint64_t seed = 0;

  template <class K>
  std::uint64_t operator()(const K& key) const noexcept(detail::hashes_without_throwing<K>()) {
    if constexpr (std::is_integral_v<K> || std::is_enum_v<K>) {
      return detail::mix64(static_cast<std::uint64_t>(key) + seed);
    } else if constexpr (detail::string_like<K>) {
      using char_type = detail::string_char_t<K>;
      const std::basic_string_view<char_type> text = key;
      return detail::hash_bytes(reinterpret_cast<const char*>(text.data()), text.size() * sizeof(char_type), seed);
    } else {
      return detail::mix64(static_cast<std::uint64_t>(std::hash<K>{}(key)) ^ seed);
    }
  }
};

// std::hash as is (no seed, no mixing): for comparisons and for the
// hash-flooding test, which must be able to fail.
template <class Key>
struct unseeded_hash {
  // Claimed so that maps use std::hash's value unmixed (the point of this
  // hash: keys crafted against it collide, as they would in a naive table).
  using is_avalanching = void;
  template <class K = Key>
  std::uint64_t operator()(const K& key) const noexcept(detail::hashes_without_throwing<K>()) {
    if constexpr (detail::string_like<K>) {
      // std::hash of a string equals std::hash of its view.
      using view = std::basic_string_view<detail::string_char_t<K>>;
      return static_cast<std::uint64_t>(std::hash<view>{}(view(key)));
    } else {
      return static_cast<std::uint64_t>(std::hash<K>{}(key));
    }
  }
};

// Hashes that take a per-map seed expose a `seed` member.
template <class Hash>
concept seedable_hash = requires(Hash h) { h.seed = std::uint64_t{}; };

// A fresh seed per map: address, time and a counter, mixed.
std::uint64_t make_hash_seed() noexcept;

}  // namespace snapcache
