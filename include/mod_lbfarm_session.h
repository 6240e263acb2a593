/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_session.h -- sessions in the glue (mod_lbfarm_session.c):
 * sticky sessions, moves, instructions.
 */
#ifndef MOD_LBFARM_SESSION_H
#define MOD_LBFARM_SESSION_H

#include "mod_lbfarm_registry.h"

#define LBF_STICK_REFUSED (-2) /* stuck "always" to an unusable member */
const char *lbf_cmd_session_key(cmd_parms *cmd, void *dc, const char *arg);
const char *lbf_cmd_sticky(cmd_parms *cmd, void *dc, const char *args);
const char *lbf_cmd_route_cookie(cmd_parms *cmd, void *dc, const char *arg);
const char *lbf_cmd_instructions(cmd_parms *cmd, void *dc, int on);
void lbf_sess_farm_setup(apr_pool_t *p, struct lbf_farm_conf *fc);
void lbf_sess_member_setup(struct lbf_farm_conf *fc,
                           struct lbf_member_conf *mc);
struct lbf_farm_conf *lbf_sess_route_farm(request_rec *r,
                                          struct lbf_farm_conf *fc);
int lbf_sess_sticky(request_rec *r, struct lbf_farm_conf *fc,
                    const struct lbf_pick *pk);
void lbf_sess_chosen(request_rec *r, struct lbf_req *q,
                     struct lbf_farm_conf *fc, int mi, int stuck);
void lbf_sess_register_hooks(apr_pool_t *p);

#endif /* MOD_LBFARM_SESSION_H */
