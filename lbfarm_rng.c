/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_rng.c -- the per-thread random draws every method and the
 * ejection probes use (pure C core, the lowest floor: it includes nothing
 * of the module).  xorshift64*: fast, not for secrets (OpenSSL draws
 * those).
 */
#include "lbfarm_rng.h"

uint64_t lbf_rng_next(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

float lbf_rng_unit(uint64_t *state)
{
    return (float)(lbf_rng_next(state) >> 40) * (1.0f / 16777216.0f);
}

uint32_t lbf_rng_below(uint64_t *state, uint32_t n)
{
    /* the top 32 bits scaled to n: no division (Lemire's reduction) */
    return (uint32_t)(((lbf_rng_next(state) >> 32) * (uint64_t)n) >> 32);
}
