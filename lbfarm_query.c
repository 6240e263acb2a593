/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_query.c -- query mode: parse the question, render the answer
 * (format: lbfarm_query.h).  The decision itself is the glue's
 * (mod_lbfarm_query.c), made of the same core calls a request makes, with
 * lbf_pick_peek instead of lbf_pick_take.  No httpd types.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lbfarm_conf.h"
#include "lbfarm_query.h"

/* Printf into err; returns -1. */
static int lbf_q_bad(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int lbf_q_hex(char c)
{
    return (c >= '0' && c <= '9') ? c - '0'
         : (c >= 'a' && c <= 'f') ? c - 'a' + 10
         : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}

/* Decode v[0..n) (form encoding) into dst of cap bytes + NUL.  Returns
 * the decoded length, -1 on bad encoding or a NUL (raw or %00), -2 when
 * over cap. */
static long lbf_q_decode(const char *v, size_t n, char *dst, size_t cap)
{
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        int c = (unsigned char)v[i];

        if (c == '%') {
            int hi = i + 2 < n ? lbf_q_hex(v[i + 1]) : -1;
            int lo = i + 2 < n ? lbf_q_hex(v[i + 2]) : -1;

            if (hi < 0 || lo < 0) {
                return -1;
            }
            c = hi * 16 + lo;
            i += 2;
        }
        else if (c == '+') {
            c = ' ';
        }
        if (c == 0) {
            return -1; /* raw or as %00: values are C strings */
        }
        if (o == cap) {
            return -2;
        }
        dst[o++] = (char)c;
    }
    dst[o] = '\0';
    return (long)o;
}

/* The parameters, and which were seen. */
enum { LBF_QP_FARM, LBF_QP_COOKIE, LBF_QP_KEY, LBF_QP_FORMAT, LBF_QP_N };

/* One parameter k[0..kn) = v[0..vn) into q. */
static int lbf_q_param(struct lbf_query *q, unsigned *seen, const char *k,
                       size_t kn, const char *v, size_t vn, char *err,
                       size_t errlen)
{
    static const char *const names[] = {"farm", "cookie", "key", "format"};
    static const size_t caps[] = {LBF_NAME_SIZE - 1, LBF_QUERY_COOKIE_MAX,
                                  LBF_QUERY_KEY_MAX, 4};
    char fmt[8], *dst[LBF_QP_N];
    unsigned i;
    long n;

    dst[LBF_QP_FARM] = q->farm;
    dst[LBF_QP_COOKIE] = q->cookie;
    dst[LBF_QP_KEY] = q->key;
    dst[LBF_QP_FORMAT] = fmt;
    for (i = 0; i < LBF_QP_N; i++) {
        if (strlen(names[i]) == kn && memcmp(names[i], k, kn) == 0) {
            break;
        }
    }
    if (i == LBF_QP_N) {
        char shown[36];
        size_t j, m = kn > 32 ? 32 : kn;

        for (j = 0; j < m; j++) { /* never echo raw bytes */
            shown[j] = (k[j] > 0x20 && k[j] < 0x7f && k[j] != '"') ? k[j]
                                                                   : '?';
        }
        strcpy(shown + m, kn > m ? "..." : "");
        return lbf_q_bad(err, errlen, "\"%s\": unknown parameter (farm, "
                         "cookie, key, format)", shown);
    }
    if (*seen & (1u << i)) {
        return lbf_q_bad(err, errlen, "%s: duplicated", names[i]);
    }
    *seen |= 1u << i;
    if ((n = lbf_q_decode(v, vn, dst[i], caps[i])) < 0) {
        return n == -1 ? lbf_q_bad(err, errlen, "%s: bad percent-encoding "
                                   "or a NUL byte", names[i])
             : i == LBF_QP_FORMAT ? lbf_q_bad(err, errlen, "format: "
                                              "expected text or json")
             : lbf_q_bad(err, errlen, "%s: longer than %zu bytes", names[i],
                         caps[i]);
    }
    switch (i) {
    case LBF_QP_FARM:
        return lbf_name_valid(q->farm) ? 0
               : lbf_q_bad(err, errlen, "farm: invalid name (1..31 of "
                           "A-Z a-z 0-9 _ -)");
    case LBF_QP_COOKIE:
        q->has_cookie = 1;
        return 0;
    case LBF_QP_KEY:
        q->has_key = 1;
        q->key_len = (uint32_t)n;
        return 0;
    default:
        if (strcmp(fmt, "text") && strcmp(fmt, "json")) {
            return lbf_q_bad(err, errlen, "format: expected text or json");
        }
        q->json = strcmp(fmt, "json") == 0;
        return 0;
    }
}

int lbf_query_parse(const char *args, size_t len, struct lbf_query *q,
                    char *err, size_t errlen)
{
    unsigned seen = 0;
    size_t off = 0;

    memset(q, 0, sizeof(*q));
    err[0] = '\0';
    if (len > LBF_QUERY_ARGS_MAX) {
        return lbf_q_bad(err, errlen, "query: longer than %d bytes",
                         LBF_QUERY_ARGS_MAX);
    }
    while (off < len) {
        const char *f = args + off, *amp = memchr(f, '&', len - off);
        size_t fl = amp ? (size_t)(amp - f) : len - off;
        const char *eq = memchr(f, '=', fl);

        if (fl > 0) {
            size_t kn = eq ? (size_t)(eq - f) : fl;

            if (lbf_q_param(q, &seen, f, kn, eq ? eq + 1 : f + fl,
                            eq ? fl - kn - 1 : 0, err, errlen) != 0) {
                return -1;
            }
        }
        off += fl + 1;
    }
    if (!(seen & (1u << LBF_QP_FARM))) {
        return lbf_q_bad(err, errlen, "farm: missing");
    }
    return 0;
}

const char *lbf_query_why_name(int why)
{
    return why == LBF_WHY_STICKY ? "sticky"
         : why == LBF_WHY_METHOD ? "method" : "fallback";
}

/* ---- rendering ---- */

struct lbf_q_out {
    char *p;
    size_t len, cap;          /* len: bytes the whole answer needs */
};

/* Append s[0..n): what fits is written (always NUL-terminated), all of it
 * is counted. */
static void lbf_q_put(struct lbf_q_out *o, const char *s, size_t n)
{
    if (o->len + 1 < o->cap) {
        size_t room = o->cap - o->len - 1;

        memcpy(o->p + o->len, s, n < room ? n : room);
        o->p[o->len + (n < room ? n : room)] = '\0';
    }
    o->len += n;
}

static void lbf_q_str(struct lbf_q_out *o, const char *s)
{
    lbf_q_put(o, s, strlen(s));
}

/* s[0..n) for the text form: %XX for bytes outside [!-~] and '%'. */
static void lbf_q_text_val(struct lbf_q_out *o, const char *s, size_t n)
{
    size_t i;

    if (s == NULL) {
        lbf_q_str(o, "-");
        return;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char x[4];

        if (c > 0x20 && c < 0x7f && c != '%') {
            lbf_q_put(o, (const char *)&s[i], 1);
        }
        else {
            snprintf(x, sizeof(x), "%%%02X", c);
            lbf_q_put(o, x, 3);
        }
    }
    if (n == 0) {
        lbf_q_str(o, "\"\"");
    }
}

/* s[0..n) as a JSON string (null when NULL); \u00XX for controls and
 * bytes >= 0x7f, so the output is ASCII whatever the key holds. */
static void lbf_q_json_val(struct lbf_q_out *o, const char *s, size_t n)
{
    size_t i;

    if (s == NULL) {
        lbf_q_str(o, "null");
        return;
    }
    lbf_q_str(o, "\"");
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char x[8];

        if (c == '"' || c == '\\') {
            x[0] = '\\';
            x[1] = (char)c;
            lbf_q_put(o, x, 2);
        }
        else if (c < 0x20 || c >= 0x7f) {
            snprintf(x, sizeof(x), "\\u%04x", c);
            lbf_q_put(o, x, 6);
        }
        else {
            lbf_q_put(o, (const char *)&s[i], 1);
        }
    }
    lbf_q_str(o, "\"");
}

/* One field "name" = s[0..n) in the text or JSON form. */
static void lbf_q_field(struct lbf_q_out *o, int json, int first,
                        const char *name, const char *s, size_t n)
{
    lbf_q_str(o, first ? (json ? "{\"" : "") : (json ? ",\"" : " "));
    lbf_q_str(o, name);
    lbf_q_str(o, json ? "\":" : "=");
    (json ? lbf_q_json_val : lbf_q_text_val)(o, s, n);
}

size_t lbf_query_render(const struct lbf_query_answer *a, int json, char *out,
                        size_t outlen)
{
    struct lbf_q_out o = {out, 0, outlen};
    const char *f[] = {a->farm, a->member, lbf_query_why_name(a->why),
                       a->method, a->reason, a->fallback, a->moved_from,
                       a->key};
    static const char *const names[] = {"farm", "member", "why", "method",
                                        "reason", "fallback", "moved_from",
                                        "key"};
    size_t i;

    if (outlen > 0) {
        out[0] = '\0';
    }
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n = f[i] == NULL ? 0 : i == 7 ? a->key_len : strlen(f[i]);

        if (!json && f[i] == NULL && i >= 4) {
            continue; /* text: absent optional fields are left out */
        }
        lbf_q_field(&o, json, i == 0, names[i], f[i], n);
    }
    lbf_q_str(&o, json ? "}\n" : "\n");
    return o.len;
}
