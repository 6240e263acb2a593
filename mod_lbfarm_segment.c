/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_segment.c -- the shared segment's life cycle.
 *
 *   post_config   size a new segment for every <LBFarm> and every stock
 *   (parent)      balancer://, create and format it, give each farm and
 *                 member its rows, then carry the previous generation's
 *                 state over -- from a private copy that the core checks
 *                 first (lbf_shm_carry_region): the old children may have
 *                 written anything there.  A refused copy is logged once
 *                 and the farms start afresh.
 *   child_init    attach the inherited segment (checked again); a refused
 *                 one disables the farms in that child, which then serves
 *                 their fallback instead of exiting.
 *
 * The old segment stays mapped in the old children until they exit; the
 * parent lets it go once carried.
 */
#include "apr_hash.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "http_core.h"
#include "http_main.h"

#include "mod_lbfarm_segment.h"
#include "mod_lbfarm_hold.h"
#include "mod_lbfarm_method.h"
#include "lbfarm_carry.h"

APLOG_USE_MODULE(lbfarm);

#define LBF_GEN_KEY "lbfarm-generation"
#define LBF_BALANCER_SCHEME "balancer://"
#define LBF_WHY_SIZE 256

/* What survives a restart in the parent (process pool userdata): the live
 * segment and its pool.  Only these two fields are read from an older
 * generation, so a reinstalled module of another build still finds them;
 * the segment itself says which layout it has. */
struct lbf_gen {
    apr_pool_t *pool;
    apr_shm_t *seg;
};

/* The parent's last look at the current segment's lock counters
 * (lbf_segment_watch); set when the segment is made. */
static struct {
    uint32_t recoveries, repairs;
} lbf_seen;

/* Rows the farm of stock balancer b gets: its members, its growth, + 1. */
static uint32_t lbf_balancer_rows(const proxy_balancer *b)
{
    return lbf_farm_rows((uint32_t)b->workers->nelts,
                         (uint32_t)b->growth + 1);
}

/* Sum what every farm of g and every balancer:// of every server needs. */
static void lbf_layout_count(struct lbf_global *g, server_rec *s,
                             struct lbf_layout *lay)
{
    int i;

    memset(lay, 0, sizeof(*lay));
    for (i = 0; i < g->farms->nelts; i++) {
        struct lbf_farm_conf *fc = APR_ARRAY_IDX(g->farms, i,
                                                 struct lbf_farm_conf *);

        lbf_layout_add(lay, lbf_farm_rows((uint32_t)fc->members->nelts,
                                          LBF_SPARE_ROWS));
    }
    for (; s != NULL; s = s->next) {
        proxy_server_conf *pc = ap_get_module_config(s->module_config,
                                                     &proxy_module);
        for (i = 0; pc && i < pc->balancers->nelts; i++) {
            lbf_layout_add(lay, lbf_balancer_rows(&APR_ARRAY_IDX(
                                    pc->balancers, i, proxy_balancer)));
        }
    }
}

/* A private proxy_balancer for farm fc, so that proxy_handler retries
 * another member after a connect failure (max_attempts). */
static proxy_balancer *lbf_private_balancer(apr_pool_t *p,
                                            struct lbf_farm_conf *fc)
{
    proxy_balancer *b = apr_pcalloc(p, sizeof(*b));
    int i;

    b->s = apr_pcalloc(p, sizeof(*b->s));
    apr_snprintf(b->s->name, sizeof(b->s->name), "lbfarm://%s", fc->name);
    b->s->max_attempts = fc->members->nelts - 1;
    b->s->max_attempts_set = 1;
    b->workers = apr_array_make(p, fc->members->nelts, sizeof(proxy_worker *));
    for (i = 0; i < fc->members->nelts; i++) {
        *(proxy_worker **)apr_array_push(b->workers) =
            APR_ARRAY_IDX(fc->members, i, struct lbf_member_conf).worker;
    }
    return b;
}

/* Give configured member mc of farm fc (f in the segment) its row.
 * Returns its index or < 0. */
static int lbf_populate_member(struct lbf_global *g, struct lbf_farm_conf *fc,
                               struct lbf_farm *f, struct lbf_member_conf *mc)
{
    struct lbf_row *row;
    int rc, retry_set = mc->retry >= 0 || fc->retry_set;

    if (mc->retry < 0) {
        mc->retry = fc->retry;
    }
    /* mod_proxy logs this retry when it disables the worker */
    mc->worker->s->retry = apr_time_from_sec(mc->retry);
    mc->worker->s->retry_set = 1;
    rc = lbf_member_add(&g->shm, fc->fi, mc->name, (uint32_t)mc->weight,
                        (uint32_t)mc->tier, (uint32_t)mc->retry);
    if (rc < 0) {
        return rc;
    }
    row = lbf_member_at(&g->shm, f, (uint32_t)rc);
    lbf_member_set_cfg_admin(row, (uint32_t)mc->admin);
    lbf_member_set_hc_url(f, row, mc->url);
    lbf_eject_member_setup(row, retry_set); /* stock retry= semantics */
    mc->index = (uint32_t)rc;
    fc->mconf[rc] = mc;
    return rc;
}

/* Put farm fc into the freshly formatted segment: its farm, what the
 * concerns set up, its health check, its configured members. */
static int lbf_populate_farm(struct lbf_global *g, server_rec *s,
                             struct lbf_farm_conf *fc)
{
    struct lbf_farm *f;
    int j, rc;

    fc->l_rows = lbf_farm_rows((uint32_t)fc->members->nelts, LBF_SPARE_ROWS);
    rc = lbf_farm_add(&g->shm, fc->name, (uint32_t)fc->method, fc->l_rows);
    if (rc < 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "LBF00002: farm "
                     "\"%s\": cannot add to segment (%d)", fc->name, rc);
        return rc;
    }
    fc->fi = (uint32_t)rc;
    f = lbf_farm_at(&g->shm, fc->fi);
    fc->balancer = lbf_private_balancer(g->pconf, fc);
    g->ops->farm_setup(fc, f);
    lbf_farm_set_hc_conf(f, lbf_hc_conf(fc->hc_uri,
                             (uint32_t)apr_time_as_msec(fc->hc_interval),
                             (uint32_t)apr_time_as_msec(fc->hc_timeout),
                             (uint32_t)fc->hc_expect, (uint32_t)fc->hc_rise,
                             (uint32_t)fc->hc_fall));
    fc->mconf = apr_pcalloc(g->pconf, fc->l_rows * sizeof(*fc->mconf));
    for (j = 0; j < fc->members->nelts; j++) {
        if ((rc = lbf_populate_member(g, fc, f, &APR_ARRAY_IDX(fc->members,
                                      j, struct lbf_member_conf))) < 0) {
            return rc;
        }
    }
    lbf_farm_rebuild(&g->shm, f);
    return LBF_OK;
}

/* Give balancer b (a stock balancer:// of any lbmethod) a farm of rows. */
static int lbf_populate_balancer(struct lbf_global *g, apr_pool_t *p,
                                 proxy_balancer *b)
{
    char fname[LBF_NAME_SIZE], mname[LBF_NAME_SIZE];
    struct lbf_farm *f;
    uint32_t *idx;
    int rc, i, method;

    if (apr_hash_get(g->bal_farms, b->s->name, APR_HASH_KEY_STRING)) {
        return LBF_OK; /* the same balancer seen again through a vhost */
    }
    lbf_balancer_farm_name(fname,
                           b->s->name + sizeof(LBF_BALANCER_SCHEME) - 1,
                           (uint32_t)ap_proxy_hashfunc(b->s->name,
                                                       PROXY_HASHFUNC_FNV));
    method = b->lbmethod ? lbf_method_find(b->lbmethod->name) : -1;
    rc = lbf_farm_add(&g->shm, fname, method < 0 ? LBF_METHOD_FOREIGN
                                                 : (uint32_t)method,
                      lbf_balancer_rows(b));
    if (rc < 0) {
        return rc;
    }
    f = lbf_farm_at(&g->shm, (uint32_t)rc);
    f->slowstart_ms = lbf_bal_slowstart_ms(p, b->s->name);
    for (i = 0; i < b->workers->nelts; i++) {
        proxy_worker *w = APR_ARRAY_IDX(b->workers, i, proxy_worker *);

        lbf_balancer_member_name(&g->shm, f, w->s->hostname_ex,
                                 (uint32_t)w->s->port, (uint32_t)i, mname);
        lbf_member_add(&g->shm, (uint32_t)rc, mname, lbf_worker_weight(w),
                       0, 0);
    }
    lbf_farm_rebuild(&g->shm, f);
    idx = apr_palloc(p, sizeof(*idx));
    *idx = (uint32_t)rc;
    apr_hash_set(g->bal_farms, b->s->name, APR_HASH_KEY_STRING, idx);
    return LBF_OK;
}

/* Fill g's fresh segment: every farm, then every server's balancers. */
static int lbf_populate(struct lbf_global *g, apr_pool_t *pconf,
                        server_rec *s)
{
    server_rec *v;
    int i, rc;

    for (i = 0; i < g->farms->nelts; i++) {
        rc = lbf_populate_farm(g, s, APR_ARRAY_IDX(g->farms, i,
                                                   struct lbf_farm_conf *));
        if (rc != LBF_OK) {
            return rc;
        }
    }
    for (v = s; v != NULL; v = v->next) {
        proxy_server_conf *pc = ap_get_module_config(v->module_config,
                                                     &proxy_module);
        for (i = 0; pc && i < pc->balancers->nelts; i++) {
            lbf_populate_balancer(g, pconf, &APR_ARRAY_IDX(pc->balancers, i,
                                                           proxy_balancer));
        }
    }
    return LBF_OK;
}

/* Carry the previous generation's state into g's filled segment, or log
 * once why not; then let the old segment go (unmapped here only: the old
 * children keep their mapping). */
static void lbf_segment_carry(struct lbf_global *g, struct lbf_gen *old,
                              server_rec *s)
{
    char why[LBF_WHY_SIZE];
    int rc = lbf_shm_carry_region(&g->shm, apr_shm_baseaddr_get(old->seg),
                                  apr_shm_size_get(old->seg), why,
                                  sizeof(why));

    if (rc >= 0) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "LBF00004: restart: "
                     "carried the state of %d members over", rc);
    }
    else if (rc == LBF_EVERSION || rc == LBF_ELAYOUT) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "LBF00100: restart: "
                     "the previous shared segment has another layout (%s): "
                     "its state is not carried, the farms start afresh",
                     why);
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "LBF00101: restart: the "
                     "previous shared segment is damaged (%s): its state is "
                     "not carried, the farms start afresh", why);
    }
    apr_pool_destroy(old->pool);
}

int lbf_segment_create(apr_pool_t *pconf, server_rec *s)
{
    struct lbf_global *g = lbf_global_get();
    struct lbf_gen *old = NULL, *gen;
    struct lbf_layout lay;
    apr_pool_t *gp;
    apr_status_t rv;

    apr_pool_userdata_get((void **)&old, LBF_GEN_KEY, s->process->pool);
    lbf_layout_count(g, s, &lay);
    lbf_hold_layout(&lay, s); /* in-flight of dead children */
    lay.generation = (uint64_t)ap_state_query(AP_SQ_CONFIG_GEN);
    apr_pool_create(&gp, s->process->pool);
    gen = apr_pcalloc(gp, sizeof(*gen));
    gen->pool = gp;
    rv = apr_shm_create(&gen->seg, lbf_shm_size(&lay), NULL, gp);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "LBF00003: cannot create "
                     "a shared segment of %" APR_SIZE_T_FMT " bytes",
                     lbf_shm_size(&lay));
        apr_pool_destroy(gp);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    lbf_shm_format(&g->shm, apr_shm_baseaddr_get(gen->seg),
                   apr_shm_size_get(gen->seg), &lay);
    g->seg = gen->seg;
    if (lbf_populate(g, pconf, s) != LBF_OK) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (old != NULL) {
        lbf_segment_carry(g, old, s);
    }
    apr_pool_userdata_set(gen, LBF_GEN_KEY, apr_pool_cleanup_null,
                          s->process->pool);
    lbf_seen.recoveries = atomic_load(&g->shm.hdr->recoveries);
    lbf_seen.repairs = atomic_load(&g->shm.hdr->repairs);
    return OK;
}

void lbf_segment_watch(server_rec *s)
{
    struct lbf_global *g = lbf_global_get();
    uint32_t rec, rep;

    if (g == NULL || g->shm.base == NULL) {
        return;
    }
    rec = atomic_load(&g->shm.hdr->recoveries);
    rep = atomic_load(&g->shm.hdr->repairs);
    if (rec == lbf_seen.recoveries && rep == lbf_seen.repairs) {
        return;
    }
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "LBF00810: %" PRIu32
                 " row lock(s) taken over from processes that died holding "
                 "them, %" PRIu32 " torn metrics group(s) reset (those "
                 "members' pushed load is neutral until their next push); "
                 "%" PRIu32 " and %" PRIu32 " since start", rec
                 - lbf_seen.recoveries, rep - lbf_seen.repairs, rec, rep);
    lbf_seen.recoveries = rec;
    lbf_seen.repairs = rep;
}

int lbf_segment_attach(server_rec *s)
{
    struct lbf_global *g = lbf_global_get();
    char why[LBF_WHY_SIZE];
    void *base;
    apr_size_t len;
    int rc;

    if (g->seg == NULL) {
        return 0;
    }
    base = apr_shm_baseaddr_get(g->seg);
    len = apr_shm_size_get(g->seg);
    if ((rc = lbf_shm_attach(&g->shm, base, len)) != LBF_OK) {
        lbf_shm_check(base, len, why, sizeof(why));
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "LBF00005: the shared "
                     "segment does not match this build (%d: %s): farms "
                     "disabled", rc, why);
        g->shm.base = NULL;
        return 0;
    }
    return 1;
}
