/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_pick.c -- what every method's pick stands on (pure C, lock-free):
 * the per-thread random generator, eligibility and tiers (standby tiers,
 * balancer:// status, the stall rule, panic mode), slow start, pushed
 * headroom, and
 * the candidate draw (a full scan up to LBF_LL_SCAN_MAX members, random
 * draws above).  The methods (lbfarm_lbmethods.c, lbfarm_leasttime.c)
 * are built on it; it calls none of them.  The rules are stated in
 * include/lbfarm_method.h.
 */
#include <string.h>

#include "lbfarm_method.h"

/* ---- stall detection ---- */

#define LBF_STALL_FLOOR_BITS 0xffffffu

int lbf_row_stalled(const struct lbf_row *r, uint64_t now_usec)
{
    struct lbf_row *w = (struct lbf_row *)r;
    uint32_t cfg = atomic_load_explicit(&w->stall_cfg, memory_order_relaxed);
    uint64_t done, busy, ref, pct[3];

    if (cfg == 0
        || atomic_load_explicit(&w->inflight, memory_order_acquire) <= 0) {
        return 0;
    }
    done = atomic_load_explicit(&w->done_ts, memory_order_relaxed);
    busy = atomic_load_explicit(&w->busy_ts, memory_order_relaxed);
    ref = done > busy ? done : busy;
    if (ref == 0 || now_usec <= ref
        || now_usec - ref <= (uint64_t)(cfg & LBF_STALL_FLOOR_BITS) * 1000u) {
        return 0; /* unknown, or within the floor: the cheap, usual case */
    }
    lbf_row_latency(r, now_usec, pct);
    return now_usec - ref > (uint64_t)(cfg >> 24) * pct[2];
}

#define LBF_STALL_PEERS 16  /* members looked at for one not stalled */

/* 1 when a member of the farm other than mi could take a request and is
 * not stalled.  Looks at up to LBF_STALL_PEERS members after mi: enough in
 * a large farm, exact in a small one. */
static int lbf_peer_unstalled(const struct lbf_pick *pk, uint32_t mi)
{
    uint32_t n = pk->farm->n_rows, k;

    for (k = 1; k < n && k <= LBF_STALL_PEERS; k++) {
        uint32_t j = (mi + k) % n;
        const struct lbf_row *r = lbf_member_at(pk->h, pk->farm, j);

        if (j != pk->exclude && lbf_row_usable(r, pk->now)
            && (pk->usable == NULL || pk->usable(pk->uctx, j) >= 0)
            && !lbf_row_stalled(r, pk->now)) {
            return 1;
        }
    }
    return 0;
}

/*
 * Slow start of balancer:// members.  There, mod_proxy's worker status
 * (in error, disabled or stopped in balancer-manager, failed health check)
 * decides, not the row, so no row transition marks a member coming back.
 * The pick does: a member the glue's callback refuses gets LBF_UP_AWAY in
 * up_since; the first pick of any process that finds it usable again
 * replaces that by now (one CAS: every process agrees on when), which
 * starts its ramp.  lbf_ramp reads an away mark as "not ramping".
 */
#define LBF_UP_AWAY (1ull << 63)

/* Mark r as refused by the glue (no store when it already is). */
static void lbf_ramp_away(struct lbf_row *r)
{
    uint64_t s = atomic_load_explicit(&r->up_since, memory_order_relaxed);

    if (!(s & LBF_UP_AWAY)) {
        atomic_store_explicit(&r->up_since, LBF_UP_AWAY,
                              memory_order_relaxed);
    }
}

/* r is usable to the glue again: an away mark becomes now. */
static void lbf_ramp_back(const struct lbf_pick *pk, struct lbf_row *r)
{
    uint64_t s = atomic_load_explicit(&r->up_since, memory_order_relaxed);

    if (s & LBF_UP_AWAY) {
        atomic_compare_exchange_strong(&r->up_since, &s, pk->now);
    }
}

/* lbf_member_tier of member mi, whose row (NULL: none) goes to *row.
 * rows: the farm's first row (its rows are contiguous), or NULL. */
static int lbf_tier_row(const struct lbf_pick *pk, uint32_t mi,
                        struct lbf_row *rows, struct lbf_row **row)
{
    struct lbf_row *r;
    int extra = 0;

    r = *row = rows == NULL ? lbf_member_at(pk->h, pk->farm, mi)
               : mi < pk->farm->n_rows ? rows + mi : NULL;
    if (r == NULL || mi == pk->exclude) {
        return -1;
    }
    if (!lbf_row_usable(r, pk->now)
        && !(lbf_eject_panic_ok(r, pk->now) && lbf_eject_panic(pk))) {
        return -1; /* panic lets members ejected for bad answers in */
    }
    if (pk->usable != NULL && (extra = pk->usable(pk->uctx, mi)) < 0) {
        lbf_ramp_away(r);
        return -1;
    }
    if (pk->usable != NULL) {
        lbf_ramp_back(pk, r);
    }
    if (atomic_load_explicit(&r->stall_cfg, memory_order_relaxed) != 0
        && atomic_load_explicit(&r->inflight, memory_order_relaxed) > 0
        && lbf_row_stalled(r, pk->now) && lbf_peer_unstalled(pk, mi)) {
        return -1; /* frozen while others answer: no new requests */
    }
    return (int)r->tier + extra;
}

int lbf_member_tier(const struct lbf_pick *pk, uint32_t mi)
{
    struct lbf_row *r;

    return lbf_tier_row(pk, mi, NULL, &r);
}

int lbf_best_tier(const struct lbf_pick *pk)
{
    uint32_t i, n = pk->farm->n_rows;
    int best = -1;

    for (i = 0; i < n; i++) {
        int t = lbf_member_tier(pk, i);

        if (t >= 0 && (best < 0 || t < best)) {
            best = t;
        }
    }
    return best;
}

uint32_t lbf_ramp(const struct lbf_pick *pk, const struct lbf_row *r)
{
    uint64_t since = atomic_load_explicit(&((struct lbf_row *)r)->up_since,
                                          memory_order_relaxed);
    uint64_t span = (uint64_t)pk->farm->slowstart_ms * 1000u, f;

    if (span == 0 || since == 0 || (since & LBF_UP_AWAY)
        || pk->now >= since + span) {
        return 1000;
    }
    f = pk->now <= since ? 0 : (pk->now - since) * 1000u / span;
    return f < LBF_RAMP_MIN ? LBF_RAMP_MIN : (uint32_t)f;
}

int lbf_ramp_pass(const struct lbf_pick *pk, const struct lbf_row *r)
{
    uint32_t ramp = lbf_ramp(pk, r);

    return ramp >= 1000 || lbf_rng_next(pk->rng) % 1000u < ramp;
}

uint32_t lbf_headroom(const struct lbf_pick *pk, const struct lbf_row *r)
{
    struct lbf_row *w = (struct lbf_row *)r;
    uint64_t ts = atomic_load_explicit(&w->load_ts, memory_order_relaxed);
    uint64_t since = atomic_load_explicit(&w->load_since,
                                          memory_order_relaxed);
    uint32_t load;

    if (ts == 0 || pk->now < ts
        || pk->now - ts > (uint64_t)pk->farm->expiry_ms * 1000u
        || pk->now - since < (uint64_t)pk->farm->blackout_ms * 1000u) {
        return 1000;
    }
    load = atomic_load_explicit(&w->load_milli, memory_order_relaxed);
    return load >= 1000 - LBF_HEADROOM_MIN ? LBF_HEADROOM_MIN : 1000 - load;
}

/* One random member of the fastest tier other than `other` into *c;
 * 0 after LBF_P2C_DRAWS draws found none. */
static int lbf_draw(const struct lbf_pick *pk, struct lbf_row *rows,
                    uint32_t other, struct lbf_cand *c)
{
    uint32_t n = pk->farm->n_rows, d;

    for (d = 0; d < LBF_P2C_DRAWS; d++) {
        c->mi = lbf_rng_below(pk->rng, n);
        if (c->mi != other && lbf_tier_row(pk, c->mi, rows, &c->r)
                                  == (int)pk->farm->min_tier) {
            return 1;
        }
    }
    return 0;
}

/* Eligible members of the best tier, visiting every member once from
 * start: the first LBF_LL_SCAN_MAX of that tier into c[], their count
 * returned.  A member of a better tier restarts the list. */
static uint32_t lbf_scan(const struct lbf_pick *pk, struct lbf_row *rows,
                         uint32_t start, struct lbf_cand c[LBF_LL_SCAN_MAX])
{
    uint32_t n = pk->farm->n_rows, k, got = 0;
    int best = -1;

    for (k = 0; k < n; k++) {
        uint32_t i = start + k < n ? start + k : start + k - n;
        struct lbf_row *r;
        int t = lbf_tier_row(pk, i, rows, &r);

        if (t < 0 || (best >= 0 && t > best)) {
            continue;
        }
        if (best < 0 || t < best) {
            best = t;
            got = 0;
        }
        if (got < LBF_LL_SCAN_MAX) {
            c[got].mi = i;
            c[got++].r = r;
        }
    }
    return got;
}

uint32_t lbf_candidates(const struct lbf_pick *pk,
                        struct lbf_cand c[LBF_LL_SCAN_MAX])
{
    uint32_t n = pk->farm->n_rows;
    struct lbf_row *rows = lbf_member_at(pk->h, pk->farm, 0);

    if (rows == NULL) {
        return 0;
    }
    if (n > LBF_LL_SCAN_MAX && lbf_draw(pk, rows, LBF_NO_MEMBER, &c[0])
        && lbf_draw(pk, rows, c[0].mi, &c[1])) {
        return 2;
    }
    /* all of a small farm; in a large one where draws keep failing (most
     * members unusable) the first eligible ones from a random start */
    return lbf_scan(pk, rows, n > LBF_LL_SCAN_MAX
                                  ? lbf_rng_below(pk->rng, n) : 0,
                    c);
}
