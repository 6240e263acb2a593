/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_weighted.c -- the "weighted" method through lbf_pick_take: after
 * lbf_farm_rebuild the picks follow the documented SWRR schedule exactly,
 * period after period; ineligible members (error, offline, excluded,
 * refused by the usable callback) are never picked; standby tiers serve
 * only when every regular member is out; a weight change changes the
 * schedule.
 */
#include "lbf_unit.h"

#define WRR_PERIODS 5

struct wrr_case {
    const char *what;
    uint32_t w[8];
    uint32_t n;
    const char *schedule; /* one period, one digit per pick */
};

/* Build a fresh farm for c and check WRR_PERIODS periods of picks. */
static void wrr_expect_schedule(const struct wrr_case *c)
{
    uint32_t wm = lbf_t_method("weighted");
    uint32_t period = (uint32_t)strlen(c->schedule), i, k;
    uint64_t rng = LBF_T_SEED, want_req[8] = {0};
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;

    lbf_t_segment(&h, 1, c->n);
    f = lbf_t_farm(&h, "f", "weighted", c->w, NULL, c->n, 0);
    lbf_t_pick_init(&pk, &h, f, &rng);
    for (k = 0; k < WRR_PERIODS; k++) {
        for (i = 0; i < period; i++) {
            int got = lbf_pick_take(wm, &pk);

            ck_assert_msg(got == c->schedule[i] - '0',
                          "%s: period %u pick %u = %d, want %c", c->what, k, i,
                          got, c->schedule[i]);
            want_req[got]++;
        }
    }
    for (i = 0; i < c->n; i++) {
        struct lbf_row *r = lbf_t_row(&h, f, i);

        ck_assert_uint_eq(atomic_load(&r->requests), want_req[i]);
        ck_assert_int_eq(atomic_load(&r->inflight), (int)want_req[i]);
    }
}

START_TEST(wrr_511_matches_documented_schedule)
{
    static const struct wrr_case c = {"5 1 1", {5, 1, 1}, 3, "0010200"};

    wrr_expect_schedule(&c);
}
END_TEST

START_TEST(wrr_1112_matches_documented_schedule)
{
    static const struct wrr_case c = {"1 1 1 2", {1, 1, 1, 2}, 4, "30123"};

    wrr_expect_schedule(&c);
}
END_TEST

START_TEST(wrr_31_matches_documented_schedule)
{
    static const struct wrr_case c = {"3 1", {3, 1}, 2, "0010"};

    wrr_expect_schedule(&c);
}
END_TEST

START_TEST(wrr_divides_weights_by_gcd)
{
    static const struct wrr_case cases[] = {
        {"50 10 10", {50, 10, 10}, 3, "0010200"},
        {"60 20", {60, 20}, 2, "0010"},
        {"100 100", {100, 100}, 2, "01"},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        wrr_expect_schedule(&cases[i]);
    }
}
END_TEST

START_TEST(wrr_single_member_is_always_picked)
{
    static const struct wrr_case cases[] = {
        {"1", {1}, 1, "0"},
        {"100", {100}, 1, "0"},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        wrr_expect_schedule(&cases[i]);
    }
}
END_TEST

START_TEST(wrr_large_weights_follow_reference_schedule)
{
    /* up to 8 members of weight up to 100: periods up to 800, which the
     * farm's schedule buffers must hold */
    uint32_t wm = lbf_t_method("weighted");
    uint64_t rng = LBF_T_SEED;
    int round;

    for (round = 0; round < 12; round++) {
        uint16_t want[8 * LBF_WEIGHT_MAX];
        uint32_t w[8], n = 1 + (uint32_t)round % 8, i, period, k;
        struct lbf_shm h;
        struct lbf_farm *f;
        struct lbf_pick pk;

        for (i = 0; i < n; i++) {
            w[i] = round < 4 ? LBF_WEIGHT_MAX - i
                             : 1 + (uint32_t)(lbf_rng_next(&rng) % 100);
        }
        period = lbf_t_ref_swrr(w, n, want, LBF_T_NELEMS(want));
        ck_assert_uint_gt(period, 0);
        lbf_t_segment(&h, 1, n);
        f = lbf_t_farm(&h, "f", "weighted", w, NULL, n, 0);
        lbf_t_pick_init(&pk, &h, f, &rng);
        for (k = 0; k < 2 * period; k++) {
            int got = lbf_pick_take(wm, &pk);

            ck_assert_msg(got == want[k % period],
                          "round %d (n %u period %u) pick %u = %d, want %u",
                          round, n, period, k, got, (unsigned)want[k % period]);
        }
    }
}
END_TEST

/* Picks counted per member over `picks` weighted picks. */
static void wrr_count(const struct lbf_pick *pk, uint32_t picks, uint32_t *cnt,
                      uint32_t n)
{
    uint32_t wm = lbf_t_method("weighted"), i;

    memset(cnt, 0, n * sizeof(*cnt));
    for (i = 0; i < picks; i++) {
        int got = lbf_pick_take(wm, pk);

        ck_assert_msg(got >= 0 && (uint32_t)got < n, "pick %u = %d", i, got);
        cnt[got]++;
        lbf_row_release(lbf_member_at(pk->h, pk->farm, (uint32_t)got), 0);
    }
}

START_TEST(wrr_skips_member_in_error_until_deadline)
{
    static const uint32_t w[] = {5, 1, 1};
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;
    uint32_t cnt[3];

    lbf_t_segment(&h, 1, 3);
    f = lbf_t_farm(&h, "f", "weighted", w, NULL, 3, 0);
    lbf_t_pick_init(&pk, &h, f, &rng);
    lbf_row_set_error(lbf_t_row(&h, f, 1), LBF_T_NOW);
    wrr_count(&pk, 70, cnt, 3);
    ck_assert_uint_eq(cnt[1], 0);
    ck_assert_uint_eq(cnt[0] + cnt[2], 70);
    ck_assert_uint_ge(cnt[0], 50);
    ck_assert_uint_ge(cnt[2], 10);
    /* still out a second before the deadline, back after it */
    pk.now = LBF_T_NOW + 59 * LBF_T_SEC;
    wrr_count(&pk, 70, cnt, 3);
    ck_assert_uint_eq(cnt[1], 0);
    pk.now = LBF_T_NOW + 61 * LBF_T_SEC;
    wrr_count(&pk, 70, cnt, 3);
    ck_assert_uint_eq(cnt[0], 50);
    ck_assert_uint_eq(cnt[1], 10);
    ck_assert_uint_eq(cnt[2], 10);
}
END_TEST

START_TEST(wrr_skips_offline_member)
{
    static const uint32_t w[] = {5, 1, 1};
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;
    uint32_t cnt[3];

    lbf_t_segment(&h, 1, 3);
    f = lbf_t_farm(&h, "f", "weighted", w, NULL, 3, 0);
    lbf_t_pick_init(&pk, &h, f, &rng);
    atomic_store(&lbf_t_row(&h, f, 0)->admin, LBF_ADMIN_OFFLINE);
    wrr_count(&pk, 70, cnt, 3);
    ck_assert_uint_eq(cnt[0], 0);
    ck_assert_uint_gt(cnt[1], 0);
    ck_assert_uint_gt(cnt[2], 0);
    ck_assert_uint_eq(cnt[1] + cnt[2], 70);
    ck_assert_uint_eq(atomic_load(&lbf_t_row(&h, f, 0)->requests), 0);
    atomic_store(&lbf_t_row(&h, f, 0)->admin, LBF_ADMIN_ENABLED);
    wrr_count(&pk, 70, cnt, 3);
    ck_assert_uint_eq(cnt[0], 50);
}
END_TEST

START_TEST(wrr_uses_standby_only_when_regular_members_unusable)
{
    /* m0, m1 regular (tier 0), m2 standby (tier 1), m3 deeper standby */
    static const uint32_t w[] = {1, 1, 1, 1};
    static const uint32_t tier[] = {0, 0, 1, 2};
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;
    uint32_t cnt[4];

    lbf_t_segment(&h, 1, 4);
    f = lbf_t_farm(&h, "f", "weighted", w, tier, 4, 0);
    lbf_t_pick_init(&pk, &h, f, &rng);
    wrr_count(&pk, 100, cnt, 4);
    ck_assert_uint_eq(cnt[2] + cnt[3], 0);
    ck_assert_uint_gt(cnt[0], 0);
    ck_assert_uint_gt(cnt[1], 0);

    /* one regular member left: it takes everything */
    lbf_row_set_error(lbf_t_row(&h, f, 0), LBF_T_NOW);
    wrr_count(&pk, 100, cnt, 4);
    ck_assert_uint_eq(cnt[1], 100);

    /* no regular member: the first standby tier only */
    atomic_store(&lbf_t_row(&h, f, 1)->admin, LBF_ADMIN_OFFLINE);
    wrr_count(&pk, 100, cnt, 4);
    ck_assert_uint_eq(cnt[2], 100);

    /* then the next tier */
    atomic_store(&lbf_t_row(&h, f, 2)->admin, LBF_ADMIN_OFFLINE);
    wrr_count(&pk, 100, cnt, 4);
    ck_assert_uint_eq(cnt[3], 100);

    /* a regular member recovers: the standbys stop at once */
    lbf_row_clear_error(lbf_t_row(&h, f, 0));
    wrr_count(&pk, 100, cnt, 4);
    ck_assert_uint_eq(cnt[0], 100);
}
END_TEST

START_TEST(wrr_exclude_skips_that_member)
{
    static const uint32_t w[] = {5, 1, 1};
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;
    uint32_t cnt[3], ex;

    lbf_t_segment(&h, 1, 3);
    f = lbf_t_farm(&h, "f", "weighted", w, NULL, 3, 0);
    for (ex = 0; ex < 3; ex++) {
        lbf_t_pick_init(&pk, &h, f, &rng);
        pk.exclude = ex;
        wrr_count(&pk, 70, cnt, 3);
        ck_assert_msg(cnt[ex] == 0, "excluded m%u picked %u times", ex,
                      cnt[ex]);
        ck_assert_uint_gt(cnt[(ex + 1) % 3], 0);
        ck_assert_uint_gt(cnt[(ex + 2) % 3], 0);
    }
}
END_TEST

static int wrr_cb_table(void *uctx, uint32_t mi)
{
    const int *extra = uctx;

    return extra[mi];
}

START_TEST(wrr_usable_callback_excludes_and_demotes)
{
    static const uint32_t w[] = {1, 1, 1};
    static const struct {
        int extra[3];
        uint32_t want[3]; /* picks per member over 90 */
    } cases[] = {
        {{0, 0, 0}, {30, 30, 30}}, {{-1, -1, 0}, {0, 0, 90}},
        {{1, 1, 0}, {0, 0, 90}},   {{-1, 2, 1}, {0, 0, 90}},
        {{-1, -1, 3}, {0, 0, 90}},
    };
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;
    uint32_t cnt[3], mi;
    size_t i;

    lbf_t_segment(&h, 1, 3);
    f = lbf_t_farm(&h, "f", "weighted", w, NULL, 3, 0);
    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        lbf_t_pick_init(&pk, &h, f, &rng);
        pk.usable = wrr_cb_table;
        pk.uctx = (void *)cases[i].extra;
        wrr_count(&pk, 90, cnt, 3);
        for (mi = 0; mi < 3; mi++) {
            ck_assert_msg(cnt[mi] == cases[i].want[mi],
                          "case %zu: m%u picked %u, want %u", i, mi, cnt[mi],
                          cases[i].want[mi]);
        }
    }
}
END_TEST

START_TEST(wrr_no_usable_member_returns_minus_one)
{
    static const uint32_t w[] = {2, 1};
    static const uint32_t tier[] = {0, 1};
    uint32_t wm = lbf_t_method("weighted");
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;
    int i;

    lbf_t_segment(&h, 1, 2);
    f = lbf_t_farm(&h, "f", "weighted", w, tier, 2, 0);
    lbf_t_pick_init(&pk, &h, f, &rng);
    atomic_store(&lbf_t_row(&h, f, 0)->admin, LBF_ADMIN_OFFLINE);
    lbf_row_set_error(lbf_t_row(&h, f, 1), LBF_T_NOW);
    for (i = 0; i < 10; i++) {
        ck_assert_int_eq(lbf_pick_take(wm, &pk), -1);
    }
    /* the only usable member excluded: nothing either */
    lbf_row_clear_error(lbf_t_row(&h, f, 1));
    pk.exclude = 1;
    ck_assert_int_eq(lbf_pick_take(wm, &pk), -1);
    for (i = 0; i < 2; i++) {
        struct lbf_row *r = lbf_t_row(&h, f, (uint32_t)i);

        ck_assert_uint_eq(atomic_load(&r->requests), 0);
        ck_assert_int_eq(atomic_load(&r->inflight), 0);
    }
}
END_TEST

/* 1 when got[0..len) is a rotation of the period-len schedule want. */
static int wrr_is_rotation(const int *got, const char *want, uint32_t len)
{
    uint32_t off, i;

    for (off = 0; off < len; off++) {
        for (i = 0; i < len; i++) {
            if (got[i] != want[(off + i) % len] - '0') {
                break;
            }
        }
        if (i == len) {
            return 1;
        }
    }
    return 0;
}

START_TEST(wrr_set_weight_changes_schedule)
{
    static const uint32_t w[] = {1, 1, 1};
    static const struct {
        uint32_t mi, weight;
        const char *schedule;
    } steps[] = {
        {0, 5, "0010200"}, {0, 3, "01020"}, /* 3 1 1 */
        {2, 3, "0210202"},                  /* 3 1 3 */
        {1, 1, "0210202"},                  /* unchanged */
        {0, 1, "20212"},                    /* 1 1 3 */
    };
    uint32_t wm = lbf_t_method("weighted");
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;
    size_t s;

    lbf_t_segment(&h, 1, 3);
    f = lbf_t_farm(&h, "f", "weighted", w, NULL, 3, 0);
    lbf_t_pick_init(&pk, &h, f, &rng);
    for (s = 0; s < LBF_T_NELEMS(steps); s++) {
        uint32_t len = (uint32_t)strlen(steps[s].schedule), k, i;
        int got[16];

        ck_assert_int_eq(
            lbf_member_set_weight(&h, f, steps[s].mi, steps[s].weight), LBF_OK);
        /* the cursor is shared and keeps running: any window of one
         * period is a rotation of the new schedule */
        for (k = 0; k < 3; k++) {
            for (i = 0; i < len; i++) {
                got[i] = lbf_pick_take(wm, &pk);
                ck_assert_int_ge(got[i], 0);
                lbf_row_release(lbf_t_row(&h, f, (uint32_t)got[i]), 0);
            }
            ck_assert_msg(wrr_is_rotation(got, steps[s].schedule, len),
                          "step %zu window %u is not a rotation of %s", s, k,
                          steps[s].schedule);
        }
    }
}
END_TEST

Suite *lbf_suite_weighted(void)
{
    Suite *s = suite_create("weighted");
    TCase *sched = tcase_create("schedule");
    TCase *elig = tcase_create("eligibility");

    tcase_add_test(sched, wrr_511_matches_documented_schedule);
    tcase_add_test(sched, wrr_1112_matches_documented_schedule);
    tcase_add_test(sched, wrr_31_matches_documented_schedule);
    tcase_add_test(sched, wrr_divides_weights_by_gcd);
    tcase_add_test(sched, wrr_single_member_is_always_picked);
    tcase_add_test(sched, wrr_large_weights_follow_reference_schedule);
    tcase_add_test(sched, wrr_set_weight_changes_schedule);
    tcase_set_timeout(sched, LBF_T_TIMEOUT);
    suite_add_tcase(s, sched);

    tcase_add_test(elig, wrr_skips_member_in_error_until_deadline);
    tcase_add_test(elig, wrr_skips_offline_member);
    tcase_add_test(elig, wrr_uses_standby_only_when_regular_members_unusable);
    tcase_add_test(elig, wrr_exclude_skips_that_member);
    tcase_add_test(elig, wrr_usable_callback_excludes_and_demotes);
    tcase_add_test(elig, wrr_no_usable_member_returns_minus_one);
    tcase_set_timeout(elig, LBF_T_TIMEOUT);
    suite_add_tcase(s, elig);
    return s;
}
