/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_retry.h -- one retry, on another member, of an idempotent
 * farm request whose member closed before its status line
 * (mod_lbfarm_retry.c).
 */
#ifndef MOD_LBFARM_RETRY_H
#define MOD_LBFARM_RETRY_H

#include "mod_lbfarm_registry.h"

/* Registers the scheme_handler that wraps mod_proxy_http's for farm-mode
 * GET and HEAD requests without a body (called from
 * lbf_proxy_register_hooks at hook registration; takes no lock). */
void lbf_retry_register_hooks(apr_pool_t *p);

#endif /* MOD_LBFARM_RETRY_H */
