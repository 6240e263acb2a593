/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_push.h -- pushed metrics in the glue (mod_lbfarm_push.c):
 * directives, key derivation, SetHandler lbfarm-push.
 */
#ifndef MOD_LBFARM_PUSH_H
#define MOD_LBFARM_PUSH_H

#include "mod_lbfarm_registry.h"

const char *lbf_cmd_push_key(cmd_parms *cmd, void *dc, const char *arg);
const char *lbf_cmd_metric(cmd_parms *cmd, void *dc, const char *args);
const char *lbf_cmd_push_time(cmd_parms *cmd, void *dc, const char *arg);
const char *lbf_cmd_push_rate(cmd_parms *cmd, void *dc, const char *a,
                              const char *b);
const char *lbf_cmd_heartbeat(cmd_parms *cmd, void *dc, int on);
const char *lbf_cmd_push_smoothing(cmd_parms *cmd, void *dc, const char *arg);
void lbf_push_farm_defaults(struct lbf_farm_conf *fc);
void lbf_push_farm_setup(struct lbf_farm_conf *fc, struct lbf_farm *f);
void lbf_push_member_setup(struct lbf_farm_conf *fc,
                           struct lbf_member_conf *mc);
void lbf_push_register_hooks(apr_pool_t *p);

#endif /* MOD_LBFARM_PUSH_H */
