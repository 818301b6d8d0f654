// Every public header includes this first: snapcache needs C++20 (concepts,
// requires-clauses, constinit, <bit>, designated initializers) and says so
// plainly instead of failing deep inside a template.
#pragma once

#if !defined(__cplusplus) || __cplusplus < 202002L
#error "snapcache needs C++20 or later: compile with -std=c++20 (or a later standard)"
#endif

// Forces inlining of the few fast paths whose call would cost as much as
// their body (the EBR pin and unpin, a lookup's probe): compilers otherwise
// stop inlining them once they have enough callers.
#if defined(__GNUC__) || defined(__clang__)
#define SNAPCACHE_ALWAYS_INLINE [[gnu::always_inline]] inline
#else
#define SNAPCACHE_ALWAYS_INLINE inline
#endif
