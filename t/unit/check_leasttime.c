/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_leasttime.c -- the "least-time" method and what it reads: the
 * documented worked example, the latency estimate's rules (young minimum,
 * quick to faster answers, winsorized slower ones, decay over time,
 * lock-free updates from forked writers), hot-cold on in-flight, the
 * slow member, the member without samples, exploration, and stall
 * detection (lbf_row_stalled, lbf_row_tune, health checks).
 */
#include "lbf_unit.h"

#define LT_MAX 8

static uint32_t lt_m(void)
{
    return lbf_t_method("least-time");
}

/* k samples of usec each, ended at t, into member mi. */
static void lt_feed(struct lbf_shm *h, struct lbf_farm *f, uint32_t mi,
                    uint64_t usec, int k, uint64_t t)
{
    while (k-- > 0) {
        lbf_row_done(lbf_t_row(h, f, mi), usec, t);
    }
}

/* Picks per member over `picks` picks, each released at once. */
static void lt_count(struct lbf_pick *pk, uint32_t picks, uint32_t *cnt,
                     uint32_t n)
{
    uint32_t i;

    memset(cnt, 0, n * sizeof(*cnt));
    for (i = 0; i < picks; i++) {
        int got = lbf_pick_take(lt_m(), pk);

        ck_assert_msg(got >= 0 && (uint32_t)got < n, "pick %u = %d", i, got);
        cnt[got]++;
        lbf_row_release(lbf_member_at(pk->h, pk->farm, (uint32_t)got), 0);
    }
}

static struct lbf_farm *lt_farm(struct lbf_shm *h, uint32_t n,
                                const uint32_t *w)
{
    static const uint32_t ones[LT_MAX] = {1, 1, 1, 1, 1, 1, 1, 1};

    lbf_t_segment(h, 1, n);
    return lbf_t_farm(h, "lt", "least-time", w ? w : ones, NULL, n, 0);
}

START_TEST(lt_documented_example)
{
    /* lbfarm_leasttime.c: m0 3 in flight 10 ms, m1 1 / 40 ms, m2 2 /
     * 11 ms.  m0 is hot, m2 wins, m1 only on exploring picks (1/128) */
    static const uint64_t est[3] = {10000, 40000, 11000};
    static const int inflight[3] = {3, 1, 2};
    struct lbf_shm h;
    struct lbf_farm *f = lt_farm(&h, 3, NULL);
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;
    uint32_t cnt[3], i;
    int k;

    for (i = 0; i < 3; i++) {
        lt_feed(&h, f, i, est[i], LBF_LT_YOUNG, LBF_T_NOW);
        ck_assert_uint_eq(lbf_row_lt_usec(lbf_t_row(&h, f, i), LBF_T_NOW,
                                          NULL), est[i]);
        for (k = 0; k < inflight[i]; k++) {
            lbf_row_take(lbf_t_row(&h, f, i));
        }
    }
    lbf_t_pick_init(&pk, &h, f, &rng);
    lt_count(&pk, 12800, cnt, 3);
    ck_assert_msg(cnt[0] == 0 && cnt[1] >= 50 && cnt[1] <= 150,
                  "first step: %u %u %u (want 0, ~100, rest)", cnt[0], cnt[1],
                  cnt[2]);
    /* m2 at 3 in flight: nobody hot; m0 and m2 near-equal, m1 1/192 */
    lbf_row_take(lbf_t_row(&h, f, 2));
    lt_count(&pk, 19200, cnt, 3);
    ck_assert_msg(cnt[1] >= 50 && cnt[1] <= 150 && cnt[0] >= 9000
                      && cnt[0] <= 10100 && cnt[2] >= 9000 && cnt[2] <= 10100,
                  "second step: %u %u %u (want ~9550, ~100, ~9550)", cnt[0],
                  cnt[1], cnt[2]);
    /* 6 s without samples (tau 2 s): m1 reads 11.5 ms, in the band */
    pk.now = LBF_T_NOW + 6 * LBF_T_SEC;
    lt_count(&pk, 3000, cnt, 3);
    ck_assert_msg(cnt[1] >= 800, "after 6 s m1 got %u of 3000", cnt[1]);
}
END_TEST

START_TEST(lt_estimate_follows_its_rules)
{
    struct lbf_shm h;
    struct lbf_farm *f = lt_farm(&h, 1, NULL);
    struct lbf_row *r = lbf_t_row(&h, f, 0);
    uint64_t t = LBF_T_NOW, when;
    int k;

    ck_assert_uint_eq(lbf_row_lt_usec(r, t, &when), 0);
    ck_assert_uint_eq(when, 0);
    /* young: the first sample, then the smallest so far */
    lbf_lt_sample(r, 5000, t);
    ck_assert_uint_eq(lbf_row_lt_usec(r, t, NULL), 5000);
    lbf_lt_sample(r, 9000, t);
    ck_assert_uint_eq(lbf_row_lt_usec(r, t, NULL), 5000);
    lbf_lt_sample(r, 1000, t);
    ck_assert_uint_eq(lbf_row_lt_usec(r, t, NULL), 1000);
    for (k = 3; k < LBF_LT_YOUNG; k++) {
        lbf_lt_sample(r, 1000, t);
    }
    /* grown up: answers at the same moment do not move it (dt = 0) */
    lbf_lt_sample(r, 600, t);
    lbf_lt_sample(r, 90000, t);
    ck_assert_uint_eq(lbf_row_lt_usec(r, t, NULL), 1000);
    /* a faster one after tau / 4: 1 - 1/e of the way down */
    t += LBF_T_SEC / 2;
    lbf_lt_sample(r, 600, t);
    ck_assert_uint_ge(lbf_row_lt_usec(r, t, NULL), 740);
    ck_assert_uint_le(lbf_row_lt_usec(r, t, NULL), 754);
    /* a slower one after tau: 1 - 1/e of the way up, winsorized at 4 x */
    t += 2 * LBF_T_SEC;
    lbf_lt_sample(r, 90000, t);
    ck_assert_uint_ge(lbf_row_lt_usec(r, t, &when), 2140);
    ck_assert_uint_le(lbf_row_lt_usec(r, t, NULL), 2185);
    ck_assert_uint_le(t - when, 4096);
    /* an update from a process whose clock is behind keeps the time */
    lbf_lt_sample(r, 2600, t - LBF_T_SEC);
    lbf_row_lt_usec(r, t, &when);
    ck_assert_uint_le(t - when, 4096);
}
END_TEST

START_TEST(lt_decay_does_not_depend_on_the_update_rate)
{
    /* from 1000 toward 2000 for 2 s: in one step or in 500 steps of 4 ms
     * the estimate ends within 1 % of 1000 + 1000 x (1 - e^-1) */
    uint64_t want = 1632;
    int steps;

    for (steps = 1; steps <= 500; steps *= 500) {
        struct lbf_shm h;
        struct lbf_farm *f = lt_farm(&h, 1, NULL);
        struct lbf_row *r = lbf_t_row(&h, f, 0);
        uint64_t t = LBF_T_NOW & ~4095ull, got;
        int k;

        for (k = 0; k < LBF_LT_YOUNG; k++) {
            lbf_lt_sample(r, 1000, t);
        }
        for (k = 1; k <= steps; k++) {
            lbf_lt_sample(r, 2000, t + (uint64_t)k * 2 * LBF_T_SEC / steps);
        }
        got = lbf_row_lt_usec(r, t + 2 * LBF_T_SEC, NULL);
        ck_assert_msg(got * 100 >= want * 99 && got * 100 <= want * 101,
                      "%d steps: %llu, want ~%llu", steps,
                      (unsigned long long)got, (unsigned long long)want);
        munmap(h.base, h.len);
    }
}
END_TEST

START_TEST(lt_concurrent_samples_from_forked_writers_stay_whole)
{
    /* 4 processes x 20000 samples of 1000..1999 us into one row: the
     * estimate is always one of the values the rules can produce from
     * them (inside 1000..1999, never torn), and the count saturated */
    struct lbf_shm h;
    struct lbf_farm *f = lt_farm(&h, 1, NULL);
    struct lbf_row *r = lbf_t_row(&h, f, 0);
    pid_t parent = getpid(), kids[4];
    int p;

    for (p = 0; p < 4; p++) {
        if ((kids[p] = fork()) == 0) {
            uint64_t gen = LBF_T_SEED + (uint64_t)p, t = LBF_T_NOW;
            int k;

            lbf_t_worker_init(parent);
            for (k = 0; k < 20000; k++) {
                t += 50;
                lbf_lt_sample(r, 1000 + lbf_rng_next(&gen) % 1000, t);
            }
            _exit(0);
        }
    }
    for (p = 0; p < 4; p++) {
        lbf_t_wait_ok(kids[p], "sampler");
    }
    ck_assert_uint_ge(lbf_row_lt_usec(r, LBF_T_NOW, NULL), 1000);
    ck_assert_uint_le(lbf_row_lt_usec(r, LBF_T_NOW, NULL), 1999);
    ck_assert_uint_eq(atomic_load(&r->lt_est) & 15u, 15u);
}
END_TEST

START_TEST(lt_hot_member_is_avoided)
{
    /* equal latency: the member far above the others' in-flight is hot */
    static const struct {
        int inflight[4];
        uint32_t n;
        uint32_t hot; /* bit per member that must get nothing */
    } cases[] = {
        {{5, 0, 0, 0}, 4, 1},
        {{4, 2, 3, 0}, 4, 1},       /* sorted 0 2 3 4: q 3.25 */
        {{1, 0, 0, 0}, 2, 1},       /* two choices: the heavier is hot */
        {{3, 3, 3, 3}, 4, 0},
    };
    size_t c;

    for (c = 0; c < LBF_T_NELEMS(cases); c++) {
        struct lbf_shm h;
        struct lbf_farm *f = lt_farm(&h, cases[c].n, NULL);
        struct lbf_pick pk;
        uint64_t rng = LBF_T_SEED;
        uint32_t cnt[4], i;
        int k;

        for (i = 0; i < cases[c].n; i++) {
            lt_feed(&h, f, i, 2000, LBF_LT_YOUNG, LBF_T_NOW);
            for (k = 0; k < cases[c].inflight[i]; k++) {
                lbf_row_take(lbf_t_row(&h, f, i));
            }
        }
        lbf_t_pick_init(&pk, &h, f, &rng);
        lt_count(&pk, 400, cnt, cases[c].n);
        for (i = 0; i < cases[c].n; i++) {
            if (cases[c].hot >> i & 1u) {
                ck_assert_msg(cnt[i] <= 8, "case %zu: hot m%u got %u", c, i,
                              cnt[i]);
            }
            else {
                ck_assert_msg(cnt[i] > 0, "case %zu: m%u got nothing", c, i);
            }
        }
        munmap(h.base, h.len);
    }
}
END_TEST

START_TEST(lt_slow_member_gets_almost_nothing)
{
    /* one member 4 x slower among 4, noisy answers, 1 and 8 connections:
     * under 2 % of 12000 requests (least-load gives it about a tenth at
     * eight connections); the fast ones share the rest within 15 % */
    static const uint64_t base[4] = {4000, 1000, 1000, 1000};
    static const uint32_t concs[] = {1, 8};
    size_t c;

    for (c = 0; c < LBF_T_NELEMS(concs); c++) {
        struct lbf_shm h;
        struct lbf_farm *f = lt_farm(&h, 4, NULL);
        struct lbf_t_sim sim = {lt_m(), concs[c], 12000, base, 1, LBF_T_SEED};
        struct lbf_pick pk;
        uint64_t rng = LBF_T_SEED;
        uint32_t cnt[4], i;

        lbf_t_pick_init(&pk, &h, f, &rng);
        lbf_t_simulate(&pk, &sim, cnt, 4);
        ck_assert_msg(cnt[0] < 240, "%u connections: slow m0 got %u",
                      concs[c], cnt[0]);
        for (i = 1; i < 4; i++) {
            ck_assert_msg(cnt[i] >= 3400 && cnt[i] <= 4600,
                          "%u connections: %u %u %u %u", concs[c], cnt[0],
                          cnt[1], cnt[2], cnt[3]);
        }
        munmap(h.base, h.len);
    }
}
END_TEST

START_TEST(lt_member_turning_slow_loses_its_share)
{
    /* 3 members; m0 serves 1 ms, then 5 ms from the 3000th request on: of
     * the next 6000 it gets well under its third */
    static const uint64_t fast[3] = {1000, 1000, 1000};
    static const uint64_t slow[3] = {5000, 1000, 1000};
    struct lbf_shm h;
    struct lbf_farm *f = lt_farm(&h, 3, NULL);
    struct lbf_t_sim sim = {lt_m(), 4, 3000, fast, 1, LBF_T_SEED};
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;
    uint32_t cnt[3];

    lbf_t_pick_init(&pk, &h, f, &rng);
    lbf_t_simulate(&pk, &sim, cnt, 3);
    ck_assert_uint_gt(cnt[0], 800);
    sim.base_us = slow;
    sim.total = 6000;
    lbf_t_simulate(&pk, &sim, cnt, 3);
    ck_assert_msg(cnt[0] < 600, "m0 got %u of 6000 once slow", cnt[0]);
}
END_TEST

START_TEST(lt_member_without_samples_is_tried)
{
    /* m0 and m1 have estimates; m2 is new (none) and m3 young (2 samples
     * of 50 ms): both count as the best and get their share */
    struct lbf_shm h;
    struct lbf_farm *f = lt_farm(&h, 4, NULL);
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;
    uint32_t cnt[4], i;

    lt_feed(&h, f, 0, 1000, LBF_LT_YOUNG, LBF_T_NOW);
    lt_feed(&h, f, 1, 1100, LBF_LT_YOUNG, LBF_T_NOW);
    lt_feed(&h, f, 3, 50000, 2, LBF_T_NOW);
    lbf_t_pick_init(&pk, &h, f, &rng);
    lt_count(&pk, 4000, cnt, 4);
    for (i = 0; i < 4; i++) {
        ck_assert_msg(cnt[i] >= 800, "m%u got %u of 4000", i, cnt[i]);
    }
}
END_TEST

START_TEST(lt_weights_share_near_equal_members)
{
    static const uint32_t w[3] = {1, 2, 5};
    struct lbf_shm h;
    struct lbf_farm *f = lt_farm(&h, 3, w);
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;
    uint32_t cnt[3], i;

    for (i = 0; i < 3; i++) {
        lt_feed(&h, f, i, 1000 + 50 * i, LBF_LT_YOUNG, LBF_T_NOW);
    }
    lbf_t_pick_init(&pk, &h, f, &rng);
    lt_count(&pk, 8000, cnt, 3);
    for (i = 0; i < 3; i++) {
        ck_assert_msg(cnt[i] * 100 >= w[i] * 1000 * 90
                          && cnt[i] * 100 <= w[i] * 1000 * 110,
                      "weights 1 2 5: %u %u %u", cnt[0], cnt[1], cnt[2]);
    }
}
END_TEST

START_TEST(lt_pushed_headroom_scales_the_latency)
{
    /* equal latency; m0 reports 0.8 (headroom 0.2 -> 0.25: cost 4 x): out
     * of the band; m1 0.0 and m2 0.001 near-equal */
    struct lbf_shm h;
    struct lbf_farm *f = lt_farm(&h, 3, NULL);
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;
    uint32_t cnt[3], i;

    f->expiry_ms = 60000;
    for (i = 0; i < 3; i++) {
        lt_feed(&h, f, i, 1000, LBF_LT_YOUNG, LBF_T_NOW);
    }
    lbf_t_report(lbf_t_row(&h, f, 0), 800, LBF_T_NOW);
    lbf_t_report(lbf_t_row(&h, f, 1), 0, LBF_T_NOW);
    lbf_t_report(lbf_t_row(&h, f, 2), 1, LBF_T_NOW);
    lbf_t_pick_init(&pk, &h, f, &rng);
    lt_count(&pk, 6000, cnt, 3);
    ck_assert_msg(cnt[0] < 120 && cnt[1] > 2700 && cnt[2] > 2700,
                  "%u %u %u", cnt[0], cnt[1], cnt[2]);
}
END_TEST

START_TEST(lt_large_farm_uses_two_choices)
{
    /* 100 members, m37 slow (10 x): two random choices, m37 nearly never;
     * every other member used */
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;
    uint32_t w[100], cnt[100], i;

    for (i = 0; i < 100; i++) {
        w[i] = 1;
    }
    lbf_t_segment(&h, 1, 100);
    f = lbf_t_farm(&h, "lt", "least-time", w, NULL, 100, 0);
    for (i = 0; i < 100; i++) {
        lt_feed(&h, f, i, i == 37 ? 10000 : 1000, LBF_LT_YOUNG, LBF_T_NOW);
    }
    lbf_t_pick_init(&pk, &h, f, &rng);
    lt_count(&pk, 20000, cnt, 100);
    ck_assert_msg(cnt[37] < 20, "slow m37 got %u", cnt[37]);
    for (i = 0; i < 100; i++) {
        ck_assert_msg(i == 37 || cnt[i] > 100, "m%u got %u", i, cnt[i]);
    }
}
END_TEST

/* ---- stall detection ---- */

START_TEST(stall_rule_cases)
{
    /* a row taken at t0 (busy since t0), completions at done; p99 from
     * samples of `lat` us; stalled at now? k 4, floor 100 ms */
    static const struct {
        uint64_t since_ms, done_ms, now_ms, lat_us;
        int inflight, stalled;
    } cases[] = {
        {0, 0, 99, 0, 1, 0},            /* within the floor */
        {0, 0, 101, 0, 1, 1},           /* past it: no p99 */
        {0, 0, 101, 0, 0, 0},           /* nothing in flight */
        {0, 80, 150, 0, 1, 0},          /* completed 70 ms ago */
        {0, 80, 181, 0, 1, 1},
        {0, 0, 800, 200000, 1, 0},      /* p99 204.8 ms: bound 819 ms */
        {0, 0, 2000, 200000, 1, 1},
    };
    static const struct lbf_tune on = {.stall = LBF_STALL_ON, .stall_k = 4,
                                       .stall_floor_ms = 100};
    size_t c;

    for (c = 0; c < LBF_T_NELEMS(cases); c++) {
        struct lbf_shm h;
        struct lbf_farm *f = lt_farm(&h, 1, NULL);
        struct lbf_row *r = lbf_t_row(&h, f, 0);
        uint64_t t0 = LBF_T_NOW, ms = 1000;
        int k;

        lbf_row_tune(r, lbf_methods[lt_m()], &on);
        if (cases[c].lat_us) {
            for (k = 0; k < 100; k++) {
                lbf_row_done(r, cases[c].lat_us, t0 - LBF_T_SEC);
            }
            atomic_store(&r->done_ts, 0);
        }
        for (k = 0; k < cases[c].inflight; k++) {
            lbf_row_begin(r, t0 + cases[c].since_ms * ms);
        }
        if (cases[c].done_ms) {
            lbf_row_progress(r, t0 + cases[c].done_ms * ms);
        }
        ck_assert_msg(lbf_row_stalled(r, t0 + cases[c].now_ms * ms)
                          == cases[c].stalled,
                      "case %zu: stalled %d, want %d", c,
                      lbf_row_stalled(r, t0 + cases[c].now_ms * ms),
                      cases[c].stalled);
        munmap(h.base, h.len);
    }
}
END_TEST

START_TEST(stall_tune_resolves_per_method)
{
    static const struct lbf_tune custom = {.decay_ms = 700,
                                           .stall = LBF_STALL_ON,
                                           .stall_k = 6,
                                           .stall_floor_ms = 250};
    static const struct lbf_tune off = {.stall = LBF_STALL_OFF};
    static const struct lbf_tune huge = {.stall = LBF_STALL_ON,
                                         .stall_k = 1000,
                                         .stall_floor_ms = 99999999};
    struct lbf_shm h;
    struct lbf_farm *f = lt_farm(&h, 1, NULL);
    struct lbf_row *r = lbf_t_row(&h, f, 0);
    const struct lbf_method *lt = lbf_methods[lt_m()];
    const struct lbf_method *ll = lbf_methods[lbf_t_method("least-load")];

    lbf_row_tune(r, lt, NULL);
    ck_assert_uint_eq(atomic_load(&r->lt_decay_ms), LBF_LT_DECAY_MS);
    ck_assert_uint_eq(atomic_load(&r->stall_cfg),
                      LBF_STALL_K << 24 | LBF_STALL_FLOOR_MS);
    lbf_row_tune(r, ll, NULL);
    ck_assert_uint_eq(atomic_load(&r->stall_cfg), 0);
    lbf_row_tune(r, ll, &custom);
    ck_assert_uint_eq(atomic_load(&r->lt_decay_ms), 700);
    ck_assert_uint_eq(atomic_load(&r->stall_cfg), 6u << 24 | 250u);
    lbf_row_tune(r, lt, &off);
    ck_assert_uint_eq(atomic_load(&r->stall_cfg), 0);
    lbf_row_tune(r, NULL, &huge); /* clamped */
    ck_assert_uint_eq(atomic_load(&r->stall_cfg),
                      (uint32_t)LBF_STALL_K_MAX << 24 | LBF_STALL_FLOOR_MAX);
}
END_TEST

START_TEST(stalled_member_gets_traffic_again_after_it_answers)
{
    /* least-time (stall on by default): m1 frozen with 2 in flight for
     * 1 s gets nothing; one completion or a passed health check and it
     * is a candidate again; when every member is stalled, picks go on */
    struct lbf_shm h;
    struct lbf_farm *f = lt_farm(&h, 3, NULL);
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;
    uint32_t cnt[3], i;

    lbf_t_pick_init(&pk, &h, f, &rng);
    for (i = 0; i < 3; i++) {
        lt_feed(&h, f, i, 1000, LBF_LT_YOUNG, LBF_T_NOW - 2 * LBF_T_SEC);
    }
    pk.now = LBF_T_NOW - LBF_T_SEC;
    lbf_member_take(lt_m(), &pk, 1);
    lbf_member_take(lt_m(), &pk, 1);
    pk.now = LBF_T_NOW;
    ck_assert_int_eq(lbf_row_stalled(lbf_t_row(&h, f, 1), pk.now), 1);
    ck_assert_int_eq(lbf_member_tier(&pk, 1), -1);
    lt_count(&pk, 600, cnt, 3);
    ck_assert_uint_eq(cnt[1], 0);
    /* it answers one */
    lbf_row_done(lbf_t_row(&h, f, 1), LBF_T_SEC, pk.now);
    lbf_row_release(lbf_t_row(&h, f, 1), 0);
    ck_assert_int_eq(lbf_row_stalled(lbf_t_row(&h, f, 1), pk.now), 0);
    ck_assert_int_eq(lbf_member_tier(&pk, 1), 0);
    /* stalled again later (its p99 is now the 1 s answer: bound 6.6 s);
     * a passed health check clears it too */
    pk.now += 10 * LBF_T_SEC;
    ck_assert_int_eq(lbf_member_tier(&pk, 1), -1);
    lbf_row_progress(lbf_t_row(&h, f, 1), pk.now);
    ck_assert_int_eq(lbf_member_tier(&pk, 1), 0);
    /* every member stalled: none is better, all stay eligible */
    pk.now += LBF_T_SEC;
    lbf_member_take(lt_m(), &pk, 0);
    lbf_member_take(lt_m(), &pk, 2);
    pk.now += 10 * LBF_T_SEC;
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(lbf_row_stalled(lbf_t_row(&h, f, i), pk.now), 1);
        ck_assert_int_eq(lbf_member_tier(&pk, i), 0);
    }
    ck_assert_int_ge(lbf_pick_take(lt_m(), &pk), 0);
}
END_TEST

Suite *lbf_suite_leasttime(void)
{
    Suite *s = suite_create("least-time");
    TCase *pick = tcase_create("pick");
    TCase *est = tcase_create("estimate");
    TCase *stall = tcase_create("stall");

    tcase_add_test(pick, lt_documented_example);
    tcase_add_test(pick, lt_hot_member_is_avoided);
    tcase_add_test(pick, lt_slow_member_gets_almost_nothing);
    tcase_add_test(pick, lt_member_turning_slow_loses_its_share);
    tcase_add_test(pick, lt_member_without_samples_is_tried);
    tcase_add_test(pick, lt_weights_share_near_equal_members);
    tcase_add_test(pick, lt_pushed_headroom_scales_the_latency);
    tcase_add_test(pick, lt_large_farm_uses_two_choices);
    tcase_set_timeout(pick, 3 * LBF_T_TIMEOUT);
    suite_add_tcase(s, pick);

    tcase_add_test(est, lt_estimate_follows_its_rules);
    tcase_add_test(est, lt_decay_does_not_depend_on_the_update_rate);
    tcase_add_test(est, lt_concurrent_samples_from_forked_writers_stay_whole);
    tcase_set_timeout(est, LBF_T_TIMEOUT);
    suite_add_tcase(s, est);

    tcase_add_test(stall, stall_rule_cases);
    tcase_add_test(stall, stall_tune_resolves_per_method);
    tcase_add_test(stall, stalled_member_gets_traffic_again_after_it_answers);
    tcase_set_timeout(stall, LBF_T_TIMEOUT);
    suite_add_tcase(s, stall);
    return s;
}
