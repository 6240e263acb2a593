/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_heartbeat.h -- the UDP receiver of mod_heartbeat's beats
 * (mod_lbfarm_heartbeat.c): LBFarmHeartbeatListen and its hooks.
 */
#ifndef MOD_LBFARM_HEARTBEAT_H
#define MOD_LBFARM_HEARTBEAT_H

#include "httpd.h"
#include "http_config.h"

/* LBFarmHeartbeatListen IPv4:PORT -- server level, at most once.  Returns
 * NULL or an error quoting the value (config time only). */
const char *lbf_cmd_hb_listen(cmd_parms *cmd, void *dc, const char *arg);

/* pre_config (reset), post_config (socket, watchdog singleton) and
 * child_init (ready flag) of the receiver. */
void lbf_hb_register_hooks(apr_pool_t *p);

#endif /* MOD_LBFARM_HEARTBEAT_H */
