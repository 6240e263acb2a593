/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * fuzz_route.c -- libFuzzer target for where a request's cookies send it:
 * the Cookie header read as the glue reads it (lbf_cookie_find for the
 * session cookie "lbf_web" and the LBFarmRouteCookie "ROUTEID", else
 * lbf_query_find for a "ROUTEID" query parameter in the same bytes), then
 * lbf_sticky_decide over a small segment (farm "web": members m0, m1, m2,
 * m2 offline) with the fixed test key.  The route value is what the
 * application sets, "<anything>.<member name>": it is parsed only here.
 *
 * Input: one flags byte (sticky, instructions, no key, excluded member),
 * then the Cookie header (a C string).  The decision must agree with a
 * reference written here from the header's rules:
 *  - a session cookie that verifies (lbf_sess_parse) and names a member:
 *    that member when it takes stuck clients (up, not excluded), else
 *    LBF_STICK_REFUSED for mode 'a' or -1 for 'w', the route not looked
 *    at; refresh exactly as lbf_sess_needs_refresh says;
 *  - else the route's text after its last '.', non-empty, naming a member
 *    in any case, that takes stuck clients: that member (LBF_STUCK_ROUTE);
 *  - else -1; a cookie verdict only where the farm counts cookies.
 * The route value is also handed over as its exact bytes (no NUL, so ASan
 * sees a read past it), and the member lookup is checked to be asked only
 * for bytes inside the value.  Then lbf_sess_plan_chosen: a session cookie
 * is planned exactly for a new client of a sticky farm or a refresh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lbfarm_cookie.h"
#include "lbfarm_method.h"
#include "lbfarm_session.h"
#include "lbfarm_shm.h"

#include "fz_check.h"

#define FZ_NOW     1700000000u
#define FZ_MEMBERS 3
#define FZ_TTL     3600u

static const char *fz_names[FZ_MEMBERS] = {"m0", "m1", "m2"};
static char fz_ids[FZ_MEMBERS][LBF_SESS_ID_HEX + 1];
static struct lbf_sess_keys fz_keys;
static struct lbf_shm fz_h;
static struct lbf_farm *fz_farm;
static int fz_ready;

/* The value being decided on, for the lookup's bounds check. */
static const char *fz_lo, *fz_hi;

static void fz_init(void)
{
    static const char secret[] = "fuzz-session-secret-0123456789";
    struct lbf_layout lay;
    size_t len;
    void *base;
    int i;

    lbf_sess_keys((const uint8_t *)secret, sizeof(secret) - 1, &fz_keys);
    memset(&lay, 0, sizeof(lay));
    lay.l_farms = 1;
    lay.l_rows = FZ_MEMBERS;
    lay.sched_len = lbf_sched_entries(FZ_MEMBERS);
    lay.generation = 1;
    len = lbf_shm_size(&lay);
    base = aligned_alloc(64, (len + 63) / 64 * 64);
    FZ_CHECK(base != NULL);
    memset(base, 0, len);
    FZ_CHECK(lbf_shm_format(&fz_h, base, len, &lay) == LBF_OK);
    FZ_CHECK(lbf_farm_add(&fz_h, "web", (uint32_t)lbf_method_find("weighted"),
                          FZ_MEMBERS) == 0);
    for (i = 0; i < FZ_MEMBERS; i++) {
        FZ_CHECK(lbf_member_add(&fz_h, 0, fz_names[i], 1, 0, 60) == i);
        lbf_sess_member_id(&fz_keys, fz_names[i], fz_ids[i]);
    }
    fz_farm = lbf_farm_at(&fz_h, 0);
    FZ_CHECK(lbf_farm_rebuild(&fz_h, fz_farm) == LBF_OK);
    lbf_member_set_cfg_admin(lbf_member_at(&fz_h, fz_farm, 2),
                             LBF_ADMIN_OFFLINE);
    fz_ready = 1;
}

static int fz_by_id(void *ctx, const char *id)
{
    int i;

    (void)ctx;
    for (i = 0; i < FZ_MEMBERS; i++) {
        if (strcmp(fz_ids[i], id) == 0) {
            return i;
        }
    }
    return -1;
}

static int fz_by_name(void *ctx, const char *name, size_t len)
{
    int i;

    (void)ctx;
    FZ_CHECK(len > 0 && name >= fz_lo && name + len <= fz_hi);
    FZ_CHECK(memchr(name, '.', len) == NULL);
    for (i = 0; i < FZ_MEMBERS; i++) {
        if (strlen(fz_names[i]) == len
            && strncasecmp(fz_names[i], name, len) == 0) {
            return i;
        }
    }
    return -1;
}

/* 1 when member mi takes a stuck client (m2 is offline). */
static int fz_takes(int mi, uint32_t exclude)
{
    return mi >= 0 && mi != 2 && (uint32_t)mi != exclude;
}

/* Reference route: the member named after the last '.', or -1. */
static int fz_route_ref(const char *v, size_t len)
{
    const char *dot = NULL;
    size_t i, nl;
    int mi;

    for (i = 0; i < len; i++) {
        dot = v[i] == '.' ? v + i : dot;
    }
    if (dot == NULL || (nl = (size_t)(v + len - dot - 1)) == 0) {
        return -1;
    }
    for (mi = 0; mi < FZ_MEMBERS; mi++) {
        if (strlen(fz_names[mi]) == nl
            && strncasecmp(fz_names[mi], dot + 1, nl) == 0) {
            return mi;
        }
    }
    return -1;
}

static void fz_decide(const struct lbf_sess_conf *c, const char *ck,
                      size_t cl, const char *rt, size_t rl, uint32_t exclude)
{
    struct lbf_sess_lookup lk = {fz_by_id, fz_by_name, NULL};
    struct lbf_sticky_req rq = {ck, cl, rt, rl};
    struct lbf_pick pk;
    struct lbf_sticky st;
    struct lbf_session s;
    struct lbf_cookie_plan p;
    int counted = (c->sticky || c->instructions) && c->nkeys > 0 && ck;
    int rc = counted ? lbf_sess_parse(c->keys, c->nkeys, c->farm, ck, cl,
                                      FZ_NOW, &s)
                     : -1;
    int mi = rc == LBF_SESS_OK ? fz_by_id(NULL, s.id) : -1;
    int want = -1, how = LBF_STUCK_NONE, rm;

    memset(&pk, 0, sizeof(pk));
    pk.h = &fz_h;
    pk.farm = fz_farm;
    pk.now = (uint64_t)FZ_NOW * 1000000u;
    pk.exclude = exclude;
    fz_lo = rt;
    fz_hi = rt ? rt + rl : NULL;
    lbf_sticky_decide(c, &rq, &lk, &pk, &st);
    FZ_CHECK(st.cookie_rc == rc);
    if (mi >= 0) {
        if (fz_takes(mi, exclude)) {
            want = mi;
            how = LBF_STUCK_COOKIE;
        }
        else if (s.mode == LBF_STICK_ALWAYS) {
            want = LBF_STICK_REFUSED;
        }
        FZ_CHECK(st.mode == s.mode && st.expiry == s.expiry);
        FZ_CHECK(st.refresh == (how == LBF_STUCK_COOKIE
                                && lbf_sess_needs_refresh(s.expiry, FZ_NOW,
                                                          c->ttl)));
    }
    else if (rt != NULL && fz_takes(rm = fz_route_ref(rt, rl), exclude)) {
        want = rm;
        how = LBF_STUCK_ROUTE;
    }
    FZ_CHECK(st.member == want && st.how == how);
    lbf_sess_plan_chosen(c, &st, &p);
    if (st.member >= 0 && c->nkeys > 0
        && ((how == LBF_STUCK_COOKIE && st.refresh)
            || (how == LBF_STUCK_NONE && c->sticky))) {
        FZ_CHECK(p.kind == LBF_PLAN_SESSION && p.max_age == c->ttl);
        FZ_CHECK(p.mode == (how == LBF_STUCK_NONE ? LBF_STICK_WHILE_UP
                                                  : st.mode));
    }
    else {
        FZ_CHECK(p.kind == LBF_PLAN_NONE);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lbf_sess_conf c;
    const char *ck, *rt;
    size_t cl = 0, rl = 0;
    uint32_t exclude;
    char *hdr, *exact;
    uint8_t f;

    if (!fz_ready) {
        fz_init();
    }
    if (size < 1 || (hdr = malloc(size)) == NULL) {
        return 0;
    }
    f = data[0];
    memcpy(hdr, data + 1, size - 1);
    hdr[size - 1] = '\0';
    c.farm = "web";
    c.keys = &fz_keys;
    c.nkeys = f & 4 ? 0 : 1;
    c.sticky = f & 1;
    c.instructions = (f >> 1) & 1;
    c.ttl = f & 8 ? 60 : FZ_TTL;
    exclude = (f >> 4) % 5 < 3 ? (f >> 4) % 5 : LBF_NO_MEMBER;
    ck = lbf_cookie_find(hdr, "lbf_web", &cl);
    rt = lbf_cookie_find(hdr, "ROUTEID", &rl);
    if (rt == NULL) { /* the glue's next place: the query parameter */
        rt = lbf_query_find(hdr, "ROUTEID", &rl);
    }
    fz_decide(&c, ck, cl, rt, rl, exclude);
    /* the route alone, as exact bytes */
    if (rt != NULL && (exact = malloc(rl ? rl : 1)) != NULL) {
        memcpy(exact, rt, rl);
        fz_decide(&c, NULL, 0, exact, rl, exclude);
        free(exact);
    }
    free(hdr);
    return 0;
}
