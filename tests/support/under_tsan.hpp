// SNAPCACHE_TEST_UNDER_TSAN is defined when the test is compiled with
// ThreadSanitizer (gcc's and clang's spellings). Tests that fork skip there:
// a multi-threaded process's child may not use what TSan tracks.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define SNAPCACHE_TEST_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SNAPCACHE_TEST_UNDER_TSAN 1
#endif
#endif
