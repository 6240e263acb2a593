/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_status_html.c -- the HTML status page (lbfarm_status_html.h),
 * basic to complex:
 *
 *  - the style sheet and its CSP hash (SHA-256 and a base64 written here);
 *  - the page over a hand-built snapshot: rows, forms, chart and the CSP
 *    constraints (one <style>, no style attribute, no script, no event
 *    handler), read only without a nonce, the forms posting what the
 *    parser (lbfarm_admin.h) accepts, columns above 40 members;
 *  - hostile names, URLs, metric names and form values escaped exactly;
 *  - the page is written only through the emitter, in several blocks.
 */
#include <openssl/sha.h>

#include "lbf_status_unit.h"
#include "lbfarm_admin.h"

static const struct lbf_html_opts s_ro = {NULL, NULL};

/* No attribute named on...= (an event handler) anywhere in the page. */
static void s_no_event_handler(const char *page)
{
    const char *p = page;

    while ((p = strstr(p, " on")) != NULL) {
        const char *q = p + 3;

        while (*q >= 'a' && *q <= 'z') {
            q++;
        }
        ck_assert_msg(*q != '=', "event handler attribute at %td: %.40s",
                      p - page, p);
        p += 3;
    }
}

/* ------------------------------------------------------------------ */
/* Style sheet and its hash                                             */

static void s_base64(const unsigned char *in, size_t n, char *out)
{
    static const char al[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i;

    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

        *out++ = al[v >> 18];
        *out++ = al[(v >> 12) & 63];
        *out++ = al[(v >> 6) & 63];
        *out++ = al[v & 63];
    }
    if (n - i == 1) {
        *out++ = al[in[i] >> 2];
        *out++ = al[(in[i] & 3) << 4];
        *out++ = '=';
        *out++ = '=';
    }
    else if (n - i == 2) {
        *out++ = al[in[i] >> 2];
        *out++ = al[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
        *out++ = al[(in[i + 1] & 15) << 2];
        *out++ = '=';
    }
    *out = '\0';
}

START_TEST(status_css_hash_is_sha256_base64_of_the_style_sheet)
{
    const char *css = lbf_status_css();
    unsigned char md[SHA256_DIGEST_LENGTH];
    char want[LBF_CSS_HASH_SIZE], got[LBF_CSS_HASH_SIZE + 4];

    /* my own base64 agrees with RFC 4648's test vectors */
    s_base64((const unsigned char *)"foob", 4, want);
    ck_assert_str_eq(want, "Zm9vYg==");
    s_base64((const unsigned char *)"fooba", 5, want);
    ck_assert_str_eq(want, "Zm9vYmE=");
    s_base64((const unsigned char *)"foobar", 6, want);
    ck_assert_str_eq(want, "Zm9vYmFy");

    ck_assert_ptr_nonnull(css);
    ck_assert_uint_gt(strlen(css), 100);
    ck_assert_ptr_eq(css, lbf_status_css()); /* one static sheet */
    ck_assert_ptr_nonnull(SHA256((const unsigned char *)css, strlen(css), md));
    memcpy(want, "sha256-", 7);
    s_base64(md, sizeof(md), want + 7);
    ck_assert_uint_eq(strlen(want), LBF_CSS_HASH_SIZE - 1);

    memset(got, 'X', sizeof(got));
    ck_assert_int_eq(lbf_status_css_hash(got), 0);
    ck_assert_str_eq(got, want);
    ck_assert_msg(got[LBF_CSS_HASH_SIZE] == 'X', "wrote past the hash");
}
END_TEST

START_TEST(status_css_cannot_leave_its_style_element)
{
    const char *css = lbf_status_css();

    ck_assert_ptr_null(strchr(css, '<')); /* no "</style" */
    ck_assert_ptr_null(strstr(css, "url("));    /* no external fetch */
    ck_assert_ptr_null(strstr(css, "@import"));
}
END_TEST

/* ------------------------------------------------------------------ */
/* The page                                                             */

START_TEST(status_html_read_only_page_has_no_forms)
{
    struct s_fix x;
    struct s_cap c;
    char style[4096];

    s_fixture(&x);
    s_render(&c, NULL, &x.st, &s_ro);
    ck_assert_msg(strncmp(c.buf, "<!DOCTYPE html>\n<html lang=\"en\">", 32)
                  == 0, "page start: %.40s", c.buf);
    ck_assert_msg(c.len > 15
                  && strcmp(c.buf + c.len - 15, "</body></html>\n") == 0,
                  "page end");
    snprintf(style, sizeof(style), "<style>%s</style>", lbf_status_css());
    ck_assert_uint_eq(s_count(c.buf, style), 1);
    ck_assert_uint_eq(s_count(c.buf, "<style"), 1);
    ck_assert_uint_eq(s_count(c.buf, "style="), 0);
    ck_assert_uint_eq(s_count(c.buf, "<script"), 0);
    s_no_event_handler(c.buf);
    ck_assert_uint_eq(s_count(c.buf, "<form"), 0);
    ck_assert_uint_eq(s_count(c.buf, "nonce"), 0);
    s_has(c.buf, "<p class=\"muted\">Read only: no session.</p>", "ro");
    s_has(c.buf, "<p class=\"meta\">generation 7 &#183; 2 farms &#183; "
                 "3 members &#183; lock recoveries 2 &#183;", "meta");
    s_has(c.buf, "<section class=\"farm\" data-farm=\"web\"><h2>web <span "
                 "class=\"st st-online\">online</span> <span class=\"muted\">"
                 "farm &#183; weighted &#183; 2 members</span></h2>", "farm");
    s_has(c.buf, "<section class=\"farm\" data-farm=\"~bal#1a2b\"><h2>"
                 "~bal#1a2b <span class=\"st st-offline\">offline</span> "
                 "<span class=\"muted\">balancer:// &#183; foreign &#183; "
                 "1 members</span></h2>", "balancer");
    /* every element opened is closed */
    ck_assert_uint_eq(s_count(c.buf, "<section "), 2);
    ck_assert_uint_eq(s_count(c.buf, "</section>"), 2);
    ck_assert_uint_eq(s_count(c.buf, "<table>"), 2);
    ck_assert_uint_eq(s_count(c.buf, "</table>"), 2);
    ck_assert_uint_eq(s_count(c.buf, "<tr"), 2 + 3);
    ck_assert_uint_eq(s_count(c.buf, "</tr>"), 2 + 3);
    ck_assert_uint_eq(s_count(c.buf, "<td"), s_count(c.buf, "</td>"));
    ck_assert_uint_eq(s_count(c.buf, "<td"), 3 * 10);
    ck_assert_uint_eq(s_count(c.buf, "<svg "), 2);
    ck_assert_uint_eq(s_count(c.buf, "</svg>"), 2);
    ck_assert_uint_eq(s_count(c.buf, "<title>"), 1 + 3);
    ck_assert_uint_eq(s_count(c.buf, "</title>"), 1 + 3);
    /* the balancer's member, read only, exactly */
    s_has(c.buf,
          "<tr data-member=\"h 1:80\"><td><b>h 1:80</b><span class=\"url\">"
          "</span></td><td><span class=\"st st-offline\">offline</span> <span "
          "class=\"st st-standby\">standby 2</span></td><td class=\"n\">"
          "1 / 1</td><td class=\"n\">-1</td><td class=\"n\">"
          "18446744073709551615</td><td class=\"n\">0</td><td class=\"n\" "
          "title=\"\">&ndash;</td><td class=\"n\">1.000</td><td>no answer "
          "(1500 ms)</td><td class=\"n\">&ndash;</td></tr>", "m2 row");
    s_cap_free(&c);
}
END_TEST

START_TEST(status_html_rows_forms_and_chart_are_exact)
{
    static const struct lbf_html_opts o = {"/s?a=1&b=\"x\"", "N0nce"};
    struct s_fix x;
    struct s_cap c;

    s_fixture(&x);
    s_render(&c, NULL, &x.st, &o);
    ck_assert_uint_eq(s_count(c.buf, "Read only"), 0);
    /* web: 2 farm forms and one per member; the balancer: none */
    ck_assert_uint_eq(s_count(c.buf, "<form "), 4);
    ck_assert_uint_eq(s_count(c.buf, "</form>"), 4);
    ck_assert_uint_eq(s_count(c.buf, "<form method=\"post\" class=\""), 4);
    ck_assert_uint_eq(s_count(c.buf, "action=\"/s?a=1&amp;b=&quot;x&quot;\""),
                      4);
    ck_assert_uint_eq(s_count(c.buf, "<input type=\"hidden\" name=\"nonce\" "
                                     "value=\"N0nce\">"), 4);
    ck_assert_uint_eq(s_count(c.buf, "<input type=\"hidden\" name=\"farm\" "
                                     "value=\"web\">"), 4);
    ck_assert_uint_eq(s_count(c.buf, "value=\"~bal#1a2b\""), 0);
    ck_assert_uint_eq(s_count(c.buf, "<th>actions</th>"), 1);
    ck_assert_uint_eq(s_count(c.buf, "<select"), 2);
    ck_assert_uint_eq(s_count(c.buf, "</select>"), 2);
    s_has(c.buf, "<input type=\"hidden\" name=\"state\" value=\"offline\">"
                 "<button name=\"action\" value=\"farm-state\">Take the farm "
                 "offline</button></form>", "farm form");
    s_has(c.buf, "<button name=\"action\" value=\"member-add\">Add member"
                 "</button></form>", "add form");
    s_has(c.buf,
          "<tr data-member=\"app1\"><td><b>app1</b><span class=\"url\">"
          "</span></td><td><span class=\"st st-ok\">ok</span></td>"
          "<td class=\"n\">3 / 3</td><td class=\"n\">2</td><td class=\"n\">"
          "16620</td><td class=\"n\">0</td><td class=\"n\" title=\"cpu=0.420"
          " q&quot;&lt;=1.500 \">0.420 <span class=\"muted\">1.2 s ago"
          "</span></td><td class=\"n\">0.580</td><td>200 in 3 ms</td>"
          "<td class=\"n\">0.8 / 3.2 / 6.4 ms <span class=\"muted\">(812)"
          "</span></td><td><form method=\"post\" class=\"act\" action=\"/s?"
          "a=1&amp;b=&quot;x&quot;\"><input type=\"hidden\" name=\"nonce\" "
          "value=\"N0nce\"><input type=\"hidden\" name=\"farm\" value=\"web\">"
          "<input type=\"hidden\" name=\"member\" value=\"app1\"><select "
          "name=\"state\" aria-label=\"state\"><option value=\"up\" selected>"
          "up</option><option value=\"offline\">offline</option><option "
          "value=\"drain\">drain</option></select><button name=\"action\" "
          "value=\"member-state\">Set</button><input class=\"w\" "
          "type=\"number\" name=\"weight\" min=\"1\" max=\"100\" value=\"3\" "
          "aria-label=\"weight\"><button name=\"action\" "
          "value=\"member-weight\">Weigh</button><button name=\"action\" "
          "value=\"member-remove\" class=\"danger\">Remove</button></form>"
          "</td></tr>", "app1 row");
    s_has(c.buf,
          "<tr data-member=\"app2\"><td><b>app2</b><span class=\"url\">"
          "http://10.0.0.12:8080/x?a=1&amp;b=&lt;2&gt;</span></td><td><span "
          "class=\"st st-error\">error</span> <span class=\"muted\">3 s left"
          "</span> <span class=\"st st-standby\">standby 1</span> <span "
          "class=\"muted\">runtime</span></td><td class=\"n\">1 / 2</td>"
          "<td class=\"n\">0</td><td class=\"n\">5</td><td class=\"n\">4</td>"
          "<td class=\"n\" title=\"\">&ndash;</td><td class=\"n\">1.000</td>"
          "<td>&ndash;</td><td class=\"n\">&ndash;</td><td>", "app2 row");
    /* the chart of web: 16625 requests in all, bars scaled to the max */
    s_has(c.buf,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" "
          "height=\"58\" viewBox=\"0 0 720 58\" role=\"img\" aria-label=\"load"
          " spread\"><text x=\"0\" y=\"11\">requests share per member (bar; "
          "16625 in all) and in flight (thin bar)</text>"
          "<text x=\"0\" y=\"28\">app1</text><rect class=\"bg\" x=\"170\" "
          "y=\"18\" width=\"430\" height=\"10\"/><rect class=\"b-ok\" "
          "x=\"170\" y=\"18\" width=\"430\" height=\"10\"><title>app1: 16620 "
          "requests (99.9 %), 2 in flight</title></rect><rect class=\"if\" "
          "x=\"170\" y=\"30\" width=\"430\" height=\"4\"/><text x=\"608\" "
          "y=\"28\">99.9 % &#183; 2 in flight</text>"
          "<text x=\"0\" y=\"48\">app2</text><rect class=\"bg\" x=\"170\" "
          "y=\"38\" width=\"430\" height=\"10\"/><rect class=\"b-error\" "
          "x=\"170\" y=\"38\" width=\"0\" height=\"10\"><title>app2: 5 "
          "requests (0.0 %), 0 in flight</title></rect><rect class=\"if\" "
          "x=\"170\" y=\"50\" width=\"0\" height=\"4\"/><text x=\"608\" "
          "y=\"48\">0.0 % &#183; 0 in flight</text></svg>", "web chart");

    /* an offline farm offers to come back; admin states are preselected */
    s_cap_free(&c);
    x.farms[0].offline = 1;
    x.members[0].admin = LBF_ADMIN_DRAIN;
    x.members[1].admin = LBF_ADMIN_OFFLINE;
    s_render(&c, NULL, &x.st, &o);
    s_has(c.buf, "<input type=\"hidden\" name=\"state\" value=\"online\">"
                 "<button name=\"action\" value=\"farm-state\">Bring the farm "
                 "online</button></form>", "offline farm form");
    s_has(c.buf, "<option value=\"up\">up</option><option value=\"offline\">"
                 "offline</option><option value=\"drain\" selected>drain"
                 "</option>", "drain selected");
    s_has(c.buf, "<option value=\"up\">up</option><option value=\"offline\" "
                 "selected>offline</option><option value=\"drain\">drain"
                 "</option>", "offline selected");
    s_cap_free(&c);
}
END_TEST

START_TEST(status_html_forms_post_what_the_parser_accepts)
{
    /* the fields the page's member form submits parse as that action */
    static const struct lbf_html_opts o = {"/s", "N0nce"};
    static const char *const actions[] = {"member-state", "member-weight",
                                          "member-remove"};
    static const enum lbf_admin_action want[] = {
        LBF_ACT_MEMBER_STATE, LBF_ACT_MEMBER_WEIGHT, LBF_ACT_MEMBER_REMOVE};
    struct s_fix x;
    struct s_cap c;
    size_t i;

    s_fixture(&x);
    s_render(&c, NULL, &x.st, &o);
    for (i = 0; i < LBF_T_NELEMS(actions); i++) {
        char body[256], err[128];
        struct lbf_admin_req q;
        char btn[128];

        snprintf(btn, sizeof(btn), "<button name=\"action\" value=\"%s\"",
                 actions[i]);
        s_has(c.buf, btn, actions[i]);
        snprintf(body, sizeof(body), "nonce=N0nce&farm=web&member=app1&"
                 "state=up&weight=3&action=%s", actions[i]);
        ck_assert_msg(lbf_admin_parse(body, strlen(body), &q, err,
                                      sizeof(err)) == 0, "%s: %s",
                      actions[i], err);
        ck_assert_int_eq(q.action, want[i]);
        ck_assert_str_eq(q.nonce, "N0nce");
    }
    s_cap_free(&c);
}
END_TEST

START_TEST(status_html_chart_uses_columns_above_40_members)
{
    enum { N = 41 };
    struct lbf_farm_snap fs;
    struct lbf_snap *m = calloc(N, sizeof(*m));
    struct lbf_status st;
    struct s_cap c;
    size_t i;

    ck_assert_ptr_nonnull(m);
    memset(&fs, 0, sizeof(fs));
    strcpy(fs.name, "big");
    fs.method = "weighted";
    fs.adminable = 1;
    fs.n = N;
    for (i = 0; i < N; i++) {
        strcpy(m[i].farm, "big");
        snprintf(m[i].name, sizeof(m[i].name), "m%zu", i);
        m[i].method = "weighted";
        m[i].state = "ok";
        m[i].weight = m[i].cfg_weight = 1;
        m[i].requests = 10;
        m[i].load_age_ms = -1;
        m[i].headroom_milli = 1000;
    }
    memset(&st, 0, sizeof(st));
    st.farms = &fs;
    st.n_farms = 1;
    st.members = m;
    st.n_members = N;
    s_render(&c, NULL, &st, &s_ro);
    s_has(c.buf, "width=\"720\" height=\"112\" viewBox=\"0 0 720 112\"",
          "column chart");
    ck_assert_uint_eq(s_count(c.buf, "<rect class=\"b-ok\""), N);
    ck_assert_uint_eq(s_count(c.buf, "<rect class=\"if\""), N);
    ck_assert_uint_eq(s_count(c.buf, "<rect class=\"bg\""), 0);
    /* 720 px / 41 = 17.560 px; every column 60 px high (equal shares) */
    s_has(c.buf, "<rect class=\"b-ok\" x=\"0.000\" y=\"16.000\" "
                 "width=\"17.560\" height=\"60.000\"><title>m0: 10 requests "
                 "(2.4 %), 0 in flight</title></rect>", "first column");
    s_has(c.buf, "<rect class=\"b-ok\" x=\"702.439\" y=\"16.000\" "
                 "width=\"17.560\" height=\"60.000\">", "last column");
    s_cap_free(&c);
    free(m);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Escaping                                                             */

START_TEST(status_html_escapes_hostile_names_exactly)
{
    size_t n, i;
    const struct s_hostile_name *cases = s_hostile_names(&n);

    for (i = 0; i < n; i++) {
        struct s_one x;
        struct s_cap c;
        char want[512];

        s_one_init(&x, cases[i].in, cases[i].in);
        s_render(&c, NULL, &x.st, &s_ro);
        snprintf(want, sizeof(want), "<tr data-member=\"%s\"><td><b>%s</b>",
                 cases[i].html, cases[i].html);
        s_has(c.buf, want, "html member");
        snprintf(want, sizeof(want), "data-farm=\"%s\"><h2>%s <span",
                 cases[i].html, cases[i].html);
        s_has(c.buf, want, "html farm");
        snprintf(want, sizeof(want), "<title>%s: 0 requests",
                 cases[i].html);
        s_has(c.buf, want, "html chart title");
        s_cap_free(&c);
    }
}
END_TEST

START_TEST(status_html_escapes_urls_metric_names_and_form_values)
{
    static const struct lbf_html_opts o = {"/s\"><x", "n\"><x"};
    size_t n, i;
    const struct s_hostile_url *cases = s_hostile_urls(&n);

    for (i = 0; i < n; i++) {
        struct s_one x;
        struct s_cap c;
        char want[512];

        s_one_url(&x, cases[i].url, cases[i].metric);
        s_render(&c, NULL, &x.st, &o);
        snprintf(want, sizeof(want), "<span class=\"url\">%s</span>",
                 cases[i].url_html);
        s_has(c.buf, want, "html url");
        snprintf(want, sizeof(want), "<td class=\"n\" title=\"%s=2.001 \">",
                 cases[i].metric_html);
        s_has(c.buf, want, "html metric");
        ck_assert_uint_eq(s_count(c.buf, "action=\"/s&quot;&gt;&lt;x\""), 3);
        ck_assert_uint_eq(s_count(c.buf, "name=\"nonce\" value=\"n&quot;&gt;"
                                         "&lt;x\""), 3);
        ck_assert_uint_eq(s_count(c.buf, "<x"), 0);
        ck_assert_uint_eq(s_count(c.buf, "<script"), 0);
        s_cap_free(&c);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* Output goes only through the emitter                                 */

START_TEST(status_html_writes_only_through_the_emitter)
{
    static const struct lbf_html_opts o = {"/s", "N0nce"};
    struct s_big x;
    struct s_cap c, again;

    s_big_init(&x);
    /* nothing reaches stdout or stderr while rendering */
    s_render_quiet(NULL, &x.st, &o, &c, &again);
    s_cap_sane(&c, "big");
    ck_assert_msg(c.calls >= 2, "html: %zu bytes in one block", c.len);
    ck_assert_msg(c.len == again.len && memcmp(c.buf, again.buf, c.len) == 0,
                  "html: not deterministic");
    ck_assert_uint_eq(s_count(c.buf, "<tr data-member=\"&lt;m"), S_BIG);
    ck_assert_uint_eq(s_count(c.buf, "<form "), 2 + S_BIG / 2);
    ck_assert_uint_eq(s_count(c.buf, "</form>"), 2 + S_BIG / 2);
    ck_assert_uint_eq(s_count(c.buf, "&'"), 0); /* raw name */
    s_cap_free(&c);
    s_cap_free(&again);
    s_big_free(&x);
}
END_TEST

Suite *lbf_suite_status_html(void)
{
    Suite *s = suite_create("status_html");
    TCase *css = tcase_create("css");
    TCase *page = tcase_create("page");

    tcase_set_timeout(css, LBF_T_TIMEOUT);
    tcase_add_test(css, status_css_hash_is_sha256_base64_of_the_style_sheet);
    tcase_add_test(css, status_css_cannot_leave_its_style_element);
    suite_add_tcase(s, css);

    tcase_set_timeout(page, LBF_T_TIMEOUT);
    tcase_add_test(page, status_html_read_only_page_has_no_forms);
    tcase_add_test(page, status_html_rows_forms_and_chart_are_exact);
    tcase_add_test(page, status_html_forms_post_what_the_parser_accepts);
    tcase_add_test(page, status_html_chart_uses_columns_above_40_members);
    tcase_add_test(page, status_html_escapes_hostile_names_exactly);
    tcase_add_test(page, status_html_escapes_urls_metric_names_and_form_values);
    tcase_add_test(page, status_html_writes_only_through_the_emitter);
    suite_add_tcase(s, page);
    return s;
}
