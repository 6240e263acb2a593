/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_leasttime.c -- the least-time method, the per-member latency
 * estimate it reads and stall detection (pure C core).
 *
 * least-time puts a request where it will be served soonest, with what
 * no peer balancer has: the exact in-flight count of every member across
 * all processes (row.inflight), and every completed request as a latency
 * sample.  It follows Prequal's hot-cold lexicographic rule:
 *
 *   1. candidates: every eligible member of the best tier up to
 *      LBF_LL_SCAN_MAX members, else two random ones (lbf_candidates); a
 *      member in slow start stays a candidate with probability ramp;
 *   2. hot or cold: load = inflight / weight; a candidate whose load is
 *      above the LBF_LT_HOT_Q quantile (0.75, interpolated) of the
 *      candidates' loads is hot.  The least loaded is never hot (of two
 *      choices, the heavier is hot unless they are equal), nor is an idle
 *      member;
 *   3. among the cold, the lowest expected latency wins:
 *          cost = (estimate + 1 ms) / headroom
 *      (headroom: pushed load, 1 without fresh reports -- it scales the
 *      latency, it never orders members by itself).  The millisecond is
 *      LBF_LT_FLOOR_US: below it, differences are how recently a member's
 *      threads ran (a member that gets no requests wakes up slower and
 *      answers 0.1 ms later; compared raw, the busy member looked faster
 *      and took 11855 of 12000 requests at one connection).  An estimate not
 *      updated for a while decays toward the best candidate's, and a
 *      member with fewer than LBF_LT_TRUST samples counts as the best:
 *      tried again, never frozen out;
 *   4. near-equal is equal: among the cold candidates whose cost is within
 *      LBF_LT_BAND (1/4) of the lowest, one is drawn in proportion to its
 *      weight.  Identical members share evenly instead of one of them
 *      taking every request because its number was a hair lower;
 *   5. one pick in LBF_LT_EXPLORE (64) ignores the latencies and draws
 *      among all cold candidates by weight: every member keeps being
 *      measured, so one that looked slow because of noise comes back
 *      within a second at any request rate, and one that is slow costs
 *      about 1/64 of its share.
 *
 * Worked example (weights 1; the unit test lt_documented_example checks
 * it):
 *
 *     member  inflight  estimate   load  hot (q = 2.5)   cost
 *     m0          3      10 ms       3    yes             --
 *     m1          1      40 ms       1    no            40 ms
 *     m2          2      11 ms       2    no            11 ms
 *
 *   sorted loads 1 2 3, position 0.75 x 2 = 1.5: q = 2.5, m0 is hot.  Of
 *   m1 and m2, m2 is cheapest and alone within 11 x 1.25: m2 (m1 only on
 *   an exploring pick, 1 in 128).  Next, m2 at 3 in flight: loads 3 1 3,
 *   q = 3, nobody hot; m0 (10 ms) is best, m2 (11 ms <= 12.5) near-equal:
 *   m0 or m2 with probability 1/2 each; the slow m1 gets 1/192.  If m1
 *   then gets no sample for 6 s (tau 2 s) its estimate reads
 *   10 + 30 x exp(-3) = 11.5 ms: within the band, it shares again.
 *
 * The estimate (lt_est of struct lbf_row; the rules are in
 * lbfarm_method.h) is an EWMA over time, quick to believe a faster answer
 * and slow to believe a slower one.  Latency noise is one-sided -- a
 * scheduling hiccup, a cold connection, a GC pause make single answers
 * many times slower, nothing makes them much faster -- so the estimate
 * tracks what a member typically does.  Finagle's peak EWMA does the
 * opposite (it jumps to every slow sample and decays back); on this
 * project's test machine, where p99 is 20 x p50, three identical members
 * then got 210 / 4411 / 4379 of 9000 requests at eight connections.  What
 * peak EWMA reacts to at once is covered here by rules that do not
 * misfire on noise: a member that really slows down under load gathers
 * requests in flight and turns hot on the next pick; one that stops
 * answering is stalled after max(k x p99, floor); one that is slower at
 * low load is measured on every answer and leaves the band within about
 * a second.
 *
 * Concurrent updates from many processes are lock-free and exact: lt_est
 * is one 64-bit word holding the estimate (a float, usec), the time it
 * refers to (28 bits of usec >> 12, 4.096 ms units, wrapping after 12.7
 * days: ages are computed modulo the wrap) and a 4-bit sample count.  An
 * update reads the word, computes the next one from it and its sample,
 * and installs it with compare-and-swap only if the word did not change
 * meanwhile; otherwise it re-reads and recomputes.  Each successful CAS
 * applies exactly one sample to exactly the state it read, so the updates
 * of all processes form one sequence: nothing is torn (value and time
 * change together), nothing is applied twice, and a sample is lost only
 * when LBF_LT_TRIES attempts all lose (then it is dropped whole).  A
 * sample whose "now" is older than the word's time (another process
 * finished later but applied first) counts with dt = 0 and keeps the newer
 * time: the word's time never goes back.  With time-quantized updates the
 * decay still telescopes: the weights of successive updates multiply to
 * exp(-total time / tau) whatever the update rate.
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
#define LBF_LT_DOWN       4.0f                /* faster answers count
                                                 with tau / 4 */
#define LBF_LT_WINSOR     4.0f                /* samples count as at most
                                                 4 x the estimate */
#define LBF_LT_TRUST      4                   /* samples before an
                                                 estimate may keep a
                                                 member out */
#define LBF_LT_EXPLORE    64                  /* 1 pick in 64 explores */
#define LBF_LT_FLOOR_US   1000.0f             /* added to every latency */
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

/* The next estimate word after old, for sample x (usec) at tick now. */
static uint64_t lbf_lt_next(uint64_t old, float x, uint32_t now, float tau)
{
    struct lbf_lt v = lbf_lt_unpack(old);
    uint32_t dt;
    float a;

    if (v.count == 0) {
        return lbf_lt_pack(x, now, 1);
    }
    dt = lbf_lt_ticks(v.tick, now);
    a = (float)((uint64_t)dt << LBF_LT_TICK_SHIFT) / tau;
    if (x < v.est) {
        /* good news is believed LBF_LT_DOWN times faster; while young,
         * the smallest answer so far (the first one paid for a new
         * connection) */
        a = v.count < LBF_LT_YOUNG ? 1.0f
                                   : 1.0f - lbf_lt_exp_neg(a * LBF_LT_DOWN);
    }
    else {
        /* bad news at the time constant, one hiccup boundedly */
        x = x > LBF_LT_WINSOR * v.est ? LBF_LT_WINSOR * v.est : x;
        a = 1.0f - lbf_lt_exp_neg(a);
    }
    return lbf_lt_pack(v.est + (x - v.est) * a, dt ? now : v.tick,
                       v.count + 1);
}

void lbf_lt_sample(struct lbf_row *r, uint64_t usec, uint64_t now_usec)
{
    float x = usec == 0 ? 1.0f : usec > UINT32_MAX ? (float)UINT32_MAX
                                                    : (float)usec;
    uint32_t now = lbf_lt_tick(now_usec);
    float tau = lbf_lt_tau(r);
    int tries;

    for (tries = 0; tries < LBF_LT_TRIES; tries++) {
        uint64_t old = atomic_load_explicit(&r->lt_est, memory_order_relaxed);

        if (atomic_compare_exchange_weak_explicit(
                &r->lt_est, &old, lbf_lt_next(old, x, now, tau),
                memory_order_relaxed, memory_order_relaxed)) {
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

/* ---- the pick ---- */

struct lbf_lt_cand {
    uint32_t mi;
    uint32_t weight;
    uint32_t load;            /* inflight */
    float est;                /* estimate as last updated; 0 = none */
    float age;                /* its age over tau */
    float room;               /* pushed headroom, 0.25..1 */
    float speed;              /* room / expected latency; -1 = hot */
    int young;                /* fewer than LBF_LT_TRUST samples */
};

/* Slow start: keep each of cs[0..n) with probability ramp (the order is
 * kept); when that would leave nobody, keep everybody.  Returns the new
 * count. */
static uint32_t lbf_lt_ramp(const struct lbf_pick *pk, struct lbf_cand *cs,
                            uint32_t n)
{
    uint32_t i, kept = 0;

    /* in place: kept <= i, and when nobody passes nothing was written */
    for (i = 0; i < n; i++) {
        if (lbf_ramp_pass(pk, cs[i].r)) {
            cs[kept++] = cs[i];
        }
    }
    return kept > 0 ? kept : n;
}

/* Read candidate mi (row r) into c at tick now (inv_tau: ticks to tau);
 * returns its estimate (0 = none). */
static inline float lbf_lt_read(const struct lbf_pick *pk, uint32_t mi,
                         struct lbf_row *r, struct lbf_lt_cand *c,
                         uint32_t now, float inv_tau)
{
    int32_t in = atomic_load_explicit(&r->inflight, memory_order_relaxed);
    struct lbf_lt v = lbf_lt_unpack(atomic_load_explicit(
        &r->lt_est, memory_order_relaxed));
    uint32_t w = atomic_load_explicit(&r->weight, memory_order_relaxed);

    c->mi = mi;
    c->weight = w ? w : 1;
    c->load = in < 0 ? 0u : (uint32_t)in;
    c->est = v.count ? v.est : 0.0f;
    c->young = v.count < LBF_LT_TRUST;
    c->age = (float)lbf_lt_ticks(v.tick, now) * inv_tau;
    /* no report ever: full headroom without the call (the usual case) */
    c->room = atomic_load_explicit(&r->load_ts, memory_order_relaxed) == 0
                  ? 1.0f : (float)lbf_headroom(pk, r) * 0.001f;
    return c->est;
}

/* Hot or cold: marks the hot candidates with speed -1, the cold with 0.
 * Hot = inflight / weight above the LBF_LT_HOT_Q quantile of the candidates'
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

/* 1 / cost of candidate c when the best estimate is best: its estimate
 * (best itself while young), decayed toward best with its age when
 * decay, plus the floor, over its headroom. */
static float lbf_lt_speed(const struct lbf_lt_cand *c, float best, int decay)
{
    float e = c->est <= 0.0f || (c->young && c->est > best) ? best : c->est;

    if (decay && e > best && c->age > LBF_LT_FRESH) {
        e = best + (e - best) * lbf_lt_exp_neg(c->age);
    }
    return c->room / ((e < 1.0f ? 1.0f : e) + LBF_LT_FLOOR_US);
}

/* Among the cold candidates, one whose cost is within band of the lowest
 * -- any of them on an exploring pick -- drawn in proportion to weight. */
static inline int lbf_lt_choose(const struct lbf_method *m,
                         const struct lbf_pick *pk, struct lbf_lt_cand *c,
                         uint32_t n, float best)
{
    uint64_t rnd = lbf_rng_next(pk->rng); /* one draw for both uses */
    float high = 0.0f, total = 0.0f, band = 1024.0f + (float)m->band;
    int explore = rnd % LBF_LT_EXPLORE == 0;
    uint32_t i, near = 0, top = 0;
    int pick = -1;

    for (i = 0; i < n; i++) {
        if (c[i].speed == 0.0f) {
            c[i].speed = lbf_lt_speed(&c[i], best, 0);
            if (c[i].speed > high) {
                high = c[i].speed;
                top = i;
            }
        }
    }
    /* the decay toward best only matters to those outside the band: it
     * can bring them back (the usual case needs no exp at all) */
    for (i = 0; i < n && !explore; i++) {
        if (c[i].speed > 0.0f && c[i].speed * band < high * 1024.0f) {
            c[i].speed = lbf_lt_speed(&c[i], best, 1);
            if (c[i].speed > high) {
                high = c[i].speed;
                top = i;
            }
        }
    }
    high = explore ? 0.0f : high * 1024.0f; /* near: speed x band >= high */
    for (i = 0; i < n; i++) {
        c[i].speed = c[i].speed > 0.0f && c[i].speed * band >= high
                         ? (float)c[i].weight : 0.0f;
        near += c[i].speed > 0.0f;
        total += c[i].speed;
    }
    if (near == 1) {
        return (int)c[top].mi; /* a clear winner: no draw */
    }
    total *= (float)(rnd >> 40) * (1.0f / 16777216.0f);
    for (i = 0; i < n && pick < 0; i++) {
        if (c[i].speed > 0.0f && (total -= c[i].speed) < 0.0f) {
            pick = (int)c[i].mi;
        }
    }
    return pick >= 0 ? pick : (int)c[top].mi; /* rounding: the best */
}

/* The two random candidates of a large farm whose in-flight loads differ:
 * the heavier is hot, so the other is the only cold one and wins whatever
 * the estimates (lbf_lt_mark_hot and lbf_lt_choose would find the same,
 * after the same one draw of pk->rng).  Returns its index, or -1 when the
 * loads are equal (both cold: the estimates decide). */
static int lbf_lt_pick2_hot(const struct lbf_pick *pk,
                            const struct lbf_cand cs[2])
{
    int32_t i0 = atomic_load_explicit(&cs[0].r->inflight,
                                      memory_order_relaxed);
    int32_t i1 = atomic_load_explicit(&cs[1].r->inflight,
                                      memory_order_relaxed);
    uint32_t w0 = atomic_load_explicit(&cs[0].r->weight,
                                       memory_order_relaxed);
    uint32_t w1 = atomic_load_explicit(&cs[1].r->weight,
                                       memory_order_relaxed);
    uint64_t a = (uint64_t)(i0 < 0 ? 0u : (uint32_t)i0) * (w1 ? w1 : 1u);
    uint64_t b = (uint64_t)(i1 < 0 ? 0u : (uint32_t)i1) * (w0 ? w0 : 1u);

    if (a == b) {
        return -1;
    }
    (void)lbf_rng_next(pk->rng); /* the draw lbf_lt_choose would make */
    return (int)(a > b ? cs[1].mi : cs[0].mi);
}

/* The pick among two candidates (a large farm's two random ones), as the
 * general path of lbf_pick_least_time decides it, without its loops over
 * arrays: the heavier of two is hot (lbf_lt_pick2_hot); of two equally
 * loaded, the estimates decide. */
static int lbf_lt_pick2(const struct lbf_method *m, const struct lbf_pick *pk,
                        const struct lbf_cand cs[2], uint32_t now,
                        float inv_tau)
{
    struct lbf_lt_cand c[2];
    int hot = lbf_lt_pick2_hot(pk, cs);
    float e0, e1, best;

    if (hot >= 0) {
        return hot;
    }
    e0 = lbf_lt_read(pk, cs[0].mi, cs[0].r, &c[0], now, inv_tau);
    e1 = lbf_lt_read(pk, cs[1].mi, cs[1].r, &c[1], now, inv_tau);
    best = e0 > 0.0f ? e0 : 0.0f;
    if (e1 > 0.0f && (best == 0.0f || e1 < best)) {
        best = e1;
    }
    c[0].speed = c[1].speed = 0.0f; /* equal loads: both cold */
    return lbf_lt_choose(m, pk, c, 2, best);
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
    if (n == 2) {
        return lbf_lt_pick2(m, pk, cs, now, inv_tau);
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

void lbf_row_done(struct lbf_row *r, uint64_t usec, uint64_t now_usec)
{
    lbf_row_record_latency(r, usec, now_usec);
    lbf_lt_sample(r, usec, now_usec);
    lbf_row_progress(r, now_usec);
}
