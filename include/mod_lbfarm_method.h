/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_method.h -- the directives of the latency-aware rules
 * (mod_lbfarm_method.c): LBFarmLatencyDecay and LBFarmStall.
 */
#ifndef MOD_LBFARM_METHOD_H
#define MOD_LBFARM_METHOD_H

#include "mod_lbfarm_registry.h"

/* LBFarmLatencyDecay TIME: the time constant of the latency estimate. */
const char *lbf_cmd_latency_decay(cmd_parms *cmd, void *dc, const char *arg);

/* LBFarmStall on|off|K FLOOR: stall detection of the farm's members. */
const char *lbf_cmd_stall(cmd_parms *cmd, void *dc, const char *a,
                          const char *b);

#endif /* MOD_LBFARM_METHOD_H */
