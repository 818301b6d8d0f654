// snapcache::heap_bytes — what a value owns on the heap, as reclamation counts it.
//
// Reclamation bounds what it has not freed yet in objects and in bytes
// (ebr.hpp): a retired version counts its own size plus the heap memory its
// key and value own, so a map of large values reclaims as often as their
// size asks, not only every `batch` objects. The library knows strings and
// vectors of trivially destructible elements (their capacity); for any other
// type that owns memory, declare
//
//   std::size_t snapcache_heap_bytes(const MyValue& v) noexcept;
//
// in MyValue's namespace (found by argument-dependent lookup). Without one a
// type counts 0 beyond its sizeof. It is called while the caller is pinned,
// once per retired version: keep it O(1).
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

namespace snapcache {

namespace detail {
template <class T>
concept has_heap_bytes_hook = requires(const T& v) {
  { snapcache_heap_bytes(v) } noexcept;
};
template <class T>
struct is_string : std::false_type {};
template <class C, class Traits, class Alloc>
struct is_string<std::basic_string<C, Traits, Alloc>> : std::true_type {};
template <class T>
struct is_trivial_vector : std::false_type {};
template <class E, class Alloc>
struct is_trivial_vector<std::vector<E, Alloc>> : std::is_trivially_destructible<E> {};
}  // namespace detail

// The heap bytes `v` owns beyond sizeof(T).
template <class T>
[[nodiscard]] std::size_t heap_bytes(const T& v) noexcept {
  if constexpr (detail::has_heap_bytes_hook<T>) {
    return static_cast<std::size_t>(snapcache_heap_bytes(v));
  } else if constexpr (detail::is_string<T>::value) {
    // A short string lives inside the object (capacity 15 for char in
    // libstdc++ and libc++ alike; 22 in libc++): count what exceeds it.
    using char_type = typename T::value_type;
    constexpr std::size_t inline_chars = 15 / sizeof(char_type);
    return v.capacity() > inline_chars ? (v.capacity() + 1) * sizeof(char_type) : 0;
  } else if constexpr (detail::is_trivial_vector<T>::value) {
    return v.capacity() * sizeof(typename T::value_type);
  } else {
    return 0;
  }
}

}  // namespace snapcache
