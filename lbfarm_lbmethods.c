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
 *   lighter wins.  Ties go to a random member among the tied, chosen by
 *   the seeded generator with probability in proportion to 1 / score (so
 *   exact ties are uniform): never the first one in scan order.
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
 *
 *   Near-equal is equal: members whose scores differ by their reports
 *   only (the same (inflight + 1) / weight) and by less than LBF_PM_BAND
 *   (1/16) are chosen between at random in proportion to 1 / score.
 *   Reports are noisy and a thousandth apart means nothing; with an exact
 *   order three members whose reports differed by 0.001 got 3000/0/0
 *   requests at one connection (every member idle: the smallest number
 *   always won) and 52/29/19 % at eight.  In-flight counts and weights
 *   are exact, so they keep their exact order, and so does least-load:
 *   only exact ties are random there.
 *
 * least-time: lbfarm_leasttime.c (hot-cold lexicographic on in-flight and
 *   a peak-EWMA latency estimate).
 *
 * hash: lbfarm_hash.c (consistent hashing of a request key with bounded
 *   loads; the rules in include/lbfarm_hash.h).
 *
 * Stall detection (every method, on by default for least-time): a member
 *   with requests in flight that completed nothing for longer than
 *   max(k x p99, floor) is not eligible while another member is
 *   (lbf_member_tier; the rule is in lbfarm_method.h).
 */
#include <string.h>

#include "lbfarm_method.h"
#include "lbfarm_hash.h"

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

/* pushed-metric's capacity: weight times the reported headroom. */
static uint64_t lbf_capacity_pushed(const struct lbf_pick *pk,
                                    const struct lbf_row *r)
{
    return (uint64_t)atomic_load(&((struct lbf_row *)r)->weight)
           * lbf_headroom(pk, r);
}

/* 1 when a / b <= (1 + band/1024) x c / d, exactly (all < 2^58). */
static int lbf_within(uint64_t a, uint64_t b, uint64_t c, uint64_t d,
                      uint32_t band)
{
    return (unsigned __int128)a * d * 1024u
           <= (unsigned __int128)c * b * (1024u + band);
}

/* least-load and pushed-metric: the same pick, m->capacity differs.  The
 * score of a candidate is (inflight + 1) / (capacity x ramp); the best is
 * found exactly (cross multiplication).  Near-equal to it: an exact tie,
 * or -- what reports cannot tell apart -- the same score before headroom,
 * (inflight + 1) / (weight x ramp), and a full score within m->band.  One
 * of the near-equal is drawn in proportion to 1 / score. */
static int lbf_pick_least_load(const struct lbf_method *m,
                               const struct lbf_pick *pk)
{
    struct lbf_cand c[LBF_LL_SCAN_MAX];
    uint32_t n = lbf_candidates(pk, c), i, b = 0;
    uint64_t load[LBF_LL_SCAN_MAX], cap[LBF_LL_SCAN_MAX];
    uint64_t base[LBF_LL_SCAN_MAX];
    uint32_t near[LBF_LL_SCAN_MAX], k = 0;
    float w[LBF_LL_SCAN_MAX], total = 0.0f;
    int pick = -1;

    for (i = 0; i < n; i++) {
        struct lbf_row *r = c[i].r;
        int32_t in = atomic_load_explicit(&r->inflight,
                                          memory_order_relaxed);
        uint32_t ramp = lbf_ramp(pk, r);

        load[i] = in < 0 ? 1 : (uint64_t)in + 1;
        cap[i] = m->capacity(pk, r) * ramp; /* <= 10^8 */
        base[i] = m->band == 0 ? 0
                  : (uint64_t)atomic_load_explicit(&r->weight,
                                                   memory_order_relaxed)
                        * ramp;
        if (load[i] * cap[b] < load[b] * cap[i]) {
            b = i;
        }
    }
    for (i = 0; i < n; i++) {
        if (i == b || load[i] * cap[b] == load[b] * cap[i]
            || (m->band != 0 && load[i] * base[b] == load[b] * base[i]
                && lbf_within(load[i], cap[i], load[b], cap[b], m->band))) {
            near[k++] = i;
        }
    }
    if (k <= 1) {
        return k == 1 ? (int)c[b].mi : -1; /* a clear winner: no draw */
    }
    for (i = 0; i < k; i++) {
        w[i] = (float)cap[near[i]] / (float)load[near[i]];
        total += w[i];
    }
    total *= lbf_rng_unit(pk->rng); /* one draw, in proportion */
    for (i = 0; i < k && pick < 0; i++) {
        if ((total -= w[i]) < 0.0f) {
            pick = (int)c[near[i]].mi;
        }
    }
    return pick >= 0 ? pick : (int)c[b].mi; /* rounding: the best */
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
    .band = LBF_PM_BAND,
};

static const struct lbf_method lbf_method_least_time = {
    .magic = LBF_METHOD_MAGIC,
    .name = "least-time",
    .title = "lowest expected latency among members not hot with requests",
    .pick = lbf_pick_least_time,
    .capacity = lbf_capacity_pushed,
    .band = LBF_LT_BAND,
    .stall_default = 1,
};

static const struct lbf_method lbf_method_hash = {
    .magic = LBF_METHOD_MAGIC,
    .name = "hash",
    .title = "consistent hashing of a request key with bounded loads",
    .pick = lbf_pick_hash,
    .uses_key = 1,
};

const struct lbf_method *const lbf_methods[] = {
    &lbf_method_weighted,
    &lbf_method_least_load,
    &lbf_method_pushed,
    &lbf_method_least_time,
    &lbf_method_hash,
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
    return "weighted, least-load, pushed-metric, least-time, hash";
}

#define LBF_N_METHODS (sizeof(lbf_methods) / sizeof(lbf_methods[0]) - 1)

void lbf_row_tune(struct lbf_row *r, const struct lbf_method *m,
                  const struct lbf_tune *t)
{
    uint32_t decay = t && t->decay_ms ? t->decay_ms : LBF_LT_DECAY_MS;
    uint32_t mode = t ? t->stall : LBF_STALL_DEFAULT, cfg = 0;

    if (mode == LBF_STALL_ON
        || (mode == LBF_STALL_DEFAULT && m != NULL && m->stall_default)) {
        uint32_t k = t && t->stall_k ? t->stall_k : LBF_STALL_K;
        uint32_t fl = t && t->stall_floor_ms ? t->stall_floor_ms
                                             : LBF_STALL_FLOOR_MS;

        k = k > LBF_STALL_K_MAX ? LBF_STALL_K_MAX : k;
        fl = fl > LBF_STALL_FLOOR_MAX ? LBF_STALL_FLOOR_MAX : fl;
        cfg = k << 24 | fl;
    }
    if (atomic_load_explicit(&r->lt_decay_ms, memory_order_relaxed) != decay) {
        atomic_store_explicit(&r->lt_decay_ms, decay, memory_order_relaxed);
    }
    if (atomic_load_explicit(&r->stall_cfg, memory_order_relaxed) != cfg) {
        atomic_store_explicit(&r->stall_cfg, cfg, memory_order_relaxed);
    }
}

/* Method index mi, or NULL when out of range or not a method (its magic
 * is checked at every entry, as Varnish checks its objects). */
static const struct lbf_method *lbf_method_at(uint32_t mi)
{
    const struct lbf_method *m = mi < LBF_N_METHODS ? lbf_methods[mi] : NULL;

    return m != NULL && m->magic == LBF_METHOD_MAGIC ? m : NULL;
}

int lbf_method_uses_key(uint32_t mi)
{
    const struct lbf_method *m = lbf_method_at(mi);

    return m != NULL && m->uses_key;
}

int lbf_pick_take(uint32_t mi, const struct lbf_pick *pk)
{
    const struct lbf_method *m = lbf_method_at(mi);
    int pick;

    if (m == NULL) {
        return -1;
    }
    if ((pick = m->pick(m, pk)) < 0) {
        pick = lbf_eject_probe(pk); /* nothing usable: a bounded retry */
    }
    return pick >= 0 ? lbf_member_take(mi, pk, (uint32_t)pick) : -1;
}

int lbf_member_take(uint32_t method, const struct lbf_pick *pk, uint32_t mi)
{
    struct lbf_row *r = lbf_member_at(pk->h, pk->farm, mi);

    if (r == NULL) {
        return -1;
    }
    lbf_row_tune(r, method < LBF_N_METHODS ? lbf_methods[method] : NULL,
                 pk->tune);
    lbf_row_begin(r, pk->now);
    return (int)mi;
}

int lbf_pick_peek(uint32_t mi, const struct lbf_pick *pk)
{
    const struct lbf_method *m = lbf_method_at(mi);
    struct lbf_pick look = *pk;

    if (m == NULL) {
        return -1;
    }
    look.peek = 1;
    return m->pick(m, &look);
}
