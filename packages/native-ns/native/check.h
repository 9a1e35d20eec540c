// The native test binaries' CHECK: reports the failed condition with its place and counts it, and
// the test goes on (main returns non-zero when `failures` > 0). One test binary per source file.
#pragma once
#include <cstdio>

static int failures = 0;
#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
      failures++;                                                                \
    }                                                                            \
  } while (0)
