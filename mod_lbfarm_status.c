/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_status.c -- "SetHandler lbfarm-status": the farm table as an
 * HTML page (default), text, JSON or Prometheus (?format=...); the
 * administrative POST of the page's forms is mod_lbfarm_admin.c.
 *
 * Collect (one row at a time, lock-free: lbfarm_snapshot.h), render (pure:
 * lbfarm_render.h, lbfarm_status_html.h), emit: no lock is held while
 * output is written.  The page gives every browser a session (an
 * HttpOnly, SameSite=Strict cookie) and its forms the session's nonce, an
 * HMAC under a key drawn once per server start with RAND_bytes.  GET
 * never changes anything.
 */
#include "apr_strings.h"
#include "http_protocol.h"
#include "http_request.h"

#include <openssl/rand.h>

#include "mod_lbfarm_status.h"
#include "mod_lbfarm_cookie.h"
#include "lbfarm_admin.h"
#include "lbfarm_render.h"
#include "lbfarm_snapshot.h"
#include "lbfarm_status_html.h"

APLOG_USE_MODULE(lbfarm);

#define LBF_STATUS_KEY    "lbfarm-status-key" /* process pool userdata */

/* Copied from the process pool at every post_config (before the children
 * are forked): the same in every child, kept across graceful restarts. */
static uint8_t lbf_admin_key[LBF_ADMIN_KEY];
static int lbf_admin_ready;
static char lbf_css_src[LBF_CSS_HASH_SIZE];

enum lbf_format { LBF_FMT_HTML, LBF_FMT_TEXT, LBF_FMT_JSON, LBF_FMT_PROM };

const uint8_t *lbf_status_key(void)
{
    return lbf_admin_ready ? lbf_admin_key : NULL;
}

/* lbf_emit_f writing to the client of request ctx. */
static void lbf_emit_rwrite(void *ctx, const char *s, size_t n)
{
    ap_rwrite(s, (int)n, ctx);
}

int lbf_status_answer(request_rec *r, int status, const char *msg)
{
    r->status = status;
    ap_set_content_type(r, "text/plain; charset=utf-8");
    ap_rprintf(r, "%s\n", msg);
    return OK;
}

void lbf_status_headers(request_rec *r, int html)
{
    apr_table_t *t = r->err_headers_out;

    apr_table_setn(t, "Cache-Control", "no-store");
    apr_table_setn(t, "X-Content-Type-Options", "nosniff");
    apr_table_setn(t, "X-Frame-Options", "DENY");
    apr_table_setn(t, "Referrer-Policy", "same-origin");
    apr_table_setn(t, "Content-Security-Policy", html
                   ? apr_psprintf(r->pool, "default-src 'none'; style-src "
                                  "'%s'; img-src data:; form-action 'self'; "
                                  "frame-ancestors 'none'; base-uri 'none'",
                                  lbf_css_src)
                   : "default-src 'none'; frame-ancestors 'none'");
}

/* ------------------------------------------------------------------ */
/* Collect                                                             */

/* What the snapshot asks the configuration: the <LBFarm> of each farm
 * index (NULL: a balancer://). */
struct lbf_collect_ctx {
    struct lbf_farm_conf **by_fi;
    uint32_t n;
};

/* lbf_snap_src.adminable: an <LBFarm> may be administered. */
static int lbf_collect_adminable(void *ctx, uint32_t fi)
{
    struct lbf_collect_ctx *c = ctx;

    return fi < c->n && c->by_fi[fi] != NULL;
}

/* lbf_snap_src.url: the URL of configured member mi of farm fi (runtime
 * members carry theirs in the row). */
static void lbf_collect_url(void *ctx, uint32_t fi, uint32_t mi, char *url)
{
    struct lbf_collect_ctx *c = ctx;
    struct lbf_member_conf *mc;

    if (fi < c->n && c->by_fi[fi] != NULL
        && (mc = lbf_member_conf_at(c->by_fi[fi], mi)) != NULL
        && mc->url != NULL) {
        apr_cpystrn(url, mc->url, LBF_URL_SIZE);
    }
}

/* Snapshot every live member of every farm of g into st (arrays from p),
 * one row at a time, no lock. */
static void lbf_collect(apr_pool_t *p, struct lbf_global *g,
                        struct lbf_status *st)
{
    struct lbf_collect_ctx c;
    struct lbf_snap_src src = {lbf_collect_adminable, lbf_collect_url, &c};
    size_t n_farms, n_members;
    int i;

    lbf_snap_sizes(&g->shm, &n_farms, &n_members);
    c.n = (uint32_t)n_farms;
    c.by_fi = apr_pcalloc(p, (n_farms + 1) * sizeof(*c.by_fi));
    for (i = 0; i < g->farms->nelts; i++) {
        struct lbf_farm_conf *fc = APR_ARRAY_IDX(g->farms, i,
                                                 struct lbf_farm_conf *);
        if (fc->fi < c.n) {
            c.by_fi[fc->fi] = fc;
        }
    }
    lbf_snap_collect(&g->shm, (uint64_t)apr_time_now(), &src,
                     apr_pcalloc(p, (n_farms + 1) * sizeof(*st->farms)),
                     apr_palloc(p, (n_members + 1) * sizeof(*st->members)),
                     st);
}

/* ------------------------------------------------------------------ */
/* GET                                                                 */

/* The format asked by ?format=; -1 when unknown. */
static int lbf_status_format(request_rec *r)
{
    static const char *const names[] = {"html", "text", "json",
                                        "prometheus"};
    char *args, *tok, *last;
    int k;

    if (r->args == NULL) {
        return LBF_FMT_HTML;
    }
    args = apr_pstrdup(r->pool, r->args);
    for (tok = apr_strtok(args, "&", &last); tok;
         tok = apr_strtok(NULL, "&", &last)) {
        if (strncmp(tok, "format=", 7) == 0) {
            for (k = 0; k < 4; k++) {
                if (strcmp(tok + 7, names[k]) == 0) {
                    return k;
                }
            }
            return -1;
        }
    }
    return LBF_FMT_HTML;
}

const char *lbf_status_cookie(request_rec *r, const char *name)
{
    const char *c = apr_table_get(r->headers_in, "Cookie");
    size_t nlen = strlen(name);

    while (c != NULL && *c) {
        while (*c == ' ' || *c == ';') {
            c++;
        }
        if (strncmp(c, name, nlen) == 0 && c[nlen] == '=') {
            c += nlen + 1;
            return apr_pstrmemdup(r->pool, c, strcspn(c, "; "));
        }
        c = strchr(c, ';');
    }
    return NULL;
}

/* Set the session cookie sid on the answer: HttpOnly, SameSite=Strict,
 * Secure over https.  (The one place that writes this cookie.) */
static void lbf_status_set_cookie(request_rec *r, const char *sid)
{
    static const struct lbf_cookie_policy pol = {LBF_SAMESITE_STRICT,
                                                 LBF_SECURE_TLS};
    const char *sc = lbf_cookie_header(r, &pol, LBF_SID_COOKIE, sid,
                                       LBF_COOKIE_SESSION);

    if (sc != NULL) {
        apr_table_addn(r->err_headers_out, "Set-Cookie", sc);
    }
}

/* The session of this browser: its valid cookie, or a new random id set
 * as a cookie.  NULL when no id can be drawn. */
static const char *lbf_session(request_rec *r)
{
    const char *sid = lbf_status_cookie(r, LBF_SID_COOKIE);
    unsigned char raw[LBF_SID_HEX / 2];
    char *hex;

    if (sid != NULL && lbf_status_sid_valid(sid)) {
        return sid;
    }
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        return NULL;
    }
    hex = apr_palloc(r->pool, LBF_SID_HEX + 1);
    ap_bin2hex(raw, sizeof(raw), hex);
    lbf_status_set_cookie(r, hex);
    return hex;
}

/* GET/HEAD: collect, then render in the asked format. */
static int lbf_status_get(request_rec *r, struct lbf_global *g)
{
    int fmt = lbf_status_format(r);
    struct lbf_html_opts opts = {NULL, NULL};
    char *nonce = apr_palloc(r->pool, LBF_NONCE_HEX + 1);
    const char *sid;
    struct lbf_status st;

    lbf_status_headers(r, fmt == LBF_FMT_HTML);
    if (fmt < 0) {
        return lbf_status_answer(r, HTTP_BAD_REQUEST, "format: expected "
                                 "html, text, json or prometheus");
    }
    if (fmt == LBF_FMT_HTML && lbf_admin_ready
        && (sid = lbf_session(r)) != NULL
        && lbf_status_nonce(lbf_admin_key, sid, nonce) == 0) {
        opts.nonce = nonce;
        opts.action = ap_escape_uri(r->pool, r->uri);
    }
    lbf_collect(r->pool, g, &st);
    ap_set_content_type(r, fmt == LBF_FMT_HTML ? "text/html; charset=utf-8"
                        : fmt == LBF_FMT_JSON ? "application/json"
                        : fmt == LBF_FMT_PROM
                            ? "text/plain; version=0.0.4; charset=utf-8"
                            : "text/plain; charset=utf-8");
    if (r->header_only) {
        return OK;
    }
    switch (fmt) {
    case LBF_FMT_HTML:
        lbf_render_html(&st, &opts, lbf_emit_rwrite, r);
        break;
    case LBF_FMT_JSON:
        lbf_render_json(&st, lbf_emit_rwrite, r);
        break;
    case LBF_FMT_PROM:
        lbf_render_prom(&st, lbf_emit_rwrite, r);
        break;
    default:
        lbf_render_text(&st, lbf_emit_rwrite, r);
    }
    return OK;
}

/* ------------------------------------------------------------------ */
/* Hooks                                                               */

static int lbf_status_handler(request_rec *r)
{
    struct lbf_global *g = lbf_global_get();

    if (r->handler == NULL || strcmp(r->handler, "lbfarm-status") != 0) {
        return DECLINED;
    }
    if (r->method_number != M_GET && r->method_number != M_POST) {
        lbf_status_headers(r, 0);
        /* our own 405: httpd's would add TRACE to Allow */
        ap_discard_request_body(r);
        apr_table_setn(r->headers_out, "Allow", "GET, HEAD, POST");
        return lbf_status_answer(r, HTTP_METHOD_NOT_ALLOWED, "method: GET, "
                                 "HEAD or POST only");
    }
    if (r->method_number == M_POST) {
        return DECLINED; /* mod_lbfarm_admin.c's handler, which runs first */
    }
    if (g == NULL || g->shm.base == NULL) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    return lbf_status_get(r, g);
}

/* post_config: draw the nonce key once per server start (the process
 * pool outlives graceful restarts, and children inherit it), and hash
 * the page's style sheet for its CSP. */
static int lbf_status_post_config(apr_pool_t *pconf LBF_UNUSED,
                                  apr_pool_t *plog LBF_UNUSED,
                                  apr_pool_t *ptemp LBF_UNUSED, server_rec *s)
{
    uint8_t *key = NULL;

    apr_pool_userdata_get((void **)&key, LBF_STATUS_KEY, s->process->pool);
    if (key == NULL) {
        key = apr_palloc(s->process->pool, LBF_ADMIN_KEY);
        if (RAND_bytes(key, LBF_ADMIN_KEY) != 1) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "LBF00070: status "
                         "page: cannot draw a random key");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        apr_pool_userdata_set(key, LBF_STATUS_KEY, apr_pool_cleanup_null,
                              s->process->pool);
    }
    memcpy(lbf_admin_key, key, LBF_ADMIN_KEY);
    if (lbf_status_css_hash(lbf_css_src) != 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "LBF00200: status "
                     "page: cannot hash the style sheet");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    lbf_admin_ready = 1;
    return OK;
}

/* The status page's hooks (called from the module's register_hooks):
 * post_config and the handler of GET and POST. */
void lbf_status_register_hooks(apr_pool_t *p LBF_UNUSED)
{
    ap_hook_post_config(lbf_status_post_config, NULL, NULL,
                        APR_HOOK_MIDDLE);
    ap_hook_handler(lbf_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
