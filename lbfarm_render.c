/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_render.c -- the field table and the three forms rendered from it;
 * see lbfarm_render.h.
 *
 * The table is in the order of the text line as it has always been (the
 * fields of before first, new ones at the end), so a script reading the
 * text form by position keeps working.  JSON keys follow the same order;
 * Prometheus families too, after the process and farm families.
 */
#include <inttypes.h>
#include <string.h>

#include "lbfarm_render.h"

/* ------------------------------------------------------------------ */
/* Getters                                                             */

static void lbf_val_u(struct lbf_val *v, uint64_t u, int has)
{
    v->has = has;
    v->neg = 0;
    v->mag = u;
    v->str = "";
}

static void lbf_val_i(struct lbf_val *v, int64_t i, int has)
{
    lbf_val_u(v, i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i, has);
    v->neg = i < 0;
}

static void lbf_val_s(struct lbf_val *v, const char *s)
{
    lbf_val_u(v, 0, 1);
    v->str = s ? s : "";
}

/* A getter of an always-present unsigned value. */
#define LBF_GET_U(field, expr)                                                 \
    static void lbf_get_##field(const struct lbf_snap *s, struct lbf_val *v)  \
    {                                                                          \
        lbf_val_u(v, (expr), 1);                                               \
    }

LBF_GET_U(weight, s->weight)
LBF_GET_U(cfg_weight, s->cfg_weight)
LBF_GET_U(tier, s->tier)
LBF_GET_U(requests, s->requests)
LBF_GET_U(errors, s->errors)
LBF_GET_U(error_left, s->error_left_ms)
LBF_GET_U(headroom, s->headroom_milli)
LBF_GET_U(ramp, s->ramp_milli)
LBF_GET_U(lat_n, s->lat_count)
LBF_GET_U(standby, s->tier > 0)
LBF_GET_U(runtime, s->runtime != 0)
LBF_GET_U(up, s->state != NULL && strcmp(s->state, "ok") == 0)
LBF_GET_U(metrics, s->n_metrics)
LBF_GET_U(eject_left, s->eject_left_ms)
LBF_GET_U(eject_n, s->eject_n)
#undef LBF_GET_U

static void lbf_get_method(const struct lbf_snap *s, struct lbf_val *v)
{
    lbf_val_s(v, s->method);
}

static void lbf_get_state(const struct lbf_snap *s, struct lbf_val *v)
{
    lbf_val_s(v, s->state);
}

static void lbf_get_url(const struct lbf_snap *s, struct lbf_val *v)
{
    lbf_val_s(v, s->url);
}

/* Name of an enum lbf_admin value. */
static void lbf_get_admin(const struct lbf_snap *s, struct lbf_val *v)
{
    static const char *const names[] = {"enabled", "offline", "drain",
                                        "removed"};

    lbf_val_s(v, s->admin < 4 ? names[s->admin] : "?");
}

static void lbf_get_inflight(const struct lbf_snap *s, struct lbf_val *v)
{
    lbf_val_i(v, s->inflight, 1);
}

static void lbf_get_load(const struct lbf_snap *s, struct lbf_val *v)
{
    lbf_val_u(v, s->load_milli, s->load_age_ms >= 0);
}

static void lbf_get_load_age(const struct lbf_snap *s, struct lbf_val *v)
{
    lbf_val_i(v, s->load_age_ms, s->load_age_ms >= 0);
}

static void lbf_get_hc_status(const struct lbf_snap *s, struct lbf_val *v)
{
    lbf_val_i(v, s->hc_checked ? (int64_t)s->hc_status : -1, s->hc_checked);
}

static void lbf_get_hc_ms(const struct lbf_snap *s, struct lbf_val *v)
{
    lbf_val_u(v, s->hc_ms, s->hc_checked);
}

static void lbf_get_p50(const struct lbf_snap *s, struct lbf_val *v)
{
    lbf_val_u(v, s->lat_us[0], s->lat_count > 0);
}

static void lbf_get_p95(const struct lbf_snap *s, struct lbf_val *v)
{
    lbf_val_u(v, s->lat_us[1], s->lat_count > 0);
}

static void lbf_get_p99(const struct lbf_snap *s, struct lbf_val *v)
{
    lbf_val_u(v, s->lat_us[2], s->lat_count > 0);
}

/* ------------------------------------------------------------------ */
/* The table                                                           */

static const char *const lbf_states[] = {"ok", "error", "down", "draining",
                                         "offline", "ejected", "stalled",
                                         NULL};
static const char *const lbf_admins[] = {"enabled", "offline", "drain",
                                         NULL};

#define LBF_LAT_HELP "Latency quantiles over the recent window (30..60 s; " \
                     "upper bounds of power-of-two buckets)."

static const struct lbf_field lbf_fields[] = {
    {.text = "method", .json = "method", .kind = LBF_FK_STR,
     .prom = "lbfarm_member_method_info", .prom_type = "gauge",
     .label = "method", .get = lbf_get_method,
     .help = "The farm's method, as a label (value 1)."},
    {.text = "state", .json = "state", .kind = LBF_FK_ENUM,
     .values = lbf_states, .prom = "lbfarm_member_state",
     .prom_type = "gauge", .label = "state", .get = lbf_get_state,
     .help = "1 for the member's current state, else 0."},
    {.text = "weight", .json = "weight", .kind = LBF_FK_NUM,
     .prom = "lbfarm_member_weight", .prom_type = "gauge",
     .get = lbf_get_weight, .help = "Effective weight (1..100)."},
    {.text = "cfg_weight", .json = "cfg_weight", .kind = LBF_FK_NUM,
     .prom = "lbfarm_member_configured_weight", .prom_type = "gauge",
     .get = lbf_get_cfg_weight, .help = "Weight from the configuration."},
    {.text = "tier", .json = "tier", .kind = LBF_FK_NUM,
     .prom = "lbfarm_member_standby_tier", .prom_type = "gauge",
     .get = lbf_get_tier,
     .help = "0 for a regular member, higher for standby tiers."},
    {.text = "inflight", .json = "inflight", .kind = LBF_FK_NUM,
     .prom = "lbfarm_member_inflight", .prom_type = "gauge",
     .get = lbf_get_inflight,
     .help = "Requests being served by the member now."},
    {.text = "requests", .json = "requests", .kind = LBF_FK_NUM,
     .prom = "lbfarm_member_requests_total", .prom_type = "counter",
     .get = lbf_get_requests, .help = "Requests handed to the member."},
    {.text = "errors", .json = "errors", .kind = LBF_FK_NUM,
     .prom = "lbfarm_member_errors_total", .prom_type = "counter",
     .get = lbf_get_errors,
     .help = "Failed requests (connect failures, 5xx)."},
    {.text = "error_left_ms", .json = "error_left_ms", .kind = LBF_FK_NUM,
     .prom_dec = 3, .prom = "lbfarm_member_error_remaining_seconds",
     .prom_type = "gauge", .get = lbf_get_error_left,
     .help = "Time left in error before the member is tried again."},
    {.text = "load", .json = "load", .kind = LBF_FK_NUM, .dec = 3,
     .prom_dec = 3, .prom = "lbfarm_member_load", .prom_type = "gauge",
     .get = lbf_get_load,
     .help = "Last pushed load (0..1); absent when the member never "
             "pushed."},
    {.text = "load_age_ms", .json = "load_age_ms", .kind = LBF_FK_NUM,
     .prom_dec = 3, .prom = "lbfarm_member_load_age_seconds",
     .prom_type = "gauge", .get = lbf_get_load_age,
     .help = "Age of the last pushed load."},
    {.text = "headroom", .json = "headroom", .kind = LBF_FK_NUM, .dec = 3,
     .prom_dec = 3, .prom = "lbfarm_member_headroom", .prom_type = "gauge",
     .get = lbf_get_headroom,
     .help = "Headroom pushed-metric uses now (1 = neutral)."},
    {.text = "hc_status", .json = "status", .group = "health_check",
     .kind = LBF_FK_NUM, .prom = "lbfarm_member_health_check_status",
     .prom_type = "gauge", .get = lbf_get_hc_status,
     .help = "HTTP status of the last health check (0 = no answer)."},
    {.text = "hc_ms", .json = "ms", .group = "health_check",
     .kind = LBF_FK_NUM, .prom_dec = 3,
     .prom = "lbfarm_member_health_check_duration_seconds",
     .prom_type = "gauge", .get = lbf_get_hc_ms,
     .help = "Duration of the last health check."},
    {.text = "lat_n", .json = "window_requests", .group = "latency",
     .kind = LBF_FK_NUM, .prom = "lbfarm_member_latency_window_requests",
     .prom_type = "gauge", .get = lbf_get_lat_n,
     .help = "Requests in the recent latency window (30..60 s)."},
    {.text = "p50_us", .json = "p50_us", .group = "latency",
     .kind = LBF_FK_NUM, .prom_dec = 6, .label = "quantile",
     .label_value = "0.5", .prom = "lbfarm_member_latency_recent_seconds",
     .prom_type = "gauge", .get = lbf_get_p50, .help = LBF_LAT_HELP},
    {.text = "p95_us", .json = "p95_us", .group = "latency",
     .kind = LBF_FK_NUM, .prom_dec = 6, .label = "quantile",
     .label_value = "0.95", .prom = "lbfarm_member_latency_recent_seconds",
     .prom_type = "gauge", .get = lbf_get_p95, .help = LBF_LAT_HELP},
    {.text = "p99_us", .json = "p99_us", .group = "latency",
     .kind = LBF_FK_NUM, .prom_dec = 6, .label = "quantile",
     .label_value = "0.99", .prom = "lbfarm_member_latency_recent_seconds",
     .prom_type = "gauge", .get = lbf_get_p99, .help = LBF_LAT_HELP},
    /* fields that were in some of the forms only */
    {.text = "admin", .json = "admin", .kind = LBF_FK_ENUM,
     .values = lbf_admins, .prom = "lbfarm_member_admin_state",
     .prom_type = "gauge", .label = "admin", .get = lbf_get_admin,
     .help = "1 for the member's administrative state, else 0."},
    {.text = "standby", .json = "standby", .kind = LBF_FK_BOOL,
     .prom = "lbfarm_member_standby", .prom_type = "gauge",
     .get = lbf_get_standby, .help = "1 for a standby (tier above 0)."},
    {.text = "runtime", .json = "runtime", .kind = LBF_FK_BOOL,
     .prom = "lbfarm_member_runtime", .prom_type = "gauge",
     .get = lbf_get_runtime,
     .help = "1 for a member added at runtime on the status page."},
    {.text = "up", .json = "up", .kind = LBF_FK_BOOL,
     .prom = "lbfarm_member_up", .prom_type = "gauge", .get = lbf_get_up,
     .help = "1 when the member takes new clients (state ok), else 0."},
    {.text = "ramp", .json = "ramp", .kind = LBF_FK_NUM, .dec = 3,
     .prom_dec = 3, .prom = "lbfarm_member_slowstart_ramp",
     .prom_type = "gauge", .get = lbf_get_ramp,
     .help = "Share of its weight a member in slow start gets now (1 = "
             "full: not ramping)."},
    {.text = "url", .json = "url", .kind = LBF_FK_STR,
     .prom = "lbfarm_member_url_info", .prom_type = "gauge",
     .label = "url", .get = lbf_get_url,
     .help = "The member's URL, as a label (value 1)."},
    {.text = "metrics", .json = "metrics", .kind = LBF_FK_METRICS,
     .dec = 3, .prom_dec = 3, .prom = "lbfarm_member_pushed_metric",
     .prom_type = "gauge", .label = "metric", .get = lbf_get_metrics,
     .help = "Last value of each metric the member pushed."},
    {.text = "eject_left_ms", .json = "eject_left_ms", .kind = LBF_FK_NUM,
     .prom_dec = 3, .prom = "lbfarm_member_ejection_remaining_seconds",
     .prom_type = "gauge", .get = lbf_get_eject_left,
     .help = "Time left of an outlier ejection (0 = not ejected)."},
    {.text = "eject_n", .json = "eject_n", .kind = LBF_FK_NUM,
     .prom = "lbfarm_member_ejection_multiplier", .prom_type = "gauge",
     .get = lbf_get_eject_n,
     .help = "n of the current ejection (it lasts base x n; 0 = not "
             "ejected)."},
};

#define LBF_N_FIELDS (sizeof(lbf_fields) / sizeof(lbf_fields[0]))

const struct lbf_field *lbf_render_fields(size_t *n)
{
    *n = LBF_N_FIELDS;
    return lbf_fields;
}

/* 1 when a and b are both NULL or the same string. */
static int lbf_same(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* One metric value (thousandths) with dec decimals. */
static void lbf_out_metric(struct lbf_out *o, int64_t v, unsigned dec)
{
    lbf_out_fixed(o, v < 0, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v,
                  dec);
}

/* ------------------------------------------------------------------ */
/* Text                                                                */

/* " key=value" of field f for member s. */
static void lbf_text_field(struct lbf_out *o, const struct lbf_field *f,
                           const struct lbf_snap *s)
{
    struct lbf_val v;
    uint32_t k;

    f->get(s, &v);
    lbf_out_str(o, " ");
    lbf_out_str(o, f->text);
    lbf_out_str(o, "=");
    switch (f->kind) {
    case LBF_FK_NUM:
    case LBF_FK_BOOL:
        lbf_out_fixed(o, v.neg, v.mag, f->kind == LBF_FK_NUM ? f->dec : 0);
        break;
    case LBF_FK_ENUM:
    case LBF_FK_STR:
        lbf_out_word(o, v.str, NULL);
        break;
    case LBF_FK_METRICS:
        for (k = 0; k < s->n_metrics; k++) {
            lbf_out_str(o, k ? "," : "");
            lbf_out_word(o, s->metrics[k].name, ",:");
            lbf_out_str(o, ":");
            lbf_out_metric(o, s->metrics[k].value, f->dec);
        }
        break;
    }
}

void lbf_render_text(const struct lbf_status *st, lbf_emit_f *emit,
                     void *ctx)
{
    struct lbf_out o;
    size_t i, k;

    lbf_out_init(&o, emit, ctx);
    lbf_out_fmt(&o, "# lbfarm generation=%" PRIu64 " farms=%zu members=%zu"
                "\n", st->generation, st->n_farms, st->n_members);
    for (i = 0; i < st->n_members; i++) {
        lbf_out_str(&o, "member ");
        lbf_out_word(&o, st->members[i].farm, NULL);
        lbf_out_str(&o, " ");
        lbf_out_word(&o, st->members[i].name, NULL);
        for (k = 0; k < LBF_N_FIELDS; k++) {
            lbf_text_field(&o, &lbf_fields[k], &st->members[i]);
        }
        lbf_out_str(&o, "\n");
    }
    lbf_out_flush(&o);
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */

/* The JSON value of field f for member s (v read by its getter). */
static void lbf_json_value(struct lbf_out *o, const struct lbf_field *f,
                           const struct lbf_snap *s, const struct lbf_val *v)
{
    uint32_t k;

    if (!v->has) {
        lbf_out_str(o, "null");
        return;
    }
    switch (f->kind) {
    case LBF_FK_NUM:
        lbf_out_fixed(o, v->neg, v->mag, f->dec);
        break;
    case LBF_FK_BOOL:
        lbf_out_str(o, v->mag ? "true" : "false");
        break;
    case LBF_FK_ENUM:
    case LBF_FK_STR:
        lbf_out_json(o, v->str);
        break;
    case LBF_FK_METRICS:
        lbf_out_str(o, "{");
        for (k = 0; k < s->n_metrics; k++) {
            lbf_out_str(o, k ? "," : "");
            lbf_out_json(o, s->metrics[k].name);
            lbf_out_str(o, ":");
            lbf_out_metric(o, s->metrics[k].value, f->dec);
        }
        lbf_out_str(o, "}");
        break;
    }
}

/* The end of the run of fields from i that share i's JSON group. */
static size_t lbf_json_run(size_t i)
{
    size_t j = i + 1;

    while (lbf_fields[i].group && j < LBF_N_FIELDS
           && lbf_same(lbf_fields[j].group, lbf_fields[i].group)) {
        j++;
    }
    return j;
}

/* Fields [i, j) of member s: "key":value pairs, each after a comma, inside
 * "group":{...} (or "group":null when none has a value) when grouped. */
static void lbf_json_fields(struct lbf_out *o, const struct lbf_snap *s,
                            size_t i, size_t j)
{
    const char *group = lbf_fields[i].group;
    struct lbf_val v[LBF_N_FIELDS];
    size_t k, has = 0;

    for (k = i; k < j; k++) {
        lbf_fields[k].get(s, &v[k]);
        has += v[k].has != 0;
    }
    if (group != NULL) {
        lbf_out_str(o, ",\"");
        lbf_out_str(o, group);
        lbf_out_str(o, has ? "\":{" : "\":null");
        if (!has) {
            return;
        }
    }
    for (k = i; k < j; k++) {
        lbf_out_str(o, group && k == i ? "\"" : ",\"");
        lbf_out_str(o, lbf_fields[k].json);
        lbf_out_str(o, "\":");
        lbf_json_value(o, &lbf_fields[k], s, &v[k]);
    }
    lbf_out_str(o, group ? "}" : "");
}

/* One member object. */
static void lbf_json_member(struct lbf_out *o, const struct lbf_snap *s)
{
    size_t i, j;

    lbf_out_str(o, "{\"name\":");
    lbf_out_json(o, s->name);
    for (i = 0; i < LBF_N_FIELDS; i = j) {
        j = lbf_json_run(i);
        lbf_json_fields(o, s, i, j);
    }
    lbf_out_str(o, "}");
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

/* One sample: name{farm,member[,label="lv"]} value\n (lv escaped). */
static void lbf_prom_sample(struct lbf_out *o, const struct lbf_field *f,
                            const struct lbf_snap *s, const char *lv,
                            int neg, uint64_t mag, unsigned dec)
{
    lbf_prom_labels(o, f->prom, s);
    if (lv != NULL) {
        lbf_out_str(o, ",");
        lbf_out_str(o, f->label);
        lbf_out_str(o, "=\"");
        lbf_out_label(o, lv);
        lbf_out_str(o, "\"");
    }
    lbf_out_str(o, "} ");
    lbf_out_fixed(o, neg, mag, dec);
    lbf_out_str(o, "\n");
}

/* The samples of field f for member s (none when it has no value). */
static void lbf_prom_field(struct lbf_out *o, const struct lbf_field *f,
                           const struct lbf_snap *s)
{
    struct lbf_val v;
    uint32_t k;

    f->get(s, &v);
    if (!v.has) {
        return;
    }
    switch (f->kind) {
    case LBF_FK_NUM:
    case LBF_FK_BOOL:
        lbf_prom_sample(o, f, s, f->label_value, v.neg, v.mag,
                        f->kind == LBF_FK_NUM ? f->prom_dec : 0);
        break;
    case LBF_FK_ENUM:
        for (k = 0; f->values[k] != NULL; k++) {
            lbf_prom_sample(o, f, s, f->values[k], 0,
                            strcmp(v.str, f->values[k]) == 0, 0);
        }
        break;
    case LBF_FK_STR:
        lbf_prom_sample(o, f, s, v.str, 0, 1, 0);
        break;
    case LBF_FK_METRICS:
        for (k = 0; k < s->n_metrics; k++) {
            int64_t m = s->metrics[k].value;

            lbf_prom_sample(o, f, s, s->metrics[k].name, m < 0,
                            m < 0 ? (uint64_t)0 - (uint64_t)m : (uint64_t)m,
                            f->prom_dec);
        }
        break;
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
    size_t i, j, k, m;

    lbf_out_init(&o, emit, ctx);
    lbf_prom_farms(&o, st);
    for (i = 0; i < LBF_N_FIELDS; i = j) {
        /* fields next to each other may share one family */
        for (j = i + 1; j < LBF_N_FIELDS
             && strcmp(lbf_fields[j].prom, lbf_fields[i].prom) == 0; j++) {
        }
        lbf_prom_head(&o, lbf_fields[i].prom, lbf_fields[i].prom_type,
                      lbf_fields[i].help);
        for (m = 0; m < st->n_members; m++) {
            for (k = i; k < j; k++) {
                lbf_prom_field(&o, &lbf_fields[k], &st->members[m]);
            }
        }
    }
    lbf_out_flush(&o);
}
