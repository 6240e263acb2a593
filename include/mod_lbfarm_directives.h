/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_directives.h -- the core farm and member directives (<LBFarm>,
 * LBFarmMember, LBFarmMethod, LBFarmRetry) and the check of what
 * mod_proxy's directives say about farms (mod_lbfarm_directives.c).
 */
#ifndef MOD_LBFARM_DIRECTIVES_H
#define MOD_LBFARM_DIRECTIVES_H

#include "mod_lbfarm_registry.h"

/* <LBFarm name> ... </LBFarm>: declares a farm, then reads its body. */
const char *lbf_cmd_farm(cmd_parms *cmd, void *dc, const char *arg);

/* LBFarmMember name url [weight=N] [retry=S] [timeout=S]
 * [connectiontimeout=S] [standby] [state=up|offline|drain] */
const char *lbf_cmd_member(cmd_parms *cmd, void *dc, const char *args);

/* LBFarmMethod name */
const char *lbf_cmd_method(cmd_parms *cmd, void *dc, const char *arg);

/* LBFarmRetry seconds */
const char *lbf_cmd_retry(cmd_parms *cmd, void *dc, const char *arg);

/* check_config (also run by apache2 -t): refuses a ProxyPass to a farm
 * that does not exist (logged, HTTP_INTERNAL_SERVER_ERROR), then gives
 * every ProxyPassReverse to a farm one mapping per member (in pconf).
 * Returns OK or HTTP_INTERNAL_SERVER_ERROR. */
int lbf_conf_check(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);

/* pre_config (before httpd hands directives to their handlers): refuses
 * (LBF00805) any of our directives with a trailing "# comment", quoting
 * it, instead of the handler's puzzling "unknown option".  Returns OK or
 * HTTP_INTERNAL_SERVER_ERROR. */
int lbf_conf_check_comments(void);

#endif /* MOD_LBFARM_DIRECTIVES_H */
