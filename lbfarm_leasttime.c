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

/* e^-x for x >= 0: e^-k from a table times a (2,2) Pade approximant of
 * the fraction; relative error below 0.2 %, monotone, 0 from 16 on. */
static float lbf_lt_exp_neg(float x)
{
    static const float ek[16] = {
        1.0f,          0.36787944f,   0.13533528f,   0.049787068f,
        0.018315639f,  0.0067379470f, 0.0024787522f, 9.1188197e-4f,
        3.3546263e-4f, 1.2340980e-4f, 4.5399930e-5f, 1.6701700e-5f,
        6.1442124e-6f, 2.2603294e-6f, 8.3152872e-7f, 3.0590232e-7f,
    };
    float f, q;
    int k;

    if (!(x > 0.0f)) {
        return 1.0f;
    }
    if (x >= 16.0f) {
        return 0.0f;
    }
    k = (int)x;
    f = x - (float)k;
    q = f * f / 12.0f;
    return ek[k] * (1.0f - f / 2.0f + q) / (1.0f + f / 2.0f + q);
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

/* ---- the pick ---- */

struct lbf_lt_cand {
    uint32_t mi;
    uint32_t weight;
    float load;               /* (inflight + 1) / weight */
    float est;                /* estimate as last updated; 0 = none */
    float age;                /* its age over tau */
    float headroom;           /* pushed headroom, 0..1 */
};

/* Slow start: keep each of mi[0..n) with probability ramp (the order is
 * kept); when that would leave nobody, keep everybody.  Returns the new
 * count. */
static uint32_t lbf_lt_ramp(const struct lbf_pick *pk, uint32_t *mi,
                            uint32_t n)
{
    uint32_t i, kept = 0, keep[LBF_LL_SCAN_MAX];

    for (i = 0; i < n; i++) {
        if (lbf_ramp_pass(pk, lbf_member_at(pk->h, pk->farm, mi[i]))) {
            keep[kept++] = mi[i];
        }
    }
    if (kept > 0 && kept < n) {
        memcpy(mi, keep, kept * sizeof(*mi));
        return kept;
    }
    return n;
}

/* Read candidate mi into c at now; returns its estimate (0 = none). */
static float lbf_lt_read(const struct lbf_pick *pk, uint32_t mi,
                         struct lbf_lt_cand *c, uint32_t now)
{
    struct lbf_row *r = lbf_member_at(pk->h, pk->farm, mi);
    int32_t in = atomic_load_explicit(&r->inflight, memory_order_relaxed);
    struct lbf_lt v = lbf_lt_unpack(atomic_load_explicit(
        &r->lt_est, memory_order_relaxed));

    c->mi = mi;
    c->weight = atomic_load_explicit(&r->weight, memory_order_relaxed);
    c->weight = c->weight ? c->weight : 1;
    c->load = (float)(in < 0 ? 1 : in + 1) / (float)c->weight;
    c->est = v.count ? v.est : 0.0f;
    c->age = (float)((uint64_t)lbf_lt_ticks(v.tick, now) << LBF_LT_TICK_SHIFT)
             / lbf_lt_tau(r);
    c->headroom = (float)lbf_headroom(pk, r) / 1000.0f;
    return c->est;
}

/* The hot level: the LBF_LT_HOT_Q quantile of the candidates' loads,
 * interpolated between neighbours. */
static float lbf_lt_hot_level(const struct lbf_lt_cand *c, uint32_t n)
{
    float v[LBF_LL_SCAN_MAX], pos, frac;
    uint32_t i, j, lo;

    for (i = 0; i < n; i++) { /* insertion sort of at most 8 */
        for (j = i; j > 0 && v[j - 1] > c[i].load; j--) {
            v[j] = v[j - 1];
        }
        v[j] = c[i].load;
    }
    pos = (float)(LBF_LT_HOT_Q * (n - 1)) / 1000.0f;
    lo = (uint32_t)pos;
    frac = pos - (float)lo;
    return lo + 1 < n ? v[lo] + frac * (v[lo + 1] - v[lo]) : v[lo];
}

/* Expected latency of candidate c when the best estimate is best: its
 * estimate decayed toward best with its age, over its headroom. */
static float lbf_lt_cost(const struct lbf_lt_cand *c, float best)
{
    float e = c->est > 0.0f ? c->est : best;

    if (e > best && c->age > LBF_LT_FRESH) {
        e = best + (e - best) * lbf_lt_exp_neg(c->age);
    }
    e = e < 1.0f ? 1.0f : e;
    return e / c->headroom; /* headroom >= LBF_HEADROOM_MIN / 1000 */
}

/* Among the cold candidates (load <= hot), one within band of the lowest
 * cost, drawn in proportion to weight / cost. */
static int lbf_lt_choose(const struct lbf_method *m,
                         const struct lbf_pick *pk,
                         const struct lbf_lt_cand *c, uint32_t n, float best,
                         float hot)
{
    float cost[LBF_LL_SCAN_MAX], low = 0.0f, limit;
    double total = 0;
    uint32_t i;
    int pick = -1;

    for (i = 0; i < n; i++) {
        cost[i] = lbf_lt_cost(&c[i], best);
        if (c[i].load <= hot && (low == 0.0f || cost[i] < low)) {
            low = cost[i];
        }
    }
    limit = low * (1.0f + (float)m->band / 1024.0f);
    for (i = 0; i < n; i++) {
        if (c[i].load <= hot && cost[i] <= limit) {
            double w = (double)c[i].weight / (double)cost[i];

            total += w;
            if (lbf_rng_unit(pk->rng) * total < w) {
                pick = (int)c[i].mi;
            }
        }
    }
    return pick;
}

int lbf_pick_least_time(const struct lbf_method *m,
                        const struct lbf_pick *pk)
{
    uint32_t mi[LBF_LL_SCAN_MAX], n = lbf_candidates(pk, mi), i;
    uint32_t now = lbf_lt_tick(pk->now);
    struct lbf_lt_cand c[LBF_LL_SCAN_MAX];
    float best = 0.0f;

    if (n == 0) {
        return -1;
    }
    n = lbf_lt_ramp(pk, mi, n);
    for (i = 0; i < n; i++) {
        float e = lbf_lt_read(pk, mi[i], &c[i], now);

        if (e > 0.0f && (best == 0.0f || e < best)) {
            best = e;
        }
    }
    return lbf_lt_choose(m, pk, c, n, best, lbf_lt_hot_level(c, n));
}
