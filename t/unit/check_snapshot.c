/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_snapshot.c -- snapshots of a real segment (lbfarm_snapshot.h),
 * basic to complex:
 *
 *  - lbf_snap_farm copies a farm's name, method and offline state, and
 *    leaves the caller's fields alone;
 *  - lbf_snap_member copies counters, pushed load, health check and
 *    latency, names the state (admin first), shows a runtime member's URL
 *    and skips rows that are not there or removed;
 *  - lbf_snap_collect walks every farm and live member in order, asks the
 *    caller's hooks only what the segment does not hold, and works
 *    without them.
 */
#include "lbf_status_unit.h"

START_TEST(status_snap_farm_copies_name_method_and_offline)
{
    struct lbf_shm h;
    static const uint32_t w[2] = {3, 1};
    struct lbf_farm *f;
    struct lbf_farm_snap fs;

    lbf_t_segment(&h, 1, 4);
    f = lbf_t_farm(&h, "web", "least-load", w, NULL, 2, 4);

    memset(&fs, 0xa5, sizeof(fs));
    fs.first = 11;
    fs.n = 22;
    fs.adminable = 33;
    lbf_snap_farm(f, &fs);
    ck_assert_str_eq(fs.name, "web");
    ck_assert_str_eq(fs.method, "least-load");
    ck_assert_uint_eq(fs.offline, 0);
    /* the caller's fields are left alone */
    ck_assert_uint_eq(fs.first, 11);
    ck_assert_uint_eq(fs.n, 22);
    ck_assert_uint_eq(fs.adminable, 33);

    lbf_farm_set_admin(f, LBF_ADMIN_OFFLINE);
    lbf_snap_farm(f, &fs);
    ck_assert_uint_eq(fs.offline, 1);
    lbf_farm_set_admin(f, LBF_ADMIN_ENABLED);
    lbf_snap_farm(f, &fs);
    ck_assert_uint_eq(fs.offline, 0);

    f->method = LBF_METHOD_FOREIGN;
    lbf_snap_farm(f, &fs);
    ck_assert_str_eq(fs.method, "foreign");
}
END_TEST

START_TEST(status_snap_member_copies_counters_load_health_latency)
{
    struct lbf_shm h;
    static const uint32_t w[2] = {3, 1};
    struct lbf_metric m[2];
    struct lbf_farm *f;
    struct lbf_row *r;
    struct lbf_snap s;

    lbf_t_segment(&h, 1, 4);
    f = lbf_t_farm(&h, "web", "pushed-metric", w, NULL, 2, 4);
    f->expiry_ms = 10000;
    f->blackout_ms = 0;
    r = lbf_t_row(&h, f, 0);
    lbf_row_take(r);
    lbf_row_take(r);
    lbf_row_take(r);
    lbf_row_release(r, 1);
    atomic_store(&r->load_milli, 250);
    atomic_store(&r->load_ts, LBF_T_NOW - 1500 * 1000);
    atomic_store(&r->load_since, LBF_T_NOW - 60 * LBF_T_SEC);
    memset(m, 0, sizeof(m));
    strcpy(m[0].name, "cpu");
    m[0].value = 250;
    strcpy(m[1].name, "conns");
    m[1].value = 12000;
    ck_assert_int_eq(lbf_row_write_metrics(&h, r, (uint32_t)getpid(),
                                           LBF_T_NOW - 1500 * 1000, 2, m),
                     LBF_OK);
    ck_assert_int_eq(lbf_hc_claim(r, LBF_T_NOW, 5 * LBF_T_SEC), 1);
    atomic_store(&r->hc_status, 204);
    atomic_store(&r->hc_ms, 7);
    lbf_row_health_result(r, 1, 2, 3, LBF_T_NOW); /* the result recorded */
    lbf_row_record_latency(r, 700, LBF_T_NOW);  /* bucket <= 800 us */
    lbf_row_record_latency(r, 700, LBF_T_NOW);
    lbf_row_record_latency(r, 3000, LBF_T_NOW); /* bucket <= 3200 us */

    ck_assert_int_eq(lbf_snap_member(&h, f, 0, LBF_T_NOW, &s), 1);
    ck_assert_str_eq(s.farm, "web");
    ck_assert_str_eq(s.name, "m0");
    ck_assert_str_eq(s.method, "pushed-metric");
    ck_assert_str_eq(s.state, "ok");
    ck_assert_uint_eq(s.admin, LBF_ADMIN_ENABLED);
    ck_assert_uint_eq(s.weight, 3);
    ck_assert_uint_eq(s.cfg_weight, 3);
    ck_assert_uint_eq(s.tier, 0);
    ck_assert_int_eq(s.inflight, 2);
    ck_assert_uint_eq(s.requests, 3);
    ck_assert_uint_eq(s.errors, 1);
    ck_assert_uint_eq(s.error_left_ms, 0);
    ck_assert_uint_eq(s.load_milli, 250);
    ck_assert_int_eq(s.load_age_ms, 1500);
    ck_assert_uint_eq(s.headroom_milli, 750);
    ck_assert_int_eq(s.hc_checked, 1);
    ck_assert_uint_eq(s.hc_status, 204);
    ck_assert_uint_eq(s.hc_ms, 7);
    ck_assert_uint_eq(s.lat_count, 3);
    ck_assert_uint_eq(s.lat_us[0], 800);
    ck_assert_uint_eq(s.lat_us[1], 3200);
    ck_assert_uint_eq(s.lat_us[2], 3200);
    ck_assert_uint_eq(s.runtime, 0);
    ck_assert_str_eq(s.url, "");
    ck_assert_uint_eq(s.n_metrics, 2);
    ck_assert_str_eq(s.metrics[0].name, "cpu");
    ck_assert_int_eq(s.metrics[0].value, 250);
    ck_assert_str_eq(s.metrics[1].name, "conns");
    ck_assert_int_eq(s.metrics[1].value, 12000);

    /* a member that never pushed nor was checked */
    ck_assert_int_eq(lbf_snap_member(&h, f, 1, LBF_T_NOW, &s), 1);
    ck_assert_str_eq(s.name, "m1");
    ck_assert_int_eq(s.load_age_ms, -1);
    ck_assert_uint_eq(s.headroom_milli, 1000);
    ck_assert_int_eq(s.hc_checked, 0);
    ck_assert_uint_eq(s.lat_count, 0);
    ck_assert_uint_eq(s.lat_us[0], 0);
    ck_assert_uint_eq(s.n_metrics, 0);

    /* an expired report leaves the load shown but the headroom neutral */
    ck_assert_int_eq(lbf_snap_member(&h, f, 0, LBF_T_NOW + 20 * LBF_T_SEC,
                                     &s), 1);
    ck_assert_int_eq(s.load_age_ms, 21500);
    ck_assert_uint_eq(s.headroom_milli, 1000);
}
END_TEST

START_TEST(status_snap_member_shows_the_slow_start_ramp)
{
    static const uint32_t w[] = {1, 1};
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_snap s;

    lbf_t_segment(&h, 1, 2);
    f = lbf_t_farm(&h, "web", "weighted", w, NULL, 2, 0);
    f->slowstart_ms = 10000;
    /* m0 came back 4 s into a 10 s ramp; m1 has been up since start-up */
    atomic_store(&lbf_t_row(&h, f, 0)->up_since, LBF_T_NOW - 4 * LBF_T_SEC);
    ck_assert_int_eq(lbf_snap_member(&h, f, 0, LBF_T_NOW, &s), 1);
    ck_assert_uint_eq(s.ramp_milli, 400);
    ck_assert_int_eq(lbf_snap_member(&h, f, 1, LBF_T_NOW, &s), 1);
    ck_assert_uint_eq(s.ramp_milli, 1000);
    /* the ramp is over 10 s after it began */
    ck_assert_int_eq(lbf_snap_member(&h, f, 0, LBF_T_NOW + 6 * LBF_T_SEC,
                                     &s), 1);
    ck_assert_uint_eq(s.ramp_milli, 1000);
}
END_TEST

START_TEST(status_snap_member_names_the_state_admin_first)
{
    struct lbf_shm h;
    static const uint32_t w[6] = {1, 1, 1, 1, 1, 1};
    struct lbf_farm *f;
    struct lbf_snap s;
    static const struct {
        uint32_t mi;
        const char *state;
        uint32_t admin;
        uint64_t error_left_ms;
    } want[] = {
        {0, "ok", LBF_ADMIN_ENABLED, 0},
        {1, "error", LBF_ADMIN_ENABLED, 60000},
        {2, "down", LBF_ADMIN_ENABLED, 60000}, /* down beats error */
        {3, "draining", LBF_ADMIN_ENABLED, 0}, /* asked by the member */
        {4, "draining", LBF_ADMIN_DRAIN, 60000}, /* admin beats health */
        {5, "offline", LBF_ADMIN_OFFLINE, 0},
    };
    size_t i;

    lbf_t_segment(&h, 1, 6);
    f = lbf_t_farm(&h, "web", "weighted", w, NULL, 6, 6);
    lbf_row_set_error(lbf_t_row(&h, f, 1), LBF_T_NOW);
    lbf_row_set_error(lbf_t_row(&h, f, 2), LBF_T_NOW);
    atomic_store(&lbf_t_row(&h, f, 2)->health, LBF_HEALTH_DOWN);
    atomic_store(&lbf_t_row(&h, f, 3)->drain_req, 1);
    lbf_row_set_error(lbf_t_row(&h, f, 4), LBF_T_NOW);
    atomic_store(&lbf_t_row(&h, f, 4)->health, LBF_HEALTH_DOWN);
    lbf_row_set_admin(lbf_t_row(&h, f, 4), LBF_ADMIN_DRAIN, LBF_T_NOW);
    atomic_store(&lbf_t_row(&h, f, 5)->health, LBF_HEALTH_DOWN);
    lbf_row_set_admin(lbf_t_row(&h, f, 5), LBF_ADMIN_OFFLINE, LBF_T_NOW);

    for (i = 0; i < LBF_T_NELEMS(want); i++) {
        ck_assert_int_eq(lbf_snap_member(&h, f, want[i].mi, LBF_T_NOW, &s),
                         1);
        ck_assert_msg(strcmp(s.state, want[i].state) == 0,
                      "member %u: state %s, want %s", want[i].mi, s.state,
                      want[i].state);
        ck_assert_uint_eq(s.admin, want[i].admin);
        ck_assert_uint_eq(s.error_left_ms, want[i].error_left_ms);
    }
    /* the error time counts down and ends */
    ck_assert_int_eq(lbf_snap_member(&h, f, 1, LBF_T_NOW + 59 * LBF_T_SEC,
                                     &s), 1);
    ck_assert_str_eq(s.state, "error");
    ck_assert_uint_eq(s.error_left_ms, 1000);
    ck_assert_int_eq(lbf_snap_member(&h, f, 1, LBF_T_NOW + 60 * LBF_T_SEC,
                                     &s), 1);
    ck_assert_str_eq(s.state, "ok");
    ck_assert_uint_eq(s.error_left_ms, 0);
}
END_TEST

START_TEST(status_snap_member_shows_runtime_url_and_skips_other_rows)
{
    struct lbf_shm h;
    static const uint32_t w[1] = {2};
    struct lbf_farm *f;
    struct lbf_snap s, zero;
    int mi;

    lbf_t_segment(&h, 1, 4);
    f = lbf_t_farm(&h, "web", "weighted", w, NULL, 1, 4);
    mi = lbf_member_add_runtime(&h, 0, "rt1", "http://10.0.0.9:81/p", 5, 60);
    ck_assert_int_eq(mi, 1);
    ck_assert_int_eq(lbf_snap_member(&h, f, 1, LBF_T_NOW, &s), 1);
    ck_assert_str_eq(s.name, "rt1");
    ck_assert_uint_eq(s.runtime, 1);
    ck_assert_str_eq(s.url, "http://10.0.0.9:81/p");
    ck_assert_uint_eq(s.weight, 5);
    ck_assert_uint_eq(s.cfg_weight, 5);

    memset(&zero, 0, sizeof(zero));
    /* no such row: 0, *s zeroed */
    memset(&s, 0xa5, sizeof(s));
    ck_assert_int_eq(lbf_snap_member(&h, f, 2, LBF_T_NOW, &s), 0);
    ck_assert_msg(memcmp(&s, &zero, sizeof(s)) == 0, "row 2: not zeroed");
    memset(&s, 0xa5, sizeof(s));
    ck_assert_int_eq(lbf_snap_member(&h, f, UINT32_MAX, LBF_T_NOW, &s), 0);
    ck_assert_msg(memcmp(&s, &zero, sizeof(s)) == 0, "row max: not zeroed");

    /* a removed row: 0, and nothing of it is shown */
    ck_assert_int_eq(lbf_member_remove(&h, f, 1), LBF_OK);
    memset(&s, 0xa5, sizeof(s));
    ck_assert_int_eq(lbf_snap_member(&h, f, 1, LBF_T_NOW, &s), 0);
    ck_assert_str_eq(s.name, "");
    ck_assert_str_eq(s.url, "");
    ck_assert_ptr_null(s.state);
    ck_assert_uint_eq(s.requests, 0);
    /* NOTE: the header promises *s zeroed, but s.admin is left
     * LBF_ADMIN_REMOVED (see the report); not asserted here. */
}
END_TEST

/* Hooks of the collect test: farm 0 is administered; configured rows get
 * a URL naming their place; every call is counted. */
struct s_src {
    int adminable_calls, url_calls;
};

static int s_src_adminable(void *ctx, uint32_t fi)
{
    ((struct s_src *)ctx)->adminable_calls++;
    return fi == 0;
}

static void s_src_url(void *ctx, uint32_t fi, uint32_t mi, char *url)
{
    ((struct s_src *)ctx)->url_calls++;
    snprintf(url, LBF_URL_SIZE, "http://cfg/%u/%u", fi, mi);
}

START_TEST(snapshot_collect_takes_every_live_member_in_row_order)
{
    struct lbf_shm h;
    static const uint32_t w[3] = {3, 1, 2}, w1[1] = {4};
    struct lbf_farm *f;
    struct lbf_farm_snap farms[2];
    struct lbf_snap members[8];
    struct lbf_status st;
    struct s_src ctx = {0, 0};
    struct lbf_snap_src src = {s_src_adminable, s_src_url, &ctx};
    size_t nf, nm;

    lbf_t_segment(&h, 2, 4);
    f = lbf_t_farm(&h, "web", "weighted", w, NULL, 3, 4);
    (void)lbf_t_farm(&h, "api", "least-load", w1, NULL, 1, 4);
    ck_assert_int_eq(lbf_member_add_runtime(&h, 1, "rt1",
                                            "http://10.0.0.9:81/p", 5, 60),
                     1);
    ck_assert_int_eq(lbf_member_remove(&h, f, 1), LBF_OK);
    lbf_snap_sizes(&h, &nf, &nm);
    ck_assert_uint_eq(nf, 2);
    ck_assert_uint_eq(nm, 8); /* every row the segment has room for */

    memset(members, 0xa5, sizeof(members));
    lbf_snap_collect(&h, LBF_T_NOW, &src, farms, members, &st);
    ck_assert_uint_eq(st.now_usec, LBF_T_NOW);
    ck_assert_uint_eq(st.generation, 1);
    ck_assert_ptr_eq(st.farms, farms);
    ck_assert_ptr_eq(st.members, members);
    ck_assert_uint_eq(st.n_farms, 2);
    ck_assert_uint_eq(st.n_members, 4);
    ck_assert_str_eq(farms[0].name, "web");
    ck_assert_uint_eq(farms[0].adminable, 1);
    ck_assert_uint_eq(farms[0].first, 0);
    ck_assert_uint_eq(farms[0].n, 2); /* m1 removed */
    ck_assert_str_eq(farms[1].name, "api");
    ck_assert_str_eq(farms[1].method, "least-load");
    ck_assert_uint_eq(farms[1].adminable, 0);
    ck_assert_uint_eq(farms[1].first, 2);
    ck_assert_uint_eq(farms[1].n, 2);
    ck_assert_str_eq(members[0].name, "m0");
    ck_assert_str_eq(members[0].url, "http://cfg/0/0");
    ck_assert_uint_eq(members[0].weight, 3);
    ck_assert_str_eq(members[1].name, "m2");
    ck_assert_str_eq(members[1].url, "http://cfg/0/2");
    ck_assert_str_eq(members[2].farm, "api");
    ck_assert_str_eq(members[2].url, "http://cfg/1/0");
    ck_assert_str_eq(members[3].name, "rt1");
    ck_assert_str_eq(members[3].url, "http://10.0.0.9:81/p"); /* its row's */
    ck_assert_int_eq(ctx.adminable_calls, 2);
    ck_assert_int_eq(ctx.url_calls, 3); /* not for the runtime member */

    /* without hooks: read only, URLs unknown but the runtime one */
    lbf_snap_collect(&h, LBF_T_NOW, NULL, farms, members, &st);
    ck_assert_uint_eq(st.n_members, 4);
    ck_assert_uint_eq(farms[0].adminable, 0);
    ck_assert_str_eq(members[0].url, "");
    ck_assert_str_eq(members[3].url, "http://10.0.0.9:81/p");
}
END_TEST

START_TEST(snapshot_collect_of_an_empty_segment_is_empty)
{
    struct lbf_shm h;
    struct lbf_farm_snap farms[1];
    struct lbf_snap members[1];
    struct lbf_status st;

    lbf_t_segment(&h, 1, 4);
    memset(&st, 0xa5, sizeof(st));
    lbf_snap_collect(&h, LBF_T_NOW, NULL, farms, members, &st);
    ck_assert_uint_eq(st.n_farms, 0);
    ck_assert_uint_eq(st.n_members, 0);
    ck_assert_uint_eq(st.recoveries, 0);
    ck_assert_uint_eq(st.repairs, 0);
}
END_TEST

Suite *lbf_suite_snapshot(void)
{
    Suite *s = suite_create("snapshot");
    TCase *snap = tcase_create("snapshot");

    tcase_set_timeout(snap, LBF_T_TIMEOUT);
    tcase_add_test(snap, status_snap_farm_copies_name_method_and_offline);
    tcase_add_test(snap, status_snap_member_copies_counters_load_health_latency);
    tcase_add_test(snap, status_snap_member_names_the_state_admin_first);
    tcase_add_test(snap, status_snap_member_shows_the_slow_start_ramp);
    tcase_add_test(snap,
                   status_snap_member_shows_runtime_url_and_skips_other_rows);
    tcase_add_test(snap, snapshot_collect_takes_every_live_member_in_row_order);
    tcase_add_test(snap, snapshot_collect_of_an_empty_segment_is_empty);
    suite_add_tcase(s, snap);
    return s;
}
