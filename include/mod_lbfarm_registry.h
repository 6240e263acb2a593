/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_registry.h -- the farm registry of the httpd glue: every
 * configured farm and member as this process knows them, found by name,
 * plus members added at runtime, built on first use.  The floor of the
 * glue: every other mod_lbfarm_*.c builds on it, it calls none of them.
 * What a concern adds to a farm or a member reaches it through the
 * struct lbf_setup_ops that mod_lbfarm.c hands over.
 */
#ifndef MOD_LBFARM_REGISTRY_H
#define MOD_LBFARM_REGISTRY_H

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
    int retry_set;             /* 1: LBFarmRetry was given (stock retry=
                                  semantics, no ejection) */
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
    int uds_alias;             /* a unix: ProxyPass has its name as host
                                  (check_config): see lbf_url_uds */
    int instructions;          /* LBFarmInstructions On */
    struct lbf_cookie_policy cookie_pol; /* LBFarmSticky samesite= secure= */
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
    uint32_t hold;             /* its hold slot (mod_lbfarm_hold.h) */
    uint32_t member;           /* its index in the farm */
    apr_time_t start;          /* when the row was taken (latency) */
    struct lbf_farm_conf *fc;  /* the farm that served (after moves) */
    const char *set_cookie;    /* Set-Cookie to add, or NULL */
    int filter_added;
};

/* What the concerns above the registry add, as mod_lbfarm.c wires them:
 * defaults of a farm at its <LBFarm>, the setup of a farm once it has its
 * place in the segment (and of its configured members), and the setup of
 * a member an operator added at runtime when this process builds it. */
struct lbf_setup_ops {
    void (*farm_defaults)(struct lbf_farm_conf *fc);
    void (*farm_setup)(struct lbf_farm_conf *fc, struct lbf_farm *f);
    void (*member_setup)(struct lbf_farm_conf *fc,
                         struct lbf_member_conf *mc);
};

/* The whole module state of one configuration generation. */
struct lbf_global {
    apr_pool_t *pconf;
    apr_array_header_t *farms;   /* struct lbf_farm_conf * */
    apr_hash_t *by_name;         /* lowercase name -> struct lbf_farm_conf */
    apr_hash_t *bal_farms;       /* balancer name -> uint32_t farm index */
    struct lbf_shm shm;          /* NULL base when disabled */
    apr_shm_t *seg;
    const struct lbf_setup_ops *ops;
    /* per child: where members added at runtime are built */
    apr_pool_t *rt_pool;
    apr_thread_mutex_t *rt_mutex;
    server_rec *s;
};

extern module AP_MODULE_DECLARE_DATA lbfarm_module;

/* Start this generation's registry in pconf (pre_config), with the
 * concerns' setup ops (which must outlive it).  Config time. */
void lbf_registry_create(apr_pool_t *pconf, const struct lbf_setup_ops *ops);

/* The current generation's state (set up in pre_config). */
struct lbf_global *lbf_global_get(void);

/* The farm named by the len bytes at name, matched case-insensitively,
 * or NULL.  Read-only after config time: any thread. */
struct lbf_farm_conf *lbf_farm_by_name(const char *name, apr_size_t len);

/* Declare farm name (valid, see lbf_name_valid) written at where
 * ("file:line"): a new farm with its defaults, in the registry.  NULL
 * when a farm of that name (in any case) exists.  Config time. */
struct lbf_farm_conf *lbf_farm_declare(apr_pool_t *p, const char *name,
                                       const char *where);

/* Set the farm whose <LBFarm> section is being read (NULL: none).
 * Config time. */
void lbf_farm_set_current(struct lbf_farm_conf *fc);

/* The farm whose <LBFarm> is being read, or NULL with *err set to
 * "<directive> must be inside <LBFarm>" (config time only). */
struct lbf_farm_conf *lbf_farm_current(cmd_parms *cmd, const char **err);

/* The preamble of every farm-scoped directive handler: sets fc (declared
 * by the caller) to the farm whose <LBFarm> is being read, or returns
 * "<directive> must be inside <LBFarm>" from the handler. */
#define LBF_FARM_OR_RETURN(cmd, fc)                                      \
    do {                                                                 \
        const char *lbf_scope_err_;                                      \
        if (((fc) = lbf_farm_current((cmd), &lbf_scope_err_)) == NULL) { \
            return lbf_scope_err_;                                       \
        }                                                                \
    } while (0)

/* Normalize a member URL into scheme://host:port[/path] (no trailing '/'),
 * with its host and port; returns an error message (quoting url) or NULL.
 * The rule LBFarmMember applies; the status page's "add" uses it too. */
const char *lbf_member_url(apr_pool_t *p, const char *url, const char **norm,
                           const char **host, apr_port_t *port);

/* A worker of our own in p for member URL url (its own keep-alive pool);
 * its errors count (proxy_handler marks it, the segment decides).
 * Returns an error message or NULL. */
const char *lbf_define_worker(apr_pool_t *p, const char *url,
                              proxy_worker **w);

/* A balancer member's weight: its loadfactor (1..100; mod_proxy keeps it
 * x100, decimals round to the nearest integer).  Pure. */
uint32_t lbf_worker_weight(const proxy_worker *w);

/* Member mi of farm fc as this process knows it: a configured member, or
 * one an operator added at runtime, built on first use from its row (its
 * worker and keys).  NULL when mi is no live row.  Thread-safe. */
struct lbf_member_conf *lbf_member_conf_at(struct lbf_farm_conf *fc,
                                           uint32_t mi);

/* The next member at index >= *i (advancing *i past it), or NULL. */
struct lbf_member_conf *lbf_member_next(struct lbf_farm_conf *fc,
                                        uint32_t *i);

/* child_init: open the configured members' connection pools and the pool
 * and mutex where this child builds runtime members. */
void lbf_registry_child_init(apr_pool_t *pchild, server_rec *s);

#endif /* MOD_LBFARM_REGISTRY_H */
