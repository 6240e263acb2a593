/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_query.c -- "SetHandler lbfarm-query": which member would a
 * request to a farm get, and why, without forwarding anything (the
 * question and the answer's format: lbfarm_query.h).
 *
 * The decision is the request path's (mod_lbfarm_proxy.c lbf_pre_request)
 * made of the same calls -- move cookies (lbf_sess_route_farm), the farm's
 * admin state, stickiness (lbf_sess_sticky), the method -- except that the
 * method is asked with lbf_pick_peek: nothing is taken (no inflight++, no
 * requests++) and weighted's shared cursor does not move, so the answer is
 * the very pick the next request in the same state gets.
 *
 * Read-only but revealing (which member holds which session): protect it
 * like the status page, with Require.  check_config warns about a
 * SetHandler lbfarm-query whose section holds no access directive.
 */
#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"

#include <stdatomic.h>

#include "mod_lbfarm.h"
#include "mod_lbfarm_query.h"
#include "lbfarm_query.h"

APLOG_USE_MODULE(lbfarm);

#define LBF_QUERY_HANDLER "lbfarm-query"

/* Answer status with a one-line text body; returns OK (we wrote it). */
static int lbf_query_error(request_rec *r, int status, const char *msg)
{
    r->status = status;
    ap_set_content_type(r, "text/plain; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_rprintf(r, "%s\n", msg);
    return OK;
}

/* Fill a's fallback fields: the reason, and what the request would get
 * (the farm's down or offline URL, else a 503). */
static void lbf_query_fallback(struct lbf_query_answer *a,
                               const struct lbf_farm_conf *fc, int offline,
                               const char *reason)
{
    const char *url = offline ? fc->offline_url : fc->down_url;

    a->why = LBF_WHY_FALLBACK;
    a->member = NULL;
    a->reason = reason;
    a->fallback = url ? url : "503";
}

/* The member of fc that a request with Cookie: q->cookie would get, as
 * the request path decides it, into a.  r's own Cookie header and query
 * string stand aside meanwhile (the route parameter is read from cookie=
 * only) and are put back.  Takes nothing. */
static void lbf_query_decide(request_rec *r, struct lbf_global *g,
                             struct lbf_farm_conf *fc,
                             const struct lbf_query *q,
                             struct lbf_query_answer *a)
{
    const char *cookie = apr_table_get(r->headers_in, "Cookie");
    char *args = r->args;
    uint64_t rng = (uint64_t)apr_time_now() | 1u; /* ties need no secret */
    struct lbf_farm_conf *to;
    struct lbf_member_conf *mc;
    struct lbf_pick pk;
    int mi, offline;

    r->args = NULL;
    apr_table_unset(r->headers_in, "Cookie");
    if (q->has_cookie) {
        apr_table_setn(r->headers_in, "Cookie", q->cookie);
    }
    to = lbf_sess_route_farm(r, fc);
    memset(a, 0, sizeof(*a));
    a->farm = to->name;
    a->moved_from = to != fc ? fc->name : NULL;
    a->method = lbf_method_name((uint32_t)to->method);
    a->key = q->has_key ? q->key : NULL;
    a->key_len = q->key_len;
    memset(&pk, 0, sizeof(pk));
    pk.h = &g->shm;
    pk.farm = lbf_farm_at(&g->shm, to->fi);
    pk.now = (uint64_t)apr_time_now();
    pk.rng = &rng;
    pk.exclude = LBF_NO_MEMBER;
    pk.key = a->key;
    pk.key_len = a->key_len;
    offline = atomic_load(&pk.farm->admin) == LBF_ADMIN_OFFLINE;
    mi = offline ? -1 : lbf_sess_sticky(r, to, &pk);
    a->why = mi >= 0 ? LBF_WHY_STICKY : LBF_WHY_METHOD;
    if (!offline && mi == -1) {
        mi = lbf_pick_peek((uint32_t)to->method, &pk);
    }
    r->args = args;
    apr_table_unset(r->headers_in, "Cookie");
    if (cookie != NULL) {
        apr_table_setn(r->headers_in, "Cookie", cookie);
    }
    mc = mi >= 0 ? lbf_member_conf_at(to, (uint32_t)mi) : NULL;
    if (mc != NULL) {
        a->member = mc->name;
    }
    else {
        lbf_query_fallback(a, to, offline,
                           offline ? "farm-offline"
                           : mi == LBF_STICK_REFUSED ? "stuck-member-unusable"
                           : "no-usable-member");
    }
}

static int lbf_query_handler(request_rec *r)
{
    struct lbf_global *g = lbf_global_get();
    struct lbf_farm_conf *fc;
    struct lbf_query_answer a;
    struct lbf_query *q;
    char err[160], *out;
    size_t n;

    if (r->handler == NULL || strcmp(r->handler, LBF_QUERY_HANDLER) != 0) {
        return DECLINED;
    }
    if (r->method_number != M_GET) {
        /* our own 405: httpd's would add TRACE to Allow */
        ap_discard_request_body(r);
        apr_table_setn(r->headers_out, "Allow", "GET, HEAD");
        return lbf_query_error(r, HTTP_METHOD_NOT_ALLOWED, "method: GET or "
                               "HEAD only");
    }
    if (g == NULL || g->shm.base == NULL) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    q = apr_palloc(r->pool, sizeof(*q));
    if (lbf_query_parse(r->args ? r->args : "",
                        r->args ? strlen(r->args) : 0, q, err,
                        sizeof(err)) != 0) {
        return lbf_query_error(r, HTTP_BAD_REQUEST, err);
    }
    if ((fc = lbf_farm_by_name(q->farm, strlen(q->farm))) == NULL) {
        return lbf_query_error(r, HTTP_NOT_FOUND, "farm: unknown");
    }
    lbf_query_decide(r, g, fc, q, &a);
    n = lbf_query_render(&a, q->json, NULL, 0); /* its length */
    out = apr_palloc(r->pool, n + 1);
    lbf_query_render(&a, q->json, out, n + 1);
    ap_set_content_type(r, q->json ? "application/json"
                                   : "text/plain; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    ap_rwrite(out, (int)n, r);
    return OK;
}

/* ------------------------------------------------------------------ */
/* Start-up: a query location with no access control                   */

/* 1 when directive name d restricts access (mod_authz_core, the 2.2
 * style of mod_access_compat, or authentication). */
static int lbf_is_access_directive(const char *d)
{
    static const char *const acl[] = {
        "Require", "<RequireAll", "<RequireAny", "<RequireNone", "Allow",
        "Deny", "Order", "AuthType", NULL
    };
    int i;

    for (i = 0; acl[i] != NULL; i++) {
        if (strcasecmp(d, acl[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* 1 when the section holding d, or one enclosing it, has an access
 * directive.  Access set by another section for the same path is not
 * seen (hence a warning, not an error). */
static int lbf_section_protected(const ap_directive_t *d)
{
    const ap_directive_t *sec, *c;

    for (sec = d->parent; sec != NULL; sec = sec->parent) {
        for (c = sec->first_child; c != NULL; c = c->next) {
            if (lbf_is_access_directive(c->directive)) {
                return 1;
            }
        }
    }
    return 0;
}

/* Warn for each SetHandler lbfarm-query under d with no access control
 * in its sections.  Returns how many. */
static int lbf_query_check_tree(apr_pool_t *p, server_rec *s,
                                const ap_directive_t *d)
{
    int n = 0;

    for (; d != NULL; d = d->next) {
        const char *args = d->args;

        if (strcasecmp(d->directive, "SetHandler") == 0
            && strcasecmp(ap_getword_conf(p, &args), LBF_QUERY_HANDLER) == 0
            && !lbf_section_protected(d)) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "LBF00640: "
                         "SetHandler %s at %s:%d: no Require in its section: "
                         "anyone who reaches it learns which member serves "
                         "which session; restrict it like the status page "
                         "(Require ip ...)", LBF_QUERY_HANDLER, d->filename,
                         d->line_num);
            n++;
        }
        n += lbf_query_check_tree(p, s, d->first_child);
    }
    return n;
}

static int lbf_query_check_config(apr_pool_t *pconf LBF_UNUSED,
                                  apr_pool_t *plog LBF_UNUSED,
                                  apr_pool_t *ptemp, server_rec *s)
{
    lbf_query_check_tree(ptemp, s, ap_conftree);
    return OK;
}

void lbf_query_register_hooks(apr_pool_t *p LBF_UNUSED)
{
    ap_hook_check_config(lbf_query_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(lbf_query_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
