// snapcache::detail::small_vector: a vector that keeps its first N elements
// inside itself.
//
// The query cache's buckets hold one or two entries almost always, and a
// bucket is read on every lookup and copied on every write that touches it:
// with the elements inline, reading a bucket is one line instead of two
// dependent ones (bucket, then its buffer), and copying one is one
// allocation instead of two. Only what the buckets need: push_back, erase,
// erase_if, iteration, copy construction. Elements must copy and move
// without throwing (the buckets hold shared_ptrs and raw pointers), so the
// only operation that can throw is growing past N, and it throws before
// changing anything.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace snapcache::detail {

template <class T, std::size_t N>
class small_vector {
  static_assert(N > 0);
  static_assert(std::is_nothrow_copy_constructible_v<T> && std::is_nothrow_move_constructible_v<T> &&
                    std::is_nothrow_move_assignable_v<T>,
                "small_vector grows and shrinks without a throwing element operation");

 public:
  small_vector() noexcept = default;
  // May throw std::bad_alloc (more than N elements); `from` is unchanged.
  small_vector(const small_vector& from) {
    if (from.size_ > N) {
      heap_ = std::allocator<T>().allocate(from.size_);
      capacity_ = from.size_;
    }
    std::uninitialized_copy(from.begin(), from.end(), data());
    size_ = from.size_;
  }
  small_vector& operator=(const small_vector&) = delete;
  ~small_vector() {
    std::destroy(begin(), end());
    if (heap_ != nullptr) std::allocator<T>().deallocate(heap_, capacity_);
  }

  [[nodiscard]] T* begin() noexcept { return data(); }
  [[nodiscard]] T* end() noexcept { return data() + size_; }
  [[nodiscard]] const T* begin() const noexcept { return data(); }
  [[nodiscard]] const T* end() const noexcept { return data() + size_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  // May throw std::bad_alloc (growing past the capacity); unchanged then.
  void push_back(const T& value) {
    if (size_ == capacity_) grow();
    ::new (static_cast<void*>(data() + size_)) T(value);
    ++size_;
  }

  // Removes *at, keeping the order of the rest; returns the element after.
  T* erase(T* at) noexcept {
    std::move(at + 1, end(), at);
    std::destroy_at(end() - 1);
    --size_;
    return at;
  }

  template <class Pred>
  void erase_if(Pred pred) noexcept {
    T* out = begin();
    for (T* in = begin(); in != end(); ++in) {
      if (pred(std::as_const(*in))) continue;
      if (out != in) *out = std::move(*in);
      ++out;
    }
    const std::size_t kept = static_cast<std::size_t>(out - begin());
    std::destroy(out, end());
    size_ = static_cast<std::uint32_t>(kept);
  }

 private:
  [[nodiscard]] T* data() noexcept { return heap_ != nullptr ? heap_ : std::launder(reinterpret_cast<T*>(inline_)); }
  [[nodiscard]] const T* data() const noexcept {
    return heap_ != nullptr ? heap_ : std::launder(reinterpret_cast<const T*>(inline_));
  }

  void grow() {
    const std::size_t wanted = 2 * static_cast<std::size_t>(capacity_);
    T* fresh = std::allocator<T>().allocate(wanted);  // may throw: nothing changed yet
    std::uninitialized_move(begin(), end(), fresh);
    std::destroy(begin(), end());
    if (heap_ != nullptr) std::allocator<T>().deallocate(heap_, capacity_);
    heap_ = fresh;
    capacity_ = static_cast<std::uint32_t>(wanted);
  }

  T* heap_ = nullptr;  // null while the elements fit inline
  std::uint32_t size_ = 0;
  std::uint32_t capacity_ = N;
  alignas(T) unsigned char inline_[N * sizeof(T)];
};

}  // namespace snapcache::detail
