/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_conf.c -- pure parsers behind the directives; see lbfarm_conf.h.
 */
#include <string.h>
#include <strings.h>

#include "lbfarm_conf.h"
#include "lbfarm_shm.h"

int lbf_parse_uint(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint64_t v = 0;

    if (s == NULL || *s == '\0') {
        return -1;
    }
    for (; *s; s++) {
        if (*s < '0' || *s > '9') {
            return -1;
        }
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > hi) {
            return -1;
        }
    }
    if (v < lo) {
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

int lbf_parse_digits(const char *s, size_t n, uint64_t *out)
{
    uint64_t x = 0;
    size_t i;

    if (n == 0 || n > 19) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *out = x;
    return 0;
}

int lbf_parse_milli(const char *s, size_t n, int64_t max, int64_t *out)
{
    const char *dot = memchr(s, '.', n);
    size_t ilen = dot ? (size_t)(dot - s) : n, flen = dot ? n - ilen - 1 : 0;
    uint64_t ip, fp = 0;

    if (ilen > 19) {
        size_t i;

        for (i = 0; i < ilen && s[i] >= '0' && s[i] <= '9'; i++) {
            continue;
        }
        return i == ilen ? -2 : -1; /* all digits: just too many of them */
    }
    if (lbf_parse_digits(s, ilen, &ip) != 0
        || (dot && (flen == 0 || flen > 3))
        || (dot && lbf_parse_digits(dot + 1, flen, &fp) != 0)) {
        return -1;
    }
    if (ip > (uint64_t)max || (ip == (uint64_t)max && fp > 0)) {
        return -2;
    }
    while (flen++ < 3) {
        fp *= 10;
    }
    *out = (int64_t)(ip * 1000 + fp);
    return 0;
}

static int lbf_is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9');
}

/* 1 when s[0..n) could be a farm name (lbf_name_valid): a host with any
 * other byte -- a dot, an IP literal's '[', userinfo's '@', or the '$' of
 * a ProxyPassMatch substitution or an interpolated ${VAR} whose value is
 * known only at request time -- names no farm. */
static int lbf_could_be_name(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n >= LBF_NAME_SIZE || !lbf_is_alnum(s[0])) {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if (!(lbf_is_alnum(s[i]) || s[i] == '_' || s[i] == '-')) {
            return 0;
        }
    }
    return 1;
}

int lbf_name_valid(const char *s)
{
    return s != NULL && lbf_could_be_name(s, strlen(s));
}

/* 1 when s[0..n) is all digits (an IPv4 piece never has no dot, but
 * "http://2130706433/" is an integer IP literal to some resolvers). */
static int lbf_all_digits(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return 1;
}

int lbf_url_farm_ref(const char *url, const char **host, size_t *hlen)
{
    const char *h = url ? strstr(url, "://") : NULL;
    size_t n;

    if (h == NULL || !((h - url == 4 && strncasecmp(url, "http", 4) == 0)
                       || (h - url == 5 && strncasecmp(url, "https", 5) == 0))) {
        return 0;
    }
    h += 3;
    n = strcspn(h, ":/?#");
    if (n == 0 || h[n] == ':' || !lbf_could_be_name(h, n)
        || lbf_all_digits(h, n)
        || (n == 9 && strncasecmp(h, "localhost", 9) == 0)) {
        return 0;
    }
    *host = h;
    *hlen = n;
    return 1;
}

const char *lbf_conf_comment(const char *args)
{
    const char *p = args;

    while (p != NULL && *p != '\0') {
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (*p == '#') {
            return p;
        }
        if (*p == '"' || *p == '\'') { /* ap_getword_conf's quoting */
            char q = *p++;

            while (*p != '\0' && *p != q) {
                p += (*p == '\\' && p[1] != '\0') ? 2 : 1;
            }
            p += *p != '\0';
        }
        while (*p != '\0' && *p != ' ' && *p != '\t') {
            p++;
        }
    }
    return NULL;
}
