/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_heartbeat.c -- mod_heartbeat's UDP beats (lbfarm_heartbeat.c):
 * LBFarmHeartbeatListen's address, datagram validation and parsing (a
 * real mod_heartbeat datagram, the limits, non-text bytes), address
 * equality, and the source-to-member rule (one member, one server in two
 * farms, several ports at one address: ambiguous unless the beat names
 * a port); then a matched beat applied to a row as the receiver does.
 */
#include "lbf_unit.h"
#include "lbfarm_heartbeat.h"
#include "lbfarm_push.h"

struct hb_listen_case {
    const char *spec;
    int ok;
    const char *ip;
    uint16_t port;
    int multicast;
    const char *err;          /* substring of the message when !ok */
};

START_TEST(hb_listen_parses_and_rejects_each_form)
{
    static const struct hb_listen_case cases[] = {
        {"239.0.0.1:27999", 1, "239.0.0.1", 27999, 1, NULL},
        {"127.0.0.1:1", 1, "127.0.0.1", 1, 0, NULL},
        {"0.0.0.0:65535", 1, "0.0.0.0", 65535, 0, NULL},
        {"224.0.0.0:5", 1, "224.0.0.0", 5, 1, NULL},
        {"239.255.255.255:5", 1, "239.255.255.255", 5, 1, NULL},
        {"240.0.0.1:5", 1, "240.0.0.1", 5, 0, NULL},
        {"223.255.255.255:5", 1, "223.255.255.255", 5, 0, NULL},
        {"239.0.0.1", 0, NULL, 0, 0, "expected IPv4-ADDRESS:PORT"},
        {"239.0.0.1:0", 0, NULL, 0, 0, "invalid port \"0\""},
        {"239.0.0.1:65536", 0, NULL, 0, 0, "invalid port \"65536\""},
        {"239.0.0.1:", 0, NULL, 0, 0, "invalid port \"\""},
        {"239.0.0.1:+5", 0, NULL, 0, 0, "invalid port"},
        {"239.0.0.1:5x", 0, NULL, 0, 0, "invalid port"},
        {":27999", 0, NULL, 0, 0, "dotted-quad"},
        {"239.0.0:27999", 0, NULL, 0, 0, "not a dotted-quad"},
        {"239.0.0.256:27999", 0, NULL, 0, 0, "not a dotted-quad"},
        {"localhost:27999", 0, NULL, 0, 0, "no host names"},
        {"[::1]:27999", 0, NULL, 0, 0, "IPv6"},
        {"ff02::1:27999", 0, NULL, 0, 0, "IPv6"},
        {"1234567890123456789:1", 0, NULL, 0, 0, "dotted-quad"},
        {"", 0, NULL, 0, 0, "expected IPv4-ADDRESS:PORT"},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        const struct hb_listen_case *c = &cases[i];
        char ip[LBF_HB_IP_MAX], err[160];
        uint16_t port = 0;
        int mc = -1, rc = lbf_hb_parse_listen(c->spec, ip, &port, &mc, err,
                                              sizeof(err));

        ck_assert_msg((rc == 0) == c->ok, "\"%s\": rc %d (%s)", c->spec, rc,
                      err);
        if (c->ok) {
            ck_assert_str_eq(ip, c->ip);
            ck_assert_uint_eq(port, c->port);
            ck_assert_int_eq(mc, c->multicast);
            ck_assert_str_eq(err, "");
        }
        else {
            ck_assert_msg(strstr(err, c->err) != NULL, "\"%s\": \"%s\" lacks "
                          "\"%s\"", c->spec, err, c->err);
        }
    }
}
END_TEST

START_TEST(hb_listen_error_quotes_the_value)
{
    char ip[LBF_HB_IP_MAX], err[160];
    uint16_t port;
    int mc;

    ck_assert_int_eq(lbf_hb_parse_listen("10.0.0.x:27999", ip, &port, &mc,
                                         err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "\"10.0.0.x:27999\"") != NULL, "%s", err);
    /* a tiny buffer still gets a NUL-terminated message */
    ck_assert_int_eq(lbf_hb_parse_listen("nonsense", ip, &port, &mc, err, 8),
                     -1);
    ck_assert_uint_eq(strlen(err), 7);
}
END_TEST

struct hb_dgram_case {
    const char *what;
    const char *buf;
    size_t len;               /* 0: strlen(buf) */
    int rc;
    uint32_t load, port;
    const char *err;
};

START_TEST(hb_datagram_validates_then_parses)
{
    static const struct hb_dgram_case cases[] = {
        {"mod_heartbeat's own", "v=1&ready=47&busy=3", 0, LBF_PUSH_OK, 60, 0,
         NULL},
        {"with port", "v=1&ready=1&busy=3&port=8080", 0, LBF_PUSH_OK, 750,
         8080, NULL},
        {"trailing newline", "v=1&ready=1&busy=1\n", 0, LBF_PUSH_OK, 500, 0,
         NULL},
        {"trailing CRLF", "v=1&ready=0&busy=4\r\n", 0, LBF_PUSH_OK, 1000, 0,
         NULL},
        {"idle, no slots", "v=1&ready=0&busy=0", 0, LBF_PUSH_OK, 1000, 0,
         NULL},
        {"extra fields", "v=1&ready=3&busy=1&lastseen=2&x=y", 0, LBF_PUSH_OK,
         250, 0, NULL},
        {"empty", "", 0, LBF_PUSH_EBAD, 0, 0, "empty"},
        {"only a newline", "\n", 0, LBF_PUSH_EBAD, 0, 0, "empty"},
        {"NUL inside", "v=1&ready=1\0&busy=1", 19, LBF_PUSH_EBAD, 0, 0,
         "byte 11 is not printable"},
        {"space", "v=1&ready=1 &busy=1", 0, LBF_PUSH_EBAD, 0, 0,
         "not printable"},
        {"high byte", "v=1&ready=1&busy=1\xff", 0, LBF_PUSH_EBAD, 0, 0,
         "not printable"},
        {"inner newline", "v=1\n&ready=1&busy=1", 0, LBF_PUSH_EBAD, 0, 0,
         "not printable"},
        {"version 2", "v=2&ready=1&busy=1", 0, LBF_PUSH_EBAD, 0, 0, "v:"},
        {"no busy", "v=1&ready=1", 0, LBF_PUSH_EBAD, 0, 0, "busy: missing"},
        {"no ready", "v=1&busy=1", 0, LBF_PUSH_EBAD, 0, 0, "ready: missing"},
        {"port out of range", "v=1&ready=1&busy=1&port=65536", 0,
         LBF_PUSH_EBAD, 0, 0, "port"},
        {"not a number", "v=1&ready=x&busy=1", 0, LBF_PUSH_EBAD, 0, 0,
         "ready: expected a number"},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        const struct hb_dgram_case *c = &cases[i];
        uint32_t load = 12345, port = 54321;
        char err[160];
        int rc = lbf_hb_datagram(c->buf, c->len ? c->len : strlen(c->buf),
                                 &load, &port, err, sizeof(err));

        ck_assert_msg(rc == c->rc, "%s: rc %d (%s)", c->what, rc, err);
        if (rc == LBF_PUSH_OK) {
            ck_assert_msg(load == c->load, "%s: load %u, want %u", c->what,
                          load, c->load);
            ck_assert_uint_eq(port, c->port);
            ck_assert_str_eq(err, "");
        }
        else {
            ck_assert_msg(strstr(err, c->err) != NULL, "%s: \"%s\" lacks "
                          "\"%s\"", c->what, err, c->err);
        }
    }
}
END_TEST

START_TEST(hb_datagram_length_limit_is_exact)
{
    char buf[LBF_HB_DGRAM_MAX + 2], err[160];
    uint32_t load, port;
    size_t n;

    /* "v=1&ready=1&busy=1&x=aaaa...": valid up to exactly the limit */
    n = (size_t)snprintf(buf, sizeof(buf), "v=1&ready=1&busy=1&x=");
    memset(buf + n, 'a', sizeof(buf) - n);
    ck_assert_int_eq(lbf_hb_datagram(buf, LBF_HB_DGRAM_MAX, &load, &port,
                                     err, sizeof(err)), LBF_PUSH_OK);
    ck_assert_uint_eq(load, 500);
    ck_assert_int_eq(lbf_hb_datagram(buf, LBF_HB_DGRAM_MAX + 1, &load, &port,
                                     err, sizeof(err)), LBF_PUSH_EBAD);
    ck_assert_msg(strstr(err, "longer than 1000 bytes") != NULL, "%s", err);
}
END_TEST

START_TEST(hb_same_addr_compares_addresses_not_text)
{
    ck_assert_int_eq(lbf_hb_same_addr("127.0.0.1", "127.0.0.1"), 1);
    ck_assert_int_eq(lbf_hb_same_addr("127.0.0.1", "::ffff:127.0.0.1"), 1);
    ck_assert_int_eq(lbf_hb_same_addr("::1", "0:0:0:0:0:0:0:1"), 1);
    ck_assert_int_eq(lbf_hb_same_addr("10.0.0.1", "10.0.0.2"), 0);
    ck_assert_int_eq(lbf_hb_same_addr("localhost", "localhost"), 0);
    ck_assert_int_eq(lbf_hb_same_addr("127.0.0.1", "localhost"), 0);
    ck_assert_int_eq(lbf_hb_same_addr("", ""), 0);
    ck_assert_int_eq(lbf_hb_same_addr("127.0.0.01", "127.0.0.1"), 0);
}
END_TEST

struct hb_match_case {
    const char *what;
    const char *src;
    uint32_t port;
    int rc;
    const char *sel;          /* expected sel[], one '0'/'1' per cand */
};

/* Candidates: a (10.0.0.1:80) in two farms, b and c share 10.0.0.2 on
 * two ports, d has a host name, e is IPv6. */
static const struct lbf_hb_cand hb_cands[] = {
    {"10.0.0.1", 80},  {"10.0.0.1", 80},   {"10.0.0.2", 8080},
    {"10.0.0.2", 8081}, {"backend.example", 80}, {"fd00::5", 8000},
};

START_TEST(hb_match_follows_the_source_rule)
{
    static const struct hb_match_case cases[] = {
        {"one server in two farms", "10.0.0.1", 0, LBF_HB_MATCHED, "110000"},
        {"its port named", "10.0.0.1", 80, LBF_HB_MATCHED, "110000"},
        {"another port named", "10.0.0.1", 81, LBF_HB_NOMEMBER, "000000"},
        {"shared address, no port", "10.0.0.2", 0, LBF_HB_AMBIGUOUS,
         "000000"},
        {"shared address, port 8081", "10.0.0.2", 8081, LBF_HB_MATCHED,
         "000100"},
        {"shared address, port 8080", "10.0.0.2", 8080, LBF_HB_MATCHED,
         "001000"},
        {"no member there", "10.0.0.3", 0, LBF_HB_NOMEMBER, "000000"},
        {"host names never match", "backend.example", 0, LBF_HB_NOMEMBER,
         "000000"},
        {"IPv6 member", "fd00:0::5", 0, LBF_HB_MATCHED, "000001"},
        {"mapped IPv4 source", "::ffff:10.0.0.1", 0, LBF_HB_MATCHED,
         "110000"},
        {"garbage source", "10.0.0.1x", 0, LBF_HB_NOMEMBER, "000000"},
    };
    size_t i, j;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        const struct hb_match_case *c = &cases[i];
        unsigned char sel[LBF_T_NELEMS(hb_cands)];
        int rc;

        memset(sel, 7, sizeof(sel));
        rc = lbf_hb_match(hb_cands, LBF_T_NELEMS(hb_cands), c->src, c->port,
                          sel);
        ck_assert_msg(rc == c->rc, "%s: rc %d (%s), want %d", c->what, rc,
                      lbf_hb_match_text(rc), c->rc);
        for (j = 0; j < LBF_T_NELEMS(hb_cands); j++) {
            ck_assert_msg(sel[j] == (unsigned char)(c->sel[j] - '0'),
                          "%s: sel[%zu] = %u", c->what, j, sel[j]);
        }
    }
}
END_TEST

START_TEST(hb_match_handles_empty_and_null_hosts)
{
    static const struct lbf_hb_cand c[] = {{NULL, 80}, {"10.0.0.9", 80}};
    unsigned char sel[2];

    ck_assert_int_eq(lbf_hb_match(c, 0, "10.0.0.9", 0, sel),
                     LBF_HB_NOMEMBER);
    ck_assert_int_eq(lbf_hb_match(c, 2, "10.0.0.9", 0, sel), LBF_HB_MATCHED);
    ck_assert_uint_eq(sel[0], 0);
    ck_assert_uint_eq(sel[1], 1);
    ck_assert_str_eq(lbf_hb_match_text(LBF_HB_MATCHED), "matched");
    ck_assert_ptr_nonnull(strstr(lbf_hb_match_text(LBF_HB_AMBIGUOUS),
                                 "ambiguous"));
    ck_assert_str_eq(lbf_hb_match_text(99), "?");
}
END_TEST

/* What the receiver does with a matched beat: the HTTP form's apply path,
 * rate-limited by the farm's policy; the row's load is busy/(ready+busy). */
START_TEST(hb_matched_beat_sets_the_row_load)
{
    static const uint32_t w[] = {1, 1};
    static const struct lbf_push_policy pol = {30, 1, 2, 1000};
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_row *r;
    uint32_t load, port;
    char err[160];
    const char *beat = "v=1&ready=30&busy=10";

    lbf_t_segment(&h, 1, 2);
    f = lbf_t_farm(&h, "hb", "pushed-metric", w, NULL, 2, 0);
    r = lbf_t_row(&h, f, 1);
    ck_assert_int_eq(lbf_hb_datagram(beat, strlen(beat), &load, &port, err,
                                     sizeof(err)), LBF_PUSH_OK);
    ck_assert_int_eq(lbf_push_apply_load(&h, r, (uint32_t)getpid(), load,
                                         LBF_T_NOW, &pol),
                     LBF_PUSH_OK);
    ck_assert_uint_eq(atomic_load(&r->load_milli), 250);
    ck_assert_uint_eq(atomic_load(&r->load_ts), LBF_T_NOW);
    ck_assert_uint_eq(atomic_load(&lbf_t_row(&h, f, 0)->load_ts), 0);
    /* burst 2: a third beat at the same instant is over the rate */
    ck_assert_int_eq(lbf_push_apply_load(&h, r, (uint32_t)getpid(), 500,
                                         LBF_T_NOW, &pol),
                     LBF_PUSH_OK);
    ck_assert_int_eq(lbf_push_apply_load(&h, r, (uint32_t)getpid(), 900,
                                         LBF_T_NOW, &pol),
                     LBF_PUSH_ERATE);
    ck_assert_uint_eq(atomic_load(&r->load_milli), 500);
    /* no counter moves: a beat is no request */
    ck_assert_uint_eq(atomic_load(&r->requests), 0);
    ck_assert_int_eq(atomic_load(&r->inflight), 0);
}
END_TEST

Suite *lbf_suite_heartbeat(void)
{
    Suite *s = suite_create("heartbeat");
    TCase *tc = tcase_create("udp");

    tcase_set_timeout(tc, LBF_T_TIMEOUT);
    tcase_add_test(tc, hb_listen_parses_and_rejects_each_form);
    tcase_add_test(tc, hb_listen_error_quotes_the_value);
    tcase_add_test(tc, hb_datagram_validates_then_parses);
    tcase_add_test(tc, hb_datagram_length_limit_is_exact);
    tcase_add_test(tc, hb_same_addr_compares_addresses_not_text);
    tcase_add_test(tc, hb_match_follows_the_source_rule);
    tcase_add_test(tc, hb_match_handles_empty_and_null_hosts);
    tcase_add_test(tc, hb_matched_beat_sets_the_row_load);
    suite_add_tcase(s, tc);
    return s;
}
