/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_eject.c -- outlier ejection (lbfarm_eject.c): the consecutive and
 * rate rules, base x n and its decay, the cap, stock retry= semantics,
 * LBFarmErrorStatus, the end of an ejection by a success or a health
 * check, panic mode, recovery probes, and the states the snapshot shows
 * ("ejected", "stalled").
 */
#include "lbf_unit.h"
#include "lbfarm_eject.h"
#include "lbfarm_snapshot.h"

#define EJ_T(s) (LBF_T_NOW + (uint64_t)(s) * LBF_T_SEC)

static struct lbf_eject_conf ej_conf(void)
{
    struct lbf_eject_conf c = {.mode = LBF_EJECT_DEFAULT};

    lbf_eject_conf_resolve(&c, &c);
    return c;
}

static struct lbf_farm *ej_farm(struct lbf_shm *h, uint32_t n)
{
    static const uint32_t ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};

    lbf_t_segment(h, 1, n);
    return lbf_t_farm(h, "ej", "least-load", ones, NULL, n, 0);
}

/* k outcomes of member mi at t; the rc of the last. */
static int ej_feed(struct lbf_shm *h, struct lbf_farm *f, uint32_t mi,
                   const struct lbf_eject_conf *c, int outcome, int k,
                   uint64_t t)
{
    uint32_t ms, n;
    int rc = LBF_EJ_NONE;

    while (k-- > 0) {
        rc = lbf_eject_result(h, f, lbf_t_row(h, f, mi), c, outcome, 0, t,
                              &ms, &n);
    }
    return rc;
}

START_TEST(eject_defaults_resolve)
{
    struct lbf_eject_conf c = ej_conf();

    ck_assert_uint_eq(c.mode, LBF_EJECT_ON);
    ck_assert_uint_eq(c.consecutive, 5);
    ck_assert_uint_eq(c.rate_pct, 50);
    ck_assert_uint_eq(c.window_sec, 10);
    ck_assert_uint_eq(c.base_ms, 5000);
    ck_assert_uint_eq(c.max_ms, 300000);
    ck_assert_uint_eq(c.cap_pct, 50);
    ck_assert_uint_eq(c.panic_pct, 50);
}
END_TEST

START_TEST(eject_after_five_consecutive_failures_for_base)
{
    struct lbf_shm h;
    struct lbf_farm *f = ej_farm(&h, 2);
    struct lbf_eject_conf c = ej_conf();
    struct lbf_row *r = lbf_t_row(&h, f, 0);
    uint32_t ms, n;

    c.rate_pct = 0;
    ck_assert_int_eq(ej_feed(&h, f, 0, &c, LBF_OUT_STATUS, 4, EJ_T(0)),
                     LBF_EJ_NONE);
    ck_assert(!lbf_row_ejected(r, EJ_T(0)));
    ck_assert_int_eq(lbf_eject_result(&h, f, r, &c, LBF_OUT_STATUS, 0,
                                      EJ_T(0), &ms, &n), LBF_EJ_EJECTED);
    ck_assert_uint_eq(ms, 5000);
    ck_assert_uint_eq(n, 1);
    ck_assert(lbf_row_ejected(r, EJ_T(4)));
    ck_assert(!lbf_row_usable(r, EJ_T(4)));
    ck_assert_uint_eq(lbf_row_eject_left(r, EJ_T(1), &n), 4000);
    ck_assert_uint_eq(n, 1);
    ck_assert(lbf_row_usable(r, EJ_T(5)));
}
END_TEST

START_TEST(eject_a_success_breaks_the_run)
{
    struct lbf_shm h;
    struct lbf_farm *f = ej_farm(&h, 2);
    struct lbf_eject_conf c = ej_conf();

    c.rate_pct = 0;
    ej_feed(&h, f, 0, &c, LBF_OUT_STATUS, 4, EJ_T(0));
    ej_feed(&h, f, 0, &c, LBF_OUT_OK, 1, EJ_T(0));
    ck_assert_int_eq(ej_feed(&h, f, 0, &c, LBF_OUT_STATUS, 4, EJ_T(0)),
                     LBF_EJ_NONE);
    ck_assert(!lbf_row_ejected(lbf_t_row(&h, f, 0), EJ_T(0)));
}
END_TEST

START_TEST(eject_connect_failure_ejects_at_once)
{
    struct lbf_shm h;
    struct lbf_farm *f = ej_farm(&h, 2);
    struct lbf_eject_conf c = ej_conf();

    ck_assert_int_eq(ej_feed(&h, f, 1, &c, LBF_OUT_CONNECT, 1, EJ_T(0)),
                     LBF_EJ_EJECTED);
    ck_assert(lbf_row_ejected(lbf_t_row(&h, f, 1), EJ_T(1)));
    /* ejected for a connect failure: panic leaves it out */
    ck_assert(!lbf_eject_panic_ok(lbf_t_row(&h, f, 1), EJ_T(1)));
}
END_TEST

START_TEST(eject_rate_over_the_window)
{
    struct lbf_shm h;
    struct lbf_farm *f = ej_farm(&h, 2);
    struct lbf_eject_conf c = ej_conf();
    int i, rc = LBF_EJ_NONE;

    c.consecutive = 0;
    /* alternate: 50 % failures, never two in a row; ejected at the 10th
     * request (volume 10, 5 of 10 failed) */
    for (i = 0; i < 10; i++) {
        ck_assert_int_eq(rc, LBF_EJ_NONE);
        rc = ej_feed(&h, f, 0, &c, i % 2 ? LBF_OUT_STATUS : LBF_OUT_OK, 1,
                     EJ_T(0));
    }
    ck_assert_int_eq(rc, LBF_EJ_EJECTED);
}
END_TEST

START_TEST(eject_rate_needs_its_volume_and_resets_each_window)
{
    struct lbf_shm h;
    struct lbf_farm *f = ej_farm(&h, 2);
    struct lbf_eject_conf c = ej_conf();

    c.consecutive = 0;
    ck_assert_int_eq(ej_feed(&h, f, 0, &c, LBF_OUT_STATUS, 9, EJ_T(0)),
                     LBF_EJ_NONE);
    /* a new window: the 9 failures are forgotten */
    ck_assert_int_eq(ej_feed(&h, f, 0, &c, LBF_OUT_OK, 6, EJ_T(10)),
                     LBF_EJ_NONE);
    ck_assert_int_eq(ej_feed(&h, f, 0, &c, LBF_OUT_STATUS, 3, EJ_T(10)),
                     LBF_EJ_NONE);
    ck_assert_int_eq(ej_feed(&h, f, 0, &c, LBF_OUT_STATUS, 1, EJ_T(10)),
                     LBF_EJ_NONE); /* 4 of 10 */
    ck_assert_int_eq(ej_feed(&h, f, 0, &c, LBF_OUT_STATUS, 2, EJ_T(10)),
                     LBF_EJ_EJECTED); /* 6 of 12 */
}
END_TEST

START_TEST(eject_time_is_base_times_n_up_to_max_and_n_decays)
{
    struct lbf_shm h;
    struct lbf_farm *f = ej_farm(&h, 2);
    struct lbf_eject_conf c = ej_conf();
    struct lbf_row *r = lbf_t_row(&h, f, 0);
    uint32_t ms, n, k;
    uint64_t t = EJ_T(0);

    c.max_ms = 12000;
    for (k = 1; k <= 4; k++) {
        ck_assert_int_eq(lbf_eject_result(&h, f, r, &c, LBF_OUT_CONNECT, 0, t,
                                          &ms, &n), LBF_EJ_EJECTED);
        ck_assert_uint_eq(n, k);
        ck_assert_uint_eq(ms, k * 5000 > 12000 ? 12000 : k * 5000);
        t += (uint64_t)ms * 1000u; /* fails again as soon as it is back */
    }
    /* 40 s healthy (2 steps of 4 x base = 20 s): n 4 -> 2, this one 3 */
    t += 40 * LBF_T_SEC;
    lbf_eject_result(&h, f, r, &c, LBF_OUT_CONNECT, 0, t, &ms, &n);
    ck_assert_uint_eq(n, 3);
    /* a long healthy stretch: back to n = 1 */
    t += (uint64_t)ms * 1000u + 3600 * LBF_T_SEC;
    lbf_eject_result(&h, f, r, &c, LBF_OUT_CONNECT, 0, t, &ms, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(ms, 5000);
}
END_TEST

START_TEST(eject_failure_while_ejected_restarts_the_same_time)
{
    struct lbf_shm h;
    struct lbf_farm *f = ej_farm(&h, 2);
    struct lbf_eject_conf c = ej_conf();
    struct lbf_row *r = lbf_t_row(&h, f, 0);
    uint32_t ms, n;

    lbf_eject_result(&h, f, r, &c, LBF_OUT_CONNECT, 0, EJ_T(0), &ms, &n);
    ck_assert_int_eq(lbf_eject_result(&h, f, r, &c, LBF_OUT_CONNECT, 0,
                                      EJ_T(3), &ms, &n), LBF_EJ_EXTENDED);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(lbf_row_eject_left(r, EJ_T(3), NULL), 5000);
}
END_TEST

START_TEST(eject_cap_keeps_the_member_that_would_exceed_it)
{
    struct lbf_shm h;
    struct lbf_farm *f = ej_farm(&h, 4);
    struct lbf_eject_conf c = ej_conf();

    c.cap_pct = 25;
    ck_assert_int_eq(ej_feed(&h, f, 0, &c, LBF_OUT_CONNECT, 1, EJ_T(0)),
                     LBF_EJ_EJECTED);
    /* bad answers past the cap: kept, still usable */
    ck_assert_int_eq(ej_feed(&h, f, 1, &c, LBF_OUT_STATUS, c.consecutive,
                             EJ_T(0)), LBF_EJ_CAPPED);
    ck_assert(lbf_row_usable(lbf_t_row(&h, f, 1), EJ_T(0)));
    /* refused connections past the cap: stock error for retry= */
    ck_assert_int_eq(ej_feed(&h, f, 3, &c, LBF_OUT_CONNECT, 1, EJ_T(0)),
                     LBF_EJ_ERROR);
    ck_assert(!lbf_row_usable(lbf_t_row(&h, f, 3), EJ_T(0)));
    ck_assert(!lbf_row_ejected(lbf_t_row(&h, f, 3), EJ_T(0)));
    /* at 50 %: two of four */
    c.cap_pct = 50;
    ck_assert_int_eq(ej_feed(&h, f, 1, &c, LBF_OUT_STATUS, c.consecutive,
                             EJ_T(0)), LBF_EJ_EJECTED);
    ck_assert_int_eq(ej_feed(&h, f, 2, &c, LBF_OUT_STATUS, c.consecutive,
                             EJ_T(0)), LBF_EJ_CAPPED);
    /* when m0's ejection ends there is room again */
    ck_assert_int_eq(ej_feed(&h, f, 2, &c, LBF_OUT_CONNECT, 1, EJ_T(5)),
                     LBF_EJ_EJECTED);
}
END_TEST

START_TEST(eject_cap_allows_one_member_of_a_small_farm)
{
    struct lbf_shm h;
    struct lbf_farm *f = ej_farm(&h, 1);
    struct lbf_eject_conf c = ej_conf();

    ck_assert_int_eq(ej_feed(&h, f, 0, &c, LBF_OUT_CONNECT, 1, EJ_T(0)),
                     LBF_EJ_EJECTED);
}
END_TEST

/* Forked processes eject members of one farm at the same instant: the
 * farm lock lets exactly the cap through. */
START_TEST(eject_cap_holds_across_forked_processes)
{
    struct lbf_shm h;
    struct lbf_farm *f = ej_farm(&h, 8);
    struct lbf_eject_conf c = ej_conf();
    uint32_t i, ejected = 0;
    pid_t pid[8];

    for (i = 0; i < 8; i++) {
        if ((pid[i] = fork()) == 0) {
            uint32_t ms, n;

            lbf_eject_result(&h, f, lbf_t_row(&h, f, i), &c, LBF_OUT_CONNECT,
                             0, EJ_T(0), &ms, &n);
            _exit(0);
        }
        ck_assert_int_gt(pid[i], 0);
    }
    for (i = 0; i < 8; i++) {
        int st;

        ck_assert_int_eq(waitpid(pid[i], &st, 0), pid[i]);
    }
    for (i = 0; i < 8; i++) {
        ejected += (uint32_t)lbf_row_ejected(lbf_t_row(&h, f, i), EJ_T(1));
    }
    ck_assert_uint_eq(ejected, 4);
}
END_TEST

START_TEST(eject_stock_retry_keeps_error_semantics)
{
    struct lbf_shm h;
    struct lbf_farm *f = ej_farm(&h, 2);
    struct lbf_eject_conf c = ej_conf(), off = ej_conf();
    struct lbf_row *r0 = lbf_t_row(&h, f, 0), *r1 = lbf_t_row(&h, f, 1);
    uint32_t ms, n;

    lbf_eject_member_setup(r0, 1);
    ck_assert_int_eq(lbf_eject_result(&h, f, r0, &c, LBF_OUT_CONNECT, 0,
                                      EJ_T(0), &ms, &n), LBF_EJ_ERROR);
    ck_assert(!lbf_row_ejected(r0, EJ_T(0)));
    ck_assert(!lbf_row_usable(r0, EJ_T(59)));
    ck_assert(lbf_row_usable(r0, EJ_T(60)));
    /* 5xx do not count for it */
    ck_assert_int_eq(ej_feed(&h, f, 0, &c, LBF_OUT_STATUS, 20, EJ_T(61)),
                     LBF_EJ_NONE);
    /* LBFarmEject off: stock for every member */
    off.mode = LBF_EJECT_OFF;
    ck_assert_int_eq(lbf_eject_result(&h, f, r1, &off, LBF_OUT_CONNECT, 0,
                                      EJ_T(0), &ms, &n), LBF_EJ_ERROR);
    ck_assert(!lbf_row_usable(r1, EJ_T(30)));
}
END_TEST

START_TEST(eject_error_status_puts_in_error_at_once)
{
    struct lbf_shm h;
    struct lbf_farm *f = ej_farm(&h, 2);
    struct lbf_eject_conf c = ej_conf();
    struct lbf_row *r = lbf_t_row(&h, f, 0);
    uint32_t ms, n;

    ck_assert_int_eq(lbf_eject_result(&h, f, r, &c, LBF_OUT_STATUS, 1,
                                      EJ_T(0), &ms, &n), LBF_EJ_ERROR);
    ck_assert(!lbf_row_usable(r, EJ_T(1)));
}
END_TEST

START_TEST(eject_ends_on_success_and_on_a_passed_check)
{
    struct lbf_shm h;
    struct lbf_farm *f = ej_farm(&h, 2);
    struct lbf_eject_conf c = ej_conf();
    struct lbf_row *r = lbf_t_row(&h, f, 0);

    ej_feed(&h, f, 0, &c, LBF_OUT_CONNECT, 1, EJ_T(0));
    ck_assert_int_eq(ej_feed(&h, f, 0, &c, LBF_OUT_OK, 1, EJ_T(1)),
                     LBF_EJ_CLEARED);
    ck_assert(lbf_row_usable(r, EJ_T(1)));
    ej_feed(&h, f, 0, &c, LBF_OUT_CONNECT, 1, EJ_T(2));
    ck_assert(!lbf_row_usable(r, EJ_T(2)));
    ck_assert_int_eq(lbf_eject_clear(r, EJ_T(2)), 1);
    ck_assert(lbf_row_usable(r, EJ_T(2)));
    ck_assert_int_eq(lbf_eject_clear(r, EJ_T(2)), 0);
    /* and a stock error */
    lbf_row_set_error(r, EJ_T(3));
    ck_assert(!lbf_row_usable(r, EJ_T(3)));
    ck_assert_int_eq(lbf_eject_clear(r, EJ_T(3)), 1);
    ck_assert(lbf_row_usable(r, EJ_T(3)));
}
END_TEST

/* Picks of the farm at t, counted per member; -1 picks in cnt[n]. */
static void ej_count(struct lbf_shm *h, struct lbf_farm *f,
                     const struct lbf_tune *tune, uint64_t t, uint32_t picks,
                     uint32_t *cnt, uint32_t n)
{
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;
    uint32_t i;

    lbf_t_pick_init(&pk, h, f, &rng);
    pk.now = t;
    pk.tune = tune;
    memset(cnt, 0, (n + 1) * sizeof(*cnt));
    for (i = 0; i < picks; i++) {
        int got = lbf_pick_take(lbf_t_method("least-load"), &pk);

        cnt[got < 0 ? n : (uint32_t)got]++;
        if (got >= 0) {
            lbf_row_release(lbf_t_row(h, f, (uint32_t)got), 0);
        }
    }
}

START_TEST(eject_panic_uses_members_ejected_for_bad_answers)
{
    struct lbf_shm h;
    struct lbf_farm *f = ej_farm(&h, 4);
    struct lbf_tune tune = {.eject = ej_conf()};
    uint32_t cnt[5];

    tune.eject.cap_pct = 100;
    tune.eject.rate_pct = 0;
    ej_feed(&h, f, 0, &tune.eject, LBF_OUT_STATUS, 5, EJ_T(0));
    ej_feed(&h, f, 1, &tune.eject, LBF_OUT_STATUS, 5, EJ_T(0));
    /* 2 of 4 usable: not below 50 %, no panic */
    ej_count(&h, f, &tune, EJ_T(1), 100, cnt, 4);
    ck_assert_uint_eq(cnt[0] + cnt[1], 0);
    ck_assert_uint_eq(cnt[2] + cnt[3], 100);
    /* m2 ejected for a connect failure: 1 of 4 usable, panic: m0, m1
     * and m3 share, m2 stays out */
    ej_feed(&h, f, 2, &tune.eject, LBF_OUT_CONNECT, 1, EJ_T(1));
    atomic_store(&f->panic, 0);
    ej_count(&h, f, &tune, EJ_T(1), 300, cnt, 4);
    ck_assert_uint_eq(cnt[2], 0);
    ck_assert_msg(cnt[0] > 50 && cnt[1] > 50 && cnt[3] > 50,
                  "panic shares %u %u %u", cnt[0], cnt[1], cnt[3]);
    /* LBFarmPanic 0%: no panic */
    tune.eject.panic_set = 1;
    tune.eject.panic_pct = 0;
    atomic_store(&f->panic, 0);
    ej_count(&h, f, &tune, EJ_T(1), 100, cnt, 4);
    ck_assert_uint_eq(cnt[3], 100);
}
END_TEST

START_TEST(eject_panic_leaves_out_down_and_offline_members)
{
    struct lbf_shm h;
    struct lbf_farm *f = ej_farm(&h, 2);
    struct lbf_tune tune = {.eject = ej_conf()};
    struct lbf_row *r0 = lbf_t_row(&h, f, 0);

    tune.eject.cap_pct = 100;
    ej_feed(&h, f, 0, &tune.eject, LBF_OUT_STATUS, 5, EJ_T(0));
    ck_assert(lbf_eject_panic_ok(r0, EJ_T(1)));
    atomic_store(&r0->health, LBF_HEALTH_DOWN);
    ck_assert(!lbf_eject_panic_ok(r0, EJ_T(1)));
    atomic_store(&r0->health, LBF_HEALTH_UP);
    lbf_row_set_admin(r0, LBF_ADMIN_OFFLINE, EJ_T(1));
    ck_assert(!lbf_eject_panic_ok(r0, EJ_T(1)));
}
END_TEST

START_TEST(eject_probe_one_per_member_per_second_when_nothing_usable)
{
    struct lbf_shm h;
    struct lbf_farm *f = ej_farm(&h, 2);
    struct lbf_tune tune = {.eject = ej_conf()};
    uint32_t cnt[3];

    tune.eject.cap_pct = 100;
    tune.eject.panic_set = 1; /* panic off: probes only */
    ej_feed(&h, f, 0, &tune.eject, LBF_OUT_CONNECT, 1, EJ_T(0));
    ej_feed(&h, f, 1, &tune.eject, LBF_OUT_CONNECT, 1, EJ_T(0));
    ej_count(&h, f, &tune, EJ_T(0), 50, cnt, 2);
    ck_assert_uint_eq(cnt[0], 1);
    ck_assert_uint_eq(cnt[1], 1);
    ck_assert_uint_eq(cnt[2], 48);
    ej_count(&h, f, &tune, EJ_T(0) + 999999, 10, cnt, 2);
    ck_assert_uint_eq(cnt[2], 10);
    ej_count(&h, f, &tune, EJ_T(1), 10, cnt, 2);
    ck_assert_uint_eq(cnt[0] + cnt[1], 2);
    /* no tune (balancer:// mode): no probe */
    ej_count(&h, f, NULL, EJ_T(3), 10, cnt, 2);
    ck_assert_uint_eq(cnt[2], 10);
}
END_TEST

START_TEST(eject_probe_skips_down_offline_and_usable_states)
{
    struct lbf_shm h;
    struct lbf_farm *f = ej_farm(&h, 2);
    struct lbf_tune tune = {.eject = ej_conf()};
    uint32_t cnt[3];

    atomic_store(&lbf_t_row(&h, f, 0)->health, LBF_HEALTH_DOWN);
    lbf_row_set_admin(lbf_t_row(&h, f, 1), LBF_ADMIN_OFFLINE, EJ_T(0));
    ej_count(&h, f, &tune, EJ_T(0), 10, cnt, 2);
    ck_assert_uint_eq(cnt[2], 10);
}
END_TEST

START_TEST(eject_snapshot_shows_ejected_and_stalled)
{
    struct lbf_shm h;
    struct lbf_farm *f = ej_farm(&h, 3);
    struct lbf_eject_conf c = ej_conf();
    struct lbf_tune on = {.stall = LBF_STALL_ON};
    struct lbf_snap s;
    struct lbf_row *r2 = lbf_t_row(&h, f, 2);

    ej_feed(&h, f, 0, &c, LBF_OUT_CONNECT, 1, EJ_T(0));
    ck_assert_int_eq(lbf_snap_member(&h, f, 0, EJ_T(2), &s), 1);
    ck_assert_str_eq(s.state, "ejected");
    ck_assert_uint_eq(s.eject_left_ms, 3000);
    ck_assert_uint_eq(s.eject_n, 1);
    ck_assert_uint_eq(s.error_left_ms, 0);
    ck_assert_int_eq(lbf_snap_member(&h, f, 0, EJ_T(5), &s), 1);
    ck_assert_str_eq(s.state, "ok");
    ck_assert_uint_eq(s.eject_n, 0);
    /* m2: stall detection on, one request in flight for 10 s */
    lbf_row_tune(r2, NULL, &on);
    lbf_row_begin(r2, EJ_T(0));
    ck_assert_int_eq(lbf_snap_member(&h, f, 2, EJ_T(10), &s), 1);
    ck_assert_str_eq(s.state, "stalled");
    lbf_row_done(r2, 1000, EJ_T(10));
    lbf_row_release(r2, 0);
    ck_assert_int_eq(lbf_snap_member(&h, f, 2, EJ_T(10), &s), 1);
    ck_assert_str_eq(s.state, "ok");
}
END_TEST

Suite *lbf_suite_eject(void);

Suite *lbf_suite_eject(void)
{
    Suite *s = suite_create("eject");
    TCase *rules = tcase_create("rules");
    TCase *cap = tcase_create("cap");
    TCase *pick = tcase_create("panic-probe");

    tcase_set_timeout(rules, LBF_T_TIMEOUT);
    tcase_set_timeout(cap, LBF_T_TIMEOUT);
    tcase_set_timeout(pick, LBF_T_TIMEOUT);
    tcase_add_test(rules, eject_defaults_resolve);
    tcase_add_test(rules, eject_after_five_consecutive_failures_for_base);
    tcase_add_test(rules, eject_a_success_breaks_the_run);
    tcase_add_test(rules, eject_connect_failure_ejects_at_once);
    tcase_add_test(rules, eject_rate_over_the_window);
    tcase_add_test(rules, eject_rate_needs_its_volume_and_resets_each_window);
    tcase_add_test(rules, eject_time_is_base_times_n_up_to_max_and_n_decays);
    tcase_add_test(rules, eject_failure_while_ejected_restarts_the_same_time);
    tcase_add_test(rules, eject_stock_retry_keeps_error_semantics);
    tcase_add_test(rules, eject_error_status_puts_in_error_at_once);
    tcase_add_test(rules, eject_ends_on_success_and_on_a_passed_check);
    tcase_add_test(cap, eject_cap_keeps_the_member_that_would_exceed_it);
    tcase_add_test(cap, eject_cap_allows_one_member_of_a_small_farm);
    tcase_add_test(cap, eject_cap_holds_across_forked_processes);
    tcase_add_test(pick, eject_panic_uses_members_ejected_for_bad_answers);
    tcase_add_test(pick, eject_panic_leaves_out_down_and_offline_members);
    tcase_add_test(pick,
                   eject_probe_one_per_member_per_second_when_nothing_usable);
    tcase_add_test(pick, eject_probe_skips_down_offline_and_usable_states);
    tcase_add_test(pick, eject_snapshot_shows_ejected_and_stalled);
    suite_add_tcase(s, rules);
    suite_add_tcase(s, cap);
    suite_add_tcase(s, pick);
    return s;
}
