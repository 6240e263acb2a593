/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_leasttime.c -- the least-time method, the per-member latency
 * estimate it reads and stall detection (pure C core).
 *
 * least-time puts a request where it will be served soonest, with what
 * no peer balancer has: the exact in-flight count of every member across
 * all processes (row.inflight), and every completed request as a latency
 * sample.  It follows Prequal's hot-cold lexicographic rule and uses
 * Finagle's peak EWMA as the latency estimate:
 *
 *   1. candidates: every eligible member of the best tier up to
 *      LBF_LL_SCAN_MAX members, else two random ones (lbf_candidates); a
 *      member in slow start stays a candidate with probability ramp;
 *   2. hot or cold: load = (inflight + 1) / weight; a candidate whose load
 *      is above the LBF_LT_HOT_Q quantile (0.75, interpolated) of the
 *      candidates' loads is hot.  The least loaded is never hot;
 *   3. among the cold, the lowest expected latency wins:
 *          cost = estimate / headroom
 *      (headroom: pushed load, 1 without fresh reports -- it scales the
 *      latency, it never orders members by itself), where an estimate
 *      not updated for a while decays toward the best candidate's and a
 *      member without one counts as the best (tried again, never frozen
 *      out);
 *   4. near-equal is equal: one of the cold candidates whose cost is within
 *      LBF_LT_BAND (1/4) of the lowest is drawn in proportion to
 *      weight / cost.  Identical members share evenly instead of one of
 *      them taking every request because its number was a hair lower.
 *
 * Worked example (weights 1; the unit test lt_documented_example checks
 * it):
 *
 *     member  inflight  estimate   load  hot (q = 3.5)   cost
 *     m0          3      10 ms       4    yes             --
 *     m1          1      40 ms       2    no            40 ms
 *     m2          2      11 ms       3    no            11 ms
 *
 *   sorted loads 2 3 4, position 0.75 x 2 = 1.5: q = 3.5, m0 is hot.  Of
 *   m1 and m2, m2 is cheapest and alone within 11 x 1.25: m2.  Next, m2
 *   at 3 in flight: loads 4 2 4, q = 4, nobody hot; m0 (10 ms) is best and
 *   m2 (11 ms <= 12.5) near-equal: m0 with probability (1/10) / (1/10 +
 *   1/11) = 0.524, m2 with 0.476; the slow m1 gets nothing.  If m1 then
 *   gets no sample for 13 s (tau 5 s) its estimate reads
 *   10 + 30 x exp(-13/5) = 12.2 ms: within the band, it is tried again.
 *
 * The estimate (fields lt_est and lt_hist of struct lbf_row; the rules
 * are in lbfarm_method.h): a time-weighted EWMA with a peak rule.
 * Concurrent updates from many processes are lock-free and exact:
 *  - lt_est is one 64-bit word holding the estimate (a float, usec), the
 *    time it refers to (28 bits of usec >> 12, 4.096 ms units, wrapping
 *    after 12.7 days: ages are computed modulo the wrap) and a 4-bit
 *    sample count.  An update reads the word, computes the next one from
 *    it and its sample, and installs it with compare-and-swap only if the
 *    word did not change meanwhile; otherwise it re-reads and recomputes.
 *    Each successful CAS applies exactly one sample to exactly the state
 *    it read, so the updates of all processes form one sequence: nothing
 *    is torn (value and time change together), nothing is applied twice,
 *    and a sample is lost only when LBF_LT_TRIES attempts all lose (then
 *    it is dropped whole).  A sample whose "now" is older than the word's
 *    time (another process finished later but applied first) counts with
 *    dt = 0 and keeps the newer time: the word's time never goes back;
 *  - lt_hist (the two previous samples, for the peak rule) is replaced by
 *    CAS in the same way; it is a hint, not read together with lt_est;
 *  - with time-quantized updates the decay still telescopes: the weights
 *    of successive updates multiply to exp(-total time / tau) whatever
 *    the update rate.
 *
 * Stall detection: lbf_row_stalled (the rule is in lbfarm_method.h);
 * lbf_member_tier in lbfarm_lbmethods.c makes a stalled member
 * ineligible while another one is not stalled.
 */
#include <string.h>

#include "lbfarm_method.h"

#define LBF_LT_TICK_SHIFT 12                  /* time unit: 4.096 ms */
#define LBF_LT_TICK_MASK  ((1u << 28) - 1u)   /* 28 bits of ticks */
#define LBF_LT_COUNT_MAX  15u                 /* 4 bits of count */
#define LBF_LT_TRIES      8
#define LBF_LT_HOT_Q      750                 /* 0.75, in 1/1000 */
#define LBF_LT_FRESH      (1.0f / 64.0f)      /* ages below this x tau
                                                 are not decayed */

/* ---- the packed estimate ---- */

struct lbf_lt {
    float est;                /* usec; 0 = no estimate */
    uint32_t tick;            /* time of the last update */
    uint32_t count;           /* samples so far, saturating */
};

static struct lbf_lt lbf_lt_unpack(uint64_t w)
{
    struct lbf_lt v;
    uint32_t bits = (uint32_t)(w >> 32);

    memcpy(&v.est, &bits, sizeof(bits));
    v.tick = (uint32_t)(w >> 4) & LBF_LT_TICK_MASK;
    v.count = (uint32_t)w & LBF_LT_COUNT_MAX;
    if (!(v.est >= 0.0f)) {
        v.est = 0.0f; /* never a NaN or a negative from a foreign word */
        v.count = 0;
    }
    return v;
}

static uint64_t lbf_lt_pack(float est, uint32_t tick, uint32_t count)
{
    uint32_t bits;

    memcpy(&bits, &est, sizeof(bits));
    return (uint64_t)bits << 32 | (uint64_t)(tick & LBF_LT_TICK_MASK) << 4
           | (count > LBF_LT_COUNT_MAX ? LBF_LT_COUNT_MAX : count);
}

static uint32_t lbf_lt_tick(uint64_t usec)
{
    return (uint32_t)(usec >> LBF_LT_TICK_SHIFT) & LBF_LT_TICK_MASK;
}

/* Ticks from `from` to `to` modulo the wrap; 0 when `to` is earlier. */
static uint32_t lbf_lt_ticks(uint32_t from, uint32_t to)
{
    uint32_t d = (to - from) & LBF_LT_TICK_MASK;

    return d > LBF_LT_TICK_MASK / 2 ? 0 : d;
}

/* e^-x for x >= 0: e^-k from a table times the degree-6 Taylor
 * polynomial of the fraction (no division); relative error below 0.05 %,
 * decreasing, 0 from 16 on. */
static float lbf_lt_exp_neg(float x)
{
    static const float ek[16] = {
        1.0f,          0.36787944f,   0.13533528f,   0.049787068f,
        0.018315639f,  0.0067379470f, 0.0024787522f, 9.1188197e-4f,
        3.3546263e-4f, 1.2340980e-4f, 4.5399930e-5f, 1.6701700e-5f,
        6.1442124e-6f, 2.2603294e-6f, 8.3152872e-7f, 3.0590232e-7f,
    };
    float f, p;
    int k;

    if (!(x > 0.0f)) {
        return 1.0f;
    }
    if (x >= 16.0f) {
        return 0.0f;
    }
    k = (int)x;
    f = x - (float)k;
    p = 1.0f - f * (1.0f / 6.0f);
    p = 1.0f - f * (1.0f / 5.0f) * p;
    p = 1.0f - f * (1.0f / 4.0f) * p;
    p = 1.0f - f * (1.0f / 3.0f) * p;
    p = 1.0f - f * (1.0f / 2.0f) * p;
    return ek[k] * (1.0f - f * p);
}

/* The row's EWMA time constant in usec. */
static float lbf_lt_tau(const struct lbf_row *r)
{
    uint32_t ms = atomic_load_explicit(&((struct lbf_row *)r)->lt_decay_ms,
                                       memory_order_relaxed);

    return (float)(ms ? ms : LBF_LT_DECAY_MS) * 1000.0f;
}

/* Push sample x into r's history; returns the two samples before it
 * (newer << 32 | older), 0 when the history could not be read. */
static uint64_t lbf_lt_push(struct lbf_row *r, uint32_t x)
{
    int tries;

    for (tries = 0; tries < LBF_LT_TRIES; tries++) {
        uint64_t old = atomic_load_explicit(&r->lt_hist,
                                            memory_order_relaxed);

        if (atomic_compare_exchange_weak_explicit(
                &r->lt_hist, &old, (uint64_t)x << 32 | old >> 32,
                memory_order_relaxed, memory_order_relaxed)) {
            return old;
        }
    }
    return 0;
}

/* The next estimate word after old, for sample x at tick now; peak is the
 * smallest of the last three samples (0: fewer than three). */
static uint64_t lbf_lt_next(uint64_t old, float x, float peak, uint32_t now,
                            float tau)
{
    struct lbf_lt v = lbf_lt_unpack(old);
    uint32_t dt;
    float e;

    if (v.count == 0) {
        return lbf_lt_pack(x, now, 1);
    }
    dt = lbf_lt_ticks(v.tick, now);
    if (v.count < LBF_LT_YOUNG) {
        e = x < v.est ? x : v.est; /* young: the smallest sample so far */
    }
    else {
        float a = 1.0f - lbf_lt_exp_neg(
                             (float)((uint64_t)dt << LBF_LT_TICK_SHIFT) / tau);

        e = v.est + (x - v.est) * a;
    }
    if (peak > e) {
        e = peak; /* three slow answers in a row: slow now */
    }
    return lbf_lt_pack(e, dt ? now : v.tick, v.count + 1);
}

void lbf_lt_sample(struct lbf_row *r, uint64_t usec, uint64_t now_usec)
{
    uint32_t x = usec == 0 ? 1u : usec > UINT32_MAX ? UINT32_MAX
                                                     : (uint32_t)usec;
    uint64_t hist = lbf_lt_push(r, x);
    uint32_t h1 = (uint32_t)(hist >> 32), h2 = (uint32_t)hist, low;
    uint32_t now = lbf_lt_tick(now_usec);
    float tau = lbf_lt_tau(r);
    int tries;

    low = h1 < h2 ? h1 : h2;
    low = x < low ? x : low; /* 0 while the history is not full */
    for (tries = 0; tries < LBF_LT_TRIES; tries++) {
        uint64_t old = atomic_load_explicit(&r->lt_est, memory_order_relaxed);
        uint64_t next = lbf_lt_next(old, (float)x, (float)low, now, tau);

        if (atomic_compare_exchange_weak_explicit(&r->lt_est, &old, next,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed)) {
            return;
        }
    }
}

uint64_t lbf_row_lt_usec(const struct lbf_row *r, uint64_t now_usec,
                         uint64_t *when)
{
    struct lbf_lt v = lbf_lt_unpack(atomic_load_explicit(
        &((struct lbf_row *)r)->lt_est, memory_order_relaxed));

    if (when != NULL) {
        uint64_t back = (uint64_t)lbf_lt_ticks(v.tick, lbf_lt_tick(now_usec))
                        << LBF_LT_TICK_SHIFT;

        *when = v.count == 0 ? 0 : now_usec > back ? now_usec - back : 0;
    }
    return v.count == 0 ? 0 : (uint64_t)(v.est + 0.5f);
}

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

/* ---- the pick ---- */

struct lbf_lt_cand {
    uint32_t mi;
    uint32_t weight;
    uint32_t load;            /* inflight + 1 */
    float est;                /* estimate as last updated; 0 = none */
    float age;                /* its age over tau */
    float room;               /* pushed headroom, 0.25..1 */
    float speed;              /* room / expected latency; 0 = hot */
};

/* Slow start: keep each of cs[0..n) with probability ramp (the order is
 * kept); when that would leave nobody, keep everybody.  Returns the new
 * count. */
static uint32_t lbf_lt_ramp(const struct lbf_pick *pk, struct lbf_cand *cs,
                            uint32_t n)
{
    struct lbf_cand keep[LBF_LL_SCAN_MAX];
    uint32_t i, kept = 0;

    for (i = 0; i < n; i++) {
        if (lbf_ramp_pass(pk, cs[i].r)) {
            keep[kept++] = cs[i];
        }
    }
    if (kept > 0 && kept < n) {
        memcpy(cs, keep, kept * sizeof(*cs));
        return kept;
    }
    return n;
}

/* Read candidate mi (row r) into c at tick now (inv_tau: ticks to tau);
 * returns its estimate (0 = none). */
static float lbf_lt_read(const struct lbf_pick *pk, uint32_t mi,
                         struct lbf_row *r, struct lbf_lt_cand *c,
                         uint32_t now, float inv_tau)
{
    int32_t in = atomic_load_explicit(&r->inflight, memory_order_relaxed);
    struct lbf_lt v = lbf_lt_unpack(atomic_load_explicit(
        &r->lt_est, memory_order_relaxed));
    uint32_t w = atomic_load_explicit(&r->weight, memory_order_relaxed);

    c->mi = mi;
    c->weight = w ? w : 1;
    c->load = in < 0 ? 1u : (uint32_t)in + 1u;
    c->est = v.count ? v.est : 0.0f;
    c->age = (float)lbf_lt_ticks(v.tick, now) * inv_tau;
    c->room = (float)lbf_headroom(pk, r) * 0.001f;
    return c->est;
}

/* Hot or cold: marks the hot candidates with speed -1, the cold with 0.
 * Hot = load / weight above the LBF_LT_HOT_Q quantile of the candidates'
 * loads, interpolated between neighbours.  The quantile is never below
 * the smallest load, so the least loaded candidate is always cold
 * (Prequal's "if all are hot, the fewest in flight" cannot arise). */
static void lbf_lt_mark_hot(struct lbf_lt_cand *c, uint32_t n)
{
    float l[LBF_LL_SCAN_MAX], v[LBF_LL_SCAN_MAX], pos, q;
    uint32_t i, j, lo;

    if (n == 2) { /* the usual two choices: the heavier is hot, exactly */
        uint64_t a = (uint64_t)c[0].load * c[1].weight;
        uint64_t b = (uint64_t)c[1].load * c[0].weight;

        c[0].speed = a > b ? -1.0f : 0.0f;
        c[1].speed = b > a ? -1.0f : 0.0f;
        return;
    }
    for (i = 0; i < n; i++) { /* insertion sort of at most 8 */
        l[i] = (float)c[i].load / (float)c[i].weight;
        for (j = i; j > 0 && v[j - 1] > l[i]; j--) {
            v[j] = v[j - 1];
        }
        v[j] = l[i];
    }
    pos = (float)(LBF_LT_HOT_Q * (n - 1)) * 0.001f;
    lo = (uint32_t)pos;
    q = lo + 1 < n ? v[lo] + (pos - (float)lo) * (v[lo + 1] - v[lo]) : v[lo];
    for (i = 0; i < n; i++) {
        c[i].speed = l[i] > q ? -1.0f : 0.0f;
    }
}

/* 1 / expected latency of candidate c when the best estimate is best: its
 * estimate decayed toward best with its age, times its headroom. */
static float lbf_lt_speed(const struct lbf_lt_cand *c, float best)
{
    float e = c->est > 0.0f ? c->est : best;

    if (e > best && c->age > LBF_LT_FRESH) {
        e = best + (e - best) * lbf_lt_exp_neg(c->age);
    }
    return c->room / (e < 1.0f ? 1.0f : e);
}

/* Among the cold candidates, one whose cost is within band of the lowest,
 * drawn in proportion to weight / cost. */
static int lbf_lt_choose(const struct lbf_method *m,
                         const struct lbf_pick *pk, struct lbf_lt_cand *c,
                         uint32_t n, float best)
{
    float high = 0.0f, total = 0.0f, band = 1024.0f + (float)m->band;
    uint32_t i, near = 0, top = 0;
    int pick = -1;

    for (i = 0; i < n; i++) {
        if (c[i].speed == 0.0f) {
            c[i].speed = lbf_lt_speed(&c[i], best);
            if (c[i].speed > high) {
                high = c[i].speed;
                top = i;
            }
        }
    }
    high *= 1024.0f; /* near-equal: speed x (1024 + band) >= high */
    for (i = 0; i < n; i++) {
        c[i].speed = c[i].speed * band >= high ? c[i].speed : 0.0f;
        near += c[i].speed > 0.0f;
    }
    if (near == 1) {
        return (int)c[top].mi; /* a clear winner: no draw */
    }
    for (i = 0; i < n; i++) {
        c[i].speed *= (float)c[i].weight;
        total += c[i].speed;
    }
    total *= lbf_rng_unit(pk->rng); /* one draw, in proportion */
    for (i = 0; i < n && pick < 0; i++) {
        if (c[i].speed > 0.0f && (total -= c[i].speed) < 0.0f) {
            pick = (int)c[i].mi;
        }
    }
    return pick >= 0 ? pick : (int)c[top].mi; /* rounding: the best */
}

int lbf_pick_least_time(const struct lbf_method *m,
                        const struct lbf_pick *pk)
{
    struct lbf_cand cs[LBF_LL_SCAN_MAX];
    uint32_t n = lbf_candidates(pk, cs), i;
    uint32_t now = lbf_lt_tick(pk->now);
    uint32_t ms = pk->tune && pk->tune->decay_ms ? pk->tune->decay_ms
                                                 : LBF_LT_DECAY_MS;
    float inv_tau = (float)(1u << LBF_LT_TICK_SHIFT) / ((float)ms * 1000.0f);
    struct lbf_lt_cand c[LBF_LL_SCAN_MAX];
    float best = 0.0f;

    if (n <= 1) {
        return n == 1 ? (int)cs[0].mi : -1;
    }
    if (pk->farm->slowstart_ms != 0) {
        n = lbf_lt_ramp(pk, cs, n);
    }
    for (i = 0; i < n; i++) {
        float e = lbf_lt_read(pk, cs[i].mi, cs[i].r, &c[i], now, inv_tau);

        if (e > 0.0f && (best == 0.0f || e < best)) {
            best = e;
        }
    }
    if (n > 1) {
        lbf_lt_mark_hot(c, n);
    }
    else {
        c[0].speed = 0.0f;
    }
    return lbf_lt_choose(m, pk, c, n, best);
}
