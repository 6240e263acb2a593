/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_cookie.c -- the one Set-Cookie builder and the Cookie header
 * reader.  The policy it applies: see include/lbfarm_cookie.h.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lbfarm_cookie.h"

/* 1 when c is an RFC 6265 / RFC 9110 token character. */
static int lbf_token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", c);
}

/* 1 when c is a cookie-octet (RFC 6265 4.1.1). */
static int lbf_octet_char(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a)
           || (c >= 0x3c && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

static int lbf_all(const char *s, int (*ok)(unsigned char))
{
    for (; *s; s++) {
        if (!ok((unsigned char)*s)) {
            return 0;
        }
    }
    return 1;
}

static int lbf_path_char(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != ';';
}

/* "Expires=Tue, 14 Nov 2023 23:13:20 GMT" for Unix time t into out. */
static int lbf_expires(int64_t t, char *out, size_t outlen)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri",
                                    "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May",
                                       "Jun", "Jul", "Aug", "Sep", "Oct",
                                       "Nov", "Dec"};
    time_t tt = (time_t)(t < 0 ? 0 : t);
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 > 9999) {
        return -1;
    }
    return snprintf(out, outlen, "; Expires=%s, %02d %s %04d %02d:%02d:%02d "
                    "GMT", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
                    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int lbf_cookie_format(const struct lbf_cookie_policy *pol, int tls,
                      const char *name, const char *value, const char *path,
                      int64_t max_age, int64_t now, char *out,
                      size_t outlen)
{
    static const struct lbf_cookie_policy dflt = {LBF_SAMESITE_LAX,
                                                  LBF_SECURE_TLS};
    char life[96] = "";
    int samesite, secure, n;

    pol = pol ? pol : &dflt;
    samesite = pol->samesite;
    if (outlen > 0) {
        out[0] = '\0';
    }
    path = path ? path : "/";
    if (name == NULL || !*name || !lbf_all(name, lbf_token_char)
        || value == NULL || !lbf_all(value, lbf_octet_char) || *path != '/'
        || !lbf_all(path, lbf_path_char)
        || samesite < LBF_SAMESITE_LAX || samesite > LBF_SAMESITE_NONE
        || (max_age < 0 && max_age != LBF_COOKIE_SESSION)) {
        return -1;
    }
    secure = tls || pol->secure == LBF_SECURE_ALWAYS
             || samesite == LBF_SAMESITE_NONE;
    if (max_age >= 0) {
        int m = snprintf(life, sizeof(life), "; Max-Age=%lld",
                         (long long)max_age);

        if (lbf_expires(max_age == 0 ? 0 : now + max_age, life + m,
                        sizeof(life) - (size_t)m) < 0) {
            return -1;
        }
    }
    n = snprintf(out, outlen, "%s=%s; Path=%s%s; HttpOnly; SameSite=%s%s",
                 name, value, path, life, lbf_cookie_samesite_name(samesite),
                 secure ? "; Secure" : "");
    if (n < 0 || (size_t)n >= outlen) {
        if (outlen > 0) {
            out[0] = '\0';
        }
        return -1;
    }
    return n;
}

int lbf_cookie_samesite_parse(const char *s)
{
    if (s == NULL) {
        return -1;
    }
    return !strcasecmp(s, "lax") ? LBF_SAMESITE_LAX
         : !strcasecmp(s, "strict") ? LBF_SAMESITE_STRICT
         : !strcasecmp(s, "none") ? LBF_SAMESITE_NONE : -1;
}

const char *lbf_cookie_samesite_name(int samesite)
{
    return samesite == LBF_SAMESITE_STRICT ? "Strict"
         : samesite == LBF_SAMESITE_NONE ? "None" : "Lax";
}

const char *lbf_cookie_find(const char *hdr, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    const char *p = hdr;

    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ';') {
            p++;
        }
        if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
            const char *v = p + nl + 1;

            *len = strcspn(v, ";");
            while (*len > 0 && (v[*len - 1] == ' ' || v[*len - 1] == '\t')) {
                (*len)--;
            }
            return v;
        }
        p = strchr(p, ';');
    }
    return NULL;
}

const char *lbf_query_find(const char *args, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    const char *p = args;

    while (p != NULL && *p != '\0') {
        if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
            *len = strcspn(p + nl + 1, "&");
            return p + nl + 1;
        }
        p = strchr(p, '&');
        p = p != NULL ? p + 1 : NULL;
    }
    return NULL;
}
