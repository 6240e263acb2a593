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

/* check_config: warn (LBF00803) when farm fc sets pushed-load directives
 * (LBFarmMetric, LBFarmHeartbeat On, LBFarmMetricExpiry/Blackout,
 * LBFarmLoadSmoothing) that its method never reads; p for the message.
 * Returns 1 when it warned, else 0.  Config time. */
int lbf_push_check_farm(apr_pool_t *p, server_rec *s,
                        const struct lbf_farm_conf *fc);

#endif /* MOD_LBFARM_PUSH_H */
