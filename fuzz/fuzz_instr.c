/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * fuzz_instr.c -- libFuzzer target for the application's signed
 * instruction header X-LBFarm-Instruction (lbfarm_session.h: lbf_instr_*).
 * Keys come from fixed test secrets, the member is "app1", now is fixed.
 * The input (a C string, cut at the first NUL, as httpd hands a header
 * over) is used two ways:
 *
 *  1. as the header value: lbf_instr_parse (under two key sets) accepts
 *     it only when it is exactly lbf_instr_sign of its own text under one
 *     of the keys -- a random or mutated value never verifies -- and the
 *     result obeys the rules below;
 *  2. as the text to sign (the fuzzer cannot forge a signature, so this
 *     is what reaches the field parser): signed here with the test key,
 *     lbf_instr_parse must agree with a reference parser of
 *     "action[;farm=NAME][;ttl=N];ts=T" written here from the header's
 *     grammar, on the verdict and every field; the same value is refused
 *     for another member, under another key, and with any one byte
 *     changed; the error text is NUL-terminated within errlen (1..96
 *     tried), printable, and never holds the signature; then
 *     lbf_instr_decide plans the cookie the instruction asks (mode,
 *     lifetime min(ttl=, farm ttl), move target a known farm), and the
 *     cookie lbf_sess_plan_value builds from that plan parses back
 *     (lbf_sess_parse / lbf_move_parse) to the same member, mode, target
 *     and expiry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lbfarm_conf.h"
#include "lbfarm_session.h"

#include "fz_check.h"

#define FZ_NOW    1700000000u
#define FZ_MEMBER "app1"
#define FZ_TTL    3600u
#define FZ_SIGNED (LBF_INSTR_MAX + 80)

static struct lbf_sess_keys fz_keys[2];  /* [0] current, [1] rotated out */
static struct lbf_sess_keys fz_other;
static int fz_ready;

static void fz_init(void)
{
    static const char s0[] = "fuzz-instr-secret-0123456789";
    static const char s1[] = "fuzz-instr-secret-rotated-out";
    static const char s2[] = "fuzz-instr-secret-someone-else";

    lbf_sess_keys((const uint8_t *)s0, sizeof(s0) - 1, &fz_keys[0]);
    lbf_sess_keys((const uint8_t *)s1, sizeof(s1) - 1, &fz_keys[1]);
    lbf_sess_keys((const uint8_t *)s2, sizeof(s2) - 1, &fz_other);
    fz_ready = 1;
}

static void fz_check_err(const char *err, size_t errlen, const char *value)
{
    const char *end = memchr(err, '\0', errlen);
    const char *sig = strstr(value, ";sig=");
    const char *p;

    FZ_CHECK(end != NULL);
    for (p = err; p < end; p++) {
        FZ_CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p <= 0x7e);
    }
    if (sig != NULL && strlen(sig + 5) >= 16) {
        char part[17];

        memcpy(part, sig + 5, 16);
        part[16] = '\0';
        FZ_CHECK(strstr(err, part) == NULL);
    }
}

/* Reference field parser: the text grammar of the header. */
static int fz_ref(const char *t, struct lbf_instr *in)
{
    static const char *acts[] = {"stick", "stick-while-up", "unstick",
                                 "move"};
    size_t alen = strcspn(t, ";"), i, n;
    const char *p = t + alen;
    uint64_t ts = 0;

    memset(in, 0, sizeof(*in));
    for (i = 0; i < 4; i++) {
        if (strlen(acts[i]) == alen && strncmp(t, acts[i], alen) == 0) {
            in->action = (int)i + 1;
        }
    }
    if (in->action == 0) {
        return -1;
    }
    if (strncmp(p, ";farm=", 6) == 0) {
        n = strcspn(p + 6, ";");
        if (n >= LBF_NAME_SIZE) {
            return -1;
        }
        memcpy(in->farm, p + 6, n);
        p += 6 + n;
    }
    if (strncmp(p, ";ttl=", 5) == 0) {
        n = strcspn(p + 5, ";");
        if (n < 1 || n > 19 || in->action == LBF_INSTR_UNSTICK) {
            return -1;
        }
        for (i = 0; i < n; i++) {
            if (p[5 + i] < '0' || p[5 + i] > '9') {
                return -1;
            }
            ts = ts * 10 + (uint64_t)(p[5 + i] - '0');
        }
        if (ts == 0 || ts > LBF_SESS_TTL_MAX) {
            return -1;
        }
        in->ttl = (uint32_t)ts;
        p += 5 + n;
    }
    if (strncmp(p, ";ts=", 4) != 0) {
        return -1;
    }
    n = strlen(p + 4);
    if (n < 1 || n > 19 || strspn(p + 4, "0123456789") != n) {
        return -1;
    }
    for (ts = 0, i = 0; i < n; i++) {
        ts = ts * 10 + (uint64_t)(p[4 + i] - '0');
    }
    if ((in->action == LBF_INSTR_MOVE) != (in->farm[0] != '\0')
        || (in->farm[0] && !lbf_name_valid(in->farm))) {
        return -1;
    }
    in->ts = (int64_t)ts;
    /* the window, computed without overflow */
    if (ts > (uint64_t)INT64_MAX || ts > (uint64_t)FZ_NOW + LBF_INSTR_WINDOW
        || ts + LBF_INSTR_WINDOW < FZ_NOW) {
        return -1;
    }
    return 0;
}

/* 1. The input as a header value. */
static void fz_value(const char *v)
{
    struct lbf_instr in;
    char err[96], again[FZ_SIGNED];
    const char *sig = strstr(v, ";sig=");
    int rc = lbf_instr_parse(fz_keys, 2, FZ_MEMBER, v, FZ_NOW,
                             LBF_INSTR_WINDOW, &in, err, sizeof(err));
    int i, same = 0;

    FZ_CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        fz_check_err(err, sizeof(err), v);
        return;
    }
    FZ_CHECK(sig != NULL && strlen(v) <= LBF_INSTR_MAX);
    for (i = 0; i < 2; i++) {
        char text[LBF_INSTR_MAX + 1];

        memcpy(text, v, (size_t)(sig - v));
        text[sig - v] = '\0';
        lbf_instr_sign(fz_keys[i].app, FZ_MEMBER, text, again, sizeof(again));
        same |= strcmp(again, v) == 0;
    }
    FZ_CHECK(same);
}

/* Farms a move may go to. */
static int fz_farm_known(void *ctx, const char *name)
{
    (void)ctx;
    return strcasecmp(name, "shop") == 0 || strcasecmp(name, "web") == 0;
}

/* 2. The plan of a verified instruction, and the cookie it builds. */
static void fz_plan(const char *signed_v, const struct lbf_instr *ref)
{
    struct lbf_sess_conf c = {"web", fz_keys, 2, 1, 1, FZ_TTL};
    struct lbf_cookie_plan p;
    struct lbf_session s;
    char err[96], val[LBF_NAME_SIZE + 64], to[LBF_NAME_SIZE];
    char id[LBF_SESS_ID_HEX + 1];
    uint32_t life = ref->ttl && ref->ttl < FZ_TTL ? ref->ttl : FZ_TTL;
    int rc = lbf_instr_decide(&c, FZ_MEMBER, signed_v, FZ_NOW, fz_farm_known,
                              NULL, &p, err, sizeof(err));

    if (ref->action == LBF_INSTR_MOVE && !fz_farm_known(NULL, ref->farm)) {
        FZ_CHECK(rc == -1 && strcmp(err, "move to no farm") == 0);
        return;
    }
    FZ_CHECK(rc == 0);
    lbf_sess_member_id(&fz_keys[0], FZ_MEMBER, id);
    FZ_CHECK(lbf_sess_plan_value(&c, &p, id, FZ_NOW, val, sizeof(val)) == 0);
    switch (ref->action) {
    case LBF_INSTR_UNSTICK:
        FZ_CHECK(p.kind == LBF_PLAN_CLEAR && val[0] == '\0');
        return;
    case LBF_INSTR_MOVE:
        FZ_CHECK(p.kind == LBF_PLAN_MOVE && p.max_age == life);
        FZ_CHECK(strcmp(p.to, ref->farm) == 0);
        FZ_CHECK(lbf_move_parse(fz_keys, 1, "web", val, strlen(val), FZ_NOW,
                                to) == LBF_SESS_OK);
        FZ_CHECK(strcmp(to, ref->farm) == 0);
        FZ_CHECK(strtoul(val + strlen(val) - 41, NULL, 16) == FZ_NOW + life);
        return;
    default:
        FZ_CHECK(p.kind == LBF_PLAN_SESSION && p.max_age == life);
        FZ_CHECK(p.mode == (ref->action == LBF_INSTR_STICK
                                ? LBF_STICK_ALWAYS : LBF_STICK_WHILE_UP));
        FZ_CHECK(lbf_sess_parse(fz_keys, 1, "web", val, strlen(val), FZ_NOW,
                                &s) == LBF_SESS_OK);
        FZ_CHECK(s.mode == p.mode && strcmp(s.id, id) == 0
                 && s.expiry == FZ_NOW + life);
    }
}

/* 2. The input as the text of an instruction, signed here. */
static void fz_text(const char *t, const uint8_t *data, size_t size)
{
    struct lbf_instr in, ref;
    struct lbf_sess_conf off = {"web", fz_keys, 2, 1, 0, FZ_TTL};
    struct lbf_cookie_plan p;
    char v[FZ_SIGNED], err[96];
    size_t n, errlen;
    int rc, want;

    if (strlen(t) > LBF_INSTR_MAX) {
        return;
    }
    lbf_instr_sign(fz_keys[size & 1].app, FZ_MEMBER, t, v, sizeof(v));
    n = strlen(v);
    errlen = 1 + (size ? data[0] % sizeof(err) : 0);
    want = fz_ref(t, &ref);
    memset(&in, 0, sizeof(in));
    rc = lbf_instr_parse(fz_keys, 2, FZ_MEMBER, v, FZ_NOW, LBF_INSTR_WINDOW,
                         &in, err, errlen);
    if (n > LBF_INSTR_MAX || strstr(t, ";sig=") != NULL) {
        /* too long once signed, or a text that holds ";sig=": the value's
         * first ";sig=" is not ours */
        FZ_CHECK(rc == -1);
        fz_check_err(err, errlen, v);
        return;
    }
    FZ_CHECK(rc == want);
    if (rc != 0) {
        fz_check_err(err, errlen, v);
        return;
    }
    FZ_CHECK(in.action == ref.action && in.ttl == ref.ttl
             && in.ts == ref.ts && strcmp(in.farm, ref.farm) == 0);
    /* bound to member and key */
    FZ_CHECK(lbf_instr_parse(fz_keys, 2, "app2", v, FZ_NOW, LBF_INSTR_WINDOW,
                             &in, err, sizeof(err)) == -1);
    FZ_CHECK(lbf_instr_parse(&fz_other, 1, FZ_MEMBER, v, FZ_NOW,
                             LBF_INSTR_WINDOW, &in, err, sizeof(err)) == -1);
    FZ_CHECK(lbf_instr_decide(&off, FZ_MEMBER, v, FZ_NOW, fz_farm_known, NULL,
                              &p, err, sizeof(err)) == -1);
    fz_plan(v, &ref);
    /* one byte changed: refused */
    if (size >= 3) {
        size_t at = data[1] % n;

        v[at] = (char)(v[at] ^ (data[2] ? data[2] : 1));
        if (v[at] != '\0') {
            FZ_CHECK(lbf_instr_parse(fz_keys, 2, FZ_MEMBER, v, FZ_NOW,
                                     LBF_INSTR_WINDOW, &in, err, sizeof(err))
                     == -1);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (!fz_ready) {
        fz_init();
    }
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';
    fz_value(s);
    fz_text(s, data, size);
    free(s);
    return 0;
}
