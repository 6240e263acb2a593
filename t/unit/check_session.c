/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_session.c -- sticky-session cookies, move cookies, application
 * instructions (lbfarm_session.c) and the member life cycle the sessions
 * rely on (lbfarm_shm.c: usable / sticky_ok per state, health results and
 * the once-per-interval check claim; lbfarm_lbmethods.c: the slow-start
 * ramp).
 *
 * Expected values are computed here from the formats in
 * include/lbfarm_session.h with OpenSSL's one-shot HMAC(), never by calling
 * the code under test twice, so a change in what a key or a mac covers is
 * seen, not just a change in round trips.
 */
#include <ctype.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "lbf_unit.h"
#include "lbfarm_session.h"

#define T_NOW 1700000000u            /* Unix seconds of the tests */
#define T_EXP (T_NOW + 3600u)
#define T_WIN 300u                   /* instruction window, as the glue */

static const char t_secret1[] = "first-secret-0123456789abcdef";
static const char t_secret2[] = "second-secret-fedcba9876543210";
static const char t_secret3[] = "an-unrelated-secret-of-a-stranger";

/* HMAC-SHA256 of a then b under key (klen bytes), written independently of
 * lbfarm_session.c. */
static void t_hmac(const uint8_t *key, size_t klen, const char *a,
                   const char *b, uint8_t out[32])
{
    unsigned char buf[1024];
    unsigned int olen = 32;
    size_t al = strlen(a), bl = strlen(b);

    ck_assert(al + bl <= sizeof(buf));
    memcpy(buf, a, al);
    memcpy(buf + al, b, bl);
    ck_assert_ptr_nonnull(HMAC(EVP_sha256(), key, (int)klen, buf, al + bl,
                               out, &olen));
    ck_assert_uint_eq(olen, 32);
}

static void t_hex(const uint8_t *b, size_t n, char *out)
{
    size_t i;

    for (i = 0; i < n; i++) {
        sprintf(out + 2 * i, "%02x", b[i]);
    }
}

static void t_keys(const char *secret, struct lbf_sess_keys *k)
{
    lbf_sess_keys((const uint8_t *)secret, strlen(secret), k);
}

/* A session cookie value for (farm, mode, id, expiry) under k. */
static void t_cookie(const struct lbf_sess_keys *k, const char *farm,
                     char mode, const char *id, uint32_t expiry,
                     char out[LBF_SESS_COOKIE_LEN + 2])
{
    struct lbf_session s;

    memset(&s, 0, sizeof(s));
    s.mode = mode;
    snprintf(s.id, sizeof(s.id), "%s", id);
    s.expiry = expiry;
    lbf_sess_encode(k, farm, &s, out, LBF_SESS_COOKIE_LEN + 2);
}

static int t_parse(const struct lbf_sess_keys *k, int nk, const char *farm,
                   const char *v, uint32_t now, struct lbf_session *s)
{
    return lbf_sess_parse(k, nk, farm, v, strlen(v), now, s);
}

/* Replace hex digit v[i] by another hex digit. */
static void t_flip_hex(char *v, size_t i)
{
    v[i] = v[i] == '0' ? '1' : '0';
}

/* ------------------------------------------------------------------ */
/* keys and member ids                                                 */

START_TEST(sess_keys_are_hmacs_of_the_secret_per_purpose)
{
    struct lbf_sess_keys k;
    uint8_t want[32];

    t_keys(t_secret1, &k);
    t_hmac((const uint8_t *)t_secret1, strlen(t_secret1), "lbfarm-cookie", "",
           want);
    ck_assert_mem_eq(k.cookie, want, 32);
    t_hmac((const uint8_t *)t_secret1, strlen(t_secret1), "lbfarm-app", "",
           want);
    ck_assert_mem_eq(k.app, want, 32);
    ck_assert_msg(memcmp(k.cookie, k.app, 32) != 0,
                  "the app key must not be the cookie key");
}
END_TEST

static int t_all_lower_hex(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) {
            return 0;
        }
    }
    return s[n] == '\0';
}

START_TEST(sess_member_ids_are_stable_opaque_16_hex)
{
    static const char *const names[] = {"m1", "m2", "web-01", "cafe", "a",
                                        "be", "Backend_7", "dead"};
    char ids[LBF_T_NELEMS(names)][LBF_SESS_ID_HEX + 1];
    char again[LBF_SESS_ID_HEX + 1], other[LBF_SESS_ID_HEX + 1];
    char want[LBF_SESS_ID_HEX + 1];
    struct lbf_sess_keys k1, k2;
    uint8_t m[32];
    size_t i, j;

    t_keys(t_secret1, &k1);
    t_keys(t_secret2, &k2);
    for (i = 0; i < LBF_T_NELEMS(names); i++) {
        char lname[LBF_NAME_SIZE];

        lbf_sess_member_id(&k1, names[i], ids[i]);
        ck_assert_msg(t_all_lower_hex(ids[i], LBF_SESS_ID_HEX),
                      "id of %s is \"%s\", want 16 lowercase hex", names[i],
                      ids[i]);
        /* per spec: first 8 bytes of HMAC(cookie key, "member:" + name) */
        t_hmac(k1.cookie, 32, "member:", names[i], m);
        t_hex(m, 8, want);
        ck_assert_str_eq(ids[i], want);
        /* stable: the same key set gives the same id (restarts, HA pair) */
        lbf_sess_member_id(&k1, names[i], again);
        ck_assert_str_eq(ids[i], again);
        /* another secret: another id */
        lbf_sess_member_id(&k2, names[i], other);
        ck_assert_str_ne(ids[i], other);
        /* it reveals nothing of the name */
        for (j = 0; names[i][j]; j++) {
            lname[j] = (char)tolower((unsigned char)names[i][j]);
        }
        lname[j] = '\0';
        ck_assert_msg(strlen(lname) < 2 || strstr(ids[i], lname) == NULL,
                      "id %s contains the member name %s", ids[i], names[i]);
        for (j = 0; j < i; j++) {
            ck_assert_str_ne(ids[i], ids[j]);
        }
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* session cookies                                                     */

START_TEST(sess_cookie_round_trip_in_both_modes)
{
    static const char modes[] = {LBF_STICK_WHILE_UP, LBF_STICK_ALWAYS};
    struct lbf_sess_keys k;
    char id[LBF_SESS_ID_HEX + 1], v[LBF_SESS_COOKIE_LEN + 2], body[40];
    char want[40];
    struct lbf_session s;
    uint8_t m[32];
    size_t i;

    t_keys(t_secret1, &k);
    lbf_sess_member_id(&k, "m2", id);
    for (i = 0; i < LBF_T_NELEMS(modes); i++) {
        t_cookie(&k, "web", modes[i], id, T_EXP, v);
        ck_assert_uint_eq(strlen(v), LBF_SESS_COOKIE_LEN);
        snprintf(body, sizeof(body), "1.%c.%s.%08x", modes[i], id, T_EXP);
        ck_assert_int_eq(strncmp(v, body, strlen(body)), 0);
        ck_assert_int_eq(v[strlen(body)], '.');
        /* mac: first 16 bytes of HMAC(cookie key, farm "|" body) */
        t_hmac(k.cookie, 32, "web|", body, m);
        t_hex(m, 16, want);
        ck_assert_str_eq(v + strlen(body) + 1, want);
        memset(&s, 0, sizeof(s));
        ck_assert_int_eq(t_parse(&k, 1, "web", v, T_NOW, &s), LBF_SESS_OK);
        ck_assert_int_eq(s.mode, modes[i]);
        ck_assert_str_eq(s.id, id);
        ck_assert_uint_eq(s.expiry, T_EXP);
    }
}
END_TEST

START_TEST(sess_cookie_with_flipped_mac_is_forged)
{
    struct lbf_sess_keys k;
    char v[LBF_SESS_COOKIE_LEN + 2], w[LBF_SESS_COOKIE_LEN + 2];
    struct lbf_session s;
    size_t i;

    t_keys(t_secret1, &k);
    t_cookie(&k, "web", 'w', "0123456789abcdef", T_EXP, v);
    for (i = 30; i < LBF_SESS_COOKIE_LEN; i++) {
        memcpy(w, v, sizeof(w));
        t_flip_hex(w, i);
        s.mode = 'z';
        ck_assert_msg(t_parse(&k, 1, "web", w, T_NOW, &s) == LBF_SESS_FORGED,
                      "mac digit %zu flipped: not FORGED", i);
        ck_assert_int_eq(s.mode, 'z'); /* *s untouched unless OK */
    }
}
END_TEST

START_TEST(sess_cookie_with_tampered_fields_is_forged)
{
    struct lbf_sess_keys k;
    char v[LBF_SESS_COOKIE_LEN + 2], w[LBF_SESS_COOKIE_LEN + 2];
    char id[LBF_SESS_ID_HEX + 1];
    struct lbf_session s;
    size_t i;

    t_keys(t_secret1, &k);
    lbf_sess_member_id(&k, "m1", id);
    t_cookie(&k, "web", 'w', id, T_EXP, v);
    /* every digit of the id and of the expiry */
    for (i = 4; i < 29; i++) {
        if (i == 20) {
            continue; /* the '.' */
        }
        memcpy(w, v, sizeof(w));
        t_flip_hex(w, i);
        ck_assert_msg(t_parse(&k, 1, "web", w, T_NOW, &s) == LBF_SESS_FORGED,
                      "digit %zu changed: not FORGED (%s)", i, w);
    }
    /* the id of another real member */
    lbf_sess_member_id(&k, "m2", id);
    memcpy(w, v, sizeof(w));
    memcpy(w + 4, id, LBF_SESS_ID_HEX);
    ck_assert_int_eq(t_parse(&k, 1, "web", w, T_NOW, &s), LBF_SESS_FORGED);
    /* a later expiry */
    memcpy(w, v, sizeof(w));
    memcpy(w + 21, "ffffffff", 8);
    ck_assert_int_eq(t_parse(&k, 1, "web", w, T_NOW, &s), LBF_SESS_FORGED);
    /* stick-while-up upgraded to always, and back */
    memcpy(w, v, sizeof(w));
    w[2] = 'a';
    ck_assert_int_eq(t_parse(&k, 1, "web", w, T_NOW, &s), LBF_SESS_FORGED);
    t_cookie(&k, "web", 'a', id, T_EXP, w);
    w[2] = 'w';
    ck_assert_int_eq(t_parse(&k, 1, "web", w, T_NOW, &s), LBF_SESS_FORGED);
}
END_TEST

START_TEST(sess_cookie_past_its_expiry_is_expired)
{
    struct lbf_sess_keys k;
    char v[LBF_SESS_COOKIE_LEN + 2];
    struct lbf_session s;

    t_keys(t_secret1, &k);
    t_cookie(&k, "web", 'w', "0123456789abcdef", T_NOW, v);
    ck_assert_int_eq(t_parse(&k, 1, "web", v, T_NOW - 1, &s), LBF_SESS_OK);
    ck_assert_int_eq(t_parse(&k, 1, "web", v, T_NOW, &s), LBF_SESS_EXPIRED);
    ck_assert_int_eq(t_parse(&k, 1, "web", v, T_NOW + 86400, &s),
                     LBF_SESS_EXPIRED);
    t_cookie(&k, "web", 'a', "0123456789abcdef", 1, v);
    ck_assert_int_eq(t_parse(&k, 1, "web", v, T_NOW, &s), LBF_SESS_EXPIRED);
    /* a forged expired cookie is forged first */
    t_flip_hex(v, 40);
    ck_assert_int_eq(t_parse(&k, 1, "web", v, T_NOW, &s), LBF_SESS_FORGED);
}
END_TEST

START_TEST(sess_cookie_of_another_farm_is_forged)
{
    struct lbf_sess_keys k;
    char v[LBF_SESS_COOKIE_LEN + 2];
    struct lbf_session s;

    t_keys(t_secret1, &k);
    t_cookie(&k, "farmA", 'w', "0123456789abcdef", T_EXP, v);
    ck_assert_int_eq(t_parse(&k, 1, "farmA", v, T_NOW, &s), LBF_SESS_OK);
    ck_assert_int_eq(t_parse(&k, 1, "farmB", v, T_NOW, &s), LBF_SESS_FORGED);
    ck_assert_int_eq(t_parse(&k, 1, "farmA2", v, T_NOW, &s),
                     LBF_SESS_FORGED);
    ck_assert_int_eq(t_parse(&k, 1, "farm", v, T_NOW, &s), LBF_SESS_FORGED);
}
END_TEST

START_TEST(sess_cookie_malformed_lengths_and_characters)
{
    struct lbf_sess_keys k;
    char v[LBF_SESS_COOKIE_LEN + 2], w[9000];
    struct lbf_session s;
    static const struct {
        size_t at;
        char c;
    } bad[] = {
        {0, '2'}, {0, 'x'}, {1, '-'}, {2, 'x'}, {2, 'W'}, {3, '-'},
        {4, 'g'}, {10, 'A'}, {19, ' '}, {20, 'x'}, {21, 'G'}, {28, ';'},
        {29, ':'}, {30, 'F'}, {45, 'z'}, {61, '\0'}, {50, '%'},
    };
    size_t i;

    t_keys(t_secret1, &k);
    t_cookie(&k, "web", 'w', "0123456789abcdef", T_EXP, v);
    /* every length but the exact one */
    for (i = 0; i <= LBF_SESS_COOKIE_LEN + 1; i++) {
        if (i == LBF_SESS_COOKIE_LEN) {
            continue;
        }
        ck_assert_msg(lbf_sess_parse(&k, 1, "web", v, i, T_NOW, &s)
                          == LBF_SESS_MALFORMED,
                      "length %zu not MALFORMED", i);
    }
    /* oversized: 8 KiB of a repeated cookie */
    for (i = 0; i + LBF_SESS_COOKIE_LEN < sizeof(w); i += LBF_SESS_COOKIE_LEN) {
        memcpy(w + i, v, LBF_SESS_COOKIE_LEN);
    }
    ck_assert_int_eq(lbf_sess_parse(&k, 1, "web", w, 8192, T_NOW, &s),
                     LBF_SESS_MALFORMED);
    for (i = 0; i < LBF_T_NELEMS(bad); i++) {
        memcpy(w, v, LBF_SESS_COOKIE_LEN + 1);
        w[bad[i].at] = bad[i].c;
        ck_assert_msg(lbf_sess_parse(&k, 1, "web", w, LBF_SESS_COOKIE_LEN,
                                     T_NOW, &s) == LBF_SESS_MALFORMED,
                      "'%c' at %zu not MALFORMED", bad[i].c, bad[i].at);
    }
    /* the value of an upper-case re-encoding is not ours either */
    memcpy(w, v, LBF_SESS_COOKIE_LEN + 1);
    for (i = 30; i < LBF_SESS_COOKIE_LEN; i++) {
        w[i] = (char)toupper((unsigned char)w[i]);
    }
    if (strcmp(w, v) != 0) {
        ck_assert_int_eq(t_parse(&k, 1, "web", w, T_NOW, &s),
                         LBF_SESS_MALFORMED);
    }
}
END_TEST

START_TEST(sess_cookie_rotation_accepts_either_live_key)
{
    struct lbf_sess_keys ks[2], k3;
    char v1[LBF_SESS_COOKIE_LEN + 2], v2[LBF_SESS_COOKIE_LEN + 2];
    char v3[LBF_SESS_COOKIE_LEN + 2];
    struct lbf_sess_keys rev[2];
    struct lbf_session s;

    t_keys(t_secret2, &ks[0]); /* new secret first: it signs */
    t_keys(t_secret1, &ks[1]); /* old secret: still accepted */
    rev[0] = ks[1];
    rev[1] = ks[0];
    t_keys(t_secret3, &k3);
    t_cookie(&ks[1], "web", 'w', "00112233aabbccdd", T_EXP, v1);
    t_cookie(&ks[0], "web", 'a', "00112233aabbccdd", T_EXP, v2);
    t_cookie(&k3, "web", 'w', "00112233aabbccdd", T_EXP, v3);
    ck_assert_int_eq(t_parse(ks, 2, "web", v1, T_NOW, &s), LBF_SESS_OK);
    ck_assert_int_eq(s.mode, 'w');
    ck_assert_int_eq(t_parse(ks, 2, "web", v2, T_NOW, &s), LBF_SESS_OK);
    ck_assert_int_eq(s.mode, 'a');
    ck_assert_int_eq(t_parse(rev, 2, "web", v1, T_NOW, &s), LBF_SESS_OK);
    ck_assert_int_eq(t_parse(rev, 2, "web", v2, T_NOW, &s), LBF_SESS_OK);
    ck_assert_int_eq(t_parse(ks, 2, "web", v3, T_NOW, &s), LBF_SESS_FORGED);
    /* once the old secret is gone, its cookies are refused */
    ck_assert_int_eq(t_parse(ks, 1, "web", v1, T_NOW, &s), LBF_SESS_FORGED);
    ck_assert_int_eq(t_parse(ks, 1, "web", v2, T_NOW, &s), LBF_SESS_OK);
}
END_TEST

/* ------------------------------------------------------------------ */
/* lbf_cookie_find                                                     */

START_TEST(cookie_find_picks_the_exact_name)
{
    static const struct {
        const char *hdr;
        const char *want; /* NULL: not found */
    } cases[] = {
        {"lbf_web=abc", "abc"},
        {"a=1; lbf_web=abc; b=2", "abc"},
        {"a=1;lbf_web=abc;b=2", "abc"},
        {"a=1;   lbf_web=abc   ; b=2", "abc"},
        {"\tlbf_web=abc\t", "abc"},
        {"a=1; b=2; lbf_web=last", "last"},
        {"xlbf_web=bad", NULL},
        {"xlbf_web=bad; lbf_web=good", "good"},
        {"lbf_webx=bad; lbf_web2=bad; lbf_web=good", "good"},
        {"lbf_webx=bad", NULL},
        {"lbf_we=bad", NULL},
        {"lbf_web", NULL},
        {"lbf_web ; x=1", NULL},
        {"a=lbf_web=bad; lbf_web=good", "good"},
        {"a=\"x lbf_web=bad\"", NULL},
        {"lbf_web=first; lbf_web=second", "first"},
        {"lbf_web=; a=1", ""},
        {"", NULL},
        {";;;", NULL},
        {"LBF_WEB=upper", NULL},
    };
    size_t i, len;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        const char *v;

        len = 12345;
        v = lbf_cookie_find(cases[i].hdr, "lbf_web", &len);
        if (cases[i].want == NULL) {
            ck_assert_msg(v == NULL, "case %zu \"%s\": found \"%.*s\"", i,
                          cases[i].hdr, v ? (int)len : 0, v ? v : "");
        }
        else {
            ck_assert_msg(v != NULL, "case %zu \"%s\": not found", i,
                          cases[i].hdr);
            ck_assert_msg(len == strlen(cases[i].want)
                              && strncmp(v, cases[i].want, len) == 0,
                          "case %zu \"%s\": got \"%.*s\", want \"%s\"", i,
                          cases[i].hdr, (int)len, v, cases[i].want);
        }
    }
    len = 7;
    ck_assert_ptr_null(lbf_cookie_find(NULL, "lbf_web", &len));
}
END_TEST

/* lbf_query_find: a whole parameter name only; the first match is not
 * always the answer ("xROUTEID=1&ROUTEID=a" holds ROUTEID=a). */
START_TEST(query_find_picks_the_whole_name)
{
    static const struct {
        const char *args;
        const char *want; /* NULL: not found */
    } cases[] = {
        {"ROUTEID=a.m1", "a.m1"},
        {"x=1&ROUTEID=a.m1&y=2", "a.m1"},
        {"xROUTEID=1&ROUTEID=a.m1", "a.m1"},
        {"xROUTEID=1", NULL},
        {"ROUTEIDx=1&ROUTEID=b", "b"},
        {"ROUTEID", NULL},
        {"ROUTEID&ROUTEID=c", "c"},
        {"y=ROUTEID=bad&ROUTEID=good", "good"},
        {"ROUTEID=first&ROUTEID=second", "first"},
        {"ROUTEID=&a=1", ""},
        {"&&&", NULL},
        {"", NULL},
        {"routeid=lower", NULL},
    };
    size_t i, len;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        const char *v;

        len = 12345;
        v = lbf_query_find(cases[i].args, "ROUTEID", &len);
        if (cases[i].want == NULL) {
            ck_assert_msg(v == NULL, "case %zu \"%s\": found \"%.*s\"", i,
                          cases[i].args, v ? (int)len : 0, v ? v : "");
        }
        else {
            ck_assert_msg(v != NULL && len == strlen(cases[i].want)
                              && strncmp(v, cases[i].want, len) == 0,
                          "case %zu \"%s\": want \"%s\"", i, cases[i].args,
                          cases[i].want);
        }
    }
    ck_assert_ptr_null(lbf_query_find(NULL, "ROUTEID", &len));
}
END_TEST

/* ------------------------------------------------------------------ */
/* move cookies                                                        */

START_TEST(move_cookie_round_trip_and_binding)
{
    static const char *const targets[] = {"b", "farmB", "web-2_x",
                                          "abcdefghijklmnopqrstuvwxyz01234"};
    struct lbf_sess_keys k, k3;
    char v[128], w[128], to[LBF_NAME_SIZE], body[64], want[33];
    uint8_t m[32];
    size_t i, j;

    t_keys(t_secret1, &k);
    t_keys(t_secret3, &k3);
    for (i = 0; i < LBF_T_NELEMS(targets); i++) {
        size_t len;

        lbf_move_encode(&k, "farmA", targets[i], T_EXP, v, sizeof(v));
        len = strlen(v);
        snprintf(body, sizeof(body), "2.%s.%08x", targets[i], T_EXP);
        ck_assert_int_eq(strncmp(v, body, strlen(body)), 0);
        ck_assert_uint_eq(len, strlen(body) + 33);
        t_hmac(k.cookie, 32, "farmA|", body, m);
        t_hex(m, 16, want);
        ck_assert_str_eq(v + strlen(body) + 1, want);
        memset(to, 'x', sizeof(to));
        ck_assert_int_eq(lbf_move_parse(&k, 1, "farmA", v, len, T_NOW, to),
                         LBF_SESS_OK);
        ck_assert_str_eq(to, targets[i]);
        /* transplanted to another farm */
        ck_assert_int_eq(lbf_move_parse(&k, 1, "farmB", v, len, T_NOW, to),
                         LBF_SESS_FORGED);
        /* another secret */
        ck_assert_int_eq(lbf_move_parse(&k3, 1, "farmA", v, len, T_NOW, to),
                         LBF_SESS_FORGED);
        /* every mac digit */
        for (j = len - 32; j < len; j++) {
            memcpy(w, v, len + 1);
            t_flip_hex(w, j);
            ck_assert_int_eq(lbf_move_parse(&k, 1, "farmA", w, len, T_NOW,
                                            to),
                             LBF_SESS_FORGED);
        }
        /* expiry changed */
        memcpy(w, v, len + 1);
        t_flip_hex(w, strlen(body) - 1);
        ck_assert_int_eq(lbf_move_parse(&k, 1, "farmA", w, len, T_NOW, to),
                         LBF_SESS_FORGED);
        /* expired */
        ck_assert_int_eq(lbf_move_parse(&k, 1, "farmA", v, len, T_EXP, to),
                         LBF_SESS_EXPIRED);
        /* rotation */
        {
            struct lbf_sess_keys ks[2] = {k3, k};

            ck_assert_int_eq(lbf_move_parse(ks, 2, "farmA", v, len, T_NOW,
                                            to),
                             LBF_SESS_OK);
        }
    }
    /* the target renamed, same length */
    lbf_move_encode(&k, "farmA", "farmB", T_EXP, v, sizeof(v));
    memcpy(w, v, strlen(v) + 1);
    w[6] = 'C';
    ck_assert_int_eq(lbf_move_parse(&k, 1, "farmA", w, strlen(w), T_NOW, to),
                     LBF_SESS_FORGED);
}
END_TEST

START_TEST(move_cookie_malformed_is_refused)
{
    struct lbf_sess_keys k;
    char v[128], w[256], to[LBF_NAME_SIZE];
    const char *mac = "0123456789abcdef0123456789abcdef";
    static const char *const bodies[] = {
        "2..6553f100",            /* empty target */
        "2.a.b.6553f100",         /* '.' in the target */
        "2.-ab.6553f100",         /* starts with '-' */
        "2.a b.6553f100",         /* space */
        "2.abcdefghijklmnopqrstuvwxyz012345.6553f100", /* 32 characters */
        "1.farmB.6553f100",       /* a session cookie's version */
        "2.farmB.6553F100",       /* upper-case hex */
        "2.farmB.6553f10",        /* short expiry */
        "2.farmB-6553f100",
    };
    size_t i;

    t_keys(t_secret1, &k);
    for (i = 0; i < LBF_T_NELEMS(bodies); i++) {
        snprintf(w, sizeof(w), "%s.%s", bodies[i], mac);
        ck_assert_msg(lbf_move_parse(&k, 1, "farmA", w, strlen(w), T_NOW, to)
                          == LBF_SESS_MALFORMED,
                      "\"%s\" not MALFORMED", w);
    }
    lbf_move_encode(&k, "farmA", "farmB", T_EXP, v, sizeof(v));
    for (i = 0; i < strlen(v); i++) {
        ck_assert_int_eq(lbf_move_parse(&k, 1, "farmA", v, i, T_NOW, to),
                         LBF_SESS_MALFORMED);
    }
    /* a session cookie presented as a move cookie */
    t_cookie(&k, "farmA", 'w', "0123456789abcdef", T_EXP, w);
    ck_assert_int_eq(lbf_move_parse(&k, 1, "farmA", w, strlen(w), T_NOW, to),
                     LBF_SESS_MALFORMED);
    /* and a move cookie as a session cookie */
    {
        struct lbf_session s;

        ck_assert_int_ne(lbf_sess_parse(&k, 1, "farmA", v, strlen(v), T_NOW,
                                        &s),
                         LBF_SESS_OK);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* instructions                                                        */

/* "text;sig=HEX" signed as member under the app key of secret. */
static void t_sign(const char *secret, const char *member, const char *text,
                   char *out, size_t outlen)
{
    struct lbf_sess_keys k;
    char pre[LBF_NAME_SIZE + 2], hex[65];
    uint8_t m[32];

    t_keys(secret, &k);
    snprintf(pre, sizeof(pre), "%s|", member);
    t_hmac(k.app, 32, pre, text, m);
    t_hex(m, 32, hex);
    snprintf(out, outlen, "%s;sig=%s", text, hex);
}

/* Parse v as member under secret1's keys at T_NOW; err checked for not
 * leaking the signature. */
static int t_instr(const char *member, const char *v, struct lbf_instr *in,
                   char *err, size_t errlen)
{
    struct lbf_sess_keys k;
    const char *sig = strstr(v, ";sig=");
    int rc;

    t_keys(t_secret1, &k);
    err[0] = '\0';
    rc = lbf_instr_parse(&k, 1, member, v, T_NOW, T_WIN, in, err, errlen);
    if (rc != 0) {
        ck_assert_msg(err[0] != '\0', "no reason for refusing \"%s\"", v);
        ck_assert_msg(sig == NULL || strlen(sig + 5) < 8
                          || strstr(err, sig + 5) == NULL,
                      "the reason \"%s\" includes the signature", err);
    }
    return rc;
}

START_TEST(instr_sign_matches_the_documented_mac)
{
    struct lbf_sess_keys k;
    char got[LBF_INSTR_MAX + 1], want[LBF_INSTR_MAX + 1];

    t_keys(t_secret1, &k);
    lbf_instr_sign(k.app, "m1", "stick;ts=1700000000", got, sizeof(got));
    t_sign(t_secret1, "m1", "stick;ts=1700000000", want, sizeof(want));
    ck_assert_str_eq(got, want);
}
END_TEST

START_TEST(instr_valid_actions_are_parsed)
{
    static const struct {
        const char *text;
        int action;
        const char *farm;
    } ok[] = {
        {"stick;ts=1700000000", LBF_INSTR_STICK, ""},
        {"stick-while-up;ts=1700000000", LBF_INSTR_STICK_WHILE_UP, ""},
        {"unstick;ts=1700000000", LBF_INSTR_UNSTICK, ""},
        {"move;farm=beta;ts=1700000000", LBF_INSTR_MOVE, "beta"},
        {"move;farm=b-2_X;ts=1700000000", LBF_INSTR_MOVE, "b-2_X"},
        {"stick;ts=1699999700", LBF_INSTR_STICK, ""}, /* window edges */
        {"stick;ts=1700000300", LBF_INSTR_STICK, ""},
    };
    char v[LBF_INSTR_MAX + 80], err[128];
    struct lbf_instr in;
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(ok); i++) {
        t_sign(t_secret1, "m1", ok[i].text, v, sizeof(v));
        memset(&in, 0x55, sizeof(in));
        ck_assert_msg(t_instr("m1", v, &in, err, sizeof(err)) == 0,
                      "\"%s\" refused: %s", ok[i].text, err);
        ck_assert_int_eq(in.action, ok[i].action);
        ck_assert_str_eq(in.farm, ok[i].farm);
    }
    t_sign(t_secret1, "m1", "stick;ts=1700000123", v, sizeof(v));
    ck_assert_int_eq(t_instr("m1", v, &in, err, sizeof(err)), 0);
    ck_assert_int_eq(in.ts, 1700000123);
}
END_TEST

START_TEST(instr_bad_fields_are_refused_even_when_signed)
{
    static const char *const bad[] = {
        "move;ts=1700000000",                 /* move without farm */
        "stick;farm=beta;ts=1700000000",      /* farm on non-move */
        "unstick;farm=beta;ts=1700000000",
        "stick-while-up;farm=b;ts=1700000000",
        "move;farm=;ts=1700000000",           /* empty farm */
        "move;farm=-x;ts=1700000000",         /* invalid farm name */
        "move;farm=abcdefghijklmnopqrstuvwxyz0123456;ts=1700000000",
        "jump;ts=1700000000",                 /* unknown action */
        "Stick;ts=1700000000",
        "sticky;ts=1700000000",
        "stic;ts=1700000000",
        ";ts=1700000000",
        "stick",                              /* no ts */
        "stick;ts=",
        "stick;ts=17000x0000",
        "stick;ts=-1700000000",
        "stick;ts=1700000000;x=1",            /* trailing field */
        "stick;x=1;ts=1700000000",
        "stick;ts=1699999699",                /* 301 s old */
        "stick;ts=1700000301",                /* 301 s ahead */
        "stick;ts=0",
        "stick;ts=99999999999999999999",      /* 20 digits */
        "stick;ts=9999999999999999999",       /* above int64 */
    };
    char v[LBF_INSTR_MAX + 80], err[128];
    struct lbf_instr in;
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(bad); i++) {
        t_sign(t_secret1, "m1", bad[i], v, sizeof(v));
        ck_assert_msg(t_instr("m1", v, &in, err, sizeof(err)) == -1,
                      "\"%s\" accepted", bad[i]);
    }
    t_sign(t_secret1, "m1", "stick;ts=1699999699", v, sizeof(v));
    t_instr("m1", v, &in, err, sizeof(err));
    ck_assert_msg(strstr(err, "ts") != NULL, "window reason: %s", err);
    t_sign(t_secret1, "m1", "jump;ts=1700000000", v, sizeof(v));
    t_instr("m1", v, &in, err, sizeof(err));
    ck_assert_msg(strstr(err, "action") != NULL, "action reason: %s", err);
}
END_TEST

START_TEST(instr_bad_signatures_are_refused)
{
    char v[LBF_INSTR_MAX + 80], w[2 * LBF_INSTR_MAX + 200], err[128];
    struct lbf_instr in;
    struct lbf_sess_keys k, ks[2];
    size_t i, len;
    const char *text = "stick;ts=1700000000";

    t_sign(t_secret1, "m1", text, v, sizeof(v));
    len = strlen(v);
    /* every signature digit */
    for (i = len - 64; i < len; i++) {
        memcpy(w, v, len + 1);
        t_flip_hex(w, i);
        ck_assert_int_eq(t_instr("m1", w, &in, err, sizeof(err)), -1);
    }
    /* member binding: m2's valid instruction is not m1's */
    t_sign(t_secret1, "m2", text, w, sizeof(w));
    ck_assert_int_eq(t_instr("m1", w, &in, err, sizeof(err)), -1);
    ck_assert_int_eq(t_instr("m2", w, &in, err, sizeof(err)), 0);
    ck_assert_int_eq(t_instr("m", w, &in, err, sizeof(err)), -1);
    ck_assert_int_eq(t_instr("m22", w, &in, err, sizeof(err)), -1);
    /* another secret */
    t_sign(t_secret3, "m1", text, w, sizeof(w));
    ck_assert_int_eq(t_instr("m1", w, &in, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "signature") != NULL, "reason: %s", err);
    /* signed with the cookie key instead of the app key */
    {
        char hex[65], pre[8];
        uint8_t m[32];

        t_keys(t_secret1, &k);
        snprintf(pre, sizeof(pre), "m1|");
        t_hmac(k.cookie, 32, pre, text, m);
        t_hex(m, 32, hex);
        snprintf(w, sizeof(w), "%s;sig=%s", text, hex);
        ck_assert_int_eq(t_instr("m1", w, &in, err, sizeof(err)), -1);
        /* or with no member prefix */
        t_hmac(k.app, 32, "", text, m);
        t_hex(m, 32, hex);
        snprintf(w, sizeof(w), "%s;sig=%s", text, hex);
        ck_assert_int_eq(t_instr("m1", w, &in, err, sizeof(err)), -1);
    }
    /* the text changed after signing */
    memcpy(w, v, len + 1);
    memcpy(w, "unstk", 5); /* "unstk;ts=..." */
    ck_assert_int_eq(t_instr("m1", w, &in, err, sizeof(err)), -1);
    snprintf(w, sizeof(w), "un%s", v);
    ck_assert_int_eq(t_instr("m1", w, &in, err, sizeof(err)), -1);
    /* malformed signatures */
    snprintf(w, sizeof(w), "%s", text);
    ck_assert_int_eq(t_instr("m1", w, &in, err, sizeof(err)), -1);
    snprintf(w, sizeof(w), "%s;sig=", text);
    ck_assert_int_eq(t_instr("m1", w, &in, err, sizeof(err)), -1);
    memcpy(w, v, len + 1);
    w[len - 1] = '\0'; /* 63 hex */
    ck_assert_int_eq(t_instr("m1", w, &in, err, sizeof(err)), -1);
    snprintf(w, sizeof(w), "%s0", v); /* 65 hex */
    ck_assert_int_eq(t_instr("m1", w, &in, err, sizeof(err)), -1);
    memcpy(w, v, len + 1);
    for (i = len - 64; i < len; i++) {
        w[i] = (char)toupper((unsigned char)w[i]);
    }
    if (strcmp(w, v) != 0) {
        ck_assert_int_eq(t_instr("m1", w, &in, err, sizeof(err)), -1);
    }
    snprintf(w, sizeof(w), "%s ", v); /* trailing space */
    ck_assert_int_eq(t_instr("m1", w, &in, err, sizeof(err)), -1);
    /* rotation: either live secret signs */
    t_keys(t_secret2, &ks[0]);
    t_keys(t_secret1, &ks[1]);
    ck_assert_int_eq(lbf_instr_parse(ks, 2, "m1", v, T_NOW, T_WIN, &in, err,
                                     sizeof(err)),
                     0);
    ck_assert_int_eq(lbf_instr_parse(ks, 1, "m1", v, T_NOW, T_WIN, &in, err,
                                     sizeof(err)),
                     -1);
    /* NULL */
    ck_assert_int_eq(lbf_instr_parse(ks, 2, "m1", NULL, T_NOW, T_WIN, &in,
                                     err, sizeof(err)),
                     -1);
}
END_TEST

START_TEST(instr_oversized_is_refused)
{
    char text[4400], v[1200], err[128];
    struct lbf_instr in;
    size_t n;

    /* a signed header one byte over LBF_INSTR_MAX (";sig=" + 64 hex) */
    n = LBF_INSTR_MAX + 1 - 69;
    snprintf(text, sizeof(text), "stick;ts=%0*u", (int)(n - 9), T_NOW);
    ck_assert_uint_eq(strlen(text), n);
    t_sign(t_secret1, "m1", text, v, sizeof(v));
    ck_assert_uint_eq(strlen(v), LBF_INSTR_MAX + 1);
    ck_assert_int_eq(t_instr("m1", v, &in, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "malformed") != NULL, "reason: %s", err);
    /* 4000 bytes of junk in front of a valid one */
    memset(text, 'a', 4000);
    t_sign(t_secret1, "m1", "stick;ts=1700000000", text + 4000, 200);
    ck_assert_int_eq(t_instr("m1", text, &in, err, sizeof(err)), -1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* life cycle: ramp, health, check claims, usable per state            */

START_TEST(ramp_grows_linearly_over_slow_start)
{
    static const uint32_t w[] = {1, 1};
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_row *r;
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;
    const uint64_t since = LBF_T_NOW;

    lbf_t_segment(&h, 1, 4);
    f = lbf_t_farm(&h, "f", "weighted", w, NULL, 2, 0);
    r = lbf_t_row(&h, f, 0);
    lbf_t_pick_init(&pk, &h, f, &rng);
    f->slowstart_ms = 4000;
    /* never came back: full share */
    ck_assert_uint_eq(lbf_ramp(&pk, r), 1000);
    atomic_store(&r->up_since, since);
    pk.now = since - LBF_T_SEC;
    ck_assert_uint_eq(lbf_ramp(&pk, r), LBF_RAMP_MIN);
    pk.now = since;
    ck_assert_uint_eq(lbf_ramp(&pk, r), LBF_RAMP_MIN);
    pk.now = since + 200000; /* 5 %: still the floor */
    ck_assert_uint_eq(lbf_ramp(&pk, r), LBF_RAMP_MIN);
    pk.now = since + 1000000;
    ck_assert_uint_eq(lbf_ramp(&pk, r), 250);
    pk.now = since + 2000000;
    ck_assert_uint_eq(lbf_ramp(&pk, r), 500);
    pk.now = since + 3000000;
    ck_assert_uint_eq(lbf_ramp(&pk, r), 750);
    pk.now = since + 3999000;
    ck_assert_uint_eq(lbf_ramp(&pk, r), 999);
    pk.now = since + 4000000;
    ck_assert_uint_eq(lbf_ramp(&pk, r), 1000);
    pk.now = since + 60 * LBF_T_SEC;
    ck_assert_uint_eq(lbf_ramp(&pk, r), 1000);
    /* no slow start configured */
    f->slowstart_ms = 0;
    pk.now = since;
    ck_assert_uint_eq(lbf_ramp(&pk, r), 1000);
    /* the other member never left */
    f->slowstart_ms = 4000;
    ck_assert_uint_eq(lbf_ramp(&pk, lbf_t_row(&h, f, 1)), 1000);
}
END_TEST

START_TEST(health_result_rise_and_fall)
{
    static const uint32_t w[] = {1};
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_row *r;
    uint64_t t = LBF_T_NOW;
    int i;

    lbf_t_segment(&h, 1, 2);
    f = lbf_t_farm(&h, "f", "weighted", w, NULL, 1, 0);
    r = lbf_t_row(&h, f, 0);
    ck_assert_uint_eq(atomic_load(&r->health), LBF_HEALTH_UP);
    /* rise 2, fall 3: passes while up change nothing */
    for (i = 0; i < 5; i++) {
        ck_assert_int_eq(lbf_row_health_result(r, 1, 2, 3, t += 1000), 0);
    }
    /* two failures, a pass (resets), three failures: down at the third */
    ck_assert_int_eq(lbf_row_health_result(r, 0, 2, 3, t += 1000), 0);
    ck_assert_int_eq(lbf_row_health_result(r, 0, 2, 3, t += 1000), 0);
    ck_assert_int_eq(lbf_row_health_result(r, 1, 2, 3, t += 1000), 0);
    ck_assert_int_eq(lbf_row_health_result(r, 0, 2, 3, t += 1000), 0);
    ck_assert_int_eq(lbf_row_health_result(r, 0, 2, 3, t += 1000), 0);
    ck_assert_uint_eq(atomic_load(&r->health), LBF_HEALTH_UP);
    ck_assert_int_eq(lbf_row_health_result(r, 0, 2, 3, t += 1000), 1);
    ck_assert_uint_eq(atomic_load(&r->health), LBF_HEALTH_DOWN);
    ck_assert_int_eq(lbf_row_usable(r, t), 0);
    ck_assert_int_eq(lbf_row_sticky_ok(r, t), 0);
    /* further failures: no new transition */
    ck_assert_int_eq(lbf_row_health_result(r, 0, 2, 3, t += 1000), 0);
    /* one pass, a failure (resets), two passes: up at the second */
    ck_assert_int_eq(lbf_row_health_result(r, 1, 2, 3, t += 1000), 0);
    ck_assert_int_eq(lbf_row_health_result(r, 0, 2, 3, t += 1000), 0);
    ck_assert_int_eq(lbf_row_health_result(r, 1, 2, 3, t += 1000), 0);
    ck_assert_uint_eq(atomic_load(&r->health), LBF_HEALTH_DOWN);
    ck_assert_int_eq(lbf_row_health_result(r, 1, 2, 3, t += 1000), 1);
    ck_assert_uint_eq(atomic_load(&r->health), LBF_HEALTH_UP);
    /* coming back starts the slow-start ramp at that moment */
    ck_assert_uint_eq(atomic_load(&r->up_since), t);
    ck_assert_int_eq(lbf_row_usable(r, t), 1);
    /* rise 1 fall 1: every result flips */
    ck_assert_int_eq(lbf_row_health_result(r, 0, 1, 1, t += 1000), 1);
    ck_assert_uint_eq(atomic_load(&r->health), LBF_HEALTH_DOWN);
    ck_assert_int_eq(lbf_row_health_result(r, 1, 1, 1, t += 1000), 1);
    ck_assert_uint_eq(atomic_load(&r->health), LBF_HEALTH_UP);
    ck_assert_uint_eq(atomic_load(&r->up_since), t);
}
END_TEST

START_TEST(hc_claim_once_per_interval)
{
    static const uint32_t w[] = {1};
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_row *r;
    const uint64_t iv = 300000, t = LBF_T_NOW;

    lbf_t_segment(&h, 1, 2);
    f = lbf_t_farm(&h, "f", "weighted", w, NULL, 1, 0);
    r = lbf_t_row(&h, f, 0);
    ck_assert_int_eq(lbf_hc_claim(r, t, iv), 1);      /* due at once */
    ck_assert_uint_eq(atomic_load(&r->hc_next), t + iv);
    ck_assert_int_eq(lbf_hc_claim(r, t, iv), 0);
    ck_assert_int_eq(lbf_hc_claim(r, t + iv - 1, iv), 0);
    ck_assert_int_eq(lbf_hc_claim(r, t + iv, iv), 1);
    ck_assert_int_eq(lbf_hc_claim(r, t + iv, iv), 0);
    /* late: the next one is an interval after the late claim */
    ck_assert_int_eq(lbf_hc_claim(r, t + 5 * iv, iv), 1);
    ck_assert_uint_eq(atomic_load(&r->hc_next), t + 6 * iv);
}
END_TEST

#define T_CLAIM_STEPS 20000

/* Shared between the test and its two workers. */
struct t_claim_area {
    _Atomic uint32_t ready;
    _Atomic uint32_t go;
    _Atomic uint32_t won[2];
    _Atomic uint8_t per_step[T_CLAIM_STEPS];
};

START_TEST(hc_claim_is_won_once_across_two_processes)
{
    static const uint32_t w[] = {1};
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_row *r;
    struct t_claim_area *a = lbf_t_region(sizeof(*a));
    const uint64_t iv = 1000;
    pid_t parent = getpid(), pid[2];
    uint32_t k;
    int p;

    lbf_t_segment(&h, 1, 2);
    f = lbf_t_farm(&h, "f", "weighted", w, NULL, 1, 0);
    r = lbf_t_row(&h, f, 0);
    atomic_store(&r->hc_next, LBF_T_NOW);
    for (p = 0; p < 2; p++) {
        pid[p] = fork();
        ck_assert_int_ge(pid[p], 0);
        if (pid[p] == 0) {
            lbf_t_worker_init(parent);
            atomic_fetch_add(&a->ready, 1);
            while (!atomic_load(&a->go)) {
                continue;
            }
            /* both walk the same clock: step k is due at T + k*iv */
            for (k = 0; k < T_CLAIM_STEPS; k++) {
                if (lbf_hc_claim(r, LBF_T_NOW + k * iv, iv)) {
                    atomic_fetch_add(&a->per_step[k], 1);
                    atomic_fetch_add(&a->won[p], 1);
                }
            }
            _exit(0);
        }
    }
    while (atomic_load(&a->ready) < 2) {
        usleep(100);
    }
    atomic_store(&a->go, 1);
    lbf_t_wait_ok(pid[0], "claimer 0");
    lbf_t_wait_ok(pid[1], "claimer 1");
    for (k = 0; k < T_CLAIM_STEPS; k++) {
        ck_assert_msg(atomic_load(&a->per_step[k]) == 1,
                      "interval %u claimed %u times", k,
                      (unsigned)atomic_load(&a->per_step[k]));
    }
    ck_assert_uint_eq(atomic_load(&a->won[0]) + atomic_load(&a->won[1]),
                      T_CLAIM_STEPS);
    ck_assert_uint_eq(atomic_load(&r->hc_next),
                      LBF_T_NOW + (uint64_t)T_CLAIM_STEPS * iv);
}
END_TEST

/* One state of a row, and what usable / sticky_ok must say. */
struct t_state {
    const char *what;
    uint32_t admin;
    uint32_t drain_req;
    uint32_t health;
    int64_t error_in_s; /* error_until - now, s; 0: none */
    int usable, sticky;
};

START_TEST(row_usable_and_sticky_ok_for_every_state)
{
    static const struct t_state states[] = {
        {"enabled, up", LBF_ADMIN_ENABLED, 0, LBF_HEALTH_UP, 0, 1, 1},
        {"offline", LBF_ADMIN_OFFLINE, 0, LBF_HEALTH_UP, 0, 0, 0},
        {"drain (admin)", LBF_ADMIN_DRAIN, 0, LBF_HEALTH_UP, 0, 0, 1},
        {"drain requested", LBF_ADMIN_ENABLED, 1, LBF_HEALTH_UP, 0, 0, 1},
        {"drain admin + requested", LBF_ADMIN_DRAIN, 1, LBF_HEALTH_UP, 0, 0,
         1},
        {"health down", LBF_ADMIN_ENABLED, 0, LBF_HEALTH_DOWN, 0, 0, 0},
        {"error", LBF_ADMIN_ENABLED, 0, LBF_HEALTH_UP, 30, 0, 0},
        {"error ending now", LBF_ADMIN_ENABLED, 0, LBF_HEALTH_UP, -1, 1, 1},
        {"offline + down", LBF_ADMIN_OFFLINE, 0, LBF_HEALTH_DOWN, 0, 0, 0},
        {"drain + down", LBF_ADMIN_DRAIN, 0, LBF_HEALTH_DOWN, 0, 0, 0},
        {"drain + error", LBF_ADMIN_DRAIN, 0, LBF_HEALTH_UP, 30, 0, 0},
        {"drain requested + error", LBF_ADMIN_ENABLED, 1, LBF_HEALTH_UP, 30,
         0, 0},
        {"offline, error over", LBF_ADMIN_OFFLINE, 0, LBF_HEALTH_UP, -1, 0,
         0},
    };
    static const uint32_t w[] = {1};
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_row *r;
    const uint64_t now = LBF_T_NOW;
    size_t i;

    lbf_t_segment(&h, 1, 2);
    f = lbf_t_farm(&h, "f", "weighted", w, NULL, 1, 0);
    r = lbf_t_row(&h, f, 0);
    for (i = 0; i < LBF_T_NELEMS(states); i++) {
        const struct t_state *s = &states[i];
        int pass;

        for (pass = 0; pass < 2; pass++) { /* usable, then sticky_ok */
            int got;

            atomic_store(&r->admin, s->admin);
            atomic_store(&r->drain_req, s->drain_req);
            atomic_store(&r->health, s->health);
            atomic_store(&r->up_since, 0);
            atomic_store(&r->error_until,
                         s->error_in_s ? (uint64_t)((int64_t)now
                                                    + s->error_in_s
                                                      * (int64_t)LBF_T_SEC)
                                       : 0);
            got = pass ? lbf_row_sticky_ok(r, now) : lbf_row_usable(r, now);
            ck_assert_msg(got == (pass ? s->sticky : s->usable),
                          "%s: %s = %d", s->what,
                          pass ? "sticky_ok" : "usable", got);
        }
    }
    /* an error deadline that ran out is cleared and starts slow start */
    atomic_store(&r->admin, LBF_ADMIN_ENABLED);
    atomic_store(&r->drain_req, 0);
    atomic_store(&r->health, LBF_HEALTH_UP);
    atomic_store(&r->up_since, 0);
    lbf_row_set_error(r, now);
    ck_assert_uint_eq(atomic_load(&r->error_until), now + 60 * LBF_T_SEC);
    ck_assert_int_eq(lbf_row_usable(r, now + 59 * LBF_T_SEC), 0);
    ck_assert_int_eq(lbf_row_sticky_ok(r, now + 59 * LBF_T_SEC), 0);
    ck_assert_int_eq(lbf_row_usable(r, now + 60 * LBF_T_SEC), 1);
    ck_assert_uint_eq(atomic_load(&r->error_until), 0);
    ck_assert_uint_eq(atomic_load(&r->up_since), now + 60 * LBF_T_SEC);
    /* leaving offline starts slow start too; drain -> enabled does not */
    atomic_store(&r->up_since, 0);
    lbf_row_set_admin(r, LBF_ADMIN_OFFLINE, now);
    ck_assert_int_eq(lbf_row_usable(r, now), 0);
    lbf_row_set_admin(r, LBF_ADMIN_ENABLED, now + 5);
    ck_assert_uint_eq(atomic_load(&r->up_since), now + 5);
    ck_assert_int_eq(lbf_row_usable(r, now + 5), 1);
    atomic_store(&r->up_since, 0);
    lbf_row_set_admin(r, LBF_ADMIN_DRAIN, now + 6);
    ck_assert_int_eq(lbf_row_usable(r, now + 6), 0);
    ck_assert_int_eq(lbf_row_sticky_ok(r, now + 6), 1);
    lbf_row_set_admin(r, LBF_ADMIN_ENABLED, now + 7);
    ck_assert_uint_eq(atomic_load(&r->up_since), 0);
}
END_TEST

/* A pick never lands on a member that is not usable, whatever the method;
 * a standby tier is used only when every regular member is out. */
START_TEST(picks_skip_every_unusable_state_and_use_standby_last)
{
    static const uint32_t w[] = {1, 1, 1, 1, 1, 1};
    static const uint32_t tier[] = {0, 0, 0, 0, 0, 1};
    static const char *const methods[] = {"weighted", "least-load"};
    struct lbf_shm h;
    struct lbf_pick pk;
    uint64_t rng = LBF_T_SEED;
    size_t m;
    int i;

    lbf_t_segment(&h, 2, 8);
    for (m = 0; m < LBF_T_NELEMS(methods); m++) {
        char fname[16];
        struct lbf_farm *f;
        uint32_t mi = lbf_t_method(methods[m]);

        snprintf(fname, sizeof(fname), "f%zu", m);
        f = lbf_t_farm(&h, fname, methods[m], w, tier, 6, 0);
        /* m0 usable; m1 offline; m2 drain; m3 down; m4 error; m5 standby */
        atomic_store(&lbf_t_row(&h, f, 1)->admin, LBF_ADMIN_OFFLINE);
        atomic_store(&lbf_t_row(&h, f, 2)->admin, LBF_ADMIN_DRAIN);
        atomic_store(&lbf_t_row(&h, f, 3)->health, LBF_HEALTH_DOWN);
        lbf_row_set_error(lbf_t_row(&h, f, 4), LBF_T_NOW);
        lbf_t_pick_init(&pk, &h, f, &rng);
        for (i = 0; i < 60; i++) {
            int got = lbf_pick_take(mi, &pk);

            ck_assert_msg(got == 0, "%s pick %d = %d, want m0", methods[m],
                          i, got);
            lbf_row_release(lbf_t_row(&h, f, 0), 0);
        }
        /* m0 drained too: only the standby is left */
        atomic_store(&lbf_t_row(&h, f, 0)->drain_req, 1);
        for (i = 0; i < 20; i++) {
            int got = lbf_pick_take(mi, &pk);

            ck_assert_msg(got == 5, "%s pick %d = %d, want standby m5",
                          methods[m], i, got);
            lbf_row_release(lbf_t_row(&h, f, 5), 0);
        }
        /* and without it nothing */
        atomic_store(&lbf_t_row(&h, f, 5)->admin, LBF_ADMIN_OFFLINE);
        ck_assert_int_eq(lbf_pick_take(mi, &pk), -1);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* decisions: stickiness, plans, instructions, moves, lifetimes        */

#define T_TTL 3600u

/* A farm "web" of 3 members m0..m2 (weights 1), keys of secret1, the
 * lookups the glue would give, and a pick at T_NOW. */
struct t_farm {
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_sess_keys k;
    struct lbf_sess_conf c;
    char id[3][LBF_SESS_ID_HEX + 1];
    struct lbf_sess_lookup lk;
    struct lbf_pick pk;
    uint64_t rng;
};

static int t_by_id(void *ctx, const char *id)
{
    struct t_farm *tf = ctx;
    int i;

    for (i = 0; i < 3; i++) {
        if (!strcmp(tf->id[i], id)) {
            return i;
        }
    }
    return -1;
}

static int t_by_name(void *ctx, const char *name, size_t len)
{
    static const char *const names[] = {"m0", "m1", "m2"};
    int i;

    (void)ctx;
    for (i = 0; i < 3; i++) {
        if (strlen(names[i]) == len && !strncasecmp(names[i], name, len)) {
            return i;
        }
    }
    return -1;
}

static void t_farm_init(struct t_farm *tf)
{
    static const uint32_t w[] = {1, 1, 1};
    int i;

    memset(tf, 0, sizeof(*tf));
    lbf_t_segment(&tf->h, 1, 3);
    tf->f = lbf_t_farm(&tf->h, "web", "weighted", w, NULL, 3, 0);
    t_keys(t_secret1, &tf->k);
    for (i = 0; i < 3; i++) {
        char name[16];

        snprintf(name, sizeof(name), "m%d", i);
        lbf_sess_member_id(&tf->k, name, tf->id[i]);
    }
    tf->c.farm = "web";
    tf->c.keys = &tf->k;
    tf->c.nkeys = 1;
    tf->c.sticky = 1;
    tf->c.ttl = T_TTL;
    tf->lk.by_id = t_by_id;
    tf->lk.by_name = t_by_name;
    tf->lk.ctx = tf;
    tf->rng = LBF_T_SEED;
    lbf_t_pick_init(&tf->pk, &tf->h, tf->f, &tf->rng);
    tf->pk.now = (uint64_t)T_NOW * LBF_T_SEC;
}

START_TEST(sticky_decide_table)
{
    enum { NOCK, VALID, FORGED, EXPIRED, STRANGER };
    static const struct {
        const char *what;
        int cookie;          /* which cookie */
        char mode;
        int member;          /* the cookie's member */
        int64_t left;        /* expiry - now */
        const char *route;   /* NULL: none */
        int sticky, instr, nkeys;
        uint32_t offline;    /* bit i: m<i> offline */
        uint32_t drain;      /* bit i: m<i> draining */
        uint32_t exclude;    /* LBF_NO_MEMBER or an index */
        int want, how, rc, refresh;
    } cases[] = {
        {"nothing", NOCK, 0, 0, 0, NULL, 1, 0, 1, 0, 0, LBF_NO_MEMBER,
         -1, LBF_STUCK_NONE, -1, 0},
        {"valid w", VALID, 'w', 1, T_TTL, NULL, 1, 0, 1, 0, 0, LBF_NO_MEMBER,
         1, LBF_STUCK_COOKIE, LBF_SESS_OK, 0},
        {"valid a", VALID, 'a', 2, T_TTL, NULL, 1, 0, 1, 0, 0, LBF_NO_MEMBER,
         2, LBF_STUCK_COOKIE, LBF_SESS_OK, 0},
        {"valid w, draining: kept", VALID, 'w', 1, T_TTL, NULL, 1, 0, 1, 0,
         2, LBF_NO_MEMBER, 1, LBF_STUCK_COOKIE, LBF_SESS_OK, 0},
        {"valid a, offline: refused", VALID, 'a', 1, T_TTL, "x.m2", 1, 0, 1,
         2, 0, LBF_NO_MEMBER, LBF_STICK_REFUSED, LBF_STUCK_NONE, LBF_SESS_OK,
         0},
        {"valid w, offline: new, route not looked at", VALID, 'w', 1, T_TTL,
         "x.m2", 1, 0, 1, 2, 0, LBF_NO_MEMBER, -1, LBF_STUCK_NONE,
         LBF_SESS_OK, 0},
        {"valid w, excluded (retry)", VALID, 'w', 1, T_TTL, NULL, 1, 0, 1, 0,
         0, 1, -1, LBF_STUCK_NONE, LBF_SESS_OK, 0},
        {"valid a, excluded (retry)", VALID, 'a', 1, T_TTL, NULL, 1, 0, 1, 0,
         0, 1, LBF_STICK_REFUSED, LBF_STUCK_NONE, LBF_SESS_OK, 0},
        {"forged: route decides", FORGED, 'w', 1, T_TTL, "abc.m2", 1, 0, 1, 0,
         0, LBF_NO_MEMBER, 2, LBF_STUCK_ROUTE, LBF_SESS_FORGED, 0},
        {"expired", EXPIRED, 'w', 1, 0, NULL, 1, 0, 1, 0, 0, LBF_NO_MEMBER,
         -1, LBF_STUCK_NONE, LBF_SESS_EXPIRED, 0},
        {"valid, member gone: route", STRANGER, 'w', 0, T_TTL, "a.M0", 1, 0,
         1, 0, 0, LBF_NO_MEMBER, 0, LBF_STUCK_ROUTE, LBF_SESS_OK, 0},
        {"not sticky, no instructions: cookie not read", VALID, 'w', 1,
         T_TTL, NULL, 0, 0, 1, 0, 0, LBF_NO_MEMBER, -1, LBF_STUCK_NONE, -1,
         0},
        {"instructions only: cookie honoured", VALID, 'a', 1, T_TTL, NULL, 0,
         1, 1, 0, 0, LBF_NO_MEMBER, 1, LBF_STUCK_COOKIE, LBF_SESS_OK, 0},
        {"no key: cookie not read", VALID, 'w', 1, T_TTL, NULL, 1, 0, 0, 0, 0,
         LBF_NO_MEMBER, -1, LBF_STUCK_NONE, -1, 0},
        {"half its ttl left: refresh", VALID, 'w', 1, T_TTL / 2, NULL, 1, 0,
         1, 0, 0, LBF_NO_MEMBER, 1, LBF_STUCK_COOKIE, LBF_SESS_OK, 1},
        {"just over half left: no refresh", VALID, 'a', 1, T_TTL / 2 + 1,
         NULL, 1, 0, 1, 0, 0, LBF_NO_MEMBER, 1, LBF_STUCK_COOKIE,
         LBF_SESS_OK, 0},
        {"beyond the ttl (lowered since): refresh, capped", VALID, 'w', 1,
         T_TTL + LBF_SESS_SKEW + 1, NULL, 1, 0, 1, 0, 0, LBF_NO_MEMBER, 1,
         LBF_STUCK_COOKIE, LBF_SESS_OK, 1},
        {"within the skew: no refresh", VALID, 'w', 1, T_TTL + LBF_SESS_SKEW,
         NULL, 1, 0, 1, 0, 0, LBF_NO_MEMBER, 1, LBF_STUCK_COOKIE, LBF_SESS_OK,
         0},
        {"route any case", NOCK, 0, 0, 0, "5F3A.x.M1", 0, 0, 0, 0, 0,
         LBF_NO_MEMBER, 1, LBF_STUCK_ROUTE, -1, 0},
        {"route to a draining member", NOCK, 0, 0, 0, "s.m2", 0, 0, 0, 0, 4,
         LBF_NO_MEMBER, 2, LBF_STUCK_ROUTE, -1, 0},
        {"route to an offline member", NOCK, 0, 0, 0, "s.m2", 0, 0, 0, 4, 0,
         LBF_NO_MEMBER, -1, LBF_STUCK_NONE, -1, 0},
        {"route excluded", NOCK, 0, 0, 0, "s.m2", 0, 0, 0, 0, 0, 2, -1,
         LBF_STUCK_NONE, -1, 0},
        {"route without a dot", NOCK, 0, 0, 0, "m1", 0, 0, 0, 0, 0,
         LBF_NO_MEMBER, -1, LBF_STUCK_NONE, -1, 0},
        {"route ending in a dot", NOCK, 0, 0, 0, "m1.", 0, 0, 0, 0, 0,
         LBF_NO_MEMBER, -1, LBF_STUCK_NONE, -1, 0},
        {"route to no member", NOCK, 0, 0, 0, "abc.m9", 0, 0, 0, 0, 0,
         LBF_NO_MEMBER, -1, LBF_STUCK_NONE, -1, 0},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        struct t_farm tf;
        struct lbf_sticky_req rq;
        struct lbf_sticky out;
        char v[LBF_SESS_COOKIE_LEN + 2];
        uint32_t m;

        t_farm_init(&tf);
        tf.c.sticky = cases[i].sticky;
        tf.c.instructions = cases[i].instr;
        tf.c.nkeys = cases[i].nkeys;
        tf.pk.exclude = cases[i].exclude;
        for (m = 0; m < 3; m++) {
            struct lbf_row *r = lbf_t_row(&tf.h, tf.f, m);

            if (cases[i].offline & (1u << m)) {
                atomic_store(&r->admin, LBF_ADMIN_OFFLINE);
            }
            if (cases[i].drain & (1u << m)) {
                atomic_store(&r->admin, LBF_ADMIN_DRAIN);
            }
        }
        memset(&rq, 0, sizeof(rq));
        if (cases[i].cookie != NOCK) {
            const char *id = cases[i].cookie == STRANGER
                                 ? "0123456789abcdef"
                                 : tf.id[cases[i].member];

            t_cookie(&tf.k, "web", cases[i].mode, id,
                     (uint32_t)(T_NOW + cases[i].left), v);
            if (cases[i].cookie == FORGED) {
                t_flip_hex(v, 40);
            }
            rq.cookie = v;
            rq.cookie_len = strlen(v);
        }
        if (cases[i].route) {
            rq.route = cases[i].route;
            rq.route_len = strlen(cases[i].route);
        }
        lbf_sticky_decide(&tf.c, &rq, &tf.lk, &tf.pk, &out);
        ck_assert_msg(out.member == cases[i].want && out.how == cases[i].how
                          && out.cookie_rc == cases[i].rc
                          && out.refresh == cases[i].refresh,
                      "%s: member %d how %d rc %d refresh %d, want %d %d %d "
                      "%d", cases[i].what, out.member, out.how, out.cookie_rc,
                      out.refresh, cases[i].want, cases[i].how, cases[i].rc,
                      cases[i].refresh);
        if (out.how == LBF_STUCK_COOKIE) {
            ck_assert_int_eq(out.mode, cases[i].mode);
            ck_assert_uint_eq(out.expiry, T_NOW + cases[i].left);
        }
        munmap(tf.h.base, tf.h.len);
    }
}
END_TEST

START_TEST(sess_refresh_and_lifetime_tables)
{
    static const struct {
        uint32_t left, ttl;
        int want;
    } refresh[] = {
        {3600, 3600, 0}, {1801, 3600, 0}, {1800, 3600, 1}, {1, 3600, 1},
        {0, 3600, 1},    {3660, 3600, 0}, {3661, 3600, 1}, {4, 4, 0},
        {3, 4, 0},       {2, 4, 1},       {1, 2, 1},       {2, 2, 0},
    };
    static const struct {
        uint32_t ttl, want_in, want;
    } life[] = {
        {3600, 0, 3600}, {3600, 10, 10}, {3600, 3600, 3600},
        {3600, 99999, 3600}, {4, 5, 4}, {1, 1, 1},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(refresh); i++) {
        ck_assert_msg(lbf_sess_needs_refresh(T_NOW + refresh[i].left, T_NOW,
                                             refresh[i].ttl)
                          == refresh[i].want,
                      "left %u of ttl %u: want %d", refresh[i].left,
                      refresh[i].ttl, refresh[i].want);
    }
    for (i = 0; i < LBF_T_NELEMS(life); i++) {
        ck_assert_uint_eq(lbf_sess_lifetime(life[i].ttl, life[i].want_in),
                          life[i].want);
    }
}
END_TEST

START_TEST(sess_plan_chosen_table)
{
    static const struct {
        const char *what;
        int sticky, nkeys, member, how, refresh;
        char mode;
        int kind;
        char want_mode;
    } cases[] = {
        {"sticky, new client", 1, 1, 0, LBF_STUCK_NONE, 0, 0,
         LBF_PLAN_SESSION, 'w'},
        {"not sticky, new client", 0, 1, 0, LBF_STUCK_NONE, 0, 0,
         LBF_PLAN_NONE, 0},
        {"sticky, no key", 1, 0, 0, LBF_STUCK_NONE, 0, 0, LBF_PLAN_NONE, 0},
        {"stuck by cookie", 1, 1, 1, LBF_STUCK_COOKIE, 0, 'w', LBF_PLAN_NONE,
         0},
        {"stuck, refresh keeps mode a", 1, 1, 1, LBF_STUCK_COOKIE, 1, 'a',
         LBF_PLAN_SESSION, 'a'},
        {"stuck, refresh keeps mode w", 1, 1, 1, LBF_STUCK_COOKIE, 1, 'w',
         LBF_PLAN_SESSION, 'w'},
        {"instructions farm, refresh", 0, 1, 1, LBF_STUCK_COOKIE, 1, 'a',
         LBF_PLAN_SESSION, 'a'},
        {"stuck by route", 1, 1, 2, LBF_STUCK_ROUTE, 0, 0, LBF_PLAN_NONE, 0},
        {"refused", 1, 1, LBF_STICK_REFUSED, LBF_STUCK_NONE, 0, 0,
         LBF_PLAN_NONE, 0},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        struct lbf_sess_conf c;
        struct lbf_sticky st;
        struct lbf_cookie_plan p;

        memset(&c, 0, sizeof(c));
        memset(&st, 0, sizeof(st));
        c.farm = "web";
        c.sticky = cases[i].sticky;
        c.nkeys = cases[i].nkeys;
        c.ttl = T_TTL;
        st.member = cases[i].member;
        st.how = cases[i].how;
        st.refresh = cases[i].refresh;
        st.mode = cases[i].mode;
        lbf_sess_plan_chosen(&c, &st, &p);
        ck_assert_msg(p.kind == cases[i].kind, "%s: kind %d, want %d",
                      cases[i].what, p.kind, cases[i].kind);
        if (p.kind == LBF_PLAN_SESSION) {
            ck_assert_int_eq(p.mode, cases[i].want_mode);
            ck_assert_uint_eq(p.max_age, T_TTL);
        }
    }
}
END_TEST

static int t_known(void *ctx, const char *name)
{
    (void)ctx;
    return !strcasecmp(name, "B") || !strcasecmp(name, "web");
}

START_TEST(instr_decide_table)
{
    static const struct {
        const char *text;     /* signed as m1 unless sig is given */
        int instructions;
        uint32_t ttl;         /* the farm's */
        int rc, kind;
        char mode;
        uint32_t max_age;
        const char *to, *err;
    } cases[] = {
        {"stick;ts=1700000000", 1, 3600, 0, LBF_PLAN_SESSION, 'a', 3600, "",
         NULL},
        {"stick-while-up;ts=1700000000", 1, 3600, 0, LBF_PLAN_SESSION, 'w',
         3600, "", NULL},
        {"stick;ttl=600;ts=1700000000", 1, 3600, 0, LBF_PLAN_SESSION, 'a',
         600, "", NULL},
        {"stick;ttl=99999;ts=1700000000", 1, 3600, 0, LBF_PLAN_SESSION, 'a',
         3600, "", NULL},
        {"stick-while-up;ttl=5;ts=1700000000", 1, 4, 0, LBF_PLAN_SESSION, 'w',
         4, "", NULL},
        {"unstick;ts=1700000000", 1, 3600, 0, LBF_PLAN_CLEAR, 0, 0, "", NULL},
        {"move;farm=B;ts=1700000000", 1, 3600, 0, LBF_PLAN_MOVE, 0, 3600, "B",
         NULL},
        {"move;farm=B;ttl=60;ts=1700000000", 1, 3600, 0, LBF_PLAN_MOVE, 0, 60,
         "B", NULL},
        {"move;farm=B;ttl=7200;ts=1700000000", 1, 3600, 0, LBF_PLAN_MOVE, 0,
         3600, "B", NULL},
        {"move;farm=nowhere;ts=1700000000", 1, 3600, -1, 0, 0, 0, "",
         "move to no farm"},
        {"unstick;ttl=5;ts=1700000000", 1, 3600, -1, 0, 0, 0, "", "ttl="},
        {"stick;ttl=0;ts=1700000000", 1, 3600, -1, 0, 0, 0, "", "ttl="},
        {"stick;ttl=x;ts=1700000000", 1, 3600, -1, 0, 0, 0, "", "ttl="},
        {"stick;ts=1700000000", 0, 3600, -1, 0, 0, 0, "",
         "instructions are off"},
        {"stick;ts=1699999000", 1, 3600, -1, 0, 0, 0, "", "window"},
    };
    struct lbf_sess_keys k;
    size_t i;

    t_keys(t_secret1, &k);
    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        struct lbf_sess_conf c = {"web", &k, 1, 1, cases[i].instructions,
                                  cases[i].ttl};
        struct lbf_cookie_plan p;
        char v[LBF_INSTR_MAX + 1], err[96] = "";
        int rc;

        t_sign(t_secret1, "m1", cases[i].text, v, sizeof(v));
        rc = lbf_instr_decide(&c, "m1", v, T_NOW, t_known, NULL, &p, err,
                              sizeof(err));
        ck_assert_msg(rc == cases[i].rc, "%s: rc %d (%s)", cases[i].text, rc,
                      err);
        if (rc != 0) {
            ck_assert_msg(strstr(err, cases[i].err) != NULL,
                          "%s: reason \"%s\" lacks \"%s\"", cases[i].text,
                          err, cases[i].err);
            ck_assert_int_eq(p.kind, LBF_PLAN_NONE);
            continue;
        }
        ck_assert_int_eq(p.kind, cases[i].kind);
        ck_assert_int_eq(p.mode, cases[i].mode);
        ck_assert_uint_eq(p.max_age, cases[i].max_age);
        ck_assert_str_eq(p.to, cases[i].to);
        /* the same text signed by another member is refused */
        ck_assert_int_eq(lbf_instr_decide(&c, "m2", v, T_NOW, t_known, NULL,
                                          &p, err, sizeof(err)),
                         -1);
        ck_assert_str_eq(err, "bad signature");
    }
}
END_TEST

START_TEST(sess_plan_value_encodes_what_the_plan_says)
{
    struct lbf_sess_keys k;
    struct lbf_sess_conf c;
    struct lbf_cookie_plan p;
    struct lbf_session s;
    char id[LBF_SESS_ID_HEX + 1], v[LBF_NAME_SIZE + 64],
        to[LBF_NAME_SIZE];

    t_keys(t_secret1, &k);
    lbf_sess_member_id(&k, "m1", id);
    memset(&c, 0, sizeof(c));
    c.farm = "web";
    c.keys = &k;
    c.nkeys = 1;
    c.ttl = 4;
    memset(&p, 0, sizeof(p));
    /* a session of mode a, asking 99999 s: capped at the ttl */
    p.kind = LBF_PLAN_SESSION;
    p.mode = 'a';
    p.max_age = 99999;
    ck_assert_int_eq(lbf_sess_plan_value(&c, &p, id, T_NOW, v, sizeof(v)), 0);
    ck_assert_int_eq(t_parse(&k, 1, "web", v, T_NOW, &s), LBF_SESS_OK);
    ck_assert_int_eq(s.mode, 'a');
    ck_assert_str_eq(s.id, id);
    ck_assert_uint_eq(s.expiry, T_NOW + 4);
    /* a move cookie to B, from web, for 2 s */
    p.kind = LBF_PLAN_MOVE;
    p.max_age = 2;
    snprintf(p.to, sizeof(p.to), "B");
    ck_assert_int_eq(lbf_sess_plan_value(&c, &p, NULL, T_NOW, v, sizeof(v)),
                     0);
    ck_assert_int_eq(lbf_move_parse(&k, 1, "web", v, strlen(v), T_NOW + 1,
                                    to),
                     LBF_SESS_OK);
    ck_assert_str_eq(to, "B");
    ck_assert_int_eq(lbf_move_parse(&k, 1, "web", v, strlen(v), T_NOW + 2,
                                    to),
                     LBF_SESS_EXPIRED);
    /* clear: an empty value; none, no key, no id, short buffer: refused */
    p.kind = LBF_PLAN_CLEAR;
    ck_assert_int_eq(lbf_sess_plan_value(&c, &p, NULL, T_NOW, v, sizeof(v)),
                     0);
    ck_assert_str_eq(v, "");
    p.kind = LBF_PLAN_NONE;
    ck_assert_int_eq(lbf_sess_plan_value(&c, &p, id, T_NOW, v, sizeof(v)), -1);
    p.kind = LBF_PLAN_SESSION;
    ck_assert_int_eq(lbf_sess_plan_value(&c, &p, NULL, T_NOW, v, sizeof(v)),
                     -1);
    ck_assert_int_eq(lbf_sess_plan_value(&c, &p, id, T_NOW, v, 40), -1);
    c.nkeys = 0;
    ck_assert_int_eq(lbf_sess_plan_value(&c, &p, id, T_NOW, v, sizeof(v)), -1);
}
END_TEST

/* Three farms A, B, C for lbf_move_follow: names, keys, ttl, and the
 * move cookie each has in the "request". */
struct t_mv_farm {
    const char *name;
    char cookie[LBF_NAME_SIZE + 64];
    uint32_t ttl;
};

struct t_mv {
    struct lbf_sess_keys k;
    struct t_mv_farm farm[3];
};

static const void *t_mv_find(void *ctx, const char *name)
{
    struct t_mv *mv = ctx;
    int i;

    for (i = 0; i < 3; i++) {
        if (!strcasecmp(mv->farm[i].name, name)) {
            return &mv->farm[i];
        }
    }
    return NULL;
}

static void t_mv_hop(void *ctx, const void *farm, struct lbf_move_hop *hop)
{
    struct t_mv *mv = ctx;
    const struct t_mv_farm *f = farm;

    hop->farm = f->name;
    hop->keys = &mv->k;
    hop->nkeys = 1;
    hop->ttl = f->ttl;
    hop->cookie = f->cookie[0] ? f->cookie : NULL;
    hop->len = strlen(f->cookie);
}

START_TEST(move_follow_table)
{
    static const struct {
        const char *what;
        const char *to[3];   /* move target of A, B, C ("" none) */
        int64_t left[3];     /* expiry - now of each cookie */
        int forge;           /* index of a forged cookie, or -1 */
        uint32_t max_hops;
        int want, forged;
    } cases[] = {
        {"no cookie", {"", "", ""}, {600, 600, 600}, -1, 3, 0, 0},
        {"A to B", {"B", "", ""}, {600, 600, 600}, -1, 3, 1, 0},
        {"A to B to C", {"B", "C", ""}, {600, 600, 600}, -1, 3, 2, 0},
        {"A to B to C, one hop", {"B", "C", ""}, {600, 600, 600}, -1, 1, 1,
         0},
        {"A to B to A ends at A", {"B", "A", ""}, {600, 600, 600}, -1, 3, 0,
         0},
        {"A to b (any case)", {"b", "", ""}, {600, 600, 600}, -1, 3, 1, 0},
        {"A to A", {"A", "", ""}, {600, 600, 600}, -1, 3, 0, 0},
        {"A to nowhere", {"nowhere", "", ""}, {600, 600, 600}, -1, 3, 0, 0},
        {"forged", {"B", "", ""}, {600, 600, 600}, 0, 3, 0, 1},
        {"B's forged: stops at B", {"B", "C", ""}, {600, 600, 600}, 1, 3, 1,
         1},
        {"expired", {"B", "", ""}, {0, 600, 600}, -1, 3, 0, 0},
        {"beyond A's ttl: ignored", {"B", "", ""},
         {3600 + LBF_SESS_SKEW + 1, 600, 600}, -1, 3, 0, 0},
        {"at A's ttl + skew: followed", {"B", "", ""},
         {3600 + LBF_SESS_SKEW, 600, 600}, -1, 3, 1, 0},
        {"no hops", {"B", "", ""}, {600, 600, 600}, -1, 0, 0, 0},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        static const char *const names[] = {"A", "B", "C"};
        struct t_mv mv;
        const void *got;
        int j, forged = -1;

        memset(&mv, 0, sizeof(mv));
        t_keys(t_secret1, &mv.k);
        for (j = 0; j < 3; j++) {
            mv.farm[j].name = names[j];
            mv.farm[j].ttl = 3600;
            if (*cases[i].to[j]) {
                lbf_move_encode(&mv.k, names[j], cases[i].to[j],
                                (uint32_t)(T_NOW + cases[i].left[j]),
                                mv.farm[j].cookie,
                                sizeof(mv.farm[j].cookie));
            }
        }
        if (cases[i].forge >= 0) {
            char *c = mv.farm[cases[i].forge].cookie;

            t_flip_hex(c, strlen(c) - 1);
        }
        got = lbf_move_follow(&mv.farm[0], T_NOW, cases[i].max_hops,
                              t_mv_find, t_mv_hop, &mv, &forged);
        ck_assert_msg(got == &mv.farm[cases[i].want]
                          && forged == cases[i].forged,
                      "%s: farm %s forged %d, want %s %d", cases[i].what,
                      ((const struct t_mv_farm *)got)->name, forged,
                      names[cases[i].want], cases[i].forged);
    }
}
END_TEST

Suite *lbf_suite_session(void)
{
    Suite *s = suite_create("session");
    TCase *keys = tcase_create("keys");
    TCase *cookie = tcase_create("cookie");
    TCase *move = tcase_create("move");
    TCase *instr = tcase_create("instr");
    TCase *life = tcase_create("lifecycle");
    TCase *decide = tcase_create("decide");

    tcase_set_timeout(keys, LBF_T_TIMEOUT);
    tcase_add_test(keys, sess_keys_are_hmacs_of_the_secret_per_purpose);
    tcase_add_test(keys, sess_member_ids_are_stable_opaque_16_hex);
    suite_add_tcase(s, keys);

    tcase_set_timeout(cookie, LBF_T_TIMEOUT);
    tcase_add_test(cookie, sess_cookie_round_trip_in_both_modes);
    tcase_add_test(cookie, sess_cookie_with_flipped_mac_is_forged);
    tcase_add_test(cookie, sess_cookie_with_tampered_fields_is_forged);
    tcase_add_test(cookie, sess_cookie_past_its_expiry_is_expired);
    tcase_add_test(cookie, sess_cookie_of_another_farm_is_forged);
    tcase_add_test(cookie, sess_cookie_malformed_lengths_and_characters);
    tcase_add_test(cookie, sess_cookie_rotation_accepts_either_live_key);
    tcase_add_test(cookie, cookie_find_picks_the_exact_name);
    tcase_add_test(cookie, query_find_picks_the_whole_name);
    suite_add_tcase(s, cookie);

    tcase_set_timeout(move, LBF_T_TIMEOUT);
    tcase_add_test(move, move_cookie_round_trip_and_binding);
    tcase_add_test(move, move_cookie_malformed_is_refused);
    suite_add_tcase(s, move);

    tcase_set_timeout(instr, LBF_T_TIMEOUT);
    tcase_add_test(instr, instr_sign_matches_the_documented_mac);
    tcase_add_test(instr, instr_valid_actions_are_parsed);
    tcase_add_test(instr, instr_bad_fields_are_refused_even_when_signed);
    tcase_add_test(instr, instr_bad_signatures_are_refused);
    tcase_add_test(instr, instr_oversized_is_refused);
    suite_add_tcase(s, instr);

    tcase_set_timeout(decide, LBF_T_TIMEOUT);
    tcase_add_test(decide, sticky_decide_table);
    tcase_add_test(decide, sess_refresh_and_lifetime_tables);
    tcase_add_test(decide, sess_plan_chosen_table);
    tcase_add_test(decide, instr_decide_table);
    tcase_add_test(decide, sess_plan_value_encodes_what_the_plan_says);
    tcase_add_test(decide, move_follow_table);
    suite_add_tcase(s, decide);

    tcase_set_timeout(life, LBF_T_TIMEOUT);
    tcase_add_test(life, ramp_grows_linearly_over_slow_start);
    tcase_add_test(life, health_result_rise_and_fall);
    tcase_add_test(life, hc_claim_once_per_interval);
    tcase_add_test(life, hc_claim_is_won_once_across_two_processes);
    tcase_add_test(life, row_usable_and_sticky_ok_for_every_state);
    tcase_add_test(life, picks_skip_every_unusable_state_and_use_standby_last);
    suite_add_tcase(s, life);
    return s;
}
