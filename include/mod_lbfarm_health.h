/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_health.h -- the life cycle of members and farms in the glue
 * (mod_lbfarm_health.c): health checks, error statuses, fallbacks.
 */
#ifndef MOD_LBFARM_HEALTH_H
#define MOD_LBFARM_HEALTH_H

#include "mod_lbfarm_registry.h"

const char *lbf_cmd_health(cmd_parms *cmd, void *dc, const char *args);
const char *lbf_cmd_fallback(cmd_parms *cmd, void *dc, const char *arg);
const char *lbf_cmd_farm_state(cmd_parms *cmd, void *dc, const char *arg);
const char *lbf_cmd_slowstart(cmd_parms *cmd, void *dc, const char *arg);
const char *lbf_cmd_error_status(cmd_parms *cmd, void *dc, const char *arg);
void lbf_health_farm_setup(struct lbf_farm_conf *fc, struct lbf_farm *f);
void lbf_health_child_init(apr_pool_t *pchild, server_rec *s);
int lbf_farm_fallback(request_rec *r, struct lbf_farm_conf *fc);

#endif /* MOD_LBFARM_HEALTH_H */
