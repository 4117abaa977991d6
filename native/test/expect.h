// The C++ tests' one assertion macro and their shared counters.
#pragma once
#include <cstdio>

extern int failures, passes;
#define EXPECT(cond, what)                                          \
  do {                                                             \
    if (cond) {                                                    \
      ++passes;                                                    \
    } else {                                                       \
      ++failures;                                                  \
      std::printf("FAIL %s (%s:%d)\n", what, __FILE__, __LINE__); \
    }                                                              \
  } while (0)

void reversibleTests();
void featureDegradationTests();
void distributedTests();
