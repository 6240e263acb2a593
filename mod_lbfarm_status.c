/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_status.c -- "SetHandler lbfarm-status": the farm table as an
 * HTML page (default), text, JSON or Prometheus (?format=...), and the
 * administrative POSTs of the page's forms.
 *
 * Collect (one row at a time, lock-free), render (pure, lbfarm_status.c),
 * emit: no lock is held while output is written.  A POST changes the
 * shared segment, so every child sees it at once and a graceful restart
 * carries it over; it needs both the session's nonce (an HMAC of the
 * HttpOnly, SameSite=Strict session cookie under a key drawn once per
 * server start with RAND_bytes) and a same-origin Origin (or Referer).
 * GET never changes anything.
 */
#include "apr_strings.h"
#include "http_protocol.h"
#include "http_request.h"

#include <openssl/rand.h>

#include "mod_lbfarm_status.h"
#include "lbfarm_status.h"

APLOG_USE_MODULE(lbfarm);

#define LBF_STATUS_KEY    "lbfarm-status-key" /* process pool userdata */
#define LBF_SID_COOKIE    "lbfstatus_sid"

/* Copied from the process pool at every post_config (before the children
 * are forked): the same in every child, kept across graceful restarts. */
static uint8_t lbf_admin_key[LBF_ADMIN_KEY];
static int lbf_admin_ready;
static char lbf_css_src[LBF_CSS_HASH_SIZE];

enum lbf_format { LBF_FMT_HTML, LBF_FMT_TEXT, LBF_FMT_JSON, LBF_FMT_PROM };

/* lbf_emit_f writing to the client of request ctx. */
static void lbf_emit_rwrite(void *ctx, const char *s, size_t n)
{
    ap_rwrite(s, (int)n, ctx);
}

/* Answer status with one line of text/plain (msg from the server or
 * validated input; text/plain with nosniff is never interpreted). */
static int lbf_status_answer(request_rec *r, int status, const char *msg)
{
    r->status = status;
    ap_set_content_type(r, "text/plain; charset=utf-8");
    ap_rprintf(r, "%s\n", msg);
    return OK;
}

/* Headers of every answer: no caching, no sniffing, no framing, and a
 * CSP that allows only the page's own <style> element and its forms. */
static void lbf_status_headers(request_rec *r, int html)
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

/* The <LBFarm> of each farm index of the segment (NULL: a balancer://),
 * an array of n_farms from p. */
static struct lbf_farm_conf **lbf_farm_confs(apr_pool_t *p,
                                             struct lbf_global *g)
{
    uint32_t n = g->shm.hdr->n_farms;
    struct lbf_farm_conf **by_fi = apr_pcalloc(p, (n + 1) * sizeof(*by_fi));
    int i;

    for (i = 0; i < g->farms->nelts; i++) {
        struct lbf_farm_conf *fc = APR_ARRAY_IDX(g->farms, i,
                                                 struct lbf_farm_conf *);
        if (fc->fi < n) {
            by_fi[fc->fi] = fc;
        }
    }
    return by_fi;
}

/* The URL of configured member mi of fc into s->url (runtime members
 * carry theirs in the row). */
static void lbf_snap_url(struct lbf_farm_conf *fc, uint32_t mi,
                         struct lbf_snap *s)
{
    struct lbf_member_conf *mc;

    if (fc == NULL || s->url[0] != '\0' || mi >= fc->l_rows) {
        return;
    }
    mc = __atomic_load_n(&fc->mconf[mi], __ATOMIC_ACQUIRE);
    if (mc != NULL && mc->url != NULL) {
        apr_cpystrn(s->url, mc->url, sizeof(s->url));
    }
}

/* Snapshot every live member of every farm into st (arrays from p), one
 * row at a time, no lock. */
static void lbf_collect(apr_pool_t *p, struct lbf_global *g,
                        struct lbf_status *st)
{
    const struct lbf_shm *h = &g->shm;
    struct lbf_farm_conf **fcs = lbf_farm_confs(p, g);
    uint32_t fi, mi, cap = h->hdr->n_rows;
    size_t k = 0;

    memset(st, 0, sizeof(*st));
    st->now_usec = (uint64_t)apr_time_now();
    st->generation = h->hdr->generation;
    st->recoveries = atomic_load(&h->hdr->recoveries);
    st->repairs = atomic_load(&h->hdr->repairs);
    st->n_farms = h->hdr->n_farms;
    st->farms = apr_pcalloc(p, (st->n_farms + 1) * sizeof(*st->farms));
    st->members = apr_palloc(p, (cap + 1) * sizeof(*st->members));
    for (fi = 0; fi < st->n_farms; fi++) {
        const struct lbf_farm *f = lbf_farm_at(h, fi);
        struct lbf_farm_snap *fs = &st->farms[fi];
        uint32_t n = f->n_rows; /* grows at runtime: read once */

        lbf_snap_farm(f, fs);
        fs->adminable = fcs[fi] != NULL;
        fs->first = k;
        for (mi = 0; mi < n && k < cap; mi++) {
            if (lbf_snap_member(h, f, mi, st->now_usec, &st->members[k])) {
                lbf_snap_url(fcs[fi], mi, &st->members[k++]);
            }
        }
        fs->n = k - fs->first;
    }
    st->n_members = k;
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

/* The value of cookie name in the request, or NULL. */
static const char *lbf_cookie(request_rec *r, const char *name)
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

/* The session of this browser: its valid cookie, or a new random id set
 * as an HttpOnly, SameSite=Strict cookie.  NULL when no id can be drawn. */
static const char *lbf_session(request_rec *r)
{
    const char *sid = lbf_cookie(r, LBF_SID_COOKIE);
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
    apr_table_addn(r->err_headers_out, "Set-Cookie",
                   apr_psprintf(r->pool, LBF_SID_COOKIE "=%s; Path=/; "
                                "HttpOnly; SameSite=Strict%s", hex,
                                strcmp(ap_http_scheme(r), "https") == 0
                                    ? "; Secure" : ""));
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
/* POST: administration                                                */

/* Log a refused administrative request at warn, at most once a second
 * per process (a flood must not flood the log). */
static void lbf_admin_refused(request_rec *r, const char *why)
{
    static _Atomic apr_time_t last;
    apr_time_t now = apr_time_now(), prev = atomic_load(&last);

    if (now - prev >= apr_time_from_sec(1)
        && atomic_compare_exchange_strong(&last, &prev, now)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "LBF00072: status "
                      "page: administrative request refused: %s", why);
    }
}

/* Read the form body of r (at most LBF_ADMIN_BODY_MAX bytes) into *body
 * (NUL-terminated, one spare byte) and *len.  Returns OK or an HTTP
 * status (413 too long, 415 not a form, 400 unreadable). */
static int lbf_read_form(request_rec *r, char **body, apr_size_t *len)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    size_t clen = sizeof("application/x-www-form-urlencoded") - 1;
    long got = 0;
    int rc;

    if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded",
                                  clen) != 0
        || (ct[clen] != '\0' && ct[clen] != ';' && ct[clen] != ' ')) {
        return HTTP_UNSUPPORTED_MEDIA_TYPE;
    }
    if ((rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK)) != OK) {
        return rc;
    }
    if (r->remaining > LBF_ADMIN_BODY_MAX) {
        return HTTP_REQUEST_ENTITY_TOO_LARGE;
    }
    *body = apr_palloc(r->pool, LBF_ADMIN_BODY_MAX + 2);
    *len = 0;
    if (ap_should_client_block(r)) {
        while (*len <= LBF_ADMIN_BODY_MAX
               && (got = ap_get_client_block(r, *body + *len,
                                             LBF_ADMIN_BODY_MAX + 1 - *len))
                      > 0) {
            *len += (apr_size_t)got;
        }
    }
    if (got < 0) {
        return HTTP_BAD_REQUEST;
    }
    if (*len > LBF_ADMIN_BODY_MAX) {
        return HTTP_REQUEST_ENTITY_TOO_LARGE;
    }
    (*body)[*len] = '\0';
    return OK;
}

/* The URL member i of farm fc/f is reached at ("" when unknown). */
static const char *lbf_member_url_at(struct lbf_global *g,
                                     struct lbf_farm_conf *fc,
                                     const struct lbf_farm *f, uint32_t i)
{
    struct lbf_row *row = lbf_member_at(&g->shm, f, i);
    struct lbf_member_conf *mc;

    if (row == NULL || atomic_load(&row->admin) == LBF_ADMIN_REMOVED) {
        return "";
    }
    if (row->runtime) {
        return row->url;
    }
    mc = i < fc->l_rows ? __atomic_load_n(&fc->mconf[i], __ATOMIC_ACQUIRE)
                        : NULL;
    return mc && mc->url ? mc->url : "";
}

/* Checks of a runtime addition beyond lbf_member_add_runtime's: no live
 * member has this name (a clear message first) or this URL, and a configured member of this name (removed
 * earlier) comes back only at its configured URL, the one this process
 * would use.  Returns NULL or the message of a 400. */
static const char *lbf_add_conflict(request_rec *r, struct lbf_global *g,
                                    struct lbf_farm_conf *fc,
                                    const struct lbf_farm *f,
                                    const char *name, const char *norm)
{
    uint32_t i, n = f->n_rows;
    int j = lbf_member_find(&g->shm, f, name);

    if (j >= 0 && atomic_load(&lbf_member_at(&g->shm, f, (uint32_t)j)->admin)
                  != LBF_ADMIN_REMOVED) {
        return "member: already in this farm";
    }
    for (i = 0; i < n; i++) {
        if (strcmp(lbf_member_url_at(g, fc, f, i), norm) == 0) {
            return apr_psprintf(r->pool, "url: already the URL of member "
                                "%s", lbf_member_at(&g->shm, f, i)->name);
        }
    }
    for (j = 0; j < fc->members->nelts; j++) {
        const struct lbf_member_conf *mc =
            &APR_ARRAY_IDX(fc->members, j, struct lbf_member_conf);

        if (strcmp(mc->name, name) == 0 && strcmp(mc->url, norm) != 0) {
            return apr_psprintf(r->pool, "member: %s is configured with "
                                "URL %s (re-add it with that URL, or change "
                                "the configuration)", name, mc->url);
        }
    }
    return NULL;
}

/* Add member q->member at q->url to farm fc.  Returns OK or answers a
 * 400 / 409 itself. */
static int lbf_admin_add(request_rec *r, struct lbf_global *g,
                         struct lbf_farm_conf *fc,
                         const struct lbf_admin_req *q)
{
    const struct lbf_farm *f = lbf_farm_at(&g->shm, fc->fi);
    const char *norm, *host, *err;
    apr_port_t port;
    int rc;

    if ((err = lbf_member_url(r->pool, q->url, &norm, &host, &port))) {
        return lbf_status_answer(r, HTTP_BAD_REQUEST,
                                 apr_pstrcat(r->pool, "url: ", err, NULL));
    }
    if (strlen(norm) >= LBF_URL_SIZE) {
        return lbf_status_answer(r, HTTP_BAD_REQUEST, "url: longer than 127 "
                                 "bytes once normalized");
    }
    if ((err = lbf_add_conflict(r, g, fc, f, q->member, norm))) {
        return lbf_status_answer(r, HTTP_BAD_REQUEST, err);
    }
    rc = lbf_member_add_runtime(&g->shm, fc->fi, q->member, norm, q->weight,
                                (uint32_t)fc->retry);
    if (rc == LBF_EEXIST) {
        return lbf_status_answer(r, HTTP_BAD_REQUEST, "member: already in "
                                 "this farm");
    }
    if (rc == LBF_ENOSPACE) {
        return lbf_status_answer(r, HTTP_CONFLICT, "farm: no spare row for "
                                 "another member (remove one, or add it to "
                                 "the configuration and reload)");
    }
    if (rc < 0) {
        return lbf_status_answer(r, HTTP_BAD_REQUEST, "member: cannot add");
    }
    return DONE;
}

/* Apply q to the shared segment.  Returns DONE when applied, or OK after
 * answering a 400/409 itself (nothing changed). */
static int lbf_admin_apply(request_rec *r, struct lbf_global *g,
                           const struct lbf_admin_req *q)
{
    char *key = apr_pstrdup(r->pool, q->farm);
    struct lbf_farm_conf *fc;
    struct lbf_farm *f;
    struct lbf_row *row = NULL;
    int mi = -1;

    ap_str_tolower(key);
    if ((fc = apr_hash_get(g->by_name, key, APR_HASH_KEY_STRING)) == NULL
        || (f = lbf_farm_at(&g->shm, fc->fi)) == NULL) {
        return lbf_status_answer(r, HTTP_BAD_REQUEST, "farm: unknown");
    }
    if (q->action == LBF_ACT_FARM_STATE) {
        lbf_farm_set_admin(f, q->state);
        return DONE;
    }
    if (q->action == LBF_ACT_MEMBER_ADD) {
        return lbf_admin_add(r, g, fc, q);
    }
    if ((mi = lbf_member_find(&g->shm, f, q->member)) >= 0) {
        row = lbf_member_at(&g->shm, f, (uint32_t)mi);
    }
    if (row == NULL || atomic_load(&row->admin) == LBF_ADMIN_REMOVED) {
        return lbf_status_answer(r, HTTP_BAD_REQUEST, "member: unknown in "
                                 "this farm");
    }
    if (q->action == LBF_ACT_MEMBER_STATE) {
        lbf_row_set_admin(row, q->state, (uint64_t)apr_time_now());
    }
    else if (q->action == LBF_ACT_MEMBER_WEIGHT) {
        lbf_member_set_weight(&g->shm, f, (uint32_t)mi, q->weight);
    }
    else {
        lbf_member_remove(&g->shm, f, (uint32_t)mi);
    }
    return DONE;
}

/* One line for the log of an applied request. */
static const char *lbf_admin_what(request_rec *r,
                                  const struct lbf_admin_req *q)
{
    static const char *const states[] = {"up", "offline", "drain"};

    switch (q->action) {
    case LBF_ACT_MEMBER_STATE:
        return apr_psprintf(r->pool, "member %s/%s state=%s", q->farm,
                            q->member, states[q->state % 3]);
    case LBF_ACT_MEMBER_WEIGHT:
        return apr_psprintf(r->pool, "member %s/%s weight=%u", q->farm,
                            q->member, (unsigned)q->weight);
    case LBF_ACT_FARM_STATE:
        return apr_psprintf(r->pool, "farm %s state=%s", q->farm,
                            q->state ? "offline" : "online");
    case LBF_ACT_MEMBER_ADD:
        return apr_psprintf(r->pool, "member %s/%s added at %s weight=%u",
                            q->farm, q->member, q->url, (unsigned)q->weight);
    default:
        return apr_psprintf(r->pool, "member %s/%s removed", q->farm,
                            q->member);
    }
}

/* POST: same origin, a form, the session's nonce, valid fields; then
 * apply and answer 303 back to the page. */
static int lbf_status_post(request_rec *r, struct lbf_global *g)
{
    struct lbf_admin_req q;
    char err[256], *body;
    apr_size_t len;
    int rc;

    lbf_status_headers(r, 0);
    if (!lbf_same_origin(ap_http_scheme(r),
                         apr_table_get(r->headers_in, "Host"),
                         apr_table_get(r->headers_in, "Origin"),
                         apr_table_get(r->headers_in, "Referer"))) {
        lbf_admin_refused(r, "cross-origin (Origin/Referer)");
        return lbf_status_answer(r, HTTP_FORBIDDEN, "origin: refused (the "
                                 "Origin, or the Referer, must be this "
                                 "page's scheme://host)");
    }
    if ((rc = lbf_read_form(r, &body, &len)) != OK) {
        return lbf_status_answer(r, rc, rc == HTTP_UNSUPPORTED_MEDIA_TYPE
                                 ? "body: expected application/x-www-form-"
                                   "urlencoded"
                                 : rc == HTTP_REQUEST_ENTITY_TOO_LARGE
                                 ? "body: longer than 4096 bytes"
                                 : "body: unreadable");
    }
    if (lbf_admin_parse(body, len, &q, err, sizeof(err)) != 0) {
        return lbf_status_answer(r, HTTP_BAD_REQUEST, err);
    }
    if (!lbf_admin_ready
        || !lbf_status_nonce_ok(lbf_admin_key, lbf_cookie(r, LBF_SID_COOKIE),
                                q.nonce)) {
        lbf_admin_refused(r, "missing or wrong nonce");
        return lbf_status_answer(r, HTTP_FORBIDDEN, "nonce: missing or "
                                 "wrong (reload the status page)");
    }
    if ((rc = lbf_admin_apply(r, g, &q)) != DONE) {
        return rc;
    }
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, "LBF00071: status page: "
                  "%s (from %s)", lbf_admin_what(r, &q), r->useragent_ip);
    apr_table_setn(r->headers_out, "Location", ap_escape_uri(r->pool,
                                                             r->uri));
    return HTTP_SEE_OTHER;
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
        /* httpd writes Allow from this list (HEAD goes with GET) */
        ap_allow_methods(r, 1, "GET", "POST", NULL);
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (g == NULL || g->shm.base == NULL) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    return r->method_number == M_POST ? lbf_status_post(r, g)
                                      : lbf_status_get(r, g);
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
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "LBF00070: status "
                     "page: cannot hash the style sheet");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    lbf_admin_ready = 1;
    return OK;
}

void lbf_status_register_hooks(apr_pool_t *p LBF_UNUSED)
{
    ap_hook_post_config(lbf_status_post_config, NULL, NULL,
                        APR_HOOK_MIDDLE);
    ap_hook_handler(lbf_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
