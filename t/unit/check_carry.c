/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_carry.c -- lbf_shm_carry, what a graceful restart keeps: matched
 * by farm and member name (not by index), the admin state, the effective
 * weight while the configured weight is unchanged, the health check state
 * while the member's check is unchanged, requests and errors; never
 * in-flight counts nor error deadlines.  The new segment's schedules are
 * rebuilt from the carried weights.  And what it refuses: an old segment
 * of another layout, or damaged in any field the carry reads (each field
 * in turn, then random damage), is not carried and never makes the carry
 * read astray (run under ASan by make unit-asan).
 */
#include <stdlib.h>

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

/* ---- health ---- */

#define CARRY_HC(rise) lbf_hc_conf("/health", 1000, 200, 200, (rise), 3)

/* Farm "hc" of members a b c (URLs http://10.0.0.<i>) checked with
 * check hc_conf; a is down after three failures. */
static struct lbf_farm *carry_hc_farm(struct lbf_shm *h, uint32_t hc_conf,
                                      const char *b_url)
{
    static const struct carry_member m[] = {{"a", 1}, {"b", 1}, {"c", 1}};
    const char *url[] = {"http://10.0.0.1:80", b_url, "http://10.0.0.3:80"};
    struct lbf_farm *f;
    uint32_t i;

    lbf_t_segment(h, 1, 4);
    f = carry_farm(h, "hc", "weighted", m, 0);
    lbf_farm_set_hc_conf(f, hc_conf);
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(lbf_member_add(h, 0, m[i].name, 1, 0, 60), (int)i);
        lbf_member_set_hc_url(f, lbf_t_row(h, f, i), url[i]);
    }
    ck_assert_int_eq(lbf_farm_rebuild(h, f), LBF_OK);
    return f;
}

/* A member that failed its checks stays down across a restart while its
 * check (the farm's check, the member's URL) is the same; otherwise it
 * starts up, as a new member does. */
START_TEST(carry_keeps_health_while_the_check_is_unchanged)
{
    struct lbf_shm o, n;
    struct lbf_farm *of, *nf;
    struct lbf_row *r;
    int i;

    of = carry_hc_farm(&o, CARRY_HC(2), "http://10.0.0.2:80");
    for (i = 0; i < 3; i++) {
        lbf_row_health_result(carry_row(&o, of, "a"), 0, 2, 3, LBF_T_NOW);
        lbf_row_health_result(carry_row(&o, of, "b"), 0, 2, 3, LBF_T_NOW);
    }
    lbf_row_health_result(carry_row(&o, of, "c"), 1, 2, 3, LBF_T_NOW);
    atomic_store(&carry_row(&o, of, "a")->hc_status, 503);
    ck_assert_uint_eq(atomic_load(&carry_row(&o, of, "a")->health),
                      LBF_HEALTH_DOWN);

    /* same check; b moved to another URL */
    nf = carry_hc_farm(&n, CARRY_HC(2), "http://10.0.0.9:80");
    ck_assert_int_eq(lbf_shm_carry(&n, &o), 3);
    r = carry_row(&n, nf, "a");
    ck_assert_uint_eq(atomic_load(&r->health), LBF_HEALTH_DOWN);
    ck_assert_uint_eq(r->hc_fail, 3);
    ck_assert_uint_eq(r->hc_pass, 0);
    ck_assert_uint_eq(atomic_load(&r->hc_status), 503);
    ck_assert_int_eq(lbf_row_usable(r, LBF_T_NOW), 0);
    r = carry_row(&n, nf, "b");
    ck_assert_uint_eq(atomic_load(&r->health), LBF_HEALTH_UP);
    ck_assert_uint_eq(r->hc_fail, 0);
    ck_assert_uint_eq(carry_row(&n, nf, "c")->hc_pass, 1);
    /* one more failure keeps it down, a pass does not yet raise it */
    ck_assert_int_eq(lbf_row_health_result(carry_row(&n, nf, "a"), 1, 2, 3,
                                           LBF_T_NOW), 0);
    ck_assert_uint_eq(atomic_load(&carry_row(&n, nf, "a")->health),
                      LBF_HEALTH_DOWN);

    /* the check changed (rise 2 -> 1): health starts afresh */
    nf = carry_hc_farm(&n, CARRY_HC(1), "http://10.0.0.2:80");
    ck_assert_int_eq(lbf_shm_carry(&n, &o), 3);
    ck_assert_uint_eq(atomic_load(&carry_row(&n, nf, "a")->health),
                      LBF_HEALTH_UP);
    ck_assert_uint_eq(carry_row(&n, nf, "a")->hc_fail, 0);

    /* no check any more: no one would ever raise it again */
    nf = carry_hc_farm(&n, 0, "http://10.0.0.2:80");
    ck_assert_int_eq(lbf_shm_carry(&n, &o), 3);
    ck_assert_uint_eq(atomic_load(&carry_row(&n, nf, "a")->health),
                      LBF_HEALTH_UP);
}
END_TEST

/* A member added at runtime gets its check from the farm and its URL, so
 * its health is carried with it. */
START_TEST(carry_keeps_health_of_runtime_members)
{
    struct lbf_shm o, n;
    struct lbf_farm *of, *nf;
    struct lbf_row *r;
    int mi, i;

    of = carry_hc_farm(&o, CARRY_HC(2), "http://10.0.0.2:80");
    mi = lbf_member_add_runtime(&o, 0, "rt", "http://10.0.0.7:80", 1, 60);
    ck_assert_int_eq(mi, 3);
    for (i = 0; i < 3; i++) {
        lbf_row_health_result(lbf_t_row(&o, of, 3), 0, 2, 3, LBF_T_NOW);
    }
    nf = carry_hc_farm(&n, CARRY_HC(2), "http://10.0.0.2:80");
    ck_assert_int_eq(lbf_shm_carry(&n, &o), 4);
    r = carry_row(&n, nf, "rt");
    ck_assert_uint_eq(r->runtime, 1);
    ck_assert_uint_eq(atomic_load(&r->health), LBF_HEALTH_DOWN);
    ck_assert_uint_eq(r->hc_fail, 3);
}
END_TEST

/* ---- refusals: another layout, damage ---- */

/* The old generation's segment of the damage tests: farm "web" (a b c d)
 * and farm "api" (x y, z added at runtime), traffic, metrics and health.
 * Returns a malloc'ed copy of len bytes (ASan sees every stray read). */
static unsigned char *carry_old_segment(size_t *len)
{
    static const struct carry_member web[] = {
        {"a", 3}, {"b", 1}, {"c", 2}, {"d", 1},
    };
    static const struct carry_member api[] = {{"x", 1}, {"y", 2}};
    struct lbf_metric m[2] = {{"cpu", 500}, {"queue", 7000}};
    struct lbf_shm o;
    struct lbf_farm *f;
    unsigned char *copy;

    lbf_t_segment(&o, 2, 4);
    carry_farm(&o, "web", "weighted", web, 4);
    f = carry_farm(&o, "api", "least-load", api, 2);
    lbf_farm_set_hc_conf(f, CARRY_HC(2));
    ck_assert_int_eq(lbf_member_add_runtime(&o, 1, "z", "http://10.0.0.5:80",
                                            4, 60), 2);
    carry_traffic(carry_row(&o, f, "y"), 9, 9, 0);
    ck_assert_int_eq(lbf_row_write_metrics(&o, carry_row(&o, f, "y"), 1,
                                           LBF_T_NOW, 2, m), LBF_OK);
    atomic_store(&carry_row(&o, f, "y")->load_milli, 400);
    ck_assert_int_eq(lbf_shm_check(o.base, o.len, NULL, 0), LBF_OK);
    *len = o.len;
    copy = malloc(o.len);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, o.base, o.len);
    return copy;
}

/* The new generation: the same farms, fresh. */
static void carry_new_segment(struct lbf_shm *n)
{
    static const struct carry_member web[] = {
        {"a", 3}, {"b", 1}, {"c", 2}, {"d", 1},
    };
    static const struct carry_member api[] = {{"x", 1}, {"y", 2}};

    lbf_t_segment(n, 2, 4);
    carry_farm(n, "web", "weighted", web, 4);
    lbf_farm_set_hc_conf(carry_farm(n, "api", "least-load", api, 2),
                         CARRY_HC(2));
}

/* dst is still exactly as carry_new_segment made it. */
static void carry_assert_fresh(const struct lbf_shm *n, const char *what)
{
    const struct lbf_farm *f = lbf_farm_at(n, 1);

    ck_assert_msg(lbf_shm_check(n->base, n->len, NULL, 0) == LBF_OK,
                  "%s: the new segment is not sound", what);
    ck_assert_msg(f->n_rows == 2, "%s: api has %u members", what, f->n_rows);
    ck_assert_msg(atomic_load(&carry_row(n, f, "y")->requests) == 0
                  && carry_row(n, f, "y")->n_metrics == 0,
                  "%s: state was carried", what);
}

enum carry_at { AT_HDR, AT_FARM, AT_ROW };

struct carry_damage {
    const char *what;
    enum carry_at at;     /* header, farm "api", or its row "y" */
    size_t off;           /* offsetof in that record */
    size_t len;           /* 4: write value; else fill len bytes */
    uint32_t value;       /* the value, or the fill byte */
    int rc;
};

#define HDR(f) AT_HDR, offsetof(struct lbf_hdr, f)
#define FARM(f) AT_FARM, offsetof(struct lbf_farm, f)
#define ROW(f) AT_ROW, offsetof(struct lbf_row, f)

static const struct carry_damage carry_damages[] = {
    {"hdr.magic", HDR(magic), 4, 0x12345678u, LBF_EFOREIGN},
    {"hdr.version", HDR(version), 4, LBF_SHM_VERSION + 1, LBF_EVERSION},
    {"hdr.version 1", HDR(version), 4, 1, LBF_EVERSION},
    {"hdr.layout", HDR(layout), 4, LBF_SHM_LAYOUT ^ 4u, LBF_EVERSION},
    {"hdr.hdr_size", HDR(hdr_size), 4, 64, LBF_ELAYOUT},
    {"hdr.farm_size", HDR(farm_size), 4, 256, LBF_ELAYOUT},
    {"hdr.row_size", HDR(row_size), 4, 320, LBF_ELAYOUT},
    {"hdr.l_farms", HDR(l_farms), 4, 3, LBF_EDAMAGED},
    {"hdr.l_farms huge", HDR(l_farms), 4, 0xffffffffu, LBF_EDAMAGED},
    {"hdr.l_rows", HDR(l_rows), 4, 70000, LBF_EDAMAGED},
    {"hdr.sched_off", HDR(sched_off), 4, 64, LBF_EDAMAGED},
    {"hdr.sched_len", HDR(sched_len), 4, 1, LBF_EDAMAGED},
    {"hdr.total_len", HDR(total_len), 4, 0xfffffff0u, LBF_EDAMAGED},
    {"hdr.n_farms over", HDR(n_farms), 4, 3, LBF_EDAMAGED},
    {"hdr.n_farms under", HDR(n_farms), 4, 1, LBF_EDAMAGED},
    {"hdr.n_rows over", HDR(n_rows), 4, 9, LBF_EDAMAGED},
    {"hdr.n_rows under", HDR(n_rows), 4, 7, LBF_EDAMAGED},
    {"hdr.sched_used", HDR(sched_used), 4, 0xffffffffu, LBF_EDAMAGED},
    {"farm.magic", FARM(magic), 4, 0, LBF_EDAMAGED},
    {"farm.name unterminated", FARM(name), LBF_NAME_SIZE, 'x', LBF_EDAMAGED},
    {"farm.name empty", FARM(name), 1, 0, LBF_EDAMAGED},
    {"farm.first_row", FARM(first_row), 4, 0, LBF_EDAMAGED},
    {"farm.first_row huge", FARM(first_row), 4, 0xfffffffeu, LBF_EDAMAGED},
    {"farm.n_rows 50000000", FARM(n_rows), 4, 50000000, LBF_EDAMAGED},
    {"farm.n_rows over", FARM(n_rows), 4, 5, LBF_EDAMAGED},
    {"farm.l_rows 0", FARM(l_rows), 4, 0, LBF_EDAMAGED},
    {"farm.l_rows over", FARM(l_rows), 4, 5000, LBF_EDAMAGED},
    {"farm.sched_off", FARM(sched_off), 4, 0, LBF_EDAMAGED},
    {"farm.sched_cap", FARM(sched_cap), 4, 1, LBF_EDAMAGED},
    {"farm.sched period", FARM(sched), 4, 0xffffffffu, LBF_EDAMAGED},
    {"farm.admin", FARM(admin), 4, 9, LBF_EDAMAGED},
    {"farm.cfg_admin", FARM(cfg_admin), 4, 9, LBF_EDAMAGED},
    {"row.magic", ROW(magic), 4, 0, LBF_EDAMAGED},
    {"row.farm", ROW(farm), 4, 0, LBF_EDAMAGED},
    {"row.name unterminated", ROW(name), LBF_NAME_SIZE, 'n', LBF_EDAMAGED},
    {"row.name empty", ROW(name), 1, 0, LBF_EDAMAGED},
    {"row.url unterminated", ROW(url), LBF_URL_SIZE, 'u', LBF_EDAMAGED},
    {"row.admin", ROW(admin), 4, 7, LBF_EDAMAGED},
    {"row.cfg_admin", ROW(cfg_admin), 4, 7, LBF_EDAMAGED},
    {"row.weight 0", ROW(weight), 4, 0, LBF_EDAMAGED},
    {"row.weight 101", ROW(weight), 4, LBF_WEIGHT_MAX + 1, LBF_EDAMAGED},
    {"row.cfg_weight", ROW(cfg_weight), 4, 0, LBF_EDAMAGED},
    {"row.health", ROW(health), 4, 2, LBF_EDAMAGED},
    {"row.runtime", ROW(runtime), 4, 2, LBF_EDAMAGED},
    {"row.n_metrics", ROW(n_metrics), 4, LBF_METRICS_MAX + 1, LBF_EDAMAGED},
    {"row.n_metrics huge", ROW(n_metrics), 4, 0xffffffffu, LBF_EDAMAGED},
    {"row.metric name", ROW(metrics), LBF_METRIC_NAME, 'm', LBF_EDAMAGED},
    {"row.load_milli", ROW(load_milli), 4, 1001, LBF_EDAMAGED},
};

/* Where the record that d damages starts in the old segment at base. */
static size_t carry_record(const unsigned char *base,
                           const struct carry_damage *d)
{
    const struct lbf_hdr *hdr = (const void *)base;
    size_t farm = sizeof(struct lbf_hdr) + sizeof(struct lbf_farm);
    const struct lbf_farm *f = (const void *)(base + farm);

    if (d->at == AT_HDR) {
        return 0;
    }
    if (d->at == AT_FARM) {
        return farm;
    }
    return sizeof(struct lbf_hdr) + hdr->l_farms * sizeof(struct lbf_farm)
           + (f->first_row + 1) * sizeof(struct lbf_row); /* "y" */
}

/* Each field the carry reads, damaged in turn: refused with the expected
 * code and one line saying where; the new segment keeps its fresh state
 * (lbf_shm_carry_region, the parent's call). */
START_TEST(carry_refuses_each_damaged_field)
{
    size_t len, i;
    unsigned char *old = carry_old_segment(&len);
    unsigned char *bad = malloc(len);
    struct lbf_shm n;
    char why[256];

    ck_assert_ptr_nonnull(bad);
    for (i = 0; i < LBF_T_NELEMS(carry_damages); i++) {
        const struct carry_damage *d = &carry_damages[i];
        unsigned char *at;

        memcpy(bad, old, len);
        at = bad + carry_record(bad, d) + d->off;
        if (d->len == 4) {
            memcpy(at, &d->value, 4);
        }
        else {
            memset(at, (int)d->value, d->len);
        }
        ck_assert_msg(memcmp(bad, old, len) != 0, "%s: no damage", d->what);
        why[0] = '\0';
        ck_assert_msg(lbf_shm_check(bad, len, why, sizeof(why)) == d->rc,
                      "%s: check gave %d, want %d (%s)", d->what,
                      lbf_shm_check(bad, len, NULL, 0), d->rc, why);
        ck_assert_msg(why[0] != '\0' && strlen(why) < sizeof(why),
                      "%s: no reason given", d->what);
        carry_new_segment(&n);
        ck_assert_msg(lbf_shm_carry_region(&n, bad, len, why, sizeof(why))
                      == d->rc, "%s: carried (%s)", d->what, why);
        carry_assert_fresh(&n, d->what);
        ck_assert_int_eq(lbf_shm_carry(&n, &(struct lbf_shm){.base = bad,
                                       .len = len, .hdr = (void *)bad}), d->rc);
    }
    /* undamaged, the same copy is carried */
    carry_new_segment(&n);
    ck_assert_int_eq(lbf_shm_carry_region(&n, old, len, why, sizeof(why)),
                     7); /* a b c d, x y, and z */
    ck_assert_uint_eq(atomic_load(&carry_row(&n, lbf_farm_at(&n, 1),
                                             "y")->requests), 9);
    ck_assert_uint_eq(lbf_farm_at(&n, 1)->n_rows, 3); /* z, at runtime */
    free(bad);
    free(old);
}
END_TEST

/* The one line names the farm and the fault, e.g. the n_rows of a farm
 * set to 50,000,000 by a child (the crash of issue 12). */
START_TEST(carry_says_where_the_damage_is)
{
    size_t len;
    unsigned char *old = carry_old_segment(&len);
    struct lbf_farm *f = (void *)(old + sizeof(struct lbf_hdr)
                                  + sizeof(struct lbf_farm));
    char why[256];

    f->n_rows = 50000000;
    ck_assert_int_eq(lbf_shm_check(old, len, why, sizeof(why)),
                     LBF_EDAMAGED);
    ck_assert_str_eq(why, "farm 1 \"api\" (50000000 members in use, 4 rows "
                          "from row 4): more members in use than rows");
    f->n_rows = 3;
    memset(f->name, '\n', sizeof(f->name));
    ck_assert_int_eq(lbf_shm_check(old, len, why, sizeof(why)),
                     LBF_EDAMAGED);
    ck_assert_msg(strchr(why, '\n') == NULL, "control bytes logged: %s", why);
    ck_assert_int_eq(lbf_shm_check(old, sizeof(struct lbf_hdr) - 1, why,
                                   sizeof(why)), LBF_EFOREIGN);
    free(old);
}
END_TEST

/* Random damage, thousands of times (seeded: the same every run): the
 * carry either refuses or carries, the new segment stays sound, and
 * nothing reads outside the copy (ASan under make unit-asan). */
START_TEST(carry_survives_random_damage)
{
    static const uint32_t odd[] = {0, 1, 2, 3, 4, 5, 8, 0x7fffffffu,
                                   0x80000000u, 0xffffffffu, 50000000u,
                                   LBF_FARM_MEMBERS_MAX, LBF_ROWS_MAX + 1};
    size_t len;
    unsigned char *old = carry_old_segment(&len);
    unsigned char *bad = malloc(len);
    uint64_t rng = LBF_T_SEED;
    /* the records, not the schedule area: where damage matters */
    size_t span = sizeof(struct lbf_hdr) + 2 * sizeof(struct lbf_farm)
                  + 8 * sizeof(struct lbf_row);
    int iter, refused = 0, carried = 0;
    struct lbf_shm n;
    char why[256];

    ck_assert_ptr_nonnull(bad);
    for (iter = 0; iter < 3000; iter++) {
        int k, hits = 1 + (int)(lbf_rng_next(&rng) % 6), rc;

        memcpy(bad, old, len);
        for (k = 0; k < hits; k++) {
            uint64_t x = lbf_rng_next(&rng);
            size_t at = (size_t)(x % (x & 1 ? 256 : span)) & ~(size_t)3;
            uint32_t v = (x >> 32) & 1 ? odd[(x >> 40) % LBF_T_NELEMS(odd)]
                                       : (uint32_t)(x >> 24);

            memcpy(bad + at, &v, sizeof(v));
        }
        carry_new_segment(&n);
        why[0] = '\0';
        rc = lbf_shm_carry_region(&n, bad, len, why, sizeof(why));
        ck_assert_msg(rc >= 0 || rc == LBF_EFOREIGN || rc == LBF_EVERSION
                      || rc == LBF_ELAYOUT || rc == LBF_EDAMAGED,
                      "iteration %d: rc %d", iter, rc);
        ck_assert_msg(rc >= 0 || why[0] != '\0', "iteration %d: no reason",
                      iter);
        ck_assert_msg(lbf_shm_check(n.base, n.len, why, sizeof(why))
                      == LBF_OK, "iteration %d: new segment: %s", iter, why);
        refused += rc < 0;
        carried += rc >= 0;
    }
    ck_assert_int_gt(refused, 1000);
    ck_assert_int_gt(carried, 10);
    free(bad);
    free(old);
}
END_TEST

Suite *lbf_suite_carry(void)
{
    Suite *s = suite_create("carry");
    TCase *tc = tcase_create("restart");

    tcase_add_test(tc, carry_keeps_admin_weight_and_counters_by_name);
    tcase_add_test(tc, carry_rebuilds_schedule_from_carried_weights);
    tcase_add_test(tc, carry_with_nothing_in_common_carries_nothing);
    tcase_add_test(tc, carry_keeps_health_while_the_check_is_unchanged);
    tcase_add_test(tc, carry_keeps_health_of_runtime_members);
    tcase_add_test(tc, carry_refuses_each_damaged_field);
    tcase_add_test(tc, carry_says_where_the_damage_is);
    tcase_add_test(tc, carry_survives_random_damage);
    tcase_set_timeout(tc, LBF_T_TIMEOUT);
    suite_add_tcase(s, tc);
    return s;
}
