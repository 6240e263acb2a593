/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * mod_lbfarm_registry.c -- the farm registry: this generation's farms by
 * name, the farm whose <LBFarm> is being read, member URLs and workers,
 * and the members an operator added at runtime, which each process builds
 * from their rows on first use.
 */
#include "apr_hash.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"
#include "apr_uri.h"

#include "mod_lbfarm_registry.h"

APLOG_USE_MODULE(lbfarm);

static struct lbf_global *lbf_g;
/* The farm whose <LBFarm> section is being read (config time only). */
static struct lbf_farm_conf *lbf_cur_farm;

void lbf_registry_create(apr_pool_t *pconf, const struct lbf_setup_ops *ops)
{
    lbf_g = apr_pcalloc(pconf, sizeof(*lbf_g));
    lbf_g->pconf = pconf;
    lbf_g->farms = apr_array_make(pconf, 4, sizeof(struct lbf_farm_conf *));
    lbf_g->by_name = apr_hash_make(pconf);
    lbf_g->bal_farms = apr_hash_make(pconf);
    lbf_g->ops = ops;
    lbf_cur_farm = NULL;
}

struct lbf_global *lbf_global_get(void)
{
    return lbf_g;
}

struct lbf_farm_conf *lbf_farm_by_name(const char *name, apr_size_t len)
{
    char key[LBF_NAME_SIZE];
    apr_size_t i;

    if (lbf_g == NULL || len >= sizeof(key)) {
        return NULL; /* longer than any farm name */
    }
    for (i = 0; i < len; i++) {
        key[i] = apr_tolower(name[i]);
    }
    key[len] = '\0';
    return apr_hash_get(lbf_g->by_name, key, (apr_ssize_t)len);
}

struct lbf_farm_conf *lbf_farm_declare(apr_pool_t *p, const char *name,
                                       const char *where)
{
    struct lbf_farm_conf *fc;
    char *key;

    if (lbf_farm_by_name(name, strlen(name)) != NULL) {
        return NULL;
    }
    key = apr_pstrdup(p, name);
    ap_str_tolower(key);
    fc = apr_pcalloc(p, sizeof(*fc));
    *(struct lbf_farm_conf **)apr_array_push(lbf_g->farms) = fc;
    apr_hash_set(lbf_g->by_name, key, APR_HASH_KEY_STRING, fc);
    fc->name = name;
    fc->retry = LBF_DEFAULT_RETRY;
    fc->members = apr_array_make(p, 4, sizeof(struct lbf_member_conf));
    fc->where = where;
    if (lbf_g->ops && lbf_g->ops->farm_defaults) {
        lbf_g->ops->farm_defaults(fc);
    }
    return fc;
}

void lbf_farm_set_current(struct lbf_farm_conf *fc)
{
    lbf_cur_farm = fc;
}

struct lbf_farm_conf *lbf_farm_current(cmd_parms *cmd, const char **err)
{
    *err = lbf_cur_farm ? NULL : apr_psprintf(cmd->pool, "%s must be inside "
                                              "<LBFarm>", cmd->cmd->name);
    return lbf_cur_farm;
}

/* ------------------------------------------------------------------ */
/* Members                                                             */

const char *lbf_member_url(apr_pool_t *p, const char *url,
                           const char **norm, const char **host,
                           apr_port_t *port)
{
    apr_uri_t u;
    const char *path;

    if (apr_uri_parse(p, url, &u) != APR_SUCCESS || u.scheme == NULL
        || u.hostname == NULL || *u.hostname == '\0' || u.query
        || u.fragment || u.user) {
        return apr_psprintf(p, "cannot parse member URL \"%s\" (expected "
                            "http://host:port[/path])", url);
    }
    ap_str_tolower(u.scheme);
    if (strcmp(u.scheme, "http") != 0 && strcmp(u.scheme, "https") != 0) {
        return apr_psprintf(p, "unsupported scheme \"%s\" in member URL "
                            "\"%s\" (http or https)", u.scheme, url);
    }
    ap_str_tolower(u.hostname);
    path = u.path ? u.path : "";
    while (*path && path[strlen(path) - 1] == '/') {
        path = apr_pstrmemdup(p, path, strlen(path) - 1);
    }
    *host = u.hostname;
    *port = u.port ? u.port : apr_uri_port_of_scheme(u.scheme);
    *norm = apr_psprintf(p, "%s://%s%s%s:%u%s", u.scheme,
                         strchr(u.hostname, ':') ? "[" : "", u.hostname,
                         strchr(u.hostname, ':') ? "]" : "", *port, path);
    return NULL;
}

const char *lbf_define_worker(apr_pool_t *p, const char *url,
                              proxy_worker **w)
{
    const char *err = ap_proxy_define_worker_ex(p, w, NULL, NULL, url, 0);

    if (err == NULL) {
        (*w)->s->status &= ~PROXY_WORKER_IGNORE_ERRORS;
    }
    return err;
}

uint32_t lbf_worker_weight(const proxy_worker *w)
{
    int lf = (w->s->lbfactor + 50) / 100; /* loadfactor 1..100, x100 */

    return lf < 1 ? 1 : lf > LBF_WEIGHT_MAX ? LBF_WEIGHT_MAX : (uint32_t)lf;
}

/* Build this process's view of a member added at runtime from its row:
 * its worker (connection pool), keys and id.  The caller holds
 * lbf_g->rt_mutex.  NULL when the row cannot be served. */
static struct lbf_member_conf *lbf_runtime_member(struct lbf_farm_conf *fc,
                                                  uint32_t mi,
                                                  const struct lbf_row *row)
{
    apr_pool_t *p = lbf_g->rt_pool;
    struct lbf_member_conf *mc = apr_pcalloc(p, sizeof(*mc));
    const char *norm;

    if (!row->runtime || lbf_member_url(p, row->url, &norm, &mc->host,
                                        &mc->port) != NULL
        || lbf_define_worker(p, norm, &mc->worker) != NULL) {
        return NULL;
    }
    mc->name = apr_pstrdup(p, row->name);
    mc->url = norm;
    mc->weight = (int)row->cfg_weight;
    mc->retry = (int)row->retry_sec;
    mc->index = mi;
    mc->worker->s->retry = apr_time_from_sec(mc->retry);
    mc->worker->s->retry_set = 1;
    ap_proxy_initialize_worker(mc->worker, lbf_g->s, p);
    if (lbf_g->ops && lbf_g->ops->member_setup) {
        lbf_g->ops->member_setup(fc, mc);
    }
    return mc;
}

struct lbf_member_conf *lbf_member_conf_at(struct lbf_farm_conf *fc,
                                           uint32_t mi)
{
    struct lbf_farm *f;
    struct lbf_row *row;
    struct lbf_member_conf *mc;

    if (mi >= fc->l_rows || lbf_g->shm.base == NULL) {
        return NULL;
    }
    if ((mc = fc->mconf[mi]) != NULL || lbf_g->rt_mutex == NULL) {
        return mc;
    }
    f = lbf_farm_at(&lbf_g->shm, fc->fi);
    if ((row = lbf_member_at(&lbf_g->shm, f, mi)) == NULL) {
        return NULL;
    }
    apr_thread_mutex_lock(lbf_g->rt_mutex);
    if ((mc = fc->mconf[mi]) == NULL) {
        mc = lbf_runtime_member(fc, mi, row);
        __atomic_store_n(&fc->mconf[mi], mc, __ATOMIC_RELEASE);
    }
    apr_thread_mutex_unlock(lbf_g->rt_mutex);
    return mc;
}

struct lbf_member_conf *lbf_member_next(struct lbf_farm_conf *fc,
                                        uint32_t *i)
{
    struct lbf_farm *f = lbf_farm_at(&lbf_g->shm, fc->fi);
    struct lbf_member_conf *mc = NULL;

    while (f != NULL && mc == NULL && *i < f->n_rows) {
        struct lbf_row *row = lbf_member_at(&lbf_g->shm, f, *i);

        mc = atomic_load(&row->admin) == LBF_ADMIN_REMOVED
                 ? ((*i)++, NULL) : lbf_member_conf_at(fc, (*i)++);
    }
    return mc;
}

void lbf_registry_child_init(apr_pool_t *pchild, server_rec *s)
{
    int i, j;

    for (i = 0; i < lbf_g->farms->nelts; i++) {
        struct lbf_farm_conf *fc = APR_ARRAY_IDX(lbf_g->farms, i,
                                                 struct lbf_farm_conf *);
        for (j = 0; j < fc->members->nelts; j++) {
            ap_proxy_initialize_worker(APR_ARRAY_IDX(fc->members, j,
                                       struct lbf_member_conf).worker,
                                       s, pchild);
        }
    }
    lbf_g->s = s;
    apr_pool_create(&lbf_g->rt_pool, pchild);
    apr_thread_mutex_create(&lbf_g->rt_mutex, APR_THREAD_MUTEX_DEFAULT,
                            pchild);
}
