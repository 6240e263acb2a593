/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_method.c -- the directives that tune the latency estimate and
 * stall detection of a farm (the rules live in the core:
 * lbfarm_leasttime.c, include/lbfarm_method.h):
 *
 *   LBFarmLatencyDecay TIME        time constant of the estimate (2s)
 *   LBFarmStall on|off|K FLOOR     stall detection (on for least-time,
 *                                  off for the others; K 4, FLOOR 100ms)
 *
 * The values land in the farm's struct lbf_tune; the request path hands it
 * to every pick (struct lbf_pick.tune) and the core copies it into the
 * rows it takes.
 */
#include "apr_strings.h"

#include "mod_lbfarm_method.h"
#include "mod_lbfarm_health.h"
#include "lbfarm_conf.h"

APLOG_USE_MODULE(lbfarm);

#define LBF_DECAY_MIN apr_time_from_msec(100)
#define LBF_DECAY_MAX apr_time_from_sec(600)
#define LBF_FLOOR_MIN apr_time_from_msec(1)
#define LBF_FLOOR_MAX apr_time_from_msec(LBF_STALL_FLOOR_MAX)

/* LBFarmLatencyDecay TIME: seconds, or with a unit (500ms). */
const char *lbf_cmd_latency_decay(cmd_parms *cmd, void *dc LBF_UNUSED,
                                  const char *arg)
{
    struct lbf_farm_conf *fc;
    apr_interval_time_t t;

    LBF_FARM_OR_RETURN(cmd, fc);
    if (ap_timeout_parameter_parse(arg, &t, "s") != APR_SUCCESS
        || t < LBF_DECAY_MIN || t > LBF_DECAY_MAX) {
        return apr_psprintf(cmd->pool, "LBFarmLatencyDecay: invalid time "
                            "\"%s\" (100ms..600s; seconds unless a unit "
                            "such as ms is given)", arg);
    }
    fc->tune.decay_ms = (uint32_t)apr_time_as_msec(t);
    return NULL;
}

/* LBFarmStall on | off | K FLOOR (FLOOR in ms unless a unit is given). */
const char *lbf_cmd_stall(cmd_parms *cmd, void *dc LBF_UNUSED, const char *a,
                          const char *b)
{
    struct lbf_farm_conf *fc;
    apr_interval_time_t t;
    uint32_t k;

    LBF_FARM_OR_RETURN(cmd, fc);
    if (b == NULL && (!strcasecmp(a, "on") || !strcasecmp(a, "off"))) {
        fc->tune.stall = !strcasecmp(a, "on") ? LBF_STALL_ON : LBF_STALL_OFF;
        return NULL;
    }
    if (b == NULL) {
        return apr_psprintf(cmd->pool, "LBFarmStall: expected on, off or "
                            "K FLOOR, not \"%s\"", a);
    }
    if (lbf_parse_uint(a, 1, LBF_STALL_K_MAX, &k) != 0) {
        return apr_psprintf(cmd->pool, "LBFarmStall: invalid K \"%s\" "
                            "(1..%d: multiples of the member's p99)", a,
                            LBF_STALL_K_MAX);
    }
    if (ap_timeout_parameter_parse(b, &t, "ms") != APR_SUCCESS
        || t < LBF_FLOOR_MIN || t > LBF_FLOOR_MAX) {
        return apr_psprintf(cmd->pool, "LBFarmStall: invalid FLOOR \"%s\" "
                            "(1ms..3600s; milliseconds unless a unit such "
                            "as s is given)", b);
    }
    fc->tune.stall = LBF_STALL_ON;
    fc->tune.stall_k = k;
    fc->tune.stall_floor_ms = (uint32_t)apr_time_as_msec(t);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Slow start of stock balancer:// members                             */

#define LBF_BAL_SLOWSTART_KEY "lbfarm-balancer-slowstart"
#define LBF_BAL_SCHEME "balancer://"

/* The balancer name -> slow-start ms table of this configuration
 * generation (userdata of pconf, so a restart starts a new one). */
static apr_hash_t *lbf_bal_slowstarts(apr_pool_t *pconf)
{
    apr_hash_t *t = NULL;

    apr_pool_userdata_get((void **)&t, LBF_BAL_SLOWSTART_KEY, pconf);
    if (t == NULL) {
        t = apr_hash_make(pconf);
        apr_pool_userdata_setn(t, LBF_BAL_SLOWSTART_KEY, NULL, pconf);
    }
    return t;
}

/* "balancer://name" of s, lowercase, without a trailing '/'. */
static char *lbf_bal_key(apr_pool_t *p, const char *s)
{
    char *k = apr_pstrdup(p, s);
    size_t n = strlen(k);

    while (n > sizeof(LBF_BAL_SCHEME) - 1 && k[n - 1] == '/') {
        k[--n] = '\0';
    }
    ap_str_tolower(k);
    return k;
}

const char *lbf_cmd_slowstart_any(cmd_parms *cmd, void *dc,
                                  const char *arg)
{
    struct lbf_farm_conf *fc;
    const char *err;
    apr_interval_time_t t;
    uint32_t *ms;

    if ((fc = lbf_farm_current(cmd, &err)) != NULL || cmd->path == NULL) {
        return lbf_cmd_slowstart(cmd, dc, arg); /* <LBFarm> (its errors) */
    }
    if (strncasecmp(cmd->path, LBF_BAL_SCHEME, sizeof(LBF_BAL_SCHEME) - 1)) {
        return apr_psprintf(cmd->pool, "LBFarmSlowStart: only inside "
                            "<LBFarm> or <Proxy \"balancer://...\">, not in "
                            "\"%s\"", cmd->path);
    }
    if (ap_timeout_parameter_parse(arg, &t, "s") != APR_SUCCESS || t < 0
        || t > apr_time_from_sec(3600)) {
        return apr_psprintf(cmd->pool, "LBFarmSlowStart: invalid time \"%s\" "
                            "(0..3600 s, or with ms suffix)", arg);
    }
    ms = apr_palloc(cmd->pool, sizeof(*ms));
    *ms = (uint32_t)apr_time_as_msec(t);
    apr_hash_set(lbf_bal_slowstarts(cmd->pool),
                 lbf_bal_key(cmd->pool, cmd->path), APR_HASH_KEY_STRING, ms);
    return NULL;
}

uint32_t lbf_bal_slowstart_ms(apr_pool_t *pconf, const char *name)
{
    uint32_t *ms = apr_hash_get(lbf_bal_slowstarts(pconf),
                                lbf_bal_key(pconf, name),
                                APR_HASH_KEY_STRING);

    return ms != NULL ? *ms : 0;
}
