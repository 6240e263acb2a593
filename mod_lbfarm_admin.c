/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_admin.c -- the administrative POST of the status page, and
 * LBFarmStatusOrigin.
 *
 * A POST changes the shared segment, so every child sees it at once and a
 * graceful restart carries it over.  It is obeyed only when (1) its Origin
 * (or Referer) is one of the origins this server answers for -- the
 * LBFarmStatusOrigin list of the virtual host, else its ServerName and
 * ServerAlias names on its scheme and port; never the Host header the
 * client chose, which a DNS-rebinding page controls -- and (2) it carries
 * the nonce of the session cookie it comes with.  The checks themselves
 * are pure (lbfarm_admin.h); this file reads the request and applies.
 */
#include "apr_strings.h"
#include "http_main.h"
#include "http_protocol.h"
#include "http_request.h"

#include "mod_lbfarm_status.h"
#include "mod_lbfarm_log.h"
#include "lbfarm_admin.h"

APLOG_USE_MODULE(lbfarm);

/* ------------------------------------------------------------------ */
/* Allowed origins                                                     */

/* The LBFarmStatusOrigin list of one server (main or virtual host). */
struct lbf_origin_conf {
    server_rec *s;
    apr_array_header_t *list;  /* struct lbf_origin */
};

/* struct lbf_origin_conf of every server that has the directive, from
 * pconf; NULL again when pconf is cleared (every restart reads the
 * configuration anew). */
static apr_array_header_t *lbf_origin_confs;

static apr_status_t lbf_origin_confs_gone(void *unused LBF_UNUSED)
{
    lbf_origin_confs = NULL;
    return APR_SUCCESS;
}

/* The LBFarmStatusOrigin list of s, or NULL. */
static apr_array_header_t *lbf_origin_list(const server_rec *s)
{
    int i;

    for (i = 0; lbf_origin_confs && i < lbf_origin_confs->nelts; i++) {
        struct lbf_origin_conf *oc = &APR_ARRAY_IDX(lbf_origin_confs, i,
                                                    struct lbf_origin_conf);
        if (oc->s == s) {
            return oc->list;
        }
    }
    return NULL;
}

/* LBFarmStatusOrigin scheme://host[:port] ... (ITERATE, server config and
 * <VirtualHost>): append each value, checked by lbf_origin_parse, to the
 * list of cmd->server.  Returns NULL or the error quoting the value.
 * Config time only (no lock). */
const char *lbf_cmd_status_origin(cmd_parms *cmd, void *dc LBF_UNUSED,
                                  const char *arg)
{
    apr_array_header_t *list;
    struct lbf_origin o;
    struct lbf_origin_conf *oc;

    if (lbf_origin_parse(arg, strlen(arg), 0, &o) != 0) {
        return apr_psprintf(cmd->pool, "LBFarmStatusOrigin: invalid origin "
                            "\"%s\" (expected http://host[:port] or "
                            "https://host[:port], nothing after)", arg);
    }
    if (lbf_origin_confs == NULL) {
        lbf_origin_confs = apr_array_make(cmd->pool, 4, sizeof(*oc));
        apr_pool_cleanup_register(cmd->pool, NULL, lbf_origin_confs_gone,
                                  apr_pool_cleanup_null);
    }
    if ((list = lbf_origin_list(cmd->server)) == NULL) {
        oc = apr_array_push(lbf_origin_confs);
        oc->s = cmd->server;
        oc->list = list = apr_array_make(cmd->pool, 2, sizeof(o));
    }
    *(struct lbf_origin *)apr_array_push(list) = o;
    return NULL;
}

/* Append scheme://name:port of every port in ports (0s skipped) to
 * list; a name that is no origin host (a ServerAlias with a port, ...)
 * is left out. */
static void lbf_origin_add(apr_pool_t *p, apr_array_header_t *list,
                           const char *scheme, const char *name,
                           const apr_port_t ports[2])
{
    /* an IPv6 ServerName may be kept without its brackets */
    int v6 = name != NULL && name[0] != '[' && strchr(name, ':') != NULL;
    int k;

    for (k = 0; k < 2 && name != NULL; k++) {
        const char *url = apr_psprintf(p, "%s://%s%s%s:%u", scheme,
                                       v6 ? "[" : "", name, v6 ? "]" : "",
                                       (unsigned)ports[k]);
        struct lbf_origin o;

        if (ports[k] != 0 && (k == 0 || ports[1] != ports[0])
            && lbf_origin_parse(url, strlen(url), 1, &o) == 0) {
            *(struct lbf_origin *)apr_array_push(list) = o;
        }
    }
}

/* The origins r's server answers for: its LBFarmStatusOrigin list (or
 * the main server's), else its ServerName and ServerAlias names (wildcards
 * kept) on r's scheme, at the port of ServerName and the port r came in
 * on. */
static apr_array_header_t *lbf_origins_of(request_rec *r)
{
    server_rec *s = r->server;
    apr_array_header_t *list = lbf_origin_list(s), *out;
    apr_port_t ports[2];
    int i;

    if (list != NULL || (list = lbf_origin_list(ap_server_conf)) != NULL) {
        return list;
    }
    ports[0] = s->port;
    ports[1] = r->connection->local_addr->port;
    out = apr_array_make(r->pool, 8, sizeof(struct lbf_origin));
    lbf_origin_add(r->pool, out, ap_http_scheme(r), s->server_hostname,
                   ports);
    for (i = 0; s->names && i < s->names->nelts; i++) {
        lbf_origin_add(r->pool, out, ap_http_scheme(r),
                       APR_ARRAY_IDX(s->names, i, const char *), ports);
    }
    for (i = 0; s->wild_names && i < s->wild_names->nelts; i++) {
        lbf_origin_add(r->pool, out, ap_http_scheme(r),
                       APR_ARRAY_IDX(s->wild_names, i, const char *), ports);
    }
    return out;
}

/* ------------------------------------------------------------------ */
/* The request                                                         */

/* Log a refused administrative request at warn, at most once a second
 * per process (a flood must not flood the log). */
static void lbf_admin_refused(request_rec *r, const char *why)
{
    LBF_LOG_LIMITED(r, APLOG_WARNING, apr_time_from_sec(1),
                    "LBF00072: status page: administrative request "
                    "refused: %s", why);
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

/* ------------------------------------------------------------------ */
/* Apply                                                               */

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
    mc = lbf_member_conf_at(fc, i);
    return mc && mc->url ? mc->url : "";
}

/* Checks of a runtime addition beyond lbf_member_add_runtime's: no live
 * member has this name (a clear message first) or this URL, and a
 * configured member of this name (removed earlier) comes back only at its
 * configured URL, the one this process would use.  Returns NULL or the
 * message of a 400. */
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

/* q->url as LBFarmMember takes it (lbf_member_url), with a host that can
 * name a server, into *norm.  Returns NULL or the message of a 400. */
static const char *lbf_add_url(request_rec *r, const char *url,
                               const char **norm)
{
    const char *err, *host;
    apr_port_t port;

    if ((err = lbf_member_url(r->pool, url, norm, &host, &port)) != NULL) {
        return apr_pstrcat(r->pool, "url: ", err, NULL);
    }
    if (!lbf_host_valid(host)) {
        return apr_psprintf(r->pool, "url: invalid host \"%s\" (expected a "
                            "host name, an IPv4 address or an [IPv6] "
                            "address)", host);
    }
    if (strlen(*norm) >= LBF_URL_SIZE) {
        return "url: longer than 127 bytes once normalized";
    }
    return NULL;
}

/* Add member q->member at q->url to farm fc.  Returns DONE when added,
 * or OK after answering a 400 / 409 itself. */
static int lbf_admin_add(request_rec *r, struct lbf_global *g,
                         struct lbf_farm_conf *fc,
                         const struct lbf_admin_req *q)
{
    const struct lbf_farm *f = lbf_farm_at(&g->shm, fc->fi);
    const char *norm, *err;
    int rc;

    if ((err = lbf_add_url(r, q->url, &norm)) != NULL
        || (err = lbf_add_conflict(r, g, fc, f, q->member, norm)) != NULL) {
        return lbf_status_answer(r, HTTP_BAD_REQUEST, err);
    }
    rc = lbf_member_add_runtime(&g->shm, fc->fi, q->member, norm, q->weight,
                                (uint32_t)fc->retry);
    if (rc == LBF_EEXIST) {
        return lbf_status_answer(r, HTTP_BAD_REQUEST, "member: already in "
                                 "this farm");
    }
    if (rc == LBF_ENOSPACE) {
        lbf_admin_refused(r, apr_psprintf(r->pool, "farm %s: no spare row "
                                          "for member %s", fc->name,
                                          q->member));
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
    struct lbf_farm_conf *fc;
    struct lbf_farm *f;
    struct lbf_row *row = NULL;
    int mi = -1;

    if ((fc = lbf_farm_by_name(q->farm, strlen(q->farm))) == NULL
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

int lbf_admin_post(request_rec *r, struct lbf_global *g)
{
    apr_array_header_t *origins = lbf_origins_of(r);
    const uint8_t *key = lbf_status_key();
    struct lbf_admin_req q;
    char err[256], *body;
    apr_size_t len;
    int rc;

    lbf_status_headers(r, 0);
    if (!lbf_origin_allowed((const struct lbf_origin *)origins->elts,
                            (size_t)origins->nelts,
                            apr_table_get(r->headers_in, "Origin"),
                            apr_table_get(r->headers_in, "Referer"))) {
        lbf_admin_refused(r, "cross-origin (Origin/Referer)");
        return lbf_status_answer(r, HTTP_FORBIDDEN, "origin: refused (the "
                                 "Origin, or the Referer, must be one of "
                                 "this server's names or LBFarmStatusOrigin)");
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
    if (key == NULL
        || !lbf_status_nonce_ok(key, lbf_status_cookie(r, LBF_SID_COOKIE),
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

/* handler, before the status page's own: a POST to SetHandler
 * lbfarm-status is an administrative request.  DECLINED for anything else
 * (GET and the rest are mod_lbfarm_status.c's). */
static int lbf_admin_handler(request_rec *r)
{
    struct lbf_global *g = lbf_global_get();

    if (r->handler == NULL || strcmp(r->handler, "lbfarm-status") != 0
        || r->method_number != M_POST) {
        return DECLINED;
    }
    if (g == NULL || g->shm.base == NULL) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    return lbf_admin_post(r, g);
}

void lbf_admin_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_handler(lbf_admin_handler, NULL, NULL, APR_HOOK_FIRST);
}
