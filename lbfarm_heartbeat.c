/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_heartbeat.c -- mod_heartbeat's UDP beats: the listen address,
 * datagram validation and the source-to-member rule.  Formats and rules:
 * see lbfarm_heartbeat.h.  libc only (inet_pton for addresses).
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lbfarm_conf.h"
#include "lbfarm_heartbeat.h"
#include "lbfarm_push.h"

/* Printf into err; returns -1. */
static int lbf_hb_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Copy at most 64 bytes of s into out for a message, '?' for anything
 * that is not printable ASCII or is a '"' (never echo raw input). */
static const char *lbf_hb_clean(const char *s, char out[68])
{
    size_t i, n = strlen(s) > 64 ? 64 : strlen(s);

    for (i = 0; i < n; i++) {
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"') ? s[i] : '?';
    }
    strcpy(out + n, strlen(s) > n ? "..." : "");
    return out;
}

int lbf_hb_parse_listen(const char *arg, char ip[LBF_HB_IP_MAX],
                        uint16_t *port, int *multicast, char *err,
                        size_t errlen)
{
    char host[LBF_HB_IP_MAX], spec[68];
    const char *colon = strrchr(arg, ':');
    struct in_addr a;
    uint32_t p;
    size_t hl;

    err[0] = '\0';
    lbf_hb_clean(arg, spec);
    if (arg[0] == '['
        || (colon && memchr(arg, ':', (size_t)(colon - arg)) != NULL)) {
        return lbf_hb_err(err, errlen, "invalid address \"%s\": IPv6 is "
                          "not supported (mod_heartbeat sends IPv4 only)",
                          spec);
    }
    if (colon == NULL) {
        return lbf_hb_err(err, errlen, "invalid address \"%s\": expected "
                          "IPv4-ADDRESS:PORT, e.g. 239.0.0.1:27999", spec);
    }
    hl = (size_t)(colon - arg);
    if (hl == 0 || hl >= sizeof(host)) {
        return lbf_hb_err(err, errlen, "invalid address \"%s\": expected "
                          "a dotted-quad IPv4 address before the port", spec);
    }
    memcpy(host, arg, hl);
    host[hl] = '\0';
    if (inet_pton(AF_INET, host, &a) != 1) {
        return lbf_hb_err(err, errlen, "invalid address \"%s\": \"%.*s\" is "
                          "not a dotted-quad IPv4 address (no host names)",
                          spec, (int)hl, spec);
    }
    if (lbf_parse_uint(colon + 1, 1, 65535, &p) != 0) {
        return lbf_hb_err(err, errlen, "invalid port \"%.16s\" in \"%s\" "
                          "(1..65535)", spec + hl + 1, spec);
    }
    inet_ntop(AF_INET, &a, ip, LBF_HB_IP_MAX);
    *port = (uint16_t)p;
    *multicast = (ntohl(a.s_addr) >> 28) == 0xe; /* 224.0.0.0/4 */
    return 0;
}

int lbf_hb_datagram(const void *buf, size_t len, uint32_t *load_milli,
                    uint32_t *port, char *err, size_t errlen)
{
    const unsigned char *b = buf;
    size_t i;

    err[0] = '\0';
    if (len > LBF_HB_DGRAM_MAX) {
        snprintf(err, errlen, "datagram: longer than %d bytes",
                 LBF_HB_DGRAM_MAX);
        return LBF_PUSH_EBAD;
    }
    if (len > 0 && b[len - 1] == '\n') {
        len -= (len > 1 && b[len - 2] == '\r') ? 2 : 1;
    }
    if (len == 0) {
        snprintf(err, errlen, "datagram: empty");
        return LBF_PUSH_EBAD;
    }
    for (i = 0; i < len; i++) {
        if (b[i] <= 0x20 || b[i] >= 0x7f) {
            snprintf(err, errlen, "datagram: byte %zu is not printable "
                     "ASCII", i);
            return LBF_PUSH_EBAD;
        }
    }
    return lbf_push_parse_heartbeat((const char *)b, len, load_milli, port,
                                    err, errlen);
}

/* a as 16 bytes of IPv6 (IPv4 mapped to ::ffff:a.b.c.d); -1 when a is
 * not an IP literal. */
static int lbf_hb_addr16(const char *a, unsigned char out[16])
{
    struct in_addr v4;

    if (inet_pton(AF_INET, a, &v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &v4, 4);
        return 0;
    }
    return inet_pton(AF_INET6, a, out) == 1 ? 0 : -1;
}

int lbf_hb_same_addr(const char *a, const char *b)
{
    unsigned char x[16], y[16];

    return lbf_hb_addr16(a, x) == 0 && lbf_hb_addr16(b, y) == 0
           && memcmp(x, y, sizeof(x)) == 0;
}

int lbf_hb_match(const struct lbf_hb_cand *c, size_t n, const char *src,
                 uint32_t port, unsigned char *sel)
{
    unsigned char want[16], have[16];
    uint32_t seen_port = 0;
    size_t i, hits = 0;
    int ambiguous = 0;

    memset(sel, 0, n);
    if (lbf_hb_addr16(src, want) != 0) {
        return LBF_HB_NOMEMBER;
    }
    for (i = 0; i < n; i++) {
        if (c[i].host == NULL || lbf_hb_addr16(c[i].host, have) != 0
            || memcmp(want, have, sizeof(want)) != 0
            || (port != 0 && c[i].port != port)) {
            continue;
        }
        ambiguous |= hits > 0 && c[i].port != seen_port;
        seen_port = c[i].port;
        sel[i] = 1;
        hits++;
    }
    if (hits == 0 || ambiguous) {
        memset(sel, 0, n);
        return hits ? LBF_HB_AMBIGUOUS : LBF_HB_NOMEMBER;
    }
    return LBF_HB_MATCHED;
}

const char *lbf_hb_match_text(int rc)
{
    switch (rc) {
    case LBF_HB_MATCHED:
        return "matched";
    case LBF_HB_NOMEMBER:
        return "no member of a LBFarmHeartbeat farm at this address";
    case LBF_HB_AMBIGUOUS:
        return "ambiguous: several members (ports) at this address and the "
               "beat names no port=";
    default:
        return "?";
    }
}
