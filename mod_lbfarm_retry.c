/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_retry.c -- a farm-mode GET or HEAD whose member dies with the
 * request in flight is served by another member (issue 12: "a member
 * SIGKILLed under load -> 0 failed idempotent GETs").
 *
 * What mod_proxy does on its own (httpd 2.4 proxy_handler and
 * mod_proxy_http's ap_proxy_http_process_response):
 *  - connect refused: mod_proxy_http returns 503, proxy_handler marks the
 *    worker in error and, within the balancer's max_attempts, asks
 *    pre_request again: our lbf_pre_request picks another member.
 *  - the member accepted the request and closed before its status line
 *    (killed, crashed): on a client connection that already carried a
 *    request, mod_proxy_http closes the client connection without any
 *    answer (so that the client may retry) -- an EOC nobody can take back;
 *    on a first request it answers 502.  Neither is retried.
 * nginx (proxy_next_upstream error) and HAProxy (retry-on) retry such a
 * request on another server when it is idempotent and nothing of its
 * response was sent.  This scheme_handler, run ahead of mod_proxy_http's,
 * does that for a request that
 *  - went through our pre_request (LBFARM_FARM is set), is no subrequest,
 *  - is GET or HEAD without a body (no Content-Length above 0, no
 *    Transfer-Encoding), on a client connection still open,
 *  - has not been retried this way already (one retry per request).
 * It runs the scheme handlers itself (mod_proxy_http's does the work) with
 * the client connection's keepalives count at 0 for the call, so that a
 * member closing early ends in mod_proxy_http's 502 path ("Error reading
 * from remote server", nothing sent) instead of the irrevocable close;
 * the count is restored (plus what the call added) after it, and a
 * connection at its MaxKeepAliveRequests is closed after the answer as
 * ap_set_keepalive would have (only the max= of an HTTP/1.0 Keep-Alive
 * header counts from this request then).  A 502 with
 * no byte of response sent and no read timeout (proxy_timedout: a slow
 * member is not retried, that would double its load) becomes a 503: the
 * proxy_handler loop then marks the member in error and pre_request picks
 * another one, exactly as for a refused connect.  Anything else --
 * another method, a body, a response that began, a second failure -- is
 * returned as mod_proxy_http returned it.
 */
#include "apr_strings.h"
#include "http_protocol.h"

#include "mod_lbfarm_retry.h"

APLOG_USE_MODULE(lbfarm);

#define LBF_RETRY_INNER "lbfarm-retry-inner" /* r->notes: the nested run */
#define LBF_RETRY_DONE  "lbfarm-retried"     /* r->notes: retried once */

/* 1 when r may be sent again to another member if its member closes
 * before answering (see the top of this file). */
static int lbf_retry_eligible(request_rec *r)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");

    if (r->main != NULL || r->connection->aborted
        || r->method_number != M_GET /* HEAD too */
        || apr_table_get(r->subprocess_env, "LBFARM_FARM") == NULL
        || apr_table_get(r->notes, LBF_RETRY_DONE) != NULL) {
        return 0;
    }
    if (cl != NULL && strcmp(cl, "0") != 0) {
        return 0;
    }
    return apr_table_get(r->headers_in, "Transfer-Encoding") == NULL;
}

/* 1 when status (the scheme handlers' answer to r) says the member failed
 * before any byte of the response went out, for another reason than a
 * read timeout. */
static int lbf_retry_unanswered(request_rec *r, int status)
{
    return status == HTTP_BAD_GATEWAY && r->sent_bodyct == 0
           && r->bytes_sent == 0 && !r->connection->aborted
           && apr_table_get(r->notes, "proxy_timedout") == NULL;
}

/* scheme_handler, ahead of mod_proxy_http's: runs the scheme handlers
 * for an eligible request and turns an unanswered 502 into one 503 that
 * proxy_handler retries on another member.  Declines anything else. */
static int lbf_retry_scheme_handler(request_rec *r, proxy_worker *worker,
                                    proxy_server_conf *conf, char *url,
                                    const char *proxyname,
                                    apr_port_t proxyport)
{
    conn_rec *c = r->connection;
    int keepalives, status;

    if (apr_table_get(r->notes, LBF_RETRY_INNER) != NULL
        || !lbf_retry_eligible(r)) {
        return DECLINED;
    }
    apr_table_setn(r->notes, LBF_RETRY_INNER, "1");
    keepalives = c->keepalives;
    if (r->server->keep_alive_max > 0
        && keepalives >= r->server->keep_alive_max) {
        c->keepalive = AP_CONN_CLOSE; /* MaxKeepAliveRequests, which
                                         ap_set_keepalive cannot see now */
    }
    c->keepalives = 0; /* a failure answers 502 instead of closing c */
    status = proxy_run_scheme_handler(r, worker, conf, url, proxyname,
                                      proxyport);
    c->keepalives += keepalives;
    apr_table_unset(r->notes, LBF_RETRY_INNER);
    if (!lbf_retry_unanswered(r, status)) {
        return status;
    }
    apr_table_setn(r->notes, LBF_RETRY_DONE, "1");
    apr_table_unset(r->notes, "error-notes");
    apr_table_unset(r->notes, "verbose-error-to");
    r->status_line = NULL;
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "LBF00851: farm %s: "
                  "member %s closed before answering %s %s; sending it once "
                  "to another member",
                  apr_table_get(r->subprocess_env, "LBFARM_FARM"),
                  apr_table_get(r->subprocess_env, "LBFARM_MEMBER"),
                  r->method, r->uri);
    return HTTP_SERVICE_UNAVAILABLE;
}

void lbf_retry_register_hooks(apr_pool_t *p)
{
    static const char *const succ[] = {"mod_proxy_http.c", NULL};

    (void)p;
    proxy_hook_scheme_handler(lbf_retry_scheme_handler, NULL, succ,
                              APR_HOOK_FIRST);
}
