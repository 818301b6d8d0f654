// snapcache/sql.hpp — the SQL text rules of the query cache.
//
// The problem. The query cache answers "was this query run recently?" by
// comparing SQL text. Raw text is a poor key: `SELECT * FROM t;` and
// `(select *\n from T)` are the same query, while a careless normaliser makes
// `select 'A B'` equal `select 'ab'` and serves the wrong result. A CTAS that
// wrote Parquet also answers its inner SELECT, so that SELECT must be dug out.
//
// The mechanism. Hand-written, single-pass scanners (no std::regex, so no
// backtracking): the default rules lex SQL the way Athena's engine (Trino)
// does — `--` and `/* */` comments, '...' literals, "..." and `...` quoted
// identifiers, each with a doubled-quote escape — and rewrite only what lies
// outside quotes. The `_compat` functions reproduce, character for character,
// the Python library the cache replaces (its 3.12–3.17 releases), including
// its known false hits, for users who need its exact hit/miss decisions.
//
// When not to use it. This is not a SQL parser and proves no two queries
// equivalent: `a=b` and `a = b` stay different (a miss, never a false hit).
// Database and catalog are not part of the text: cache only fully qualified
// queries.
//
// Contract (every function below)
// * Total: any byte string is valid input — empty, unterminated quotes or
//   comments, invalid UTF-8, megabytes of text. Nothing throws except
//   std::bad_alloc from building a result; the predicates are noexcept.
// * Linear: O(n) time in the length of the input; O(n) extra memory for the
//   functions that return strings, O(1) for the predicates.
// * Thread-safety: pure functions of their argument, no shared state.
// * Bytes, not code points: only ASCII letters change case. UTF-8 is decoded
//   only where the compat rules need Unicode whitespace; an invalid byte is
//   an ordinary, non-space character.
#pragma once

#include "snapcache/detail/cxx20.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace snapcache {

// ---- Default rules ---------------------------------------------------------

// The normal form used as the cache key: two texts name the same query when
// their normal forms are equal. It
//  * drops `--` line comments (ended by CR or LF) and `/* */` block comments
//    (which do not nest, as in Trino); a comment counts as whitespace, so
//    `-/**/-` becomes `- -`, never a comment;
//  * folds each run of whitespace (space, \t \n \r: Trino's, and only those;
//    \v, \f and Unicode spaces, which the engine rejects, stay bytes) and
//    comments to one space, and trims both ends;
//  * lower-cases ASCII letters outside quotes; '...' literals, "..." and `...`
//    identifiers keep their exact bytes, doubled quotes ('' "" ``) included.
//    A backslash is an ordinary character, as in Trino: 'a\' is complete;
//  * then strips trailing `;` and a `(` ... `)` pair that encloses the whole
//    statement, repeatedly, until neither applies: `((SELECT 1));` ->
//    `select 1`, while `(select 1) union (select 2)` keeps its parentheses.
// Malformed text (an unterminated quote or block comment) is returned
// unchanged: well-formed text never normalises to a malformed string, so this
// form equals only the identical text, and it stays idempotent.
// Idempotent: normalize(normalize(s)) == normalize(s) for every s.
std::string normalize(std::string_view sql);

// The SELECT a Parquet-writing CTAS answers, or nullopt. Accepts, keywords in
// any case and with comments anywhere:
//   CREATE TABLE name [COMMENT '...']
//     WITH ( ..., format = 'PARQUET', ... ) AS query [WITH DATA] [;...]
// where query starts with SELECT or WITH after any `(`. Returns the query's
// own text (case and inner comments kept; enclosing parentheses, trailing
// `WITH DATA` and `;` removed): compare it through normalize(). nullopt for
// anything else, and deliberately for
//  * no explicit `format = 'parquet'` (any case) property, even though Athena
//    defaults to Parquet: the cache only trusts what the text states;
//  * `IF NOT EXISTS`: if the table existed, the statement succeeded without
//    writing anything, so it answers nothing;
//  * a column alias list `name (a, b)`: the table's columns are then not the
//    SELECT's, so its data does not answer the SELECT;
//  * `WITH NO DATA`: the table is empty;
//  * malformed text, unbalanced brackets, or more than one statement.
std::optional<std::string> ctas_parquet_select(std::string_view sql);

// True when the statement reads: its first word, after whitespace, comments
// and opening parentheses, is SELECT, WITH, VALUES or TABLE in any case. In
// standard mode only such DML candidates are served from the cache: a
// repeated INSERT, DELETE, UPDATE or MERGE must run again (its result is a
// row count, and serving it would skip the write). Malformed leading
// comments give false.
bool is_read_query(std::string_view sql) noexcept;

// True when the first word, after whitespace and comments, is INSERT in any
// case. Malformed leading comments give false.
bool is_insert(std::string_view sql) noexcept;

// ---- compat: the original library's rules --------------------------------

// The original's normal form: delete every character Python's str.split()
// splits on (ASCII whitespace, \x1c-\x1f, U+0085, U+00A0, U+1680,
// U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 — not U+200B),
// everywhere, literals and comments included; lower-case ASCII letters
// everywhere (the original also lower-cases non-ASCII letters: the one
// documented difference); while the text starts with `(` and ends with `)`,
// drop both, paired or not; then drop one trailing `;`. Comments stay.
// Known false hit, kept on purpose: `select 'A B'` equals `select 'ab'`.
// NOT idempotent, like the original: `(a);` -> `(a)` -> `a`, and `a;;` ->
// `a;` -> `a`. Apply it exactly once to each side of a comparison.
std::string normalize_compat(std::string_view sql);

// The original's CTAS unwrapping, regexes included: lower-case the text
// (ASCII), require `format\s*=\s*'parquet'` anywhere (comments and literals
// too), take the first match of `\s+as\s+\(*(select|with).*` (dot matches
// newline, `\s` is the Unicode whitespace above, no word boundaries) and
// return it from its `select`/`with` on. So `... as selection ...` matches,
// and a trailing `)`, `;` or `with data` stays in the result. The original
// asked the regexes only after is_create_table_compat(); so must the caller.
// Python lower-cases all of Unicode first; no non-ASCII character lowers to a
// letter these patterns need, so the match decisions are the same and only
// the case of non-ASCII letters in the result differs.
std::optional<std::string> ctas_parquet_select_compat(std::string_view sql);

// The original's gates, tested on the raw text, case-sensitively, with no
// whitespace or comment skipping: a DDL candidate is considered for CTAS
// unwrapping only if it starts with "CREATE TABLE"; a DML candidate is
// excluded if it starts with "INSERT".
bool is_create_table_compat(std::string_view sql) noexcept;
bool is_insert_compat(std::string_view sql) noexcept;

}  // namespace snapcache
