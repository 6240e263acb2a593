/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_proxy.c -- the two front doors onto the one core:
 *
 *  farm mode    "ProxyPass /app/ http://farm_one/app/": our pre_request
 *               hook (ahead of mod_proxy_balancer's) sees the farm host,
 *               picks a member, hands mod_proxy that member's own worker
 *               (its keepalive pool) and rewrites the URL to the member.
 *               A private proxy_balancer (never in conf->balancers) makes
 *               proxy_handler retry another member after a 503 (connect
 *               failure: nothing reached the member).
 *  provider     every core method is a PROXY_LBMETHOD provider, so stock
 *               <Proxy balancer://...> with "ProxySet lbmethod=least-load"
 *               uses the same picks and the same exact shm accounting.
 *
 * In both, a pick takes the member's row (inflight++) and the request's
 * note releases it exactly once: at post_request, on a retry, or when the
 * request pool goes away.
 */
#include "apr_strings.h"
#include "apr_optional.h"
#include "ap_provider.h"
#include "http_request.h"

#include <openssl/rand.h>
#include <stdatomic.h>
#include <unistd.h>

#include "mod_lbfarm_proxy.h"
#include "mod_lbfarm_eject.h"
#include "mod_lbfarm_health.h"
#include "mod_lbfarm_hold.h"
#include "mod_lbfarm_retry.h"
#include "mod_lbfarm_method.h"
#include "mod_lbfarm_session.h"
#include "lbfarm_conf.h"

APLOG_USE_MODULE(lbfarm);

#define LBF_BALANCER_PREFIX "lbfarm://"

static APR_OPTIONAL_FN_TYPE(ap_proxy_retry_worker) *lbf_retry_worker;
static __thread uint64_t lbf_rng_state;

/* The calling thread's generator, seeded from OpenSSL on first use. */
static uint64_t *lbf_rng(void)
{
    while (lbf_rng_state == 0) {
        if (RAND_bytes((unsigned char *)&lbf_rng_state,
                       sizeof(lbf_rng_state)) != 1) {
            lbf_rng_state = (uint64_t)apr_time_now() ^ (uint64_t)getpid();
        }
    }
    return &lbf_rng_state;
}

/* Release the request's row, if any (failed: count an error). */
static void lbf_req_release(struct lbf_req *q, int failed)
{
    if (q != NULL && q->row != NULL) {
        if (lbf_hold_req_drop(&lbf_global_get()->shm, q->hold)) {
            lbf_row_release(q->row, failed);
        }
        q->row = NULL;
    }
}

static apr_status_t lbf_req_cleanup(void *data)
{
    lbf_req_release(data, 0);
    return APR_SUCCESS;
}

/* The request's note, created on first use. */
static struct lbf_req *lbf_req_get(request_rec *r)
{
    struct lbf_req *q = ap_get_module_config(r->request_config,
                                             &lbfarm_module);
    if (q == NULL) {
        q = apr_pcalloc(r->pool, sizeof(*q));
        ap_set_module_config(r->request_config, &lbfarm_module, q);
        apr_pool_cleanup_register(r->pool, q, lbf_req_cleanup,
                                  apr_pool_cleanup_null);
    }
    return q;
}

/* Record that the request now holds member mi's row. */
static void lbf_req_hold(struct lbf_req *q, const struct lbf_shm *h,
                         struct lbf_farm *f, int mi)
{
    q->row = lbf_member_at(h, f, (uint32_t)mi);
    q->hold = q->row ? lbf_hold_req_take(h, f, (uint32_t)mi) : LBF_HOLD_NONE;
    q->member = (uint32_t)mi;
    q->start = apr_time_now();
}

struct lbf_farm_conf *lbf_farm_by_host(const char *url, apr_size_t *hlen)
{
    const char *host;

    if (!lbf_url_farm_ref(url, &host, hlen)) {
        return NULL;
    }
    return lbf_farm_by_name(host, *hlen);
}

static int lbf_is_ours(const proxy_balancer *b)
{
    return b != NULL && strncmp(b->s->name, LBF_BALANCER_PREFIX,
                                sizeof(LBF_BALANCER_PREFIX) - 1) == 0;
}

/* A retry: the member that just failed to connect is ejected, or with
 * stock retry= semantics goes in error for its retry time (all children
 * see it, lbf_eject_note), and is excluded from the next pick. */
static uint32_t lbf_farm_retry(request_rec *r, struct lbf_req *q,
                               proxy_worker *failed, const char *farm)
{
    uint32_t ex = q->member;

    if (q->row == NULL) {
        return LBF_NO_MEMBER;
    }
    if (failed != NULL && PROXY_WORKER_IS(failed, PROXY_WORKER_IN_ERROR)) {
        if (q->fc == NULL) {
            lbf_row_set_error(q->row, (uint64_t)apr_time_now());
        }
        if (q->fc == NULL || lbf_eject_note(r, q->fc, q->row, LBF_OUT_CONNECT,
                                            apr_time_now()) == LBF_EJ_ERROR) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "LBF00020: farm "
                          "%s: member %s failed; in error for %" PRIu64
                          " ms, retrying another", farm, q->row->name,
                          lbf_row_error_left_ms(q->row,
                                                (uint64_t)apr_time_now()));
        }
    }
    lbf_req_release(q, 1);
    return ex;
}

/* Farm mode: no member can take the request: the farm's fallback (its
 * down or offline URL, else a fast 503 with Retry-After). */
static int lbf_farm_unavailable(request_rec *r, struct lbf_farm_conf *fc,
                                proxy_worker **worker)
{
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "LBF00021: farm %s: no "
                  "usable member for %s", fc->name, r->uri);
    *worker = NULL;
    return lbf_farm_fallback(r, fc);
}

/* Choose the member of fc for r: its sticky member when it may serve, else
 * a pick of the farm's method.  Returns the member index (row taken) or
 * -1 (none usable) or LBF_STICK_REFUSED. */
static int lbf_farm_choose(request_rec *r, struct lbf_farm_conf *fc,
                           struct lbf_pick *pk, int *stuck)
{
    int mi = lbf_sess_sticky(r, fc, pk);

    *stuck = mi >= 0;
    if (mi >= 0) {
        return lbf_member_take((uint32_t)fc->method, pk, (uint32_t)mi);
    }
    if (mi == LBF_STICK_REFUSED) {
        return mi;
    }
    return lbf_pick_take((uint32_t)fc->method, pk);
}

/* 1 when url belongs to a "unix:/path|http://name/" ProxyPass: mod_proxy
 * hands pre_request only the part after the "|", which reads like a farm
 * URL when name is a farm's, but the request is the socket's.  A scan of
 * the server's stock workers (never a farm's members), run only for farms
 * that share their name with such a ProxyPass (fc->uds_alias). */
static int lbf_url_uds(request_rec *r, proxy_server_conf *conf,
                       const char *url)
{
    proxy_worker *w = ap_proxy_get_worker_ex(r->pool, NULL, conf, url,
                                             AP_PROXY_WORKER_IS_PREFIX);

    return w != NULL && w->s->uds_path[0] != '\0';
}

/* pre_request: the farm front door.  Declines anything not ours. */
static int lbf_pre_request(proxy_worker **worker, proxy_balancer **balancer,
                           request_rec *r, proxy_server_conf *conf,
                           char **url)
{
    struct lbf_global *g = lbf_global_get();
    struct lbf_farm_conf *fc;
    struct lbf_member_conf *mc;
    struct lbf_pick pk;
    struct lbf_req *q;
    apr_size_t hlen;
    int mi, stuck;

    if (*balancer != NULL && !lbf_is_ours(*balancer)) {
        return DECLINED;
    }
    if ((fc = lbf_farm_by_host(*url, &hlen)) == NULL
        || (fc->uds_alias && lbf_url_uds(r, conf, *url))) {
        return DECLINED; /* on a retry *url is again the farm's URL */
    }
    fc = lbf_sess_route_farm(r, fc); /* the application may have moved r */
    if (g->shm.base == NULL
        || atomic_load(&lbf_farm_at(&g->shm, fc->fi)->admin)
           == LBF_ADMIN_OFFLINE) {
        return lbf_farm_unavailable(r, fc, worker);
    }
    q = lbf_req_get(r);
    memset(&pk, 0, sizeof(pk));
    pk.exclude = lbf_farm_retry(r, q, *worker, fc->name);
    pk.h = &g->shm;
    pk.farm = lbf_farm_at(&g->shm, fc->fi);
    pk.now = (uint64_t)apr_time_now();
    pk.rng = lbf_rng();
    pk.tune = &fc->tune;
    lbf_hash_fill_key(r, (uint32_t)fc->method, fc, &pk);
    if ((mi = lbf_farm_choose(r, fc, &pk, &stuck)) < 0) {
        return lbf_farm_unavailable(r, fc, worker);
    }
    lbf_req_hold(q, &g->shm, pk.farm, mi);
    if ((mc = lbf_member_conf_at(fc, (uint32_t)mi)) == NULL) {
        lbf_req_release(q, 0); /* a runtime member this process cannot
                                  build (bad URL): not usable */
        return lbf_farm_unavailable(r, fc, worker);
    }
    lbf_sess_chosen(r, q, fc, mi, stuck);
    mc->worker->s->status &= ~PROXY_WORKER_IN_ERROR; /* the row decides */
    *worker = mc->worker;
    *balancer = fc->balancer;
    *url = apr_pstrcat(r->pool, mc->url,
                       ap_strstr_c(*url, "://") + 3 + hlen, NULL);
    apr_table_setn(r->subprocess_env, "LBFARM_FARM", fc->name);
    apr_table_setn(r->subprocess_env, "LBFARM_MEMBER", mc->name);
    return OK;
}

/* post_request: release the row; in farm mode tell the core what the
 * last attempt was (a connect failure mod_proxy marked, a 5xx or a
 * LBFarmErrorStatus, a success: ejection, or stock retry= error), and a
 * request whose last member could not be reached gets the farm's down
 * page and Retry-After, as the requests after it.  OK only for our own
 * balancers. */
static int lbf_post_request(proxy_worker *worker, proxy_balancer *balancer,
                            request_rec *r, proxy_server_conf *conf LBF_UNUSED)
{
    struct lbf_req *q = ap_get_module_config(r->request_config,
                                             &lbfarm_module);
    int ours = lbf_is_ours(balancer);
    int failed = worker && PROXY_WORKER_IS(worker, PROXY_WORKER_IN_ERROR);

    if (q != NULL && q->row != NULL) {
        apr_time_t now = apr_time_now();

        if (ours && q->fc != NULL) {
            lbf_eject_note(r, q->fc, q->row, lbf_eject_outcome(q->fc, failed,
                                                               r->status),
                           now);
        }
        else if (ours && failed) {
            lbf_row_set_error(q->row, (uint64_t)now);
        }
        lbf_row_done(q->row, (uint64_t)(now - q->start), (uint64_t)now);
        lbf_req_release(q, failed || r->status >= 500);
        if (ours && failed && q->fc != NULL
            && r->status == HTTP_SERVICE_UNAVAILABLE) {
            lbf_farm_fallback(r, q->fc);
        }
    }
    return ours ? OK : DECLINED;
}

/* ------------------------------------------------------------------ */
/* PROXY_LBMETHOD providers (stock balancer:// front door)             */

struct lbf_bal_ctx {
    proxy_balancer *b;
    request_rec *r;
    const struct lbf_shm *h;
    struct lbf_farm *f;
};

/* Member mi's row takes the tier mod_proxy gives worker w: lbsets in
 * order, hot standbys and spares after the regular members of their
 * lbset (lbset * 2, + 1 for H or R).  Kept in the row, not added by
 * lbf_bal_usable, so that the status page shows it; the finder syncs
 * every member before each pick, storing only when balancer-manager
 * changed it (every process stores the same value). */
static void lbf_bal_sync_tier(const struct lbf_bal_ctx *c, uint32_t mi,
                              const proxy_worker *w)
{
    struct lbf_row *row = lbf_member_at(c->h, c->f, mi);
    uint32_t tier = (uint32_t)w->s->lbset * 2
                    + ((PROXY_WORKER_IS_STANDBY(w)
                        || PROXY_WORKER_IS_SPARE(w)) ? 1u : 0u);

    if (row != NULL && __atomic_load_n(&row->tier, __ATOMIC_RELAXED) != tier) {
        __atomic_store_n(&row->tier, tier, __ATOMIC_RELAXED);
    }
}

/* lbf_usable_f for balancer members: mod_proxy's status decides; the
 * row's tier follows its hot standby, spare and lbset (no extra tier). */
static int lbf_bal_usable(void *uctx, uint32_t mi)
{
    struct lbf_bal_ctx *c = uctx;
    proxy_worker *w;

    if ((int)mi >= c->b->workers->nelts) {
        return -1;
    }
    w = APR_ARRAY_IDX(c->b->workers, mi, proxy_worker *);
    if (PROXY_WORKER_IS_DRAINING(w)) {
        return -1;
    }
    if (!PROXY_WORKER_IS_USABLE(w)
        && !(PROXY_WORKER_IS(w, PROXY_WORKER_IN_ERROR) && lbf_retry_worker
             && lbf_retry_worker("BALANCER", w, c->r->server) == OK)) {
        return -1;
    }
    return 0;
}

/* The balancer's farm, with rows for members balancer-manager added at
 * runtime (lbf_farm_grow). */
static struct lbf_farm *lbf_bal_farm(struct lbf_global *g, proxy_balancer *b)
{
    uint32_t *fi = apr_hash_get(g->bal_farms, b->s->name, APR_HASH_KEY_STRING);
    struct lbf_farm *f = fi ? lbf_farm_at(&g->shm, *fi) : NULL;

    if (f != NULL && (int)f->n_rows < b->workers->nelts) {
        lbf_farm_grow(&g->shm, *fi, (uint32_t)b->workers->nelts);
    }
    return f;
}

/* Follow a weight changed in balancer-manager into the schedule. */
static void lbf_bal_sync_weight(struct lbf_global *g, struct lbf_farm *f,
                                int mi, proxy_worker *w)
{
    struct lbf_row *row = lbf_member_at(&g->shm, f, (uint32_t)mi);
    uint32_t weight = lbf_worker_weight(w);

    if (row != NULL && atomic_load(&row->weight) != weight) {
        lbf_member_set_weight(&g->shm, f, (uint32_t)mi, weight);
    }
}

/* finder: called by mod_proxy_balancer under its per-process tmutex. */
static proxy_worker *lbf_bal_finder(proxy_balancer *b, request_rec *r)
{
    struct lbf_global *g = lbf_global_get();
    struct lbf_bal_ctx c = {b, r, NULL, NULL};
    struct lbf_farm *f;
    struct lbf_pick pk;
    struct lbf_req *q;
    int mi;

    if (g == NULL || g->shm.base == NULL || !(f = lbf_bal_farm(g, b))) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "LBF00030: balancer %s "
                      "has no lbfarm rows", b->s->name);
        return NULL;
    }
    c.h = &g->shm;
    c.f = f;
    for (mi = 0; mi < b->workers->nelts; mi++) { /* a few loads each */
        lbf_bal_sync_tier(&c, (uint32_t)mi,
                          APR_ARRAY_IDX(b->workers, mi, proxy_worker *));
    }
    q = lbf_req_get(r);
    memset(&pk, 0, sizeof(pk));
    pk.exclude = q->row ? q->member : LBF_NO_MEMBER;
    lbf_req_release(q, q->row != NULL);
    pk.h = &g->shm;
    pk.farm = f;
    pk.now = (uint64_t)apr_time_now();
    pk.rng = lbf_rng();
    pk.usable = lbf_bal_usable;
    pk.uctx = &c;
    lbf_hash_fill_key(r, (uint32_t)(uintptr_t)b->lbmethod->context, NULL,
                      &pk);
    mi = lbf_pick_take((uint32_t)(uintptr_t)b->lbmethod->context, &pk);
    if (mi < 0 || mi >= b->workers->nelts) {
        return NULL;
    }
    lbf_req_hold(q, &g->shm, f, mi);
    lbf_bal_sync_weight(g, f, mi, APR_ARRAY_IDX(b->workers, mi,
                                                proxy_worker *));
    return APR_ARRAY_IDX(b->workers, mi, proxy_worker *);
}

/* reset and age: nothing to do, the segment holds all state. */
static apr_status_t lbf_bal_noop(proxy_balancer *b LBF_UNUSED,
                                 server_rec *s LBF_UNUSED)
{
    return APR_SUCCESS;
}

/* A sticky route elected w: stock would adjust lbstatus; we keep none. */
static apr_status_t lbf_bal_update(proxy_balancer *b LBF_UNUSED,
                                   proxy_worker *w LBF_UNUSED,
                                   server_rec *s LBF_UNUSED)
{
    return APR_SUCCESS;
}

/* One provider per core method, all served by the functions above. */
static void lbf_register_providers(apr_pool_t *p)
{
    int i;

    for (i = 0; lbf_methods[i] != NULL; i++) {
        proxy_balancer_method *m = apr_pcalloc(p, sizeof(*m));

        *m = (proxy_balancer_method){
            .name = lbf_methods[i]->name,
            .finder = lbf_bal_finder,
            .context = (void *)(uintptr_t)i,
            .reset = lbf_bal_noop,
            .age = lbf_bal_noop,
            .updatelbstatus = lbf_bal_update,
        };
        ap_register_provider(p, PROXY_LBMETHOD, m->name, "0", m);
    }
}

void lbf_proxy_child_init(apr_pool_t *pchild LBF_UNUSED,
                          server_rec *s LBF_UNUSED)
{
    lbf_retry_worker = APR_RETRIEVE_OPTIONAL_FN(ap_proxy_retry_worker);
}

void lbf_proxy_register_hooks(apr_pool_t *p)
{
    static const char *const succ[] = {"mod_proxy_balancer.c", NULL};

    proxy_hook_pre_request(lbf_pre_request, NULL, succ, APR_HOOK_FIRST);
    proxy_hook_post_request(lbf_post_request, NULL, succ, APR_HOOK_FIRST);
    lbf_retry_register_hooks(p); /* GET/HEAD: one retry (mod_lbfarm_retry.c) */
    lbf_register_providers(p);
}
