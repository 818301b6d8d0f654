// libFuzzer target: the SQL text rules of the query cache (snapcache/sql.hpp)
// on arbitrary bytes, checked against what their contracts promise.
//
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
//     tests/fuzz/normalize_fuzz.cpp lib/*.cpp -o /tmp/normalize_fuzz
//   /tmp/normalize_fuzz -max_total_time=30 tests/fuzz/corpus/normalize
//
// Checked for every input x:
//  * normalize: total; idempotent (normalize(normalize(x)) == normalize(x));
//    never longer than x (it only drops and folds).
//  * normalize_compat: total; equal to a direct transcription of the
//    original's rules (delete Python whitespace, lower-case ASCII, strip
//    "(...)" while both ends allow, drop one ';'); no ASCII whitespace and no
//    upper-case ASCII letter survive. Not idempotent, so not checked for it.
//  * ctas_parquet_select: a substring of x whose normal form is stable.
//  * ctas_parquet_select_compat: a suffix of the ASCII-lower-cased x that
//    starts with "select" or "with".
//  * the prefix predicates agree with their definitions.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "snapcache/sql.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Bytes of a character Python's str.split() splits on, starting at s[i]; 0 if
// none. Transcribed from the list on the semantics page.
std::size_t python_space(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  const unsigned c = byte(0);
  if (c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r') return 1;
  if (c >= 0x1c && c <= 0x1f) return 1;
  struct seq {
    unsigned a, b, c;
    std::size_t n;
  };
  static constexpr seq spaces[] = {
      {0xc2, 0x85, 0, 2},    {0xc2, 0xa0, 0, 2},    {0xe1, 0x9a, 0x80, 3}, {0xe2, 0x80, 0x80, 3},
      {0xe2, 0x80, 0x81, 3}, {0xe2, 0x80, 0x82, 3}, {0xe2, 0x80, 0x83, 3}, {0xe2, 0x80, 0x84, 3},
      {0xe2, 0x80, 0x85, 3}, {0xe2, 0x80, 0x86, 3}, {0xe2, 0x80, 0x87, 3}, {0xe2, 0x80, 0x88, 3},
      {0xe2, 0x80, 0x89, 3}, {0xe2, 0x80, 0x8a, 3}, {0xe2, 0x80, 0xa8, 3}, {0xe2, 0x80, 0xa9, 3},
      {0xe2, 0x80, 0xaf, 3}, {0xe2, 0x81, 0x9f, 3}, {0xe3, 0x80, 0x80, 3},
  };
  for (const seq& sp : spaces) {
    if (c == sp.a && byte(1) == sp.b && (sp.n == 2 || byte(2) == sp.c)) return sp.n;
  }
  return 0;
}

std::string reference_compat(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (const std::size_t n = python_space(s, i)) {
      i += n;
    } else {
      out += lower(s[i++]);
    }
  }
  while (out.size() >= 2 && out.front() == '(' && out.back() == ')') out = out.substr(1, out.size() - 2);
  if (!out.empty() && out.back() == ';') out.pop_back();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view x(reinterpret_cast<const char*>(data), size);

  const std::string once = snapcache::normalize(x);
  check(snapcache::normalize(once) == once);
  check(once.size() <= x.size());

  const std::string compat = snapcache::normalize_compat(x);
  check(compat == reference_compat(x));
  check(compat.size() <= x.size());
  for (const char c : compat) {
    check(!(c >= 'A' && c <= 'Z'));
    check(!(c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f)));
  }

  if (const auto inner = snapcache::ctas_parquet_select(x)) {
    check(x.find(*inner) != std::string_view::npos);
    const std::string n = snapcache::normalize(*inner);
    check(snapcache::normalize(n) == n);
  }
  if (const auto inner = snapcache::ctas_parquet_select_compat(x)) {
    std::string lowered(x);
    for (char& c : lowered) c = lower(c);
    check(inner->size() <= lowered.size() && lowered.ends_with(*inner));
    check(inner->starts_with("select") || inner->starts_with("with"));
    check(lowered.find("format") != std::string::npos);
  }

  check(snapcache::is_insert_compat(x) == x.starts_with("INSERT"));
  check(snapcache::is_create_table_compat(x) == x.starts_with("CREATE TABLE"));
  if ((x.starts_with("INSERT") || x.starts_with("insert")) && (x.size() == 6 || x[6] == ' ' || x[6] == '\n')) {
    check(snapcache::is_insert(x));
  }
  return 0;
}
