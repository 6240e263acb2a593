/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_heartbeat.c -- "LBFarmHeartbeatListen 239.0.0.1:27999": one
 * UDP receiver per server for the beats of httpd's stock mod_heartbeat
 * ("v=1&ready=N&busy=N", see lbfarm_heartbeat.h).
 *
 * One receiver: a mod_watchdog singleton, as mod_heartmonitor and
 * mod_proxy_hcheck do.  Its process mutex lets exactly one child run the
 * callback, and another child takes over when that one exits (graceful
 * restart, MaxConnectionsPerChild) with no state of ours to recover; a CAS
 * claim in the segment would need a lease, renewal and a takeover delay of
 * our own to get the same.
 *
 * The socket is opened in the parent at post_config (so a bad address, a
 * port in use or a failed multicast join stops the start with a clear
 * error, and a privileged port works) and inherited by the children; it is
 * kept in the process pool across graceful restarts while the address
 * stays the same, so beats are never refused by a closed port.
 *
 * A beat is validated and parsed by the core (lbf_hb_datagram), matched to
 * members of LBFarmHeartbeat farms by source address (lbf_hb_match), and
 * written with lbf_push_apply_load -- the apply path of the HTTP form
 * (mod_lbfarm_push.c), rate limit included.
 */
#include "apr_strings.h"
#include "apr_network_io.h"
#include "apr_poll.h"
#include "ap_mpm.h"
#include "mod_watchdog.h"

#include <stdatomic.h>
#include <unistd.h>

#include "mod_lbfarm.h"
#include "mod_lbfarm_heartbeat.h"
#include "lbfarm_heartbeat.h"

APLOG_USE_MODULE(lbfarm);

#define LBF_HB_WATCHDOG   "_lbfarm_heartbeat_"
#define LBF_HB_SOCK_KEY   "lbfarm-heartbeat-socket"
#define LBF_HB_POLL       apr_time_from_msec(200) /* one wait for beats */
#define LBF_HB_BATCH      64    /* datagrams read per wake-up, at most */
#define LBF_HB_LOGGED_MAX 256   /* (source, reason) pairs logged once */

/* LBFarmHeartbeatListen of this generation (reset in pre_config). */
static struct {
    const char *spec;          /* as written, for messages */
    const char *where;         /* "file:line" */
    char ip[LBF_HB_IP_MAX];
    uint16_t port;
    int multicast;
} lbf_hb_conf;

/* The bound socket, in the process pool: survives graceful restarts. */
struct lbf_hb_sock {
    apr_pool_t *pool;          /* owns sock and this; destroyed to close */
    apr_socket_t *sock;
    char bound[LBF_HB_IP_MAX + 8]; /* "ip:port" it is bound to */
};

/* What the receiver thread uses; set in the parent, then in the child. */
static struct {
    apr_socket_t *sock;        /* NULL: no receiver */
    apr_hash_t *resolved;      /* member URL host name -> IPv4 text */
    server_rec *s;             /* the main server, for logs */
    apr_pool_t *pool;          /* the thread's own (child_init) */
    apr_hash_t *logged;        /* "kind|source" already logged */
    int logged_full;
    atomic_int ready;          /* child_init done: the glue is usable */
} lbf_hb;

/* ------------------------------------------------------------------ */
/* Configuration                                                       */

const char *lbf_cmd_hb_listen(cmd_parms *cmd, void *dc LBF_UNUSED,
                              const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char msg[200];

    if (err != NULL) {
        return err;
    }
    if (lbf_hb_conf.spec != NULL) {
        return apr_psprintf(cmd->pool, "LBF00607: LBFarmHeartbeatListen: "
                            "given twice (\"%s\" at %s, then \"%s\"): one "
                            "receiver per server", lbf_hb_conf.spec,
                            lbf_hb_conf.where, arg);
    }
    if (lbf_hb_parse_listen(arg, lbf_hb_conf.ip, &lbf_hb_conf.port,
                            &lbf_hb_conf.multicast, msg, sizeof(msg)) != 0) {
        return apr_psprintf(cmd->pool, "LBF00600: LBFarmHeartbeatListen: %s",
                            msg);
    }
    lbf_hb_conf.spec = apr_pstrdup(cmd->pool, arg);
    lbf_hb_conf.where = apr_psprintf(cmd->pool, "%s:%d",
                                     cmd->directive->filename,
                                     cmd->directive->line_num);
    return NULL;
}

static int lbf_hb_pre_config(apr_pool_t *pconf LBF_UNUSED,
                             apr_pool_t *plog LBF_UNUSED,
                             apr_pool_t *ptemp LBF_UNUSED)
{
    memset(&lbf_hb_conf, 0, sizeof(lbf_hb_conf));
    lbf_hb.sock = NULL;
    lbf_hb.resolved = NULL;
    return OK;
}

/* The farm at index i of g, when it takes beats; else NULL. */
static struct lbf_farm_conf *lbf_hb_farm(struct lbf_global *g, int i)
{
    struct lbf_farm_conf *fc = APR_ARRAY_IDX(g->farms, i,
                                             struct lbf_farm_conf *);
    return fc->heartbeat ? fc : NULL;
}

/* Resolve the URL hosts of configured members of heartbeat farms that are
 * names, not addresses (beats carry only a source address).  Returns the
 * number of LBFarmHeartbeat farms. */
static int lbf_hb_resolve(apr_pool_t *pconf, apr_pool_t *ptemp,
                          server_rec *s, struct lbf_global *g)
{
    struct lbf_farm_conf *fc;
    int i, j, farms = 0;

    lbf_hb.resolved = apr_hash_make(pconf);
    for (i = 0; i < g->farms->nelts; i++) {
        for (j = 0; (fc = lbf_hb_farm(g, i)) && j < fc->members->nelts; j++) {
            struct lbf_member_conf *mc = &APR_ARRAY_IDX(fc->members, j,
                                                        struct
                                                        lbf_member_conf);
            apr_sockaddr_t *sa = NULL;
            char *ip = NULL;

            if (lbf_hb_same_addr(mc->host, mc->host)
                || apr_hash_get(lbf_hb.resolved, mc->host,
                                APR_HASH_KEY_STRING)) {
                continue; /* an address already, or resolved already */
            }
            if (apr_sockaddr_info_get(&sa, mc->host, APR_INET, mc->port, 0,
                                      ptemp) != APR_SUCCESS
                || apr_sockaddr_ip_get(&ip, sa) != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "LBF00605: "
                             "farm %s, member %s: host \"%s\" has no IPv4 "
                             "address; its heartbeats cannot be matched",
                             fc->name, mc->name, mc->host);
                continue;
            }
            apr_hash_set(lbf_hb.resolved, apr_pstrdup(pconf, mc->host),
                         APR_HASH_KEY_STRING, apr_pstrdup(pconf, ip));
        }
        farms += lbf_hb_farm(g, i) != NULL;
    }
    return farms;
}

/* Open, bind and (multicast) join the listen socket into hs.  Logs and
 * returns the failure. */
static apr_status_t lbf_hb_open(struct lbf_hb_sock *hs, server_rec *s)
{
    const char *step = "resolve";
    apr_sockaddr_t *sa;
    apr_status_t rv;

    rv = apr_sockaddr_info_get(&sa, lbf_hb_conf.ip, APR_INET,
                               lbf_hb_conf.port, 0, hs->pool);
    if (rv == APR_SUCCESS) {
        step = "create a UDP socket for";
        rv = apr_socket_create(&hs->sock, APR_INET, SOCK_DGRAM,
                               APR_PROTO_UDP, hs->pool);
    }
    if (rv == APR_SUCCESS && lbf_hb_conf.multicast) {
        /* other receivers of the group on this host (a second balancer)
         * bind the same port */
        step = "set SO_REUSEADDR on";
        rv = apr_socket_opt_set(hs->sock, APR_SO_REUSEADDR, 1);
    }
    if (rv == APR_SUCCESS) {
        step = "make non-blocking";
        rv = apr_socket_opt_set(hs->sock, APR_SO_NONBLOCK, 1);
    }
    if (rv == APR_SUCCESS) {
        step = "bind";
        rv = apr_socket_bind(hs->sock, sa);
    }
    if (rv == APR_SUCCESS && lbf_hb_conf.multicast) {
        step = "join the multicast group (is there a route for it?)";
        rv = apr_mcast_join(hs->sock, sa, NULL, NULL);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "LBF00603: "
                     "LBFarmHeartbeatListen %s (%s): cannot %s",
                     lbf_hb_conf.spec, lbf_hb_conf.where, step);
    }
    return rv;
}

/* The socket for this generation: the one kept from the previous
 * generation when the address is the same, else a new one (the old one
 * closed).  NULL after logging a failure. */
static apr_socket_t *lbf_hb_socket(server_rec *s)
{
    apr_pool_t *pp = s->process->pool, *p;
    struct lbf_hb_sock *hs = NULL;
    char bound[sizeof(hs->bound)];

    apr_snprintf(bound, sizeof(bound), "%s:%u", lbf_hb_conf.ip,
                 (unsigned)lbf_hb_conf.port);
    apr_pool_userdata_get((void **)&hs, LBF_HB_SOCK_KEY, pp);
    if (hs != NULL && lbf_hb_conf.spec && strcmp(hs->bound, bound) == 0) {
        return hs->sock;
    }
    if (hs != NULL) {
        apr_pool_destroy(hs->pool); /* closes the old address */
        apr_pool_userdata_set(NULL, LBF_HB_SOCK_KEY, apr_pool_cleanup_null,
                              pp);
    }
    if (lbf_hb_conf.spec == NULL) {
        return NULL;
    }
    apr_pool_create(&p, pp);
    hs = apr_pcalloc(p, sizeof(*hs));
    hs->pool = p;
    if (lbf_hb_open(hs, s) != APR_SUCCESS) {
        apr_pool_destroy(p);
        return NULL;
    }
    apr_cpystrn(hs->bound, bound, sizeof(hs->bound));
    apr_pool_userdata_set(hs, LBF_HB_SOCK_KEY, apr_pool_cleanup_null, pp);
    return hs->sock;
}

static apr_status_t lbf_hb_callback(int state, void *data, apr_pool_t *p);

/* Start the singleton receiver: a mod_watchdog instance of our own, run in
 * one child, with one callback. */
static int lbf_hb_watchdog(apr_pool_t *pconf, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *add_callback;
    ap_watchdog_t *wd = NULL;
    apr_status_t rv;

    get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    add_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (get_instance == NULL || add_callback == NULL) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "LBF00601: "
                     "LBFarmHeartbeatListen %s (%s) needs mod_watchdog, which "
                     "runs its single receiver (load it: LoadModule "
                     "watchdog_module modules/mod_watchdog.so)",
                     lbf_hb_conf.spec, lbf_hb_conf.where);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    rv = get_instance(&wd, LBF_HB_WATCHDOG, 0, 1, pconf);
    if (rv == APR_SUCCESS) {
        rv = add_callback(wd, 0, &lbf_hb, lbf_hb_callback);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "LBF00604: "
                     "LBFarmHeartbeatListen %s: cannot start the watchdog "
                     "singleton %s", lbf_hb_conf.spec, LBF_HB_WATCHDOG);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

/* post_config (second pass; before mod_watchdog's, which runs LAST and
 * starts what was registered). */
static int lbf_hb_post_config(apr_pool_t *pconf, apr_pool_t *plog LBF_UNUSED,
                              apr_pool_t *ptemp, server_rec *s)
{
    struct lbf_global *g = lbf_global_get();
    int rc;

    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    if (lbf_hb_conf.spec == NULL) {
        lbf_hb_socket(s); /* closes a socket of a previous generation */
        return OK;
    }
    if ((rc = lbf_hb_watchdog(pconf, s)) != OK) {
        return rc;
    }
    if (lbf_hb_resolve(pconf, ptemp, s, g) == 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "LBF00602: "
                     "LBFarmHeartbeatListen %s (%s): no farm has "
                     "LBFarmHeartbeat On; every beat will be refused",
                     lbf_hb_conf.spec, lbf_hb_conf.where);
    }
    lbf_hb.s = s;
    if ((lbf_hb.sock = lbf_hb_socket(s)) == NULL) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "LBF00606: heartbeat receiver "
                 "on %s:%u%s", lbf_hb_conf.ip, (unsigned)lbf_hb_conf.port,
                 lbf_hb_conf.multicast ? " (multicast group joined)" : "");
    return OK;
}

/* child_init, after every other (lbf_child_init included): from now on
 * the receiver thread may use the glue. */
static void lbf_hb_child_init(apr_pool_t *pchild, server_rec *s LBF_UNUSED)
{
    if (lbf_hb.sock == NULL) {
        return;
    }
    apr_pool_create(&lbf_hb.pool, pchild);
    lbf_hb.logged = apr_hash_make(lbf_hb.pool);
    lbf_hb.logged_full = 0;
    atomic_store_explicit(&lbf_hb.ready, 1, memory_order_release);
}

/* ------------------------------------------------------------------ */
/* The receiver (the watchdog thread of one child)                     */

/* Log a refusal of kind from src once per process (LBF_HB_LOGGED_MAX
 * pairs; past that, one last line says so).  p: the caller's short-lived
 * pool.  Receiver thread only. */
static void lbf_hb_log_once(apr_pool_t *p, const char *kind, const char *src,
                            const char *fmt, ...)
{
    char *key = apr_pstrcat(p, kind, "|", src, NULL);
    va_list ap;
    char *msg;

    if (apr_hash_get(lbf_hb.logged, key, APR_HASH_KEY_STRING) != NULL) {
        return;
    }
    if (apr_hash_count(lbf_hb.logged) >= LBF_HB_LOGGED_MAX) {
        if (!lbf_hb.logged_full) {
            lbf_hb.logged_full = 1;
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, lbf_hb.s, "LBF00613: "
                         "heartbeat: refusals from %d sources logged; no "
                         "more until the next restart", LBF_HB_LOGGED_MAX);
        }
        return;
    }
    apr_hash_set(lbf_hb.logged, apr_pstrdup(lbf_hb.pool, key),
                 APR_HASH_KEY_STRING, "");
    va_start(ap, fmt);
    msg = apr_pvsprintf(p, fmt, ap);
    va_end(ap);
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, lbf_hb.s, "%s (logged once "
                 "per source)", msg);
}

/* A beat's candidates: every member of every LBFarmHeartbeat farm, with
 * its farm, in p.  Returns their number. */
static size_t lbf_hb_candidates(apr_pool_t *p, struct lbf_hb_cand **cp,
                                struct lbf_member_conf ***mp,
                                struct lbf_farm_conf ***fp)
{
    struct lbf_global *g = lbf_global_get();
    struct lbf_member_conf *mc;
    size_t n = 0, cap = 0;
    uint32_t j;
    int i;

    for (i = 0; i < g->farms->nelts; i++) {
        cap += lbf_hb_farm(g, i) ? lbf_hb_farm(g, i)->l_rows : 0;
    }
    *cp = apr_palloc(p, (cap + 1) * sizeof(**cp));
    *mp = apr_palloc(p, (cap + 1) * sizeof(**mp));
    *fp = apr_palloc(p, (cap + 1) * sizeof(**fp));
    for (i = 0; i < g->farms->nelts; i++) {
        struct lbf_farm_conf *fc = lbf_hb_farm(g, i);

        for (j = 0; fc && n < cap && (mc = lbf_member_next(fc, &j));) {
            const char *ip = apr_hash_get(lbf_hb.resolved, mc->host,
                                          APR_HASH_KEY_STRING);

            (*cp)[n].host = ip ? ip : mc->host;
            (*cp)[n].port = mc->port;
            (*mp)[n] = mc;
            (*fp)[n++] = fc;
        }
    }
    return n;
}

/* One datagram of len bytes from src: validate, match, apply. */
static void lbf_hb_beat(apr_pool_t *p, const char *src, const char *buf,
                        apr_size_t len)
{
    struct lbf_global *g = lbf_global_get();
    struct lbf_member_conf **mc;
    struct lbf_farm_conf **fc;
    struct lbf_hb_cand *c;
    unsigned char *sel;
    uint32_t load, port;
    char err[160];
    size_t n, i;
    int rc;

    if (g->shm.base == NULL) {
        return; /* farms disabled in this process */
    }
    if (lbf_hb_datagram(buf, len, &load, &port, err, sizeof(err))) {
        lbf_hb_log_once(p, "bad", src, "LBF00610: heartbeat from %s "
                        "refused: %s", src, err);
        return;
    }
    n = lbf_hb_candidates(p, &c, &mc, &fc);
    sel = apr_palloc(p, n + 1);
    if ((rc = lbf_hb_match(c, n, src, port, sel)) != LBF_HB_MATCHED) {
        lbf_hb_log_once(p, rc == LBF_HB_AMBIGUOUS ? "ambiguous" : "none",
                        src, "LBF00611: heartbeat from %s%s refused: %s",
                        src, port ? apr_psprintf(p, " (port=%u)", port) : "",
                        lbf_hb_match_text(rc));
        return;
    }
    for (i = 0; i < n; i++) {
        struct lbf_farm *f = sel[i] ? lbf_farm_at(&g->shm, fc[i]->fi) : NULL;

        if (f == NULL) {
            continue;
        }
        rc = lbf_push_apply_load(&g->shm, lbf_member_at(&g->shm, f,
                                                        mc[i]->index),
                                 (uint32_t)getpid(), load,
                                 (uint64_t)apr_time_now(), &fc[i]->policy);
        if (rc != LBF_PUSH_OK) {
            lbf_hb_log_once(p, "rate", src, "LBF00612: heartbeat from %s for "
                            "farm %s member %s refused: more than "
                            "LBFarmPushRate allows", src, fc[i]->name,
                            mc[i]->name);
            continue;
        }
        ap_log_error(APLOG_MARK, APLOG_TRACE1, 0, lbf_hb.s, "LBF00614: "
                     "heartbeat from %s: farm %s member %s load %u.%03u", src,
                     fc[i]->name, mc[i]->name, load / 1000, load % 1000);
    }
}

/* Wait up to LBF_HB_POLL for beats, then read what is there. */
static void lbf_hb_receive(apr_pool_t *p)
{
    char buf[LBF_HB_DGRAM_MAX + 1], src[LBF_HB_ADDR_MAX];
    apr_pollfd_t pfd = {0};
    apr_int32_t nready;
    int k;

    pfd.p = p;
    pfd.desc_type = APR_POLL_SOCKET;
    pfd.desc.s = lbf_hb.sock;
    pfd.reqevents = APR_POLLIN;
    if (apr_poll(&pfd, 1, &nready, LBF_HB_POLL) != APR_SUCCESS) {
        return; /* timeout (or EINTR): the watchdog calls again */
    }
    for (k = 0; k < LBF_HB_BATCH; k++) {
        apr_sockaddr_t from;
        apr_size_t len = sizeof(buf); /* one more than a valid beat */
        apr_status_t rv;

        memset(&from, 0, sizeof(from));
        from.pool = p;
        rv = apr_socket_recvfrom(&from, lbf_hb.sock, 0, buf, &len);
        if (APR_STATUS_IS_EAGAIN(rv)) {
            return; /* drained (or another generation's receiver won) */
        }
        if (rv != APR_SUCCESS) {
            lbf_hb_log_once(p, "recv", "socket", "LBF00608: heartbeat: reading "
                            "the socket failed (%pm)", &rv);
            return;
        }
        if (apr_sockaddr_ip_getbuf(src, sizeof(src), &from) != APR_SUCCESS) {
            apr_cpystrn(src, "?", sizeof(src));
        }
        lbf_hb_beat(p, src, buf, len);
    }
}

/* The watchdog callback (interval 0: called again ~100 ms after each
 * return).  Always returns APR_SUCCESS: another status would stop the
 * callback for the life of the child. */
static apr_status_t lbf_hb_callback(int state, void *data LBF_UNUSED,
                                    apr_pool_t *p)
{
    int mpm_state = 0;

    if (state != AP_WATCHDOG_STATE_RUNNING || lbf_hb.sock == NULL
        || !atomic_load_explicit(&lbf_hb.ready, memory_order_acquire)) {
        return APR_SUCCESS;
    }
    if (ap_mpm_query(AP_MPMQ_MPM_STATE, &mpm_state) == APR_SUCCESS
        && mpm_state == AP_MPMQ_STOPPING) {
        return APR_SUCCESS;
    }
    lbf_hb_receive(p);
    return APR_SUCCESS;
}

void lbf_hb_register_hooks(apr_pool_t *p LBF_UNUSED)
{
    ap_hook_pre_config(lbf_hb_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* after lbf_post_config (MIDDLE), before mod_watchdog's (LAST) */
    ap_hook_post_config(lbf_hb_post_config, NULL, NULL, APR_HOOK_MIDDLE + 5);
    ap_hook_child_init(lbf_hb_child_init, NULL, NULL, APR_HOOK_LAST);
}
