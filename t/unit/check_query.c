/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_query.c -- lbf_pick_peek, the pick without take behind query mode
 * (SetHandler lbfarm-query): for weighted, a peek names exactly the member
 * the next lbf_pick_take returns, any number of peeks leave the shared
 * cursor and every counter where they were, and a peek skips members that
 * cannot serve exactly as a take does; for the least-load methods a peek
 * is the method's pick (the lightest member) with no inflight++.
 */
#include "lbf_unit.h"

/* Sum of requests and inflight over the farm's n members. */
static uint64_t q_counters(const struct lbf_shm *h, const struct lbf_farm *f,
                           uint32_t n)
{
    uint64_t sum = 0;
    uint32_t i;

    for (i = 0; i < n; i++) {
        struct lbf_row *r = lbf_t_row(h, f, i);

        sum += atomic_load(&r->requests) + (uint64_t)atomic_load(&r->inflight);
    }
    return sum;
}

START_TEST(peek_names_the_next_weighted_take)
{
    static const uint32_t w[] = {5, 1, 1};
    static const char schedule[] = "0010200"; /* lbfarm_lbmethods.c */
    uint32_t wm = lbf_t_method("weighted"), i;
    uint64_t rng = LBF_T_SEED;
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;

    lbf_t_segment(&h, 1, 3);
    f = lbf_t_farm(&h, "f", "weighted", w, NULL, 3, 0);
    lbf_t_pick_init(&pk, &h, f, &rng);
    for (i = 0; i < 3 * 7; i++) {
        uint64_t cur = atomic_load(&f->cursor), before = q_counters(&h, f, 3);
        int want = schedule[i % 7] - '0', k;

        for (k = 0; k < 100; k++) {
            ck_assert_int_eq(lbf_pick_peek(wm, &pk), want);
        }
        ck_assert_uint_eq(atomic_load(&f->cursor), cur);
        ck_assert_uint_eq(q_counters(&h, f, 3), before);
        ck_assert_int_eq(lbf_pick_take(wm, &pk), want);
        ck_assert_uint_eq(atomic_load(&f->cursor), cur + 1);
    }
}
END_TEST

START_TEST(peek_skips_unusable_members_like_take)
{
    static const uint32_t w[] = {5, 1, 1};
    uint32_t wm = lbf_t_method("weighted"), i;
    uint64_t rng = LBF_T_SEED;
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;

    lbf_t_segment(&h, 1, 3);
    f = lbf_t_farm(&h, "f", "weighted", w, NULL, 3, 0);
    lbf_t_pick_init(&pk, &h, f, &rng);
    atomic_store(&lbf_t_row(&h, f, 0)->admin, LBF_ADMIN_OFFLINE);
    for (i = 0; i < 14; i++) {
        uint64_t cur = atomic_load(&f->cursor);
        int p = lbf_pick_peek(wm, &pk);

        ck_assert_int_ne(p, 0);
        ck_assert_uint_eq(atomic_load(&f->cursor), cur);
        ck_assert_int_eq(lbf_pick_take(wm, &pk), p);
    }
    for (i = 0; i < 3; i++) {
        atomic_store(&lbf_t_row(&h, f, i)->admin, LBF_ADMIN_OFFLINE);
    }
    ck_assert_int_eq(lbf_pick_peek(wm, &pk), -1);
    ck_assert_int_eq(lbf_pick_take(wm, &pk), -1);
}
END_TEST

START_TEST(peek_of_least_load_takes_nothing)
{
    static const uint32_t w[] = {1, 1, 1};
    uint32_t ll = lbf_t_method("least-load");
    uint32_t pm = lbf_t_method("pushed-metric");
    uint64_t rng = LBF_T_SEED;
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;
    int k;

    lbf_t_segment(&h, 1, 3);
    f = lbf_t_farm(&h, "f", "least-load", w, NULL, 3, 0);
    atomic_store(&lbf_t_row(&h, f, 0)->inflight, 3);
    atomic_store(&lbf_t_row(&h, f, 1)->inflight, 1);
    atomic_store(&lbf_t_row(&h, f, 2)->inflight, 2);
    lbf_t_pick_init(&pk, &h, f, &rng);
    for (k = 0; k < 50; k++) {
        ck_assert_int_eq(lbf_pick_peek(ll, &pk), 1);
        ck_assert_int_eq(lbf_pick_peek(pm, &pk), 1);
    }
    ck_assert_int_eq(atomic_load(&lbf_t_row(&h, f, 1)->inflight), 1);
    ck_assert_uint_eq(atomic_load(&lbf_t_row(&h, f, 1)->requests), 0);
    ck_assert_int_eq(lbf_pick_take(ll, &pk), 1);
    ck_assert_int_eq(atomic_load(&lbf_t_row(&h, f, 1)->inflight), 2);
}
END_TEST

START_TEST(peek_rejects_an_unknown_method)
{
    static const uint32_t w[] = {1};
    uint64_t rng = LBF_T_SEED;
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;

    lbf_t_segment(&h, 1, 1);
    f = lbf_t_farm(&h, "f", "weighted", w, NULL, 1, 0);
    lbf_t_pick_init(&pk, &h, f, &rng);
    ck_assert_int_eq(lbf_pick_peek(LBF_METHOD_FOREIGN, &pk), -1);
    ck_assert_int_eq(lbf_pick_peek(99, &pk), -1);
    ck_assert_int_eq(pk.peek, 0); /* the caller's pick is not modified */
}
END_TEST

Suite *lbf_suite_query(void)
{
    Suite *s = suite_create("query");
    TCase *tc = tcase_create("peek");

    tcase_set_timeout(tc, LBF_T_TIMEOUT);
    tcase_add_test(tc, peek_names_the_next_weighted_take);
    tcase_add_test(tc, peek_skips_unusable_members_like_take);
    tcase_add_test(tc, peek_of_least_load_takes_nothing);
    tcase_add_test(tc, peek_rejects_an_unknown_method);
    suite_add_tcase(s, tc);
    return s;
}
