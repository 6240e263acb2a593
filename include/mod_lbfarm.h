/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm.h -- the whole httpd glue, as mod_lbfarm.c wires it: one
 * header per glue file.  The glue only translates: configuration and
 * requests in, core calls (lbfarm_shm.h, lbfarm_method.h) out.  No
 * balancing logic lives here.
 *
 *   mod_lbfarm.c             module record, command table, hooks
 *   mod_lbfarm_segment.c     the shared segment's life cycle
 *   mod_lbfarm_directives.c  <LBFarm>, LBFarmMember, config checks
 *   mod_lbfarm_proxy.c       the request path, the lbmethod providers
 *   mod_lbfarm_status.c      SetHandler lbfarm-status
 *   mod_lbfarm_push.c        pushed metrics
 *   mod_lbfarm_session.c     sticky sessions, moves, instructions
 *   mod_lbfarm_health.c      health checks, error statuses, fallbacks
 *   mod_lbfarm_eject.c       outlier ejection, panic mode
 *   mod_lbfarm_registry.c    farms, members, lbf_global: the floor
 *
 * A glue file includes the headers of the files it calls, never this
 * one: the files below mod_lbfarm.c do not call up into it.
 */
#ifndef MOD_LBFARM_H
#define MOD_LBFARM_H

#include "mod_lbfarm_registry.h"
#include "mod_lbfarm_segment.h"
#include "mod_lbfarm_directives.h"
#include "mod_lbfarm_proxy.h"
#include "mod_lbfarm_status.h"
#include "mod_lbfarm_push.h"
#include "mod_lbfarm_session.h"
#include "mod_lbfarm_health.h"
#include "mod_lbfarm_eject.h"
#include "mod_lbfarm_method.h"
#include "mod_lbfarm_testhooks.h"

#endif /* MOD_LBFARM_H */
