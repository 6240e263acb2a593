/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_stress.c -- fork()ed workers hammer one farm in a MAP_SHARED
 * region, as httpd children do, then the parent asserts exact invariants:
 * nothing left in flight, requests and errors summing exactly, and for
 * "weighted" the per-member counts exactly equal to the weight shares (the
 * shared cursor makes one global schedule).
 */
#include "lbf_unit.h"

#define ST_WORKERS 4
#define ST_PICKS 100000
#define ST_FAIL_EVERY 10 /* every 10th request of a worker fails */

/* Worker body: ST_PICKS picks, each taken and released at once.  Exits 0,
 * or 1 when a pick found no member. */
static void st_worker(const struct lbf_shm *h, struct lbf_farm *f,
                      uint32_t method, uint64_t seed)
{
    uint64_t rng = seed;
    struct lbf_pick pk;
    int i;

    lbf_t_pick_init(&pk, h, f, &rng);
    for (i = 0; i < ST_PICKS; i++) {
        int got = lbf_pick_take(method, &pk);

        if (got < 0) {
            _exit(1);
        }
        lbf_row_release(lbf_member_at(h, f, (uint32_t)got),
                        i % ST_FAIL_EVERY == 0);
    }
    _exit(0);
}

/* Run the workers on f and wait for each by pid. */
static void st_run(const struct lbf_shm *h, struct lbf_farm *f, uint32_t method)
{
    pid_t parent = getpid(), pids[ST_WORKERS];
    int w;

    for (w = 0; w < ST_WORKERS; w++) {
        pids[w] = fork();
        ck_assert_int_ge(pids[w], 0);
        if (pids[w] == 0) {
            lbf_t_worker_init(parent);
            st_worker(h, f, method, LBF_T_SEED + 7919u * (uint64_t)w);
        }
    }
    for (w = 0; w < ST_WORKERS; w++) {
        lbf_t_wait_ok(pids[w], "pick worker");
    }
}

/* Inflight 0 everywhere, requests and errors summing exactly. */
static void st_expect_totals(const struct lbf_shm *h, const struct lbf_farm *f,
                             uint32_t n)
{
    uint64_t req = 0, err = 0;
    uint32_t i;

    for (i = 0; i < n; i++) {
        struct lbf_row *r = lbf_t_row(h, f, i);

        ck_assert_msg(atomic_load(&r->inflight) == 0, "m%u: %d still in flight",
                      i, (int)atomic_load(&r->inflight));
        req += atomic_load(&r->requests);
        err += atomic_load(&r->errors);
    }
    ck_assert_uint_eq(req, (uint64_t)ST_WORKERS * ST_PICKS);
    ck_assert_uint_eq(err, (uint64_t)ST_WORKERS * ST_PICKS / ST_FAIL_EVERY);
}

START_TEST(stress_weighted_workers_follow_one_exact_schedule)
{
    /* period 8 divides 400000: every member gets exactly its share */
    static const uint32_t w[] = {5, 2, 1};
    struct lbf_shm h;
    struct lbf_farm *f;
    uint32_t i;

    lbf_t_segment(&h, 1, 3);
    f = lbf_t_farm(&h, "f", "weighted", w, NULL, 3, 0);
    st_run(&h, f, lbf_t_method("weighted"));
    st_expect_totals(&h, f, 3);
    for (i = 0; i < 3; i++) {
        uint64_t got = atomic_load(&lbf_t_row(&h, f, i)->requests);
        uint64_t want = (uint64_t)ST_WORKERS * ST_PICKS / 8 * w[i];

        ck_assert_msg(got == want, "m%u got %llu requests, want %llu", i,
                      (unsigned long long)got, (unsigned long long)want);
    }
    ck_assert_uint_eq(atomic_load(&f->cursor), (uint64_t)ST_WORKERS * ST_PICKS);
}
END_TEST

START_TEST(stress_least_load_workers_account_exactly)
{
    /* (who gets what depends on timing: with requests released at once
     * the weight-4 member wins nearly always) */
    static const uint32_t w[] = {1, 2, 3, 4};
    struct lbf_shm h;
    struct lbf_farm *f;

    lbf_t_segment(&h, 1, 4);
    f = lbf_t_farm(&h, "f", "least-load", w, NULL, 4, 0);
    st_run(&h, f, lbf_t_method("least-load"));
    st_expect_totals(&h, f, 4);
}
END_TEST

START_TEST(stress_least_load_large_farm_accounts_exactly)
{
    uint32_t w[24], i;
    struct lbf_shm h;
    struct lbf_farm *f;

    ck_assert_uint_gt(LBF_T_NELEMS(w), LBF_LL_SCAN_MAX); /* the p2c path */
    for (i = 0; i < LBF_T_NELEMS(w); i++) {
        w[i] = 1 + i % 4;
    }
    lbf_t_segment(&h, 1, LBF_T_NELEMS(w));
    f = lbf_t_farm(&h, "f", "least-load", w, NULL, LBF_T_NELEMS(w), 0);
    st_run(&h, f, lbf_t_method("least-load"));
    st_expect_totals(&h, f, LBF_T_NELEMS(w));
}
END_TEST

Suite *lbf_suite_stress(void)
{
    Suite *s = suite_create("stress");
    TCase *tc = tcase_create("workers");

    tcase_add_test(tc, stress_weighted_workers_follow_one_exact_schedule);
    tcase_add_test(tc, stress_least_load_workers_account_exactly);
    tcase_add_test(tc, stress_least_load_large_farm_accounts_exactly);
    tcase_set_timeout(tc, LBF_T_TIMEOUT);
    suite_add_tcase(s, tc);
    return s;
}
