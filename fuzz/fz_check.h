/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * fz_check.h -- the invariant check every libFuzzer target of fuzz/ uses:
 * a failed FZ_CHECK names the condition and its place, then aborts, which
 * libFuzzer reports as a crash with the input that caused it.
 */
#ifndef FZ_CHECK_H
#define FZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FZ_CHECK(c)                                                            \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "fuzz: invariant failed: %s (%s:%d)\n", #c,        \
                    __FILE__, __LINE__);                                       \
            abort();                                                           \
        }                                                                      \
    } while (0)

#endif /* FZ_CHECK_H */
