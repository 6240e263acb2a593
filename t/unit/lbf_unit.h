/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbf_unit.h -- shared declarations and helpers of the Check unit tests.
 *
 * Every t/unit/check_<name>.c exposes one Suite *lbf_suite_<name>(void),
 * declared below; check_main.c runs them all in one binary (CK_FORK=yes:
 * every test runs in its own process, so a test may leave its mappings
 * behind).
 *
 * Segments live in mmap(MAP_SHARED|MAP_ANONYMOUS) memory so that fork()ed
 * workers share them exactly as httpd children share the apr_shm segment.
 * Helpers fail the calling test through ck_assert; they never return an
 * error.
 */
#ifndef LBF_UNIT_H
#define LBF_UNIT_H

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include "lbfarm_shm.h"
#include "lbfarm_method.h"

Suite *lbf_suite_swrr(void);
Suite *lbf_suite_shm(void);
Suite *lbf_suite_methods(void);
Suite *lbf_suite_weighted(void);
Suite *lbf_suite_leastload(void);
Suite *lbf_suite_lock(void);
Suite *lbf_suite_carry(void);
Suite *lbf_suite_stress(void);
Suite *lbf_suite_leasttime(void);

/*
 * Suites of other core files (lbfarm_conf.c, ...), written alongside.
 * Weak: check_main.c runs each one that is linked in and skips the rest,
 * so `make unit` links whichever check_*.c files exist.  A new suite adds
 * one line here and one entry in check_main.c's lbf_optional[].
 */
Suite *lbf_suite_conf(void) __attribute__((weak));
Suite *lbf_suite_push(void) __attribute__((weak));
Suite *lbf_suite_session(void) __attribute__((weak));
Suite *lbf_suite_snapshot(void) __attribute__((weak));
Suite *lbf_suite_render(void) __attribute__((weak));
Suite *lbf_suite_status_html(void) __attribute__((weak));
Suite *lbf_suite_admin(void) __attribute__((weak));
Suite *lbf_suite_heartbeat(void) __attribute__((weak));
Suite *lbf_suite_query(void) __attribute__((weak));
Suite *lbf_suite_hold(void) __attribute__((weak));

/* A fixed "now" (2023-11-14, usec) so error deadlines are deterministic. */
#define LBF_T_NOW 1700000000000000ull
#define LBF_T_SEC 1000000ull
#define LBF_T_SEED 0x9e3779b97f4a7c15ull

/* Check timeout of every test case, wall clock: each test needs well
 * under a second alone, but the box may be busy (2 cores, benchmarks). */
#define LBF_T_TIMEOUT 10

#define LBF_T_NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Shared anonymous memory of len bytes (page-rounded by the kernel). */
static inline void *lbf_t_region(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    ck_assert_msg(p != MAP_FAILED, "mmap of %zu bytes failed", len);
    return p;
}

/* Layout for l_farms farms of up to farm_rows members each. */
static inline struct lbf_layout lbf_t_layout(uint32_t l_farms,
                                             uint32_t farm_rows)
{
    struct lbf_layout lay;

    memset(&lay, 0, sizeof(lay));
    lay.l_farms = l_farms;
    lay.l_rows = l_farms * farm_rows;
    lay.sched_len = l_farms * lbf_sched_entries(farm_rows);
    lay.generation = 1;
    return lay;
}

/* A formatted segment in fresh shared memory, exactly lbf_shm_size long. */
static inline void lbf_t_segment(struct lbf_shm *h, uint32_t l_farms,
                                 uint32_t farm_rows)
{
    struct lbf_layout lay = lbf_t_layout(l_farms, farm_rows);
    size_t len = lbf_shm_size(&lay);
    void *base = lbf_t_region(len);

    ck_assert_int_eq(lbf_shm_format(h, base, len, &lay), LBF_OK);
}

static inline uint32_t lbf_t_method(const char *name)
{
    int mi = lbf_method_find(name);

    ck_assert_msg(mi >= 0, "method %s not registered", name);
    return (uint32_t)mi;
}

/*
 * Add farm `name` using method `method` with n members named m0..m<n-1>,
 * weights w[] and tiers tier[] (NULL: all 0), retry 60 s, capacity
 * l_rows (0: n), then publish its schedule.  Returns the farm.
 */
static inline struct lbf_farm *lbf_t_farm(struct lbf_shm *h, const char *name,
                                          const char *method, const uint32_t *w,
                                          const uint32_t *tier, uint32_t n,
                                          uint32_t l_rows)
{
    int fi = lbf_farm_add(h, name, lbf_t_method(method), l_rows ? l_rows : n);
    uint32_t i;
    struct lbf_farm *f;

    ck_assert_msg(fi >= 0, "lbf_farm_add(%s) = %d", name, fi);
    for (i = 0; i < n; i++) {
        char mname[LBF_NAME_SIZE];

        snprintf(mname, sizeof(mname), "m%u", i);
        ck_assert_int_eq(lbf_member_add(h, (uint32_t)fi, mname, w[i],
                                        tier ? tier[i] : 0, 60),
                         (int)i);
    }
    f = lbf_farm_at(h, (uint32_t)fi);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(lbf_farm_rebuild(h, f), LBF_OK);
    return f;
}

static inline struct lbf_row *lbf_t_row(const struct lbf_shm *h,
                                        const struct lbf_farm *f, uint32_t mi)
{
    struct lbf_row *r = lbf_member_at(h, f, mi);

    ck_assert_msg(r != NULL, "member %u missing", mi);
    return r;
}

static inline void lbf_t_pick_init(struct lbf_pick *pk, const struct lbf_shm *h,
                                   struct lbf_farm *f, uint64_t *rng)
{
    memset(pk, 0, sizeof(*pk));
    pk->h = h;
    pk->farm = f;
    pk->now = LBF_T_NOW;
    pk->rng = rng;
    pk->usable = NULL;
    pk->uctx = NULL;
    pk->exclude = LBF_NO_MEMBER;
}

static inline uint32_t lbf_t_gcd(uint32_t a, uint32_t b)
{
    while (b != 0) {
        uint32_t t = a % b;

        a = b;
        b = t;
    }
    return a;
}

/*
 * Reference smooth weighted round robin, written from the definition in
 * lbfarm_method.h and CONTRACT.md (not from the implementation): weights
 * reduced by their gcd; each step adds every weight to its current value,
 * the largest current wins (lowest index on a tie) and loses the total.
 * Writes the period (<= cap) into out and returns it; 0 on bad input.
 */
static inline uint32_t lbf_t_ref_swrr(const uint32_t *w, uint32_t n,
                                      uint16_t *out, uint32_t cap)
{
    int64_t cur[64];
    uint64_t total = 0;
    uint32_t g = 0, i, step;

    if (n == 0 || n > LBF_T_NELEMS(cur)) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (w[i] == 0) {
            return 0;
        }
        g = lbf_t_gcd(w[i], g);
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
        }
        for (i = 1; i < n; i++) {
            if (cur[i] > cur[best]) {
                best = i;
            }
        }
        cur[best] -= (int64_t)total;
        out[step] = (uint16_t)best;
    }
    return (uint32_t)total;
}

/*
 * Wait for child pid (bounded by the test's Check timeout) and assert it
 * exited with status 0; `what` names the child in the failure message.
 */
static inline void lbf_t_wait_ok(pid_t pid, const char *what)
{
    int st = 0;
    pid_t got;

    do {
        got = waitpid(pid, &st, 0);
    } while (got < 0 && errno == EINTR);
    ck_assert_msg(got == pid, "waitpid(%d) for %s failed", (int)pid, what);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "%s (pid %d) ended badly: %s %d", what, (int)pid,
                  WIFEXITED(st) ? "exit" : "signal",
                  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* In a fork()ed worker: die with the test process instead of lingering. */
static inline void lbf_t_worker_init(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
        _exit(99);
    }
}

/*
 * A pushed report on row r as the push path leaves it (load in 1/1000,
 * reported at t, trusted: its run began 10 s before), for farms whose
 * expiry and blackout the test sets.
 */
static inline void lbf_t_report(struct lbf_row *r, uint32_t load, uint64_t t)
{
    atomic_store(&r->load_milli, load);
    atomic_store(&r->load_since, t - 10 * LBF_T_SEC);
    atomic_store(&r->load_ts, t);
}

/*
 * A closed-loop simulation of a farm in front of real servers: `conc`
 * clients each send a request, wait for its answer and send the next,
 * `total` requests in all, picked with method `method` through
 * lbf_pick_take at simulated times (pk->now), every answer recorded
 * (lbf_row_done) and released.  Member m answers in
 * base_us[m] (0: 1000 us), times a noise factor when noisy: 0.8..1.2,
 * or 5..20 for one answer in 50 (a hiccup) -- drawn from its own
 * generator seeded with seed, so runs are exact.  Counts picks per member
 * into cnt[0..n).  Returns the simulated time at the end.
 */
struct lbf_t_sim {
    uint32_t method;
    uint32_t conc;            /* 1..64 */
    uint32_t total;
    const uint64_t *base_us;  /* per member, or NULL: 1000 us each */
    int noisy;
    uint64_t seed;
};

static inline uint64_t lbf_t_answer_us(const struct lbf_t_sim *s, uint32_t m,
                                       uint64_t *gen)
{
    double u = (double)(lbf_rng_next(gen) >> 11) / 9007199254740992.0;
    double base = s->base_us && s->base_us[m] ? (double)s->base_us[m] : 1000;

    if (!s->noisy) {
        return (uint64_t)base;
    }
    return (uint64_t)(base * (u < 0.02 ? 5.0 + u * 750.0 : 0.8 + 0.4 * u));
}

static inline uint64_t lbf_t_simulate(struct lbf_pick *pk,
                                      const struct lbf_t_sim *s,
                                      uint32_t *cnt, uint32_t n)
{
    uint64_t end[64], start[64], gen = s->seed | 1, t = pk->now;
    int who[64];
    uint32_t c, k, sent = 0, done = 0;

    ck_assert_uint_le(s->conc, 64);
    memset(cnt, 0, n * sizeof(*cnt));
    for (c = 0; c < s->conc; c++) {
        end[c] = UINT64_MAX;
        who[c] = -1;
    }
    while (done < s->total) {
        for (c = 0; c < s->conc && sent < s->total; c++) {
            if (who[c] < 0) {
                pk->now = t;
                who[c] = lbf_pick_take(s->method, pk);
                ck_assert_msg(who[c] >= 0 && (uint32_t)who[c] < n,
                              "pick %u: %d", sent, who[c]);
                cnt[who[c]]++;
                sent++;
                start[c] = t;
                end[c] = t + lbf_t_answer_us(s, (uint32_t)who[c], &gen);
            }
        }
        for (c = 0, k = 0; k < s->conc; k++) {
            c = end[k] < end[c] ? k : c;
        }
        t = end[c];
        lbf_row_done(lbf_member_at(pk->h, pk->farm,
                                             (uint32_t)who[c]),
                               t - start[c], t);
        lbf_row_release(lbf_member_at(pk->h, pk->farm, (uint32_t)who[c]), 0);
        who[c] = -1;
        end[c] = UINT64_MAX;
        done++;
    }
    pk->now = t;
    return t;
}

#endif /* LBF_UNIT_H */
