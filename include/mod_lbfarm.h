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

/* The current generation's state (set up in pre_config). */
struct lbf_global *lbf_global_get(void);

/* mod_lbfarm_proxy.c: the request path and the lbmethod providers. */
void lbf_proxy_register_hooks(apr_pool_t *p);
struct lbf_farm_conf *lbf_farm_by_host(const char *url, apr_size_t *hlen);
void lbf_proxy_child_init(apr_pool_t *pchild, server_rec *s);

/* A balancer member's weight: its loadfactor (1..100; mod_proxy keeps it
 * x100, decimals round to the nearest integer). */
uint32_t lbf_worker_weight(const proxy_worker *w);

/* mod_lbfarm_status.c: SetHandler lbfarm-status. */
void lbf_status_register_hooks(apr_pool_t *p);

#endif /* MOD_LBFARM_H */
