/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbf_status_unit.h -- helpers of the status page's unit tests
 * (check_snapshot.c, check_render.c, check_status_html.c): a capturing
 * emitter, substring checks, and the hand-built snapshots the renderers
 * are tested on.  Everything is static inline; helpers fail the calling
 * test through ck_assert.
 */
#ifndef LBF_STATUS_UNIT_H
#define LBF_STATUS_UNIT_H

#include <fcntl.h>
#include <stdlib.h>

#include "lbf_unit.h"
#include "lbfarm_render.h"
#include "lbfarm_snapshot.h"
#include "lbfarm_status_html.h"

/* ------------------------------------------------------------------ */
/* A capturing emitter and substring checks                            */

/* Everything the renderer handed to the emitter. */
struct s_cap {
    char *buf;
    size_t len, cap;
    size_t calls, empty_calls, max_chunk;
    const void *self;   /* ctx must be this struct */
    int wrong_ctx;
};

static inline void s_emit(void *ctx, const char *s, size_t n)
{
    struct s_cap *c = ctx;

    if (c->self != c) {
        c->wrong_ctx = 1;
    }
    c->calls++;
    if (n == 0) {
        c->empty_calls++;
    }
    if (n > c->max_chunk) {
        c->max_chunk = n;
    }
    if (c->len + n + 1 > c->cap) {
        size_t want = (c->len + n + 1) * 2;
        char *nb = realloc(c->buf, want);

        ck_assert_ptr_nonnull(nb);
        c->buf = nb;
        c->cap = want;
    }
    memcpy(c->buf + c->len, s, n);
    c->len += n;
    c->buf[c->len] = '\0';
}

static inline void s_cap_init(struct s_cap *c)
{
    memset(c, 0, sizeof(*c));
    c->self = c;
    c->buf = calloc(1, 1);
    c->cap = 1;
    ck_assert_ptr_nonnull(c->buf);
}

static inline void s_cap_free(struct s_cap *c)
{
    free(c->buf);
    c->buf = NULL;
}

/* The capture is sane: ctx passed through, no empty block, no NUL byte
 * (so strlen counts every byte handed over). */
static inline void s_cap_sane(const struct s_cap *c, const char *what)
{
    ck_assert_msg(!c->wrong_ctx, "%s: emitter got another ctx", what);
    ck_assert_msg(c->empty_calls == 0, "%s: %zu empty blocks", what,
                  c->empty_calls);
    ck_assert_msg(strlen(c->buf) == c->len, "%s: NUL byte in output at %zu",
                  what, strlen(c->buf));
}

static inline size_t s_count(const char *hay, const char *needle)
{
    size_t n = 0, k = strlen(needle);
    const char *p = hay;

    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p += k;
    }
    return n;
}

static inline void s_has(const char *out, const char *frag, const char *what)
{
    ck_assert_msg(strstr(out, frag) != NULL, "%s: missing\n  %.1500s\nin\n"
                  "%.2000s", what, frag, out);
}

/* got equals want; on a difference, show where (messages stay short). */
static inline void s_eq(const char *got, const char *want, const char *what)
{
    size_t i = 0;

    while (got[i] != '\0' && got[i] == want[i]) {
        i++;
    }
    ck_assert_msg(got[i] == want[i],
                  "%s: differs at byte %zu\n got: ...%.300s\nwant: ...%.300s",
                  what, i, got + (i > 40 ? i - 40 : 0),
                  want + (i > 40 ? i - 40 : 0));
}

/* ------------------------------------------------------------------ */
/* Rendering                                                           */

typedef void s_render_f(const struct lbf_status *st, lbf_emit_f *emit,
                        void *ctx);

/* Render st with r (or the HTML page with o when r is NULL) into c. */
static inline void s_render(struct s_cap *c, s_render_f *r,
                            const struct lbf_status *st,
                            const struct lbf_html_opts *o)
{
    s_cap_init(c);
    if (r != NULL) {
        r(st, s_emit, c);
    }
    else {
        lbf_render_html(st, o, s_emit, c);
    }
    s_cap_sane(c, r == NULL ? "html" : "render");
}

/* Render st twice (into c and again) with stdout and stderr sent to a
 * temporary file, and assert that nothing reached that file. */
static inline void s_render_quiet(s_render_f *r, const struct lbf_status *st,
                                  const struct lbf_html_opts *o,
                                  struct s_cap *c, struct s_cap *again)
{
    char tmpl[] = "/tmp/lbf_status_XXXXXX";
    int fd = mkstemp(tmpl), saved1, saved2;

    ck_assert_int_ge(fd, 0);
    unlink(tmpl);
    fflush(stdout);
    fflush(stderr);
    saved1 = dup(1);
    saved2 = dup(2);
    ck_assert_int_ge(saved1, 0);
    ck_assert_int_ge(saved2, 0);
    ck_assert_int_eq(dup2(fd, 1), 1);
    ck_assert_int_eq(dup2(fd, 2), 2);
    s_cap_init(c);
    s_cap_init(again);
    if (r != NULL) {
        r(st, s_emit, c);
        r(st, s_emit, again);
    }
    else {
        lbf_render_html(st, o, s_emit, c);
        lbf_render_html(st, o, s_emit, again);
    }
    fflush(stdout);
    fflush(stderr);
    dup2(saved1, 1);
    dup2(saved2, 2);
    close(saved1);
    close(saved2);
    ck_assert_int_eq(lseek(fd, 0, SEEK_END), 0);
    close(fd);
}

/* ------------------------------------------------------------------ */
/* The hand-built snapshot: farm "web" (app1 ok, app2 in error, standby, */
/* runtime) and balancer "~bal#1a2b" (offline member "h 1:80").         */

struct s_fix {
    struct lbf_farm_snap farms[2];
    struct lbf_snap members[3];
    struct lbf_status st;
};

static inline void s_fixture(struct s_fix *x)
{
    struct lbf_snap *m;

    memset(x, 0, sizeof(*x));
    x->st.generation = 7;
    x->st.now_usec = 1700000000123456ull;
    x->st.recoveries = 2;
    x->st.repairs = 1;
    x->st.farms = x->farms;
    x->st.n_farms = 2;
    x->st.members = x->members;
    x->st.n_members = 3;

    strcpy(x->farms[0].name, "web");
    x->farms[0].method = "weighted";
    x->farms[0].adminable = 1;
    x->farms[0].first = 0;
    x->farms[0].n = 2;
    strcpy(x->farms[1].name, "~bal#1a2b");
    x->farms[1].method = "foreign";
    x->farms[1].offline = 1;
    x->farms[1].first = 2;
    x->farms[1].n = 1;

    m = &x->members[0];
    strcpy(m->farm, "web");
    strcpy(m->name, "app1");
    m->method = "weighted";
    m->state = "ok";
    m->admin = LBF_ADMIN_ENABLED;
    m->weight = m->cfg_weight = 3;
    m->inflight = 2;
    m->requests = 16620;
    m->load_milli = 420;
    m->load_age_ms = 1200;
    m->headroom_milli = 580;
    m->ramp_milli = 1000;
    m->hc_checked = 1;
    m->hc_status = 200;
    m->hc_ms = 3;
    m->lat_count = 812;
    m->lat_us[0] = 800;
    m->lat_us[1] = 3200;
    m->lat_us[2] = 6400;
    m->n_metrics = 2;
    strcpy(m->metrics[0].name, "cpu");
    m->metrics[0].value = 420;
    strcpy(m->metrics[1].name, "q\"<");
    m->metrics[1].value = 1500;

    m = &x->members[1];
    strcpy(m->farm, "web");
    strcpy(m->name, "app2");
    m->method = "weighted";
    m->state = "error";
    m->admin = LBF_ADMIN_ENABLED;
    m->weight = 1;
    m->cfg_weight = 2;
    m->tier = 1;
    m->requests = 5;
    m->errors = 4;
    m->error_left_ms = 2500;
    m->load_age_ms = -1;
    m->headroom_milli = 1000;
    m->ramp_milli = 400;
    m->runtime = 1;
    strcpy(m->url, "http://10.0.0.12:8080/x?a=1&b=<2>");

    m = &x->members[2];
    strcpy(m->farm, "~bal#1a2b");
    strcpy(m->name, "h 1:80");
    m->method = "foreign";
    m->state = "offline";
    m->admin = LBF_ADMIN_OFFLINE;
    m->weight = m->cfg_weight = 1;
    m->tier = 2; /* a standby that is not a runtime member */
    m->inflight = -1;
    m->requests = UINT64_MAX;
    m->load_age_ms = -1;
    m->headroom_milli = 1000;
    m->ramp_milli = 1000;
    m->hc_checked = 1;
    m->hc_status = 0;
    m->hc_ms = 1500;
}

/* One farm with one member, both named by the caller: an adminable
 * "weighted" farm, the member ok, weight 1, never pushed. */
struct s_one {
    struct lbf_farm_snap fs;
    struct lbf_snap m;
    struct lbf_status st;
};

static inline void s_one_init(struct s_one *x, const char *farm,
                              const char *member)
{
    memset(x, 0, sizeof(*x));
    strcpy(x->fs.name, farm);
    x->fs.method = "weighted";
    x->fs.adminable = 1;
    x->fs.n = 1;
    strcpy(x->m.farm, farm);
    strcpy(x->m.name, member);
    x->m.method = "weighted";
    x->m.state = "ok";
    x->m.weight = x->m.cfg_weight = 1;
    x->m.load_age_ms = -1;
    x->m.headroom_milli = 1000;
    x->m.ramp_milli = 1000;
    x->st.farms = &x->fs;
    x->st.n_farms = 1;
    x->st.members = &x->m;
    x->st.n_members = 1;
}

/* The big table: S_BIG members with hostile names, every metric, long
 * URLs, in an adminable farm "a b" (the first half) and a balancer. */
enum { S_BIG = 300 };

struct s_big {
    struct lbf_farm_snap fs[2];
    struct lbf_snap *m;
    struct lbf_status st;
};

static inline void s_big_init(struct s_big *x)
{
    size_t i, k;

    memset(x, 0, sizeof(*x));
    x->m = calloc(S_BIG, sizeof(*x->m));
    ck_assert_ptr_nonnull(x->m);
    strcpy(x->fs[0].name, "a b");
    x->fs[0].method = "weighted";
    x->fs[0].adminable = 1;
    x->fs[0].n = S_BIG / 2;
    strcpy(x->fs[1].name, "~b#1");
    x->fs[1].method = "foreign";
    x->fs[1].first = S_BIG / 2;
    x->fs[1].n = S_BIG - S_BIG / 2;
    for (i = 0; i < S_BIG; i++) {
        struct lbf_snap *m = &x->m[i];

        strcpy(m->farm, i < S_BIG / 2 ? "a b" : "~b#1");
        snprintf(m->name, sizeof(m->name), "<m%zu \"&'>", i);
        m->method = "weighted";
        m->state = i % 3 ? "ok" : "down";
        m->weight = m->cfg_weight = (uint32_t)(i % 100) + 1;
        m->requests = i * 1000;
        m->inflight = (int32_t)(i % 7);
        m->load_age_ms = i % 2 ? 100 : -1;
        m->load_milli = 500;
        m->headroom_milli = 500;
        m->ramp_milli = 1000;
        m->hc_checked = 1;
        m->hc_status = 200;
        m->lat_count = 1;
        m->lat_us[0] = m->lat_us[1] = m->lat_us[2] = 100;
        m->runtime = 1;
        memset(m->url, 'u', LBF_URL_SIZE - 1);
        m->n_metrics = LBF_METRICS_MAX;
        for (k = 0; k < LBF_METRICS_MAX; k++) {
            snprintf(m->metrics[k].name, LBF_METRIC_NAME, "<&\"x%zu", k);
            m->metrics[k].value = 1000;
        }
    }
    x->st.farms = x->fs;
    x->st.n_farms = 2;
    x->st.members = x->m;
    x->st.n_members = S_BIG;
}

static inline void s_big_free(struct s_big *x)
{
    free(x->m);
    x->m = NULL;
}

/* ------------------------------------------------------------------ */
/* Hostile strings and how each context must write them                */

/* A farm and member name, and its text, JSON, Prometheus and HTML
 * forms. */
struct s_hostile_name {
    const char *in;
    const char *text, *json, *prom, *html;
};

static inline const struct s_hostile_name *s_hostile_names(size_t *n)
{
    static const struct s_hostile_name cases[] = {
        {"<b>&\"'x", "<b>&\"'x", "\"\\u003cb\\u003e\\u0026\\\"'x\"",
         "<b>&\\\"'x", "&lt;b&gt;&amp;&quot;&#39;x"},
        {"a\\b\"c\nd", "a\\b\"c%0Ad", "\"a\\\\b\\\"c\\u000ad\"",
         "a\\\\b\\\"c\\nd", "a\\b&quot;c\nd"},
        {"x\\ny", "x\\ny", "\"x\\\\ny\"", "x\\\\ny", "x\\ny"},
        {"\x01\x1f\x7f~ ", "%01%1F%7F~%20", "\"\\u0001\\u001f\\u007f~ \"",
         "\x01\x1f\x7f~ ", "\x01\x1f\x7f~ "},
        {"\xc3\xa9\xff\x80", "%C3%A9%FF%80",
         "\"\\u00c3\\u00a9\\u00ff\\u0080\"", "\xc3\xa9\xff\x80",
         "\xc3\xa9\xff\x80"},
        {"50% off\r\t", "50%25%20off%0D%09", "\"50% off\\u000d\\u0009\"",
         "50% off\r\t", "50% off\r\t"},
        {"</script><x", "</script><x",
         "\"\\u003c/script\\u003e\\u003cx\"", "</script><x",
         "&lt;/script&gt;&lt;x"},
        {"&amp;", "&amp;", "\"\\u0026amp;\"", "&amp;", "&amp;amp;"},
        {"\"\"\\\\", "\"\"\\\\", "\"\\\"\\\"\\\\\\\\\"", "\\\"\\\"\\\\\\\\",
         "&quot;&quot;\\\\"},
        {"", "", "\"\"", "", ""},
        {"plain-name_1", "plain-name_1", "\"plain-name_1\"", "plain-name_1",
         "plain-name_1"},
    };

    *n = LBF_T_NELEMS(cases);
    return cases;
}

/* A member URL and a metric name, and their forms. */
struct s_hostile_url {
    const char *url, *url_html, *url_json;
    const char *metric, *metric_html, *metric_json, *metric_prom;
};

static inline const struct s_hostile_url *s_hostile_urls(size_t *n)
{
    static const struct s_hostile_url cases[] = {
        {"\"><script>alert(1)</script>",
         "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;",
         "\"\\\"\\u003e\\u003cscript\\u003ealert(1)\\u003c/script\\u003e\"",
         "a\"b\\c\nd", "a&quot;b\\c\nd", "\"a\\\"b\\\\c\\u000ad\"",
         "a\\\"b\\\\c\\nd"},
        {"http://h/' onmouseover='x", "http://h/&#39; onmouseover=&#39;x",
         "\"http://h/' onmouseover='x\"", "<'&>", "&lt;&#39;&amp;&gt;",
         "\"\\u003c'\\u0026\\u003e\"", "<'&>"},
    };

    *n = LBF_T_NELEMS(cases);
    return cases;
}

/* s_one_init(x, "web", "m1") with runtime URL url and one metric of
 * value 2.001. */
static inline void s_one_url(struct s_one *x, const char *url,
                             const char *metric)
{
    s_one_init(x, "web", "m1");
    x->m.runtime = 1;
    strcpy(x->m.url, url);
    x->m.n_metrics = 1;
    strcpy(x->m.metrics[0].name, metric);
    x->m.metrics[0].value = 2001;
}

#endif /* LBF_STATUS_UNIT_H */
