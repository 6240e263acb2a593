/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * check_render.c -- the text, JSON and Prometheus forms (lbfarm_render.h),
 * basic to complex:
 *
 *  - the field table: every row complete and every key unique in its
 *    form, and every row seen in all three forms of one member (the
 *    promise of the table: a field added once appears everywhere);
 *  - the three renderers over a hand-built snapshot: exact text lines,
 *    exact JSON that a strict validator here accepts, Prometheus output
 *    whose HELP/TYPE pairs, sample lines and label quoting are checked line
 *    by line (and the checkers themselves can fail);
 *  - each escaper on hostile names, URLs and metric names, seen through
 *    the renderer of its context, with the exact escaped bytes;
 *  - renderers write only through the emitter: no byte on stdout or
 *    stderr, every block non-empty, bytes counted exactly, and a large
 *    table is handed over in several blocks that add up.
 */
#include "lbf_status_unit.h"

/* ------------------------------------------------------------------ */
/* A strict JSON checker                                                */

/* Strict JSON (RFC 8259) value at p; returns the byte after it or NULL. */
static const char *s_js_value(const char *p, int depth);

static const char *s_js_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
        p++;
    }
    return p;
}

static int s_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
           || (c >= 'A' && c <= 'F');
}

static const char *s_js_string(const char *p)
{
    if (*p++ != '"') {
        return NULL;
    }
    for (;;) {
        unsigned char c = (unsigned char)*p;

        if (c == '"') {
            return p + 1;
        }
        if (c < 0x20) {
            return NULL; /* raw control byte (or the end) */
        }
        if (c == '\\') {
            p++;
            if (*p == 'u') {
                if (!s_hex(p[1]) || !s_hex(p[2]) || !s_hex(p[3])
                    || !s_hex(p[4])) {
                    return NULL;
                }
                p += 5;
                continue;
            }
            if (*p == '\0' || strchr("\"\\/bfnrt", *p) == NULL) {
                return NULL;
            }
        }
        p++;
    }
}

static const char *s_js_digits(const char *p)
{
    if (*p < '0' || *p > '9') {
        return NULL;
    }
    while (*p >= '0' && *p <= '9') {
        p++;
    }
    return p;
}

static const char *s_js_number(const char *p)
{
    if (*p == '-') {
        p++;
    }
    if (*p == '0') {
        p++;
    }
    else if ((p = s_js_digits(p)) == NULL) {
        return NULL;
    }
    if (*p == '.' && (p = s_js_digits(p + 1)) == NULL) {
        return NULL;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') {
            p++;
        }
        p = s_js_digits(p);
    }
    return p;
}

static const char *s_js_members(const char *p, int depth, char close,
                                int object)
{
    p = s_js_ws(p + 1);
    if (*p == close) {
        return p + 1;
    }
    for (;;) {
        if (object) {
            if ((p = s_js_string(s_js_ws(p))) == NULL) {
                return NULL;
            }
            p = s_js_ws(p);
            if (*p++ != ':') {
                return NULL;
            }
        }
        if ((p = s_js_value(p, depth + 1)) == NULL) {
            return NULL;
        }
        p = s_js_ws(p);
        if (*p == close) {
            return p + 1;
        }
        if (*p++ != ',') {
            return NULL;
        }
    }
}

static const char *s_js_value(const char *p, int depth)
{
    if (depth > 64) {
        return NULL;
    }
    p = s_js_ws(p);
    switch (*p) {
    case '{': return s_js_members(p, depth, '}', 1);
    case '[': return s_js_members(p, depth, ']', 0);
    case '"': return s_js_string(p);
    case 't': return strncmp(p, "true", 4) ? NULL : p + 4;
    case 'f': return strncmp(p, "false", 5) ? NULL : p + 5;
    case 'n': return strncmp(p, "null", 4) ? NULL : p + 4;
    default: return s_js_number(p);
    }
}

/* s is exactly one JSON object (then whitespace), in printable ASCII. */
static void s_json_valid(const char *s, const char *what)
{
    const char *end;
    const char *c;

    for (c = s; *c; c++) {
        ck_assert_msg((unsigned char)*c < 0x7f
                      && ((unsigned char)*c >= 0x20 || *c == '\n'),
                      "%s: byte 0x%02x at %td is not printable ASCII", what,
                      (unsigned char)*c, c - s);
    }
    ck_assert_msg(s_js_ws(s)[0] == '{', "%s: not an object: %.200s", what, s);
    end = s_js_value(s, 0);
    ck_assert_msg(end != NULL, "%s: invalid JSON: %.2000s", what, s);
    ck_assert_msg(*s_js_ws(end) == '\0', "%s: bytes after the value: %.200s",
                  what, end);
}

/* ------------------------------------------------------------------ */
/* A Prometheus 0.0.4 checker: HELP then TYPE per family, samples of    */
/* the family just announced, label values quoted and escaped.          */

struct s_fam {
    const char *name, *type;
};

/* Labels {a="..",b=".."} at p (p at '{'); returns the byte after '}'. */
static const char *s_prom_labels(const char *p)
{
    p++;
    for (;;) {
        if (!((*p >= 'a' && *p <= 'z') || *p == '_')) {
            return NULL;
        }
        while ((*p >= 'a' && *p <= 'z') || *p == '_') {
            p++;
        }
        if (*p++ != '=' || *p++ != '"') {
            return NULL;
        }
        while (*p != '"') {
            if (*p == '\n' || *p == '\0') {
                return NULL; /* a raw newline ends the line: unescaped */
            }
            if (*p == '\\') {
                p++;
                if (*p != '\\' && *p != '"' && *p != 'n') {
                    return NULL;
                }
            }
            p++;
        }
        p++;
        if (*p == '}') {
            return p + 1;
        }
        if (*p++ != ',') {
            return NULL;
        }
    }
}

/*
 * Check out line by line: the families announced are exactly fams[] in
 * order (a "# HELP name text" line then "# TYPE name type"; a counter's
 * name ends in _total), each sample belongs to the family announced last,
 * its labels are well quoted and its value a number.  With samples !=
 * NULL, the sample lines are exactly samples[] (as a set).  Returns NULL,
 * or what is wrong.
 */
static const char *s_prom_problem(const char *out, const struct s_fam *fams,
                                  size_t nf, const char *const *samples,
                                  size_t ns)
{
    static char msg[1024];
    char found[256] = {0};
    size_t fi = 0, got = 0, i;
    const char *fam = NULL, *line = out;

#define S_BAD(...) \
    do { \
        snprintf(msg, sizeof(msg), __VA_ARGS__); \
        return msg; \
    } while (0)
    if (ns > sizeof(found)) {
        S_BAD("too many samples expected");
    }
    if (*out == '\0' || out[strlen(out) - 1] != '\n') {
        S_BAD("output does not end with a newline");
    }
    while (*line) {
        const char *eol = strchr(line, '\n');
        size_t len = (size_t)(eol - line);
        char buf[512];

        if (len >= sizeof(buf)) {
            S_BAD("line of %zu bytes", len);
        }
        memcpy(buf, line, len);
        buf[len] = '\0';
        if (strncmp(buf, "# HELP ", 7) == 0) {
            char type_line[256];
            size_t nl;

            if (fi >= nf) {
                S_BAD("family beyond the expected: %s", buf);
            }
            nl = strlen(fams[fi].name);
            if (strncmp(buf + 7, fams[fi].name, nl) != 0 || buf[7 + nl] != ' '
                || buf[8 + nl] == '\0') {
                S_BAD("family %zu: %s, want HELP of %s", fi, buf,
                      fams[fi].name);
            }
            snprintf(type_line, sizeof(type_line), "# TYPE %s %s\n",
                     fams[fi].name, fams[fi].type);
            if (strncmp(eol + 1, type_line, strlen(type_line)) != 0) {
                S_BAD("after %s: want %s", buf, type_line);
            }
            if (strcmp(fams[fi].type, "counter") == 0
                && (nl <= 6 || strcmp(fams[fi].name + nl - 6, "_total"))) {
                S_BAD("counter %s does not end in _total", fams[fi].name);
            }
            fam = fams[fi++].name;
            line = eol + 1 + strlen(type_line);
            continue;
        }
        if (buf[0] == '#') {
            S_BAD("stray comment line: %s", buf);
        }
        if (fam == NULL) {
            S_BAD("sample before any family: %s", buf);
        }
        {
            size_t fl = strlen(fam);
            const char *p = buf + fl;
            char *num_end;

            if (strncmp(buf, fam, fl) != 0 || (*p != '{' && *p != ' ')) {
                S_BAD("sample %s is not of family %s", buf, fam);
            }
            if (*p == '{' && (p = s_prom_labels(p)) == NULL) {
                S_BAD("bad label set: %s", buf);
            }
            if (*p != ' ') {
                S_BAD("no value: %s", buf);
            }
            (void)strtod(p + 1, &num_end);
            if (p[1] == '\0' || *num_end != '\0') {
                S_BAD("value not a number: %s", buf);
            }
        }
        got++;
        if (samples != NULL) {
            for (i = 0; i < ns && strcmp(samples[i], buf) != 0; i++) {
            }
            if (i == ns) {
                S_BAD("unexpected sample: %s", buf);
            }
            if (found[i]) {
                S_BAD("sample twice: %s", buf);
            }
            found[i] = 1;
        }
        line = eol + 1;
    }
    if (fi != nf) {
        S_BAD("%zu families, want %zu", fi, nf);
    }
    if (samples != NULL && got != ns) {
        S_BAD("%zu samples, want %zu", got, ns);
    }
#undef S_BAD
    return NULL;
}

static void s_prom_check(const char *out, const struct s_fam *fams, size_t nf,
                         const char *const *samples, size_t ns)
{
    const char *why = s_prom_problem(out, fams, nf, samples, ns);

    ck_assert_msg(why == NULL, "prometheus: %.1000s\nin\n%.2000s", why, out);
}

/* Every family lbf_render_prom announces, in its order: the process and
 * farm families, then the field table's. */
static const struct s_fam s_fams[] = {
    {"lbfarm_generation", "gauge"},
    {"lbfarm_lock_recoveries_total", "counter"},
    {"lbfarm_farm_offline", "gauge"},
    {"lbfarm_farm_members", "gauge"},
    {"lbfarm_member_method_info", "gauge"},
    {"lbfarm_member_state", "gauge"},
    {"lbfarm_member_weight", "gauge"},
    {"lbfarm_member_configured_weight", "gauge"},
    {"lbfarm_member_standby_tier", "gauge"},
    {"lbfarm_member_inflight", "gauge"},
    {"lbfarm_member_requests_total", "counter"},
    {"lbfarm_member_errors_total", "counter"},
    {"lbfarm_member_error_remaining_seconds", "gauge"},
    {"lbfarm_member_load", "gauge"},
    {"lbfarm_member_load_age_seconds", "gauge"},
    {"lbfarm_member_headroom", "gauge"},
    {"lbfarm_member_health_check_status", "gauge"},
    {"lbfarm_member_health_check_duration_seconds", "gauge"},
    {"lbfarm_member_latency_window_requests", "gauge"},
    {"lbfarm_member_latency_recent_seconds", "gauge"},
    {"lbfarm_member_admin_state", "gauge"},
    {"lbfarm_member_standby", "gauge"},
    {"lbfarm_member_runtime", "gauge"},
    {"lbfarm_member_up", "gauge"},
    {"lbfarm_member_slowstart_ramp", "gauge"},
    {"lbfarm_member_url_info", "gauge"},
    {"lbfarm_member_pushed_metric", "gauge"},
    {"lbfarm_member_ejection_remaining_seconds", "gauge"},
    {"lbfarm_member_ejection_multiplier", "gauge"},
};

/* ------------------------------------------------------------------ */
/* The field table                                                      */

START_TEST(render_field_table_rows_are_complete_and_unique)
{
    size_t n, i, j;
    const struct lbf_field *f = lbf_render_fields(&n);

    ck_assert_uint_ge(n, 20);
    for (i = 0; i < n; i++) {
        const struct lbf_field *a = &f[i];

        ck_assert_msg(a->text && a->json && a->prom && a->prom_type
                      && a->help && a->get, "row %zu: a name is missing", i);
        ck_assert_msg(a->kind >= LBF_FK_NUM && a->kind <= LBF_FK_METRICS,
                      "row %zu (%s): kind %d", i, a->text, (int)a->kind);
        ck_assert_msg(strncmp(a->prom, "lbfarm_member_", 14) == 0,
                      "row %zu: family %s", i, a->prom);
        ck_assert_msg((strcmp(a->prom_type, "counter") == 0)
                      == (strlen(a->prom) > 6
                          && strcmp(a->prom + strlen(a->prom) - 6,
                                    "_total") == 0),
                      "row %zu: %s %s", i, a->prom, a->prom_type);
        ck_assert_msg(strcmp(a->prom_type, "counter") == 0
                      || strcmp(a->prom_type, "gauge") == 0,
                      "row %zu: type %s", i, a->prom_type);
        ck_assert_msg(a->kind == LBF_FK_NUM ? (a->label == NULL)
                                                  == (a->label_value == NULL)
                                            : a->label != NULL
                                                  || a->kind == LBF_FK_BOOL,
                      "row %zu (%s): label", i, a->text);
        ck_assert_msg((a->kind == LBF_FK_ENUM) == (a->values != NULL),
                      "row %zu (%s): values", i, a->text);
        ck_assert_msg(a->dec <= 6 && a->prom_dec <= 9, "row %zu: decimals",
                      i);
        ck_assert_msg(strcmp(a->json, "name") != 0, "row %zu: \"name\" is "
                      "the member's own key", i);
        for (j = 0; j < i; j++) {
            const struct lbf_field *b = &f[j];

            ck_assert_msg(strcmp(a->text, b->text) != 0,
                          "text key %s twice", a->text);
            ck_assert_msg(strcmp(a->json, b->json) != 0
                          || (a->group == NULL) != (b->group == NULL)
                          || (a->group && strcmp(a->group, b->group)),
                          "JSON key %s twice in one object", a->json);
            /* one family: rows next to each other, told apart by label */
            if (strcmp(a->prom, b->prom) == 0) {
                ck_assert_msg(j + 1 == i || strcmp(f[i - 1].prom, a->prom)
                              == 0, "family %s split", a->prom);
                ck_assert_msg(a->label_value && b->label_value
                              && strcmp(a->label_value, b->label_value),
                              "family %s: rows not told apart", a->prom);
            }
            /* a JSON group is one run of rows */
            if (a->group && b->group && strcmp(a->group, b->group) == 0) {
                ck_assert_msg(f[i - 1].group
                              && strcmp(f[i - 1].group, a->group) == 0,
                              "group %s split", a->group);
            }
        }
    }
}
END_TEST

START_TEST(render_every_field_appears_in_all_three_forms)
{
    struct s_fix x;
    struct s_cap t, j, p;
    size_t n, i;
    const struct lbf_field *f = lbf_render_fields(&n);

    s_fixture(&x);
    x.st.n_members = 1; /* app1: every value present */
    x.farms[0].n = 1;
    x.st.n_farms = 1;
    s_render(&t, lbf_render_text, &x.st, NULL);
    s_render(&j, lbf_render_json, &x.st, NULL);
    s_render(&p, lbf_render_prom, &x.st, NULL);
    for (i = 0; i < n; i++) {
        char want[256];

        snprintf(want, sizeof(want), " %s=", f[i].text);
        s_has(t.buf, want, "text field");
        snprintf(want, sizeof(want), "\"%s\":", f[i].json);
        s_has(j.buf, want, "JSON field");
        if (f[i].group) {
            snprintf(want, sizeof(want), "\"%s\":{", f[i].group);
            s_has(j.buf, want, "JSON group");
        }
        snprintf(want, sizeof(want), "# TYPE %s %s\n", f[i].prom,
                 f[i].prom_type);
        ck_assert_uint_eq(s_count(p.buf, want), 1);
        snprintf(want, sizeof(want), "\n%s{farm=\"web\",member=\"app1\"",
                 f[i].prom);
        s_has(p.buf, want, "Prometheus sample");
    }
    /* nothing but the table after the member's name */
    ck_assert_uint_eq(s_count(t.buf, "="), n + 3);
    s_json_valid(j.buf, "app1");
    s_cap_free(&t);
    s_cap_free(&j);
    s_cap_free(&p);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Text                                                                 */

START_TEST(status_text_writes_one_exact_line_per_member)
{
    struct s_fix x;
    struct s_cap c;

    s_fixture(&x);
    s_render(&c, lbf_render_text, &x.st, NULL);
    s_eq(c.buf,
        "# lbfarm generation=7 farms=2 members=3\n"
        "member web app1 method=weighted state=ok weight=3 cfg_weight=3 "
        "tier=0 inflight=2 requests=16620 errors=0 error_left_ms=0 "
        "load=0.420 load_age_ms=1200 headroom=0.580 hc_status=200 hc_ms=3 "
        "lat_n=812 p50_us=800 p95_us=3200 p99_us=6400 admin=enabled "
        "standby=0 runtime=0 up=1 ramp=1.000 url= metrics=cpu:0.420,q\"<:1.500 "
        "eject_left_ms=0 eject_n=0\n"
        "member web app2 method=weighted state=error weight=1 cfg_weight=2 "
        "tier=1 inflight=0 requests=5 errors=4 error_left_ms=2500 "
        "load=0.000 load_age_ms=-1 headroom=1.000 hc_status=-1 hc_ms=0 "
        "lat_n=0 p50_us=0 p95_us=0 p99_us=0 admin=enabled standby=1 "
        "runtime=1 up=0 ramp=0.400 url=http://10.0.0.12:8080/x?a=1&b=<2> "
        "metrics= eject_left_ms=0 eject_n=0\n"
        "member ~bal#1a2b h%201:80 method=foreign state=offline weight=1 "
        "cfg_weight=1 tier=2 inflight=-1 requests=18446744073709551615 "
        "errors=0 error_left_ms=0 load=0.000 load_age_ms=-1 headroom=1.000 "
        "hc_status=0 hc_ms=1500 lat_n=0 p50_us=0 p95_us=0 p99_us=0 "
        "admin=offline standby=1 runtime=0 up=0 ramp=1.000 url= metrics= "
        "eject_left_ms=0 eject_n=0\n",
        "text");
    ck_assert_uint_eq(c.len, strlen(c.buf));
    s_cap_free(&c);
}
END_TEST

START_TEST(render_text_escapes_the_separators_of_its_lists)
{
    struct s_one x;
    struct s_cap c;

    s_one_init(&x, "web", "m1");
    x.m.n_metrics = 2;
    strcpy(x.m.metrics[0].name, "a,b:c d%");
    x.m.metrics[0].value = -1500;
    strcpy(x.m.metrics[1].name, "e=f");
    x.m.metrics[1].value = 7;
    strcpy(x.m.url, "http://h/a b,c:d");
    s_render(&c, lbf_render_text, &x.st, NULL);
    s_has(c.buf, " url=http://h/a%20b,c:d metrics=a%2Cb%3Ac%20d%25:-1.500,"
                 "e=f:0.007 eject_left_ms=0 eject_n=0\n", "text lists");
    ck_assert_uint_eq(s_count(c.buf, "\n"), 2);
    s_cap_free(&c);
}
END_TEST

/* ------------------------------------------------------------------ */
/* JSON                                                                 */

START_TEST(status_json_is_exact_and_valid)
{
    struct s_fix x;
    struct s_cap c;

    s_fixture(&x);
    s_render(&c, lbf_render_json, &x.st, NULL);
    s_eq(c.buf,
        "{\"generation\":7,\"time_ms\":1700000000123,\"lock_recoveries\":2,"
        "\"lock_repairs\":1,\"farms\":["
        "{\"name\":\"web\",\"kind\":\"farm\",\"method\":\"weighted\","
        "\"state\":\"online\",\"members\":["
        "{\"name\":\"app1\",\"method\":\"weighted\",\"state\":\"ok\","
        "\"weight\":3,\"cfg_weight\":3,\"tier\":0,\"inflight\":2,"
        "\"requests\":16620,\"errors\":0,\"error_left_ms\":0,\"load\":0.420,"
        "\"load_age_ms\":1200,\"headroom\":0.580,\"health_check\":"
        "{\"status\":200,\"ms\":3},\"latency\":{\"window_requests\":812,"
        "\"p50_us\":800,\"p95_us\":3200,\"p99_us\":6400},\"admin\":"
        "\"enabled\",\"standby\":false,\"runtime\":false,\"up\":true,"
        "\"ramp\":1.000,\"url\":\"\",\"metrics\":{\"cpu\":0.420,\"q\\\"\\u003c\":1.500},"
        "\"eject_left_ms\":0,\"eject_n\":0},"
        "{\"name\":\"app2\",\"method\":\"weighted\",\"state\":\"error\","
        "\"weight\":1,\"cfg_weight\":2,\"tier\":1,\"inflight\":0,"
        "\"requests\":5,\"errors\":4,\"error_left_ms\":2500,\"load\":null,"
        "\"load_age_ms\":null,\"headroom\":1.000,\"health_check\":null,"
        "\"latency\":{\"window_requests\":0,\"p50_us\":null,\"p95_us\":null,"
        "\"p99_us\":null},\"admin\":\"enabled\",\"standby\":true,"
        "\"runtime\":true,\"up\":false,\"ramp\":0.400,\"url\":\"http://10.0.0.12:8080/x?a=1"
        "\\u0026b=\\u003c2\\u003e\",\"metrics\":{},"
        "\"eject_left_ms\":0,\"eject_n\":0}]},"
        "{\"name\":\"~bal#1a2b\",\"kind\":\"balancer\",\"method\":"
        "\"foreign\",\"state\":\"offline\",\"members\":["
        "{\"name\":\"h 1:80\",\"method\":\"foreign\",\"state\":\"offline\","
        "\"weight\":1,\"cfg_weight\":1,\"tier\":2,\"inflight\":-1,"
        "\"requests\":18446744073709551615,\"errors\":0,\"error_left_ms\":0,"
        "\"load\":null,\"load_age_ms\":null,\"headroom\":1.000,"
        "\"health_check\":{\"status\":0,\"ms\":1500},\"latency\":"
        "{\"window_requests\":0,\"p50_us\":null,\"p95_us\":null,"
        "\"p99_us\":null},\"admin\":\"offline\",\"standby\":true,"
        "\"runtime\":false,\"up\":false,\"ramp\":1.000,\"url\":\"\","
        "\"metrics\":{},\"eject_left_ms\":0,\"eject_n\":0}]}]}\n",
        "json");
    s_json_valid(c.buf, "fixture");
    s_cap_free(&c);
}
END_TEST

START_TEST(status_json_checker_rejects_broken_documents)
{
    /* the validator used above can fail */
    static const char *const bad[] = {
        "{", "{\"a\":1", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "{\"a\":01}",
        "{\"a\":1.}", "{\"a\":\"\x01\"}", "{\"a\":\"\\x\"}", "{\"a\":tru}",
        "{\"a\":[1,]}", "{\"a\":[1]]}", "{\"a\":\"\\u12\"}", "{\"a\":-}",
        "{\"a\":1}x", "{\"a\":\"x}",
    };
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(bad); i++) {
        const char *end = s_js_value(bad[i], 0);

        ck_assert_msg(end == NULL || *s_js_ws(end) != '\0',
                      "case %zu \"%s\" accepted", i, bad[i]);
    }
    ck_assert_ptr_nonnull(s_js_value("{\"a\":[1,-0.5e+3,true,null,{}],"
                                     "\"b\\u00e9\":\"\\\"\"}", 0));
}
END_TEST

START_TEST(status_json_of_an_empty_table_is_exact)
{
    struct lbf_status st;
    struct s_cap c;

    memset(&st, 0, sizeof(st));
    s_render(&c, lbf_render_json, &st, NULL);
    ck_assert_str_eq(c.buf, "{\"generation\":0,\"time_ms\":0,"
                            "\"lock_recoveries\":0,\"lock_repairs\":0,"
                            "\"farms\":[]}\n");
    s_json_valid(c.buf, "empty");
    s_cap_free(&c);
    s_render(&c, lbf_render_text, &st, NULL);
    ck_assert_str_eq(c.buf, "# lbfarm generation=0 farms=0 members=0\n");
    s_cap_free(&c);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Prometheus                                                           */

START_TEST(status_prom_announces_every_family_and_exact_samples)
{
    static const char *const samples[] = {
        "lbfarm_generation 7",
        "lbfarm_lock_recoveries_total 2",
        "lbfarm_farm_offline{farm=\"web\"} 0",
        "lbfarm_farm_offline{farm=\"~bal#1a2b\"} 1",
        "lbfarm_farm_members{farm=\"web\"} 2",
        "lbfarm_farm_members{farm=\"~bal#1a2b\"} 1",
#define S_ST(f, m, ok, er, dn, dr, of)                                         \
    "lbfarm_member_state{farm=\"" f "\",member=\"" m "\",state=\"ok\"} " ok,   \
    "lbfarm_member_state{farm=\"" f "\",member=\"" m "\",state=\"error\"} " er,\
    "lbfarm_member_state{farm=\"" f "\",member=\"" m "\",state=\"down\"} " dn, \
    "lbfarm_member_state{farm=\"" f "\",member=\"" m "\",state=\"draining\"} " \
        dr,                                                                    \
    "lbfarm_member_state{farm=\"" f "\",member=\"" m "\",state=\"offline\"} " of,\
    "lbfarm_member_state{farm=\"" f "\",member=\"" m "\",state=\"ejected\"} 0", \
    "lbfarm_member_state{farm=\"" f "\",member=\"" m "\",state=\"stalled\"} 0"
        S_ST("web", "app1", "1", "0", "0", "0", "0"),
        S_ST("web", "app2", "0", "1", "0", "0", "0"),
        S_ST("~bal#1a2b", "h 1:80", "0", "0", "0", "0", "1"),
#undef S_ST
#define S_M(fam, v0, v1, v2)                                                   \
    "lbfarm_member_" fam "{farm=\"web\",member=\"app1\"} " v0,                 \
    "lbfarm_member_" fam "{farm=\"web\",member=\"app2\"} " v1,                 \
    "lbfarm_member_" fam "{farm=\"~bal#1a2b\",member=\"h 1:80\"} " v2
        S_M("up", "1", "0", "0"),
        S_M("standby_tier", "0", "1", "2"),
        S_M("weight", "3", "1", "1"),
        S_M("configured_weight", "3", "2", "1"),
        S_M("inflight", "2", "0", "-1"),
        S_M("requests_total", "16620", "5", "18446744073709551615"),
        S_M("errors_total", "0", "4", "0"),
        S_M("error_remaining_seconds", "0.000", "2.500", "0.000"),
        S_M("headroom", "0.580", "1.000", "1.000"),
        S_M("latency_window_requests", "812", "0", "0"),
        S_M("standby", "0", "1", "1"),
        S_M("runtime", "0", "1", "0"),
        S_M("slowstart_ramp", "1.000", "0.400", "1.000"),
        S_M("ejection_remaining_seconds", "0.000", "0.000", "0.000"),
        S_M("ejection_multiplier", "0", "0", "0"),
#undef S_M
#define S_L(fam, label, v0, v1, v2)                                            \
    "lbfarm_member_" fam "{farm=\"web\",member=\"app1\"," label "} " v0,     \
    "lbfarm_member_" fam "{farm=\"web\",member=\"app2\"," label "} " v1,     \
    "lbfarm_member_" fam "{farm=\"~bal#1a2b\",member=\"h 1:80\"," label "} " \
        v2
        S_L("admin_state", "admin=\"enabled\"", "1", "1", "0"),
        S_L("admin_state", "admin=\"offline\"", "0", "0", "1"),
        S_L("admin_state", "admin=\"drain\"", "0", "0", "0"),
#undef S_L
        "lbfarm_member_method_info{farm=\"web\",member=\"app1\","
        "method=\"weighted\"} 1",
        "lbfarm_member_method_info{farm=\"web\",member=\"app2\","
        "method=\"weighted\"} 1",
        "lbfarm_member_method_info{farm=\"~bal#1a2b\",member=\"h 1:80\","
        "method=\"foreign\"} 1",
        "lbfarm_member_url_info{farm=\"web\",member=\"app1\",url=\"\"} 1",
        "lbfarm_member_url_info{farm=\"web\",member=\"app2\","
        "url=\"http://10.0.0.12:8080/x?a=1&b=<2>\"} 1",
        "lbfarm_member_url_info{farm=\"~bal#1a2b\",member=\"h 1:80\","
        "url=\"\"} 1",
        "lbfarm_member_load{farm=\"web\",member=\"app1\"} 0.420",
        "lbfarm_member_load_age_seconds{farm=\"web\",member=\"app1\"} 1.200",
        "lbfarm_member_health_check_status{farm=\"web\",member=\"app1\"} 200",
        "lbfarm_member_health_check_status{farm=\"~bal#1a2b\","
        "member=\"h 1:80\"} 0",
        "lbfarm_member_health_check_duration_seconds{farm=\"web\","
        "member=\"app1\"} 0.003",
        "lbfarm_member_health_check_duration_seconds{farm=\"~bal#1a2b\","
        "member=\"h 1:80\"} 1.500",
        "lbfarm_member_latency_recent_seconds{farm=\"web\",member=\"app1\","
        "quantile=\"0.5\"} 0.000800",
        "lbfarm_member_latency_recent_seconds{farm=\"web\",member=\"app1\","
        "quantile=\"0.95\"} 0.003200",
        "lbfarm_member_latency_recent_seconds{farm=\"web\",member=\"app1\","
        "quantile=\"0.99\"} 0.006400",
        "lbfarm_member_pushed_metric{farm=\"web\",member=\"app1\","
        "metric=\"cpu\"} 0.420",
        "lbfarm_member_pushed_metric{farm=\"web\",member=\"app1\","
        "metric=\"q\\\"<\"} 1.500",
    };
    struct s_fix x;
    struct s_cap c;

    ck_assert_uint_eq(LBF_T_NELEMS(samples), 62 + 24 + 6 + 6);
    s_fixture(&x);
    s_render(&c, lbf_render_prom, &x.st, NULL);
    s_prom_check(c.buf, s_fams, LBF_T_NELEMS(s_fams), samples,
                 LBF_T_NELEMS(samples));
    s_cap_free(&c);
}
END_TEST

START_TEST(status_prom_checker_rejects_broken_exposition)
{
    /* the checker used above can fail */
    static const char *const bad[] = {
        "lbfarm_generation 7\n",                              /* no HELP */
        "# HELP lbfarm_generation g.\nlbfarm_generation 7\n", /* no TYPE */
        "# HELP lbfarm_generation g.\n# TYPE lbfarm_generation counter\n",
        "# HELP lbfarm_generation g.\n# TYPE lbfarm_generation gauge\n"
        "lbfarm_generation{a=\"x\ny\"} 1\n",
        "# HELP lbfarm_generation g.\n# TYPE lbfarm_generation gauge\n"
        "lbfarm_generation{a=\"x\\ty\"} 1\n",
        "# HELP lbfarm_generation g.\n# TYPE lbfarm_generation gauge\n"
        "lbfarm_generation 7x\n",
        "# HELP lbfarm_generation g.\n# TYPE lbfarm_generation gauge\n"
        "lbfarm_other 7\n",
        "# HELP lbfarm_generation g.\n# TYPE lbfarm_generation gauge\n"
        "lbfarm_generation 7",
    };
    static const char *const want[] = {"lbfarm_generation 8"};
    size_t i;

    for (i = 0; i < LBF_T_NELEMS(bad); i++) {
        ck_assert_msg(s_prom_problem(bad[i], s_fams, 1, NULL, 0) != NULL,
                      "case %zu accepted:\n%s", i, bad[i]);
    }
    ck_assert_ptr_null(s_prom_problem("# HELP lbfarm_generation g.\n# TYPE "
                                      "lbfarm_generation gauge\n"
                                      "lbfarm_generation 7\n", s_fams, 1,
                                      NULL, 0));
    ck_assert_ptr_nonnull(s_prom_problem("# HELP lbfarm_generation g.\n# TYPE "
                                         "lbfarm_generation gauge\n"
                                         "lbfarm_generation 7\n", s_fams, 1,
                                         want, 1));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Escapers, through the renderer of each context                       */

START_TEST(status_escapers_quote_hostile_names_exactly)
{
    size_t n, i;
    const struct s_hostile_name *cases = s_hostile_names(&n);

    for (i = 0; i < n; i++) {
        struct s_one x;
        struct s_cap c;
        char want[512];

        ck_assert_uint_lt(strlen(cases[i].in), LBF_NAME_SIZE);
        s_one_init(&x, cases[i].in, cases[i].in);

        s_render(&c, lbf_render_text, &x.st, NULL);
        snprintf(want, sizeof(want), "\nmember %s %s method=weighted ",
                 cases[i].text, cases[i].text);
        s_has(c.buf, want, "text");
        ck_assert_uint_eq(s_count(c.buf, "\n"), 2); /* no line break leaks */
        s_cap_free(&c);

        s_render(&c, lbf_render_json, &x.st, NULL);
        snprintf(want, sizeof(want), "\"farms\":[{\"name\":%s,\"kind\":",
                 cases[i].json);
        s_has(c.buf, want, "json farm");
        snprintf(want, sizeof(want), "\"members\":[{\"name\":%s,\"method\":",
                 cases[i].json);
        s_has(c.buf, want, "json member");
        s_json_valid(c.buf, cases[i].in);
        s_cap_free(&c);

        s_render(&c, lbf_render_prom, &x.st, NULL);
        snprintf(want, sizeof(want), "\nlbfarm_member_up{farm=\"%s\","
                 "member=\"%s\"} 1\n", cases[i].prom, cases[i].prom);
        s_has(c.buf, want, "prom member");
        snprintf(want, sizeof(want), "\nlbfarm_farm_members{farm=\"%s\"} 1\n",
                 cases[i].prom);
        s_has(c.buf, want, "prom farm");
        s_prom_check(c.buf, s_fams, LBF_T_NELEMS(s_fams), NULL, 0);
        s_cap_free(&c);
    }
}
END_TEST

START_TEST(status_escapers_quote_urls_metric_names_and_form_values)
{
    size_t n, i;
    const struct s_hostile_url *cases = s_hostile_urls(&n);

    for (i = 0; i < n; i++) {
        struct s_one x;
        struct s_cap c;
        char want[512];

        s_one_url(&x, cases[i].url, cases[i].metric);

        s_render(&c, lbf_render_json, &x.st, NULL);
        snprintf(want, sizeof(want), "\"url\":%s,", cases[i].url_json);
        s_has(c.buf, want, "json url");
        snprintf(want, sizeof(want), "\"metrics\":{%s:2.001}",
                 cases[i].metric_json);
        s_has(c.buf, want, "json metric");
        s_json_valid(c.buf, cases[i].url);
        s_cap_free(&c);

        s_render(&c, lbf_render_prom, &x.st, NULL);
        snprintf(want, sizeof(want), "\nlbfarm_member_pushed_metric{farm="
                 "\"web\",member=\"m1\",metric=\"%s\"} 2.001\n",
                 cases[i].metric_prom);
        s_has(c.buf, want, "prom metric");
        s_prom_check(c.buf, s_fams, LBF_T_NELEMS(s_fams), NULL, 0);
        s_cap_free(&c);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* Output goes only through the emitter                                 */

START_TEST(status_renderers_write_only_through_the_emitter)
{
    static s_render_f *const forms[] = {lbf_render_text, lbf_render_json,
                                        lbf_render_prom};
    struct s_big x;
    size_t k;

    s_big_init(&x);
    for (k = 0; k < LBF_T_NELEMS(forms); k++) {
        struct s_cap c, again;
        size_t lines;

        /* nothing reaches stdout or stderr while rendering */
        s_render_quiet(forms[k], &x.st, NULL, &c, &again);
        s_cap_sane(&c, "big");
        ck_assert_msg(c.calls >= 2, "form %zu: %zu bytes in one block", k,
                      c.len);
        ck_assert_msg(c.len == again.len && memcmp(c.buf, again.buf, c.len)
                      == 0, "form %zu: not deterministic", k);
        lines = s_count(c.buf, "\n");
        switch (k) {
        case 0:
            ck_assert_uint_eq(lines, 1 + S_BIG);
            ck_assert_uint_eq(s_count(c.buf, "member a%20b <m"), S_BIG / 2);
            ck_assert_uint_eq(s_count(c.buf, "%20\"&'> method="), S_BIG);
            break;
        case 1:
            ck_assert_uint_eq(lines, 1);
            s_json_valid(c.buf, "big");
            ck_assert_uint_eq(s_count(c.buf, "{\"name\":\"\\u003cm"), S_BIG);
            break;
        default:
            s_prom_check(c.buf, s_fams, LBF_T_NELEMS(s_fams), NULL, 0);
            ck_assert_uint_eq(s_count(c.buf, "\nlbfarm_member_up{"), S_BIG);
            ck_assert_uint_eq(s_count(c.buf, "\nlbfarm_member_pushed_metric{"),
                              S_BIG * LBF_METRICS_MAX);
            break;
        }
        s_cap_free(&c);
        s_cap_free(&again);
    }
    s_big_free(&x);
}
END_TEST

Suite *lbf_suite_render(void)
{
    Suite *s = suite_create("render");
    TCase *tab = tcase_create("table");
    TCase *ren = tcase_create("render");

    tcase_set_timeout(tab, LBF_T_TIMEOUT);
    tcase_add_test(tab, render_field_table_rows_are_complete_and_unique);
    tcase_add_test(tab, render_every_field_appears_in_all_three_forms);
    suite_add_tcase(s, tab);

    tcase_set_timeout(ren, LBF_T_TIMEOUT);
    tcase_add_test(ren, status_text_writes_one_exact_line_per_member);
    tcase_add_test(ren, render_text_escapes_the_separators_of_its_lists);
    tcase_add_test(ren, status_json_is_exact_and_valid);
    tcase_add_test(ren, status_json_checker_rejects_broken_documents);
    tcase_add_test(ren, status_json_of_an_empty_table_is_exact);
    tcase_add_test(ren, status_prom_announces_every_family_and_exact_samples);
    tcase_add_test(ren, status_prom_checker_rejects_broken_exposition);
    tcase_add_test(ren, status_escapers_quote_hostile_names_exactly);
    tcase_add_test(ren, status_escapers_quote_urls_metric_names_and_form_values);
    tcase_add_test(ren, status_renderers_write_only_through_the_emitter);
    suite_add_tcase(s, ren);
    return s;
}
