/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_swrr.c -- lbf_swrr_build, the smooth weighted round-robin schedule
 * builder: the documented schedules exactly, gcd reduction, ties to the
 * lowest index, every rejection (empty, zero weight, period over cap), and
 * agreement with a reference built from the definition on random weights.
 */
#include "lbf_unit.h"
#include "lbfarm_swrr.h"

#define SWRR_CANARY 0xbeefu

struct swrr_case {
    const char *what;
    uint32_t w[8];
    uint32_t n;
    const char *expect; /* member index per step, one digit each */
};

/* Build w into a canary-filled buffer of cap entries and compare with the
 * digit string expect; entries past the period must stay untouched. */
static void swrr_expect(const struct swrr_case *c, uint32_t cap)
{
    uint16_t out[1024];
    uint32_t period, i, want = (uint32_t)strlen(c->expect);

    ck_assert_uint_le(cap, LBF_T_NELEMS(out));
    for (i = 0; i < LBF_T_NELEMS(out); i++) {
        out[i] = SWRR_CANARY;
    }
    period = lbf_swrr_build(c->w, c->n, out, cap);
    ck_assert_msg(period == want, "%s: period %u, want %u", c->what, period,
                  want);
    for (i = 0; i < period; i++) {
        ck_assert_msg(out[i] == (uint16_t)(c->expect[i] - '0'),
                      "%s: step %u picks %u, want %c", c->what, i,
                      (unsigned)out[i], c->expect[i]);
    }
    for (i = period; i < LBF_T_NELEMS(out); i++) {
        ck_assert_msg(out[i] == SWRR_CANARY, "%s: wrote entry %u past %u",
                      c->what, i, period);
    }
}

START_TEST(swrr_511_matches_documented_schedule)
{
    /* CONTRACT.md and lbfarm_swrr.c: a a b a c a a */
    const struct swrr_case c = {"5 1 1", {5, 1, 1}, 3, "0010200"};

    swrr_expect(&c, 7);
    swrr_expect(&c, 1000);
}
END_TEST

START_TEST(swrr_1112_matches_documented_schedule)
{
    /* httpd's find_best_byrequests example: d a b c d */
    const struct swrr_case c = {"1 1 1 2", {1, 1, 1, 2}, 4, "30123"};

    swrr_expect(&c, 5);
}
END_TEST

START_TEST(swrr_31_matches_documented_schedule)
{
    /* CONTRACT.md: m1 m1 m2 m1 */
    const struct swrr_case c = {"3 1", {3, 1}, 2, "0010"};

    swrr_expect(&c, 4);
}
END_TEST

START_TEST(swrr_reduces_weights_by_gcd)
{
    static const struct swrr_case cases[] = {
        {"50 10 10 = 5 1 1", {50, 10, 10}, 3, "0010200"},
        {"100 20 20 = 5 1 1", {100, 20, 20}, 3, "0010200"},
        {"6 2 = 3 1", {6, 2}, 2, "0010"},
        {"2 2 = 1 1", {2, 2}, 2, "01"},
        {"100 100 100 = 1 1 1", {100, 100, 100}, 3, "012"},
        {"4 6 = 2 3", {4, 6}, 2, "10101"},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        swrr_expect(&cases[i], 1000);
    }
}
END_TEST

START_TEST(swrr_single_member_has_period_one)
{
    static const struct swrr_case cases[] = {
        {"1", {1}, 1, "0"},
        {"7", {7}, 1, "0"},
        {"100", {100}, 1, "0"},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        swrr_expect(&cases[i], 1);
    }
}
END_TEST

START_TEST(swrr_ties_go_to_lowest_index)
{
    static const struct swrr_case cases[] = {
        {"1 1 1", {1, 1, 1}, 3, "012"},
        {"2 2 1", {2, 2, 1}, 3, "01201"},
        {"1 2 2", {1, 2, 2}, 3, "12012"},
        {"1 1 1 1 1 1 1 1", {1, 1, 1, 1, 1, 1, 1, 1}, 8, "01234567"},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        swrr_expect(&cases[i], 100);
    }
}
END_TEST

START_TEST(swrr_rejects_period_over_cap)
{
    static const uint32_t w511[] = {5, 1, 1};
    static const uint32_t wbig[] = {100, 99, 1};
    uint16_t out[256];
    uint32_t i;

    for (i = 0; i < LBF_T_NELEMS(out); i++) {
        out[i] = SWRR_CANARY;
    }
    ck_assert_uint_eq(lbf_swrr_build(w511, 3, out, 6), 0);
    ck_assert_uint_eq(lbf_swrr_build(w511, 3, out, 0), 0);
    ck_assert_uint_eq(lbf_swrr_build(wbig, 3, out, 199), 0);
    for (i = 6; i < LBF_T_NELEMS(out); i++) {
        ck_assert_msg(out[i] == SWRR_CANARY, "wrote past cap at %u", i);
    }
    /* one more entry of room is enough */
    ck_assert_uint_eq(lbf_swrr_build(w511, 3, out, 7), 7);
    ck_assert_uint_eq(lbf_swrr_build(wbig, 3, out, 200), 200);
}
END_TEST

START_TEST(swrr_rejects_zero_weight)
{
    static const struct {
        uint32_t w[4];
        uint32_t n;
    } cases[] = {
        {{0}, 1},
        {{5, 0, 1}, 3},
        {{0, 1}, 2},
        {{1, 1, 1, 0}, 4},
    };
    uint16_t out[64];
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        ck_assert_msg(lbf_swrr_build(cases[i].w, cases[i].n, out, 64) == 0,
                      "case %zu accepted a zero weight", i);
    }
}
END_TEST

START_TEST(swrr_rejects_empty_farm)
{
    static const uint32_t w[] = {1};
    uint16_t out[4] = {SWRR_CANARY, SWRR_CANARY, SWRR_CANARY, SWRR_CANARY};

    ck_assert_uint_eq(lbf_swrr_build(w, 0, out, 4), 0);
    ck_assert_uint_eq(out[0], SWRR_CANARY);
}
END_TEST

START_TEST(swrr_rejects_period_that_overflows_32_bits)
{
    /* the true period 2^32 + 1 exceeds any cap; a 32-bit sum would wrap
     * to 1 and hand back a one-entry schedule for two members */
    static const uint32_t w[] = {0x80000001u, 0x80000000u};
    uint16_t out[64];

    ck_assert_uint_eq(lbf_swrr_build(w, 2, out, 64), 0);
}
END_TEST

START_TEST(swrr_matches_reference_on_random_weights)
{
    uint64_t rng = LBF_T_SEED;
    uint16_t got[16 * LBF_WEIGHT_MAX], want[16 * LBF_WEIGHT_MAX];
    int round;

    for (round = 0; round < 120; round++) {
        uint32_t w[16], cnt[16] = {0}, n, i, pg, pw;
        uint32_t cap = (uint32_t)LBF_T_NELEMS(got);

        n = 1 + (uint32_t)(lbf_rng_next(&rng) % 16);
        for (i = 0; i < n; i++) {
            w[i] = 1 + (uint32_t)(lbf_rng_next(&rng) % LBF_WEIGHT_MAX);
            if (round % 3 == 0) {
                w[i] = w[i] * 6; /* exercise the gcd reduction */
            }
        }
        pw = lbf_t_ref_swrr(w, n, want, cap);
        pg = lbf_swrr_build(w, n, got, cap);
        ck_assert_uint_gt(pw, 0);
        ck_assert_msg(pg == pw, "round %d: period %u, want %u", round, pg, pw);
        for (i = 0; i < pw; i++) {
            ck_assert_msg(got[i] == want[i], "round %d step %u: %u want %u",
                          round, i, (unsigned)got[i], (unsigned)want[i]);
            cnt[got[i]]++;
        }
        /* each member appears exactly its reduced weight times */
        {
            uint32_t g = 0;

            for (i = 0; i < n; i++) {
                g = lbf_t_gcd(w[i], g);
            }
            for (i = 0; i < n; i++) {
                ck_assert_uint_eq(cnt[i], w[i] / g);
            }
        }
    }
}
END_TEST

Suite *lbf_suite_swrr(void)
{
    Suite *s = suite_create("swrr");
    TCase *tc = tcase_create("build");

    tcase_add_test(tc, swrr_511_matches_documented_schedule);
    tcase_add_test(tc, swrr_1112_matches_documented_schedule);
    tcase_add_test(tc, swrr_31_matches_documented_schedule);
    tcase_add_test(tc, swrr_reduces_weights_by_gcd);
    tcase_add_test(tc, swrr_single_member_has_period_one);
    tcase_add_test(tc, swrr_ties_go_to_lowest_index);
    tcase_add_test(tc, swrr_rejects_period_over_cap);
    tcase_add_test(tc, swrr_rejects_zero_weight);
    tcase_add_test(tc, swrr_rejects_empty_farm);
    tcase_add_test(tc, swrr_rejects_period_that_overflows_32_bits);
    tcase_add_test(tc, swrr_matches_reference_on_random_weights);
    tcase_set_timeout(tc, LBF_T_TIMEOUT);
    suite_add_tcase(s, tc);
    return s;
}
