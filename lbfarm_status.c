/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_status.c -- snapshot rows and render them; see lbfarm_status.h.
 *
 * Snapshots are taken one row at a time with atomic loads (and a seqlock
 * read for the pushed metrics); nothing here ever takes a lock.  Every
 * renderer writes through a buffered writer (struct lbf_out) that hands
 * the glue's emitter whole blocks, and every string that reaches output
 * -- names from the configuration, member URLs typed by an operator,
 * metric names from pushes -- goes through the escaper of its context:
 * lbf_out_html (HTML text and attribute values), lbf_out_json (JSON
 * strings), lbf_out_label (Prometheus label values), lbf_out_word (a word
 * of the text form).  Names are restricted
 * at configuration time, but balancer:// rows carry host names and URLs
 * carry paths, so nothing relies on that.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "lbfarm_conf.h"
#include "lbfarm_method.h"
#include "lbfarm_status.h"

/* ------------------------------------------------------------------ */
/* Buffered output and escapers                                        */

#define LBF_OUT_SIZE 16384

struct lbf_out {
    lbf_emit_f *emit;
    void *ctx;
    size_t n;
    char buf[LBF_OUT_SIZE];
};

/* Hand what is buffered to the emitter. */
static void lbf_out_flush(struct lbf_out *o)
{
    if (o->n > 0) {
        o->emit(o->ctx, o->buf, o->n);
        o->n = 0;
    }
}

/* Append n bytes of s. */
static void lbf_out_put(struct lbf_out *o, const char *s, size_t n)
{
    if (n > LBF_OUT_SIZE - o->n) {
        lbf_out_flush(o);
        if (n > LBF_OUT_SIZE) {
            o->emit(o->ctx, s, n);
            return;
        }
    }
    memcpy(o->buf + o->n, s, n);
    o->n += n;
}

/* Append a NUL-terminated string (trusted: static text only). */
static void lbf_out_str(struct lbf_out *o, const char *s)
{
    lbf_out_put(o, s, strlen(s));
}

/* Append printf output; formats carry numbers and static strings only,
 * so one item is far below the buffer size. */
static void lbf_out_fmt(struct lbf_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void lbf_out_fmt(struct lbf_out *o, const char *fmt, ...)
{
    va_list ap;
    int len;

    if (LBF_OUT_SIZE - o->n < 1024) {
        lbf_out_flush(o);
    }
    va_start(ap, fmt);
    len = vsnprintf(o->buf + o->n, LBF_OUT_SIZE - o->n, fmt, ap);
    va_end(ap);
    if (len > 0) {
        o->n += (size_t)len < LBF_OUT_SIZE - o->n ? (size_t)len
                                                  : LBF_OUT_SIZE - o->n - 1;
    }
}

/* Append s escaped for HTML text and for a double- or single-quoted
 * attribute value: & < > " ' become entities. */
static void lbf_out_html(struct lbf_out *o, const char *s)
{
    const char *run = s;

    for (; *s; s++) {
        const char *e = NULL;

        switch (*s) {
        case '&': e = "&amp;"; break;
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '"': e = "&quot;"; break;
        case '\'': e = "&#39;"; break;
        default: continue;
        }
        lbf_out_put(o, run, (size_t)(s - run));
        lbf_out_str(o, e);
        run = s + 1;
    }
    lbf_out_put(o, run, (size_t)(s - run));
}

/* Append s as a JSON string, quotes included.  " and \ are escaped, and
 * every byte outside printable ASCII (and < > &) becomes \u00XX, so the
 * output is valid ASCII JSON whatever the bytes. */
static void lbf_out_json(struct lbf_out *o, const char *s)
{
    const char *run = s;
    char esc[8];

    lbf_out_put(o, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '<'
            && c != '>' && c != '&') {
            continue;
        }
        lbf_out_put(o, run, (size_t)(s - run));
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            lbf_out_put(o, esc, 2);
        }
        else {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            lbf_out_put(o, esc, 6);
        }
        run = s + 1;
    }
    lbf_out_put(o, run, (size_t)(s - run));
    lbf_out_put(o, "\"", 1);
}

/* Append s as a Prometheus label value (without the quotes): backslash,
 * double quote and newline are escaped as the exposition format says. */
static void lbf_out_label(struct lbf_out *o, const char *s)
{
    const char *run = s;

    for (; *s; s++) {
        const char *e = NULL;

        switch (*s) {
        case '\\': e = "\\\\"; break;
        case '"': e = "\\\""; break;
        case '\n': e = "\\n"; break;
        default: continue;
        }
        lbf_out_put(o, run, (size_t)(s - run));
        lbf_out_str(o, e);
        run = s + 1;
    }
    lbf_out_put(o, run, (size_t)(s - run));
}

/* Append s as one word of the text form: a space, '%', a control byte or
 * a byte outside ASCII becomes %XX (a balancer:// name or host may hold
 * spaces; LBFarm names never need it). */
static void lbf_out_word(struct lbf_out *o, const char *s)
{
    const char *run = s;
    char esc[4];

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c > 0x20 && c < 0x7f && c != '%') {
            continue;
        }
        lbf_out_put(o, run, (size_t)(s - run));
        snprintf(esc, sizeof(esc), "%%%02X", c);
        lbf_out_put(o, esc, 3);
        run = s + 1;
    }
    lbf_out_put(o, run, (size_t)(s - run));
}

/* Start a writer to emit/ctx. */
static void lbf_out_init(struct lbf_out *o, lbf_emit_f *emit, void *ctx)
{
    o->emit = emit;
    o->ctx = ctx;
    o->n = 0;
}

/* ------------------------------------------------------------------ */
/* Snapshots                                                           */

/* One word for the member's state: admin beats health beats pushed. */
static const char *lbf_state_name(struct lbf_row *r, uint32_t admin,
                                  uint64_t error_left_ms)
{
    if (admin == LBF_ADMIN_OFFLINE) {
        return "offline";
    }
    if (admin == LBF_ADMIN_DRAIN) {
        return "draining";
    }
    if (atomic_load(&r->health) != LBF_HEALTH_UP) {
        return "down";
    }
    if (error_left_ms) {
        return "error";
    }
    return atomic_load(&r->drain_req) ? "draining" : "ok";
}

/* The pushed-load part of a snapshot: load, its age, the headroom the
 * pushed-metric method uses now, and the last metrics. */
static void lbf_snap_load(const struct lbf_shm *h, const struct lbf_farm *f,
                          struct lbf_row *r, uint64_t now_usec,
                          struct lbf_snap *s)
{
    struct lbf_pick pk = {.h = h, .farm = (struct lbf_farm *)f,
                          .now = now_usec};
    uint64_t ts = atomic_load(&r->load_ts), mts;

    s->load_milli = atomic_load(&r->load_milli);
    s->load_age_ms = ts == 0 ? -1
                     : now_usec > ts ? (int64_t)((now_usec - ts) / 1000) : 0;
    s->headroom_milli = lbf_headroom(&pk, r);
    if (lbf_row_read_metrics(r, &mts, &s->n_metrics, s->metrics) != LBF_OK) {
        s->n_metrics = 0; /* a writer died mid-write: shown as none */
    }
    for (uint32_t i = 0; i < s->n_metrics; i++) {
        s->metrics[i].name[LBF_METRIC_NAME - 1] = '\0';
    }
}

/* The health-check and latency part of a snapshot. */
static void lbf_snap_health(struct lbf_row *r, uint64_t now_usec,
                            struct lbf_snap *s)
{
    /* a result has been recorded (hc_next is set when a check is only
     * claimed); the counters are the checker's, read for display only */
    s->hc_checked = r->hc_pass + r->hc_fail > 0;
    s->hc_status = atomic_load(&r->hc_status);
    s->hc_ms = atomic_load(&r->hc_ms);
    s->lat_count = lbf_row_latency(r, now_usec, s->lat_us);
}

int lbf_snap_member(const struct lbf_shm *h, const struct lbf_farm *f,
                    uint32_t mi, uint64_t now_usec, struct lbf_snap *s)
{
    struct lbf_row *r = lbf_member_at(h, f, mi);
    uint64_t until;

    memset(s, 0, sizeof(*s));
    if (r == NULL || atomic_load(&r->admin) == LBF_ADMIN_REMOVED) {
        return 0; /* *s stays zeroed */
    }
    s->admin = atomic_load(&r->admin);
    memcpy(s->farm, f->name, sizeof(s->farm));
    memcpy(s->name, r->name, sizeof(s->name));
    s->farm[LBF_NAME_SIZE - 1] = s->name[LBF_NAME_SIZE - 1] = '\0';
    s->method = lbf_method_name(f->method);
    s->weight = atomic_load(&r->weight);
    s->cfg_weight = r->cfg_weight;
    s->tier = r->tier;
    s->inflight = atomic_load(&r->inflight);
    s->requests = atomic_load(&r->requests);
    s->errors = atomic_load(&r->errors);
    until = atomic_load(&r->error_until);
    lbf_snap_load(h, f, r, now_usec, s);
    lbf_snap_health(r, now_usec, s);
    s->error_left_ms = until > now_usec ? (until - now_usec) / 1000 : 0;
    s->state = lbf_state_name(r, s->admin, s->error_left_ms);
    s->runtime = r->runtime;
    if (s->runtime) {
        memcpy(s->url, r->url, sizeof(s->url));
        s->url[LBF_URL_SIZE - 1] = '\0';
    }
    return 1;
}

void lbf_snap_farm(const struct lbf_farm *f, struct lbf_farm_snap *fs)
{
    memcpy(fs->name, f->name, sizeof(fs->name));
    fs->name[LBF_NAME_SIZE - 1] = '\0';
    fs->method = f->method == LBF_METHOD_FOREIGN
                     ? "foreign" : lbf_method_name(f->method);
    fs->offline = atomic_load(&((struct lbf_farm *)f)->admin)
                  == LBF_ADMIN_OFFLINE;
}

/* ------------------------------------------------------------------ */
/* Text                                                                */

/* One text line for member s. */
static void lbf_text_member(struct lbf_out *o, const struct lbf_snap *s)
{
    lbf_out_str(o, "member ");
    lbf_out_word(o, s->farm);
    lbf_out_str(o, " ");
    lbf_out_word(o, s->name);
    lbf_out_fmt(o, " method=%s state=%s weight=%" PRIu32
                " cfg_weight=%" PRIu32 " tier=%" PRIu32 " inflight=%" PRId32
                " requests=%" PRIu64 " errors=%" PRIu64 " error_left_ms=%"
                PRIu64, s->method, s->state, s->weight,
                s->cfg_weight, s->tier, s->inflight, s->requests, s->errors,
                s->error_left_ms);
    lbf_out_fmt(o, " load=%" PRIu32 ".%03" PRIu32 " load_age_ms=%" PRId64
                " headroom=%" PRIu32 ".%03" PRIu32 " hc_status=%" PRId64
                " hc_ms=%" PRIu32 " lat_n=%" PRIu64 " p50_us=%" PRIu64
                " p95_us=%" PRIu64 " p99_us=%" PRIu64 "\n",
                s->load_milli / 1000, s->load_milli % 1000, s->load_age_ms,
                s->headroom_milli / 1000, s->headroom_milli % 1000,
                s->hc_checked ? (int64_t)s->hc_status : -1, s->hc_ms,
                s->lat_count, s->lat_us[0], s->lat_us[1], s->lat_us[2]);
}

void lbf_render_text(const struct lbf_status *st, lbf_emit_f *emit,
                     void *ctx)
{
    struct lbf_out o;
    size_t i;

    lbf_out_init(&o, emit, ctx);
    lbf_out_fmt(&o, "# lbfarm generation=%" PRIu64 " farms=%zu members=%zu"
                "\n", st->generation, st->n_farms, st->n_members);
    for (i = 0; i < st->n_members; i++) {
        lbf_text_member(&o, &st->members[i]);
    }
    lbf_out_flush(&o);
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */

/* Name of an enum lbf_admin value. */
static const char *lbf_admin_name(uint32_t admin)
{
    static const char *const names[] = {"enabled", "offline", "drain",
                                        "removed"};

    return admin < 4 ? names[admin] : "?";
}

/* The pushed-load and metrics fields of member s. */
static void lbf_json_load(struct lbf_out *o, const struct lbf_snap *s)
{
    uint32_t i;

    if (s->load_age_ms >= 0) {
        lbf_out_fmt(o, ",\"load\":%" PRIu32 ".%03" PRIu32 ",\"load_age_ms\":"
                    "%" PRId64, s->load_milli / 1000, s->load_milli % 1000,
                    s->load_age_ms);
    }
    else {
        lbf_out_str(o, ",\"load\":null,\"load_age_ms\":null");
    }
    lbf_out_fmt(o, ",\"headroom\":%" PRIu32 ".%03" PRIu32 ",\"metrics\":{",
                s->headroom_milli / 1000, s->headroom_milli % 1000);
    for (i = 0; i < s->n_metrics; i++) {
        int64_t v = s->metrics[i].value;

        lbf_out_str(o, i ? "," : "");
        lbf_out_json(o, s->metrics[i].name);
        lbf_out_fmt(o, ":%s%" PRId64 ".%03" PRId64, v < 0 ? "-" : "",
                    (v < 0 ? -v : v) / 1000, (v < 0 ? -v : v) % 1000);
    }
    lbf_out_str(o, "}");
}

/* One member object. */
static void lbf_json_member(struct lbf_out *o, const struct lbf_snap *s)
{
    lbf_out_str(o, "{\"name\":");
    lbf_out_json(o, s->name);
    lbf_out_str(o, ",\"url\":");
    lbf_out_json(o, s->url);
    lbf_out_fmt(o, ",\"state\":\"%s\",\"admin\":\"%s\",\"tier\":%" PRIu32
                ",\"standby\":%s,\"runtime\":%s,\"weight\":%" PRIu32
                ",\"cfg_weight\":%" PRIu32 ",\"inflight\":%" PRId32
                ",\"requests\":%" PRIu64 ",\"errors\":%" PRIu64
                ",\"error_left_ms\":%" PRIu64, s->state,
                lbf_admin_name(s->admin), s->tier,
                s->tier ? "true" : "false", s->runtime ? "true" : "false",
                s->weight, s->cfg_weight, s->inflight, s->requests,
                s->errors, s->error_left_ms);
    lbf_json_load(o, s);
    if (s->hc_checked) {
        lbf_out_fmt(o, ",\"health_check\":{\"status\":%" PRIu32 ",\"ms\":%"
                    PRIu32 "}", s->hc_status, s->hc_ms);
    }
    else {
        lbf_out_str(o, ",\"health_check\":null");
    }
    lbf_out_fmt(o, ",\"latency\":{\"window_requests\":%" PRIu64 ",\"p50_us\":"
                "%" PRIu64 ",\"p95_us\":%" PRIu64 ",\"p99_us\":%" PRIu64 "}}",
                s->lat_count, s->lat_us[0], s->lat_us[1], s->lat_us[2]);
}

void lbf_render_json(const struct lbf_status *st, lbf_emit_f *emit,
                     void *ctx)
{
    struct lbf_out o;
    size_t i, j;

    lbf_out_init(&o, emit, ctx);
    lbf_out_fmt(&o, "{\"generation\":%" PRIu64 ",\"time_ms\":%" PRIu64
                ",\"lock_recoveries\":%" PRIu32 ",\"lock_repairs\":%" PRIu32
                ",\"farms\":[", st->generation, st->now_usec / 1000,
                st->recoveries, st->repairs);
    for (i = 0; i < st->n_farms; i++) {
        const struct lbf_farm_snap *fs = &st->farms[i];

        lbf_out_str(&o, i ? ",{\"name\":" : "{\"name\":");
        lbf_out_json(&o, fs->name);
        lbf_out_fmt(&o, ",\"kind\":\"%s\",\"method\":\"%s\",\"state\":\"%s\""
                    ",\"members\":[", fs->adminable ? "farm" : "balancer",
                    fs->method, fs->offline ? "offline" : "online");
        for (j = 0; j < fs->n; j++) {
            lbf_out_str(&o, j ? "," : "");
            lbf_json_member(&o, &st->members[fs->first + j]);
        }
        lbf_out_str(&o, "]}");
    }
    lbf_out_str(&o, "]}\n");
    lbf_out_flush(&o);
}

/* ------------------------------------------------------------------ */
/* Prometheus text exposition 0.0.4                                    */

/* Writes the value of one member's sample into buf; returns 0 when the
 * member has no such sample (e.g. no pushed load). */
typedef int lbf_prom_val_f(const struct lbf_snap *s, char *buf, size_t n);

struct lbf_prom_family {
    const char *name;
    const char *type;
    const char *help;
    lbf_prom_val_f *val;
};

/* Fixed-point thousandths as a decimal. */
static void lbf_milli(char *buf, size_t n, uint64_t v)
{
    snprintf(buf, n, "%" PRIu64 ".%03" PRIu64, v / 1000, v % 1000);
}

static int lbf_pv_requests(const struct lbf_snap *s, char *b, size_t n)
{
    return snprintf(b, n, "%" PRIu64, s->requests) > 0;
}

static int lbf_pv_errors(const struct lbf_snap *s, char *b, size_t n)
{
    return snprintf(b, n, "%" PRIu64, s->errors) > 0;
}

static int lbf_pv_inflight(const struct lbf_snap *s, char *b, size_t n)
{
    return snprintf(b, n, "%" PRId32, s->inflight) > 0;
}

static int lbf_pv_weight(const struct lbf_snap *s, char *b, size_t n)
{
    return snprintf(b, n, "%" PRIu32, s->weight) > 0;
}

static int lbf_pv_cfg_weight(const struct lbf_snap *s, char *b, size_t n)
{
    return snprintf(b, n, "%" PRIu32, s->cfg_weight) > 0;
}

static int lbf_pv_up(const struct lbf_snap *s, char *b, size_t n)
{
    return snprintf(b, n, "%d", strcmp(s->state, "ok") == 0) > 0;
}

static int lbf_pv_tier(const struct lbf_snap *s, char *b, size_t n)
{
    return snprintf(b, n, "%" PRIu32, s->tier) > 0;
}

static int lbf_pv_error_left(const struct lbf_snap *s, char *b, size_t n)
{
    lbf_milli(b, n, s->error_left_ms);
    return 1;
}

static int lbf_pv_load(const struct lbf_snap *s, char *b, size_t n)
{
    lbf_milli(b, n, s->load_milli);
    return s->load_age_ms >= 0;
}

static int lbf_pv_load_age(const struct lbf_snap *s, char *b, size_t n)
{
    lbf_milli(b, n, (uint64_t)(s->load_age_ms < 0 ? 0 : s->load_age_ms));
    return s->load_age_ms >= 0;
}

static int lbf_pv_headroom(const struct lbf_snap *s, char *b, size_t n)
{
    lbf_milli(b, n, s->headroom_milli);
    return 1;
}

static int lbf_pv_hc_status(const struct lbf_snap *s, char *b, size_t n)
{
    snprintf(b, n, "%" PRIu32, s->hc_status);
    return s->hc_checked;
}

static int lbf_pv_hc_ms(const struct lbf_snap *s, char *b, size_t n)
{
    lbf_milli(b, n, s->hc_ms);
    return s->hc_checked;
}

static int lbf_pv_lat_n(const struct lbf_snap *s, char *b, size_t n)
{
    return snprintf(b, n, "%" PRIu64, s->lat_count) > 0;
}

static const struct lbf_prom_family lbf_prom_families[] = {
    {"lbfarm_member_up", "gauge",
     "1 when the member takes new clients (state ok), else 0.", lbf_pv_up},
    {"lbfarm_member_standby_tier", "gauge",
     "0 for a regular member, higher for standby tiers.", lbf_pv_tier},
    {"lbfarm_member_weight", "gauge",
     "Effective weight (1..100).", lbf_pv_weight},
    {"lbfarm_member_configured_weight", "gauge",
     "Weight from the configuration.", lbf_pv_cfg_weight},
    {"lbfarm_member_inflight", "gauge",
     "Requests being served by the member now.", lbf_pv_inflight},
    {"lbfarm_member_requests_total", "counter",
     "Requests handed to the member.", lbf_pv_requests},
    {"lbfarm_member_errors_total", "counter",
     "Failed requests (connect failures, 5xx).", lbf_pv_errors},
    {"lbfarm_member_error_remaining_seconds", "gauge",
     "Time left in error before the member is tried again.",
     lbf_pv_error_left},
    {"lbfarm_member_load", "gauge",
     "Last pushed load (0..1); absent when the member never pushed.",
     lbf_pv_load},
    {"lbfarm_member_load_age_seconds", "gauge",
     "Age of the last pushed load.", lbf_pv_load_age},
    {"lbfarm_member_headroom", "gauge",
     "Headroom pushed-metric uses now (1 = neutral).", lbf_pv_headroom},
    {"lbfarm_member_health_check_status", "gauge",
     "HTTP status of the last health check (0 = no answer).",
     lbf_pv_hc_status},
    {"lbfarm_member_health_check_duration_seconds", "gauge",
     "Duration of the last health check.", lbf_pv_hc_ms},
    {"lbfarm_member_latency_window_requests", "gauge",
     "Requests in the recent latency window (30..60 s).", lbf_pv_lat_n},
};

/* HELP and TYPE lines of a family. */
static void lbf_prom_head(struct lbf_out *o, const char *name,
                          const char *type, const char *help)
{
    lbf_out_fmt(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{farm="F",member="M" -- the caller closes the label set. */
static void lbf_prom_labels(struct lbf_out *o, const char *name,
                            const struct lbf_snap *s)
{
    lbf_out_str(o, name);
    lbf_out_str(o, "{farm=\"");
    lbf_out_label(o, s->farm);
    lbf_out_str(o, "\",member=\"");
    lbf_out_label(o, s->name);
    lbf_out_str(o, "\"");
}

/* One family over every member. */
static void lbf_prom_family(struct lbf_out *o, const struct lbf_status *st,
                            const struct lbf_prom_family *pf)
{
    char val[48];
    size_t i;

    lbf_prom_head(o, pf->name, pf->type, pf->help);
    for (i = 0; i < st->n_members; i++) {
        if (pf->val(&st->members[i], val, sizeof(val))) {
            lbf_prom_labels(o, pf->name, &st->members[i]);
            lbf_out_fmt(o, "} %s\n", val);
        }
    }
}

/* lbfarm_member_state{...,state="S"}: 1 for the member's state, 0 for the
 * others (one labelled gauge, the usual enum pattern). */
static void lbf_prom_state(struct lbf_out *o, const struct lbf_status *st)
{
    static const char *const states[] = {"ok", "error", "down", "draining",
                                         "offline"};
    size_t i, k;

    lbf_prom_head(o, "lbfarm_member_state", "gauge",
                  "1 for the member's current state, else 0.");
    for (i = 0; i < st->n_members; i++) {
        for (k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
            lbf_prom_labels(o, "lbfarm_member_state", &st->members[i]);
            lbf_out_fmt(o, ",state=\"%s\"} %d\n", states[k],
                        strcmp(st->members[i].state, states[k]) == 0);
        }
    }
}

/* Latency quantiles and pushed metrics: families with a third label. */
static void lbf_prom_extra(struct lbf_out *o, const struct lbf_status *st)
{
    static const char *const q[] = {"0.5", "0.95", "0.99"};
    size_t i, k;

    lbf_prom_head(o, "lbfarm_member_latency_recent_seconds", "gauge",
                  "Latency quantiles over the recent window (30..60 s; "
                  "upper bounds of power-of-two buckets).");
    for (i = 0; i < st->n_members; i++) {
        for (k = 0; k < 3 && st->members[i].lat_count > 0; k++) {
            lbf_prom_labels(o, "lbfarm_member_latency_recent_seconds",
                            &st->members[i]);
            lbf_out_fmt(o, ",quantile=\"%s\"} %" PRIu64 ".%06" PRIu64 "\n",
                        q[k], st->members[i].lat_us[k] / 1000000,
                        st->members[i].lat_us[k] % 1000000);
        }
    }
    lbf_prom_head(o, "lbfarm_member_pushed_metric", "gauge",
                  "Last value of each metric the member pushed.");
    for (i = 0; i < st->n_members; i++) {
        for (k = 0; k < st->members[i].n_metrics; k++) {
            const struct lbf_metric *m = &st->members[i].metrics[k];
            int64_t v = m->value < 0 ? 0 : m->value;

            lbf_prom_labels(o, "lbfarm_member_pushed_metric",
                            &st->members[i]);
            lbf_out_str(o, ",metric=\"");
            lbf_out_label(o, m->name);
            lbf_out_fmt(o, "\"} %" PRId64 ".%03" PRId64 "\n", v / 1000,
                        v % 1000);
        }
    }
}

/* Process-wide and per-farm families. */
static void lbf_prom_farms(struct lbf_out *o, const struct lbf_status *st)
{
    size_t i;

    lbf_prom_head(o, "lbfarm_generation", "gauge",
                  "Restart generation of the shared segment.");
    lbf_out_fmt(o, "lbfarm_generation %" PRIu64 "\n", st->generation);
    lbf_prom_head(o, "lbfarm_lock_recoveries_total", "counter",
                  "Locks taken over from dead owners.");
    lbf_out_fmt(o, "lbfarm_lock_recoveries_total %" PRIu32 "\n",
                st->recoveries);
    lbf_prom_head(o, "lbfarm_farm_offline", "gauge",
                  "1 when the farm is administratively offline.");
    for (i = 0; i < st->n_farms; i++) {
        lbf_out_str(o, "lbfarm_farm_offline{farm=\"");
        lbf_out_label(o, st->farms[i].name);
        lbf_out_fmt(o, "\"} %" PRIu32 "\n", st->farms[i].offline);
    }
    lbf_prom_head(o, "lbfarm_farm_members", "gauge",
                  "Members of the farm (runtime additions included).");
    for (i = 0; i < st->n_farms; i++) {
        lbf_out_str(o, "lbfarm_farm_members{farm=\"");
        lbf_out_label(o, st->farms[i].name);
        lbf_out_fmt(o, "\"} %zu\n", st->farms[i].n);
    }
}

void lbf_render_prom(const struct lbf_status *st, lbf_emit_f *emit,
                     void *ctx)
{
    struct lbf_out o;
    size_t k;

    lbf_out_init(&o, emit, ctx);
    lbf_prom_farms(&o, st);
    lbf_prom_state(&o, st);
    for (k = 0; k < sizeof(lbf_prom_families) / sizeof(lbf_prom_families[0]);
         k++) {
        lbf_prom_family(&o, st, &lbf_prom_families[k]);
    }
    lbf_prom_extra(&o, st);
    lbf_out_flush(&o);
}

/* ------------------------------------------------------------------ */
/* HTML                                                                */

/* The page's only style: a <style> element allowed by its hash.  No
 * style attribute anywhere (CSP would block it): SVG geometry uses
 * presentation attributes (x, y, width, height), colours come from
 * classes. */
static const char lbf_css[] =
    "body{font:14px/1.45 system-ui,sans-serif;margin:1.5em;color:#1d2733;"
    "background:#f6f7f9}"
    "h1{font-size:1.4em;margin:0 0 .2em}"
    "h2{font-size:1.15em;margin:0 0 .4em}"
    ".meta,.muted{color:#566173;font-size:.9em}"
    "section{background:#fff;border:1px solid #d8dde4;border-radius:6px;"
    "padding:1em;margin:1em 0;overflow-x:auto}"
    "table{border-collapse:collapse;width:100%;margin-top:.6em}"
    "th,td{text-align:left;padding:.25em .4em;border-bottom:1px solid #e5e8ed;"
    "vertical-align:top;white-space:nowrap}"
    "th{font-weight:600;font-size:.85em;color:#3c4756}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".url{display:block;color:#566173;font-size:.85em}"
    ".st{display:inline-block;padding:0 .5em;border-radius:3px;"
    "font-size:.85em;color:#fff;background:#6b7280}"
    ".st-ok,.st-online{background:#23854a}.st-error{background:#c0392b}"
    ".st-down{background:#7b1f1f}.st-draining{background:#b86e00}"
    ".st-offline{background:#6b7280}.st-standby{background:#3a5ba0}"
    "svg{display:block;margin:.6em 0;max-width:100%;height:auto}"
    "svg text{font:11px system-ui,sans-serif;fill:#3c4756}"
    "rect.bg{fill:#eef1f5}rect.if{fill:#3a5ba0}"
    "rect.b-ok{fill:#23854a}rect.b-error{fill:#c0392b}"
    "rect.b-down{fill:#7b1f1f}rect.b-draining{fill:#b86e00}"
    "rect.b-offline{fill:#6b7280}"
    "form{display:inline-flex;gap:.3em;align-items:center;margin:0}"
    "form.add,form.farm{margin:.5em 0}"
    "input.w{width:3.5em}input.u{width:22em}input.m{width:9em}"
    "button.danger{color:#a0241b}";

const char *lbf_status_css(void)
{
    return lbf_css;
}

int lbf_status_css_hash(char out[LBF_CSS_HASH_SIZE])
{
    unsigned char md[SHA256_DIGEST_LENGTH];

    if (SHA256((const unsigned char *)lbf_css, sizeof(lbf_css) - 1, md)
        == NULL) {
        return -1;
    }
    memcpy(out, "sha256-", 7);
    /* 32 bytes give 44 base64 characters and a NUL */
    EVP_EncodeBlock((unsigned char *)out + 7, md, sizeof(md));
    return 0;
}

/* Microseconds as milliseconds with one decimal ("0.4"). */
static void lbf_out_ms(struct lbf_out *o, uint64_t usec)
{
    lbf_out_fmt(o, "%" PRIu64 ".%" PRIu64, usec / 1000, usec % 1000 / 100);
}

/* <input type="hidden" name="NAME" value="VALUE"> (value escaped). */
static void lbf_html_hidden(struct lbf_out *o, const char *name,
                            const char *value)
{
    lbf_out_fmt(o, "<input type=\"hidden\" name=\"%s\" value=\"", name);
    lbf_out_html(o, value);
    lbf_out_str(o, "\">");
}

/* <form method="post" action="A"> with the nonce and farm fields. */
static void lbf_html_form_open(struct lbf_out *o,
                               const struct lbf_html_opts *op,
                               const char *cls, const char *farm)
{
    lbf_out_fmt(o, "<form method=\"post\" class=\"%s\" action=\"", cls);
    lbf_out_html(o, op->action);
    lbf_out_str(o, "\">");
    lbf_html_hidden(o, "nonce", op->nonce);
    lbf_html_hidden(o, "farm", farm);
}

/* The actions cell of member s: state, weight, remove. */
static void lbf_html_member_form(struct lbf_out *o,
                                 const struct lbf_html_opts *op,
                                 const struct lbf_snap *s)
{
    static const char *const opt[] = {"up", "offline", "drain"};
    uint32_t k;

    lbf_out_str(o, "<td>");
    lbf_html_form_open(o, op, "act", s->farm);
    lbf_html_hidden(o, "member", s->name);
    lbf_out_str(o, "<select name=\"state\" aria-label=\"state\">");
    for (k = 0; k < 3; k++) {
        lbf_out_fmt(o, "<option value=\"%s\"%s>%s</option>", opt[k],
                    s->admin == k ? " selected" : "", opt[k]);
    }
    lbf_out_fmt(o, "</select><button name=\"action\" value=\"member-state\">"
                "Set</button><input class=\"w\" type=\"number\" "
                "name=\"weight\" min=\"1\" max=\"%d\" value=\"%" PRIu32 "\" "
                "aria-label=\"weight\"><button name=\"action\" "
                "value=\"member-weight\">Weigh</button><button "
                "name=\"action\" value=\"member-remove\" class=\"danger\">"
                "Remove</button></form></td>", LBF_WEIGHT_MAX, s->weight);
}

/* The name, state, weight and counter cells of member s. */
static void lbf_html_member_head(struct lbf_out *o, const struct lbf_snap *s)
{
    lbf_out_str(o, "<td><b>");
    lbf_out_html(o, s->name);
    lbf_out_str(o, "</b><span class=\"url\">");
    lbf_out_html(o, s->url);
    lbf_out_fmt(o, "</span></td><td><span class=\"st st-%s\">%s</span>",
                s->state, s->state);
    if (s->error_left_ms) {
        lbf_out_fmt(o, " <span class=\"muted\">%" PRIu64 " s left</span>",
                    (s->error_left_ms + 999) / 1000);
    }
    if (s->tier) {
        lbf_out_fmt(o, " <span class=\"st st-standby\">standby %" PRIu32
                    "</span>", s->tier);
    }
    lbf_out_fmt(o, "%s</td><td class=\"n\">%" PRIu32 " / %" PRIu32 "</td>"
                "<td class=\"n\">%" PRId32 "</td><td class=\"n\">%" PRIu64
                "</td><td class=\"n\">%" PRIu64 "</td>",
                s->runtime ? " <span class=\"muted\">runtime</span>" : "",
                s->weight, s->cfg_weight, s->inflight, s->requests,
                s->errors);
}

/* The load, headroom, health-check and latency cells of member s; the
 * pushed metrics go into the load cell's title. */
static void lbf_html_member_load(struct lbf_out *o, const struct lbf_snap *s)
{
    uint32_t k;

    lbf_out_str(o, "<td class=\"n\" title=\"");
    for (k = 0; k < s->n_metrics; k++) {
        lbf_out_html(o, s->metrics[k].name);
        lbf_out_fmt(o, "=%" PRId64 ".%03" PRId64 " ",
                    s->metrics[k].value / 1000,
                    (s->metrics[k].value % 1000 + 1000) % 1000);
    }
    lbf_out_str(o, "\">");
    if (s->load_age_ms >= 0) {
        lbf_out_fmt(o, "%" PRIu32 ".%03" PRIu32 " <span class=\"muted\">"
                    "%" PRId64 ".%" PRId64 " s ago</span>",
                    s->load_milli / 1000, s->load_milli % 1000,
                    s->load_age_ms / 1000, s->load_age_ms % 1000 / 100);
    }
    else {
        lbf_out_str(o, "&ndash;");
    }
    lbf_out_fmt(o, "</td><td class=\"n\">%" PRIu32 ".%03" PRIu32 "</td><td>",
                s->headroom_milli / 1000, s->headroom_milli % 1000);
    if (!s->hc_checked) {
        lbf_out_str(o, "&ndash;");
    }
    else if (s->hc_status == 0) {
        lbf_out_fmt(o, "no answer (%" PRIu32 " ms)", s->hc_ms);
    }
    else {
        lbf_out_fmt(o, "%" PRIu32 " in %" PRIu32 " ms", s->hc_status,
                    s->hc_ms);
    }
    lbf_out_str(o, "</td><td class=\"n\">");
    if (s->lat_count == 0) {
        lbf_out_str(o, "&ndash;");
    }
    for (k = 0; k < 3 && s->lat_count > 0; k++) {
        lbf_out_str(o, k ? " / " : "");
        lbf_out_ms(o, s->lat_us[k]);
    }
    if (s->lat_count > 0) {
        lbf_out_fmt(o, " ms <span class=\"muted\">(%" PRIu64 ")</span>",
                    s->lat_count);
    }
    lbf_out_str(o, "</td>");
}

/* One table row for member s. */
static void lbf_html_member(struct lbf_out *o, const struct lbf_html_opts *op,
                            const struct lbf_farm_snap *fs,
                            const struct lbf_snap *s)
{
    lbf_out_str(o, "<tr data-member=\"");
    lbf_out_html(o, s->name);
    lbf_out_str(o, "\">");
    lbf_html_member_head(o, s);
    lbf_html_member_load(o, s);
    if (fs->adminable && op->nonce) {
        lbf_html_member_form(o, op, s);
    }
    lbf_out_str(o, "</tr>");
}

#define LBF_SVG_W      720    /* chart width, px */
#define LBF_SVG_LABEL  170    /* horizontal bars: label column */
#define LBF_SVG_BAR    430    /* horizontal bars: bar length at 100 % */
#define LBF_SVG_ROWS   40     /* above this many members: columns */

/* Totals of a farm's members for the charts. */
struct lbf_spread {
    uint64_t total, max_req;
    uint64_t max_if;
};

/* Sum and maxima over the members of fs. */
static void lbf_spread_of(const struct lbf_status *st,
                          const struct lbf_farm_snap *fs,
                          struct lbf_spread *sp)
{
    size_t j;

    memset(sp, 0, sizeof(*sp));
    for (j = 0; j < fs->n; j++) {
        const struct lbf_snap *s = &st->members[fs->first + j];
        uint64_t inf = s->inflight > 0 ? (uint64_t)s->inflight : 0;

        sp->total += s->requests;
        sp->max_req = s->requests > sp->max_req ? s->requests : sp->max_req;
        sp->max_if = inf > sp->max_if ? inf : sp->max_if;
    }
}

/* <title>NAME: R requests (P %), I in flight</title> */
static void lbf_svg_title(struct lbf_out *o, const struct lbf_snap *s,
                          const struct lbf_spread *sp)
{
    uint64_t pm = sp->total ? s->requests * 1000 / sp->total : 0;

    lbf_out_str(o, "<title>");
    lbf_out_html(o, s->name);
    lbf_out_fmt(o, ": %" PRIu64 " requests (%" PRIu64 ".%" PRIu64 " %%), %"
                PRId32 " in flight</title>", s->requests, pm / 10, pm % 10,
                s->inflight);
}

/* One member as a labelled horizontal bar pair at row y. */
static void lbf_svg_row(struct lbf_out *o, const struct lbf_snap *s,
                        const struct lbf_spread *sp, unsigned y)
{
    uint64_t inf = s->inflight > 0 ? (uint64_t)s->inflight : 0;
    uint64_t wr = sp->max_req ? s->requests * LBF_SVG_BAR / sp->max_req : 0;
    uint64_t wi = sp->max_if ? inf * LBF_SVG_BAR / sp->max_if : 0;
    uint64_t pm = sp->total ? s->requests * 1000 / sp->total : 0;

    lbf_out_fmt(o, "<text x=\"0\" y=\"%u\">", y + 10);
    lbf_out_html(o, s->name);
    lbf_out_fmt(o, "</text><rect class=\"bg\" x=\"%d\" y=\"%u\" width=\"%d\" "
                "height=\"10\"/><rect class=\"b-%s\" x=\"%d\" y=\"%u\" "
                "width=\"%" PRIu64 "\" height=\"10\">", LBF_SVG_LABEL, y,
                LBF_SVG_BAR, s->state, LBF_SVG_LABEL, y, wr);
    lbf_svg_title(o, s, sp);
    lbf_out_fmt(o, "</rect><rect class=\"if\" x=\"%d\" y=\"%u\" width=\""
                "%" PRIu64 "\" height=\"4\"/><text x=\"%d\" y=\"%u\">%"
                PRIu64 ".%" PRIu64 " %% &#183; %" PRId32 " in flight</text>",
                LBF_SVG_LABEL, y + 12, wi, LBF_SVG_LABEL + LBF_SVG_BAR + 8,
                y + 10, pm / 10, pm % 10, s->inflight);
}

/* One member as a column pair (requests above, in flight below) at
 * column i of n; positions in thousandths of a pixel. */
static void lbf_svg_col(struct lbf_out *o, const struct lbf_snap *s,
                        const struct lbf_spread *sp, size_t i, size_t n)
{
    uint64_t x = (uint64_t)i * LBF_SVG_W * 1000 / n;
    uint64_t w = (uint64_t)LBF_SVG_W * 1000 / n;
    uint64_t inf = s->inflight > 0 ? (uint64_t)s->inflight : 0;
    uint64_t hr = sp->max_req ? s->requests * 60000 / sp->max_req : 0;
    uint64_t hi = sp->max_if ? inf * 24000 / sp->max_if : 0;

    lbf_out_fmt(o, "<rect class=\"b-%s\" x=\"%" PRIu64 ".%03" PRIu64 "\" y=\""
                "%" PRIu64 ".%03" PRIu64 "\" width=\"%" PRIu64 ".%03" PRIu64
                "\" height=\"%" PRIu64 ".%03" PRIu64 "\">", s->state,
                x / 1000, x % 1000, (76000 - hr) / 1000, (76000 - hr) % 1000,
                w / 1000, w % 1000, hr / 1000, hr % 1000);
    lbf_svg_title(o, s, sp);
    lbf_out_fmt(o, "</rect><rect class=\"if\" x=\"%" PRIu64 ".%03" PRIu64
                "\" y=\"%" PRIu64 ".%03" PRIu64 "\" width=\"%" PRIu64 ".%03"
                PRIu64 "\" height=\"%" PRIu64 ".%03" PRIu64 "\"/>",
                x / 1000, x % 1000, (108000 - hi) / 1000,
                (108000 - hi) % 1000, w / 1000, w % 1000, hi / 1000,
                hi % 1000);
}

/* The farm's load-spread chart: horizontal bars with names up to
 * LBF_SVG_ROWS members, a strip of columns above. */
static void lbf_html_svg(struct lbf_out *o, const struct lbf_status *st,
                         const struct lbf_farm_snap *fs)
{
    int rows = fs->n <= LBF_SVG_ROWS;
    unsigned h = rows ? 18 + 20 * (unsigned)fs->n : 112;
    struct lbf_spread sp;
    size_t j;

    lbf_spread_of(st, fs, &sp);
    lbf_out_fmt(o, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                "height=\"%u\" viewBox=\"0 0 %d %u\" role=\"img\" "
                "aria-label=\"load spread\"><text x=\"0\" y=\"11\">requests "
                "share per member (bar; %" PRIu64 " in all) and in flight "
                "(thin bar)</text>", LBF_SVG_W, h, LBF_SVG_W, h, sp.total);
    for (j = 0; j < fs->n; j++) {
        if (rows) {
            lbf_svg_row(o, &st->members[fs->first + j], &sp,
                        18 + 20 * (unsigned)j);
        }
        else {
            lbf_svg_col(o, &st->members[fs->first + j], &sp, j, fs->n);
        }
    }
    lbf_out_str(o, "</svg>");
}

/* Farm-wide forms: online/offline and "add a member". */
static void lbf_html_farm_forms(struct lbf_out *o,
                                const struct lbf_html_opts *op,
                                const struct lbf_farm_snap *fs)
{
    lbf_html_form_open(o, op, "farm", fs->name);
    lbf_html_hidden(o, "state", fs->offline ? "online" : "offline");
    lbf_out_fmt(o, "<button name=\"action\" value=\"farm-state\">%s</button>"
                "</form> ", fs->offline ? "Bring the farm online"
                                        : "Take the farm offline");
    lbf_html_form_open(o, op, "add", fs->name);
    lbf_out_fmt(o, "<input class=\"m\" name=\"member\" required "
                "placeholder=\"name\" aria-label=\"new member name\" "
                "pattern=\"[A-Za-z0-9][A-Za-z0-9_\\-]{0,30}\"><input "
                "class=\"u\" name=\"url\" required placeholder=\"http://"
                "host:port[/path]\" aria-label=\"new member URL\"><input "
                "class=\"w\" type=\"number\" name=\"weight\" min=\"1\" "
                "max=\"%d\" value=\"1\" aria-label=\"weight\"><button "
                "name=\"action\" value=\"member-add\">Add member</button>"
                "</form>", LBF_WEIGHT_MAX);
}

/* One <section> per farm: title, chart, forms, member table. */
static void lbf_html_farm(struct lbf_out *o, const struct lbf_status *st,
                          const struct lbf_html_opts *op,
                          const struct lbf_farm_snap *fs)
{
    const char *fst = fs->offline ? "offline" : "online";
    int forms = fs->adminable && op->nonce != NULL;
    size_t j;

    lbf_out_str(o, "<section class=\"farm\" data-farm=\"");
    lbf_out_html(o, fs->name);
    lbf_out_str(o, "\"><h2>");
    lbf_out_html(o, fs->name);
    lbf_out_fmt(o, " <span class=\"st st-%s\">%s</span> <span class=\"muted\""
                ">%s &#183; %s &#183; %zu members</span></h2>", fst, fst,
                fs->adminable ? "farm" : "balancer://", fs->method, fs->n);
    if (forms) {
        lbf_html_farm_forms(o, op, fs);
    }
    if (fs->n > 0) {
        lbf_html_svg(o, st, fs);
    }
    lbf_out_fmt(o, "<table><thead><tr><th>member</th><th>state</th><th>"
                "weight<br>now / conf</th><th>in flight</th><th>"
                "requests</th><th>errors</th><th>pushed load</th><th>"
                "headroom</th><th>health check</th><th>latency p50 / p95 / "
                "p99</th>%s</tr></thead><tbody>",
                forms ? "<th>actions</th>" : "");
    for (j = 0; j < fs->n; j++) {
        lbf_html_member(o, op, fs, &st->members[fs->first + j]);
    }
    lbf_out_str(o, "</tbody></table></section>");
}

void lbf_render_html(const struct lbf_status *st,
                     const struct lbf_html_opts *o, lbf_emit_f *emit,
                     void *ctx)
{
    struct lbf_out out;
    size_t i;

    lbf_out_init(&out, emit, ctx);
    lbf_out_str(&out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
                "charset=\"utf-8\"><meta name=\"viewport\" content=\"width="
                "device-width,initial-scale=1\"><meta name=\"referrer\" "
                "content=\"same-origin\"><title>lbfarm status</title><style>");
    lbf_out_str(&out, lbf_css);
    lbf_out_fmt(&out, "</style></head><body><h1>lbfarm status</h1><p class="
                "\"meta\">generation %" PRIu64 " &#183; %zu farms &#183; "
                "%zu members &#183; lock recoveries %" PRIu32 " &#183; also "
                "as <a href=\"?format=text\">text</a>, <a href=\"?format=json"
                "\">JSON</a>, <a href=\"?format=prometheus\">Prometheus</a>"
                "</p>", st->generation, st->n_farms, st->n_members,
                st->recoveries);
    if (o->nonce == NULL) {
        lbf_out_str(&out, "<p class=\"muted\">Read only: no session.</p>");
    }
    for (i = 0; i < st->n_farms; i++) {
        lbf_html_farm(&out, st, o, &st->farms[i]);
    }
    lbf_out_str(&out, "</body></html>\n");
    lbf_out_flush(&out);
}

/* ------------------------------------------------------------------ */
/* Administration: nonce, same origin, form                            */

int lbf_status_sid_valid(const char *sid)
{
    size_t i;

    for (i = 0; i < LBF_SID_HEX; i++) {
        if (!((sid[i] >= '0' && sid[i] <= '9')
              || (sid[i] >= 'a' && sid[i] <= 'f'))) {
            return 0;
        }
    }
    return sid[LBF_SID_HEX] == '\0';
}

int lbf_status_nonce(const uint8_t key[LBF_ADMIN_KEY], const char *sid,
                     char out[LBF_NONCE_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char msg[64 + LBF_SID_HEX], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;
    size_t len = strlen(sid);

    if (len > LBF_SID_HEX) {
        return -1;
    }
    memcpy(msg, "lbfarm-status-nonce:", 20);
    memcpy(msg + 20, sid, len);
    if (HMAC(EVP_sha256(), key, LBF_ADMIN_KEY, msg, 20 + len, md, &mdlen)
        == NULL || mdlen * 2 != LBF_NONCE_HEX) {
        return -1;
    }
    for (i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[LBF_NONCE_HEX] = '\0';
    return 0;
}

int lbf_status_nonce_ok(const uint8_t key[LBF_ADMIN_KEY], const char *sid,
                        const char *nonce)
{
    char want[LBF_NONCE_HEX + 1];

    if (sid == NULL || nonce == NULL || !lbf_status_sid_valid(sid)
        || strlen(nonce) != LBF_NONCE_HEX
        || lbf_status_nonce(key, sid, want) != 0) {
        return 0;
    }
    return CRYPTO_memcmp(want, nonce, LBF_NONCE_HEX) == 0;
}

/* Write "scheme://host" of url (up to the first '/', '?' or '#' after
 * the authority) into out, lowercased, without a default port.  Returns
 * 0, or -1 when url has no "scheme://" or does not fit. */
static int lbf_origin_of(const char *url, char *out, size_t n)
{
    const char *sep = strstr(url, "://");
    size_t len, i;

    if (sep == NULL || sep == url) {
        return -1;
    }
    len = (size_t)(sep - url) + 3 + strcspn(sep + 3, "/?#");
    if (len >= n || len == (size_t)(sep - url) + 3) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        out[i] = (char)((url[i] >= 'A' && url[i] <= 'Z') ? url[i] + 32
                                                          : url[i]);
    }
    out[len] = '\0';
    if (len > 10 && memcmp(out, "http://", 7) == 0
        && memcmp(out + len - 3, ":80", 3) == 0) {
        out[len - 3] = '\0';
    }
    else if (len > 12 && memcmp(out, "https://", 8) == 0
             && memcmp(out + len - 4, ":443", 4) == 0) {
        out[len - 4] = '\0';
    }
    return 0;
}

int lbf_same_origin(const char *scheme, const char *host, const char *origin,
                    const char *referer)
{
    char self[320], want[300], theirs[300];

    if (scheme == NULL || host == NULL || *host == '\0'
        || strcspn(host, "/?#@ \t") != strlen(host)
        || (size_t)snprintf(self, sizeof(self), "%s://%s", scheme, host)
           >= sizeof(self)
        || lbf_origin_of(self, want, sizeof(want)) != 0) {
        return 0;
    }
    if (origin != NULL) {
        /* an Origin is scheme://host[:port] and nothing more */
        const char *auth = strstr(origin, "://");

        return auth != NULL && auth[3 + strcspn(auth + 3, "/?#")] == '\0'
               && lbf_origin_of(origin, theirs, sizeof(theirs)) == 0
               && strcmp(theirs, want) == 0;
    }
    if (referer != NULL) {
        return lbf_origin_of(referer, theirs, sizeof(theirs)) == 0
               && strcmp(theirs, want) == 0;
    }
    return 0;
}

/* Decode application/x-www-form-urlencoded s in place ('+' is a space,
 * %XX a byte).  Returns 0, or -1 on a bad escape or a NUL byte. */
static int lbf_form_decode(char *s)
{
    char *w = s;

    for (; *s; s++) {
        if (*s == '+') {
            *w++ = ' ';
        }
        else if (*s == '%') {
            unsigned v = 0, k;

            for (k = 1; k <= 2; k++) {
                char c = s[k];

                v = v * 16 + (unsigned)(c >= '0' && c <= '9' ? c - '0'
                            : c >= 'a' && c <= 'f' ? c - 'a' + 10
                            : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 256);
                if (v >= 256) {
                    return -1;
                }
            }
            if (v == 0) {
                return -1;
            }
            *w++ = (char)v;
            s += 2;
        }
        else {
            *w++ = *s;
        }
    }
    *w = '\0';
    return 0;
}

/* The form fields, in the order of lbf_form_names. */
enum { LBF_F_ACTION, LBF_F_NONCE, LBF_F_FARM, LBF_F_MEMBER, LBF_F_STATE,
       LBF_F_WEIGHT, LBF_F_URL, LBF_F_COUNT };
static const char *const lbf_form_names[LBF_F_COUNT] = {
    "action", "nonce", "farm", "member", "state", "weight", "url"
};

/* Split body into the known fields v[] (decoded in place).  Returns 0, or
 * -1 with err set. */
static int lbf_form_split(char *body, const char *v[LBF_F_COUNT], char *err,
                          size_t errlen)
{
    char *pair, *next;
    int k;

    for (pair = body; pair != NULL; pair = next) {
        char *val;

        if ((next = strchr(pair, '&')) != NULL) {
            *next++ = '\0';
        }
        if (*pair == '\0') {
            continue;
        }
        val = strchr(pair, '=');
        if (val != NULL) {
            *val++ = '\0';
        }
        if (lbf_form_decode(pair) != 0 || (val && lbf_form_decode(val))) {
            snprintf(err, errlen, "body: bad percent-encoding");
            return -1;
        }
        for (k = 0; k < LBF_F_COUNT && strcmp(pair, lbf_form_names[k]); k++) {
        }
        if (k == LBF_F_COUNT) {
            snprintf(err, errlen, "body: unknown field (expected action, "
                     "nonce, farm, member, state, weight, url)");
            return -1;
        }
        if (v[k] != NULL) {
            snprintf(err, errlen, "%s: repeated", lbf_form_names[k]);
            return -1;
        }
        v[k] = val ? val : "";
    }
    return 0;
}

/* Check field k of v as a farm or member name; -1 with err when bad. */
static int lbf_form_name(const char *v[LBF_F_COUNT], int k, char *err,
                         size_t errlen)
{
    if (v[k] == NULL || *v[k] == '\0') {
        snprintf(err, errlen, "%s: missing", lbf_form_names[k]);
        return -1;
    }
    if (!lbf_name_valid(v[k])) {
        snprintf(err, errlen, "%s: invalid name (1..31 of A-Z a-z 0-9 _ -, "
                 "starting with a letter or digit)", lbf_form_names[k]);
        return -1;
    }
    return 0;
}

/* Check the value of the state field for action a into q->state. */
static int lbf_form_state(const char *v[LBF_F_COUNT],
                          struct lbf_admin_req *q, char *err, size_t errlen)
{
    const char *s = v[LBF_F_STATE];
    int farm = q->action == LBF_ACT_FARM_STATE;

    if (s == NULL || *s == '\0') {
        snprintf(err, errlen, "state: missing");
        return -1;
    }
    if (!strcmp(s, farm ? "online" : "up")) {
        q->state = LBF_ADMIN_ENABLED;
    }
    else if (!strcmp(s, "offline")) {
        q->state = LBF_ADMIN_OFFLINE;
    }
    else if (!farm && !strcmp(s, "drain")) {
        q->state = LBF_ADMIN_DRAIN;
    }
    else {
        snprintf(err, errlen, "state: expected %s", farm ? "online or offline"
                                                   : "up, offline or drain");
        return -1;
    }
    return 0;
}

/* Check the weight field (required or defaulting to 1) into q->weight. */
static int lbf_form_weight(const char *v[LBF_F_COUNT], int required,
                           struct lbf_admin_req *q, char *err, size_t errlen)
{
    const char *w = v[LBF_F_WEIGHT];

    if ((w == NULL || *w == '\0') && !required) {
        q->weight = 1;
        return 0;
    }
    if (w == NULL || *w == '\0') {
        snprintf(err, errlen, "weight: missing");
        return -1;
    }
    if (lbf_parse_uint(w, 1, LBF_WEIGHT_MAX, &q->weight) != 0) {
        snprintf(err, errlen, "weight: expected 1..%d", LBF_WEIGHT_MAX);
        return -1;
    }
    return 0;
}

/* Check the url field: printable ASCII, 1..LBF_URL_SIZE-1 bytes (its
 * syntax is the glue's lbf_member_url). */
static int lbf_form_url(const char *v[LBF_F_COUNT], struct lbf_admin_req *q,
                        char *err, size_t errlen)
{
    const char *u = v[LBF_F_URL], *c;

    if (u == NULL || *u == '\0') {
        snprintf(err, errlen, "url: missing");
        return -1;
    }
    for (c = u; *c; c++) {
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f) {
            snprintf(err, errlen, "url: only printable ASCII, no spaces");
            return -1;
        }
    }
    if (strlen(u) >= LBF_URL_SIZE) {
        snprintf(err, errlen, "url: longer than %d bytes", LBF_URL_SIZE - 1);
        return -1;
    }
    q->url = u;
    return 0;
}

/* Which action v[LBF_F_ACTION] names; -1 with err when none. */
static int lbf_form_action(const char *v[LBF_F_COUNT],
                           struct lbf_admin_req *q, char *err, size_t errlen)
{
    static const char *const names[] = {
        "member-state", "member-weight", "farm-state", "member-add",
        "member-remove"
    };
    int k;

    for (k = 0; v[LBF_F_ACTION] != NULL && k < 5; k++) {
        if (!strcmp(v[LBF_F_ACTION], names[k])) {
            q->action = (enum lbf_admin_action)(LBF_ACT_MEMBER_STATE + k);
            return 0;
        }
    }
    snprintf(err, errlen, "action: %s", v[LBF_F_ACTION] == NULL ? "missing"
             : "expected member-state, member-weight, farm-state, "
               "member-add or member-remove");
    return -1;
}

int lbf_admin_parse(char *body, size_t len, struct lbf_admin_req *q,
                    char *err, size_t errlen)
{
    const char *v[LBF_F_COUNT] = {NULL};

    memset(q, 0, sizeof(*q));
    body[len] = '\0';
    if (strlen(body) != len) {
        snprintf(err, errlen, "body: NUL byte");
        return -1;
    }
    if (lbf_form_split(body, v, err, errlen) != 0
        || lbf_form_action(v, q, err, errlen) != 0
        || lbf_form_name(v, LBF_F_FARM, err, errlen) != 0) {
        return -1;
    }
    q->nonce = v[LBF_F_NONCE];
    q->farm = v[LBF_F_FARM];
    if (q->action != LBF_ACT_FARM_STATE) {
        if (lbf_form_name(v, LBF_F_MEMBER, err, errlen) != 0) {
            return -1;
        }
        q->member = v[LBF_F_MEMBER];
    }
    switch (q->action) {
    case LBF_ACT_MEMBER_STATE:
    case LBF_ACT_FARM_STATE:
        return lbf_form_state(v, q, err, errlen);
    case LBF_ACT_MEMBER_WEIGHT:
        return lbf_form_weight(v, 1, q, err, errlen);
    case LBF_ACT_MEMBER_ADD:
        return lbf_form_url(v, q, err, errlen) != 0
               || lbf_form_weight(v, 0, q, err, errlen) != 0 ? -1 : 0;
    case LBF_ACT_MEMBER_REMOVE:
        return 0;
    }
    return -1;
}
