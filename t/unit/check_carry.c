/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_carry.c -- lbf_shm_carry, what a graceful restart keeps: matched
 * by farm and member name (not by index), the admin state, the effective
 * weight while the configured weight is unchanged, requests and errors;
 * never in-flight counts nor error deadlines.  The new segment's schedules
 * are rebuilt from the carried weights.
 */
#include "lbf_unit.h"
#include "lbfarm_carry.h"

struct carry_member {
    const char *name;
    uint32_t weight;
};

static struct lbf_farm *carry_farm(struct lbf_shm *h, const char *name,
                                   const char *method,
                                   const struct carry_member *m, uint32_t n)
{
    int fi = lbf_farm_add(h, name, lbf_t_method(method), 4);
    struct lbf_farm *f;
    uint32_t i;

    ck_assert_int_ge(fi, 0);
    for (i = 0; i < n; i++) {
        ck_assert_int_eq(
            lbf_member_add(h, (uint32_t)fi, m[i].name, m[i].weight, 0, 60),
            (int)i);
    }
    f = lbf_farm_at(h, (uint32_t)fi);
    ck_assert_int_eq(lbf_farm_rebuild(h, f), LBF_OK);
    return f;
}

static struct lbf_row *carry_row(const struct lbf_shm *h,
                                 const struct lbf_farm *f, const char *name)
{
    int mi = lbf_member_find(h, f, name);

    ck_assert_msg(mi >= 0, "member %s missing", name);
    return lbf_t_row(h, f, (uint32_t)mi);
}

static void carry_traffic(struct lbf_row *r, int take, int ok, int failed)
{
    int i;

    for (i = 0; i < take; i++) {
        lbf_row_take(r);
    }
    for (i = 0; i < ok; i++) {
        lbf_row_release(r, 0);
    }
    for (i = 0; i < failed; i++) {
        lbf_row_release(r, 1);
    }
}

START_TEST(carry_keeps_admin_weight_and_counters_by_name)
{
    static const struct carry_member old_web[] = {
        {"a", 5},
        {"b", 1},
        {"c", 2},
        {"gone", 1},
    };
    static const struct carry_member old_api[] = {{"x", 1}};
    /* new config: other order, a new member, c configured 2 -> 7 */
    static const struct carry_member new_api[] = {{"y", 1}, {"x", 1}};
    static const struct carry_member new_web[] = {
        {"d", 1},
        {"a", 5},
        {"b", 1},
        {"c", 7},
    };
    static const struct carry_member new_other[] = {{"a", 2}};
    struct lbf_shm o, n;
    struct lbf_farm *ow, *oa, *nw, *na, *no;
    struct lbf_row *r;

    lbf_t_segment(&o, 2, 4);
    ow = carry_farm(&o, "web", "weighted", old_web, 4);
    oa = carry_farm(&o, "api", "least-load", old_api, 1);
    /* runtime state of the old generation */
    atomic_store(&carry_row(&o, ow, "b")->admin, LBF_ADMIN_OFFLINE);
    ck_assert_int_eq(lbf_member_set_weight(&o, ow, 0, 3), LBF_OK); /* a */
    ck_assert_int_eq(lbf_member_set_weight(&o, ow, 2, 4), LBF_OK); /* c */
    carry_traffic(carry_row(&o, ow, "a"), 10, 5, 2); /* 3 in flight */
    carry_traffic(carry_row(&o, ow, "b"), 4, 3, 1);
    carry_traffic(carry_row(&o, ow, "c"), 1, 0, 0);
    lbf_row_set_error(carry_row(&o, ow, "c"), LBF_T_NOW);
    carry_traffic(carry_row(&o, oa, "x"), 6, 0, 0);

    lbf_t_segment(&n, 3, 4);
    na = carry_farm(&n, "api", "least-load", new_api, 2);
    nw = carry_farm(&n, "web", "weighted", new_web, 4);
    no = carry_farm(&n, "other", "weighted", new_other, 1);

    ck_assert_int_eq(lbf_shm_carry(&n, &o), 4); /* a b c x */

    r = carry_row(&n, nw, "a"); /* runtime weight kept: cfg unchanged */
    ck_assert_uint_eq(atomic_load(&r->admin), LBF_ADMIN_ENABLED);
    ck_assert_uint_eq(atomic_load(&r->weight), 3);
    ck_assert_uint_eq(r->cfg_weight, 5);
    ck_assert_uint_eq(atomic_load(&r->requests), 10);
    ck_assert_uint_eq(atomic_load(&r->errors), 2);
    ck_assert_int_eq(atomic_load(&r->inflight), 0);

    r = carry_row(&n, nw, "b"); /* offline survives the restart */
    ck_assert_uint_eq(atomic_load(&r->admin), LBF_ADMIN_OFFLINE);
    ck_assert_uint_eq(atomic_load(&r->weight), 1);
    ck_assert_uint_eq(atomic_load(&r->requests), 4);
    ck_assert_uint_eq(atomic_load(&r->errors), 1);
    ck_assert_int_eq(atomic_load(&r->inflight), 0);

    r = carry_row(&n, nw, "c"); /* configured weight changed: new wins */
    ck_assert_uint_eq(atomic_load(&r->weight), 7);
    ck_assert_uint_eq(r->cfg_weight, 7);
    ck_assert_uint_eq(atomic_load(&r->requests), 1);
    ck_assert_int_eq(atomic_load(&r->inflight), 0);
    ck_assert_uint_eq(atomic_load(&r->error_until), 0);
    ck_assert_int_eq(lbf_row_usable(r, LBF_T_NOW), 1);

    r = carry_row(&n, nw, "d"); /* new member: fresh */
    ck_assert_uint_eq(atomic_load(&r->weight), 1);
    ck_assert_uint_eq(atomic_load(&r->requests), 0);
    ck_assert_uint_eq(atomic_load(&r->admin), LBF_ADMIN_ENABLED);

    r = carry_row(&n, na, "x");
    ck_assert_uint_eq(atomic_load(&r->requests), 6);
    ck_assert_int_eq(atomic_load(&r->inflight), 0);
    ck_assert_uint_eq(atomic_load(&carry_row(&n, na, "y")->requests), 0);

    /* a member of the same name in another farm is another member */
    r = carry_row(&n, no, "a");
    ck_assert_uint_eq(atomic_load(&r->weight), 2);
    ck_assert_uint_eq(atomic_load(&r->requests), 0);

    /* the source is left as it was */
    r = carry_row(&o, ow, "a");
    ck_assert_int_eq(atomic_load(&r->inflight), 3);
    ck_assert_uint_eq(atomic_load(&r->weight), 3);
    ck_assert_uint_eq(atomic_load(&carry_row(&o, ow, "b")->admin),
                      LBF_ADMIN_OFFLINE);
}
END_TEST

START_TEST(carry_rebuilds_schedule_from_carried_weights)
{
    static const struct carry_member old_web[] = {
        {"a", 5},
        {"b", 1},
        {"c", 2},
    };
    static const struct carry_member new_web[] = {
        {"d", 1},
        {"a", 5},
        {"b", 1},
        {"c", 7},
    };
    /* effective weights after carry, in new member order: d a b c */
    static const uint32_t want_w[] = {1, 3, 1, 7};
    uint32_t wm = lbf_t_method("weighted");
    uint16_t want[16];
    uint32_t period, k, cnt[4] = {0};
    struct lbf_shm o, n;
    struct lbf_farm *ow, *nw;
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;

    lbf_t_segment(&o, 1, 4);
    ow = carry_farm(&o, "web", "weighted", old_web, 3);
    ck_assert_int_eq(lbf_member_set_weight(&o, ow, 0, 3), LBF_OK);
    atomic_store(&carry_row(&o, ow, "b")->admin, LBF_ADMIN_OFFLINE);

    lbf_t_segment(&n, 1, 4);
    nw = carry_farm(&n, "web", "weighted", new_web, 4);
    ck_assert_int_eq(lbf_shm_carry(&n, &o), 3);

    /* with b enabled again the schedule is exactly SWRR of 1 3 1 7 */
    atomic_store(&carry_row(&n, nw, "b")->admin, LBF_ADMIN_ENABLED);
    period = lbf_t_ref_swrr(want_w, 4, want, LBF_T_NELEMS(want));
    ck_assert_uint_eq(period, 12);
    lbf_t_pick_init(&pk, &n, nw, &rng);
    for (k = 0; k < 3 * period; k++) {
        int got = lbf_pick_take(wm, &pk);

        ck_assert_msg(got == want[k % period], "pick %u = %d, want %u", k, got,
                      (unsigned)want[k % period]);
    }
    /* offline again: never b */
    atomic_store(&carry_row(&n, nw, "b")->admin, LBF_ADMIN_OFFLINE);
    for (k = 0; k < 10 * period; k++) {
        int got = lbf_pick_take(wm, &pk);

        ck_assert_int_ge(got, 0);
        cnt[got]++;
    }
    ck_assert_uint_eq(cnt[2], 0);
    ck_assert_uint_gt(cnt[0], 0);
    ck_assert_uint_gt(cnt[1], 0);
    ck_assert_uint_gt(cnt[3], 0);
}
END_TEST

START_TEST(carry_with_nothing_in_common_carries_nothing)
{
    static const struct carry_member a[] = {{"m", 2}};
    static const struct carry_member b[] = {{"n", 2}};
    struct lbf_shm o, n;
    struct lbf_farm *nf;

    lbf_t_segment(&o, 2, 4);
    carry_farm(&o, "one", "weighted", a, 1);
    carry_farm(&o, "two", "weighted", b, 1);
    carry_traffic(carry_row(&o, lbf_farm_at(&o, 0), "m"), 3, 3, 0);
    lbf_t_segment(&n, 2, 4);
    carry_farm(&n, "three", "weighted", a, 1);    /* same member, other farm */
    nf = carry_farm(&n, "two", "weighted", a, 1); /* same farm, other member */
    ck_assert_int_eq(lbf_shm_carry(&n, &o), 0);
    ck_assert_uint_eq(
        atomic_load(&carry_row(&n, lbf_farm_at(&n, 0), "m")->requests), 0);
    ck_assert_uint_eq(atomic_load(&carry_row(&n, nf, "m")->requests), 0);
}
END_TEST

Suite *lbf_suite_carry(void)
{
    Suite *s = suite_create("carry");
    TCase *tc = tcase_create("restart");

    tcase_add_test(tc, carry_keeps_admin_weight_and_counters_by_name);
    tcase_add_test(tc, carry_rebuilds_schedule_from_carried_weights);
    tcase_add_test(tc, carry_with_nothing_in_common_carries_nothing);
    tcase_set_timeout(tc, LBF_T_TIMEOUT);
    suite_add_tcase(s, tc);
    return s;
}
