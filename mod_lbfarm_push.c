/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_push.c -- "SetHandler lbfarm-push": members report their load.
 * Directives of the push policy, key loading and derivation, and the
 * handler that maps the core's verdicts (lbfarm_push.c) to HTTP statuses.
 * Secrets are read from files at start-up and never logged.
 */
#include "apr_strings.h"
#include "apr_file_io.h"
#include "http_protocol.h"
#include "http_request.h"

#include <unistd.h>

#include "mod_lbfarm_push.h"
#include "mod_lbfarm_log.h"
#include "mod_lbfarm_names.h"
#include "lbfarm_conf.h"

APLOG_USE_MODULE(lbfarm);

#define LBF_SECRET_MIN   16    /* bytes of a farm secret, at least */
#define LBF_SECRET_MAX   512
#define LBF_HB_BODY_MAX  1024  /* mod_heartbeat POST body */
#define LBF_SMOOTH_DEFAULT 500 /* LBFarmLoadSmoothing 0.5 */
#define LBF_EXPIRY_DEFAULT 15  /* LBFarmMetricExpiry, seconds */
#define LBF_BLACKOUT_DEFAULT 2 /* LBFarmMetricBlackout, seconds */

/* ------------------------------------------------------------------ */
/* Directives                                                          */

void lbf_push_farm_defaults(struct lbf_farm_conf *fc)
{
    fc->policy.window_sec = 30;
    fc->policy.rate_per_sec = 5;
    fc->policy.burst = 10;
    fc->policy.smooth_milli = LBF_SMOOTH_DEFAULT;
    fc->expiry = apr_time_from_sec(LBF_EXPIRY_DEFAULT);
    fc->blackout = apr_time_from_sec(LBF_BLACKOUT_DEFAULT);
}

/* Read up to two secrets, one per line, from file path into fc. */
static const char *lbf_read_secrets(cmd_parms *cmd, struct lbf_farm_conf *fc,
                                    const char *path)
{
    char buf[2 * LBF_SECRET_MAX + 4], *line, *last;
    apr_file_t *f;
    apr_size_t n = sizeof(buf) - 1;
    apr_status_t rv;

    rv = apr_file_open(&f, path, APR_FOPEN_READ, APR_FPROT_OS_DEFAULT,
                       cmd->temp_pool);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "LBFarmPushKey: cannot read \"%s\" "
                            "(%pm)", path, &rv);
    }
    rv = apr_file_read(f, buf, &n);
    apr_file_close(f);
    buf[rv == APR_SUCCESS || rv == APR_EOF ? n : 0] = '\0';
    fc->nsecrets = 0;
    for (line = apr_strtok(buf, "\r\n", &last); line;
         line = apr_strtok(NULL, "\r\n", &last)) {
        if (*line == '#' || strlen(line) == 0) {
            continue;
        }
        if (strlen(line) < LBF_SECRET_MIN || strlen(line) > LBF_SECRET_MAX
            || fc->nsecrets == LBF_PUSH_KEYS_MAX) {
            return apr_psprintf(cmd->pool, "LBFarmPushKey: \"%s\" must hold "
                                "one or two secrets of %d..%d characters, "
                                "one per line", path, LBF_SECRET_MIN,
                                LBF_SECRET_MAX);
        }
        fc->secret_len[fc->nsecrets] = strlen(line);
        fc->secrets[fc->nsecrets++] = apr_pstrdup(cmd->pool, line);
    }
    memset(buf, 0, sizeof(buf));
    return fc->nsecrets ? NULL : apr_psprintf(cmd->pool, "LBFarmPushKey: "
                                              "\"%s\" holds no secret", path);
}

const char *lbf_cmd_push_key(cmd_parms *cmd, void *dc LBF_UNUSED,
                             const char *arg)
{
    struct lbf_farm_conf *fc;

    LBF_FARM_OR_RETURN(cmd, fc);
    return lbf_read_secrets(cmd, fc, ap_server_root_relative(cmd->pool, arg));
}

/* LBFarmMetric name capacity [weight] */
const char *lbf_cmd_metric(cmd_parms *cmd, void *dc LBF_UNUSED,
                           const char *args)
{
    const char *name, *cap, *w;
    struct lbf_farm_conf *fc;
    struct lbf_load_term *t;
    uint32_t weight = 1, i;

    LBF_FARM_OR_RETURN(cmd, fc);
    name = ap_getword_conf(cmd->pool, &args);
    cap = ap_getword_conf(cmd->pool, &args);
    w = ap_getword_conf(cmd->pool, &args);
    if (*name == '\0' || *cap == '\0' || *args) {
        return "LBFarmMetric: expected a name, a capacity and an optional "
               "weight";
    }
    if (strlen(name) >= LBF_METRIC_NAME
        || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_")
           != strlen(name)) {
        return apr_psprintf(cmd->pool, "LBFarmMetric: invalid metric name "
                            "\"%s\" ([a-z0-9_], 1..15)", name);
    }
    for (i = 0; i < fc->nterms; i++) {
        if (!strcmp(fc->terms[i].name, name)) {
            return apr_psprintf(cmd->pool, "LBFarmMetric: duplicate metric "
                                "\"%s\"", name);
        }
    }
    if (fc->nterms == LBF_METRICS_MAX) {
        return "LBFarmMetric: at most 8 metrics per farm";
    }
    t = &fc->terms[fc->nterms];
    if (lbf_parse_milli(cap, strlen(cap), LBF_PUSH_VALUE_MAX, &t->capacity)
        || t->capacity <= 0) {
        return apr_psprintf(cmd->pool, "LBFarmMetric: invalid capacity \"%s\""
                            " for \"%s\" (a number > 0, 3 decimals)", cap,
                            name);
    }
    if (*w && lbf_parse_uint(w, 1, 100, &weight) != 0) {
        return apr_psprintf(cmd->pool, "LBFarmMetric: invalid weight \"%s\" "
                            "for \"%s\" (1..100)", w, name);
    }
    apr_cpystrn(t->name, name, sizeof(t->name));
    t->weight = weight;
    fc->nterms++;
    return NULL;
}

/* LBFarmPushWindow / LBFarmMetricExpiry / LBFarmMetricBlackout */
const char *lbf_cmd_push_time(cmd_parms *cmd, void *dc LBF_UNUSED,
                              const char *arg)
{
    struct lbf_farm_conf *fc;
    int which = (int)(intptr_t)cmd->info;
    apr_interval_time_t t;

    LBF_FARM_OR_RETURN(cmd, fc);
    if (ap_timeout_parameter_parse(arg, &t, "s") != APR_SUCCESS
        || t < 0 || t > apr_time_from_sec(3600)
        || (which == 0 && t < apr_time_from_sec(1))) {
        return apr_psprintf(cmd->pool, "%s: invalid time \"%s\" (seconds, or "
                            "with ms suffix; %s..3600s)", cmd->cmd->name, arg,
                            which == 0 ? "1" : "0");
    }
    if (which == 0) {
        fc->policy.window_sec = (uint32_t)apr_time_sec(t);
    }
    else if (which == 1) {
        fc->expiry = t;
    }
    else {
        fc->blackout = t;
    }
    return NULL;
}

const char *lbf_cmd_push_rate(cmd_parms *cmd, void *dc LBF_UNUSED,
                              const char *a, const char *b)
{
    struct lbf_farm_conf *fc;
    uint32_t rate, burst;

    LBF_FARM_OR_RETURN(cmd, fc);
    if (lbf_parse_uint(a, 1, 1000, &rate) != 0
        || lbf_parse_uint(b, 1, 10000, &burst) != 0) {
        return apr_psprintf(cmd->pool, "LBFarmPushRate: invalid \"%s %s\" "
                            "(pushes per second 1..1000, burst 1..10000)",
                            a, b);
    }
    fc->policy.rate_per_sec = rate;
    fc->policy.burst = burst;
    return NULL;
}

/* LBFarmLoadSmoothing weight: 0.001..1 (1: every report as is). */
const char *lbf_cmd_push_smoothing(cmd_parms *cmd, void *dc LBF_UNUSED,
                                   const char *arg)
{
    struct lbf_farm_conf *fc;
    int64_t w;

    LBF_FARM_OR_RETURN(cmd, fc);
    if (lbf_parse_milli(arg, strlen(arg), 1, &w) != 0 || w < 1 || w > 1000) {
        return apr_psprintf(cmd->pool, "LBFarmLoadSmoothing: invalid weight "
                            "\"%s\" (the weight of a new report, 0.001..1; "
                            "1 = no smoothing)", arg);
    }
    fc->policy.smooth_milli = (uint32_t)w;
    return NULL;
}

const char *lbf_cmd_heartbeat(cmd_parms *cmd, void *dc LBF_UNUSED, int on)
{
    struct lbf_farm_conf *fc;

    LBF_FARM_OR_RETURN(cmd, fc);
    fc->heartbeat = on;
    return NULL;
}

/* 1 when method index m reads pushed load (lbf_headroom): pushed-metric
 * scales capacities with it and least-time its costs; weighted and
 * least-load never look at a report. */
static int lbf_method_reads_load(int m)
{
    const char *name = lbf_method_name((uint32_t)m);

    return !strcmp(name, "pushed-metric") || !strcmp(name, "least-time");
}

int lbf_push_check_farm(apr_pool_t *p, server_rec *s,
                        const struct lbf_farm_conf *fc)
{
    const char *set = "";
    int n = 0;

#define LBF_SET(cond, what)                                              \
    if (cond) {                                                          \
        set = apr_pstrcat(p, set, n++ ? ", " : "", what, NULL);          \
    }
    LBF_SET(fc->nterms > 0, "LBFarmMetric");
    LBF_SET(fc->heartbeat, "LBFarmHeartbeat On");
    LBF_SET(fc->expiry != apr_time_from_sec(LBF_EXPIRY_DEFAULT),
            "LBFarmMetricExpiry");
    LBF_SET(fc->blackout != apr_time_from_sec(LBF_BLACKOUT_DEFAULT),
            "LBFarmMetricBlackout");
    LBF_SET(fc->policy.smooth_milli != LBF_SMOOTH_DEFAULT,
            "LBFarmLoadSmoothing");
#undef LBF_SET
    if (n == 0 || lbf_method_reads_load(fc->method)) {
        return 0;
    }
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "LBF00803: <LBFarm %s> at "
                 "%s: %s ignored: method %s never reads pushed load (use "
                 "LBFarmMethod pushed-metric or least-time, or remove %s)",
                 fc->name, fc->where, set,
                 lbf_method_name((uint32_t)fc->method),
                 n > 1 ? "them" : "it");
    return 1;
}

void lbf_push_farm_setup(struct lbf_farm_conf *fc, struct lbf_farm *f)
{
    int i;

    if (fc->nterms == 0) { /* default formula: cpu as a fraction of 1 */
        apr_cpystrn(fc->terms[0].name, "cpu", sizeof(fc->terms[0].name));
        fc->terms[0].capacity = 1000;
        fc->terms[0].weight = 1;
        fc->nterms = 1;
    }
    f->expiry_ms = (uint32_t)apr_time_as_msec(fc->expiry);
    f->blackout_ms = (uint32_t)apr_time_as_msec(fc->blackout);
    for (i = 0; i < fc->members->nelts; i++) {
        lbf_push_member_setup(fc, &APR_ARRAY_IDX(fc->members, i,
                                                 struct lbf_member_conf));
    }
}

void lbf_push_member_setup(struct lbf_farm_conf *fc,
                           struct lbf_member_conf *mc)
{
    int k;

    for (k = 0; k < fc->nsecrets; k++) {
        lbf_push_member_key((const uint8_t *)fc->secrets[k],
                            fc->secret_len[k], mc->name, mc->keys[k]);
    }
}

/* ------------------------------------------------------------------ */
/* The handler                                                         */

/* Answer status with a one-line text body; returns OK (we wrote it). */
static int lbf_answer(request_rec *r, int status, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = apr_pvsprintf(r->pool, fmt, ap);
    va_end(ap);
    r->status = status;
    ap_set_content_type(r, "text/plain; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_rprintf(r, "%s\n", msg);
    return OK;
}

/* The shm row of member mc of farm fc. */
static struct lbf_row *lbf_row_of(struct lbf_global *g,
                                  const struct lbf_farm_conf *fc,
                                  const struct lbf_member_conf *mc)
{
    return lbf_member_at(&g->shm, lbf_farm_at(&g->shm, fc->fi), mc->index);
}

static const int lbf_push_status[] = {
    [LBF_PUSH_OK] = HTTP_OK,
    [LBF_PUSH_EBAD] = HTTP_BAD_REQUEST,
    [LBF_PUSH_ESIG] = HTTP_UNAUTHORIZED,
    [LBF_PUSH_EREPLAY] = HTTP_CONFLICT,
    [LBF_PUSH_ESTALE] = HTTP_CONFLICT,
    [LBF_PUSH_ERATE] = HTTP_TOO_MANY_REQUESTS,
};

/* The answers; none before authentication names a farm or a member. */
static const char *const lbf_push_text[] = {
    [LBF_PUSH_OK] = "ok",
    [LBF_PUSH_EBAD] = "malformed",
    [LBF_PUSH_ESIG] = "sig: bad signature",
    [LBF_PUSH_EREPLAY] = "seq: not above the last accepted (replay)",
    [LBF_PUSH_ESTALE] = "ts: outside the accepted window (stale or "
                        "in the future)",
    [LBF_PUSH_ERATE] = "rate: too many pushes from this member",
};

/* Log a refused push: at most once a second per process, the one call
 * site of LBF00040.  farm/member name the target for the operator (the
 * names the push gave: validated by the parser; empty for heartbeats). */
static void lbf_push_log_refusal(request_rec *r, const char *farm,
                                 const char *member, const char *why)
{
    LBF_LOG_LIMITED(r, APLOG_WARNING, apr_time_from_sec(1), "LBF00040: push "
                    "refused from %s%s%s%s%s: %s", r->useragent_ip,
                    *farm ? " for " : "", farm, *farm ? "/" : "", member,
                    why);
}

/* Log and answer a refusal before authentication: rc's status and line,
 * which name nothing. */
static int lbf_push_refuse(request_rec *r, const struct lbf_push_msg *msg,
                           int rc, const char *why)
{
    lbf_push_log_refusal(r, msg->farm, msg->member, why);
    return lbf_answer(r, lbf_push_status[rc], "%s", lbf_push_text[rc]);
}

/* Verify msg's signature under nkeys keys and log, at trace1, how many
 * HMACs it took (LBF00310: what t/11_push_errors.t counts). */
static int lbf_push_check_sig(request_rec *r, const struct lbf_push_msg *msg,
                              const uint8_t (*keys)[LBF_KEY_LEN], int nkeys)
{
    uint64_t before = lbf_push_hmacs();
    int ok = lbf_push_verify(r->args, msg, keys, nkeys);

    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, "LBF00310: push for "
                  "%s/%s: signature checked with %" APR_UINT64_T_FMT " HMAC(s)",
                  msg->farm, msg->member,
                  (apr_uint64_t)(lbf_push_hmacs() - before));
    return ok;
}

/* A push whose farm or member is unknown, or whose farm takes no pushes:
 * the same work (one signature check under a key nobody holds) and the
 * same answer as a bad signature, so that neither the answer nor its cost
 * tells which names exist. */
static int lbf_push_unknown(request_rec *r, const struct lbf_push_msg *msg,
                            const struct lbf_farm_conf *fc)
{
    static const uint8_t nobody[LBF_PUSH_KEYS_MAX][LBF_KEY_LEN];
    int nkeys = fc && fc->nsecrets > 0 ? fc->nsecrets : 1;

    lbf_push_check_sig(r, msg, nobody, nkeys);
    return lbf_push_refuse(r, msg, LBF_PUSH_ESIG,
                           fc == NULL ? "no such farm"
                           : fc->nsecrets == 0 ? "the farm has no "
                                                 "LBFarmPushKey"
                                               : "no such member");
}

/* A signed push in r->args: parse, find the member by name (O(1)), take
 * its token, verify under its keys only, apply.  A forged push costs at
 * most LBF_PUSH_KEYS_MAX HMACs, and none once the member's bucket is
 * empty, whatever the farm's size. */
static int lbf_push_signed(request_rec *r, struct lbf_global *g)
{
    struct lbf_push_msg msg;
    struct lbf_farm_conf *fc;
    struct lbf_member_conf *mc = NULL;
    uint64_t now = (uint64_t)apr_time_now();
    char err[160];
    int rc, mi;

    if (lbf_push_parse(r->args, strlen(r->args), &msg, err, sizeof(err))) {
        return lbf_answer(r, HTTP_BAD_REQUEST, "%s", err);
    }
    fc = lbf_farm_by_name(msg.farm, strlen(msg.farm));
    if (fc == NULL || fc->nsecrets == 0
        || (mi = lbf_member_named(fc, msg.member, strlen(msg.member))) < 0
        || (mc = lbf_member_conf_at(fc, (uint32_t)mi)) == NULL) {
        return lbf_push_unknown(r, &msg, fc);
    }
    rc = lbf_push_admit(&g->shm, lbf_row_of(g, fc, mc), (uint32_t)getpid(),
                        now, &fc->policy);
    if (rc == LBF_PUSH_OK
        && !lbf_push_check_sig(r, &msg, (const uint8_t (*)[LBF_KEY_LEN])
                               mc->keys, fc->nsecrets)) {
        rc = LBF_PUSH_ESIG;
    }
    if (rc != LBF_PUSH_OK) {
        return lbf_push_refuse(r, &msg, rc, lbf_push_text[rc]);
    }
    rc = lbf_push_apply(&g->shm, lbf_row_of(g, fc, mc), (uint32_t)getpid(),
                        &msg, now, &fc->policy, fc->terms, fc->nterms);
    if (rc != LBF_PUSH_OK) {
        lbf_push_log_refusal(r, fc->name, mc->name, lbf_push_text[rc]);
    }
    return lbf_answer(r, lbf_push_status[rc], "%s farm=%s member=%s",
                      lbf_push_text[rc], fc->name, mc->name);
}

/* Read a POST body of at most LBF_HB_BODY_MAX bytes into buf; returns its
 * length or -1 (too long or unreadable). */
static long lbf_read_body(request_rec *r, char *buf)
{
    long n = 0, got;

    if (ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK) != OK
        || !ap_should_client_block(r)) {
        return 0;
    }
    while ((got = ap_get_client_block(r, buf + n, LBF_HB_BODY_MAX + 1 - n))
           > 0) {
        if ((n += got) > LBF_HB_BODY_MAX) {
            return -1;
        }
    }
    return got < 0 ? -1 : n;
}

/* The member of a LBFarmHeartbeat farm at ip (and port, unless 0). */
static struct lbf_member_conf *lbf_hb_member(struct lbf_global *g,
                                             const char *ip, uint32_t port,
                                             struct lbf_farm_conf **fcp)
{
    struct lbf_member_conf *mc;
    uint32_t j;
    int i;

    for (i = 0; i < g->farms->nelts; i++) {
        struct lbf_farm_conf *fc = APR_ARRAY_IDX(g->farms, i,
                                                 struct lbf_farm_conf *);
        for (j = 0; fc->heartbeat && (mc = lbf_member_next(fc, &j)) != NULL;) {
            if (!strcmp(mc->host, ip) && (port == 0 || mc->port == port)) {
                *fcp = fc;
                return mc;
            }
        }
    }
    return NULL;
}

/* A mod_heartbeat message: from q, or from the POST body when q is NULL.
 * Unsigned (mod_heartbeat cannot sign): the sender is the member whose
 * URL host is the client address; protect the location with Require. */
static int lbf_push_heartbeat(request_rec *r, struct lbf_global *g,
                              const char *q, apr_size_t len)
{
    char body[LBF_HB_BODY_MAX + 2], err[160];
    struct lbf_farm_conf *fc = NULL;
    struct lbf_member_conf *mc;
    uint32_t load, port;
    long n;
    int rc;

    if (q == NULL) {
        if ((n = lbf_read_body(r, body)) < 0) {
            return lbf_answer(r, HTTP_BAD_REQUEST, "body: longer than %d "
                              "bytes or unreadable", LBF_HB_BODY_MAX);
        }
        body[n] = '\0';
        q = body;
        len = (apr_size_t)n;
    }
    if (lbf_push_parse_heartbeat(q, len, &load, &port, err, sizeof(err))) {
        return lbf_answer(r, HTTP_BAD_REQUEST, "%s", err);
    }
    if ((mc = lbf_hb_member(g, r->useragent_ip, port, &fc)) == NULL) {
        lbf_push_log_refusal(r, "", "", "heartbeat from no member of a "
                             "LBFarmHeartbeat farm");
        return lbf_answer(r, HTTP_FORBIDDEN, "heartbeat: no member at this "
                          "address in a farm with LBFarmHeartbeat On");
    }
    rc = lbf_push_apply_load(&g->shm, lbf_row_of(g, fc, mc),
                             (uint32_t)getpid(), load,
                             (uint64_t)apr_time_now(), &fc->policy);
    return lbf_answer(r, lbf_push_status[rc], "%s farm=%s member=%s",
                      lbf_push_text[rc], fc->name, mc->name);
}

/* 405 with an Allow of exactly what a push takes.  Written here: httpd's
 * own 405 page rebuilds Allow from r->allowed, always adds TRACE and adds
 * HEAD with GET, which a push refuses. */
static int lbf_push_405(request_rec *r)
{
    ap_discard_request_body(r);
    apr_table_setn(r->headers_out, "Allow", "GET, POST");
    return lbf_answer(r, HTTP_METHOD_NOT_ALLOWED, "method: GET or POST only "
                      "(HEAD never pushes)");
}

static int lbf_push_handler(request_rec *r)
{
    struct lbf_global *g = lbf_global_get();

    if (r->handler == NULL || strcmp(r->handler, "lbfarm-push") != 0) {
        return DECLINED;
    }
    if ((r->method_number != M_GET && r->method_number != M_POST)
        || r->header_only) { /* HEAD is M_GET to httpd: no push on HEAD */
        return lbf_push_405(r);
    }
    if (g == NULL || g->shm.base == NULL) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if (r->method_number == M_POST) {
        return lbf_push_heartbeat(r, g, NULL, 0);
    }
    if (r->args == NULL || *r->args == '\0') {
        return lbf_answer(r, HTTP_BAD_REQUEST, "query: missing");
    }
    if (!strncmp(r->args, "v=", 2)) {
        return lbf_push_heartbeat(r, g, r->args, strlen(r->args));
    }
    if (r->method_number != M_GET) {
        return lbf_push_405(r);
    }
    return lbf_push_signed(r, g);
}

void lbf_push_register_hooks(apr_pool_t *p LBF_UNUSED)
{
    ap_hook_handler(lbf_push_handler, NULL, NULL, APR_HOOK_MIDDLE);
    /* after the module's own child_init (MIDDLE) attached the segment */
    ap_hook_child_init(lbf_names_child_init, NULL, NULL, APR_HOOK_LAST);
}
