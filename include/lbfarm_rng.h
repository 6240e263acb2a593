/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_rng.h -- random draws of a pick (lbfarm_rng.c): a xorshift64*
 * generator whose state each thread keeps (struct lbf_pick.rng).  No
 * locks, no shared state; not for secrets.
 */
#ifndef LBFARM_RNG_H
#define LBFARM_RNG_H

#include <stdint.h>

/* xorshift64* generator: state must be nonzero; returns the next value. */
uint64_t lbf_rng_next(uint64_t *state);

/* A uniform float in [0, 1) (24 bits) from the generator. */
float lbf_rng_unit(uint64_t *state);

/* A uniform integer in 0..n-1 (n >= 1) from the generator. */
uint32_t lbf_rng_below(uint64_t *state, uint32_t n);

#endif /* LBFARM_RNG_H */
