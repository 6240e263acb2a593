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
#include "lbfarm_session.h"

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
    char sess_id[LBF_SESS_ID_HEX + 1]; /* opaque id in session cookies */
    int admin;                 /* initial enum lbf_admin (state=) */
    uint32_t index;            /* member index in the farm (its row) */
};

/* One <LBFarm>, as configured, plus its place in the segment. */
struct lbf_farm_conf {
    const char *name;          /* as written; matched case-insensitively */
    int method;                /* index into lbf_methods[] */
    int retry;                 /* LBFarmRetry */
    apr_array_header_t *members; /* struct lbf_member_conf: configured */
    struct lbf_member_conf **mconf; /* by member index, l_rows of them;
                                       runtime members built on first use */
    uint32_t l_rows;
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
    /* sessions (mod_lbfarm_session.c) */
    struct lbf_sess_keys skeys[LBF_PUSH_KEYS_MAX]; /* LBFarmSessionKey */
    int nskeys;
    int sticky;                /* LBFarmSticky On */
    apr_interval_time_t sticky_ttl;
    const char *cookie;        /* session cookie name, "lbf_<farm>" */
    const char *move_cookie;   /* "lbfmv_<farm>" */
    const char *route_cookie;  /* LBFarmRouteCookie: app cookie/param */
    const char *route_param;   /* "<route_cookie>=", for the query */
    int instructions;          /* LBFarmInstructions On */
    /* life cycle (mod_lbfarm_health.c) */
    const char *down_url, *offline_url;
    int offline;               /* LBFarmState offline */
    apr_interval_time_t slowstart;
    const char *hc_uri;        /* LBFarmHealthCheck; NULL = none */
    apr_interval_time_t hc_interval, hc_timeout;
    int hc_expect, hc_rise, hc_fall;
    apr_array_header_t *error_status; /* int: LBFarmErrorStatus */
    /* latency and stall rules (mod_lbfarm_method.c) */
    struct lbf_tune tune;      /* LBFarmLatencyDecay, LBFarmStall */
};

/* What one request holds of a farm: at most one taken row, plus what the
 * response must carry (session cookie) once the member is known. */
struct lbf_req {
    struct lbf_row *row;       /* taken row, or NULL */
    uint32_t member;           /* its index in the farm */
    apr_time_t start;          /* when the row was taken (latency) */
    struct lbf_farm_conf *fc;  /* the farm that served (after moves) */
    const char *set_cookie;    /* Set-Cookie to add, or NULL */
    int filter_added;
};

/* The whole module state of one configuration generation. */
struct lbf_global {
    apr_pool_t *pconf;
    apr_array_header_t *farms;   /* struct lbf_farm_conf * */
    apr_hash_t *by_name;         /* lowercase name -> struct lbf_farm_conf */
    apr_hash_t *bal_farms;       /* balancer name -> uint32_t farm index */
    struct lbf_shm shm;          /* NULL base when disabled */
    apr_shm_t *seg;
    /* per child: where members added at runtime are built */
    apr_pool_t *rt_pool;
    apr_thread_mutex_t *rt_mutex;
    server_rec *s;
};

extern module AP_MODULE_DECLARE_DATA lbfarm_module;

/* The farm whose <LBFarm> is being read, or NULL with *err set to
 * "<directive> must be inside <LBFarm>" (config time only). */
struct lbf_farm_conf *lbf_farm_current(cmd_parms *cmd, const char **err);

/* Member mi of farm fc as this process knows it: a configured member, or
 * one an operator added at runtime, built on first use from its row (its
 * worker and keys).  NULL when mi is no live row.  Thread-safe. */
struct lbf_member_conf *lbf_member_conf_at(struct lbf_farm_conf *fc,
                                           uint32_t mi);

/* The next member at index >= *i (advancing *i past it), or NULL. */
struct lbf_member_conf *lbf_member_next(struct lbf_farm_conf *fc,
                                        uint32_t *i);

/* Normalize a member URL into scheme://host:port[/path] (no trailing '/'),
 * with its host and port; returns an error message (quoting url) or NULL.
 * The rule LBFarmMember applies; the status page's "add" uses it too. */
const char *lbf_member_url(apr_pool_t *p, const char *url, const char **norm,
                           const char **host, apr_port_t *port);

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
void lbf_push_member_setup(struct lbf_farm_conf *fc,
                           struct lbf_member_conf *mc);
void lbf_push_register_hooks(apr_pool_t *p);

/* mod_lbfarm_session.c: sticky sessions, moves, instructions. */
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

/* mod_lbfarm_health.c: health checks, error statuses, fallbacks. */
const char *lbf_cmd_health(cmd_parms *cmd, void *dc, const char *args);
const char *lbf_cmd_fallback(cmd_parms *cmd, void *dc, const char *arg);
const char *lbf_cmd_farm_state(cmd_parms *cmd, void *dc, const char *arg);
const char *lbf_cmd_slowstart(cmd_parms *cmd, void *dc, const char *arg);
const char *lbf_cmd_error_status(cmd_parms *cmd, void *dc, const char *arg);
void lbf_health_farm_setup(struct lbf_farm_conf *fc, struct lbf_farm *f);
void lbf_health_child_init(apr_pool_t *pchild, server_rec *s);
int lbf_farm_fallback(request_rec *r, struct lbf_farm_conf *fc);
int lbf_is_error_status(const struct lbf_farm_conf *fc, int status);

/* mod_lbfarm_method.c: LBFarmLatencyDecay, LBFarmStall. */
const char *lbf_cmd_latency_decay(cmd_parms *cmd, void *dc, const char *arg);
const char *lbf_cmd_stall(cmd_parms *cmd, void *dc, const char *a,
                          const char *b);

/* mod_lbfarm_status.c: SetHandler lbfarm-status. */
void lbf_status_register_hooks(apr_pool_t *p);

#endif /* MOD_LBFARM_H */
