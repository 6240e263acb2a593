/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * fuzz_conf.c -- libFuzzer target for the directive parsers
 * (lbfarm_conf.h).  The input is one directive argument:
 *
 *  - lbf_parse_digits and lbf_parse_milli read the exact input bytes (no
 *    NUL added, so ASan sees a read past the end) and must agree with
 *    references written here from the header's contracts: 1..19 digits
 *    and nothing else; a decimal (digits, optionally '.' and 1..3 digits)
 *    under several max values, -2 above max, else the value in
 *    thousandths;
 *  - lbf_parse_uint, lbf_name_valid and lbf_url_farm_ref read it as a C
 *    string (cut at the first NUL, as httpd hands arguments over) and are
 *    held to their contracts: parse_uint against a reference under several
 *    bounds; name_valid against the name rule; a farm reference is a
 *    non-empty host right after "http[s]://" with no dot, port, userinfo,
 *    IP literal or "localhost", and every "http[s]://LABEL[/...]" with
 *    LABEL a farm-like name that is not all digits is one;
 *  - the core's other directive value parsers, as C strings:
 *    lbf_method_find (LBFarmMethod) finds exactly a method's own name and
 *    lbf_method_name gives it back; lbf_cookie_samesite_parse
 *    (LBFarmSticky samesite=) accepts exactly Lax, Strict, None in any
 *    case and lbf_cookie_samesite_name round trips.  (LBFarmHeartbeatListen
 *    is fuzz_heartbeat's, LBFarmStatusOrigin fuzz_admin's.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lbfarm_conf.h"
#include "lbfarm_cookie.h"
#include "lbfarm_method.h"

#include "fz_check.h"

static int fz_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int fz_alnum(char c)
{
    return fz_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Reference lbf_parse_uint: digits only, any length, value in lo..hi. */
static int fz_uint_ref(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint64_t v = 0;
    int big = 0;

    if (*s == '\0') {
        return -1;
    }
    for (; *s; s++) {
        if (!fz_digit(*s)) {
            return -1;
        }
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > UINT32_MAX) {
            big = 1;
            v = (uint64_t)UINT32_MAX + 1; /* saturate: above any hi */
        }
    }
    if (big || v < lo || v > hi) {
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

static void fz_uint(const char *s)
{
    static const uint32_t bounds[][2] = {
        {0, UINT32_MAX}, {1, 100},   {0, 3600},
        {1, 1000},       {1, 10000}, {5, 5},
        {10, 1},         {0, 0},     {UINT32_MAX - 1, UINT32_MAX},
    };
    size_t i;

    for (i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        uint32_t got = 0xdeadbeefu, want = 0xdeadbeefu;
        int rc = lbf_parse_uint(s, bounds[i][0], bounds[i][1], &got);
        int ref = fz_uint_ref(s, bounds[i][0], bounds[i][1], &want);

        FZ_CHECK(rc == ref);
        FZ_CHECK(got == want); /* also: untouched on failure */
        FZ_CHECK(rc != 0 || (got >= bounds[i][0] && got <= bounds[i][1]));
    }
}

/*
 * Reference lbf_parse_milli: a decimal -- 1..19 integer digits, then
 * optionally '.' and 1..3 digits -- is its value in thousandths, or -2
 * above max; an integer part of more than 19 digits, all digits, is above
 * any max (-2: "long all-digit values are out of range"); anything else
 * is -1.
 */
static int fz_milli_ref(const uint8_t *s, size_t n, int64_t max, int64_t *out)
{
    const uint8_t *dot = memchr(s, '.', n);
    size_t ilen = dot ? (size_t)(dot - s) : n, flen = dot ? n - ilen - 1 : 0;
    size_t i;
    uint64_t ip = 0, fp = 0;

    for (i = 0; i < ilen; i++) {
        if (!fz_digit((char)s[i])) {
            return -1;
        }
        if (ilen <= 19) {
            ip = ip * 10 + (uint64_t)(s[i] - '0');
        }
    }
    if (ilen > 19) {
        return -2;
    }
    if (ilen == 0 || (dot && (flen == 0 || flen > 3))) {
        return -1;
    }
    for (i = 0; i < flen; i++) {
        if (!fz_digit((char)dot[1 + i])) {
            return -1;
        }
        fp = fp * 10 + (uint64_t)(dot[1 + i] - '0');
    }
    while (flen++ < 3) {
        fp *= 10;
    }
    if (ip > (uint64_t)max || (ip == (uint64_t)max && fp > 0)) {
        return -2;
    }
    *out = (int64_t)(ip * 1000 + fp);
    return 0;
}

static void fz_milli(const uint8_t *data, size_t size)
{
    /* up to 9e15 whole units: thousandths still fit an int64 */
    static const int64_t maxes[] = {
        0, 1, 999, 1000, 1000000000LL, 9000000000000000LL};
    size_t i;

    for (i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
        int64_t got = -7, want = -7;
        int rc = lbf_parse_milli((const char *)data, size, maxes[i], &got);
        int ref = fz_milli_ref(data, size, maxes[i], &want);

        FZ_CHECK(rc == ref);
        FZ_CHECK(got == want);
        FZ_CHECK(rc != 0 || (got >= 0 && got / 1000 <= maxes[i]));
    }
}

/* lbf_parse_digits: 1..19 digits of the exact bytes, nothing else. */
static void fz_digits(const uint8_t *data, size_t size)
{
    uint64_t got = 0xdeadbeefull, want = 0;
    size_t i;
    int ref = size >= 1 && size <= 19 ? 0 : -1;
    int rc = lbf_parse_digits((const char *)data, size, &got);

    for (i = 0; i < size && ref == 0; i++) {
        if (!fz_digit((char)data[i])) {
            ref = -1;
        }
        want = want * 10 + (uint64_t)(data[i] - '0');
    }
    FZ_CHECK(rc == ref);
    FZ_CHECK(got == (ref == 0 ? want : 0xdeadbeefull));
}

/* The name rule: [A-Za-z0-9][A-Za-z0-9_-]{0,30}. */
static int fz_name_ref(const char *s)
{
    size_t i;

    if (!fz_alnum(s[0])) {
        return 0;
    }
    for (i = 1; s[i]; i++) {
        if (i >= 31 || !(fz_alnum(s[i]) || s[i] == '_' || s[i] == '-')) {
            return 0;
        }
    }
    return 1;
}

/* Length of the scheme prefix "http://" / "https://" (caseless), or 0. */
static size_t fz_scheme(const char *s)
{
    if (strncasecmp(s, "http://", 7) == 0) {
        return 7;
    }
    if (strncasecmp(s, "https://", 8) == 0) {
        return 8;
    }
    return 0;
}

static void fz_url(const char *s)
{
    const char *host = NULL;
    size_t hlen = 0, sl = fz_scheme(s), i, label;
    int rc = lbf_url_farm_ref(s, &host, &hlen);
    int digits_only = 1;

    FZ_CHECK(rc == 0 || rc == 1);
    if (rc == 1) {
        FZ_CHECK(sl > 0 && host == s + sl);
        FZ_CHECK(hlen >= 1 && hlen <= strlen(host));
        FZ_CHECK(host[hlen] == '\0' || host[hlen] == '/' || host[hlen] == '?' ||
                 host[hlen] == '#');
        FZ_CHECK(host[0] != '[');
        FZ_CHECK(hlen < LBF_NAME_SIZE && host[0] != '_' && host[0] != '-');
        for (i = 0; i < hlen; i++) {
            FZ_CHECK(strchr(".:/?#@", host[i]) == NULL && host[i] != '\0');
            digits_only &= fz_digit(host[i]);
        }
        FZ_CHECK(!digits_only);
        FZ_CHECK(!(hlen == 9 && strncasecmp(host, "localhost", 9) == 0));
    }
    else {
        FZ_CHECK(host == NULL && hlen == 0);
    }
    /* completeness: http[s]://NAME then end, '/', '?' or '#' */
    if (sl == 0) {
        return;
    }
    label = strspn(s + sl, "abcdefghijklmnopqrstuvwxyz"
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
    if (label == 0 || label >= LBF_NAME_SIZE || s[sl] == '_' ||
        s[sl] == '-' || strspn(s + sl, "0123456789") == label ||
        (label == 9 && strncasecmp(s + sl, "localhost", 9) == 0)) {
        return; /* not farm-name shaped: 1..31 chars, alnum first */
    }
    if (s[sl + label] == '\0' || s[sl + label] == '/' || s[sl + label] == '?' ||
        s[sl + label] == '#') {
        FZ_CHECK(rc == 1 && hlen == label);
    }
}

/* LBFarmMethod and LBFarmSticky samesite= values. */
static void fz_words(const char *s)
{
    int mi = lbf_method_find(s), ss = lbf_cookie_samesite_parse(s), i;

    FZ_CHECK(mi >= -1);
    if (mi >= 0) {
        FZ_CHECK(strcmp(lbf_method_name((uint32_t)mi), s) == 0);
    }
    for (i = 0; lbf_methods[i] != NULL; i++) {
        FZ_CHECK((strcmp(lbf_methods[i]->name, s) == 0) == (mi == i));
    }
    FZ_CHECK(ss == (!strcasecmp(s, "lax") ? LBF_SAMESITE_LAX
                    : !strcasecmp(s, "strict") ? LBF_SAMESITE_STRICT
                    : !strcasecmp(s, "none") ? LBF_SAMESITE_NONE : -1));
    FZ_CHECK(ss < 0 || (strcasecmp(lbf_cookie_samesite_name(ss), s) == 0
                        && lbf_cookie_samesite_parse(
                               lbf_cookie_samesite_name(ss)) == ss));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';
    fz_milli(data, size);
    fz_digits(data, size);
    fz_uint(s);
    FZ_CHECK(lbf_name_valid(s) == fz_name_ref(s));
    fz_url(s);
    fz_words(s);
    free(s);
    return 0;
}
