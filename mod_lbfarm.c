/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm.c -- the module: its record, its command table and its hooks,
 * which wire the glue files together (include/mod_lbfarm.h lists them).
 * Every hook here only hands over: the registry is made at pre_config,
 * the directives are checked at check_config, the segment is made and
 * filled at post_config and attached at child_init.  The concerns' setups
 * reach the files below through lbf_ops, so that none of them calls up.
 */
#include "http_core.h"
#include "ap_mpm.h"
#include "mpm_common.h"

#include "mod_lbfarm.h"
#include "mod_lbfarm_heartbeat.h"
#include "mod_lbfarm_hold.h"
#include "mod_lbfarm_query.h"
#include "mod_lbfarm_segment.h"

/* What push, sessions and health add to a farm once it has its place in
 * the segment (and to its configured members). */
static void lbf_farm_setup(struct lbf_farm_conf *fc, struct lbf_farm *f)
{
    lbf_push_farm_setup(fc, f);
    lbf_health_farm_setup(fc, f);
    lbf_sess_farm_setup(lbf_global_get()->pconf, fc);
}

/* What push and sessions add to a member added at runtime, when a process
 * builds it. */
static void lbf_member_setup(struct lbf_farm_conf *fc,
                             struct lbf_member_conf *mc)
{
    lbf_push_member_setup(fc, mc);
    lbf_sess_member_setup(fc, mc);
}

static const struct lbf_setup_ops lbf_ops = {
    .farm_defaults = lbf_push_farm_defaults,
    .farm_setup = lbf_farm_setup,
    .member_setup = lbf_member_setup,
};

static int lbf_pre_config(apr_pool_t *pconf, apr_pool_t *plog LBF_UNUSED,
                          apr_pool_t *ptemp LBF_UNUSED)
{
    lbf_registry_create(pconf, &lbf_ops);
    return lbf_conf_check_comments();
}

static int lbf_check_config(apr_pool_t *pconf, apr_pool_t *plog LBF_UNUSED,
                            apr_pool_t *ptemp, server_rec *s)
{
    return lbf_conf_check(pconf, ptemp, s);
}

static int lbf_post_config(apr_pool_t *pconf, apr_pool_t *plog LBF_UNUSED,
                           apr_pool_t *ptemp LBF_UNUSED, server_rec *s)
{
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    return lbf_segment_create(pconf, s);
}

/* Attach the inherited segment, then open what serving needs. */
static void lbf_child_init(apr_pool_t *pchild, server_rec *s)
{
    if (!lbf_segment_attach(s)) {
        return;
    }
    lbf_registry_child_init(pchild, s);
    lbf_proxy_child_init(pchild, s);
    lbf_hold_child_init(pchild, s);
    lbf_health_child_init(pchild, s);
}

static const command_rec lbf_cmds[] = {
    AP_INIT_RAW_ARGS("<LBFarm", lbf_cmd_farm, NULL, RSRC_CONF,
                     "<LBFarm name> ... </LBFarm>: a farm of members"),
    AP_INIT_RAW_ARGS("LBFarmMember", lbf_cmd_member, NULL, RSRC_CONF,
                     "name URL [weight=1..100] [retry=S] [timeout=S] "
                     "[connectiontimeout=S] [standby]"),
    AP_INIT_TAKE1("LBFarmMethod", lbf_cmd_method, NULL, RSRC_CONF,
                  "weighted | least-load | pushed-metric | least-time | "
                  "hash"),
    AP_INIT_RAW_ARGS("LBFarmHashKey", lbf_cmd_hash_key, NULL, RSRC_CONF,
                     "cookie=NAME | header=NAME | path | query=NAME | client "
                     "[balance=C]: the key of LBFarmMethod hash"),
    AP_INIT_TAKE1("LBFarmRetry", lbf_cmd_retry, NULL, RSRC_CONF,
                  "seconds a failed member stays in error (default 60)"),
    AP_INIT_TAKE1("LBFarmPushKey", lbf_cmd_push_key, NULL, RSRC_CONF,
                  "file holding the farm's push secret (two lines: two live "
                  "secrets)"),
    AP_INIT_RAW_ARGS("LBFarmMetric", lbf_cmd_metric, NULL, RSRC_CONF,
                     "name capacity [weight]: a term of the load formula"),
    AP_INIT_TAKE1("LBFarmPushWindow", lbf_cmd_push_time, (void *)0, RSRC_CONF,
                  "seconds a push timestamp may differ from now (30)"),
    AP_INIT_TAKE1("LBFarmMetricExpiry", lbf_cmd_push_time, (void *)1,
                  RSRC_CONF, "age after which pushed load is ignored (15s)"),
    AP_INIT_TAKE1("LBFarmMetricBlackout", lbf_cmd_push_time, (void *)2,
                  RSRC_CONF, "time before a new run of reports counts (2s)"),
    AP_INIT_TAKE2("LBFarmPushRate", lbf_cmd_push_rate, NULL, RSRC_CONF,
                  "pushes per second per member, and burst (5 10)"),
    AP_INIT_TAKE1("LBFarmLoadSmoothing", lbf_cmd_push_smoothing, NULL,
                  RSRC_CONF, "weight of a new pushed report, 0.001..1 (0.5)"),
    AP_INIT_FLAG("LBFarmHeartbeat", lbf_cmd_heartbeat, NULL, RSRC_CONF,
                 "accept mod_heartbeat's v=1&ready=&busy= messages (Off)"),
    AP_INIT_TAKE1("LBFarmSessionKey", lbf_cmd_session_key, NULL, RSRC_CONF,
                  "file with the farm's session secret (two lines: rotation)"),
    AP_INIT_RAW_ARGS("LBFarmSticky", lbf_cmd_sticky, NULL, RSRC_CONF,
                     "On|Off [ttl=SECONDS] [cookie=NAME]"),
    AP_INIT_TAKE1("LBFarmRouteCookie", lbf_cmd_route_cookie, NULL, RSRC_CONF,
                  "application cookie or parameter ending in .<member>"),
    AP_INIT_FLAG("LBFarmInstructions", lbf_cmd_instructions, NULL, RSRC_CONF,
                 "obey signed X-LBFarm-Instruction response headers (Off)"),
    AP_INIT_RAW_ARGS("LBFarmHealthCheck", lbf_cmd_health, NULL, RSRC_CONF,
                     "/uri [interval=5] [timeout=2] [expect=200] [rise=2] "
                     "[fall=3]"),
    AP_INIT_TAKE1("LBFarmDownURL", lbf_cmd_fallback, NULL, RSRC_CONF,
                  "where requests go when no member is up"),
    AP_INIT_TAKE1("LBFarmOfflineURL", lbf_cmd_fallback, (void *)1, RSRC_CONF,
                  "where requests go when the farm is offline"),
    AP_INIT_TAKE1("LBFarmState", lbf_cmd_farm_state, NULL, RSRC_CONF,
                  "online | offline"),
    AP_INIT_TAKE1("LBFarmSlowStart", lbf_cmd_slowstart_any, NULL,
                  RSRC_CONF | ACCESS_CONF, "ramp time of a member coming "
                  "back (0 = none), in <LBFarm> or <Proxy balancer://>"),
    AP_INIT_ITERATE("LBFarmErrorStatus", lbf_cmd_error_status, NULL,
                    RSRC_CONF, "member response statuses that put it in "
                    "error"),
    AP_INIT_ITERATE("LBFarmStatusOrigin", lbf_cmd_status_origin, NULL,
                    RSRC_CONF, "scheme://host[:port] the status forms obey"),
    AP_INIT_TAKE1("LBFarmHeartbeatListen", lbf_cmd_hb_listen, NULL, RSRC_CONF,
                  "IPv4:PORT where mod_heartbeat's UDP beats arrive (e.g. "
                  "239.0.0.1:27999)"),
    AP_INIT_TAKE1("LBFarmLatencyDecay", lbf_cmd_latency_decay, NULL,
                  RSRC_CONF, "time constant of the latency estimate (2s)"),
    AP_INIT_TAKE12("LBFarmStall", lbf_cmd_stall, NULL, RSRC_CONF,
                   "on | off | K FLOOR: a member answering nothing for "
                   "max(K x p99, FLOOR) gets no new requests"),
    AP_INIT_RAW_ARGS("LBFarmEject", lbf_cmd_eject, NULL, RSRC_CONF,
                     "off | on | [consecutive=5] [rate=50%] [volume=10] "
                     "[window=10] [base=5] [max=300] [cap=50%]"),
    AP_INIT_TAKE1("LBFarmPanic", lbf_cmd_panic, NULL, RSRC_CONF,
                  "P% | off: below this share of usable members, members "
                  "ejected for bad answers are used again (50%)"),
    {NULL}
};

/* Parent, every 10 s (the MPM's monitor hook): what the segment's
 * counters say happened since the last call. */
static int lbf_monitor(apr_pool_t *p, server_rec *s)
{
    (void)p;
    lbf_segment_watch(s);
    return DECLINED;
}

static void lbf_register_hooks(apr_pool_t *p)
{
    static const char *const pred[] = {"mod_proxy.c", NULL};

    ap_hook_pre_config(lbf_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(lbf_check_config, pred, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(lbf_post_config, pred, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(lbf_child_init, pred, NULL, APR_HOOK_MIDDLE);
    ap_hook_monitor(lbf_monitor, NULL, NULL, APR_HOOK_MIDDLE);
    lbf_proxy_register_hooks(p);
    lbf_hold_register_hooks(p);
    lbf_status_register_hooks(p);
    lbf_admin_register_hooks(p);
    lbf_push_register_hooks(p);
    lbf_sess_register_hooks(p);
#ifdef LBF_TEST_HOOKS
    lbf_test_register_hooks(p); /* test builds only (Makefile) */
#endif
    lbf_hb_register_hooks(p);
    lbf_query_register_hooks(p);
}

AP_DECLARE_MODULE(lbfarm) = {
    STANDARD20_MODULE_STUFF,
    NULL,                       /* per-directory config creator */
    NULL,                       /* dir config merger */
    NULL,                       /* server config creator */
    NULL,                       /* server config merger */
    lbf_cmds,                   /* command table */
    lbf_register_hooks,         /* set up other request processing hooks */
    AP_MODULE_FLAG_NONE
};
