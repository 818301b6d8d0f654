// Every public header includes this first: snapcache needs C++20 (concepts,
// requires-clauses, constinit, <bit>, designated initializers) and says so
// plainly instead of failing deep inside a template.
#pragma once

#if !defined(__cplusplus) || __cplusplus < 202002L
#error "snapcache needs C++20 or later: compile with -std=c++20 (or a later standard)"
#endif
