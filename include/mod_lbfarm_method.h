/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_method.h -- the directives of the methods' rules
 * (mod_lbfarm_method.c): LBFarmLatencyDecay, LBFarmStall, LBFarmSlowStart
 * of balancer:// members; and the hash key (mod_lbfarm_hash.c).
 */
#ifndef MOD_LBFARM_METHOD_H
#define MOD_LBFARM_METHOD_H

#include "mod_lbfarm_registry.h"

/* LBFarmLatencyDecay TIME: the time constant of the latency estimate. */
const char *lbf_cmd_latency_decay(cmd_parms *cmd, void *dc, const char *arg);

/* LBFarmStall on|off|K FLOOR: stall detection of the farm's members. */
const char *lbf_cmd_stall(cmd_parms *cmd, void *dc, const char *a,
                          const char *b);

/* LBFarmHashKey cookie=NAME|header=NAME|path|query=NAME|client
 * [balance=C]: the hash key of the farm (mod_lbfarm_hash.c). */
const char *lbf_cmd_hash_key(cmd_parms *cmd, void *dc, const char *args);

/* Fill pk->key / key_len for method index method when it reads a key
 * (lbf_method_uses_key), else leave pk alone: farm mode (fc = the farm)
 * takes LBFarmHashKey's key and balance, balancer:// mode (fc NULL) the env
 * LBFARM_HASH_KEY; either falls back to the client address.  The key
 * lives in r's pool or r itself.  Request time, any thread. */
void lbf_hash_fill_key(request_rec *r, uint32_t method,
                       const struct lbf_farm_conf *fc, struct lbf_pick *pk);

/* LBFarmSlowStart TIME inside <LBFarm> (lbf_cmd_slowstart) or inside
 * <Proxy "balancer://name">: the ramp of that balancer's members. */
const char *lbf_cmd_slowstart_any(cmd_parms *cmd, void *dc,
                                  const char *arg);

/* Slow start (ms, 0 = none) configured for stock balancer name
 * ("balancer://..."), this generation.  Config time (post_config). */
uint32_t lbf_bal_slowstart_ms(apr_pool_t *pconf, const char *name);

#endif /* MOD_LBFARM_METHOD_H */
