/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_conf.c -- the pure parsers behind the directives (lbfarm_conf.h):
 * lbf_parse_uint (digits only, bounds, no overflow), lbf_parse_digits
 * (1..19 digits of a slice), lbf_parse_milli
 * (thousandths, at most 3 decimals, -1 malformed / -2 above max),
 * lbf_name_valid ([A-Za-z0-9_-]{1,31}, leading letter or digit) and the
 * farm-reference rule lbf_url_farm_ref (one label, no port, not an IP
 * literal, not localhost, http/https only; the targets of stock
 * configurations -- ProxyPassMatch templates, unix: sockets, host:port,
 * balancer:// -- name no farm), and the trailing-comment finder
 * lbf_conf_comment (the first unquoted word opening with '#').
 * Table-driven, exact.
 */
#include <limits.h>

#include "lbf_unit.h"
#include "lbfarm_conf.h"

START_TEST(conf_parse_uint_accepts_digits_within_bounds)
{
    static const struct {
        const char *s;
        uint32_t lo, hi;
        int rc;
        uint32_t want;
    } cases[] = {
        {"0", 0, 10, 0, 0},
        {"10", 0, 10, 0, 10}, /* hi is inclusive */
        {"11", 0, 10, -1, 0},
        {"1", 1, 100, 0, 1}, /* lo is inclusive */
        {"0", 1, 100, -1, 0},
        {"100", 1, 100, 0, 100},
        {"101", 1, 100, -1, 0},
        {"007", 1, 100, 0, 7}, /* leading zeros are digits */
        {"000000000000000000000042", 0, 100, 0, 42},
        {"3600", 0, 3600, 0, 3600},
        {"3601", 0, 3600, -1, 0},
        {"4294967295", 0, UINT32_MAX, 0, UINT32_MAX},
        {"4294967296", 0, UINT32_MAX, -1, 0}, /* overflow */
        {"18446744073709551616", 0, UINT32_MAX, -1, 0},
        {"99999999999999999999999999", 0, UINT32_MAX, -1, 0},
        {"", 0, 10, -1, 0},   /* empty */
        {"-1", 0, 10, -1, 0}, /* signs */
        {"+1", 0, 10, -1, 0},
        {"-0", 0, 10, -1, 0},
        {" 1", 0, 10, -1, 0}, /* spaces */
        {"1 ", 0, 10, -1, 0},
        {"1 0", 0, 100, -1, 0},
        {"\t1", 0, 10, -1, 0},
        {"1\n", 0, 10, -1, 0},
        {"0x10", 0, 100, -1, 0}, /* no other bases */
        {"1e2", 0, 1000, -1, 0},
        {"1.0", 0, 10, -1, 0},
        {"1,0", 0, 100, -1, 0},
        {"abc", 0, 10, -1, 0},
        {"\xef\xbc\x95", 0, 10, -1, 0}, /* fullwidth 5: not ASCII */
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        uint32_t out = 0xdeadbeefu;
        int rc = lbf_parse_uint(cases[i].s, cases[i].lo, cases[i].hi, &out);

        ck_assert_msg(rc == cases[i].rc,
                      "case %zu \"%s\" [%u..%u]: rc %d, "
                      "want %d",
                      i, cases[i].s, cases[i].lo, cases[i].hi, rc, cases[i].rc);
        if (cases[i].rc == 0) {
            ck_assert_msg(out == cases[i].want, "case %zu \"%s\": %u, want %u",
                          i, cases[i].s, out, cases[i].want);
        }
        else {
            ck_assert_msg(out == 0xdeadbeefu,
                          "case %zu \"%s\": *out written "
                          "on failure",
                          i, cases[i].s);
        }
    }
}
END_TEST

START_TEST(conf_parse_uint_rejects_null)
{
    uint32_t out = 7;

    ck_assert_int_eq(lbf_parse_uint(NULL, 0, 10, &out), -1);
    ck_assert_uint_eq(out, 7);
}
END_TEST

START_TEST(conf_parse_milli_reads_thousandths)
{
    static const struct {
        const char *s;
        int64_t max;
        int rc;
        int64_t want;
    } cases[] = {
        {"0", 1000, 0, 0},
        {"1", 1000, 0, 1000},
        {"0.42", 1000, 0, 420},
        {"0.4", 1000, 0, 400},
        {"0.001", 1000, 0, 1},
        {"12.345", 1000, 0, 12345},
        {"1.050", 1000, 0, 1050},
        {"17", 1000, 0, 17000},
        {"007.5", 1000, 0, 7500},
        {"1000", 1000, 0, 1000000}, /* max is inclusive */
        {"1000.000", 1000, 0, 1000000},
        {"1000.001", 1000, -2, 0}, /* above max */
        {"1001", 1000, -2, 0},
        {"1000000000", 1000000000, 0, 1000000000000LL},
        {"1000000000.001", 1000000000, -2, 0},
        {"1000000001", 1000000000, -2, 0},
        {"999999999.999", 1000000000, 0, 999999999999LL},
        {"000000000000000001", 1000, 0, 1000}, /* 18 digits */
        {"999999999999999999", 1000000000, -2, 0},
        {"0.5", 0, -2, 0}, /* above max 0 */
        {"0", 0, 0, 0},
        {"1", 0, -2, 0},
        {"", 1000, -1, 0}, /* malformed: -1 */
        {".5", 1000, -1, 0},
        {"1.", 1000, -1, 0},
        {"1.2345", 1000, -1, 0}, /* 4 decimals */
        {"1..2", 1000, -1, 0},
        {"1.2.3", 1000, -1, 0},
        {"-1", 1000, -1, 0},
        {"+1", 1000, -1, 0},
        {"1e3", 1000, -1, 0},
        {"1E3", 1000, -1, 0},
        {"50%", 1000, -1, 0},
        {" 1", 1000, -1, 0},
        {"1 ", 1000, -1, 0},
        {"0x1", 1000, -1, 0},
        {"inf", 1000, -1, 0},
        {"nan", 1000, -1, 0},
        {"1,5", 1000, -1, 0},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        int64_t out = -7;
        int rc =
            lbf_parse_milli(cases[i].s, strlen(cases[i].s), cases[i].max, &out);

        ck_assert_msg(rc == cases[i].rc,
                      "case %zu \"%s\" max %lld: rc %d, "
                      "want %d",
                      i, cases[i].s, (long long)cases[i].max, rc, cases[i].rc);
        if (cases[i].rc == 0) {
            ck_assert_msg(out == cases[i].want,
                          "case %zu \"%s\": %lld, want "
                          "%lld",
                          i, cases[i].s, (long long)out,
                          (long long)cases[i].want);
        }
        else {
            ck_assert_msg(out == -7,
                          "case %zu \"%s\": *out written on "
                          "failure",
                          i, cases[i].s);
        }
    }
}
END_TEST

START_TEST(conf_parse_milli_reads_decimals_of_any_length)
{
    /* leading zeros are the same number, and a long number is above max
     * (-2), not malformed (-1), so that a push says "out of range". */
    static const struct {
        const char *s;
        int64_t max;
        int rc;
        int64_t want;
    } cases[] = {
        {"0000000000000000001", 1000, 0, 1000}, /* 19 digits */
        /* more than 19 integer digits: above max, whatever their value
         * (lbfarm_conf.c's choice: "long all-digit values are out of
         * range") */
        {"0000000000000000000000001", 1000, -2, 0},
        {"0000000000000000001.5", 1000, 0, 1500},
        {"9999999999999999999", 1000000000, -2, 0},
        {"99999999999999999999", 1000000000, -2, 0},
        {"1000000000000000000000000.5", 1000000000, -2, 0},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        int64_t out = -7;
        int rc =
            lbf_parse_milli(cases[i].s, strlen(cases[i].s), cases[i].max, &out);

        ck_assert_msg(rc == cases[i].rc && (rc != 0 || out == cases[i].want),
                      "\"%s\" max %lld: rc %d out %lld, want rc %d out %lld",
                      cases[i].s, (long long)cases[i].max, rc, (long long)out,
                      cases[i].rc, (long long)cases[i].want);
    }
}
END_TEST

/* Copy s[0..n) to the very end of a page followed by an inaccessible
 * page: any read past n faults, in the plain build as under ASan. */
static const char *conf_guarded(const char *s, size_t n)
{
    long pg = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    ck_assert(p != MAP_FAILED && n <= (size_t)pg);
    ck_assert_int_eq(mprotect(p + pg, (size_t)pg, PROT_NONE), 0);
    memcpy(p + pg - n, s, n);
    return p + pg - n;
}

START_TEST(conf_parsers_read_no_byte_past_n)
{
    static const struct {
        const char *s;
        int rc;
    } cases[] = {
        {"1", 0},
        {"12.345", 0},
        {"1.", -1},
        {"1.2345", -1},
        {"x", -1},
        {"1000000000", 0},
        {"1000000001", -2},
        {"1234567890123456789", -2},  /* 19 digits */
        {"12345678901234567890", -2}, /* 20 digits */
        {"1234567890123456789012345", -2},
        {"1234567890123456789012345.5", -2}, /* long integer part */
        {"1234567890123456789012345x", -1},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        size_t n = strlen(cases[i].s);
        const char *g = conf_guarded(cases[i].s, n);
        int64_t out;
        uint64_t d;

        ck_assert_msg(lbf_parse_milli(g, n, 1000000000, &out) == cases[i].rc,
                      "\"%s\"", cases[i].s);
        (void)lbf_parse_digits(g, n, &d);
    }
}
END_TEST

START_TEST(conf_parse_digits_reads_1_to_19_digits)
{
    static const struct {
        const char *s;
        size_t n; /* 0: strlen */
        int rc;
        uint64_t want;
    } cases[] = {
        {"0", 0, 0, 0},
        {"7", 0, 0, 7},
        {"007", 0, 0, 7},
        {"1700000000", 0, 0, 1700000000ull},
        {"9223372036854775807", 0, 0, 9223372036854775807ull},
        {"9999999999999999999", 0, 0, 9999999999999999999ull}, /* 19 */
        {"0000000000000000001", 0, 0, 1},
        {"10000000000000000000", 0, -1, 0}, /* 20 digits */
        {"18446744073709551616", 0, -1, 0},
        {"", 0, -1, 0},
        {"-1", 0, -1, 0},
        {"+1", 0, -1, 0},
        {" 1", 0, -1, 0},
        {"1 ", 0, -1, 0},
        {"1.0", 0, -1, 0},
        {"0x1", 0, -1, 0},
        {"12a", 0, -1, 0},
        {"123&seq=5", 3, 0, 123}, /* only n bytes */
        {"12345", 2, 0, 12},
        {"1\0"
         "2",
         3, -1, 0}, /* NUL is no digit */
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        uint64_t out = 0xdeadbeefull;
        size_t n = cases[i].n ? cases[i].n : strlen(cases[i].s);
        int rc = lbf_parse_digits(cases[i].s, n, &out);

        ck_assert_msg(rc == cases[i].rc, "case %zu \"%s\": rc %d, want %d", i,
                      cases[i].s, rc, cases[i].rc);
        ck_assert_msg(out == (rc == 0 ? cases[i].want : 0xdeadbeefull),
                      "case %zu \"%s\": %llu", i, cases[i].s,
                      (unsigned long long)out);
    }
}
END_TEST

START_TEST(conf_parse_milli_reads_only_n_bytes)
{
    int64_t out = 0;

    /* the value is a slice of a longer buffer, as in a query string */
    ck_assert_int_eq(lbf_parse_milli("0.42&db=17", 4, 1000, &out), 0);
    ck_assert_int_eq(out, 420);
    ck_assert_int_eq(lbf_parse_milli("12345", 2, 1000, &out), 0);
    ck_assert_int_eq(out, 12000);
    ck_assert_int_eq(lbf_parse_milli("1.5xyz", 3, 1000, &out), 0);
    ck_assert_int_eq(out, 1500);
    ck_assert_int_eq(lbf_parse_milli("1.5", 0, 1000, &out), -1);
    /* a dot beyond n is not seen */
    ck_assert_int_eq(lbf_parse_milli("7.1234", 1, 1000, &out), 0);
    ck_assert_int_eq(out, 7000);
}
END_TEST

START_TEST(conf_name_valid_follows_the_name_rule)
{
    static const struct {
        const char *s;
        int want;
    } cases[] = {
        {"a", 1},
        {"Z", 1},
        {"7", 1}, /* a digit may lead */
        {"farm_one", 1},
        {"FARM-ONE", 1},
        {"m1", 1},
        {"a-b_c-9", 1},
        {"abcdefghijklmnopqrstuvwxyz01234", 1},  /* 31 characters */
        {"abcdefghijklmnopqrstuvwxyz012345", 0}, /* 32 */
        {"abcdefghijklmnopqrstuvwxyz0123456789", 0},
        {"", 0},
        {"-a", 0}, /* must start alnum */
        {"_a", 0},
        {"a.b", 0},
        {"a b", 0},
        {"a/b", 0},
        {"a:b", 0},
        {"a@b", 0},
        {"a\"b", 0},
        {"a\tb", 0},
        {"a\x01", 0},
        {"a\x7f", 0},
        {"caf\xc3\xa9", 0}, /* non-ASCII */
        {"\xff", 0},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        ck_assert_msg(lbf_name_valid(cases[i].s) == cases[i].want,
                      "case %zu (len %zu): want %d", i, strlen(cases[i].s),
                      cases[i].want);
    }
    ck_assert_int_eq(lbf_name_valid(NULL), 0);
}
END_TEST

START_TEST(conf_url_farm_ref_names_one_label_hosts_only)
{
    static const struct {
        const char *url;
        int want;
        size_t off, hlen; /* host = url + off, when want */
    } cases[] = {
        {"http://farm_one/app/", 1, 7, 8},
        {"http://FARM_ONE/app/", 1, 7, 8},
        {"https://farm_one/app/", 1, 8, 8},
        {"HTTP://farm_one/", 1, 7, 8}, /* scheme is caseless */
        {"HttpS://farm_one/", 1, 8, 8},
        {"http://farm_one", 1, 7, 8}, /* no path */
        {"http://farm_one?x=1", 1, 7, 8},
        {"http://farm_one#frag", 1, 7, 8},
        {"http://f/", 1, 7, 1},
        {"http://farm-2/x", 1, 7, 6},
        {"http://abcdefghijklmnopqrstuvwxyz01234/", 1, 7, 31},
        {"http://farm_one:8080/", 0, 0, 0}, /* explicit port */
        {"http://farm_one:/", 0, 0, 0},
        {"http://app.example/", 0, 0, 0}, /* dotted */
        {"http://farm_one./", 0, 0, 0},
        {"http://127.0.0.1/", 0, 0, 0},
        {"http://127.0.0.1:9001/", 0, 0, 0},
        {"http://localhost/", 0, 0, 0},
        {"http://LocalHost/", 0, 0, 0},
        {"http://localhost:80/", 0, 0, 0},
        {"http://[::1]/", 0, 0, 0}, /* IPv6 literal */
        {"http://[::1]:80/", 0, 0, 0},
        {"http://[fe80::1%25eth0]/", 0, 0, 0},
        {"http://2130706433/", 0, 0, 0}, /* digits only */
        {"http://0/", 0, 0, 0},
        {"http://user@farm_one/", 0, 0, 0}, /* userinfo */
        {"http://user:pw@farm_one/", 0, 0, 0},
        {"balancer://farm_one/", 0, 0, 0},
        {"ftp://farm_one/", 0, 0, 0},
        {"ws://farm_one/", 0, 0, 0},
        {"httpx://farm_one/", 0, 0, 0},
        {"xhttp://farm_one/", 0, 0, 0},
        {"farm_one", 0, 0, 0}, /* no scheme */
        {"farm_one/app/", 0, 0, 0},
        {"//farm_one/", 0, 0, 0},
        {"http:/farm_one/", 0, 0, 0},
        {"http//farm_one/", 0, 0, 0},
        {"http://", 0, 0, 0}, /* empty host */
        {"http:///app/", 0, 0, 0},
        {"", 0, 0, 0},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        const char *host = NULL;
        size_t hlen = 12345;
        int got = lbf_url_farm_ref(cases[i].url, &host, &hlen);

        ck_assert_msg(got == cases[i].want, "case %zu \"%s\": %d, want %d", i,
                      cases[i].url, got, cases[i].want);
        if (cases[i].want) {
            ck_assert_msg(host == cases[i].url + cases[i].off,
                          "case %zu \"%s\": host at offset %td, want %zu", i,
                          cases[i].url, host - cases[i].url, cases[i].off);
            ck_assert_msg(hlen == cases[i].hlen,
                          "case %zu \"%s\": hlen %zu, "
                          "want %zu",
                          i, cases[i].url, hlen, cases[i].hlen);
        }
        else {
            ck_assert_msg(host == NULL && hlen == 12345,
                          "case %zu \"%s\": "
                          "outputs written on refusal",
                          i, cases[i].url);
        }
    }
    ck_assert_int_eq(lbf_url_farm_ref(NULL, NULL, NULL), 0);
}
END_TEST

/* The targets stock httpd configurations proxy to, and why each is or is
 * not a farm reference.  A 0 here means the glue declines the URL (stock
 * mod_proxy serves it) and start-up never checks it for a farm. */
START_TEST(conf_url_farm_ref_leaves_stock_targets_to_mod_proxy)
{
    static const struct {
        const char *url;
        int want;
        const char *why;
    } cases[] = {
        /* localhost is shaped like a farm name, but it is what stock
         * configurations (httpd-tests among them) proxy to: never a farm,
         * so a config proxying to it is never refused ("http://localhost/"
         * and "http://farm_one/..." are in the test above) */
        {"http://localhost", 0, "localhost without a path"},
        {"https://LOCALHOST/x", 0, "localhost in any case"},
        {"http://localhostx/", 1, "only the exact label localhost"},
        {"http://localhos/", 1, "a prefix of localhost is a name"},
        /* ProxyPassMatch templates: '$' is no name character, so the
         * template names no farm; the substituted URL is decided at
         * request time */
        {"http://localhost$1", 0, "httpd-tests' ProxyPassMatch target"},
        {"http://$1/$2", 0, "the host is a substitution"},
        {"http://farm_one$1", 0, "a substitution glued to the host"},
        {"http://${backend}/i/", 0, "an interpolated host"},
        {"http://host:8080/", 0, "an explicit port"},
        {"https://host:8443/q/", 0, "an explicit port, https"},
        {"http://10.0.0.1/", 0, "an IPv4 literal (dots)"},
        {"http://10.0.0.1:9/", 0, "an IPv4 literal with a port"},
        {"http://a.b.example/", 0, "a dotted host name"},
        {"http://a.b.example:81/$1", 0, "dotted, port, substitution"},
        /* the raw Unix-socket form names no farm ("://" is not after the
         * scheme); mod_proxy hands the glue only the part after '|',
         * which start-up skips by the worker's uds_path */
        {"unix:/path|http://x", 0, "a Unix socket target"},
        {"unix:/run/php.sock|fcgi://localhost/", 0, "fcgi over a socket"},
        {"balancer://x", 0, "a stock balancer"},
        {"balancer://x/$1", 0, "a stock balancer, regex target"},
        {"ws://backend:8080/ws/", 0, "another scheme"},
        {"wss://ws.example.com/", 0, "another scheme, dotted"},
        {"!", 0, "a ProxyPass exclusion"},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        const char *host = NULL;
        size_t hlen = 0;
        int got = lbf_url_farm_ref(cases[i].url, &host, &hlen);

        ck_assert_msg(got == cases[i].want, "case %zu \"%s\" (%s): %d, want %d",
                      i, cases[i].url, cases[i].why, got, cases[i].want);
        if (got) {
            const char *h = strstr(cases[i].url, "://") + 3;

            ck_assert_msg(host == h && hlen == strcspn(h, ":/?#"),
                          "case %zu \"%s\": host not the label after ://",
                          i, cases[i].url);
        }
    }
}
END_TEST

/* The ProxyPassMatch case end to end: the template names no farm, the
 * URL mod_proxy substitutes for one request does, with its host in place. */
START_TEST(conf_url_farm_ref_decides_substituted_urls)
{
    const char *url = "http://Farm_One/x/y?q=1", *host = NULL;
    size_t hlen = 0;

    ck_assert_int_eq(lbf_url_farm_ref("http://$1/$2", &host, &hlen), 0);
    ck_assert_int_eq(lbf_url_farm_ref(url, &host, &hlen), 1);
    ck_assert_ptr_eq(host, url + 7);
    ck_assert_uint_eq(hlen, 8);
    ck_assert_int_eq(strncmp(host, "Farm_One", hlen), 0);
}
END_TEST

/* lbf_conf_comment: the first word starting with '#' outside quotes. */
START_TEST(conf_comment_finds_trailing_hash_words)
{
    static const struct {
        const char *args;
        int off; /* -1: none */
    } cases[] = {
        {"", -1},
        {"least-load", -1},
        {"m1 http://127.0.0.1:9001 weight=2", -1},
        {"least-load # fewest in flight", 11},
        {"least-load #", 11},
        {"#all", 0},
        {"   # lead", 3},
        {"5\t# tab", 2},
        {"5 \t #x", 4},
        {"a#b", -1},               /* inside a word: a value */
        {"/hc#x", -1},
        {"http://h/#frag", -1},
        {"\"/hc#x\"", -1},         /* quoted: a value */
        {"'# not a comment'", -1},
        {"\"a b\" # c", 6},
        {"'a b' # c", 6},
        {"\"a \\\" # b\" c", -1},  /* \" does not end the quote */
        {"\"a \\\\\" # c", 7},     /* \\ then the closing quote */
        {"\"never closed # c", -1}, /* the quote runs to the end */
        {"x \"y\" z # w", 8},
        {"a # b # c", 2},          /* the first one */
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        const char *c = lbf_conf_comment(cases[i].args);
        int got = c == NULL ? -1 : (int)(c - cases[i].args);

        ck_assert_msg(got == cases[i].off, "case %zu [%s]: %d, want %d", i,
                      cases[i].args, got, cases[i].off);
    }
    ck_assert_ptr_null(lbf_conf_comment(NULL));
}
END_TEST

Suite *lbf_suite_conf(void)
{
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("parsers");

    tcase_set_timeout(tc, LBF_T_TIMEOUT);
    tcase_add_test(tc, conf_parse_uint_accepts_digits_within_bounds);
    tcase_add_test(tc, conf_parse_uint_rejects_null);
    tcase_add_test(tc, conf_parse_milli_reads_thousandths);
    tcase_add_test(tc, conf_parse_milli_reads_decimals_of_any_length);
    tcase_add_test(tc, conf_parse_milli_reads_only_n_bytes);
    tcase_add_test(tc, conf_parse_digits_reads_1_to_19_digits);
    tcase_add_test(tc, conf_parsers_read_no_byte_past_n);
    tcase_add_test(tc, conf_name_valid_follows_the_name_rule);
    tcase_add_test(tc, conf_url_farm_ref_names_one_label_hosts_only);
    tcase_add_test(tc, conf_url_farm_ref_leaves_stock_targets_to_mod_proxy);
    tcase_add_test(tc, conf_url_farm_ref_decides_substituted_urls);
    tcase_add_test(tc, conf_comment_finds_trailing_hash_words);
    suite_add_tcase(s, tc);
    return s;
}
