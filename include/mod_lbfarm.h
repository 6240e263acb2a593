/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm.h -- shared declarations of the httpd glue (mod_lbfarm*.c).
 * The glue only translates: configuration and requests in, core calls
 * (lbfarm_shm.h, lbfarm_method.h) out.  No balancing logic lives here.
 */
#ifndef MOD_LBFARM_H
#define MOD_LBFARM_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "mod_proxy.h"

#include "lbfarm_shm.h"
#include "lbfarm_method.h"
#include "lbfarm_push.h"

#define LBF_UNUSED __attribute__((unused)) /* hook signatures */

#define LBF_DEFAULT_RETRY  60   /* seconds, as mod_proxy's retry */
#define LBF_RETRY_MAX      3600
#define LBF_SPARE_ROWS     8    /* room per farm for runtime additions */

/* One LBFarmMember, as configured. */
struct lbf_member_conf {
    const char *name;
    const char *url;           /* scheme://host[:port][/path], no '/' end */
    int weight;
    int retry;                 /* seconds; -1 = the farm's LBFarmRetry */
    int tier;                  /* 0 regular, 1 standby */
    proxy_worker *worker;      /* our own worker: its connection pool */
    const char *host;          /* URL host, for heartbeat senders */
    apr_port_t port;
    uint8_t keys[LBF_PUSH_KEYS_MAX][LBF_KEY_LEN]; /* derived push keys */
};

/* One <LBFarm>, as configured, plus its place in the segment. */
struct lbf_farm_conf {
    const char *name;          /* as written; matched case-insensitively */
    int method;                /* index into lbf_methods[] */
    int retry;                 /* LBFarmRetry */
    apr_array_header_t *members; /* struct lbf_member_conf */
    const char *where;         /* "file:line" for messages */
    uint32_t fi;               /* farm index in the segment */
    proxy_balancer *balancer;  /* private, never in conf->balancers:
                                  lets proxy_handler retry another member */
    /* pushed metrics (mod_lbfarm_push.c) */
    int nsecrets;              /* LBFarmPushKey: 0..2 secrets */
    const char *secrets[LBF_PUSH_KEYS_MAX];
    apr_size_t secret_len[LBF_PUSH_KEYS_MAX];
    struct lbf_load_term terms[LBF_METRICS_MAX]; /* LBFarmMetric */
    uint32_t nterms;
    struct lbf_push_policy policy;
    apr_interval_time_t expiry, blackout;
    int heartbeat;             /* LBFarmHeartbeat On */
};

/* The whole module state of one configuration generation. */
struct lbf_global {
    apr_pool_t *pconf;
    apr_array_header_t *farms;   /* struct lbf_farm_conf * */
    apr_hash_t *by_name;         /* lowercase name -> struct lbf_farm_conf */
    apr_hash_t *bal_farms;       /* balancer name -> uint32_t farm index */
    struct lbf_shm shm;          /* NULL base when disabled */
    apr_shm_t *seg;
};

extern module AP_MODULE_DECLARE_DATA lbfarm_module;

/* The farm whose <LBFarm> is being read, or NULL with *err set to
 * "<directive> must be inside <LBFarm>" (config time only). */
struct lbf_farm_conf *lbf_farm_current(cmd_parms *cmd, const char **err);

/* The current generation's state (set up in pre_config). */
struct lbf_global *lbf_global_get(void);

/* mod_lbfarm_proxy.c: the request path and the lbmethod providers. */
void lbf_proxy_register_hooks(apr_pool_t *p);
struct lbf_farm_conf *lbf_farm_by_host(const char *url, apr_size_t *hlen);
void lbf_proxy_child_init(apr_pool_t *pchild, server_rec *s);

/* A balancer member's weight: its loadfactor (1..100; mod_proxy keeps it
 * x100, decimals round to the nearest integer). */
uint32_t lbf_worker_weight(const proxy_worker *w);

/* mod_lbfarm_push.c: directives, key derivation, SetHandler lbfarm-push. */
const char *lbf_cmd_push_key(cmd_parms *cmd, void *dc, const char *arg);
const char *lbf_cmd_metric(cmd_parms *cmd, void *dc, const char *args);
const char *lbf_cmd_push_time(cmd_parms *cmd, void *dc, const char *arg);
const char *lbf_cmd_push_rate(cmd_parms *cmd, void *dc, const char *a,
                              const char *b);
const char *lbf_cmd_heartbeat(cmd_parms *cmd, void *dc, int on);
void lbf_push_farm_defaults(struct lbf_farm_conf *fc);
void lbf_push_farm_setup(struct lbf_farm_conf *fc, struct lbf_farm *f);
void lbf_push_register_hooks(apr_pool_t *p);

/* mod_lbfarm_status.c: SetHandler lbfarm-status. */
void lbf_status_register_hooks(apr_pool_t *p);

#endif /* MOD_LBFARM_H */
