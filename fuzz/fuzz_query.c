/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * fuzz_query.c -- libFuzzer target for query mode's question and answer
 * (lbfarm_query.h).  Every input is a query string, the exact bytes (no
 * NUL added, so ASan sees a read past the end):
 *
 *  1. lbf_query_parse: err NUL-terminated and printable, empty on success,
 *     starting with a parameter name ("farm: ...") or a quoted one on a
 *     failure; a success gives a valid farm name, a cookie and a key
 *     without NUL within their limits;
 *  2. the round trip: the parsed values, percent-encoded here byte by
 *     byte, parse back to exactly the same question;
 *  3. lbf_query_render of an answer carrying the parsed farm and key (and
 *     the cookie as the fallback URL), in both forms and in every why:
 *     never past the buffer, the same length whether measured or written,
 *     one complete line of printable ASCII whenever it fits
 *     LBF_QUERY_OUT_MAX (always, but for a long fallback URL), the JSON
 *     form with balanced quotes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbfarm_conf.h"
#include "lbfarm_query.h"

#include "fz_check.h"

static char fz_enc[LBF_QUERY_ARGS_MAX * 4];

static void fz_check_err(const char *err, size_t errlen)
{
    const char *end = memchr(err, '\0', errlen);
    const char *p;

    FZ_CHECK(end != NULL && end > err);
    for (p = err; p < end; p++) {
        FZ_CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p <= 0x7e);
    }
    FZ_CHECK(err[0] == '"' || strchr(err, ':') != NULL);
}

/* Append "&name=" and v[0..n) with every byte as %XX to fz_enc at *o. */
static void fz_put(size_t *o, const char *name, const char *v, size_t n)
{
    size_t i;

    *o += (size_t)snprintf(fz_enc + *o, sizeof(fz_enc) - *o, "%s%s=",
                           *o ? "&" : "", name);
    for (i = 0; i < n; i++) {
        *o += (size_t)snprintf(fz_enc + *o, sizeof(fz_enc) - *o, "%%%02X",
                               (unsigned char)v[i]);
    }
}

static void fz_roundtrip(const struct lbf_query *q)
{
    struct lbf_query q2;
    char err[160];
    size_t o = 0;

    fz_put(&o, "farm", q->farm, strlen(q->farm));
    if (q->has_cookie) {
        fz_put(&o, "cookie", q->cookie, strlen(q->cookie));
    }
    if (q->has_key) {
        fz_put(&o, "key", q->key, q->key_len);
    }
    o += (size_t)snprintf(fz_enc + o, sizeof(fz_enc) - o, "&format=%s",
                          q->json ? "json" : "text");
    if (o > LBF_QUERY_ARGS_MAX) {
        return; /* legal values can encode past the query limit */
    }
    FZ_CHECK(lbf_query_parse(fz_enc, o, &q2, err, sizeof(err)) == 0);
    FZ_CHECK(strcmp(q2.farm, q->farm) == 0 && q2.json == q->json);
    FZ_CHECK(q2.has_cookie == q->has_cookie
             && strcmp(q2.cookie, q->cookie) == 0);
    FZ_CHECK(q2.has_key == q->has_key && q2.key_len == q->key_len
             && memcmp(q2.key, q->key, q->key_len) == 0);
}

/* One rendered answer: complete, printable, well formed (JSON: every
 * string closed, escapes followed by a character). */
static void fz_check_out(const char *out, size_t n, int json)
{
    size_t i;
    int in_str = 0;

    FZ_CHECK(n > 0 && n < LBF_QUERY_OUT_MAX && out[n] == '\0');
    FZ_CHECK(out[n - 1] == '\n' && strlen(out) == n);
    for (i = 0; i + 1 < n; i++) {
        FZ_CHECK((unsigned char)out[i] >= 0x20
                 && (unsigned char)out[i] <= 0x7e);
        if (json && in_str && out[i] == '\\') {
            FZ_CHECK(i + 2 < n && strchr("\"\\u", out[i + 1]) != NULL);
            i++;
        }
        else if (json && out[i] == '"') {
            in_str = !in_str;
        }
    }
    if (json) {
        FZ_CHECK(out[0] == '{' && out[n - 2] == '}' && !in_str);
    }
    else {
        FZ_CHECK(strncmp(out, "farm=", 5) == 0);
    }
}

static void fz_render(const struct lbf_query *q)
{
    static char out[LBF_QUERY_OUT_MAX + 1];
    struct lbf_query_answer a;
    int why, json;

    for (why = LBF_WHY_STICKY; why <= LBF_WHY_FALLBACK; why++) {
        memset(&a, 0, sizeof(a));
        a.farm = q->farm;
        a.moved_from = q->json ? q->farm : NULL;
        a.member = why == LBF_WHY_FALLBACK ? NULL : q->farm;
        a.why = why;
        a.method = "weighted";
        a.reason = why == LBF_WHY_FALLBACK ? "no-usable-member" : NULL;
        a.fallback = why == LBF_WHY_FALLBACK ? q->cookie : NULL;
        a.key = q->has_key ? q->key : NULL;
        a.key_len = q->key_len;
        for (json = 0; json <= 1; json++) {
            size_t need = lbf_query_render(&a, json, NULL, 0), n;

            out[LBF_QUERY_OUT_MAX] = 'X';
            n = lbf_query_render(&a, json, out, LBF_QUERY_OUT_MAX);
            FZ_CHECK(n == need && out[LBF_QUERY_OUT_MAX] == 'X');
            if (n < LBF_QUERY_OUT_MAX) {
                fz_check_out(out, n, json);
            }
            else {
                FZ_CHECK(strlen(out) == LBF_QUERY_OUT_MAX - 1); /* cut */
                FZ_CHECK(why == LBF_WHY_FALLBACK); /* only a long URL */
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct lbf_query q;
    char err[160];

    if (lbf_query_parse((const char *)data, size, &q, err, sizeof(err))) {
        fz_check_err(err, sizeof(err));
        return 0;
    }
    FZ_CHECK(err[0] == '\0');
    FZ_CHECK(lbf_name_valid(q.farm));
    FZ_CHECK(strlen(q.cookie) <= LBF_QUERY_COOKIE_MAX);
    FZ_CHECK(q.has_cookie || q.cookie[0] == '\0');
    FZ_CHECK(q.key_len <= LBF_QUERY_KEY_MAX && q.key[q.key_len] == '\0');
    FZ_CHECK(memchr(q.key, '\0', q.key_len) == NULL);
    FZ_CHECK(q.has_key || q.key_len == 0);
    fz_roundtrip(&q);
    fz_render(&q);
    return 0;
}
