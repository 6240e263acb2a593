/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_cookie.c -- the one Set-Cookie builder (lbfarm_cookie.c): the
 * exact header each policy gives (HttpOnly always; SameSite Lax, Strict
 * or None, None forcing Secure; Secure over TLS or always; Max-Age with
 * Expires, deletion, browser-session cookies), refusals of names and
 * values that would break the header, short buffers, and the SameSite
 * option parser.  Expected strings are written out in full here.
 */
#include "lbf_unit.h"
#include "lbfarm_cookie.h"

Suite *lbf_suite_cookie(void);

#define C_NOW 1700000000 /* Tue, 14 Nov 2023 22:13:20 GMT */

START_TEST(cookie_format_applies_one_policy)
{
    static const struct {
        const char *what;
        struct lbf_cookie_policy pol;
        int tls;
        const char *name, *value;
        int64_t max_age;
        const char *want;
    } cases[] = {
        {"session cookie, plain http", {LBF_SAMESITE_LAX, LBF_SECURE_TLS}, 0,
         "lbf_web", "1.w.x", 3600,
         "lbf_web=1.w.x; Path=/; Max-Age=3600; "
         "Expires=Tue, 14 Nov 2023 23:13:20 GMT; HttpOnly; SameSite=Lax"},
        {"session cookie over TLS", {LBF_SAMESITE_LAX, LBF_SECURE_TLS}, 1,
         "lbf_web", "v", 3600,
         "lbf_web=v; Path=/; Max-Age=3600; "
         "Expires=Tue, 14 Nov 2023 23:13:20 GMT; HttpOnly; SameSite=Lax; "
         "Secure"},
        {"Secure always, plain http", {LBF_SAMESITE_LAX, LBF_SECURE_ALWAYS},
         0, "lbfmv_A", "2.B.x", 60,
         "lbfmv_A=2.B.x; Path=/; Max-Age=60; "
         "Expires=Tue, 14 Nov 2023 22:14:20 GMT; HttpOnly; SameSite=Lax; "
         "Secure"},
        {"Strict, browser session (status page)",
         {LBF_SAMESITE_STRICT, LBF_SECURE_TLS}, 0, "lbf_sid", "ab12",
         LBF_COOKIE_SESSION,
         "lbf_sid=ab12; Path=/; HttpOnly; SameSite=Strict"},
        {"None forces Secure", {LBF_SAMESITE_NONE, LBF_SECURE_TLS}, 0, "c",
         "v", 1,
         "c=v; Path=/; Max-Age=1; Expires=Tue, 14 Nov 2023 22:13:21 GMT; "
         "HttpOnly; SameSite=None; Secure"},
        {"deletion", {LBF_SAMESITE_LAX, LBF_SECURE_TLS}, 0, "lbf_web", "", 0,
         "lbf_web=; Path=/; Max-Age=0; "
         "Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax"},
        {"a year", {LBF_SAMESITE_LAX, LBF_SECURE_TLS}, 0, "c", "v", 31536000,
         "c=v; Path=/; Max-Age=31536000; "
         "Expires=Wed, 13 Nov 2024 22:13:20 GMT; HttpOnly; SameSite=Lax"},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        char out[LBF_COOKIE_MAX];
        int n = lbf_cookie_format(&cases[i].pol, cases[i].tls, cases[i].name,
                                  cases[i].value, NULL, cases[i].max_age,
                                  C_NOW, out, sizeof(out));

        ck_assert_msg(n == (int)strlen(cases[i].want)
                          && !strcmp(out, cases[i].want),
                      "%s:\n got  %s (%d)\n want %s", cases[i].what, out, n,
                      cases[i].want);
    }
}
END_TEST

START_TEST(cookie_format_defaults_and_path)
{
    char out[LBF_COOKIE_MAX];

    /* NULL policy: Lax, Secure over TLS only */
    ck_assert_int_gt(lbf_cookie_format(NULL, 1, "a", "b", "/app", 5, C_NOW,
                                       out, sizeof(out)),
                     0);
    ck_assert_str_eq(out, "a=b; Path=/app; Max-Age=5; "
                          "Expires=Tue, 14 Nov 2023 22:13:25 GMT; HttpOnly; "
                          "SameSite=Lax; Secure");
}
END_TEST

START_TEST(cookie_format_refuses_what_would_break_the_header)
{
    static const struct {
        const char *what, *name, *value, *path;
        int64_t max_age;
        int samesite;
    } cases[] = {
        {"empty name", "", "v", NULL, 1, LBF_SAMESITE_LAX},
        {"NULL name", NULL, "v", NULL, 1, LBF_SAMESITE_LAX},
        {"name with =", "a=b", "v", NULL, 1, LBF_SAMESITE_LAX},
        {"name with space", "a b", "v", NULL, 1, LBF_SAMESITE_LAX},
        {"name with ;", "a;b", "v", NULL, 1, LBF_SAMESITE_LAX},
        {"value with ;", "a", "v; Domain=evil", NULL, 1, LBF_SAMESITE_LAX},
        {"value with CR LF", "a", "v\r\nX-Evil: 1", NULL, 1,
         LBF_SAMESITE_LAX},
        {"value with quote", "a", "\"v\"", NULL, 1, LBF_SAMESITE_LAX},
        {"value with comma", "a", "v,w", NULL, 1, LBF_SAMESITE_LAX},
        {"value with backslash", "a", "v\\w", NULL, 1, LBF_SAMESITE_LAX},
        {"value with space", "a", "v w", NULL, 1, LBF_SAMESITE_LAX},
        {"value with a non-ASCII byte", "a", "v\xc3\xa9", NULL, 1,
         LBF_SAMESITE_LAX},
        {"NULL value", "a", NULL, NULL, 1, LBF_SAMESITE_LAX},
        {"relative path", "a", "v", "app", 1, LBF_SAMESITE_LAX},
        {"path with ;", "a", "v", "/a;b", 1, LBF_SAMESITE_LAX},
        {"path with LF", "a", "v", "/a\nb", 1, LBF_SAMESITE_LAX},
        {"negative max-age", "a", "v", NULL, -5, LBF_SAMESITE_LAX},
        {"unknown SameSite", "a", "v", NULL, 1, 7},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        struct lbf_cookie_policy pol = {cases[i].samesite, LBF_SECURE_TLS};
        char out[LBF_COOKIE_MAX];

        memset(out, 'x', sizeof(out));
        ck_assert_msg(lbf_cookie_format(&pol, 0, cases[i].name,
                                        cases[i].value, cases[i].path,
                                        cases[i].max_age, C_NOW, out,
                                        sizeof(out)) == -1
                          && out[0] == '\0',
                      "%s: accepted (%s)", cases[i].what, out);
    }
}
END_TEST

START_TEST(cookie_format_refuses_a_short_buffer)
{
    const char *want = "a=b; Path=/; HttpOnly; SameSite=Lax";
    char out[64];
    size_t len = strlen(want);

    /* exactly enough (with the NUL) passes, one byte less fails */
    ck_assert_int_eq(lbf_cookie_format(NULL, 0, "a", "b", NULL,
                                       LBF_COOKIE_SESSION, C_NOW, out,
                                       len + 1),
                     (int)len);
    ck_assert_str_eq(out, want);
    memset(out, 'x', sizeof(out));
    ck_assert_int_eq(lbf_cookie_format(NULL, 0, "a", "b", NULL,
                                       LBF_COOKIE_SESSION, C_NOW, out, len),
                     -1);
    ck_assert_int_eq(out[0], '\0');
    ck_assert_int_eq(lbf_cookie_format(NULL, 0, "a", "b", NULL, 1, C_NOW, out,
                                       0),
                     -1);
}
END_TEST

START_TEST(cookie_samesite_parse_and_name)
{
    static const struct {
        const char *s;
        int want;
    } cases[] = {
        {"Lax", LBF_SAMESITE_LAX},       {"lax", LBF_SAMESITE_LAX},
        {"STRICT", LBF_SAMESITE_STRICT}, {"None", LBF_SAMESITE_NONE},
        {"", -1},                        {"laxx", -1},
        {NULL, -1},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        ck_assert_int_eq(lbf_cookie_samesite_parse(cases[i].s),
                         cases[i].want);
    }
    ck_assert_str_eq(lbf_cookie_samesite_name(LBF_SAMESITE_LAX), "Lax");
    ck_assert_str_eq(lbf_cookie_samesite_name(LBF_SAMESITE_STRICT), "Strict");
    ck_assert_str_eq(lbf_cookie_samesite_name(LBF_SAMESITE_NONE), "None");
    ck_assert_str_eq(lbf_cookie_samesite_name(42), "Lax");
}
END_TEST

Suite *lbf_suite_cookie(void)
{
    Suite *s = suite_create("cookie");
    TCase *fmt = tcase_create("format");

    tcase_set_timeout(fmt, LBF_T_TIMEOUT);
    tcase_add_test(fmt, cookie_format_applies_one_policy);
    tcase_add_test(fmt, cookie_format_defaults_and_path);
    tcase_add_test(fmt, cookie_format_refuses_what_would_break_the_header);
    tcase_add_test(fmt, cookie_format_refuses_a_short_buffer);
    tcase_add_test(fmt, cookie_samesite_parse_and_name);
    suite_add_tcase(s, fmt);
    return s;
}
