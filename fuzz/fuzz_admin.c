/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * fuzz_admin.c -- libFuzzer target for what an administrative POST to the
 * status page must pass (lbfarm_admin.h).  The input is:
 *
 *   FORM BODY \n ALLOWED ORIGIN \n REQUEST ORIGIN
 *
 * (missing parts are empty), each part copied into a buffer of its exact
 * size so that ASan sees a read past it:
 *
 *  - lbf_admin_parse on the body (len bytes, body[len] writable) and held
 *    to its contract: on success a known action with the fields it needs,
 *    each of the right shape and inside the body; on failure an error line
 *    "<field>: <problem>" that fits errlen, for errlen 1..256;
 *  - lbf_origin_parse on the allowed origin, with and without wildcards:
 *    a result is http/https, a lowercase host of the allowed bytes, a port
 *    1..65535; no wildcards implies the same result with them; printing
 *    it back as scheme://host:port parses to the same origin and (without
 *    a wildcard) is allowed by it;
 *  - lbf_origin_allowed with the request origin as Origin and as Referer:
 *    only 0 or 1, 1 only for a request origin of the same scheme and port;
 *  - lbf_host_valid on each part: a valid host is short and made of name
 *    or address bytes;
 *  - lbf_status_sid_valid against the rule, and a nonce accepted only for
 *    its own session.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbfarm_admin.h"
#include "lbfarm_conf.h"
#include "lbfarm_shm.h"

#include "fz_check.h"

/* A copy of p[0..n) in a buffer of n + extra bytes (NUL after n when
 * extra > 0). */
static char *fz_dup(const uint8_t *p, size_t n, size_t extra)
{
    char *s = malloc(n + extra ? n + extra : 1);

    FZ_CHECK(s != NULL);
    memcpy(s, p, n);
    if (extra > 0) {
        s[n] = '\0';
    }
    return s;
}

/* 1 when the string p lies inside [base, base + n]. */
static int fz_inside(const char *p, const char *base, size_t n)
{
    return p >= base && p + strlen(p) <= base + n;
}

/* ------------------------------------------------------------------ */
/* The form                                                            */

static void fz_form_ok(const struct lbf_admin_req *q, const char *body,
                       size_t len)
{
    const char *c;

    FZ_CHECK(q->action >= LBF_ACT_MEMBER_STATE
             && q->action <= LBF_ACT_MEMBER_REMOVE);
    FZ_CHECK(q->farm != NULL && lbf_name_valid(q->farm));
    FZ_CHECK(fz_inside(q->farm, body, len));
    FZ_CHECK(q->nonce == NULL || fz_inside(q->nonce, body, len));
    if (q->action == LBF_ACT_FARM_STATE) {
        FZ_CHECK(q->member == NULL);
        FZ_CHECK(q->state == LBF_ADMIN_ENABLED
                 || q->state == LBF_ADMIN_OFFLINE);
    }
    else {
        FZ_CHECK(q->member != NULL && lbf_name_valid(q->member));
        FZ_CHECK(fz_inside(q->member, body, len));
    }
    if (q->action == LBF_ACT_MEMBER_STATE) {
        FZ_CHECK(q->state <= LBF_ADMIN_DRAIN);
    }
    if (q->action == LBF_ACT_MEMBER_WEIGHT
        || q->action == LBF_ACT_MEMBER_ADD) {
        FZ_CHECK(q->weight >= 1 && q->weight <= LBF_WEIGHT_MAX);
    }
    FZ_CHECK((q->url != NULL) == (q->action == LBF_ACT_MEMBER_ADD));
    if (q->url != NULL) {
        FZ_CHECK(fz_inside(q->url, body, len));
        FZ_CHECK(*q->url != '\0' && strlen(q->url) < LBF_URL_SIZE);
        for (c = q->url; *c; c++) {
            FZ_CHECK((unsigned char)*c > 0x20 && (unsigned char)*c < 0x7f);
        }
    }
}

static void fz_form(const uint8_t *p, size_t n)
{
    static const char *const fields[] = {
        "action: ", "nonce: ", "farm: ", "member: ", "state: ",
        "weight: ", "url: ", "body: "};
    static const size_t errlens[] = {1, 2, 3, 5, 8, 16, 64, 256};
    struct lbf_admin_req q;
    char *body, *err;
    size_t e, k;
    int rc;

    if (n > LBF_ADMIN_BODY_MAX) {
        return;
    }
    for (e = 0; e < sizeof(errlens) / sizeof(errlens[0]); e++) {
        body = fz_dup(p, n, 1); /* body[n] writable, as the glue gives it */
        err = malloc(errlens[e]); /* exact size: ASan sees an overflow */
        FZ_CHECK(err != NULL);
        memset(err, 'X', errlens[e]);
        rc = lbf_admin_parse(body, n, &q, err, errlens[e]);
        FZ_CHECK(rc == 0 || rc == -1);
        if (rc == 0) {
            fz_form_ok(&q, body, n);
        }
        else {
            FZ_CHECK(memchr(err, '\0', errlens[e]) != NULL);
            for (k = 0; errlens[e] == 256
                        && k < sizeof(fields) / sizeof(fields[0]); k++) {
                if (!strncmp(err, fields[k], strlen(fields[k]))) {
                    break;
                }
            }
            FZ_CHECK(errlens[e] < 256
                     || k < sizeof(fields) / sizeof(fields[0]));
        }
        free(err);
        free(body);
    }
}

/* ------------------------------------------------------------------ */
/* Origins                                                             */

static void fz_origin_ok(const struct lbf_origin *o, int wild)
{
    size_t i, len = strlen(o->host);

    FZ_CHECK(!strcmp(o->scheme, "http") || !strcmp(o->scheme, "https"));
    FZ_CHECK(len >= 1 && len < LBF_ORIGIN_HOST);
    FZ_CHECK(o->port >= 1 && o->port <= 65535);
    for (i = 0; i < len; i++) {
        char c = o->host[i];

        FZ_CHECK(!(c >= 'A' && c <= 'Z'));
        FZ_CHECK(strchr("abcdefghijklmnopqrstuvwxyz0123456789.-_:[]*?", c)
                 != NULL);
        FZ_CHECK(wild || (c != '*' && c != '?'));
    }
}

static void fz_origin(const uint8_t *a, size_t an, const uint8_t *b,
                      size_t bn)
{
    char *as = fz_dup(a, an, 0), *bs = fz_dup(b, bn, 1), again[320];
    struct lbf_origin o, w, r;
    int rc, rw, got;

    memset(&w, 0, sizeof(w));
    rc = lbf_origin_parse(as, an, 0, &o);
    rw = lbf_origin_parse(as, an, 1, &w);

    FZ_CHECK(rc == 0 || rc == -1);
    FZ_CHECK(rw == 0 || rw == -1);
    if (rc == 0) {
        fz_origin_ok(&o, 0);
        FZ_CHECK(rw == 0 && !strcmp(o.scheme, w.scheme)
                 && !strcmp(o.host, w.host) && o.port == w.port);
    }
    if (rw == 0) {
        fz_origin_ok(&w, 1);
        snprintf(again, sizeof(again), "%s://%s:%u", w.scheme, w.host,
                 (unsigned)w.port);
        FZ_CHECK(lbf_origin_parse(again, strlen(again), 1, &r) == 0);
        FZ_CHECK(!strcmp(r.scheme, w.scheme) && !strcmp(r.host, w.host)
                 && r.port == w.port);
        if (strpbrk(w.host, "*?") == NULL) {
            FZ_CHECK(lbf_origin_allowed(&w, 1, again, NULL) == 1);
        }
        got = lbf_origin_allowed(&w, 1, bs, NULL);
        FZ_CHECK(got == 0 || got == 1);
        if (got == 1) {
            /* a header is a C string: it ends at its first NUL */
            FZ_CHECK(lbf_origin_parse(bs, strlen(bs), 0, &r) == 0);
            FZ_CHECK(!strcmp(r.scheme, w.scheme) && r.port == w.port);
        }
        got = lbf_origin_allowed(&w, 1, NULL, bs);
        FZ_CHECK(got == 0 || got == 1);
    }
    FZ_CHECK(lbf_origin_allowed(&w, 0, bs, bs) == 0);
    free(as);
    free(bs);
}

/* ------------------------------------------------------------------ */
/* Hosts and sessions                                                  */

static void fz_host(const uint8_t *p, size_t n)
{
    char *s = fz_dup(p, n, 1);
    size_t len = strlen(s);

    if (lbf_host_valid(s)) {
        FZ_CHECK(len >= 1 && len <= 253);
        FZ_CHECK(strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
                           "VWXYZ0123456789._-:") == len);
    }
    free(s);
}

static void fz_session(const uint8_t *p, size_t n)
{
    static const uint8_t key[LBF_ADMIN_KEY] = {1, 2, 3};
    char *s = fz_dup(p, n, 1), nonce[LBF_NONCE_HEX + 1];
    size_t len = strlen(s);
    int want = len == LBF_SID_HEX
               && strspn(s, "0123456789abcdef") == LBF_SID_HEX;

    FZ_CHECK(lbf_status_sid_valid(s) == want);
    if (want) {
        FZ_CHECK(lbf_status_nonce(key, s, nonce) == 0);
        FZ_CHECK(lbf_status_nonce_ok(key, s, nonce) == 1);
        FZ_CHECK(lbf_status_nonce_ok(key, s, s) == 0);
    }
    /* the input as a nonce of a fixed session: refused (2^-256 aside) */
    FZ_CHECK(lbf_status_nonce_ok(key, "0123456789abcdef0123456789abcdef", s)
             == 0);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *end = data + size, *a, *b;
    size_t n1, n2, n3;

    a = memchr(data, '\n', size);
    n1 = a ? (size_t)(a - data) : size;
    a = a ? a + 1 : end;
    b = memchr(a, '\n', (size_t)(end - a));
    n2 = b ? (size_t)(b - a) : (size_t)(end - a);
    b = b ? b + 1 : end;
    n3 = (size_t)(end - b);
    fz_form(data, n1);
    fz_origin(a, n2, b, n3);
    fz_host(data, n1);
    fz_host(a, n2);
    fz_session(b, n3);
    return 0;
}
