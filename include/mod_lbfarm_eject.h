/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_eject.h -- outlier ejection and panic mode in the glue
 * (mod_lbfarm_eject.c): the directives LBFarmEject and LBFarmPanic, and
 * what the request path tells the core about each finished request.  The
 * rules live in the core (include/lbfarm_eject.h).
 */
#ifndef MOD_LBFARM_EJECT_H
#define MOD_LBFARM_EJECT_H

#include "mod_lbfarm_registry.h"
#include "lbfarm_eject.h"

/* LBFarmEject off | on | key=value...: the farm's ejection policy. */
const char *lbf_cmd_eject(cmd_parms *cmd, void *dc, const char *args);

/* LBFarmPanic PERCENT | off: the farm's panic threshold. */
const char *lbf_cmd_panic(cmd_parms *cmd, void *dc, const char *arg);

/* Resolve farm fc's policy (the defaults where nothing was configured).
 * Config time, once per farm. */
void lbf_eject_farm_setup(struct lbf_farm_conf *fc);

/* 1 when status is one of fc's LBFarmErrorStatus codes (which put a member
 * in error for its retry= at once), else 0.  Any thread; reads config. */
int lbf_is_error_status(const struct lbf_farm_conf *fc, int status);

/* What a finished attempt of r on fc's member row was: enum lbf_outcome
 * of a connect failure (connect_failed) or of r->status. */
int lbf_eject_outcome(const struct lbf_farm_conf *fc, int connect_failed,
                      int status);

/* Tell the core about one finished attempt (outcome) of r on row of farm
 * fc at now, and log a change of state.  Takes the farm lock only to
 * eject (lbf_eject_result).  Returns enum lbf_eject_rc. */
int lbf_eject_note(request_rec *r, struct lbf_farm_conf *fc,
                   struct lbf_row *row, int outcome, apr_time_t now);

#endif /* MOD_LBFARM_EJECT_H */
