/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_methods.c -- what every method shares: the method table and its
 * lookup, the seeded generator, and eligibility (lbf_member_tier,
 * lbf_best_tier) with row state, exclusion and the glue's usable callback.
 */
#include "lbf_unit.h"

/* Number of methods in the NULL-terminated table (bounded). */
static uint32_t methods_count(void)
{
    uint32_t n = 0;

    while (n < 64 && lbf_methods[n] != NULL) {
        n++;
    }
    ck_assert_uint_lt(n, 64);
    return n;
}

START_TEST(methods_table_is_well_formed)
{
    uint32_t n = methods_count(), i, j;

    ck_assert_uint_ge(n, 2);
    for (i = 0; i < n; i++) {
        const struct lbf_method *m = lbf_methods[i];

        ck_assert_uint_eq(m->magic, LBF_METHOD_MAGIC);
        ck_assert_ptr_nonnull(m->name);
        ck_assert_uint_ge(strlen(m->name), 1);
        ck_assert_uint_le(strlen(m->name), 14); /* balancer-manager limit */
        ck_assert_ptr_nonnull(m->title);
        ck_assert_ptr_nonnull(m->pick);
        ck_assert_int_eq(lbf_method_find(m->name), (int)i);
        ck_assert_str_eq(lbf_method_name(i), m->name);
        for (j = 0; j < i; j++) {
            ck_assert_str_ne(lbf_methods[j]->name, m->name);
        }
    }
}
END_TEST

START_TEST(methods_include_weighted_and_least_load)
{
    static const char *const names[] = {"weighted", "least-load"};
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(names); i++) {
        int mi = lbf_method_find(names[i]);

        ck_assert_msg(mi >= 0, "%s not registered", names[i]);
        ck_assert_str_eq(lbf_methods[mi]->name, names[i]);
    }
    /* least-load is load based: it has a capacity function */
    ck_assert_ptr_nonnull(lbf_methods[lbf_method_find("least-load")]->capacity);
    ck_assert_ptr_null(lbf_methods[lbf_method_find("weighted")]->capacity);
}
END_TEST

START_TEST(method_find_rejects_unknown_names)
{
    static const char *const bad[] = {
        "fastest",    "",      "Weighted",   "weighted ",
        "least_load", "least", "byrequests",
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(bad); i++) {
        ck_assert_msg(lbf_method_find(bad[i]) == -1, "\"%s\" found", bad[i]);
    }
}
END_TEST

START_TEST(method_name_of_unknown_index_is_question_mark)
{
    ck_assert_str_eq(lbf_method_name(methods_count()), "?");
    /* a balancer:// whose lbmethod is another module's */
    ck_assert_str_eq(lbf_method_name(LBF_METHOD_FOREIGN), "foreign");
}
END_TEST

START_TEST(method_list_names_every_method)
{
    /* CONTRACT.md: unknown method "fastest" (known: weighted, least-load)
     * -- every registered name, in table order, ", " between */
    char want[256] = "";
    uint32_t n = methods_count(), i;

    for (i = 0; i < n; i++) {
        if (i > 0) {
            strcat(want, ", ");
        }
        ck_assert_uint_lt(strlen(want) + strlen(lbf_methods[i]->name),
                          sizeof(want) - 3);
        strcat(want, lbf_methods[i]->name);
    }
    ck_assert_str_eq(lbf_method_list(), want);
    ck_assert_msg(strncmp(want, "weighted, least-load", 20) == 0,
                  "list starts \"%s\"", want);
}
END_TEST

START_TEST(pick_take_rejects_unknown_method_index)
{
    static const uint32_t w[] = {1, 1};
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;

    lbf_t_segment(&h, 1, 2);
    f = lbf_t_farm(&h, "f", "weighted", w, NULL, 2, 0);
    lbf_t_pick_init(&pk, &h, f, &rng);
    ck_assert_int_eq(lbf_pick_take(methods_count(), &pk), -1);
    ck_assert_int_eq(lbf_pick_take(LBF_METHOD_FOREIGN, &pk), -1);
    ck_assert_uint_eq(atomic_load(&lbf_t_row(&h, f, 0)->requests), 0);
    ck_assert_uint_eq(atomic_load(&lbf_t_row(&h, f, 1)->requests), 0);
}
END_TEST

START_TEST(rng_next_is_xorshift64star)
{
    /* Vigna's xorshift64*: shifts 12, 25, 27; multiplier 2685821657736338717 */
    static const uint64_t seeds[] = {1, LBF_T_SEED, 0xffffffffffffffffull};
    size_t i;
    int k;

    for (i = 0; i < LBF_T_NELEMS(seeds); i++) {
        uint64_t st = seeds[i], ref = seeds[i];

        for (k = 0; k < 1000; k++) {
            uint64_t got = lbf_rng_next(&st), want;

            ref ^= ref >> 12;
            ref ^= ref << 25;
            ref ^= ref >> 27;
            want = ref * 0x2545f4914f6cdd1dull;
            ck_assert_msg(got == want && st != 0,
                          "seed %zu step %d: %llx want %llx", i, k,
                          (unsigned long long)got, (unsigned long long)want);
        }
    }
}
END_TEST

static int tier_cb_table(void *uctx, uint32_t mi)
{
    const int *extra = uctx;

    return extra[mi];
}

START_TEST(member_tier_adds_usable_extra_and_refuses_ineligible)
{
    /* members: m0 tier 0, m1 tier 2, m2 tier 0 offline, m3 tier 0 in error */
    static const uint32_t w[] = {1, 1, 1, 1};
    static const uint32_t tier[] = {0, 2, 0, 0};
    static const struct {
        int extra[4];
        int want[4];
    } cases[] = {
        {{0, 0, 0, 0}, {0, 2, -1, -1}},
        {{3, 1, 0, 0}, {3, 3, -1, -1}},
        {{-1, 0, 0, 0}, {-1, 2, -1, -1}},
        {{0, -1, 5, 5}, {0, -1, -1, -1}},
    };
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;
    size_t i;
    uint32_t mi;

    lbf_t_segment(&h, 1, 4);
    f = lbf_t_farm(&h, "f", "weighted", w, tier, 4, 0);
    atomic_store(&lbf_t_row(&h, f, 2)->admin, LBF_ADMIN_OFFLINE);
    lbf_row_set_error(lbf_t_row(&h, f, 3), LBF_T_NOW);
    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        lbf_t_pick_init(&pk, &h, f, &rng);
        pk.usable = tier_cb_table;
        pk.uctx = (void *)cases[i].extra;
        for (mi = 0; mi < 4; mi++) {
            int got = lbf_member_tier(&pk, mi);

            ck_assert_msg(got == cases[i].want[mi],
                          "case %zu member %u: tier %d, want %d", i, mi, got,
                          cases[i].want[mi]);
        }
        ck_assert_int_eq(lbf_member_tier(&pk, 4), -1);
    }
    /* the error deadline passes: m3 is back at its own tier */
    lbf_t_pick_init(&pk, &h, f, &rng);
    pk.now = LBF_T_NOW + 61 * LBF_T_SEC;
    ck_assert_int_eq(lbf_member_tier(&pk, 3), 0);
}
END_TEST

START_TEST(best_tier_is_lowest_eligible_tier)
{
    static const uint32_t w[] = {1, 1, 1};
    static const uint32_t tier[] = {1, 0, 2};
    static const struct {
        uint32_t offline; /* bit per member */
        int extra[3];
        int want;
    } cases[] = {
        {0, {0, 0, 0}, 0},     {2, {0, 0, 0}, 1},  {3, {0, 0, 0}, 2},
        {7, {0, 0, 0}, -1},    {0, {0, 5, 0}, 1},  {0, {4, 4, 0}, 2},
        {0, {-1, -1, -1}, -1}, {4, {-1, 0, 0}, 0},
    };
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;
    size_t i;
    uint32_t mi;

    lbf_t_segment(&h, 1, 3);
    f = lbf_t_farm(&h, "f", "weighted", w, tier, 3, 0);
    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        for (mi = 0; mi < 3; mi++) {
            atomic_store(&lbf_t_row(&h, f, mi)->admin,
                         (cases[i].offline >> mi) & 1u ? LBF_ADMIN_OFFLINE
                                                       : LBF_ADMIN_ENABLED);
        }
        lbf_t_pick_init(&pk, &h, f, &rng);
        pk.usable = tier_cb_table;
        pk.uctx = (void *)cases[i].extra;
        ck_assert_msg(lbf_best_tier(&pk) == cases[i].want,
                      "case %zu: best tier %d, want %d", i, lbf_best_tier(&pk),
                      cases[i].want);
    }
}
END_TEST

START_TEST(methods_include_least_time_with_stall_on)
{
    int lt = lbf_method_find("least-time");

    ck_assert_int_ge(lt, 0);
    ck_assert_ptr_nonnull(lbf_methods[lt]->capacity);
    ck_assert_uint_eq(lbf_methods[lt]->stall_default, 1);
    ck_assert_uint_eq(lbf_methods[lbf_method_find("weighted")]->stall_default,
                      0);
    ck_assert_uint_eq(
        lbf_methods[lbf_method_find("least-load")]->stall_default, 0);
    ck_assert_uint_eq(
        lbf_methods[lbf_method_find("pushed-metric")]->stall_default, 0);
}
END_TEST

static const char *const methods_all[] = {"weighted", "least-load",
                                          "pushed-metric", "least-time"};

/* A farm f of n weight-1 members for method `name` in a fresh segment;
 * pushed reports (fresh, trusted) of load0 + step x i when step >= 0. */
static struct lbf_farm *methods_farm(struct lbf_shm *h, const char *name,
                                     uint32_t n, int load0, int step)
{
    static const uint32_t w[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    struct lbf_farm *f;
    uint32_t i;

    lbf_t_segment(h, 1, n);
    f = lbf_t_farm(h, "f", name, w, NULL, n, 0);
    f->expiry_ms = 3600 * 1000;
    for (i = 0; step >= 0 && i < n; i++) {
        lbf_t_report(lbf_t_row(h, f, i), (uint32_t)(load0 + step * (int)i),
                     LBF_T_NOW);
    }
    return f;
}

START_TEST(every_method_gives_identical_members_equal_shares)
{
    /* 3 identical members, 10,000 requests, one and eight connections,
     * with noisy answers; reports none, equal, or 0.001 apart: every
     * member within 5 % of a third (the old exact order gave 3000/0/0
     * at one connection with reports 0.001 apart) */
    static const struct {
        int load0, step;
    } reports[] = {{0, -1}, {500, 0}, {500, 1}, {900, 1}};
    static const uint32_t concs[] = {1, 8};
    size_t mi, r, c;

    for (mi = 0; mi < LBF_T_NELEMS(methods_all); mi++) {
        for (r = 0; r < LBF_T_NELEMS(reports); r++) {
            for (c = 0; c < LBF_T_NELEMS(concs); c++) {
                struct lbf_shm h;
                struct lbf_farm *f = methods_farm(&h, methods_all[mi], 3,
                                                  reports[r].load0,
                                                  reports[r].step);
                struct lbf_t_sim sim = {lbf_t_method(methods_all[mi]),
                                        concs[c], 10000, NULL, 1,
                                        LBF_T_SEED + r};
                struct lbf_pick pk;
                uint64_t rng = LBF_T_SEED * (1 + (mi << 8 | r << 4 | c));
                uint32_t cnt[3], i;

                lbf_t_pick_init(&pk, &h, f, &rng);
                lbf_t_simulate(&pk, &sim, cnt, 3);
                for (i = 0; i < 3; i++) {
                    ck_assert_msg(cnt[i] >= 3167 && cnt[i] <= 3500,
                                  "%s, reports %d+%d, %u connections: "
                                  "%u %u %u", methods_all[mi],
                                  reports[r].load0, reports[r].step,
                                  concs[c], cnt[0], cnt[1], cnt[2]);
                }
                munmap(h.base, h.len);
            }
        }
    }
}
END_TEST

static int methods_all_usable(void *uctx, uint32_t mi)
{
    (void)uctx;
    (void)mi;
    return 0; /* a balancer:// where every worker is usable */
}

START_TEST(every_method_honours_slow_start)
{
    /* m0 came back 25 s into a 100 s slow start: ramp 25 %.  In farm
     * mode and in balancer:// mode (the glue's usable callback), every
     * method gives it less than 60 % of a full member's share, but not
     * nothing; once the ramp is over, its full share */
    size_t mi;
    int bal;

    for (mi = 0; mi < LBF_T_NELEMS(methods_all); mi++) {
        for (bal = 0; bal < 2; bal++) {
            struct lbf_shm h;
            struct lbf_farm *f = methods_farm(&h, methods_all[mi], 3, 0, -1);
            struct lbf_t_sim sim = {lbf_t_method(methods_all[mi]), 8, 9000,
                                    NULL, 1, LBF_T_SEED};
            struct lbf_pick pk;
            uint64_t rng = LBF_T_SEED + mi;
            uint32_t cnt[3];

            f->slowstart_ms = 100 * 1000;
            atomic_store(&lbf_t_row(&h, f, 0)->up_since,
                         LBF_T_NOW - 25 * LBF_T_SEC);
            lbf_t_pick_init(&pk, &h, f, &rng);
            if (bal) {
                pk.usable = methods_all_usable;
            }
            ck_assert_uint_eq(lbf_ramp(&pk, lbf_t_row(&h, f, 0)), 250);
            lbf_t_simulate(&pk, &sim, cnt, 3);
            ck_assert_msg(cnt[0] > 0 && cnt[0] * 10 < cnt[1] * 6
                              && cnt[0] * 10 < cnt[2] * 6,
                          "%s%s: ramping m0 got %u, the others %u %u",
                          methods_all[mi], bal ? " (balancer)" : "", cnt[0],
                          cnt[1], cnt[2]);
            pk.now = LBF_T_NOW + 100 * LBF_T_SEC; /* ramp over */
            lbf_t_simulate(&pk, &sim, cnt, 3);
            ck_assert_msg(cnt[0] >= 2850 && cnt[0] <= 3150,
                          "%s%s: after the ramp m0 got %u of 9000",
                          methods_all[mi], bal ? " (balancer)" : "", cnt[0]);
            munmap(h.base, h.len);
        }
    }
}
END_TEST

START_TEST(every_method_avoids_a_stalled_member_when_stall_is_on)
{
    /* m1 has a request in flight for 2 s and answered nothing since: with
     * LBFarmStall on (and by default for least-time) no method sends it
     * a new request while m0 and m2 answer; by default the others still
     * count it as an ordinary member with one in flight */
    static const struct lbf_tune on = {.stall = LBF_STALL_ON};
    size_t mi;

    for (mi = 0; mi < LBF_T_NELEMS(methods_all); mi++) {
        int pass;

        for (pass = 0; pass < 2; pass++) {
            struct lbf_shm h;
            struct lbf_farm *f = methods_farm(&h, methods_all[mi], 3, 0, -1);
            struct lbf_pick pk;
            uint64_t rng = LBF_T_SEED;
            uint32_t cnt[3] = {0, 0, 0}, k;
            int stalls = pass == 0 || lbf_methods[lbf_t_method(
                                          methods_all[mi])]->stall_default;

            lbf_t_pick_init(&pk, &h, f, &rng);
            pk.tune = pass == 0 ? &on : NULL;
            pk.now = LBF_T_NOW - 2 * LBF_T_SEC;
            ck_assert_int_eq(lbf_member_take(lbf_t_method(methods_all[mi]),
                                             &pk, 1), 1);
            pk.now = LBF_T_NOW;
            for (k = 0; k < 300; k++) {
                int got = lbf_pick_take(lbf_t_method(methods_all[mi]), &pk);

                ck_assert_int_ge(got, 0);
                cnt[got]++;
                lbf_row_done(lbf_t_row(&h, f, (uint32_t)got), 500,
                                       pk.now);
                lbf_row_release(lbf_t_row(&h, f, (uint32_t)got), 0);
            }
            ck_assert_msg(stalls ? cnt[1] == 0 : lbf_member_tier(&pk, 1) == 0,
                          "%s, stall %s: m1 got %u of 300", methods_all[mi],
                          pass == 0 ? "on" : "default", cnt[1]);
            ck_assert_uint_gt(cnt[0], 0);
            ck_assert_uint_gt(cnt[2], 0);
            munmap(h.base, h.len);
        }
    }
}
END_TEST

Suite *lbf_suite_methods(void)
{
    Suite *s = suite_create("methods");
    TCase *tc = tcase_create("common");

    tcase_add_test(tc, methods_table_is_well_formed);
    tcase_add_test(tc, methods_include_weighted_and_least_load);
    tcase_add_test(tc, method_find_rejects_unknown_names);
    tcase_add_test(tc, method_name_of_unknown_index_is_question_mark);
    tcase_add_test(tc, method_list_names_every_method);
    tcase_add_test(tc, pick_take_rejects_unknown_method_index);
    tcase_add_test(tc, rng_next_is_xorshift64star);
    tcase_add_test(tc, member_tier_adds_usable_extra_and_refuses_ineligible);
    tcase_add_test(tc, best_tier_is_lowest_eligible_tier);
    tcase_add_test(tc, methods_include_least_time_with_stall_on);
    tcase_set_timeout(tc, LBF_T_TIMEOUT);
    suite_add_tcase(s, tc);

    tc = tcase_create("every method");
    tcase_add_test(tc, every_method_gives_identical_members_equal_shares);
    tcase_add_test(tc, every_method_honours_slow_start);
    tcase_add_test(tc, every_method_avoids_a_stalled_member_when_stall_is_on);
    tcase_set_timeout(tc, 3 * LBF_T_TIMEOUT);
    suite_add_tcase(s, tc);
    return s;
}
