/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_status.h -- what the two halves of "SetHandler lbfarm-status"
 * share (httpd glue only): mod_lbfarm_status.c answers GET and owns the
 * session and its key, mod_lbfarm_admin.c answers the administrative POST.
 */
#ifndef MOD_LBFARM_STATUS_H
#define MOD_LBFARM_STATUS_H

#include "mod_lbfarm_registry.h"

#define LBF_SID_COOKIE "lbfstatus_sid"

/* mod_lbfarm_status.c */

/* Register SetHandler lbfarm-status and its post_config key. */
void lbf_status_register_hooks(apr_pool_t *p);

/* LBFarmStatusOrigin origin...: the origins admin POSTs may come from. */
const char *lbf_cmd_status_origin(cmd_parms *cmd, void *dc, const char *arg);

/* Answer status with one line of text/plain (msg from the server or
 * validated input; text/plain with nosniff is never interpreted).
 * Returns OK (the answer is written). */
int lbf_status_answer(request_rec *r, int status, const char *msg);

/* The headers of every answer of the handler: no caching, no sniffing,
 * no framing, and a CSP (with html: the one that lets the page's <style>
 * element and forms through). */
void lbf_status_headers(request_rec *r, int html);

/* The value of cookie name in r's Cookie header (from r->pool), or NULL. */
const char *lbf_status_cookie(request_rec *r, const char *name);

/* The nonce key of this server start, or NULL before post_config made
 * it. */
const uint8_t *lbf_status_key(void);

/* mod_lbfarm_admin.c */

/* An administrative POST to the status page of r: same origin, a form,
 * the session's nonce, valid fields; then apply it to the segment of g
 * and answer 303 back to the page (or answer the refusal).  Returns what
 * the handler returns. */
int lbf_admin_post(request_rec *r, struct lbf_global *g);

/* The administrative POST's handler hook (runs before the status page's
 * own handler); called from the module's register_hooks. */
void lbf_admin_register_hooks(apr_pool_t *p);

#endif /* MOD_LBFARM_STATUS_H */
