/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_query.c -- lbf_pick_peek, the pick without take behind query mode
 * (SetHandler lbfarm-query): for weighted, a peek names exactly the member
 * the next lbf_pick_take returns, any number of peeks leave the shared
 * cursor and every counter where they were, and a peek skips members that
 * cannot serve exactly as a take does; for the least-load methods a peek
 * is the method's pick (the lightest member) with no inflight++.  Then
 * the question's parser (every refusal names its parameter) and the two
 * forms of the answer.
 */
#include "lbf_unit.h"
#include "lbfarm_query.h"

/* Sum of requests and inflight over the farm's n members. */
static uint64_t q_counters(const struct lbf_shm *h, const struct lbf_farm *f,
                           uint32_t n)
{
    uint64_t sum = 0;
    uint32_t i;

    for (i = 0; i < n; i++) {
        struct lbf_row *r = lbf_t_row(h, f, i);

        sum += atomic_load(&r->requests) + (uint64_t)atomic_load(&r->inflight);
    }
    return sum;
}

START_TEST(peek_names_the_next_weighted_take)
{
    static const uint32_t w[] = {5, 1, 1};
    static const char schedule[] = "0010200"; /* lbfarm_lbmethods.c */
    uint32_t wm = lbf_t_method("weighted"), i;
    uint64_t rng = LBF_T_SEED;
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;

    lbf_t_segment(&h, 1, 3);
    f = lbf_t_farm(&h, "f", "weighted", w, NULL, 3, 0);
    lbf_t_pick_init(&pk, &h, f, &rng);
    for (i = 0; i < 3 * 7; i++) {
        uint64_t cur = atomic_load(&f->cursor), before = q_counters(&h, f, 3);
        int want = schedule[i % 7] - '0', k;

        for (k = 0; k < 100; k++) {
            ck_assert_int_eq(lbf_pick_peek(wm, &pk), want);
        }
        ck_assert_uint_eq(atomic_load(&f->cursor), cur);
        ck_assert_uint_eq(q_counters(&h, f, 3), before);
        ck_assert_int_eq(lbf_pick_take(wm, &pk), want);
        ck_assert_uint_eq(atomic_load(&f->cursor), cur + 1);
    }
}
END_TEST

START_TEST(peek_skips_unusable_members_like_take)
{
    static const uint32_t w[] = {5, 1, 1};
    uint32_t wm = lbf_t_method("weighted"), i;
    uint64_t rng = LBF_T_SEED;
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;

    lbf_t_segment(&h, 1, 3);
    f = lbf_t_farm(&h, "f", "weighted", w, NULL, 3, 0);
    lbf_t_pick_init(&pk, &h, f, &rng);
    atomic_store(&lbf_t_row(&h, f, 0)->admin, LBF_ADMIN_OFFLINE);
    for (i = 0; i < 14; i++) {
        uint64_t cur = atomic_load(&f->cursor);
        int p = lbf_pick_peek(wm, &pk);

        ck_assert_int_ne(p, 0);
        ck_assert_uint_eq(atomic_load(&f->cursor), cur);
        ck_assert_int_eq(lbf_pick_take(wm, &pk), p);
    }
    for (i = 0; i < 3; i++) {
        atomic_store(&lbf_t_row(&h, f, i)->admin, LBF_ADMIN_OFFLINE);
    }
    ck_assert_int_eq(lbf_pick_peek(wm, &pk), -1);
    ck_assert_int_eq(lbf_pick_take(wm, &pk), -1);
}
END_TEST

START_TEST(peek_of_least_load_takes_nothing)
{
    static const uint32_t w[] = {1, 1, 1};
    uint32_t ll = lbf_t_method("least-load");
    uint32_t pm = lbf_t_method("pushed-metric");
    uint64_t rng = LBF_T_SEED;
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;
    int k;

    lbf_t_segment(&h, 1, 3);
    f = lbf_t_farm(&h, "f", "least-load", w, NULL, 3, 0);
    atomic_store(&lbf_t_row(&h, f, 0)->inflight, 3);
    atomic_store(&lbf_t_row(&h, f, 1)->inflight, 1);
    atomic_store(&lbf_t_row(&h, f, 2)->inflight, 2);
    lbf_t_pick_init(&pk, &h, f, &rng);
    for (k = 0; k < 50; k++) {
        ck_assert_int_eq(lbf_pick_peek(ll, &pk), 1);
        ck_assert_int_eq(lbf_pick_peek(pm, &pk), 1);
    }
    ck_assert_int_eq(atomic_load(&lbf_t_row(&h, f, 1)->inflight), 1);
    ck_assert_uint_eq(atomic_load(&lbf_t_row(&h, f, 1)->requests), 0);
    ck_assert_int_eq(lbf_pick_take(ll, &pk), 1);
    ck_assert_int_eq(atomic_load(&lbf_t_row(&h, f, 1)->inflight), 2);
}
END_TEST

START_TEST(peek_rejects_an_unknown_method)
{
    static const uint32_t w[] = {1};
    uint64_t rng = LBF_T_SEED;
    struct lbf_shm h;
    struct lbf_farm *f;
    struct lbf_pick pk;

    lbf_t_segment(&h, 1, 1);
    f = lbf_t_farm(&h, "f", "weighted", w, NULL, 1, 0);
    lbf_t_pick_init(&pk, &h, f, &rng);
    ck_assert_int_eq(lbf_pick_peek(LBF_METHOD_FOREIGN, &pk), -1);
    ck_assert_int_eq(lbf_pick_peek(99, &pk), -1);
    ck_assert_int_eq(pk.peek, 0); /* the caller's pick is not modified */
}
END_TEST

struct q_parse_case {
    const char *args;
    int ok;
    const char *farm, *cookie, *key; /* NULL: not given */
    int json;
    const char *err;          /* substring of the message when !ok */
};

START_TEST(query_parse_accepts_and_names_each_refusal)
{
    static const struct q_parse_case cases[] = {
        {"farm=app", 1, "app", NULL, NULL, 0, NULL},
        {"farm=App_1&format=json", 1, "App_1", NULL, NULL, 1, NULL},
        {"format=text&farm=a", 1, "a", NULL, NULL, 0, NULL},
        {"farm=a&cookie=lbf_a%3D1.w.x%3B+other%3Dy", 1, "a",
         "lbf_a=1.w.x; other=y", NULL, 0, NULL},
        {"farm=a&key=user%2B42&cookie=", 1, "a", "", "user+42", 0, NULL},
        {"farm=a&&key=", 1, "a", NULL, "", 0, NULL},
        {"", 0, NULL, NULL, NULL, 0, "farm: missing"},
        {"cookie=x", 0, NULL, NULL, NULL, 0, "farm: missing"},
        {"farm=", 0, NULL, NULL, NULL, 0, "farm: invalid name"},
        {"farm=a.b", 0, NULL, NULL, NULL, 0, "farm: invalid name"},
        {"farm=a&farm=b", 0, NULL, NULL, NULL, 0, "farm: duplicated"},
        {"farm=a&member=x", 0, NULL, NULL, NULL, 0,
         "\"member\": unknown parameter"},
        {"farm=a&format=xml", 0, NULL, NULL, NULL, 0,
         "format: expected text or json"},
        {"farm=a&format=jsonp", 0, NULL, NULL, NULL, 0,
         "format: expected text or json"},
        {"farm=a&cookie=%zz", 0, NULL, NULL, NULL, 0,
         "cookie: bad percent-encoding"},
        {"farm=a&cookie=%4", 0, NULL, NULL, NULL, 0,
         "cookie: bad percent-encoding"},
        {"farm=a&key=a%00b", 0, NULL, NULL, NULL, 0,
         "key: bad percent-encoding or a NUL byte"},
        {"farm=%61pp", 1, "app", NULL, NULL, 0, NULL},
        {"farm=01234567890123456789012345678901", 0, NULL, NULL, NULL, 0,
         "farm: longer than 31 bytes"},
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(cases); i++) {
        const struct q_parse_case *c = &cases[i];
        struct lbf_query q;
        char err[160];
        int rc = lbf_query_parse(c->args, strlen(c->args), &q, err,
                                 sizeof(err));

        ck_assert_msg((rc == 0) == c->ok, "\"%s\": rc %d (%s)", c->args, rc,
                      err);
        if (!c->ok) {
            ck_assert_msg(strstr(err, c->err) != NULL, "\"%s\": \"%s\" lacks "
                          "\"%s\"", c->args, err, c->err);
            continue;
        }
        ck_assert_str_eq(q.farm, c->farm);
        ck_assert_int_eq(q.has_cookie, c->cookie != NULL);
        ck_assert_str_eq(q.cookie, c->cookie ? c->cookie : "");
        ck_assert_int_eq(q.has_key, c->key != NULL);
        ck_assert_str_eq(q.key, c->key ? c->key : "");
        ck_assert_uint_eq(q.key_len, c->key ? strlen(c->key) : 0);
        ck_assert_int_eq(q.json, c->json);
    }
}
END_TEST

START_TEST(query_parse_refuses_a_raw_nul)
{
    static const char args[] = "farm=a&key=x\0y";
    struct lbf_query q;
    char err[160];

    ck_assert_int_eq(lbf_query_parse(args, sizeof(args) - 1, &q, err,
                                     sizeof(err)), -1);
    ck_assert_str_eq(err, "key: bad percent-encoding or a NUL byte");
}
END_TEST

START_TEST(query_parse_enforces_the_size_limits)
{
    static char args[LBF_QUERY_ARGS_MAX + 64];
    struct lbf_query q;
    char err[160];
    size_t n;

    n = (size_t)snprintf(args, sizeof(args), "farm=a&cookie=");
    memset(args + n, 'c', LBF_QUERY_COOKIE_MAX);
    ck_assert_int_eq(lbf_query_parse(args, n + LBF_QUERY_COOKIE_MAX, &q, err,
                                     sizeof(err)), 0);
    ck_assert_uint_eq(strlen(q.cookie), LBF_QUERY_COOKIE_MAX);
    args[n + LBF_QUERY_COOKIE_MAX] = 'c';
    ck_assert_int_eq(lbf_query_parse(args, n + LBF_QUERY_COOKIE_MAX + 1, &q,
                                     err, sizeof(err)), -1);
    ck_assert_str_eq(err, "cookie: longer than 4096 bytes");
    n = (size_t)snprintf(args, sizeof(args), "farm=a&key=");
    memset(args + n, 'k', LBF_QUERY_KEY_MAX + 1);
    ck_assert_int_eq(lbf_query_parse(args, n + LBF_QUERY_KEY_MAX + 1, &q, err,
                                     sizeof(err)), -1);
    ck_assert_str_eq(err, "key: longer than 256 bytes");
    memset(args, 'x', sizeof(args));
    ck_assert_int_eq(lbf_query_parse(args, LBF_QUERY_ARGS_MAX + 1, &q, err,
                                     sizeof(err)), -1);
    ck_assert_str_eq(err, "query: longer than 8192 bytes");
}
END_TEST

START_TEST(query_render_text_and_json)
{
    struct lbf_query_answer a = {
        .farm = "app", .member = "m2", .why = LBF_WHY_METHOD,
        .method = "weighted",
    };
    char out[LBF_QUERY_OUT_MAX];
    size_t n;

    n = lbf_query_render(&a, 0, out, sizeof(out));
    ck_assert_str_eq(out, "farm=app member=m2 why=method method=weighted\n");
    ck_assert_uint_eq(n, strlen(out));
    lbf_query_render(&a, 1, out, sizeof(out));
    ck_assert_str_eq(out, "{\"farm\":\"app\",\"member\":\"m2\",\"why\":"
                     "\"method\",\"method\":\"weighted\",\"reason\":null,"
                     "\"fallback\":null,\"moved_from\":null,\"key\":null}\n");
    a = (struct lbf_query_answer){
        .farm = "b", .moved_from = "a", .member = NULL,
        .why = LBF_WHY_FALLBACK, .method = "least-load",
        .reason = "no-usable-member", .fallback = "/sorry page.html",
        .key = "k \"1\"\n\x01", .key_len = 8, /* with its NUL */
    };
    lbf_query_render(&a, 0, out, sizeof(out));
    ck_assert_str_eq(out, "farm=b member=- why=fallback method=least-load "
                     "reason=no-usable-member fallback=/sorry%20page.html "
                     "moved_from=a key=k%20\"1\"%0A%01%00\n");
    lbf_query_render(&a, 1, out, sizeof(out));
    ck_assert_str_eq(out, "{\"farm\":\"b\",\"member\":null,\"why\":"
                     "\"fallback\",\"method\":\"least-load\",\"reason\":"
                     "\"no-usable-member\",\"fallback\":\"/sorry page.html\","
                     "\"moved_from\":\"a\",\"key\":\"k \\\"1\\\"\\u000a"
                     "\\u0001\\u0000\"}\n");
    a = (struct lbf_query_answer){.farm = "a", .member = "m0",
                                  .why = LBF_WHY_STICKY, .method = "weighted",
                                  .key = "", .key_len = 0};
    lbf_query_render(&a, 0, out, sizeof(out));
    ck_assert_str_eq(out, "farm=a member=m0 why=sticky method=weighted "
                     "key=\"\"\n");
}
END_TEST

START_TEST(query_render_never_overflows)
{
    static char key[LBF_QUERY_KEY_MAX];
    struct lbf_query_answer a = {.farm = "app", .member = "m", .why = 1,
                                 .method = "weighted", .key = key,
                                 .key_len = sizeof(key)};
    char out[LBF_QUERY_OUT_MAX + 1], small[16];
    size_t n;

    memset(key, 0x01, sizeof(key)); /* worst case: 6 bytes each in JSON */
    out[LBF_QUERY_OUT_MAX] = 'X';
    n = lbf_query_render(&a, 1, out, LBF_QUERY_OUT_MAX);
    ck_assert_uint_lt(n, LBF_QUERY_OUT_MAX);
    ck_assert_int_eq(out[n - 1], '\n'); /* complete, not cut */
    ck_assert_int_eq(out[LBF_QUERY_OUT_MAX], 'X');
    n = lbf_query_render(&a, 0, small, sizeof(small));
    ck_assert_uint_gt(n, sizeof(small) - 1); /* the length it needs */
    ck_assert_uint_eq(strlen(small), sizeof(small) - 1); /* cut, ended */
    ck_assert_int_eq(strncmp(small, "farm=app member", 15), 0);
    ck_assert_uint_eq(lbf_query_render(&a, 0, NULL, 0), n);
    {
        char exact[2048];

        ck_assert_uint_lt(n, sizeof(exact));
        ck_assert_uint_eq(lbf_query_render(&a, 0, exact, n + 1), n);
        ck_assert_uint_eq(strlen(exact), n);
        ck_assert_int_eq(exact[n - 1], '\n');
    }
    ck_assert_str_eq(lbf_query_why_name(LBF_WHY_STICKY), "sticky");
    ck_assert_str_eq(lbf_query_why_name(LBF_WHY_FALLBACK), "fallback");
}
END_TEST

Suite *lbf_suite_query(void)
{
    Suite *s = suite_create("query");
    TCase *tc = tcase_create("peek");

    tcase_set_timeout(tc, LBF_T_TIMEOUT);
    tcase_add_test(tc, peek_names_the_next_weighted_take);
    tcase_add_test(tc, peek_skips_unusable_members_like_take);
    tcase_add_test(tc, peek_of_least_load_takes_nothing);
    tcase_add_test(tc, peek_rejects_an_unknown_method);
    suite_add_tcase(s, tc);
    tc = tcase_create("question");
    tcase_set_timeout(tc, LBF_T_TIMEOUT);
    tcase_add_test(tc, query_parse_accepts_and_names_each_refusal);
    tcase_add_test(tc, query_parse_refuses_a_raw_nul);
    tcase_add_test(tc, query_parse_enforces_the_size_limits);
    tcase_add_test(tc, query_render_text_and_json);
    tcase_add_test(tc, query_render_never_overflows);
    suite_add_tcase(s, tc);
    return s;
}
