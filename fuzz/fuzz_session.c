/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * fuzz_session.c -- libFuzzer target for the sticky-session cookie, the
 * move cookie and the Cookie / Set-Cookie text around them
 * (lbfarm_session.h, lbfarm_cookie.h).  Keys come from fixed test
 * secrets; "now" is fixed.  Every input is used four ways:
 *
 *  1. as a cookie value, the exact bytes (no NUL added, so ASan sees a
 *     read past the end), through lbf_sess_parse and lbf_move_parse under
 *     two key sets (rotation): a verdict is one of the lbf_sess_rc, the
 *     output is untouched unless LBF_SESS_OK, and an accepted value is
 *     exactly what the builder makes of the parsed fields under one of
 *     the keys (so no other spelling of a cookie verifies), not expired,
 *     and is refused (LBF_SESS_FORGED) for another farm or another key;
 *  2. as fields for the builders (mode, id, expiry; a move target): the
 *     built cookie is exactly 62 bytes (a move one 44 + its target),
 *     parses back to the same fields (or LBF_SESS_EXPIRED when expiry <=
 *     now), is LBF_SESS_FORGED for another farm or key, and with any one
 *     byte changed is refused as MALFORMED or FORGED, never accepted;
 *     a too small buffer gives "" rather than a cut cookie (one input in
 *     eight: the last byte a multiple of 8; this part costs ~14 HMACs);
 *  3. as a Cookie header (a C string): lbf_cookie_find for several names
 *     agrees with a reference tokenizer written here (first "name=" at
 *     the start of a ';'-separated part after blanks; value up to the next
 *     ';', trailing blanks trimmed), pointer and length;
 *  4. as a cookie value for lbf_cookie_format: refused exactly when it
 *     holds a byte that is not a cookie-octet; a result fits the buffer
 *     (for every size tried), holds no control byte (no header
 *     injection), and lbf_cookie_find reads the value back from it; and
 *     as a SameSite option: lbf_cookie_samesite_parse and _name round
 *     trip.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lbfarm_conf.h"
#include "lbfarm_cookie.h"
#include "lbfarm_session.h"

#include "fz_check.h"

#define FZ_NOW  1700000000u
#define FZ_FARM "web"
#define FZ_MOVE_MAX (2 + 31 + 1 + 8 + 1 + 32)

static struct lbf_sess_keys fz_keys[2];  /* [0] current, [1] rotated out */
static struct lbf_sess_keys fz_other;    /* another balancer's secret */
static int fz_ready;

static void fz_init(void)
{
    static const char s0[] = "fuzz-session-secret-0123456789";
    static const char s1[] = "fuzz-session-secret-rotated-out";
    static const char s2[] = "fuzz-session-secret-someone-else";

    lbf_sess_keys((const uint8_t *)s0, sizeof(s0) - 1, &fz_keys[0]);
    lbf_sess_keys((const uint8_t *)s1, sizeof(s1) - 1, &fz_keys[1]);
    lbf_sess_keys((const uint8_t *)s2, sizeof(s2) - 1, &fz_other);
    fz_ready = 1;
}

static int fz_lhex(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

/* 1. An arbitrary session cookie value. */
static void fz_sess_any(const uint8_t *data, size_t size)
{
    struct lbf_session s, sentinel, again;
    char enc[64];
    int rc, i, same = 0;

    memset(&sentinel, 0x5a, sizeof(sentinel));
    s = sentinel;
    rc = lbf_sess_parse(fz_keys, 2, FZ_FARM, (const char *)data, size, FZ_NOW,
                        &s);
    FZ_CHECK(rc >= LBF_SESS_OK && rc <= LBF_SESS_EXPIRED);
    if (rc != LBF_SESS_OK) {
        FZ_CHECK(memcmp(&s, &sentinel, sizeof(s)) == 0);
        return;
    }
    FZ_CHECK(size == LBF_SESS_COOKIE_LEN && s.expiry > FZ_NOW);
    FZ_CHECK(s.mode == LBF_STICK_WHILE_UP || s.mode == LBF_STICK_ALWAYS);
    FZ_CHECK(strlen(s.id) == LBF_SESS_ID_HEX && fz_lhex(s.id, 16));
    for (i = 0; i < 2; i++) {
        lbf_sess_encode(&fz_keys[i], FZ_FARM, &s, enc, sizeof(enc));
        same |= strlen(enc) == size && memcmp(enc, data, size) == 0;
    }
    FZ_CHECK(same);
    FZ_CHECK(lbf_sess_parse(fz_keys, 2, "web2", (const char *)data, size,
                            FZ_NOW, &again) == LBF_SESS_FORGED);
    FZ_CHECK(lbf_sess_parse(&fz_other, 1, FZ_FARM, (const char *)data, size,
                            FZ_NOW, &again) == LBF_SESS_FORGED);
}

/* 1. An arbitrary move cookie value. */
static void fz_move_any(const uint8_t *data, size_t size)
{
    char to[LBF_NAME_SIZE], enc[LBF_NAME_SIZE + 64], to2[LBF_NAME_SIZE];
    int rc, i, same = 0;

    memset(to, 0x5a, sizeof(to));
    rc = lbf_move_parse(fz_keys, 2, FZ_FARM, (const char *)data, size, FZ_NOW,
                        to);
    FZ_CHECK(rc >= LBF_SESS_OK && rc <= LBF_SESS_EXPIRED);
    if (rc != LBF_SESS_OK) {
        return; /* to may hold a candidate name: only OK makes it count */
    }
    FZ_CHECK(lbf_name_valid(to) && size == 44 + strlen(to));
    for (i = 0; i < 2; i++) {
        uint32_t exp = (uint32_t)strtoul((const char *)data + size - 41, NULL,
                                         16);

        FZ_CHECK(exp > FZ_NOW);
        lbf_move_encode(&fz_keys[i], FZ_FARM, to, exp, enc, sizeof(enc));
        same |= strlen(enc) == size && memcmp(enc, data, size) == 0;
    }
    FZ_CHECK(same);
    FZ_CHECK(lbf_move_parse(fz_keys, 2, "web2", (const char *)data, size,
                            FZ_NOW, to2) == LBF_SESS_FORGED);
    FZ_CHECK(lbf_move_parse(&fz_other, 1, FZ_FARM, (const char *)data, size,
                            FZ_NOW, to2) == LBF_SESS_FORGED);
}

static uint32_t fz_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16
           | (uint32_t)p[3] << 24;
}

/* Change byte pos of v[0..n) to something else (by x, never 0). */
static void fz_flip(char *v, size_t n, uint8_t pos, uint8_t x)
{
    size_t at = pos % n;

    v[at] = (char)(v[at] ^ (x ? x : 1));
}

/* 2. The session cookie builder, round trip and one changed byte. */
static void fz_sess_build(const uint8_t *data, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    struct lbf_session s, got;
    char enc[64], small[62];
    uint32_t now;
    int i, rc;

    if (size < 15) {
        return;
    }
    s.mode = data[0] & 1 ? LBF_STICK_ALWAYS : LBF_STICK_WHILE_UP;
    for (i = 0; i < 8; i++) {
        s.id[2 * i] = hex[data[1 + i] >> 4];
        s.id[2 * i + 1] = hex[data[1 + i] & 15];
    }
    s.id[16] = '\0';
    s.expiry = fz_u32(data + 9);
    now = data[0] & 2 ? s.expiry - 1 : FZ_NOW; /* often not expired */
    lbf_sess_encode(&fz_keys[data[0] & 4 ? 1 : 0], FZ_FARM, &s, enc,
                    sizeof(enc));
    FZ_CHECK(strlen(enc) == LBF_SESS_COOKIE_LEN);
    lbf_sess_encode(&fz_keys[0], FZ_FARM, &s, small, sizeof(small));
    FZ_CHECK(small[0] == '\0');
    rc = lbf_sess_parse(fz_keys, 2, FZ_FARM, enc, LBF_SESS_COOKIE_LEN, now,
                        &got);
    if (s.expiry <= now) {
        FZ_CHECK(rc == LBF_SESS_EXPIRED);
    }
    else {
        FZ_CHECK(rc == LBF_SESS_OK && got.mode == s.mode
                 && got.expiry == s.expiry && strcmp(got.id, s.id) == 0);
    }
    FZ_CHECK(lbf_sess_parse(&fz_keys[data[0] & 4 ? 1 : 0], 1, "WEB", enc,
                            LBF_SESS_COOKIE_LEN, now, &got)
             == LBF_SESS_FORGED);
    FZ_CHECK(lbf_sess_parse(&fz_other, 1, FZ_FARM, enc, LBF_SESS_COOKIE_LEN,
                            now, &got) == LBF_SESS_FORGED);
    for (i = 13; i + 1 < (int)size && i < 13 + 4; i += 2) {
        char bad[64];

        memcpy(bad, enc, sizeof(bad));
        fz_flip(bad, LBF_SESS_COOKIE_LEN, data[i], data[i + 1]);
        rc = lbf_sess_parse(fz_keys, 2, FZ_FARM, bad, LBF_SESS_COOKIE_LEN, now,
                            &got);
        FZ_CHECK(rc == LBF_SESS_MALFORMED || rc == LBF_SESS_FORGED);
    }
}

/* 2. The move cookie builder: target from the input. */
static void fz_move_build(const uint8_t *data, size_t size)
{
    static const char nm[] = "abcdefghijklmnopqrstuvwxyz0123456789_-"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    char to[LBF_NAME_SIZE], got[LBF_NAME_SIZE], enc[LBF_NAME_SIZE + 64];
    char small[44];
    size_t tl, i, n;
    uint32_t exp;
    int rc;

    if (size < 8) {
        return;
    }
    tl = 1 + data[0] % 31;
    exp = fz_u32(data + 1);
    for (i = 0; i < tl; i++) {
        to[i] = nm[data[(5 + i) % size] % (i == 0 ? 36 : sizeof(nm) - 1)];
    }
    to[tl] = '\0';
    FZ_CHECK(lbf_name_valid(to));
    lbf_move_encode(&fz_keys[0], FZ_FARM, to, exp, enc, sizeof(enc));
    n = strlen(enc);
    FZ_CHECK(n == 44 + tl && n <= FZ_MOVE_MAX);
    lbf_move_encode(&fz_keys[0], FZ_FARM, to, exp, small, sizeof(small));
    FZ_CHECK(small[0] == '\0');
    rc = lbf_move_parse(fz_keys, 2, FZ_FARM, enc, n, FZ_NOW, got);
    FZ_CHECK(rc == (exp > FZ_NOW ? LBF_SESS_OK : LBF_SESS_EXPIRED));
    FZ_CHECK(rc != LBF_SESS_OK || strcmp(got, to) == 0);
    FZ_CHECK(lbf_move_parse(fz_keys, 1, "other", enc, n, FZ_NOW, got)
             == LBF_SESS_FORGED);
    FZ_CHECK(lbf_move_parse(&fz_other, 1, FZ_FARM, enc, n, FZ_NOW, got)
             == LBF_SESS_FORGED);
    fz_flip(enc, n, data[size - 2], data[size - 1]);
    rc = lbf_move_parse(fz_keys, 2, FZ_FARM, enc, n, FZ_NOW, got);
    FZ_CHECK(rc == LBF_SESS_MALFORMED || rc == LBF_SESS_FORGED);
}

/* Reference lbf_cookie_find. */
static const char *fz_find_ref(const char *hdr, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    const char *p = hdr;

    for (;;) {
        const char *end = strchr(p, ';');

        p += strspn(p, " \t");
        if (end == NULL) {
            end = p + strlen(p);
        }
        if (p < end && (size_t)(end - p) > nl && memcmp(p, name, nl) == 0
            && p[nl] == '=') {
            const char *v = p + nl + 1;

            *len = (size_t)(end - v);
            while (*len > 0 && (v[*len - 1] == ' ' || v[*len - 1] == '\t')) {
                (*len)--;
            }
            return v;
        }
        if (*end == '\0') {
            return NULL;
        }
        p = end + 1;
    }
}

/* 3. The input as a Cookie header. */
static void fz_find(const char *hdr)
{
    static const char *names[] = {"lbf_web", "ROUTEID", "a", "lbfmv_web"};
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t len = 7777, rlen = 8888;
        const char *v = lbf_cookie_find(hdr, names[i], &len);
        const char *r = fz_find_ref(hdr, names[i], &rlen);

        FZ_CHECK(v == r);
        FZ_CHECK(v == NULL || len == rlen);
        FZ_CHECK(v != NULL || len == 7777); /* untouched when not found */
    }
}

static int fz_octet(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '"' && c != ',' && c != ';'
           && c != '\\';
}

/* 4. The input as a cookie value for the builder. */
static void fz_format(const char *val, const uint8_t *data, size_t size)
{
    static const size_t sizes[] = {0, 1, 40, 100, 200, LBF_COOKIE_MAX};
    struct lbf_cookie_policy pol;
    char out[LBF_COOKIE_MAX + 1];
    int64_t max_age = LBF_COOKIE_SESSION;
    size_t i, vl = strlen(val), got;
    const char *v;
    int ok = 1, rc, ref = -1;

    for (i = 0; i < vl; i++) {
        ok &= fz_octet((unsigned char)val[i]);
    }
    pol.samesite = size ? data[0] % 3 : 0;
    pol.secure = size > 1 ? data[1] & 1 : 0;
    if (size > 6) {
        max_age = (int64_t)(fz_u32(data + 2) % 0x7fffffffu) - 1;
    }
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        memset(out, 0x7f, sizeof(out));
        rc = lbf_cookie_format(&pol, size > 1 ? data[1] & 2 : 0, "lbf_web",
                               val, NULL, max_age, FZ_NOW, out, sizes[i]);
        FZ_CHECK(rc < (int)sizes[i] && out[sizes[i]] == 0x7f);
        if (!ok) {
            FZ_CHECK(rc == -1);
        }
        if (rc < 0) {
            FZ_CHECK(sizes[i] == 0 || out[0] == '\0');
            continue;
        }
        ref = ref < 0 ? rc : ref;
        FZ_CHECK(rc == ref && (size_t)rc == strlen(out));
        for (got = 0; got < (size_t)rc; got++) {
            FZ_CHECK((unsigned char)out[got] >= 0x20
                     && (unsigned char)out[got] < 0x7f);
        }
        v = lbf_cookie_find(out, "lbf_web", &got);
        FZ_CHECK(v == out + 8 && got == vl && memcmp(v, val, vl) == 0);
        FZ_CHECK(strstr(out, "; HttpOnly; SameSite=") != NULL);
        FZ_CHECK(pol.samesite != LBF_SAMESITE_NONE
                 || strstr(out, "; Secure") != NULL);
    }
    /* the largest buffer takes any valid value of a few hundred bytes */
    FZ_CHECK(!ok || vl > 300 || ref >= 0 || max_age > 253402300799LL);
}

static void fz_samesite(const char *s)
{
    int rc = lbf_cookie_samesite_parse(s);

    FZ_CHECK(rc >= -1 && rc <= LBF_SAMESITE_NONE);
    if (rc >= 0) {
        FZ_CHECK(strcasecmp(s, lbf_cookie_samesite_name(rc)) == 0);
        FZ_CHECK(lbf_cookie_samesite_parse(lbf_cookie_samesite_name(rc))
                 == rc);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *exact = malloc(size ? size : 1);
    char *s = malloc(size + 1);

    if (!fz_ready) {
        fz_init();
    }
    if (exact == NULL || s == NULL) {
        free(exact);
        free(s);
        return 0;
    }
    memcpy(exact, data, size);
    memcpy(s, data, size);
    s[size] = '\0';
    fz_sess_any(exact, size);
    fz_move_any(exact, size);
    if (size > 0 && exact[size - 1] % 8 == 0) {
        /* ~14 HMACs each: one input in eight, to keep the rate up */
        fz_sess_build(exact, size);
        fz_move_build(exact, size);
    }
    fz_find(s);
    fz_format(s, exact, size);
    fz_samesite(s);
    free(exact);
    free(s);
    return 0;
}
