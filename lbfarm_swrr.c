/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_swrr.c -- smooth weighted round robin (SWRR), precomputed.
 *
 *   Each step adds every member's weight to its running "current" value,
 *   picks the member with the largest current (the lowest index on a tie)
 *   and subtracts the total weight from the winner.  After total steps
 *   every current is back to 0, so the schedule is periodic with period =
 *   sum of weights (after dividing by their gcd) and every member appears
 *   exactly weight times per period, spread as evenly as possible.
 *
 *   Worked example, weights a=5 b=1 c=1 (total 7):
 *
 *     step  current before pick   pick   current after
 *      1      5   1   1            a      -2   1   1
 *      2      3   2   2            a      -4   2   2
 *      3      1   3   3            b       1  -4   3
 *      4      6  -3   4            a      -1  -3   4
 *      5      4  -2   5            c       4  -2  -2
 *      6      9  -1  -1            a       2  -1  -1
 *      7      7   0   0            a       0   0   0
 *
 *   schedule: a a b a c a a  (the unit test wrr_511_matches_documented_
 *   schedule checks exactly this).  Weights 1 1 1 2 give d a b c d.
 *
 * The weighted method (lbfarm_lbmethods.c) walks the schedule that
 * lbf_farm_rebuild (lbfarm_shm.c) builds with this function.
 */
#include "lbfarm_swrr.h"

static uint32_t lbf_gcd(uint32_t a, uint32_t b)
{
    while (b != 0) {
        uint32_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

uint32_t lbf_swrr_build(const uint32_t *w, uint32_t n, uint16_t *out,
                        uint32_t cap)
{
    int64_t cur[LBF_SWRR_MEMBERS_MAX];
    uint64_t total = 0;
    uint32_t i, g = 0, step;

    if (n == 0 || n > LBF_SWRR_MEMBERS_MAX) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (w[i] == 0) {
            return 0;
        }
        g = lbf_gcd(w[i], g);
    }
    for (i = 0; i < n; i++) {
        total += w[i] / g;
        cur[i] = 0;
    }
    if (total > cap) {
        return 0;
    }
    for (step = 0; step < total; step++) {
        uint32_t best = 0;

        for (i = 0; i < n; i++) {
            cur[i] += w[i] / g;
            if (cur[i] > cur[best]) {
                best = i;
            }
        }
        cur[best] -= (int64_t)total;
        out[step] = (uint16_t)best;
    }
    return (uint32_t)total;
}
