/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_eject.c -- passive outlier ejection, panic mode and recovery
 * probes; the rules are stated in include/lbfarm_eject.h.
 *
 * Worked example (the defaults: consecutive=5 base=5s max=300s cap=50%):
 * a farm of four members; m1 answers 500 from t=0.  Its fifth 500 in a
 * row ejects it for 5 s (n=1).  At t=5 s it is tried again and fails five
 * more times: ejected for 10 s (n=2), then 15 s (n=3), ...  Meanwhile m2
 * starts refusing connections: ejected at once (2 of 4 = the cap).  m3
 * then fails five times in a row too: it would be the third of four, so
 * it is not ejected (LBF_EJ_CAPPED) and keeps its share.  Had m3 refused
 * connections instead, it would be in error for base (5 s): the cap
 * keeps members that answer, not members nothing reaches.  m1 then answers
 * well for 20 s (4 x base): its n is down to 2 at its next ejection.
 *
 * Hot path: lbf_row_ejected is one relaxed load (called from
 * lbf_row_usable for every member a pick looks at); lbf_eject_result is
 * one or two atomic adds on a success, and takes the farm lock only when
 * a member crosses a threshold.
 */
#include <string.h>
#include <unistd.h>

#include "lbfarm_eject.h"
#include "lbfarm_method.h"

#define LBF_EJ_CNT_BITS  20u
#define LBF_EJ_CNT_MASK  ((1ull << LBF_EJ_CNT_BITS) - 1)
#define LBF_EJ_EPOCH(w)  ((w) >> (2 * LBF_EJ_CNT_BITS))
#define LBF_EJ_REQS(w)   (((w) >> LBF_EJ_CNT_BITS) & LBF_EJ_CNT_MASK)
#define LBF_EJ_FAILS(w)  ((w) & LBF_EJ_CNT_MASK)
#define LBF_EJ_EPOCH_MASK ((1ull << (64 - 2 * LBF_EJ_CNT_BITS)) - 1)
#define LBF_EJ_TRIES     8   /* CAS attempts on the window word */

void lbf_eject_conf_resolve(const struct lbf_eject_conf *in,
                            struct lbf_eject_conf *out)
{
    struct lbf_eject_conf c = *in;

    if (c.mode == LBF_EJECT_DEFAULT) {
        c.mode = LBF_EJECT_ON;
        c.consecutive = LBF_EJ_CONSECUTIVE;
        c.rate_pct = LBF_EJ_RATE_PCT;
        c.volume = LBF_EJ_VOLUME;
        c.window_sec = LBF_EJ_WINDOW_SEC;
        c.base_ms = LBF_EJ_BASE_MS;
        c.max_ms = LBF_EJ_MAX_MS;
        c.cap_pct = LBF_EJ_CAP_PCT;
    }
    if (!c.panic_set) {
        c.panic_pct = LBF_EJ_PANIC_PCT;
    }
    /* values no parser lets through, so a caller's zeros cannot divide
     * by zero or eject forever */
    c.window_sec = c.window_sec ? c.window_sec : LBF_EJ_WINDOW_SEC;
    c.base_ms = c.base_ms ? c.base_ms : LBF_EJ_BASE_MS;
    c.max_ms = c.max_ms >= c.base_ms ? c.max_ms : c.base_ms;
    c.volume = c.volume ? c.volume : 1;
    c.cap_pct = c.cap_pct ? c.cap_pct : LBF_EJ_CAP_PCT;
    *out = c;
}

uint64_t lbf_row_eject_left(const struct lbf_row *r, uint64_t now_usec,
                            uint32_t *n)
{
    struct lbf_row *w = (struct lbf_row *)r;
    uint64_t until = atomic_load(&w->ej_until);

    if (n != NULL) {
        *n = until > now_usec ? (atomic_load(&w->ej_n) & LBF_EJ_N_MAX) : 0;
    }
    return until > now_usec ? (until - now_usec) / 1000u : 0;
}

void lbf_eject_member_setup(struct lbf_row *r, int retry_set)
{
    r->ej_cfg = retry_set ? LBF_EJ_RETRY_SET : 0;
}

/* Count one request (failed or not) into r's window at now; returns the
 * window's word after the update (requests and failures of the current
 * window).  Lock-free: a CAS loop, given up after LBF_EJ_TRIES (the
 * sample is dropped, never half applied). */
static uint64_t lbf_window_add(struct lbf_row *r, const struct lbf_eject_conf
                               *c, int failed, uint64_t now_usec)
{
    uint64_t epoch = (now_usec / 1000000u / c->window_sec)
                     & LBF_EJ_EPOCH_MASK;
    uint64_t old = atomic_load_explicit(&r->ej_win, memory_order_relaxed);
    uint64_t nw = old;
    int k;

    for (k = 0; k < LBF_EJ_TRIES; k++) {
        uint64_t reqs = 0, fails = 0;

        if (LBF_EJ_EPOCH(old) == epoch) {
            reqs = LBF_EJ_REQS(old);
            fails = LBF_EJ_FAILS(old);
        }
        reqs += reqs < LBF_EJ_CNT_MASK;
        fails += failed && fails < LBF_EJ_CNT_MASK;
        nw = epoch << (2 * LBF_EJ_CNT_BITS) | reqs << LBF_EJ_CNT_BITS
             | fails;
        if (atomic_compare_exchange_weak(&r->ej_win, &old, nw)) {
            return nw;
        }
    }
    return nw;
}

/* 1 when the window word w says r fails too often under c. */
static int lbf_rate_exceeded(const struct lbf_eject_conf *c, uint64_t w)
{
    uint64_t reqs = LBF_EJ_REQS(w), fails = LBF_EJ_FAILS(w);

    return c->rate_pct > 0 && reqs >= c->volume
           && fails * 100u >= (uint64_t)c->rate_pct * reqs;
}

/* Members of f an ejection may count against (not removed, not offline
 * or draining by an operator), and of them those ejected at now other
 * than r, into *ejected. */
static uint32_t lbf_farm_ejected(const struct lbf_shm *h, struct lbf_farm *f,
                                 const struct lbf_row *r, uint64_t now_usec,
                                 uint32_t *ejected)
{
    uint32_t i, n = f->n_rows, members = 0;

    *ejected = 0;
    for (i = 0; i < n; i++) {
        const struct lbf_row *o = lbf_member_at(h, f, i);

        if (o == NULL || atomic_load(&((struct lbf_row *)o)->admin)
                             != LBF_ADMIN_ENABLED) {
            continue;
        }
        members++;
        if (o != r && lbf_row_ejected(o, now_usec)) {
            (*ejected)++;
        }
    }
    return members;
}

/* n for a new ejection of r at now: the previous n, one off for every
 * 4 x base (at least a window) since the last ejection ended, plus one,
 * at most LBF_EJ_N_MAX. */
static uint32_t lbf_next_n(const struct lbf_row *r,
                           const struct lbf_eject_conf *c, uint64_t now_usec)
{
    struct lbf_row *w = (struct lbf_row *)r;
    uint32_t n = atomic_load(&w->ej_n) & LBF_EJ_N_MAX;
    uint64_t end = atomic_load(&w->ej_until);
    uint64_t step = (uint64_t)c->base_ms * 4000u, off;

    if (step < (uint64_t)c->window_sec * 1000000u) {
        step = (uint64_t)c->window_sec * 1000000u;
    }
    off = now_usec > end ? (now_usec - end) / step : 0;
    n = off >= n ? 0 : n - (uint32_t)off;
    return n < LBF_EJ_N_MAX ? n + 1 : LBF_EJ_N_MAX;
}

/* Ejection time of the n-th ejection under c, in ms. */
static uint32_t lbf_eject_ms(const struct lbf_eject_conf *c, uint32_t n)
{
    uint64_t ms = (uint64_t)c->base_ms * (n ? n : 1);

    return ms > c->max_ms ? c->max_ms : (uint32_t)ms;
}

/* Eject r (of f) at now for connect or status failures, under the farm
 * lock: the cap is checked by a scan of the farm's deadlines while no
 * other process can eject.  A member already ejected starts its time
 * again with the same n and does not count twice against the cap. */
static int lbf_eject_locked(const struct lbf_shm *h, struct lbf_farm *f,
                            struct lbf_row *r, const struct lbf_eject_conf *c,
                            int connect, uint64_t now_usec, uint32_t *ms,
                            uint32_t *n)
{
    uint32_t ejected, members, allowed, flags = connect ? LBF_EJ_CONNECT : 0;
    int rc;

    if (lbf_row_ejected(r, now_usec)) {
        *n = atomic_load(&r->ej_n) & LBF_EJ_N_MAX;
        *ms = lbf_eject_ms(c, *n);
        atomic_store(&r->ej_n, *n | flags);
        atomic_store(&r->ej_until, now_usec + (uint64_t)*ms * 1000u);
        return LBF_EJ_EXTENDED;
    }
    members = lbf_farm_ejected(h, f, r, now_usec, &ejected);
    allowed = (uint32_t)((uint64_t)members * c->cap_pct / 100u);
    allowed = allowed ? allowed : 1;
    if (ejected >= allowed && connect) {
        /* the cap keeps members that answer badly, not ones nothing
         * reaches (each request would wait for its connect to fail): in
         * error for base, which the cap does not count; probes, checks
         * and good answers end it early */
        *ms = lbf_eject_ms(c, 1);
        atomic_store(&r->error_until, now_usec + (uint64_t)*ms * 1000u);
        rc = LBF_EJ_ERROR;
    }
    else if (ejected >= allowed) {
        rc = LBF_EJ_CAPPED;
    }
    else {
        *n = lbf_next_n(r, c, now_usec);
        *ms = lbf_eject_ms(c, *n);
        atomic_store(&r->ej_n, *n | flags);
        atomic_store(&r->ej_until, now_usec + (uint64_t)*ms * 1000u);
        rc = LBF_EJ_EJECTED;
    }
    atomic_store(&r->ej_fails, 0);
    atomic_store(&r->ej_win, 0); /* a member back from ejection, or one
                                    the cap kept, starts a fresh count */
    return rc;
}

/* A success of r at now: the run of failures ends; so do an ejection or
 * an error it was in (it answered: a probe, a panic request). */
static int lbf_eject_success(struct lbf_row *r, uint64_t now_usec)
{
    if (atomic_load_explicit(&r->ej_fails, memory_order_relaxed) != 0) {
        atomic_store_explicit(&r->ej_fails, 0, memory_order_relaxed);
    }
    return lbf_eject_clear(r, now_usec) ? LBF_EJ_CLEARED : LBF_EJ_NONE;
}

int lbf_eject_result(const struct lbf_shm *h, struct lbf_farm *f,
                     struct lbf_row *r, const struct lbf_eject_conf *conf,
                     int outcome, int error_status, uint64_t now_usec,
                     uint32_t *ms, uint32_t *n)
{
    uint32_t self, fails;
    uint64_t win = 0;
    int rc;

    *ms = *n = 0;
    if ((outcome == LBF_OUT_STATUS && error_status)
        || (outcome == LBF_OUT_CONNECT
            && (conf == NULL || conf->mode == LBF_EJECT_OFF
                || (r->ej_cfg & LBF_EJ_RETRY_SET)))) {
        /* stock: a LBFarmErrorStatus always, a connect failure without
         * ejection: in error for retry= */
        lbf_row_set_error(r, now_usec);
        return r->retry_sec > 0 ? LBF_EJ_ERROR : LBF_EJ_NONE;
    }
    if (conf == NULL || conf->mode == LBF_EJECT_OFF
        || (r->ej_cfg & LBF_EJ_RETRY_SET)) {
        /* a probe that got a good answer ends the error early */
        return outcome == LBF_OUT_OK ? lbf_eject_success(r, now_usec)
                                     : LBF_EJ_NONE;
    }
    if (conf->rate_pct > 0) {
        win = lbf_window_add(r, conf, outcome != LBF_OUT_OK, now_usec);
    }
    if (outcome == LBF_OUT_OK) {
        return lbf_eject_success(r, now_usec);
    }
    fails = outcome == LBF_OUT_STATUS
            ? atomic_fetch_add(&r->ej_fails, 1) + 1 : 0;
    if (outcome != LBF_OUT_CONNECT && !lbf_row_ejected(r, now_usec)
        && !(conf->consecutive > 0 && fails >= conf->consecutive)
        && !lbf_rate_exceeded(conf, win)) {
        return LBF_EJ_NONE;
    }
    self = (uint32_t)getpid();
    lbf_lock_acquire(&f->lock, self);
    rc = lbf_eject_locked(h, f, r, conf, outcome == LBF_OUT_CONNECT,
                          now_usec, ms, n);
    lbf_lock_release(&f->lock, self);
    if (rc == LBF_EJ_EJECTED) {
        atomic_store(&f->panic, 0); /* decide again at the next pick */
    }
    return rc;
}

int lbf_eject_clear(struct lbf_row *r, uint64_t now_usec)
{
    uint64_t until = atomic_load_explicit(&r->ej_until, memory_order_relaxed);
    uint64_t err = atomic_load_explicit(&r->error_until,
                                        memory_order_relaxed);
    int ended = 0;

    if (until > now_usec
        && atomic_compare_exchange_strong(&r->ej_until, &until, now_usec)) {
        ended = 1;
    }
    if (err > now_usec
        && atomic_compare_exchange_strong(&r->error_until, &err, 0)) {
        ended = 1;
    }
    if (ended) {
        atomic_store(&r->up_since, now_usec); /* slow start, if any */
    }
    return ended;
}

/* ---- panic and probes ---- */

/* LBFarmPanic share of pk's farm, 0 when off or not in farm mode. */
static uint32_t lbf_panic_pct(const struct lbf_pick *pk)
{
    const struct lbf_eject_conf *c;

    if (pk->tune == NULL) {
        return 0;
    }
    c = &pk->tune->eject;
    if (c->mode == LBF_EJECT_OFF) {
        return 0;
    }
    return c->panic_set ? c->panic_pct : LBF_EJ_PANIC_PCT;
}

/* 1 when member mi of pk's farm is administratively in, and in *usable
 * whether it can take a request now. */
static int lbf_member_in(const struct lbf_pick *pk, uint32_t mi, int *usable)
{
    struct lbf_row *r = lbf_member_at(pk->h, pk->farm, mi);

    *usable = 0;
    if (r == NULL || atomic_load_explicit(&r->admin, memory_order_relaxed)
                         != LBF_ADMIN_ENABLED) {
        return 0;
    }
    *usable = lbf_row_usable(r, pk->now)
              && (pk->usable == NULL || pk->usable(pk->uctx, mi) >= 0);
    return 1;
}

int lbf_eject_panic(const struct lbf_pick *pk)
{
    struct lbf_farm *f = pk->farm;
    uint32_t pct = lbf_panic_pct(pk), i, n = f->n_rows, in = 0, ok = 0;
    uint64_t word = atomic_load_explicit(&f->panic, memory_order_relaxed);
    int panic, u;

    if (pct == 0) {
        return 0;
    }
    if ((word >> 1) > pk->now
        && (word >> 1) <= pk->now + LBF_PANIC_TTL_USEC) {
        return (int)(word & 1u);
    }
    for (i = 0; i < n; i++) {
        if (lbf_member_in(pk, i, &u)) {
            in++;
            ok += (uint32_t)u;
        }
    }
    panic = in > 0 && (uint64_t)ok * 100u < (uint64_t)pct * in;
    atomic_store_explicit(&f->panic,
                          (pk->now + LBF_PANIC_TTL_USEC) << 1
                          | (uint64_t)panic,
                          memory_order_relaxed);
    return panic;
}

int lbf_eject_panic_ok(const struct lbf_row *r, uint64_t now_usec)
{
    struct lbf_row *w = (struct lbf_row *)r;

    return atomic_load_explicit(&w->admin, memory_order_relaxed)
               == LBF_ADMIN_ENABLED
           && atomic_load_explicit(&w->drain_req, memory_order_relaxed) == 0
           && atomic_load_explicit(&w->health, memory_order_relaxed)
                  == LBF_HEALTH_UP
           && atomic_load_explicit(&w->error_until, memory_order_relaxed)
                  <= now_usec
           && lbf_row_ejected(w, now_usec)
           && !(atomic_load_explicit(&w->ej_n, memory_order_relaxed)
                & LBF_EJ_CONNECT);
}

/* 1 when r (member mi) may get a recovery probe: in, healthy, and out of
 * service only by an error or an ejection. */
static int lbf_probe_candidate(const struct lbf_pick *pk, uint32_t mi,
                               struct lbf_row *r)
{
    return mi != pk->exclude
           && atomic_load_explicit(&r->admin, memory_order_relaxed)
                  == LBF_ADMIN_ENABLED
           && atomic_load_explicit(&r->drain_req, memory_order_relaxed) == 0
           && atomic_load_explicit(&r->health, memory_order_relaxed)
                  == LBF_HEALTH_UP
           && (lbf_row_ejected(r, pk->now)
               || atomic_load_explicit(&r->error_until,
                                       memory_order_relaxed) > pk->now)
           && (pk->usable == NULL || pk->usable(pk->uctx, mi) >= 0);
}

int lbf_eject_probe(const struct lbf_pick *pk)
{
    uint32_t n = pk->farm->n_rows, k, start;

    if (pk->tune == NULL || pk->peek || n == 0) {
        return -1;
    }
    start = lbf_rng_below(pk->rng, n);
    for (k = 0; k < n; k++) {
        uint32_t mi = start + k < n ? start + k : start + k - n;
        struct lbf_row *r = lbf_member_at(pk->h, pk->farm, mi);
        uint64_t due;

        if (r == NULL || !lbf_probe_candidate(pk, mi, r)) {
            continue;
        }
        due = atomic_load(&r->ej_probe);
        if (due <= pk->now
            && atomic_compare_exchange_strong(&r->ej_probe, &due,
                                              pk->now + LBF_PROBE_USEC)) {
            return (int)mi;
        }
    }
    return -1;
}
