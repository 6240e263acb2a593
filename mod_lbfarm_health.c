/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_health.c -- the life cycle of members and farms: active health
 * checks, error statuses, slow start, administrative farm state and the
 * "down" / "offline" fallbacks.
 *
 * Active checks run once per balancer, not once per child: every child has
 * a checker thread, and a check that falls due is claimed with one CAS on
 * the member's row (lbf_hc_claim), so exactly one process performs it and
 * all of them see the result in the segment.
 */
#include "apr_strings.h"
#include "apr_thread_proc.h"
#include "apr_network_io.h"
#include "http_protocol.h"
#include "http_request.h"

#include <stdatomic.h>

#include "mod_lbfarm_eject.h"
#include "mod_lbfarm_health.h"
#include "lbfarm_conf.h"

APLOG_USE_MODULE(lbfarm);

#define LBF_HC_TICK  apr_time_from_msec(200)

/* ------------------------------------------------------------------ */
/* Directives                                                          */

/* Parse time option val (seconds or "ms" suffix) within lo..hi seconds. */
static int lbf_time_opt(const char *val, apr_interval_time_t lo,
                        apr_interval_time_t hi, apr_interval_time_t *out)
{
    return ap_timeout_parameter_parse(val, out, "s") == APR_SUCCESS
           && *out >= lo && *out <= hi;
}

/* Apply one key=value option of LBFarmHealthCheck to fc. */
static const char *lbf_health_opt(cmd_parms *cmd, struct lbf_farm_conf *fc,
                                  const char *w)
{
    const char *eq = ap_strchr_c(w, '='), *v = eq ? eq + 1 : "";
    uint32_t n;
    size_t kl = eq ? (size_t)(eq - w) : strlen(w);

    if (kl == 8 && !strncasecmp(w, "interval", 8)
        && lbf_time_opt(v, apr_time_from_msec(200), apr_time_from_sec(3600),
                        &fc->hc_interval)) {
        return NULL;
    }
    if (kl == 7 && !strncasecmp(w, "timeout", 7)
        && lbf_time_opt(v, apr_time_from_msec(50), apr_time_from_sec(60),
                        &fc->hc_timeout)) {
        return NULL;
    }
    if (kl == 6 && !strncasecmp(w, "expect", 6)
        && lbf_parse_uint(v, 100, 599, &n) == 0) {
        fc->hc_expect = (int)n;
        return NULL;
    }
    if (kl == 4 && (!strncasecmp(w, "rise", 4) || !strncasecmp(w, "fall", 4))
        && lbf_parse_uint(v, 1, 100, &n) == 0) {
        *(w[0] == 'r' || w[0] == 'R' ? &fc->hc_rise : &fc->hc_fall) = (int)n;
        return NULL;
    }
    return apr_psprintf(cmd->pool, "LBFarmHealthCheck: invalid option \"%s\" "
                        "(interval=TIME, timeout=TIME, expect=100..599, "
                        "rise=1..100, fall=1..100)", w);
}

/* LBFarmHealthCheck /uri [interval=5] [timeout=2] [expect=200] [rise=2]
 * [fall=3] */
const char *lbf_cmd_health(cmd_parms *cmd, void *dc LBF_UNUSED,
                           const char *args)
{
    const char *err, *w;
    struct lbf_farm_conf *fc;

    LBF_FARM_OR_RETURN(cmd, fc);
    w = ap_getword_conf(cmd->pool, &args);
    if (w[0] != '/' || strpbrk(w, " \r\n\t")) {
        return apr_psprintf(cmd->pool, "LBFarmHealthCheck: expected a path "
                            "starting with '/', not \"%s\"", w);
    }
    fc->hc_uri = w;
    fc->hc_interval = apr_time_from_sec(5);
    fc->hc_timeout = apr_time_from_sec(2);
    fc->hc_expect = 200;
    fc->hc_rise = 2;
    fc->hc_fall = 3;
    while (*(w = ap_getword_conf(cmd->pool, &args))) {
        if ((err = lbf_health_opt(cmd, fc, w)) != NULL) {
            return err;
        }
    }
    return NULL;
}

/* LBFarmDownURL / LBFarmOfflineURL: a local path or an absolute URL. */
const char *lbf_cmd_fallback(cmd_parms *cmd, void *dc LBF_UNUSED,
                             const char *arg)
{
    struct lbf_farm_conf *fc;

    LBF_FARM_OR_RETURN(cmd, fc);
    if (arg[0] != '/' && !ap_is_url(arg)) {
        return apr_psprintf(cmd->pool, "%s: expected a local path or an "
                            "absolute URL, not \"%s\"", cmd->cmd->name, arg);
    }
    *(cmd->info ? &fc->offline_url : &fc->down_url) = arg;
    return NULL;
}

const char *lbf_cmd_farm_state(cmd_parms *cmd, void *dc LBF_UNUSED,
                               const char *arg)
{
    struct lbf_farm_conf *fc;

    LBF_FARM_OR_RETURN(cmd, fc);
    if (strcasecmp(arg, "online") && strcasecmp(arg, "offline")) {
        return apr_psprintf(cmd->pool, "LBFarmState: unknown state \"%s\" "
                            "(online, offline)", arg);
    }
    fc->offline = !strcasecmp(arg, "offline");
    return NULL;
}

const char *lbf_cmd_slowstart(cmd_parms *cmd, void *dc LBF_UNUSED,
                              const char *arg)
{
    struct lbf_farm_conf *fc;

    LBF_FARM_OR_RETURN(cmd, fc);
    if (!lbf_time_opt(arg, 0, apr_time_from_sec(3600), &fc->slowstart)) {
        return apr_psprintf(cmd->pool, "LBFarmSlowStart: invalid time \"%s\" "
                            "(0..3600 s, or with ms suffix)", arg);
    }
    return NULL;
}

/* LBFarmErrorStatus code...: responses that put the member in error. */
const char *lbf_cmd_error_status(cmd_parms *cmd, void *dc LBF_UNUSED,
                                 const char *arg)
{
    struct lbf_farm_conf *fc;
    uint32_t code;

    LBF_FARM_OR_RETURN(cmd, fc);
    if (lbf_parse_uint(arg, 400, 599, &code) != 0) {
        return apr_psprintf(cmd->pool, "LBFarmErrorStatus: invalid status "
                            "\"%s\" (400..599)", arg);
    }
    if (fc->error_status == NULL) {
        fc->error_status = apr_array_make(cmd->pool, 4, sizeof(int));
    }
    *(int *)apr_array_push(fc->error_status) = (int)code;
    return NULL;
}

void lbf_health_farm_setup(struct lbf_farm_conf *fc, struct lbf_farm *f)
{
    lbf_eject_farm_setup(fc);
    f->slowstart_ms = (uint32_t)apr_time_as_msec(fc->slowstart);
    f->cfg_admin = fc->offline ? LBF_ADMIN_OFFLINE : LBF_ADMIN_ENABLED;
    atomic_store(&f->admin, f->cfg_admin);
}

/* ------------------------------------------------------------------ */
/* Fallbacks                                                           */

/* 1 when the farm is administratively offline. */
static int lbf_farm_is_offline(struct lbf_farm_conf *fc)
{
    struct lbf_global *g = lbf_global_get();
    struct lbf_farm *f = lbf_farm_at(&g->shm, fc->fi);

    return f != NULL && atomic_load(&f->admin) == LBF_ADMIN_OFFLINE;
}

int lbf_farm_fallback(request_rec *r, struct lbf_farm_conf *fc)
{
    int offline = lbf_farm_is_offline(fc);
    const char *url = offline ? fc->offline_url : fc->down_url;

    /* as an ErrorDocument for this request: a local page is served with
     * the 503 status kept (no cache or monitor mistakes it for a success),
     * an absolute URL becomes a redirect */
    if (url != NULL) {
        ap_custom_response(r, HTTP_SERVICE_UNAVAILABLE, url);
    }
    apr_table_setn(r->err_headers_out, "Retry-After", offline ? "60" : "5");
    return HTTP_SERVICE_UNAVAILABLE;
}

/* ------------------------------------------------------------------ */
/* Active checks                                                       */

struct lbf_checker {
    apr_pool_t *pool;
    server_rec *s;
    apr_thread_t *thread;
    atomic_int stop;
};

/* GET fc's check URI on member mc: the HTTP status, or 0 for no answer.
 * https members get a TCP connect check (200 when it connects). */
static int lbf_hc_probe(apr_pool_t *p, struct lbf_farm_conf *fc,
                        struct lbf_member_conf *mc)
{
    apr_sockaddr_t *sa;
    apr_socket_t *sock;
    char buf[64];
    apr_size_t n;
    int status = 0;
    const char *req = apr_psprintf(p, "GET %s HTTP/1.0\r\nHost: %s:%u\r\n"
                                   "User-Agent: mod_lbfarm-check\r\n\r\n",
                                   fc->hc_uri, mc->host, (unsigned)mc->port);

    if (apr_sockaddr_info_get(&sa, mc->host, APR_UNSPEC, mc->port, 0, p)
        || apr_socket_create(&sock, sa->family, SOCK_STREAM, APR_PROTO_TCP, p)) {
        return 0;
    }
    apr_socket_timeout_set(sock, fc->hc_timeout);
    if (apr_socket_connect(sock, sa) == APR_SUCCESS) {
        if (!strncmp(mc->url, "https:", 6)) {
            status = 200;
        }
        else if (n = strlen(req), apr_socket_send(sock, req, &n) == 0) {
            n = sizeof(buf) - 1;
            if (apr_socket_recv(sock, buf, &n) == APR_SUCCESS && n >= 12
                && !strncmp(buf, "HTTP/1.", 7) && buf[8] == ' ') {
                buf[12] = '\0';
                status = atoi(buf + 9);
            }
        }
    }
    apr_socket_close(sock);
    return status;
}

/* Run the checks of fc that are due and that this process claims. */
static void lbf_hc_farm(struct lbf_checker *c, struct lbf_farm_conf *fc)
{
    struct lbf_global *g = lbf_global_get();
    struct lbf_farm *f = lbf_farm_at(&g->shm, fc->fi);
    struct lbf_member_conf *mc;
    uint32_t i = 0;

    while (f && !atomic_load(&c->stop) && (mc = lbf_member_next(fc, &i))) {
        struct lbf_row *row = lbf_member_at(&g->shm, f, mc->index);
        apr_time_t t0 = apr_time_now();
        apr_pool_t *p;
        int status;

        if (!row || !lbf_hc_claim(row, (uint64_t)t0,
                                  (uint64_t)fc->hc_interval)) {
            continue;
        }
        apr_pool_create(&p, c->pool);
        status = lbf_hc_probe(p, fc, mc);
        apr_pool_destroy(p);
        atomic_store(&row->hc_status, (uint32_t)status);
        atomic_store(&row->hc_ms, (uint32_t)apr_time_as_msec(apr_time_now()
                                                             - t0));
        if (status == fc->hc_expect) {
            lbf_row_progress(row, (uint64_t)apr_time_now()); /* unstalls */
            if (lbf_eject_clear(row, (uint64_t)apr_time_now())) {
                ap_log_error(APLOG_MARK, APLOG_INFO, 0, c->s, "LBF00723: "
                             "farm %s: member %s passed its check (%s): its "
                             "ejection or error ends", fc->name, mc->name,
                             fc->hc_uri);
            }
        }
        if (lbf_row_health_result(row, status == fc->hc_expect,
                                  (uint32_t)fc->hc_rise,
                                  (uint32_t)fc->hc_fall,
                                  (uint64_t)apr_time_now())) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, c->s, "LBF00060: farm "
                         "%s: member %s is now %s (check %s: %d)", fc->name,
                         mc->name, atomic_load(&row->health) ? "down" : "up",
                         fc->hc_uri, status);
        }
    }
}

static void *APR_THREAD_FUNC lbf_hc_thread(apr_thread_t *t, void *data)
{
    struct lbf_checker *c = data;
    struct lbf_global *g = lbf_global_get();
    int i;

    while (!atomic_load(&c->stop)) {
        for (i = 0; i < g->farms->nelts; i++) {
            struct lbf_farm_conf *fc = APR_ARRAY_IDX(g->farms, i,
                                                     struct lbf_farm_conf *);
            if (fc->hc_uri != NULL) {
                lbf_hc_farm(c, fc);
            }
        }
        apr_sleep(LBF_HC_TICK);
    }
    (void)t; /* return, not apr_thread_exit(): no unwinding of our frames */
    return NULL;
}

static apr_status_t lbf_hc_stop(void *data)
{
    struct lbf_checker *c = data;
    apr_status_t rv;

    atomic_store(&c->stop, 1);
    if (c->thread) {
        apr_thread_join(&rv, c->thread);
    }
    apr_pool_destroy(c->pool);
    return APR_SUCCESS;
}

void lbf_health_child_init(apr_pool_t *pchild, server_rec *s)
{
    struct lbf_global *g = lbf_global_get();
    struct lbf_checker *c;
    int i, any = 0;

    for (i = 0; i < g->farms->nelts; i++) {
        any |= APR_ARRAY_IDX(g->farms, i, struct lbf_farm_conf *)->hc_uri
               != NULL;
    }
    if (!any) {
        return;
    }
    c = apr_pcalloc(pchild, sizeof(*c));
    /* the thread's own pool: pchild is not ours to allocate from there */
    if (apr_pool_create_unmanaged_ex(&c->pool, NULL, NULL) != APR_SUCCESS) {
        return;
    }
    c->s = s;
    if (apr_thread_create(&c->thread, NULL, lbf_hc_thread, c, pchild)
        != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "LBF00061: cannot start "
                     "the health check thread in this child");
        return;
    }
    apr_pool_cleanup_register(pchild, c, lbf_hc_stop, apr_pool_cleanup_null);
}
