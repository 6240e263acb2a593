/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_swrr.h -- the smooth weighted round-robin schedule (pure C core).
 * It knows no segment: weights in, member indices out.  lbfarm_shm.c
 * builds every farm's published schedule with it; the algorithm and its
 * worked example open lbfarm_swrr.c.
 */
#ifndef LBFARM_SWRR_H
#define LBFARM_SWRR_H

#include <stdint.h>

#define LBF_SWRR_MEMBERS_MAX 4096 /* members one schedule may hold */

/*
 * Write the schedule of weights w[0..n) into out (capacity cap) after
 * dividing the weights by their gcd.  Returns the period (sum of reduced
 * weights), or 0 when n is 0 or above LBF_SWRR_MEMBERS_MAX, a weight is
 * 0, or the period exceeds cap.  Pure: no lock, no allocation.
 */
uint32_t lbf_swrr_build(const uint32_t *w, uint32_t n, uint16_t *out,
                        uint32_t cap);

#endif /* LBFARM_SWRR_H */
