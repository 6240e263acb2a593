/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_lbmethods.c -- the load-balancing methods (pure C core).
 *
 * weighted: smooth weighted round robin (SWRR), precomputed (the
 *   algorithm and its worked example: lbfarm_swrr.c).
 *
 *   The schedule is built once per weight change into the farm's spare
 *   buffer (lbf_farm_rebuild) and published with one atomic store; a pick
 *   is one atomic fetch-add on the farm's shared cursor plus one load, so
 *   the whole httpd -- every child process and thread -- follows the one
 *   documented schedule exactly, with no lock on the request path (stock
 *   byrequests keeps per-member lbstatus in shm with plain read-modify-
 *   writes).  A member that is not eligible passes its slot on: the pick
 *   takes the next global slot, so its share is spread over the others in
 *   proportion to their weights.
 *
 * least-load: the lowest (inflight + 1) / weight, compared by cross
 *   multiplication.  The +1 makes weights matter when a farm is idle (an
 *   idle weight-3 member scores 1/3, an idle weight-1 member 1/1) and is
 *   the load the member would carry with this request.  Up to
 *   LBF_LL_SCAN_MAX members every eligible member is compared; above,
 *   power-of-two choices: two distinct random eligible members, the
 *   lighter wins.  Ties go to a uniformly random member among the tied.
 *
 * pushed-metric: least-load where a member's capacity is its weight times
 *   the headroom its own reports give it:
 *
 *       score = (inflight + 1) / (weight * headroom)
 *       headroom = max(0.25, 1 - load)   for a fresh, trusted report
 *                = 1                     otherwise (neutral)
 *
 *   load (0..1) is the farm's formula over the last pushed metrics
 *   (lbf_load_eval).  Why not "send to the lowest load": a report is
 *   seconds old while thousands of requests arrive in between, and a
 *   balancer that trusts it alone sends all of them to whoever looked
 *   lightest at the last report (mod_backhand's herd).  Here the report
 *   only scales capacity; the live, exact in-flight count does the
 *   steering between reports -- a member that receives more requests
 *   sees its score rise at once -- and power-of-two choices keeps picks
 *   spread even when two members report the same.  A member that stops
 *   reporting goes neutral after the farm's expiry (plain least-load), and
 *   a new run of reports counts only after the farm's blackout.  The
 *   floor of 0.25 bounds what reports can do to 4:1 between members: with
 *   a floor of 0.05, second-old samples of members near full (all at
 *   0.95..1.0, then one momentarily at 0.7) gave one member many times the
 *   others' capacity until its next report -- the herd again.
 */
#include <string.h>

#include "lbfarm_method.h"

uint64_t lbf_rng_next(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

int lbf_member_tier(const struct lbf_pick *pk, uint32_t mi)
{
    const struct lbf_row *r = lbf_member_at(pk->h, pk->farm, mi);
    int extra = 0;

    if (r == NULL || mi == pk->exclude || !lbf_row_usable(r, pk->now)) {
        return -1;
    }
    if (pk->usable != NULL && (extra = pk->usable(pk->uctx, mi)) < 0) {
        return -1;
    }
    return (int)r->tier + extra;
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

    if (span == 0 || since == 0 || pk->now >= since + span) {
        return 1000;
    }
    f = pk->now <= since ? 0 : (pk->now - since) * 1000u / span;
    return f < LBF_RAMP_MIN ? LBF_RAMP_MIN : (uint32_t)f;
}

/* 1 when a member ramping up (slow start) lets this pick through: with
 * probability ramp/1000 (always when not ramping). */
static int lbf_ramp_pass(const struct lbf_pick *pk, const struct lbf_row *r)
{
    uint32_t ramp = lbf_ramp(pk, r);

    return ramp >= 1000 || lbf_rng_next(pk->rng) % 1000u < ramp;
}

/* ---- weighted ---- */

static int lbf_pick_weighted(const struct lbf_method *m,
                             const struct lbf_pick *pk)
{
    struct lbf_farm *f = pk->farm;
    uint64_t st = atomic_load_explicit(&f->sched, memory_order_acquire);
    uint64_t c0 = pk->peek ? atomic_load(&f->cursor) : 0;
    uint32_t period = (uint32_t)st, k;
    const uint16_t *sched;
    uint64_t c;
    int best = -2, skipped = -1;

    (void)m;
    if (period == 0) {
        return -1;
    }
    sched = (const uint16_t *)(pk->h->base + pk->h->hdr->sched_off)
            + f->sched_off + (uint32_t)(st >> 32) * f->sched_cap;
    for (k = 0; k < period; k++) {
        /* each try takes the next global slot: the slots of a member that
         * cannot serve go to the others in proportion to their weights */
        uint32_t mi;

        c = pk->peek ? c0 + k /* a query looks, never advances */
                     : atomic_fetch_add_explicit(&f->cursor, 1,
                                                 memory_order_relaxed);
        mi = sched[c % period];
        int t = lbf_member_tier(pk, mi);

        if (t >= 0 && !lbf_ramp_pass(pk, lbf_member_at(pk->h, f, mi))) {
            skipped = skipped < 0 ? (int)mi : skipped;
            continue; /* slow start: this slot goes to the next entry */
        }
        if (t >= 0 && t == (int)f->min_tier) {
            return (int)mi; /* the fast path: regular member, usable */
        }
        if (best == -2) {
            best = lbf_best_tier(pk);
            if (best < 0) {
                return -1;
            }
        }
        if (t == best) {
            return (int)mi;
        }
    }
    return skipped; /* everyone usable is ramping: take one anyway */
}

/* ---- least-load ---- */

/* least-load's capacity: the weight alone. */
static uint64_t lbf_capacity_weight(const struct lbf_pick *pk,
                                    const struct lbf_row *r)
{
    (void)pk;
    return (uint64_t)atomic_load(&((struct lbf_row *)r)->weight) * 1000u;
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

/* pushed-metric's capacity: weight times the reported headroom. */
static uint64_t lbf_capacity_pushed(const struct lbf_pick *pk,
                                    const struct lbf_row *r)
{
    return (uint64_t)atomic_load(&((struct lbf_row *)r)->weight)
           * lbf_headroom(pk, r);
}

/* <0 when a is lighter than b under m's capacity, >0 when heavier, 0 on
 * a tie: (inflight_a + 1) / cap_a against (inflight_b + 1) / cap_b. */
static int lbf_load_cmp(const struct lbf_method *m, const struct lbf_pick *pk,
                        const struct lbf_row *a, const struct lbf_row *b)
{
    int64_t la = atomic_load_explicit(&((struct lbf_row *)a)->inflight,
                                      memory_order_relaxed);
    int64_t lb = atomic_load_explicit(&((struct lbf_row *)b)->inflight,
                                      memory_order_relaxed);
    __int128 x = (__int128)(la < 0 ? 1 : la + 1) * m->capacity(pk, b)
                 * lbf_ramp(pk, b);
    __int128 y = (__int128)(lb < 0 ? 1 : lb + 1) * m->capacity(pk, a)
                 * lbf_ramp(pk, a);

    return x < y ? -1 : x > y;
}

/* Full scan of eligible members in the best tier; random among ties.
 * One pass: a member of a better tier restarts the comparison. */
static int lbf_least_scan(const struct lbf_method *m,
                          const struct lbf_pick *pk)
{
    uint32_t i, n = pk->farm->n_rows, ties = 0;
    int best_tier = -1, best = -1;

    for (i = 0; i < n; i++) {
        int t = lbf_member_tier(pk, i), c;

        if (t < 0 || (best_tier >= 0 && t > best_tier)) {
            continue;
        }
        c = (best < 0 || t < best_tier)
                ? -1
                : lbf_load_cmp(m, pk, lbf_member_at(pk->h, pk->farm, i),
                               lbf_member_at(pk->h, pk->farm,
                                             (uint32_t)best));
        if (c < 0) {
            best = (int)i;
            best_tier = t;
            ties = 1;
        }
        else if (c == 0 && lbf_rng_next(pk->rng) % ++ties == 0) {
            best = (int)i; /* reservoir: each tied member equally likely */
        }
    }
    return best;
}

/* One random member of the fastest tier, or -1 after LBF_P2C_DRAWS. */
static int lbf_draw(const struct lbf_pick *pk, int other)
{
    uint32_t n = pk->farm->n_rows, d;

    for (d = 0; d < LBF_P2C_DRAWS; d++) {
        uint32_t mi = (uint32_t)(lbf_rng_next(pk->rng) % n);

        if ((int)mi != other
            && lbf_member_tier(pk, mi) == (int)pk->farm->min_tier) {
            return (int)mi;
        }
    }
    return -1;
}

/* least-load and pushed-metric: the same pick, m->capacity differs. */
static int lbf_pick_least_load(const struct lbf_method *m,
                               const struct lbf_pick *pk)
{
    int a, b, c;

    if (pk->farm->n_rows <= LBF_LL_SCAN_MAX) {
        return lbf_least_scan(m, pk);
    }
    if ((a = lbf_draw(pk, -1)) < 0 || (b = lbf_draw(pk, a)) < 0) {
        return lbf_least_scan(m, pk); /* most members unusable: be exact */
    }
    c = lbf_load_cmp(m, pk, lbf_member_at(pk->h, pk->farm, (uint32_t)a),
                     lbf_member_at(pk->h, pk->farm, (uint32_t)b));
    if (c == 0) {
        c = (lbf_rng_next(pk->rng) & 1u) ? -1 : 1;
    }
    return c < 0 ? a : b;
}

/* ---- the table ---- */

static const struct lbf_method lbf_method_weighted = {
    .magic = LBF_METHOD_MAGIC,
    .name = "weighted",
    .title = "smooth weighted round robin, one exact schedule for all children",
    .pick = lbf_pick_weighted,
};

static const struct lbf_method lbf_method_least_load = {
    .magic = LBF_METHOD_MAGIC,
    .name = "least-load",
    .title = "fewest in-flight requests per weight (power of two choices)",
    .pick = lbf_pick_least_load,
    .capacity = lbf_capacity_weight,
};

static const struct lbf_method lbf_method_pushed = {
    .magic = LBF_METHOD_MAGIC,
    .name = "pushed-metric",
    .title = "least-load scaled by the load members push",
    .pick = lbf_pick_least_load,
    .capacity = lbf_capacity_pushed,
};

const struct lbf_method *const lbf_methods[] = {
    &lbf_method_weighted,
    &lbf_method_least_load,
    &lbf_method_pushed,
    NULL
};

int lbf_method_find(const char *name)
{
    int i;

    for (i = 0; lbf_methods[i] != NULL; i++) {
        if (strcmp(lbf_methods[i]->name, name) == 0) {
            return i;
        }
    }
    return -1;
}

const char *lbf_method_name(uint32_t mi)
{
    if (mi == LBF_METHOD_FOREIGN) {
        return "foreign"; /* a balancer:// with another module's lbmethod */
    }
    return mi < sizeof(lbf_methods) / sizeof(lbf_methods[0]) - 1
               ? lbf_methods[mi]->name : "?";
}

const char *lbf_method_list(void)
{
    return "weighted, least-load, pushed-metric";
}

int lbf_pick_take(uint32_t mi, const struct lbf_pick *pk)
{
    const struct lbf_method *m;
    int pick;

    if (mi >= sizeof(lbf_methods) / sizeof(lbf_methods[0]) - 1) {
        return -1;
    }
    m = lbf_methods[mi];
    pick = m->pick(m, pk);
    if (pick >= 0) {
        lbf_row_take(lbf_member_at(pk->h, pk->farm, (uint32_t)pick));
    }
    return pick;
}

int lbf_pick_peek(uint32_t mi, const struct lbf_pick *pk)
{
    struct lbf_pick look = *pk;

    if (mi >= sizeof(lbf_methods) / sizeof(lbf_methods[0]) - 1) {
        return -1;
    }
    look.peek = 1;
    return lbf_methods[mi]->pick(lbf_methods[mi], &look);
}
