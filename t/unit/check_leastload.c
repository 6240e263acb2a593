/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_leastload.c -- the "least-load" method: the pick is a member with
 * the lowest (inflight + 1) / weight (exact up to LBF_LL_SCAN_MAX members),
 * ties are spread by the seeded generator, power-of-two choices above
 * LBF_LL_SCAN_MAX never pick a busy member while idle ones exist, and
 * eligibility (error, offline, exclude, tiers, usable callback) is obeyed.
 */
#include "lbf_unit.h"

#define LL_MAX 8

/* Segment with one least-load farm; members get inflight[i] via take. */
static struct lbf_farm *ll_farm(struct lbf_shm *h, const uint32_t *w,
                                const uint32_t *tier, const int *inflight,
                                uint32_t n)
{
    struct lbf_farm *f;
    uint32_t i;

    lbf_t_segment(h, 1, n);
    f = lbf_t_farm(h, "ll", "least-load", w, tier, n, 0);
    for (i = 0; i < n && inflight != NULL; i++) {
        struct lbf_row *r = lbf_t_row(h, f, i);
        int k;

        for (k = 0; k < inflight[i]; k++) {
            lbf_row_take(r);
        }
    }
    return f;
}

static void ll_free(struct lbf_shm *h)
{
    munmap(h->base, h->len);
}

/* Picks per member over `picks` least-load picks, each released at once
 * so the loads never change. */
static void ll_count(const struct lbf_pick *pk, uint32_t picks, uint32_t *cnt,
                     uint32_t n)
{
    uint32_t ll = lbf_t_method("least-load"), i;

    memset(cnt, 0, n * sizeof(*cnt));
    for (i = 0; i < picks; i++) {
        int got = lbf_pick_take(ll, pk);

        ck_assert_msg(got >= 0 && (uint32_t)got < n, "pick %u = %d", i, got);
        cnt[got]++;
        lbf_row_release(lbf_member_at(pk->h, pk->farm, (uint32_t)got), 0);
    }
}

START_TEST(ll_picks_lowest_load_per_weight)
{
    static const struct {
        uint32_t w[LL_MAX];
        int inflight[LL_MAX];
        uint32_t n;
        uint32_t offline, error; /* bit per member */
        int want;
    } cases[] = {
        {{1, 1, 1}, {2, 0, 1}, 3, 0, 0, 1},
        {{1, 2, 4}, {0, 2, 4}, 3, 0, 0, 0}, /* 1, 1.5, 1.25 */
        {{1, 2, 4}, {1, 2, 4}, 3, 0, 0, 2}, /* 2, 1.5, 1.25 */
        {{3, 1}, {5, 0}, 2, 0, 0, 1},       /* 2, 1 */
        {{3, 1}, {1, 1}, 2, 0, 0, 0},       /* .67, 2 */
        {{3, 1}, {1, 0}, 2, 0, 0, 0},       /* .67, 1: the +1 */
        {{4, 1}, {2, 0}, 2, 0, 0, 0},       /* .75, 1: the +1 */
        {{5, 1}, {0, 0}, 2, 0, 0, 0},       /* idle: weight wins */
        {{2, 3}, {1, 1}, 2, 0, 0, 1},       /* 1, .67 */
        {{1, 100}, {0, 98}, 2, 0, 0, 1},    /* 1, .99 */
        {{100, 1}, {50, 0}, 2, 0, 0, 0},    /* .51, 1 */
        {{1, 1, 1, 1, 1, 1, 1, 1}, {3, 3, 3, 3, 3, 3, 3, 2}, 8, 0, 0, 7},
        {{1, 1, 1}, {0, 5, 4}, 3, 1, 0, 2}, /* m0 offline */
        {{1, 1, 1}, {0, 1, 2}, 3, 0, 1, 1}, /* m0 in error */
        {{1, 1, 1}, {0, 1, 2}, 3, 2, 1, 2}, /* only m2 left */
        {{1}, {40}, 1, 0, 0, 0},
    };
    uint32_t ll = lbf_t_method("least-load");
    size_t c;

    for (c = 0; c < LBF_T_NELEMS(cases); c++) {
        struct lbf_shm h;
        struct lbf_farm *f =
            ll_farm(&h, cases[c].w, NULL, cases[c].inflight, cases[c].n);
        struct lbf_pick pk;
        uint64_t rng = LBF_T_SEED;
        uint32_t i;
        int got;

        for (i = 0; i < cases[c].n; i++) {
            if (cases[c].offline >> i & 1u) {
                atomic_store(&lbf_t_row(&h, f, i)->admin, LBF_ADMIN_OFFLINE);
            }
            if (cases[c].error >> i & 1u) {
                lbf_row_set_error(lbf_t_row(&h, f, i), LBF_T_NOW);
            }
        }
        lbf_t_pick_init(&pk, &h, f, &rng);
        got = lbf_pick_take(ll, &pk);
        ck_assert_msg(got == cases[c].want, "case %zu: picked %d, want %d", c,
                      got, cases[c].want);
        ck_assert_int_eq(
            atomic_load(&lbf_t_row(&h, f, (uint32_t)got)->inflight),
            cases[c].inflight[got] + 1);
        ll_free(&h);
    }
}
END_TEST

START_TEST(ll_every_pick_is_a_minimum_load_member)
{
    uint32_t ll = lbf_t_method("least-load");
    uint64_t gen = LBF_T_SEED ^ 0x1234, rng = LBF_T_SEED;
    int round;

    for (round = 0; round < 300; round++) {
        uint32_t w[LL_MAX], n = 1 + (uint32_t)(lbf_rng_next(&gen) % LL_MAX);
        int inflight[LL_MAX], got;
        uint32_t i, offline = 0;
        struct lbf_shm h;
        struct lbf_farm *f;
        struct lbf_pick pk;
        int64_t best_num = -1, best_den = 1;

        for (i = 0; i < n; i++) {
            w[i] = 1 + (uint32_t)(lbf_rng_next(&gen) % 100);
            inflight[i] = (int)(lbf_rng_next(&gen) % 20);
            if (lbf_rng_next(&gen) % 5 == 0) {
                offline |= 1u << i;
            }
        }
        f = ll_farm(&h, w, NULL, inflight, n);
        for (i = 0; i < n; i++) {
            if (offline >> i & 1u) {
                atomic_store(&lbf_t_row(&h, f, i)->admin, LBF_ADMIN_OFFLINE);
            }
            else if (best_num < 0 || (int64_t)(inflight[i] + 1) * best_den <
                                         best_num * (int64_t)w[i]) {
                best_num = inflight[i] + 1;
                best_den = w[i];
            }
        }
        lbf_t_pick_init(&pk, &h, f, &rng);
        got = lbf_pick_take(ll, &pk);
        if (best_num < 0) {
            ck_assert_msg(got == -1, "round %d: all offline, picked %d", round,
                          got);
        }
        else {
            ck_assert_msg(got >= 0 && (uint32_t)got < n, "round %d: %d", round,
                          got);
            ck_assert_msg(!(offline >> got & 1u), "round %d: picked offline",
                          round);
            /* (inflight+1)/w of the pick equals the minimum exactly */
            ck_assert_msg((int64_t)(inflight[got] + 1) * best_den ==
                              best_num * (int64_t)w[got],
                          "round %d: m%d load %d/%u, minimum %lld/%lld", round,
                          got, inflight[got] + 1, w[got], (long long)best_num,
                          (long long)best_den);
        }
        ll_free(&h);
    }
}
END_TEST

START_TEST(ll_fills_members_in_weight_proportion)
{
    /* never released: after every 6 picks the in-flight counts are
     * exactly k * (1, 2, 3), whatever the ties chose on the way */
    static const uint32_t w[] = {1, 2, 3};
    uint32_t ll = lbf_t_method("least-load");
    struct lbf_shm h;
    struct lbf_farm *f = ll_farm(&h, w, NULL, NULL, 3);
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;
    int k, j;
    uint32_t i;

    lbf_t_pick_init(&pk, &h, f, &rng);
    for (k = 1; k <= 50; k++) {
        for (j = 0; j < 6; j++) {
            ck_assert_int_ge(lbf_pick_take(ll, &pk), 0);
        }
        for (i = 0; i < 3; i++) {
            ck_assert_msg(atomic_load(&lbf_t_row(&h, f, i)->inflight) ==
                              k * (int)w[i],
                          "after %d picks m%u has %d in flight", 6 * k, i,
                          (int)atomic_load(&lbf_t_row(&h, f, i)->inflight));
        }
    }
}
END_TEST

START_TEST(ll_ties_are_spread_fairly)
{
    static const struct {
        uint32_t w[4];
        int inflight[4];
        uint32_t n;
    } cases[] = {
        {{1, 1, 1, 1}, {0, 0, 0, 0}, 4},
        {{5, 5}, {3, 3}, 2},
        {{1, 2, 4}, {1, 3, 7}, 3}, /* all at (inflight+1)/w == 2 */
    };
    size_t c;

    for (c = 0; c < LBF_T_NELEMS(cases); c++) {
        struct lbf_shm h;
        struct lbf_farm *f =
            ll_farm(&h, cases[c].w, NULL, cases[c].inflight, cases[c].n);
        struct lbf_pick pk;
        uint64_t rng = LBF_T_SEED + c;
        uint32_t cnt[4], i, fair = 1000 / cases[c].n;

        lbf_t_pick_init(&pk, &h, f, &rng);
        ll_count(&pk, 1000, cnt, cases[c].n);
        for (i = 0; i < cases[c].n; i++) {
            ck_assert_msg(cnt[i] * 100 >= fair * 85 &&
                              cnt[i] * 100 <= fair * 115,
                          "case %zu: m%u got %u of 1000, fair %u +-15%%", c, i,
                          cnt[i], fair);
        }
        ll_free(&h);
    }
}
END_TEST

START_TEST(ll_same_seed_gives_same_picks)
{
    static const uint32_t w[] = {1, 1, 1, 1, 1};
    uint32_t ll = lbf_t_method("least-load");
    int first[200], run, i;

    for (run = 0; run < 2; run++) {
        struct lbf_shm h;
        struct lbf_farm *f = ll_farm(&h, w, NULL, NULL, 5);
        struct lbf_pick pk;
        uint64_t rng = LBF_T_SEED;

        lbf_t_pick_init(&pk, &h, f, &rng);
        for (i = 0; i < 200; i++) {
            int got = lbf_pick_take(ll, &pk);

            ck_assert_int_ge(got, 0);
            lbf_row_release(lbf_t_row(&h, f, (uint32_t)got), 0);
            if (run == 0) {
                first[i] = got;
            }
            else {
                ck_assert_msg(got == first[i], "pick %d: %d then %d", i,
                              first[i], got);
            }
        }
        ll_free(&h);
    }
}
END_TEST

static int ll_cb_table(void *uctx, uint32_t mi)
{
    const int *extra = uctx;

    return extra[mi];
}

START_TEST(ll_usable_callback_excludes_and_demotes)
{
    static const uint32_t w[] = {1, 1, 1};
    static const int inflight[] = {0, 1, 2};
    static const struct {
        int extra[3];
        int want;
    } cases[] = {
        {{0, 0, 0}, 0},
        {{-1, 0, 0}, 1},
        {{-1, 1, 0}, 2}, /* m1 demoted below the busier m2 */
        {{1, 0, 0}, 1},
        {{1, 1, 1}, 0}, /* all demoted alike: load decides */
        {{2, 1, -1}, 1},
        {{-1, -1, 5}, 2},
        {{-1, -1, -1}, -1},
    };
    uint32_t ll = lbf_t_method("least-load");
    size_t c;

    for (c = 0; c < LBF_T_NELEMS(cases); c++) {
        struct lbf_shm h;
        struct lbf_farm *f = ll_farm(&h, w, NULL, inflight, 3);
        struct lbf_pick pk;
        uint64_t rng = LBF_T_SEED;
        int got;

        lbf_t_pick_init(&pk, &h, f, &rng);
        pk.usable = ll_cb_table;
        pk.uctx = (void *)cases[c].extra;
        got = lbf_pick_take(ll, &pk);
        ck_assert_msg(got == cases[c].want, "case %zu: picked %d, want %d", c,
                      got, cases[c].want);
        ll_free(&h);
    }
}
END_TEST

START_TEST(ll_exclude_and_standby_tier)
{
    static const uint32_t w[] = {1, 1, 1, 1};
    static const uint32_t tier[] = {0, 0, 0, 1};
    static const int inflight[] = {0, 3, 3, 0};
    struct lbf_shm h;
    struct lbf_farm *f = ll_farm(&h, w, tier, inflight, 4);
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;
    uint32_t cnt[4];

    lbf_t_pick_init(&pk, &h, f, &rng);
    /* the idle standby m3 is not used while regular members serve */
    ll_count(&pk, 50, cnt, 4);
    ck_assert_uint_eq(cnt[0], 50);
    /* m0 excluded (it just failed): the busier regulars, split */
    pk.exclude = 0;
    ll_count(&pk, 200, cnt, 4);
    ck_assert_uint_eq(cnt[0], 0);
    ck_assert_uint_eq(cnt[3], 0);
    ck_assert_uint_gt(cnt[1], 0);
    ck_assert_uint_gt(cnt[2], 0);
    /* every regular member out: the standby */
    atomic_store(&lbf_t_row(&h, f, 1)->admin, LBF_ADMIN_OFFLINE);
    lbf_row_set_error(lbf_t_row(&h, f, 2), LBF_T_NOW);
    ll_count(&pk, 20, cnt, 4);
    ck_assert_uint_eq(cnt[3], 20);
    /* and then nothing: m0 is the only regular one left; take it out */
    atomic_store(&lbf_t_row(&h, f, 0)->admin, LBF_ADMIN_OFFLINE);
    pk.exclude = 3;
    ck_assert_int_eq(lbf_pick_take(lbf_t_method("least-load"), &pk), -1);
}
END_TEST

#define LL_BIG 100

START_TEST(ll_large_farm_never_picks_busy_member_while_idle_exist)
{
    uint32_t w[LL_BIG], cnt[LL_BIG], i;
    int inflight[LL_BIG] = {0};
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;

    ck_assert_uint_gt(LL_BIG, LBF_LL_SCAN_MAX); /* the p2c path */
    for (i = 0; i < LL_BIG; i++) {
        w[i] = 1;
    }
    inflight[37] = 1000;
    f = ll_farm(&h, w, NULL, inflight, LL_BIG);
    lbf_t_pick_init(&pk, &h, f, &rng);
    ll_count(&pk, 10000, cnt, LL_BIG);
    ck_assert_uint_eq(cnt[37], 0);
    /* the idle members share the load: about 101 each */
    for (i = 0; i < LL_BIG; i++) {
        if (i != 37) {
            ck_assert_msg(cnt[i] >= 50 && cnt[i] <= 160,
                          "idle m%u got %u of 10000", i, cnt[i]);
        }
    }
    ck_assert_int_eq(atomic_load(&lbf_t_row(&h, f, 37)->inflight), 1000);
}
END_TEST

START_TEST(ll_large_farm_prefers_lighter_members)
{
    /* half the members carry 5 in flight: two random choices pick a busy
     * one only when both draws are busy (about 1 in 4) */
    uint32_t w[LL_BIG], cnt[LL_BIG], i, busy = 0;
    int inflight[LL_BIG];
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;

    for (i = 0; i < LL_BIG; i++) {
        w[i] = 1;
        inflight[i] = (i % 2) ? 5 : 0;
    }
    f = ll_farm(&h, w, NULL, inflight, LL_BIG);
    lbf_t_pick_init(&pk, &h, f, &rng);
    ll_count(&pk, 10000, cnt, LL_BIG);
    for (i = 1; i < LL_BIG; i += 2) {
        busy += cnt[i];
    }
    ck_assert_msg(busy < 3000, "busy members got %u of 10000", busy);
}
END_TEST

START_TEST(ll_large_farm_obeys_eligibility)
{
    uint32_t w[LL_BIG], tier[LL_BIG], cnt[LL_BIG], i;
    int extra[LL_BIG];
    uint32_t ll = lbf_t_method("least-load");
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;

    for (i = 0; i < LL_BIG; i++) {
        w[i] = 1 + i % 7;
        tier[i] = i < 50 ? 1 : 0; /* m0..m49 standby */
        extra[i] = (i % 3 == 0) ? -1 : 0;
    }
    f = ll_farm(&h, w, tier, NULL, LL_BIG);
    lbf_t_pick_init(&pk, &h, f, &rng);
    pk.usable = ll_cb_table;
    pk.uctx = extra;

    /* regular members only, never one the callback refuses */
    ll_count(&pk, 3000, cnt, LL_BIG);
    for (i = 0; i < LL_BIG; i++) {
        if (i < 50 || i % 3 == 0) {
            ck_assert_msg(cnt[i] == 0, "m%u picked %u times", i, cnt[i]);
        }
    }
    /* every regular member out but one: that one, every time */
    for (i = 50; i < LL_BIG; i++) {
        if (i != 77) {
            atomic_store(&lbf_t_row(&h, f, i)->admin, LBF_ADMIN_OFFLINE);
        }
    }
    ll_count(&pk, 100, cnt, LL_BIG);
    ck_assert_uint_eq(cnt[77], 100);
    /* it fails too: the standby tier, still minus the refused */
    lbf_row_set_error(lbf_t_row(&h, f, 77), LBF_T_NOW);
    ll_count(&pk, 1000, cnt, LL_BIG);
    for (i = 0; i < LL_BIG; i++) {
        if (i >= 50 || i % 3 == 0) {
            ck_assert_msg(cnt[i] == 0, "m%u picked %u times", i, cnt[i]);
        }
    }
    /* nothing left */
    for (i = 0; i < 50; i++) {
        atomic_store(&lbf_t_row(&h, f, i)->admin, LBF_ADMIN_OFFLINE);
    }
    ck_assert_int_eq(lbf_pick_take(ll, &pk), -1);
}
END_TEST

START_TEST(ll_no_usable_member_returns_minus_one)
{
    static const uint32_t w[] = {1, 2};
    uint32_t ll = lbf_t_method("least-load");
    struct lbf_shm h;
    struct lbf_farm *f = ll_farm(&h, w, NULL, NULL, 2);
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;

    lbf_t_pick_init(&pk, &h, f, &rng);
    atomic_store(&lbf_t_row(&h, f, 0)->admin, LBF_ADMIN_OFFLINE);
    lbf_row_set_error(lbf_t_row(&h, f, 1), LBF_T_NOW);
    ck_assert_int_eq(lbf_pick_take(ll, &pk), -1);
    ck_assert_uint_eq(atomic_load(&lbf_t_row(&h, f, 0)->requests), 0);
    ck_assert_uint_eq(atomic_load(&lbf_t_row(&h, f, 1)->requests), 0);
}
END_TEST

START_TEST(ll_near_equal_band_is_for_reports_only)
{
    /* least-load scores are exact: 41 in flight against 42 on equal
     * weights is not a tie (pushed-metric would call 42/43 near-equal
     * only if their reports were what set them apart) */
    static const uint32_t w[] = {1, 1};
    static const int inflight[] = {42, 41};
    struct lbf_shm h;
    struct lbf_farm *f = ll_farm(&h, w, NULL, inflight, 2);
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;
    uint32_t cnt[2];

    lbf_t_pick_init(&pk, &h, f, &rng);
    ll_count(&pk, 500, cnt, 2);
    ck_assert_uint_eq(cnt[1], 500);
}
END_TEST

START_TEST(ll_large_farm_fallback_scan_spreads_over_eligible)
{
    /* 100 members, only 12 usable: two random draws often fail and the
     * bounded scan starts at a random member, so every usable member is
     * picked -- not only the first ones in index order */
    uint32_t w[LL_BIG], cnt[LL_BIG], i;
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;

    for (i = 0; i < LL_BIG; i++) {
        w[i] = 1;
    }
    f = ll_farm(&h, w, NULL, NULL, LL_BIG);
    for (i = 0; i < LL_BIG; i++) {
        if (i % 8 != 3) {
            atomic_store(&lbf_t_row(&h, f, i)->admin, LBF_ADMIN_OFFLINE);
        }
    }
    lbf_t_pick_init(&pk, &h, f, &rng);
    ll_count(&pk, 6000, cnt, LL_BIG);
    for (i = 0; i < LL_BIG; i++) {
        if (i % 8 == 3) {
            ck_assert_msg(cnt[i] >= 300 && cnt[i] <= 700,
                          "usable m%u got %u of 6000", i, cnt[i]);
        }
        else {
            ck_assert_uint_eq(cnt[i], 0);
        }
    }
}
END_TEST

Suite *lbf_suite_leastload(void)
{
    Suite *s = suite_create("least-load");
    TCase *scan = tcase_create("scan");
    TCase *p2c = tcase_create("p2c");

    tcase_add_test(scan, ll_picks_lowest_load_per_weight);
    tcase_add_test(scan, ll_every_pick_is_a_minimum_load_member);
    tcase_add_test(scan, ll_fills_members_in_weight_proportion);
    tcase_add_test(scan, ll_ties_are_spread_fairly);
    tcase_add_test(scan, ll_same_seed_gives_same_picks);
    tcase_add_test(scan, ll_usable_callback_excludes_and_demotes);
    tcase_add_test(scan, ll_exclude_and_standby_tier);
    tcase_add_test(scan, ll_no_usable_member_returns_minus_one);
    tcase_add_test(scan, ll_near_equal_band_is_for_reports_only);
    tcase_set_timeout(scan, LBF_T_TIMEOUT);
    suite_add_tcase(s, scan);

    tcase_add_test(p2c, ll_large_farm_never_picks_busy_member_while_idle_exist);
    tcase_add_test(p2c, ll_large_farm_prefers_lighter_members);
    tcase_add_test(p2c, ll_large_farm_obeys_eligibility);
    tcase_add_test(p2c, ll_large_farm_fallback_scan_spreads_over_eligible);
    tcase_set_timeout(p2c, LBF_T_TIMEOUT);
    suite_add_tcase(s, p2c);
    return s;
}
