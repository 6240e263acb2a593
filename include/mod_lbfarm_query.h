/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_query.h -- query mode (mod_lbfarm_query.c): "SetHandler
 * lbfarm-query" answers which member a request would get, read-only.
 */
#ifndef MOD_LBFARM_QUERY_H
#define MOD_LBFARM_QUERY_H

#include "httpd.h"
#include "http_config.h"

/* check_config (warn about an unprotected query location) and the
 * handler. */
void lbf_query_register_hooks(apr_pool_t *p);

#endif /* MOD_LBFARM_QUERY_H */
