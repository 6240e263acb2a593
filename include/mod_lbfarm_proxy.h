/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_proxy.h -- the request path and the lbmethod providers in
 * the glue (mod_lbfarm_proxy.c).
 */
#ifndef MOD_LBFARM_PROXY_H
#define MOD_LBFARM_PROXY_H

#include "mod_lbfarm_registry.h"

void lbf_proxy_register_hooks(apr_pool_t *p);
struct lbf_farm_conf *lbf_farm_by_host(const char *url, apr_size_t *hlen);
void lbf_proxy_child_init(apr_pool_t *pchild, server_rec *s);

#endif /* MOD_LBFARM_PROXY_H */
