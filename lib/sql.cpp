// The SQL text rules of the query cache: hand-written scanners, one pass each.
// Nothing here uses std::regex: its backtracking is exponential on some
// inputs and recursive (stack overflow) on long ones, and the cache feeds it
// arbitrary user text. Every loop below advances its position on each step,
// which is what makes the functions linear; the comments say where a span is
// scanned twice.
#include "snapcache/sql.hpp"

#include <cstddef>
#include <vector>

namespace snapcache::detail {
namespace {

constexpr std::size_t npos = std::string_view::npos;

constexpr char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// `text` equals `lower` ignoring ASCII case; `lower` is already lower-case.
constexpr bool iequals(std::string_view text, std::string_view lower) noexcept {
  if (text.size() != lower.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (ascii_lower(text[i]) != lower[i]) return false;
  }
  return true;
}

// s[pos..] starts with `lit`; pos may be s.size() (or beyond: false).
constexpr bool starts_at(std::string_view s, std::size_t pos, std::string_view lit) noexcept {
  return pos <= s.size() && s.size() - pos >= lit.size() && s.substr(pos, lit.size()) == lit;
}

// ---- The default lexer ----------------------------------------------------

// Trino's whitespace is [ \t\r\n], and only that: the engine rejects \v,
// \f and Unicode spaces, so they stay ordinary bytes here (folding them
// would give an invalid query a valid one's result; keeping them can only
// turn a would-be hit into a miss).
constexpr bool is_sql_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

constexpr bool is_quote(char c) noexcept { return c == '\'' || c == '"' || c == '`'; }

// Identifier and keyword characters. Bytes >= 0x80 (UTF-8 or not) count, so
// a multi-byte character never splits a word.
constexpr bool is_word_byte(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '_' ||
         u == '$' || u == '@' || u >= 0x80;
}

// The smallest unit the default rules see, starting at a given position.
enum class piece_kind {
  space,      // whitespace or a comment: a separator
  quoted,     // '...', "..." or `...`, doubled closing quotes inside
  other,      // one byte outside quotes and comments
  malformed,  // an unterminated quote or block comment: runs to the end
};

struct piece {
  piece_kind kind;
  std::size_t end;  // one past the piece
};

piece next_piece(std::string_view s, std::size_t at) noexcept {
  const char c = s[at];
  if (is_sql_space(c)) return {piece_kind::space, at + 1};
  if (c == '-' && starts_at(s, at, "--")) {
    // A line comment ends before CR or LF (Trino's rule), or at the end.
    const std::size_t eol = s.find_first_of("\r\n", at + 2);
    return {piece_kind::space, eol == npos ? s.size() : eol};
  }
  if (c == '/' && starts_at(s, at, "/*")) {
    // Block comments do not nest (Trino's rule): the first */ closes.
    const std::size_t close = s.find("*/", at + 2);
    if (close == npos) return {piece_kind::malformed, s.size()};
    return {piece_kind::space, close + 2};
  }
  if (is_quote(c)) {
    for (std::size_t i = at + 1;;) {
      i = s.find(c, i);
      if (i == npos) return {piece_kind::malformed, s.size()};
      if (i + 1 < s.size() && s[i + 1] == c) {  // a doubled quote is an escaped quote
        i += 2;
        continue;
      }
      return {piece_kind::quoted, i + 1};
    }
  }
  return {piece_kind::other, at + 1};
}

enum class token_kind { word, literal, identifier, symbol };

struct token {
  token_kind kind;
  std::size_t begin;
  std::size_t end;
};

// Tokens of the default rules, comments and whitespace skipped. A symbol is
// one byte: the CTAS grammar needs no operator longer than that.
class lexer {
 public:
  enum class status { token, end, malformed };

  explicit lexer(std::string_view text) noexcept : text_(text) {}

  status next(token& out) noexcept {
    while (pos_ < text_.size()) {
      const std::size_t begin = pos_;
      const piece p = next_piece(text_, pos_);
      pos_ = p.end;
      switch (p.kind) {
        case piece_kind::space:
          continue;
        case piece_kind::malformed:
          return status::malformed;
        case piece_kind::quoted:
          out = {text_[begin] == '\'' ? token_kind::literal : token_kind::identifier, begin, pos_};
          return status::token;
        case piece_kind::other:
          if (!is_word_byte(text_[begin])) {
            out = {token_kind::symbol, begin, pos_};
            return status::token;
          }
          // Word bytes never start a comment or a quote: extend directly.
          while (pos_ < text_.size() && is_word_byte(text_[pos_])) ++pos_;
          out = {token_kind::word, begin, pos_};
          return status::token;
      }
    }
    return status::end;
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

// Removes trailing `;` and parentheses that enclose the whole statement,
// repeatedly, from `text`: the output of the first normalize pass, so its
// quotes are all terminated and its whitespace is single spaces.
//
// Only the leading `(`s can ever be stripped, so one scan finds where each of
// them closes; a stripped pair leaves the pairing inside unchanged, which is
// why that one scan stays valid while the window shrinks. (Checking the pair
// by a fresh scan per layer would be quadratic on deeply nested input.)
std::string strip_statement_ends(const std::string& text) {
  std::size_t leading_opens = 0;
  for (std::size_t i = 0; i < text.size() && (text[i] == '(' || text[i] == ' '); ++i) {
    if (text[i] == '(') ++leading_opens;
  }
  // close_of[d]: where the leading `(` that opened depth d + 1 closes.
  std::vector<std::size_t> close_of(leading_opens, npos);
  std::size_t depth = 0;
  for (std::size_t i = 0; i < text.size();) {
    const piece p = next_piece(text, i);
    if (p.kind == piece_kind::other) {
      if (text[i] == '(') {
        ++depth;
      } else if (text[i] == ')' && depth > 0) {
        --depth;
        if (depth < leading_opens && close_of[depth] == npos) close_of[depth] = i;
      }
    }
    i = p.end;
  }

  std::size_t lo = 0;
  std::size_t hi = text.size();
  std::size_t stripped = 0;  // leading `(` removed so far
  for (;;) {
    while (lo < hi && text[lo] == ' ') ++lo;
    while (lo < hi && text[hi - 1] == ' ') --hi;
    // The window holds whole pieces, and a quoted piece ends in a quote, so
    // a `;` or `)` at its end is outside quotes.
    if (lo < hi && text[hi - 1] == ';') {
      --hi;
    } else if (hi - lo >= 2 && text[lo] == '(' && close_of[stripped] == hi - 1) {
      ++lo;
      --hi;
      ++stripped;
    } else {
      break;
    }
  }
  return text.substr(lo, hi - lo);
}

// ---- Python's whitespace, for the compat rules ---------------------------

// Length in bytes of the character at s[i] if Python's str.split() splits on
// it (str.isspace(), which is also what `\s` matches in a str pattern), else
// 0. Only well-formed UTF-8 counts: every sequence matched here begins with a
// lead byte, which can never sit inside another well-formed character, so a
// byte-by-byte walk finds exactly the characters a decoder would.
std::size_t python_space_length(std::string_view s, std::size_t i) noexcept {
  const auto at = [&](std::size_t k) -> unsigned {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u;
  };
  const unsigned c = at(0);
  if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return 1;
  if (c == 0xc2) return (at(1) == 0x85 || at(1) == 0xa0) ? 2 : 0;  // U+0085, U+00A0
  if (c == 0xe1) return (at(1) == 0x9a && at(2) == 0x80) ? 3 : 0;  // U+1680
  if (c == 0xe2) {
    const unsigned b1 = at(1);
    const unsigned b2 = at(2);
    if (b1 == 0x80 && ((b2 >= 0x80 && b2 <= 0x8a) ||  // U+2000..U+200A (not U+200B)
                       b2 == 0xa8 || b2 == 0xa9 ||     // U+2028, U+2029
                       b2 == 0xaf)) {                  // U+202F
      return 3;
    }
    return (b1 == 0x81 && b2 == 0x9f) ? 3 : 0;  // U+205F
  }
  if (c == 0xe3) return (at(1) == 0x80 && at(2) == 0x80) ? 3 : 0;  // U+3000
  return 0;
}

// One past the run of Python whitespace starting at i (i itself if none).
std::size_t skip_python_spaces(std::string_view s, std::size_t i) noexcept {
  while (i < s.size()) {
    const std::size_t len = python_space_length(s, i);
    if (len == 0) break;
    i += len;
  }
  return i;
}

// re.search(r"format\s*=\s*'parquet'", s) is not None, for lower-cased s.
// Neither `\s*` can give back a character the next atom needs, so the regex
// never backtracks and one look after each "format" decides. The "format"s
// cannot overlap, so each span after one is scanned once.
bool has_parquet_format_compat(std::string_view s) noexcept {
  for (std::size_t at = s.find("format"); at != npos; at = s.find("format", at + 1)) {
    std::size_t i = skip_python_spaces(s, at + 6);
    if (i < s.size() && s[i] == '=') {
      i = skip_python_spaces(s, i + 1);
      if (starts_at(s, i, "'parquet'")) return true;
    }
  }
  return false;
}

}  // namespace
}  // namespace snapcache::detail

namespace snapcache {

std::string normalize(std::string_view sql) {
  using detail::piece_kind;
  std::string out;
  out.reserve(sql.size());
  bool gap = false;  // whitespace or a comment since the last byte kept
  for (std::size_t i = 0; i < sql.size();) {
    const detail::piece p = detail::next_piece(sql, i);
    switch (p.kind) {
      case piece_kind::malformed:
        // Returned unchanged: see the header for why this is the only form
        // that is both idempotent and equal to nothing but itself.
        return std::string(sql);
      case piece_kind::space:
        gap = true;
        break;
      case piece_kind::quoted:
      case piece_kind::other:
        if (gap && !out.empty()) out += ' ';
        gap = false;
        if (p.kind == piece_kind::quoted) {
          out.append(sql.substr(i, p.end - i));
        } else {
          out += detail::ascii_lower(sql[i]);
        }
        break;
    }
    i = p.end;
  }
  return detail::strip_statement_ends(out);
}

bool is_read_query(std::string_view sql) noexcept {
  detail::lexer lex(sql);
  detail::token t{};
  for (;;) {
    if (lex.next(t) != detail::lexer::status::token) return false;
    if (t.kind == detail::token_kind::symbol && sql[t.begin] == '(') continue;  // (SELECT ...)
    break;
  }
  if (t.kind != detail::token_kind::word) return false;
  const std::string_view first = sql.substr(t.begin, t.end - t.begin);
  return detail::iequals(first, "select") || detail::iequals(first, "with") || detail::iequals(first, "values") ||
         detail::iequals(first, "table");
}

bool is_insert(std::string_view sql) noexcept {
  detail::lexer lex(sql);
  detail::token t{};
  if (lex.next(t) != detail::lexer::status::token) return false;
  return t.kind == detail::token_kind::word &&
         detail::iequals(sql.substr(t.begin, t.end - t.begin), "insert");
}

std::optional<std::string> ctas_parquet_select(std::string_view sql) {
  using detail::token;
  using detail::token_kind;
  using status = detail::lexer::status;

  // Most candidates are not CTAS: decide that from two tokens, before
  // tokenising the whole text.
  {
    detail::lexer head(sql);
    token a{};
    token b{};
    if (head.next(a) != status::token || head.next(b) != status::token) return std::nullopt;
    const auto text = [&](const token& t) { return sql.substr(t.begin, t.end - t.begin); };
    if (a.kind != token_kind::word || !detail::iequals(text(a), "create") ||
        b.kind != token_kind::word || !detail::iequals(text(b), "table")) {
      return std::nullopt;
    }
  }

  std::vector<token> t;
  {
    detail::lexer lex(sql);
    token next{};
    status st;
    while ((st = lex.next(next)) == status::token) t.push_back(next);
    if (st == status::malformed) return std::nullopt;
  }
  const std::size_t n = t.size();
  const auto text = [&](std::size_t i) { return sql.substr(t[i].begin, t[i].end - t[i].begin); };
  const auto word = [&](std::size_t i, std::string_view kw) {
    return i < n && t[i].kind == token_kind::word && detail::iequals(text(i), kw);
  };
  const auto symbol = [&](std::size_t i, char c) {
    return i < n && t[i].kind == token_kind::symbol && sql[t[i].begin] == c;
  };
  const auto name = [&](std::size_t i) {
    return i < n && (t[i].kind == token_kind::word || t[i].kind == token_kind::identifier);
  };
  // Content of a quoted token, quotes off (escapes left as they are).
  const auto content = [&](std::size_t i) { return text(i).substr(1, text(i).size() - 2); };
  const auto is_open = [&](std::size_t i) { return symbol(i, '(') || symbol(i, '['); };
  const auto closes = [&](std::size_t open, std::size_t i) {
    return symbol(i, symbol(open, '(') ? ')' : ']');
  };
  const auto is_close = [&](std::size_t i) { return symbol(i, ')') || symbol(i, ']'); };

  // CREATE TABLE name[.name...] [COMMENT '...']. IF NOT EXISTS is refused:
  // when the table existed, the statement wrote nothing, and its success
  // says nothing about the SELECT.
  std::size_t i = 2;
  if (word(i, "if")) return std::nullopt;
  if (!name(i)) return std::nullopt;
  ++i;
  while (symbol(i, '.')) {
    if (!name(i + 1)) return std::nullopt;
    i += 2;
  }
  if (word(i, "comment")) {
    if (i + 1 >= n || t[i + 1].kind != token_kind::literal) return std::nullopt;
    i += 2;
  }

  // WITH ( property = expression, ... ): a column alias list fails here.
  if (!word(i, "with") || !symbol(i + 1, '(')) return std::nullopt;
  i += 2;
  bool parquet = false;
  std::vector<std::size_t> stack;  // open brackets inside one expression
  for (bool last = false; !last;) {
    std::size_t j = i;  // end of this property: `,` or `)` at its own level
    for (; j < n; ++j) {
      if (is_open(j)) {
        stack.push_back(j);
      } else if (is_close(j)) {
        if (stack.empty()) break;
        if (!closes(stack.back(), j)) return std::nullopt;
        stack.pop_back();
      } else if (symbol(j, ',') && stack.empty()) {
        break;
      }
    }
    if (j >= n || symbol(j, ']')) return std::nullopt;
    last = symbol(j, ')');
    if (j - i < 3 || !name(i) || !symbol(i + 1, '=')) return std::nullopt;
    const std::string_view key = t[i].kind == token_kind::word ? text(i) : content(i);
    if (detail::iequals(key, "format")) {
      // Any other format, or a computed one, is not known to be Parquet.
      if (j - i != 3 || t[i + 2].kind != token_kind::literal || !detail::iequals(content(i + 2), "parquet")) {
        return std::nullopt;
      }
      parquet = true;
    }
    i = j + 1;
  }
  if (!parquet || !word(i, "as")) return std::nullopt;

  // AS query [WITH [NO] DATA] [;...]
  std::size_t qb = i + 1;
  std::size_t qe = n;
  while (qe > qb && symbol(qe - 1, ';')) --qe;
  if (qe - qb >= 3 && word(qe - 3, "with") && word(qe - 2, "no") && word(qe - 1, "data")) return std::nullopt;
  if (qe - qb >= 2 && word(qe - 2, "with") && word(qe - 1, "data")) qe -= 2;

  // Balanced brackets, one statement; note where the leading `(`s close.
  std::size_t leading_opens = 0;
  while (qb + leading_opens < qe && symbol(qb + leading_opens, '(')) ++leading_opens;
  std::vector<std::size_t> close_of(leading_opens, detail::npos);
  stack.clear();
  for (std::size_t k = qb; k < qe; ++k) {
    if (symbol(k, ';')) return std::nullopt;
    if (is_open(k)) {
      stack.push_back(k);
    } else if (is_close(k)) {
      if (stack.empty() || !closes(stack.back(), k)) return std::nullopt;
      if (stack.back() < qb + leading_opens) close_of[stack.back() - qb] = k;
      stack.pop_back();
    }
  }
  if (!stack.empty()) return std::nullopt;
  const std::size_t first = qb + leading_opens;
  if (first >= qe || !(word(first, "select") || word(first, "with"))) return std::nullopt;

  std::size_t layers = 0;  // `(`...`)` pairs around the whole query
  while (layers < leading_opens && close_of[layers] == qe - 1 - layers) ++layers;
  qb += layers;
  qe -= layers;
  return std::string(sql.substr(t[qb].begin, t[qe - 1].end - t[qb].begin));
}

std::string normalize_compat(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  for (std::size_t i = 0; i < sql.size();) {
    const std::size_t space = detail::python_space_length(sql, i);
    if (space != 0) {
      i += space;
    } else {
      out += detail::ascii_lower(sql[i]);
      ++i;
    }
  }
  std::size_t lo = 0;
  std::size_t hi = out.size();
  // The original's `while s.startswith("(") and s.endswith(")")`: pairing is
  // never checked, so `(a) or (b)` loses both.
  while (hi - lo >= 2 && out[lo] == '(' && out[hi - 1] == ')') {
    ++lo;
    --hi;
  }
  if (hi > lo && out[hi - 1] == ';') --hi;
  return out.substr(lo, hi - lo);
}

std::optional<std::string> ctas_parquet_select_compat(std::string_view sql) {
  std::string lowered(sql);
  for (char& c : lowered) c = detail::ascii_lower(c);
  const std::string_view s = lowered;
  if (!detail::has_parquet_format_compat(s)) return std::nullopt;

  // re.search(r"\s+as\s+\(*(select|with).*", s, re.DOTALL), then the result
  // from its `select`/`with` on. A match starting anywhere inside a run of
  // whitespace continues the same way, and `\s+` must take the whole run
  // (the next atom, `a`, is not a space), so trying each maximal run, left to
  // right, finds the leftmost match. Each run is scanned at most twice: once
  // as a run, once as the run after an "as".
  for (std::size_t i = 0; i < s.size();) {
    if (detail::python_space_length(s, i) == 0) {
      ++i;
      continue;
    }
    const std::size_t run_end = detail::skip_python_spaces(s, i);
    if (detail::starts_at(s, run_end, "as")) {
      const std::size_t after_as = run_end + 2;
      std::size_t k = detail::skip_python_spaces(s, after_as);
      if (k > after_as) {
        while (k < s.size() && s[k] == '(') ++k;
        if (detail::starts_at(s, k, "select") || detail::starts_at(s, k, "with")) {
          return std::string(s.substr(k));
        }
      }
    }
    i = run_end;
  }
  return std::nullopt;
}

bool is_create_table_compat(std::string_view sql) noexcept { return sql.starts_with("CREATE TABLE"); }

bool is_insert_compat(std::string_view sql) noexcept { return sql.starts_with("INSERT"); }

}  // namespace snapcache
