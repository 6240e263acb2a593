/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_eject.c -- outlier ejection and panic mode in the glue (the
 * rules are the core's: include/lbfarm_eject.h):
 *
 *   LBFarmEject off | on | [consecutive=N] [rate=P%] [volume=N]
 *               [window=TIME] [base=TIME] [max=TIME] [cap=P%]
 *   LBFarmPanic P% | off
 *
 * The values land in the farm's struct lbf_tune (eject), which the request
 * path hands to every pick; post_request and the retry of the proxy glue
 * tell the core what each attempt was (lbf_eject_note).  Ejections and
 * their ends are logged once each; the cap refusing one (LBF00721) at
 * most once per second per process.
 */
#include "apr_strings.h"
#include "http_protocol.h"

#include "mod_lbfarm_eject.h"
#include "mod_lbfarm_log.h"
#include "lbfarm_conf.h"

APLOG_USE_MODULE(lbfarm);

#define LBF_EJ_OPTS "consecutive=, rate=, volume=, window=, base=, max=, cap="

/* A percentage "P%" or "P" within lo..hi into *out; 0 or -1. */
static int lbf_parse_pct(apr_pool_t *p, const char *s, uint32_t lo,
                         uint32_t hi, uint32_t *out)
{
    size_t n = strlen(s);

    if (n > 1 && s[n - 1] == '%') {
        s = apr_pstrmemdup(p, s, n - 1);
    }
    return lbf_parse_uint(s, lo, hi, out);
}

/* A time (seconds unless a unit is given) within lo_ms..hi_ms, in ms. */
static int lbf_parse_ms(const char *s, uint32_t lo_ms, uint32_t hi_ms,
                        uint32_t *out)
{
    apr_interval_time_t t;

    if (ap_timeout_parameter_parse(s, &t, "s") != APR_SUCCESS || t < 0
        || apr_time_as_msec(t) < lo_ms || apr_time_as_msec(t) > hi_ms) {
        return -1;
    }
    *out = (uint32_t)apr_time_as_msec(t);
    return 0;
}

/* One key=value option of LBFarmEject into *c; an error message quoting
 * it, or NULL. */
static const char *lbf_eject_opt(cmd_parms *cmd, struct lbf_eject_conf *c,
                                 const char *w)
{
    const char *eq = strchr(w, '='), *v = eq ? eq + 1 : "";
    size_t klen = eq ? (size_t)(eq - w) : strlen(w);
    uint32_t window_ms;

#define LBF_KEY(k) (klen == sizeof(k) - 1 && !strncasecmp(w, k, klen))
    if (LBF_KEY("consecutive")) {
        if (lbf_parse_uint(v, 0, 1000, &c->consecutive) == 0) {
            return NULL;
        }
        return apr_psprintf(cmd->pool, "LBFarmEject: invalid consecutive "
                            "\"%s\" (0..1000 failures in a row; 0 = off)", v);
    }
    if (LBF_KEY("rate")) {
        if (lbf_parse_pct(cmd->pool, v, 0, 100, &c->rate_pct) == 0) {
            return NULL;
        }
        return apr_psprintf(cmd->pool, "LBFarmEject: invalid rate \"%s\" "
                            "(0%%..100%% of the window's requests; 0 = off)",
                            v);
    }
    if (LBF_KEY("volume")) {
        if (lbf_parse_uint(v, 1, LBF_EJ_COUNT_MAX, &c->volume) == 0) {
            return NULL;
        }
        return apr_psprintf(cmd->pool, "LBFarmEject: invalid volume \"%s\" "
                            "(1..%u requests)", v, LBF_EJ_COUNT_MAX);
    }
    if (LBF_KEY("window")) {
        if (lbf_parse_ms(v, 1000, LBF_EJ_WINDOW_MAX * 1000u, &window_ms) == 0
            && window_ms % 1000u == 0) {
            c->window_sec = window_ms / 1000u;
            return NULL;
        }
        return apr_psprintf(cmd->pool, "LBFarmEject: invalid window \"%s\" "
                            "(1..%u whole seconds)", v, LBF_EJ_WINDOW_MAX);
    }
    if (LBF_KEY("base") || LBF_KEY("max")) {
        if (lbf_parse_ms(v, 100, LBF_EJ_TIME_MAX_MS,
                         LBF_KEY("base") ? &c->base_ms : &c->max_ms) == 0) {
            return NULL;
        }
        return apr_psprintf(cmd->pool, "LBFarmEject: invalid %.*s \"%s\" "
                            "(100ms..3600s; seconds unless a unit such as ms "
                            "is given)", (int)klen, w, v);
    }
    if (LBF_KEY("cap")) {
        if (lbf_parse_pct(cmd->pool, v, 1, 100, &c->cap_pct) == 0) {
            return NULL;
        }
        return apr_psprintf(cmd->pool, "LBFarmEject: invalid cap \"%s\" "
                            "(1%%..100%% of the farm's members)", v);
    }
#undef LBF_KEY
    return apr_psprintf(cmd->pool, "LBFarmEject: unknown option \"%s\" "
                        "(expected off, on or " LBF_EJ_OPTS ")", w);
}

const char *lbf_cmd_eject(cmd_parms *cmd, void *dc LBF_UNUSED,
                          const char *args)
{
    struct lbf_eject_conf c = {.mode = LBF_EJECT_DEFAULT};
    struct lbf_farm_conf *fc;
    const char *w, *err;

    LBF_FARM_OR_RETURN(cmd, fc);
    lbf_eject_conf_resolve(&c, &c); /* the defaults, mode on */
    c.panic_set = fc->tune.eject.panic_set;
    c.panic_pct = fc->tune.eject.panic_pct;
    w = ap_getword_conf(cmd->pool, &args);
    if (!strcasecmp(w, "off") || !strcasecmp(w, "on")) {
        if (*ap_getword_conf(cmd->pool, &args)) {
            return apr_psprintf(cmd->pool, "LBFarmEject: \"%s\" takes no "
                                "options", w);
        }
        c.mode = !strcasecmp(w, "off") ? LBF_EJECT_OFF : LBF_EJECT_ON;
        fc->tune.eject = c;
        return NULL;
    }
    for (; *w; w = ap_getword_conf(cmd->pool, &args)) {
        if ((err = lbf_eject_opt(cmd, &c, w)) != NULL) {
            return err;
        }
    }
    if (c.max_ms < c.base_ms) {
        return apr_psprintf(cmd->pool, "LBFarmEject: max \"%ums\" is below "
                            "base \"%ums\"", c.max_ms, c.base_ms);
    }
    fc->tune.eject = c;
    return NULL;
}

const char *lbf_cmd_panic(cmd_parms *cmd, void *dc LBF_UNUSED,
                          const char *arg)
{
    struct lbf_farm_conf *fc;
    uint32_t pct;

    LBF_FARM_OR_RETURN(cmd, fc);
    if (!strcasecmp(arg, "off")) {
        pct = 0;
    }
    else if (lbf_parse_pct(cmd->pool, arg, 0, 100, &pct) != 0) {
        return apr_psprintf(cmd->pool, "LBFarmPanic: invalid share \"%s\" "
                            "(0%%..100%% of the farm's members, or off)", arg);
    }
    fc->tune.eject.panic_pct = pct;
    fc->tune.eject.panic_set = 1;
    return NULL;
}

int lbf_is_error_status(const struct lbf_farm_conf *fc, int status)
{
    int i;

    for (i = 0; fc->error_status && i < fc->error_status->nelts; i++) {
        if (APR_ARRAY_IDX(fc->error_status, i, int) == status) {
            return 1;
        }
    }
    return 0;
}

void lbf_eject_farm_setup(struct lbf_farm_conf *fc)
{
    lbf_eject_conf_resolve(&fc->tune.eject, &fc->tune.eject);
}

int lbf_eject_outcome(const struct lbf_farm_conf *fc, int connect_failed,
                      int status)
{
    if (connect_failed) {
        return LBF_OUT_CONNECT;
    }
    return status >= 500 || lbf_is_error_status(fc, status) ? LBF_OUT_STATUS
                                                            : LBF_OUT_OK;
}

int lbf_eject_note(request_rec *r, struct lbf_farm_conf *fc,
                   struct lbf_row *row, int outcome, apr_time_t now)
{
    struct lbf_global *g = lbf_global_get();
    struct lbf_farm *f = lbf_farm_at(&g->shm, fc->fi);
    uint32_t ms, n;
    int rc;

    if (f == NULL) {
        return LBF_EJ_NONE;
    }
    rc = lbf_eject_result(&g->shm, f, row, &fc->tune.eject, outcome,
                          lbf_is_error_status(fc, r->status),
                          (uint64_t)now, &ms, &n);
    if (rc == LBF_EJ_EJECTED) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "LBF00720: farm %s: "
                      "member %s ejected for %u.%03us (n=%u) after %s",
                      fc->name, row->name, ms / 1000u, ms % 1000u, n,
                      outcome == LBF_OUT_CONNECT ? "a connect failure"
                                                 : "failed answers");
    }
    else if (rc == LBF_EJ_CAPPED) {
        /* a failing farm would say this on every few requests */
        LBF_LOG_LIMITED(r, APLOG_WARNING, apr_time_from_sec(1),
                        "LBF00721: farm %s: member %s fails but is not "
                        "ejected: the cap of %u%% of the farm's members is "
                        "reached",
                        fc->name, row->name, fc->tune.eject.cap_pct);
    }
    else if (rc == LBF_EJ_CLEARED) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "LBF00722: farm %s: "
                      "member %s answered again: back in service", fc->name,
                      row->name);
    }
    return rc;
}
