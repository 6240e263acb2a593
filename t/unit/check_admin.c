/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_admin.c -- what an administrative POST must pass
 * (lbfarm_admin.h), basic to complex:
 *
 *  - session ids: exactly 32 lowercase hex digits;
 *  - nonce: HMAC-SHA256(key, "lbfarm-status-nonce:" + sid) in hex, checked
 *    against vectors computed outside this code base (Python's hmac), and
 *    lbf_status_nonce_ok accepts that exact string and nothing else;
 *  - origins: the parser (schemes, hosts, IPv6 literals, ports, what may
 *    not follow), and the same-origin rule: the Origin, or the Referer
 *    when Origin is absent, against a list of allowed origins -- default
 *    ports, scheme and port mismatches, "null", neither header -> refused,
 *    ServerAlias wildcards, and a Host header that no longer counts (DNS
 *    rebinding);
 *  - the form parser: every action, percent-decoding, '+', empty pairs,
 *    ignored and repeated fields, bad escapes, NUL bytes, oversized values,
 *    each with its exact result or exact error line;
 *  - the host rule of a member URL.
 */
#include <stdlib.h>

#include "lbf_unit.h"
#include "lbfarm_admin.h"

/* ------------------------------------------------------------------ */
/* Session ids                                                          */

START_TEST(status_sid_valid_is_exactly_32_lowercase_hex)
{
    static const struct {
        const char *sid;
        int want;
    } cases[] = {
        {"0123456789abcdef0123456789abcdef", 1},
        {"00000000000000000000000000000000", 1},
        {"ffffffffffffffffffffffffffffffff", 1},
        {"0123456789abcdef0123456789abcde", 0},   /* 31 */
        {"0123456789abcdef0123456789abcdef0", 0}, /* 33 */
        {"0123456789ABCDEF0123456789abcdef", 0},  /* uppercase */
        {"0123456789abcdef0123456789abcdeg", 0},
        {"0123456789abcdef0123456789abcde ", 0},
        {" 0123456789abcdef0123456789abcdef", 0},
        {"0123456789abcdef0123456789abcdef\n", 0},
        {"0123456789abcdef0123456789abcd\xc3\xa9", 0},
        {"0x23456789abcdef0123456789abcdef", 0},
        {"", 0},
        {"a", 0},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        ck_assert_msg(lbf_status_sid_valid(cases[i].sid) == cases[i].want,
                      "case %zu \"%s\": want %d", i, cases[i].sid,
                      cases[i].want);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* Nonce                                                                */

#define S_SID1 "0123456789abcdef0123456789abcdef"
#define S_SID0 "00000000000000000000000000000000"

static void s_key_seq(uint8_t key[LBF_ADMIN_KEY])
{
    int i;

    for (i = 0; i < LBF_ADMIN_KEY; i++) {
        key[i] = (uint8_t)i;
    }
}

START_TEST(status_nonce_matches_independent_hmac_vectors)
{
    /* python3: hmac.new(key, b"lbfarm-status-nonce:" + sid,
     *                   hashlib.sha256).hexdigest() */
    static const struct {
        int key_ff;
        const char *sid, *want;
    } cases[] = {
        {0, S_SID1,
         "139d01304b9224dcf8caf7c93f2b811736e9aa10dee9511c4e436e004d84fa4b"},
        {0, S_SID0,
         "dc9673d226c53a05ddaf508264baf06c1391cc0ed7647caa73515b33dc0a9396"},
        {1, S_SID1,
         "d35a2dc68b997ca4504eeaa8ab58e633facb23e0238ea65cc095f674fd16b7a7"},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        uint8_t key[LBF_ADMIN_KEY];
        char out[LBF_NONCE_HEX + 2];

        if (cases[i].key_ff) {
            memset(key, 0xff, sizeof(key));
        }
        else {
            s_key_seq(key);
        }
        memset(out, 'X', sizeof(out));
        ck_assert_int_eq(lbf_status_nonce(key, cases[i].sid, out), 0);
        ck_assert_msg(out[LBF_NONCE_HEX] == '\0', "case %zu: not terminated",
                      i);
        ck_assert_msg(out[LBF_NONCE_HEX + 1] == 'X',
                      "case %zu: wrote past the nonce", i);
        ck_assert_str_eq(out, cases[i].want);
    }
}
END_TEST

START_TEST(status_nonce_is_deterministic_per_key_and_session)
{
    uint8_t key[LBF_ADMIN_KEY], key2[LBF_ADMIN_KEY];
    char a[LBF_NONCE_HEX + 1], b[LBF_NONCE_HEX + 1], c[LBF_NONCE_HEX + 1],
        d[LBF_NONCE_HEX + 1];

    s_key_seq(key);
    memcpy(key2, key, sizeof(key2));
    key2[LBF_ADMIN_KEY - 1] ^= 1; /* the last key byte counts */
    ck_assert_int_eq(lbf_status_nonce(key, S_SID1, a), 0);
    ck_assert_int_eq(lbf_status_nonce(key, S_SID1, b), 0);
    ck_assert_str_eq(a, b);
    ck_assert_int_eq(lbf_status_nonce(key, "0123456789abcdef0123456789abcdee",
                                      c), 0);
    ck_assert_str_ne(a, c); /* the last sid digit counts */
    ck_assert_int_eq(lbf_status_nonce(key2, S_SID1, d), 0);
    ck_assert_str_ne(a, d);
    ck_assert_str_ne(c, d);
}
END_TEST

START_TEST(status_nonce_ok_accepts_only_the_exact_nonce)
{
    uint8_t key[LBF_ADMIN_KEY], key2[LBF_ADMIN_KEY];
    char good[LBF_NONCE_HEX + 1], bad[LBF_NONCE_HEX + 2],
        other[LBF_NONCE_HEX + 1];
    size_t i;

    s_key_seq(key);
    memset(key2, 0xff, sizeof(key2));
    ck_assert_int_eq(lbf_status_nonce(key, S_SID1, good), 0);
    ck_assert_int_eq(lbf_status_nonce_ok(key, S_SID1, good), 1);

    /* every single changed digit, anywhere, is refused */
    for (i = 0; i < LBF_NONCE_HEX; i++) {
        memcpy(bad, good, sizeof(good));
        bad[i] = bad[i] == '0' ? '1' : '0';
        ck_assert_msg(lbf_status_nonce_ok(key, S_SID1, bad) == 0,
                      "digit %zu changed: accepted", i);
    }
    /* uppercase of the same digest */
    memcpy(bad, good, sizeof(good));
    for (i = 0; i < LBF_NONCE_HEX; i++) {
        if (bad[i] >= 'a' && bad[i] <= 'f') {
            bad[i] = (char)(bad[i] - 32);
        }
    }
    ck_assert_str_ne(bad, good);
    ck_assert_int_eq(lbf_status_nonce_ok(key, S_SID1, bad), 0);
    /* one digit short, one too many */
    memcpy(bad, good, sizeof(good));
    bad[LBF_NONCE_HEX - 1] = '\0';
    ck_assert_int_eq(lbf_status_nonce_ok(key, S_SID1, bad), 0);
    memcpy(bad, good, sizeof(good));
    bad[LBF_NONCE_HEX] = '0';
    bad[LBF_NONCE_HEX + 1] = '\0';
    ck_assert_int_eq(lbf_status_nonce_ok(key, S_SID1, bad), 0);
    /* absent or empty */
    ck_assert_int_eq(lbf_status_nonce_ok(key, S_SID1, NULL), 0);
    ck_assert_int_eq(lbf_status_nonce_ok(key, S_SID1, ""), 0);
    /* another session's or another key's nonce */
    ck_assert_int_eq(lbf_status_nonce(key, S_SID0, other), 0);
    ck_assert_int_eq(lbf_status_nonce_ok(key, S_SID1, other), 0);
    ck_assert_int_eq(lbf_status_nonce_ok(key, S_SID0, other), 1);
    ck_assert_int_eq(lbf_status_nonce_ok(key2, S_SID1, good), 0);
    /* no session, or an invalid one even with its own nonce */
    ck_assert_int_eq(lbf_status_nonce_ok(key, NULL, good), 0);
    ck_assert_int_eq(lbf_status_nonce(key, "ABC", other), 0);
    ck_assert_int_eq(lbf_status_nonce_ok(key, "ABC", other), 0);
    ck_assert_int_eq(lbf_status_nonce(key, "", other), 0);
    ck_assert_int_eq(lbf_status_nonce_ok(key, "", other), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Same origin                                                          */

/* The rule when the only allowed origin is scheme://host (as the Host
 * header of the request wrote it): 0 when that is no origin. */
static int s_same_origin(const char *scheme, const char *host,
                         const char *origin, const char *referer)
{
    char self[512];
    struct lbf_origin o;

    if (scheme == NULL || host == NULL
        || (size_t)snprintf(self, sizeof(self), "%s://%s", scheme, host)
           >= sizeof(self)
        || lbf_origin_parse(self, strlen(self), 0, &o) != 0) {
        return 0;
    }
    return lbf_origin_allowed(&o, 1, origin, referer);
}

START_TEST(status_same_origin_follows_origin_then_referer)
{
    static const struct {
        const char *scheme, *host, *origin, *referer;
        int want;
    } cases[] = {
        /* Origin */
        {"http", "example.com", "http://example.com", NULL, 1},
        {"http", "example.com", "http://example.com:80", NULL, 1},
        {"http", "example.com:80", "http://example.com", NULL, 1},
        {"http", "example.com:80", "http://example.com:80", NULL, 1},
        {"https", "example.com", "https://example.com:443", NULL, 1},
        {"https", "example.com:443", "https://example.com", NULL, 1},
        {"http", "Example.COM", "HTTP://example.com", NULL, 1},
        {"http", "example.com:8080", "http://example.com:8080", NULL, 1},
        {"http", "[::1]:80", "http://[::1]", NULL, 1},
        {"http", "10.0.0.1:8080", "http://10.0.0.1:8080", NULL, 1},
        {"http", "example.com:8080", "http://example.com", NULL, 0},
        {"http", "example.com", "http://example.com:8080", NULL, 0},
        {"http", "example.com", "http://example.com:8", NULL, 0},
        {"http", "example.com", "https://example.com", NULL, 0},
        {"https", "example.com", "http://example.com", NULL, 0},
        {"http", "example.com", "http://example.com:443", NULL, 0},
        {"https", "example.com", "https://example.com:80", NULL, 0},
        {"https", "example.com:80", "https://example.com", NULL, 0},
        {"http", "example.com", "http://evil.com", NULL, 0},
        {"http", "example.com", "http://example.com.evil.com", NULL, 0},
        {"http", "example.com", "http://evil.example.com", NULL, 0},
        {"http", "example.com", "http://xexample.com", NULL, 0},
        {"http", "example.com", "http://example.co", NULL, 0},
        {"http", "example.com", "http://example.com/", NULL, 0},
        {"http", "example.com", "http://example.com?", NULL, 0},
        {"http", "example.com", "http://example.com#", NULL, 0},
        {"http", "example.com", "http://evil.com/http://example.com", NULL, 0},
        {"http", "example.com", "http://example.com@evil.com", NULL, 0},
        {"http", "example.com", "example.com", NULL, 0},
        {"http", "example.com", "//example.com", NULL, 0},
        {"http", "example.com", "http://", NULL, 0},
        {"http", "example.com", "", NULL, 0},
        {"http", "example.com", "null", NULL, 0},
        /* a present Origin decides, even when the Referer would pass */
        {"http", "example.com", "null", "http://example.com/s", 0},
        {"http", "example.com", "", "http://example.com/s", 0},
        {"http", "example.com", "http://evil.com", "http://example.com/", 0},
        {"http", "example.com", "http://example.com",
         "http://evil.com/", 1},
        /* Referer when Origin is absent */
        {"http", "example.com", NULL, "http://example.com/lbfarm-status", 1},
        {"http", "example.com", NULL, "http://example.com", 1},
        {"http", "example.com", NULL, "http://example.com:80/x?y#z", 1},
        {"http", "example.com", NULL, "http://example.com?x=1", 1},
        {"http", "example.com", NULL, "http://example.com#f", 1},
        {"http", "example.com", NULL, "HTTP://EXAMPLE.com/X", 1},
        {"http", "example.com:80", NULL, "http://example.com:80/", 1},
        {"https", "example.com", NULL, "https://example.com:443/s", 1},
        {"http", "example.com", NULL, "https://example.com/", 0},
        {"https", "example.com", NULL, "http://example.com/", 0},
        {"http", "example.com", NULL, "http://example.com:8080/", 0},
        {"http", "example.com:8080", NULL, "http://example.com/", 0},
        {"http", "example.com", NULL, "http://example.com.evil.com/", 0},
        {"http", "example.com", NULL, "http://example.com@evil.com/", 0},
        {"http", "example.com", NULL, "http://evil.com/?r=http://example.com/",
         0},
        {"http", "example.com", NULL, "//example.com/", 0},
        {"http", "example.com", NULL, "example.com/", 0},
        {"http", "example.com", NULL, "http:///", 0},
        {"http", "example.com", NULL, "", 0},
        {"http", "example.com", NULL, "null", 0},
        /* neither header, or no usable Host */
        {"http", "example.com", NULL, NULL, 0},
        {"https", "example.com", NULL, NULL, 0},
        {"http", "", "http://", NULL, 0},
        {"http", "", NULL, "http:///", 0},
        {"http", NULL, "http://example.com", NULL, 0},
        {NULL, "example.com", "http://example.com", NULL, 0},
        {"http", "example.com/x", "http://example.com/x", NULL, 0},
        {"http", "example.com/x", NULL, "http://example.com/x", 0},
        {"http", "evil.com@example.com", "http://evil.com@example.com", NULL,
         0},
        {"http", "example.com?", NULL, "http://example.com?/", 0},
        {"http", "example.com#", NULL, "http://example.com#/", 0},
        {"http", "exa mple.com", "http://exa mple.com", NULL, 0},
        {"http", "exa\tmple.com", "http://exa\tmple.com", NULL, 0},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        int got = s_same_origin(cases[i].scheme, cases[i].host,
                                cases[i].origin, cases[i].referer);

        ck_assert_msg(got == cases[i].want,
                      "case %zu: scheme %s host %s origin %s referer %s: %d,"
                      " want %d", i,
                      cases[i].scheme ? cases[i].scheme : "(null)",
                      cases[i].host ? cases[i].host : "(null)",
                      cases[i].origin ? cases[i].origin : "(null)",
                      cases[i].referer ? cases[i].referer : "(null)", got,
                      cases[i].want);
    }
}
END_TEST

START_TEST(status_same_origin_refuses_an_oversized_host)
{
    char host[400], origin[420];

    memset(host, 'a', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(origin, sizeof(origin), "http://%s", host);
    ck_assert_int_eq(s_same_origin("http", host, origin, NULL), 0);
    ck_assert_int_eq(s_same_origin("http", host, NULL, origin), 0);
    host[250] = '\0'; /* fits: the same comparison now passes */
    snprintf(origin, sizeof(origin), "http://%s", host);
    ck_assert_int_eq(s_same_origin("http", host, origin, NULL), 1);
}
END_TEST

START_TEST(admin_origin_parse_reads_scheme_host_and_port_exactly)
{
    static const struct {
        const char *in;
        int wild, rc;
        const char *scheme, *host;
        uint32_t port;
    } cases[] = {
        {"http://example.com", 0, 0, "http", "example.com", 80},
        {"HTTPS://Example.COM", 0, 0, "https", "example.com", 443},
        {"http://example.com:8080", 0, 0, "http", "example.com", 8080},
        {"https://lb.example.com:443", 0, 0, "https", "lb.example.com", 443},
        {"https://lb.example.com:80", 0, 0, "https", "lb.example.com", 80},
        {"http://a-b_c.d9:1", 0, 0, "http", "a-b_c.d9", 1},
        {"http://10.0.0.1:65535", 0, 0, "http", "10.0.0.1", 65535},
        {"http://[::1]", 0, 0, "http", "[::1]", 80},
        {"http://[::1]:8080", 0, 0, "http", "[::1]", 8080},
        {"http://[2001:DB8::10.0.0.1]:1", 0, 0, "http",
         "[2001:db8::10.0.0.1]", 1},
        {"http://*.Example.com:8080", 1, 0, "http", "*.example.com", 8080},
        {"http://h?.example.com", 1, 0, "http", "h?.example.com", 80},
        /* refused */
        {"http://*.example.com", 0, -1, NULL, NULL, 0},
        {"http://h?", 0, -1, NULL, NULL, 0},
        {"http://example.com:0", 0, -1, NULL, NULL, 0},
        {"http://example.com:65536", 0, -1, NULL, NULL, 0},
        {"http://example.com:080", 0, -1, NULL, NULL, 0},
        {"http://example.com:", 0, -1, NULL, NULL, 0},
        {"http://example.com:8a", 0, -1, NULL, NULL, 0},
        {"http://example.com:123456", 0, -1, NULL, NULL, 0},
        {"http://a:1:2", 0, -1, NULL, NULL, 0},
        {"http://", 0, -1, NULL, NULL, 0},
        {"http:///", 0, -1, NULL, NULL, 0},
        {"http://:80", 0, -1, NULL, NULL, 0},
        {"ftp://example.com", 0, -1, NULL, NULL, 0},
        {"http:/example.com", 0, -1, NULL, NULL, 0},
        {"//example.com", 0, -1, NULL, NULL, 0},
        {"example.com", 0, -1, NULL, NULL, 0},
        {"", 0, -1, NULL, NULL, 0},
        {"null", 0, -1, NULL, NULL, 0},
        {"http://a/", 0, -1, NULL, NULL, 0},
        {"http://a?", 0, -1, NULL, NULL, 0},
        {"http://a#", 0, -1, NULL, NULL, 0},
        {"http://u@a", 0, -1, NULL, NULL, 0},
        {"http://a b", 0, -1, NULL, NULL, 0},
        {"http://a\\b", 0, -1, NULL, NULL, 0},
        {"http://a%2e", 0, -1, NULL, NULL, 0},
        {"http://\xc3\xa9.example", 0, -1, NULL, NULL, 0},
        {" http://a", 0, -1, NULL, NULL, 0},
        {"http://a ", 0, -1, NULL, NULL, 0},
        {"http://[::1", 0, -1, NULL, NULL, 0},
        {"http://[::1]x", 0, -1, NULL, NULL, 0},
        {"http://[::1]:", 0, -1, NULL, NULL, 0},
        {"http://[g::1]", 0, -1, NULL, NULL, 0},
        {"http://[]", 0, -1, NULL, NULL, 0},
        {"http://[*]", 1, -1, NULL, NULL, 0},
        {"http://::1", 0, -1, NULL, NULL, 0},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        struct lbf_origin o;
        int rc = lbf_origin_parse(cases[i].in, strlen(cases[i].in),
                                  cases[i].wild, &o);

        ck_assert_msg(rc == cases[i].rc, "case %zu \"%s\": rc %d", i,
                      cases[i].in, rc);
        if (rc == 0) {
            ck_assert_str_eq(o.scheme, cases[i].scheme);
            ck_assert_str_eq(o.host, cases[i].host);
            ck_assert_uint_eq(o.port, cases[i].port);
        }
    }
}
END_TEST

START_TEST(admin_origin_parse_reads_only_len_bytes_and_bounds_the_host)
{
    char in[300];
    struct lbf_origin o;

    /* only the first len bytes count: a Referer's origin */
    ck_assert_int_eq(lbf_origin_parse("http://example.com/path", 18, 0, &o),
                     0);
    ck_assert_str_eq(o.host, "example.com");
    ck_assert_int_eq(lbf_origin_parse("http://example.com:81/p", 21, 0, &o),
                     0);
    ck_assert_uint_eq(o.port, 81);
    ck_assert_int_eq(lbf_origin_parse("http://ab", 8, 0, &o), 0);
    ck_assert_str_eq(o.host, "a");
    ck_assert_int_eq(lbf_origin_parse("http://example.com", 7, 0, &o), -1);
    /* a NUL inside len is no host byte */
    ck_assert_int_eq(lbf_origin_parse("http://a\0b", 10, 0, &o), -1);
    /* hosts of 255 bytes fit, 256 do not */
    memcpy(in, "http://", 7);
    memset(in + 7, 'h', 255);
    in[7 + 255] = '\0';
    ck_assert_int_eq(lbf_origin_parse(in, strlen(in), 0, &o), 0);
    ck_assert_uint_eq(strlen(o.host), 255);
    memcpy(in + 7 + 255, "h", 2);
    ck_assert_int_eq(lbf_origin_parse(in, strlen(in), 0, &o), -1);
}
END_TEST

/* The origins a server named 127.0.0.1, lb.example.com and
 * *.lb.example.com answers for on port 8080, as the glue builds them. */
static size_t s_server_origins(struct lbf_origin out[4])
{
    static const char *const names[] = {
        "http://127.0.0.1:8080", "http://lb.example.com:8080",
        "http://*.lb.example.com:8080", "http://h?.example.com:8080"};
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(names); i++) {
        ck_assert_int_eq(lbf_origin_parse(names[i], strlen(names[i]), 1,
                                          &out[i]), 0);
    }
    return LBF_T_NELEMS(names);
}

START_TEST(admin_origin_must_be_a_server_name_not_the_clients_host)
{
    static const struct {
        const char *origin, *referer;
        int want;
    } cases[] = {
        {"http://127.0.0.1:8080", NULL, 1},
        {"http://lb.example.com:8080", NULL, 1},
        {"http://LB.example.com:8080", NULL, 1},
        {NULL, "http://lb.example.com:8080/lbfarm-status", 1},
        {"http://a.lb.example.com:8080", NULL, 1},
        {"http://a.b.lb.example.com:8080", NULL, 1}, /* * spans dots */
        {"http://h1.example.com:8080", NULL, 1},
        /* DNS rebinding: the page of evil.example, whose name now points
         * at this server, sends Host: evil.example and a matching Origin */
        {"http://evil.example:8080", NULL, 0},
        {NULL, "http://evil.example:8080/", 0},
        {"http://evil.example:8080", "http://lb.example.com:8080/", 0},
        {"http://lb.example.com.evil:8080", NULL, 0},
        {"http://evillb.example.com:8080", NULL, 0},
        {"http://.lb.example.com:8080", NULL, 1}, /* * matches nothing */
        {"http://h12.example.com:8080", NULL, 0},
        {"http://h.example.com:8080", NULL, 0},
        {"https://lb.example.com:8080", NULL, 0},
        {"http://lb.example.com", NULL, 0},
        {"http://lb.example.com:80", NULL, 0},
        {"http://127.0.0.1:8081", NULL, 0},
        {"http://*.lb.example.com:8080", NULL, 0}, /* no wildcard in */
        {"http://*:8080", NULL, 0},
        {"null", "http://lb.example.com:8080/", 0},
        {NULL, NULL, 0},
    };
    struct lbf_origin allowed[4];
    size_t n = s_server_origins(allowed), i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        ck_assert_msg(lbf_origin_allowed(allowed, n, cases[i].origin,
                                         cases[i].referer) == cases[i].want,
                      "case %zu: origin %s referer %s: want %d", i,
                      cases[i].origin ? cases[i].origin : "(null)",
                      cases[i].referer ? cases[i].referer : "(null)",
                      cases[i].want);
        /* with nothing allowed, nothing passes */
        ck_assert_int_eq(lbf_origin_allowed(allowed, 0, cases[i].origin,
                                            cases[i].referer), 0);
    }
}
END_TEST

START_TEST(admin_origin_wildcards_match_as_serveralias_does)
{
    static const struct {
        const char *pattern, *host;
        int want;
    } cases[] = {
        {"*", "anything.example", 1},
        {"*.example.com", "a.example.com", 1},
        {"*.example.com", "example.com", 0},
        {"a*b*c", "abc", 1},
        {"a*b*c", "axxbyyc", 1},
        {"a*b*c", "axxbyy", 0},
        {"a*b*c", "acb", 0},
        {"*a", "aaa", 1},
        {"**", "x", 1},
        {"?", "x", 1},
        {"?", "xy", 0},
        {"??", "x", 0},
        {"h?.e*", "h1.example", 1},
        {"exact.host", "exact.host", 1},
        {"exact.host", "exact.hostx", 0},
        {"exact.host", "xexact.host", 0},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        char p[128], o[128];
        struct lbf_origin a;

        snprintf(p, sizeof(p), "http://%s", cases[i].pattern);
        snprintf(o, sizeof(o), "http://%s", cases[i].host);
        ck_assert_int_eq(lbf_origin_parse(p, strlen(p), 1, &a), 0);
        ck_assert_msg(lbf_origin_allowed(&a, 1, o, NULL) == cases[i].want,
                      "case %zu: %s against %s: want %d", i,
                      cases[i].pattern, cases[i].host, cases[i].want);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* Form parser                                                          */

#define S_N31 "abcdefghijklmnopqrstuvwxyz01234"
#define S_N32 "abcdefghijklmnopqrstuvwxyz012345"
#define S_U16 "http://h.example" /* 16 bytes */
#define S_U64 S_U16 "/aaaaaaaaaaaaaaaaaaaaaaa" "aaaaaaaaaaaaaaaaaaaaaaaa"
#define S_U127 S_U64 "/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" \
                     "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define S_U128 S_U127 "c"
_Static_assert(sizeof(S_U127) - 1 == 127, "S_U127 is 127 bytes");
_Static_assert(sizeof(S_N31) - 1 == 31, "S_N31 is 31 bytes");
#define S_BADNAME "invalid name (1..31 of A-Z a-z 0-9 _ -, starting with a " \
                  "letter or digit)"
#define S_UNKNOWN "body: unknown field (expected action, nonce, farm, member, " \
                  "state, weight, url)"

struct s_form_case {
    const char *body;
    size_t len;                 /* 0: strlen(body) */
    int rc;
    const char *err;            /* rc -1 */
    enum lbf_admin_action action;
    const char *nonce, *farm, *member, *url;
    uint32_t state, weight;
};

/* An error case: body (len bytes, 0: strlen), the exact error line. */
#define S_E(body_, len_, err_) \
    {.body = (body_), .len = (len_), .rc = -1, .err = (err_)}

static void s_form_run(const struct s_form_case *cases, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        const struct s_form_case *c = &cases[i];
        size_t len = c->len ? c->len : strlen(c->body);
        char *body = malloc(len + 1 + 8);
        struct lbf_admin_req q;
        char err[256];
        int rc;

        ck_assert_ptr_nonnull(body);
        memcpy(body, c->body, len);
        memset(body + len, 'Z', 9); /* junk after len must not count */
        memset(&q, 0xa5, sizeof(q));
        strcpy(err, "untouched");
        rc = lbf_admin_parse(body, len, &q, err, sizeof(err));
        ck_assert_msg(rc == c->rc, "case %zu \"%s\": rc %d (%s), want %d", i,
                      c->body, rc, err, c->rc);
        if (rc != 0) {
            ck_assert_msg(strcmp(err, c->err) == 0,
                          "case %zu \"%s\": err \"%s\", want \"%s\"", i,
                          c->body, err, c->err);
            free(body);
            continue;
        }
        ck_assert_msg(q.action == c->action, "case %zu: action %d, want %d", i,
                      (int)q.action, (int)c->action);
#define S_STR_EQ(field)                                                        \
    ck_assert_msg((q.field == NULL && c->field == NULL)                        \
                  || (q.field != NULL && c->field != NULL                      \
                      && strcmp(q.field, c->field) == 0),                      \
                  "case %zu \"%s\": " #field " \"%s\", want \"%s\"", i,        \
                  c->body, q.field ? q.field : "(null)",                       \
                  c->field ? c->field : "(null)")
        S_STR_EQ(nonce);
        S_STR_EQ(farm);
        S_STR_EQ(member);
        S_STR_EQ(url);
#undef S_STR_EQ
        ck_assert_msg(q.state == c->state, "case %zu: state %u, want %u", i,
                      q.state, c->state);
        ck_assert_msg(q.weight == c->weight, "case %zu: weight %u, want %u",
                      i, q.weight, c->weight);
        /* the strings point into the body, decoded in place */
        ck_assert_msg(q.farm >= body && q.farm < body + len + 1,
                      "case %zu: farm not in the body", i);
        free(body);
    }
}

START_TEST(admin_parse_reads_every_action_exactly)
{
    static const struct s_form_case cases[] = {
        {"action=member-state&nonce=abc&farm=web&member=app1&state=offline",
         0, 0, NULL, LBF_ACT_MEMBER_STATE, "abc", "web", "app1", NULL,
         LBF_ADMIN_OFFLINE, 0},
        {"action=member-state&farm=web&member=app1&state=up", 0, 0, NULL,
         LBF_ACT_MEMBER_STATE, NULL, "web", "app1", NULL, LBF_ADMIN_ENABLED,
         0},
        {"state=drain&member=app1&farm=web&action=member-state", 0, 0, NULL,
         LBF_ACT_MEMBER_STATE, NULL, "web", "app1", NULL, LBF_ADMIN_DRAIN, 0},
        {"action=member-weight&farm=web&member=app1&weight=100", 0, 0, NULL,
         LBF_ACT_MEMBER_WEIGHT, NULL, "web", "app1", NULL, 0, 100},
        {"action=member-weight&farm=web&member=app1&weight=1", 0, 0, NULL,
         LBF_ACT_MEMBER_WEIGHT, NULL, "web", "app1", NULL, 0, 1},
        {"action=member-weight&farm=web&member=app1&weight=007", 0, 0, NULL,
         LBF_ACT_MEMBER_WEIGHT, NULL, "web", "app1", NULL, 0, 7},
        {"action=farm-state&farm=web&state=offline", 0, 0, NULL,
         LBF_ACT_FARM_STATE, NULL, "web", NULL, NULL, LBF_ADMIN_OFFLINE, 0},
        {"action=farm-state&farm=web&state=online&nonce=n", 0, 0, NULL,
         LBF_ACT_FARM_STATE, "n", "web", NULL, NULL, LBF_ADMIN_ENABLED, 0},
        {"action=member-add&farm=web&member=app3&url=http%3A%2F%2F10.0.0.3"
         "%3A8080%2Fa%3Fb%3Dc%26d",
         0, 0, NULL, LBF_ACT_MEMBER_ADD, NULL, "web", "app3",
         "http://10.0.0.3:8080/a?b=c&d", 0, 1},
        {"action=member-add&farm=web&member=app3&url=http://h/?a=b=c&weight=5",
         0, 0, NULL, LBF_ACT_MEMBER_ADD, NULL, "web", "app3",
         "http://h/?a=b=c", 0, 5},
        {"action=member-add&farm=web&member=app3&url=http://h&weight=", 0, 0,
         NULL, LBF_ACT_MEMBER_ADD, NULL, "web", "app3", "http://h", 0, 1},
        {"action=member-add&farm=web&member=" S_N31 "&url=" S_U127, 0, 0, NULL,
         LBF_ACT_MEMBER_ADD, NULL, "web", S_N31, S_U127, 0, 1},
        {"action=member-remove&farm=web&member=app1", 0, 0, NULL,
         LBF_ACT_MEMBER_REMOVE, NULL, "web", "app1", NULL, 0, 0},
    };

    s_form_run(cases, LBF_T_NELEMS(cases));
}
END_TEST

START_TEST(admin_parse_decodes_percent_plus_and_empty_pairs)
{
    static const struct s_form_case cases[] = {
        /* names and values percent-decoded, either hex case */
        {"%61ction=member-remove&f%61rm=w%65b&member=app%5F1", 0, 0, NULL,
         LBF_ACT_MEMBER_REMOVE, NULL, "web", "app_1", NULL, 0, 0},
        {"action=member-remove&farm=web&member=a&nonce=%2b%2B%7e%7E", 0, 0,
         NULL, LBF_ACT_MEMBER_REMOVE, "++~~", "web", "a", NULL, 0, 0},
        /* '+' is a space, %2B a plus */
        {"action=member-remove&farm=web&member=a&nonce=a+b%2Bc++", 0, 0, NULL,
         LBF_ACT_MEMBER_REMOVE, "a b+c  ", "web", "a", NULL, 0, 0},
        /* an encoded '&' or '=' stays inside its value */
        {"action=member-remove&farm=web&member=a&nonce=x%26farm%3Devil", 0, 0,
         NULL, LBF_ACT_MEMBER_REMOVE, "x&farm=evil", "web", "a", NULL, 0, 0},
        /* empty pairs are skipped */
        {"&&action=member-remove&&farm=web&member=a&", 0, 0, NULL,
         LBF_ACT_MEMBER_REMOVE, NULL, "web", "a", NULL, 0, 0},
        /* a field without '=' is an empty value */
        {"nonce&action=member-remove&farm=web&member=a", 0, 0, NULL,
         LBF_ACT_MEMBER_REMOVE, "", "web", "a", NULL, 0, 0},
        /* fields the action does not use are ignored, whatever they hold */
        {"action=member-remove&farm=web&member=a&state=bogus&weight=999"
         "&url=%01",
         0, 0, NULL, LBF_ACT_MEMBER_REMOVE, NULL, "web", "a", NULL, 0, 0},
        {"action=farm-state&farm=web&state=online&member=not+a+name"
         "&weight=0&url=x",
         0, 0, NULL, LBF_ACT_FARM_STATE, NULL, "web", NULL, NULL,
         LBF_ADMIN_ENABLED, 0},
        {"action=member-state&farm=web&member=a&state=up&weight=-1", 0, 0,
         NULL, LBF_ACT_MEMBER_STATE, NULL, "web", "a", NULL,
         LBF_ADMIN_ENABLED, 0},
        /* only len bytes count */
        {"action=member-remove&farm=web&member=abXYZ", 39, 0, NULL,
         LBF_ACT_MEMBER_REMOVE, NULL, "web", "ab", NULL, 0, 0},
        /* the nonce is extracted, never checked here */
        {"action=member-remove&farm=web&member=a&nonce=%0A%C3%A9", 0, 0, NULL,
         LBF_ACT_MEMBER_REMOVE, "\n\xc3\xa9", "web", "a", NULL, 0, 0},
    };

    s_form_run(cases, LBF_T_NELEMS(cases));
}
END_TEST

START_TEST(admin_parse_refuses_malformed_bodies_with_exact_errors)
{
    static const struct s_form_case cases[] = {
        /* action */
        S_E("", 0,
         "action: missing"),
        S_E("farm=web&member=a", 0,
         "action: missing"),
        S_E("action=member-kill&farm=web&member=a", 0,
         "action: expected member-state, member-weight, farm-state, "
         "member-add or member-remove"),
        S_E("action=Member-Remove&farm=web&member=a", 0,
         "action: expected member-state, member-weight, farm-state, "
         "member-add or member-remove"),
        S_E("action=&farm=web&member=a", 0,
         "action: expected member-state, member-weight, farm-state, "
         "member-add or member-remove"),
        S_E("action=member-remove+&farm=web&member=a", 0,
         "action: expected member-state, member-weight, farm-state, "
         "member-add or member-remove"),
        /* missing fields */
        S_E("action=member-state&member=a&state=up", 0,
         "farm: missing"),
        S_E("action=member-state&farm=&member=a&state=up", 0,
         "farm: missing"),
        S_E("action=farm-state&state=up", 0,
         "farm: missing"),
        S_E("action=member-state&farm=web&state=up", 0,
         "member: missing"),
        S_E("action=member-remove&farm=web&member", 0,
         "member: missing"),
        S_E("action=member-state&farm=web&member=a", 0,
         "state: missing"),
        S_E("action=member-state&farm=web&member=a&state=", 0,
         "state: missing"),
        S_E("action=farm-state&farm=web", 0,
         "state: missing"),
        S_E("action=member-weight&farm=web&member=a", 0,
         "weight: missing"),
        S_E("action=member-weight&farm=web&member=a&weight=", 0,
         "weight: missing"),
        S_E("action=member-add&farm=web&member=a", 0,
         "url: missing"),
        S_E("action=member-add&farm=web&member=a&url=&weight=2", 0,
         "url: missing"),
        /* values of the wrong shape */
        S_E("action=member-state&farm=web&member=a&state=online", 0,
         "state: expected up, offline or drain"),
        S_E("action=member-state&farm=web&member=a&state=UP", 0,
         "state: expected up, offline or drain"),
        S_E("action=farm-state&farm=web&state=up", 0,
         "state: expected online or offline"),
        S_E("action=farm-state&farm=web&state=drain", 0,
         "state: expected online or offline"),
        S_E("action=member-weight&farm=web&member=a&weight=0", 0,
         "weight: expected 1..100"),
        S_E("action=member-weight&farm=web&member=a&weight=101", 0,
         "weight: expected 1..100"),
        S_E("action=member-weight&farm=web&member=a&weight=-1", 0,
         "weight: expected 1..100"),
        S_E("action=member-weight&farm=web&member=a&weight=+1", 0,
         "weight: expected 1..100"),
        S_E("action=member-weight&farm=web&member=a&weight=1.5", 0,
         "weight: expected 1..100"),
        S_E("action=member-weight&farm=web&member=a&weight=99999999999999999999", 0,
         "weight: expected 1..100"),
        S_E("action=member-add&farm=web&member=a&url=http://h&weight=0", 0,
         "weight: expected 1..100"),
        S_E("action=member-add&farm=web&member=a&url=http://h/a+b", 0,
         "url: only printable ASCII, no spaces"),
        S_E("action=member-add&farm=web&member=a&url=http://h/%09", 0,
         "url: only printable ASCII, no spaces"),
        S_E("action=member-add&farm=web&member=a&url=http://h/%7F", 0,
         "url: only printable ASCII, no spaces"),
        S_E("action=member-add&farm=web&member=a&url=http://h/%C3%A9", 0,
         "url: only printable ASCII, no spaces"),
        S_E("action=member-remove&farm=-web&member=a", 0,
         "farm: " S_BADNAME),
        S_E("action=member-remove&farm=we+b&member=a", 0,
         "farm: " S_BADNAME),
        S_E("action=member-remove&farm=web&member=a.b", 0,
         "member: " S_BADNAME),
        S_E("action=member-remove&farm=web&member=%3Cb%3E", 0,
         "member: " S_BADNAME),
        /* oversized values */
        S_E("action=member-remove&farm=web&member=" S_N32, 0,
         "member: " S_BADNAME),
        S_E("action=farm-state&farm=" S_N32 "&state=online", 0,
         "farm: " S_BADNAME),
        S_E("action=member-add&farm=web&member=a&url=" S_U128, 0,
         "url: longer than 127 bytes"),
        /* repeated and unknown fields */
        S_E("action=member-remove&action=member-remove&farm=web&member=a", 0,
         "action: repeated"),
        S_E("action=member-remove&farm=web&farm=web&member=a", 0,
         "farm: repeated"),
        S_E("action=member-remove&farm=a&f%61rm=b&member=a", 0,
         "farm: repeated"),
        S_E("action=member-remove&farm=&farm=web&member=a", 0,
         "farm: repeated"),
        S_E("action=member-remove&farm=web&member=a&nonce=&nonce=", 0,
         "nonce: repeated"),
        S_E("action=member-remove&farm=web&member=a&url=x&url=y", 0,
         "url: repeated"),
        S_E("action=member-remove&farm=web&member=a&foo=1", 0,
         S_UNKNOWN),
        S_E("Action=member-remove&farm=web&member=a", 0,
         S_UNKNOWN),
        S_E("action+=member-remove&farm=web&member=a", 0,
         S_UNKNOWN),
        S_E("=x&action=member-remove&farm=web&member=a", 0,
         S_UNKNOWN),
        S_E("action=member-remove&farm=web&member=a&a%3Db=c", 0,
         S_UNKNOWN),
        /* bad percent-encoding, and NUL however it comes */
        S_E("action=member-remove&farm=we%2&member=a", 0,
         "body: bad percent-encoding"),
        S_E("action=member-remove&farm=web&member=a%", 0,
         "body: bad percent-encoding"),
        S_E("action=member-remove&farm=web&member=a%4", 0,
         "body: bad percent-encoding"),
        S_E("action=member-remove&farm=%G1&member=a", 0,
         "body: bad percent-encoding"),
        S_E("action=member-remove&farm=%1G&member=a", 0,
         "body: bad percent-encoding"),
        S_E("action=member-remove&farm=%%41&member=a", 0,
         "body: bad percent-encoding"),
        S_E("ac%tion=member-remove&farm=web&member=a", 0,
         "body: bad percent-encoding"),
        S_E("action=member-remove&farm=web&member=a%00b", 0,
         "body: bad percent-encoding"),
        S_E("action=member-remove&farm=web&member=a\0b", 39,
         "body: NUL byte"),
        S_E("\0action=member-remove&farm=web&member=a", 39,
         "body: NUL byte"),
    };

    s_form_run(cases, LBF_T_NELEMS(cases));
}
END_TEST

START_TEST(admin_parse_handles_bodies_of_the_maximum_size)
{
    /* LBF_ADMIN_BODY_MAX bytes: a valid request padded with empty pairs,
     * then the same with a url value that fills it */
    static char body[LBF_ADMIN_BODY_MAX + 1];
    static const char head[] = "action=member-remove&farm=web&member=a";
    static const char add[] = "action=member-add&farm=web&member=a&url=";
    struct lbf_admin_req q;
    char err[128];
    size_t n = strlen(head);

    memcpy(body, head, n);
    memset(body + n, '&', LBF_ADMIN_BODY_MAX - n);
    ck_assert_int_eq(lbf_admin_parse(body, LBF_ADMIN_BODY_MAX, &q, err,
                                     sizeof(err)), 0);
    ck_assert_int_eq(q.action, LBF_ACT_MEMBER_REMOVE);
    ck_assert_str_eq(q.member, "a");

    n = strlen(add);
    memcpy(body, add, n);
    memset(body + n, 'u', LBF_ADMIN_BODY_MAX - n);
    ck_assert_int_eq(lbf_admin_parse(body, LBF_ADMIN_BODY_MAX, &q, err,
                                     sizeof(err)), -1);
    ck_assert_str_eq(err, "url: longer than 127 bytes");
}
END_TEST

START_TEST(admin_parse_truncates_its_error_to_errlen)
{
    char body[] = "farm=web";
    char err[8];
    struct lbf_admin_req q;

    memset(err, 'X', sizeof(err));
    ck_assert_int_eq(lbf_admin_parse(body, strlen(body), &q, err,
                                     sizeof(err)), -1);
    ck_assert_str_eq(err, "action:"); /* "action: missing", 7 + NUL */
}
END_TEST

START_TEST(admin_parse_points_every_string_into_the_body)
{
    /* found by fuzz_admin: a field without '=' was a string literal */
    char body[] = "nonce&action=member-add&farm=web&member=a&url=http://h";
    struct lbf_admin_req q;
    char err[64];

    ck_assert_int_eq(lbf_admin_parse(body, strlen(body), &q, err,
                                     sizeof(err)), 0);
    ck_assert_str_eq(q.nonce, "");
    ck_assert(q.nonce >= body && q.nonce < body + sizeof(body));
    ck_assert(q.url >= body && q.url < body + sizeof(body));
    ck_assert(q.member >= body && q.member < body + sizeof(body));
    ck_assert(q.farm >= body && q.farm < body + sizeof(body));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Member hosts                                                         */

START_TEST(admin_host_valid_takes_names_and_addresses_only)
{
    static const struct {
        const char *host;
        int want;
    } cases[] = {
        {"example.com", 1},
        {"a", 1},
        {"my_host", 1},
        {"a-b.c-d", 1},
        {"0a.9z", 1},
        {"Example.COM", 1},
        {"10.0.0.1", 1},
        {"255.255.255.255", 1},
        {"::1", 1},
        {"2001:db8::1", 1},
        {"::ffff:10.0.0.1", 1},
        {"", 0},
        {"<b>", 0},
        {"a<b", 0},
        {"a b", 0},
        {"a\tb", 0},
        {"-a", 0},
        {"a-", 0},
        {"a.-b", 0},
        {"a..b", 0},
        {".a", 0},
        {"a.", 0},
        {"1.2.3", 0},
        {"256.1.1.1", 0},
        {"1.2.3.4.5", 0},
        {"01.2.3.4", 0},
        {"::g", 0},
        {"[::1]", 0},
        {"1:2", 0},
        {"a/b", 0},
        {"a%b", 0},
        {"a@b", 0},
        {"a\"b", 0},
        {"\xc3\xa9t\xc3\xa9", 0},
    };
    char name[300];
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        ck_assert_msg(lbf_host_valid(cases[i].host) == cases[i].want,
                      "case %zu \"%s\": want %d", i, cases[i].host,
                      cases[i].want);
    }
    /* a label of 63 bytes, not 64; a name of 253 bytes, not 254 */
    memset(name, 'a', 63);
    name[63] = '\0';
    ck_assert_int_eq(lbf_host_valid(name), 1);
    memcpy(name + 63, "a", 2);
    ck_assert_int_eq(lbf_host_valid(name), 0);
    for (i = 0; i < 253; i++) {
        name[i] = i % 2 ? '.' : 'a';
    }
    name[253] = '\0';
    ck_assert_int_eq(lbf_host_valid(name), 1);
    memcpy(name + 253, "a", 2); /* "...a.a" + "a": 254 bytes */
    name[252] = 'a';
    ck_assert_int_eq(lbf_host_valid(name), 0);
}
END_TEST

Suite *lbf_suite_admin(void)
{
    Suite *s = suite_create("admin");
    TCase *ses = tcase_create("session");
    TCase *ori = tcase_create("origin");
    TCase *form = tcase_create("form");

    tcase_set_timeout(ses, LBF_T_TIMEOUT);
    tcase_add_test(ses, status_sid_valid_is_exactly_32_lowercase_hex);
    tcase_add_test(ses, status_nonce_matches_independent_hmac_vectors);
    tcase_add_test(ses, status_nonce_is_deterministic_per_key_and_session);
    tcase_add_test(ses, status_nonce_ok_accepts_only_the_exact_nonce);
    suite_add_tcase(s, ses);

    tcase_set_timeout(ori, LBF_T_TIMEOUT);
    tcase_add_test(ori, status_same_origin_follows_origin_then_referer);
    tcase_add_test(ori, status_same_origin_refuses_an_oversized_host);
    tcase_add_test(ori, admin_origin_parse_reads_scheme_host_and_port_exactly);
    tcase_add_test(ori,
                   admin_origin_parse_reads_only_len_bytes_and_bounds_the_host);
    tcase_add_test(ori,
                   admin_origin_must_be_a_server_name_not_the_clients_host);
    tcase_add_test(ori, admin_origin_wildcards_match_as_serveralias_does);
    suite_add_tcase(s, ori);

    tcase_set_timeout(form, LBF_T_TIMEOUT);
    tcase_add_test(form, admin_parse_reads_every_action_exactly);
    tcase_add_test(form, admin_parse_decodes_percent_plus_and_empty_pairs);
    tcase_add_test(form,
                   admin_parse_refuses_malformed_bodies_with_exact_errors);
    tcase_add_test(form, admin_parse_handles_bodies_of_the_maximum_size);
    tcase_add_test(form, admin_parse_truncates_its_error_to_errlen);
    tcase_add_test(form, admin_parse_points_every_string_into_the_body);
    tcase_add_test(form, admin_host_valid_takes_names_and_addresses_only);
    suite_add_tcase(s, form);
    return s;
}
